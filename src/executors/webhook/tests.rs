use super::*;
use crate::domain::ActionTarget;
use crate::executors::tests::{assert_retry_after, env, request};
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

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
        .and(header("idempotency-key", "dec-42:block_ip"))
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
    // What a receiver does (the module docs): check the timestamp, then the
    // HMAC of `timestamp.body`.
    let (ts, sig, body) = signed(got);
    assert!(ts > 1_700_000_000);
    assert_eq!(
        receiver_verifies(b"hook-key", &ts.to_string(), &sig, &body, now()),
        Ok(())
    );
    // A different secret does not verify.
    assert!(receiver_verifies(b"other", &ts.to_string(), &sig, &body, now()).is_err());
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// The timestamp, the signature header and the raw body of a request.
fn signed(got: &Request) -> (u64, String, Vec<u8>) {
    let h = |n: &str| got.headers.get(n).unwrap().to_str().unwrap().to_owned();
    (
        h("x-cordon-timestamp").parse().unwrap(),
        h("x-cordon-signature"),
        got.body.clone(),
    )
}

/// The receiver-side check exactly as the connector's docs describe it:
/// a timestamp within 5 minutes, then a constant-time HMAC comparison of
/// `timestamp + "." + body`.
fn receiver_verifies(
    secret: &[u8],
    ts: &str,
    sig: &str,
    body: &[u8],
    now: u64,
) -> Result<(), &'static str> {
    let t: u64 = ts.parse().map_err(|_| "bad timestamp")?;
    if t.abs_diff(now) > 300 {
        return Err("stale timestamp");
    }
    let hex_sig = sig.strip_prefix("sha256=").ok_or("no sha256=")?;
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).map_err(|_| "key")?;
    mac.update(ts.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.verify_slice(&hex::decode(hex_sig).map_err(|_| "hex")?)
        .map_err(|_| "bad signature")
}

#[tokio::test]
async fn a_captured_request_cannot_be_replayed_later_with_a_fresh_timestamp() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&server)
        .await;
    connector(&server, false)
        .execute(&block_req())
        .await
        .unwrap();
    let (ts, sig, body) = signed(&server.received_requests().await.unwrap()[0]);
    // The genuine request verifies now...
    assert_eq!(
        receiver_verifies(b"hook-key", &ts.to_string(), &sig, &body, ts),
        Ok(())
    );
    // ...and is refused as it is an hour later.
    assert_eq!(
        receiver_verifies(b"hook-key", &ts.to_string(), &sig, &body, ts + 3600),
        Err("stale timestamp")
    );
    // An attacker who captured it puts a fresh timestamp on it: the
    // signature covers the timestamp, so it no longer verifies.
    let fresh = (ts + 3600).to_string();
    assert_eq!(
        receiver_verifies(b"hook-key", &fresh, &sig, &body, ts + 3600),
        Err("bad signature")
    );
}

/// A receiver that performs each `Idempotency-Key` once (200) and answers
/// every repeat with 409, as the docs ask receivers to; it records the keys
/// it performed.
#[derive(Clone, Default)]
struct DedupReceiver {
    performed: Arc<Mutex<Vec<String>>>,
    seen: Arc<Mutex<HashSet<String>>>,
}

impl Respond for DedupReceiver {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let Some(key) = req.headers.get("idempotency-key") else {
            return ResponseTemplate::new(400);
        };
        let key = key.to_str().unwrap_or_default().to_owned();
        if !self.seen.lock().unwrap().insert(key.clone()) {
            return ResponseTemplate::new(409);
        }
        self.performed.lock().unwrap().push(key);
        ResponseTemplate::new(200).set_body_json(serde_json::json!({"id": "rule-7"}))
    }
}

#[tokio::test]
async fn the_inverse_is_not_swallowed_as_a_repeat_of_the_action_and_a_retry_is() {
    let server = MockServer::start().await;
    let receiver = DedupReceiver::default();
    Mock::given(method("POST"))
        .respond_with(receiver.clone())
        .mount(&server)
        .await;
    let hook = connector(&server, false);
    let block = block_req();
    assert!(!hook.execute(&block).await.unwrap().already);
    // A retry of the same step (its first attempt did arrive) is a repeat.
    assert!(hook.execute(&block).await.unwrap().already);
    // The release of the same decision is a different step: performed.
    let mut unblock = block_req();
    unblock.action = ActionKind::UnblockIp;
    unblock.previous = Some(serde_json::json!({"id": "rule-7"}));
    let out = hook.execute(&unblock).await.unwrap();
    assert!(
        !out.already,
        "the unblock was dropped as a repeat of the block: the IP stays blocked"
    );
    assert_eq!(
        *receiver.performed.lock().unwrap(),
        ["dec-42:block_ip", "dec-42:unblock_ip"]
    );
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
    // HMAC-SHA256(key "Jefe", "1700000000.what do ya want for nothing?"),
    // computed with Python's hmac module.
    assert_eq!(
        signature(b"Jefe", 1_700_000_000, b"what do ya want for nothing?"),
        "sha256=1cdd0650c8be1cb0974b1788d458b1e781206cfef59b85faafc582d2e182c57e"
    );
}
