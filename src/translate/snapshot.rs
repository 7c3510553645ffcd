//! The input of translation: a plain snapshot of the cluster objects translation reads, and the
//! options that select which of them this operator serves.
//!
//! Everything I/O-bound (Secrets for `configFrom`/`configPatches`, ReferenceGrants) is already
//! in the snapshot, so translation stays a pure function.

use std::sync::Arc;

use gateway_api::gatewayclasses::GatewayClass;
use gateway_api::gateways::Gateway;
use gateway_api::httproutes::HttpRoute;
use gateway_api::referencegrants::ReferenceGrant;
use k8s_openapi::api::core::v1::{Secret, Service};
use k8s_openapi::api::networking::v1::{Ingress, IngressClass};

use crate::crd::{KongClusterPlugin, KongConsumer, KongConsumerGroup, KongPlugin};

/// The controller name KIC's Gateway API controller uses; GatewayClasses naming it are ours
/// unless a class name is configured.
pub const KIC_GATEWAY_CONTROLLER: &str = "konghq.com/kic-gateway-controller";

/// The cluster objects translation reads. Order does not matter: translation sorts them.
///
/// Objects are shared, not owned: the controller's snapshot points into its reflector stores
/// (which hold `Arc`s), so a pass copies pointers, never objects.
#[derive(Clone, Default)]
pub struct Snapshot {
    pub services: Vec<Arc<Service>>,
    pub ingresses: Vec<Arc<Ingress>>,
    pub ingress_classes: Vec<Arc<IngressClass>>,
    /// Only the Secrets something may read (the controller leaves the others out).
    pub secrets: Vec<Arc<Secret>>,
    pub http_routes: Vec<Arc<HttpRoute>>,
    pub gateways: Vec<Arc<Gateway>>,
    pub gateway_classes: Vec<Arc<GatewayClass>>,
    /// ReferenceGrants (served as v1beta1 by most clusters; the shape is the same as v1).
    pub reference_grants: Vec<Arc<ReferenceGrant>>,
    pub kong_plugins: Vec<Arc<KongPlugin>>,
    pub kong_cluster_plugins: Vec<Arc<KongClusterPlugin>>,
    pub kong_consumers: Vec<Arc<KongConsumer>>,
    pub kong_consumer_groups: Vec<Arc<KongConsumerGroup>>,
    /// Objects of the kinds above that could not be parsed; each becomes an Invalid result.
    pub malformed: Vec<MalformedObject>,
}

/// An object that could not be parsed into its type (e.g. `protocols: [gopher]`). Translation
/// reports it as Invalid with [`Self::message`]; the other objects still translate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MalformedObject {
    pub kind: &'static str,
    /// `None` for cluster-scoped kinds.
    pub namespace: Option<String>,
    pub name: String,
    /// `<field path>: <problem>`; never a Secret's content.
    pub message: String,
}

/// Debug shows counts only: the snapshot holds Secrets, whose values must never reach a log.
impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshot")
            .field("services", &self.services.len())
            .field("ingresses", &self.ingresses.len())
            .field("ingress_classes", &self.ingress_classes.len())
            .field("secrets", &self.secrets.len())
            .field("http_routes", &self.http_routes.len())
            .field("gateways", &self.gateways.len())
            .field("gateway_classes", &self.gateway_classes.len())
            .field("reference_grants", &self.reference_grants.len())
            .field("kong_plugins", &self.kong_plugins.len())
            .field("kong_cluster_plugins", &self.kong_cluster_plugins.len())
            .field("kong_consumers", &self.kong_consumers.len())
            .field("kong_consumer_groups", &self.kong_consumer_groups.len())
            .field("malformed", &self.malformed.len())
            .finish()
    }
}

impl Snapshot {
    /// Number of objects in the snapshot.
    pub fn len(&self) -> usize {
        self.services.len()
            + self.ingresses.len()
            + self.ingress_classes.len()
            + self.secrets.len()
            + self.http_routes.len()
            + self.gateways.len()
            + self.gateway_classes.len()
            + self.reference_grants.len()
            + self.kong_plugins.len()
            + self.kong_cluster_plugins.len()
            + self.kong_consumers.len()
            + self.kong_consumer_groups.len()
            + self.malformed.len()
    }

    /// True when the snapshot holds no object.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Which objects this operator serves, and how it names itself in tags.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TranslateOptions {
    /// The IngressClass name we serve (KIC's default: `kong`).
    pub ingress_class: String,
    /// True when our IngressClass is the cluster default, so objects without a class are ours.
    /// An IngressClass named [`Self::ingress_class`] in the snapshot carrying the
    /// `ingressclass.kubernetes.io/is-default-class: "true"` annotation has the same effect.
    pub ingress_class_is_default: bool,
    /// The GatewayClass names we serve. `None`: every GatewayClass whose `controllerName` is
    /// [`KIC_GATEWAY_CONTROLLER`].
    pub gateway_class: Option<String>,
    /// The owner identity written in the owner tag (`kpo-owner:<owner_tag>`); by default the UID
    /// of the `kube-system` namespace. Empty: [`Self::cluster`] is used.
    pub owner_tag: String,
    /// A human-readable cluster name; the owner identity when `owner_tag` is empty.
    pub cluster: String,
    /// KIC's `--combined-services-from-different-httproutes`: HTTPRoute rules with the same
    /// backends, from every HTTPRoute of a namespace, share one Konnect service named
    /// `httproute.<namespace>.svc.<backends>`. Off (KIC's default): one service per group of
    /// rules of one HTTPRoute sharing backends, named `httproute.<namespace>.<route>.<rule>`.
    pub combined_services_from_different_httproutes: bool,
}

impl Default for TranslateOptions {
    fn default() -> Self {
        Self {
            ingress_class: "kong".into(),
            ingress_class_is_default: false,
            gateway_class: None,
            owner_tag: String::new(),
            cluster: "default".into(),
            combined_services_from_different_httproutes: false,
        }
    }
}

impl TranslateOptions {
    /// The owner identity that goes into the owner tag.
    pub fn owner(&self) -> &str {
        if !self.owner_tag.is_empty() {
            &self.owner_tag
        } else if !self.cluster.is_empty() {
            &self.cluster
        } else {
            "default"
        }
    }
}
