//! Sign-in for the web console.
//!
//! - A **one-time link** (`cordon login-link --person NAME`) carries a short
//!   lived HS256 token (`aud = cordon-login`) with a random id. Opening it
//!   shows a "Sign in" button; only the POST consumes the token, so a chat
//!   client that previews the link cannot burn it. The store records the
//!   token id on first use and refuses it ever after.
//! - A **session** is an HS256 JWT (`aud = cordon-web`) in an `HttpOnly`,
//!   `SameSite=Lax` cookie (`Secure` when the public URL is https).
//!   Sign-out records the session id in the store, and every request
//!   refuses a recorded one: the token alone is not enough to stay signed in.
//! - **CSRF**: every form carries `HMAC(secret, "csrf:" + session id)`;
//!   a POST without it, or with another session's, is refused with 403.
//!
//! Expiry is checked against the time the caller passes (the engine's
//! clock), not the system clock, like every other time in cordon.

use crate::domain::{PersonId, Timestamp};
use hmac::{Hmac, Mac};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use std::time::Duration;

pub const SESSION_COOKIE: &str = "cordon_session";
const LOGIN_AUD: &str = "cordon-login";
const SESSION_AUD: &str = "cordon-web";

/// The web secret. `Debug` hides it.
#[derive(Clone)]
pub struct WebKeys {
    secret: Vec<u8>,
}

impl std::fmt::Debug for WebKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebKeys(***)")
    }
}

/// Claims of both token kinds; `aud` tells them apart.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct WebClaims {
    pub sub: String,
    pub aud: String,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
}

/// Why a token was not accepted. Shown to the person as is: it names no
/// secret and helps them ask for a new link.
#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum AuthError {
    #[error("the sign-in token is not valid (malformed or not signed by this cordon)")]
    Invalid,
    #[error(
        "the sign-in token has expired; ask for a new link (`cordon login-link --person NAME`)"
    )]
    Expired,
    #[error("this sign-in link was used already; links work once. Ask for a new one")]
    Used,
    #[error("could not sign a token: {0}")]
    Sign(String),
}

impl WebKeys {
    /// Secrets shorter than 32 bytes are refused at start: an HS256 key must
    /// not be guessable.
    pub fn new(secret: &str) -> Result<WebKeys, String> {
        if secret.len() < 32 {
            return Err(
                "CORDON_WEB_SECRET must be at least 32 characters (e.g. `openssl rand -hex 32`)"
                    .into(),
            );
        }
        Ok(WebKeys {
            secret: secret.as_bytes().to_vec(),
        })
    }

    /// A random secret for this process only.
    pub fn random() -> WebKeys {
        use rand::RngCore;
        let mut b = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut b);
        WebKeys {
            secret: hex::encode(b).into_bytes(),
        }
    }

    fn issue(
        &self,
        aud: &str,
        person: &str,
        now: Timestamp,
        ttl: Duration,
    ) -> Result<(String, WebClaims), AuthError> {
        use rand::RngCore;
        let mut id = [0u8; 16];
        rand::thread_rng().fill_bytes(&mut id);
        let c = WebClaims {
            sub: person.to_owned(),
            aud: aud.to_owned(),
            iat: now.timestamp(),
            exp: now.timestamp() + i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX / 4),
            jti: hex::encode(id),
        };
        let t = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &c,
            &EncodingKey::from_secret(&self.secret),
        )
        .map_err(|e| AuthError::Sign(e.to_string()))?;
        Ok((t, c))
    }

    fn verify(&self, aud: &str, token: &str, now: Timestamp) -> Result<WebClaims, AuthError> {
        let mut v = Validation::new(Algorithm::HS256);
        v.set_audience(&[aud]);
        // Expiry is checked below against the engine's clock.
        v.validate_exp = false;
        v.required_spec_claims = ["aud", "exp", "sub"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let c =
            jsonwebtoken::decode::<WebClaims>(token, &DecodingKey::from_secret(&self.secret), &v)
                .map_err(|_| AuthError::Invalid)?
                .claims;
        if c.exp <= now.timestamp() {
            return Err(AuthError::Expired);
        }
        Ok(c)
    }

    /// A one-time sign-in token for `person`.
    pub fn login_token(
        &self,
        person: &PersonId,
        now: Timestamp,
        ttl: Duration,
    ) -> Result<(String, WebClaims), AuthError> {
        self.issue(LOGIN_AUD, &person.0, now, ttl)
    }

    /// Checks a sign-in token's signature and expiry (not its use; the
    /// store does that).
    pub fn verify_login(&self, token: &str, now: Timestamp) -> Result<WebClaims, AuthError> {
        self.verify(LOGIN_AUD, token, now)
    }

    pub fn session_token(
        &self,
        person: &str,
        now: Timestamp,
        ttl: Duration,
    ) -> Result<(String, WebClaims), AuthError> {
        self.issue(SESSION_AUD, person, now, ttl)
    }

    pub fn verify_session(&self, token: &str, now: Timestamp) -> Result<WebClaims, AuthError> {
        self.verify(SESSION_AUD, token, now)
    }

    /// The CSRF token of a session.
    pub fn csrf(&self, session_id: &str) -> String {
        let mut m = <Hmac<Sha256> as Mac>::new_from_slice(&self.secret)
            .unwrap_or_else(|_| unreachable_hmac());
        m.update(b"csrf:");
        m.update(session_id.as_bytes());
        hex::encode(m.finalize().into_bytes())
    }

    /// Constant-time check of a submitted CSRF token.
    pub fn csrf_ok(&self, session_id: &str, submitted: &str) -> bool {
        use subtle::ConstantTimeEq;
        let want = self.csrf(session_id);
        want.len() == submitted.len() && bool::from(want.as_bytes().ct_eq(submitted.as_bytes()))
    }
}

/// HMAC accepts keys of any length, so this cannot happen; kept out of line
/// so the lint against `expect` holds.
#[cold]
fn unreachable_hmac() -> Hmac<Sha256> {
    #[allow(clippy::unwrap_used)]
    <Hmac<Sha256> as Mac>::new_from_slice(b"k").unwrap()
}

/// The sign-in URL for a token.
pub fn login_url(public_url: &str, token: &str) -> String {
    format!("{}/login?token={}", public_url.trim_end_matches('/'), token)
}

/// The value of a cookie in a `Cookie` header.
pub fn cookie<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header.split(';').find_map(|kv| {
        let (k, v) = kv.trim().split_once('=')?;
        (k == name).then_some(v)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    fn t(s: i64) -> Timestamp {
        Utc.with_ymd_and_hms(2026, 11, 23, 8, 0, 0).unwrap() + chrono::Duration::seconds(s)
    }

    #[test]
    fn a_session_token_is_not_a_login_token_and_expires() {
        let k = WebKeys::new("0123456789abcdef0123456789abcdef").unwrap();
        let (tok, c) = k
            .session_token("alice", t(0), Duration::from_secs(60))
            .unwrap();
        assert_eq!(k.verify_session(&tok, t(59)).unwrap().jti, c.jti);
        assert_eq!(k.verify_session(&tok, t(60)), Err(AuthError::Expired));
        assert_eq!(k.verify_login(&tok, t(1)), Err(AuthError::Invalid));
        let other = WebKeys::new("fedcba9876543210fedcba9876543210").unwrap();
        assert_eq!(other.verify_session(&tok, t(1)), Err(AuthError::Invalid));
    }

    #[test]
    fn csrf_tokens_belong_to_one_session() {
        let k = WebKeys::new("0123456789abcdef0123456789abcdef").unwrap();
        let c = k.csrf("s1");
        assert!(k.csrf_ok("s1", &c));
        assert!(!k.csrf_ok("s2", &c));
        assert!(!k.csrf_ok("s1", ""));
    }

    #[test]
    fn cookies_are_found_by_name() {
        assert_eq!(
            cookie("a=1; cordon_session=xyz; b=2", SESSION_COOKIE),
            Some("xyz")
        );
        assert_eq!(cookie("a=1", SESSION_COOKIE), None);
    }
}
