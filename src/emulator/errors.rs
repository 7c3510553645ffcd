//! The error bodies the emulator answers with, shaped exactly like Konnect's.
//!
//! Two families exist because Konnect has two: the core-entities API (koko, gRPC-status style
//! `{"code","message","details"}`) and the Konnect-native APIs such as control planes
//! (`application/problem+json`). This module owns only the rendering; deciding *which* error
//! applies is the store's and the handlers' business.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// The `@type` every koko error detail carries.
const DETAIL_TYPE_URL: &str = "type.googleapis.com/kong.admin.model.v1.ErrorDetail";

/// One entry of `details` in a core-entities error.
#[derive(Clone, Debug, PartialEq)]
pub struct Detail {
    /// `ERROR_TYPE_FIELD`, `ERROR_TYPE_ENTITY` or `ERROR_TYPE_REFERENCE`.
    pub kind: DetailKind,
    /// The field path (`config.grant_type`), absent for entity-level errors.
    pub field: Option<String>,
    pub messages: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DetailKind {
    Field,
    Entity,
    Reference,
}

impl DetailKind {
    fn as_str(self) -> &'static str {
        match self {
            DetailKind::Field => "ERROR_TYPE_FIELD",
            DetailKind::Entity => "ERROR_TYPE_ENTITY",
            DetailKind::Reference => "ERROR_TYPE_REFERENCE",
        }
    }
}

impl Detail {
    pub fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        Detail {
            kind: DetailKind::Field,
            field: Some(field.into()),
            messages: vec![message.into()],
        }
    }

    pub fn entity(message: impl Into<String>) -> Self {
        Detail {
            kind: DetailKind::Entity,
            field: None,
            messages: vec![message.into()],
        }
    }

    /// A unique or foreign constraint on `field`, worded as koko words it.
    pub fn constraint(field: &str, kind: &str) -> Self {
        Detail {
            kind: DetailKind::Reference,
            field: Some(field.to_string()),
            messages: vec![format!("{field} (type: {kind}) constraint failed")],
        }
    }

    fn to_json(&self) -> Value {
        let mut o = serde_json::Map::new();
        o.insert("@type".into(), json!(DETAIL_TYPE_URL));
        o.insert("type".into(), json!(self.kind.as_str()));
        if let Some(f) = &self.field {
            o.insert("field".into(), json!(f));
        }
        o.insert("messages".into(), json!(self.messages));
        Value::Object(o)
    }
}

/// An error of the core-entities API (`/v2/control-planes/{id}/core-entities/...`).
#[derive(Clone, Debug, PartialEq)]
pub enum ApiError {
    /// 400 `validation error` (code 3).
    Validation(Vec<Detail>),
    /// 400 `data constraint error` (code 3): unique and foreign constraints.
    Constraint(Vec<Detail>),
    /// 400 with a free message, for bodies that are not JSON objects or bad query parameters.
    BadRequest(String),
    /// 404; Konnect documents no body, koko sends a code-5 one.
    NotFound,
    /// 401 `{"message":"Unauthorized","status":401}`.
    Unauthorized,
    /// 403 `usage constraint error` (code 7, gRPC PERMISSION_DENIED): an account limit or a
    /// token that may not do this. The details say which.
    UsageConstraint(Vec<Detail>),
    /// 405 for a known path with a verb Konnect does not offer there. koko answers gRPC code
    /// 12 (UNIMPLEMENTED) for an unrouted method.
    MethodNotAllowed,
    /// 500 from fault injection.
    Internal,
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Validation(_) | ApiError::Constraint(_) | ApiError::BadRequest(_) => {
                StatusCode::BAD_REQUEST
            }
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::UsageConstraint(_) => StatusCode::FORBIDDEN,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn body(&self) -> Value {
        let with_details = |code: u8, message: &str, details: &[Detail]| {
            json!({
                "code": code,
                "message": message,
                "details": details.iter().map(Detail::to_json).collect::<Vec<_>>(),
            })
        };
        match self {
            ApiError::Validation(d) => with_details(3, "validation error", d),
            ApiError::Constraint(d) => with_details(3, "data constraint error", d),
            ApiError::BadRequest(m) => with_details(3, m, &[]),
            ApiError::NotFound => with_details(5, "not found", &[]),
            ApiError::Unauthorized => json!({"message": "Unauthorized", "status": 401}),
            ApiError::UsageConstraint(d) => with_details(7, "usage constraint error", d),
            ApiError::MethodNotAllowed => with_details(12, "method not allowed", &[]),
            ApiError::Internal => with_details(13, "internal error", &[]),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status(), axum::Json(self.body())).into_response()
    }
}

/// An error of the Konnect-native APIs (control planes): `application/problem+json`.
#[derive(Clone, Debug, PartialEq)]
pub struct Problem {
    pub status: StatusCode,
    pub title: &'static str,
    pub detail: String,
    /// `invalid_parameters` for 400s: `(field, reason)`.
    pub invalid_parameters: Vec<(String, String)>,
}

impl Problem {
    pub fn new(status: StatusCode, title: &'static str, detail: impl Into<String>) -> Self {
        Problem {
            status,
            title,
            detail: detail.into(),
            invalid_parameters: Vec::new(),
        }
    }

    pub fn bad_request(detail: &str, field: &str, reason: &str) -> Self {
        Problem {
            invalid_parameters: vec![(field.to_string(), reason.to_string())],
            ..Problem::new(StatusCode::BAD_REQUEST, "Bad Request", detail)
        }
    }

    pub fn body(&self) -> Value {
        let mut o = serde_json::Map::new();
        o.insert("status".into(), json!(self.status.as_u16()));
        o.insert("title".into(), json!(self.title));
        o.insert(
            "type".into(),
            json!(format!("https://httpstatuses.com/{}", self.status.as_u16())),
        );
        o.insert("instance".into(), json!(trace_instance()));
        o.insert("detail".into(), json!(self.detail));
        if !self.invalid_parameters.is_empty() {
            let params: Vec<Value> = self
                .invalid_parameters
                .iter()
                .map(|(f, r)| json!({"field": f, "reason": r}))
                .collect();
            o.insert("invalid_parameters".into(), Value::Array(params));
        }
        Value::Object(o)
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let mut resp = (self.status, axum::Json(self.body())).into_response();
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        resp
    }
}

/// A per-response trace id like Konnect's `kong:trace:<n>` (the specs' examples); it changes on
/// every answer, which is exactly why clients must strip it before putting error text into
/// conditions.
fn trace_instance() -> String {
    format!("kong:trace:{}", rand::random::<u64>() >> 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unique_constraint_reads_like_koko() {
        let d = Detail::constraint("name", "unique");
        assert_eq!(d.messages, vec!["name (type: unique) constraint failed"]);
        let d = Detail::constraint("service.id", "foreign");
        assert_eq!(
            d.messages,
            vec!["service.id (type: foreign) constraint failed"]
        );
        let body = ApiError::Constraint(vec![d]).body();
        assert_eq!(body["message"], "data constraint error");
        assert_eq!(body["details"][0]["type"], "ERROR_TYPE_REFERENCE");
        assert_eq!(body["details"][0]["field"], "service.id");
    }

    #[test]
    fn usage_constraint_is_403_code_7() {
        let e = ApiError::UsageConstraint(vec![Detail::entity("limit reached")]);
        assert_eq!(e.status(), StatusCode::FORBIDDEN);
        assert_eq!(
            e.body(),
            json!({
                "code": 7,
                "message": "usage constraint error",
                "details": [{
                    "@type": DETAIL_TYPE_URL,
                    "type": "ERROR_TYPE_ENTITY",
                    "messages": ["limit reached"],
                }],
            })
        );
    }

    #[test]
    fn problem_has_required_fields() {
        let b = Problem::bad_request("Request cannot be empty", "name", "cannot be blank").body();
        for k in [
            "status",
            "title",
            "instance",
            "detail",
            "invalid_parameters",
        ] {
            assert!(b.get(k).is_some(), "missing {k}");
        }
        assert_eq!(b["invalid_parameters"][0]["field"], "name");
        let instance = b["instance"].as_str().unwrap();
        let n = instance.strip_prefix("kong:trace:").unwrap();
        assert!(n.chars().all(|c| c.is_ascii_digit()), "{instance}");
    }
}
