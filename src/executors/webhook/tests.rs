use super::*;
use crate::domain::ActionTarget;
use crate::executors::tests::{assert_retry_after, env, request};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn connector(server: &MockServer, dry_run: bool) -> Webhook {
    let cfg = WebhookConfig {
        url: format!("{}/hooks/cordon", server.uri()),
        secret_env: "HOOK_SECRET".into(),
        actions: vec![],
        dry_run,
        timeout: Duration::from_secs(5),
    };
    Webhook::new(&cfg, &env(&[("HOOK_SECRET", "hook-key")])).unwrap()
}

fn block_req() -> ExecRequest {
    request(
        ActionKind::BlockIp,
        ActionTarget::ip("203.0.113.9"),
        &[("asn", "64500")],
    )
}

#[tokio::test]
async fn the_post_carries_the_decision_as_json_with_a_signature_the_receiver_can_verify() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/hooks/cordon"))
        .and(header("content-type", "application/json"))
        .and(header("idempotency-key", "dec-42"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({"id": "rule-7"})))
        .expect(1)
        .mount(&server)
        .await;
    let out = connector(&server, false)
        .execute(&block_req())
        .await
        .unwrap();
    assert_eq!(out.vendor_ref.as_deref(), Some("rule-7"));

    let got = &server.received_requests().await.unwrap()[0];
    let body: serde_json::Value = serde_json::from_slice(&got.body).unwrap();
    assert_eq!(
        body,
        serde_json::json!({
            "decision_id": "dec-42",
            "action": "block_ip",
            "target": {"kind": "ip", "value": "203.0.113.9"},
            "attributes": {"asn": "64500"},
            "reason": "ransomware on host"
        })
    );
    // What a receiver does: HMAC-SHA256 of the raw body with the shared secret.
    let sig = got
        .headers
        .get("x-cordon-signature")
        .unwrap()
        .to_str()
        .unwrap();
    let hex_sig = sig.strip_prefix("sha256=").unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(b"hook-key").unwrap();
    mac.update(&got.body);
    mac.verify_slice(&hex::decode(hex_sig).unwrap()).unwrap();
    let ts: u64 = got
        .headers
        .get("x-cordon-timestamp")
        .unwrap()
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(ts > 1_700_000_000);
    // A different secret does not verify.
    let mut wrong = Hmac::<Sha256>::new_from_slice(b"other").unwrap();
    wrong.update(&got.body);
    assert!(wrong.verify_slice(&hex::decode(hex_sig).unwrap()).is_err());
}

#[tokio::test]
async fn the_inverse_action_sends_the_previous_state() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&server)
        .await;
    let mut req = block_req();
    req.action = ActionKind::UnblockIp;
    req.previous = Some(serde_json::json!({"id": "rule-7"}));
    connector(&server, false).execute(&req).await.unwrap();
    let got = &server.received_requests().await.unwrap()[0];
    let body: serde_json::Value = serde_json::from_slice(&got.body).unwrap();
    assert_eq!(body["previous"]["id"], "rule-7");
}

async fn answer(resp: ResponseTemplate) -> Result<ExecOutcome, ExecError> {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(resp)
        .mount(&server)
        .await;
    connector(&server, false).execute(&block_req()).await
}

#[tokio::test]
async fn conflict_means_already_done_and_statuses_are_classified() {
    assert!(answer(ResponseTemplate::new(409)).await.unwrap().already);
    assert_retry_after(
        &answer(ResponseTemplate::new(429).insert_header("Retry-After", "3"))
            .await
            .unwrap_err(),
        3,
    );
    assert!(
        answer(ResponseTemplate::new(500))
            .await
            .unwrap_err()
            .is_retryable()
    );
    assert!(
        !answer(ResponseTemplate::new(400))
            .await
            .unwrap_err()
            .is_retryable()
    );
}

#[tokio::test]
async fn dry_run_sends_nothing() {
    let server = MockServer::start().await;
    assert!(
        connector(&server, true)
            .execute(&block_req())
            .await
            .unwrap()
            .dry_run
    );
    assert!(server.received_requests().await.unwrap().is_empty());
}

#[test]
fn the_signature_helper_matches_a_known_hmac_vector() {
    // RFC 4231 test case 2.
    assert_eq!(
        signature(b"Jefe", b"what do ya want for nothing?"),
        "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    );
}
