//! Contract tests of the Konnect client against the Konnect emulator, over real HTTP on
//! loopback. Each test spawns its own emulator, so they run in parallel without sharing state.
//! What the client did is read both from its own metrics and from the emulator's request
//! counters (`/_emulator/stats`), so a retry the client did not make, or made twice, shows.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use konnect_plugin_operator::emulator::{self, EmulatorConfig, EmulatorHandle};
use konnect_plugin_operator::konnect::error::DEFAULT_RETRY_AFTER;
use konnect_plugin_operator::konnect::models::{
    Consumer, ConsumerGroup, EntityId, ForeignKey, Plugin, Route, Service, Tag,
};
use konnect_plugin_operator::konnect::{
    ClientConfig, ClientMetrics, ConstraintKind, ControlPlaneClient, DetailType, Error,
    InMemoryMetrics, KonnectClient, ListQuery, PluginParent, ServerUrl, TagFilter, Token,
};
use serde_json::{Value, json};
use tokio::time::Instant;

// ---------------------------------------------------------------- fixtures

fn uuid(n: u128) -> EntityId {
    uuid::Uuid::from_u128(0x5eed_0000_0000_4000_8000_0000_0000_0000 | n).into()
}

/// [`uuid`] as the string the client's by-id-or-name calls take.
fn sid(n: u128) -> String {
    uuid(n).to_string()
}

/// A foreign key from the string of an id.
fn fk(id: &str) -> ForeignKey {
    ForeignKey::new(id.parse::<EntityId>().expect("a UUID"))
}

fn tag(t: &str) -> Tag {
    Tag::new(t).expect("valid tag")
}

async fn emulator(cfg: EmulatorConfig) -> EmulatorHandle {
    emulator::spawn(cfg).await.expect("emulator starts")
}

fn config(emu: &EmulatorHandle) -> ClientConfig {
    let mut cfg = ClientConfig::new(
        ServerUrl::parse(&emu.base_url()).expect("emulator URL"),
        Token::new(emu.token()).expect("token"),
    );
    // Fast retries: the tests assert counts and order, not timings.
    cfg.backoff_base = Duration::from_millis(5);
    cfg.backoff_max = Duration::from_millis(50);
    cfg.requests_per_minute = 600_000;
    cfg.request_timeout = Duration::from_secs(10);
    cfg
}

struct Setup {
    emu: EmulatorHandle,
    client: KonnectClient,
    cp: ControlPlaneClient,
    metrics: Arc<InMemoryMetrics>,
}

async fn setup_with(emu_cfg: EmulatorConfig, tweak: impl FnOnce(&mut ClientConfig)) -> Setup {
    let emu = emulator(emu_cfg).await;
    let mut cfg = config(&emu);
    tweak(&mut cfg);
    let metrics = Arc::new(InMemoryMetrics::new());
    let client = KonnectClient::with_metrics(cfg, metrics.clone()).expect("client");
    let cp_id = emu
        .control_plane_id("default")
        .expect("default control plane");
    let cp = client.control_plane(cp_id);
    Setup {
        emu,
        client,
        cp,
        metrics,
    }
}

async fn setup() -> Setup {
    setup_with(EmulatorConfig::default(), |_| {}).await
}

/// Plain HTTP to the emulator's control endpoints (not through the client under test).
fn raw() -> reqwest::Client {
    konnect_plugin_operator::konnect::install_crypto_provider();
    reqwest::Client::new()
}

async fn stats(emu: &EmulatorHandle) -> Value {
    raw()
        .get(format!("http://{}/_emulator/stats", emu.addr()))
        .send()
        .await
        .expect("stats")
        .json()
        .await
        .expect("stats json")
}

async fn set_faults(emu: &EmulatorHandle, faults: Value) {
    let resp = raw()
        .put(format!("http://{}/_emulator/faults", emu.addr()))
        .json(&faults)
        .send()
        .await
        .expect("faults");
    assert!(
        resp.status().is_success(),
        "faults refused: {}",
        resp.status()
    );
}

/// Requests the emulator counted for `method` on a path template ending in `suffix`, with
/// `status` (any status when `None`).
fn counted(stats: &Value, method: &str, suffix: &str, status: Option<u16>) -> u64 {
    stats["requests"]
        .as_array()
        .expect("requests array")
        .iter()
        .filter(|r| r["method"] == method)
        .filter(|r| r["path"].as_str().is_some_and(|p| p.ends_with(suffix)))
        .filter(|r| status.is_none_or(|s| r["status"] == s))
        .map(|r| r["count"].as_u64().unwrap_or(0))
        .sum()
}

fn service(n: u128, name: &str) -> Service {
    Service {
        id: Some(uuid(n)),
        name: Some(name.into()),
        host: format!("{name}.example.internal"),
        port: Some(8080),
        protocol: Some("http".into()),
        tags: Some(vec![tag("managed-by:konnect-plugin-operator")]),
        ..Default::default()
    }
}

fn consumer(n: u128, username: &str, tags: &[&str]) -> Consumer {
    Consumer {
        id: Some(uuid(n)),
        username: Some(username.into()),
        tags: Some(tags.iter().map(|t| tag(t)).collect()),
        ..Default::default()
    }
}

fn cors_plugin(n: u128) -> Plugin {
    Plugin {
        id: Some(uuid(n)),
        name: "cors".into(),
        config: json!({"origins": ["https://example.com"]}),
        tags: Some(vec![tag("t1")]),
        ..Default::default()
    }
}

// ---------------------------------------------------------------- round trips

#[tokio::test]
async fn control_planes_by_id_and_by_name() {
    let s = setup_with(
        EmulatorConfig {
            control_planes: vec!["default".into(), "staging".into()],
            ..Default::default()
        },
        |_| {},
    )
    .await;
    let staging_id = s.emu.control_plane_id("staging").expect("staging");
    let cp = s.client.get_control_plane(&staging_id).await.unwrap();
    assert_eq!(cp.name, "staging");
    assert_eq!(cp.id, staging_id);
    let found = s
        .client
        .find_control_plane_by_name("staging")
        .await
        .unwrap();
    assert_eq!(found.map(|c| c.id), Some(staging_id));
    assert_eq!(
        s.client.find_control_plane_by_name("nope").await.unwrap(),
        None
    );
    let err = s.client.get_control_plane(&sid(999)).await.unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
}

#[tokio::test]
async fn services_and_routes_round_trip() {
    let s = setup().await;
    let svc = service(1, "orders");
    let stored = s.cp.upsert_service(&svc).await.unwrap();
    assert_eq!(stored.id, svc.id);
    assert_eq!(stored.host, svc.host);
    assert!(stored.created_at.is_some(), "server fills created_at");
    assert_eq!(s.cp.get_service(&sid(1)).await.unwrap().name, svc.name);

    // PUT again replaces.
    let mut changed = svc.clone();
    changed.port = Some(9090);
    assert_eq!(
        s.cp.upsert_service(&changed).await.unwrap().port,
        Some(9090)
    );

    let route = Route {
        id: Some(uuid(2)),
        name: Some("orders-route".into()),
        service: Some(ForeignKey::new(uuid(1))),
        paths: Some(vec!["/orders".into()]),
        headers: Some(BTreeMap::from([("x-a".to_owned(), vec!["1".to_owned()])])),
        strip_path: Some(false),
        ..Default::default()
    };
    let stored = s.cp.upsert_route(&route).await.unwrap();
    assert_eq!(stored.service, route.service);
    assert_eq!(stored.headers, route.headers);
    assert_eq!(s.cp.get_route(&sid(2)).await.unwrap().paths, route.paths);

    let services = s.cp.list_services(&ListQuery::new()).await.unwrap();
    assert_eq!(services.data.len(), 1);
    let routes = s.cp.list_all_routes(None).await.unwrap();
    assert_eq!(routes.len(), 1);
    let by_name =
        s.cp.list_services(&ListQuery::new().name("orders"))
            .await
            .unwrap();
    assert_eq!(by_name.data.len(), 1);

    s.cp.delete_route(&sid(2)).await.unwrap();
    s.cp.delete_service(&sid(1)).await.unwrap();
    // Deleting what does not exist is a success (204), as on Konnect.
    s.cp.delete_service(&sid(1)).await.unwrap();
    assert!(matches!(
        s.cp.get_service(&sid(1)).await.unwrap_err(),
        Error::NotFound { .. }
    ));
    assert!(s.cp.list_all_services(None).await.unwrap().is_empty());
}

#[tokio::test]
async fn consumers_groups_and_membership_round_trip() {
    let s = setup().await;
    let alice = consumer(1, "alice", &["a"]);
    let bob = consumer(2, "bob", &["a"]);
    s.cp.upsert_consumer(&alice).await.unwrap();
    s.cp.upsert_consumer(&bob).await.unwrap();
    assert_eq!(
        s.cp.get_consumer(&sid(1))
            .await
            .unwrap()
            .username
            .as_deref(),
        Some("alice")
    );
    let group = ConsumerGroup {
        id: Some(uuid(10)),
        name: "gold".into(),
        tags: Some(vec![tag("tier")]),
        ..Default::default()
    };
    let stored = s.cp.upsert_consumer_group(&group).await.unwrap();
    assert_eq!(stored.name, "gold");
    // GET wraps the group in {"consumer_group": ...}; the client unwraps it.
    let got = s.cp.get_consumer_group(&sid(10)).await.unwrap();
    assert_eq!(got.id, group.id);
    assert_eq!(got.name, "gold");
    assert_eq!(
        s.cp.list_consumer_groups(&ListQuery::new())
            .await
            .unwrap()
            .data
            .len(),
        1
    );

    s.cp.add_consumer_to_group(&sid(10), &sid(1)).await.unwrap();
    s.cp.add_consumer_to_group(&sid(10), &sid(2)).await.unwrap();
    let members: BTreeSet<_> =
        s.cp.list_all_group_consumers(&sid(10))
            .await
            .unwrap()
            .into_iter()
            .filter_map(|c| c.id)
            .collect();
    assert_eq!(members, BTreeSet::from([uuid(1), uuid(2)]));
    let groups_of_alice =
        s.cp.list_consumer_groups_of(&sid(1), &ListQuery::new())
            .await
            .unwrap();
    assert_eq!(groups_of_alice.data[0].id, group.id);

    s.cp.remove_consumer_from_group(&sid(10), &sid(1))
        .await
        .unwrap();
    let page =
        s.cp.list_group_consumers(&sid(10), &ListQuery::new())
            .await
            .unwrap();
    assert_eq!(
        page.data.iter().filter_map(|c| c.id).collect::<Vec<_>>(),
        vec![uuid(2)]
    );

    s.cp.delete_consumer_group(&sid(10)).await.unwrap();
    s.cp.delete_consumer(&sid(1)).await.unwrap();
    assert_eq!(s.cp.list_all_consumers(None).await.unwrap().len(), 1);
}

#[tokio::test]
async fn plugins_global_and_scoped_round_trip() {
    let s = setup().await;
    s.cp.upsert_service(&service(1, "svc")).await.unwrap();
    s.cp.upsert_route(&Route {
        id: Some(uuid(2)),
        name: Some("r".into()),
        service: Some(ForeignKey::new(uuid(1))),
        paths: Some(vec!["/r".into()]),
        ..Default::default()
    })
    .await
    .unwrap();
    s.cp.upsert_consumer(&consumer(3, "carol", &[]))
        .await
        .unwrap();
    s.cp.upsert_consumer_group(&ConsumerGroup {
        id: Some(uuid(4)),
        name: "g".into(),
        ..Default::default()
    })
    .await
    .unwrap();

    let global = cors_plugin(100);
    let stored = s.cp.upsert_plugin(&global).await.unwrap();
    assert_eq!(stored.name, "cors");
    assert_eq!(stored.config["origins"], json!(["https://example.com"]));
    assert_eq!(stored.service, None);

    let scopes = [
        (101, PluginParent::Service(sid(1))),
        (102, PluginParent::Route(sid(2))),
        (103, PluginParent::Consumer(sid(3))),
        (104, PluginParent::ConsumerGroup(sid(4))),
    ];
    for (n, parent) in &scopes {
        let mut p = Plugin {
            id: Some(uuid(*n)),
            name: "request-termination".into(),
            config: json!({"status_code": 418}),
            ..Default::default()
        };
        match parent {
            PluginParent::Service(id) => p.service = Some(fk(id)),
            PluginParent::Route(id) => p.route = Some(fk(id)),
            PluginParent::Consumer(id) => p.consumer = Some(fk(id)),
            PluginParent::ConsumerGroup(id) => {
                p.consumer_group = Some(fk(id));
                // Not every plugin may sit on a consumer group; rate limiting may.
                p.name = "rate-limiting".into();
                p.config = json!({"minute": 5});
            }
        }
        let stored = s.cp.upsert_plugin(&p).await.unwrap();
        assert_eq!(stored.id, p.id);
        let listed =
            s.cp.list_plugins_for(parent, &ListQuery::new())
                .await
                .unwrap();
        assert_eq!(
            listed.data.iter().filter_map(|p| p.id).collect::<Vec<_>>(),
            vec![uuid(*n)],
            "scoped list of {parent:?}"
        );
        assert_eq!(
            s.cp.list_all_plugins_for(parent, None).await.unwrap().len(),
            1
        );
    }
    assert_eq!(
        s.cp.get_plugin(&sid(102)).await.unwrap().route,
        Some(ForeignKey::new(uuid(2)))
    );
    assert_eq!(s.cp.list_all_plugins(None).await.unwrap().len(), 5);
    let cors =
        s.cp.list_plugins(&ListQuery::new().name("cors"))
            .await
            .unwrap();
    assert_eq!(
        cors.data.iter().filter_map(|p| p.id).collect::<Vec<_>>(),
        vec![uuid(100)]
    );

    // Deleting a route removes the plugins scoped to it (cascade).
    s.cp.delete_route(&sid(2)).await.unwrap();
    assert!(matches!(
        s.cp.get_plugin(&sid(102)).await.unwrap_err(),
        Error::NotFound { .. }
    ));
    s.cp.delete_plugin(&sid(100)).await.unwrap();
    assert_eq!(s.cp.list_all_plugins(None).await.unwrap().len(), 3);
}

#[tokio::test]
async fn plugin_schema_is_served_in_kong_format() {
    let s = setup().await;
    let schema = s.cp.get_plugin_schema("cors").await.unwrap();
    assert!(schema["fields"].is_array(), "{schema}");
    let err = s.cp.get_plugin_schema("no-such-plugin").await.unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
    assert_eq!(err.to_string(), "not found: plugin_schema no-such-plugin");
}

#[tokio::test]
async fn generic_stream_follows_pages() {
    let s = setup().await;
    for n in 0..25 {
        s.cp.upsert_consumer(&consumer(n, &format!("u{n}"), &["s"]))
            .await
            .unwrap();
    }
    let ids: Vec<EntityId> =
        s.cp.stream::<Consumer>(ListQuery::new().size(10))
            .map_ok(|c| c.id.expect("a listed consumer has an id"))
            .try_collect()
            .await
            .unwrap();
    assert_eq!(ids.len(), 25);
    assert_eq!(ids.iter().collect::<BTreeSet<_>>().len(), 25);
    // 3 pages of 10, 10, 5.
    assert_eq!(
        counted(&stats(&s.emu).await, "GET", "/consumers", Some(200)),
        3
    );
}

// ---------------------------------------------------------------- error classes

#[tokio::test]
async fn validation_errors_carry_field_paths_and_are_not_retried() {
    let s = setup().await;
    let bad = Plugin {
        id: Some(uuid(1)),
        name: "rate-limiting".into(),
        config: json!({"minute": "many", "policy": "nowhere"}),
        ..Default::default()
    };
    let err = s.cp.upsert_plugin(&bad).await.unwrap_err();
    let Error::Validation { details, .. } = &err else {
        panic!("expected a validation error, got {err:?}");
    };
    let fields: Vec<_> = details.iter().filter_map(|d| d.field.as_deref()).collect();
    assert!(
        fields.iter().any(|f| f.starts_with("config.")),
        "field paths: {fields:?}"
    );
    assert!(details.iter().all(|d| !d.messages.is_empty()));
    assert!(!err.is_retryable());

    // An unknown plugin is refused the way Konnect refuses it, also exactly once.
    let unknown = Plugin {
        id: Some(uuid(2)),
        name: "no-such-plugin".into(),
        ..Default::default()
    };
    let err = s.cp.upsert_plugin(&unknown).await.unwrap_err();
    assert_eq!(err.status(), Some(400), "{err:?}");

    let st = stats(&s.emu).await;
    assert_eq!(counted(&st, "PUT", "/plugins/{PluginId}", Some(400)), 2);
    assert_eq!(counted(&st, "PUT", "/plugins/{PluginId}", None), 2);
    assert_eq!(s.metrics.count("upsert", "plugin", Some(400)), 2);
}

#[tokio::test]
async fn unique_and_foreign_constraints() {
    let s = setup().await;
    s.cp.upsert_service(&service(1, "same")).await.unwrap();
    let err = s.cp.upsert_service(&service(2, "same")).await.unwrap_err();
    let Error::Constraint {
        kind: ConstraintKind::Unique,
        details,
        ..
    } = &err
    else {
        panic!("expected a unique constraint error, got {err:?}");
    };
    assert_eq!(details[0].field.as_deref(), Some("name"));
    assert_eq!(details[0].kind, DetailType::Reference);
    assert_eq!(err.reason(), "KonnectUniqueConstraint");

    let orphan = Route {
        id: Some(uuid(3)),
        name: Some("orphan".into()),
        service: Some(ForeignKey::new(uuid(404))),
        paths: Some(vec!["/o".into()]),
        ..Default::default()
    };
    let err = s.cp.upsert_route(&orphan).await.unwrap_err();
    let Error::Constraint {
        kind: ConstraintKind::Foreign,
        details,
        ..
    } = &err
    else {
        panic!("expected a foreign constraint error, got {err:?}");
    };
    assert_eq!(details[0].field.as_deref(), Some("service.id"));

    // A second plugin of the same name on the same scope.
    s.cp.upsert_plugin(&cors_plugin(10)).await.unwrap();
    let err = s.cp.upsert_plugin(&cors_plugin(11)).await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::Constraint {
                kind: ConstraintKind::Unique,
                ..
            }
        ),
        "{err:?}"
    );

    // Deleting a service that a route still uses is refused with the foreign form.
    s.cp.upsert_route(&Route {
        service: Some(ForeignKey::new(uuid(1))),
        ..orphan.clone()
    })
    .await
    .unwrap();
    let err = s.cp.delete_service(&sid(1)).await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::Constraint {
                kind: ConstraintKind::Foreign,
                ..
            }
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn not_found_names_the_entity() {
    let s = setup().await;
    let err = s.cp.get_plugin(&sid(7)).await.unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }));
    assert!(err.to_string().contains(&sid(7)), "{err}");
    assert!(!err.is_retryable());
    // An unknown control plane is a 404 too.
    let err = s
        .client
        .control_plane(sid(8))
        .list_services(&ListQuery::new())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
}

#[tokio::test]
async fn a_wrong_token_is_unauthorized_and_never_shown() {
    let emu = emulator(EmulatorConfig::default()).await;
    let mut cfg = config(&emu);
    cfg.token = Token::new("kpat_canary_wrong_token").unwrap();
    let metrics = Arc::new(InMemoryMetrics::new());
    let client = KonnectClient::with_metrics(cfg, metrics.clone()).unwrap();
    let cp = client.control_plane(emu.control_plane_id("default").unwrap());
    let err = cp.list_services(&ListQuery::new()).await.unwrap_err();
    assert!(matches!(err, Error::Unauthorized), "{err:?}");
    assert!(!format!("{err} {err:?} {client:?}").contains("canary"));
    let err = client
        .find_control_plane_by_name("default")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Unauthorized), "{err:?}");
    // 401 is not retried.
    assert_eq!(metrics.total_requests(), 2);
}

#[tokio::test]
async fn an_entity_limit_is_forbidden_and_not_retried() {
    let s = setup_with(
        EmulatorConfig {
            max_entities_per_control_plane: Some(1),
            ..Default::default()
        },
        // Retries would be allowed for a PUT: none may happen for a 403.
        |c| c.max_retries = 5,
    )
    .await;
    s.cp.upsert_service(&service(1, "first")).await.unwrap();
    let err =
        s.cp.upsert_consumer(&consumer(2, "u", &[]))
            .await
            .unwrap_err();
    let Error::Forbidden { message } = &err else {
        panic!("expected Forbidden, got {err:?}");
    };
    assert_eq!(
        message,
        "usage constraint error: control plane entity limit of 1 reached"
    );
    assert_eq!(err.reason(), "KonnectForbidden");
    assert_eq!(err.status(), Some(403));
    assert!(!err.is_retryable());
    assert!(!err.is_invalid_request() && !err.is_not_found());
    assert_eq!(err.retry_after(), None);

    // Exactly one request reached the emulator, and the client counted exactly one.
    let st = stats(&s.emu).await;
    assert_eq!(
        counted(&st, "PUT", "/consumers/{ConsumerId}", None),
        1,
        "{st}"
    );
    assert_eq!(counted(&st, "PUT", "/consumers/{ConsumerId}", Some(403)), 1);
    assert_eq!(s.metrics.count("upsert", "consumer", Some(403)), 1);
    // The service upsert and the one refused consumer upsert: nothing else.
    assert_eq!(s.metrics.total_requests(), 2);

    // Stable: the same refusal reads the same, so a status condition built from it does not
    // churn.
    let again =
        s.cp.upsert_consumer(&consumer(2, "u", &[]))
            .await
            .unwrap_err();
    assert_eq!(again.to_string(), err.to_string());
    assert_eq!(again.reason(), err.reason());
    // Replacing the one entity there is still works.
    s.cp.upsert_service(&Service {
        port: Some(9090),
        ..service(1, "first")
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn a_read_only_token_is_forbidden_to_write() {
    let emu = emulator(EmulatorConfig {
        read_only_tokens: vec!["kpat_readonly_canary".into()],
        ..Default::default()
    })
    .await;
    let mut cfg = config(&emu);
    cfg.token = Token::new("kpat_readonly_canary").unwrap();
    cfg.max_retries = 5;
    let metrics = Arc::new(InMemoryMetrics::new());
    let client = KonnectClient::with_metrics(cfg, metrics.clone()).unwrap();
    let cp = client.control_plane(emu.control_plane_id("default").unwrap());
    assert!(
        cp.list_services(&ListQuery::new())
            .await
            .unwrap()
            .data
            .is_empty()
    );
    let err = cp.upsert_plugin(&cors_plugin(1)).await.unwrap_err();
    let Error::Forbidden { message } = &err else {
        panic!("expected Forbidden, got {err:?}");
    };
    assert_eq!(
        message,
        "usage constraint error: token is not permitted to write"
    );
    assert_eq!(err.reason(), "KonnectForbidden");
    assert!(!format!("{err} {err:?} {client:?}").contains("canary"));
    let err = cp.delete_service(&sid(1)).await.unwrap_err();
    assert!(matches!(err, Error::Forbidden { .. }), "{err:?}");
    let st = stats(&emu).await;
    assert_eq!(counted(&st, "PUT", "/plugins/{PluginId}", None), 1, "{st}");
    assert_eq!(counted(&st, "DELETE", "/services/{ServiceId}", None), 1);
}

#[tokio::test]
async fn server_errors_are_retried_for_idempotent_calls() {
    let s = setup_with(
        EmulatorConfig {
            error_rate: 0.4,
            seed: 7,
            ..Default::default()
        },
        |c| c.max_retries = 20,
    )
    .await;
    for n in 0..20 {
        s.cp.upsert_consumer(&consumer(n, &format!("u{n}"), &[]))
            .await
            .unwrap();
    }
    for n in 0..20 {
        s.cp.get_consumer(&sid(n)).await.unwrap();
    }
    let st = stats(&s.emu).await;
    let put_ok = counted(&st, "PUT", "/consumers/{ConsumerId}", Some(200));
    let put_500 = counted(&st, "PUT", "/consumers/{ConsumerId}", Some(500));
    let get_ok = counted(&st, "GET", "/consumers/{ConsumerId}", Some(200));
    let get_500 = counted(&st, "GET", "/consumers/{ConsumerId}", Some(500));
    // Every call succeeded exactly once; the 500s in between were retried.
    assert_eq!(put_ok, 20);
    assert_eq!(get_ok, 20);
    assert!(put_500 + get_500 > 0, "the seed injects some 500s");
    assert_eq!(s.metrics.count("upsert", "consumer", Some(500)), put_500);
    assert_eq!(s.metrics.count("get", "consumer", Some(500)), get_500);
}

#[tokio::test]
async fn server_errors_are_not_retried_for_post() {
    let s = setup_with(EmulatorConfig::default(), |c| c.max_retries = 5).await;
    s.cp.upsert_consumer(&consumer(1, "a", &[])).await.unwrap();
    s.cp.upsert_consumer_group(&ConsumerGroup {
        id: Some(uuid(2)),
        name: "g".into(),
        ..Default::default()
    })
    .await
    .unwrap();
    set_faults(&s.emu, json!({"error_rate": 1.0})).await;
    let err =
        s.cp.add_consumer_to_group(&sid(2), &sid(1))
            .await
            .unwrap_err();
    assert!(matches!(err, Error::Server { status: 500, .. }), "{err:?}");
    assert!(
        err.is_retryable(),
        "retryable in principle, but not for a POST"
    );
    let st = stats(&s.emu).await;
    assert_eq!(
        counted(
            &st,
            "POST",
            "/consumer_groups/{ConsumerGroupId}/consumers",
            None
        ),
        1
    );
    // Retries give up after max_retries for idempotent calls.
    let err = s.cp.get_consumer(&sid(1)).await.unwrap_err();
    assert!(matches!(err, Error::Server { .. }), "{err:?}");
    let st = stats(&s.emu).await;
    assert_eq!(counted(&st, "GET", "/consumers/{ConsumerId}", Some(500)), 6);
}

#[tokio::test]
async fn timeouts_are_transport_errors() {
    let s = setup_with(
        EmulatorConfig {
            latency_ms: 400,
            ..Default::default()
        },
        |c| {
            c.request_timeout = Duration::from_millis(100);
            c.max_retries = 2;
        },
    )
    .await;
    let err = s.cp.get_service(&sid(1)).await.unwrap_err();
    assert!(
        matches!(err, Error::Transport { timeout: true, .. }),
        "{err:?}"
    );
    assert!(err.is_retryable());
    assert_eq!(err.reason(), "KonnectUnreachable");
    // First attempt and two retries, none answered.
    assert_eq!(s.metrics.count("get", "service", None), 3);
}

#[tokio::test]
async fn dropped_connections_are_retried_for_gets() {
    let s = setup_with(
        EmulatorConfig {
            drop_rate: 0.3,
            seed: 3,
            ..Default::default()
        },
        |c| c.max_retries = 20,
    )
    .await;
    // PUT is idempotent: a dropped answer after the write took effect is harmless to repeat.
    for n in 0..15 {
        s.cp.upsert_consumer(&consumer(n, &format!("d{n}"), &[]))
            .await
            .unwrap();
    }
    assert_eq!(s.cp.list_all_consumers(None).await.unwrap().len(), 15);
    let st = stats(&s.emu).await;
    assert!(st["dropped"].as_u64().unwrap_or(0) > 0, "{st}");
    // Every dropped PUT was seen by the client as a failed attempt (a reused pooled
    // connection the emulator had killed may add a few more).
    assert!(
        s.metrics.count("upsert", "consumer", None)
            >= counted(&st, "PUT", "/consumers/{ConsumerId}", Some(0))
    );
}

#[tokio::test]
async fn an_unreachable_server_is_a_transport_error() {
    // Bind then drop a listener: nothing listens on that port afterwards.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut cfg = ClientConfig::new(
        ServerUrl::parse(&format!("http://127.0.0.1:{port}/v2")).unwrap(),
        Token::new("kpat_canary_unreachable").unwrap(),
    );
    cfg.max_retries = 1;
    cfg.backoff_base = Duration::from_millis(1);
    let client = KonnectClient::new(cfg).unwrap();
    let err = client.get_control_plane("x").await.unwrap_err();
    assert!(
        matches!(err, Error::Transport { timeout: false, .. }),
        "{err:?}"
    );
    assert!(!format!("{err} {err:?}").contains("canary"));
}

// ---------------------------------------------------------------- rate limiting

/// Records when each attempt was sent and what it got.
#[derive(Default)]
struct Timeline {
    events: Mutex<Vec<(Instant, Instant, Option<u16>)>>,
    inner: InMemoryMetrics,
}

impl ClientMetrics for Timeline {
    fn request(
        &self,
        op: &'static str,
        entity: &'static str,
        status: Option<u16>,
        latency: Duration,
    ) {
        let now = Instant::now();
        self.events
            .lock()
            .unwrap()
            .push((now - latency, now, status));
        self.inner.request(op, entity, status, latency);
    }
    fn rate_limited(&self) {
        self.inner.rate_limited();
    }
    fn budget_wait(&self, waited: Duration) {
        self.inner.budget_wait(waited);
    }
}

#[tokio::test]
async fn a_429_pauses_every_concurrent_caller_until_retry_after() {
    // 240/min: a token every 250 ms, so the emulator's Retry-After is 1 s (rounded up).
    let emu = emulator(EmulatorConfig {
        rate_limit_per_minute: Some(240),
        ..Default::default()
    })
    .await;
    let mut cfg = config(&emu);
    // The defaults: 429s must not use up max_retries, however many there are.
    // The client's own bucket stays far above the emulator's so that the emulator's 429s,
    // not the client's pacing, are what this test exercises.
    cfg.max_retries = ClientConfig::DEFAULT_MAX_RETRIES;
    cfg.max_concurrency = 8;
    let timeline = Arc::new(Timeline::default());
    let client = KonnectClient::with_metrics(cfg, timeline.clone()).unwrap();
    let cp = client.control_plane(emu.control_plane_id("default").unwrap());

    // Drain the emulator's bucket, then have 8 callers make 2 requests each.
    let started = Instant::now();
    futures::stream::iter(0..240)
        .map(|_| {
            let cp = cp.clone();
            async move { cp.list_services(&ListQuery::new().size(1)).await }
        })
        .buffer_unordered(8)
        .try_collect::<Vec<_>>()
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let cp = cp.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..2 {
                cp.list_services(&ListQuery::new().size(1)).await?;
            }
            Ok::<_, Error>(())
        }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let elapsed = started.elapsed();

    let events = timeline.events.lock().unwrap().clone();
    let limited: Vec<Instant> = events
        .iter()
        .filter(|e| e.2 == Some(429))
        .map(|e| e.1)
        .collect();
    assert!(!limited.is_empty(), "the budget ran out at least once");
    // No request left the client while a pause was in force: for every 429 received at t,
    // nothing was sent in (t, t + 1 s).
    for t in &limited {
        for (sent, _, status) in &events {
            if *sent > *t {
                assert!(
                    *sent >= *t + Duration::from_secs(1),
                    "a request ({status:?}) was sent {:?} after a 429",
                    *sent - *t
                );
            }
        }
    }
    assert!(elapsed >= Duration::from_secs(1));
    let st = stats(&emu).await;
    assert_eq!(
        st["rate_limited"].as_u64(),
        Some(timeline.inner.rate_limited_count())
    );
    assert_eq!(
        counted(&st, "GET", "/services", Some(200)),
        240 + 16,
        "every call eventually succeeded exactly once"
    );
    assert!(timeline.inner.total_budget_wait() >= Duration::from_millis(900));
}

#[tokio::test]
async fn a_429_past_the_deadline_surfaces_with_retry_after() {
    let s = setup_with(
        EmulatorConfig {
            rate_limit_per_minute: Some(2),
            ..Default::default()
        },
        // Waiting ~30 s would pass any deadline of a few seconds.
        |c| c.rate_limit_deadline = Duration::from_secs(5),
    )
    .await;
    s.cp.list_services(&ListQuery::new()).await.unwrap();
    s.cp.list_services(&ListQuery::new()).await.unwrap();
    let err = s.cp.list_services(&ListQuery::new()).await.unwrap_err();
    let wait = err.retry_after().expect("429 carries Retry-After");
    assert!(
        wait >= Duration::from_secs(1) && wait <= Duration::from_secs(30),
        "{wait:?}"
    );
    assert!(err.is_retryable());
    // The whole client is paused now.
    assert!(s.client.budget().paused_until().is_some());
    assert_eq!(s.metrics.rate_limited_count(), 1);
}

// ---------------------------------------------------------------- paging and tags

#[tokio::test]
async fn paging_through_2500_entities_yields_each_exactly_once() {
    let s = setup().await;
    let total = 2500u128;
    futures::stream::iter(0..total)
        .map(|n| {
            let cp = s.cp.clone();
            async move {
                cp.upsert_consumer(&consumer(n, &format!("user-{n}"), &["bulk"]))
                    .await
            }
        })
        .buffer_unordered(8)
        .try_collect::<Vec<_>>()
        .await
        .unwrap();

    let all = s.cp.list_all_consumers(None).await.unwrap();
    let mut seen = BTreeMap::<EntityId, usize>::new();
    for c in &all {
        *seen.entry(c.id.unwrap()).or_default() += 1;
    }
    assert_eq!(all.len(), 2500);
    assert!(seen.values().all(|n| *n == 1), "duplicates in the listing");
    let expected: BTreeSet<EntityId> = (0..total).map(uuid).collect();
    assert_eq!(seen.keys().cloned().collect::<BTreeSet<_>>(), expected);
    // size=1000 pages: 1000, 1000, 500.
    assert_eq!(
        counted(&stats(&s.emu).await, "GET", "/consumers", Some(200)),
        3
    );

    // Manual paging with a page size of 300 agrees.
    let mut query = ListQuery::new().size(300);
    let mut manual = Vec::new();
    loop {
        let page = s.cp.list_consumers(&query).await.unwrap();
        assert!(page.data.len() <= 300);
        manual.extend(page.data.into_iter().filter_map(|c| c.id));
        match page.offset {
            Some(o) => query.offset = Some(o),
            None => break,
        }
    }
    assert_eq!(manual.len(), 2500);
    assert_eq!(manual.into_iter().collect::<BTreeSet<_>>(), expected);
}

#[tokio::test]
async fn tag_filters_and_or() {
    let s = setup().await;
    let mut tags_of = BTreeMap::new();
    for n in 0..30u128 {
        let mut tags = vec!["all"];
        if n % 2 == 0 {
            tags.push("even");
        }
        if n % 3 == 0 {
            tags.push("three");
        }
        if n % 5 == 0 {
            tags.push("k8s-namespace:five");
        }
        s.cp.upsert_consumer(&consumer(n, &format!("t{n}"), &tags))
            .await
            .unwrap();
        tags_of.insert(uuid(n), tags);
    }
    let expect = |pred: &dyn Fn(&Vec<&str>) -> bool| -> BTreeSet<EntityId> {
        tags_of
            .iter()
            .filter(|(_, t)| pred(t))
            .map(|(id, _)| *id)
            .collect()
    };
    let ids =
        |v: Vec<Consumer>| -> BTreeSet<EntityId> { v.into_iter().filter_map(|c| c.id).collect() };

    let and =
        s.cp.list_all_consumers(Some(TagFilter::All(vec![tag("even"), tag("three")])))
            .await
            .unwrap();
    assert_eq!(
        ids(and),
        expect(&|t| t.contains(&"even") && t.contains(&"three"))
    );
    let or =
        s.cp.list_all_consumers(Some(TagFilter::Any(vec![tag("even"), tag("three")])))
            .await
            .unwrap();
    assert_eq!(
        ids(or),
        expect(&|t| t.contains(&"even") || t.contains(&"three"))
    );
    let with_colon =
        s.cp.list_all_consumers(Some(TagFilter::All(vec![tag("k8s-namespace:five")])))
            .await
            .unwrap();
    assert_eq!(
        ids(with_colon),
        expect(&|t| t.contains(&"k8s-namespace:five"))
    );
    let none =
        s.cp.list_all_consumers(Some(TagFilter::All(vec![tag("even"), tag("nope")])))
            .await
            .unwrap();
    assert!(none.is_empty());
    // Tag filters page like everything else.
    let paged: Vec<Consumer> =
        s.cp.stream(ListQuery::new().size(4).tags(TagFilter::Any(vec![
            tag("three"),
            tag("k8s-namespace:five"),
        ])))
        .try_collect()
        .await
        .unwrap();
    assert_eq!(
        ids(paged),
        expect(&|t| t.contains(&"three") || t.contains(&"k8s-namespace:five"))
    );
}

// ---------------------------------------------------------------- consumer filters

#[tokio::test]
async fn consumers_filter_by_custom_id_and_username() {
    let s = setup().await;
    for (n, user, custom) in [(1, "alice", "c-1"), (2, "bob", "c-2"), (3, "alicia", "c-3")] {
        let mut c = consumer(n, user, &["f"]);
        c.custom_id = Some(custom.into());
        s.cp.upsert_consumer(&c).await.unwrap();
    }
    let users = |p: konnect_plugin_operator::konnect::models::Page<Consumer>| -> Vec<String> {
        p.data.into_iter().filter_map(|c| c.username).collect()
    };
    let by_custom_id =
        s.cp.list_consumers(&ListQuery::new().custom_id("c-2"))
            .await
            .unwrap();
    assert_eq!(users(by_custom_id), vec!["bob"]);
    let by_name =
        s.cp.list_consumers(&ListQuery::new().name("alice"))
            .await
            .unwrap();
    assert_eq!(users(by_name), vec!["alice"]);
    // Refused before sending where the spec has no such filter.
    let err =
        s.cp.list_consumer_groups(&ListQuery::new().name("gold"))
            .await
            .unwrap_err();
    assert!(matches!(err, Error::Invalid { .. }), "{err:?}");
    let err =
        s.cp.list_services(&ListQuery::new().custom_id("c-1"))
            .await
            .unwrap_err();
    assert!(matches!(err, Error::Invalid { .. }), "{err:?}");
}

#[tokio::test]
async fn the_emulator_refuses_filters_an_endpoint_does_not_take() {
    let s = setup().await;
    let cp = s.emu.control_plane_id("default").unwrap();
    for query in [
        "consumer_groups?filter[name][eq]=x",
        "services?custom_id=x",
        "consumers?filter[username][eq]=x",
        "plugins?nope=1",
    ] {
        let resp = raw()
            .get(format!(
                "{}/control-planes/{cp}/core-entities/{query}",
                s.emu.base_url()
            ))
            .bearer_auth(s.emu.token())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 400, "{query}");
    }
}

// ---------------------------------------------------------------- 429 variants

/// Makes the emulator's budget `per_minute` (a fresh, full bucket), then empties it.
async fn exhaust_budget(s: &Setup, per_minute: u32) {
    set_faults(&s.emu, json!({"rate_limit_per_minute": per_minute})).await;
    for _ in 0..per_minute {
        s.cp.list_services(&ListQuery::new().size(1)).await.unwrap();
    }
}

#[tokio::test]
async fn a_429_on_a_post_is_retried() {
    let s = setup().await;
    s.cp.upsert_consumer(&consumer(1, "alice", &[]))
        .await
        .unwrap();
    s.cp.upsert_consumer_group(&ConsumerGroup {
        id: Some(uuid(10)),
        name: "gold".into(),
        ..Default::default()
    })
    .await
    .unwrap();
    // 60/min: one token a second, so the POST meets a 429 with Retry-After 1.
    exhaust_budget(&s, 60).await;
    let started = Instant::now();
    s.cp.add_consumer_to_group(&sid(10), &sid(1))
        .await
        .expect("a 429 means Konnect did not process the POST: it is retried");
    assert!(started.elapsed() >= Duration::from_millis(900));
    let st = stats(&s.emu).await;
    assert!(counted(&st, "POST", "/consumers", Some(429)) >= 1, "{st}");
    assert_eq!(counted(&st, "POST", "/consumers", Some(201)), 1);
    set_faults(&s.emu, json!({"rate_limit_per_minute": null})).await;
    let members = s.cp.list_all_group_consumers(&sid(10)).await.unwrap();
    assert_eq!(members.len(), 1);
}

#[tokio::test]
async fn retry_after_as_an_http_date_is_honoured() {
    // The client gives up on a 429 whose wait would end after the deadline. 14 s is below the
    // 15 s fallback (`DEFAULT_RETRY_AFTER`) an unparsable Retry-After gets, and far above the
    // ~2 s the emulator's date asks for: the call only succeeds if the date was read.
    let s = setup_with(EmulatorConfig::default(), |c| {
        c.rate_limit_deadline = Duration::from_secs(14)
    })
    .await;
    assert!(DEFAULT_RETRY_AFTER > Duration::from_secs(14));
    set_faults(&s.emu, json!({"retry_after_format": "http-date"})).await;
    exhaust_budget(&s, 60).await;
    let started = Instant::now();
    s.cp.list_services(&ListQuery::new())
        .await
        .expect("a 429 with a parsable date is retried after that date");
    assert_eq!(
        s.metrics.rate_limited_count(),
        1,
        "one 429, then one success"
    );
    // The emulator's date is a whole second at least 2 s ahead when the bucket needs 1 s: the
    // client did wait for it (a lower bound only).
    assert!(started.elapsed() >= Duration::from_secs(1));
    let st = stats(&s.emu).await;
    assert_eq!(counted(&st, "GET", "/services", Some(429)), 1);
    assert_eq!(counted(&st, "GET", "/services", Some(200)), 61);
}

// ---------------------------------------------------------------- secrets and identity

/// A `tracing` writer that appends to a shared buffer.
#[derive(Clone, Default)]
struct LogBuffer(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl LogBuffer {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

/// Every event of this test binary, from a process-wide subscriber installed once.
///
/// A subscriber set for one thread (`set_default`) missed the client's events once under load:
/// tracing caches each callsite's interest across threads, and another test's thread (with no
/// subscriber) could register a callsite as "never" concurrently. A global subscriber has no such
/// race; the other tests' events land in the buffer too, which only makes the canary check wider.
fn global_logs() -> LogBuffer {
    static LOGS: std::sync::OnceLock<LogBuffer> = std::sync::OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = LogBuffer::default();
        let writer = logs.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish();
        tracing::subscriber::set_global_default(subscriber)
            .expect("no other test of this binary installs a subscriber");
        logs
    })
    .clone()
}

#[tokio::test]
async fn the_token_never_reaches_a_log_line_or_an_error() {
    const CANARY: &str = "kpat_canary_4f1c9e";
    let logs = global_logs();

    let emu = emulator(EmulatorConfig {
        tokens: vec![CANARY.into()],
        ..Default::default()
    })
    .await;
    let mut cfg = config(&emu);
    cfg.max_retries = 1;
    let client = KonnectClient::new(cfg.clone()).unwrap();
    let cp = client.control_plane(emu.control_plane_id("default").unwrap());
    let mut errors = Vec::new();
    // Successes.
    cp.upsert_service(&service(1, "svc")).await.unwrap();
    cp.list_services(&ListQuery::new()).await.unwrap();
    // 400 and 404.
    errors.push(
        cp.upsert_plugin(&Plugin {
            id: Some(uuid(2)),
            name: "no-such-plugin".into(),
            ..Default::default()
        })
        .await
        .unwrap_err(),
    );
    errors.push(cp.get_route(&sid(3)).await.unwrap_err());
    // 5xx, retried then surfaced.
    set_faults(&emu, json!({"error_rate": 1.0})).await;
    errors.push(cp.get_service(&sid(1)).await.unwrap_err());
    set_faults(&emu, json!({"error_rate": 0.0})).await;
    // 401: the emulator does not know this one (it still contains the canary).
    let mut wrong = cfg.clone();
    wrong.token = Token::new(format!("{CANARY}_revoked")).unwrap();
    let wrong = KonnectClient::new(wrong).unwrap();
    errors.push(
        wrong
            .control_plane(emu.control_plane_id("default").unwrap())
            .list_services(&ListQuery::new())
            .await
            .unwrap_err(),
    );
    // Transport: nothing listens there any more.
    let addr = emu.addr();
    emu.shutdown().await;
    let mut gone = cfg.clone();
    gone.server = ServerUrl::parse(&format!("http://{addr}/v2")).unwrap();
    gone.max_retries = 0;
    let gone = KonnectClient::new(gone).unwrap();
    errors.push(gone.control_plane("cp").get_service("x").await.unwrap_err());

    assert!(
        matches!(errors[0], Error::Validation { .. }),
        "{:?}",
        errors[0]
    );
    assert!(errors[1].is_not_found());
    assert!(matches!(errors[2], Error::Server { .. }), "{:?}", errors[2]);
    assert!(matches!(errors[3], Error::Unauthorized), "{:?}", errors[3]);
    assert!(
        matches!(errors[4], Error::Transport { .. }),
        "{:?}",
        errors[4]
    );
    for e in &errors {
        assert!(!format!("{e} {e:?}").contains(CANARY), "{e:?}");
    }
    assert!(!format!("{client:?} {cfg:?}").contains(CANARY));
    let text = logs.text();
    assert!(
        text.contains("konnect request failed") && text.contains("retrying konnect request"),
        "the client's events were captured:\n{text}"
    );
    assert!(
        !text.contains(CANARY),
        "the token reached the logs:\n{text}"
    );
}

#[tokio::test]
async fn the_emulator_sees_our_user_agent() {
    let s = setup().await;
    s.cp.list_services(&ListQuery::new()).await.unwrap();
    s.client
        .find_control_plane_by_name("default")
        .await
        .unwrap();
    let expected = concat!("konnect-plugin-operator/", env!("CARGO_PKG_VERSION"));
    assert_eq!(konnect_plugin_operator::konnect::USER_AGENT, expected);
    let st = stats(&s.emu).await;
    assert_eq!(st["user_agents"], json!({ expected: 2 }), "{st}");
}
