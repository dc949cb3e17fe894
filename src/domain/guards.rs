//! Guards: the blast radius of automation (DESIGN §3b).
//!
//! The rules of the matrix say which path an action takes; the guards bound
//! what may happen on the *automatic* paths (`auto`, `veto_window`, and an
//! approval that would execute by silence) whatever the rules say. A guard
//! never grants anything: it only moves a decision from an automatic path to
//! a human approval (or, for a `block_ip` broader than the limit, to an
//! advisory), and says why in the decision's first event, so the chat
//! message, the console and the audit log can all name it.
//!
//! Everything here is pure. The engine gathers the [`GuardFacts`] (how many
//! automatic decisions of this action ran recently, when the target was last
//! vetoed, every name of the target) and [`Guards::check`] decides. The
//! rate count is re-checked by the store inside the transaction that creates
//! the decision, so two pipelines racing cannot both take the last slot.

use super::matrix::{ActionContext, AfterExecutionVeto, Mode, OnTimeout, Rule};
use super::time::format_duration;
use super::{ActionKind, ActionTarget, Timestamp};
use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

/// The `[guards]` table of the matrix. Every part has a default, so a matrix
/// without the table still refuses to block the internet automatically.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Guards {
    /// The organisation's own networks: never blocked automatically.
    pub internal_cidrs: Vec<IpNet>,
    pub protected: Protected,
    /// Circuit breakers, at most one per action.
    pub rate: Vec<RateGuard>,
    pub block_ip: BlockIpGuard,
    /// A target vetoed, denied or released is not put on an automatic path
    /// again for this long. `None`: no cool-down.
    #[serde(with = "opt_duration")]
    pub cooldown: Option<Duration>,
}

/// Targets never executed without a human approval.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Protected {
    /// Globs (`*`, `?`, case-insensitive) over every name of a host target.
    pub hosts: Vec<String>,
    /// Globs over every name of a user target (user name, email, ids).
    pub users: Vec<String>,
    /// A host with an address in one of these, or an IP target inside one.
    pub cidrs: Vec<IpNet>,
    pub tiers: Vec<String>,
    /// Who approves a protected target when its rule was automatic.
    pub approvers: Vec<String>,
}

/// `[[guards.rate]]`: automatic executions of one action per sliding window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RateGuard {
    pub action: ActionKind,
    pub max: u32,
    #[serde(with = "duration")]
    pub per: Duration,
    /// Roles that may close the breaker before the window has passed.
    pub reset: Vec<String>,
}

/// `[guards.block_ip]`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BlockIpGuard {
    /// A block broader than this prefix is refused (advisory only).
    pub max_prefix_v4: u8,
    pub max_prefix_v6: u8,
    /// Internal and reserved ranges may be blocked automatically.
    pub allow_internal: bool,
}

impl Default for BlockIpGuard {
    fn default() -> Self {
        BlockIpGuard {
            max_prefix_v4: 24,
            max_prefix_v6: 48,
            allow_internal: false,
        }
    }
}

/// The private ranges of RFC 1918, the default `internal_cidrs`.
pub const DEFAULT_INTERNAL: [&str; 3] = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"];

/// Ranges that are never an attacker's address on the internet: blocking
/// them cuts cordon's own host, its neighbours or the whole network.
const RESERVED: [&str; 12] = [
    "0.0.0.0/8",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "100.64.0.0/10",
    "224.0.0.0/4",
    "240.0.0.0/4",
    "::/128",
    "::1/128",
    "fe80::/10",
    "fc00::/7",
    "ff00::/8",
    "::ffff:0:0/96",
];

impl Default for Guards {
    fn default() -> Self {
        Guards {
            internal_cidrs: DEFAULT_INTERNAL
                .iter()
                .filter_map(|c| c.parse().ok())
                .collect(),
            protected: Protected::default(),
            rate: Vec::new(),
            block_ip: BlockIpGuard::default(),
            cooldown: None,
        }
    }
}

/// What the engine knows about a proposal beyond its [`ActionContext`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GuardFacts {
    /// Every name of the target: the canonical name, its short name, its
    /// addresses and vendor ids (hosts), its email and ids (users).
    pub names: Vec<String>,
    /// The host's addresses (for `protected.cidrs`).
    pub ips: Vec<IpAddr>,
    /// Decisions of this action that took an automatic path within the
    /// rate guard's window (see [`Guards::rate_for`]).
    pub recent_automatic: u32,
    /// The tier of the inventory record an address target belongs to
    /// (an IP target is not judged by tier, but a protected tier is still
    /// protected when named by its address).
    pub tier: Option<String>,
    /// The target is a person of the authority matrix (by user name or
    /// email): locking out a responder is never automatic.
    pub person: Option<String>,
    /// The last time a person vetoed, denied or released this action on
    /// this target, if within the cool-down, and which it was.
    pub stopped: Option<(Timestamp, String)>,
}

/// Why a guard moved a decision off its automatic path. Recorded in the
/// decision's `proposed` event; its text is what people are shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "guard", rename_all = "snake_case")]
pub enum GuardHit {
    /// The target matches `[guards.protected]`.
    Protected { matched: String },
    /// The action's circuit breaker is open.
    Rate {
        action: ActionKind,
        max: u32,
        per: String,
    },
    /// A `block_ip` broader than the allowed prefix: advisory only.
    BlockTooBroad { target: String, max_prefix: u8 },
    /// A `block_ip` of an internal or reserved address.
    BlockInternal { target: String, range: String },
    /// The target was vetoed, denied or released recently.
    Cooldown {
        what: String,
        since: Timestamp,
        after: String,
    },
}

impl fmt::Display for GuardHit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GuardHit::Protected { matched } => write!(f, "protected target: {matched}"),
            GuardHit::Rate { action, max, per } => {
                write!(f, "{action} rate guard open, {max} in {per}")
            }
            GuardHit::BlockTooBroad { target, max_prefix } => write!(
                f,
                "{target} is broader than /{max_prefix}: blocking it is never automated"
            ),
            GuardHit::BlockInternal { target, range } => write!(
                f,
                "{target} is internal or reserved ({range}): never blocked automatically"
            ),
            GuardHit::Cooldown { what, after, .. } => {
                write!(f, "target {what} less than {after} ago: cool-down")
            }
        }
    }
}

impl Guards {
    /// The rate guard of `action`, if any.
    pub fn rate_for(&self, action: &ActionKind) -> Option<&RateGuard> {
        self.rate.iter().find(|r| &r.action == action)
    }

    /// Whether `rule` would let the action run without a human approval.
    pub fn is_automatic(rule: &Rule) -> bool {
        match rule.mode {
            Mode::Auto | Mode::VetoWindow => true,
            Mode::Approval => rule.on_timeout == OnTimeout::Execute,
            Mode::Forbidden => false,
        }
    }

    /// The guard that stops `rule` from running `target` automatically,
    /// if one does. `None` also when the rule needs a person anyway, except
    /// for a `block_ip` broader than the limit, which is refused on any path.
    pub fn check(
        &self,
        rule: &Rule,
        ctx: &ActionContext,
        target: &ActionTarget,
        facts: &GuardFacts,
    ) -> Option<GuardHit> {
        // A block broader than the limit is refused on every path: no
        // person should be one click away from cutting off the internet.
        let block = matches!(ctx.action, ActionKind::BlockIp)
            .then(|| self.check_block(&target.value))
            .flatten();
        if let Some(hit @ GuardHit::BlockTooBroad { .. }) = block {
            return Some(hit);
        }
        if !Self::is_automatic(rule) {
            return None;
        }
        if let Some(hit) = block {
            return Some(hit);
        }
        if let Some(hit) = self.check_protected(ctx, target, facts) {
            return Some(hit);
        }
        // Rate and cool-down bound every path that runs without a person,
        // an approval that executes by silence included: nobody may have
        // looked at it.
        if let (Some(after), Some((since, what))) = (self.cooldown, &facts.stopped) {
            return Some(GuardHit::Cooldown {
                what: what.clone(),
                since: *since,
                after: format_duration(after),
            });
        }
        let rate = self.rate_for(&ctx.action)?;
        (facts.recent_automatic >= rate.max).then(|| GuardHit::Rate {
            action: rate.action.clone(),
            max: rate.max,
            per: format_duration(rate.per),
        })
    }

    fn check_block(&self, value: &str) -> Option<GuardHit> {
        let net = parse_net(value)?;
        let max = match net {
            IpNet::V4(_) => self.block_ip.max_prefix_v4,
            IpNet::V6(_) => self.block_ip.max_prefix_v6,
        };
        if net.prefix_len() < max {
            return Some(GuardHit::BlockTooBroad {
                target: value.to_owned(),
                max_prefix: max,
            });
        }
        if self.block_ip.allow_internal {
            return None;
        }
        let reserved = RESERVED.iter().filter_map(|c| c.parse::<IpNet>().ok());
        let range = self
            .internal_cidrs
            .iter()
            .copied()
            .chain(reserved)
            .find(|r| overlaps(r, &net))?;
        Some(GuardHit::BlockInternal {
            target: value.to_owned(),
            range: range.to_string(),
        })
    }

    fn check_protected(
        &self,
        ctx: &ActionContext,
        target: &ActionTarget,
        facts: &GuardFacts,
    ) -> Option<GuardHit> {
        use super::action::TargetKind;
        let p = &self.protected;
        let names =
            std::iter::once(target.value.as_str()).chain(facts.names.iter().map(String::as_str));
        let globs = match target.kind {
            TargetKind::Host | TargetKind::CloudResource => &p.hosts,
            TargetKind::User => &p.users,
            TargetKind::Ip => &p.hosts,
        };
        for name in names {
            if let Some(g) = globs.iter().find(|g| glob_match(g, name)) {
                return Some(GuardHit::Protected {
                    matched: format!("{name} matches `{g}`"),
                });
            }
        }
        if let Some(who) = &facts.person {
            return Some(GuardHit::Protected {
                matched: format!("{who} is a person of the authority matrix"),
            });
        }
        if let Some(tier) = ctx
            .asset_tier
            .as_ref()
            .or(facts.tier.as_ref())
            .filter(|t| p.tiers.contains(t))
        {
            return Some(GuardHit::Protected {
                matched: format!("tier {tier}"),
            });
        }
        let ips = facts
            .ips
            .iter()
            .map(|ip| IpNet::from(*ip))
            .chain(parse_net(&target.value));
        for net in ips {
            if let Some(c) = p.cidrs.iter().find(|c| overlaps(c, &net)) {
                return Some(GuardHit::Protected {
                    matched: format!("{} is in {c}", net.addr()),
                });
            }
        }
        None
    }

    /// The rule a guarded decision lives under: the matched rule with its
    /// automatic path replaced by a human approval. Deterministic, so a
    /// decision recorded with its hit is judged the same way on every load.
    pub fn guarded(&self, rule: &Rule, hit: &GuardHit) -> Rule {
        let mut r = rule.clone();
        if let GuardHit::BlockTooBroad { .. } = hit {
            r.mode = Mode::Forbidden;
            return r;
        }
        if r.mode != Mode::Approval {
            let protected = matches!(hit, GuardHit::Protected { .. });
            r.approvers = match (protected, r.approvers.is_empty()) {
                (true, _) if !self.protected.approvers.is_empty() => {
                    self.protected.approvers.clone()
                }
                (_, false) => r.approvers.clone(),
                _ => self.protected.approvers.clone(),
            };
            r.mode = Mode::Approval;
            r.quorum = 1;
            // Whoever proposed it by hand is part of what the guard stopped.
            r.separation_of_duties = true;
            r.timeout = None;
            r.escalate_to = Vec::new();
            r.veto_window = None;
            if r.proposers.is_empty() {
                r.proposers = rule.approvers.clone();
            }
        }
        r.on_timeout = OnTimeout::Expire;
        if r.after_execution_veto == AfterExecutionVeto::Rollback && r.veto.is_empty() {
            r.after_execution_veto = AfterExecutionVeto::None;
        }
        r
    }
}

/// An address or a network in CIDR notation.
pub fn parse_net(s: &str) -> Option<IpNet> {
    let s = s.trim();
    s.parse::<IpNet>()
        .ok()
        .or_else(|| s.parse::<IpAddr>().ok().map(IpNet::from))
}

/// Whether two networks share an address.
pub fn overlaps(a: &IpNet, b: &IpNet) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

/// `*` (any run) and `?` (one character) over the whole name, ignoring case.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.to_lowercase().chars().collect();
    let n: Vec<char> = name.to_lowercase().chars().collect();
    let (mut i, mut j) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while j < n.len() {
        if i < p.len() && (p[i] == '?' || p[i] == n[j]) {
            i += 1;
            j += 1;
        } else if i < p.len() && p[i] == '*' {
            star = Some((i, j));
            i += 1;
        } else if let Some((si, sj)) = star {
            i = si + 1;
            j = sj + 1;
            star = Some((si, sj + 1));
        } else {
            return false;
        }
    }
    p[i..].iter().all(|c| *c == '*')
}

mod duration {
    use super::format_duration;
    use std::time::Duration;
    pub fn serialize<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format_duration(*d))
    }
}

mod opt_duration {
    use super::format_duration;
    use std::time::Duration;
    pub fn serialize<S: serde::Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_some(&format_duration(*d)),
            None => s.serialize_none(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_whole_names_ignoring_case() {
        assert!(glob_match("vpn-gw-*", "VPN-GW-01"));
        assert!(glob_match("dc-0?", "dc-01"));
        assert!(!glob_match("dc-0?", "dc-011"));
        assert!(!glob_match("dc", "dc-01"));
        assert!(glob_match("*", ""));
        assert!(glob_match(
            "breakglass-*@example.com",
            "breakglass-1@example.com"
        ));
        assert!(!glob_match("a*b", "acbd"));
    }

    #[test]
    fn block_ip_refuses_broad_and_internal_ranges() {
        let g = Guards::default();
        assert!(matches!(
            g.check_block("0.0.0.0/0"),
            Some(GuardHit::BlockTooBroad { .. })
        ));
        assert!(matches!(
            g.check_block("203.0.112.0/23"),
            Some(GuardHit::BlockTooBroad { .. })
        ));
        assert!(matches!(
            g.check_block("10.1.2.3"),
            Some(GuardHit::BlockInternal { .. })
        ));
        assert!(matches!(
            g.check_block("127.0.0.1"),
            Some(GuardHit::BlockInternal { .. })
        ));
        assert!(matches!(
            g.check_block("fe80::1"),
            Some(GuardHit::BlockInternal { .. })
        ));
        assert_eq!(g.check_block("203.0.113.9"), None);
        assert_eq!(g.check_block("203.0.113.0/24"), None);
        assert_eq!(g.check_block("2001:db8::/48"), None);
    }
}
