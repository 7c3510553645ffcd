//! Conformance of the emulator to the official Konnect OpenAPI specs.
//!
//! Every operation the operator's client uses is called over HTTP; the status must be one the
//! spec lists for that operation, and the body must validate against the spec's response
//! schema, turned into a standalone JSON Schema (refs inlined, `nullable` honoured, `allOf`
//! merged). Stricter than the spec on purpose: every object schema that declares properties
//! and does not explicitly allow more gets `additionalProperties: false`, so a field the spec
//! does not define fails the test.

use std::sync::LazyLock;

use konnect_plugin_operator::emulator::{EmulatorConfig, EmulatorHandle, spawn};
use reqwest::Method;
use serde_json::{Value, json};

/// Kong's published specs, copied unmodified (see `tests/reference/konnect/PROVENANCE.md`).
const SPEC_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/reference/konnect/");

fn load(name: &str) -> Value {
    let text = std::fs::read_to_string(format!("{SPEC_DIR}{name}")).expect("spec readable");
    serde_norway::from_str(&text).expect("spec is YAML")
}

static CONFIG_SPEC: LazyLock<Value> =
    LazyLock::new(|| load("konnect-control-planes-config-v2.openapi.yaml"));
static CP_SPEC: LazyLock<Value> = LazyLock::new(|| load("konnect-control-planes-v2.openapi.yaml"));
/// An excerpt (see PROVENANCE.md): `GET /v3/organizations/me` only.
static IDENTITY_SPEC: LazyLock<Value> =
    LazyLock::new(|| load("konnect-identity-v3-organizations-me.openapi.yaml"));

#[path = "support/spec.rs"]
mod spec;
use spec::response_spec;

struct Checker {
    h: EmulatorHandle,
    http: reqwest::Client,
    cp: String,
    checked: std::cell::Cell<usize>,
}

impl Checker {
    async fn new() -> Checker {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let h = spawn(EmulatorConfig::default())
            .await
            .expect("emulator starts");
        let cp = h.control_plane_id("default").expect("default cp");
        Checker {
            h,
            http: reqwest::Client::new(),
            cp,
            checked: std::cell::Cell::new(0),
        }
    }

    /// Calls the emulator and checks status and body against `spec_path` of the spec.
    /// `path` is relative to `/v2`; `core` prefixes the control plane's core-entities path.
    async fn call(
        &self,
        spec: &Value,
        method: Method,
        spec_path: &str,
        path: &str,
        body: Option<Value>,
        auth: bool,
    ) -> (u16, Value) {
        let url = format!("{}{path}", self.h.base_url());
        let mut req = self.http.request(method.clone(), url);
        if auth {
            req = req.bearer_auth(self.h.token());
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request sent");
        let status = resp.status().as_u16();
        let text = resp.text().await.expect("body");
        let value: Value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{method} {path}: not JSON ({e}): {text}"))
        };
        let m = method.as_str().to_lowercase();
        let (listed, schema) = response_spec(spec, spec_path, &m, status);
        assert!(
            listed.contains(&status.to_string()),
            "{method} {path}: status {status} not in the spec's {listed:?}; body {value}"
        );
        if let Some(schema) = schema {
            let validator = jsonschema::validator_for(&schema)
                .unwrap_or_else(|e| panic!("schema for {m} {spec_path} {status}: {e}"));
            let errors: Vec<String> = validator
                .iter_errors(&value)
                .map(|e| format!("{} at {}", e, e.instance_path))
                .collect();
            assert!(
                errors.is_empty(),
                "{method} {path} ({status}) does not match the spec:\n{}\nbody: {value}",
                errors.join("\n")
            );
        }
        self.checked.set(self.checked.get() + 1);
        (status, value)
    }

    async fn core(
        &self,
        method: Method,
        spec_suffix: &str,
        suffix: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        self.call(
            &CONFIG_SPEC,
            method,
            &format!("/control-planes/{{controlPlaneId}}/core-entities{spec_suffix}"),
            &format!("/control-planes/{}/core-entities{suffix}", self.cp),
            body,
            true,
        )
        .await
    }
}

fn id(v: &Value) -> String {
    v["id"].as_str().expect("id").to_string()
}

fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

#[test]
fn the_converter_is_strict() {
    // A field the spec does not define must fail: guards the test machinery itself.
    let (_, schema) = response_spec(
        &CONFIG_SPEC,
        "/control-planes/{controlPlaneId}/core-entities/services/{ServiceId}",
        "get",
        200,
    );
    let v = jsonschema::validator_for(&schema.expect("schema")).expect("compiles");
    assert!(v.is_valid(&json!({"host": "h", "id": "x", "port": 80})));
    assert!(!v.is_valid(&json!({"host": "h", "surprise": 1})));
    assert!(!v.is_valid(&json!({"host": "h", "port": "80"})));
    assert!(v.is_valid(&json!({"host": "h", "path": null})));
}

#[tokio::test]
async fn core_entities_conform_to_the_spec() {
    use Method as M;
    let c = Checker::new().await;

    // Services
    let (s, svc) = c
        .core(
            M::POST,
            "/services",
            "/services",
            Some(json!({"name": "svc", "host": "h", "tags": ["t1"]})),
        )
        .await;
    assert_eq!(s, 201);
    let sid = id(&svc);
    let one = "/services/{ServiceId}";
    assert_eq!(
        c.core(M::GET, one, &format!("/services/{sid}"), None)
            .await
            .0,
        200
    );
    let sid2 = new_id();
    assert_eq!(
        c.core(
            M::PUT,
            one,
            &format!("/services/{sid2}"),
            Some(json!({"name": "svc2", "url": "https://x.example/p"}))
        )
        .await
        .0,
        200
    );
    let (s, page) = c
        .core(M::GET, "/services", "/services?size=1&tags=t1/nope", None)
        .await;
    assert_eq!(s, 200);
    assert!(page["next"].is_null());
    let (_, page) = c.core(M::GET, "/services", "/services?size=1", None).await;
    assert!(page["offset"].is_string() && page["next"].is_string());
    assert_eq!(
        c.core(M::GET, one, &format!("/services/{}", new_id()), None)
            .await
            .0,
        404
    );

    // Routes, top-level and under their service
    let (s, route) = c
        .core(
            M::POST,
            "/routes",
            "/routes",
            Some(json!({"name": "r1", "paths": ["/a"], "service": {"id": sid}, "headers": {"x": ["1"]}})),
        )
        .await;
    assert_eq!(s, 201);
    let rid = id(&route);
    assert_eq!(
        c.core(M::GET, "/routes/{RouteId}", &format!("/routes/{rid}"), None)
            .await
            .0,
        200
    );
    assert_eq!(c.core(M::GET, "/routes", "/routes", None).await.0, 200);
    let nested = "/services/{ServiceId}/routes";
    assert_eq!(
        c.core(M::GET, nested, &format!("/services/{sid}/routes"), None)
            .await
            .0,
        200
    );
    let (s, r2) = c
        .core(
            M::POST,
            nested,
            &format!("/services/{sid}/routes"),
            Some(json!({"hosts": ["a.example"]})),
        )
        .await;
    assert_eq!(s, 201);
    let r2id = id(&r2);
    let nested_one = "/services/{ServiceId}/routes/{RouteId}";
    assert_eq!(
        c.core(
            M::GET,
            nested_one,
            &format!("/services/{sid}/routes/{r2id}"),
            None
        )
        .await
        .0,
        200
    );
    assert_eq!(
        c.core(
            M::PUT,
            nested_one,
            &format!("/services/{sid}/routes/{r2id}"),
            Some(json!({"hosts": ["b.example"]}))
        )
        .await
        .0,
        200
    );
    assert_eq!(
        c.core(
            M::PUT,
            "/routes/{RouteId}",
            &format!("/routes/{}", new_id()),
            Some(json!({"paths": ["/z"]}))
        )
        .await
        .0,
        200
    );

    // Consumers and consumer groups with membership
    let (s, consumer) = c
        .core(
            M::POST,
            "/consumers",
            "/consumers",
            Some(json!({"username": "alice", "custom_id": "a-1"})),
        )
        .await;
    assert_eq!(s, 201);
    let cid = id(&consumer);
    assert_eq!(
        c.core(
            M::GET,
            "/consumers/{ConsumerId}",
            &format!("/consumers/{cid}"),
            None
        )
        .await
        .0,
        200
    );
    assert_eq!(
        c.core(
            M::PUT,
            "/consumers/{ConsumerId}",
            &format!("/consumers/{}", new_id()),
            Some(json!({"username": "bob"}))
        )
        .await
        .0,
        200
    );
    assert_eq!(
        c.core(M::GET, "/consumers", "/consumers", None).await.0,
        200
    );
    let (s, group) = c
        .core(
            M::POST,
            "/consumer_groups",
            "/consumer_groups",
            Some(json!({"name": "gold"})),
        )
        .await;
    assert_eq!(s, 201);
    let gid = id(&group);
    let gone = "/consumer_groups/{ConsumerGroupId}";
    let (s, wrapped) = c
        .core(M::GET, gone, &format!("/consumer_groups/{gid}"), None)
        .await;
    assert_eq!(s, 200);
    assert_eq!(wrapped["consumer_group"]["id"], gid.as_str());
    assert_eq!(
        c.core(
            M::PUT,
            gone,
            &format!("/consumer_groups/{}", new_id()),
            Some(json!({"name": "silver"}))
        )
        .await
        .0,
        200
    );
    assert_eq!(
        c.core(M::GET, "/consumer_groups", "/consumer_groups", None)
            .await
            .0,
        200
    );
    let members = "/consumer_groups/{ConsumerGroupId}/consumers";
    let (s, added) = c
        .core(
            M::POST,
            members,
            &format!("/consumer_groups/{gid}/consumers"),
            Some(json!({"consumer": cid})),
        )
        .await;
    assert_eq!(s, 201);
    assert_eq!(added["consumers"][0]["id"], cid.as_str());
    assert_eq!(
        c.core(
            M::GET,
            members,
            &format!("/consumer_groups/{gid}/consumers"),
            None
        )
        .await
        .0,
        200
    );
    let groups_of = "/consumers/{ConsumerId}/consumer_groups";
    assert_eq!(
        c.core(
            M::GET,
            groups_of,
            &format!("/consumers/{cid}/consumer_groups"),
            None
        )
        .await
        .0,
        200
    );

    // Plugins: global and under each parent kind.
    let (s, global) = c
        .core(
            M::POST,
            "/plugins",
            "/plugins",
            Some(json!({"name": "cors", "tags": ["g"]})),
        )
        .await;
    assert_eq!(s, 201);
    let plugin_one = "/plugins/{PluginId}";
    assert_eq!(
        c.core(
            M::GET,
            plugin_one,
            &format!("/plugins/{}", id(&global)),
            None
        )
        .await
        .0,
        200
    );
    assert_eq!(
        c.core(
            M::PUT,
            plugin_one,
            &format!("/plugins/{}", new_id()),
            Some(json!({"name": "key-auth", "service": {"id": sid}}))
        )
        .await
        .0,
        200
    );
    assert_eq!(
        c.core(
            M::GET,
            "/plugins",
            "/plugins?filter[name][eq]=cors&size=10",
            None
        )
        .await
        .0,
        200
    );
    for (collection, param, parent) in [
        ("services", "ServiceId", sid.as_str()),
        ("routes", "RouteId", rid.as_str()),
        ("consumers", "ConsumerIdForNestedEntities", cid.as_str()),
        ("consumer_groups", "ConsumerGroupId", gid.as_str()),
    ] {
        let list = format!("/{collection}/{{{param}}}/plugins");
        let item = format!("{list}/{{PluginId}}");
        let (s, p) = c
            .core(
                M::POST,
                &list,
                &format!("/{collection}/{parent}/plugins"),
                Some(json!({"name": "rate-limiting", "config": {"minute": 5}})),
            )
            .await;
        assert_eq!(s, 201, "{collection}: {p}");
        let pid = id(&p);
        assert_eq!(
            c.core(
                M::GET,
                &list,
                &format!("/{collection}/{parent}/plugins"),
                None
            )
            .await
            .0,
            200
        );
        assert_eq!(
            c.core(
                M::GET,
                &item,
                &format!("/{collection}/{parent}/plugins/{pid}"),
                None
            )
            .await
            .0,
            200
        );
        assert_eq!(
            c.core(
                M::PUT,
                &item,
                &format!("/{collection}/{parent}/plugins/{pid}"),
                Some(json!({"name": "rate-limiting", "config": {"minute": 6}}))
            )
            .await
            .0,
            200
        );
        assert_eq!(
            c.core(
                M::DELETE,
                &item,
                &format!("/{collection}/{parent}/plugins/{pid}"),
                None
            )
            .await
            .0,
            204
        );
    }

    // Schemas
    assert_eq!(
        c.core(
            M::GET,
            "/schemas/plugins/{pluginName}",
            "/schemas/plugins/session",
            None
        )
        .await
        .0,
        200
    );
    assert_eq!(
        c.core(
            M::POST,
            "/schemas/{entityName}/validate",
            "/schemas/plugins/validate",
            Some(json!({"name": "cors"}))
        )
        .await
        .0,
        200
    );

    // Deletes (204 also when absent) and 401s
    assert_eq!(
        c.core(
            M::DELETE,
            "/consumer_groups/{ConsumerGroupId}/consumers/{ConsumerId}",
            &format!("/consumer_groups/{gid}/consumers/{cid}"),
            None
        )
        .await
        .0,
        204
    );
    assert_eq!(
        c.core(
            M::DELETE,
            plugin_one,
            &format!("/plugins/{}", id(&global)),
            None
        )
        .await
        .0,
        204
    );
    assert_eq!(
        c.core(
            M::DELETE,
            "/routes/{RouteId}",
            &format!("/routes/{rid}"),
            None
        )
        .await
        .0,
        204
    );
    assert_eq!(
        c.core(
            M::DELETE,
            nested_one,
            &format!("/services/{sid}/routes/{r2id}"),
            None
        )
        .await
        .0,
        204
    );
    assert_eq!(
        c.core(M::DELETE, one, &format!("/services/{sid}"), None)
            .await
            .0,
        204
    );
    assert_eq!(
        c.core(M::DELETE, one, &format!("/services/{}", new_id()), None)
            .await
            .0,
        204
    );
    assert_eq!(
        c.core(
            M::DELETE,
            "/consumers/{ConsumerId}",
            &format!("/consumers/{cid}"),
            None
        )
        .await
        .0,
        204
    );
    assert_eq!(
        c.core(M::DELETE, gone, &format!("/consumer_groups/{gid}"), None)
            .await
            .0,
        204
    );
    for (spec_path, path) in [
        ("/services", "/services"),
        ("/plugins", "/plugins"),
        ("/consumers/{ConsumerId}", "/consumers/x"),
        ("/plugins/{PluginId}", "/plugins/x"),
    ] {
        let (s, _) = c
            .call(
                &CONFIG_SPEC,
                M::GET,
                &format!("/control-planes/{{controlPlaneId}}/core-entities{spec_path}"),
                &format!("/control-planes/{}/core-entities{path}", c.cp),
                None,
                false,
            )
            .await;
        assert_eq!(s, 401);
    }
    assert!(
        c.checked.get() > 60,
        "only {} calls checked",
        c.checked.get()
    );
    c.h.shutdown().await;
}

#[tokio::test]
async fn control_planes_conform_to_the_spec() {
    use Method as M;
    let c = Checker::new().await;
    let spec = &*CP_SPEC;
    let (s, list) = c
        .call(
            spec,
            M::GET,
            "/control-planes",
            "/control-planes?page[size]=5&page[number]=1",
            None,
            true,
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(list["data"][0]["name"], "default");
    let (s, found) = c
        .call(
            spec,
            M::GET,
            "/control-planes",
            "/control-planes?filter[name][eq]=default",
            None,
            true,
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(found["data"][0]["id"], c.cp.as_str());
    let (s, created) = c
        .call(
            spec,
            M::POST,
            "/control-planes",
            "/control-planes",
            Some(json!({"name": "team-b", "labels": {"env": "test"}})),
            true,
        )
        .await;
    assert_eq!(s, 201);
    let (s, _) = c
        .call(
            spec,
            M::POST,
            "/control-planes",
            "/control-planes",
            Some(json!({"name": "team-b"})),
            true,
        )
        .await;
    assert_eq!(s, 409);
    let (s, _) = c
        .call(
            spec,
            M::POST,
            "/control-planes",
            "/control-planes",
            Some(json!({"name": ""})),
            true,
        )
        .await;
    assert_eq!(s, 400);
    let one = "/control-planes/{controlPlaneId}";
    let cid = id(&created);
    assert_eq!(
        c.call(
            spec,
            M::GET,
            one,
            &format!("/control-planes/{cid}"),
            None,
            true
        )
        .await
        .0,
        200
    );
    assert_eq!(
        c.call(spec, M::GET, one, "/control-planes/not-a-uuid", None, true)
            .await
            .0,
        400
    );
    assert_eq!(
        c.call(
            spec,
            M::GET,
            one,
            &format!("/control-planes/{}", new_id()),
            None,
            true
        )
        .await
        .0,
        404
    );
    assert_eq!(
        c.call(
            spec,
            M::GET,
            one,
            &format!("/control-planes/{cid}"),
            None,
            false
        )
        .await
        .0,
        401
    );
    assert_eq!(
        c.call(
            spec,
            M::DELETE,
            one,
            &format!("/control-planes/{cid}"),
            None,
            true
        )
        .await
        .0,
        204
    );
    assert_eq!(
        c.call(
            spec,
            M::DELETE,
            one,
            &format!("/control-planes/{cid}"),
            None,
            true
        )
        .await
        .0,
        404
    );
    c.h.shutdown().await;
}

/// The operations issue 10 added: expression routes, the two remove-all membership calls,
/// `update-control-plane`, and `get-organizations-me`, each checked against its spec.
#[tokio::test]
async fn fidelity_operations_conform_to_the_spec() {
    use Method as M;
    let c = Checker::new().await;
    let (s, svc) = c
        .core(
            M::POST,
            "/services",
            "/services",
            Some(json!({"name": "svc", "host": "h"})),
        )
        .await;
    assert_eq!(s, 201);
    let sid = id(&svc);

    // An expression route: the response must match the spec's `Route` (oneOf RouteJson,
    // RouteExpression), which a route mixing both would not.
    let rid = new_id();
    let (s, r) = c
        .core(
            M::PUT,
            "/routes/{RouteId}",
            &format!("/routes/{rid}"),
            Some(
                json!({"expression": "http.path == \"/a\"", "priority": 3, "service": {"id": sid}}),
            ),
        )
        .await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["priority"], 3);
    let (s, _) = c
        .core(M::GET, "/routes/{RouteId}", &format!("/routes/{rid}"), None)
        .await;
    assert_eq!(s, 200);

    // Membership: remove all from a group, remove one consumer from all groups.
    let (_, g) = c
        .core(
            M::POST,
            "/consumer_groups",
            "/consumer_groups",
            Some(json!({"name": "g"})),
        )
        .await;
    let gid = id(&g);
    let (_, cons) = c
        .core(
            M::POST,
            "/consumers",
            "/consumers",
            Some(json!({"username": "u"})),
        )
        .await;
    let cid = id(&cons);
    let members = "/consumer_groups/{ConsumerGroupId}/consumers";
    let (s, _) = c
        .core(
            M::POST,
            members,
            &format!("/consumer_groups/{gid}/consumers"),
            Some(json!({"consumer": cid})),
        )
        .await;
    assert_eq!(s, 201);
    for (path, real) in [
        (members, format!("/consumer_groups/{gid}/consumers")),
        (
            "/consumers/{ConsumerId}/consumer_groups",
            format!("/consumers/{cid}/consumer_groups"),
        ),
    ] {
        assert_eq!(c.core(M::DELETE, path, &real, None).await.0, 204);
    }
    assert_eq!(
        c.core(
            M::DELETE,
            members,
            &format!("/consumer_groups/{}/consumers", new_id()),
            None
        )
        .await
        .0,
        404
    );

    // update-control-plane.
    let one = "/control-planes/{controlPlaneId}";
    let (s, cp) = c
        .call(
            &CP_SPEC,
            M::PATCH,
            one,
            &format!("/control-planes/{}", c.cp),
            Some(json!({"description": "d", "labels": {"a": "b"}})),
            true,
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(cp["description"], "d");
    for (body, status) in [
        (json!({"nope": 1}), 400),
        (json!({"auth_type": "bogus"}), 400),
    ] {
        let (s, _) = c
            .call(
                &CP_SPEC,
                M::PATCH,
                one,
                &format!("/control-planes/{}", c.cp),
                Some(body),
                true,
            )
            .await;
        assert_eq!(s, status);
    }
    let (s, _) = c
        .call(
            &CP_SPEC,
            M::PATCH,
            one,
            &format!("/control-planes/{}", new_id()),
            Some(json!({"description": "x"})),
            true,
        )
        .await;
    assert_eq!(s, 404);

    // get-organizations-me, under /v3 (the spec's server ends in /v3).
    let base = c.h.base_url().replace("/v2", "/v3");
    let resp = c
        .http
        .get(format!("{base}/organizations/me"))
        .bearer_auth(c.h.token())
        .send()
        .await
        .expect("sent");
    let status = resp.status().as_u16();
    let body: Value = resp.json().await.expect("json");
    let (listed, schema) = response_spec(&IDENTITY_SPEC, "/organizations/me", "get", status);
    assert!(listed.contains(&status.to_string()), "{status}");
    let schema = schema.expect("200 schema");
    let validator = jsonschema::validator_for(&schema).expect("schema");
    let errors: Vec<String> = validator
        .iter_errors(&body)
        .map(|e| e.to_string())
        .collect();
    assert!(errors.is_empty(), "{errors:?}: {body}");
    c.h.shutdown().await;
}
