//! The `cordon` binary as the security engineer uses it.

mod common;

use common::{TestDb, both, t0};
use cordon::store::NewDeadLetter;
use std::process::Command;

fn cordon(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let dir = tempfile::tempdir().expect("dir");
    let mut c = Command::new(env!("CARGO_BIN_EXE_cordon"));
    c.args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("CORDON_DATABASE_URL");
    c.env("CORDON_CONFIG", dir.path().join("none.toml"));
    // The named config file does not exist: write an empty one.
    std::fs::write(dir.path().join("none.toml"), "").expect("write");
    for (k, v) in env {
        c.env(k, v);
    }
    let out = c.output().expect("run cordon");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> String {
    let p = dir.path().join(name);
    std::fs::write(&p, text).expect("write");
    p.display().to_string()
}

#[test]
fn check_passes_the_example_matrix() {
    let (code, out, err) = cordon(&["check"], &[]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("sound"), "{out}");
}

const BAD: &str = r#"
version = 1

[people.alice]
slack = "U1"

[people.bob]
slack = "U2"

[roles.soc-lead]
members = ["alice", "bob"]

[roles.empty]
members = []

[[rules]]
name = "all-workstations"
action = "isolate_host"
match = { asset_tier = ["workstation"] }
mode = "auto"

[[rules]]
name = "critical-workstations"
action = "isolate_host"
match = { asset_tier = ["workstation"], severity_at_least = "critical" }
mode = "approval"
approvers = ["soc-lead"]

[[rules]]
name = "servers"
action = "isolate_host"
match = { asset_tier = ["server"], severity_at_least = "high" }
mode = "approval"
approvers = ["soc-lead"]
"#;

#[test]
fn check_finds_a_shadowed_rule_and_a_coverage_gap() {
    let dir = tempfile::tempdir().expect("dir");
    let m = write(&dir, "bad.toml", BAD);
    let (code, out, _) = cordon(&["check", "--matrix", &m], &[]);
    assert_eq!(code, 1, "{out}");
    let shadow = out
        .lines()
        .find(|l| l.contains("critical-workstations"))
        .unwrap_or_else(|| panic!("no shadow line:\n{out}"));
    assert!(
        shadow.contains("all-workstations"),
        "names both rules: {shadow}"
    );
    assert!(
        out.lines()
            .any(|l| l.contains("server") && (l.contains("low") || l.contains("medium"))),
        "coverage gap for low servers:\n{out}"
    );
    assert!(out.contains("empty"), "role with no members:\n{out}");
    // The guards: an automatic rule that nothing bounds, and that nobody
    // could approve once a guard stops it.
    assert!(
        out.lines().any(|l| l.contains("all-workstations")
            && l.contains("no [[guards.rate]] bounds isolate_host")),
        "{out}"
    );
    assert!(
        out.lines()
            .any(|l| l.contains("all-workstations") && l.contains("nobody can approve it")),
        "{out}"
    );
}

#[test]
fn check_knows_the_guards_and_names_their_mistakes_by_line() {
    let dir = tempfile::tempdir().expect("dir");
    let text = format!(
        "{BAD}\n[roles.leads-by-group]\nslack_groups = [\"S0LEADS\"]\n\n[guards]\ninternal_cidrs = [\"10.0.0.0/33\"]\n\n[[guards.rate]]\naction = \"isolate_host\"\nmax = 10\nper = \"soon\"\nreset = [\"soc-leads\"]\n"
    );
    let m = write(&dir, "guards.toml", &text);
    let (code, out, _) = cordon(&["check", "--matrix", &m], &[]);
    assert_eq!(code, 1, "{out}");
    let line = |needle: &str| text.lines().position(|l| l.contains(needle)).expect("line") + 1;
    for (needle, key) in [
        ("10.0.0.0/33", "guards.internal_cidrs"),
        ("per = \"soon\"", "guards.rate[0].per"),
        ("soc-leads", "guards.rate[0].reset"),
    ] {
        assert!(
            out.contains(&format!("guards.toml:{}: {key}", line(needle))),
            "{key} at line {} in:\n{out}",
            line(needle)
        );
    }
    // Fixed, the group-only role is reported.
    let fixed = text
        .replace("10.0.0.0/33", "10.0.0.0/8")
        .replace("per = \"soon\"", "per = \"10m\"")
        .replace("reset = [\"soc-leads\"]", "reset = [\"soc-lead\"]");
    let m = write(&dir, "fixed.toml", &fixed);
    let (code, out, _) = cordon(&["check", "--matrix", &m], &[]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("role `leads-by-group` is held only through chat groups"),
        "{out}"
    );
    assert!(
        !out.contains("no [[guards.rate]] bounds isolate_host"),
        "{out}"
    );
}

#[test]
fn bad_toml_names_the_file_line_and_key() {
    let dir = tempfile::tempdir().expect("dir");
    let text = BAD.replace("mode = \"auto\"", "mode = \"auto\"\nveto_windw = \"3m\"");
    let m = write(&dir, "typo.toml", &text);
    let (code, out, _) = cordon(&["check", "--matrix", &m], &[]);
    assert_eq!(code, 1);
    let line = text
        .lines()
        .position(|l| l.starts_with("veto_windw"))
        .expect("line")
        + 1;
    assert!(
        out.contains(&format!("typo.toml:{line}")),
        "line {line} in:\n{out}"
    );
    assert!(out.contains("veto_windw"), "{out}");
    let text = BAD.replace(
        "approvers = [\"soc-lead\"]\n\n[[rules]]\nname = \"servers\"",
        "approvers = [\"soc-leads\"]\n\n[[rules]]\nname = \"servers\"",
    );
    let m = write(&dir, "role.toml", &text);
    let (code, out, _) = cordon(&["check", "--matrix", &m], &[]);
    assert_eq!(code, 1);
    assert!(
        out.contains("soc-leads") && out.contains("role.toml:"),
        "{out}"
    );
}

#[test]
fn explain_names_who_may_approve_veto_and_override() {
    let (code, out, err) = cordon(
        &[
            "explain",
            "--action",
            "isolate_host",
            "--tier",
            "crown-jewel",
            "--severity",
            "critical",
            "--json",
        ],
        &[],
    );
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    let text = v.to_string();
    assert!(text.contains("crown-jewels"), "{text}");
    for who in ["alice", "bob", "carol"] {
        assert!(text.contains(who), "{who} in {text}");
    }
    let (code, out, _) = cordon(
        &[
            "explain",
            "--action",
            "isolate_host",
            "--tier",
            "workstation",
            "--severity",
            "high",
        ],
        &[],
    );
    assert_eq!(code, 0);
    assert!(
        out.contains("contain-workstations") && out.contains("auto"),
        "{out}"
    );
    // The guards that bound it, and who may propose it by hand.
    assert!(
        out.contains("guard:     rate: at most 10 automatic isolate_host per 10m"),
        "{out}"
    );
    assert!(out.contains("proposers: soc-analyst"), "{out}");
}

async fn audit_story(db: &TestDb) {
    let store = db.store().await;
    let entries: Vec<cordon::store::NewAudit> = (0..4)
        .map(|i| cordon::store::NewAudit {
            at: t0(),
            actor: "carol".into(),
            action: "override".into(),
            subject: format!("dec-{i}"),
            detail: serde_json::json!({"i": i}),
        })
        .collect();
    store.audit(&entries).await.expect("audit");
    let env = [("CORDON_DATABASE_URL", db.url.as_str())];
    let (code, out, err) = cordon(&["audit", "verify"], &env);
    assert_eq!(code, 0, "{}: {out}{err}", db.label);
    assert!(out.contains("intact: 4 rows"), "{out}");
    // Someone edits row 3 behind cordon's back.
    let tamper = "update audit_log set actor = 'mallory' where seq = 3";
    match store.backend() {
        cordon::store::Backend::Sqlite => {
            let p = sqlx::SqlitePool::connect(&db.url).await.expect("connect");
            sqlx::query(tamper).execute(&p).await.expect("tamper");
        }
        cordon::store::Backend::Postgres => {
            let p = sqlx::PgPool::connect(&db.url).await.expect("connect");
            sqlx::query(tamper).execute(&p).await.expect("tamper");
        }
    }
    let (code, out, _) = cordon(&["audit", "verify"], &env);
    assert_ne!(code, 0, "{}", db.label);
    assert!(out.contains("row 3"), "{}: {out}", db.label);
    store.close().await;
}

#[tokio::test]
async fn audit_verify_names_the_row_altered_through_sql() {
    for db in both().await {
        audit_story(&db).await;
    }
}

#[test]
fn token_issue_prints_a_token_the_server_accepts() {
    let secret = "0123456789abcdef0123456789abcdef0123";
    let (code, out, err) = cordon(
        &[
            "token",
            "issue",
            "--source",
            "wazuh-prod",
            "--ttl",
            "90d",
            "--formats",
            "wazuh,falco",
        ],
        &[("CORDON_INGEST_JWT_SECRET", secret)],
    );
    assert_eq!(code, 0, "{err}");
    let token = out.lines().last().expect("token line");
    let v = cordon::http::auth::TokenVerifier::new(Some(secret), &[], &[]).expect("verifier");
    let c = v.verify(token, chrono::Utc::now()).expect("valid");
    assert_eq!(c.sub, "wazuh-prod");
    assert!(c.may_send("falco") && !c.may_send("crowdstrike"));
    assert!(c.exp - c.iat >= 90 * 86_400 - 1);
    let (code, _, err) = cordon(&["token", "issue", "--source", "x"], &[]);
    assert_ne!(code, 0);
    assert!(err.contains("CORDON_INGEST_JWT_SECRET"), "{err}");
}

#[tokio::test]
async fn a_dead_letter_is_replayed_after_a_parser_fix_and_listed_as_replayed() {
    let db = TestDb::sqlite().await;
    let store = db.store().await;
    let good = serde_json::json!({
        "timestamp": "2026-11-23T07:00:00.000+0000",
        "rule": {"level": 10, "description": "sshd: brute force", "id": "5712"},
        "agent": {"id": "004", "name": "bastion-01"},
        "id": "dl.1",
        "data": {"srcip": "203.0.113.9"}
    });
    // Kept when an older parser rejected it.
    let id = store
        .add_dead_letter(&NewDeadLetter {
            received_at: t0(),
            sender: Some("wazuh-prod"),
            format: Some("wazuh"),
            content_type: Some("application/json"),
            reason: "rule.level: not understood",
            field: Some("rule.level"),
            body: &serde_json::to_vec(&good).expect("json"),
            drill: false,
        })
        .await
        .expect("dead letter");
    let garbage = store
        .add_dead_letter(&NewDeadLetter {
            received_at: t0(),
            sender: Some("wazuh-prod"),
            format: Some("wazuh"),
            content_type: Some("application/json"),
            reason: "invalid JSON",
            field: Some("body"),
            body: b"{nope",
            drill: false,
        })
        .await
        .expect("dead letter");
    let env = [("CORDON_DATABASE_URL", db.url.as_str())];
    let (code, out, err) = cordon(&["dead-letters", "replay", &id.to_string()], &env);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("ingested 1 alerts"), "{out}");
    let incidents = store
        .list_incidents(&Default::default())
        .await
        .expect("incidents");
    assert_eq!(incidents.len(), 1);
    let alerts = store
        .alerts_of_incident(cordon::domain::IncidentId(incidents[0].id))
        .await
        .expect("alerts");
    assert_eq!(
        alerts[0].sender, "wazuh-prod",
        "the original sender is kept"
    );
    let (code, out, _) = cordon(&["dead-letters", "replay", &garbage.to_string()], &env);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("still rejected"), "{out}");
    let (code, out, _) = cordon(&["dead-letters", "list"], &env);
    assert_eq!(code, 0);
    assert!(
        out.lines()
            .any(|l| l.starts_with(&format!("{id}\t")) && l.contains("replayed")),
        "{out}"
    );
    store.close().await;
}
