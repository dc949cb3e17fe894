//! Authentication of alert sources and API readers: JWT bearer tokens.
//!
//! HS256 tokens are signed with `CORDON_INGEST_JWT_SECRET`; RS256/ES256
//! tokens with keys whose public halves are configured as PEM files. `aud`
//! must be `cordon`; `iss`, `exp` and `nbf` are checked. The token's `sub`
//! names the source and is stored with every alert. Without any key
//! configured every request is refused (fail closed).

use super::error::ApiError;
use crate::domain::Timestamp;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

/// The audience every cordon token carries.
pub const AUDIENCE: &str = "cordon";
/// The issuer of tokens made by `cordon token issue`.
pub const DEFAULT_ISSUER: &str = "cordon";

/// Claims of a source or reader token.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Claims {
    pub sub: String,
    pub aud: String,
    pub iss: String,
    pub exp: i64,
    pub nbf: i64,
    pub iat: i64,
    /// Formats this source may send; absent = all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub formats: Option<Vec<String>>,
    /// `ingest`, `read` (space-separated, OAuth style). Absent = `ingest`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

impl Claims {
    pub fn has_scope(&self, s: &str) -> bool {
        match &self.scope {
            None => s == "ingest",
            Some(sc) => sc.split_whitespace().any(|x| x == s),
        }
    }
    pub fn may_send(&self, format: &str) -> bool {
        match &self.formats {
            None => true,
            Some(f) => f.iter().any(|x| x == format),
        }
    }
}

/// The keys that verify tokens.
#[derive(Clone, Default)]
pub struct TokenVerifier {
    hs: Option<DecodingKey>,
    public: Vec<(Algorithm, DecodingKey)>,
    issuers: Vec<String>,
}

impl std::fmt::Debug for TokenVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenVerifier")
            .field("hs256", &self.hs.is_some())
            .field("public_keys", &self.public.len())
            .field("issuers", &self.issuers)
            .finish()
    }
}

impl TokenVerifier {
    /// Builds the verifier; `pem_files` are (path, contents) of RSA or EC
    /// public keys.
    pub fn new(
        secret: Option<&str>,
        pem_files: &[(String, Vec<u8>)],
        issuers: &[String],
    ) -> Result<TokenVerifier, String> {
        let mut public = Vec::new();
        for (path, pem) in pem_files {
            if let Ok(k) = DecodingKey::from_rsa_pem(pem) {
                public.push((Algorithm::RS256, k));
            } else if let Ok(k) = DecodingKey::from_ec_pem(pem) {
                public.push((Algorithm::ES256, k));
            } else {
                return Err(format!(
                    "{path}: not an RSA or EC (P-256) public key in PEM form"
                ));
            }
        }
        let issuers = if issuers.is_empty() {
            vec![DEFAULT_ISSUER.to_owned()]
        } else {
            issuers.to_vec()
        };
        Ok(TokenVerifier {
            hs: secret.map(|s| DecodingKey::from_secret(s.as_bytes())),
            public,
            issuers,
        })
    }

    /// True when at least one key is configured; otherwise ingest is closed.
    pub fn is_configured(&self) -> bool {
        self.hs.is_some() || !self.public.is_empty()
    }

    /// Verifies a compact JWT at time `now`.
    pub fn verify(&self, token: &str, now: Timestamp) -> Result<Claims, ApiError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| ApiError::unauthorized())?;
        let keys: Vec<&DecodingKey> = match header.alg {
            Algorithm::HS256 => self.hs.iter().collect(),
            alg @ (Algorithm::RS256 | Algorithm::ES256) => self
                .public
                .iter()
                .filter(|(a, _)| *a == alg)
                .map(|(_, k)| k)
                .collect(),
            _ => vec![],
        };
        for key in keys {
            let mut v = Validation::new(header.alg);
            v.set_audience(&[AUDIENCE]);
            v.set_issuer(&self.issuers);
            v.validate_nbf = true;
            v.leeway = 30;
            v.set_required_spec_claims(&["exp", "aud", "iss", "sub", "nbf"]);
            // jsonwebtoken checks exp/nbf against the system clock; check
            // them again against our clock so tests with pinned time agree.
            if let Ok(data) = jsonwebtoken::decode::<Claims>(token, key, &v) {
                let c = data.claims;
                let t = now.timestamp();
                if c.exp + 30 < t || c.nbf - 30 > t || c.sub.trim().is_empty() {
                    return Err(ApiError::unauthorized());
                }
                return Ok(c);
            }
        }
        Err(ApiError::unauthorized())
    }
}

/// Makes an HS256 token (for `cordon token issue` and tests).
pub fn issue_hs256(secret: &str, claims: &Claims) -> Result<String, String> {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .map_err(|e| e.to_string())
}

/// Claims for a new token valid from `now` for `ttl`.
pub fn new_claims(
    source: &str,
    now: Timestamp,
    ttl: std::time::Duration,
    formats: Option<Vec<String>>,
    scope: Option<String>,
) -> Claims {
    let iat = now.timestamp();
    Claims {
        sub: source.to_owned(),
        aud: AUDIENCE.into(),
        iss: DEFAULT_ISSUER.into(),
        exp: iat.saturating_add(i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX / 4)),
        nbf: iat,
        iat,
        formats,
        scope,
    }
}

/// Extracts the bearer token from an `Authorization` header value.
pub fn bearer(value: Option<&axum::http::HeaderValue>) -> Option<&str> {
    let v = value?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    fn now() -> Timestamp {
        chrono::Utc::now()
    }

    #[test]
    fn an_issued_token_verifies_and_carries_its_source_and_formats() {
        let v = TokenVerifier::new(Some(SECRET), &[], &[]).expect("verifier");
        let c = new_claims(
            "wazuh-prod",
            now(),
            std::time::Duration::from_secs(3600),
            Some(vec!["wazuh".into()]),
            None,
        );
        let t = issue_hs256(SECRET, &c).expect("token");
        let got = v.verify(&t, now()).expect("valid");
        assert_eq!(got.sub, "wazuh-prod");
        assert!(got.may_send("wazuh") && !got.may_send("falco"));
        assert!(got.has_scope("ingest") && !got.has_scope("read"));
    }

    #[test]
    fn expired_wrongly_signed_or_foreign_audience_tokens_are_refused() {
        let v = TokenVerifier::new(Some(SECRET), &[], &[]).expect("verifier");
        let old = new_claims(
            "s",
            now() - chrono::Duration::days(2),
            std::time::Duration::from_secs(3600),
            None,
            None,
        );
        assert!(
            v.verify(&issue_hs256(SECRET, &old).expect("t"), now())
                .is_err()
        );
        let c = new_claims("s", now(), std::time::Duration::from_secs(3600), None, None);
        assert!(
            v.verify(
                &issue_hs256("another-secret-another-secret-xx", &c).expect("t"),
                now()
            )
            .is_err()
        );
        let mut aud = c.clone();
        aud.aud = "grafana".into();
        assert!(
            v.verify(&issue_hs256(SECRET, &aud).expect("t"), now())
                .is_err()
        );
        let mut iss = c;
        iss.iss = "evil".into();
        assert!(
            v.verify(&issue_hs256(SECRET, &iss).expect("t"), now())
                .is_err()
        );
    }

    #[test]
    fn without_any_key_every_token_is_refused() {
        let v = TokenVerifier::new(None, &[], &[]).expect("verifier");
        assert!(!v.is_configured());
        let c = new_claims("s", now(), std::time::Duration::from_secs(3600), None, None);
        assert!(
            v.verify(&issue_hs256(SECRET, &c).expect("t"), now())
                .is_err()
        );
    }
}
