//! Kong-compatible custom resources: `KongPlugin`, `KongClusterPlugin` (configuration.konghq.com/v1),
//! `KongConsumer` (v1) and `KongConsumerGroup` (v1beta1).
//!
//! Kong's kinds keep their fields at the top level of the object (no `spec`), which kube-rs's
//! `CustomResource` derive cannot express, so [`kube::Resource`] is implemented by hand
//! (see [`impl_resource!`]) and the CRD manifests are assembled in [`generate`] from schemars
//! schemas plus the parts schemars cannot express (CEL rules, printer columns, defaults).
//! This module owns the types and the CRD manifests; it holds no business logic.

mod apps;
mod common;
mod consumer;
pub mod generate;
mod plugin;

pub use apps::*;
pub use common::*;
pub use consumer::*;
pub use plugin::*;

/// The API group of every Kong kind we serve.
pub const GROUP: &str = "configuration.konghq.com";

/// Implements [`kube::Resource`] for a type whose fields sit at the top level of the object.
macro_rules! impl_resource {
    ($ty:ty, kind = $kind:literal, version = $version:literal, plural = $plural:literal, scope = $scope:ty) => {
        impl kube::Resource for $ty {
            type DynamicType = ();
            type Scope = $scope;

            fn kind(_: &()) -> std::borrow::Cow<'_, str> {
                $kind.into()
            }
            fn group(_: &()) -> std::borrow::Cow<'_, str> {
                $crate::crd::GROUP.into()
            }
            fn version(_: &()) -> std::borrow::Cow<'_, str> {
                $version.into()
            }
            fn api_version(_: &()) -> std::borrow::Cow<'_, str> {
                concat!("configuration.konghq.com/", $version).into()
            }
            fn plural(_: &()) -> std::borrow::Cow<'_, str> {
                $plural.into()
            }
            fn meta(&self) -> &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
                &self.metadata
            }
            fn meta_mut(
                &mut self,
            ) -> &mut k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
                &mut self.metadata
            }
        }

        impl $ty {
            /// The `apiVersion` this type is served at.
            pub const API_VERSION: &'static str = concat!("configuration.konghq.com/", $version);
            /// The `kind` of this type.
            pub const KIND: &'static str = $kind;
        }
    };
}
pub(crate) use impl_resource;

/// Serializes `apiVersion`/`kind` from the type, whatever the struct holds, so an object built
/// in code is always accepted by the API server.
pub(crate) mod type_meta {
    /// Default for `apiVersion` when deserializing an object without it (manifests always have it).
    pub fn empty() -> String {
        String::new()
    }
}
