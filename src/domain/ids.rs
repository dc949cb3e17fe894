//! Typed identifiers. Each kind of id is its own type so that a decision id can
//! never be passed where an incident id is expected.

use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! int_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub i64);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!($prefix, "-{}"), self.0)
            }
        }

        impl std::str::FromStr for $name {
            type Err = String;
            /// Accepts both the bare number (`42`) and the prefixed form (`dec-42`).
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                let digits = s.strip_prefix(concat!($prefix, "-")).unwrap_or(s);
                digits
                    .parse::<i64>()
                    .map($name)
                    .map_err(|_| format!("`{s}` is not a valid {} id", $prefix))
            }
        }
    };
}

int_id!(
    /// A stored alert.
    AlertId, "alert"
);
int_id!(
    /// An incident: a group of correlated alerts.
    IncidentId, "inc"
);
int_id!(
    /// One proposed containment action and its whole life. Its display form
    /// (`dec-42`) is the idempotency key sent to vendors.
    DecisionId, "dec"
);

/// A person as named in the authority matrix (`[people.alice]` → `alice`).
/// One person may have several chat identities; quorum counts people, not
/// identities.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PersonId(pub String);

impl fmt::Display for PersonId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for PersonId {
    fn from(s: &str) -> Self {
        PersonId(s.to_owned())
    }
}
