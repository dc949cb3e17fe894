//! Enrichment: time budgets, the HTTP lookup cache, intel lists and imports.

mod common;

use common::{TestDb, t0};
use cordon::domain::{NewAlert, Observables, Severity, alert::AlertStatus};
use cordon::enrich::{
    EnrichConfig, Enricher, IntelKind, SourceConfig, SourceKind, parse_assets, parse_identities,
};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn alert(obs: Observables) -> NewAlert {
    NewAlert {
        format: "crowdstrike".into(),
        source_id: None,
        fingerprint: "fp".into(),
        title: "Ransomware".into(),
        description: None,
        severity: Severity::Critical,
        source_severity: None,
        detected_at: Some(t0()),
        status: AlertStatus::Firing,
        observables: obs,
        tags: vec![],
        rule: None,
        raw: serde_json::json!({}),
    }
}

fn host_alert(host: &str) -> NewAlert {
    let mut o = Observables::default();
    Observables::push(&mut o.hosts, host);
    alert(o)
}

fn cmdb(url: &str, budget: &str) -> SourceConfig {
    SourceConfig {
        name: "cmdb".into(),
        kind: SourceKind::Asset,
        url_template: format!("{url}/api/hosts/{{host}}"),
        headers: BTreeMap::from([("Authorization".into(), "Bearer test-token".into())]),
        fields: BTreeMap::from([
            ("tier".into(), "data.tier".into()),
            ("environment".into(), "data.env".into()),
            ("owners".into(), "data.owners".into()),
            ("crowdstrike_aid".into(), "data.agents.falcon".into()),
        ]),
        ttl: Some("10m".into()),
        budget: Some(budget.into()),
        max_entries: None,
    }
}

#[tokio::test]
async fn a_cmdb_slower_than_its_budget_marks_the_enrichment_partial_without_waiting_for_it() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(serde_json::json!({"data": {"tier": "server"}}))
                .set_delay(Duration::from_secs(3)),
        )
        .mount(&server)
        .await;
    let cfg = EnrichConfig {
        budget: "200ms".into(),
        http_sources: vec![cmdb(&server.uri(), "200ms")],
        ..EnrichConfig::default()
    };
    let enricher = Enricher::new(&cfg).unwrap();
    let db = TestDb::sqlite().await;
    let store = db.store().await;

    let started = Instant::now();
    let en = enricher
        .enrich(&store, &host_alert("app-srv-03"), t0())
        .await;
    let elapsed = started.elapsed();

    assert!(elapsed < Duration::from_millis(400), "took {elapsed:?}");
    assert!(en.partial);
    let report = en.sources.iter().find(|s| s.name == "cmdb").unwrap();
    assert!(!report.ok);
    assert!(
        report.error.as_deref().unwrap().contains("timed out"),
        "{report:?}"
    );
    // The other sources still answered.
    assert!(en.sources.iter().any(|s| s.name == "store.assets" && s.ok));
    assert_eq!(en.asset, None);
}

#[tokio::test]
async fn a_fast_cmdb_answer_is_mapped_and_a_repeat_within_the_ttl_comes_from_the_cache() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/hosts/app-srv-03"))
        .and(header("Authorization", "Bearer test-token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "data": {"tier": "server", "env": "prod", "owners": ["dave", "bob"], "agents": {"falcon": "aid-app03"}}
        })))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/hosts/ghost-01"))
        .respond_with(ResponseTemplate::new(404))
        .mount(&server)
        .await;
    let cfg = EnrichConfig {
        http_sources: vec![cmdb(&server.uri(), "2s")],
        ..EnrichConfig::default()
    };
    let enricher = Enricher::new(&cfg).unwrap();
    let db = TestDb::sqlite().await;
    let store = db.store().await;

    let en = enricher
        .enrich(&store, &host_alert("APP-SRV-03"), t0())
        .await;
    assert!(!en.partial, "{:?}", en.sources);
    let a = en.asset.clone().unwrap();
    assert_eq!(a.hostname, "app-srv-03");
    assert_eq!(a.tier.as_deref(), Some("server"));
    assert_eq!(a.environment.as_deref(), Some("prod"));
    assert_eq!(a.owners, vec!["dave", "bob"]);
    assert_eq!(
        en.field("asset.crowdstrike_aid").as_deref(),
        Some("aid-app03")
    );
    assert_eq!(en.field("asset.owners").as_deref(), Some("dave, bob"));

    let again = enricher
        .enrich(&store, &host_alert("app-srv-03"), t0())
        .await;
    assert_eq!(again.asset, en.asset);
    // Unknown hosts are a 404: not an error, and cached too.
    let ghost = enricher.enrich(&store, &host_alert("ghost-01"), t0()).await;
    let _ = enricher.enrich(&store, &host_alert("ghost-01"), t0()).await;
    assert!(!ghost.partial);
    assert_eq!(ghost.asset, None);

    let requests = server.received_requests().await.unwrap();
    assert_eq!(
        requests.len(),
        2,
        "one request per host, the repeats were cached"
    );
}

#[tokio::test]
async fn a_failing_cmdb_is_reported_and_not_cached() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(503))
        .mount(&server)
        .await;
    let cfg = EnrichConfig {
        http_sources: vec![cmdb(&server.uri(), "2s")],
        ..EnrichConfig::default()
    };
    let enricher = Enricher::new(&cfg).unwrap();
    let db = TestDb::sqlite().await;
    let store = db.store().await;
    let en = enricher
        .enrich(&store, &host_alert("app-srv-03"), t0())
        .await;
    let _ = enricher
        .enrich(&store, &host_alert("app-srv-03"), t0())
        .await;
    assert!(en.partial);
    let report = en.sources.iter().find(|s| s.name == "cmdb").unwrap();
    assert!(
        report.error.as_deref().unwrap().contains("503"),
        "{report:?}"
    );
    assert_eq!(server.received_requests().await.unwrap().len(), 2);
}

#[test]
fn a_header_from_an_unset_environment_variable_is_a_start_up_error() {
    let mut src = cmdb("http://127.0.0.1:1", "1s");
    src.headers = BTreeMap::from([(
        "Authorization".into(),
        "env:CORDON_TEST_SURELY_UNSET_TOKEN".into(),
    )]);
    let cfg = EnrichConfig {
        http_sources: vec![src],
        ..EnrichConfig::default()
    };
    let err = Enricher::new(&cfg).unwrap_err().to_string();
    assert!(err.contains("CORDON_TEST_SURELY_UNSET_TOKEN"), "{err}");
}

fn intel_enricher(dir: &std::path::Path) -> Enricher {
    let files = ["bad-ips.txt", "bad-domains.txt", "bad-hashes.txt"];
    std::fs::write(dir.join(files[0]), "203.0.113.9\n192.0.2.0/24 # hosting\n").unwrap();
    std::fs::write(dir.join(files[1]), "evil.example\n").unwrap();
    std::fs::write(
        dir.join(files[2]),
        "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f\n",
    )
    .unwrap();
    let cfg = EnrichConfig {
        intel_files: files
            .iter()
            .map(|f| dir.join(f).display().to_string())
            .collect(),
        intel_recheck: "1ms".into(),
        ..EnrichConfig::default()
    };
    Enricher::new(&cfg).unwrap()
}

#[tokio::test]
async fn intel_lists_hit_an_ip_inside_a_cidr_a_subdomain_and_a_hash() {
    let dir = tempfile::tempdir().unwrap();
    let enricher = intel_enricher(dir.path());
    let db = TestDb::sqlite().await;
    let store = db.store().await;
    let mut o = Observables::default();
    Observables::push(&mut o.source_ips, "192.0.2.77");
    Observables::push(&mut o.ips, "10.0.0.1");
    Observables::push(&mut o.domains, "login.c2.Evil.example");
    Observables::push(&mut o.domains, "notevil.example");
    Observables::push(
        &mut o.file_hashes,
        "275A021BBFB6489E54D471899F7DB9D1663FC695EC2FE2A2C4538AABF651FD0F",
    );

    let en = enricher.enrich(&store, &alert(o), t0()).await;

    assert!(!en.partial, "{:?}", en.sources);
    let kinds: Vec<(&str, IntelKind, &str)> = en
        .intel_hits
        .iter()
        .map(|h| (h.indicator.as_str(), h.kind, h.list.as_str()))
        .collect();
    assert_eq!(
        kinds,
        vec![
            ("192.0.2.77", IntelKind::Cidr, "bad-ips"),
            ("login.c2.Evil.example", IntelKind::Domain, "bad-domains"),
            (
                "275A021BBFB6489E54D471899F7DB9D1663FC695EC2FE2A2C4538AABF651FD0F",
                IntelKind::Sha256,
                "bad-hashes"
            ),
        ]
    );
    assert_eq!(en.intel_hits[0].entry.as_deref(), Some("192.0.2.0/24"));
    assert_eq!(en.field("intel_hits.count").as_deref(), Some("3"));
}

#[tokio::test]
async fn an_intel_file_changed_on_disk_is_reloaded_and_a_broken_one_keeps_the_last_good_list() {
    let dir = tempfile::tempdir().unwrap();
    let enricher = intel_enricher(dir.path());
    let db = TestDb::sqlite().await;
    let store = db.store().await;
    let mut o = Observables::default();
    Observables::push(&mut o.source_ips, "198.51.100.23");
    Observables::push(&mut o.ips, "203.0.113.9");
    let a = alert(o);

    let before = enricher.enrich(&store, &a, t0()).await;
    assert_eq!(before.intel_hits.len(), 1);

    std::fs::write(
        dir.path().join("bad-ips.txt"),
        "203.0.113.9\n192.0.2.0/24\n198.51.100.23 # new C2\n",
    )
    .unwrap();
    tokio::time::sleep(Duration::from_millis(5)).await;
    let after = enricher.enrich(&store, &a, t0()).await;
    assert_eq!(after.intel_hits.len(), 2, "{:?}", after.intel_hits);
    assert!(!after.partial);

    std::fs::write(dir.path().join("bad-ips.txt"), "this is not an indicator\n").unwrap();
    tokio::time::sleep(Duration::from_millis(5)).await;
    let broken = enricher.enrich(&store, &a, t0()).await;
    assert!(broken.partial);
    let report = broken.sources.iter().find(|s| s.name == "intel").unwrap();
    assert!(
        report.error.as_deref().unwrap().contains("bad-ips.txt:1"),
        "{report:?}"
    );
}

#[test]
fn a_missing_intel_file_is_a_start_up_error() {
    let cfg = EnrichConfig {
        intel_files: vec!["/nonexistent/bad-ips.txt".into()],
        ..EnrichConfig::default()
    };
    let err = Enricher::new(&cfg).unwrap_err().to_string();
    assert!(err.contains("/nonexistent/bad-ips.txt"), "{err}");
}

#[test]
fn the_config_section_refuses_unknown_keys() {
    let err = toml::from_str::<EnrichConfig>("budget = \"300ms\"\nbudgett = \"1s\"\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("budgett"), "{err}");
    let ok: EnrichConfig =
        toml::from_str(&std::fs::read_to_string("config/enrich.example.toml").unwrap())
            .map(|t: toml::Table| t["enrich"].clone().try_into().unwrap())
            .unwrap();
    assert_eq!(ok.http_sources[0].name, "cmdb");
    assert_eq!(ok.intel_files.len(), 3);
}

#[test]
fn the_example_intel_files_load() {
    let cfg = EnrichConfig {
        intel_files: vec![
            "config/intel/bad-ips.txt".into(),
            "config/intel/bad-domains.txt".into(),
            "config/intel/bad-hashes.txt".into(),
        ],
        ..EnrichConfig::default()
    };
    Enricher::new(&cfg).unwrap();
}

#[test]
fn assets_import_from_csv_with_lists_and_vendor_ids_as_attributes() {
    let csv = "hostname,ips,tier,owners,crowdstrike_aid,ec2_instance_id\n\
               WS-0142,10.20.1.42,workstation,dave,aid0142,\n\
               app-srv-03,10.30.0.13;10.30.1.13,server,dave|bob,aid-app03,i-0abc\n";
    let assets = parse_assets("assets.csv", csv.as_bytes()).unwrap();
    assert_eq!(assets.len(), 2);
    assert_eq!(assets[0].hostname, "ws-0142");
    assert_eq!(
        assets[0].attributes.get("crowdstrike_aid").unwrap(),
        "aid0142"
    );
    assert!(!assets[0].attributes.contains_key("ec2_instance_id"));
    assert_eq!(assets[1].ips, vec!["10.30.0.13", "10.30.1.13"]);
    assert_eq!(assets[1].owners, vec!["dave", "bob"]);
    assert_eq!(
        assets[1].attributes.get("ec2_instance_id").unwrap(),
        "i-0abc"
    );
}

#[test]
fn assets_and_identities_import_from_json_arrays() {
    let json = r#"[
  {"hostname": "db-prod-01", "ips": ["10.30.2.10"], "tier": "crown-jewel",
   "owners": "carol;dave", "attributes": {"crowdstrike_aid": "aid-db01"}, "aws_region": "eu-west-1"}
]"#;
    let assets = parse_assets("inventory.json", json.as_bytes()).unwrap();
    assert_eq!(assets[0].owners, vec!["carol", "dave"]);
    assert_eq!(assets[0].attributes.len(), 2);
    let ids = parse_identities(
        "people.json",
        br#"[{"username": "Erin", "privileged": true, "department": "identity", "okta_user_id": "00u1erin"}]"#,
    )
    .unwrap();
    assert_eq!(ids[0].username, "erin");
    assert!(ids[0].privileged);
    assert_eq!(ids[0].attributes.get("okta_user_id").unwrap(), "00u1erin");
}

#[test]
fn a_bad_row_names_the_file_line_and_field() {
    let csv = "hostname,ips,tier\nws-1,10.0.0.1,workstation\nws-2,10.0.0.999,workstation\n";
    let err = parse_assets("assets.csv", csv.as_bytes()).unwrap_err();
    assert_eq!(err.line, 3);
    assert_eq!(err.field.as_deref(), Some("ips"));
    assert!(err.to_string().starts_with("assets.csv:3: ips: "), "{err}");

    let err = parse_identities("ids.csv", b"username,privileged\njdoe,maybe\n").unwrap_err();
    assert!(
        err.to_string().starts_with("ids.csv:2: privileged: "),
        "{err}"
    );

    let err = parse_assets("a.csv", b"hostname,tier\nws-1,x\nWS-1,y\n").unwrap_err();
    assert!(
        err.to_string().contains("already appears on line 2"),
        "{err}"
    );

    let json = "[\n  {\"hostname\": \"ok\"},\n  {\"hostname\": \"bad\",\n   \"ips\": \"nope\"}\n]";
    let err = parse_assets("inv.json", json.as_bytes()).unwrap_err();
    assert!(err.to_string().starts_with("inv.json:3: ips: "), "{err}");

    let err =
        parse_assets("c.csv", b"# comment\nhostname,ips\n# another\nws-1,1.2.3\n").unwrap_err();
    assert!(err.to_string().starts_with("c.csv:4: ips: "), "{err}");

    let err = parse_assets("x.csv", b"host,tier\nws-1,x\n").unwrap_err();
    assert!(err.to_string().contains("no `hostname` column"), "{err}");
}

#[test]
fn the_example_inventory_and_directory_import() {
    let assets = parse_assets(
        "config/assets.example.csv",
        &std::fs::read("config/assets.example.csv").unwrap(),
    )
    .unwrap();
    let db = assets.iter().find(|a| a.hostname == "db-prod-01").unwrap();
    assert_eq!(db.tier.as_deref(), Some("crown-jewel"));
    let ws = assets.iter().find(|a| a.hostname == "ws-0142").unwrap();
    assert_eq!(ws.owners, vec!["dave"]);
    let ids = parse_identities(
        "config/identities.example.csv",
        &std::fs::read("config/identities.example.csv").unwrap(),
    )
    .unwrap();
    for who in ["alice", "bob", "carol", "dave", "erin", "frank"] {
        assert!(ids.iter().any(|i| i.username == who), "{who}");
    }
}
