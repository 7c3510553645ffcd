//! What every `/v2` request passes before a handler: counters, added latency, the request
//! budget, bearer-token auth (full or read-only) and injected faults.
//!
//! Owns the fault settings (changeable at `/_emulator/faults`; they also carry the entity
//! limit the handlers apply), the seeded randomness that decides which request fails, the
//! token bucket, and the per-(method, path template, status) counters of `/_emulator/stats`.
//! It never logs the Authorization header or a token.

use std::collections::BTreeMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::conn::ConnTag;
use super::errors::{ApiError, Detail, Problem};
use super::{Ctx, lock};

/// The injectable faults; the body of `GET/PUT /_emulator/faults`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Faults {
    pub error_rate: f64,
    pub latency_ms: u64,
    pub drop_rate: f64,
    pub rate_limit_per_minute: Option<u32>,
    /// Core entities a control plane may hold; creating one more answers 403. Not a fault
    /// strictly, but a test switches it on and off the same way.
    pub max_entities_per_control_plane: Option<u32>,
    /// How a 429 writes `Retry-After`: Konnect may send either form.
    pub retry_after_format: RetryAfterFormat,
}

/// The two forms of `Retry-After` (RFC 9110): delay-seconds or an HTTP date.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum RetryAfterFormat {
    /// `Retry-After: 3`
    #[default]
    Seconds,
    /// `Retry-After: Sun, 06 Nov 1994 08:49:37 GMT`
    HttpDate,
}

/// Refuses rates outside 0..=1 (NaN included).
pub fn check_faults(f: &Faults) -> Result<(), String> {
    for (name, v) in [("error_rate", f.error_rate), ("drop_rate", f.drop_rate)] {
        if !(0.0..=1.0).contains(&v) {
            return Err(format!("{name} must be between 0 and 1, got {v}"));
        }
    }
    Ok(())
}

impl Faults {
    /// Applies a partial update: absent keys stay, `null` for `rate_limit_per_minute` or
    /// `max_entities_per_control_plane` lifts that limit.
    pub fn merged(&self, patch: &Value) -> Result<Faults, String> {
        let Some(obj) = patch.as_object() else {
            return Err("body must be a JSON object".into());
        };
        let mut f = self.clone();
        for (k, v) in obj {
            let bad = || format!("invalid value for {k}: {v}");
            match k.as_str() {
                "error_rate" => f.error_rate = v.as_f64().ok_or_else(bad)?,
                "drop_rate" => f.drop_rate = v.as_f64().ok_or_else(bad)?,
                "latency_ms" => f.latency_ms = v.as_u64().ok_or_else(bad)?,
                "rate_limit_per_minute" => {
                    f.rate_limit_per_minute = optional_u32(v).ok_or_else(bad)?
                }
                "max_entities_per_control_plane" => {
                    f.max_entities_per_control_plane = optional_u32(v).ok_or_else(bad)?
                }
                "retry_after_format" => {
                    f.retry_after_format = serde_json::from_value(v.clone()).map_err(|_| bad())?
                }
                _ => return Err(format!("unknown fault setting {k}")),
            }
        }
        check_faults(&f)?;
        Ok(f)
    }
}

/// `null` -> `Some(None)`, a u32 -> `Some(Some(n))`, anything else -> `None` (invalid).
fn optional_u32(v: &Value) -> Option<Option<u32>> {
    match v {
        Value::Null => Some(None),
        _ => v.as_u64().and_then(|n| u32::try_from(n).ok()).map(Some),
    }
}

/// What a request's bearer token allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Access {
    /// No token, or one the emulator does not know: 401.
    Denied,
    /// May read; any write answers 403.
    ReadOnly,
    Full,
}

/// A status of 0 in the counters means the connection was reset without a response.
pub const DROPPED: u16 = 0;

#[derive(Default)]
struct Counters {
    by_key: BTreeMap<(String, String, u16), u64>,
    /// `User-Agent` header values of /v2 requests (`""` when absent).
    user_agents: BTreeMap<String, u64>,
}

/// Gate state shared by all requests.
pub struct Gate {
    faults: Mutex<Faults>,
    limiter: Mutex<Option<Arc<DefaultDirectRateLimiter>>>,
    rng: Mutex<StdRng>,
    counters: Mutex<Counters>,
    tokens: Vec<String>,
    read_only_tokens: Vec<String>,
}

fn limiter_for(per_minute: Option<u32>) -> Option<Arc<DefaultDirectRateLimiter>> {
    let n = NonZeroU32::new(per_minute?)?;
    Some(Arc::new(RateLimiter::direct(Quota::per_minute(n))))
}

impl Gate {
    pub fn new(faults: Faults, seed: u64, tokens: Vec<String>) -> Gate {
        Gate {
            limiter: Mutex::new(limiter_for(faults.rate_limit_per_minute)),
            faults: Mutex::new(faults),
            rng: Mutex::new(StdRng::seed_from_u64(seed)),
            counters: Mutex::new(Counters::default()),
            tokens,
            read_only_tokens: Vec::new(),
        }
    }

    /// Adds tokens that authenticate but may only read. A token in both lists is read-only:
    /// the narrower grant wins.
    pub fn with_read_only_tokens(mut self, tokens: Vec<String>) -> Gate {
        self.read_only_tokens = tokens;
        self
    }

    pub fn faults(&self) -> Faults {
        lock(&self.faults).clone()
    }

    /// Replaces the fault settings; a changed budget starts full.
    pub fn set_faults(&self, f: Faults) {
        let mut cur = lock(&self.faults);
        if cur.rate_limit_per_minute != f.rate_limit_per_minute {
            *lock(&self.limiter) = limiter_for(f.rate_limit_per_minute);
        }
        *cur = f;
    }

    pub fn reset(&self, f: Faults, seed: u64) {
        *lock(&self.limiter) = limiter_for(f.rate_limit_per_minute);
        *lock(&self.faults) = f;
        *lock(&self.rng) = StdRng::seed_from_u64(seed);
        *lock(&self.counters) = Counters::default();
    }

    fn record(&self, method: &str, template: &str, status: u16, user_agent: &str) {
        let mut c = lock(&self.counters);
        *c.by_key
            .entry((method.to_string(), template.to_string(), status))
            .or_insert(0) += 1;
        *c.user_agents.entry(user_agent.to_string()).or_insert(0) += 1;
    }

    /// The body of `GET /_emulator/stats`.
    pub fn stats_json(&self) -> Value {
        let c = lock(&self.counters);
        let mut total = 0u64;
        let mut by_status: BTreeMap<String, u64> = BTreeMap::new();
        let requests: Vec<Value> = c
            .by_key
            .iter()
            .map(|((method, path, status), count)| {
                total += count;
                *by_status.entry(status.to_string()).or_insert(0) += count;
                json!({"method": method, "path": path, "status": status, "count": count})
            })
            .collect();
        // Konnect's global APIs (`/v3`, e.g. `GET /v3/organizations/me`, which clients such
        // as Kong's operator use to check a token) apart from the control-plane API.
        let v3_total: u64 = c
            .by_key
            .iter()
            .filter(|((_, path, _), _)| path.starts_with("/v3/") || path == "unmatched /v3")
            .map(|(_, n)| n)
            .sum();
        json!({
            "requests": requests,
            "total": total,
            "v3_total": v3_total,
            "by_status": by_status,
            "rate_limited": by_status.get("429").copied().unwrap_or(0),
            "dropped": by_status.get(&DROPPED.to_string()).copied().unwrap_or(0),
            "user_agents": c.user_agents,
        })
    }

    /// `None` when a request may pass; otherwise how long until the bucket has a token.
    fn take_budget(&self) -> Option<(Duration, u32)> {
        let limiter = lock(&self.limiter).clone()?;
        let limit = lock(&self.faults).rate_limit_per_minute.unwrap_or(0);
        match limiter.check() {
            Ok(()) => None,
            Err(not_until) => Some((
                not_until.wait_time_from(DefaultClock::default().now()),
                limit,
            )),
        }
    }

    fn access(&self, req: &Request) -> Access {
        let Some(value) = req.headers().get(header::AUTHORIZATION) else {
            return Access::Denied;
        };
        let Ok(value) = value.to_str() else {
            return Access::Denied;
        };
        let Some(token) = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
        else {
            return Access::Denied;
        };
        let token = token.trim();
        if self.read_only_tokens.iter().any(|t| t == token) {
            Access::ReadOnly
        } else if self.tokens.iter().any(|t| t == token) {
            Access::Full
        } else {
            Access::Denied
        }
    }

    /// Two draws per request, always both, so the fault sequence depends only on the seed and
    /// the order of requests, not on which faults are switched on.
    fn roll(&self, f: &Faults) -> (bool, bool) {
        let mut rng = lock(&self.rng);
        let drop_draw: f64 = rng.random();
        let error_draw: f64 = rng.random();
        (drop_draw < f.drop_rate, error_draw < f.error_rate)
    }
}

/// Whether a path belongs to the core-entities API (koko bodies) or a Konnect-native one.
fn is_core(template: &str) -> bool {
    template.contains("/core-entities/")
}

/// Whether a request changes state. `POST schemas/.../validate` stores nothing, so a
/// read-only token may use it.
fn is_write(method: &axum::http::Method, template: &str) -> bool {
    !(method.is_safe() || template.ends_with("/validate"))
}

/// The middleware in front of every `/v2` route.
pub async fn gate(State(ctx): State<Ctx>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().to_string();
    let unmatched = if req.uri().path().starts_with("/v3/") {
        "unmatched /v3"
    } else {
        "unmatched"
    };
    let template = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str())
        .filter(|m| !m.ends_with("{*rest}"))
        .map_or_else(|| unmatched.to_string(), super::api::spec_template);
    let conn = req
        .extensions()
        .get::<ConnectInfo<ConnTag>>()
        .map(|c| c.0.clone());
    let user_agent = req
        .headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let (resp, dropped) = pass(&ctx, &template, conn, req, next).await;
    let status = if dropped {
        DROPPED
    } else {
        resp.status().as_u16()
    };
    ctx.0.gate.record(&method, &template, status, &user_agent);
    tracing::debug!(
        method = %method,
        path = %template,
        status,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "request"
    );
    resp
}

async fn pass(
    ctx: &Ctx,
    template: &str,
    conn: Option<ConnTag>,
    req: Request,
    next: Next,
) -> (Response, bool) {
    let gate = &ctx.0.gate;
    let faults = gate.faults();
    if faults.latency_ms > 0 {
        tokio::time::sleep(Duration::from_millis(faults.latency_ms)).await;
    }
    if let Some((wait, limit)) = gate.take_budget() {
        return (rate_limited(wait, limit, faults.retry_after_format), false);
    }
    let access = gate.access(&req);
    if access == Access::ReadOnly && is_write(req.method(), template) {
        let resp = if is_core(template) {
            ApiError::UsageConstraint(vec![Detail::entity("token is not permitted to write")])
                .into_response()
        } else {
            Problem::new(
                StatusCode::FORBIDDEN,
                "Forbidden",
                "You do not have permission to perform this action",
            )
            .into_response()
        };
        return (resp, false);
    }
    if access == Access::Denied {
        let resp = if is_core(template) {
            ApiError::Unauthorized.into_response()
        } else {
            Problem::new(
                StatusCode::UNAUTHORIZED,
                "Unauthorized",
                "Invalid credentials",
            )
            .into_response()
        };
        return (resp, false);
    }
    let (drop, error) = gate.roll(&faults);
    if error {
        let resp = if is_core(template) {
            ApiError::Internal.into_response()
        } else {
            Problem::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Internal Server Error",
                "An unexpected error occurred",
            )
            .into_response()
        };
        return (resp, false);
    }
    let resp = next.run(req).await;
    match (drop, conn) {
        (true, Some(conn)) => {
            // The handler ran (a write took effect); the client never learns of it.
            conn.kill();
            (resp, true)
        }
        _ => (resp, false),
    }
}

fn rate_limited(wait: Duration, limit: u32, format: RetryAfterFormat) -> Response {
    // Whole seconds, rounded up, at least 1: what a client can sleep on.
    let secs = u64::try_from(wait.as_millis().div_ceil(1000).max(1)).unwrap_or(u64::MAX);
    let mut resp = (
        StatusCode::TOO_MANY_REQUESTS,
        axum::Json(json!({"message": "API rate limit exceeded"})),
    )
        .into_response();
    let h = resp.headers_mut();
    let retry_after = match format {
        RetryAfterFormat::Seconds => HeaderValue::from(secs),
        RetryAfterFormat::HttpDate => {
            // An HTTP date has whole-second resolution: round up once more so that a client
            // reading it never wakes before the bucket has a token.
            let at = std::time::SystemTime::now() + Duration::from_secs(secs.saturating_add(1));
            HeaderValue::from_str(&httpdate::fmt_http_date(at))
                .unwrap_or_else(|_| HeaderValue::from(secs))
        }
    };
    h.insert(header::RETRY_AFTER, retry_after);
    h.insert("ratelimit-limit", HeaderValue::from(limit));
    h.insert("ratelimit-remaining", HeaderValue::from(0u32));
    h.insert("ratelimit-reset", HeaderValue::from(secs));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    fn faults() -> Faults {
        Faults {
            error_rate: 0.0,
            latency_ms: 0,
            drop_rate: 0.0,
            rate_limit_per_minute: None,
            max_entities_per_control_plane: None,
            retry_after_format: RetryAfterFormat::Seconds,
        }
    }

    #[test]
    fn merge_is_partial_and_checked() {
        let f = faults().merged(&json!({"error_rate": 0.5})).unwrap();
        assert_eq!(f.error_rate, 0.5);
        assert_eq!(f.latency_ms, 0);
        let f = f.merged(&json!({"rate_limit_per_minute": 60})).unwrap();
        assert_eq!(f.rate_limit_per_minute, Some(60));
        let f = f.merged(&json!({"rate_limit_per_minute": null})).unwrap();
        assert_eq!(f.rate_limit_per_minute, None);
        assert!(faults().merged(&json!({"error_rate": 2.0})).is_err());
        let f = f
            .merged(&json!({"max_entities_per_control_plane": 3}))
            .unwrap();
        assert_eq!(f.max_entities_per_control_plane, Some(3));
        assert_eq!(f.error_rate, 0.5, "other settings stay");
        let f = f
            .merged(&json!({"max_entities_per_control_plane": null}))
            .unwrap();
        assert_eq!(f.max_entities_per_control_plane, None);
        assert!(
            faults()
                .merged(&json!({"max_entities_per_control_plane": -1}))
                .is_err()
        );
        assert!(faults().merged(&json!({"nope": 1})).is_err());
        let f = faults()
            .merged(&json!({"retry_after_format": "http-date"}))
            .unwrap();
        assert_eq!(f.retry_after_format, RetryAfterFormat::HttpDate);
        assert!(
            faults()
                .merged(&json!({"retry_after_format": "minutes"}))
                .is_err()
        );
    }

    #[test]
    fn same_seed_same_faults() {
        let f = Faults {
            error_rate: 0.3,
            drop_rate: 0.3,
            ..faults()
        };
        let a = Gate::new(f.clone(), 7, vec![]);
        let b = Gate::new(f.clone(), 7, vec![]);
        let ra: Vec<_> = (0..50).map(|_| a.roll(&f)).collect();
        let rb: Vec<_> = (0..50).map(|_| b.roll(&f)).collect();
        assert_eq!(ra, rb);
        assert!(ra.iter().any(|r| r.1) && ra.iter().any(|r| !r.1));
    }

    #[test]
    fn read_only_tokens_authenticate_but_may_not_write() {
        let g = Gate::new(faults(), 0, vec!["kpat_rw".into(), "kpat_both".into()])
            .with_read_only_tokens(vec!["kpat_ro".into(), "kpat_both".into()]);
        let req = |token: &str| {
            Request::builder()
                .header(header::AUTHORIZATION, format!("Bearer {token}"))
                .body(axum::body::Body::empty())
                .unwrap()
        };
        assert_eq!(g.access(&req("kpat_rw")), Access::Full);
        assert_eq!(g.access(&req("kpat_ro")), Access::ReadOnly);
        assert_eq!(g.access(&req("kpat_both")), Access::ReadOnly);
        assert_eq!(g.access(&req("kpat_nope")), Access::Denied);
        use axum::http::Method;
        assert!(!is_write(&Method::GET, "/v2/x/core-entities/plugins"));
        assert!(is_write(
            &Method::PUT,
            "/v2/x/core-entities/plugins/{PluginId}"
        ));
        assert!(is_write(
            &Method::DELETE,
            "/v2/x/core-entities/plugins/{PluginId}"
        ));
        assert!(!is_write(
            &Method::POST,
            "/v2/x/core-entities/schemas/plugins/validate"
        ));
    }

    #[test]
    fn budget_runs_out_and_says_when() {
        let g = Gate::new(
            Faults {
                rate_limit_per_minute: Some(2),
                ..faults()
            },
            0,
            vec![],
        );
        // 2/min: a bucket of 2, one new token every 30 s (governor's Quota::per_minute). The
        // wait is checked against the time the test took, so a slow machine cannot fail it:
        // if k tokens were granted from `start` on, the next one is due 30 s * (k - 1) after
        // the first grant, which was at or after `start`.
        let start = Instant::now();
        let mut granted = 0u32;
        let (wait, limit) = loop {
            match g.take_budget() {
                None => granted += 1,
                Some(denied) => break denied,
            }
            assert!(granted <= 100, "the budget never runs out");
        };
        let elapsed = start.elapsed();
        assert_eq!(limit, 2);
        let period = Duration::from_secs(30);
        let whole_periods = u32::try_from(elapsed.as_secs() / 30).unwrap();
        assert!(granted >= 2, "the full bucket holds 2: {granted}");
        assert!(
            granted <= 2 + whole_periods,
            "{granted} granted in {elapsed:?}"
        );
        assert!(wait <= period, "{wait:?}");
        // Due at first_grant + period * (granted - 1) >= start + period * (granted - 1).
        // (Governor's clock and std's can disagree by a few microseconds: 1 ms of slack.)
        assert!(
            wait + elapsed + Duration::from_millis(1) >= period * (granted - 1),
            "{wait:?} after {elapsed:?}"
        );
    }

    #[test]
    fn retry_after_in_both_forms() {
        let wait = Duration::from_millis(2500);
        let r = rate_limited(wait, 60, RetryAfterFormat::Seconds);
        assert_eq!(r.headers()[header::RETRY_AFTER], "3");
        // 2.5 s rounds up to 3, plus one for the date's whole-second resolution: the date is
        // 4 s after the response was made, truncated to the second. Bracketing "made" between
        // two clock readings needs no assumption on how long the call takes.
        let before = std::time::SystemTime::now();
        let r = rate_limited(wait, 60, RetryAfterFormat::HttpDate);
        let after = std::time::SystemTime::now();
        let v = r.headers()[header::RETRY_AFTER]
            .to_str()
            .unwrap()
            .to_string();
        let at = httpdate::parse_http_date(&v).unwrap();
        assert!(at > before + Duration::from_secs(3), "{v}");
        assert!(at <= after + Duration::from_secs(4), "{v}");
    }
}
