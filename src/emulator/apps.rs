//! The Konnect Application Auth Strategies API v2 (application auth strategies and DCR
//! providers), from `tests/reference/konnect/konnect-application-auth-strategies-v2.openapi.yaml`:
//! `page[size]`/`page[number]` paging, the spec's `filter[...]` and `sort`, problem+json errors
//! with `invalid_parameters`, write-only secret fields (`initial_client_secret`, `dcr_token`,
//! `api_key`: stored, never returned), `POST /dcr-providers/{id}/verify`, and the 409 of
//! deleting a strategy a product version uses.
//!
//! The emulator has no API products, so "in use" is a test control:
//! `PUT /_emulator/application-auth-strategies/{id}/in-use` with `{"in_use": true}` (it also
//! makes the strategy, and its DCR provider, `active`). Other controls:
//! `PUT /_emulator/dcr-providers/{id}/verify` with `{"errors": [...]}` sets what verify answers
//! (empty: success), and `GET /_emulator/apps` dumps everything, write-only fields included, for
//! tests to check what Konnect received. This state lives beside the control planes' and is
//! not in the state file.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, put};
use serde_json::{Map, Value, json};

use super::errors::Problem;
use super::{Ctx, lock};

type QueryList = Vec<(String, String)>;
type Shared = Arc<Mutex<AppsState>>;

/// One stored entity: what GET returns (without `active`), its write-only fields, controls.
#[derive(Clone, Debug, Default)]
struct Stored {
    seq: u64,
    public: Map<String, Value>,
    secrets: Map<String, Value>,
    in_use: bool,
    verify_errors: Vec<String>,
}

/// Strategies and providers of the emulated organisation.
#[derive(Debug, Default)]
pub struct AppsState {
    seq: u64,
    strategies: BTreeMap<String, Stored>,
    providers: BTreeMap<String, Stored>,
}

const SECRET_FIELDS: [&str; 3] = ["initial_client_secret", "dcr_token", "api_key"];

/// The API routes (behind the gate, merged into `/v2`) and the test controls.
pub fn routers() -> (Router<Ctx>, Router<Ctx>) {
    let shared: Shared = Arc::default();
    let s = shared.clone();
    let api = Router::new()
        .route(
            "/v2/application-auth-strategies",
            verbs(
                get({
                    let s = s.clone();
                    move |Query(q): Query<QueryList>| async move { list_strategies(&s, &q) }
                })
                .post({
                    let s = s.clone();
                    move |body: Bytes| async move { create_strategy(&s, &body, None) }
                }),
            ),
        )
        .route(
            "/v2/application-auth-strategies/{authStrategyId}",
            verbs(
                get({
                    let s = s.clone();
                    move |Path(id): Path<String>| async move { get_strategy(&s, &id) }
                })
                .put({
                    let s = s.clone();
                    move |Path(id): Path<String>, body: Bytes| async move {
                        match check_uuid(&id) {
                            Some(r) => r,
                            None => create_strategy(&s, &body, Some(id)),
                        }
                    }
                })
                .patch({
                    let s = s.clone();
                    move |Path(id): Path<String>, body: Bytes| async move {
                        update_strategy(&s, &id, &body)
                    }
                })
                .delete({
                    let s = s.clone();
                    move |Path(id): Path<String>| async move { delete_strategy(&s, &id) }
                }),
            ),
        )
        .route(
            "/v2/dcr-providers",
            verbs(
                get({
                    let s = s.clone();
                    move |Query(q): Query<QueryList>| async move { list_providers(&s, &q) }
                })
                .post({
                    let s = s.clone();
                    move |body: Bytes| async move { create_provider(&s, &body) }
                }),
            ),
        )
        .route(
            "/v2/dcr-providers/{dcrProviderId}",
            verbs(
                get({
                    let s = s.clone();
                    move |Path(id): Path<String>| async move { get_provider(&s, &id) }
                })
                .patch({
                    let s = s.clone();
                    move |Path(id): Path<String>, body: Bytes| async move {
                        update_provider(&s, &id, &body)
                    }
                })
                .delete({
                    let s = s.clone();
                    move |Path(id): Path<String>| async move { delete_provider(&s, &id) }
                }),
            ),
        )
        .route(
            "/v2/dcr-providers/{dcrProviderId}/verify",
            verbs(axum::routing::post({
                let s = s.clone();
                move |Path(id): Path<String>| async move { verify_provider(&s, &id) }
            })),
        );
    let c = shared;
    let controls = Router::new()
        .route(
            "/_emulator/application-auth-strategies/{id}/in-use",
            put({
                let c = c.clone();
                move |Path(id): Path<String>, body: Bytes| async move {
                    let in_use = serde_json::from_slice::<Value>(&body)
                        .ok()
                        .and_then(|v| v["in_use"].as_bool())
                        .unwrap_or(true);
                    let mut st = lock(&c);
                    match st.strategies.get_mut(&id) {
                        Some(e) => {
                            e.in_use = in_use;
                            axum::Json(json!({"in_use": in_use})).into_response()
                        }
                        None => not_found(),
                    }
                }
            }),
        )
        .route(
            "/_emulator/dcr-providers/{id}/verify",
            put({
                let c = c.clone();
                move |Path(id): Path<String>, body: Bytes| async move {
                    let errors: Vec<String> = serde_json::from_slice::<Value>(&body)
                        .ok()
                        .and_then(|v| serde_json::from_value(v["errors"].clone()).ok())
                        .unwrap_or_default();
                    let mut st = lock(&c);
                    match st.providers.get_mut(&id) {
                        Some(e) => {
                            e.verify_errors = errors.clone();
                            axum::Json(json!({"errors": errors})).into_response()
                        }
                        None => not_found(),
                    }
                }
            }),
        )
        .route(
            "/_emulator/apps",
            get({
                let c = c.clone();
                move || async move {
                    let st = lock(&c);
                    let dump = |m: &BTreeMap<String, Stored>| -> Vec<Value> {
                        let mut v: Vec<&Stored> = m.values().collect();
                        v.sort_by_key(|e| e.seq);
                        v.into_iter()
                            .map(|e| {
                                json!({"entity": e.public, "secrets": e.secrets, "in_use": e.in_use})
                            })
                            .collect()
                    };
                    axum::Json(json!({
                        "application_auth_strategies": dump(&st.strategies),
                        "dcr_providers": dump(&st.providers),
                    }))
                    .into_response()
                }
            }),
        );
    (api, controls)
}

fn verbs(r: MethodRouter<Ctx>) -> MethodRouter<Ctx> {
    r.fallback(|| async {
        Problem::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "Method Not Allowed",
            "The method is not allowed for the requested URL.",
        )
        .into_response()
    })
}

fn not_found() -> Response {
    Problem::new(StatusCode::NOT_FOUND, "Not Found", "Not Found").into_response()
}

fn bad(detail: &str, params: Vec<(String, String)>) -> Response {
    problem(detail, params).into_response()
}

fn problem(detail: &str, params: Vec<(String, String)>) -> Problem {
    Problem {
        invalid_parameters: params,
        ..Problem::new(StatusCode::BAD_REQUEST, "Bad Request", detail)
    }
}

fn check_uuid(id: &str) -> Option<Response> {
    if uuid::Uuid::parse_str(id).is_err() {
        return Some(bad(
            "Request contains invalid ID format",
            vec![("id".into(), "must be a valid UUID".into())],
        ));
    }
    None
}

fn now() -> String {
    jiff::Timestamp::now().to_string()
}

// ----- validation helpers ------------------------------------------------------------------

/// Collects `(field, reason)` pairs; reasons never quote the value (it may be a secret).
#[derive(Default)]
struct Errs(Vec<(String, String)>);

impl Errs {
    fn add(&mut self, field: impl Into<String>, reason: impl Into<String>) {
        self.0.push((field.into(), reason.into()));
    }

    fn unknown(&mut self, prefix: &str, body: &Map<String, Value>, allowed: &[&str]) {
        for k in body.keys().filter(|k| !allowed.contains(&k.as_str())) {
            self.add(
                format!("{prefix}{k}"),
                format!("property {k} should not exist"),
            );
        }
    }

    fn string(
        &mut self,
        body: &Map<String, Value>,
        prefix: &str,
        key: &str,
        required: bool,
        min: usize,
        max: usize,
    ) {
        let field = format!("{prefix}{key}");
        match body.get(key) {
            None if required => self.add(field, "is a required field"),
            None => {}
            Some(Value::String(s)) => {
                let n = s.chars().count();
                if n < min {
                    self.add(field, format!("must have at least {min} characters"));
                } else if n > max {
                    self.add(field, format!("must have at most {max} characters"));
                }
            }
            Some(_) => self.add(field, "must be a string"),
        }
    }

    fn url(&mut self, body: &Map<String, Value>, prefix: &str, key: &str, required: bool) {
        self.string(body, prefix, key, required, 0, 256);
        if let Some(Value::String(s)) = body.get(key)
            && url::Url::parse(s).is_err()
        {
            self.add(format!("{prefix}{key}"), "must be a valid URL");
        }
    }

    fn string_list(
        &mut self,
        body: &Map<String, Value>,
        prefix: &str,
        key: &str,
        required: bool,
        (min_items, max_items, max_len): (usize, usize, usize),
    ) {
        let field = format!("{prefix}{key}");
        match body.get(key) {
            None if required => self.add(field, "is a required field"),
            None => {}
            Some(Value::Array(items)) => {
                if items.len() < min_items {
                    self.add(&field, format!("must have at least {min_items} items"));
                }
                if items.len() > max_items {
                    self.add(&field, format!("must have at most {max_items} items"));
                }
                for (i, item) in items.iter().enumerate() {
                    match item.as_str() {
                        Some(s) if s.chars().count() <= max_len => {}
                        Some(_) => self.add(
                            format!("{field}[{i}]"),
                            format!("must have at most {max_len} characters"),
                        ),
                        None => self.add(format!("{field}[{i}]"), "must be a string"),
                    }
                }
            }
            Some(_) => self.add(field, "must be an array"),
        }
    }

    fn boolean(&mut self, body: &Map<String, Value>, prefix: &str, key: &str) {
        if let Some(v) = body.get(key)
            && !v.is_boolean()
        {
            self.add(format!("{prefix}{key}"), "must be a boolean");
        }
    }

    /// `Labels` (or `LabelsUpdate` with `update`: null values remove a label).
    fn labels(&mut self, body: &Map<String, Value>, update: bool) {
        let Some(v) = body.get("labels") else { return };
        let map = match v {
            Value::Object(m) => m,
            Value::Null if update => return,
            _ => return self.add("labels", "must be an object"),
        };
        if map.len() > 50 {
            self.add("labels", "must have at most 50 properties");
        }
        for (k, v) in map {
            let n = k.chars().count();
            if !(1..=63).contains(&n)
                || ["kong", "konnect", "mesh", "kic", "_"]
                    .iter()
                    .any(|p| k.starts_with(p))
            {
                self.add(
                    format!("labels.{k}"),
                    "Keys must be of length 1-63 characters, and cannot start with \"kong\", \"konnect\", \"mesh\", \"kic\", or \"_\".",
                );
            }
            match v {
                Value::Null if update => {}
                Value::String(s) if label_value_ok(s) => {}
                _ => self.add(
                    format!("labels.{k}"),
                    "must match pattern '^[a-z0-9A-Z]{1}([a-z0-9A-Z-._]*[a-z0-9A-Z]+)?$' and be 1-63 characters",
                ),
            }
        }
    }

    fn done(self) -> Result<(), Problem> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(problem("Invalid request body", self.0))
        }
    }
}

fn label_value_ok(s: &str) -> bool {
    let b = s.as_bytes();
    let alnum = |c: &u8| c.is_ascii_alphanumeric();
    (1..=63).contains(&b.len())
        && alnum(&b[0])
        && alnum(&b[b.len() - 1])
        && b.iter()
            .all(|c| alnum(c) || matches!(c, b'-' | b'.' | b'_'))
}

fn parse_object(body: &[u8]) -> Result<Map<String, Value>, Problem> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(problem(
            "Invalid request format",
            vec![("body".into(), "request format is invalid".into())],
        )),
    }
}

// ----- listing -----------------------------------------------------------------------------

struct ListParams {
    size: usize,
    number: usize,
    /// `(field, op, value)`.
    filters: Vec<(String, String, String)>,
    sort: Option<(String, bool)>,
}

fn parse_list(
    q: &QueryList,
    filterable: &[(&str, &[&str])],
    sortable: &[&str],
) -> Result<ListParams, Problem> {
    let mut p = ListParams {
        size: 10,
        number: 1,
        filters: Vec::new(),
        sort: None,
    };
    for (k, v) in q {
        match k.as_str() {
            "page[size]" if !v.is_empty() => match v.parse::<usize>() {
                Ok(n) if (1..=100).contains(&n) => p.size = n,
                _ => {
                    return Err(problem(
                        "Invalid page size",
                        vec![("page[size]".into(), "must be between 1 and 100".into())],
                    ));
                }
            },
            "page[number]" if !v.is_empty() => match v.parse::<usize>() {
                Ok(n) if n >= 1 => p.number = n,
                _ => {
                    return Err(problem(
                        "Invalid page number",
                        vec![("page[number]".into(), "must be a positive integer".into())],
                    ));
                }
            },
            "page[size]" | "page[number]" => {}
            "sort" => {
                let (field, desc) = match v.strip_prefix('-') {
                    Some(f) => (f.to_string(), true),
                    None => match v.strip_suffix(" desc") {
                        Some(f) => (f.to_string(), true),
                        None => (v.trim_end_matches(" asc").to_string(), false),
                    },
                };
                if !sortable.contains(&field.as_str()) {
                    return Err(problem(
                        "Invalid sort",
                        vec![("sort".into(), format!("cannot sort by {field}"))],
                    ));
                }
                p.sort = Some((field, desc));
            }
            _ => {
                let Some(rest) = k.strip_prefix("filter[") else {
                    continue;
                };
                let parts: Vec<&str> = rest.trim_end_matches(']').split("][").collect();
                let (field, op) = match parts.as_slice() {
                    [f] => (*f, "eq"),
                    [f, op] => (*f, *op),
                    _ => ("", ""),
                };
                let ok = filterable
                    .iter()
                    .any(|(f, ops)| *f == field && ops.contains(&op));
                if !ok {
                    return Err(problem(
                        "Invalid filter",
                        vec![(k.clone(), "unsupported filter".into())],
                    ));
                }
                p.filters.push((field.into(), op.into(), v.clone()));
            }
        }
    }
    Ok(p)
}

fn matches(have: &str, op: &str, want: &str) -> bool {
    match op {
        "eq" => have == want,
        "neq" => have != want,
        "contains" => have.contains(want),
        "ocontains" => want.split(',').any(|w| have.contains(w)),
        "oeq" => want.split(',').any(|w| w == have),
        _ => false,
    }
}

fn page(
    mut items: Vec<(Value, u64)>,
    p: &ListParams,
    field_of: fn(&Value, &str) -> String,
) -> Response {
    items.retain(|(v, _)| {
        p.filters
            .iter()
            .all(|(f, op, want)| matches(&field_of(v, f), op, want))
    });
    items.sort_by_key(|(_, seq)| *seq);
    if let Some((field, desc)) = &p.sort {
        items.sort_by_key(|(v, _)| field_of(v, field));
        if *desc {
            items.reverse();
        }
    }
    let total = items.len();
    let data: Vec<Value> = items
        .into_iter()
        .skip((p.number - 1).saturating_mul(p.size))
        .take(p.size)
        .map(|(v, _)| v)
        .collect();
    axum::Json(json!({
        "data": data,
        "meta": {"page": {"number": p.number, "size": p.size, "total": total}},
    }))
    .into_response()
}

// ----- application auth strategies -----------------------------------------------------------

const STR_OPS: &[&str] = &["eq", "oeq", "neq", "contains", "ocontains"];
const UUID_OPS: &[&str] = &["eq", "oeq", "neq"];

fn strategy_view(st: &AppsState, e: &Stored) -> Value {
    let mut v = e.public.clone();
    v.insert("active".into(), json!(e.in_use));
    let provider = e
        .public
        .get("dcr_provider")
        .and_then(|p| p.get("id"))
        .and_then(Value::as_str)
        .and_then(|id| st.providers.get(id));
    let summary = match provider {
        Some(p) => {
            let mut s = Map::new();
            for k in ["id", "name", "display_name", "provider_type"] {
                if let Some(v) = p.public.get(k) {
                    s.insert(k.into(), v.clone());
                }
            }
            Value::Object(s)
        }
        None => Value::Null,
    };
    v.insert("dcr_provider".into(), summary);
    Value::Object(v)
}

fn strategy_field(v: &Value, f: &str) -> String {
    let s = match f {
        "dcr_provider_id" => &v["dcr_provider"]["id"],
        "dcr_provider_name" => &v["dcr_provider"]["name"],
        "dcr_provider_type" => &v["dcr_provider"]["provider_type"],
        other => &v[other],
    };
    match s {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn list_strategies(s: &Shared, q: &QueryList) -> Response {
    let p = match parse_list(
        q,
        &[
            ("strategy_type", STR_OPS),
            ("name", STR_OPS),
            ("display_name", STR_OPS),
            ("dcr_provider_id", UUID_OPS),
            ("dcr_provider_name", STR_OPS),
            ("dcr_provider_type", STR_OPS),
        ],
        &[
            "created_at",
            "updated_at",
            "strategy_type",
            "name",
            "display_name",
            "dcr_provider_id",
            "dcr_provider_name",
            "dcr_provider_type",
        ],
    ) {
        Ok(p) => p,
        Err(r) => return r.into_response(),
    };
    let st = lock(s);
    let items = st
        .strategies
        .values()
        .map(|e| (strategy_view(&st, e), e.seq))
        .collect();
    page(items, &p, strategy_field)
}

fn get_strategy(s: &Shared, id: &str) -> Response {
    if let Some(r) = check_uuid(id) {
        return r;
    }
    let st = lock(s);
    match st.strategies.get(id) {
        Some(e) => axum::Json(strategy_view(&st, e)).into_response(),
        None => not_found(),
    }
}

fn validate_key_auth(errs: &mut Errs, c: &Map<String, Value>, prefix: &str, update: bool) {
    errs.unknown(prefix, c, &["key_names", "ttl"]);
    errs.string_list(c, prefix, "key_names", false, (1, 10, 256));
    match c.get("ttl") {
        None => {}
        Some(Value::Null) if update => {}
        Some(Value::Object(t)) => {
            let tp = format!("{prefix}ttl.");
            errs.unknown(&tp, t, &["value", "unit"]);
            match t.get("value").and_then(Value::as_i64) {
                Some(n) if n >= 1 => {}
                Some(_) => errs.add(format!("{tp}value"), "must be greater than or equal to 1"),
                None => errs.add(format!("{tp}value"), "is a required field"),
            }
            match t.get("unit").and_then(Value::as_str) {
                Some("days" | "weeks" | "years") => {}
                Some(_) => errs.add(format!("{tp}unit"), "must be one of days, weeks, years"),
                None => errs.add(format!("{tp}unit"), "is a required field"),
            }
        }
        Some(_) => errs.add(format!("{prefix}ttl"), "must be an object"),
    }
}

fn validate_oidc(errs: &mut Errs, c: &Map<String, Value>, prefix: &str, update: bool) {
    errs.url(c, prefix, "issuer", !update);
    errs.string_list(c, prefix, "credential_claim", !update, (0, 10, 128));
    errs.string_list(c, prefix, "scopes", !update, (0, 50, 128));
    errs.string_list(c, prefix, "auth_methods", !update, (0, 10, 64));
}

fn validate_principals(errs: &mut Errs, body: &Map<String, Value>) {
    match body.get("principals") {
        None => {}
        Some(Value::Object(p)) => {
            errs.unknown("principals.", p, &["enabled"]);
            if !p.get("enabled").is_some_and(Value::is_boolean) {
                errs.add("principals.enabled", "is a required field");
            }
        }
        Some(_) => errs.add("principals", "must be an object"),
    }
}

/// Checks `dcr_provider_id` (a known provider's UUID, or null); returns its summary id.
fn check_provider_id(st: &AppsState, errs: &mut Errs, v: Option<&Value>) -> Option<Value> {
    match v {
        None | Some(Value::Null) => Some(Value::Null),
        Some(Value::String(id)) if st.providers.contains_key(id) => Some(json!({"id": id})),
        Some(Value::String(_)) => {
            errs.add("dcr_provider_id", "DCR provider not found");
            None
        }
        Some(_) => {
            errs.add("dcr_provider_id", "must be a UUID or null");
            None
        }
    }
}

fn create_strategy(s: &Shared, body: &[u8], replace: Option<String>) -> Response {
    let body = match parse_object(body) {
        Ok(b) => b,
        Err(r) => return r.into_response(),
    };
    let mut errs = Errs::default();
    let stype = body
        .get("strategy_type")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let (config_key, mut allowed) = match stype.as_str() {
        "key_auth" => (
            "key-auth",
            vec![
                "name",
                "display_name",
                "strategy_type",
                "configs",
                "labels",
                "principals",
            ],
        ),
        "openid_connect" => (
            "openid-connect",
            vec![
                "name",
                "display_name",
                "strategy_type",
                "configs",
                "labels",
                "principals",
            ],
        ),
        _ => {
            return bad(
                "Invalid strategy_type",
                vec![(
                    "strategy_type".into(),
                    "must be one of key_auth, openid_connect".into(),
                )],
            );
        }
    };
    if stype == "openid_connect" {
        allowed.push("dcr_provider_id");
    }
    errs.unknown("", &body, &allowed);
    errs.string(&body, "", "name", true, 1, 256);
    errs.string(&body, "", "display_name", true, 0, 256);
    errs.labels(&body, false);
    validate_principals(&mut errs, &body);
    match body.get("configs") {
        Some(Value::Object(c)) => {
            errs.unknown("configs.", c, &[config_key]);
            match c.get(config_key) {
                Some(Value::Object(cfg)) => {
                    let prefix = format!("configs.{config_key}.");
                    if stype == "key_auth" {
                        validate_key_auth(&mut errs, cfg, &prefix, false);
                    } else {
                        validate_oidc(&mut errs, cfg, &prefix, false);
                    }
                }
                Some(_) => errs.add(format!("configs.{config_key}"), "must be an object"),
                None => errs.add(format!("configs.{config_key}"), "is a required field"),
            }
        }
        Some(_) => errs.add("configs", "must be an object"),
        None => errs.add("configs", "is a required field"),
    }
    let mut st = lock(s);
    let provider = check_provider_id(&st, &mut errs, body.get("dcr_provider_id"));
    if let Err(r) = errs.done() {
        return r.into_response();
    }
    let id = replace.unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let now = now();
    let (created_at, in_use) = match st.strategies.get(&id) {
        Some(old) => (old.public.get("created_at").cloned(), old.in_use),
        None => (None, false),
    };
    let mut public = Map::new();
    public.insert("id".into(), json!(id));
    for k in ["name", "display_name", "strategy_type", "configs"] {
        public.insert(k.into(), body[k].clone());
    }
    public.insert("dcr_provider".into(), provider.unwrap_or(Value::Null));
    public.insert(
        "labels".into(),
        body.get("labels").cloned().unwrap_or_else(|| json!({})),
    );
    if let Some(p) = body.get("principals") {
        public.insert("principals".into(), p.clone());
    }
    if stype == "key_auth" {
        public.insert("supports_multiple_credentials".into(), json!(true));
    }
    public.insert("created_at".into(), created_at.unwrap_or(json!(now)));
    public.insert("updated_at".into(), json!(now));
    st.seq += 1;
    let seq = st.seq;
    st.strategies.insert(
        id.clone(),
        Stored {
            seq,
            public,
            in_use,
            ..Stored::default()
        },
    );
    let view = strategy_view(&st, &st.strategies[&id]);
    (StatusCode::CREATED, axum::Json(view)).into_response()
}

/// Applies a `LabelsUpdate`: null removes a label, a null map removes them all.
fn merge_labels(target: &mut Map<String, Value>, update: &Value) {
    match update {
        Value::Null => {
            target.insert("labels".into(), json!({}));
        }
        Value::Object(u) => {
            let mut labels = target
                .get("labels")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            for (k, v) in u {
                if v.is_null() {
                    labels.remove(k);
                } else {
                    labels.insert(k.clone(), v.clone());
                }
            }
            target.insert("labels".into(), Value::Object(labels));
        }
        _ => {}
    }
}

fn update_strategy(s: &Shared, id: &str, body: &[u8]) -> Response {
    if let Some(r) = check_uuid(id) {
        return r;
    }
    let body = match parse_object(body) {
        Ok(b) => b,
        Err(r) => return r.into_response(),
    };
    let mut st = lock(s);
    let Some(current) = st.strategies.get(id) else {
        return not_found();
    };
    let stype = current.public["strategy_type"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let config_key = if stype == "key_auth" {
        "key-auth"
    } else {
        "openid-connect"
    };
    let mut errs = Errs::default();
    errs.unknown(
        "",
        &body,
        &[
            "name",
            "display_name",
            "labels",
            "dcr_provider_id",
            "configs",
            "principals",
        ],
    );
    errs.string(&body, "", "name", false, 1, 256);
    errs.string(&body, "", "display_name", false, 0, 256);
    errs.labels(&body, true);
    validate_principals(&mut errs, &body);
    if let Some(c) = body.get("configs") {
        match c {
            Value::Object(c) => {
                errs.unknown("configs.", c, &[config_key]);
                match c.get(config_key) {
                    Some(Value::Object(cfg)) => {
                        let prefix = format!("configs.{config_key}.");
                        if stype == "key_auth" {
                            validate_key_auth(&mut errs, cfg, &prefix, true);
                        } else {
                            validate_oidc(&mut errs, cfg, &prefix, true);
                        }
                    }
                    _ => errs.add(format!("configs.{config_key}"), "is a required field"),
                }
            }
            _ => errs.add("configs", "must be an object"),
        }
    }
    let provider = if body.contains_key("dcr_provider_id") {
        if stype == "key_auth" && !body["dcr_provider_id"].is_null() {
            errs.add(
                "dcr_provider_id",
                "a key_auth strategy cannot have a DCR provider",
            );
        }
        check_provider_id(&st, &mut errs, body.get("dcr_provider_id"))
    } else {
        None
    };
    if let Err(r) = errs.done() {
        return r.into_response();
    }
    let Some(e) = st.strategies.get_mut(id) else {
        return not_found();
    };
    for k in ["name", "display_name", "principals"] {
        if let Some(v) = body.get(k) {
            e.public.insert(k.into(), v.clone());
        }
    }
    if let Some(l) = body.get("labels") {
        merge_labels(&mut e.public, l);
    }
    if let Some(p) = provider {
        e.public.insert("dcr_provider".into(), p);
    }
    if let Some(Value::Object(c)) = body.get("configs")
        && let Some(Value::Object(partial)) = c.get(config_key)
    {
        let cfg = e.public["configs"][config_key]
            .as_object_mut()
            .map(std::mem::take)
            .unwrap_or_default();
        let mut cfg = cfg;
        for (k, v) in partial {
            if v.is_null() {
                cfg.remove(k);
            } else {
                cfg.insert(k.clone(), v.clone());
            }
        }
        e.public["configs"][config_key] = Value::Object(cfg);
    }
    e.public.insert("updated_at".into(), json!(now()));
    let view = strategy_view(&st, &st.strategies[id]);
    axum::Json(view).into_response()
}

fn delete_strategy(s: &Shared, id: &str) -> Response {
    if let Some(r) = check_uuid(id) {
        return r;
    }
    let mut st = lock(s);
    match st.strategies.get(id) {
        None => not_found(),
        Some(e) if e.in_use => Problem::new(
            StatusCode::CONFLICT,
            "Conflict",
            "The application auth strategy is still in use by one or more product versions and cannot be deleted.",
        )
        .into_response(),
        Some(_) => {
            st.strategies.remove(id);
            StatusCode::NO_CONTENT.into_response()
        }
    }
}

// ----- DCR providers -----------------------------------------------------------------------

/// Per provider type: the `dcr_config` fields allowed and those required on create.
fn dcr_fields(t: &str) -> Option<(&'static [&'static str], &'static [&'static str])> {
    Some(match t {
        "auth0" => (
            &[
                "initial_client_id",
                "initial_client_secret",
                "initial_client_audience",
                "use_developer_managed_scopes",
            ][..],
            &["initial_client_id", "initial_client_secret"][..],
        ),
        "azureAd" | "curity" => (
            &["initial_client_id", "initial_client_secret"][..],
            &["initial_client_id", "initial_client_secret"][..],
        ),
        "okta" => (&["dcr_token"][..], &["dcr_token"][..]),
        "http" => (
            &[
                "dcr_base_url",
                "api_key",
                "disable_event_hooks",
                "disable_refresh_secret",
                "allow_multiple_credentials",
            ][..],
            &["dcr_base_url", "api_key"][..],
        ),
        "kongIdentity" => (&[][..], &[][..]),
        _ => return None,
    })
}

fn validate_dcr_config(errs: &mut Errs, t: &str, c: &Map<String, Value>, update: bool) {
    let Some((allowed, required)) = dcr_fields(t) else {
        return;
    };
    let p = "dcr_config.";
    errs.unknown(p, c, allowed);
    for k in allowed {
        let req = !update && required.contains(k);
        match *k {
            "initial_client_id" | "initial_client_secret" | "dcr_token" => {
                errs.string(c, p, k, req, 0, 256)
            }
            "initial_client_audience" => {
                if !c.get(*k).is_some_and(Value::is_null) {
                    errs.string(c, p, k, false, 0, 256)
                }
            }
            "dcr_base_url" => errs.url(c, p, k, req),
            "api_key" => {
                errs.string(c, p, k, req, 12, 256);
                if let Some(Value::String(s)) = c.get(*k)
                    && !s.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '_')
                {
                    errs.add("dcr_config.api_key", "must match pattern '^[a-zA-Z0-9_]+$'");
                }
            }
            _ => errs.boolean(c, p, k),
        }
    }
}

/// The `dcr_config` GET returns (`DcrConfig*InResponse`): no write-only field.
fn dcr_response_config(t: &str, c: &Map<String, Value>) -> Value {
    let mut out = Map::new();
    match t {
        "auth0" => {
            out.insert("initial_client_id".into(), c["initial_client_id"].clone());
            out.insert(
                "initial_client_audience".into(),
                c.get("initial_client_audience")
                    .cloned()
                    .unwrap_or(Value::Null),
            );
            out.insert(
                "use_developer_managed_scopes".into(),
                c.get("use_developer_managed_scopes")
                    .cloned()
                    .unwrap_or(json!(false)),
            );
        }
        "azureAd" | "curity" => {
            out.insert("initial_client_id".into(), c["initial_client_id"].clone());
        }
        "http" => {
            out.insert("dcr_base_url".into(), c["dcr_base_url"].clone());
            for k in ["disable_event_hooks", "disable_refresh_secret"] {
                if let Some(v) = c.get(k) {
                    out.insert(k.into(), v.clone());
                }
            }
            out.insert(
                "allow_multiple_credentials".into(),
                c.get("allow_multiple_credentials")
                    .cloned()
                    .unwrap_or(json!(false)),
            );
        }
        _ => {}
    }
    Value::Object(out)
}

fn provider_view(st: &AppsState, id: &str, e: &Stored) -> Value {
    let mut v = e.public.clone();
    // "At least one active auth strategy is using this DCR provider."
    let active = st
        .strategies
        .values()
        .any(|s| s.in_use && s.public["dcr_provider"]["id"].as_str() == Some(id));
    v.insert("active".into(), json!(active));
    let t = e.public["provider_type"].as_str().unwrap_or_default();
    let cfg = e.public["dcr_config"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    v.insert("dcr_config".into(), dcr_response_config(t, &cfg));
    Value::Object(v)
}

fn provider_field(v: &Value, f: &str) -> String {
    let s = match f {
        "initial_client_id" | "initial_client_audience" => &v["dcr_config"][f],
        other => &v[other],
    };
    s.as_str().unwrap_or_default().to_string()
}

fn list_providers(s: &Shared, q: &QueryList) -> Response {
    const EQ_C: &[&str] = &["eq", "contains"];
    let p = match parse_list(
        q,
        &[
            ("id", EQ_C),
            ("issuer", EQ_C),
            ("name", EQ_C),
            ("provider_type", &["eq"]),
            ("initial_client_id", EQ_C),
            ("initial_client_audience", EQ_C),
        ],
        &[
            "created_at",
            "updated_at",
            "provider_type",
            "issuer",
            "name",
        ],
    ) {
        Ok(p) => p,
        Err(r) => return r.into_response(),
    };
    let st = lock(s);
    let items = st
        .providers
        .iter()
        .map(|(id, e)| (provider_view(&st, id, e), e.seq))
        .collect();
    page(items, &p, provider_field)
}

fn get_provider(s: &Shared, id: &str) -> Response {
    if let Some(r) = check_uuid(id) {
        return r;
    }
    let st = lock(s);
    match st.providers.get(id) {
        Some(e) => axum::Json(provider_view(&st, id, e)).into_response(),
        None => not_found(),
    }
}

/// Splits a `dcr_config` into what GET may show and the write-only fields.
fn split_secrets(c: &Map<String, Value>) -> (Map<String, Value>, Map<String, Value>) {
    let mut public = Map::new();
    let mut secrets = Map::new();
    for (k, v) in c {
        if SECRET_FIELDS.contains(&k.as_str()) {
            secrets.insert(k.clone(), v.clone());
        } else {
            public.insert(k.clone(), v.clone());
        }
    }
    (public, secrets)
}

fn create_provider(s: &Shared, body: &[u8]) -> Response {
    let body = match parse_object(body) {
        Ok(b) => b,
        Err(r) => return r.into_response(),
    };
    let t = body
        .get("provider_type")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    if dcr_fields(&t).is_none() {
        return bad(
            "Invalid provider_type",
            vec![(
                "provider_type".into(),
                "must be one of auth0, azureAd, curity, okta, http, kongIdentity".into(),
            )],
        );
    }
    let mut errs = Errs::default();
    errs.unknown(
        "",
        &body,
        &[
            "provider_type",
            "dcr_config",
            "name",
            "display_name",
            "issuer",
            "labels",
        ],
    );
    errs.string(&body, "", "name", true, 1, 256);
    errs.string(&body, "", "display_name", false, 1, 256);
    errs.url(&body, "", "issuer", true);
    errs.labels(&body, false);
    let empty = Map::new();
    match body.get("dcr_config") {
        Some(Value::Object(c)) => validate_dcr_config(&mut errs, &t, c, false),
        None if t == "kongIdentity" => validate_dcr_config(&mut errs, &t, &empty, false),
        None => errs.add("dcr_config", "is a required field"),
        Some(_) => errs.add("dcr_config", "must be an object"),
    }
    if let Err(r) = errs.done() {
        return r.into_response();
    }
    let (cfg, secrets) = split_secrets(
        body.get("dcr_config")
            .and_then(Value::as_object)
            .unwrap_or(&empty),
    );
    let id = uuid::Uuid::new_v4().to_string();
    let now = now();
    let mut public = Map::new();
    public.insert("id".into(), json!(id));
    for k in ["name", "display_name", "provider_type", "issuer", "labels"] {
        if let Some(v) = body.get(k) {
            public.insert(k.into(), v.clone());
        }
    }
    public.insert("dcr_config".into(), Value::Object(cfg));
    public.insert("created_at".into(), json!(now));
    public.insert("updated_at".into(), json!(now));
    let mut st = lock(s);
    st.seq += 1;
    let seq = st.seq;
    st.providers.insert(
        id.clone(),
        Stored {
            seq,
            public,
            secrets,
            ..Stored::default()
        },
    );
    let view = provider_view(&st, &id, &st.providers[&id]);
    (StatusCode::CREATED, axum::Json(view)).into_response()
}

fn update_provider(s: &Shared, id: &str, body: &[u8]) -> Response {
    if let Some(r) = check_uuid(id) {
        return r;
    }
    let body = match parse_object(body) {
        Ok(b) => b,
        Err(r) => return r.into_response(),
    };
    let mut st = lock(s);
    let Some(current) = st.providers.get(id) else {
        return not_found();
    };
    let t = current.public["provider_type"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let mut errs = Errs::default();
    if body.contains_key("provider_type") {
        errs.add(
            "provider_type",
            "The provider_type cannot be updated after creation.",
        );
    }
    errs.unknown(
        "",
        &body,
        &[
            "name",
            "display_name",
            "issuer",
            "labels",
            "dcr_config",
            "provider_type",
        ],
    );
    errs.string(&body, "", "name", false, 1, 256);
    errs.string(&body, "", "display_name", false, 1, 256);
    errs.url(&body, "", "issuer", false);
    errs.labels(&body, true);
    match body.get("dcr_config") {
        None => {}
        Some(Value::Object(c)) => validate_dcr_config(&mut errs, &t, c, true),
        Some(_) => errs.add("dcr_config", "must be an object"),
    }
    if let Err(r) = errs.done() {
        return r.into_response();
    }
    let Some(e) = st.providers.get_mut(id) else {
        return not_found();
    };
    for k in ["name", "display_name", "issuer"] {
        if let Some(v) = body.get(k) {
            e.public.insert(k.into(), v.clone());
        }
    }
    if let Some(l) = body.get("labels") {
        merge_labels(&mut e.public, l);
    }
    if let Some(Value::Object(c)) = body.get("dcr_config") {
        let (cfg, secrets) = split_secrets(c);
        let mut current = e.public["dcr_config"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        current.extend(cfg);
        e.public.insert("dcr_config".into(), Value::Object(current));
        e.secrets.extend(secrets);
    }
    e.public.insert("updated_at".into(), json!(now()));
    let view = provider_view(&st, id, &st.providers[id]);
    axum::Json(view).into_response()
}

fn delete_provider(s: &Shared, id: &str) -> Response {
    if let Some(r) = check_uuid(id) {
        return r;
    }
    let mut st = lock(s);
    if st.providers.remove(id).is_none() {
        return not_found();
    }
    StatusCode::NO_CONTENT.into_response()
}

fn verify_provider(s: &Shared, id: &str) -> Response {
    if let Some(r) = check_uuid(id) {
        return r;
    }
    let st = lock(s);
    match st.providers.get(id) {
        None => not_found(),
        Some(e) => {
            let status = if e.verify_errors.is_empty() {
                "success"
            } else {
                "failed"
            };
            axum::Json(json!({"status": status, "errors": e.verify_errors})).into_response()
        }
    }
}
