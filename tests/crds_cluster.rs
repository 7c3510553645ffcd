//! Our CRDs on a real kube-apiserver: the seed samples are accepted, Kong's CEL rules refuse
//! what Kong refuses with Kong's messages, and `kubectl get` shows Kong's printer columns.

mod support;

use std::process::Output;

use konnect_plugin_operator::crd::generate::{
    MSG_CONFIG_AND_CONFIG_FROM, MSG_CONFIG_FROM_AND_PATCHES, MSG_PLUGIN_IMMUTABLE,
};
use konnect_plugin_operator::crd::{KongConsumer, KongPlugin};
use kube::Api;
use kube::api::PostParams;

fn kubectl(ns: &str, args: &[&str], stdin: &str) -> Output {
    support::kubectl_with_stdin(ns, args, stdin)
}

fn text(output: &Output) -> String {
    support::output_text(output)
}

fn apply(ns: &str, manifest: &str) -> Output {
    kubectl(ns, &["apply", "-f", "-"], manifest)
}

fn assert_refused(output: &Output, message: &str) {
    assert!(
        !output.status.success(),
        "expected a refusal, kubectl said: {}",
        text(output)
    );
    assert!(
        text(output).contains(message),
        "expected {message:?} in: {}",
        text(output)
    );
}

#[tokio::test]
async fn every_seed_sample_is_accepted_by_kubectl_apply() {
    let ns = support::cluster().namespace("samples").await;
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/config/samples");
    let output = support::cluster()
        .kubectl()
        .args(["--namespace", &ns, "apply", "-f", dir])
        .output()
        .expect("kubectl");
    assert!(
        output.status.success(),
        "kubectl apply -f config/samples: {}",
        text(&output)
    );
    let out = text(&output);
    for created in [
        "kongclusterplugin.configuration.konghq.com/datakit",
        "kongplugin.configuration.konghq.com/datakit-service",
        "kongplugin.configuration.konghq.com/datakit-ingress",
        "kongplugin.configuration.konghq.com/datakit-httproute",
        "kongplugin.configuration.konghq.com/datakit-consumer",
        "kongplugin.configuration.konghq.com/datakit-consumer-group",
        "kongplugin.configuration.konghq.com/upstream-oauth",
        "kongplugin.configuration.konghq.com/session",
        "kongconsumer.configuration.konghq.com/alice",
        "kongconsumergroup.configuration.konghq.com/gold",
        "httproute.gateway.networking.k8s.io/echo",
        "ingress.networking.k8s.io/echo",
    ] {
        assert!(out.contains(created), "{created} missing from: {out}");
    }

    // What was stored reads back into our types with the fields intact.
    let plugins: Api<KongPlugin> = Api::namespaced(support::cluster().client().await, &ns);
    let session = plugins.get("session").await.expect("session plugin");
    assert_eq!(session.plugin, "session");
    let patches = session.config_patches.expect("configPatches kept");
    assert_eq!(patches[0].path, "/secret");
    assert_eq!(patches[0].value_from.secret_key_ref.name, "session-secret");
    let dk = plugins
        .get("datakit-service")
        .await
        .expect("datakit plugin");
    assert_eq!(
        dk.config.expect("config kept")["nodes"][3]["output"],
        "service_request.headers"
    );
    let consumers: Api<KongConsumer> = Api::namespaced(support::cluster().client().await, &ns);
    let alice = consumers.get("alice").await.expect("alice");
    assert_eq!(alice.consumer_groups, Some(vec!["gold".to_string()]));
}

#[tokio::test]
async fn config_and_config_from_together_are_refused_with_kongs_message() {
    let ns = support::cluster().namespace("cel").await;
    for kind_doc in [
        "kind: KongPlugin\nmetadata: {name: both}\nplugin: key-auth\nconfig: {key_names: [apikey]}\nconfigFrom: {secretKeyRef: {name: s, key: k}}\n",
        "kind: KongClusterPlugin\nmetadata: {name: both-cluster}\nplugin: key-auth\nconfig: {key_names: [apikey]}\nconfigFrom: {secretKeyRef: {name: s, key: k, namespace: default}}\n",
    ] {
        let output = apply(
            &ns,
            &format!("apiVersion: configuration.konghq.com/v1\n{kind_doc}"),
        );
        assert_refused(&output, MSG_CONFIG_AND_CONFIG_FROM);
    }
}

#[tokio::test]
async fn config_from_and_config_patches_together_are_refused_with_kongs_message() {
    let ns = support::cluster().namespace("cel").await;
    let output = apply(
        &ns,
        "apiVersion: configuration.konghq.com/v1\nkind: KongPlugin\nmetadata: {name: both}\nplugin: session\n\
         configFrom: {secretKeyRef: {name: s, key: k}}\n\
         configPatches: [{path: /secret, valueFrom: {secretKeyRef: {name: s, key: k}}}]\n",
    );
    assert_refused(&output, MSG_CONFIG_FROM_AND_PATCHES);
    let output = apply(
        &ns,
        "apiVersion: configuration.konghq.com/v1\nkind: KongClusterPlugin\nmetadata: {name: both-patches}\nplugin: session\n\
         configFrom: {secretKeyRef: {name: s, key: k, namespace: default}}\n\
         configPatches: [{path: /secret, valueFrom: {secretKeyRef: {name: s, key: k, namespace: default}}}]\n",
    );
    assert_refused(&output, MSG_CONFIG_FROM_AND_PATCHES);
}

#[tokio::test]
async fn the_plugin_field_is_immutable() {
    let ns = support::cluster().namespace("cel").await;
    let api: Api<KongPlugin> = Api::namespaced(support::cluster().client().await, &ns);
    let created = api
        .create(
            &PostParams::default(),
            &KongPlugin::new(&ns, "rl", "rate-limiting"),
        )
        .await
        .expect("create");
    let mut changed = created.clone();
    changed.plugin = "key-auth".into();
    let err = api
        .replace("rl", &PostParams::default(), &changed)
        .await
        .expect_err("plugin change refused");
    assert!(err.to_string().contains(MSG_PLUGIN_IMMUTABLE), "{err}");
    // Any other change is fine, and so is writing the same plugin name again.
    let mut disabled = created;
    disabled.disabled = Some(true);
    let updated = api
        .replace("rl", &PostParams::default(), &disabled)
        .await
        .expect("non-plugin change accepted");
    assert_eq!(updated.disabled, Some(true));
}

#[tokio::test]
async fn cluster_plugin_secret_refs_need_a_namespace() {
    let ns = support::cluster().namespace("kcp").await;
    let output = apply(
        &ns,
        "apiVersion: configuration.konghq.com/v1\nkind: KongClusterPlugin\nmetadata: {name: no-ns}\nplugin: key-auth\n\
         configFrom: {secretKeyRef: {name: s, key: k}}\n",
    );
    assert_refused(&output, "configFrom.secretKeyRef.namespace: Required value");
    // A KongPlugin's reference has no namespace field at all (its own namespace is implied).
    let output = apply(
        &ns,
        "apiVersion: configuration.konghq.com/v1\nkind: KongPlugin\nmetadata: {name: with-ns}\nplugin: key-auth\n\
         configFrom: {secretKeyRef: {name: s, key: k}}\n",
    );
    assert!(output.status.success(), "{}", text(&output));
}

#[tokio::test]
async fn enums_and_required_fields_are_enforced() {
    let ns = support::cluster().namespace("enum").await;
    let output = apply(
        &ns,
        "apiVersion: configuration.konghq.com/v1\nkind: KongPlugin\nmetadata: {name: p}\nconfig: {}\n",
    );
    assert_refused(&output, "plugin: Required value");
    let output = apply(
        &ns,
        "apiVersion: configuration.konghq.com/v1\nkind: KongPlugin\nmetadata: {name: p}\nplugin: cors\nprotocols: [http, ftp]\n",
    );
    assert_refused(&output, "protocols[1]: Unsupported value: \"ftp\"");
    let output = apply(
        &ns,
        "apiVersion: configuration.konghq.com/v1\nkind: KongPlugin\nmetadata: {name: p}\nplugin: cors\nrun_on: third\n",
    );
    assert_refused(&output, "run_on: Unsupported value: \"third\"");
    let output = apply(
        &ns,
        "apiVersion: configuration.konghq.com/v1\nkind: KongConsumer\nmetadata: {name: nobody}\n",
    );
    assert_refused(&output, "Need to provide either username or custom_id");
}

#[tokio::test]
async fn kubectl_get_shows_kongs_printer_columns() {
    let ns = support::cluster().namespace("columns").await;
    let output = apply(
        &ns,
        "apiVersion: configuration.konghq.com/v1\nkind: KongPlugin\nmetadata: {name: limit}\nplugin: rate-limiting\n\
         disabled: true\nconfig: {minute: 5, policy: local}\n",
    );
    assert!(output.status.success(), "{}", text(&output));
    let output = kubectl(&ns, &["get", "kp"], "");
    assert!(output.status.success(), "{}", text(&output));
    let table = text(&output);
    let header: Vec<&str> = table
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    assert_eq!(
        header,
        ["NAME", "PLUGIN-TYPE", "AGE", "PROGRAMMED"],
        "{table}"
    );
    assert!(
        table
            .lines()
            .nth(1)
            .unwrap_or_default()
            .starts_with("limit"),
        "{table}"
    );
    assert!(table.contains("rate-limiting"), "{table}");

    let output = kubectl(&ns, &["get", "kp", "-o", "wide"], "");
    let wide = text(&output);
    let header: Vec<&str> = wide
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    assert_eq!(
        header,
        [
            "NAME",
            "PLUGIN-TYPE",
            "AGE",
            "DISABLED",
            "CONFIG",
            "PROGRAMMED"
        ],
        "{wide}"
    );
    assert!(wide.contains("true"), "{wide}");
    assert!(wide.contains("\"minute\":5"), "{wide}");

    // The category `kong` lists our kinds too.
    let output = kubectl(&ns, &["get", "kong"], "");
    assert!(
        text(&output).contains("kongplugin.configuration.konghq.com/limit"),
        "{}",
        text(&output)
    );
}
