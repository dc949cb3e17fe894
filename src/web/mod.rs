//! The web console: incidents, their decisions and timelines, the authority
//! matrix, reports — and the same Approve / Deny / Veto / Override / Extend
//! / Release / Retry buttons as in chat, through the same
//! [`Engine::act`](crate::engine::Engine::act) entry point and the same
//! authorisation. Server-rendered HTML from `templates/web/` (operator
//! overridable), no JavaScript.
//!
//! Handlers are thin: the [`Session`] extractor authenticates (a page
//! without a session redirects to `/login`), [`CsrfForm`] checks the form
//! token before anything else is read, then one store or engine call.

pub mod auth;

use crate::domain::decision::Verb;
use crate::domain::{
    ActionContext, ActionKind, Actor, DecisionId, IncidentId, Platform, Severity, Timestamp,
};
use crate::engine::{Engine, EngineError};
use crate::report::{self, ReportQuery, ReportsConfig, SlaTargets};
use crate::store::IncidentFilter;
use crate::templates::Templates;
use auth::{AuthError, SESSION_COOKIE, WebKeys, cookie};
use axum::Router;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// Embedded default pages; files of the same name in the templates folder win.
pub const TEMPLATES: &[(&str, &str)] = &[
    (
        "web/base.html",
        include_str!("../../templates/web/base.html"),
    ),
    (
        "web/login.html",
        include_str!("../../templates/web/login.html"),
    ),
    (
        "web/incidents.html",
        include_str!("../../templates/web/incidents.html"),
    ),
    (
        "web/incident.html",
        include_str!("../../templates/web/incident.html"),
    ),
    (
        "web/matrix.html",
        include_str!("../../templates/web/matrix.html"),
    ),
    (
        "web/reports.html",
        include_str!("../../templates/web/reports.html"),
    ),
    (
        "web/_report.html",
        include_str!("../../templates/web/_report.html"),
    ),
    (
        "web/message.html",
        include_str!("../../templates/web/message.html"),
    ),
    (
        "web/console.css",
        include_str!("../../templates/web/console.css"),
    ),
    (
        "report/report.html",
        include_str!("../../templates/report/report.html"),
    ),
];

/// State of the console's handlers.
#[derive(Clone)]
pub struct WebState {
    pub engine: Arc<Engine>,
    pub keys: Arc<WebKeys>,
    pub templates: Templates,
    pub reports: Arc<ReportsConfig>,
    pub sla: Arc<SlaTargets>,
    pub report_cache: Arc<ReportCache>,
    pub session_ttl: Duration,
    /// `Secure` on the cookie (the public URL is https).
    pub secure_cookie: bool,
}

/// The console's routes (merged into the app router by `app.rs`).
pub fn router(state: WebState) -> Router {
    Router::new()
        .route("/", get(|| async { Redirect::to("/incidents") }))
        .route("/login", get(login_page).post(login))
        .route("/logout", post(logout))
        .route("/incidents", get(incidents))
        .route("/incidents/{id}", get(incident))
        .route("/decisions/{id}/act", post(act))
        .route("/matrix", get(matrix))
        .route("/reports", get(reports_page))
        .route("/reports.csv", get(reports_csv))
        .route("/reports.json", get(reports_json))
        .route("/console.css", get(console_css))
        .layer(axum::middleware::map_response(console_headers))
        .with_state(state)
}

/// The console's Content-Security-Policy. Pages are server-rendered HTML
/// without JavaScript, so no script may run at all (an injected `<script>`
/// or `onclick` is dead); styles come only from `/console.css`; forms post
/// only to cordon; no page may be framed (clickjacking the Approve button).
pub const CONSOLE_CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self'; \
     form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Security headers on every console response (the app adds the general
/// ones to anything that lacks them, see [`crate::http::security_headers`]).
/// `no-store` because pages show incidents and carry the CSRF token, and
/// the sign-in page carries the one-time token: no browser or proxy cache
/// may keep them after sign-out. `Referrer-Policy: no-referrer` because the
/// sign-in URL carries that token, and a link followed from the page must
/// not hand it to another site.
async fn console_headers(mut resp: Response) -> Response {
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONSOLE_CSP),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    resp
}

/// The console's stylesheet (operators may override `web/console.css`).
async fn console_css(State(s): State<WebState>) -> Result<Response, WebError> {
    let css = s
        .templates
        .render("web/console.css", serde_json::json!({}))?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        css,
    )
        .into_response())
}

// ---------------------------------------------------------------------------
// Errors and the session extractor
// ---------------------------------------------------------------------------

/// What a console request can fail with. 4xx say what is wrong; 5xx log
/// the cause and show a generic page.
#[derive(Debug, thiserror::Error)]
pub enum WebError {
    #[error("sign in first")]
    SignIn,
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0} not found")]
    NotFound(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<crate::store::StoreError> for WebError {
    fn from(e: crate::store::StoreError) -> Self {
        WebError::Internal(e.to_string())
    }
}
impl From<crate::templates::TemplateError> for WebError {
    fn from(e: crate::templates::TemplateError) -> Self {
        WebError::Internal(e.to_string())
    }
}
impl From<crate::http::error::ApiError> for WebError {
    fn from(e: crate::http::error::ApiError) -> Self {
        WebError::Internal(e.error)
    }
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        let (status, msg) = match &self {
            WebError::SignIn => return Redirect::to("/login").into_response(),
            WebError::Forbidden(m) => (StatusCode::FORBIDDEN, m.clone()),
            WebError::BadRequest(m) => (StatusCode::BAD_REQUEST, m.clone()),
            WebError::NotFound(_) => (StatusCode::NOT_FOUND, self.to_string()),
            WebError::Internal(cause) => {
                tracing::error!(%cause, "web console error");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "something went wrong; the cause is in cordon's log".to_owned(),
                )
            }
        };
        // Plain, escaped text: error pages must render even when a template is broken.
        let body = format!(
            "<!doctype html><meta charset=utf-8><title>cordon: {code}</title><p>{}</p><p><a href=\"/incidents\">back to incidents</a></p>",
            report::svg::esc(&msg),
            code = status.as_u16()
        );
        (status, Html(body)).into_response()
    }
}

/// A signed-in person. Extracting it from a request without a valid session
/// cookie redirects to `/login`.
#[derive(Debug, Clone)]
pub struct Session {
    pub person: String,
    pub session_id: String,
    pub csrf: String,
    /// When the session token expires (unix seconds): a sign-out keeps its
    /// revocation until then.
    pub expires: i64,
}

impl FromRequestParts<WebState> for Session {
    type Rejection = WebError;
    async fn from_request_parts(parts: &mut Parts, s: &WebState) -> Result<Self, WebError> {
        let token = parts
            .headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(|h| cookie(h, SESSION_COOKIE))
            .ok_or(WebError::SignIn)?;
        let c = s
            .keys
            .verify_session(token, s.engine.now())
            .map_err(|_| WebError::SignIn)?;
        // A person removed from the matrix loses the console at once.
        if !s.engine.matrix().people.keys().any(|p| p.0 == c.sub) {
            return Err(WebError::SignIn);
        }
        // A signed-out session is over, although its token is still signed
        // and unexpired (a copied cookie must not outlive the sign-out).
        if s.engine.store.session_revoked(&c.jti).await? {
            return Err(WebError::SignIn);
        }
        Ok(Session {
            csrf: s.keys.csrf(&c.jti),
            person: c.sub,
            session_id: c.jti,
            expires: c.exp,
        })
    }
}

/// A form whose CSRF token was checked against the session first.
#[derive(Debug, Deserialize)]
pub struct ActForm {
    csrf: Option<String>,
    verb: String,
    reason: Option<String>,
}

fn check_csrf(s: &WebState, session: &Session, submitted: Option<&str>) -> Result<(), WebError> {
    match submitted {
        Some(t) if s.keys.csrf_ok(&session.session_id, t) => Ok(()),
        _ => Err(WebError::Forbidden(
            "the form's CSRF token is missing or wrong; reload the page and try again".into(),
        )),
    }
}

fn page(
    s: &WebState,
    name: &str,
    session: Option<&Session>,
    mut ctx: serde_json::Value,
) -> Result<Html<String>, WebError> {
    if let Some(o) = ctx.as_object_mut() {
        o.insert("me".into(), serde_json::json!(session.map(|x| &x.person)));
        o.insert("csrf".into(), serde_json::json!(session.map(|x| &x.csrf)));
    }
    Ok(Html(s.templates.render(name, ctx)?))
}

fn none_if_empty(v: Option<String>) -> Option<String> {
    v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}

// ---------------------------------------------------------------------------
// Sign-in
// ---------------------------------------------------------------------------

#[derive(Debug, Deserialize)]
struct TokenQuery {
    token: Option<String>,
    /// Where to land after signing in (`/reports` from `/cordon report`).
    next: Option<String>,
}

/// Only paths on this site, else `/`: a sign-in link must not send anyone
/// elsewhere (a phishing page that looks like cordon, right after a real
/// sign-in). Browsers read `//host`, `/\host` and `https://…` as other
/// sites, and they drop tabs and newlines from a URL before reading it, so
/// `/<TAB>/evil.example` is `//evil.example` too. So: one leading `/`,
/// no `//` or `\` anywhere, and only printable ASCII (no control
/// characters, whitespace or look-alike Unicode).
fn safe_next(next: Option<&str>) -> &str {
    match next {
        Some(n)
            if n.starts_with('/')
                && !n.contains("//")
                && !n.contains('\\')
                && n.chars().all(|c| c.is_ascii_graphic()) =>
        {
            n
        }
        _ => "/",
    }
}

/// Shows the sign-in button for a link (GET never consumes the token).
async fn login_page(
    State(s): State<WebState>,
    Query(q): Query<TokenQuery>,
) -> Result<Html<String>, WebError> {
    let (person, problem) = match q.token.as_deref() {
        None => (None, None),
        Some(t) => match s.keys.verify_login(t, s.engine.now()) {
            Ok(c) => (Some(c.sub), None),
            Err(e) => (None, Some(e.to_string())),
        },
    };
    page(
        &s,
        "web/login.html",
        None,
        serde_json::json!({ "token": q.token, "person": person, "problem": problem, "next": safe_next(q.next.as_deref()) }),
    )
}

#[derive(Debug, Deserialize)]
struct LoginForm {
    token: String,
    next: Option<String>,
}

/// Consumes a one-time token and starts a session.
async fn login(
    State(s): State<WebState>,
    axum::Form(f): axum::Form<LoginForm>,
) -> Result<Response, WebError> {
    let now = s.engine.now();
    let c = s
        .keys
        .verify_login(&f.token, now)
        .map_err(|e| WebError::Forbidden(e.to_string()))?;
    if !s.engine.matrix().people.keys().any(|p| p.0 == c.sub) {
        return Err(WebError::Forbidden(format!(
            "`{}` is not a person in the authority matrix",
            c.sub
        )));
    }
    let exp = chrono::DateTime::from_timestamp(c.exp, 0).unwrap_or(now);
    if !s
        .engine
        .store
        .use_login_token(&c.jti, &c.sub, exp, now)
        .await?
    {
        return Err(WebError::Forbidden(AuthError::Used.to_string()));
    }
    let (token, _) = s
        .keys
        .session_token(&c.sub, now, s.session_ttl)
        .map_err(|e| WebError::Internal(e.to_string()))?;
    tracing::info!(person = %c.sub, "web sign-in");
    let cookie = format!(
        "{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{}",
        s.session_ttl.as_secs(),
        if s.secure_cookie { "; Secure" } else { "" }
    );
    let mut resp = Redirect::to(safe_next(f.next.as_deref())).into_response();
    resp.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_str(&cookie).map_err(|e| WebError::Internal(e.to_string()))?,
    );
    Ok(resp)
}

#[derive(Debug, Deserialize)]
struct CsrfOnly {
    csrf: Option<String>,
}

async fn logout(
    State(s): State<WebState>,
    session: Session,
    axum::Form(f): axum::Form<CsrfOnly>,
) -> Result<Response, WebError> {
    check_csrf(&s, &session, f.csrf.as_deref())?;
    // Ended on the server, not only by clearing the cookie: a copy of the
    // cookie taken before (another tab's, a stolen one) is refused too.
    s.engine
        .store
        .revoke_session(
            &session.session_id,
            &session.person,
            session.expires,
            s.engine.now(),
        )
        .await?;
    tracing::info!(person = %session.person, "web sign-out");
    let mut resp = Redirect::to("/login").into_response();
    resp.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static("cordon_session=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0"),
    );
    Ok(resp)
}

// ---------------------------------------------------------------------------
// Incidents
// ---------------------------------------------------------------------------

#[derive(Debug, Deserialize, serde::Serialize, Default)]
struct IncidentQuery {
    status: Option<String>,
    severity: Option<String>,
    since: Option<String>,
    drills: Option<String>,
}

async fn incidents(
    State(s): State<WebState>,
    session: Session,
    Query(q): Query<IncidentQuery>,
) -> Result<Html<String>, WebError> {
    let status = none_if_empty(q.status.clone());
    if let Some(st) = &status
        && !["open", "contained", "resolved"].contains(&st.as_str())
    {
        return Err(WebError::BadRequest(format!(
            "status `{st}`: use open, contained or resolved"
        )));
    }
    let min_severity = match none_if_empty(q.severity.clone()) {
        None => None,
        Some(v) => Some(v.parse::<Severity>().map_err(WebError::BadRequest)?),
    };
    let since = match none_if_empty(q.since.clone()) {
        None => None,
        Some(v) => {
            let d = crate::domain::time::parse_duration(&v)
                .map_err(|e| WebError::BadRequest(format!("since: {e}")))?;
            Some(s.engine.now() - chrono::Duration::from_std(d).unwrap_or_default())
        }
    };
    let rows = s
        .engine
        .store
        .list_incidents(&IncidentFilter {
            status,
            since,
            min_severity,
            include_drills: q.drills.as_deref() == Some("on"),
            limit: Some(200),
        })
        .await?;
    let rows: Vec<serde_json::Value> = rows
        .iter()
        .map(|i| {
            let mut v = serde_json::to_value(i).unwrap_or_default();
            v["severity_name"] = serde_json::json!(i.severity().map(|x| x.as_str()).unwrap_or("?"));
            v
        })
        .collect();
    page(
        &s,
        "web/incidents.html",
        Some(&session),
        serde_json::json!({ "incidents": rows, "q": q, "severities": Severity::ALL }),
    )
}

/// The buttons that can apply in a state; the matrix still decides who may
/// press them (the engine refuses and says why).
fn verbs_for(state: &str) -> &'static [&'static str] {
    match state {
        "pending_approval" => &["approve", "deny", "override"],
        "pending_veto" => &["veto", "override"],
        "denied" | "vetoed" | "expired" => &["override"],
        "contained" => &["extend", "release", "veto"],
        "failed" => &["retry"],
        _ => &[],
    }
}

async fn incident(
    State(s): State<WebState>,
    session: Session,
    Path(id): Path<String>,
) -> Result<Html<String>, WebError> {
    let id: IncidentId = id.parse().map_err(WebError::BadRequest)?;
    let Some(mut view) =
        crate::http::incidents::incident_view(&s.engine, id, crate::http::incidents::VIEW_ALERTS)
            .await?
    else {
        return Err(WebError::NotFound(id.to_string()));
    };
    if let Some(ds) = view["decisions"].as_array_mut() {
        for d in ds {
            let st = d["state"].as_str().unwrap_or_default().to_owned();
            d["verbs"] = serde_json::json!(verbs_for(&st));
            if let Some(ctx) = d["context"]
                .as_str()
                .and_then(|c| serde_json::from_str::<serde_json::Value>(c).ok())
            {
                d["ctx"] = ctx;
            }
        }
    }
    if let Some(sev) = view["incident"]["severity"].as_i64() {
        view["incident"]["severity_name"] = serde_json::json!(
            Severity::ALL
                .get(usize::try_from(sev).unwrap_or(0))
                .map(|x| x.as_str())
        );
    }
    page(&s, "web/incident.html", Some(&session), view)
}

async fn act(
    State(s): State<WebState>,
    session: Session,
    Path(id): Path<String>,
    axum::Form(f): axum::Form<ActForm>,
) -> Result<Response, WebError> {
    check_csrf(&s, &session, f.csrf.as_deref())?;
    let id: DecisionId = id.parse().map_err(WebError::BadRequest)?;
    let verb = match f.verb.as_str() {
        "approve" => Verb::Approve,
        "deny" => Verb::Deny,
        "veto" => Verb::Veto,
        "override" => Verb::Override,
        "extend" => Verb::Extend,
        "release" => Verb::Release,
        "retry" => Verb::Retry,
        v => return Err(WebError::BadRequest(format!("unknown action `{v}`"))),
    };
    let actor = Actor {
        platform: Platform::Web,
        platform_user_id: session.person.clone(),
        groups: vec![],
    };
    match s.engine.act(&actor, id, verb, none_if_empty(f.reason)).await {
        Ok(_) => {
            let Some((row, _)) = s.engine.store.get_decision(id).await? else {
                return Err(WebError::NotFound(id.to_string()));
            };
            Ok(Redirect::to(&format!("/incidents/{}#dec-{}", row.incident_id, id.0)).into_response())
        }
        Err(EngineError::Refused(e)) => Ok((
            StatusCode::FORBIDDEN,
            page(
                &s,
                "web/message.html",
                Some(&session),
                serde_json::json!({ "title": format!("Not allowed to {}", verb.as_str()), "message": e.to_string(), "back": format!("/incidents") }),
            )?,
        )
            .into_response()),
        Err(EngineError::NotFound(what)) => Err(WebError::NotFound(what)),
        Err(EngineError::Contended) => Err(WebError::BadRequest(
            "the decision kept changing while you clicked; reload and try again".into(),
        )),
        Err(e) => Err(WebError::Internal(e.to_string())),
    }
}

// ---------------------------------------------------------------------------
// The matrix
// ---------------------------------------------------------------------------

async fn matrix(State(s): State<WebState>, session: Session) -> Result<Html<String>, WebError> {
    let m = s.engine.matrix();
    let mut actions: Vec<ActionKind> = Vec::new();
    let mut tiers: Vec<Option<String>> = Vec::new();
    for r in &m.rules {
        if !actions.contains(&r.action) {
            actions.push(r.action.clone());
        }
        for t in r.matches.asset_tier.iter().flatten() {
            if !tiers.contains(&Some(t.clone())) {
                tiers.push(Some(t.clone()));
            }
        }
    }
    tiers.push(None);
    // action × tier × severity → the rule that applies (environment and
    // privilege unknown, as when enrichment is partial).
    let mut grid = Vec::new();
    for a in &actions {
        for t in &tiers {
            let cells: Vec<serde_json::Value> = Severity::ALL
                .iter()
                .map(|sev| {
                    let mut ctx = ActionContext::new(a.clone(), *sev);
                    ctx.asset_tier = t.clone();
                    // The last row is a target cordon could not resolve.
                    ctx.target_unknown = t.is_none();
                    match m.rule_for(&ctx) {
                        None => serde_json::json!({ "mode": "forbidden", "rule": null }),
                        Some(r) => serde_json::json!({
                            "mode": r.mode.as_str(), "rule": r.name, "approvers": r.approvers,
                            "quorum": r.quorum, "veto": r.veto, "override": r.override_roles,
                        }),
                    }
                })
                .collect();
            grid.push(serde_json::json!({ "action": a.to_string(), "tier": t.clone().unwrap_or_else(|| "(unknown)".into()), "cells": cells }));
        }
    }
    let findings: Vec<String> = m.check().iter().map(|f| f.to_string()).collect();
    let roles: BTreeMap<&String, serde_json::Value> = m
        .roles
        .iter()
        .map(|(k, r)| (k, serde_json::json!({ "members": r.members, "slack_groups": r.slack_groups, "discord_roles": r.discord_roles, "from_asset": r.from_asset.is_some() })))
        .collect();
    // What bounds automation, per action, in the words `cordon explain` uses.
    let guards: Vec<serde_json::Value> = actions
        .iter()
        .map(|a| serde_json::json!({ "action": a.to_string(), "lines": m.guard_lines(a) }))
        .filter(|g| g["lines"].as_array().is_some_and(|l| !l.is_empty()))
        .collect();
    page(
        &s,
        "web/matrix.html",
        Some(&session),
        serde_json::json!({
            "source": m.source, "hash": m.hash, "rules": m.rules, "grid": grid,
            "severities": Severity::ALL, "findings": findings, "roles": roles, "guards": guards,
        }),
    )
}

// ---------------------------------------------------------------------------
// Reports
// ---------------------------------------------------------------------------

/// When an entry was stored (monotonic), the engine time it was computed
/// at, and the report.
type CachedReport = (std::time::Instant, Timestamp, Arc<report::Report>);

/// Reports computed recently, by their filters as given (so `since=30d`
/// hits the same entry while it is fresh). Entries live `ttl`; the page
/// says when its figures were computed.
pub struct ReportCache {
    ttl: Duration,
    entries: std::sync::Mutex<std::collections::HashMap<String, CachedReport>>,
}

impl ReportCache {
    const MAX_ENTRIES: usize = 64;

    pub fn new(ttl: Duration) -> ReportCache {
        ReportCache {
            ttl,
            entries: Default::default(),
        }
    }

    fn get(&self, key: &str) -> Option<(Timestamp, Arc<report::Report>)> {
        let e = self.entries.lock().ok()?;
        e.get(key)
            .filter(|(at, _, _)| at.elapsed() < self.ttl)
            .map(|(_, computed, r)| (*computed, Arc::clone(r)))
    }

    fn put(&self, key: String, computed: Timestamp, r: Arc<report::Report>) {
        if self.ttl.is_zero() {
            return;
        }
        if let Ok(mut e) = self.entries.lock() {
            let ttl = self.ttl;
            e.retain(|_, (at, _, _)| at.elapsed() < ttl);
            if e.len() >= Self::MAX_ENTRIES {
                e.clear();
            }
            e.insert(key, (std::time::Instant::now(), computed, r));
        }
    }
}

/// The report for these filters: from the cache while fresh, else computed
/// by the one aggregation every output shares. Returns when it was computed.
async fn build_report(
    s: &WebState,
    mut p: report::ReportParams,
) -> Result<(Timestamp, Arc<report::Report>), WebError> {
    p.table = None;
    let key = serde_json::to_string(&p).unwrap_or_default();
    if let Some(hit) = s.report_cache.get(&key) {
        return Ok(hit);
    }
    let now = s.engine.now();
    let q: ReportQuery = p.to_query(now).map_err(WebError::BadRequest)?;
    let r = Arc::new(report::run(&s.engine.store, &q, &s.sla, now).await?);
    s.report_cache.put(key, now, Arc::clone(&r));
    Ok((now, r))
}

async fn reports_page(
    State(s): State<WebState>,
    session: Session,
    Query(p): Query<report::ReportParams>,
) -> Result<Html<String>, WebError> {
    let qs = serde_urlencoded::to_string(&p).unwrap_or_default();
    let (computed, r) = build_report(&s, p.clone()).await?;
    page(
        &s,
        "web/reports.html",
        Some(&session),
        serde_json::json!({ "report": &*r, "charts": report::render::charts(&r), "p": p, "query_string": qs, "severities": Severity::ALL, "paths": report::PATHS, "computed_at": computed }),
    )
}

async fn reports_csv(
    State(s): State<WebState>,
    _session: Session,
    Query(p): Query<report::ReportParams>,
) -> Result<Response, WebError> {
    let table = p.table.clone();
    let (_, r) = build_report(&s, p).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"cordon-report.csv\"",
            ),
        ],
        report::render::csv(&r, table.as_deref()),
    )
        .into_response())
}

async fn reports_json(
    State(s): State<WebState>,
    _session: Session,
    Query(p): Query<report::ReportParams>,
) -> Result<Response, WebError> {
    let (_, r) = build_report(&s, p).await?;
    Ok(axum::Json(&*r).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_console_template_parses() {
        let t = Templates::builtin(&[TEMPLATES]).expect("templates parse");
        let html = t
            .render(
                "web/login.html",
                serde_json::json!({ "person": "alice", "token": "t<k>" }),
            )
            .expect("render");
        assert!(html.contains("t&lt;k&gt;"), "auto-escaped: {html}");
    }
}
