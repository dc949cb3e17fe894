//! Live lookups in a CMDB or identity provider over HTTP, with a TTL cache.
//!
//! A source is one URL template (`https://cmdb/api/hosts/{host}`), some
//! headers (secrets come from the environment, `env:CMDB_TOKEN`, and are
//! marked sensitive so they never show in `Debug`), and a field map from
//! cordon's names to dotted paths in the JSON answer. A 404 means "not in
//! the CMDB" and is cached like an answer; any other failure is an error
//! that is not cached, so the next alert tries again.

use super::{SourceConfig, SourceKind};
use crate::store::{Asset, Identity};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

/// What one lookup found.
#[derive(Debug, Clone, PartialEq)]
pub enum Found {
    Asset(Asset),
    Identity(Identity),
}

/// Bounded in-memory cache with expiry. When full, expired entries go
/// first, then the entry closest to expiry: a crude LRU that needs no
/// bookkeeping on reads.
#[derive(Debug)]
struct TtlCache {
    ttl: Duration,
    max_entries: usize,
    entries: HashMap<String, (Instant, Option<Found>)>,
}

impl TtlCache {
    fn get(&self, key: &str, now: Instant) -> Option<Option<Found>> {
        self.entries
            .get(key)
            .filter(|(exp, _)| *exp > now)
            .map(|(_, v)| v.clone())
    }

    fn put(&mut self, key: String, value: Option<Found>, now: Instant) {
        if self.max_entries == 0 {
            return;
        }
        if self.entries.len() >= self.max_entries && !self.entries.contains_key(&key) {
            self.entries.retain(|_, (exp, _)| *exp > now);
            if self.entries.len() >= self.max_entries
                && let Some(oldest) = self
                    .entries
                    .iter()
                    .min_by_key(|(_, (exp, _))| *exp)
                    .map(|(k, _)| k.clone())
            {
                self.entries.remove(&oldest);
            }
        }
        self.entries.insert(key, (now + self.ttl, value));
    }
}

/// One configured HTTP lookup source.
#[derive(Debug)]
pub struct HttpSource {
    pub name: String,
    pub kind: SourceKind,
    pub budget: Duration,
    url_template: String,
    headers: HeaderMap,
    /// cordon field name → dotted JSON path (`data.owners`, `items.0.tier`).
    fields: BTreeMap<String, String>,
    client: reqwest::Client,
    cache: Mutex<TtlCache>,
}

impl HttpSource {
    /// Builds the source; reads `env:` header values now, so a missing
    /// secret is a start-up error, not a silent 401 on every alert.
    pub fn new(
        cfg: &SourceConfig,
        default_budget: Duration,
        client: reqwest::Client,
    ) -> Result<HttpSource, String> {
        let placeholder = match cfg.kind {
            SourceKind::Asset => "{host}",
            SourceKind::Identity => "{user}",
        };
        if !cfg.url_template.contains(placeholder) {
            return Err(format!(
                "http_sources `{}`: url_template must contain {placeholder}",
                cfg.name
            ));
        }
        reqwest::Url::parse(&cfg.url_template.replace(placeholder, "x")).map_err(|e| {
            format!(
                "http_sources `{}`: url_template is not a URL ({e})",
                cfg.name
            )
        })?;
        let mut headers = HeaderMap::new();
        for (k, v) in &cfg.headers {
            let value = match v.strip_prefix("env:") {
                Some(var) => std::env::var(var).map_err(|_| {
                    format!(
                        "http_sources `{}`: header {k} wants the environment variable {var}, which is not set",
                        cfg.name
                    )
                })?,
                None => v.clone(),
            };
            let name = HeaderName::from_bytes(k.as_bytes())
                .map_err(|e| format!("http_sources `{}`: header name {k}: {e}", cfg.name))?;
            let mut value = HeaderValue::from_str(&value)
                .map_err(|e| format!("http_sources `{}`: header {k}: {e}", cfg.name))?;
            value.set_sensitive(true);
            headers.insert(name, value);
        }
        let ttl = match &cfg.ttl {
            Some(t) => crate::domain::time::parse_duration(t)
                .map_err(|e| format!("http_sources `{}`: ttl: {e}", cfg.name))?,
            None => Duration::from_secs(600),
        };
        let budget = match &cfg.budget {
            Some(b) => crate::domain::time::parse_duration(b)
                .map_err(|e| format!("http_sources `{}`: budget: {e}", cfg.name))?,
            None => default_budget,
        };
        Ok(HttpSource {
            name: cfg.name.clone(),
            kind: cfg.kind,
            budget,
            url_template: cfg.url_template.clone(),
            headers,
            fields: cfg.fields.clone(),
            client,
            cache: Mutex::new(TtlCache {
                ttl,
                max_entries: cfg.max_entries.unwrap_or(10_000),
                entries: HashMap::new(),
            }),
        })
    }

    /// Looks `key` (a host or a user) up, from the cache when fresh. Keys
    /// are lower-cased (host and user names are case-insensitive, and the
    /// store keeps them lower case), in the URL and in the cache.
    pub async fn lookup(&self, key: &str) -> Result<Option<Found>, String> {
        let cache_key = key.trim().to_lowercase();
        if let Ok(c) = self.cache.lock()
            && let Some(hit) = c.get(&cache_key, Instant::now())
        {
            return Ok(hit);
        }
        let placeholder = match self.kind {
            SourceKind::Asset => "{host}",
            SourceKind::Identity => "{user}",
        };
        let url = self
            .url_template
            .replace(placeholder, &percent_encode(&cache_key));
        let resp = self
            .client
            .get(&url)
            .headers(self.headers.clone())
            .send()
            .await
            .map_err(|e| format!("request failed: {}", e.without_url()))?;
        let found = if resp.status() == reqwest::StatusCode::NOT_FOUND {
            None
        } else if !resp.status().is_success() {
            return Err(format!("answered HTTP {}", resp.status()));
        } else {
            let body: Value = resp
                .json()
                .await
                .map_err(|e| format!("answer is not JSON: {}", e.without_url()))?;
            Some(self.map(key, &body))
        };
        if let Ok(mut c) = self.cache.lock() {
            c.put(cache_key, found.clone(), Instant::now());
        }
        Ok(found)
    }

    /// Maps the answer through the field map. Missing paths leave fields
    /// empty; unknown cordon names become attributes.
    fn map(&self, key: &str, body: &Value) -> Found {
        let get = |path: &str| -> Option<&Value> {
            path.split('.').try_fold(body, |v, seg| match v {
                Value::Object(m) => m.get(seg),
                Value::Array(a) => seg.parse::<usize>().ok().and_then(|i| a.get(i)),
                _ => None,
            })
        };
        match self.kind {
            SourceKind::Asset => {
                let mut a = Asset {
                    hostname: key.trim().to_lowercase(),
                    ..Asset::default()
                };
                for (field, path) in &self.fields {
                    let Some(v) = get(path) else { continue };
                    match field.as_str() {
                        "hostname" => a.hostname = scalar(v).unwrap_or(a.hostname).to_lowercase(),
                        "ips" => a.ips = list(v),
                        "owners" => a.owners = list(v),
                        "tier" => a.tier = scalar(v),
                        "environment" => a.environment = scalar(v),
                        "business_service" => a.business_service = scalar(v),
                        other => {
                            if let Some(s) = scalar(v) {
                                a.attributes.insert(other.to_owned(), s);
                            }
                        }
                    }
                }
                Found::Asset(a)
            }
            SourceKind::Identity => {
                let mut i = Identity {
                    username: key.trim().to_lowercase(),
                    ..Identity::default()
                };
                for (field, path) in &self.fields {
                    let Some(v) = get(path) else { continue };
                    match field.as_str() {
                        "username" => i.username = scalar(v).unwrap_or(i.username).to_lowercase(),
                        "email" => i.email = scalar(v),
                        "department" => i.department = scalar(v),
                        "manager" => i.manager = scalar(v),
                        "privileged" => {
                            i.privileged = match v {
                                Value::Bool(b) => *b,
                                other => scalar(other).is_some_and(|s| {
                                    matches!(s.to_ascii_lowercase().as_str(), "true" | "yes" | "1")
                                }),
                            }
                        }
                        other => {
                            if let Some(s) = scalar(v) {
                                i.attributes.insert(other.to_owned(), s);
                            }
                        }
                    }
                }
                Found::Identity(i)
            }
        }
    }
}

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn list(v: &Value) -> Vec<String> {
    match v {
        Value::Array(items) => items.iter().filter_map(scalar).collect(),
        other => scalar(other)
            .map(|s| {
                s.split([';', '|', ','])
                    .map(str::trim)
                    .filter(|x| !x.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default(),
    }
}

/// Percent-encodes everything but RFC 3986 unreserved characters, so a
/// hostname or `DOMAIN\user` is one safe path segment or query value.
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
