//! Typed Konnect errors, parsed from the real error bodies, with the decisions callers need
//! next to them: [`Error::is_retryable`], [`Error::retry_after`] and [`Error::reason`].
//!
//! Konnect speaks two error dialects: core entities answer gRPC-status style JSON
//! (`{"code":3,"message":"validation error","details":[...]}`), the Konnect-native APIs
//! (control planes) answer `application/problem+json` (`{status,title,detail,instance,
//! invalid_parameters}`). Both are folded into one enum here. Error text is stripped of
//! per-request trace ids so that status conditions built from it do not churn, and it never
//! carries the API token.

use std::sync::LazyLock;
use std::time::{Duration, SystemTime};

use regex::Regex;
use serde::Deserialize;

/// How long to wait after a 429 without a usable `Retry-After` (what Kong's operator does).
pub const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(15);

/// The longest `Retry-After` we obey. A larger value (a server bug, a date years ahead) would
/// freeze the whole client; ten minutes is far beyond any real Konnect window (per minute) and
/// short enough that the operator recovers on its own.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(600);

/// Longest error message we keep; Konnect bodies can be large and end up in conditions.
const MAX_MESSAGE_LEN: usize = 1024;

/// The kind of a Konnect error detail (`type` in the detail object).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DetailType {
    /// `ERROR_TYPE_FIELD`: a field of the body is invalid; `field` names it.
    Field,
    /// `ERROR_TYPE_ENTITY`: the entity as a whole is invalid (no field).
    Entity,
    /// `ERROR_TYPE_REFERENCE`: a constraint on other entities (unique, foreign key).
    Reference,
    /// Any other value, kept verbatim.
    Other(String),
}

impl DetailType {
    fn parse(s: Option<&str>) -> Self {
        match s {
            Some("ERROR_TYPE_FIELD") => Self::Field,
            Some("ERROR_TYPE_ENTITY") => Self::Entity,
            Some("ERROR_TYPE_REFERENCE") => Self::Reference,
            Some(other) => Self::Other(other.to_owned()),
            None => Self::Other(String::new()),
        }
    }
}

/// One detail of a validation or constraint error: the field path and its messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldDetail {
    /// Dotted field path, e.g. `config.grant_type`; `None` for entity-level errors.
    pub field: Option<String>,
    pub kind: DetailType,
    pub messages: Vec<String>,
}

impl std::fmt::Display for FieldDetail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.field {
            Some(field) => write!(f, "{field}: {}", self.messages.join(", ")),
            None => f.write_str(&self.messages.join(", ")),
        }
    }
}

/// Which database-style constraint a 400 "data constraint error" reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConstraintKind {
    /// Another entity already holds this unique value (name, id, or a second plugin of the
    /// same name on the same scope: `unique-plugin-per-entity`).
    Unique,
    /// A referenced entity does not exist, or is still referenced (delete refused).
    Foreign,
    /// A constraint error whose kind the body did not say.
    Other,
}

impl std::fmt::Display for ConstraintKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Unique => "unique",
            Self::Foreign => "foreign",
            Self::Other => "data",
        })
    }
}

/// Every way a Konnect call can fail.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// 400 with field-level details: the body we sent is invalid. Never retried.
    #[error("validation error: {}", join_details(.details, .message))]
    Validation {
        message: String,
        details: Vec<FieldDetail>,
    },
    /// 400 "data constraint error": unique or foreign-key violation. Never retried.
    #[error("{kind} constraint error: {}", join_details(.details, .message))]
    Constraint {
        kind: ConstraintKind,
        message: String,
        details: Vec<FieldDetail>,
    },
    /// Any other 400 / 4xx we have no better class for.
    #[error("bad request (HTTP {status}): {message}")]
    BadRequest { status: u16, message: String },
    /// 404 on the addressed entity (or its control plane).
    #[error("not found: {what}")]
    NotFound { what: String },
    /// 401: the token is missing, wrong or expired.
    #[error("unauthorized: the Konnect token was rejected")]
    Unauthorized,
    /// 403: the token may not do this (or Konnect refuses the operation on this control plane).
    #[error("forbidden: {message}")]
    Forbidden { message: String },
    /// 409 from the Konnect-native APIs (e.g. a control plane name already taken).
    #[error("conflict: {message}")]
    Conflict { message: String },
    /// 429: the request budget is exhausted; wait `retry_after` before the next request.
    #[error("rate limited by Konnect, retry after {}s", .retry_after.as_secs_f64())]
    RateLimited { retry_after: Duration },
    /// 5xx.
    #[error("Konnect server error (HTTP {status}): {message}")]
    Server { status: u16, message: String },
    /// The request never got an HTTP answer: timeout, connection refused or reset.
    #[error("transport error{}: {message}", if *.timeout { " (timeout)" } else { "" })]
    Transport { message: String, timeout: bool },
    /// A 2xx answer whose body is not what the API documents.
    #[error("cannot decode Konnect response: {message}")]
    Decode { message: String },
    /// The client was misconfigured or asked for something it cannot send
    /// (bad server URL, unreadable token file, an upsert without id, a tag with `,`).
    #[error("invalid Konnect client request: {message}")]
    Invalid { message: String },
}

fn join_details(details: &[FieldDetail], message: &str) -> String {
    if details.is_empty() {
        return message.to_owned();
    }
    details
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

impl Error {
    /// Whether the same request may succeed later unchanged: 429, 5xx and transport errors.
    /// Whether it *should* be retried also depends on the method (see the client).
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Self::RateLimited { .. } | Self::Server { .. } | Self::Transport { .. }
        )
    }

    /// The server-mandated wait before the next request, for 429.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::RateLimited { retry_after } => Some(*retry_after),
            _ => None,
        }
    }

    /// Short CamelCase reason, suitable for a status condition `reason` or a metric label.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Validation { .. } => "KonnectValidationFailed",
            Self::Constraint {
                kind: ConstraintKind::Unique,
                ..
            } => "KonnectUniqueConstraint",
            Self::Constraint {
                kind: ConstraintKind::Foreign,
                ..
            } => "KonnectForeignConstraint",
            Self::Constraint { .. } => "KonnectConstraint",
            Self::BadRequest { .. } => "KonnectBadRequest",
            Self::NotFound { .. } => "KonnectNotFound",
            Self::Unauthorized => "KonnectUnauthorized",
            Self::Forbidden { .. } => "KonnectForbidden",
            Self::Conflict { .. } => "KonnectConflict",
            Self::RateLimited { .. } => "KonnectRateLimited",
            Self::Server { .. } => "KonnectServerError",
            Self::Transport { .. } => "KonnectUnreachable",
            Self::Decode { .. } => "KonnectBadResponse",
            Self::Invalid { .. } => "KonnectClientInvalid",
        }
    }

    /// The HTTP status this error came from, if any.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Validation { .. } | Self::Constraint { .. } => Some(400),
            Self::BadRequest { status, .. } | Self::Server { status, .. } => Some(*status),
            Self::NotFound { .. } => Some(404),
            Self::Unauthorized => Some(401),
            Self::Forbidden { .. } => Some(403),
            Self::Conflict { .. } => Some(409),
            Self::RateLimited { .. } => Some(429),
            Self::Transport { .. } | Self::Decode { .. } | Self::Invalid { .. } => None,
        }
    }

    /// A 404: the addressed entity (or its control plane) does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::NotFound { .. })
    }

    /// The request itself is wrong (4xx other than 401/403/404/429): retrying the same body
    /// cannot help, the desired state must change.
    pub fn is_invalid_request(&self) -> bool {
        matches!(
            self,
            Self::Validation { .. }
                | Self::Constraint { .. }
                | Self::BadRequest { .. }
                | Self::Conflict { .. }
                | Self::Invalid { .. }
        )
    }

    /// Field-level details of a validation or constraint error (empty otherwise).
    pub fn details(&self) -> &[FieldDetail] {
        match self {
            Self::Validation { details, .. } | Self::Constraint { details, .. } => details,
            _ => &[],
        }
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Self::Invalid {
            message: message.into(),
        }
    }

    /// Builds a transport error from reqwest's. reqwest's Display carries the URL (which holds
    /// no secret) but never request headers; `secret` is scrubbed anyway, before any cleaning.
    pub(crate) fn transport(err: &reqwest::Error, secret: &str) -> Self {
        // The source chain says *why* (connection refused, reset...), the top level only "error
        // sending request".
        let mut message = err.to_string();
        let mut source = std::error::Error::source(err);
        while let Some(s) = source {
            message.push_str(": ");
            message.push_str(&s.to_string());
            source = s.source();
        }
        Self::Transport {
            message: clean_message(&redact_text(&message, secret)),
            timeout: err.is_timeout(),
        }
    }
}

/// Parses a `Retry-After` header value: delay-seconds or an HTTP date, capped at
/// [`MAX_RETRY_AFTER`]. `None` when absent or unparsable (negative, NaN, garbage), so the
/// caller applies [`DEFAULT_RETRY_AFTER`]. Never panics, whatever the server sends.
pub fn parse_retry_after(value: Option<&str>, now: SystemTime) -> Option<Duration> {
    let v = value?.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs).min(MAX_RETRY_AFTER));
    }
    if let Ok(secs) = v.parse::<f64>() {
        // NaN and negative values are garbage; a value too large for a Duration is a very
        // long wait. try_from_secs_f64 never panics, unlike from_secs_f64.
        if secs.is_nan() || secs < 0.0 {
            return None;
        }
        return Some(
            Duration::try_from_secs_f64(secs)
                .unwrap_or(MAX_RETRY_AFTER)
                .min(MAX_RETRY_AFTER),
        );
    }
    let at = httpdate::parse_http_date(v).ok()?;
    // A date in the past means "now".
    Some(
        at.duration_since(now)
            .unwrap_or(Duration::ZERO)
            .min(MAX_RETRY_AFTER),
    )
}

static TRACE_ID: LazyLock<Regex> = LazyLock::new(|| {
    // Konnect puts per-request ids in `instance` ("kong:trace:1489...") and sometimes in
    // messages ("trace id: 8f3a...", "request_id=..."). They change on every call. A label
    // only counts with a `:`/`=` separator and an id-looking value (hex digits and dashes, at
    // least 6), so that prose such as "field request_id must be a string" stays intact.
    #[allow(clippy::expect_used)] // a constant pattern: covered by the unit tests
    Regex::new(
        r"(?i)(kong:trace:[0-9a-z]+|\(?\b(trace|request)[ _-]?id\s*[:=]\s*[0-9a-f][0-9a-f-]{5,}\b\)?)",
    )
    .expect("valid regex")
});

/// Replaces every occurrence of `secret` in `text`. Runs on raw text, before parsing or
/// truncation, so that a cut can never leave part of a secret behind.
pub(crate) fn redact_text(text: &str, secret: &str) -> String {
    if secret.is_empty() {
        text.to_owned()
    } else {
        text.replace(secret, "<redacted>")
    }
}

/// Normalizes server-provided text: strips trace ids, collapses whitespace, bounds length.
pub(crate) fn clean_message(s: &str) -> String {
    let stripped = TRACE_ID.replace_all(s, "");
    let mut out = stripped.split_whitespace().collect::<Vec<_>>().join(" ");
    if out.len() > MAX_MESSAGE_LEN {
        let mut cut = MAX_MESSAGE_LEN;
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out.truncate(cut);
        out.push('…');
    }
    out
}

#[derive(Deserialize, Default)]
struct RawBody {
    #[serde(default)]
    code: Option<i64>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    details: Vec<RawDetail>,
    // problem+json
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    detail: Option<serde_json::Value>,
    #[serde(default)]
    invalid_parameters: Vec<RawInvalidParameter>,
}

#[derive(Deserialize, Default)]
struct RawDetail {
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    field: Option<String>,
    #[serde(default)]
    messages: Vec<String>,
}

#[derive(Deserialize, Default)]
struct RawInvalidParameter {
    #[serde(default)]
    field: Option<String>,
    #[serde(default)]
    reason: Option<String>,
}

/// Classifies a non-2xx answer. `what` names the addressed entity for 404s
/// (e.g. `plugin 4b1d...`); `retry_after` is the raw header value. `secret` (the token) is
/// scrubbed from the raw body before anything reads it: a server that echoes request headers
/// must not make the token reach a log line or a condition.
pub(crate) fn from_response(
    status: u16,
    body: &[u8],
    retry_after: Option<&str>,
    what: &str,
    secret: &str,
) -> Error {
    let body = redact_text(&String::from_utf8_lossy(body), secret);
    let raw: RawBody = serde_json::from_str(&body).unwrap_or_default();
    let details: Vec<FieldDetail> = raw
        .details
        .iter()
        .map(|d| FieldDetail {
            field: d
                .field
                .as_deref()
                .filter(|f| !f.is_empty())
                .map(clean_message),
            kind: DetailType::parse(d.kind.as_deref()),
            messages: d.messages.iter().map(|m| clean_message(m)).collect(),
        })
        .chain(raw.invalid_parameters.iter().map(|p| FieldDetail {
            field: p.field.clone(),
            kind: DetailType::Field,
            messages: p.reason.iter().map(|m| clean_message(m)).collect(),
        }))
        .collect();
    let message = clean_message(&summary(&raw, &body));

    match status {
        400 => classify_400(raw.code, message, details),
        401 => Error::Unauthorized,
        403 => {
            // The useful text of a 403 sits in the details ("operation not permitted on KIC
            // cluster"), the top-level message is generic ("usage constraint error").
            let from_details: Vec<String> = details
                .iter()
                .flat_map(|d| d.messages.iter().cloned())
                .collect();
            let message = if from_details.is_empty() {
                message
            } else {
                format!("{message}: {}", from_details.join(", "))
            };
            Error::Forbidden { message }
        }
        404 => Error::NotFound {
            what: what.to_owned(),
        },
        409 => Error::Conflict { message },
        429 => Error::RateLimited {
            retry_after: parse_retry_after(retry_after, SystemTime::now())
                .unwrap_or(DEFAULT_RETRY_AFTER),
        },
        500..=599 => Error::Server { status, message },
        _ => Error::BadRequest { status, message },
    }
}

fn summary(raw: &RawBody, body: &str) -> String {
    if let Some(m) = raw.message.as_deref().filter(|m| !m.is_empty()) {
        return m.to_owned();
    }
    let detail = match &raw.detail {
        Some(serde_json::Value::String(s)) => Some(s.clone()),
        Some(other) if !other.is_null() => Some(other.to_string()),
        _ => None,
    };
    match (raw.title.as_deref(), detail) {
        (Some(t), Some(d)) => format!("{t}: {d}"),
        (Some(t), None) => t.to_owned(),
        (None, Some(d)) => d,
        (None, None) => body.to_owned(),
    }
}

fn classify_400(code: Option<i64>, message: String, details: Vec<FieldDetail>) -> Error {
    let all_messages = || {
        details
            .iter()
            .flat_map(|d| d.messages.iter())
            .chain(std::iter::once(&message))
    };
    let unique = all_messages().any(|m| m.contains("(type: unique)"));
    let foreign = all_messages().any(|m| m.contains("(type: foreign)"));
    let constraint = message == "data constraint error" || unique || foreign || code == Some(6);
    if constraint {
        let kind = if foreign {
            ConstraintKind::Foreign
        } else if unique || code == Some(6) {
            ConstraintKind::Unique
        } else {
            ConstraintKind::Other
        };
        return Error::Constraint {
            kind,
            message,
            details,
        };
    }
    if !details.is_empty() || message.contains("validation") {
        return Error::Validation { message, details };
    }
    Error::BadRequest {
        status: 400,
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn body(v: serde_json::Value) -> Vec<u8> {
        serde_json::to_vec(&v).unwrap()
    }

    #[test]
    fn validation_error_keeps_every_field_path() {
        let e = from_response(
            400,
            &body(json!({"code":3,"message":"validation error","details":[
                {"@type":"type.googleapis.com/kong.admin.model.v1.ErrorDetail","type":"ERROR_TYPE_FIELD","field":"config.grant_type","messages":["value must be one of a, b"]},
                {"@type":"type.googleapis.com/kong.admin.model.v1.ErrorDetail","type":"ERROR_TYPE_ENTITY","messages":["at least one of these fields must be non-empty: 'username', 'custom_id'"]}
            ]})),
            None,
            "plugin x",
            "",
        );
        let Error::Validation { details, .. } = &e else {
            panic!("expected validation, got {e:?}")
        };
        assert_eq!(details[0].field.as_deref(), Some("config.grant_type"));
        assert_eq!(details[0].kind, DetailType::Field);
        assert_eq!(details[1].field, None);
        assert_eq!(details[1].kind, DetailType::Entity);
        assert!(!e.is_retryable());
        assert!(e.is_invalid_request());
        assert_eq!(e.reason(), "KonnectValidationFailed");
        assert!(
            e.to_string()
                .contains("config.grant_type: value must be one of a, b")
        );
    }

    #[test]
    fn unique_and_foreign_constraints_are_told_apart() {
        let unique = from_response(
            400,
            &body(
                json!({"code":3,"message":"data constraint error","details":[
                {"type":"ERROR_TYPE_REFERENCE","field":"name","messages":["name (type: unique) constraint failed"]}]}),
            ),
            None,
            "",
            "",
        );
        assert!(matches!(
            unique,
            Error::Constraint {
                kind: ConstraintKind::Unique,
                ..
            }
        ));
        let foreign = from_response(
            400,
            &body(
                json!({"code":3,"message":"data constraint error","details":[
                {"type":"ERROR_TYPE_REFERENCE","field":"service.id","messages":["service.id (type: foreign) constraint failed"]}]}),
            ),
            None,
            "",
            "",
        );
        assert!(matches!(
            foreign,
            Error::Constraint {
                kind: ConstraintKind::Foreign,
                ..
            }
        ));
        assert_eq!(foreign.details()[0].field.as_deref(), Some("service.id"));
        assert_eq!(foreign.reason(), "KonnectForeignConstraint");
    }

    #[test]
    fn unique_message_at_top_level_is_a_constraint() {
        let e = from_response(
            400,
            &body(json!({"code":3,"message":"name (type: unique) constraint failed"})),
            None,
            "",
            "",
        );
        assert_eq!(e.reason(), "KonnectUniqueConstraint");
    }

    #[test]
    fn statuses_map_to_classes() {
        assert!(matches!(
            from_response(
                401,
                br#"{"message":"Unauthorized","status":401}"#,
                None,
                "",
                ""
            ),
            Error::Unauthorized
        ));
        let nf = from_response(404, b"", None, "plugin abc", "");
        assert!(nf.is_not_found() && !nf.is_invalid_request());
        assert_eq!(nf.to_string(), "not found: plugin abc");
        let s = from_response(503, br#"{"message":"upstream unavailable"}"#, None, "", "");
        assert!(s.is_retryable());
        assert_eq!(s.status(), Some(503));
        let c = from_response(
            409,
            br#"{"status":409,"title":"Conflict","instance":"kong:trace:14893476519012495000","detail":"Key (org_id, name) already exists."}"#,
            None,
            "",
            "",
        );
        assert_eq!(
            c.to_string(),
            "conflict: Conflict: Key (org_id, name) already exists."
        );
        let teapot = from_response(418, b"short and stout", None, "", "");
        assert!(matches!(teapot, Error::BadRequest { status: 418, .. }));
        assert!(!teapot.is_retryable());
    }

    #[test]
    fn forbidden_carries_the_detail_messages() {
        let e = from_response(
            403,
            &body(
                json!({"code":7,"message":"usage constraint error","details":[
                {"@type":"type.googleapis.com/kong.admin.model.v1.ErrorDetail","messages":["operation not permitted on KIC cluster"]}]}),
            ),
            None,
            "",
            "",
        );
        assert_eq!(
            e.to_string(),
            "forbidden: usage constraint error: operation not permitted on KIC cluster"
        );
    }

    #[test]
    fn problem_json_invalid_parameters_are_validation_details() {
        let e = from_response(
            400,
            &body(
                json!({"status":400,"title":"Invalid Request","detail":"Invalid Parameters",
                "invalid_parameters":[{"field":"name","rule":"required","reason":"is a required field"}]}),
            ),
            None,
            "",
            "",
        );
        assert_eq!(e.details()[0].field.as_deref(), Some("name"));
        assert_eq!(e.details()[0].messages, vec!["is a required field"]);
    }

    #[test]
    fn retry_after_seconds_date_and_default() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(
            parse_retry_after(Some("7"), now),
            Some(Duration::from_secs(7))
        );
        let later = httpdate::fmt_http_date(now + Duration::from_secs(42));
        assert_eq!(
            parse_retry_after(Some(&later), now),
            Some(Duration::from_secs(42))
        );
        let earlier = httpdate::fmt_http_date(now - Duration::from_secs(42));
        assert_eq!(parse_retry_after(Some(&earlier), now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after(Some("soon"), now), None);
        assert_eq!(parse_retry_after(None, now), None);
        let e = from_response(
            429,
            br#"{"message":"API rate limit exceeded"}"#,
            None,
            "",
            "",
        );
        assert_eq!(e.retry_after(), Some(DEFAULT_RETRY_AFTER));
        let e = from_response(429, b"", Some("3"), "", "");
        assert_eq!(e.retry_after(), Some(Duration::from_secs(3)));
        assert!(e.is_retryable());
    }

    #[test]
    fn absurd_retry_after_values_are_capped_or_ignored_never_panic() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        for huge in [
            "1e30",
            "18446744073709551615",
            "99999999999999999999999",
            "inf",
        ] {
            let got = parse_retry_after(Some(huge), now);
            assert!(
                got.is_none() || got == Some(MAX_RETRY_AFTER),
                "{huge}: {got:?}"
            );
        }
        assert_eq!(parse_retry_after(Some("1e30"), now), Some(MAX_RETRY_AFTER));
        assert_eq!(
            parse_retry_after(Some("18446744073709551615"), now),
            Some(MAX_RETRY_AFTER)
        );
        assert_eq!(parse_retry_after(Some("-5"), now), None);
        assert_eq!(parse_retry_after(Some("-0.5"), now), None);
        assert_eq!(parse_retry_after(Some("NaN"), now), None);
        assert_eq!(
            parse_retry_after(Some("1.5"), now),
            Some(Duration::from_millis(1500))
        );
        let far = httpdate::fmt_http_date(now + Duration::from_secs(10 * 365 * 86_400));
        assert_eq!(parse_retry_after(Some(&far), now), Some(MAX_RETRY_AFTER));
        let past = "Thu, 01 Jan 1970 00:00:00 GMT";
        assert_eq!(parse_retry_after(Some(past), now), Some(Duration::ZERO));
        // Through the classifier: a NaN header falls back to the default.
        let e = from_response(429, b"", Some("NaN"), "", "");
        assert_eq!(e.retry_after(), Some(DEFAULT_RETRY_AFTER));
        let e = from_response(429, b"", Some("1e30"), "", "");
        assert_eq!(e.retry_after(), Some(MAX_RETRY_AFTER));
    }

    #[test]
    fn trace_ids_are_stripped_so_conditions_do_not_churn() {
        let a = from_response(
            500,
            br#"{"message":"internal error (trace id: 8f3a2b1c)"}"#,
            None,
            "",
            "",
        );
        let b = from_response(
            500,
            br#"{"message":"internal error (trace id: 11111111)"}"#,
            None,
            "",
            "",
        );
        assert_eq!(a.to_string(), b.to_string());
        assert_eq!(
            clean_message("boom kong:trace:14893476519012495000 at x"),
            "boom at x"
        );
        assert_eq!(clean_message("request_id=abc-123 failed"), "failed");
        assert_eq!(
            clean_message("failed (request-id: 0b5e6c1a-2f4d-4e1b-9c1a-2b3c4d5e6f70)"),
            "failed"
        );
    }

    #[test]
    fn prose_mentioning_an_id_field_is_kept() {
        for text in [
            "field request_id must be a string",
            "trace_id is required",
            "request id: must be set",
            "config.trace_id_header: expected a string",
        ] {
            assert_eq!(clean_message(text), text);
        }
    }

    #[test]
    fn redaction_happens_before_truncation_and_parsing() {
        let secret = "kpat_0123456789abcdef";
        // The token straddles the length cut: redacting after truncation would leave a
        // prefix of it behind.
        let text = format!("{}{secret}", "x".repeat(MAX_MESSAGE_LEN - 8));
        let e = from_response(500, text.as_bytes(), None, "", secret);
        assert!(!e.to_string().contains("kpat_01"), "{e}");
        // Not JSON at all: the raw body becomes the message, redacted.
        let e = from_response(
            502,
            format!("upstream said {secret}").as_bytes(),
            None,
            "",
            secret,
        );
        assert!(!format!("{e} {e:?}").contains(secret));
        // Inside validation details.
        let body = json!({"code":3,"message":"validation error","details":[
            {"type":"ERROR_TYPE_FIELD","field":"config.token","messages":[format!("bad value {secret}")]}]});
        let e = from_response(400, &serde_json::to_vec(&body).unwrap(), None, "", secret);
        assert!(!format!("{e} {e:?}").contains(secret));
    }

    #[test]
    fn an_echoed_token_is_redacted() {
        let e = from_response(
            500,
            br#"{"message":"bad header Authorization: Bearer kpat_canary"}"#,
            None,
            "",
            "kpat_canary",
        );
        assert!(!e.to_string().contains("kpat_canary"));
        assert!(e.to_string().contains("<redacted>"));
    }

    #[test]
    fn long_messages_are_bounded() {
        let long = "é".repeat(5000);
        let m = clean_message(&long);
        assert!(m.len() <= MAX_MESSAGE_LEN + '…'.len_utf8());
    }
}
