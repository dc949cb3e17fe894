//! The web console over real HTTP: sign-in with one-time links, sessions,
//! CSRF, and acting on decisions through the same engine entry point as chat.

mod common;

use common::app::{Options, TestApp, WEB_SECRET, crowdstrike_alert, csrf_of, spawn_app};
use cordon::clock::Clock;
use cordon::web::auth::WebKeys;
use std::time::Duration;

async fn pending_crown_jewel(app: &TestApp) -> cordon::store::DecisionRow {
    let r = app
        .post_alert(
            "crowdstrike",
            &crowdstrike_alert("db-prod-01", "aiddb01", 90, "d-db"),
        )
        .await;
    assert_eq!(r.status(), 202);
    app.eventually("the isolation waits for approval", || async {
        app.decisions()
            .await
            .iter()
            .any(|d| d.state == "pending_approval")
    })
    .await;
    app.decisions()
        .await
        .into_iter()
        .find(|d| d.state == "pending_approval")
        .expect("decision")
}

#[tokio::test]
async fn without_a_session_every_page_except_sign_in_redirects() {
    let app = spawn_app(Options::default()).await;
    let c = app.no_redirect();
    for path in [
        "/",
        "/incidents",
        "/incidents/1",
        "/matrix",
        "/reports",
        "/reports.csv",
        "/reports.json",
    ] {
        let r = c
            .get(format!("{}{path}", app.url))
            .send()
            .await
            .expect("get");
        assert_eq!(r.status(), 303, "{path}");
        let to = r.headers()["location"].to_str().expect("loc");
        assert!(
            to == "/login" || (path == "/" && to == "/incidents"),
            "{path} → {to}"
        );
    }
    let r = c
        .get(format!("{}/login", app.url))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 200);
    // A POST without a session goes to sign-in too, and changes nothing.
    let r = c
        .post(format!("{}/decisions/1/act", app.url))
        .form(&[("verb", "approve")])
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 303);
    app.stop().await;
}

#[tokio::test]
async fn forged_expired_and_foreign_session_tokens_are_refused() {
    let app = spawn_app(Options::default()).await;
    let now = app.clock.now();
    let forged = WebKeys::new("an-attackers-secret-0123456789abcdef")
        .expect("keys")
        .session_token("carol", now, Duration::from_secs(3600))
        .expect("token")
        .0;
    let ours = WebKeys::new(WEB_SECRET).expect("keys");
    let expired = ours
        .session_token(
            "carol",
            now - chrono::Duration::hours(9),
            Duration::from_secs(8 * 3600),
        )
        .expect("token")
        .0;
    // A sign-in token is not a session, and a stranger to the matrix is nobody.
    let login_tok = ours
        .login_token(
            &cordon::domain::PersonId("carol".into()),
            now,
            Duration::from_secs(600),
        )
        .expect("token")
        .0;
    let stranger = ours
        .session_token("mallory", now, Duration::from_secs(3600))
        .expect("t")
        .0;
    // `alg: none` with carol's claims.
    let none = format!(
        "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{}.",
        base64_url(&format!(
            r#"{{"sub":"carol","aud":"cordon-web","iat":{},"exp":{},"jti":"x"}}"#,
            now.timestamp(),
            now.timestamp() + 3600
        ))
    );
    for (what, tok) in [
        ("forged", forged),
        ("expired", expired),
        ("login token", login_tok),
        ("stranger", stranger),
        ("alg none", none),
    ] {
        let (status, _) = app
            .page(&format!("cordon_session={tok}"), "/incidents")
            .await;
        assert_eq!(status, 303, "{what} must be refused");
    }
    // A good session works, until the clock passes its lifetime.
    let cookie = app.sign_in("carol").await;
    assert_eq!(app.page(&cookie, "/incidents").await.0, 200);
    app.clock.advance(Duration::from_secs(8 * 3600 + 1));
    assert_eq!(
        app.page(&cookie, "/incidents").await.0,
        303,
        "session expired"
    );
    app.stop().await;
}

fn base64_url(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s)
}

#[tokio::test]
async fn a_sign_in_link_works_once_and_not_after_it_expires() {
    let app = spawn_app(Options::default()).await;
    let link = app.login_link("alice");
    // Opening the link shows a button and does not use it up.
    let r = app.http.get(&link).send().await.expect("get");
    assert_eq!(r.status(), 200);
    assert!(r.text().await.expect("body").contains("Sign in as alice"));
    let token = link.split("token=").nth(1).expect("token").to_owned();
    let post = || {
        app.no_redirect()
            .post(format!("{}/login", app.url))
            .form(&[("token", token.clone())])
            .send()
    };
    assert_eq!(post().await.expect("first").status(), 303);
    let again = post().await.expect("second");
    assert_eq!(again.status(), 403, "a link works once");
    assert!(again.text().await.expect("body").contains("used already"));
    // An unused link past its lifetime is refused as well.
    let late = app.login_link("bob");
    app.clock.advance(Duration::from_secs(901));
    let token = late.split("token=").nth(1).expect("token").to_owned();
    let r = app
        .no_redirect()
        .post(format!("{}/login", app.url))
        .form(&[("token", token)])
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 403);
    assert!(r.text().await.expect("body").contains("expired"));
    app.stop().await;
}

#[tokio::test]
async fn a_post_without_the_csrf_token_is_refused_and_changes_nothing() {
    let app = spawn_app(Options::default()).await;
    let d = pending_crown_jewel(&app).await;
    let alice = app.sign_in("alice").await;
    let bob = app.sign_in("bob").await;
    let (_, bobs_page) = app
        .page(&bob, &format!("/incidents/{}", d.incident_id))
        .await;
    let bobs_csrf = csrf_of(&bobs_page);
    let url = format!("{}/decisions/{}/act", app.url, d.id);
    for form in [
        vec![("verb", "approve")],
        vec![("verb", "approve"), ("csrf", "0000")],
        vec![("verb", "approve"), ("csrf", bobs_csrf.as_str())],
    ] {
        let r = app
            .no_redirect()
            .post(&url)
            .header("cookie", &alice)
            .form(&form)
            .send()
            .await
            .expect("post");
        assert_eq!(r.status(), 403, "{form:?}");
    }
    let r = app
        .no_redirect()
        .post(format!("{}/logout", app.url))
        .header("cookie", &alice)
        .send()
        .await
        .expect("post");
    assert!(
        r.status() == 403 || r.status() == 415 || r.status() == 400,
        "{}",
        r.status()
    );
    let (_, l) = app
        .engine
        .store
        .get_decision(cordon::domain::DecisionId(d.id))
        .await
        .expect("get")
        .expect("d");
    assert!(
        !l.iter().any(|e| e.kind == "approved"),
        "nothing was approved"
    );
    app.stop().await;
}

#[tokio::test]
async fn responders_act_from_the_browser_under_the_same_matrix() {
    let app = spawn_app(Options::default()).await;
    let d = pending_crown_jewel(&app).await;
    let page_path = format!("/incidents/{}", d.incident_id);
    let act = |cookie: String, verb: &'static str, csrf: String| {
        let url = format!("{}/decisions/{}/act", app.url, d.id);
        let c = app.no_redirect();
        async move {
            c.post(url)
                .header("cookie", cookie)
                .form(&[("verb", verb), ("csrf", csrf.as_str())])
                .send()
                .await
                .expect("post")
        }
    };
    // dave is no approver: refused, with the rule and the roles that may act.
    let dave = app.sign_in("dave").await;
    let (_, p) = app.page(&dave, &page_path).await;
    let r = act(dave.clone(), "approve", csrf_of(&p)).await;
    assert_eq!(r.status(), 403);
    let body = r.text().await.expect("body");
    assert!(
        body.contains("crown-jewels") && body.contains("soc-lead"),
        "{body}"
    );

    // alice approves: 1 of 2; the page shows the approval in the timeline.
    let alice = app.sign_in("alice").await;
    let (status, p) = app.page(&alice, &page_path).await;
    assert_eq!(status, 200);
    assert!(
        p.contains("db-prod-01") && p.contains("pending_approval"),
        "{p}"
    );
    assert!(p.contains("Enrichment"), "enriched alert shown");
    let r = act(alice.clone(), "approve", csrf_of(&p)).await;
    assert_eq!(r.status(), 303);
    let (_, p) = app.page(&alice, &page_path).await;
    assert!(
        p.contains("<td>approved</td>")
            && p.contains("<td>alice</td>")
            && p.contains("<td>web</td>")
            && p.contains("<td>soc-lead</td>"),
        "{p}"
    );
    // carol (ciso) approves: quorum, then the veto window of 2 minutes.
    let carol = app.sign_in("carol").await;
    let (_, p) = app.page(&carol, &page_path).await;
    assert_eq!(
        act(carol.clone(), "approve", csrf_of(&p)).await.status(),
        303
    );
    assert_eq!(app.decision_state(d.id).await, "pending_veto");
    app.advance(Duration::from_secs(121)).await;
    app.until_state(d.id, "contained").await;
    let (_, p) = app.page(&carol, &page_path).await;
    assert!(p.contains("data-state=\"contained\""), "{p}");

    // The matrix page shows the grid and the findings.
    let (s, m) = app.page(&carol, "/matrix").await;
    assert_eq!(s, 200);
    assert!(
        m.contains("crown-jewels") && m.contains("crown-jewel") && m.contains("approval"),
        "{m}"
    );
    assert!(m.contains("id=\"findings\""));
    // ... and the guards that bound automation, per action.
    let guards = &m[m.find("id=\"guards\"").expect("the guards table")..];
    assert!(
        guards.contains("at most 10 automatic isolate_host per 10m")
            && guards.contains("never without a human approval")
            && guards.contains("block_ip: broader than"),
        "{guards}"
    );
    // The incident list filters.
    let (s, l) = app
        .page(&carol, "/incidents?status=contained&severity=high")
        .await;
    assert_eq!(s, 200);
    assert!(l.contains(&format!("inc-{}", d.incident_id)), "{l}");
    let (_, l) = app.page(&carol, "/incidents?status=resolved").await;
    assert!(!l.contains(&format!("inc-{}", d.incident_id)));
    let (s, _) = app.page(&carol, "/incidents?status=bogus").await;
    assert_eq!(s, 400);
    app.stop().await;
}

#[tokio::test]
async fn an_incident_page_with_more_alerts_than_it_shows_says_so() {
    let app = spawn_app(Options::default()).await;
    // 101 low alerts on one host in one request: one incident.
    let burst: Vec<serde_json::Value> = (0..101)
        .map(|i| crowdstrike_alert("ws-burst", "aidburst", 20, &format!("b-{i}")))
        .collect();
    let r = app
        .post_alert("crowdstrike", &serde_json::json!(burst))
        .await;
    assert_eq!(r.status(), 202);
    let body: serde_json::Value = r.json().await.expect("json");
    let incident = body["alerts"][0]["incident_id"].as_i64().expect("incident");
    assert!(
        body["alerts"]
            .as_array()
            .expect("alerts")
            .iter()
            .all(|a| a["incident_id"].as_i64() == Some(incident)),
        "{body}"
    );
    let carol = app.sign_in("carol").await;
    let (status, page) = app.page(&carol, &format!("/incidents/{incident}")).await;
    assert_eq!(status, 200);
    assert!(page.contains("Showing 100 of 101 alerts"), "{page}");
    assert_eq!(page.matches("<h3>alert-").count(), 100);
    assert!(page.contains(&format!("/v1/incidents/{incident}/alerts")));
    app.stop().await;
}
