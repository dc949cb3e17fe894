//! AWS EC2: quarantine an instance by swapping its security groups.
//!
//! Forward (`quarantine_instance`, or `isolate_host` on an EC2 host):
//! `DescribeInstances` reads the instance's current groups, which become
//! `saved_state` (rollback data), then `ModifyInstanceAttribute` replaces the
//! whole set with the quarantine group. Inverse (`release_instance` /
//! `release_host`): restores the groups from `previous`. A set that already
//! equals the target is reported as `already` without a modify call.
//!
//! EC2 Query API: form POST `Action=…&Version=2016-11-15`, XML answer, signed
//! with SigV4 ([`sigv4`], hand-written and pinned to the AWS test vector).
//! `ModifyInstanceAttribute` only covers the primary network interface, so an
//! instance with several ENIs is quarantined per ENI with
//! `ModifyNetworkInterfaceAttribute` (vendor-apis.md §6.1), and the saved
//! state keeps the groups of every ENI. EC2 has no field for the decision id
//! in these calls.
//!
//! The instance is the `ec2_instance_id` of the target's record, else the
//! target itself when it has the shape of an instance id (`i-` and 8 or 17
//! hex digits). Any other name is refused before a request: the lookups EC2
//! offers by name are a `Name` tag, which anyone allowed to tag can set on
//! any instance and which need not be unique, and private DNS names, which
//! are re-used after an instance ends. Neither is safe to quarantine by.

pub mod sigv4;
mod xml;

#[cfg(test)]
mod tests;

use super::config::{self, ConfigError, Secret};
use super::http::{self, Reply};
use super::resolve::VendorId;
use super::{Confirmation, ExecError, ExecOutcome, ExecRequest, Executor};
use crate::domain::ActionKind;
use serde::Deserialize;
use std::time::Duration;

const NAME: &str = "aws_ec2";
const VERSION: &str = "2016-11-15";
/// The record attribute that carries the instance id.
const ATTR: &str = "ec2_instance_id";

/// `[aws_ec2]` in connectors.toml.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AwsEc2Config {
    /// Default region when the target has no `aws_region` attribute.
    pub region: String,
    /// Override of `https://ec2.{region}.amazonaws.com` (tests, VPC endpoints).
    #[serde(default)]
    pub base_url: Option<String>,
    /// The isolation group (no inbound, no outbound rules). A target's
    /// `ec2_quarantine_group_id` attribute overrides it (one group per VPC).
    pub quarantine_group_id: String,
    #[serde(default = "default_ak")]
    pub access_key_id_env: String,
    #[serde(default = "default_sk")]
    pub secret_access_key_env: String,
    /// Env var of a session token, for temporary credentials.
    #[serde(default)]
    pub session_token_env: Option<String>,
    #[serde(default)]
    pub dry_run: bool,
    #[serde(
        default = "config::default_timeout",
        deserialize_with = "config::duration"
    )]
    pub timeout: Duration,
}

fn default_ak() -> String {
    "AWS_ACCESS_KEY_ID".into()
}
fn default_sk() -> String {
    "AWS_SECRET_ACCESS_KEY".into()
}

/// The connector.
#[derive(Debug)]
pub struct AwsEc2 {
    region: String,
    base_url: Option<String>,
    quarantine_group_id: String,
    creds: sigv4::Credentials,
    dry_run: bool,
    http: reqwest::Client,
}

/// What `DescribeInstances` told us about one instance.
struct InstanceState {
    /// The instance-level group set (that of the primary ENI).
    groups: Vec<String>,
    /// Every ENI with its own group set, in document order.
    interfaces: Vec<(String, Vec<String>)>,
}

/// The group sets an action should leave behind.
#[derive(Debug, PartialEq)]
enum Plan {
    /// One set for the instance (single ENI): `ModifyInstanceAttribute`.
    Instance(Vec<String>),
    /// One set per ENI: `ModifyNetworkInterfaceAttribute` each.
    PerInterface(Vec<(String, Vec<String>)>),
}

impl Plan {
    fn satisfied_by(&self, state: &InstanceState) -> bool {
        match self {
            Plan::Instance(g) => same_set(&state.groups, g),
            Plan::PerInterface(list) => list.iter().all(|(eni, g)| {
                state
                    .interfaces
                    .iter()
                    .any(|(id, have)| id == eni && same_set(have, g))
            }),
        }
    }
}

/// Groups ENIs with their group ids. EC2 writes `networkInterfaceId` before
/// the interface's `groupSet` (fixed schema order), so document order is
/// enough to attribute each group to its interface.
fn interfaces(leaves: &[(String, String)]) -> Vec<(String, Vec<String>)> {
    const ENI: &str = "instancesSet/item/networkInterfaceSet/item/networkInterfaceId";
    const GROUP: &str = "instancesSet/item/networkInterfaceSet/item/groupSet/item/groupId";
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for (p, v) in leaves {
        if p.ends_with(ENI) {
            out.push((v.clone(), Vec::new()));
        } else if p.ends_with(GROUP)
            && let Some(last) = out.last_mut()
        {
            last.1.push(v.clone());
        }
    }
    out
}

impl AwsEc2 {
    pub fn new(
        cfg: &AwsEc2Config,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let ak = config::secret(
            env,
            NAME,
            "access_key_id_env",
            &cfg.access_key_id_env,
            cfg.dry_run,
        )?;
        let sk: Secret = config::secret(
            env,
            NAME,
            "secret_access_key_env",
            &cfg.secret_access_key_env,
            cfg.dry_run,
        )?;
        let session_token = match &cfg.session_token_env {
            Some(var) => Some(config::secret(
                env,
                NAME,
                "session_token_env",
                var,
                cfg.dry_run,
            )?),
            None => None,
        };
        Ok(AwsEc2 {
            region: cfg.region.clone(),
            base_url: cfg.base_url.as_deref().map(http::trim_base),
            quarantine_group_id: cfg.quarantine_group_id.clone(),
            creds: sigv4::Credentials {
                access_key_id: ak.expose().to_owned(),
                secret_access_key: sk,
                session_token,
            },
            dry_run: cfg.dry_run,
            http: http::client(cfg.timeout)?,
        })
    }

    fn forward(action: &ActionKind) -> Option<bool> {
        match action {
            ActionKind::QuarantineInstance | ActionKind::IsolateHost => Some(true),
            ActionKind::ReleaseInstance | ActionKind::ReleaseHost => Some(false),
            _ => None,
        }
    }

    fn region<'a>(&'a self, req: &'a ExecRequest) -> &'a str {
        req.attributes
            .get("aws_region")
            .map(String::as_str)
            .filter(|r| !r.is_empty())
            .unwrap_or(&self.region)
    }

    fn quarantine_group<'a>(&'a self, req: &'a ExecRequest) -> &'a str {
        req.attributes
            .get("ec2_quarantine_group_id")
            .map(String::as_str)
            .filter(|g| !g.is_empty())
            .unwrap_or(&self.quarantine_group_id)
    }

    /// One signed Query API call.
    async fn call(
        &self,
        region: &str,
        params: &[(String, String)],
    ) -> Result<Vec<(String, String)>, ExecError> {
        let url = match &self.base_url {
            Some(b) => format!("{b}/"),
            None => format!("https://ec2.{region}.amazonaws.com/"),
        };
        let parsed = reqwest::Url::parse(&url)
            .map_err(|e| ExecError::permanent(format!("{NAME}: bad endpoint {url}: {e}")))?;
        let host = match (parsed.host_str(), parsed.port()) {
            (Some(h), Some(p)) => format!("{h}:{p}"),
            (Some(h), None) => h.to_owned(),
            (None, _) => return Err(ExecError::permanent(format!("{NAME}: no host in {url}"))),
        };
        let body = serde_urlencoded::to_string(params)
            .map_err(|e| ExecError::permanent(format!("{NAME}: form: {e}")))?;
        let now = chrono::Utc::now();
        let content_type = "application/x-www-form-urlencoded; charset=utf-8";
        let mut headers = vec![
            ("content-type".to_owned(), content_type.to_owned()),
            ("host".to_owned(), host),
            ("x-amz-date".to_owned(), sigv4::amz_date(now)),
        ];
        if let Some(t) = &self.creds.session_token {
            headers.push(("x-amz-security-token".to_owned(), t.expose().to_owned()));
        }
        let auth = sigv4::authorization(
            &sigv4::Request {
                method: "POST",
                path: parsed.path(),
                query: "",
                headers: &headers,
                payload: body.as_bytes(),
            },
            &self.creds,
            region,
            "ec2",
            now,
        );
        let mut rb = self.http.post(parsed.clone()).header("authorization", auth);
        for (k, v) in headers.iter().filter(|(k, _)| k != "host") {
            rb = rb.header(k.as_str(), v.as_str());
        }
        let reply = http::send(NAME, rb.body(body)).await?;
        let leaves = xml::leaves(&reply.body);
        if reply.status.is_success() {
            return Ok(leaves);
        }
        Err(classify(&reply, &leaves))
    }

    async fn describe(&self, region: &str, instance: &str) -> Result<InstanceState, ExecError> {
        let leaves = self
            .call(
                region,
                &params(
                    "DescribeInstances",
                    &[("InstanceId.1", instance.to_owned())],
                ),
            )
            .await?;
        if xml::values(&leaves, "instancesSet/item/instanceId").is_empty() {
            return Err(ExecError::permanent(format!(
                "{NAME}: instance {instance} not found in {region}"
            )));
        }
        Ok(InstanceState {
            groups: xml::values(&leaves, "instancesSet/item/groupSet/item/groupId")
                .into_iter()
                .map(str::to_owned)
                .collect(),
            interfaces: interfaces(&leaves),
        })
    }

    async fn modify(
        &self,
        region: &str,
        instance: &str,
        groups: &[String],
    ) -> Result<(), ExecError> {
        let mut p = vec![("InstanceId", instance.to_owned())];
        let names: Vec<String> = (1..=groups.len()).map(|i| format!("GroupId.{i}")).collect();
        p.extend(names.iter().map(String::as_str).zip(groups.iter().cloned()));
        let leaves = self
            .call(region, &params("ModifyInstanceAttribute", &p))
            .await?;
        if xml::values(&leaves, "return").first() == Some(&"true") {
            Ok(())
        } else {
            Err(ExecError::permanent(format!(
                "{NAME}: ModifyInstanceAttribute on {instance} did not return true"
            )))
        }
    }

    async fn modify_interface(
        &self,
        region: &str,
        eni: &str,
        groups: &[String],
    ) -> Result<(), ExecError> {
        let mut p = vec![("NetworkInterfaceId", eni.to_owned())];
        let names: Vec<String> = (1..=groups.len())
            .map(|i| format!("SecurityGroupId.{i}"))
            .collect();
        p.extend(names.iter().map(String::as_str).zip(groups.iter().cloned()));
        let leaves = self
            .call(region, &params("ModifyNetworkInterfaceAttribute", &p))
            .await?;
        if xml::values(&leaves, "return").first() == Some(&"true") {
            Ok(())
        } else {
            Err(ExecError::permanent(format!(
                "{NAME}: ModifyNetworkInterfaceAttribute on {eni} did not return true"
            )))
        }
    }

    /// The inverse needs saved groups; checked before any request is sent.
    fn check_previous(&self, req: &ExecRequest) -> Result<(), ExecError> {
        if Self::forward(&req.action) == Some(false) {
            let saved = req.previous.as_ref();
            let has = |k: &str| {
                saved
                    .and_then(|p| p[k].as_array())
                    .is_some_and(|a| !a.is_empty())
            };
            if !has("groups") && !has("interfaces") {
                return Err(ExecError::permanent(format!(
                    "{NAME}: no saved security groups to restore (previous state missing)"
                )));
            }
        }
        Ok(())
    }

    /// What this action should leave behind, given the current state.
    fn plan(&self, req: &ExecRequest, state: &InstanceState) -> Result<Plan, ExecError> {
        if Self::forward(&req.action) == Some(true) {
            let q = vec![self.quarantine_group(req).to_owned()];
            return Ok(if state.interfaces.len() > 1 {
                Plan::PerInterface(
                    state
                        .interfaces
                        .iter()
                        .map(|(eni, _)| (eni.clone(), q.clone()))
                        .collect(),
                )
            } else {
                Plan::Instance(q)
            });
        }
        self.check_previous(req)?;
        let prev = req.previous.clone().unwrap_or_default();
        let saved: Vec<(String, Vec<String>)> = prev["interfaces"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|i| Some((i["id"].as_str()?.to_owned(), strings(&i["groups"]))))
                    .filter(|(_, g)| !g.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        if saved.len() > 1 {
            return Ok(Plan::PerInterface(saved));
        }
        let groups = strings(&prev["groups"]);
        if groups.is_empty() {
            return Err(ExecError::permanent(format!(
                "{NAME}: no saved security groups to restore (previous state missing)"
            )));
        }
        Ok(Plan::Instance(groups))
    }
}

/// A JSON array of strings as a Vec (non-strings dropped).
fn strings(v: &serde_json::Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|g| g.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// The instance to act on: the record's id, else the target when it is an
/// instance id itself; a permanent error naming the target otherwise.
fn instance_id(req: &ExecRequest) -> Result<String, ExecError> {
    if let Some(known) = VendorId::known(req, ATTR) {
        return Ok(known.id);
    }
    let v = req.target.value.as_str();
    if is_instance_id(v) {
        return Ok(v.to_owned());
    }
    Err(ExecError::permanent(format!(
        "{NAME}: {v:?} is not an EC2 instance id (i- and 8 or 17 hex digits) and the \
         target has no {ATTR} on its record; instances are not guessed from tags or names"
    )))
}

/// `i-` followed by 8 (older) or 17 lower-case hex digits.
fn is_instance_id(v: &str) -> bool {
    v.strip_prefix("i-").is_some_and(|hex| {
        matches!(hex.len(), 8 | 17)
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

fn params(action: &str, extra: &[(&str, String)]) -> Vec<(String, String)> {
    let mut p = vec![
        ("Action".to_owned(), action.to_owned()),
        ("Version".to_owned(), VERSION.to_owned()),
    ];
    p.extend(extra.iter().map(|(k, v)| ((*k).to_owned(), v.clone())));
    p
}

fn same_set(a: &[String], b: &[String]) -> bool {
    let mut a = a.to_vec();
    let mut b = b.to_vec();
    a.sort();
    b.sort();
    a == b
}

/// EC2 error codes: throttling and internal errors are retryable, the rest
/// (`UnauthorizedOperation`, `InvalidInstanceID.*`, `InvalidGroup.NotFound`,
/// `InvalidParameter*`) permanent.
fn classify(reply: &Reply, leaves: &[(String, String)]) -> ExecError {
    let code = xml::values(leaves, "Errors/Error/Code")
        .first()
        .copied()
        .unwrap_or("")
        .to_owned();
    let msg = xml::values(leaves, "Errors/Error/Message")
        .first()
        .copied()
        .unwrap_or("")
        .to_owned();
    let message = format!("{NAME}: {} {code}: {msg}", reply.status);
    let retryable = reply.status.is_server_error()
        || reply.status == reqwest::StatusCode::TOO_MANY_REQUESTS
        || matches!(
            code.as_str(),
            "RequestLimitExceeded"
                | "Throttling"
                | "InternalError"
                | "Unavailable"
                | "ServiceUnavailable"
        );
    if retryable {
        ExecError::Retryable {
            message,
            retry_after: http::retry_after(&reply.headers),
        }
    } else {
        ExecError::Permanent { message }
    }
}

#[async_trait::async_trait]
impl Executor for AwsEc2 {
    fn name(&self) -> &str {
        NAME
    }

    fn supports(&self, action: &ActionKind) -> bool {
        Self::forward(action).is_some()
    }

    fn id_attribute(&self) -> Option<&str> {
        Some(ATTR)
    }

    async fn execute(&self, req: &ExecRequest) -> Result<ExecOutcome, ExecError> {
        let Some(forward) = Self::forward(&req.action) else {
            return Err(ExecError::permanent(format!(
                "{NAME}: cannot perform {}",
                req.action
            )));
        };
        self.check_previous(req)?;
        if self.dry_run {
            return Ok(ExecOutcome::dry_run());
        }
        let region = self.region(req);
        let instance = &instance_id(req)?;
        let state = self.describe(region, instance).await?;
        let plan = self.plan(req, &state)?;
        if plan.satisfied_by(&state) {
            return Ok(ExecOutcome {
                already: true,
                confirmed: true,
                ..ExecOutcome::default()
            });
        }
        match &plan {
            Plan::Instance(groups) => self.modify(region, instance, groups).await?,
            Plan::PerInterface(list) => {
                for (eni, groups) in list {
                    // Skip ENIs already done, so a retry after a partial
                    // failure only touches what is left.
                    let done = state
                        .interfaces
                        .iter()
                        .any(|(id, have)| id == eni && same_set(have, groups));
                    if !done {
                        self.modify_interface(region, eni, groups).await?;
                    }
                }
            }
        }
        let saved = forward.then(|| {
            let interfaces: Vec<serde_json::Value> = state
                .interfaces
                .iter()
                .map(|(id, g)| serde_json::json!({ "id": id, "groups": g }))
                .collect();
            serde_json::json!({
                "instance_id": instance,
                "region": region,
                "groups": state.groups,
                "interfaces": interfaces,
            })
        });
        Ok(ExecOutcome {
            saved_state: saved,
            ..ExecOutcome::default()
        })
    }

    async fn confirm(
        &self,
        req: &ExecRequest,
        outcome: &ExecOutcome,
    ) -> Result<Confirmation, ExecError> {
        if outcome.dry_run || self.dry_run || outcome.confirmed {
            return Ok(Confirmation::Confirmed);
        }
        let state = self.describe(self.region(req), &instance_id(req)?).await?;
        Ok(if self.plan(req, &state)?.satisfied_by(&state) {
            Confirmation::Confirmed
        } else {
            Confirmation::Pending
        })
    }

    async fn healthcheck(&self) -> Result<(), ExecError> {
        if self.dry_run {
            return Ok(());
        }
        self.call(
            &self.region,
            &params("DescribeInstances", &[("MaxResults", "5".to_owned())]),
        )
        .await
        .map(|_| ())
    }
}
