//! Registry, config and redaction tests, plus helpers shared by the
//! connector tests.

use super::*;
use crate::domain::{ActionTarget, DecisionId};

/// A request for decision `dec-42` with the given vendor attributes.
pub(crate) fn request(
    action: ActionKind,
    target: ActionTarget,
    attrs: &[(&str, &str)],
) -> ExecRequest {
    ExecRequest {
        decision_id: DecisionId(42),
        action,
        target,
        attributes: attrs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        previous: None,
        reason: "ransomware on host".into(),
    }
}

/// An env lookup backed by a fixed list.
pub(crate) fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
    let map: BTreeMap<String, String> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    move |k: &str| map.get(k).cloned()
}

fn example() -> ConnectorsConfig {
    let text = include_str!("../../config/connectors.toml");
    match ConnectorsConfig::from_toml(text) {
        Ok(c) => c,
        Err(e) => panic!("example config: {e}"),
    }
}

fn attrs(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[test]
fn the_example_config_builds_every_connector_without_any_secret_because_all_are_dry_run() {
    let cfg = example();
    let reg = Registry::from_config(&cfg, &|_: &str| None);
    let Ok(reg) = reg else { panic!("{reg:?}") };
    let names: Vec<String> = reg.all().iter().map(|e| e.name().to_owned()).collect();
    assert_eq!(
        names,
        [
            "crowdstrike",
            "defender",
            "sentinelone",
            "okta",
            "entra",
            "aws_ec2",
            "webhook",
            "command"
        ]
    );
}

#[tokio::test]
async fn the_example_config_executes_every_builtin_action_as_a_dry_run() {
    let reg = Registry::from_config(&example(), &|_: &str| None).unwrap();
    for kind in ActionKind::BUILTIN {
        let ex = reg
            .for_action(&kind, &attrs(&[]))
            .unwrap_or_else(|| panic!("no connector for {kind}"));
        let mut req = request(kind.clone(), ActionTarget::host("h"), &[]);
        req.previous = Some(serde_json::json!({"groups": ["sg-1"]}));
        let out = ex.execute(&req).await.unwrap();
        assert!(out.dry_run, "{kind} via {}", ex.name());
        assert_eq!(
            ex.confirm(&req, &out).await.unwrap(),
            Confirmation::Confirmed
        );
        ex.healthcheck().await.unwrap();
    }
}

#[test]
fn a_live_connector_without_its_secret_is_a_config_error_naming_the_variable() {
    let mut cfg = example();
    if let Some(c) = cfg.crowdstrike.as_mut() {
        c.dry_run = false;
    }
    let err =
        Registry::from_config(&cfg, &env(&[("CORDON_CROWDSTRIKE_CLIENT_ID", "id")])).unwrap_err();
    assert!(err.0.contains("CORDON_CROWDSTRIKE_CLIENT_SECRET"), "{err}");
    assert!(err.0.contains("dry_run"), "says how to fix it: {err}");
}

#[test]
fn unknown_keys_in_the_connector_file_are_rejected() {
    let err = ConnectorsConfig::from_toml(
        "[okta]\nbase_url = \"https://x\"\napi_token_env = \"T\"\napi_tokn = \"oops\"\n",
    )
    .unwrap_err();
    assert!(err.0.contains("api_tokn"), "{err}");
    let err = ConnectorsConfig::from_toml("[oktaa]\n").unwrap_err();
    assert!(err.0.contains("oktaa"), "{err}");
}

#[test]
fn a_route_to_an_unconfigured_or_unable_connector_is_rejected() {
    let mut cfg = example();
    cfg.okta = None;
    let err = Registry::from_config(&cfg, &|_: &str| None).unwrap_err();
    assert!(err.0.contains("`okta`"), "{err}");

    let cfg = ConnectorsConfig::from_toml(
        "[okta]\nbase_url = \"https://x\"\napi_token_env = \"T\"\ndry_run = true\n\
         [routes]\nisolate_host = \"okta\"\n",
    )
    .unwrap();
    let err = Registry::from_config(&cfg, &|_: &str| None).unwrap_err();
    assert!(err.0.contains("cannot perform `isolate_host`"), "{err}");
}

#[test]
fn host_isolation_goes_to_the_edr_whose_id_the_asset_has() {
    let reg = Registry::from_config(&example(), &|_: &str| None).unwrap();
    let pick = |a: &[(&str, &str)]| {
        reg.for_action(&ActionKind::IsolateHost, &attrs(a))
            .map(|e| e.name().to_owned())
    };
    assert_eq!(
        pick(&[("mde_machine_id", "m1")]).as_deref(),
        Some("defender")
    );
    assert_eq!(
        pick(&[("s1_agent_id", "s1")]).as_deref(),
        Some("sentinelone")
    );
    assert_eq!(
        pick(&[("s1_agent_id", "s1"), ("crowdstrike_aid", "a")]).as_deref(),
        Some("crowdstrike"),
        "route order breaks ties"
    );
    assert_eq!(
        pick(&[]).as_deref(),
        Some("crowdstrike"),
        "no vendor id: the first routed connector"
    );
    let user = reg
        .for_action(&ActionKind::DisableUser, &attrs(&[("entra_user_id", "u")]))
        .map(|e| e.name().to_owned());
    assert_eq!(user.as_deref(), Some("entra"));
}

#[test]
fn without_a_route_only_a_connector_holding_a_vendor_id_is_picked() {
    let mut cfg = example();
    cfg.routes.clear();
    let reg = Registry::from_config(&cfg, &|_: &str| None).unwrap();
    assert!(
        reg.for_action(&ActionKind::IsolateHost, &attrs(&[]))
            .is_none()
    );
    assert!(
        reg.for_action(&ActionKind::BlockIp, &attrs(&[])).is_none(),
        "webhook and command are only chosen by a route"
    );
    let ec2 = reg.for_action(
        &ActionKind::QuarantineInstance,
        &attrs(&[("ec2_instance_id", "i-1")]),
    );
    assert_eq!(ec2.map(|e| e.name().to_owned()).as_deref(), Some("aws_ec2"));
}

#[test]
fn debug_output_of_configs_and_connectors_never_contains_a_secret() {
    let mut cfg = example();
    for d in [
        cfg.crowdstrike.as_mut().map(|c| &mut c.dry_run),
        cfg.defender.as_mut().map(|c| &mut c.dry_run),
        cfg.sentinelone.as_mut().map(|c| &mut c.dry_run),
        cfg.okta.as_mut().map(|c| &mut c.dry_run),
        cfg.entra.as_mut().map(|c| &mut c.dry_run),
        cfg.aws_ec2.as_mut().map(|c| &mut c.dry_run),
        cfg.webhook.as_mut().map(|c| &mut c.dry_run),
    ]
    .into_iter()
    .flatten()
    {
        *d = false;
    }
    let secret = "TOPSECRET-9f8e7d";
    // Ids (client ids, access key ids) are not secrets; every secret var
    // (…SECRET…, …TOKEN…) gets the value that must never show up.
    let env = |k: &str| {
        Some(if k.contains("SECRET") || k.contains("TOKEN") {
            secret.to_owned()
        } else {
            "public-id".to_owned()
        })
    };
    let reg = Registry::from_config(&cfg, &env).unwrap();
    let mut dumps = vec![format!("{cfg:?}"), format!("{reg:?}")];
    if let Some(c) = &cfg.crowdstrike {
        dumps.push(format!(
            "{:?}",
            crowdstrike::CrowdStrike::new(c, &env).unwrap()
        ));
    }
    if let Some(c) = &cfg.defender {
        dumps.push(format!("{:?}", defender::Defender::new(c, &env).unwrap()));
    }
    if let Some(c) = &cfg.sentinelone {
        dumps.push(format!(
            "{:?}",
            sentinelone::SentinelOne::new(c, &env).unwrap()
        ));
    }
    if let Some(c) = &cfg.okta {
        dumps.push(format!("{:?}", okta::Okta::new(c, &env).unwrap()));
    }
    if let Some(c) = &cfg.entra {
        dumps.push(format!("{:?}", entra::Entra::new(c, &env).unwrap()));
    }
    if let Some(c) = &cfg.aws_ec2 {
        dumps.push(format!("{:?}", aws_ec2::AwsEc2::new(c, &env).unwrap()));
    }
    if let Some(c) = &cfg.webhook {
        dumps.push(format!("{:?}", webhook::Webhook::new(c, &env).unwrap()));
    }
    for d in &dumps {
        assert!(!d.contains(secret), "secret leaked in {d}");
    }
    assert!(dumps.iter().skip(2).all(|d| d.contains("Secret(***)")));
}

/// Asserts a retryable error that carries exactly `secs` as retry_after.
pub(crate) fn assert_retry_after(err: &ExecError, secs: u64) {
    match err {
        ExecError::Retryable { retry_after, .. } => {
            assert_eq!(
                *retry_after,
                Some(std::time::Duration::from_secs(secs)),
                "{err}"
            )
        }
        other => panic!("expected retryable, got {other:?}"),
    }
}
