use super::*;
use crate::domain::ActionTarget;
use crate::executors::tests::request;

fn connector(program: &str, args: &[&str], retryable: &[i32]) -> Command {
    Command::new(&CommandConfig {
        program: program.into(),
        args: args.iter().map(|a| (*a).to_owned()).collect(),
        actions: vec![],
        retryable_exit_codes: retryable.to_vec(),
        max_output: 4096,
        dry_run: false,
        timeout: Duration::from_secs(5),
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
