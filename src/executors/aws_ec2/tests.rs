use super::*;
use crate::domain::ActionTarget;
use crate::executors::tests::{env, request};
use chrono::{NaiveDateTime, TimeZone, Utc};
use wiremock::matchers::{body_string_contains, header, method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

fn connector(server: &MockServer, dry_run: bool) -> AwsEc2 {
    let cfg = AwsEc2Config {
        region: "eu-west-1".into(),
        base_url: Some(server.uri()),
        quarantine_group_id: "sg-quarantine".into(),
        access_key_id_env: "AK".into(),
        secret_access_key_env: "SK".into(),
        session_token_env: Some("ST".into()),
        dry_run,
        timeout: Duration::from_secs(5),
    };
    AwsEc2::new(
        &cfg,
        &env(&[
            ("AK", "AKIDTEST"),
            ("SK", "secret-key"),
            ("ST", "session-tok"),
        ]),
    )
    .unwrap()
}

fn quarantine_req() -> ExecRequest {
    request(
        ActionKind::QuarantineInstance,
        ActionTarget::cloud("web-01"),
        &[("ec2_instance_id", "i-1")],
    )
}

fn describe_xml(groups: &[&str], enis: usize) -> String {
    let items: String = groups
        .iter()
        .map(|g| format!("<item><groupId>{g}</groupId><groupName>n-{g}</groupName></item>"))
        .collect();
    // The primary ENI (eni-0) carries the instance's groups; others their own.
    let nics: String = (0..enis)
        .map(|i| {
            let g = if i == 0 {
                items.clone()
            } else {
                format!("<item><groupId>sg-eni{i}</groupId></item>")
            };
            format!(
                "<item><networkInterfaceId>eni-{i}</networkInterfaceId>\
                 <subnetId>subnet-1</subnetId><groupSet>{g}</groupSet></item>"
            )
        })
        .collect();
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<DescribeInstancesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">
  <requestId>r-1</requestId>
  <reservationSet><item><reservationId>r-1</reservationId><groupSet/>
    <instancesSet><item>
      <instanceId>i-1</instanceId>
      <groupSet>{items}</groupSet>
      <networkInterfaceSet>{nics}</networkInterfaceSet>
    </item></instancesSet>
  </item></reservationSet>
</DescribeInstancesResponse>"#
    )
}

const MODIFY_OK: &str = r#"<ModifyInstanceAttributeResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>r-2</requestId><return>true</return></ModifyInstanceAttributeResponse>"#;

fn error_xml(code: &str) -> String {
    format!(
        "<Response><Errors><Error><Code>{code}</Code><Message>msg for {code}</Message></Error></Errors><RequestID>r</RequestID></Response>"
    )
}

async fn describe_mock(server: &MockServer, groups: &[&str], enis: usize, times: u64) {
    Mock::given(method("POST"))
        .and(path("/"))
        .and(body_string_contains(
            "Action=DescribeInstances&Version=2016-11-15&InstanceId.1=i-1",
        ))
        .respond_with(ResponseTemplate::new(200).set_body_string(describe_xml(groups, enis)))
        .up_to_n_times(times)
        .mount(server)
        .await;
}

async fn modify_mock(server: &MockServer, params: &str, times: u64) {
    Mock::given(method("POST"))
        .and(path("/"))
        .and(header(
            "content-type",
            "application/x-www-form-urlencoded; charset=utf-8",
        ))
        .and(body_string_contains(params))
        .respond_with(ResponseTemplate::new(200).set_body_string(MODIFY_OK))
        .expect(times)
        .mount(server)
        .await;
}

fn hdr<'a>(r: &'a Request, name: &str) -> &'a str {
    r.headers.get(name).unwrap().to_str().unwrap()
}

/// Recomputes the SigV4 signature from the request as the server got it.
fn assert_signed(r: &Request, region: &str) {
    let date = hdr(r, "x-amz-date");
    let time =
        Utc.from_utc_datetime(&NaiveDateTime::parse_from_str(date, "%Y%m%dT%H%M%SZ").unwrap());
    let headers = vec![
        ("content-type".to_owned(), hdr(r, "content-type").to_owned()),
        ("host".to_owned(), hdr(r, "host").to_owned()),
        ("x-amz-date".to_owned(), date.to_owned()),
        (
            "x-amz-security-token".to_owned(),
            hdr(r, "x-amz-security-token").to_owned(),
        ),
    ];
    let creds = sigv4::Credentials {
        access_key_id: "AKIDTEST".into(),
        secret_access_key: Secret::new("secret-key"),
        session_token: None,
    };
    let expected = sigv4::authorization(
        &sigv4::Request {
            method: "POST",
            path: "/",
            query: "",
            headers: &headers,
            payload: &r.body,
        },
        &creds,
        region,
        "ec2",
        time,
    );
    assert_eq!(hdr(r, "authorization"), expected);
    assert!(expected.contains(&format!("/{region}/ec2/aws4_request")));
    assert!(expected.contains("SignedHeaders=content-type;host;x-amz-date;x-amz-security-token"));
}

#[tokio::test]
async fn quarantine_saves_the_current_groups_and_swaps_in_the_quarantine_group_with_signed_requests()
 {
    let server = MockServer::start().await;
    describe_mock(&server, &["sg-a", "sg-b"], 1, 1).await;
    modify_mock(
        &server,
        "Action=ModifyInstanceAttribute&Version=2016-11-15&InstanceId=i-1&GroupId.1=sg-quarantine",
        1,
    )
    .await;
    let out = connector(&server, false)
        .execute(&quarantine_req())
        .await
        .unwrap();
    assert!(!out.already && !out.confirmed);
    assert_eq!(
        out.saved_state,
        Some(serde_json::json!({
            "instance_id": "i-1", "region": "eu-west-1", "groups": ["sg-a", "sg-b"],
            "interfaces": [{"id": "eni-0", "groups": ["sg-a", "sg-b"]}]
        }))
    );
    let got = server.received_requests().await.unwrap();
    assert_eq!(got.len(), 2);
    for r in &got {
        assert_signed(r, "eu-west-1");
        assert_eq!(hdr(r, "x-amz-security-token"), "session-tok");
    }
}

#[tokio::test]
async fn release_restores_the_previous_groups_from_the_saved_state() {
    let server = MockServer::start().await;
    describe_mock(&server, &["sg-quarantine"], 1, 1).await;
    modify_mock(&server, "InstanceId=i-1&GroupId.1=sg-a&GroupId.2=sg-b", 1).await;
    let mut req = quarantine_req();
    req.action = ActionKind::ReleaseInstance;
    req.previous = Some(serde_json::json!({"instance_id": "i-1", "groups": ["sg-a", "sg-b"]}));
    let out = connector(&server, false).execute(&req).await.unwrap();
    assert!(!out.already);
    assert_eq!(out.saved_state, None);
}

#[tokio::test]
async fn the_region_attribute_selects_the_signing_region() {
    let server = MockServer::start().await;
    describe_mock(&server, &["sg-a"], 1, 1).await;
    modify_mock(&server, "GroupId.1=sg-quarantine", 1).await;
    let mut req = quarantine_req();
    req.attributes
        .insert("aws_region".into(), "us-east-2".into());
    let out = connector(&server, false).execute(&req).await.unwrap();
    assert_eq!(out.saved_state.unwrap()["region"], "us-east-2");
    for r in &server.received_requests().await.unwrap() {
        assert_signed(r, "us-east-2");
    }
}

#[tokio::test]
async fn an_instance_already_in_the_quarantine_group_is_not_modified() {
    let server = MockServer::start().await;
    describe_mock(&server, &["sg-quarantine"], 1, 1).await;
    modify_mock(&server, "Action=ModifyInstanceAttribute", 0).await;
    let out = connector(&server, false)
        .execute(&quarantine_req())
        .await
        .unwrap();
    assert!(out.already && out.confirmed);
}

#[tokio::test]
async fn release_without_saved_groups_is_permanent_and_sends_nothing() {
    let server = MockServer::start().await;
    let mut req = quarantine_req();
    req.action = ActionKind::ReleaseInstance;
    let err = connector(&server, false).execute(&req).await.unwrap_err();
    assert!(!err.is_retryable());
    assert!(server.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn an_instance_with_two_network_interfaces_is_quarantined_per_interface_and_restored_the_same_way()
 {
    let server = MockServer::start().await;
    describe_mock(&server, &["sg-a"], 2, 1).await;
    modify_mock(&server, "Action=ModifyInstanceAttribute", 0).await;
    for i in 0..2 {
        modify_mock(
            &server,
            &format!(
                "Action=ModifyNetworkInterfaceAttribute&Version=2016-11-15\
                 &NetworkInterfaceId=eni-{i}&SecurityGroupId.1=sg-quarantine"
            ),
            1,
        )
        .await;
    }
    let out = connector(&server, false)
        .execute(&quarantine_req())
        .await
        .unwrap();
    let saved = out.saved_state.unwrap();
    assert_eq!(
        saved["interfaces"],
        serde_json::json!([
            {"id": "eni-0", "groups": ["sg-a"]},
            {"id": "eni-1", "groups": ["sg-eni1"]}
        ])
    );

    // Release: both ENIs are quarantined now; each gets its own groups back.
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(body_string_contains("Action=DescribeInstances"))
        .respond_with(ResponseTemplate::new(200).set_body_string(
            describe_xml(&["sg-quarantine"], 2).replace("sg-eni1", "sg-quarantine"),
        ))
        .mount(&server)
        .await;
    modify_mock(
        &server,
        "NetworkInterfaceId=eni-0&SecurityGroupId.1=sg-a",
        1,
    )
    .await;
    modify_mock(
        &server,
        "NetworkInterfaceId=eni-1&SecurityGroupId.1=sg-eni1",
        1,
    )
    .await;
    let mut req = quarantine_req();
    req.action = ActionKind::ReleaseInstance;
    req.previous = Some(saved);
    let out = connector(&server, false).execute(&req).await.unwrap();
    assert!(!out.already);
}

#[tokio::test]
async fn a_partly_quarantined_multi_interface_instance_only_gets_the_missing_interface() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(body_string_contains("Action=DescribeInstances"))
        .respond_with(
            ResponseTemplate::new(200).set_body_string(describe_xml(&["sg-quarantine"], 2)),
        )
        .mount(&server)
        .await;
    modify_mock(&server, "NetworkInterfaceId=eni-0", 0).await;
    modify_mock(
        &server,
        "NetworkInterfaceId=eni-1&SecurityGroupId.1=sg-quarantine",
        1,
    )
    .await;
    connector(&server, false)
        .execute(&quarantine_req())
        .await
        .unwrap();
}

async fn modify_answer(status: u16, code: &str) -> ExecError {
    let server = MockServer::start().await;
    describe_mock(&server, &["sg-a"], 1, 1).await;
    Mock::given(method("POST"))
        .and(body_string_contains("Action=ModifyInstanceAttribute"))
        .respond_with(ResponseTemplate::new(status).set_body_string(error_xml(code)))
        .mount(&server)
        .await;
    connector(&server, false)
        .execute(&quarantine_req())
        .await
        .unwrap_err()
}

#[tokio::test]
async fn throttling_is_retryable_and_permission_or_unknown_group_errors_are_permanent() {
    let err = modify_answer(503, "RequestLimitExceeded").await;
    assert!(err.is_retryable(), "{err}");
    assert!(err.to_string().contains("RequestLimitExceeded"));
    assert!(modify_answer(500, "InternalError").await.is_retryable());
    let err = modify_answer(403, "UnauthorizedOperation").await;
    assert!(!err.is_retryable(), "{err}");
    let err = modify_answer(400, "InvalidGroup.NotFound").await;
    assert!(!err.is_retryable());
    assert!(
        err.to_string().contains("msg for InvalidGroup.NotFound"),
        "{err}"
    );
}

#[tokio::test]
async fn confirmation_rereads_the_groups() {
    let server = MockServer::start().await;
    describe_mock(&server, &["sg-a"], 1, 1).await;
    describe_mock(&server, &["sg-quarantine"], 1, 1).await;
    let ec2 = connector(&server, false);
    let out = ExecOutcome::default();
    assert_eq!(
        ec2.confirm(&quarantine_req(), &out).await.unwrap(),
        Confirmation::Pending
    );
    assert_eq!(
        ec2.confirm(&quarantine_req(), &out).await.unwrap(),
        Confirmation::Confirmed
    );
}

#[tokio::test]
async fn dry_run_sends_nothing() {
    let server = MockServer::start().await;
    let ec2 = connector(&server, true);
    assert!(ec2.execute(&quarantine_req()).await.unwrap().dry_run);
    ec2.healthcheck().await.unwrap();
    assert!(server.received_requests().await.unwrap().is_empty());
}

/// An EC2 region that knows its instances and answers like the real one:
/// an instance id it does not have is `InvalidInstanceID.NotFound` (or
/// `.Malformed` when it is not shaped like one), 400, in both calls (§6.2).
struct Region(Vec<&'static str>);

impl Respond for Region {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let form: Vec<(String, String)> = url::form_urlencoded::parse(&req.body)
            .into_owned()
            .collect();
        let get = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        let id = get("InstanceId.1")
            .or_else(|| get("InstanceId"))
            .unwrap_or_default();
        if !id.starts_with("i-") {
            return ResponseTemplate::new(400)
                .set_body_string(error_xml("InvalidInstanceID.Malformed"));
        }
        if !self.0.contains(&id.as_str()) {
            return ResponseTemplate::new(400)
                .set_body_string(error_xml("InvalidInstanceID.NotFound"));
        }
        match get("Action").as_deref() {
            Some("DescribeInstances") => ResponseTemplate::new(200)
                .set_body_string(describe_xml(&["sg-a"], 1).replace("i-1", &id)),
            Some("ModifyInstanceAttribute") => {
                ResponseTemplate::new(200).set_body_string(MODIFY_OK)
            }
            _ => ResponseTemplate::new(400).set_body_string(error_xml("InvalidAction")),
        }
    }
}

async fn region(server: &MockServer, instances: &[&'static str]) {
    Mock::given(method("POST"))
        .respond_with(Region(instances.to_vec()))
        .mount(server)
        .await;
}

fn form_of(r: &Request) -> String {
    String::from_utf8_lossy(&r.body).into_owned()
}

#[tokio::test]
async fn a_target_that_is_an_instance_id_is_used_as_is_without_the_attribute() {
    let server = MockServer::start().await;
    region(&server, &["i-0abc123def4567890", "i-1234abcd"]).await;
    let ec2 = connector(&server, false);
    for id in ["i-0abc123def4567890", "i-1234abcd"] {
        let r = request(ActionKind::QuarantineInstance, ActionTarget::cloud(id), &[]);
        let out = ec2.execute(&r).await.unwrap();
        assert_eq!(out.saved_state.unwrap()["instance_id"], id);
    }
    let got = server.received_requests().await.unwrap();
    assert_eq!(got.len(), 4);
    assert!(form_of(&got[1]).contains("InstanceId=i-0abc123def4567890&GroupId.1=sg-quarantine"));
    assert!(form_of(&got[3]).contains("InstanceId=i-1234abcd&GroupId.1=sg-quarantine"));
}

#[tokio::test]
async fn a_name_is_refused_before_any_request_and_the_error_names_it() {
    let server = MockServer::start().await;
    region(&server, &["i-0abc123def4567890"]).await;
    let ec2 = connector(&server, false);
    for name in [
        "web-01",
        "i-xyz",
        "i-0ABC123DEF4567890",
        "i-0abc123def456789",
        "ip-10-0-0-1.ec2.internal",
    ] {
        let r = request(
            ActionKind::QuarantineInstance,
            ActionTarget::cloud(name),
            &[],
        );
        let err = ec2.execute(&r).await.unwrap_err();
        assert!(!err.is_retryable(), "{err}");
        assert!(
            err.to_string()
                .contains(&format!("{name:?} is not an EC2 instance id")),
            "{err}"
        );
        let host = request(ActionKind::IsolateHost, ActionTarget::host(name), &[]);
        assert!(ec2.execute(&host).await.is_err());
        let err = ec2.confirm(&r, &ExecOutcome::default()).await.unwrap_err();
        assert!(!err.is_retryable(), "{err}");
    }
    assert!(server.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn an_instance_id_the_region_does_not_have_is_a_permanent_error_and_nothing_is_modified() {
    let server = MockServer::start().await;
    region(&server, &["i-0abc123def4567890"]).await;
    let r = request(
        ActionKind::QuarantineInstance,
        ActionTarget::cloud("i-0fff000fff000fff0"),
        &[],
    );
    let err = connector(&server, false).execute(&r).await.unwrap_err();
    assert!(!err.is_retryable(), "{err}");
    assert!(
        err.to_string().contains("InvalidInstanceID.NotFound"),
        "{err}"
    );
    let got = server.received_requests().await.unwrap();
    assert_eq!(got.len(), 1);
    assert!(form_of(&got[0]).starts_with("Action=DescribeInstances"));
}
