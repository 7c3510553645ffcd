//! Types shared by several Kong kinds.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The condition type we report on every object.
pub const CONDITION_PROGRAMMED: &str = "Programmed";

/// A reference to one key of a Secret in the referring object's namespace.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SecretKeyRef {
    /// The secret containing the key.
    pub name: String,
    /// The key containing the value.
    pub key: String,
}

/// A reference to one key of a Secret in a named namespace (cluster-scoped referrers).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct NamespacedSecretKeyRef {
    /// The namespace containing the secret.
    pub namespace: String,
    /// The secret containing the key.
    pub name: String,
    /// The key containing the value.
    pub key: String,
}

/// A reference to one key of a Secret, whichever kind of referrer holds it.
pub trait SecretRef {
    /// `(namespace, name, key)`; `referrer_namespace` is used when the reference names none
    /// (a namespaced referrer's Secrets live in its own namespace).
    fn locate<'a>(&'a self, referrer_namespace: &'a str) -> (&'a str, &'a str, &'a str);
}

impl SecretRef for SecretKeyRef {
    fn locate<'a>(&'a self, referrer_namespace: &'a str) -> (&'a str, &'a str, &'a str) {
        (referrer_namespace, &self.name, &self.key)
    }
}

impl SecretRef for NamespacedSecretKeyRef {
    fn locate<'a>(&'a self, _: &'a str) -> (&'a str, &'a str, &'a str) {
        (&self.namespace, &self.name, &self.key)
    }
}

/// Conditions plus what Kong's operator records about the Konnect entity.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct KonnectEntityStatus {
    /// ControlPlaneID is the Konnect ID of the ControlPlane this entity is associated with.
    #[serde(
        rename = "controlPlaneID",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub control_plane_id: Option<String>,
    /// ID is the unique identifier of the Konnect entity as assigned by Konnect API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// OrgID is ID of Konnect Org that this entity has been created in.
    #[serde(
        rename = "organizationID",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub organization_id: Option<String>,
    /// ServerURL is the URL of the Konnect server in which the entity exists.
    #[serde(rename = "serverURL", default, skip_serializing_if = "Option::is_none")]
    pub server_url: Option<String>,
}

/// Where Kong's operator looks for the control plane of an entity.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ControlPlaneRef {
    /// Type indicates the type of the control plane being referenced.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub type_: Option<ControlPlaneRefType>,
    /// KonnectID is the schema for the KonnectID type.
    #[serde(rename = "konnectID", default, skip_serializing_if = "Option::is_none")]
    pub konnect_id: Option<String>,
    /// KonnectNamespacedRef is a reference to a Konnect Control Plane entity inside the cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub konnect_namespaced_ref: Option<KonnectNamespacedRef>,
}

impl ControlPlaneRef {
    /// True when the reference hands the object to Kong's operator (a Konnect control plane
    /// object in the cluster); such objects are not ours to write.
    pub fn is_konnect_owned(&self) -> bool {
        matches!(self.type_, Some(ControlPlaneRefType::KonnectNamespacedRef))
            || self.konnect_namespaced_ref.is_some()
    }
}

/// The kinds of control plane reference Kong's CRDs allow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum ControlPlaneRefType {
    #[serde(rename = "konnectID")]
    KonnectId,
    #[serde(rename = "konnectNamespacedRef")]
    KonnectNamespacedRef,
    #[serde(rename = "kic")]
    Kic,
}

/// A reference to a KonnectGatewayControlPlane object.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct KonnectNamespacedRef {
    /// Name is the name of the Konnect Control Plane.
    pub name: String,
    /// Namespace is the namespace where the Konnect Control Plane is in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// Returns the `Programmed` condition of a list, if any.
pub fn programmed(conditions: &[Condition]) -> Option<&Condition> {
    conditions.iter().find(|c| c.type_ == CONDITION_PROGRAMMED)
}
