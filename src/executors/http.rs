//! Shared HTTP plumbing for the connectors: one client per connector with its
//! timeout, reading a reply, and the common status classification
//! (429 + Retry-After and 5xx retryable, other 4xx permanent).

use super::{ConfigError, ExecError};
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use std::time::Duration;

/// A fully read HTTP reply. Bodies are read eagerly: vendor answers are small
/// and every connector needs to look into them.
#[derive(Debug)]
pub(crate) struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Reply {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

pub(crate) fn client(timeout: Duration) -> Result<reqwest::Client, ConfigError> {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        // Vendor APIs do not redirect; following one would carry a bearer
        // token (or SigV4-signed body) somewhere we did not configure.
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("cordon/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| ConfigError::new(format!("cannot build HTTP client: {e}")))
}

/// `https://x/` → `https://x`, so paths can be appended with a leading `/`.
pub(crate) fn trim_base(url: &str) -> String {
    url.trim_end_matches('/').to_owned()
}

/// Sends and reads the whole reply. Transport failures (connect refused,
/// timeout, reset) are retryable: the job queue re-reads state before the
/// next attempt, so a retry after an unknown outcome is safe.
pub(crate) async fn send(vendor: &str, req: reqwest::RequestBuilder) -> Result<Reply, ExecError> {
    let resp = req.send().await.map_err(|e| transport(vendor, e))?;
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = resp.text().await.map_err(|e| transport(vendor, e))?;
    Ok(Reply {
        status,
        headers,
        body,
    })
}

fn transport(vendor: &str, e: reqwest::Error) -> ExecError {
    if e.is_builder() {
        ExecError::permanent(format!("{vendor}: bad request: {e}"))
    } else {
        ExecError::retryable(format!("{vendor}: transport error: {e}"))
    }
}

/// `Retry-After` in seconds (the form every vendor here uses).
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

/// The first 300 characters of a body, for error messages.
pub(crate) fn snippet(body: &str) -> String {
    let mut s: String = body.chars().take(300).collect();
    if body.chars().count() > 300 {
        s.push('…');
    }
    s
}

/// The default classification of a non-success reply.
pub(crate) fn classify(vendor: &str, what: &str, reply: &Reply) -> ExecError {
    let message = format!(
        "{vendor}: {what} answered {}: {}",
        reply.status,
        snippet(&reply.body)
    );
    if reply.status == StatusCode::TOO_MANY_REQUESTS || reply.status.is_server_error() {
        ExecError::Retryable {
            message,
            retry_after: retry_after(&reply.headers),
        }
    } else {
        ExecError::Permanent { message }
    }
}

/// Percent-encodes one URL path segment. Target values can come from alert
/// payloads (attacker-influenced), so `../` or `?` in a user name must never
/// steer the request to another API path.
pub(crate) fn segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'@') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    // A segment of only dots would still be a relative path step.
    if out.chars().all(|c| c == '.') {
        out = out.replace('.', "%2E");
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn path_segments_cannot_escape_their_place_in_the_url() {
        assert_eq!(super::segment("jdoe@example.com"), "jdoe@example.com");
        assert_eq!(super::segment("../admin?x=1"), "..%2Fadmin%3Fx%3D1");
        assert_eq!(super::segment(".."), "%2E%2E");
        assert_eq!(super::segment("a b/c"), "a%20b%2Fc");
    }
}
