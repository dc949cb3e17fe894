//! The one HTTP error type. 4xx answers say what is wrong (`error`, and for
//! bad input the `field` and a `hint`); 5xx answers hide the cause, which is
//! logged once here.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// An error answer.
#[derive(Debug, Clone, Serialize)]
pub struct ApiError {
    #[serde(skip)]
    pub status: StatusCode,
    pub error: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    /// Where a rejected body was kept, so the sender can ask for a replay.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dead_letter_id: Option<i64>,
    #[serde(skip)]
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, error: impl Into<String>) -> ApiError {
        ApiError {
            status,
            error: error.into(),
            field: None,
            hint: None,
            dead_letter_id: None,
            retry_after: None,
        }
    }
    pub fn field(mut self, f: impl Into<String>) -> ApiError {
        self.field = Some(f.into());
        self
    }
    pub fn hint(mut self, h: impl Into<String>) -> ApiError {
        self.hint = Some(h.into());
        self
    }
    pub fn retry_after(mut self, secs: u64) -> ApiError {
        self.retry_after = Some(secs);
        self
    }
    /// 401 without detail: a caller without valid credentials learns nothing
    /// about why (expired, wrong key, wrong audience).
    pub fn unauthorized() -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized")
    }
    pub fn forbidden(msg: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, msg)
    }
    pub fn not_found(what: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, format!("{} not found", what.into()))
    }
    pub fn bad_request(field: &str, problem: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, problem).field(field)
    }
    /// A server-side failure: the cause goes to the log, not to the caller.
    pub fn internal(cause: impl std::fmt::Display) -> ApiError {
        tracing::error!(error = %cause, "internal error");
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
    }
    pub fn unavailable(cause: impl std::fmt::Display) -> ApiError {
        tracing::warn!(error = %cause, "service unavailable");
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "temporarily unavailable, retry later",
        )
        .retry_after(5)
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(e: crate::store::StoreError) -> ApiError {
        if e.is_unavailable() {
            ApiError::unavailable(e)
        } else {
            ApiError::internal(e)
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status;
        let retry = self.retry_after;
        let mut resp = (status, axum::Json(self)).into_response();
        if let Some(s) = retry
            && let Ok(v) = HeaderValue::from_str(&s.to_string())
        {
            resp.headers_mut().insert(header::RETRY_AFTER, v);
        }
        resp
    }
}
