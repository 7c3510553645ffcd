//! Emulator fidelity (issue 10): what Konnect refuses, the emulator refuses too; what Konnect
//! serves, the emulator serves. Each test goes through the project's Konnect client (or plain
//! HTTP for the paths the client has no call for), against the emulator over loopback.
//!
//! Expected values come from Kong's own sources, cited at each test, never from the emulator:
//! Kong/kong `kong/db/schema/typedefs.lua`, `kong/db/schema/init.lua` (validator messages),
//! `kong/db/schema/entities/routes.lua`, `routes_subschemas.lua`, and the plugin schemas
//! `kong/plugins/<name>/schema.lua`; and the official specs in `tests/reference/konnect/`.

use std::time::Duration;

use konnect_plugin_operator::emulator::{self, EmulatorConfig, EmulatorHandle};
use konnect_plugin_operator::konnect::models::{
    Consumer, ConsumerGroup, EntityId, ForeignKey, Plugin, Route, Service,
};
use konnect_plugin_operator::konnect::{
    ClientConfig, ControlPlaneClient, DetailType, Error, KonnectClient, ServerUrl, Token,
};
use serde_json::{Value, json};

fn uuid(n: u128) -> EntityId {
    uuid::Uuid::from_u128(0xf1de_0000_0000_4000_8000_0000_0000_0000 | n).into()
}

fn fk(id: &EntityId) -> ForeignKey {
    ForeignKey::new(*id)
}

struct Setup {
    emu: EmulatorHandle,
    client: KonnectClient,
    cp: ControlPlaneClient,
}

async fn setup() -> Setup {
    let emu = emulator::spawn(EmulatorConfig::default())
        .await
        .expect("emulator starts");
    let mut cfg = ClientConfig::new(
        ServerUrl::parse(&emu.base_url()).expect("emulator URL"),
        Token::new(emu.token()).expect("token"),
    );
    cfg.backoff_base = Duration::from_millis(5);
    cfg.backoff_max = Duration::from_millis(50);
    cfg.requests_per_minute = 600_000;
    let client = KonnectClient::new(cfg).expect("client");
    let cp = client.control_plane(emu.control_plane_id("default").expect("default cp"));
    Setup { emu, client, cp }
}

fn raw() -> reqwest::Client {
    konnect_plugin_operator::konnect::install_crypto_provider();
    reqwest::Client::new()
}

/// The (field, messages) of a validation error; panics on anything else.
fn details(e: Error) -> Vec<(Option<String>, DetailType, Vec<String>)> {
    match e {
        Error::Validation { details, .. } => details
            .into_iter()
            .map(|d| (d.field, d.kind, d.messages))
            .collect(),
        other => panic!("expected a validation error, got {other:?}"),
    }
}

fn has(d: &[(Option<String>, DetailType, Vec<String>)], field: &str, message: &str) -> bool {
    d.iter()
        .any(|(f, _, m)| f.as_deref() == Some(field) && m.iter().any(|x| x == message))
}

async fn service(cp: &ControlPlaneClient, n: u128) -> EntityId {
    let s = Service {
        id: Some(uuid(n)),
        name: Some(format!("svc-{n}")),
        host: "example.com".into(),
        ..Service::default()
    };
    cp.upsert_service(&s).await.expect("service");
    uuid(n)
}

async fn consumer(cp: &ControlPlaneClient, n: u128) -> EntityId {
    let c = Consumer {
        id: Some(uuid(n)),
        username: Some(format!("user-{n}")),
        ..Consumer::default()
    };
    cp.upsert_consumer(&c).await.expect("consumer");
    uuid(n)
}

fn plugin(n: u128, name: &str, config: Value) -> Plugin {
    Plugin {
        id: Some(uuid(n)),
        name: name.into(),
        config,
        ..Plugin::default()
    }
}

// ------------------------------------------------------------------ 1. no_consumer

/// Kong/kong `kong/plugins/{key-auth,cors,acl,basic-auth,jwt,session}/schema.lua` declare
/// `consumer = typedefs.no_consumer`; `typedefs.lua` defines it as `eq = null`, and the `eq`
/// validator of `kong/db/schema/init.lua` says `value must be null`.
#[tokio::test]
async fn plugins_kong_forbids_on_consumers_are_refused_there() {
    let s = setup().await;
    let cid = consumer(&s.cp, 1).await;
    let sid = service(&s.cp, 2).await;
    for (i, name) in ["key-auth", "cors", "acl", "basic-auth", "jwt", "session"]
        .into_iter()
        .enumerate()
    {
        let config = if name == "acl" {
            json!({"allow": ["a"]})
        } else {
            json!({})
        };
        let mut p = plugin(100 + i as u128, name, config.clone());
        p.consumer = Some(fk(&cid));
        let d = details(s.cp.upsert_plugin(&p).await.expect_err(name));
        assert!(has(&d, "consumer", "value must be null"), "{name}: {d:?}");
        // The same plugin on a service is fine.
        let mut p = plugin(200 + i as u128, name, config);
        p.service = Some(fk(&sid));
        s.cp.upsert_plugin(&p)
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    // rate-limiting may sit on a consumer (its schema has no `consumer` restriction).
    let mut p = plugin(300, "rate-limiting", json!({"minute": 5}));
    p.consumer = Some(fk(&cid));
    s.cp.upsert_plugin(&p)
        .await
        .expect("rate-limiting on a consumer");

    // The schema endpoint serves the rule, as Kong's Admin API serialises `eq = null`.
    let schema = s.cp.get_plugin_schema("key-auth").await.expect("schema");
    let consumer_field = schema["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|f| f.get("consumer"))
        .expect("consumer field");
    assert_eq!(consumer_field.get("eq"), Some(&Value::Null));
    s.emu.shutdown().await;
}

// ------------------------------------------------------------------ 2. typedefs

/// Kong/kong `kong/db/schema/typedefs.lua` (`utf8_name`, `host`, `path`, `tags`,
/// `http_method`, `hosts`) and `kong/db/schema/entities/routes.lua` + `routes_subschemas.lua`.
#[tokio::test]
async fn entity_fields_follow_kongs_typedefs() {
    let s = setup().await;
    let bad_service = |name: &str, host: &str, path: Option<&str>| Service {
        id: Some(uuid(10)),
        name: Some(name.into()),
        host: host.into(),
        path: path.map(str::to_string),
        ..Service::default()
    };
    let cases: Vec<(Service, &str, &str)> = vec![
        (
            bad_service("has space", "example.com", None),
            "name",
            "invalid value 'has space': the only accepted ascii characters are alphanumerics or ., -, _, and ~",
        ),
        (
            bad_service("ok", "example.com:8080", None),
            "host",
            "must not have a port",
        ),
        (
            bad_service("ok", "example.com", Some("api")),
            "path",
            "should start with: /",
        ),
        (
            bad_service("ok", "example.com", Some("/a//b")),
            "path",
            "must not have empty segments",
        ),
    ];
    for (svc, field, message) in cases {
        let d = details(s.cp.upsert_service(&svc).await.expect_err(field));
        assert!(has(&d, field, message), "{field}: {d:?}");
    }
    // A name Kong's utf8_name accepts: non-ASCII letters.
    s.cp.upsert_service(&bad_service("café-1", "example.com", Some("/a")))
        .await
        .expect("utf-8 name");
    let sid = uuid(10);

    // Tags: no `,` or `/`.
    let d = raw_details(
        raw_put(
            &s,
            format!("services/{sid}"),
            json!({"host": "h", "tags": ["a,b"]}),
        )
        .await,
    );
    assert!(
        has(
            &d,
            "tags[0]",
            "invalid tag 'a,b': expected printable ascii (except `,` and `/`) or valid utf-8 sequences"
        ),
        "{d:?}"
    );

    // Routes: paths start with `/` or `~/`; methods upper case; wildcard hosts.
    let route = |paths: Vec<&str>, methods: Vec<&str>, hosts: Vec<&str>| Route {
        id: Some(uuid(20)),
        service: Some(fk(&sid)),
        paths: (!paths.is_empty()).then(|| paths.iter().map(|p| p.to_string()).collect()),
        methods: (!methods.is_empty()).then(|| methods.iter().map(|p| p.to_string()).collect()),
        hosts: (!hosts.is_empty()).then(|| hosts.iter().map(|p| p.to_string()).collect()),
        ..Route::default()
    };
    let cases = vec![
        (
            route(vec!["api"], vec![], vec![]),
            "paths[0]",
            "should start with: / (fixed path) or ~/ (regex path)",
        ),
        (
            route(vec!["/a//b"], vec![], vec![]),
            "paths[0]",
            "must not have empty segments",
        ),
        (
            route(vec![], vec!["get"], vec![]),
            "methods[0]",
            "invalid value: get",
        ),
        (
            route(vec![], vec![], vec!["a.*.com"]),
            "hosts[0]",
            "invalid wildcard: must be placed at leftmost or rightmost label",
        ),
    ];
    for (r, field, message) in cases {
        let d = details(s.cp.upsert_route(&r).await.expect_err(field));
        assert!(has(&d, field, message), "{field}: {d:?}");
    }
    s.cp.upsert_route(&route(
        vec!["/api", "~/v[0-9]+/"],
        vec!["GET"],
        vec!["*.example.com"],
    ))
    .await
    .expect("a valid route");

    // destinations/sources only on stream routes (routes_subschemas.lua, http subschema).
    let d = raw_details(
        raw_put(
            &s,
            format!("routes/{}", uuid(21)),
            json!({"paths": ["/x"], "sources": [{"ip": "10.0.0.1"}]}),
        )
        .await,
    );
    assert!(
        has(
            &d,
            "sources",
            "cannot set 'sources' when 'protocols' is 'http' or 'https'"
        ),
        "{d:?}"
    );
    let (status, v) = raw_put(
        &s,
        format!("routes/{}", uuid(22)),
        json!({"protocols": ["tcp"], "sources": [{"ip": "10.0.0.1"}], "service": {"id": sid.to_string()}}),
    )
    .await;
    assert_eq!(status, 200, "a tcp route with sources is valid: {v}");

    // Consumers and consumer groups: strings are non-empty (Kong's implicit len_min = 1).
    let c = Consumer {
        id: Some(uuid(30)),
        username: Some(String::new()),
        ..Consumer::default()
    };
    let d = details(s.cp.upsert_consumer(&c).await.expect_err("empty username"));
    assert!(has(&d, "username", "length must be at least 1"), "{d:?}");
    let g = ConsumerGroup {
        id: Some(uuid(31)),
        name: String::new(),
        ..ConsumerGroup::default()
    };
    let d = details(
        s.cp.upsert_consumer_group(&g)
            .await
            .expect_err("empty name"),
    );
    assert!(has(&d, "name", "length must be at least 1"), "{d:?}");
    s.emu.shutdown().await;
}

/// PUTs a raw body (for what the client's models cannot carry): (status, body).
async fn raw_put(s: &Setup, path: String, body: Value) -> (u16, Value) {
    let resp = raw()
        .put(format!(
            "{}/control-planes/{}/core-entities/{path}",
            s.emu.base_url(),
            s.cp.id()
        ))
        .bearer_auth(s.emu.token())
        .json(&body)
        .send()
        .await
        .expect("sent");
    let status = resp.status().as_u16();
    (status, resp.json().await.expect("JSON body"))
}

/// The details of a raw 400 body, like [`details`].
fn raw_details((status, v): (u16, Value)) -> Vec<(Option<String>, DetailType, Vec<String>)> {
    assert_eq!(status, 400, "{v}");
    v["details"]
        .as_array()
        .expect("details")
        .iter()
        .map(|d| {
            let kind = match d["type"].as_str() {
                Some("ERROR_TYPE_FIELD") => DetailType::Field,
                Some("ERROR_TYPE_ENTITY") => DetailType::Entity,
                Some("ERROR_TYPE_REFERENCE") => DetailType::Reference,
                other => DetailType::Other(other.unwrap_or_default().to_string()),
            };
            let messages = d["messages"]
                .as_array()
                .map(|m| {
                    m.iter()
                        .filter_map(|x| x.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            (d["field"].as_str().map(str::to_string), kind, messages)
        })
        .collect()
}

// ------------------------------------------------------------------ 3. expression routes

/// The spec's `RouteExpression` (`expression`, `priority`), and Kong's expressions-flavor
/// route schema (kong/db/schema/entities/routes.lua: `expression` required, `priority`
/// default 0, no traditional matchers).
#[tokio::test]
async fn expression_routes_are_accepted() {
    let s = setup().await;
    let sid = service(&s.cp, 1).await;
    let http = raw();
    let url = format!(
        "{}/control-planes/{}/core-entities/routes/{}",
        s.emu.base_url(),
        s.cp.id(),
        uuid(2)
    );
    let resp = http
        .put(&url)
        .bearer_auth(s.emu.token())
        .json(&json!({"expression": "http.path ^= \"/api\"", "service": {"id": sid.to_string()}}))
        .send()
        .await
        .expect("sent");
    assert_eq!(resp.status().as_u16(), 200);
    let v: Value = resp.json().await.expect("json");
    assert_eq!(v["expression"], "http.path ^= \"/api\"");
    assert_eq!(v["priority"], 0);
    assert!(
        v.get("paths").is_none() && v.get("regex_priority").is_none(),
        "{v}"
    );
    // The client reads it back (it ignores what its model does not carry).
    let r = s.cp.get_route(&uuid(2).to_string()).await.expect("route");
    assert_eq!(r.paths, None);

    // Mixing an expression with traditional matchers is refused.
    let resp = http
        .put(&url)
        .bearer_auth(s.emu.token())
        .json(&json!({"expression": "true", "paths": ["/x"]}))
        .send()
        .await
        .expect("sent");
    assert_eq!(resp.status().as_u16(), 400);
    // A priority without an expression, too.
    let resp = http
        .put(&url)
        .bearer_auth(s.emu.token())
        .json(&json!({"priority": 5}))
        .send()
        .await
        .expect("sent");
    assert_eq!(resp.status().as_u16(), 400);
    s.emu.shutdown().await;
}

// ------------------------------------------------------------------ 4. entity-level errors

/// Kong/kong `kong/plugins/rate-limiting/schema.lua`: `entity_checks = { { at_least_one_of =
/// { "config.second", ... } } }`; Kong files it under `@entity` (kong/db/schema/init.lua,
/// `run_entity_check`), so Konnect answers a detail without a field.
#[tokio::test]
async fn plugin_entity_checks_are_entity_errors() {
    let s = setup().await;
    let d = details(
        s.cp.upsert_plugin(&plugin(1, "rate-limiting", json!({})))
            .await
            .expect_err("no limit"),
    );
    let entity: Vec<_> = d.iter().filter(|(f, _, _)| f.is_none()).collect();
    assert_eq!(entity.len(), 1, "{d:?}");
    assert_eq!(entity[0].1, DetailType::Entity);
    assert_eq!(
        entity[0].2,
        vec![
            "at least one of these fields must be non-empty: 'config.second', 'config.minute', 'config.hour', 'config.day', 'config.month', 'config.year'"
        ]
    );
    assert!(
        !d.iter().any(|(f, _, _)| f.as_deref() == Some("config")),
        "{d:?}"
    );
    s.emu.shutdown().await;
}

// ------------------------------------------------------------------ 6. remove-all memberships

/// The spec's `remove-all-consumers-from-consumer-group` and
/// `remove-consumer-from-all-consumer-groups`: 204, the groups and consumers stay.
#[tokio::test]
async fn memberships_can_be_removed_all_at_once() {
    let s = setup().await;
    let c1 = consumer(&s.cp, 1).await;
    let c2 = consumer(&s.cp, 2).await;
    for n in [10u128, 11] {
        let g = ConsumerGroup {
            id: Some(uuid(n)),
            name: format!("g{n}"),
            ..ConsumerGroup::default()
        };
        s.cp.upsert_consumer_group(&g).await.expect("group");
    }
    let (g1, g2) = (uuid(10).to_string(), uuid(11).to_string());
    for (g, c) in [(&g1, &c1), (&g1, &c2), (&g2, &c1)] {
        s.cp.add_consumer_to_group(g, &c.to_string())
            .await
            .expect("add");
    }
    s.cp.remove_all_consumers_from_group(&g1)
        .await
        .expect("remove all");
    assert!(s.cp.list_all_group_consumers(&g1).await.unwrap().is_empty());
    assert_eq!(s.cp.list_all_group_consumers(&g2).await.unwrap().len(), 1);
    s.cp.remove_consumer_from_all_groups(&c1.to_string())
        .await
        .expect("leave all");
    assert!(s.cp.list_all_group_consumers(&g2).await.unwrap().is_empty());
    // Nothing was deleted.
    s.cp.get_consumer_group(&g1).await.expect("group stays");
    s.cp.get_consumer(&c1.to_string())
        .await
        .expect("consumer stays");
    // 404 for a group or consumer that does not exist (the spec's 404).
    assert!(matches!(
        s.cp.remove_all_consumers_from_group(&uuid(99).to_string())
            .await,
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        s.cp.remove_consumer_from_all_groups(&uuid(98).to_string())
            .await,
        Err(Error::NotFound { .. })
    ));
    s.emu.shutdown().await;
}

// ------------------------------------------------------------------ 8. kong-operator's calls

/// `PATCH /v2/control-planes/{id}` (`update-control-plane`) and `GET /v3/organizations/me`
/// (`get-organizations-me`), counted apart in the stats.
#[tokio::test]
async fn update_control_plane_and_organization_me() {
    let s = setup().await;
    let id = s.cp.id().to_string();
    let cp = s
        .client
        .update_control_plane(
            &id,
            &json!({"description": "patched", "labels": {"team": "a"}}),
        )
        .await
        .expect("patch");
    assert_eq!(cp.id.to_string(), id);
    let again = s.client.get_control_plane(&id).await.expect("get");
    assert_eq!(again.name, "default");
    let meta: Value = raw()
        .get(format!("{}/control-planes/{id}", s.emu.base_url()))
        .bearer_auth(s.emu.token())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(meta["description"], "patched");
    assert_eq!(meta["labels"]["team"], "a");
    // Unknown properties are refused (UpdateControlPlaneRequest: additionalProperties false).
    assert!(matches!(
        s.client
            .update_control_plane(
                &id,
                &json!({"cluster_type": "CLUSTER_TYPE_K8S_INGRESS_CONTROLLER"})
            )
            .await,
        Err(Error::BadRequest { status: 400, .. } | Error::Validation { .. })
    ));

    let base = format!("http://{}", s.emu.addr());
    let me = raw()
        .get(format!("{base}/v3/organizations/me"))
        .bearer_auth(s.emu.token())
        .send()
        .await
        .unwrap();
    assert_eq!(me.status().as_u16(), 200);
    let me: Value = me.json().await.unwrap();
    // MeOrganization (sdk-konnect-go models/components/meorganization.go).
    assert!(uuid::Uuid::parse_str(me["id"].as_str().unwrap()).is_ok());
    assert_eq!(me["state"], "active");
    let unauth = raw()
        .get(format!("{base}/v3/organizations/me"))
        .send()
        .await
        .unwrap();
    assert_eq!(unauth.status().as_u16(), 401);
    let stats: Value = raw()
        .get(format!("{base}/_emulator/stats"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stats["v3_total"], 2, "{stats}");
    s.emu.shutdown().await;
}

// ------------------------------------------------------------------ 9. state file lock

#[tokio::test]
async fn a_second_emulator_on_one_state_file_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    let cfg = EmulatorConfig {
        state_file: Some(path.clone()),
        ..EmulatorConfig::default()
    };
    let first = emulator::spawn(cfg.clone()).await.expect("first starts");
    let second = emulator::spawn(cfg.clone()).await;
    match second {
        Err(e @ emulator::Error::StateLocked { .. }) => {
            let text = e.to_string();
            assert!(text.contains("in use by another emulator"), "{text}");
            assert!(text.contains(&path.display().to_string()), "{text}");
        }
        Err(other) => panic!("wrong error: {other}"),
        Ok(_) => panic!("a second emulator started on the same state file"),
    }
    first.shutdown().await;
    // Once the first has stopped, the file is free again.
    let third = emulator::spawn(cfg)
        .await
        .expect("starts after the first stopped");
    third.shutdown().await;
}
