//! Where a connector's vendor id for a target comes from when it has to be
//! found (DESIGN §3a.2: a connector never sends a name where the vendor
//! expects an id).
//!
//! What this module owns, in the order a connector asks:
//! 1. the id on the target's record ([`ExecRequest::vendor_id`]);
//! 2. the id the forward action of the same decision looked up. The
//!    connector returns it in [`ExecOutcome::saved_state`] under
//!    `resolved_ids`; the engine stores that with the acceptance and hands it
//!    back as [`ExecRequest::previous`] to the confirmation polls and to the
//!    inverse action, so all three act on the device the forward action
//!    touched, even if the name points elsewhere by then;
//! 3. otherwise the connector looks the name up through the vendor's API, and
//!    [`exactly_one`] turns the answer into one id or a permanent error that
//!    names the target.
//!
//! What it must not do: cache lookups across requests. Devices are re-imaged
//! and names are re-used; an id remembered from another decision could act on
//! another machine. A lookup lives as long as one request (and its decision,
//! through the saved state above).

use super::{ExecError, ExecOutcome, ExecRequest};

/// The key under which looked-up ids travel in the saved state.
const SAVED: &str = "resolved_ids";

/// One vendor id and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct VendorId {
    pub id: String,
    /// The record attribute this id stands for (`crowdstrike_aid`, …).
    attribute: &'static str,
    /// Found through the vendor's lookup API by this request, so it must be
    /// saved for the confirmation and the inverse.
    looked_up: bool,
}

impl VendorId {
    /// The id known without asking the vendor: the record's attribute, else
    /// the one the forward action of this decision looked up.
    pub fn known(req: &ExecRequest, attribute: &'static str) -> Option<VendorId> {
        let saved = || {
            req.previous.as_ref()?[SAVED][attribute]
                .as_str()
                .filter(|v| !v.trim().is_empty())
        };
        let id = req.vendor_id(attribute).or_else(saved)?;
        Some(VendorId {
            id: id.to_owned(),
            attribute,
            looked_up: false,
        })
    }

    /// An id this request found through the vendor's lookup API.
    pub fn looked_up(attribute: &'static str, id: String) -> VendorId {
        VendorId {
            id,
            attribute,
            looked_up: true,
        }
    }

    /// Adds a looked-up id to the outcome's saved state (keeping whatever
    /// else the connector saved there), so confirm and inverse reuse it.
    pub fn remember(&self, mut out: ExecOutcome) -> ExecOutcome {
        if !self.looked_up {
            return out;
        }
        let mut saved = match out.saved_state.take() {
            Some(serde_json::Value::Object(m)) => m,
            _ => serde_json::Map::new(),
        };
        let ids = saved.entry(SAVED).or_insert_with(|| serde_json::json!({}));
        if let Some(m) = ids.as_object_mut() {
            m.insert(self.attribute.to_owned(), self.id.clone().into());
        }
        out.saved_state = Some(serde_json::Value::Object(saved));
        out
    }
}

/// Checks a name before it goes into a vendor lookup: not blank, not absurdly
/// long, no control characters (which no host or login name has, and which
/// could split a log line or a query).
pub(crate) fn lookup_name<'a>(
    vendor: &str,
    what: &str,
    name: &'a str,
) -> Result<&'a str, ExecError> {
    if name.trim().is_empty() {
        return Err(ExecError::permanent(format!(
            "{vendor}: no {what} id on the record and no name to look one up"
        )));
    }
    if name.len() > 255 || name.chars().any(char::is_control) {
        return Err(ExecError::permanent(format!(
            "{vendor}: will not look up {what} {name:?}: not a plausible name"
        )));
    }
    Ok(name)
}

/// A lookup's answer as one id: none or several records under the name is a
/// permanent error naming it (acting on a guess could contain the wrong
/// machine), with the fix in the message.
pub(crate) fn exactly_one(
    vendor: &str,
    what: &str,
    attribute: &str,
    name: &str,
    mut ids: Vec<String>,
) -> Result<String, ExecError> {
    ids.retain(|i| !i.trim().is_empty());
    ids.sort();
    ids.dedup();
    match ids.len() {
        1 => Ok(ids.remove(0)),
        0 => Err(not_found(vendor, what, attribute, name)),
        n => Err(ExecError::permanent(format!(
            "{vendor}: {n} {what}s named {name:?}: ambiguous; put the right {attribute} on \
             the target's record"
        ))),
    }
}

/// The error for a lookup that found nothing under the name.
pub(crate) fn not_found(vendor: &str, what: &str, attribute: &str, name: &str) -> ExecError {
    ExecError::permanent(format!(
        "{vendor}: no {what} named {name:?} (the target has no {attribute} on its record, \
         and the vendor's lookup found nothing)"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{ActionKind, ActionTarget};
    use crate::executors::tests::request;

    #[test]
    fn the_record_wins_then_the_forward_lookup_then_nothing() {
        let mut req = request(
            ActionKind::ReleaseHost,
            ActionTarget::host("web-01"),
            &[("crowdstrike_aid", "aid-rec")],
        );
        req.previous = Some(serde_json::json!({"resolved_ids": {"crowdstrike_aid": "aid-saved"}}));
        assert_eq!(
            VendorId::known(&req, "crowdstrike_aid").map(|v| v.id),
            Some("aid-rec".into())
        );
        req.attributes.clear();
        assert_eq!(
            VendorId::known(&req, "crowdstrike_aid").map(|v| v.id),
            Some("aid-saved".into())
        );
        assert_eq!(VendorId::known(&req, "mde_machine_id"), None);
    }

    #[test]
    fn only_a_looked_up_id_is_saved_and_other_saved_state_is_kept() {
        let out = ExecOutcome {
            saved_state: Some(serde_json::json!({"groups": ["sg-1"]})),
            ..ExecOutcome::default()
        };
        let saved = VendorId::looked_up("s1_agent_id", "42".into()).remember(out.clone());
        assert_eq!(
            saved.saved_state,
            Some(serde_json::json!({"groups": ["sg-1"], "resolved_ids": {"s1_agent_id": "42"}}))
        );
        let req = request(
            ActionKind::IsolateHost,
            ActionTarget::host("h"),
            &[("s1_agent_id", "42")],
        );
        let known = VendorId::known(&req, "s1_agent_id");
        assert_eq!(known.map(|k| k.remember(out.clone())), Some(out));
    }

    #[test]
    fn a_lookup_answer_is_one_id_or_an_error_naming_the_target() {
        let one = exactly_one("v", "device", "a", "h1", vec!["x".into(), "x".into()]);
        assert_eq!(one, Ok("x".into()));
        let none = exactly_one("v", "device", "a", "h1", vec![]).unwrap_err();
        assert!(
            none.to_string().contains("no device named \"h1\""),
            "{none}"
        );
        let two = exactly_one("v", "device", "a", "h1", vec!["x".into(), "y".into()]);
        let two = two.unwrap_err().to_string();
        assert!(two.contains("2 devices named \"h1\": ambiguous"), "{two}");
        assert!(lookup_name("v", "device", " ").is_err());
        assert!(lookup_name("v", "device", "a\nb").is_err());
    }
}
