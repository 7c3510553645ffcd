//! `KonnectApplicationAuthStrategy` and `KonnectDCRProvider` end to end: the operator binary
//! against the real kube-apiserver and the Konnect emulator over HTTP. What Konnect must hold
//! comes from the Application Auth Strategies spec
//! (tests/reference/konnect/konnect-application-auth-strategies-v2.openapi.yaml): the create
//! bodies (`AppAuthStrategyKeyAuthRequest`, `AppAuthStrategyOpenIDConnectRequest`,
//! `CreateDcrProviderRequest*`), write-only secrets (`DcrProviderResponse` "Sensitive fields will
//! be removed from the response"), and the 409 of deleting a strategy in use. The emulator's
//! `/_emulator/apps` dump shows what it received, write-only fields included.

mod support;

use konnect_plugin_operator::konnect::client::KonnectClient;
use konnect_plugin_operator::konnect::config::{ClientConfig, ServerUrl, Token};
use serde_json::{Value, json};

#[path = "support/operator.rs"]
mod harness;
use harness::*;

const API: &str = "apiVersion: konnect-plugin-operator.dev/v1alpha1";

fn dump(w: &World) -> Value {
    serde_json::from_str(&http_get(&format!(
        "http://{}/_emulator/apps",
        w.emu.addr()
    )))
    .expect("apps dump")
}

fn strategies(w: &World) -> Vec<Value> {
    dump(w)["application_auth_strategies"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn providers(w: &World) -> Vec<Value> {
    dump(w)["dcr_providers"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn object(w: &World, kind: &str, name: &str) -> Option<Value> {
    let out = support::cluster()
        .kubectl()
        .args(["-n", &w.ns, "get", kind, name, "-o", "json"])
        .output()
        .unwrap();
    if !out.status.success() {
        return None;
    }
    serde_json::from_slice(&out.stdout).ok()
}

fn cond(obj: &Value, type_: &str) -> Option<Value> {
    obj["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_)
        .cloned()
}

/// Waits until the object's condition has `status`, returns the object.
async fn wait_cond(
    w: &World,
    op: &Operator,
    kind: &str,
    name: &str,
    type_: &str,
    status: &str,
) -> Value {
    eventually(
        &format!("{kind}/{name} {type_}={status}"),
        &[op],
        || async {
            let o = object(w, kind, name)?;
            (cond(&o, type_)?["status"] == status).then_some(o)
        },
    )
    .await
}

fn secret(name: &str, key: &str, value: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Secret\nmetadata: {{name: {name}}}\nstringData: {{{key}: {value}}}\n"
    )
}

fn by_uid<'a>(items: &'a [Value], uid: &str) -> Vec<&'a Value> {
    items
        .iter()
        .filter(|e| e["entity"]["labels"]["k8s-uid"] == uid)
        .collect()
}

fn client(w: &World) -> KonnectClient {
    KonnectClient::new(ClientConfig::new(
        ServerUrl::parse(&w.emu.base_url()).unwrap(),
        Token::new(w.emu.token()).unwrap(),
    ))
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_auth_and_openid_connect_strategies_reach_konnect_and_follow_edits() {
    let w = World::new("apps-strategies").await;
    let op = w.operator(&[]);
    w.apply_yaml(&format!(
        "{API}\nkind: KonnectApplicationAuthStrategy\nmetadata: {{name: keys}}\nspec:\n  displayName: API Key\n  type: key_auth\n  keyAuth: {{keyNames: [apikey, x-api-key], ttl: {{value: 30, unit: days}}}}\n  labels: {{team: a, env: test}}\n"
    ));
    w.apply_yaml(&secret("idp", "token", "okta_token_0123456789"));
    w.apply_yaml(&format!(
        "{API}\nkind: KonnectDCRProvider\nmetadata: {{name: idp}}\nspec:\n  providerType: okta\n  issuer: https://my-issuer.okta.com/default\n  okta: {{dcrTokenRef: {{name: idp, key: token}}}}\n"
    ));
    w.apply_yaml(&format!(
        "{API}\nkind: KonnectApplicationAuthStrategy\nmetadata: {{name: oidc}}\nspec:\n  name: Enterprise auth\n  displayName: Enterprise\n  type: openid_connect\n  openidConnect:\n    issuer: https://my-issuer.okta.com/default\n    credentialClaim: [sub]\n    scopes: [openid, email]\n    authMethods: [client_credentials, bearer]\n  dcrProviderRef: {{name: idp}}\n"
    ));
    let keys = wait_cond(&w, &op, "kaas", "keys", "Programmed", "True").await;
    let oidc = wait_cond(&w, &op, "kaas", "oidc", "Programmed", "True").await;
    let idp = wait_cond(&w, &op, "kdcr", "idp", "Programmed", "True").await;

    let held = strategies(&w);
    assert_eq!(held.len(), 2, "{held:?}");
    let k = by_uid(&held, keys["metadata"]["uid"].as_str().unwrap())[0]["entity"].clone();
    assert_eq!(k["id"], keys["status"]["id"]);
    assert_eq!(keys["status"]["active"], false);
    // AppAuthStrategyKeyAuthRequest: the name defaults to the object's.
    assert_eq!(k["name"], "keys");
    assert_eq!(k["display_name"], "API Key");
    assert_eq!(k["strategy_type"], "key_auth");
    assert_eq!(
        k["configs"],
        json!({"key-auth": {"key_names": ["apikey", "x-api-key"], "ttl": {"value": 30, "unit": "days"}}})
    );
    assert_eq!(k["labels"]["team"], "a");
    assert_eq!(k["labels"]["env"], "test");
    let o = by_uid(&held, oidc["metadata"]["uid"].as_str().unwrap())[0]["entity"].clone();
    assert_eq!(o["name"], "Enterprise auth");
    assert_eq!(o["strategy_type"], "openid_connect");
    assert_eq!(
        o["configs"]["openid-connect"],
        json!({"issuer": "https://my-issuer.okta.com/default", "credential_claim": ["sub"], "scopes": ["openid", "email"], "auth_methods": ["client_credentials", "bearer"]})
    );
    // dcr_provider_id is the provider object's Konnect id.
    assert_eq!(o["dcr_provider"]["id"], idp["status"]["id"]);

    // An edit: display name, a key name and a label removed; the ttl dropped is unset.
    let writes_before = w.writes();
    w.apply_yaml(&format!(
        "{API}\nkind: KonnectApplicationAuthStrategy\nmetadata: {{name: keys}}\nspec:\n  displayName: API Key v2\n  type: key_auth\n  keyAuth: {{keyNames: [apikey]}}\n  labels: {{team: a}}\n"
    ));
    let uid = keys["metadata"]["uid"].as_str().unwrap().to_string();
    eventually("the edit reaches Konnect", &[&op], || async {
        let held = strategies(&w);
        let k = by_uid(&held, &uid).first().map(|e| e["entity"].clone())?;
        (k["display_name"] == "API Key v2"
            && k["configs"] == json!({"key-auth": {"key_names": ["apikey"]}})
            && k["labels"].get("env").is_none()
            && k["labels"]["team"] == "a")
            .then_some(())
    })
    .await;
    assert!(w.writes() > writes_before);
    assert_eq!(strategies(&w).len(), 2, "an edit is not a second entity");

    // Delete: the entity goes, then the object.
    w.kubectl(&["delete", "kaas", "keys", "--wait=false"]);
    eventually(
        "the deleted strategy leaves Konnect and the cluster",
        &[&op],
        || async {
            (by_uid(&strategies(&w), &uid).is_empty() && object(&w, "kaas", "keys").is_none())
                .then_some(())
        },
    )
    .await;
    assert_eq!(strategies(&w).len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_dcr_provider_type_reaches_konnect_with_write_only_secrets() {
    let w = World::new("apps-providers").await;
    let op = w.operator(&[]);
    // Values from the spec's request examples (components.examples.DcrProvider*CreateRequest).
    let cases = [
        (
            "auth0",
            "auth0",
            "https://my-issuer.auth0.com/api/v2/",
            "  auth0: {initialClientId: abc123, initialClientSecretRef: {name: s-auth0, key: v}, initialClientAudience: 'https://my-custom-domain.com/api/v2/'}\n",
            Some(("initial_client_secret", "abc123xyz098_auth0")),
            json!({"initial_client_id": "abc123", "initial_client_audience": "https://my-custom-domain.com/api/v2/", "use_developer_managed_scopes": false}),
        ),
        (
            "azure",
            "azureAd",
            "https://sts.windows.net/my-tenant",
            "  azureAd: {initialClientId: abc123, initialClientSecretRef: {name: s-azure, key: v}}\n",
            Some(("initial_client_secret", "abc123xyz098_azure")),
            json!({"initial_client_id": "abc123"}),
        ),
        (
            "curity",
            "curity",
            "https://my-curity-instance.com/oauth/v2/oauth-anonymous/.well-known/openid-configuration",
            "  curity: {initialClientId: abc123, initialClientSecretRef: {name: s-curity, key: v}}\n",
            Some(("initial_client_secret", "abc123xyz098_curity")),
            json!({"initial_client_id": "abc123"}),
        ),
        (
            "okta",
            "okta",
            "https://my-issuer.okta.com/default",
            "  okta: {dcrTokenRef: {name: s-okta, key: v}}\n",
            Some(("dcr_token", "abc123xyz098_okta")),
            json!({}),
        ),
        (
            "http",
            "http",
            "https://my-issuer-server.com",
            "  http: {dcrBaseUrl: 'https://my-http-dcr-server.com/v1/dcr', apiKeyRef: {name: s-http, key: v}}\n",
            Some(("api_key", "gYmrbDfu_7PTsZWH")),
            json!({"dcr_base_url": "https://my-http-dcr-server.com/v1/dcr", "allow_multiple_credentials": false}),
        ),
        (
            "kong-identity",
            "kongIdentity",
            "https://sliver.identity.us.konghq.com/",
            "",
            None,
            json!({}),
        ),
    ];
    for (name, t, issuer, cfg, secret_value, _) in &cases {
        if let Some((_, value)) = secret_value {
            w.apply_yaml(&secret(&format!("s-{name}"), "v", value));
        }
        w.apply_yaml(&format!(
            "{API}\nkind: KonnectDCRProvider\nmetadata: {{name: {name}}}\nspec:\n  displayName: DCR {name}\n  providerType: {t}\n  issuer: '{issuer}'\n  labels: {{segment: a}}\n{cfg}"
        ));
    }
    let konnect = client(&w);
    for (name, t, issuer, _, secret_value, response_config) in &cases {
        let obj = wait_cond(&w, &op, "kdcr", name, "Programmed", "True").await;
        let obj = if cond(&obj, "Verified").is_some() {
            obj
        } else {
            wait_cond(&w, &op, "kdcr", name, "Verified", "True").await
        };
        assert_eq!(cond(&obj, "Verified").unwrap()["status"], "True", "{name}");
        let id = obj["status"]["id"].as_str().expect("id in status");
        // What GET returns: the spec's DcrConfig*InResponse, no secret.
        let got = konnect.get_dcr_provider(id).await.unwrap();
        assert_eq!(got.provider_type, *t);
        assert_eq!(got.issuer, *issuer);
        assert_eq!(got.name, *name);
        assert_eq!(
            got.display_name.as_deref(),
            Some(format!("DCR {name}").as_str())
        );
        assert_eq!(got.dcr_config, *response_config, "{name}");
        let labels = got.labels.unwrap();
        assert_eq!(labels["segment"], "a");
        assert_eq!(labels["k8s-uid"], obj["metadata"]["uid"].as_str().unwrap());
        // What Konnect received: the secret, from the Secret.
        let held = providers(&w);
        let mine = held.iter().find(|p| p["entity"]["id"] == id).unwrap();
        match secret_value {
            Some((field, value)) => assert_eq!(mine["secrets"][field], *value, "{name}"),
            None => assert_eq!(mine["secrets"], json!({}), "{name}"),
        }
        // The secret value is nowhere in the object.
        if let Some((_, value)) = secret_value {
            assert!(!obj.to_string().contains(value));
        }
    }
    assert_eq!(providers(&w).len(), cases.len());

    // Verify's failure is its own condition, with Konnect's errors.
    let http = object(&w, "kdcr", "http").unwrap();
    let id = http["status"]["id"].as_str().unwrap().to_string();
    http_put_json(
        &format!(
            "http://{}/_emulator/dcr-providers/{id}/verify",
            w.emu.addr()
        ),
        &json!({"errors": ["cannot reach dcr_base_url"]}),
    );
    w.kubectl(&[
        "patch",
        "kdcr",
        "http",
        "--type=merge",
        "-p",
        r#"{"spec":{"displayName":"DCR http 2"}}"#,
    ]);
    let failed = wait_cond(&w, &op, "kdcr", "http", "Verified", "False").await;
    let c = cond(&failed, "Verified").unwrap();
    assert_eq!(c["reason"], "VerificationFailed");
    assert!(
        c["message"]
            .as_str()
            .unwrap()
            .contains("cannot reach dcr_base_url"),
        "{c}"
    );
    assert_eq!(cond(&failed, "Programmed").unwrap()["status"], "True");

    // Deleting a provider deletes its Konnect entity, then the object goes.
    w.kubectl(&["delete", "kdcr", "okta", "--wait=false"]);
    eventually(
        "the deleted provider leaves Konnect and the cluster",
        &[&op],
        || async {
            (providers(&w).len() == cases.len() - 1 && object(&w, "kdcr", "okta").is_none())
                .then_some(())
        },
    )
    .await;
    assert!(
        providers(&w)
            .iter()
            .all(|p| p["entity"]["provider_type"] != "okta")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotating_a_referenced_secret_updates_konnect() {
    let w = World::new("apps-rotate").await;
    let op = w.operator(&[]);
    w.apply_yaml(&secret("key", "v", "first_api_key_0001"));
    w.apply_yaml(&format!(
        "{API}\nkind: KonnectDCRProvider\nmetadata: {{name: http}}\nspec:\n  providerType: http\n  issuer: https://issuer.example.com\n  http: {{dcrBaseUrl: 'https://dcr.example.com/v1', apiKeyRef: {{name: key, key: v}}}}\n"
    ));
    let obj = wait_cond(&w, &op, "kdcr", "http", "Programmed", "True").await;
    let id = obj["status"]["id"].as_str().unwrap().to_string();
    let secret_of = |w: &World| {
        providers(w)
            .iter()
            .find(|p| p["entity"]["id"] == id.as_str())
            .map(|p| p["secrets"]["api_key"].clone())
    };
    assert_eq!(secret_of(&w), Some(json!("first_api_key_0001")));
    w.apply_yaml(&secret("key", "v", "second_api_key_0002"));
    eventually("the rotated key reaches Konnect", &[&op], || async {
        (secret_of(&w) == Some(json!("second_api_key_0002"))).then_some(())
    })
    .await;
    assert_eq!(providers(&w).len(), 1);
    // The shared client's request metrics count these calls, by operation and entity.
    let requests = |labels: &[&str]| op.metric_sum("kpo_konnect_requests_total", labels);
    assert_eq!(
        requests(&[
            "operation=\"create\"",
            "entity=\"dcr_provider\"",
            "status=\"201\""
        ]),
        1.0
    );
    assert!(
        requests(&[
            "operation=\"update\"",
            "entity=\"dcr_provider\"",
            "status=\"200\""
        ]) >= 1.0
    );
    assert!(requests(&["operation=\"verify\"", "entity=\"dcr_provider\""]) >= 1.0);
    assert!(
        !op.metrics().contains("second_api_key_0002"),
        "secret in the metrics"
    );
    assert!(
        !op.log_text().contains("second_api_key_0002"),
        "secret in the log"
    );
    assert!(
        !op.log_text().contains("first_api_key_0001"),
        "secret in the log"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_strategy_in_use_is_kept_until_konnect_lets_it_go() {
    let w = World::new("apps-inuse").await;
    let op = w.operator(&[]);
    w.apply_yaml(&format!(
        "{API}\nkind: KonnectApplicationAuthStrategy\nmetadata: {{name: used}}\nspec:\n  displayName: Used\n  type: key_auth\n  keyAuth: {{keyNames: [apikey]}}\n"
    ));
    let obj = wait_cond(&w, &op, "kaas", "used", "Programmed", "True").await;
    let id = obj["status"]["id"].as_str().unwrap().to_string();
    let control = format!(
        "http://{}/_emulator/application-auth-strategies/{id}/in-use",
        w.emu.addr()
    );
    http_put_json(&control, &json!({"in_use": true}));
    // `active` follows Konnect (read on the next write).
    w.kubectl(&[
        "patch",
        "kaas",
        "used",
        "--type=merge",
        "-p",
        r#"{"spec":{"displayName":"Used 2"}}"#,
    ]);
    eventually("status.active = true", &[&op], || async {
        (object(&w, "kaas", "used")?["status"]["active"] == true).then_some(())
    })
    .await;

    w.kubectl(&["delete", "kaas", "used", "--wait=false"]);
    let refused = eventually("the refused delete is reported", &[&op], || async {
        let o = object(&w, "kaas", "used")?;
        let c = cond(&o, "Programmed")?;
        (c["reason"] == "DeleteConflict").then_some(o)
    })
    .await;
    let c = cond(&refused, "Programmed").unwrap();
    assert_eq!(c["status"], "False");
    assert!(
        c["message"].as_str().unwrap().contains("product version"),
        "{c}"
    );
    assert!(refused["metadata"]["deletionTimestamp"].is_string());
    assert_eq!(strategies(&w).len(), 1, "Konnect still holds it");

    // Once no product version uses it, the retry deletes it and the object goes.
    http_put_json(&control, &json!({"in_use": false}));
    eventually("the delete completes", &[&op], || async {
        (object(&w, "kaas", "used").is_none() && strategies(&w).is_empty()).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_orphaned_strategy_leaves_konnect_as_it_is() {
    let w = World::new("apps-orphan").await;
    let op = w.operator(&[]);
    w.apply_yaml(&format!(
        "{API}\nkind: KonnectApplicationAuthStrategy\nmetadata:\n  name: kept\n  annotations: {{konnect-plugin-operator.dev/on-delete: orphan}}\nspec:\n  displayName: Kept\n  type: key_auth\n  keyAuth: {{}}\n"
    ));
    wait_cond(&w, &op, "kaas", "kept", "Programmed", "True").await;
    w.kubectl(&["delete", "kaas", "kept", "--wait=false"]);
    eventually("the orphaned object goes", &[&op], || async {
        object(&w, "kaas", "kept").is_none().then_some(())
    })
    .await;
    assert_eq!(strategies(&w).len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn konnect_refusals_surface_with_their_field_names_and_no_secret() {
    let w = World::new("apps-refused").await;
    let op = w.operator(&[]);
    // DcrConfigPropertyApiKey: minLength 12, pattern ^[a-zA-Z0-9_]+$ (a Secret the CRD cannot check).
    w.apply_yaml(&secret("key", "v", "'short-key!'"));
    w.apply_yaml(&format!(
        "{API}\nkind: KonnectDCRProvider\nmetadata: {{name: http}}\nspec:\n  providerType: http\n  issuer: https://issuer.example.com\n  http: {{dcrBaseUrl: 'https://dcr.example.com/v1', apiKeyRef: {{name: key, key: v}}}}\n"
    ));
    let obj = wait_cond(&w, &op, "kdcr", "http", "Programmed", "False").await;
    let c = cond(&obj, "Programmed").unwrap();
    assert_eq!(c["reason"], "KonnectValidationFailed", "{c}");
    let message = c["message"].as_str().unwrap();
    assert!(message.contains("dcr_config.api_key"), "{message}");
    assert!(!message.contains("short-key!"), "{message}");
    assert!(providers(&w).is_empty());
    // A referenced Secret that does not exist is reported by name.
    w.apply_yaml(&format!(
        "{API}\nkind: KonnectDCRProvider\nmetadata: {{name: okta}}\nspec:\n  providerType: okta\n  issuer: https://issuer.example.com\n  okta: {{dcrTokenRef: {{name: missing, key: v}}}}\n"
    ));
    let obj = wait_cond(&w, &op, "kdcr", "okta", "Programmed", "False").await;
    assert_eq!(
        cond(&obj, "Programmed").unwrap()["reason"],
        "SecretNotFound"
    );
    // Fixing the Secret fixes the provider.
    w.apply_yaml(&secret("key", "v", "a_valid_api_key_123"));
    wait_cond(&w, &op, "kdcr", "http", "Programmed", "True").await;
    assert_eq!(providers(&w).len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_between_create_and_status_write_makes_no_duplicate() {
    let w = World::new("apps-restart").await;
    // The state a crash right after Konnect's 201 leaves behind: the object without a Konnect
    // id in status, and Konnect holding the entity the create made, with the object's UID label.
    w.apply_yaml(&format!(
        "{API}\nkind: KonnectApplicationAuthStrategy\nmetadata: {{name: once}}\nspec:\n  displayName: Once\n  type: key_auth\n  keyAuth: {{keyNames: [apikey]}}\n"
    ));
    let uid = object(&w, "kaas", "once").unwrap()["metadata"]["uid"]
        .as_str()
        .unwrap()
        .to_string();
    let konnect = client(&w);
    let created = konnect
        .create_app_auth_strategy(&json!({
            "name": "once", "display_name": "Once", "strategy_type": "key_auth",
            "configs": {"key-auth": {"key_names": ["apikey"]}},
            "labels": {"managed-by": "konnect-plugin-operator", "k8s-uid": uid},
        }))
        .await
        .unwrap();
    let op = w.operator(&[]);
    let obj = wait_cond(&w, &op, "kaas", "once", "Programmed", "True").await;
    assert_eq!(obj["status"]["id"], created.id.as_str());
    assert_eq!(strategies(&w).len(), 1, "a second entity was created");
    // And a real restart of the operator changes nothing either.
    drop(op);
    let op = w.operator(&[]);
    wait_cond(&w, &op, "kaas", "once", "Programmed", "True").await;
    assert_eq!(strategies(&w).len(), 1);
}
