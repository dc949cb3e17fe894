//! Containment actions and their inverses.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// What cordon can do to contain a threat. Each built-in kind names its inverse
/// so that a veto after execution or the end of a `max_duration` can roll it
/// back. Custom kinds come from config and carry their inverse there.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ActionKind {
    IsolateHost,
    ReleaseHost,
    DisableUser,
    EnableUser,
    RevokeSessions,
    BlockIp,
    UnblockIp,
    QuarantineInstance,
    ReleaseInstance,
    /// A kind defined in config (`[actions.NAME]`); the name is lower snake case.
    Custom(String),
}

impl ActionKind {
    pub const BUILTIN: [ActionKind; 9] = [
        ActionKind::IsolateHost,
        ActionKind::ReleaseHost,
        ActionKind::DisableUser,
        ActionKind::EnableUser,
        ActionKind::RevokeSessions,
        ActionKind::BlockIp,
        ActionKind::UnblockIp,
        ActionKind::QuarantineInstance,
        ActionKind::ReleaseInstance,
    ];

    pub fn as_str(&self) -> &str {
        match self {
            ActionKind::IsolateHost => "isolate_host",
            ActionKind::ReleaseHost => "release_host",
            ActionKind::DisableUser => "disable_user",
            ActionKind::EnableUser => "enable_user",
            ActionKind::RevokeSessions => "revoke_sessions",
            ActionKind::BlockIp => "block_ip",
            ActionKind::UnblockIp => "unblock_ip",
            ActionKind::QuarantineInstance => "quarantine_instance",
            ActionKind::ReleaseInstance => "release_instance",
            ActionKind::Custom(name) => name,
        }
    }

    /// The action that undoes this one, if there is one. Revoking sessions
    /// cannot be undone (the user simply signs in again), so it has none.
    /// Custom kinds declare their inverse in config; the matrix resolves it.
    pub fn inverse(&self) -> Option<ActionKind> {
        match self {
            ActionKind::IsolateHost => Some(ActionKind::ReleaseHost),
            ActionKind::ReleaseHost => Some(ActionKind::IsolateHost),
            ActionKind::DisableUser => Some(ActionKind::EnableUser),
            ActionKind::EnableUser => Some(ActionKind::DisableUser),
            ActionKind::BlockIp => Some(ActionKind::UnblockIp),
            ActionKind::UnblockIp => Some(ActionKind::BlockIp),
            ActionKind::QuarantineInstance => Some(ActionKind::ReleaseInstance),
            ActionKind::ReleaseInstance => Some(ActionKind::QuarantineInstance),
            ActionKind::RevokeSessions | ActionKind::Custom(_) => None,
        }
    }

    /// The kind of target this action needs.
    pub fn target_kind(&self) -> Option<TargetKind> {
        match self {
            ActionKind::IsolateHost | ActionKind::ReleaseHost => Some(TargetKind::Host),
            ActionKind::DisableUser | ActionKind::EnableUser | ActionKind::RevokeSessions => {
                Some(TargetKind::User)
            }
            ActionKind::BlockIp | ActionKind::UnblockIp => Some(TargetKind::Ip),
            ActionKind::QuarantineInstance | ActionKind::ReleaseInstance => {
                Some(TargetKind::CloudResource)
            }
            ActionKind::Custom(_) => None,
        }
    }
}

impl fmt::Display for ActionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ActionKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Some(k) = ActionKind::BUILTIN.iter().find(|k| k.as_str() == s) {
            return Ok(k.clone());
        }
        let valid = !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
            && s.starts_with(|c: char| c.is_ascii_lowercase());
        if valid {
            Ok(ActionKind::Custom(s.to_owned()))
        } else {
            Err(format!(
                "`{s}` is not an action name (lower snake case, e.g. isolate_host)"
            ))
        }
    }
}

impl Serialize for ActionKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ActionKind {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Inventory attributes that name a host or a cloud instance at a vendor.
/// An alert may call an asset by any of them, and a connector needs the one
/// of its vendor: `crowdstrike_aid` is what Falcon's contain call takes.
pub const ASSET_ID_ATTRIBUTES: [&str; 4] = [
    "crowdstrike_aid",
    "mde_machine_id",
    "s1_agent_id",
    "ec2_instance_id",
];

/// Directory attributes that name a user at a vendor.
pub const IDENTITY_ID_ATTRIBUTES: [&str; 2] = ["okta_user_id", "entra_user_id"];

/// What an action is aimed at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetKind {
    Host,
    User,
    Ip,
    CloudResource,
}

/// The concrete target of one action: `host:web-01`, `user:jdoe`, `ip:203.0.113.9`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ActionTarget {
    pub kind: TargetKind,
    pub value: String,
}

impl ActionTarget {
    pub fn host(v: impl Into<String>) -> Self {
        ActionTarget {
            kind: TargetKind::Host,
            value: v.into(),
        }
    }
    pub fn user(v: impl Into<String>) -> Self {
        ActionTarget {
            kind: TargetKind::User,
            value: v.into(),
        }
    }
    pub fn ip(v: impl Into<String>) -> Self {
        ActionTarget {
            kind: TargetKind::Ip,
            value: v.into(),
        }
    }
    pub fn cloud(v: impl Into<String>) -> Self {
        ActionTarget {
            kind: TargetKind::CloudResource,
            value: v.into(),
        }
    }
}

impl ActionTarget {
    /// Checks that the value can name a target of its kind before the
    /// matrix judges it or a connector sees it: an address or network for
    /// `ip`, a host name (or address) for `host`, a cloud id or ARN, a user
    /// name, UPN or email. Alert text is attacker-controlled; a value that
    /// starts with `-` could be read as an option by a command, and one
    /// with spaces, quotes or markup has no business in a vendor filter.
    pub fn validate(&self) -> Result<(), String> {
        let v = self.value.as_str();
        let bad = |why: &str| {
            Err(format!(
                "`{}` is not a valid {} target: {why}",
                v.escape_debug(),
                self.kind_name()
            ))
        };
        if v.is_empty() {
            return bad("it is empty");
        }
        if v.starts_with('-') {
            return bad("it starts with `-`");
        }
        if v.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return bad("it contains spaces or control characters");
        }
        let ok = |c: char, extra: &str| c.is_ascii_alphanumeric() || extra.contains(c);
        match self.kind {
            TargetKind::Ip => {
                if super::guards::parse_net(v).is_none() {
                    return bad("it is not an IP address or CIDR network");
                }
            }
            TargetKind::Host => {
                let is_ip = v.parse::<std::net::IpAddr>().is_ok();
                if v.len() > 253 || !(is_ip || v.chars().all(|c| ok(c, ".-_"))) {
                    return bad("a host name has letters, digits, `.`, `-` and `_` only");
                }
            }
            TargetKind::CloudResource => {
                if v.len() > 2048 || !v.chars().all(|c| ok(c, ".-_:/")) {
                    return bad("a cloud id or ARN has letters, digits and `.-_:/` only");
                }
            }
            TargetKind::User => {
                if v.chars().count() > 256
                    || v.chars().any(|c| "<>\"`;|&$(){}[],*?=!%#".contains(c))
                {
                    return bad(
                        "a user name, UPN or email has no quotes, brackets or shell characters",
                    );
                }
            }
        }
        Ok(())
    }

    fn kind_name(&self) -> &'static str {
        match self.kind {
            TargetKind::Host => "host",
            TargetKind::User => "user",
            TargetKind::Ip => "ip",
            TargetKind::CloudResource => "cloud",
        }
    }
}

impl fmt::Display for ActionTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let k = match self.kind {
            TargetKind::Host => "host",
            TargetKind::User => "user",
            TargetKind::Ip => "ip",
            TargetKind::CloudResource => "cloud",
        };
        write!(f, "{k}:{}", self.value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_inverse_is_symmetric() {
        for k in ActionKind::BUILTIN {
            if let Some(inv) = k.inverse() {
                assert_eq!(inv.inverse(), Some(k.clone()), "{k}");
                assert_eq!(inv.target_kind(), k.target_kind());
            }
        }
        assert_eq!(ActionKind::RevokeSessions.inverse(), None);
    }

    #[test]
    fn targets_are_validated_per_kind() {
        assert!(ActionTarget::ip("203.0.113.9").validate().is_ok());
        assert!(ActionTarget::ip("203.0.113.0/24").validate().is_ok());
        assert!(ActionTarget::ip("evil.example").validate().is_err());
        assert!(
            ActionTarget::host("ws-0142.corp.example")
                .validate()
                .is_ok()
        );
        assert!(ActionTarget::host("10.20.1.42").validate().is_ok());
        assert!(ActionTarget::host("-rf").validate().is_err());
        assert!(ActionTarget::host("ws-1<!channel>").validate().is_err());
        assert!(ActionTarget::host("ws 1").validate().is_err());
        assert!(
            ActionTarget::cloud("arn:aws:ec2:eu-west-1:123:instance/i-0abc")
                .validate()
                .is_ok()
        );
        assert!(ActionTarget::user("CORP\\jdoe").validate().is_ok());
        assert!(ActionTarget::user("jdoe@corp.example").validate().is_ok());
        assert!(
            ActionTarget::user("o'brien@corp.example")
                .validate()
                .is_ok()
        );
        assert!(ActionTarget::user("a\"b").validate().is_err());
        assert!(ActionTarget::user("--config=/x").validate().is_err());
    }

    #[test]
    fn action_names_parse() {
        assert_eq!("isolate_host".parse(), Ok(ActionKind::IsolateHost));
        assert_eq!(
            "snapshot_disk".parse(),
            Ok(ActionKind::Custom("snapshot_disk".into()))
        );
        assert!("Isolate Host".parse::<ActionKind>().is_err());
    }
}
