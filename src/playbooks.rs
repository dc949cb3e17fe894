//! Playbooks: which containment actions an alert calls for.
//!
//! A playbook matches alerts (by format, title or rule regex, minimum
//! severity, tags, observables present) and proposes actions aimed at the
//! alert's observables: `isolate_host` on its hosts, `disable_user` on its
//! users, `block_ip` on the attacker's IP, … Proposing is all it does: every
//! proposal becomes a decision that the authority matrix routes (auto,
//! veto window, approval or forbidden). A playbook therefore never needs to
//! be cautious itself; the matrix is where caution lives.
//!
//! ```toml
//! [[playbooks]]
//! name = "edr-ransomware"
//! match = { formats = ["crowdstrike", "defender"], title = "(?i)ransom", severity_at_least = "high", has = ["host"] }
//! actions = [ { action = "isolate_host", target = "host" } ]
//! stop = true    # optional: later playbooks are not consulted for this alert
//! ```
//!
//! All conditions of a `match` must hold; within a list any entry will do.
//! Targets: `host` (every host of the alert, at most [`MAX_TARGETS`]),
//! `user`, `source_ip` (the attacker), `ip` (other IPs), `cloud` (cloud
//! resource ids). A target the alert has no observable for proposes nothing.
//! Parsing is strict: unknown keys, bad regexes, unknown actions or targets
//! and actions aimed at the wrong kind of target are errors that name the
//! file, line, playbook and key.

use crate::domain::{ActionKind, ActionTarget, NewAlert, Severity, action::TargetKind};
use regex::Regex;
use serde::Deserialize;
use std::fmt;
use toml::Spanned;

/// At most this many targets of one kind per action and alert: an alert
/// naming fifty hosts is a scan or a parser bug, not fifty isolations.
pub const MAX_TARGETS: usize = 5;

/// One action a playbook proposes for one target.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Proposal {
    /// The name of the playbook that proposed it (the first one, when
    /// several did).
    pub playbook: String,
    pub action: ActionKind,
    pub target: ActionTarget,
}

/// A playbook file that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct PlaybookError {
    pub file: String,
    pub line: Option<usize>,
    /// `#2 "edr-ransomware"` when the error is inside a playbook.
    pub playbook: Option<String>,
    pub key: Option<String>,
    pub message: String,
}

impl fmt::Display for PlaybookError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(l) = self.line {
            write!(f, ":{l}")?;
        }
        if let Some(p) = &self.playbook {
            write!(f, ": playbook {p}")?;
        }
        if let Some(k) = &self.key {
            write!(f, ": {k}")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Which observables an alert must carry (`has = [...]`), and which a
/// target draws from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Observable {
    Host,
    User,
    SourceIp,
    Ip,
    Domain,
    FileHash,
    Cloud,
}

impl Observable {
    const NAMES: &'static str = "host, user, source_ip, ip, domain, file_hash, cloud";

    fn parse(s: &str) -> Option<Observable> {
        Some(match s {
            "host" => Observable::Host,
            "user" => Observable::User,
            "source_ip" => Observable::SourceIp,
            "ip" => Observable::Ip,
            "domain" => Observable::Domain,
            "file_hash" => Observable::FileHash,
            "cloud" => Observable::Cloud,
            _ => return None,
        })
    }

    fn values(self, a: &NewAlert) -> &[String] {
        let o = &a.observables;
        match self {
            Observable::Host => &o.hosts,
            Observable::User => &o.users,
            Observable::SourceIp => &o.source_ips,
            Observable::Ip => &o.ips,
            Observable::Domain => &o.domains,
            Observable::FileHash => &o.file_hashes,
            Observable::Cloud => &o.cloud_resources,
        }
    }

    /// The target kind an action on this observable has; `None` for
    /// observables no action can be aimed at.
    fn target_kind(self) -> Option<TargetKind> {
        match self {
            Observable::Host => Some(TargetKind::Host),
            Observable::User => Some(TargetKind::User),
            Observable::SourceIp | Observable::Ip => Some(TargetKind::Ip),
            Observable::Cloud => Some(TargetKind::CloudResource),
            Observable::Domain | Observable::FileHash => None,
        }
    }
}

#[derive(Debug, Clone)]
struct Match {
    formats: Vec<String>,
    title: Option<Regex>,
    rule: Option<Regex>,
    severity_at_least: Option<Severity>,
    tags_any: Vec<String>,
    has: Vec<Observable>,
}

impl Match {
    fn matches(&self, a: &NewAlert) -> bool {
        (self.formats.is_empty()
            || self
                .formats
                .iter()
                .any(|f| f.eq_ignore_ascii_case(&a.format)))
            && self.title.as_ref().is_none_or(|r| r.is_match(&a.title))
            && self
                .rule
                .as_ref()
                .is_none_or(|r| a.rule.as_deref().is_some_and(|x| r.is_match(x)))
            && self.severity_at_least.is_none_or(|s| a.severity >= s)
            && (self.tags_any.is_empty()
                || a.tags
                    .iter()
                    .any(|t| self.tags_any.iter().any(|w| w.eq_ignore_ascii_case(t))))
            && self.has.iter().all(|o| !o.values(a).is_empty())
    }
}

#[derive(Debug, Clone)]
struct Playbook {
    name: String,
    when: Match,
    actions: Vec<(ActionKind, Observable)>,
    stop: bool,
}

/// A parsed playbook file.
#[derive(Debug, Clone, Default)]
pub struct Playbooks {
    playbooks: Vec<Playbook>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileDe {
    #[serde(default)]
    playbooks: Vec<PlaybookDe>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PlaybookDe {
    name: Spanned<String>,
    #[serde(default)]
    #[allow(dead_code)] // for people reading the file and for `cordon check`
    description: Option<String>,
    #[serde(rename = "match")]
    when: Spanned<MatchDe>,
    actions: Spanned<Vec<ActionDe>>,
    #[serde(default)]
    stop: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MatchDe {
    #[serde(default)]
    formats: Vec<String>,
    title: Option<Spanned<String>>,
    rule: Option<Spanned<String>>,
    severity_at_least: Option<Severity>,
    #[serde(default)]
    tags_any: Vec<String>,
    #[serde(default)]
    has: Vec<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ActionDe {
    action: Spanned<String>,
    target: Spanned<String>,
}

impl Playbooks {
    /// Parses a playbook file whose actions are all built-in kinds.
    pub fn parse(source_name: &str, text: &str) -> Result<Playbooks, PlaybookError> {
        Playbooks::parse_with_custom(source_name, text, &[])
    }

    /// Parses a playbook file that may also use the custom action kinds
    /// defined in the authority matrix (`custom`); any other name is a typo
    /// and refused, rather than proposing an action nobody can execute.
    pub fn parse_with_custom(
        source_name: &str,
        text: &str,
        custom: &[ActionKind],
    ) -> Result<Playbooks, PlaybookError> {
        let line_of = |span: std::ops::Range<usize>| {
            Some(text[..span.start.min(text.len())].matches('\n').count() + 1)
        };
        let err =
            |line, playbook: Option<String>, key: Option<&str>, message: String| PlaybookError {
                file: source_name.to_owned(),
                line,
                playbook,
                key: key.map(str::to_owned),
                message,
            };
        let file: FileDe = toml::from_str(text).map_err(|e| {
            err(
                e.span().and_then(line_of),
                None,
                None,
                e.message().trim().to_owned(),
            )
        })?;
        let mut out: Vec<Playbook> = Vec::new();
        for (n, p) in file.playbooks.into_iter().enumerate() {
            let name = p.name.get_ref().trim().to_owned();
            let label = Some(format!("#{} \"{}\"", n + 1, name));
            if name.is_empty() {
                return Err(err(
                    line_of(p.name.span()),
                    label,
                    Some("name"),
                    "is empty".into(),
                ));
            }
            if out.iter().any(|q| q.name == name) {
                return Err(err(
                    line_of(p.name.span()),
                    label,
                    Some("name"),
                    "is used by an earlier playbook".into(),
                ));
            }
            let match_span = p.when.span();
            let m = p.when.into_inner();
            let regex = |key: &str, r: Option<Spanned<String>>| match r {
                None => Ok(None),
                Some(s) => Regex::new(s.get_ref()).map(Some).map_err(|e| {
                    err(
                        line_of(s.span()),
                        label.clone(),
                        Some(key),
                        format!("bad regex: {e}"),
                    )
                }),
            };
            let title = regex("match.title", m.title)?;
            let rule = regex("match.rule", m.rule)?;
            let mut has = Vec::new();
            for h in &m.has {
                has.push(Observable::parse(h.get_ref()).ok_or_else(|| {
                    err(
                        line_of(h.span()),
                        label.clone(),
                        Some("match.has"),
                        format!(
                            "`{}` is not an observable kind ({})",
                            h.get_ref(),
                            Observable::NAMES
                        ),
                    )
                })?);
            }
            let when = Match {
                formats: m.formats.iter().map(|f| f.trim().to_lowercase()).collect(),
                title,
                rule,
                severity_at_least: m.severity_at_least,
                tags_any: m.tags_any,
                has,
            };
            if when.formats.is_empty()
                && when.title.is_none()
                && when.rule.is_none()
                && when.severity_at_least.is_none()
                && when.tags_any.is_empty()
                && when.has.is_empty()
            {
                return Err(err(
                    line_of(match_span),
                    label,
                    Some("match"),
                    "is empty: it would propose actions for every alert; add at least one condition".into(),
                ));
            }
            let actions_span = p.actions.span();
            let mut actions = Vec::new();
            for a in p.actions.into_inner() {
                let kind: ActionKind = a.action.get_ref().parse().map_err(|e: String| {
                    err(line_of(a.action.span()), label.clone(), Some("action"), e)
                })?;
                if matches!(kind, ActionKind::Custom(_)) && !custom.contains(&kind) {
                    return Err(err(
                        line_of(a.action.span()),
                        label.clone(),
                        Some("action"),
                        format!(
                            "`{kind}` is neither a built-in action ({}) nor a custom action of the authority matrix",
                            ActionKind::BUILTIN
                                .map(|k| k.as_str().to_owned())
                                .join(", ")
                        ),
                    ));
                }
                let target = Observable::parse(a.target.get_ref())
                    .filter(|o| o.target_kind().is_some())
                    .ok_or_else(|| {
                        err(
                            line_of(a.target.span()),
                            label.clone(),
                            Some("target"),
                            format!(
                                "`{}` is not a target (host, user, source_ip, ip, cloud)",
                                a.target.get_ref()
                            ),
                        )
                    })?;
                if let Some(needed) = kind.target_kind()
                    && target.target_kind() != Some(needed)
                {
                    return Err(err(
                        line_of(a.target.span()),
                        label.clone(),
                        Some("target"),
                        format!("`{kind}` cannot be aimed at `{}`", a.target.get_ref()),
                    ));
                }
                actions.push((kind, target));
            }
            if actions.is_empty() {
                return Err(err(
                    line_of(actions_span),
                    label,
                    Some("actions"),
                    "is empty: a playbook proposes at least one action".into(),
                ));
            }
            out.push(Playbook {
                name,
                when,
                actions,
                stop: p.stop,
            });
        }
        Ok(Playbooks { playbooks: out })
    }

    pub fn len(&self) -> usize {
        self.playbooks.len()
    }

    pub fn is_empty(&self) -> bool {
        self.playbooks.is_empty()
    }

    /// The playbook names, in file order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.playbooks.iter().map(|p| p.name.as_str())
    }

    /// The actions this alert calls for, in playbook order, one per
    /// (action, target); a later playbook proposing the same pair again
    /// adds nothing. Evaluation stops after a matching `stop = true`.
    pub fn propose(&self, alert: &NewAlert) -> Vec<Proposal> {
        let mut out: Vec<Proposal> = Vec::new();
        for p in &self.playbooks {
            if !p.when.matches(alert) {
                continue;
            }
            for (kind, obs) in &p.actions {
                let Some(tk) = obs.target_kind() else {
                    continue;
                };
                for v in obs.values(alert).iter().take(MAX_TARGETS) {
                    let target = ActionTarget {
                        kind: tk,
                        value: v.clone(),
                    };
                    if !out.iter().any(|x| x.action == *kind && x.target == target) {
                        out.push(Proposal {
                            playbook: p.name.clone(),
                            action: kind.clone(),
                            target,
                        });
                    }
                }
            }
            if p.stop {
                break;
            }
        }
        out
    }
}
