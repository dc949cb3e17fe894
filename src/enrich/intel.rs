//! Threat-intel indicator lists: plain text files, one indicator per line,
//! `#` starts a comment. An entry is an IP, a CIDR, a domain (which also
//! matches its subdomains; a leading `*.` or `.` is accepted and ignored) or
//! a file hash (MD5, SHA-1, SHA-256 as hex).
//!
//! Reloading: each list remembers the file's modification time and size and
//! checks them again when it is used, at most once per `recheck` interval.
//! This was chosen over a background watcher task because it needs no task
//! lifecycle (nothing to start or shut down, nothing to leak in tests), a
//! `stat` per second is free, and the check runs inside the intel source's
//! time budget like any other lookup. A file that disappears or stops
//! parsing keeps its last good contents and the source reports the error
//! (the enrichment is marked partial) until the file is fixed.

use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::sync::Mutex;
use tokio::time::Instant;

/// What kind of indicator matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IntelKind {
    Ip,
    Cidr,
    Domain,
    Md5,
    Sha1,
    Sha256,
}

/// One observable of the alert found on an intel list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IntelHit {
    /// The observable as the alert carries it (`203.0.113.9`, `c2.evil.example`).
    pub indicator: String,
    pub kind: IntelKind,
    /// The list's name: its file name without extension (`bad-ips`).
    pub list: String,
    /// The list entry that matched, when it differs from the indicator
    /// (the CIDR, the parent domain).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entry: Option<String>,
}

/// The parsed contents of one list.
#[derive(Debug, Default)]
struct Indicators {
    ips: HashSet<IpAddr>,
    /// Checked linearly: lists of a few thousand networks are cheap enough;
    /// a prefix trie would be the next step for feeds of millions.
    nets: Vec<IpNet>,
    domains: HashSet<String>,
    hashes: HashSet<String>,
}

impl Indicators {
    /// Parses a list; an unrecognisable line is an error naming it, so a
    /// broken feed is noticed instead of silently matching nothing.
    fn parse(label: &str, text: &str) -> Result<Indicators, String> {
        let mut ind = Indicators::default();
        for (n, raw) in text.lines().enumerate() {
            let line = raw.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            if let Ok(ip) = line.parse::<IpAddr>() {
                ind.ips.insert(ip);
            } else if let Ok(net) = line.parse::<IpNet>() {
                ind.nets.push(net.trunc());
            } else if hash_kind(line).is_some() {
                ind.hashes.insert(line.to_ascii_lowercase());
            } else if let Some(d) = normalise_domain(line) {
                ind.domains.insert(d);
            } else {
                return Err(format!(
                    "{label}:{}: `{line}` is not an IP, CIDR, domain or MD5/SHA-1/SHA-256 hash",
                    n + 1
                ));
            }
        }
        Ok(ind)
    }
}

fn hash_kind(s: &str) -> Option<IntelKind> {
    if !s.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    match s.len() {
        32 => Some(IntelKind::Md5),
        40 => Some(IntelKind::Sha1),
        64 => Some(IntelKind::Sha256),
        _ => None,
    }
}

/// Lower case, without a leading `*.`/`.` and a trailing `.`; `None` when it
/// does not look like a domain name (needs a dot, letters/digits/`-`/`_`).
fn normalise_domain(s: &str) -> Option<String> {
    let d = s
        .trim_start_matches("*.")
        .trim_start_matches('.')
        .trim_end_matches('.')
        .to_ascii_lowercase();
    let ok = d.contains('.')
        && d.split('.').all(|label| {
            !label.is_empty()
                && label
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        });
    ok.then_some(d)
}

/// The state of one list file.
#[derive(Debug)]
struct ListState {
    /// Modification time and size of the file when it was last read.
    stamp: Option<(SystemTime, u64)>,
    last_check: Option<Instant>,
    indicators: Arc<Indicators>,
    /// Why the last reload failed, until a reload succeeds.
    error: Option<String>,
}

/// One indicator list file, reloaded when it changes.
#[derive(Debug)]
pub struct IntelList {
    path: PathBuf,
    name: String,
    recheck: Duration,
    state: Mutex<ListState>,
}

impl IntelList {
    /// Reads the list now; a missing or broken file at start is a
    /// configuration error.
    pub fn open(path: impl Into<PathBuf>, recheck: Duration) -> Result<IntelList, String> {
        let path = path.into();
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| path.display().to_string());
        let label = path.display().to_string();
        let meta = std::fs::metadata(&path).map_err(|e| format!("{label}: {e}"))?;
        let text = std::fs::read_to_string(&path).map_err(|e| format!("{label}: {e}"))?;
        let indicators = Indicators::parse(&label, &text)?;
        Ok(IntelList {
            name,
            recheck,
            state: Mutex::new(ListState {
                stamp: Some((
                    meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
                    meta.len(),
                )),
                last_check: Some(Instant::now()),
                indicators: Arc::new(indicators),
                error: None,
            }),
            path,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The current indicators, reloading first if the file changed (checked
    /// at most once per `recheck`). Also returns the pending reload error.
    async fn current(&self) -> (Arc<Indicators>, Option<String>) {
        let mut st = self.state.lock().await;
        let due = st.last_check.is_none_or(|t| t.elapsed() >= self.recheck);
        if due {
            st.last_check = Some(Instant::now());
            let label = self.path.display().to_string();
            match tokio::fs::metadata(&self.path).await {
                Err(e) => st.error = Some(format!("{label}: {e} (keeping the last good list)")),
                Ok(meta) => {
                    let stamp = (
                        meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
                        meta.len(),
                    );
                    if st.stamp != Some(stamp) || st.error.is_some() {
                        let parsed = tokio::fs::read_to_string(&self.path)
                            .await
                            .map_err(|e| format!("{label}: {e}"))
                            .and_then(|t| Indicators::parse(&label, &t));
                        match parsed {
                            Ok(ind) => {
                                tracing::info!(list = %label, "intel list reloaded");
                                st.indicators = Arc::new(ind);
                                st.stamp = Some(stamp);
                                st.error = None;
                            }
                            Err(e) => {
                                tracing::warn!(error = %e, "intel list reload failed");
                                st.stamp = Some(stamp);
                                st.error = Some(format!("{e} (keeping the last good list)"));
                            }
                        }
                    }
                }
            }
        }
        (st.indicators.clone(), st.error.clone())
    }

    /// The hits of the given observables on this list, and an error if the
    /// list could not be refreshed (the hits are then from the last good copy).
    pub async fn matches(
        &self,
        ips: &[String],
        domains: &[String],
        hashes: &[String],
    ) -> (Vec<IntelHit>, Option<String>) {
        let (ind, error) = self.current().await;
        let mut hits = Vec::new();
        let hit = |indicator: &str, kind, entry: Option<String>| IntelHit {
            indicator: indicator.to_owned(),
            kind,
            list: self.name.clone(),
            entry,
        };
        for raw in ips {
            let Ok(ip) = raw.trim().parse::<IpAddr>() else {
                continue;
            };
            if ind.ips.contains(&ip) {
                hits.push(hit(raw, IntelKind::Ip, None));
            } else if let Some(net) = ind.nets.iter().find(|n| n.contains(&ip)) {
                hits.push(hit(raw, IntelKind::Cidr, Some(net.to_string())));
            }
        }
        for raw in domains {
            let Some(d) = normalise_domain(raw.trim()) else {
                continue;
            };
            // The domain itself, then each parent: `a.b.evil.example` hits
            // an entry `evil.example`. Stop before the bare TLD.
            let mut cur = d.as_str();
            while cur.contains('.') {
                if ind.domains.contains(cur) {
                    let entry = (cur != d).then(|| cur.to_owned());
                    hits.push(hit(raw, IntelKind::Domain, entry));
                    break;
                }
                cur = match cur.split_once('.') {
                    Some((_, rest)) => rest,
                    None => break,
                };
            }
        }
        for raw in hashes {
            let h = raw.trim().to_ascii_lowercase();
            if let Some(kind) = hash_kind(&h)
                && ind.hashes.contains(&h)
            {
                hits.push(hit(raw, kind, None));
            }
        }
        (hits, error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_lines_are_classified_and_junk_is_refused() {
        let ind = Indicators::parse(
            "x",
            "# c\n203.0.113.9\n198.51.100.0/24 # scanner\n*.Evil.Example\nd41d8cd98f00b204e9800998ecf8427e\n",
        )
        .unwrap();
        assert_eq!(ind.ips.len(), 1);
        assert_eq!(ind.nets.len(), 1);
        assert!(ind.domains.contains("evil.example"));
        assert_eq!(ind.hashes.len(), 1);
        let e = Indicators::parse("bad.txt", "1.2.3.4\nnot an indicator\n").unwrap_err();
        assert!(e.starts_with("bad.txt:2:"), "{e}");
    }
}
