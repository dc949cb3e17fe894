//! Discord interaction signatures: the only thing that makes a click a
//! click by the user and roles Discord names in it.
//!
//! Discord signs every POST to the interactions endpoint with the
//! application's Ed25519 key: `X-Signature-Ed25519: hex(sig)` over
//! `X-Signature-Timestamp ++ raw_body` (no separator). We check, in order:
//!
//! 1. both headers are present and the timestamp is a number (else unsigned);
//! 2. the signature over the *raw bytes*, before any JSON parsing, with
//!    serenity's [`Verifier`] (ed25519-dalek 2, strict verification);
//! 3. the timestamp is within five minutes of now: Discord does not require
//!    it, but without it a captured request could be replayed forever;
//! 4. the signature was not already accepted inside that window (the
//!    shared [`ReplayGuard`]; only requests that passed 1–3 are remembered).
//!
//! Steps 3 and 4 are shared with Slack ([`crate::chat::verify`]); the
//! Ed25519 check is Discord's own.
//!
//! Discord probes the endpoint with deliberately bad signatures and drops
//! the URL if one is accepted, so every failure is a `401`.

use crate::chat::verify::check_window;
pub use crate::chat::verify::{MAX_AGE_SECONDS, ReplayGuard, SignatureError};
use serenity::interactions_endpoint::Verifier;

pub const SIGNATURE_HEADER: &str = "x-signature-ed25519";
pub const TIMESTAMP_HEADER: &str = "x-signature-timestamp";

/// Why the endpoint refuses everything when no key is set.
pub const NO_KEY: SignatureError =
    SignatureError::NotConfigured("no public key is configured (CORDON_DISCORD_PUBLIC_KEY)");

/// Parses the application's public key (64 hex digits from the Developer Portal).
pub fn verifier(public_key_hex: &str) -> Result<Verifier, String> {
    let bytes: [u8; 32] = hex::decode(public_key_hex.trim())
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or("CORDON_DISCORD_PUBLIC_KEY must be 64 hex digits (General Information → Public Key in the Developer Portal)")?;
    Verifier::try_new(bytes)
        .map_err(|_| "CORDON_DISCORD_PUBLIC_KEY is not a valid Ed25519 public key".to_owned())
}

/// Checks steps 1–3 at `now` (unix seconds).
pub fn verify(
    v: &Verifier,
    signature: Option<&str>,
    timestamp: Option<&str>,
    body: &[u8],
    now: i64,
) -> Result<(), SignatureError> {
    let (Some(sig), Some(ts)) = (signature, timestamp) else {
        return Err(SignatureError::Unsigned);
    };
    let Ok(ts_n) = ts.parse::<i64>() else {
        return Err(SignatureError::Unsigned);
    };
    // The timestamp is verified as sent (not trimmed): it is part of the
    // signed message.
    if v.verify(sig, ts, body).is_err() {
        return Err(SignatureError::Forged);
    }
    check_window(ts_n, now)
}

/// Steps 1–4.
pub fn verify_request(
    v: &Verifier,
    guard: &ReplayGuard,
    signature: Option<&str>,
    timestamp: Option<&str>,
    body: &[u8],
    now: i64,
) -> Result<(), SignatureError> {
    verify(v, signature, timestamp, body, now)?;
    let ts = timestamp.and_then(|t| t.parse::<i64>().ok()).unwrap_or(now);
    // Slack's and Discord's windows are both five minutes; the guard keeps
    // each signature for that long.
    guard.check(&signature.unwrap_or_default().to_ascii_lowercase(), ts, now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::{Signer, SigningKey};

    fn key() -> SigningKey {
        SigningKey::from_bytes(&[7u8; 32])
    }

    fn sign(ts: &str, body: &[u8]) -> String {
        hex::encode(key().sign(&[ts.as_bytes(), body].concat()).to_bytes())
    }

    fn v() -> Verifier {
        verifier(&hex::encode(key().verifying_key().to_bytes())).expect("key")
    }

    #[test]
    fn a_signed_fresh_request_passes_once() {
        let body = br#"{"type":1}"#;
        let sig = sign("1000", body);
        let g = ReplayGuard::default();
        assert_eq!(
            verify_request(&v(), &g, Some(&sig), Some("1000"), body, 1010),
            Ok(())
        );
        assert_eq!(
            verify_request(&v(), &g, Some(&sig), Some("1000"), body, 1011),
            Err(SignatureError::Replayed)
        );
    }

    #[test]
    fn forged_stale_and_unsigned_requests_are_refused() {
        let body = br#"{"type":1}"#;
        let sig = sign("1000", body);
        assert_eq!(
            verify(&v(), Some(&sig), Some("1000"), br#"{"type":2}"#, 1000),
            Err(SignatureError::Forged)
        );
        assert_eq!(
            verify(&v(), Some(&sig), Some("1001"), body, 1000),
            Err(SignatureError::Forged)
        );
        assert_eq!(
            verify(&v(), Some("zz"), Some("1000"), body, 1000),
            Err(SignatureError::Forged)
        );
        assert_eq!(
            verify(&v(), Some(&sig), Some("1000"), body, 1000 + 301),
            Err(SignatureError::Stale)
        );
        assert_eq!(
            verify(&v(), None, Some("1000"), body, 1000),
            Err(SignatureError::Unsigned)
        );
        assert_eq!(
            verify(&v(), Some(&sig), Some("yesterday"), body, 1000),
            Err(SignatureError::Unsigned)
        );
    }

    #[test]
    fn a_bad_public_key_is_a_config_error() {
        assert!(verifier("abc").is_err());
        assert!(verifier(&"z".repeat(64)).is_err());
    }
}
