//! The admission webhook on the real kube-apiserver: the operator binary serves it on a
//! loopback port with a test CA (made with the `openssl` CLI, as the test bed makes its own), a
//! ValidatingWebhookConfiguration points the apiserver at it by `clientConfig.url`, and
//! `kubectl apply` is refused or admitted.
//!
//! Expected messages come from Kong and KIC, not from our code:
//! - Kong `kong/plugins/rate-limiting/schema.lua`: `entity_checks = { { at_least_one_of =
//!   { "config.second", "config.minute", "config.hour", "config.day", "config.month",
//!   "config.year" } } ...`; `kong/db/schema/init.lua` `validation_errors.AT_LEAST_ONE_OF =
//!   "at least one of these fields must be non-empty: %s"` (fields quoted, comma-separated; as
//!   Kong's own spec `spec/03-plugins/23-rate-limiting/01-schema_spec.lua` "invalid limit"
//!   expects it). Kong reports entity checks on the entity; we name the record they sit on,
//!   `config`.
//! - `kong/db/schema/init.lua` `validation_errors.TYPE = "expected a %s"` with `number` for
//!   `minute = { type = "number" }`.
//! - KIC (Kong/kong-operator `ingress-controller/internal/admission/`): `errors.go`
//!   `ErrTextPluginConfigViolatesSchema = "Plugin failed schema validation: %s"`; `handler.go`
//!   `checkReferrersOfSecret`: "Change on secret will generate invalid configuration for
//!   KongPlugin %s/%s: %s".
//! - kube-apiserver: a refusal reads `admission webhook "<name>" denied the request: <message>`.

mod support;

use std::path::Path;
use std::process::Command;

#[path = "support/operator.rs"]
mod harness;
use harness::*;

/// The rate-limiting entity check, as Kong words it.
const NO_LIMIT: &str = "config: at least one of these fields must be non-empty: 'config.second', 'config.minute', 'config.hour', 'config.day', 'config.month', 'config.year'";

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("openssl runs");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA and a serving certificate for 127.0.0.1 signed by it, in `dir` (`ca.crt`, `tls.crt`,
/// `tls.key`).
fn make_certs(dir: &Path) {
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let mut ca = vec!["req", "-x509"];
    ca.extend(ec);
    ca.extend([
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-days",
        "2",
        "-subj",
        "/CN=kpo-webhook-test-ca",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    ]);
    openssl(dir, &ca);
    let mut csr = vec!["req"];
    csr.extend(ec);
    csr.extend([
        "-keyout",
        "tls.key",
        "-out",
        "tls.csr",
        "-subj",
        "/CN=127.0.0.1",
    ]);
    openssl(dir, &csr);
    std::fs::write(
        dir.join("ext.cnf"),
        "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1\n",
    )
    .unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "tls.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "tls.crt",
            "-days",
            "2",
            "-extfile",
            "ext.cnf",
        ],
    );
}

/// Whether the webhook on `port` completes a TLS handshake checked against `ca` and answers
/// HTTP.
fn answers_with(port: u16, ca: &Path) -> bool {
    let Ok(out) = Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--max-time",
            "5",
        ])
        .arg("--cacert")
        .arg(ca)
        .args([
            "-X",
            "POST",
            "-H",
            "content-type: application/json",
            "--data",
            "{}",
        ])
        .arg(format!("https://127.0.0.1:{port}/validate"))
        .output()
    else {
        return false;
    };
    let code = String::from_utf8_lossy(&out.stdout).into_owned();
    out.status.success() && code != "000"
}

/// `kubectl apply -f -` of `yaml` in the world's namespace: (succeeded, stdout + stderr).
fn try_apply(w: &World, yaml: &str) -> (bool, String) {
    use std::io::Write;
    let mut child = support::cluster()
        .kubectl()
        .args(["-n", &w.ns, "apply", "-f", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("kubectl runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(yaml.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// Deletes the cluster-scoped webhook configuration when the test ends (a failing test must
/// not leave the apiserver calling a dead port).
struct Registered(String);

impl Drop for Registered {
    fn drop(&mut self) {
        let _ = support::cluster()
            .kubectl()
            .args([
                "delete",
                "validatingwebhookconfiguration",
                &self.0,
                "--ignore-not-found",
            ])
            .output();
    }
}

/// The webhook configuration, as the chart renders it but by `url` and confined to the test's
/// namespace (the KongClusterPlugin hook by a label, being cluster-scoped).
fn registration(name: &str, ns: &str, port: u16, ca_bundle: &str) -> String {
    let client = format!(
        "clientConfig: {{url: \"https://127.0.0.1:{port}/validate\", caBundle: \"{ca_bundle}\"}}"
    );
    format!(
        r#"apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata:
  name: {name}
webhooks:
- name: kongplugins.validation.konnect-plugin-operator.test
  {client}
  rules:
  - {{apiGroups: [configuration.konghq.com], apiVersions: [v1], operations: [CREATE, UPDATE], resources: [kongplugins]}}
  namespaceSelector: {{matchLabels: {{kubernetes.io/metadata.name: {ns}}}}}
  failurePolicy: Fail
  sideEffects: None
  admissionReviewVersions: [v1]
  timeoutSeconds: 10
- name: kongclusterplugins.validation.konnect-plugin-operator.test
  {client}
  rules:
  - {{apiGroups: [configuration.konghq.com], apiVersions: [v1], operations: [CREATE, UPDATE], resources: [kongclusterplugins]}}
  objectSelector: {{matchLabels: {{kpo-webhook-test: {ns}}}}}
  failurePolicy: Fail
  sideEffects: None
  admissionReviewVersions: [v1]
  timeoutSeconds: 10
- name: secrets.validation.konnect-plugin-operator.test
  {client}
  rules:
  - {{apiGroups: [""], apiVersions: [v1], operations: [CREATE, UPDATE], resources: [secrets]}}
  namespaceSelector: {{matchLabels: {{kubernetes.io/metadata.name: {ns}}}}}
  objectSelector: {{matchLabels: {{konghq.com/validate: plugin}}}}
  failurePolicy: Fail
  sideEffects: None
  admissionReviewVersions: [v1]
  timeoutSeconds: 10
"#
    )
}

fn plugin(name: &str, body: &str) -> String {
    format!(
        "apiVersion: configuration.konghq.com/v1\nkind: KongPlugin\nmetadata:\n  name: {name}\nplugin: rate-limiting\n{body}\n"
    )
}

fn secret(name: &str, labelled: bool, conf: &str) -> String {
    let labels = if labelled {
        "\n  labels:\n    konghq.com/validate: plugin"
    } else {
        ""
    };
    format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}{labels}\nstringData:\n  conf: '{conf}'\n"
    )
}

fn secret_conf(w: &World, name: &str) -> String {
    w.kubectl(&["get", "secret", name, "-o", "jsonpath={.data.conf}"])
}

#[tokio::test]
async fn the_webhook_refuses_bad_plugins_and_secret_changes_that_break_them() {
    let w = World::new("webhook").await;
    let certs = w.dir.path().join("certs");
    std::fs::create_dir_all(&certs).unwrap();
    make_certs(&certs);
    let port = free_port();
    let op = w.operator(&[
        "--webhook-address",
        &format!("127.0.0.1:{port}"),
        "--webhook-cert-dir",
        certs.to_str().unwrap(),
    ]);
    // The webhook serves TLS with our certificate (curl checks it against the test CA).
    let ca = certs.join("ca.crt");
    eventually("the webhook answers over TLS", &[&op], || async {
        answers_with(port, &ca).then_some(())
    })
    .await;

    let out = Command::new("base64")
        .args(["-w", "0"])
        .arg(&ca)
        .output()
        .expect("base64 runs");
    let ca_bundle = String::from_utf8(out.stdout).unwrap();
    let name = format!("kpo-webhook-{}", w.ns);
    let _registered = Registered(name.clone());
    w.apply_yaml(&registration(&name, &w.ns, port, &ca_bundle));

    // A rate-limiting plugin without any limit: refused (once the apiserver has picked up the
    // registration), naming the field, with Kong's words.
    let bad = plugin("no-limit", "config:\n  policy: local");
    let refusal = eventually(
        "a limitless rate-limiting KongPlugin is refused",
        &[&op],
        || {
            let (ok, out) = try_apply(&w, &bad);
            async move { (!ok && out.contains("denied the request")).then_some(out) }
        },
    )
    .await;
    assert!(
        refusal.contains(&format!(
            "admission webhook \"kongplugins.validation.konnect-plugin-operator.test\" denied the request: Plugin failed schema validation: {NO_LIMIT}"
        )),
        "{refusal}"
    );
    let (ok, out) = try_apply(&w, &plugin("bad-type", "config:\n  minute: lots"));
    assert!(!ok, "{out}");
    assert!(
        out.contains(
            "denied the request: Plugin failed schema validation: config.minute: expected a number"
        ),
        "{out}"
    );

    // A good one is admitted.
    let (ok, out) = try_apply(&w, &plugin("good", "config:\n  minute: 5\n  policy: local"));
    assert!(ok, "{out}");

    // A KongClusterPlugin is checked too.
    let cluster_bad = format!(
        "apiVersion: configuration.konghq.com/v1\nkind: KongClusterPlugin\nmetadata:\n  name: {}-rl\n  labels:\n    kpo-webhook-test: {}\n  annotations:\n    kubernetes.io/ingress.class: class-{}\nplugin: rate-limiting\nconfig:\n  policy: local\n",
        w.ns, w.ns, w.ns
    );
    let (ok, out) = try_apply(&w, &cluster_bad);
    assert!(!ok, "{out}");
    assert!(
        out.contains(&format!(
            "admission webhook \"kongclusterplugins.validation.konnect-plugin-operator.test\" denied the request: Plugin failed schema validation: {NO_LIMIT}"
        )),
        "{out}"
    );

    // configFrom a labelled Secret: the plugin is admitted with good data; an update of the
    // Secret that would break it is refused, without echoing the new value.
    let (ok, out) = try_apply(&w, &secret("rl-conf", true, r#"{"minute": 10}"#));
    assert!(ok, "{out}");
    let from = plugin(
        "from-secret",
        "configFrom:\n  secretKeyRef:\n    name: rl-conf\n    key: conf",
    );
    let (ok, out) = try_apply(&w, &from);
    assert!(ok, "{out}");
    let before = secret_conf(&w, "rl-conf");
    let (ok, out) = try_apply(&w, &secret("rl-conf", true, r#"{"minute": "lots-SECRET"}"#));
    assert!(!ok, "{out}");
    assert!(
        out.contains(&format!(
            "admission webhook \"secrets.validation.konnect-plugin-operator.test\" denied the request: Change on secret will generate invalid configuration for KongPlugin {}/from-secret: Plugin failed schema validation: config.minute: expected a number",
            w.ns
        )),
        "{out}"
    );
    // (kubectl echoes the patch it sent; the webhook's message is what follows "denied".)
    let message = out.split("denied the request:").nth(1).unwrap_or_default();
    assert!(
        !message.contains("lots-SECRET"),
        "the Secret's value leaked: {message}"
    );
    assert_eq!(secret_conf(&w, "rl-conf"), before, "the Secret changed");
    // A change that keeps the plugin valid is admitted.
    let (ok, out) = try_apply(&w, &secret("rl-conf", true, r#"{"minute": 20}"#));
    assert!(ok, "{out}");

    // An unlabelled Secret is not checked: the same breaking update goes through.
    let (ok, out) = try_apply(&w, &secret("plain-conf", false, r#"{"minute": 10}"#));
    assert!(ok, "{out}");
    let (ok, out) = try_apply(
        &w,
        &plugin(
            "from-plain",
            "configFrom:\n  secretKeyRef:\n    name: plain-conf\n    key: conf",
        ),
    );
    assert!(ok, "{out}");
    let (ok, out) = try_apply(&w, &secret("plain-conf", false, r#"{"minute": "lots"}"#));
    assert!(ok, "an unlabelled Secret is not the webhook's: {out}");

    // A plugin whose configFrom Secret does not exist is refused, naming the field.
    let (ok, out) = try_apply(
        &w,
        &plugin(
            "from-nothing",
            "configFrom:\n  secretKeyRef:\n    name: no-such-secret\n    key: conf",
        ),
    );
    assert!(!ok, "{out}");
    assert!(out.contains("denied the request: configFrom"), "{out}");
    assert!(
        !op.log_text().contains("lots-SECRET"),
        "the Secret's value is in the operator's log"
    );

    // A renewed certificate (another CA here) is picked up without a restart.
    let renewed = w.dir.path().join("renewed");
    std::fs::create_dir_all(&renewed).unwrap();
    make_certs(&renewed);
    let new_ca = renewed.join("ca.crt");
    assert!(
        !answers_with(port, &new_ca),
        "a new CA was trusted before the renewal"
    );
    for f in ["tls.key", "tls.crt"] {
        std::fs::copy(renewed.join(f), certs.join(format!("{f}.new"))).unwrap();
        std::fs::rename(certs.join(format!("{f}.new")), certs.join(f)).unwrap();
    }
    eventually(
        "the webhook serves the renewed certificate",
        &[&op],
        || async { answers_with(port, &new_ca).then_some(()) },
    )
    .await;
}
