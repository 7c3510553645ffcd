//! Our own kinds (group [`APPS_GROUP`], v1alpha1) for Konnect's developer-portal configuration:
//! `KonnectApplicationAuthStrategy` and `KonnectDCRProvider`, mirroring the Konnect Application
//! Auth Strategies API v2 (`tests/reference/konnect/konnect-application-auth-strategies-v2.openapi.yaml`).
//!
//! Every secret field of a DCR provider (`initial_client_secret`, `dcr_token`, `api_key`) is a
//! reference to a Secret key, never a value. The CRD rules ([`crds`]) say what the API spec
//! requires per type, with the spec's wording where it has any.

use std::collections::BTreeMap;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::CustomResource;
use kube::CustomResourceExt;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::common::SecretKeyRef;

/// The API group of our own kinds (not Kong's).
pub const APPS_GROUP: &str = "konnect-plugin-operator.dev";
/// The condition reporting the result of `POST /dcr-providers/{id}/verify`.
pub const CONDITION_VERIFIED: &str = "Verified";
/// The finalizer that deletes the Konnect entity before the object goes.
pub const APPS_FINALIZER: &str = "konnect-plugin-operator.dev/konnect-cleanup";
/// Annotation: `orphan` leaves the Konnect entity in place when the object is deleted.
pub const ANNOTATION_ON_DELETE: &str = "konnect-plugin-operator.dev/on-delete";
/// The Konnect label carrying the object's UID, to find what we created after a crash.
pub const LABEL_UID: &str = "k8s-uid";
/// The Konnect label naming us.
pub const LABEL_MANAGED_BY: &str = "managed-by";

/// The spec's wording for label keys (`components.schemas.Labels.description`).
pub const MSG_LABEL_KEYS: &str = "Keys must be of length 1-63 characters, and cannot start with \"kong\", \"konnect\", \"mesh\", \"kic\", or \"_\".";
/// The spec's wording (`CreateDcrProviderRequest.description`).
pub const MSG_PROVIDER_TYPE_IMMUTABLE: &str = "The provider_type cannot be updated after creation.";
/// Our wording: `UpdateAppAuthStrategyRequest` has no `strategy_type`.
pub const MSG_STRATEGY_TYPE_IMMUTABLE: &str = "The strategy_type cannot be updated after creation.";
/// A key-auth strategy requires `configs.key-auth` (`AppAuthStrategyKeyAuthRequest`).
pub const MSG_KEY_AUTH_REQUIRED: &str =
    "keyAuth (configs.key-auth) is required when type is key_auth, and allowed only then";
/// An OIDC strategy requires `configs.openid-connect` (`AppAuthStrategyOpenIDConnectRequest`).
pub const MSG_OIDC_REQUIRED: &str = "openidConnect (configs.openid-connect) is required when type is openid_connect, and allowed only then";
/// Only the OIDC request has `dcr_provider_id`.
pub const MSG_DCR_ONLY_OIDC: &str = "dcrProviderRef is allowed only when type is openid_connect";

/// How developer-portal applications authenticate: key-auth or OpenID Connect.
#[derive(CustomResource, Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "konnect-plugin-operator.dev",
    version = "v1alpha1",
    kind = "KonnectApplicationAuthStrategy",
    plural = "konnectapplicationauthstrategies",
    shortname = "kaas",
    category = "konnect",
    namespaced,
    status = "KonnectAppsStatus",
    printcolumn = r#"{"name":"Type","type":"string","jsonPath":".spec.type"}"#,
    printcolumn = r#"{"name":"Konnect-ID","type":"string","jsonPath":".status.id"}"#,
    printcolumn = r#"{"name":"Active","type":"boolean","jsonPath":".status.active"}"#,
    printcolumn = r#"{"name":"Programmed","type":"string","jsonPath":".status.conditions[?(@.type==\"Programmed\")].status"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct KonnectApplicationAuthStrategySpec {
    /// The name of the auth strategy in the Konnect UI (`name`); defaults to metadata.name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 256))]
    pub name: Option<String>,
    /// The display name of the auth strategy in the Portal UI (`display_name`).
    #[schemars(length(max = 256))]
    pub display_name: String,
    /// `strategy_type`: `key_auth` or `openid_connect`. Cannot change after creation.
    #[serde(rename = "type")]
    pub type_: StrategyType,
    /// `configs.key-auth`, for `key_auth`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_auth: Option<KeyAuthConfig>,
    /// `configs.openid-connect`, for `openid_connect`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub openid_connect: Option<OpenIdConnectConfig>,
    /// A `KonnectDCRProvider` in this namespace whose Konnect id becomes `dcr_provider_id`
    /// (`openid_connect` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dcr_provider_ref: Option<LocalObjectRef>,
    /// Konnect labels (`labels`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "labels_schema")]
    pub labels: Option<BTreeMap<String, String>>,
}

/// `strategy_type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum StrategyType {
    #[serde(rename = "key_auth")]
    KeyAuth,
    #[serde(rename = "openid_connect")]
    OpenIdConnect,
}

impl StrategyType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::KeyAuth => "key_auth",
            Self::OpenIdConnect => "openid_connect",
        }
    }
}

/// `AppAuthStrategyConfigKeyAuth`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct KeyAuthConfig {
    /// The names of the headers containing the API key (`key_names`, 1 to 10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "key_names_schema")]
    pub key_names: Option<Vec<String>>,
    /// Default maximum Time-To-Live for keys created under this strategy (`ttl`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<KeyTtl>,
}

/// `ttl` of a key-auth strategy.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct KeyTtl {
    #[schemars(range(min = 1))]
    pub value: i64,
    pub unit: TtlUnit,
}

/// Unit of a key TTL.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum TtlUnit {
    Days,
    Weeks,
    Years,
}

/// `AppAuthStrategyConfigOpenIDConnect`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OpenIdConnectConfig {
    /// `issuer`, a URL of at most 256 characters.
    #[schemars(schema_with = "url_schema")]
    pub issuer: String,
    /// `credential_claim` (at most 10, each at most 128 characters).
    #[schemars(schema_with = "credential_claim_schema")]
    pub credential_claim: Vec<String>,
    /// `scopes` (at most 50, each at most 128 characters).
    #[schemars(schema_with = "scopes_schema")]
    pub scopes: Vec<String>,
    /// `auth_methods` (at most 10, each at most 64 characters).
    #[schemars(schema_with = "auth_methods_schema")]
    pub auth_methods: Vec<String>,
    /// More OpenID Connect settings, passed through (the spec allows additional properties).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "free_form")]
    pub additional_properties: Option<serde_json::Map<String, Value>>,
}

/// A reference to an object of the same namespace, by name.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct LocalObjectRef {
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
}

/// An identity provider issuing developer applications' clients by dynamic client registration.
#[derive(CustomResource, Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "konnect-plugin-operator.dev",
    version = "v1alpha1",
    kind = "KonnectDCRProvider",
    plural = "konnectdcrproviders",
    shortname = "kdcr",
    category = "konnect",
    namespaced,
    status = "KonnectAppsStatus",
    printcolumn = r#"{"name":"Provider","type":"string","jsonPath":".spec.providerType"}"#,
    printcolumn = r#"{"name":"Konnect-ID","type":"string","jsonPath":".status.id"}"#,
    printcolumn = r#"{"name":"Active","type":"boolean","jsonPath":".status.active"}"#,
    printcolumn = r#"{"name":"Programmed","type":"string","jsonPath":".status.conditions[?(@.type==\"Programmed\")].status"}"#,
    printcolumn = r#"{"name":"Verified","type":"string","jsonPath":".status.conditions[?(@.type==\"Verified\")].status"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct KonnectDCRProviderSpec {
    /// The name of the DCR provider in the Konnect UI (`name`); defaults to metadata.name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 256))]
    pub name: Option<String>,
    /// The display name of the DCR provider in the Portal UI (`display_name`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 256))]
    pub display_name: Option<String>,
    /// The issuer of the DCR provider (`issuer`), a URL of at most 256 characters.
    #[schemars(schema_with = "url_schema")]
    pub issuer: String,
    /// `provider_type`. Cannot change after creation.
    pub provider_type: ProviderType,
    /// `dcr_config` of an `auth0` provider.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth0: Option<Auth0Config>,
    /// `dcr_config` of an `azureAd` provider.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub azure_ad: Option<ClientCredentialsConfig>,
    /// `dcr_config` of a `curity` provider.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub curity: Option<ClientCredentialsConfig>,
    /// `dcr_config` of an `okta` provider.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub okta: Option<OktaConfig>,
    /// `dcr_config` of an `http` provider.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<HttpDcrConfig>,
    /// Konnect labels (`labels`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "labels_schema")]
    pub labels: Option<BTreeMap<String, String>>,
}

/// `provider_type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum ProviderType {
    #[serde(rename = "auth0")]
    Auth0,
    #[serde(rename = "azureAd")]
    AzureAd,
    #[serde(rename = "curity")]
    Curity,
    #[serde(rename = "okta")]
    Okta,
    #[serde(rename = "http")]
    Http,
    #[serde(rename = "kongIdentity")]
    KongIdentity,
}

impl ProviderType {
    pub const ALL: [ProviderType; 6] = [
        Self::Auth0,
        Self::AzureAd,
        Self::Curity,
        Self::Okta,
        Self::Http,
        Self::KongIdentity,
    ];

    /// The wire value, also the name of the spec field holding its config (but `azureAd`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Auth0 => "auth0",
            Self::AzureAd => "azureAd",
            Self::Curity => "curity",
            Self::Okta => "okta",
            Self::Http => "http",
            Self::KongIdentity => "kongIdentity",
        }
    }

    /// The spec field holding this type's config; `None` for `kongIdentity` (no config).
    pub fn config_field(self) -> Option<&'static str> {
        match self {
            Self::KongIdentity => None,
            other => Some(other.as_str()),
        }
    }
}

/// `CreateDcrConfigAuth0InRequest`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Auth0Config {
    /// `initial_client_id`.
    #[schemars(length(min = 1, max = 256))]
    pub initial_client_id: String,
    /// The Secret key holding `initial_client_secret`.
    pub initial_client_secret_ref: SecretKeyRef,
    /// `initial_client_audience`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 256))]
    pub initial_client_audience: Option<String>,
    /// `use_developer_managed_scopes`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub use_developer_managed_scopes: Option<bool>,
}

/// `CreateDcrConfigAzureAdInRequest` / `CreateDcrConfigCurityInRequest`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClientCredentialsConfig {
    /// `initial_client_id`.
    #[schemars(length(min = 1, max = 256))]
    pub initial_client_id: String,
    /// The Secret key holding `initial_client_secret`.
    pub initial_client_secret_ref: SecretKeyRef,
}

/// `CreateDcrConfigOktaInRequest`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OktaConfig {
    /// The Secret key holding `dcr_token`.
    pub dcr_token_ref: SecretKeyRef,
}

/// `CreateDcrConfigHttpInRequest`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HttpDcrConfig {
    /// `dcr_base_url`: the base URL of the DCR server.
    #[schemars(schema_with = "url_schema")]
    pub dcr_base_url: String,
    /// The Secret key holding `api_key` (12 to 256 characters of `[a-zA-Z0-9_]`).
    pub api_key_ref: SecretKeyRef,
    /// `disable_event_hooks`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disable_event_hooks: Option<bool>,
    /// `disable_refresh_secret`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disable_refresh_secret: Option<bool>,
    /// `allow_multiple_credentials`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_multiple_credentials: Option<bool>,
}

/// Status of both kinds: the Konnect id, `active`, and the conditions.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct KonnectAppsStatus {
    /// The Konnect id of the entity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Konnect's `active`: a published entity (strategy) or an active strategy (provider) uses it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active: Option<bool>,
    /// `Programmed`, and for DCR providers `Verified`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "conditions_schema")]
    pub conditions: Vec<Condition>,
}

impl KonnectApplicationAuthStrategy {
    /// The name in Konnect.
    pub fn konnect_name(&self) -> String {
        self.spec
            .name
            .clone()
            .or_else(|| self.metadata.name.clone())
            .unwrap_or_default()
    }
}

impl KonnectDCRProvider {
    /// The name in Konnect.
    pub fn konnect_name(&self) -> String {
        self.spec
            .name
            .clone()
            .or_else(|| self.metadata.name.clone())
            .unwrap_or_default()
    }

    /// Every Secret key the provider reads: `(Konnect dcr_config field, reference)`.
    pub fn secret_refs(&self) -> Vec<(&'static str, &SecretKeyRef)> {
        let s = &self.spec;
        let mut out = Vec::new();
        match s.provider_type {
            ProviderType::Auth0 => {
                if let Some(c) = &s.auth0 {
                    out.push(("initial_client_secret", &c.initial_client_secret_ref));
                }
            }
            ProviderType::AzureAd => {
                if let Some(c) = &s.azure_ad {
                    out.push(("initial_client_secret", &c.initial_client_secret_ref));
                }
            }
            ProviderType::Curity => {
                if let Some(c) = &s.curity {
                    out.push(("initial_client_secret", &c.initial_client_secret_ref));
                }
            }
            ProviderType::Okta => {
                if let Some(c) = &s.okta {
                    out.push(("dcr_token", &c.dcr_token_ref));
                }
            }
            ProviderType::Http => {
                if let Some(c) = &s.http {
                    out.push(("api_key", &c.api_key_ref));
                }
            }
            ProviderType::KongIdentity => {}
        }
        out
    }
}

// ----- schemas ---------------------------------------------------------------------------

fn labels_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "description": "Labels store metadata of an entity that can be used for filtering an entity list or for searching across entity types. Keys must be of length 1-63 characters, and cannot start with \"kong\", \"konnect\", \"mesh\", \"kic\", or \"_\".",
        "type": "object",
        "maxProperties": 50,
        "additionalProperties": {
            "type": "string",
            "minLength": 1,
            "maxLength": 63,
            "pattern": "^[a-z0-9A-Z]{1}([a-z0-9A-Z-._]*[a-z0-9A-Z]+)?$"
        },
        "x-kubernetes-validations": [{
            "message": MSG_LABEL_KEYS,
            "rule": "self.all(k, size(k) >= 1 && size(k) <= 63 && !k.startsWith('kong') && !k.startsWith('konnect') && !k.startsWith('mesh') && !k.startsWith('kic') && !k.startsWith('_'))"
        }]
    })
}

fn string_list(max_items: u32, max_len: u32, min_items: Option<u32>) -> schemars::Schema {
    let mut v = json!({
        "type": "array",
        "maxItems": max_items,
        "items": {"type": "string", "maxLength": max_len}
    });
    if let Some(min) = min_items {
        v["minItems"] = json!(min);
    }
    schemars::Schema::try_from(v).unwrap_or_default()
}

fn key_names_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    string_list(10, 256, Some(1))
}

fn credential_claim_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    string_list(10, 128, None)
}

fn scopes_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    string_list(50, 128, None)
}

fn auth_methods_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    string_list(10, 64, None)
}

fn url_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "string",
        "minLength": 1,
        "maxLength": 256,
        "x-kubernetes-validations": [{"message": "must be a URL", "rule": "isURL(self)"}]
    })
}

fn free_form(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({"type": "object", "x-kubernetes-preserve-unknown-fields": true})
}

fn conditions_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "array",
        "x-kubernetes-list-map-keys": ["type"],
        "x-kubernetes-list-type": "map",
        "maxItems": 8,
        "items": {
            "type": "object",
            "required": ["lastTransitionTime", "message", "reason", "status", "type"],
            "properties": {
                "lastTransitionTime": {"type": "string", "format": "date-time"},
                "message": {"type": "string", "maxLength": 32768},
                "observedGeneration": {"type": "integer", "format": "int64", "minimum": 0},
                "reason": {"type": "string", "maxLength": 1024, "minLength": 1},
                "status": {"type": "string", "enum": ["True", "False", "Unknown"]},
                "type": {"type": "string", "maxLength": 316}
            }
        }
    })
}

// ----- CRDs ------------------------------------------------------------------------------

/// The CRDs of our kinds, with the per-type rules a derive cannot say.
pub fn crds() -> Vec<CustomResourceDefinition> {
    vec![strategy_crd(), provider_crd()]
}

fn with_spec_rules(crd: CustomResourceDefinition, rules: Value) -> CustomResourceDefinition {
    let mut v = serde_json::to_value(&crd).unwrap_or_default();
    if let Some(spec) = v.pointer_mut("/spec/versions/0/schema/openAPIV3Schema/properties/spec") {
        spec["x-kubernetes-validations"] = rules;
    }
    if let Some(labels) = v.pointer_mut("/metadata/labels") {
        labels["app.kubernetes.io/part-of"] = json!("konnect-plugin-operator");
    } else if let Some(meta) = v.pointer_mut("/metadata") {
        meta["labels"] = json!({"app.kubernetes.io/part-of": "konnect-plugin-operator"});
    }
    // Built from the derive's output and literals: a failure is a bug caught by the tests.
    serde_json::from_value(v).unwrap_or(crd)
}

fn strategy_crd() -> CustomResourceDefinition {
    let only = |field: &str, t: &str| {
        format!("self.type == '{t}' ? has(self.{field}) : !has(self.{field})")
    };
    with_spec_rules(
        KonnectApplicationAuthStrategy::crd(),
        json!([
            {"message": MSG_KEY_AUTH_REQUIRED, "rule": only("keyAuth", "key_auth")},
            {"message": MSG_OIDC_REQUIRED, "rule": only("openidConnect", "openid_connect")},
            {"message": MSG_DCR_ONLY_OIDC, "rule": "has(self.dcrProviderRef) ? self.type == 'openid_connect' : true"},
            {"message": MSG_STRATEGY_TYPE_IMMUTABLE, "rule": "self.type == oldSelf.type"},
        ]),
    )
}

fn provider_crd() -> CustomResourceDefinition {
    let mut rules: Vec<Value> = Vec::new();
    for t in ProviderType::ALL {
        if let Some(field) = t.config_field() {
            rules.push(json!({
                "message": format!("{field} (dcr_config) is required when providerType is {}, and allowed only then", t.as_str()),
                "rule": format!("self.providerType == '{}' ? has(self.{field}) : !has(self.{field})", t.as_str()),
            }));
        }
    }
    rules.push(json!({"message": MSG_PROVIDER_TYPE_IMMUTABLE, "rule": "self.providerType == oldSelf.providerType"}));
    with_spec_rules(KonnectDCRProvider::crd(), Value::Array(rules))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crds_are_in_our_group_with_rules() {
        for crd in crds() {
            assert_eq!(crd.spec.group, APPS_GROUP);
            let v = serde_json::to_value(&crd).unwrap();
            let rules = v
                .pointer("/spec/versions/0/schema/openAPIV3Schema/properties/spec/x-kubernetes-validations")
                .and_then(Value::as_array)
                .expect("rules");
            assert!(rules.len() >= 4);
        }
    }

    #[test]
    fn every_secret_field_is_a_reference() {
        // No string field of the provider spec is named like a secret of the API.
        let v = serde_json::to_value(KonnectDCRProvider::crd()).unwrap();
        let text = v.to_string();
        for secret in ["initialClientSecret\"", "dcrToken\"", "apiKey\""] {
            assert!(!text.contains(secret), "{secret} inline");
        }
        assert!(text.contains("initialClientSecretRef"));
        assert!(text.contains("dcrTokenRef"));
        assert!(text.contains("apiKeyRef"));
    }
}
