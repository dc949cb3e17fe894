//! The Slack Web API calls cordon makes, through slack-morphism, with every
//! error classified as "retry later" (429, network, Slack's own trouble) or
//! "permanent" (a bad token, an archived channel): the chat job queue turns
//! the first into a delayed retry and keeps the second visible.

use slack_morphism::errors::SlackClientError;
use slack_morphism::prelude::*;
use std::sync::Arc;
use std::time::Duration;

/// A failed Slack call.
#[derive(Debug, thiserror::Error)]
pub enum SlackError {
    /// Try again later; `after` from `Retry-After` when Slack said so.
    #[error("slack {method}: {message}")]
    Retry {
        method: &'static str,
        message: String,
        after: Option<Duration>,
    },
    #[error("slack {method}: {message}")]
    Permanent {
        method: &'static str,
        message: String,
    },
}

impl SlackError {
    /// The Slack error code (`name_taken`, `already_in_channel`, …), if any.
    pub fn code(&self) -> &str {
        match self {
            SlackError::Retry { message, .. } | SlackError::Permanent { message, .. } => {
                message.split_whitespace().next().unwrap_or_default()
            }
        }
    }
}

/// Slack error codes that will not go away by retrying.
const PERMANENT: &[&str] = &[
    "invalid_auth",
    "not_authed",
    "account_inactive",
    "token_revoked",
    "token_expired",
    "no_permission",
    "missing_scope",
    "channel_not_found",
    "not_in_channel",
    "is_archived",
    "msg_too_long",
    "invalid_blocks",
    "invalid_blocks_format",
    "name_taken",
    "invalid_name",
    "already_in_channel",
    "cant_invite_self",
    "user_not_found",
    "expired_trigger_id",
    "invalid_trigger_id",
    "no_such_subteam",
    "message_not_found",
    "cant_update_message",
];

fn classify(method: &'static str, e: SlackClientError) -> SlackError {
    match e {
        SlackClientError::RateLimitError(r) => SlackError::Retry {
            method,
            message: "ratelimited".into(),
            after: Some(r.retry_after.unwrap_or(Duration::from_secs(1))),
        },
        SlackClientError::ApiError(a) if PERMANENT.contains(&a.code.as_str()) => {
            SlackError::Permanent {
                method,
                message: a.code,
            }
        }
        SlackClientError::ApiError(a) => SlackError::Retry {
            method,
            message: a.code,
            after: None,
        },
        other => SlackError::Retry {
            method,
            message: other.to_string(),
            after: None,
        },
    }
}

/// The Web API client with the bot token.
#[derive(Clone)]
pub struct SlackApi {
    client: Arc<SlackHyperClient>,
    token: SlackApiToken,
}

impl std::fmt::Debug for SlackApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SlackApi(***)")
    }
}

/// The hyper client. `https_or_http` so that a local fake Slack (tests) and
/// an `http://` response_url in tests work with the same connector type; the
/// real API and response URLs are `https://`.
pub fn client(api_url: Option<&str>) -> std::io::Result<Arc<SlackHyperClient>> {
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_native_roots()?
        .https_or_http()
        .enable_http1()
        .build();
    let mut conn = SlackClientHyperConnector::with_connector(https);
    if let Some(url) = api_url {
        conn = conn.with_slack_api_url(url);
    }
    Ok(Arc::new(SlackClient::new(conn)))
}

impl SlackApi {
    pub fn new(client: Arc<SlackHyperClient>, bot_token: &str) -> SlackApi {
        SlackApi {
            client,
            token: SlackApiToken::new(bot_token.to_owned().into()),
        }
    }

    pub fn client(&self) -> &Arc<SlackHyperClient> {
        &self.client
    }

    /// The workspace (`T…`) the bot token belongs to (`auth.test`).
    pub async fn auth_test(&self) -> Result<String, SlackError> {
        let s = self.client.open_session(&self.token);
        let r = s.auth_test().await.map_err(|e| classify("auth.test", e))?;
        Ok(r.team_id.0)
    }

    /// Posts a message (a thread reply with `thread_ts`); returns its ts.
    pub async fn post(
        &self,
        channel: &str,
        content: SlackMessageContent,
        thread_ts: Option<&str>,
    ) -> Result<String, SlackError> {
        let s = self.client.open_session(&self.token);
        let mut req = SlackApiChatPostMessageRequest::new(channel.to_owned().into(), content);
        if let Some(t) = thread_ts {
            req = req.with_thread_ts(t.to_owned().into());
        }
        let r = s
            .chat_post_message(&req)
            .await
            .map_err(|e| classify("chat.postMessage", e))?;
        Ok(r.ts.0)
    }

    /// Replaces a message's text and blocks.
    pub async fn update(
        &self,
        channel: &str,
        ts: &str,
        content: SlackMessageContent,
    ) -> Result<(), SlackError> {
        let s = self.client.open_session(&self.token);
        let req = SlackApiChatUpdateRequest::new(
            channel.to_owned().into(),
            content,
            ts.to_owned().into(),
        );
        s.chat_update(&req)
            .await
            .map_err(|e| classify("chat.update", e))?;
        Ok(())
    }

    /// A message only `user` sees.
    pub async fn ephemeral(&self, channel: &str, user: &str, text: &str) -> Result<(), SlackError> {
        let s = self.client.open_session(&self.token);
        let req = SlackApiChatPostEphemeralRequest::new(
            channel.to_owned().into(),
            user.to_owned().into(),
            SlackMessageContent::new().with_text(text.to_owned()),
        );
        s.chat_post_ephemeral(&req)
            .await
            .map_err(|e| classify("chat.postEphemeral", e))?;
        Ok(())
    }

    /// Answers through an interaction's `response_url` (ephemeral unless it
    /// replaces the original).
    pub async fn respond(&self, response_url: &str, text: &str) -> Result<(), SlackError> {
        let url: url::Url = response_url.parse().map_err(|e| SlackError::Permanent {
            method: "response_url",
            message: format!("bad response_url: {e}"),
        })?;
        let req = SlackApiPostWebhookMessageRequest::new(
            SlackMessageContent::new().with_text(text.to_owned()),
        );
        self.client
            .respond_to_event(&SlackResponseUrl(url), &req)
            .await
            .map_err(|e| classify("response_url", e))?;
        Ok(())
    }

    /// Creates a channel; returns its id.
    pub async fn create_channel(&self, name: &str, private: bool) -> Result<String, SlackError> {
        let s = self.client.open_session(&self.token);
        let req = SlackApiConversationsCreateRequest::new(name.to_owned()).with_is_private(private);
        let r = s
            .conversations_create(&req)
            .await
            .map_err(|e| classify("conversations.create", e))?;
        Ok(r.channel.id.0)
    }

    /// Invites users (at most 1000 per call, Slack's limit).
    pub async fn invite(&self, channel: &str, users: &[String]) -> Result<(), SlackError> {
        let s = self.client.open_session(&self.token);
        for chunk in users.chunks(1000) {
            let req = SlackApiConversationsInviteRequest::new(
                channel.to_owned().into(),
                chunk.iter().map(|u| SlackUserId(u.clone())).collect(),
            );
            match s.conversations_invite(&req).await {
                Ok(_) => {}
                Err(e) => {
                    let e = classify("conversations.invite", e);
                    // Someone already there, or a user who left: not a reason to stop posting.
                    if !matches!(
                        e.code(),
                        "already_in_channel" | "cant_invite_self" | "user_not_found"
                    ) {
                        return Err(e);
                    }
                }
            }
        }
        Ok(())
    }

    /// Opens a modal for the user who clicked (`trigger_id` lives 3 s).
    pub async fn open_view(&self, trigger_id: &str, view: SlackView) -> Result<(), SlackError> {
        let s = self.client.open_session(&self.token);
        let req = SlackApiViewsOpenRequest::new(trigger_id.to_owned().into(), view);
        s.views_open(&req)
            .await
            .map_err(|e| classify("views.open", e))?;
        Ok(())
    }

    /// The members of a user group.
    pub async fn usergroup_users(&self, group: &str) -> Result<Vec<String>, SlackError> {
        let s = self.client.open_session(&self.token);
        let req = SlackApiUserGroupsUsersListRequest::new(group.to_owned().into());
        let r = s
            .usergroups_users_list(&req)
            .await
            .map_err(|e| classify("usergroups.users.list", e))?;
        Ok(r.users.into_iter().map(|u| u.0).collect())
    }
}
