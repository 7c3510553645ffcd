//! The webhook's decisions, on values: a plugin object (and the Secrets it reads) in, a
//! [`Verdict`] out. The same code as `validate` and translation
//! ([`resolve_plugin_config`], [`check_plugin_config`]), so the three never disagree. Messages
//! name the field (`config.<path>: <problem>`); Secret-derived values are scrubbed by
//! [`check_plugin_config`], and building a configuration never echoes a Secret's value.
//!
//! The wording follows KIC's admission server (Kong/kubernetes-ingress-controller, now
//! Kong/kong-operator `ingress-controller/internal/admission/`): `errors.go`
//! `ErrTextPluginConfigViolatesSchema` ("Plugin failed schema validation: %s") and
//! `handler.go` `checkReferrersOfSecret` ("Change on secret will generate invalid configuration
//! for KongPlugin %s/%s: %s", "... for KongClusterPlugin %s: %s").

use k8s_openapi::api::core::v1::Secret;

use crate::schema::Registry;
use crate::translate::{ConfigCheck, PluginObject, check_plugin_config, resolve_plugin_config};

/// KIC's label on Secrets that plugin configurations read (`labels.ValidateLabel`).
pub const VALIDATE_LABEL: &str = "konghq.com/validate";
/// Its value for plugin Secrets (`labels.PluginValidate`).
pub const VALIDATE_PLUGIN: &str = "plugin";

/// What the webhook answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Admitted, with warnings for the client (kubectl prints them).
    Allow(Vec<String>),
    /// Refused with this message (never a Secret's value).
    Deny(String),
}

/// Checks one plugin object's configuration, its Secrets read through `secrets`.
pub fn check_plugin<'s>(
    registry: &Registry,
    plugin: PluginObject<'_>,
    plugin_name: &str,
    secrets: &dyn Fn(&str, &str) -> Option<&'s Secret>,
) -> Verdict {
    let resolved = match resolve_plugin_config(plugin, secrets) {
        Ok(r) => r,
        Err(problems) => {
            let messages: Vec<String> = problems.into_iter().map(|p| p.message).collect();
            return Verdict::Deny(messages.join("; "));
        }
    };
    match check_plugin_config(registry, plugin_name, &resolved) {
        Ok(()) => Verdict::Allow(Vec::new()),
        Err(ConfigCheck::UnknownPlugin) => Verdict::Allow(vec![format!(
            "plugin '{plugin_name}' has no embedded schema; its configuration is left to Konnect"
        )]),
        Err(ConfigCheck::Invalid(errors)) => Verdict::Deny(format!(
            "Plugin failed schema validation: {}",
            errors.join("; ")
        )),
    }
}

/// Whether a Secret carries `konghq.com/validate: plugin`.
pub fn is_plugin_secret(secret: &Secret) -> bool {
    secret
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(VALIDATE_LABEL))
        .is_some_and(|v| v == VALIDATE_PLUGIN)
}

/// The message refusing a Secret change that breaks `object` (`KongPlugin ns/name` or
/// `KongClusterPlugin name`), as KIC's `checkReferrersOfSecret` words it.
pub fn secret_breaks(object: &str, message: &str) -> String {
    format!("Change on secret will generate invalid configuration for {object}: {message}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::KongPlugin;
    use std::collections::BTreeMap;

    fn plugin(json: serde_json::Value) -> KongPlugin {
        serde_json::from_value(json).expect("KongPlugin")
    }

    fn secret(ns: &str, name: &str, key: &str, value: &str) -> Secret {
        use k8s_openapi::ByteString;
        Secret {
            metadata: kube::api::ObjectMeta {
                namespace: Some(ns.into()),
                name: Some(name.into()),
                ..Default::default()
            },
            data: Some(BTreeMap::from([(
                key.to_owned(),
                ByteString(value.as_bytes().to_vec()),
            )])),
            ..Default::default()
        }
    }

    #[test]
    fn a_bad_config_is_denied_with_the_field_and_no_secret_value() {
        let registry = Registry::embedded();
        let p = plugin(serde_json::json!({
            "apiVersion": "configuration.konghq.com/v1", "kind": "KongPlugin",
            "metadata": {"name": "rl", "namespace": "ns"},
            "plugin": "rate-limiting",
            "configFrom": {"secretKeyRef": {"name": "conf", "key": "c"}}
        }));
        // `minute` must be a number (Kong's rate-limiting schema.lua: `minute = { type = "number" ... }`).
        let s = secret("ns", "conf", "c", r#"{"minute": "s3cr3t-value"}"#);
        let lookup = |ns: &str, name: &str| (ns == "ns" && name == "conf").then_some(&s);
        match check_plugin(&registry, PluginObject::Kong(&p), "rate-limiting", &lookup) {
            Verdict::Deny(m) => {
                assert!(m.starts_with("Plugin failed schema validation: "), "{m}");
                assert!(m.contains("config.minute"), "{m}");
                assert!(!m.contains("s3cr3t-value"), "{m}");
            }
            v => panic!("{v:?}"),
        }
        let missing = |_: &str, _: &str| None;
        match check_plugin(&registry, PluginObject::Kong(&p), "rate-limiting", &missing) {
            Verdict::Deny(m) => assert!(m.starts_with("configFrom"), "{m}"),
            v => panic!("{v:?}"),
        }
    }

    #[test]
    fn an_unknown_plugin_is_admitted_with_a_warning() {
        let registry = Registry::embedded();
        let p = plugin(serde_json::json!({
            "apiVersion": "configuration.konghq.com/v1", "kind": "KongPlugin",
            "metadata": {"name": "x", "namespace": "ns"},
            "plugin": "no-such-plugin-here", "config": {"a": 1}
        }));
        let none = |_: &str, _: &str| None;
        match check_plugin(
            &registry,
            PluginObject::Kong(&p),
            "no-such-plugin-here",
            &none,
        ) {
            Verdict::Allow(w) => assert_eq!(w.len(), 1, "{w:?}"),
            v => panic!("{v:?}"),
        }
    }
}
