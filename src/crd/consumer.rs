//! `KongConsumer` (v1) and `KongConsumerGroup` (v1beta1).

use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, ObjectMeta};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{ControlPlaneRef, KonnectEntityStatus};
use super::generate::schema_fns;
use super::{impl_resource, type_meta};

/// KongConsumer is the Schema for the kongconsumers API.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct KongConsumer {
    #[serde(default = "type_meta::empty")]
    #[schemars(schema_with = "schema_fns::string")]
    pub api_version: String,
    #[serde(default = "type_meta::empty")]
    #[schemars(schema_with = "schema_fns::string")]
    pub kind: String,
    #[serde(default)]
    #[schemars(schema_with = "schema_fns::object")]
    pub metadata: ObjectMeta,
    /// Username is a Kong cluster-unique username of the consumer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// CustomID is a Kong cluster-unique existing ID for the consumer.
    #[serde(rename = "custom_id", default, skip_serializing_if = "Option::is_none")]
    pub custom_id: Option<String>,
    /// Credentials are references to secrets containing a credential to be provisioned in Kong.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "schema_fns::string_set")]
    pub credentials: Option<Vec<String>>,
    /// ConsumerGroups are references to consumer groups (that consumer wants to be part of).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "schema_fns::string_set")]
    pub consumer_groups: Option<Vec<String>>,
    /// KongConsumerSpec defines the specification of the KongConsumer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec: Option<KongConsumerSpec>,
    /// Status represents the current status of the KongConsumer resource.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "schema_fns::entity_status")]
    pub status: Option<EntityStatus>,
}

/// KongConsumerSpec defines the specification of the KongConsumer.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct KongConsumerSpec {
    /// ControlPlaneRef is a reference to a ControlPlane this Consumer is associated with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "schema_fns::control_plane_ref")]
    pub control_plane_ref: Option<ControlPlaneRef>,
    /// Tags is an optional set of tags applied to the consumer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "schema_fns::tags")]
    pub tags: Option<Vec<String>>,
}

/// KongConsumerGroup is the Schema for the kongconsumergroups API.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct KongConsumerGroup {
    #[serde(default = "type_meta::empty")]
    #[schemars(schema_with = "schema_fns::string")]
    pub api_version: String,
    #[serde(default = "type_meta::empty")]
    #[schemars(schema_with = "schema_fns::string")]
    pub kind: String,
    #[serde(default)]
    #[schemars(schema_with = "schema_fns::object")]
    pub metadata: ObjectMeta,
    /// KongConsumerGroupSpec defines the desired state of KongConsumerGroup.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec: Option<KongConsumerGroupSpec>,
    /// Status represents the current status of the KongConsumerGroup resource.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "schema_fns::entity_status")]
    pub status: Option<EntityStatus>,
}

/// KongConsumerGroupSpec defines the desired state of KongConsumerGroup.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct KongConsumerGroupSpec {
    /// ControlPlaneRef is a reference to a ControlPlane this ConsumerGroup is associated with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "schema_fns::control_plane_ref")]
    pub control_plane_ref: Option<ControlPlaneRef>,
    /// Name is the name of the ConsumerGroup in Kong.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Tags is an optional set of tags applied to the ConsumerGroup.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "schema_fns::tags")]
    pub tags: Option<Vec<String>>,
}

/// Status of a KongConsumer or KongConsumerGroup: conditions and the Konnect entity.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct EntityStatus {
    /// Conditions describe the current conditions of the entity.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// Konnect contains the Konnect entity status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub konnect: Option<KonnectEntityStatus>,
}

impl_resource!(
    KongConsumer,
    kind = "KongConsumer",
    version = "v1",
    plural = "kongconsumers",
    scope = NamespaceResourceScope
);
impl_resource!(
    KongConsumerGroup,
    kind = "KongConsumerGroup",
    version = "v1beta1",
    plural = "kongconsumergroups",
    scope = NamespaceResourceScope
);

impl KongConsumer {
    /// A KongConsumer with type meta filled in.
    pub fn new(namespace: &str, name: &str) -> Self {
        Self {
            api_version: Self::API_VERSION.into(),
            kind: Self::KIND.into(),
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some(namespace.into()),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    /// True when Kong's operator owns this object (its control plane is a Konnect object).
    pub fn is_konnect_owned(&self) -> bool {
        self.spec
            .as_ref()
            .and_then(|s| s.control_plane_ref.as_ref())
            .is_some_and(ControlPlaneRef::is_konnect_owned)
    }
}

impl KongConsumerGroup {
    /// A KongConsumerGroup with type meta filled in.
    pub fn new(namespace: &str, name: &str) -> Self {
        Self {
            api_version: Self::API_VERSION.into(),
            kind: Self::KIND.into(),
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some(namespace.into()),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    /// True when Kong's operator owns this object (its control plane is a Konnect object).
    pub fn is_konnect_owned(&self) -> bool {
        self.spec
            .as_ref()
            .and_then(|s| s.control_plane_ref.as_ref())
            .is_some_and(ControlPlaneRef::is_konnect_owned)
    }
}
