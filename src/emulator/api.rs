//! HTTP handlers and the router: Konnect's paths mapped onto [`super::store`] and
//! [`super::state`].
//!
//! Owns request parsing and response shapes (status codes, list envelopes, the
//! `consumer_group` wrapper) as the official specs define them; holds no business rules.
//! Path parameter names are the spec's (`{ServiceId}`, `{PluginId}`...), so the counters of
//! `/_emulator/stats` can be looked up in the spec as they are. The one exception is
//! `consumers/{ConsumerIdForNestedEntities}/plugins`: the router needs one name per position,
//! so it routes `{ConsumerId}` there and [`spec_template`] renames it for the counters.
//! Unknown `/v2` paths and wrong verbs also pass the gate (auth, counters) and answer 404 /
//! 405 with a body.

use std::collections::HashMap;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{OriginalUri, Path, Query, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, any, delete, get, post};
use serde_json::{Map, Value, json};

use super::errors::{ApiError, Detail, Problem};
use super::gate;
use super::state::{ControlPlane, NewControlPlane, Update};
use super::store::{CoreStore, Filters, Kind, ListQuery, Page, Parent, WriteMode, encode_offset};
use super::{Ctx, lock, plugins};

type Params = HashMap<String, String>;
type QueryList = Vec<(String, String)>;

const CORE: &str = "/v2/control-planes/{controlPlaneId}/core-entities";

/// One entity endpoint: its kind, the path parameter holding its id, and its parent when nested.
#[derive(Clone, Copy, Debug)]
struct Ep {
    kind: Kind,
    id_param: &'static str,
    parent: Option<(Kind, &'static str)>,
}

fn param_of(kind: Kind) -> &'static str {
    match kind {
        Kind::Service => "ServiceId",
        Kind::Route => "RouteId",
        Kind::Consumer => "ConsumerId",
        Kind::ConsumerGroup => "ConsumerGroupId",
        Kind::Plugin => "PluginId",
    }
}

fn collection_of(kind: Kind) -> &'static str {
    match kind {
        Kind::Service => "services",
        Kind::Route => "routes",
        Kind::Consumer => "consumers",
        Kind::ConsumerGroup => "consumer_groups",
        Kind::Plugin => "plugins",
    }
}

/// The spec's path template of a matched route (see the module doc).
pub(crate) fn spec_template(matched: &str) -> String {
    matched.replace(
        "/consumers/{ConsumerId}/plugins",
        "/consumers/{ConsumerIdForNestedEntities}/plugins",
    )
}

/// The whole router: `/v2` behind the gate, `/_emulator` controls without it.
pub fn router(ctx: Ctx) -> Router {
    let mut v2: Router<Ctx> = Router::new()
        .route(
            "/v2/control-planes",
            verbs(get(list_control_planes).post(create_control_plane)),
        )
        .route(
            "/v2/control-planes/{controlPlaneId}",
            verbs(
                get(get_control_plane)
                    .patch(update_control_plane)
                    .delete(delete_control_plane),
            ),
        )
        .route("/v3/organizations/me", verbs(get(organization_me)));

    let mut eps = Vec::new();
    for kind in Kind::ALL {
        eps.push((
            format!("{CORE}/{}", collection_of(kind)),
            Ep {
                kind,
                id_param: param_of(kind),
                parent: None,
            },
        ));
    }
    for parent in [
        Kind::Service,
        Kind::Route,
        Kind::Consumer,
        Kind::ConsumerGroup,
    ] {
        eps.push((
            format!(
                "{CORE}/{}/{{{}}}/plugins",
                collection_of(parent),
                param_of(parent)
            ),
            Ep {
                kind: Kind::Plugin,
                id_param: "PluginId",
                parent: Some((parent, param_of(parent))),
            },
        ));
    }
    eps.push((
        format!("{CORE}/services/{{ServiceId}}/routes"),
        Ep {
            kind: Kind::Route,
            id_param: "RouteId",
            parent: Some((Kind::Service, "ServiceId")),
        },
    ));
    for (path, ep) in eps {
        let item = format!("{path}/{{{}}}", ep.id_param);
        v2 = v2
            .route(&path, verbs(collection(ep)))
            .route(&item, verbs(item_routes(ep)));
    }

    v2 = v2
        .route(
            &format!("{CORE}/consumer_groups/{{ConsumerGroupId}}/consumers"),
            verbs(
                get(list_members)
                    .post(add_member)
                    .delete(remove_all_members),
            ),
        )
        .route(
            &format!("{CORE}/consumer_groups/{{ConsumerGroupId}}/consumers/{{ConsumerId}}"),
            verbs(delete(remove_member)),
        )
        .route(
            &format!("{CORE}/consumers/{{ConsumerId}}/consumer_groups"),
            verbs(
                get(list_groups_of_consumer)
                    .post(add_consumer_to_group)
                    .delete(remove_consumer_from_all_groups),
            ),
        )
        .route(
            &format!("{CORE}/consumers/{{ConsumerId}}/consumer_groups/{{ConsumerGroupId}}"),
            verbs(delete(remove_consumer_from_group)),
        )
        .route(
            &format!("{CORE}/schemas/plugins/validate"),
            verbs(post(validate_plugin)),
        )
        .route(
            &format!("{CORE}/schemas/plugins/{{pluginName}}"),
            verbs(get(plugin_schema)),
        );

    let (apps_api, apps_controls) = super::apps::routers();
    v2 = v2.merge(apps_api);

    // Behind the gate like every /v2 path: a wrong token still gets 401 and the request is
    // counted (as `unmatched`).
    v2 = v2
        .route("/v2/{*rest}", any(unknown_path))
        .route("/v3/{*rest}", any(unknown_path));

    let v2 = v2.layer(axum::middleware::from_fn_with_state(
        ctx.clone(),
        gate::gate,
    ));

    Router::new()
        .merge(v2)
        .merge(apps_controls)
        .route("/_emulator/stats", get(stats))
        .route("/_emulator/faults", get(get_faults).put(put_faults))
        .route("/_emulator/reset", post(reset))
        .route("/_emulator/healthz", get(|| async { "ok" }))
        .fallback(|| async { ApiError::NotFound })
        .with_state(ctx)
}

/// A known path with a verb it does not offer: 405 with a body in the path's error dialect.
fn verbs(r: MethodRouter<Ctx>) -> MethodRouter<Ctx> {
    r.fallback(|OriginalUri(uri): OriginalUri| async move {
        if uri.path().contains("/core-entities/") {
            ApiError::MethodNotAllowed.into_response()
        } else {
            Problem::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "Method Not Allowed",
                "The method is not allowed for the requested URL.",
            )
            .into_response()
        }
    })
}

/// Any `/v2` path the emulator does not serve.
async fn unknown_path(OriginalUri(uri): OriginalUri) -> Response {
    if uri.path().contains("/core-entities/") {
        ApiError::NotFound.into_response()
    } else {
        Problem::new(StatusCode::NOT_FOUND, "Not Found", "Not Found").into_response()
    }
}

fn collection(ep: Ep) -> MethodRouter<Ctx> {
    get(
        move |State(ctx): State<Ctx>,
              Path(p): Path<Params>,
              Query(q): Query<QueryList>,
              OriginalUri(uri): OriginalUri| async move {
            with_core(&ctx, &p, |cp| {
                let parent = resolve_parent(cp, ep, &p)?;
                let filters = if ep.parent.is_some() {
                    Filters::Paging
                } else {
                    Filters::top_level(ep.kind)
                };
                let query = ListQuery::parse(&q, filters)?;
                let page = cp.core.list(ep.kind, &query, parent.as_ref());
                Ok(list_response(page, &uri, &query).into_response())
            })
        },
    )
    .post(
        move |State(ctx): State<Ctx>, Path(p): Path<Params>, body: Bytes| async move {
            let body = parse_body(&body);
            let limit = entity_limit(&ctx);
            let r = with_core(&ctx, &p, |cp| {
                let parent = resolve_parent(cp, ep, &p)?;
                let v = write_within_limit(
                    cp,
                    ep.kind,
                    None,
                    body?,
                    parent.as_ref(),
                    WriteMode::Create,
                    limit,
                )?;
                Ok((StatusCode::CREATED, axum::Json(v)).into_response())
            });
            changed_if_ok(&ctx, r)
        },
    )
}

fn item_routes(ep: Ep) -> MethodRouter<Ctx> {
    get(
        move |State(ctx): State<Ctx>, Path(p): Path<Params>, Query(q): Query<QueryList>| async move {
            with_core(&ctx, &p, |cp| {
                let parent = resolve_parent(cp, ep, &p)?;
                let id = p.get(ep.id_param).map(String::as_str).unwrap_or_default();
                let v = cp
                    .core
                    .get(ep.kind, id, parent.as_ref())
                    .ok_or(ApiError::NotFound)?;
                // Only GET consumer_groups/{id} wraps the group (ConsumerGroupInsideWrapper).
                // `consumers` is not in that schema, but the spec's `list_consumers` parameter
                // says it expands the group "to include a list of its consumers", as Kong's
                // Admin API does: the parameter's description is followed.
                if ep.kind == Kind::ConsumerGroup {
                    let mut wrapped = json!({ "consumer_group": v });
                    if q.iter().any(|(k, val)| k == "list_consumers" && val == "true") {
                        let gid = v["id"].as_str().unwrap_or_default();
                        wrapped["consumers"] = Value::Array(cp.core.all_members(gid));
                    }
                    return Ok(axum::Json(wrapped).into_response());
                }
                Ok(axum::Json(v).into_response())
            })
        },
    )
    .put(
        move |State(ctx): State<Ctx>, Path(p): Path<Params>, body: Bytes| async move {
            let body = parse_body(&body);
            let limit = entity_limit(&ctx);
            let r = with_core(&ctx, &p, |cp| {
                let parent = resolve_parent(cp, ep, &p)?;
                let id = p.get(ep.id_param).map(String::as_str).unwrap_or_default();
                let v = write_within_limit(
                    cp,
                    ep.kind,
                    Some(id),
                    body?,
                    parent.as_ref(),
                    WriteMode::Upsert,
                    limit,
                )?;
                Ok(axum::Json(v).into_response())
            });
            changed_if_ok(&ctx, r)
        },
    )
    .delete(
        move |State(ctx): State<Ctx>, Path(p): Path<Params>| async move {
            let r = with_core(&ctx, &p, |cp| {
                let parent = resolve_parent(cp, ep, &p)?;
                let id = p.get(ep.id_param).map(String::as_str).unwrap_or_default();
                cp.core.delete(ep.kind, id, parent.as_ref())?;
                Ok(StatusCode::NO_CONTENT.into_response())
            });
            changed_if_ok(&ctx, r)
        },
    )
}

fn now() -> i64 {
    jiff::Timestamp::now().as_second()
}

/// The entity limit in force now (a flag, changeable at `/_emulator/faults`).
fn entity_limit(ctx: &Ctx) -> Option<u32> {
    ctx.0.gate.faults().max_entities_per_control_plane
}

/// Checks a write fully, then applies the entity limit, then stores it: an invalid body is
/// refused as invalid (400) whatever the limit, and only a write that would add an entity
/// meets the 403.
fn write_within_limit(
    cp: &mut ControlPlane,
    kind: Kind,
    id: Option<&str>,
    body: Value,
    parent: Option<&Parent>,
    mode: WriteMode,
    limit: Option<u32>,
) -> Result<Value, ApiError> {
    let w = cp.core.prepare(kind, id, body, parent, mode, now())?;
    cp.core.check_entity_limit(&w, limit)?;
    Ok(cp.core.commit(w).0)
}

fn changed_if_ok(ctx: &Ctx, r: Response) -> Response {
    if r.status().is_success() {
        ctx.changed();
    }
    r
}

fn parse_body(bytes: &Bytes) -> Result<Value, ApiError> {
    if bytes.is_empty() {
        return Ok(json!({}));
    }
    serde_json::from_slice(bytes)
        .map_err(|e| ApiError::BadRequest(format!("invalid JSON in request body: {e}")))
}

/// Runs `f` on the control plane of the path, or answers 404 when there is none.
fn with_core(
    ctx: &Ctx,
    p: &Params,
    f: impl FnOnce(&mut ControlPlane) -> Result<Response, ApiError>,
) -> Response {
    let mut state = lock(&ctx.0.state);
    let cp_id = p
        .get("controlPlaneId")
        .map(String::as_str)
        .unwrap_or_default();
    match state.control_planes.get_mut(cp_id) {
        None => ApiError::NotFound.into_response(),
        Some(cp) => f(cp).unwrap_or_else(IntoResponse::into_response),
    }
}

fn resolve_parent(cp: &ControlPlane, ep: Ep, p: &Params) -> Result<Option<Parent>, ApiError> {
    let Some((kind, param)) = ep.parent else {
        return Ok(None);
    };
    let raw = p.get(param).map(String::as_str).unwrap_or_default();
    let id = cp.core.resolve(kind, raw).ok_or(ApiError::NotFound)?;
    Ok(Some(Parent { kind, id }))
}

/// `{"data": [...], "next": uri|null, "offset": "..."}`; the last page has no offset.
fn list_response(page: Page, uri: &Uri, q: &ListQuery) -> axum::Json<Value> {
    let mut o = Map::new();
    o.insert("data".into(), Value::Array(page.data));
    match page.next_offset {
        Some(seq) => {
            let offset = encode_offset(seq);
            let mut query: Vec<String> =
                url::form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes())
                    .filter(|(k, _)| k != "offset" && k != "size")
                    .map(|(k, v)| {
                        url::form_urlencoded::Serializer::new(String::new())
                            .append_pair(&k, &v)
                            .finish()
                    })
                    .collect();
            query.push(format!("size={}", q.size));
            query.push(format!("offset={offset}"));
            o.insert(
                "next".into(),
                json!(format!("{}?{}", uri.path(), query.join("&"))),
            );
            o.insert("offset".into(), json!(offset));
        }
        None => {
            o.insert("next".into(), Value::Null);
        }
    }
    axum::Json(Value::Object(o))
}

// ----- consumer group membership -------------------------------------------------------------

fn group_id(cp: &ControlPlane, p: &Params) -> Result<String, ApiError> {
    let raw = p
        .get("ConsumerGroupId")
        .map(String::as_str)
        .unwrap_or_default();
    cp.core
        .resolve(Kind::ConsumerGroup, raw)
        .ok_or(ApiError::NotFound)
}

fn consumer_id(cp: &ControlPlane, p: &Params) -> Result<String, ApiError> {
    let raw = p.get("ConsumerId").map(String::as_str).unwrap_or_default();
    cp.core
        .resolve(Kind::Consumer, raw)
        .ok_or(ApiError::NotFound)
}

/// A membership list from one side: `owner` finds the group or consumer of the path,
/// `page` lists the other side.
fn list_related(
    ctx: &Ctx,
    p: &Params,
    q: &QueryList,
    uri: &Uri,
    owner: fn(&ControlPlane, &Params) -> Result<String, ApiError>,
    page: fn(&CoreStore, &str, &ListQuery) -> Page,
) -> Response {
    with_core(ctx, p, |cp| {
        let id = owner(cp, p)?;
        let query = ListQuery::parse(q, Filters::Paging)?;
        Ok(list_response(page(&cp.core, &id, &query), uri, &query).into_response())
    })
}

async fn list_members(
    State(ctx): State<Ctx>,
    Path(p): Path<Params>,
    Query(q): Query<QueryList>,
    OriginalUri(uri): OriginalUri,
) -> Response {
    list_related(&ctx, &p, &q, &uri, group_id, CoreStore::members)
}

async fn add_member(State(ctx): State<Ctx>, Path(p): Path<Params>, body: Bytes) -> Response {
    let body = parse_body(&body);
    let r = with_core(&ctx, &p, |cp| {
        let gid = group_id(cp, &p)?;
        let v = cp.core.add_member(&gid, &body?)?;
        Ok((StatusCode::CREATED, axum::Json(v)).into_response())
    });
    changed_if_ok(&ctx, r)
}

async fn remove_member(State(ctx): State<Ctx>, Path(p): Path<Params>) -> Response {
    let r = with_core(&ctx, &p, |cp| {
        if let Ok(gid) = group_id(cp, &p) {
            let raw = p.get("ConsumerId").map(String::as_str).unwrap_or_default();
            cp.core.remove_member(&gid, raw);
        }
        Ok(StatusCode::NO_CONTENT.into_response())
    });
    changed_if_ok(&ctx, r)
}

/// `remove-all-consumers-from-consumer-group`: 204, or 404 when the group does not exist.
async fn remove_all_members(State(ctx): State<Ctx>, Path(p): Path<Params>) -> Response {
    let r = with_core(&ctx, &p, |cp| {
        let gid = group_id(cp, &p)?;
        cp.core.remove_all_members(&gid);
        Ok(StatusCode::NO_CONTENT.into_response())
    });
    changed_if_ok(&ctx, r)
}

/// `remove-consumer-from-all-consumer-groups`: 204, or 404 when the consumer does not exist.
async fn remove_consumer_from_all_groups(
    State(ctx): State<Ctx>,
    Path(p): Path<Params>,
) -> Response {
    let r = with_core(&ctx, &p, |cp| {
        let cid = consumer_id(cp, &p)?;
        cp.core.remove_all_groups_of(&cid);
        Ok(StatusCode::NO_CONTENT.into_response())
    });
    changed_if_ok(&ctx, r)
}

async fn list_groups_of_consumer(
    State(ctx): State<Ctx>,
    Path(p): Path<Params>,
    Query(q): Query<QueryList>,
    OriginalUri(uri): OriginalUri,
) -> Response {
    list_related(&ctx, &p, &q, &uri, consumer_id, CoreStore::groups_of)
}

async fn add_consumer_to_group(
    State(ctx): State<Ctx>,
    Path(p): Path<Params>,
    body: Bytes,
) -> Response {
    let body = parse_body(&body);
    let r = with_core(&ctx, &p, |cp| {
        let cid = consumer_id(cp, &p)?;
        let body = body?;
        let Some(group_ref) = body.get("group").and_then(Value::as_str) else {
            return Err(ApiError::Validation(vec![Detail::field(
                "group",
                "required field missing",
            )]));
        };
        let gid = cp
            .core
            .resolve(Kind::ConsumerGroup, group_ref)
            .ok_or_else(|| {
                ApiError::Constraint(vec![Detail::constraint("consumer_group.id", "foreign")])
            })?;
        cp.core.add_member(&gid, &json!({ "consumer": cid }))?;
        let consumer = cp
            .core
            .get(Kind::Consumer, &cid, None)
            .unwrap_or(Value::Null);
        let group = cp
            .core
            .get(Kind::ConsumerGroup, &gid, None)
            .unwrap_or(Value::Null);
        Ok((
            StatusCode::CREATED,
            axum::Json(json!({ "consumer": consumer, "consumer_groups": [group] })),
        )
            .into_response())
    });
    changed_if_ok(&ctx, r)
}

async fn remove_consumer_from_group(State(ctx): State<Ctx>, Path(p): Path<Params>) -> Response {
    let r = with_core(&ctx, &p, |cp| {
        if let (Ok(gid), Ok(cid)) = (group_id(cp, &p), consumer_id(cp, &p)) {
            cp.core.remove_member(&gid, &cid);
        }
        Ok(StatusCode::NO_CONTENT.into_response())
    });
    changed_if_ok(&ctx, r)
}

// ----- plugin schemas ------------------------------------------------------------------------

async fn plugin_schema(State(ctx): State<Ctx>, Path(p): Path<Params>) -> Response {
    with_core(&ctx, &p, |_| {
        let name = p.get("pluginName").map(String::as_str).unwrap_or_default();
        let schema = plugins::schema_json(name).ok_or(ApiError::NotFound)?;
        Ok(axum::Json(schema).into_response())
    })
}

async fn validate_plugin(State(ctx): State<Ctx>, Path(p): Path<Params>, body: Bytes) -> Response {
    let body = parse_body(&body);
    with_core(&ctx, &p, |_| {
        super::store::validate(Kind::Plugin, body?)?;
        Ok(axum::Json(json!({"message": "plugin configuration is valid"})).into_response())
    })
}

// ----- control planes (Konnect-native API: page[...] paging, problem+json errors) ------------

fn cp_param_error(detail: &str, field: &str, reason: &str) -> Response {
    Problem::bad_request(detail, field, reason).into_response()
}

async fn list_control_planes(State(ctx): State<Ctx>, Query(q): Query<QueryList>) -> Response {
    let mut size = 10usize;
    let mut number = 1usize;
    let mut filters: Vec<(String, String, String)> = Vec::new();
    for (k, v) in &q {
        match k.as_str() {
            "page[size]" if !v.is_empty() => match v.parse::<usize>() {
                Ok(n) if (1..=100).contains(&n) => size = n,
                _ => {
                    return cp_param_error(
                        "Invalid page size",
                        "page[size]",
                        "must be between 1 and 100",
                    );
                }
            },
            "page[number]" if !v.is_empty() => match v.parse::<usize>() {
                Ok(n) if n >= 1 => number = n,
                _ => {
                    return cp_param_error(
                        "Invalid page number",
                        "page[number]",
                        "must be a positive integer",
                    );
                }
            },
            _ => {
                if let Some(rest) = k.strip_prefix("filter[") {
                    let parts: Vec<&str> = rest.trim_end_matches(']').split("][").collect();
                    match parts.as_slice() {
                        [
                            field @ ("name" | "id" | "cluster_type"),
                            op @ ("eq" | "neq" | "contains" | "oeq"),
                        ] => {
                            filters.push((field.to_string(), op.to_string(), v.clone()));
                        }
                        [field] if matches!(*field, "name" | "id" | "cluster_type") => {
                            filters.push((field.to_string(), "eq".into(), v.clone()));
                        }
                        _ => return cp_param_error("Invalid filter", k, "unsupported filter"),
                    }
                }
            }
        }
    }
    let state = lock(&ctx.0.state);
    let matching: Vec<Value> = state
        .ordered()
        .into_iter()
        .filter(|cp| {
            filters.iter().all(|(field, op, want)| {
                let have = match field.as_str() {
                    "cluster_type" => cp.meta["config"]["cluster_type"].as_str(),
                    f => cp.meta.get(f).and_then(Value::as_str),
                }
                .unwrap_or_default();
                match op.as_str() {
                    "eq" => have == want,
                    "neq" => have != want,
                    "contains" => have.contains(want.as_str()),
                    _ => want.split(',').any(|w| w == have),
                }
            })
        })
        .map(|cp| Value::Object(cp.meta.clone()))
        .collect();
    let total = matching.len();
    let data: Vec<Value> = matching
        .into_iter()
        .skip((number - 1).saturating_mul(size))
        .take(size)
        .collect();
    axum::Json(json!({
        "data": data,
        "meta": {"page": {"number": number, "size": size, "total": total}},
    }))
    .into_response()
}

async fn create_control_plane(State(ctx): State<Ctx>, body: Bytes) -> Response {
    let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(&body) else {
        return cp_param_error(
            "Invalid request format",
            "body",
            "request format is invalid",
        );
    };
    const ALLOWED: &[&str] = &[
        "name",
        "description",
        "cluster_type",
        "auth_type",
        "cloud_gateway",
        "proxy_urls",
        "labels",
    ];
    if let Some(k) = body.keys().find(|k| !ALLOWED.contains(&k.as_str())) {
        return cp_param_error(
            "Request contains unknown property",
            k,
            &format!("property {k} should not exist"),
        );
    }
    let name = body.get("name").and_then(Value::as_str).unwrap_or_default();
    if name.trim().is_empty() {
        return cp_param_error("Request cannot be empty", "name", "cannot be blank");
    }
    if !(2..=256).contains(&name.chars().count()) {
        return cp_param_error(
            "Invalid name",
            "name",
            "must be between 2 and 256 characters",
        );
    }
    let mut new = NewControlPlane::named(name);
    let str_field = |k: &str| body.get(k).and_then(Value::as_str).map(str::to_string);
    if let Some(d) = str_field("description") {
        new.description = d;
    }
    if let Some(c) = str_field("cluster_type") {
        new.cluster_type = c;
    }
    if let Some(a) = str_field("auth_type") {
        new.auth_type = a;
    }
    if let Some(c) = body.get("cloud_gateway").and_then(Value::as_bool) {
        new.cloud_gateway = c;
    }
    if let Some(l @ Value::Object(_)) = body.get("labels") {
        new.labels = l.clone();
    }
    if let Some(u @ Value::Array(_)) = body.get("proxy_urls") {
        new.proxy_urls = u.clone();
    }
    let created = lock(&ctx.0.state).create(
        uuid::Uuid::new_v4().to_string(),
        new,
        &jiff::Timestamp::now().to_string(),
    );
    match created {
        Some(v) => {
            ctx.changed();
            (StatusCode::CREATED, axum::Json(v)).into_response()
        }
        None => Problem::new(
            StatusCode::CONFLICT,
            "Conflict",
            "Control Plane with provided name already exists.",
        )
        .into_response(),
    }
}

fn cp_lookup_error(id: &str) -> Option<Response> {
    if uuid::Uuid::parse_str(id).is_err() {
        return Some(cp_param_error(
            "Request contains invalid ID format",
            "id",
            "invalid ID format",
        ));
    }
    None
}

fn cp_not_found() -> Response {
    Problem::new(
        StatusCode::NOT_FOUND,
        "Not Found",
        "The requested control plane was not found.",
    )
    .into_response()
}

async fn get_control_plane(State(ctx): State<Ctx>, Path(id): Path<String>) -> Response {
    if let Some(r) = cp_lookup_error(&id) {
        return r;
    }
    match lock(&ctx.0.state).control_planes.get(&id) {
        Some(cp) => axum::Json(Value::Object(cp.meta.clone())).into_response(),
        None => cp_not_found(),
    }
}

/// `PATCH /v2/control-planes/{id}` (`update-control-plane`): an `UpdateControlPlaneRequest`
/// (`name`, `description`, `auth_type`, `proxy_urls`, `labels`; nothing else); 200 with the
/// control plane.
async fn update_control_plane(
    State(ctx): State<Ctx>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    if let Some(r) = cp_lookup_error(&id) {
        return r;
    }
    let Ok(Value::Object(patch)) = serde_json::from_slice::<Value>(&body) else {
        return cp_param_error(
            "Invalid request format",
            "body",
            "request format is invalid",
        );
    };
    const ALLOWED: &[&str] = &["name", "description", "auth_type", "proxy_urls", "labels"];
    if let Some(k) = patch.keys().find(|k| !ALLOWED.contains(&k.as_str())) {
        return cp_param_error(
            "Request contains unknown property",
            k,
            &format!("property {k} should not exist"),
        );
    }
    if let Some(name) = patch.get("name") {
        let n = name.as_str().unwrap_or_default();
        if !(2..=256).contains(&n.chars().count()) {
            return cp_param_error(
                "Invalid name",
                "name",
                "must be between 2 and 256 characters",
            );
        }
    }
    if let Some(a) = patch.get("auth_type")
        && !matches!(a.as_str(), Some("pinned_client_certs" | "pki_client_certs"))
    {
        return cp_param_error(
            "Invalid auth_type",
            "auth_type",
            "must be one of pinned_client_certs, pki_client_certs",
        );
    }
    let now = jiff::Timestamp::now().to_string();
    let updated = lock(&ctx.0.state).update(&id, &patch, &now);
    match updated {
        Update::Updated(v) => {
            ctx.changed();
            axum::Json(v).into_response()
        }
        Update::NotFound => cp_not_found(),
        Update::NameTaken => Problem::new(
            StatusCode::CONFLICT,
            "Conflict",
            "Control Plane with provided name already exists.",
        )
        .into_response(),
    }
}

/// `GET /v3/organizations/me` (`get-organizations-me`, Konnect's identity API): the
/// organization of the token. The emulator has one organization, the same on every start.
async fn organization_me() -> Response {
    let id = uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, b"konnect-emulator/organization");
    let owner = uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, b"konnect-emulator/owner");
    axum::Json(json!({
        "id": id.to_string(),
        "name": "Konnect Emulator",
        "owner_id": owner.to_string(),
        "login_path": "",
        "created_at": "2024-01-01T00:00:00Z",
        "updated_at": "2024-01-01T00:00:00Z",
        "state": "active",
        "retention_period_days": 0,
    }))
    .into_response()
}

async fn delete_control_plane(State(ctx): State<Ctx>, Path(id): Path<String>) -> Response {
    if let Some(r) = cp_lookup_error(&id) {
        return r;
    }
    let removed = lock(&ctx.0.state).control_planes.remove(&id);
    match removed {
        Some(_) => {
            ctx.changed();
            StatusCode::NO_CONTENT.into_response()
        }
        None => cp_not_found(),
    }
}

// ----- /_emulator controls -------------------------------------------------------------------

async fn stats(State(ctx): State<Ctx>) -> Response {
    let mut v = ctx.0.gate.stats_json();
    let state = lock(&ctx.0.state);
    let mut entities = Map::new();
    for cp in state.ordered() {
        let counts: Map<String, Value> = Kind::ALL
            .iter()
            .map(|k| (collection_of(*k).to_string(), json!(cp.core.count(*k))))
            .collect();
        entities.insert(cp.name().to_string(), Value::Object(counts));
    }
    v["entities"] = Value::Object(entities);
    axum::Json(v).into_response()
}

async fn get_faults(State(ctx): State<Ctx>) -> Response {
    axum::Json(ctx.0.gate.faults()).into_response()
}

async fn put_faults(State(ctx): State<Ctx>, body: Bytes) -> Response {
    let patch: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            return (
                StatusCode::BAD_REQUEST,
                axum::Json(json!({"message": e.to_string()})),
            )
                .into_response();
        }
    };
    match ctx.0.gate.faults().merged(&patch) {
        Ok(f) => {
            ctx.0.gate.set_faults(f.clone());
            axum::Json(f).into_response()
        }
        Err(m) => (StatusCode::BAD_REQUEST, axum::Json(json!({"message": m}))).into_response(),
    }
}

async fn reset(State(ctx): State<Ctx>) -> Response {
    ctx.reset();
    StatusCode::NO_CONTENT.into_response()
}
