//! `validate -f`: a file mixing good and bad plugins names exactly the bad fields.

use std::path::PathBuf;

use konnect_plugin_operator::cli::validate_files;
use pretty_assertions::assert_eq;

const MIXED: &str = r#"
apiVersion: configuration.konghq.com/v1
kind: KongPlugin
metadata: {name: good-session, namespace: shop}
plugin: session
config: {cookie_same_site: Lax}
---
apiVersion: configuration.konghq.com/v1
kind: KongPlugin
metadata: {name: bad-session, namespace: shop}
plugin: session
config: {cookie_same_site: Sometimes, storage: kong, cookie_path: app}
---
apiVersion: configuration.konghq.com/v1
kind: KongClusterPlugin
metadata:
  name: datakit
  labels: {global: "true"}
plugin: datakit
config:
  nodes:
  - {name: STATIC_INPUTS, type: static, values: {body: x}}
  - {name: CALL, type: call, url: "https://a", inputs: {body: STATIC_INPUT.body}}
---
apiVersion: configuration.konghq.com/v1
kind: KongPlugin
metadata: {name: oauth, namespace: shop}
plugin: upstream-oauth
config:
  oauth: {token_endpoint: "https://idp/token", client_id: my-client}
configPatches:
- path: /oauth/client_secret
  valueFrom: {secretKeyRef: {name: idp, key: secret}}
---
apiVersion: configuration.konghq.com/v1
kind: KongPlugin
metadata: {name: oauth-offline, namespace: shop}
plugin: upstream-oauth
configFrom: {secretKeyRef: {name: elsewhere, key: config}}
---
apiVersion: configuration.konghq.com/v1
kind: KongPlugin
metadata: {name: custom, namespace: shop}
plugin: my-custom-plugin
config: {anything: 1}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop, annotations: {konghq.com/plugins: good-session}}
spec: {ports: [{port: 80}]}
"#;

const SECRET: &str = r#"
apiVersion: v1
kind: Secret
metadata: {name: idp, namespace: shop}
stringData: {secret: '"canary-secret-value"'}
"#;

#[test]
fn mixed_file_names_exactly_the_bad_fields() {
    let dir = tempfile::tempdir().expect("tempdir");
    let plugins = dir.path().join("plugins.yaml");
    std::fs::write(&plugins, MIXED).expect("write");
    std::fs::write(dir.path().join("secret.yaml"), SECRET).expect("write");
    let mut out = Vec::new();
    let any_error = validate_files(&[dir.path().to_path_buf()], &mut out).expect("runs");
    let text = String::from_utf8(out).expect("utf-8");
    let f = plugins.display();
    let expected = [
        format!("{f}: KongPlugin shop/bad-session: config.cookie_path: should start with: /"),
        format!(
            "{f}: KongPlugin shop/bad-session: config.cookie_same_site: expected one of: Strict, Lax, None, Default"
        ),
        format!(
            "{f}: KongPlugin shop/custom: warning: plugin 'my-custom-plugin' has no embedded schema; its configuration is left to Konnect"
        ),
        format!(
            "{f}: KongPlugin shop/oauth-offline: warning: Secret shop/elsewhere is not in the given files; the configuration cannot be checked offline"
        ),
        format!(
            "{f}: KongClusterPlugin datakit: config.nodes[1].inputs.body: unknown node 'STATIC_INPUT'"
        ),
    ];
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    lines.sort();
    let mut expected = expected.to_vec();
    expected.sort();
    assert_eq!(lines, expected);
    assert!(any_error);
    assert!(!text.contains("canary"));
}

#[test]
fn good_files_pass_and_unreadable_ones_are_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let good = dir.path().join("good.yaml");
    std::fs::write(&good, "apiVersion: configuration.konghq.com/v1\nkind: KongPlugin\nmetadata: {name: rl}\nplugin: rate-limiting\nconfig: {minute: 5}\n").expect("write");
    let mut out = Vec::new();
    assert!(!validate_files(std::slice::from_ref(&good), &mut out).expect("runs"));
    assert!(out.is_empty(), "{}", String::from_utf8_lossy(&out));

    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, "a: [").expect("write");
    let mut out = Vec::new();
    assert!(validate_files(&[bad], &mut out).expect("runs"));
    assert!(String::from_utf8_lossy(&out).contains("bad.yaml: document 0: not valid YAML"));

    let missing = PathBuf::from("/nonexistent/dir");
    assert!(validate_files(&[missing], &mut Vec::new()).is_err());
}

#[test]
fn secret_values_are_redacted_from_messages() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("p.yaml");
    // The canary lands in a non-secret field through configFrom and breaks its pattern.
    let text = r#"
apiVersion: v1
kind: Secret
metadata: {name: conf, namespace: default}
stringData:
  config: '{"http_method": "canary-value", "add": {"headers": ["canary-header"]}}'
---
apiVersion: configuration.konghq.com/v1
kind: KongPlugin
metadata: {name: rt}
plugin: request-transformer
configFrom: {secretKeyRef: {name: conf, key: config}}
"#;
    std::fs::write(&file, text).expect("write");
    let mut out = Vec::new();
    assert!(validate_files(&[file], &mut out).expect("runs"));
    let text = String::from_utf8(out).expect("utf-8");
    // The same marker `render` prints (validate and render share translation's resolution).
    assert!(
        text.contains("KongPlugin default/rt: config.http_method: invalid value: <redacted: Secret default/conf key config>"),
        "{text}"
    );
    assert!(
        text.contains(
            "config.add.headers[0]: invalid value: <redacted: Secret default/conf key config>"
        ),
        "{text}"
    );
    assert!(!text.contains("canary"), "{text}");
}

/// Review bug 3: validate had its own copy of configuration resolution, which disagreed with
/// render's: its patches did not create missing parents, and it accepted configFrom together
/// with configPatches. Both commands now share translation's code.
#[test]
fn validate_resolves_configurations_exactly_as_render_does() {
    use konnect_plugin_operator::translate::{Status, TranslateOptions, translate};
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("p.yaml");
    let text = r#"
apiVersion: v1
kind: Secret
metadata: {name: creds, namespace: default}
stringData: {host: '"redis.internal"', secret: '"canary-s3cr3t"', conf: '{"minute": 5}', v: '7'}
---
apiVersion: configuration.konghq.com/v1
kind: KongPlugin
metadata: {name: oauth, namespace: default}
plugin: upstream-oauth
config:
  oauth: {token_endpoint: "https://idp.example.com/token", client_id: my-client}
configPatches:
- path: /oauth/client_secret
  valueFrom: {secretKeyRef: {name: creds, key: secret}}
- path: /cache/redis/host
  valueFrom: {secretKeyRef: {name: creds, key: host}}
---
apiVersion: configuration.konghq.com/v1
kind: KongPlugin
metadata: {name: both, namespace: default}
plugin: rate-limiting
configFrom: {secretKeyRef: {name: creds, key: conf}}
configPatches:
- {path: /hour, valueFrom: {secretKeyRef: {name: creds, key: v}}}
"#;
    std::fs::write(&file, text).expect("write");
    let mut out = Vec::new();
    assert!(validate_files(std::slice::from_ref(&file), &mut out).expect("runs"));
    let printed = String::from_utf8(out).expect("utf-8");
    let f = file.display();
    assert_eq!(
        printed.lines().collect::<Vec<_>>(),
        [format!(
            "{f}: KongPlugin default/both: configFrom: Using both configFrom and configPatches fields is not allowed."
        )],
    );
    assert!(!printed.contains("canary"));

    // render says the same of the same objects.
    let loaded = konnect_plugin_operator::manifest::load_paths(&[file]).expect("loads");
    let state = translate(&loaded.snapshot, &TranslateOptions::default());
    let status = |name: &str| {
        state
            .results
            .iter()
            .find(|r| r.kind == "KongPlugin" && r.name == name)
            .map(|r| (r.status.clone(), r.message.clone()))
    };
    assert_eq!(
        status("oauth").map(|s| s.0),
        Some(Status::Pending {
            reason: konnect_plugin_operator::translate::Reason::NotReferenced
        })
    );
    assert_eq!(
        status("both").map(|s| s.1),
        Some("KongPlugin default/both: configFrom: Using both configFrom and configPatches fields is not allowed.".to_owned())
    );
}

/// Review bug 5 (validate side): a malformed object is an error line naming the file, the
/// document, the object and the field path; the other objects are still checked.
#[test]
fn malformed_objects_are_reported_with_their_field_path() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("p.yaml");
    let text = r#"
apiVersion: configuration.konghq.com/v1
kind: KongPlugin
metadata: {name: gopher, namespace: default}
plugin: cors
protocols: [gopher]
---
apiVersion: configuration.konghq.com/v1
kind: KongPlugin
metadata: {name: bad-session, namespace: default}
plugin: session
config: {cookie_path: app}
"#;
    std::fs::write(&file, text).expect("write");
    let mut out = Vec::new();
    assert!(validate_files(std::slice::from_ref(&file), &mut out).expect("runs"));
    let printed = String::from_utf8(out).expect("utf-8");
    let f = file.display();
    let lines: Vec<&str> = printed.lines().collect();
    assert_eq!(lines.len(), 2, "{printed}");
    assert!(
        lines[0].starts_with(&format!(
            "{f}: document 0: KongPlugin default/gopher: protocols[0]: unknown variant `gopher`"
        )),
        "{printed}"
    );
    assert_eq!(
        lines[1],
        format!("{f}: KongPlugin default/bad-session: config.cookie_path: should start with: /")
    );
}
