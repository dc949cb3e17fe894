//! Table-driven tests over the project's own fixtures
//! (`tests/fixtures/alerts/<format>/`), error cases that must name the JSON
//! path, and property tests: no input may make a parser panic.

use super::*;
use crate::domain::Severity;
use crate::domain::alert::AlertStatus;
use proptest::prelude::*;
use serde_json::{Value, json};

fn fixture(rel: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/alerts/{rel}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn custom_mapping() -> GenericMapping {
    // As an operator writes it in cordon.toml [ingest.generic].
    toml::from_str(
        r#"
        title = "alert.name"
        severity = "alert.prio"
        detected_at = ["alert.when", "alert.ts"]
        source_id = "alert.ref"
        hosts = "asset.fqdn"
        users = "actor.login"
        source_ips = "/actor/ip"
        tags = "labels"
        [severity_map]
        P1 = "critical"
        P2 = "high"
        "#,
    )
    .unwrap()
}

struct Case {
    file: &'static str,
    format: Format,
    count: usize,
    index: usize,
    title: &'static str,
    severity: Severity,
    host: Option<&'static str>,
    user: Option<&'static str>,
    source_ip: Option<&'static str>,
    detected: Option<&'static str>,
    source_id: Option<&'static str>,
    status: AlertStatus,
}

#[rustfmt::skip]
fn cases() -> Vec<Case> {
    use AlertStatus::*;
    use Format as F;
    use Severity::*;
    vec![
        Case { file: "alertmanager/firing_group.json", format: F::Alertmanager, count: 2, index: 0, title: "HostOutboundC2Beacon", severity: Critical, host: Some("db-prod-01"), user: None, source_ip: None, detected: Some("2026-03-02T09:15:30.123456789Z"), source_id: Some("a1b2c3d4e5f60718"), status: Firing },
        // An unknown label value maps to medium (and keeps `P9`, checked below).
        Case { file: "alertmanager/firing_group.json", format: F::Alertmanager, count: 2, index: 1, title: "DiskEncryptionOff", severity: Medium, host: Some("ws-0142"), user: None, source_ip: None, detected: Some("2026-03-02T09:00:00Z"), source_id: Some("0f9e8d7c6b5a4930"), status: Firing },
        Case { file: "alertmanager/resolved.json", format: F::Alertmanager, count: 1, index: 0, title: "HostOutboundC2Beacon", severity: Critical, host: Some("db-prod-01"), user: None, source_ip: None, detected: Some("2026-03-02T09:15:30.123456789Z"), source_id: Some("a1b2c3d4e5f60718"), status: Resolved },
        Case { file: "ocsf/detection_finding.json", format: F::Ocsf, count: 1, index: 0, title: "Credential dumping via LSASS access", severity: High, host: Some("ws-0142"), user: Some("jdoe"), source_ip: Some("203.0.113.50"), detected: Some("2026-03-02T10:15:30Z"), source_id: Some("acme-f-2026-0001"), status: Firing },
        Case { file: "ocsf/batch.json", format: F::Ocsf, count: 2, index: 0, title: "Ransomware note written", severity: Critical, host: Some("fs-prod-02"), user: None, source_ip: None, detected: Some("2026-03-02T08:01:02.5Z"), source_id: Some("acme-f-2026-0002"), status: Firing },
        Case { file: "ocsf/batch.json", format: F::Ocsf, count: 2, index: 1, title: "Unusual share enumeration", severity: Medium, host: None, user: None, source_ip: None, detected: Some("2026-03-02T08:00:00Z"), source_id: Some("acme-f-2026-0003"), status: Firing },
        Case { file: "elastic/search_hits.json", format: F::Elastic, count: 2, index: 0, title: "Suspicious PowerShell Download", severity: High, host: Some("ws-0142"), user: Some("jdoe"), source_ip: Some("10.20.1.42"), detected: Some("2026-03-02T09:59:58.250Z"), source_id: Some("e1f2a3b4"), status: Firing },
        Case { file: "elastic/search_hits.json", format: F::Elastic, count: 2, index: 1, title: "Brute Force via SSH", severity: Critical, host: Some("db-prod-01"), user: Some("postgres"), source_ip: Some("203.0.113.9"), detected: Some("2026-03-02T10:01:00Z"), source_id: Some("c9d8e7f6"), status: Resolved },
        Case { file: "wazuh/alert.json", format: F::Wazuh, count: 1, index: 0, title: "550 Integrity checksum changed for /etc/sudoers", severity: High, host: Some("db-prod-01"), user: None, source_ip: None, detected: Some("2026-03-02T10:20:31.412Z"), source_id: Some("1772446831.880213"), status: Firing },
        Case { file: "wazuh/indexer_hits.json", format: F::Wazuh, count: 2, index: 0, title: "5712 sshd: brute force trying to get access to the system.", severity: Medium, host: Some("bastion-01"), user: Some("admin"), source_ip: Some("203.0.113.9"), detected: Some("2026-03-02T10:21:00Z"), source_id: Some("1772446860.1"), status: Firing },
        Case { file: "wazuh/indexer_hits.json", format: F::Wazuh, count: 2, index: 1, title: "5501 Login session opened.", severity: Info, host: Some("bastion-01"), user: Some("jdoe"), source_ip: None, detected: Some("2026-03-02T10:22:00Z"), source_id: Some("1772446920.2"), status: Firing },
        Case { file: "falco/falcosidekick.json", format: F::Falco, count: 1, index: 0, title: "Outbound Connection to C2 Servers", severity: Critical, host: Some("k8s-node-03"), user: Some("www-data"), source_ip: Some("198.51.100.23"), detected: Some("2026-03-02T10:30:00Z"), source_id: Some("5b0f3c9e-1d2a-4f6b-9c8d-7e6f5a4b3c2d"), status: Firing },
        // NDJSON: the `flow` record in the middle is not an alert and is skipped.
        Case { file: "suricata/eve_batch.json", format: F::Suricata, count: 2, index: 0, title: "ET EXPLOIT Possible Apache Struts RCE Inbound", severity: High, host: None, user: None, source_ip: Some("203.0.113.66"), detected: Some("2026-03-02T09:40:01.123456Z"), source_id: Some("1234567890123456:2024897:3"), status: Firing },
        Case { file: "suricata/eve_batch.json", format: F::Suricata, count: 2, index: 1, title: "ET POLICY curl User-Agent Outbound", severity: Low, host: None, user: None, source_ip: Some("198.51.100.77"), detected: Some("2026-03-02T09:41:00Z"), source_id: Some("1234567890123458:2013028:4"), status: Firing },
        Case { file: "splunk/webhook.json", format: F::Splunk, count: 1, index: 0, title: "Excessive failed logons", severity: High, host: Some("ws-0142"), user: Some("jdoe"), source_ip: Some("203.0.113.9"), detected: Some("2026-03-02T10:35:00.250Z"), source_id: Some("scheduler__admin__search__RMD5failed_logons_at_1772447700_42"), status: Firing },
        Case { file: "guardduty/native.json", format: F::Guardduty, count: 1, index: 0, title: "Unprotected port on EC2 instance i-0abc123def4567890 is being probed.", severity: High, host: Some("ip-10-20-5-11.eu-west-1.compute.internal"), user: None, source_ip: Some("203.0.113.9"), detected: Some("2026-03-02T09:05:00Z"), source_id: Some("7cb0a1f2e3d4c5b6a7980a1b2c3d4e5f"), status: Firing },
        Case { file: "guardduty/eventbridge.json", format: F::Guardduty, count: 1, index: 0, title: "Credentials for instance role app-role used from external IP address.", severity: Critical, host: None, user: Some("app-role"), source_ip: Some("198.51.100.200"), detected: Some("2026-03-02T10:09:30Z"), source_id: Some("1e2d3c4b5a6978"), status: Firing },
        Case { file: "guardduty/asff_findings.json", format: F::Guardduty, count: 1, index: 0, title: "203.0.113.9 is performing SSH brute force attacks against i-0abc123def4567890.", severity: Medium, host: None, user: None, source_ip: Some("203.0.113.9"), detected: Some("2026-03-02T10:12:00Z"), source_id: Some("arn:aws:guardduty:eu-west-1:123456789012:detector/abc/finding/ff00"), status: Firing },
        Case { file: "crowdstrike/legacy_detection.json", format: F::Crowdstrike, count: 1, index: 0, title: "Credential Theft", severity: High, host: Some("WS-0142"), user: Some("jdoe"), source_ip: Some("198.51.100.23"), detected: Some("2026-03-02T10:40:00.123Z"), source_id: Some("ldt:aid0142:99887766"), status: Firing },
        Case { file: "crowdstrike/epp_detection.json", format: F::Crowdstrike, count: 1, index: 0, title: "Ransomware", severity: Critical, host: Some("db-prod-01"), user: Some("postgres"), source_ip: None, detected: Some("2026-03-02T10:41:00Z"), source_id: Some("cid0001:ind:aid-db01:5544"), status: Firing },
        Case { file: "defender/mde_alert.json", format: F::Defender, count: 1, index: 0, title: "Suspicious credential dump from LSASS", severity: High, host: Some("ws-0142.corp.example"), user: Some("jdoe"), source_ip: Some("203.0.113.9"), detected: Some("2026-03-02T10:45:00.1234567Z"), source_id: Some("da638000000000000000_111"), status: Resolved },
        Case { file: "defender/graph_alert.json", format: F::Defender, count: 1, index: 0, title: "Anomalous sign-in followed by mailbox rule creation", severity: Medium, host: Some("ws-0142"), user: Some("jdoe@corp.example"), source_ip: Some("198.51.100.44"), detected: Some("2026-03-02T11:00:00Z"), source_id: Some("da638000000000000000_222"), status: Firing },
        Case { file: "sentinel/incident.json", format: F::Sentinel, count: 1, index: 0, title: "Multi-stage attack involving ws-0142", severity: Medium, host: None, user: None, source_ip: None, detected: Some("2026-03-02T11:05:00Z"), source_id: Some("5d1c0e2b-8a7f-4c3e-9b2d-1f0e9d8c7b6a"), status: Firing },
        // No severity label: risk score 85 → critical.
        Case { file: "chronicle/detection.json", format: F::Chronicle, count: 1, index: 0, title: "impossible_travel_login", severity: Critical, host: Some("ws-0142"), user: Some("jdoe"), source_ip: Some("203.0.113.9"), detected: Some("2026-03-02T11:10:00Z"), source_id: Some("de_11111111-2222-3333-4444-555555555555"), status: Firing },
        Case { file: "generic/custom_tool.json", format: F::Generic, count: 1, index: 0, title: "Honeytoken credential used", severity: Critical, host: Some("db-prod-01"), user: Some("svc_backup"), source_ip: Some("203.0.113.77"), detected: Some("2026-03-02T09:20:00Z"), source_id: Some("HT-0042"), status: Firing },
    ]
}

#[test]
fn fixtures_parse_to_the_expected_alerts() {
    let mapping = custom_mapping();
    for c in cases() {
        let alerts = parse(c.format, &fixture(c.file), &mapping)
            .unwrap_or_else(|e| panic!("{}: {e}", c.file));
        let ctx = format!("{}[{}]", c.file, c.index);
        assert_eq!(alerts.len(), c.count, "{ctx}: count");
        let a = &alerts[c.index];
        assert_eq!(a.format, c.format.as_str(), "{ctx}");
        assert_eq!(a.title, c.title, "{ctx}");
        assert_eq!(a.severity, c.severity, "{ctx}");
        assert_eq!(
            a.observables.hosts.first().map(String::as_str),
            c.host,
            "{ctx}: host"
        );
        assert_eq!(
            a.observables.users.first().map(String::as_str),
            c.user,
            "{ctx}: user"
        );
        assert_eq!(
            a.observables.source_ips.first().map(String::as_str),
            c.source_ip,
            "{ctx}: source ip"
        );
        let want = c
            .detected
            .map(|t| chrono::DateTime::parse_from_rfc3339(t).unwrap().to_utc());
        assert_eq!(a.detected_at, want, "{ctx}: detected_at");
        assert_eq!(a.source_id.as_deref(), c.source_id, "{ctx}: source_id");
        assert_eq!(a.status, c.status, "{ctx}: status");
        assert_eq!(a.fingerprint.len(), 32, "{ctx}: fingerprint");
        assert!(a.raw.is_object(), "{ctx}: raw");
    }
}

#[test]
fn fixtures_are_detected_as_their_own_format() {
    for c in cases() {
        if c.format == Format::Generic {
            continue; // generic is never guessed
        }
        assert_eq!(detect(&fixture(c.file)), Ok(c.format), "{}", c.file);
    }
    assert!(detect(&fixture("generic/custom_tool.json")).is_err());
}

#[test]
fn a_resolved_alertmanager_alert_keeps_the_fingerprint_of_its_firing() {
    let g = GenericMapping::default();
    let firing = parse(
        Format::Alertmanager,
        &fixture("alertmanager/firing_group.json"),
        &g,
    )
    .unwrap();
    let resolved = parse(
        Format::Alertmanager,
        &fixture("alertmanager/resolved.json"),
        &g,
    )
    .unwrap();
    assert_eq!(firing[0].fingerprint, resolved[0].fingerprint);
    assert_ne!(firing[0].fingerprint, firing[1].fingerprint);
    assert_eq!(firing[1].source_severity.as_deref(), Some("P9"));
    assert!(firing[0].tags.contains(&"node".to_owned()));
}

#[test]
fn observables_land_in_the_right_lists() {
    let g = GenericMapping::default();
    let cs = &parse(
        Format::Crowdstrike,
        &fixture("crowdstrike/legacy_detection.json"),
        &g,
    )
    .unwrap()[0];
    assert_eq!(
        cs.observables.ips,
        ["10.20.1.42"],
        "LocalIP is the host's own"
    );
    assert_eq!(cs.observables.file_hashes.len(), 2);
    assert!(cs.tags.contains(&"T1003".to_owned()));
    let epp = &parse(
        Format::Crowdstrike,
        &fixture("crowdstrike/epp_detection.json"),
        &g,
    )
    .unwrap()[0];
    assert_eq!(
        epp.observables.file_hashes.len(),
        1,
        "all-zero placeholder hashes are dropped"
    );
    let gd = &parse(Format::Guardduty, &fixture("guardduty/native.json"), &g).unwrap()[0];
    assert_eq!(gd.observables.source_ips, ["203.0.113.9", "203.0.113.10"]);
    assert_eq!(gd.observables.cloud_resources, ["i-0abc123def4567890"]);
    let su = parse(Format::Suricata, &fixture("suricata/eve_batch.json"), &g).unwrap();
    assert_eq!(su[0].observables.ips, ["10.20.5.11"]);
    assert_eq!(su[1].observables.domains, ["cdn-update.example.net"]);
    let gn = &parse(
        Format::Generic,
        &fixture("generic/custom_tool.json"),
        &custom_mapping(),
    )
    .unwrap()[0];
    assert_eq!(gn.tags, ["honeytoken", "T1078"]);
    assert_eq!(gn.source_severity.as_deref(), Some("P1"));
    let ocsf = &parse(Format::Ocsf, &fixture("ocsf/detection_finding.json"), &g).unwrap()[0];
    assert!(ocsf.tags.contains(&"T1003.001".to_owned()));
    assert_eq!(ocsf.observables.file_hashes.len(), 1);
}

#[test]
fn bodies_may_be_one_object_an_array_or_ndjson() {
    let rec = json!({"title": "Port scan", "severity": "low", "host": "ws-0142", "id": "a"});
    let rec2 = json!({"title": "Port scan", "severity": "high", "host": "db-prod-01", "id": "b"});
    let g = GenericMapping::default();
    let one = serde_json::to_vec(&rec).unwrap();
    let arr = serde_json::to_vec(&json!([rec, rec2])).unwrap();
    let nd = format!("{rec}\n\n{rec2}\n");
    assert_eq!(parse(Format::Generic, &one, &g).unwrap().len(), 1);
    assert_eq!(parse(Format::Generic, &arr, &g).unwrap().len(), 2);
    let alerts = parse(Format::Generic, nd.as_bytes(), &g).unwrap();
    assert_eq!(alerts.len(), 2);
    assert_eq!(alerts[1].severity, Severity::High);
}

#[test]
fn bad_bodies_are_refused_naming_the_field() {
    let g = GenericMapping::default();
    let cases: Vec<(Format, Vec<u8>, &str)> = vec![
        (Format::Wazuh, b"".to_vec(), "body"),
        (Format::Wazuh, b"   \n ".to_vec(), "body"),
        (Format::Wazuh, b"{not json".to_vec(), "body"),
        (Format::Wazuh, b"[]".to_vec(), "body"),
        (Format::Wazuh, b"42".to_vec(), "body"),
        (Format::Alertmanager, br#"{"receiver":"x","alerts":[]}"#.to_vec(), "body"),
        (Format::Alertmanager, br#"{"receiver":"x","alerts":[{"labels":{"severity":"critical"}}]}"#.to_vec(), "alerts[0].labels.alertname"),
        (Format::Alertmanager, br#"{"receiver":"x","alerts":{}}"#.to_vec(), "alerts"),
        (Format::Wazuh, serde_json::to_vec(&json!([
            {"rule": {"level": 5, "description": "ok"}}, {"rule": {"level": 5, "description": "ok"}},
            {"rule": {"level": 5, "description": "ok"}}, {"rule": {"level": 5}}])).unwrap(), "[3].rule.description"),
        (Format::Wazuh, br#"{"rule":{"description":"x"}}"#.to_vec(), "rule.level"),
        (Format::Wazuh, br#"{"_source":{"rule":{"level":3}}}"#.to_vec(), "_source.rule.description"),
        (Format::Falco, br#"{"priority":"Warning","output":"x"}"#.to_vec(), "rule"),
        (Format::Suricata, br#"{"event_type":"alert","alert":{"severity":1}}"#.to_vec(), "alert.signature"),
        (Format::Suricata, br#"{"event_type":"flow"}"#.to_vec(), "body"),
        (Format::Ocsf, br#"{"class_uid":2004,"severity_id":4}"#.to_vec(), "finding_info.title"),
        (Format::Elastic, br#"{"hits":{"hits":[{"_source":{"host":{"name":"a"}}}]}}"#.to_vec(), "hits.hits[0]._source.kibana.alert.rule.name"),
        (Format::Splunk, br#"{"result":{"host":"a"}}"#.to_vec(), "search_name"),
        (Format::Guardduty, br#"{"detail":{"severity":5}}"#.to_vec(), "detail.title"),
        (Format::Guardduty, br#"{"Findings":[{"SchemaVersion":"x"}]}"#.to_vec(), "Findings[0].Title"),
        (Format::Crowdstrike, br#"{"metadata":{"eventType":"DetectionSummaryEvent"},"event":{}}"#.to_vec(), "event.DetectName"),
        (Format::Defender, br#"{"value":[{"severity":"High"}]}"#.to_vec(), "value[0].title"),
        (Format::Sentinel, br#"{"properties":{"severity":"High"}}"#.to_vec(), "properties.title"),
        (Format::Chronicle, br#"{"detection":[{"riskScore":5}]}"#.to_vec(), "detection[0].ruleName"),
        (Format::Generic, br#"{"severity":"high"}"#.to_vec(), "title"),
        (Format::Generic, b"{\"title\":\"a\"}\n{\"nope\":1}\n".to_vec(), "[1].title"),
        (Format::Generic, b"{\"title\":\"a\"}\n{oops\n".to_vec(), "body"),
    ];
    for (format, body, field) in cases {
        let err = parse(format, &body, &g).expect_err(&String::from_utf8_lossy(&body));
        assert_eq!(
            err.field,
            field,
            "{format} {}: {err:?}",
            String::from_utf8_lossy(&body)
        );
        assert!(!err.hint.is_empty() && !err.problem.is_empty());
    }
}

#[test]
fn detect_refuses_what_it_does_not_know() {
    for body in [&b""[..], b"nonsense", br#"{"hello":"world"}"#, b"[1,2]"] {
        let err = detect(body).unwrap_err();
        assert_eq!(err.field, "body");
    }
}

#[test]
fn format_names_round_trip() {
    for f in Format::ALL {
        assert_eq!(f.to_string().parse::<Format>(), Ok(f));
    }
    assert_eq!("Wazuh".parse::<Format>(), Ok(Format::Wazuh));
    assert_eq!("syslog".parse::<Format>().unwrap_err().field, "format");
}

#[test]
fn generic_mapping_refuses_unknown_keys_and_has_defaults() {
    assert!(toml::from_str::<GenericMapping>("titel = \"x\"").is_err());
    let d: GenericMapping = toml::from_str("").unwrap();
    assert_eq!(d, GenericMapping::default());
}

#[test]
fn severity_tables_hold_at_their_band_edges() {
    use Severity::*;
    let wz = [
        (0.0, Info),
        (3.0, Info),
        (4.0, Low),
        (6.0, Low),
        (7.0, Medium),
        (11.0, Medium),
        (12.0, High),
        (14.0, High),
        (15.0, Critical),
    ];
    for (n, s) in wz {
        assert_eq!(wazuh::severity(n), s, "wazuh {n}");
    }
    let gd = [
        (0.5, Info),
        (1.0, Low),
        (3.9, Low),
        (4.0, Medium),
        (6.9, Medium),
        (7.0, High),
        (8.9, High),
        (9.0, Critical),
        (10.0, Critical),
    ];
    for (n, s) in gd {
        assert_eq!(guardduty::severity(n), s, "guardduty {n}");
    }
    let cs = [
        (1.0, Info),
        (2.0, Low),
        (3.0, Medium),
        (4.0, High),
        (5.0, Critical),
        (10.0, Info),
        (30.0, Low),
        (50.0, Medium),
        (70.0, High),
        (90.0, Critical),
    ];
    for (n, s) in cs {
        assert_eq!(crowdstrike::severity(n), s, "crowdstrike {n}");
    }
    let su = [(1.0, High), (2.0, Medium), (3.0, Low), (4.0, Info)];
    for (n, s) in su {
        assert_eq!(suricata::severity(n), s, "suricata {n}");
    }
    for (id, s) in [
        (1.0, Info),
        (2.0, Low),
        (3.0, Medium),
        (4.0, High),
        (5.0, Critical),
        (6.0, Critical),
    ] {
        assert_eq!(ocsf::severity(Some(id), None), s, "ocsf {id}");
    }
    assert_eq!(ocsf::severity(Some(0.0), Some("High")), High);
    assert_eq!(ocsf::severity(Some(99.0), None), Medium);
    let words = [
        ("critical", Critical),
        ("page", Critical),
        ("major", High),
        ("error", High),
        ("high", High),
        ("warning", Medium),
        ("minor", Medium),
        ("medium", Medium),
        ("low", Low),
        ("info", Info),
        ("informational", Info),
        ("none", Info),
        ("Informational ", Info),
    ];
    for (w, s) in words {
        assert_eq!(common::word_severity(w), Some(s), "{w}");
    }
    assert_eq!(common::word_severity("unknown"), None);
}

/// Arbitrary JSON, nested a few levels, with the keys the parsers look for
/// mixed in so that the interesting branches are reached.
fn arb_json() -> impl Strategy<Value = Value> {
    let key = prop_oneof![
        Just("alerts".to_owned()),
        Just("labels".to_owned()),
        Just("rule".to_owned()),
        Just("level".to_owned()),
        Just("title".to_owned()),
        Just("severity".to_owned()),
        Just("event".to_owned()),
        Just("metadata".to_owned()),
        Just("detail".to_owned()),
        Just("hits".to_owned()),
        Just("_source".to_owned()),
        Just("class_uid".to_owned()),
        Just("finding_info".to_owned()),
        Just("alert".to_owned()),
        Just("signature".to_owned()),
        Just("event_type".to_owned()),
        Just("properties".to_owned()),
        Just("value".to_owned()),
        Just("detection".to_owned()),
        Just("Findings".to_owned()),
        Just("time".to_owned()),
        Just("kibana.alert.rule.name".to_owned()),
        Just("evidence".to_owned()),
        "[a-z._]{0,8}",
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        ".{0,12}".prop_map(Value::String),
        Just(json!("2026-03-02T10:00:00+0000")),
        Just(json!("resolved")),
    ];
    leaf.prop_recursive(4, 48, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec((key.clone(), inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_bytes_never_panic(body in prop::collection::vec(any::<u8>(), 0..256)) {
        let g = GenericMapping::default();
        for f in Format::ALL {
            let _ = parse(f, &body, &g);
        }
        let _ = detect(&body);
    }

    #[test]
    fn arbitrary_json_never_panics(v in arb_json()) {
        let g = GenericMapping::default();
        let body = serde_json::to_vec(&v).unwrap();
        for f in Format::ALL {
            let _ = parse(f, &body, &g);
        }
        let _ = detect(&body);
        let nd = format!("{v}\n{v}\n");
        let _ = parse(Format::Generic, nd.as_bytes(), &g);
    }
}
