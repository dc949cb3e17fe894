//! Slack request signing: the only thing that makes a click a click by the
//! user Slack names in it.
//!
//! Slack signs every request to `/slack/*` with the app's signing secret:
//! `X-Slack-Signature: v0=hex(HMAC-SHA256(secret, "v0:" + ts + ":" + raw_body))`
//! and `X-Slack-Request-Timestamp: ts`. We check, in this order:
//!
//! 1. both headers are present and well-formed (else unsigned);
//! 2. the HMAC over the *raw bytes*, before any form or JSON parsing,
//!    compared in constant time (`subtle`), so a forger learns nothing from
//!    timing;
//! 3. the timestamp is within five minutes of now (a captured request cannot
//!    be played back later);
//! 4. the signature was not already seen inside that window (a captured
//!    request cannot be played back *now* either). Only requests that passed
//!    1–3 are remembered, so forged requests cannot fill the memory.
//!
//! Steps 3 and 4 (the window and the [`ReplayGuard`]) are shared with
//! Discord ([`crate::chat::verify`]); the HMAC is Slack's own.
//!
//! slack-morphism has a verifier too, but it reads the system clock and does
//! not remember signatures; here `now` is an argument like everywhere else
//! in cordon, and the replay memory is ours.

use crate::chat::verify::check_window;
pub use crate::chat::verify::{MAX_AGE_SECONDS, ReplayGuard, SignatureError};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

pub const SIGNATURE_HEADER: &str = "x-slack-signature";
pub const TIMESTAMP_HEADER: &str = "x-slack-request-timestamp";

/// `v0=<hex>` for a body, as Slack computes it.
pub fn sign(secret: &str, timestamp: &str, body: &[u8]) -> String {
    // HMAC takes keys of any length: new_from_slice cannot fail for it.
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(m) => m,
        Err(_) => return String::new(),
    };
    mac.update(b"v0:");
    mac.update(timestamp.as_bytes());
    mac.update(b":");
    mac.update(body);
    format!("v0={}", hex::encode(mac.finalize().into_bytes()))
}

/// Checks steps 1–3 (see the module docs) at `now` (unix seconds).
pub fn verify(
    secret: &str,
    signature: Option<&str>,
    timestamp: Option<&str>,
    body: &[u8],
    now: i64,
) -> Result<(), SignatureError> {
    let (Some(sig), Some(ts)) = (signature, timestamp) else {
        return Err(SignatureError::Unsigned);
    };
    let Ok(ts_n) = ts.trim().parse::<i64>() else {
        return Err(SignatureError::Unsigned);
    };
    if !sig.starts_with("v0=") {
        return Err(SignatureError::Unsigned);
    }
    let expected = sign(secret, ts.trim(), body);
    if expected.is_empty() || !bool::from(expected.as_bytes().ct_eq(sig.as_bytes())) {
        return Err(SignatureError::Forged);
    }
    check_window(ts_n, now)
}

/// Verifies a request and remembers it: steps 1–4.
pub fn verify_request(
    secret: &str,
    guard: &ReplayGuard,
    signature: Option<&str>,
    timestamp: Option<&str>,
    body: &[u8],
    now: i64,
) -> Result<(), SignatureError> {
    verify(secret, signature, timestamp, body, now)?;
    let ts = timestamp
        .and_then(|t| t.trim().parse::<i64>().ok())
        .unwrap_or(now);
    guard.check(signature.unwrap_or_default(), ts, now)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Slack's documented example (api.slack.com/authentication/verifying-requests-from-slack).
    const SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
    const TS: &str = "1531420618";
    const BODY: &str = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    const SIG: &str = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";

    #[test]
    fn slacks_documented_vector_verifies_at_its_own_time() {
        assert_eq!(sign(SECRET, TS, BODY.as_bytes()), SIG);
        assert_eq!(
            verify(
                SECRET,
                Some(SIG),
                Some(TS),
                BODY.as_bytes(),
                1531420618 + 10
            ),
            Ok(())
        );
    }

    #[test]
    fn stale_forged_and_unsigned_requests_are_refused() {
        let now = 1531420618;
        assert_eq!(
            verify(SECRET, Some(SIG), Some(TS), BODY.as_bytes(), now + 301),
            Err(SignatureError::Stale)
        );
        assert_eq!(
            verify(SECRET, Some(SIG), Some(TS), b"token=changed", now),
            Err(SignatureError::Forged)
        );
        assert_eq!(
            verify("another-secret", Some(SIG), Some(TS), BODY.as_bytes(), now),
            Err(SignatureError::Forged)
        );
        assert_eq!(
            verify(SECRET, None, Some(TS), BODY.as_bytes(), now),
            Err(SignatureError::Unsigned)
        );
        assert_eq!(
            verify(SECRET, Some("sha1=abc"), Some(TS), BODY.as_bytes(), now),
            Err(SignatureError::Unsigned)
        );
        // A forged signature with a stale timestamp reads as forged, not stale.
        assert_eq!(
            verify(SECRET, Some("v0=00"), Some("1"), BODY.as_bytes(), now),
            Err(SignatureError::Forged)
        );
    }

    #[test]
    fn a_request_is_accepted_once_inside_its_window() {
        let g = ReplayGuard::default();
        let now = 1531420618;
        assert_eq!(
            verify_request(SECRET, &g, Some(SIG), Some(TS), BODY.as_bytes(), now),
            Ok(())
        );
        assert_eq!(
            verify_request(SECRET, &g, Some(SIG), Some(TS), BODY.as_bytes(), now + 5),
            Err(SignatureError::Replayed)
        );
    }
}
