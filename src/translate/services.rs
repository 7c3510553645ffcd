//! Konnect services from core Services: the ones Ingress and HTTPRoute backends use, and the
//! ones annotated with `konghq.com/plugins`. Host `<name>.<namespace>.svc` (the external name
//! for `ExternalName` Services), the Service port, KIC's defaults, and KIC's `konghq.com/*`
//! Service annotations for protocol, path, timeouts and retries.
//!
//! [`ensure_service`] makes (or extends) one in the map it is given, for the routes step;
//! [`annotated`] takes the routes' services and returns them with the annotated ones added.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::Service as K8sService;

use super::annotations as ann;
use super::result::{ObjectRef, Reason, Results};
use super::{Built, BuiltService, Index, K8sServices, ids, ns_name, source_meta};
use crate::konnect::models::{EntityId, Service};

/// Konnect services under construction, keyed by name. Boxed: a tree node holds eleven
/// entries, filled in no particular order, and a service under construction is large (at 10k
/// services inline values left about 2 MiB of empty slots).
pub(crate) type ServiceMap = BTreeMap<String, Box<BuiltService>>;

/// How a backend names its Service port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum PortRef {
    Number(i32),
    Name(String),
}

impl PortRef {
    /// KIC's canonical form in entity names: the number, or the port name.
    pub fn canonical(&self) -> String {
        match self {
            Self::Number(n) => n.to_string(),
            Self::Name(s) => s.clone(),
        }
    }
}

/// KIC's service defaults.
const DEFAULT_TIMEOUT_MS: u32 = 60_000;
const DEFAULT_RETRIES: u32 = 5;
/// Kong's upper bound on timeouts: its `timeout` type is `between = { 0, 2^31 - 2 }` (ms).
const MAX_TIMEOUT_MS: u32 = 2_147_483_646;
/// Kong's upper bound on retries.
const MAX_RETRIES: u32 = 32_767;

impl Index<'_> {
    /// Resolves a backend's port on the Service; the error names the Service.
    pub(crate) fn resolve_port(
        &self,
        namespace: &str,
        name: &str,
        port: &PortRef,
    ) -> Result<u16, (Reason, String)> {
        let Some(svc) = self.services.get(&(namespace, name)) else {
            return Err((
                Reason::ReferenceNotFound,
                format!("Service {namespace}/{name} not found"),
            ));
        };
        let ports = svc
            .spec
            .as_ref()
            .and_then(|s| s.ports.as_deref())
            .unwrap_or_default();
        let number = match port {
            PortRef::Number(n) if ports.is_empty() || ports.iter().any(|p| p.port == *n) => *n,
            PortRef::Number(n) => {
                return Err((
                    Reason::ReferenceNotFound,
                    format!("Service {namespace}/{name} has no port {n}"),
                ));
            }
            PortRef::Name(s) => {
                match ports.iter().find(|p| p.name.as_deref() == Some(s.as_str())) {
                    Some(p) => p.port,
                    None => {
                        return Err((
                            Reason::ReferenceNotFound,
                            format!("Service {namespace}/{name} has no port named {s:?}"),
                        ));
                    }
                }
            }
        };
        u16::try_from(number)
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| {
                (
                    Reason::InvalidSpec,
                    format!("port {number} is out of range"),
                )
            })
    }
}

/// Ensures the Konnect service `name` exists in `services`, built from the core Service
/// `namespace/svc_name` on `port`; adds that core Service to its plugin sources.
pub(crate) fn ensure_service(
    ix: &Index,
    services: &mut ServiceMap,
    results: &mut Results,
    name: &str,
    namespace: &str,
    svc_name: &str,
    port: u16,
) -> Option<EntityId> {
    let svc = *ix.services.get(&(namespace, svc_name))?;
    if let Some(existing) = services.get_mut(name) {
        existing.k8s_services.insert(namespace, svc_name);
        return existing.built.entity.id;
    }
    let origin = results.track("Service", &svc.metadata);
    let entity = service_entity(results, svc, name, port, &origin);
    let id = entity.id;
    let source = source_meta("Service", "", "v1", &svc.metadata, &[]);
    services.insert(
        name.to_owned(),
        Box::new(BuiltService {
            built: Built {
                entity,
                source,
                origin,
            },
            k8s_services: K8sServices::one(namespace, svc_name),
        }),
    );
    id
}

fn service_entity(
    results: &mut Results,
    svc: &K8sService,
    name: &str,
    port: u16,
    origin: &ObjectRef,
) -> Service {
    let (namespace, svc_name) = ns_name(&svc.metadata);
    let spec = svc.spec.as_ref();
    let host = match spec.and_then(|s| s.external_name.as_deref()) {
        Some(ext) if spec.and_then(|s| s.type_.as_deref()) == Some("ExternalName") => {
            ext.to_owned()
        }
        _ => format!("{svc_name}.{namespace}.svc"),
    };
    let mut service = Service {
        id: Some(ids::service_id(name)),
        name: Some(name.to_owned()),
        host,
        port: Some(port),
        protocol: Some("http".into()),
        path: Some("/".into()),
        retries: Some(DEFAULT_RETRIES),
        connect_timeout: Some(DEFAULT_TIMEOUT_MS),
        read_timeout: Some(DEFAULT_TIMEOUT_MS),
        write_timeout: Some(DEFAULT_TIMEOUT_MS),
        ..Default::default()
    };
    annotated_settings(results, svc, &mut service, origin);
    service
}

/// KIC's `konghq.com/*` Service annotations applied to `service`; a bad value is reported on
/// `origin` and ignored (the default kept).
fn annotated_settings(
    results: &mut Results,
    svc: &K8sService,
    service: &mut Service,
    origin: &ObjectRef,
) {
    let a = svc.metadata.annotations.as_ref();
    let mut errors = Vec::new();
    if let Some(v) = ann::get(a, ann::PROTOCOL) {
        match ann::protocol(v, ann::KONG_PROTOCOLS) {
            Ok(p) => service.protocol = Some(p),
            Err(e) => errors.push((ann::PROTOCOL, e)),
        }
    }
    if let Some(v) = ann::get(a, ann::PATH) {
        match ann::service_path(v) {
            Ok(p) => service.path = Some(p),
            Err(e) => errors.push((ann::PATH, e)),
        }
    }
    for (annotation, field) in [
        (ann::CONNECT_TIMEOUT, &mut service.connect_timeout),
        (ann::READ_TIMEOUT, &mut service.read_timeout),
        (ann::WRITE_TIMEOUT, &mut service.write_timeout),
    ] {
        if let Some(v) = ann::get(a, annotation) {
            match ann::bounded_u32(v, MAX_TIMEOUT_MS) {
                Ok(0) => errors.push((annotation, format!("{v:?} must be at least 1"))),
                Ok(n) => *field = Some(n),
                Err(e) => errors.push((annotation, e)),
            }
        }
    }
    if let Some(v) = ann::get(a, ann::RETRIES) {
        match ann::bounded_u32(v, MAX_RETRIES) {
            Ok(n) => service.retries = Some(n),
            Err(e) => errors.push((ann::RETRIES, e)),
        }
    }
    for (annotation, e) in errors {
        results.error(
            origin,
            Reason::InvalidAnnotation,
            format!("metadata.annotations[{annotation}]: {e}; the annotation is ignored"),
        );
    }
}

/// Services annotated with `konghq.com/plugins` that no route uses still get a Konnect
/// service per port, so their plugins have a parent: `services` (the routes' ones) with
/// those added.
pub(crate) fn annotated(ix: &Index, mut services: ServiceMap, results: &mut Results) -> ServiceMap {
    let used: BTreeSet<(&str, &str)> = services
        .values()
        .flat_map(|s| s.k8s_services.iter())
        .collect();
    let candidates: Vec<_> = ix
        .services
        .iter()
        .filter(|(key, svc)| {
            !used.contains(*key) && !ann::plugin_refs(svc.metadata.annotations.as_ref()).is_empty()
        })
        .map(|(key, svc)| (*key, *svc))
        .collect();
    for ((namespace, name), svc) in candidates {
        let listed = svc
            .spec
            .as_ref()
            .and_then(|s| s.ports.as_deref())
            .unwrap_or_default();
        let ports: Vec<u16> = listed
            .iter()
            .filter_map(|p| u16::try_from(p.port).ok().filter(|n| *n > 0))
            .collect();
        let is_external =
            svc.spec.as_ref().and_then(|s| s.type_.as_deref()) == Some("ExternalName");
        let ports = match (ports.is_empty(), listed.is_empty()) {
            (false, _) => ports,
            // An ExternalName Service may list no port: KIC's default port then.
            (true, true) if is_external => vec![80],
            (true, _) => {
                let key = results.track("Service", &svc.metadata);
                let detail = if listed.is_empty() {
                    "spec.ports: no port listed".to_owned()
                } else {
                    let bad: Vec<String> = listed.iter().map(|p| p.port.to_string()).collect();
                    format!(
                        "spec.ports: no port between 1 and 65535 (found {})",
                        bad.join(", ")
                    )
                };
                results.error(
                    &key,
                    Reason::InvalidSpec,
                    format!("{detail}; no Konnect service is created for its konghq.com/plugins"),
                );
                continue;
            }
        };
        for port in ports {
            let konnect_name = format!("{namespace}.{name}.{port}");
            ensure_service(
                ix,
                &mut services,
                results,
                &konnect_name,
                namespace,
                name,
                port,
            );
        }
    }
    services
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::*;
    use crate::translate::Reason;

    /// An Ingress with one backend by port number and one by port name.
    fn shop() -> Fixture {
        Fixture::new()
            .with(service("web", "cart").port(8080))
            .with(service("web", "front").named_port("web", 3000))
            .with(
                ingress("web", "shop")
                    .path("shop.example.com", "/cart", "Prefix", "cart", 8080)
                    .path_to_named("shop.example.com", "/", "Prefix", "front", "web"),
            )
    }

    /// KIC names an Ingress backend's service `<namespace>.<service>.<port>`, the port as the
    /// backend wrote it (`kongstate.PortDef.CanonicalString`: the number, or the port's name;
    /// internal/dataplane/translator/subtranslator/ingress.go), with KIC's defaults
    /// (translateIntoKongStateService: protocol http, path /, retries 5, timeouts 60000 ms, as
    /// tests/golden/kic-cases.py `service` cites). Host `<name>.<namespace>.svc` and the port
    /// number the name resolves to are this operator's (no upstreams; docs/compatibility.md).
    /// Ids: python3 uuid.uuid5 over go-kong's scheme ("services", the name).
    #[test]
    fn backend_services_are_named_by_port_number_or_name_with_kic_defaults() {
        let state = shop().translate();
        assert_eq!(names(&state.services), ["web.cart.8080", "web.front.web"]);
        let cart = service_named(&state, "web.cart.8080");
        assert_eq!(id(cart.id), "3cc03135-4b16-5097-8731-be5c6110d41a");
        assert_eq!(
            (cart.host.as_str(), cart.port, cart.protocol.as_deref()),
            ("cart.web.svc", Some(8080), Some("http"))
        );
        assert_eq!(cart.path.as_deref(), Some("/"));
        assert_eq!(cart.retries, Some(5));
        let timeouts = (cart.connect_timeout, cart.read_timeout, cart.write_timeout);
        assert_eq!(timeouts, (Some(60_000), Some(60_000), Some(60_000)));
        let front = service_named(&state, "web.front.web");
        assert_eq!(id(front.id), "9e0b3975-9730-5ebb-acd8-043d00ed734b");
        assert_eq!(
            (front.host.as_str(), front.port),
            ("front.web.svc", Some(3000))
        );
    }

    /// KIC's Service annotations (internal/annotations/annotations.go `ExtractProtocolName`,
    /// `ExtractPath`, `ExtractRetries`; applied by kongstate/service.go `overrideByAnnotation`):
    /// `konghq.com/protocol` and `konghq.com/path` set the service's protocol and path; a bad
    /// value is ignored (KIC logs it) and reported here on the Service, the default kept.
    #[test]
    fn service_annotations_set_protocol_and_path_and_bad_values_are_ignored() {
        let state = Fixture::new()
            .with(
                service("web", "cart")
                    .port(8080)
                    .annotation("konghq.com/protocol", "https")
                    .annotation("konghq.com/path", "/api")
                    .annotation("konghq.com/retries", "lots"),
            )
            .with(ingress("web", "shop").path("", "/", "Prefix", "cart", 8080))
            .translate();
        let cart = service_named(&state, "web.cart.8080");
        assert_eq!(cart.protocol.as_deref(), Some("https"));
        assert_eq!(cart.path.as_deref(), Some("/api"));
        assert_eq!(cart.retries, Some(5), "the bad retries value is ignored");
        let r = result(&state, "Service", "cart");
        assert_eq!(r.status.reason(), Some(Reason::InvalidAnnotation));
        assert!(
            r.message.contains("konghq.com/retries") && !r.message.contains("konghq.com/path"),
            "{}",
            r.message
        );
    }
}
