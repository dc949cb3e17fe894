//! What Slack's and Discord's request checks have in common once the
//! platform's own signature (Slack: HMAC-SHA256, Discord: Ed25519, see
//! `slack::verify` and `discord::verify`) has been checked over the raw
//! bytes: the five-minute timestamp window, the replay memory, and the
//! reasons a request is refused.
//!
//! The order is the same on both platforms: unsigned → forged → stale →
//! replayed. Only a request whose signature matched is judged on its
//! timestamp, and only one that passed both is remembered, so forged
//! requests can neither probe the window nor fill the memory. `now` is an
//! argument (unix seconds), never read here.

use std::collections::HashMap;
use std::sync::Mutex;

/// The replay window, in seconds: Slack's, and the one cordon holds
/// Discord to (Discord itself does not require one).
pub const MAX_AGE_SECONDS: i64 = 300;

/// Why a request was refused. Every variant is a `401`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the request is not signed")]
    Unsigned,
    #[error("the request signature does not match")]
    Forged,
    #[error("the request timestamp is outside the five-minute window")]
    Stale,
    #[error("the request was already received (replay)")]
    Replayed,
    /// The platform has nothing to verify with; the text says which
    /// setting is missing.
    #[error("{0}")]
    NotConfigured(&'static str),
}

/// Step 3: the (already authenticated) timestamp `ts` is within
/// [`MAX_AGE_SECONDS`] of `now`, either way.
pub fn check_window(ts: i64, now: i64) -> Result<(), SignatureError> {
    if (now - ts).abs() > MAX_AGE_SECONDS {
        return Err(SignatureError::Stale);
    }
    Ok(())
}

/// Signatures seen in the last window. One process's memory: a replay
/// across replicas would need a shared store, and is still bounded by the
/// five-minute window and by clicks being idempotent.
#[derive(Debug, Default)]
pub struct ReplayGuard {
    seen: Mutex<HashMap<String, i64>>,
}

impl ReplayGuard {
    /// Step 4: remembers `signature` (valid until `ts + window`);
    /// `Replayed` if it was already there.
    pub fn check(&self, signature: &str, ts: i64, now: i64) -> Result<(), SignatureError> {
        let mut seen = match self.seen.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        seen.retain(|_, until| *until >= now);
        if seen.contains_key(signature) {
            return Err(SignatureError::Replayed);
        }
        seen.insert(signature.to_owned(), ts + MAX_AGE_SECONDS);
        Ok(())
    }
}

/// The answer to a refused request on either platform: `401` with a short
/// JSON reason (the request is the platform's or an attacker's, so nothing
/// more is said), counted per platform and logged once.
pub fn refused(platform: &'static str, e: SignatureError) -> axum::response::Response {
    use axum::response::IntoResponse;
    match platform {
        "slack" => metrics::counter!("cordon_slack_refused_requests_total").increment(1),
        _ => metrics::counter!("cordon_discord_refused_requests_total").increment(1),
    }
    tracing::warn!(reason = %e, "{platform}: request refused");
    (
        axum::http::StatusCode::UNAUTHORIZED,
        axum::Json(serde_json::json!({ "error": e.to_string() })),
    )
        .into_response()
}

/// The signature and timestamp headers (by name) and the raw body of a
/// request, read before anything is parsed: the signature is checked over
/// exactly these bytes.
pub async fn signed_parts<S: Send + Sync>(
    req: axum::extract::Request,
    state: &S,
    signature_header: &str,
    timestamp_header: &str,
) -> Result<(Option<String>, Option<String>, bytes::Bytes), axum::response::Response> {
    use axum::extract::FromRequest;
    use axum::response::IntoResponse;
    let (sig, ts) = {
        let h = req.headers();
        let get = |n: &str| h.get(n).and_then(|v| v.to_str().ok()).map(str::to_owned);
        (get(signature_header), get(timestamp_header))
    };
    let body = bytes::Bytes::from_request(req, state)
        .await
        .map_err(IntoResponse::into_response)?;
    Ok((sig, ts, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_is_five_minutes_either_way() {
        assert_eq!(check_window(1000, 1300), Ok(()));
        assert_eq!(check_window(1000, 700), Ok(()));
        assert_eq!(check_window(1000, 1301), Err(SignatureError::Stale));
        assert_eq!(check_window(1000, 699), Err(SignatureError::Stale));
    }

    #[test]
    fn a_signature_is_remembered_until_its_window_ends() {
        let g = ReplayGuard::default();
        assert_eq!(g.check("s", 1000, 1000), Ok(()));
        assert_eq!(g.check("s", 1000, 1300), Err(SignatureError::Replayed));
        assert_eq!(g.check("s", 1000, 1301), Ok(()));
    }
}
