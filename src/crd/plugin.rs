//! `KongPlugin` (namespaced) and `KongClusterPlugin` (cluster-scoped).

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, ObjectMeta};
use k8s_openapi::{ClusterResourceScope, NamespaceResourceScope};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{NamespacedSecretKeyRef, SecretKeyRef};
use super::generate::schema_fns;
use super::{impl_resource, type_meta};

/// Declares a plugin kind: KongPlugin and KongClusterPlugin have the same fields and differ
/// only in how they name Secrets (a cluster-scoped object must say which namespace).
macro_rules! plugin_kind {
    ($(#[$doc:meta])* $name:ident, source = $source:ty, patch = $patch:ty) => {
        $(#[$doc])*
        #[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
        #[serde(rename_all = "camelCase")]
        pub struct $name {
            #[serde(default = "type_meta::empty")]
            #[schemars(schema_with = "schema_fns::string")]
            pub api_version: String,
            #[serde(default = "type_meta::empty")]
            #[schemars(schema_with = "schema_fns::string")]
            pub kind: String,
            #[serde(default)]
            #[schemars(schema_with = "schema_fns::object")]
            pub metadata: ObjectMeta,
            /// PluginName is the name of the plugin to which to apply the config.
            pub plugin: String,
            /// Config contains the plugin configuration.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            #[schemars(schema_with = "schema_fns::free_form_object")]
            pub config: Option<serde_json::Value>,
            /// ConfigFrom references a secret containing the plugin configuration.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub config_from: Option<$source>,
            /// ConfigPatches represents JSON patches to the configuration of the plugin.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub config_patches: Option<Vec<$patch>>,
            /// ConsumerRef is a reference to a particular consumer (accepted and ignored, as KIC does).
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub consumer_ref: Option<String>,
            /// Disabled set if the plugin is disabled or not.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub disabled: Option<bool>,
            /// InstanceName is an optional custom name to identify an instance of the plugin.
            #[serde(rename = "instance_name", default, skip_serializing_if = "Option::is_none")]
            pub instance_name: Option<String>,
            /// Ordering overrides the normal plugin execution order.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub ordering: Option<PluginOrdering>,
            /// Protocols configures plugin to run on requests received on specific protocols.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub protocols: Option<Vec<KongProtocol>>,
            /// RunOn configures the plugin to run on the first or the second or both nodes.
            #[serde(rename = "run_on", default, skip_serializing_if = "Option::is_none")]
            pub run_on: Option<RunOn>,
            /// Tags (Kong operator's field): at most 20, each 1..128 characters.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            #[schemars(schema_with = "schema_fns::tags")]
            pub tags: Option<Vec<String>>,
            #[doc = concat!("Status represents the current status of the ", stringify!($name), " resource.")]
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub status: Option<PluginStatus>,
        }
    };
}

plugin_kind!(
    /// KongPlugin is the Schema for the kongplugins API.
    KongPlugin,
    source = ConfigSource,
    patch = ConfigPatch
);
plugin_kind!(
    /// KongClusterPlugin is the Schema for the kongclusterplugins API.
    KongClusterPlugin,
    source = NamespacedConfigSource,
    patch = NamespacedConfigPatch
);

impl_resource!(
    KongPlugin,
    kind = "KongPlugin",
    version = "v1",
    plural = "kongplugins",
    scope = NamespaceResourceScope
);
impl_resource!(
    KongClusterPlugin,
    kind = "KongClusterPlugin",
    version = "v1",
    plural = "kongclusterplugins",
    scope = ClusterResourceScope
);

impl KongPlugin {
    /// A KongPlugin with type meta filled in.
    pub fn new(namespace: &str, name: &str, plugin: &str) -> Self {
        Self {
            api_version: Self::API_VERSION.into(),
            kind: Self::KIND.into(),
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some(namespace.into()),
                ..Default::default()
            },
            plugin: plugin.into(),
            ..Default::default()
        }
    }
}

impl KongClusterPlugin {
    /// A KongClusterPlugin with type meta filled in.
    pub fn new(name: &str, plugin: &str) -> Self {
        Self {
            api_version: Self::API_VERSION.into(),
            kind: Self::KIND.into(),
            metadata: ObjectMeta {
                name: Some(name.into()),
                ..Default::default()
            },
            plugin: plugin.into(),
            ..Default::default()
        }
    }
}

/// ConfigSource is a wrapper around SecretValueFromSource.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConfigSource {
    /// Specifies a name and a key of a secret to refer to.
    pub secret_key_ref: SecretKeyRef,
}

/// NamespacedConfigSource is a wrapper around NamespacedSecretValueFromSource.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NamespacedConfigSource {
    /// Specifies a name, a namespace, and a key of a secret to refer to.
    pub secret_key_ref: NamespacedSecretKeyRef,
}

/// ConfigPatch is a JSON patch (RFC6902) to add values from Secret to the generated configuration.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConfigPatch {
    /// Path is the JSON-Pointer value (RFC6901) that references a location within the target configuration.
    pub path: String,
    /// ValueFrom is the reference to a key of a secret where the patched value comes from.
    pub value_from: ConfigSource,
}

/// NamespacedConfigPatch is a JSON patch to add values from secrets to KongClusterPlugin.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NamespacedConfigPatch {
    /// Path is the JSON path to add the patch.
    pub path: String,
    /// ValueFrom is the reference to a key of a secret where the patched value comes from.
    pub value_from: NamespacedConfigSource,
}

/// PluginOrdering is either `before` or `after`, each mapping a phase to plugin names.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PluginOrdering {
    /// PluginOrderingPhase indicates which plugins in a phase should affect the target plugin's order
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<BTreeMap<String, Vec<String>>>,
    /// PluginOrderingPhase indicates which plugins in a phase should affect the target plugin's order
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<BTreeMap<String, Vec<String>>>,
}

/// KongProtocol is a valid Kong protocol.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum KongProtocol {
    Http,
    Https,
    Grpc,
    Grpcs,
    Tcp,
    Tls,
    Udp,
}

impl KongProtocol {
    /// The wire name, as Kong spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Http => "http",
            Self::Https => "https",
            Self::Grpc => "grpc",
            Self::Grpcs => "grpcs",
            Self::Tcp => "tcp",
            Self::Tls => "tls",
            Self::Udp => "udp",
        }
    }
}

/// Where a plugin runs in a service-mesh deployment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum RunOn {
    First,
    Second,
    All,
}

/// Status of a KongPlugin or KongClusterPlugin.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PluginStatus {
    /// Conditions describe the current conditions of the plugin. Known condition types are: "Programmed".
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "schema_fns::conditions_with_default")]
    pub conditions: Vec<Condition>,
}
