//! Conformance of the emulator's Application Auth Strategies API (application auth strategies
//! and DCR providers) to Kong's published spec,
//! tests/reference/konnect/konnect-application-auth-strategies-v2.openapi.yaml: every operation
//! the operator's client uses, and the errors it relies on, are called over HTTP; the status
//! must be one the spec lists and the body must validate against the spec's schema (refs
//! inlined, objects closed unless the spec opens them), as tests/emulator_conformance.rs does
//! for the other APIs (the converter below is the same).

use std::sync::LazyLock;

use konnect_plugin_operator::emulator::{EmulatorConfig, EmulatorHandle, spawn};
use reqwest::Method;
use serde_json::{Value, json};

const SPEC_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/reference/konnect/");

static SPEC: LazyLock<Value> = LazyLock::new(|| {
    let text = std::fs::read_to_string(format!(
        "{SPEC_DIR}konnect-application-auth-strategies-v2.openapi.yaml"
    ))
    .expect("spec readable");
    serde_norway::from_str(&text).expect("spec is YAML")
});

#[path = "support/spec.rs"]
mod spec;
use spec::response_spec;

struct Checker {
    h: EmulatorHandle,
    http: reqwest::Client,
}

impl Checker {
    async fn new() -> Checker {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let h = spawn(EmulatorConfig::default())
            .await
            .expect("emulator starts");
        Checker {
            h,
            http: reqwest::Client::new(),
        }
    }

    /// Calls `path` (relative to /v2) and checks the answer against `spec_path` of the spec.
    async fn call(
        &self,
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
        let ctype = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let text = resp.text().await.expect("body");
        let value: Value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{method} {path}: not JSON ({e}): {text}"))
        };
        if status >= 400 {
            assert_eq!(
                ctype, "application/problem+json",
                "{method} {path} {status}"
            );
        }
        let m = method.as_str().to_lowercase();
        let (listed, schema) = response_spec(&SPEC, spec_path, &m, status);
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
        (status, value)
    }

    async fn control(&self, path: &str, body: Value) {
        let resp = self
            .http
            .put(format!("http://{}{path}", self.h.addr()))
            .json(&body)
            .send()
            .await
            .expect("control request");
        assert!(resp.status().is_success(), "{path}: {}", resp.status());
    }
}

fn id(v: &Value) -> String {
    v["id"].as_str().expect("id").to_string()
}

fn fields(v: &Value) -> Vec<String> {
    v["invalid_parameters"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| p["field"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[test]
fn the_converter_is_strict_and_keeps_provider_alternatives_open() {
    let (_, schema) = response_spec(&SPEC, "/dcr-providers/{dcrProviderId}", "get", 200);
    let v = jsonschema::validator_for(&schema.expect("schema")).expect("compiles");
    let ok = json!({"id": "93f8380e-7798-4566-99e3-2edf2b57d289", "name": "n", "provider_type": "okta",
        "issuer": "https://i/", "active": true, "dcr_config": {}, "created_at": "2023-01-01T00:00:00.000Z",
        "updated_at": "2023-01-01T00:00:00.000Z"});
    assert!(v.is_valid(&ok));
    let mut secret = ok.clone();
    secret["dcr_config"] = json!({"dcr_token": "x"});
    assert!(!v.is_valid(&secret), "a secret in a response must fail");
    let mut extra = ok;
    extra["surprise"] = json!(1);
    assert!(!v.is_valid(&extra));
}

#[tokio::test]
async fn dcr_providers_conform_to_the_spec() {
    use Method as M;
    let c = Checker::new().await;
    let col = "/dcr-providers";
    let one = "/dcr-providers/{dcrProviderId}";
    // The spec's own request examples, one per provider type.
    let examples = SPEC["components"]["examples"].clone();
    let mut ids = Vec::new();
    for ex in [
        "DcrProviderAuth0CreateRequest",
        "DcrProviderAzureAdCreateRequest",
        "DcrProviderCurityCreateRequest",
        "DcrProviderOktaCreateRequest",
        "DcrProviderHttpCreateRequest",
        "DcrProviderKongIdentityCreateRequest",
    ] {
        let mut body = examples[ex]["value"].clone();
        // Okta's example token has a `!`; any string is allowed for dcr_token.
        body["labels"] = json!({"env": "test"});
        let (s, created) = c.call(M::POST, col, col, Some(body.clone()), true).await;
        assert_eq!(s, 201, "{ex}: {created}");
        assert_eq!(created["provider_type"], body["provider_type"]);
        ids.push(id(&created));
    }
    // Write-only: secrets are never in a response (the schemas are closed; checked again here).
    let (s, list) = c
        .call(
            M::GET,
            col,
            "/dcr-providers?page[size]=2&page[number]=2",
            None,
            true,
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(list["data"].as_array().unwrap().len(), 2);
    assert_eq!(
        list["meta"]["page"],
        json!({"number": 2, "size": 2, "total": 6})
    );
    let (_, all) = c
        .call(M::GET, col, "/dcr-providers?page[size]=100", None, true)
        .await;
    for secret in ["initial_client_secret", "dcr_token", "api_key"] {
        assert!(!all.to_string().contains(secret), "{secret} returned");
    }
    // Filters of the spec.
    let (s, okta) = c
        .call(
            M::GET,
            col,
            "/dcr-providers?filter[provider_type]=okta",
            None,
            true,
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(okta["data"].as_array().unwrap().len(), 1);
    let (_, named) = c
        .call(
            M::GET,
            col,
            "/dcr-providers?filter[name][contains]=Segment&sort=name",
            None,
            true,
        )
        .await;
    assert_eq!(named["meta"]["page"]["total"], 6);
    let (s, bad) = c
        .call(
            M::GET,
            col,
            "/dcr-providers?filter[labels][eq]=x",
            None,
            true,
        )
        .await;
    assert_eq!(s, 400);
    assert_eq!(fields(&bad), ["filter[labels][eq]"]);
    // Bad input: the spec's required fields and lengths, by field name.
    let (s, bad) = c
        .call(
            M::POST,
            col,
            col,
            Some(
                json!({"provider_type": "http", "name": "x", "issuer": "https://i/",
            "dcr_config": {"dcr_base_url": "https://d/", "api_key": "short"}}),
            ),
            true,
        )
        .await;
    assert_eq!(s, 400);
    assert_eq!(fields(&bad), ["dcr_config.api_key"]);
    assert!(
        !bad.to_string().contains("short\""),
        "the value is echoed: {bad}"
    );
    let (s, bad) = c
        .call(
            M::POST,
            col,
            col,
            Some(
                json!({"provider_type": "auth0", "name": "", "issuer": "https://i/",
            "dcr_config": {"initial_client_id": "a"}}),
            ),
            true,
        )
        .await;
    assert_eq!(s, 400);
    assert_eq!(fields(&bad), ["name", "dcr_config.initial_client_secret"]);
    let (s, bad) = c
        .call(
            M::POST,
            col,
            col,
            Some(
                json!({"provider_type": "okta", "name": "x", "issuer": "https://i/",
            "dcr_config": {"dcr_token": "t"}, "labels": {"kong-x": "y"}}),
            ),
            true,
        )
        .await;
    assert_eq!(s, 400);
    assert_eq!(fields(&bad), ["labels.kong-x"]);
    // Get, update (labels: null removes), verify, delete.
    let http = &ids[4];
    let (s, got) = c
        .call(M::GET, one, &format!("/dcr-providers/{http}"), None, true)
        .await;
    assert_eq!(s, 200);
    assert_eq!(
        got["dcr_config"]["dcr_base_url"],
        "https://my-http-dcr-server.com/v1/dcr"
    );
    let (s, upd) = c
        .call(
            M::PATCH,
            one,
            &format!("/dcr-providers/{http}"),
            Some(
                json!({"display_name": "HTTP", "labels": {"env": null, "team": "a"},
                "dcr_config": {"api_key": "another_valid_key_1"}}),
            ),
            true,
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(upd["labels"], json!({"team": "a"}));
    assert_eq!(upd["display_name"], "HTTP");
    let (s, bad) = c
        .call(
            M::PATCH,
            one,
            &format!("/dcr-providers/{http}"),
            Some(json!({"provider_type": "okta"})),
            true,
        )
        .await;
    assert_eq!(s, 400);
    assert_eq!(fields(&bad), ["provider_type"]);
    let verify = "/dcr-providers/{dcrProviderId}/verify";
    let (s, v) = c
        .call(
            M::POST,
            verify,
            &format!("/dcr-providers/{http}/verify"),
            None,
            true,
        )
        .await;
    assert_eq!((s, v), (200, json!({"status": "success", "errors": []})));
    c.control(
        &format!("/_emulator/dcr-providers/{http}/verify"),
        json!({"errors": ["unreachable"]}),
    )
    .await;
    let (_, v) = c
        .call(
            M::POST,
            verify,
            &format!("/dcr-providers/{http}/verify"),
            None,
            true,
        )
        .await;
    assert_eq!(v, json!({"status": "failed", "errors": ["unreachable"]}));
    let unknown = uuid::Uuid::new_v4();
    assert_eq!(
        c.call(
            M::POST,
            verify,
            &format!("/dcr-providers/{unknown}/verify"),
            None,
            true
        )
        .await
        .0,
        404
    );
    assert_eq!(
        c.call(
            M::GET,
            one,
            &format!("/dcr-providers/{unknown}"),
            None,
            true
        )
        .await
        .0,
        404
    );
    assert_eq!(
        c.call(M::GET, one, &format!("/dcr-providers/{http}"), None, false)
            .await
            .0,
        401
    );
    assert_eq!(
        c.call(
            M::DELETE,
            one,
            &format!("/dcr-providers/{http}"),
            None,
            true
        )
        .await
        .0,
        204
    );
    assert_eq!(
        c.call(
            M::DELETE,
            one,
            &format!("/dcr-providers/{http}"),
            None,
            true
        )
        .await
        .0,
        404
    );
    c.h.shutdown().await;
}

#[tokio::test]
async fn application_auth_strategies_conform_to_the_spec() {
    use Method as M;
    let c = Checker::new().await;
    let col = "/application-auth-strategies";
    let one = "/application-auth-strategies/{authStrategyId}";
    let examples = SPEC["components"]["examples"].clone();
    let (_, provider) = c
        .call(
            M::POST,
            "/dcr-providers",
            "/dcr-providers",
            Some(examples["DcrProviderHttpCreateRequest"]["value"].clone()),
            true,
        )
        .await;
    let (s, keys) = c
        .call(
            M::POST,
            col,
            col,
            Some(examples["CreateAppAuthStrategyKeyAuthRequest"]["value"].clone()),
            true,
        )
        .await;
    assert_eq!(s, 201, "{keys}");
    assert_eq!(keys["active"], false);
    assert_eq!(keys["dcr_provider"], Value::Null);
    let (s, oidc) = c
        .call(
            M::POST,
            col,
            col,
            Some(examples["CreateAppAuthStrategyOpenIDConnectRequest"]["value"].clone()),
            true,
        )
        .await;
    assert_eq!(s, 201, "{oidc}");
    let mut with_dcr = examples["CreateAppAuthStrategyOpenIDConnectDCRRequest"]["value"].clone();
    let (s, bad) = c
        .call(M::POST, col, col, Some(with_dcr.clone()), true)
        .await;
    assert_eq!(s, 400, "the example's provider does not exist here");
    assert_eq!(fields(&bad), ["dcr_provider_id"]);
    with_dcr["dcr_provider_id"] = json!(id(&provider));
    let (s, dcr) = c.call(M::POST, col, col, Some(with_dcr), true).await;
    assert_eq!(s, 201);
    assert_eq!(dcr["dcr_provider"]["id"], provider["id"]);
    assert_eq!(dcr["dcr_provider"]["provider_type"], "http");
    // Bad input.
    let (s, bad) = c
        .call(
            M::POST,
            col,
            col,
            Some(
                json!({"name": "x", "display_name": "x", "strategy_type": "key_auth",
            "configs": {"key-auth": {"key_names": []}}}),
            ),
            true,
        )
        .await;
    assert_eq!(s, 400);
    assert_eq!(fields(&bad), ["configs.key-auth.key_names"]);
    let (s, bad) = c
        .call(
            M::POST,
            col,
            col,
            Some(
                json!({"name": "x", "display_name": "x", "strategy_type": "openid_connect",
            "configs": {"openid-connect": {"issuer": "https://i/"}}}),
            ),
            true,
        )
        .await;
    assert_eq!(s, 400);
    assert_eq!(
        fields(&bad),
        [
            "configs.openid-connect.credential_claim",
            "configs.openid-connect.scopes",
            "configs.openid-connect.auth_methods"
        ]
    );
    let (s, _) = c
        .call(
            M::POST,
            col,
            col,
            Some(
                json!({"name": "x", "display_name": "x", "strategy_type": "key_auth",
            "configs": {"key-auth": {}}, "dcr_provider_id": id(&provider)}),
            ),
            true,
        )
        .await;
    assert_eq!(s, 400, "dcr_provider_id is not a key-auth property");
    // List, filters, paging.
    let (s, list) = c
        .call(
            M::GET,
            col,
            "/application-auth-strategies?page[size]=1",
            None,
            true,
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(
        list["meta"]["page"],
        json!({"number": 1, "size": 1, "total": 3})
    );
    let (_, f) = c
        .call(
            M::GET,
            col,
            "/application-auth-strategies?filter[strategy_type][eq]=openid_connect",
            None,
            true,
        )
        .await;
    assert_eq!(f["meta"]["page"]["total"], 2);
    let (_, f) = c
        .call(
            M::GET,
            col,
            &format!(
                "/application-auth-strategies?filter[dcr_provider_id][eq]={}",
                id(&provider)
            ),
            None,
            true,
        )
        .await;
    assert_eq!(f["data"][0]["id"], dcr["id"]);
    // Update: partial config, ttl null unsets, labels.
    let kid = id(&keys);
    let (s, upd) = c
        .call(
            M::PATCH,
            one,
            &format!("/application-auth-strategies/{kid}"),
            Some(json!({"display_name": "API Key", "labels": {"team": "a"},
                "configs": {"key-auth": {"ttl": {"value": 1, "unit": "weeks"}}}})),
            true,
        )
        .await;
    assert_eq!(s, 200, "{upd}");
    assert_eq!(
        upd["configs"]["key-auth"]["ttl"],
        json!({"value": 1, "unit": "weeks"})
    );
    let (_, upd) = c
        .call(
            M::PATCH,
            one,
            &format!("/application-auth-strategies/{kid}"),
            Some(json!({"configs": {"key-auth": {"ttl": null}}})),
            true,
        )
        .await;
    assert!(upd["configs"]["key-auth"].get("ttl").is_none());
    let (s, _) = c
        .call(
            M::PATCH,
            one,
            &format!("/application-auth-strategies/{kid}"),
            Some(json!({"configs": {"openid-connect": {"issuer": "https://i/"}}})),
            true,
        )
        .await;
    assert_eq!(s, 400, "another type's configs");
    let (s, _) = c
        .call(
            M::PUT,
            one,
            &format!("/application-auth-strategies/{kid}"),
            Some(examples["CreateAppAuthStrategyKeyAuthRequest"]["value"].clone()),
            true,
        )
        .await;
    assert_eq!(s, 201);
    // Delete: 409 while a product version uses it (the emulator's control), then 204, 404.
    c.control(
        &format!("/_emulator/application-auth-strategies/{kid}/in-use"),
        json!({"in_use": true}),
    )
    .await;
    let (s, used) = c
        .call(
            M::GET,
            one,
            &format!("/application-auth-strategies/{kid}"),
            None,
            true,
        )
        .await;
    assert_eq!((s, &used["active"]), (200, &json!(true)));
    let (s, conflict) = c
        .call(
            M::DELETE,
            one,
            &format!("/application-auth-strategies/{kid}"),
            None,
            true,
        )
        .await;
    assert_eq!(s, 409);
    assert_eq!(conflict["status"], 409);
    c.control(
        &format!("/_emulator/application-auth-strategies/{kid}/in-use"),
        json!({"in_use": false}),
    )
    .await;
    assert_eq!(
        c.call(
            M::DELETE,
            one,
            &format!("/application-auth-strategies/{kid}"),
            None,
            true
        )
        .await
        .0,
        204
    );
    assert_eq!(
        c.call(
            M::DELETE,
            one,
            &format!("/application-auth-strategies/{kid}"),
            None,
            true
        )
        .await
        .0,
        404
    );
    assert_eq!(
        c.call(
            M::GET,
            one,
            &format!("/application-auth-strategies/{kid}"),
            None,
            true
        )
        .await
        .0,
        404
    );
    assert_eq!(c.call(M::GET, col, col, None, false).await.0, 401);
    c.h.shutdown().await;
}
