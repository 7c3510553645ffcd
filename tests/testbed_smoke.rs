//! Proves the test control plane (tests/support) works: a real kube-apiserver of the pinned
//! version, admin and unprivileged identities with RBAC, kubectl, helm and the installed CRDs.

mod support;

use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, PostParams};

fn config_map(name: &str) -> ConfigMap {
    ConfigMap {
        metadata: kube::api::ObjectMeta {
            name: Some(name.to_string()),
            ..Default::default()
        },
        data: Some(
            [("key".to_string(), "value".to_string())]
                .into_iter()
                .collect(),
        ),
        ..Default::default()
    }
}

#[tokio::test]
async fn version_is_the_pinned_release() {
    let cluster = support::cluster();
    let info = cluster
        .client()
        .await
        .apiserver_version()
        .await
        .expect("GET /version");
    assert_eq!(info.git_version, support::k8s_version());
    assert_eq!(format!("v{}.{}", info.major, info.minor), {
        let v = support::k8s_version();
        v.rsplit_once('.').unwrap().0.to_string()
    });
}

#[tokio::test]
async fn admin_can_write_and_unprivileged_is_forbidden() {
    let cluster = support::cluster();
    let ns = cluster.namespace("smoke").await;

    let admin: Api<ConfigMap> = Api::namespaced(cluster.client().await, &ns);
    let created = admin
        .create(&PostParams::default(), &config_map("by-admin"))
        .await
        .unwrap();
    assert_eq!(created.metadata.namespace.as_deref(), Some(ns.as_str()));
    assert_eq!(
        admin.get("by-admin").await.unwrap().data,
        config_map("x").data
    );

    let user: Api<ConfigMap> = Api::namespaced(cluster.unprivileged_client().await, &ns);
    match user
        .create(&PostParams::default(), &config_map("by-user"))
        .await
    {
        Err(kube::Error::Api(status)) => {
            assert_eq!(status.code, 403, "expected Forbidden, got {status:?}");
            assert!(
                status.message.contains(support::UNPRIVILEGED_USER),
                "{}",
                status.message
            );
        }
        other => panic!("unprivileged create should be forbidden, got {other:?}"),
    }
    // ... and cannot read what admin wrote either.
    match user.get("by-admin").await {
        Err(kube::Error::Api(status)) => assert_eq!(status.code, 403),
        other => panic!("unprivileged get should be forbidden, got {other:?}"),
    }
}

#[tokio::test]
async fn namespaces_are_fresh_and_unique() {
    let cluster = support::cluster();
    let a = cluster.namespace("Smoke_Test").await;
    let b = cluster.namespace("Smoke_Test").await;
    assert_ne!(a, b);
    assert!(a.starts_with("smoke-test-"), "{a}");
    let api: Api<Namespace> = Api::all(cluster.client().await);
    assert!(api.get(&a).await.is_ok());
}

#[test]
fn kubectl_and_helm_work() {
    let cluster = support::cluster();
    let out = cluster
        .kubectl()
        .args(["get", "ns", "-o", "name"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.lines().any(|l| l == "namespace/kube-system"),
        "{stdout}"
    );

    // The unprivileged context may not list namespaces.
    let out = cluster
        .kubectl()
        .args(["--context", support::UNPRIVILEGED_CONTEXT, "get", "ns"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("forbidden"));

    let out = cluster
        .helm()
        .args(["list", "--all-namespaces"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn gateway_api_crds_are_established() {
    let cluster = support::cluster();
    let crds: Api<CustomResourceDefinition> = Api::all(cluster.client().await);
    for name in [
        "gateways.gateway.networking.k8s.io",
        "httproutes.gateway.networking.k8s.io",
        "referencegrants.gateway.networking.k8s.io",
    ] {
        let crd = crds
            .get(name)
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let established = crd
            .status
            .and_then(|s| s.conditions)
            .unwrap_or_default()
            .iter()
            .any(|c| c.type_ == "Established" && c.status == "True");
        assert!(established, "{name} not Established");
    }
}

#[test]
fn repo_crds_are_installed() {
    let cluster = support::cluster();
    for file in support::repo_crd_files() {
        let out = cluster
            .kubectl()
            .args([
                "get",
                "-o",
                "jsonpath={.status.conditions[?(@.type==\"Established\")].status}",
                "-f",
            ])
            .arg(&file)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}: {}",
            file.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "True",
            "{}",
            file.display()
        );
    }
}

/// Not a test: keeps a control plane up for interactive use or for reuse by other test runs.
/// `cargo test --test testbed_smoke -- --ignored serve_control_plane --nocapture`, then
/// `export KPO_TEST_KUBECONFIG=<printed path>` elsewhere. Stops after `KPO_TESTBED_SERVE_SECS`
/// seconds (default 3600) or on Ctrl-C; the control plane goes with it.
#[test]
#[ignore]
fn serve_control_plane() {
    let cluster = support::cluster();
    let secs: u64 = std::env::var("KPO_TESTBED_SERVE_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3600);
    println!("apiserver: {}", cluster.apiserver_url());
    println!(
        "export KPO_TEST_KUBECONFIG={}",
        cluster.kubeconfig_path().display()
    );
    println!("serving for {secs}s (Ctrl-C stops it)");
    std::thread::sleep(std::time::Duration::from_secs(secs));
}
