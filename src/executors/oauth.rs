//! OAuth2 client-credentials tokens (CrowdStrike, Entra for MDE and Graph),
//! cached until shortly before expiry and dropped after a 401.

use super::ExecError;
use super::config::Secret;
use super::http::{self, Reply};
use std::fmt;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

/// Renew a token this long before the vendor says it expires, so a request
/// never leaves with a token that dies in flight.
const EXPIRY_MARGIN: Duration = Duration::from_secs(60);

/// A cached client-credentials token source. The mutex is held across the
/// token request so concurrent jobs wait for one request instead of each
/// asking for its own token (the token endpoints have tight rate limits).
pub(crate) struct TokenSource {
    vendor: &'static str,
    url: String,
    client_id: String,
    client_secret: Secret,
    /// Extra form fields (`grant_type`, `scope`).
    extra: Vec<(&'static str, String)>,
    http: reqwest::Client,
    cached: Mutex<Option<(Secret, Instant)>>,
}

impl fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenSource")
            .field("url", &self.url)
            .field("client_id", &self.client_id)
            .field("client_secret", &self.client_secret)
            .finish_non_exhaustive()
    }
}

impl TokenSource {
    pub fn new(
        vendor: &'static str,
        url: String,
        client_id: String,
        client_secret: Secret,
        extra: Vec<(&'static str, String)>,
        http: reqwest::Client,
    ) -> Self {
        TokenSource {
            vendor,
            url,
            client_id,
            client_secret,
            extra,
            http,
            cached: Mutex::new(None),
        }
    }

    /// A valid token, from the cache or freshly requested.
    pub async fn token(&self) -> Result<Secret, ExecError> {
        let mut cached = self.cached.lock().await;
        if let Some((tok, until)) = cached.as_ref()
            && Instant::now() < *until
        {
            return Ok(tok.clone());
        }
        let mut form: Vec<(&str, &str)> = vec![
            ("client_id", self.client_id.as_str()),
            ("client_secret", self.client_secret.expose()),
        ];
        form.extend(self.extra.iter().map(|(k, v)| (*k, v.as_str())));
        let body = serde_urlencoded::to_string(&form)
            .map_err(|e| ExecError::permanent(format!("{}: token form: {e}", self.vendor)))?;
        let reply = http::send(
            self.vendor,
            self.http
                .post(&self.url)
                .header("content-type", "application/x-www-form-urlencoded")
                .header("accept", "application/json")
                .body(body),
        )
        .await?;
        if !reply.status.is_success() {
            return Err(http::classify(self.vendor, "token request", &reply));
        }
        let json = reply.json();
        let Some(token) = json["access_token"].as_str() else {
            return Err(ExecError::permanent(format!(
                "{}: token answer has no access_token",
                self.vendor
            )));
        };
        let ttl = Duration::from_secs(json["expires_in"].as_u64().unwrap_or(1799));
        let until = Instant::now() + ttl.saturating_sub(EXPIRY_MARGIN);
        let tok = Secret::new(token);
        *cached = Some((tok.clone(), until));
        Ok(tok)
    }

    /// Forget the cached token (after the vendor rejected it with 401).
    pub async fn invalidate(&self) {
        *self.cached.lock().await = None;
    }

    /// Sends a request built with the bearer token; on 401 drops the token,
    /// fetches a new one and sends once more.
    pub async fn send(
        &self,
        build: impl Fn(&str) -> reqwest::RequestBuilder,
    ) -> Result<Reply, ExecError> {
        let tok = self.token().await?;
        let reply = http::send(self.vendor, build(&format!("Bearer {}", tok.expose()))).await?;
        if reply.status != reqwest::StatusCode::UNAUTHORIZED {
            return Ok(reply);
        }
        self.invalidate().await;
        let tok = self.token().await?;
        http::send(self.vendor, build(&format!("Bearer {}", tok.expose()))).await
    }
}
