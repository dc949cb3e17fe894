use super::*;
use crate::domain::ActionTarget;
use crate::executors::tests::request;
use std::collections::BTreeMap;

fn connector(program: &str, args: &[&str], retryable: &[i32]) -> Command {
    Command::new(&CommandConfig {
        program: program.into(),
        args: args.iter().map(|a| (*a).to_owned()).collect(),
        actions: vec![],
        retryable_exit_codes: retryable.to_vec(),
        max_output: 4096,
        dry_run: false,
        timeout: Duration::from_secs(5),
        pass_env: vec![],
        env: BTreeMap::new(),
    })
    .unwrap()
}

fn block_req(target: &str) -> ExecRequest {
    request(ActionKind::BlockIp, ActionTarget::ip(target), &[])
}

#[tokio::test]
async fn placeholders_are_substituted_per_argument_and_no_shell_interprets_the_target() {
    let echo = connector(
        "echo",
        &["id={decision_id}", "{action}", "--target={target}"],
        &[],
    );
    let out = echo
        .execute(&block_req("203.0.113.9; rm -rf / $(id)"))
        .await
        .unwrap();
    assert_eq!(
        out.vendor_ref.as_deref(),
        Some("id=dec-42 block_ip --target=203.0.113.9; rm -rf / $(id)")
    );
    assert_eq!(
        out.saved_state,
        Some(
            serde_json::json!({"stdout": "id=dec-42 block_ip --target=203.0.113.9; rm -rf / $(id)"})
        )
    );
}

#[tokio::test]
async fn json_on_stdout_becomes_the_saved_state() {
    let out = connector("echo", &[r#"{"rule":"r-1"}"#], &[])
        .execute(&block_req("203.0.113.9"))
        .await
        .unwrap();
    assert_eq!(out.saved_state, Some(serde_json::json!({"rule": "r-1"})));
}

#[tokio::test]
async fn exit_zero_is_success_even_without_output() {
    let out = connector("true", &[], &[])
        .execute(&block_req("x"))
        .await
        .unwrap();
    assert_eq!(out.vendor_ref, None);
    assert!(out.confirmed && !out.dry_run);
}

#[tokio::test]
async fn a_listed_exit_code_is_retryable_and_any_other_is_permanent() {
    assert!(
        connector("false", &[], &[1])
            .execute(&block_req("x"))
            .await
            .unwrap_err()
            .is_retryable()
    );
    assert!(
        !connector("false", &[], &[75])
            .execute(&block_req("x"))
            .await
            .unwrap_err()
            .is_retryable()
    );
}

#[tokio::test]
async fn a_missing_program_is_permanent() {
    let err = connector("/nonexistent/cordon-tool", &[], &[])
        .execute(&block_req("x"))
        .await
        .unwrap_err();
    assert!(!err.is_retryable(), "{err}");
}

#[tokio::test]
async fn a_command_that_outlives_its_timeout_is_killed_and_retryable() {
    let mut cfg = connector("sleep", &["5"], &[]).cfg;
    cfg.timeout = Duration::from_millis(200);
    let started = std::time::Instant::now();
    let err = Command::new(&cfg)
        .unwrap()
        .execute(&block_req("x"))
        .await
        .unwrap_err();
    assert!(err.is_retryable(), "{err}");
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn stdout_is_capped() {
    let mut cfg = connector("echo", &["0123456789abcdef"], &[]).cfg;
    cfg.max_output = 10;
    let out = Command::new(&cfg)
        .unwrap()
        .execute(&block_req("x"))
        .await
        .unwrap();
    assert_eq!(out.vendor_ref.as_deref(), Some("0123456789"));
}

#[tokio::test]
async fn dry_run_runs_nothing() {
    let mut cfg = connector("false", &[], &[]).cfg;
    cfg.dry_run = true;
    let out = Command::new(&cfg)
        .unwrap()
        .execute(&block_req("x"))
        .await
        .unwrap();
    assert!(out.dry_run);
}

#[tokio::test]
async fn a_failing_program_reports_its_stderr() {
    // `ls` of a missing path exits non-zero with a message on stderr.
    let err = connector("ls", &["/nonexistent-cordon-path"], &[])
        .execute(&block_req("x"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("nonexistent-cordon-path"), "{err}");
}

#[tokio::test]
async fn a_target_that_starts_with_a_dash_never_becomes_an_option() {
    // `echo -n` would take it as "no newline" (and `rm {target}` as -rf):
    // the argument is refused before anything runs.
    let echo = connector("echo", &["{target}"], &[]);
    for target in ["-n", "-rf", "--config=/tmp/x"] {
        let err = echo.execute(&block_req(target)).await.unwrap_err();
        assert!(!err.is_retryable(), "{err}");
        assert!(err.to_string().contains("would become the option"), "{err}");
    }
    // The operator's own option, with the value glued to it, is fine, and
    // so is a dash later in the value.
    let out = connector("echo", &["--target={target}", "{target}"], &[])
        .execute(&block_req("host-1"))
        .await
        .unwrap();
    assert_eq!(out.vendor_ref.as_deref(), Some("--target=host-1 host-1"));
}

#[tokio::test]
async fn a_target_that_starts_with_a_dash_is_not_run_at_all() {
    // Nothing is created: `touch` never ran with the injected option.
    let dir = tempfile::tempdir().unwrap();
    let made = dir.path().join("made");
    let touch = connector("touch", &["{target}", made.to_str().unwrap()], &[]);
    assert!(touch.execute(&block_req("-c")).await.is_err());
    assert!(!made.exists());
}

#[tokio::test]
async fn the_program_sees_only_the_allowed_environment() {
    let mut cfg = connector("env", &[], &[]).cfg;
    cfg.pass_env = vec!["TOOL_TOKEN_NOT_SET".into()];
    cfg.env = BTreeMap::from([("TOOL_MODE".to_owned(), "strict".to_owned())]);
    let mut req = block_req("203.0.113.9");
    req.previous = Some(serde_json::json!({"rule": "r-1"}));
    let out = Command::new(&cfg).unwrap().execute(&req).await.unwrap();
    let Some(serde_json::Value::String(env)) = out.saved_state.map(|s| s["stdout"].clone()) else {
        panic!("env printed nothing")
    };
    let names: Vec<&str> = env
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, _)| k)
        .collect();
    for name in &names {
        assert!(
            BASE_ENV.contains(name)
                || ["TOOL_MODE", "CORDON_DECISION_ID", "CORDON_PREVIOUS"].contains(name),
            "the program saw {name}: {env}"
        );
    }
    assert!(env.contains("TOOL_MODE=strict"), "{env}");
    assert!(env.contains("CORDON_DECISION_ID=dec-42"), "{env}");
    assert!(env.contains(r#"CORDON_PREVIOUS={"rule":"r-1"}"#), "{env}");
    // cargo runs tests with CARGO_* set: inherited before, not now.
    assert!(std::env::var("CARGO_MANIFEST_DIR").is_ok());
    assert!(!names.contains(&"CARGO_MANIFEST_DIR"), "{env}");
}

#[test]
fn cordon_variables_cannot_be_passed_to_the_program() {
    let mut cfg = connector("env", &[], &[]).cfg;
    cfg.pass_env = vec!["CORDON_WEB_SECRET".into()];
    let err = Command::new(&cfg).unwrap_err();
    assert!(err.to_string().contains("CORDON_WEB_SECRET"), "{err}");
    let mut cfg = connector("env", &[], &[]).cfg;
    cfg.env = BTreeMap::from([("CORDON_DATABASE_URL".to_owned(), "x".to_owned())]);
    assert!(Command::new(&cfg).is_err());
}
