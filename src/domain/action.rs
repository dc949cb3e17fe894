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
    fn action_names_parse() {
        assert_eq!("isolate_host".parse(), Ok(ActionKind::IsolateHost));
        assert_eq!(
            "snapshot_disk".parse(),
            Ok(ActionKind::Custom("snapshot_disk".into()))
        );
        assert!("Isolate Host".parse::<ActionKind>().is_err());
    }
}
