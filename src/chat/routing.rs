//! Where an incident is posted: its own channel, or a shared triage channel.
//!
//! Configured in the `[routing]` section of `cordon.toml`, shared by every
//! chat platform. Routes are tried in file order and the first match wins
//! (like the authority matrix); no match takes `default`.
//!
//! ```toml
//! [routing]
//! default = "triage"                        # triage | incident_channel
//! triage = { slack = "C0TRIAGE", discord = "123456789012345678" }
//!
//! [[routing.routes]]                        # production, high and above: own channel
//! severity_at_least = "high"
//! environments = ["prod"]
//! destination = "incident_channel"
//!
//! [[routing.routes]]                        # the cloud team triages in its own channel
//! teams = ["cloud"]
//! destination = "triage"
//! channels = { slack = "C0CLOUDSEC" }
//! ```

use crate::domain::Severity;
use serde::Deserialize;
use std::collections::BTreeMap;

/// Where a route sends an incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum DestinationKind {
    #[default]
    Triage,
    IncidentChannel,
}

/// One route: every condition given must hold.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Route {
    pub severity_at_least: Option<Severity>,
    #[serde(default)]
    pub environments: Vec<String>,
    #[serde(default)]
    pub teams: Vec<String>,
    #[serde(default)]
    pub tiers: Vec<String>,
    pub destination: DestinationKind,
    /// Triage channel per platform for this route (else the default triage).
    #[serde(default)]
    pub channels: BTreeMap<String, String>,
}

/// The `[routing]` section.
#[derive(Debug, Clone, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Routing {
    pub default: DestinationKind,
    /// Default triage channel per platform (`slack`, `discord`).
    pub triage: BTreeMap<String, String>,
    pub routes: Vec<Route>,
}

/// What routing looks at.
#[derive(Debug, Clone, Default)]
pub struct RouteFacts<'a> {
    pub severity: Option<Severity>,
    pub environment: Option<&'a str>,
    pub team: Option<&'a str>,
    pub tier: Option<&'a str>,
}

/// Where to post on one platform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// Create (once) a channel for the incident and invite the people involved.
    IncidentChannel,
    /// Post into this existing channel.
    Channel(String),
}

#[derive(Debug, thiserror::Error, PartialEq)]
#[error(
    "[routing] sends this incident to a triage channel but none is set for {platform}; \
     add `triage = {{ {platform} = \"CHANNEL_ID\" }}` to [routing]"
)]
pub struct NoChannel {
    pub platform: String,
}

fn any_of(list: &[String], v: Option<&str>) -> bool {
    list.is_empty() || v.is_some_and(|v| list.iter().any(|x| x.eq_ignore_ascii_case(v)))
}

impl Routing {
    /// The destination of an incident on `platform`.
    pub fn destination(
        &self,
        platform: &str,
        f: &RouteFacts<'_>,
    ) -> Result<Destination, NoChannel> {
        let hit = self.routes.iter().find(|r| {
            r.severity_at_least
                .is_none_or(|min| f.severity.is_some_and(|s| s >= min))
                && any_of(&r.environments, f.environment)
                && any_of(&r.teams, f.team)
                && any_of(&r.tiers, f.tier)
        });
        let (kind, channels) = match hit {
            Some(r) => (r.destination, Some(&r.channels)),
            None => (self.default, None),
        };
        match kind {
            DestinationKind::IncidentChannel => Ok(Destination::IncidentChannel),
            DestinationKind::Triage => channels
                .and_then(|c| c.get(platform))
                .or_else(|| self.triage.get(platform))
                .map(|c| Destination::Channel(c.clone()))
                .ok_or_else(|| NoChannel {
                    platform: platform.to_owned(),
                }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn routing() -> Routing {
        toml::from_str(
            r#"
default = "triage"
triage = { slack = "C0TRIAGE" }
[[routes]]
severity_at_least = "high"
environments = ["prod"]
destination = "incident_channel"
[[routes]]
teams = ["cloud"]
destination = "triage"
channels = { slack = "C0CLOUD" }
"#,
        )
        .expect("parses")
    }

    #[test]
    fn first_matching_route_wins_and_the_rest_go_to_triage() {
        let r = routing();
        let prod_high = RouteFacts {
            severity: Some(Severity::Critical),
            environment: Some("prod"),
            ..Default::default()
        };
        assert_eq!(
            r.destination("slack", &prod_high),
            Ok(Destination::IncidentChannel)
        );
        let prod_low = RouteFacts {
            severity: Some(Severity::Low),
            environment: Some("prod"),
            ..Default::default()
        };
        assert_eq!(
            r.destination("slack", &prod_low),
            Ok(Destination::Channel("C0TRIAGE".into()))
        );
        let cloud = RouteFacts {
            team: Some("cloud"),
            ..Default::default()
        };
        assert_eq!(
            r.destination("slack", &cloud),
            Ok(Destination::Channel("C0CLOUD".into()))
        );
        assert!(r.destination("discord", &prod_low).is_err());
    }

    #[test]
    fn an_unknown_key_is_an_error() {
        assert!(toml::from_str::<Routing>("defualt = \"triage\"").is_err());
    }
}
