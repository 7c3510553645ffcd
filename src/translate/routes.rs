//! Konnect routes from Ingresses (networking.k8s.io/v1) and HTTPRoutes
//! (gateway.networking.k8s.io/v1), translated as KIC 3 does for Kong's `traditional_compatible`
//! router: one route per (Ingress, host, backend Service, port) with the paths combined, and one
//! route per HTTPRoute rule match. Backends pull their Konnect services in via [`super::services`].

use std::collections::BTreeMap;

use gateway_api::httproutes::{
    HttpRoute, HttpRouteRulesMatches, HttpRouteRulesMatchesHeadersType,
    HttpRouteRulesMatchesPathType,
};
use k8s_openapi::api::networking::v1::{HTTPIngressPath, Ingress};

use super::annotations::{self as ann, PluginRef};
use super::consumers::age_key;
use super::result::{ObjectRef, Reason};
use super::services::PortRef;
use super::snapshot::KIC_GATEWAY_CONTROLLER;
use super::{Built, BuiltRoute, Ctx, Referrer, ids, ns_name};
use crate::konnect::models::{EntityId, ForeignKey, Route};

/// Kong's prefix marking a route path as a regular expression.
const REGEX_PREFIX: &str = "~";
const GATEWAY_GROUP: &str = "gateway.networking.k8s.io";
const KONG_GROUP: &str = "configuration.konghq.com";

/// KIC 3's `PathsFromIngressPaths`: Exact -> `~/path$`; Prefix -> `~/path$` and `/path/`
/// (just `/` for the root); ImplementationSpecific -> the path as written (`/` when empty).
pub(crate) fn ingress_paths(path: &HTTPIngressPath) -> Result<Vec<String>, String> {
    let raw = path.path.as_deref().unwrap_or_default();
    match path.path_type.as_str() {
        "Prefix" => {
            let base = raw.trim_matches('/');
            if base.is_empty() {
                Ok(vec!["/".into()])
            } else {
                Ok(vec![format!("{REGEX_PREFIX}/{base}$"), format!("/{base}/")])
            }
        }
        "Exact" => Ok(vec![format!(
            "{REGEX_PREFIX}/{}$",
            raw.trim_start_matches('/')
        )]),
        "ImplementationSpecific" => Ok(vec![if raw.is_empty() {
            "/".into()
        } else {
            raw.to_owned()
        }]),
        other => Err(format!(
            "pathType {other:?} is not Exact, Prefix or ImplementationSpecific"
        )),
    }
}

/// Gateway API path match in KIC's traditional translation.
fn http_route_paths(m: &HttpRouteRulesMatches) -> Vec<String> {
    let (kind, value) = match &m.path {
        Some(p) => (
            p.r#type
                .clone()
                .unwrap_or(HttpRouteRulesMatchesPathType::PathPrefix),
            p.value.clone().unwrap_or_else(|| "/".into()),
        ),
        None => (HttpRouteRulesMatchesPathType::PathPrefix, "/".into()),
    };
    match kind {
        HttpRouteRulesMatchesPathType::Exact => vec![format!("{REGEX_PREFIX}{value}$")],
        HttpRouteRulesMatchesPathType::RegularExpression => vec![format!("{REGEX_PREFIX}{value}")],
        HttpRouteRulesMatchesPathType::PathPrefix => {
            let base = value.trim_end_matches('/');
            if base.is_empty() {
                vec!["/".into()]
            } else {
                vec![format!("{REGEX_PREFIX}{base}$"), format!("{base}/")]
            }
        }
    }
}

fn push_unique(list: &mut Vec<String>, items: impl IntoIterator<Item = String>) {
    for item in items {
        if !list.contains(&item) {
            list.push(item);
        }
    }
}

impl<'a> Ctx<'a> {
    /// Adds a route, unless another source object already generates a route of the same
    /// name (so the same id): then the older object (creation time, then namespace/name)
    /// keeps it, the newer is Invalid (`Conflict`, naming the other) and the winner carries a
    /// warning naming the loser. Two routes of one object never share a name.
    pub(crate) fn claim_route(&mut self, name: String, route: BuiltRoute<'a>) {
        let Some(existing) = self.routes.get(&name) else {
            self.routes.insert(name, route);
            return;
        };
        if existing.built.origin == route.built.origin {
            self.routes.insert(name, route);
            return;
        }
        let new_wins = (&route.age, &route.built.origin) < (&existing.age, &existing.built.origin);
        let (winner, loser) = if new_wins {
            (route.built.origin.clone(), existing.built.origin.clone())
        } else {
            (existing.built.origin.clone(), route.built.origin.clone())
        };
        self.results.error(
            &loser,
            Reason::Conflict,
            format!("route {name:?}: {winner} generates a route of the same name (same id), and is older and wins; this route is not created"),
        );
        self.results.warn(
            &winner,
            format!("route {name:?}: {loser} generates a route of the same name too; it is newer, and refused"),
        );
        if new_wins {
            self.routes.insert(name, route);
        }
    }

    fn ingress_is_ours(&self, ingress: &Ingress) -> bool {
        let annotation = ann::get(ingress.metadata.annotations.as_ref(), ann::INGRESS_CLASS);
        let spec_class = ingress
            .spec
            .as_ref()
            .and_then(|s| s.ingress_class_name.as_deref());
        match annotation.or(spec_class) {
            Some(class) => class.trim() == self.opts.ingress_class,
            None => self.ix.default_class,
        }
    }

    /// Routes (and their services) from every Ingress of our class.
    pub(crate) fn ingresses(&mut self) {
        let ingresses: Vec<&Ingress> = self.ix.ingresses.values().copied().collect();
        for ingress in ingresses {
            if self.ingress_is_ours(ingress) {
                self.ingress(ingress);
            }
        }
    }

    fn ingress(&mut self, ingress: &'a Ingress) {
        let key = self.results.track("Ingress", &ingress.metadata);
        let (namespace, name) = ns_name(&ingress.metadata);
        let Some(spec) = ingress.spec.as_ref() else {
            return;
        };
        if spec.default_backend.is_some() {
            self.results.warn(
                &key,
                "spec.defaultBackend is not translated: Konnect routes need a host or path; add a rule with path / instead",
            );
        }
        // (route name) -> (host, konnect service id, paths), in rule order.
        let mut groups: BTreeMap<String, (String, EntityId, Vec<String>)> = BTreeMap::new();
        for (ri, rule) in spec.rules.iter().flatten().enumerate() {
            let host = rule.host.clone().unwrap_or_default();
            for (pi, path) in rule.http.iter().flat_map(|h| h.paths.iter()).enumerate() {
                let field = format!("spec.rules[{ri}].http.paths[{pi}]");
                let Some(backend) = path.backend.service.as_ref() else {
                    self.results.error(
                        &key,
                        Reason::Unsupported,
                        format!("{field}.backend: only Service backends are supported"),
                    );
                    continue;
                };
                let port = match backend.port.as_ref() {
                    Some(p) => {
                        match (&p.number, &p.name) {
                            (Some(n), _) => PortRef::Number(*n),
                            (None, Some(s)) => PortRef::Name(s.clone()),
                            (None, None) => {
                                self.results.error(&key, Reason::InvalidSpec, format!("{field}.backend.service.port: a number or a name is required"));
                                continue;
                            }
                        }
                    }
                    None => {
                        self.results.error(
                            &key,
                            Reason::InvalidSpec,
                            format!("{field}.backend.service.port: a number or a name is required"),
                        );
                        continue;
                    }
                };
                let paths = match ingress_paths(path) {
                    Ok(p) => p,
                    Err(e) => {
                        self.results.error(
                            &key,
                            Reason::InvalidSpec,
                            format!("{field}.pathType: {e}"),
                        );
                        continue;
                    }
                };
                let port_number = match self.resolve_port(&namespace, &backend.name, &port) {
                    Ok(n) => n,
                    Err((reason, e)) => {
                        self.results
                            .error(&key, reason, format!("{field}.backend.service: {e}"));
                        continue;
                    }
                };
                let service_name = format!("{namespace}.{}.{}", backend.name, port.canonical());
                let Some(service_id) =
                    self.ensure_service(&service_name, &namespace, &backend.name, port_number)
                else {
                    continue;
                };
                // Kong refuses `*` in names: KIC writes `_` for a wildcard host.
                let route_name = format!(
                    "{namespace}.{name}.{}.{}.{}",
                    backend.name,
                    host.replace('*', "_"),
                    port.canonical()
                );
                let entry = groups
                    .entry(route_name)
                    .or_insert_with(|| (host.clone(), service_id, Vec::new()));
                push_unique(&mut entry.2, paths);
            }
        }
        if groups.is_empty() {
            return;
        }
        let overrides = self.route_overrides(ingress.metadata.annotations.as_ref(), &key);
        let referrer = Referrer {
            key: key.clone(),
            group: "networking.k8s.io",
            namespace: namespace.clone(),
            annotations: ingress.metadata.annotations.as_ref(),
        };
        let source =
            Self::source_meta("Ingress", "networking.k8s.io", "v1", &ingress.metadata, &[]);
        for (route_name, (host, service_id, paths)) in groups {
            let mut route = Route {
                id: Some(ids::route_id(&route_name)),
                name: Some(route_name.clone()),
                service: Some(ForeignKey::new(service_id)),
                protocols: Some(vec!["http".into(), "https".into()]),
                hosts: (!host.is_empty()).then(|| vec![host]),
                paths: Some(paths),
                strip_path: Some(false),
                preserve_host: Some(true),
                regex_priority: Some(0),
                request_buffering: Some(true),
                response_buffering: Some(true),
                ..Default::default()
            };
            overrides.apply(&mut route);
            self.claim_route(
                route_name,
                BuiltRoute {
                    built: Built {
                        entity: route,
                        source: source.clone(),
                        origin: key.clone(),
                    },
                    referrer: referrer.clone(),
                    extra_plugins: Vec::new(),
                    age: age_key(&ingress.metadata),
                },
            );
        }
    }

    /// Parses KIC's route annotations; a bad value is reported and ignored (KIC ignores it too).
    fn route_overrides(&mut self, a: Option<&ann::Annotations>, key: &ObjectRef) -> RouteOverrides {
        let mut o = RouteOverrides::default();
        let mut errors: Vec<(String, String)> = Vec::new();
        macro_rules! parse {
            ($name:expr, $parser:expr, $field:ident) => {
                if let Some(v) = ann::get(a, $name) {
                    match $parser(v) {
                        Ok(x) => o.$field = Some(x),
                        Err(e) => errors.push(($name.to_string(), e)),
                    }
                }
            };
        }
        parse!(
            ann::PROTOCOLS,
            |v| ann::protocols(v, ann::KONG_PROTOCOLS),
            protocols
        );
        parse!(ann::STRIP_PATH, ann::boolean, strip_path);
        parse!(ann::METHODS, ann::methods, methods);
        parse!(ann::PRESERVE_HOST, ann::boolean, preserve_host);
        parse!(ann::REQUEST_BUFFERING, ann::boolean, request_buffering);
        parse!(ann::RESPONSE_BUFFERING, ann::boolean, response_buffering);
        parse!(ann::REGEX_PRIORITY, ann::integer, regex_priority);
        parse!(
            ann::HTTPS_REDIRECT_STATUS_CODE,
            |v: &str| match v.trim().parse::<u16>() {
                Ok(code) if ann::REDIRECT_CODES.contains(&code) => Ok(code),
                _ => Err(format!("{v:?} is not one of 426, 301, 302, 307, 308")),
            },
            https_redirect_status_code
        );
        parse!(
            ann::PATH_HANDLING,
            |v: &str| {
                let v = v.trim().to_ascii_lowercase();
                if ann::PATH_HANDLINGS.contains(&v.as_str()) {
                    Ok(v)
                } else {
                    Err(format!("{v:?} is not v0 or v1"))
                }
            },
            path_handling
        );
        match ann::headers(a) {
            Ok(h) if !h.is_empty() => o.headers = Some(h),
            Ok(_) => {}
            Err(e) => errors.push(("konghq.com/headers.*".into(), e)),
        }
        for (name, e) in errors {
            self.results.error(
                key,
                Reason::InvalidAnnotation,
                format!("metadata.annotations[{name}]: {e}; the annotation is ignored"),
            );
        }
        o
    }

    fn http_route_is_ours(&self, route: &HttpRoute) -> bool {
        let (namespace, _) = ns_name(&route.metadata);
        route.spec.parent_refs.iter().flatten().any(|parent| {
            if parent.group.as_deref().unwrap_or(GATEWAY_GROUP) != GATEWAY_GROUP
                || parent.kind.as_deref().unwrap_or("Gateway") != "Gateway"
            {
                return false;
            }
            let ns = parent
                .namespace
                .clone()
                .unwrap_or_else(|| namespace.clone());
            let Some(gateway) = self.ix.gateways.get(&(ns.as_str(), parent.name.as_str())) else {
                return false;
            };
            let class = &gateway.spec.gateway_class_name;
            match &self.opts.gateway_class {
                Some(ours) => class == ours,
                None => self
                    .ix
                    .gateway_classes
                    .get(class.as_str())
                    .is_some_and(|c| c.spec.controller_name == KIC_GATEWAY_CONTROLLER),
            }
        })
    }

    /// Routes (and their services) from every HTTPRoute attached to one of our Gateways.
    pub(crate) fn http_routes(&mut self) {
        let routes: Vec<&HttpRoute> = self.ix.http_routes.values().copied().collect();
        for route in routes {
            if self.http_route_is_ours(route) {
                self.http_route(route);
            }
        }
    }

    fn http_route(&mut self, http_route: &'a HttpRoute) {
        let key = self.results.track("HTTPRoute", &http_route.metadata);
        let (namespace, name) = ns_name(&http_route.metadata);
        let hostnames = http_route.spec.hostnames.clone().filter(|h| !h.is_empty());
        let referrer = Referrer {
            key: key.clone(),
            group: GATEWAY_GROUP,
            namespace: namespace.clone(),
            annotations: http_route.metadata.annotations.as_ref(),
        };
        let source = Self::source_meta("HTTPRoute", GATEWAY_GROUP, "v1", &http_route.metadata, &[]);
        for (ri, rule) in http_route.spec.rules.iter().flatten().enumerate() {
            let field = format!("spec.rules[{ri}]");
            let mut extra_plugins = Vec::new();
            for (fi, filter) in rule.filters.iter().flatten().enumerate() {
                match &filter.extension_ref {
                    Some(ext) if ext.group == KONG_GROUP && ext.kind == "KongPlugin" => {
                        extra_plugins.push(PluginRef { namespace: None, name: ext.name.clone() });
                    }
                    _ => self.results.warn(
                        &key,
                        format!("{field}.filters[{fi}]: only ExtensionRef filters naming a KongPlugin are translated; this filter is ignored"),
                    ),
                }
            }
            // Backends: (namespace, name, port, weight).
            let mut backends: Vec<(String, String, u16, i32)> = Vec::new();
            for (bi, backend) in rule.backend_refs.iter().flatten().enumerate() {
                let bfield = format!("{field}.backendRefs[{bi}]");
                if backend.group.as_deref().unwrap_or_default() != ""
                    || backend.kind.as_deref().unwrap_or("Service") != "Service"
                {
                    self.results.error(
                        &key,
                        Reason::Unsupported,
                        format!("{bfield}: only core Service backends are supported"),
                    );
                    continue;
                }
                if backend.filters.as_ref().is_some_and(|f| !f.is_empty()) {
                    self.results.warn(
                        &key,
                        format!("{bfield}.filters: backend filters are not translated; ignored"),
                    );
                }
                let bns = backend
                    .namespace
                    .clone()
                    .unwrap_or_else(|| namespace.clone());
                if bns != namespace
                    && !self.grant_allows(
                        (GATEWAY_GROUP, "HTTPRoute", &namespace),
                        &bns,
                        ("", "Service", &backend.name),
                    )
                {
                    self.results.error(
                        &key,
                        Reason::ReferenceNotPermitted,
                        format!("{bfield}: no ReferenceGrant in namespace {bns} allows HTTPRoutes from {namespace} to use Service {}", backend.name),
                    );
                    continue;
                }
                let Some(port) = backend.port else {
                    self.results.error(
                        &key,
                        Reason::InvalidSpec,
                        format!("{bfield}.port: required for a Service backend"),
                    );
                    continue;
                };
                let number = match self.resolve_port(&bns, &backend.name, &PortRef::Number(port)) {
                    Ok(n) => n,
                    Err((reason, e)) => {
                        self.results.error(&key, reason, format!("{bfield}: {e}"));
                        continue;
                    }
                };
                // The API server fills `weight: 1` when it is absent (the Gateway API CRD's
                // default, sigs.k8s.io/gateway-api config/crd/standard/
                // gateway.networking.k8s.io_httproutes.yaml, backendRefs.weight), so KIC always
                // sees a weight and names the service with it; a manifest read from a file must
                // give the same name.
                let weight = backend.weight.unwrap_or(1);
                if weight == 0 {
                    continue;
                }
                backends.push((bns, backend.name.clone(), number, weight));
            }
            let Some(first) = backends.first().cloned() else {
                self.results.error(
                    &key,
                    Reason::InvalidSpec,
                    format!("{field}.backendRefs: no usable backend; the rule is not translated"),
                );
                continue;
            };
            if backends.len() > 1 {
                self.results.warn(
                    &key,
                    format!("{field}.backendRefs: Konnect services have one host; traffic goes to Service {}/{} (weighted balancing needs a Kong upstream, which this operator does not manage)", first.0, first.1),
                );
            }
            let joined: Vec<String> = backends
                .iter()
                .map(|(ns, n, p, w)| format!("{ns}.{n}.{p}.{w}"))
                .collect();
            let service_name = format!("httproute.{namespace}.svc.{}", joined.join("_"));
            let Some(service_id) = self.ensure_service(&service_name, &first.0, &first.1, first.2)
            else {
                continue;
            };
            for (ns, n, _, _) in backends.iter().skip(1) {
                if let Some(s) = self.services.get_mut(&service_name) {
                    s.k8s_services.insert((ns.clone(), n.clone()));
                }
            }
            let default_match = [HttpRouteRulesMatches::default()];
            let matches: &[HttpRouteRulesMatches] = match rule.matches.as_deref() {
                Some(m) if !m.is_empty() => m,
                _ => &default_match,
            };
            for (mi, m) in matches.iter().enumerate() {
                let mfield = format!("{field}.matches[{mi}]");
                if m.query_params.as_ref().is_some_and(|q| !q.is_empty()) {
                    self.results.error(
                        &key,
                        Reason::Unsupported,
                        format!("{mfield}.queryParams: query parameter matches need Kong's expressions router; Konnect routes in traditional_compatible form cannot express them, so this match is not translated"),
                    );
                    continue;
                }
                let mut headers: BTreeMap<String, Vec<String>> = BTreeMap::new();
                for h in m.headers.iter().flatten() {
                    let value = match h.r#type {
                        Some(HttpRouteRulesMatchesHeadersType::RegularExpression) => {
                            format!("~*{}", h.value)
                        }
                        _ => h.value.clone(),
                    };
                    headers
                        .entry(h.name.to_ascii_lowercase())
                        .or_default()
                        .push(value);
                }
                let route_name = format!("httproute.{namespace}.{name}.{ri}.{mi}");
                let method = m
                    .method
                    .as_ref()
                    .and_then(|m| serde_json::to_value(m).ok())
                    .and_then(|v| v.as_str().map(str::to_owned));
                let route = Route {
                    id: Some(ids::route_id(&route_name)),
                    name: Some(route_name.clone()),
                    service: Some(ForeignKey::new(service_id)),
                    protocols: Some(vec!["http".into(), "https".into()]),
                    methods: method.map(|m| vec![m]),
                    hosts: hostnames.clone(),
                    paths: Some(http_route_paths(m)),
                    headers: (!headers.is_empty()).then_some(headers),
                    strip_path: Some(false),
                    preserve_host: Some(true),
                    ..Default::default()
                };
                self.claim_route(
                    route_name,
                    BuiltRoute {
                        built: Built {
                            entity: route,
                            source: source.clone(),
                            origin: key.clone(),
                        },
                        referrer: referrer.clone(),
                        extra_plugins: extra_plugins.clone(),
                        age: age_key(&http_route.metadata),
                    },
                );
            }
        }
    }
}

/// KIC's route annotations, parsed.
#[derive(Default)]
struct RouteOverrides {
    protocols: Option<Vec<String>>,
    strip_path: Option<bool>,
    methods: Option<Vec<String>>,
    preserve_host: Option<bool>,
    request_buffering: Option<bool>,
    response_buffering: Option<bool>,
    regex_priority: Option<i64>,
    https_redirect_status_code: Option<u16>,
    path_handling: Option<String>,
    headers: Option<BTreeMap<String, Vec<String>>>,
}

impl RouteOverrides {
    fn apply(&self, route: &mut Route) {
        macro_rules! set {
            ($($f:ident),*) => {$(
                if let Some(v) = &self.$f {
                    route.$f = Some(v.clone());
                }
            )*};
        }
        set!(
            protocols,
            strip_path,
            methods,
            preserve_host,
            request_buffering,
            response_buffering,
            regex_priority,
            https_redirect_status_code,
            path_handling,
            headers
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(p: &str, t: &str) -> HTTPIngressPath {
        HTTPIngressPath {
            path: Some(p.into()),
            path_type: t.into(),
            ..Default::default()
        }
    }

    #[test]
    fn ingress_paths_follow_kic3() {
        assert_eq!(
            ingress_paths(&path("/echo", "Prefix")).ok(),
            Some(vec!["~/echo$".into(), "/echo/".into()])
        );
        assert_eq!(
            ingress_paths(&path("/echo/", "Prefix")).ok(),
            Some(vec!["~/echo$".into(), "/echo/".into()])
        );
        assert_eq!(
            ingress_paths(&path("/", "Prefix")).ok(),
            Some(vec!["/".into()])
        );
        assert_eq!(
            ingress_paths(&path("/a/b", "Exact")).ok(),
            Some(vec!["~/a/b$".into()])
        );
        assert_eq!(
            ingress_paths(&path("/x", "ImplementationSpecific")).ok(),
            Some(vec!["/x".into()])
        );
        assert_eq!(
            ingress_paths(&path("", "ImplementationSpecific")).ok(),
            Some(vec!["/".into()])
        );
        assert!(ingress_paths(&path("/x", "Regex")).is_err());
    }
}
