//! Konnect routes from Ingresses (networking.k8s.io/v1) and HTTPRoutes
//! (gateway.networking.k8s.io/v1), translated as KIC 3 does for Kong's `traditional_compatible`
//! router: one route per (Ingress, host, backend Service, port) with the paths combined, and one
//! route per HTTPRoute rule match. Backends pull their Konnect services in via [`super::services`].
//!
//! [`build`] returns the routes and those services ([`Routes`]); a private `Step` carries the
//! index, options and results sink through the Ingress and HTTPRoute functions.

use std::collections::BTreeMap;

use gateway_api::gateways::GatewayListeners;
use gateway_api::httproutes::{
    HttpRoute, HttpRouteParentRefs, HttpRouteRules, HttpRouteRulesBackendRefs,
    HttpRouteRulesMatches, HttpRouteRulesMatchesHeadersType, HttpRouteRulesMatchesPathType,
};
use k8s_openapi::api::networking::v1::{
    HTTPIngressPath, Ingress, IngressServiceBackend, IngressSpec,
};

use super::KONG_GROUP;
use super::annotations::{self as ann, PluginRef};
use super::consumers::age_key;
use super::result::{ObjectRef, Reason, Results};
use super::services::{self, PortRef, ServiceMap};
use super::snapshot::{KIC_GATEWAY_CONTROLLER, TranslateOptions};
use super::{Built, BuiltRoute, Index, Referrer, ids, ns_key, ns_name, source_meta};
use crate::konnect::models::{EntityId, ForeignKey, Route};

/// Kong's prefix marking a route path as a regular expression.
const REGEX_PREFIX: &str = "~";
const GATEWAY_GROUP: &str = "gateway.networking.k8s.io";

/// KIC's default marker of a regular-expression Ingress path (`ControllerPathRegexPrefix`);
/// `konghq.com/regex-prefix` replaces it.
const CONTROLLER_REGEX_PREFIX: &str = "/~";

/// KIC's `flattenMultipleSlashes`: runs of `/` become one.
fn flatten_slashes(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for c in path.chars() {
        if c == '/' && out.ends_with('/') {
            continue;
        }
        out.push(c);
    }
    out
}

/// The Kong paths of one Ingress path, as KIC's `ingressTranslationIndex.Add` and
/// `PathsFromIngressPaths` (internal/dataplane/translator/subtranslator/ingress.go) make them:
/// repeated slashes flattened, an empty path read as `/`; Prefix -> `/path/` then `~/path$`
/// (just `/` for the root); Exact -> `~/path$`; ImplementationSpecific -> the path as written.
/// Then `MaybePrependRegexPrefix`: a path starting with `regex_prefix` (KIC's `/~`, or the
/// Ingress's `konghq.com/regex-prefix`) is a regular expression, that prefix replaced by `~`.
pub(crate) fn ingress_paths(
    path: &HTTPIngressPath,
    regex_prefix: &str,
) -> Result<Vec<String>, String> {
    let mut raw = flatten_slashes(path.path.as_deref().unwrap_or_default());
    if raw.is_empty() {
        raw = "/".into();
    }
    let paths = match path.path_type.as_str() {
        "Prefix" => {
            let base = raw.trim_matches('/');
            if base.is_empty() {
                vec!["/".into()]
            } else {
                vec![format!("/{base}/"), format!("{REGEX_PREFIX}/{base}$")]
            }
        }
        "Exact" => vec![format!("{REGEX_PREFIX}/{}$", raw.trim_start_matches('/'))],
        "ImplementationSpecific" => vec![raw],
        other => {
            return Err(format!(
                "pathType {other:?} is not Exact, Prefix or ImplementationSpecific"
            ));
        }
    };
    Ok(paths
        .into_iter()
        // Go's strings.Replace(path, prefix, "~", 1): an empty prefix puts `~` in front.
        .map(|p| match p.strip_prefix(regex_prefix) {
            Some(rest) => format!("{REGEX_PREFIX}{rest}"),
            None => p,
        })
        .collect())
}

/// Gateway API path match, as KIC's `generateKongRoutePathFromHTTPRouteMatch`: Exact ->
/// `~<value>$`; RegularExpression -> `~<value>`; PathPrefix -> `~<value>$` and `<value>/`
/// (`<value>` when it already ends with `/`). A match without a path is the API server's
/// default, PathPrefix `/`.
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
            let prefix = if value.ends_with('/') {
                value.clone()
            } else {
                format!("{value}/")
            };
            vec![format!("{REGEX_PREFIX}{value}$"), prefix]
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

/// The routes step's output.
#[derive(Default)]
pub(crate) struct Routes<'a> {
    /// Routes keyed by their name.
    pub routes: BTreeMap<String, BuiltRoute<'a>>,
    /// The Konnect services of the routes' backends.
    pub services: ServiceMap,
}

/// The routes (and the services of their backends) of every Ingress of our class, then of
/// every HTTPRoute attached to one of our Gateways.
pub(crate) fn build<'a>(
    ix: &Index<'a>,
    opts: &TranslateOptions,
    results: &mut Results,
) -> Routes<'a> {
    let mut step = Step {
        ix,
        opts,
        results,
        out: Routes::default(),
    };
    step.ingresses();
    step.http_routes();
    step.out
}

/// The step in progress.
struct Step<'s, 'a> {
    ix: &'s Index<'a>,
    opts: &'s TranslateOptions,
    results: &'s mut Results,
    out: Routes<'a>,
}

impl<'a> Step<'_, 'a> {
    /// [`services::ensure_service`] on this step's services.
    fn ensure_service(
        &mut self,
        name: &str,
        namespace: &str,
        svc_name: &str,
        port: u16,
    ) -> Option<EntityId> {
        let services = &mut self.out.services;
        services::ensure_service(
            self.ix,
            services,
            self.results,
            name,
            namespace,
            svc_name,
            port,
        )
    }

    /// Adds a route, unless another source object already generates a route of the same
    /// name (so the same id): then the older object (creation time, then namespace/name)
    /// keeps it, the newer is Invalid (`Conflict`, naming the other) and the winner carries a
    /// warning naming the loser. Two routes of one object never share a name.
    fn claim_route(&mut self, name: String, route: BuiltRoute<'a>) {
        let Some(existing) = self.out.routes.get(&name) else {
            self.out.routes.insert(name, route);
            return;
        };
        if existing.built.origin == route.built.origin {
            self.out.routes.insert(name, route);
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
            self.out.routes.insert(name, route);
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
    fn ingresses(&mut self) {
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
        let regex_prefix = ann::get(ingress.metadata.annotations.as_ref(), ann::REGEX_PREFIX)
            .unwrap_or(CONTROLLER_REGEX_PREFIX);
        let of = IngressOf {
            key: &key,
            namespace: &namespace,
            name: &name,
            regex_prefix,
        };
        let groups = self.ingress_groups(&of, spec);
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
        let source = source_meta("Ingress", "networking.k8s.io", "v1", &ingress.metadata, &[]);
        for (route_name, group) in groups {
            let mut route = ingress_route(&route_name, group);
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

    /// The paths of an Ingress grouped by route name (host, backend Service and port), in
    /// rule order; a path that cannot be translated is reported and left out.
    fn ingress_groups(
        &mut self,
        of: &IngressOf,
        spec: &IngressSpec,
    ) -> BTreeMap<String, IngressGroup> {
        let mut groups: BTreeMap<String, IngressGroup> = BTreeMap::new();
        for (ri, rule) in spec.rules.iter().flatten().enumerate() {
            let host = rule.host.clone().unwrap_or_default();
            for (pi, path) in rule.http.iter().flat_map(|h| h.paths.iter()).enumerate() {
                let field = format!("spec.rules[{ri}].http.paths[{pi}]");
                let Some((route_name, service_id, paths)) =
                    self.ingress_path(of, &host, &field, path)
                else {
                    continue;
                };
                let entry = groups.entry(route_name).or_insert_with(|| IngressGroup {
                    host: host.clone(),
                    service_id,
                    paths: Vec::new(),
                });
                push_unique(&mut entry.paths, paths);
            }
        }
        groups
    }

    /// One Ingress path: its route name, the id of its backend's Konnect service (made here)
    /// and its Kong paths; `None` when it cannot be translated (reported on the Ingress).
    fn ingress_path(
        &mut self,
        of: &IngressOf,
        host: &str,
        field: &str,
        path: &HTTPIngressPath,
    ) -> Option<(String, EntityId, Vec<String>)> {
        let (key, namespace) = (of.key, of.namespace);
        let Some(backend) = path.backend.service.as_ref() else {
            self.results.error(
                key,
                Reason::Unsupported,
                format!("{field}.backend: only Service backends are supported"),
            );
            return None;
        };
        let Some(port) = backend_port(backend) else {
            self.results.error(
                key,
                Reason::InvalidSpec,
                format!("{field}.backend.service.port: a number or a name is required"),
            );
            return None;
        };
        let paths = match ingress_paths(path, of.regex_prefix) {
            Ok(p) => p,
            Err(e) => {
                self.results
                    .error(key, Reason::InvalidSpec, format!("{field}.pathType: {e}"));
                return None;
            }
        };
        let port_number = match self.ix.resolve_port(namespace, &backend.name, &port) {
            Ok(n) => n,
            Err((reason, e)) => {
                self.results
                    .error(key, reason, format!("{field}.backend.service: {e}"));
                return None;
            }
        };
        let service_name = format!("{namespace}.{}.{}", backend.name, port.canonical());
        let service_id =
            self.ensure_service(&service_name, namespace, &backend.name, port_number)?;
        // Kong refuses `*` in names: KIC writes `_` for a wildcard host.
        let route_name = format!(
            "{namespace}.{}.{}.{}.{}",
            of.name,
            backend.name,
            host.replace('*', "_"),
            port.canonical()
        );
        Some((route_name, service_id, paths))
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
        parse!(ann::STRIP_PATH, ann::true_or_false, strip_path);
        parse!(ann::METHODS, ann::methods, methods);
        parse!(ann::PRESERVE_HOST, ann::true_or_false, preserve_host);
        parse!(ann::HOST_ALIASES, ann::host_aliases, host_aliases);
        parse!(ann::SNIS, ann::snis, snis);
        // KIC's HasForceSSLRedirectAnnotation: exactly "true".
        o.force_ssl_redirect = ann::get(a, ann::FORCE_SSL_REDIRECT) == Some("true");
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
                // KIC takes the value as written (`v\d`); Kong knows v0 and v1.
                if ann::PATH_HANDLINGS.contains(&v) {
                    Ok(v.to_owned())
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

    /// The parentRefs of an HTTPRoute that name a Gateway of our class, with that Gateway.
    fn our_parents(
        &self,
        route: &'a HttpRoute,
    ) -> Vec<(&'a HttpRouteParentRefs, &'a gateway_api::gateways::Gateway)> {
        let (namespace, _) = ns_key(&route.metadata);
        route
            .spec
            .parent_refs
            .iter()
            .flatten()
            .filter(|parent| {
                parent.group.as_deref().unwrap_or(GATEWAY_GROUP) == GATEWAY_GROUP
                    && parent.kind.as_deref().unwrap_or("Gateway") == "Gateway"
            })
            .filter_map(|parent| {
                let ns = parent.namespace.as_deref().unwrap_or(namespace);
                let gateway = *self.ix.gateways.get(&(ns, parent.name.as_str()))?;
                let class = &gateway.spec.gateway_class_name;
                let ours = match &self.opts.gateway_class {
                    Some(c) => class == c,
                    None => self
                        .ix
                        .gateway_classes
                        .get(class.as_str())
                        .is_some_and(|c| c.spec.controller_name == KIC_GATEWAY_CONTROLLER),
                };
                ours.then_some((parent, gateway))
            })
            .collect()
    }

    /// The listeners of our Gateways an HTTPRoute attaches to: the one its parentRef names by
    /// `sectionName`, else all of the Gateway's.
    fn http_route_listeners(&self, route: &'a HttpRoute) -> Vec<&'a GatewayListeners> {
        self.our_parents(route)
            .into_iter()
            .flat_map(|(parent, gateway)| {
                gateway.spec.listeners.iter().filter(|l| {
                    parent
                        .section_name
                        .as_deref()
                        .is_none_or(|section| section == l.name)
                })
            })
            .collect()
    }

    fn http_route_is_ours(&self, route: &'a HttpRoute) -> bool {
        !self.our_parents(route).is_empty()
    }

    /// Routes (and their services) from every HTTPRoute attached to one of our Gateways.
    fn http_routes(&mut self) {
        let routes: Vec<&HttpRoute> = self.ix.http_routes.values().copied().collect();
        for route in routes {
            if self.http_route_is_ours(route) {
                self.http_route(route);
            }
        }
    }

    /// One HTTPRoute, as KIC's `TranslateHTTPRoutesToKongstateServices`
    /// (internal/dataplane/translator/subtranslator/httproute.go) translates it for the
    /// traditional router: its rules grouped by backendRefs (one Konnect service per group),
    /// each group's rules grouped by filters, and within those the matches with the same
    /// method, headers and query parameters merged into one route, named after the first.
    fn http_route(&mut self, http_route: &'a HttpRoute) {
        let key = self.results.track("HTTPRoute", &http_route.metadata);
        let (namespace, name) = ns_name(&http_route.metadata);
        let shape = RouteShape {
            prefix: format!("httproute.{namespace}.{name}"),
            hostnames: http_route.spec.hostnames.clone().filter(|h| !h.is_empty()),
            protocols: listener_protocols(&self.http_route_listeners(http_route)),
        };
        let overrides = self.route_overrides(http_route.metadata.annotations.as_ref(), &key);
        let referrer = Referrer {
            key: key.clone(),
            group: GATEWAY_GROUP,
            namespace: namespace.clone(),
            annotations: http_route.metadata.annotations.as_ref(),
        };
        let source = source_meta("HTTPRoute", GATEWAY_GROUP, "v1", &http_route.metadata, &[]);
        let rules: Vec<HttpRule<'a>> = http_route
            .spec
            .rules
            .iter()
            .flatten()
            .enumerate()
            .map(|(ri, rule)| self.http_rule(&key, &namespace, ri, rule))
            .collect();
        // KIC's groupRulesByBackendRefs: groups in order of their first rule.
        for group in group_by(&rules, |r| &r.backend_key) {
            let Some(service_id) = self.http_service(&key, &namespace, &name, &group) else {
                continue;
            };
            // groupRulesByFilter, then the match groups of translateHTTPRouteRulesMetaToKongstateRoutes.
            for rules_with_same_filters in group_by(group, |r| &r.filter_key) {
                let extra_plugins = rules_with_same_filters[0].extra_plugins.clone();
                let routes =
                    self.http_rule_routes(&key, &shape, service_id, &rules_with_same_filters);
                for mut route in routes {
                    overrides.apply(&mut route);
                    let route_name = route.name.clone().unwrap_or_default();
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

    /// The Konnect service of one group of rules with the same backendRefs, made from its
    /// first rule's first usable backend (KIC's default names it after that rule); `None`,
    /// reported on each rule, when that rule has no usable backend.
    fn http_service(
        &mut self,
        key: &ObjectRef,
        namespace: &str,
        name: &str,
        group: &[&HttpRule<'a>],
    ) -> Option<EntityId> {
        let first = group[0];
        let Some(backend) = first.backends.first().cloned() else {
            for rule in group {
                self.results.error(
                    key,
                    Reason::InvalidSpec,
                    format!(
                        "spec.rules[{}].backendRefs: no usable backend; the rule is not translated",
                        rule.index
                    ),
                );
            }
            return None;
        };
        if first.backends.len() > 1 {
            for rule in group {
                self.results.warn(
                    key,
                    format!("spec.rules[{}].backendRefs: Konnect services have one host; traffic goes to Service {}/{} (weighted balancing needs a Kong upstream, which this operator does not manage)", rule.index, backend.0, backend.1),
                );
            }
        }
        let service_name = if self.opts.combined_services_from_different_httproutes {
            combined_service_name(namespace, &first.backend_names)
        } else {
            // groupRulesFromHTTPRoutesByKongServiceName, KIC's default.
            format!("httproute.{namespace}.{name}.{}", first.index)
        };
        let service_id = self.ensure_service(&service_name, &backend.0, &backend.1, backend.2)?;
        for (ns, n, _, _) in first.backends.iter().skip(1) {
            if let Some(s) = self.out.services.get_mut(&service_name) {
                s.k8s_services.insert(ns, n);
            }
        }
        Some(service_id)
    }

    /// The routes of one group of rules with the same backends and filters: a route for each
    /// rule with an empty `matches`, then one per group of matches with the same key, in order
    /// of first appearance. Unsupported matches and bad headers are reported and left out.
    fn http_rule_routes(
        &mut self,
        key: &ObjectRef,
        shape: &RouteShape,
        service_id: EntityId,
        rules: &[&HttpRule<'a>],
    ) -> Vec<Route> {
        let mut routes: Vec<Route> = Vec::new();
        let mut match_groups: Vec<MatchGroup<'a>> = Vec::new();
        for rule in rules {
            let matches = match rule.rule.matches.as_deref() {
                // The API server's default for an absent `matches` (Gateway API CRD):
                // one PathPrefix `/` match.
                None => std::slice::from_ref(&*DEFAULT_MATCH),
                // Present but empty: KIC's route matching hostnames only (or all).
                Some([]) => {
                    routes.push(shape.catch_all_route(rule.index, service_id));
                    continue;
                }
                Some(m) => m,
            };
            for (mi, m) in matches.iter().enumerate() {
                if m.query_params.as_ref().is_some_and(|q| !q.is_empty()) {
                    self.results.error(
                        key,
                        Reason::Unsupported,
                        format!("spec.rules[{}].matches[{mi}].queryParams: query parameter matches need Kong's expressions router; Konnect routes in traditional_compatible form cannot express them, so this match is not translated", rule.index),
                    );
                    continue;
                }
                let mkey = match_key(m);
                match match_groups.iter_mut().find(|g| g.key == mkey) {
                    Some(g) => g.matches.push(m),
                    None => match_groups.push(MatchGroup {
                        key: mkey,
                        rule: rule.index,
                        index: mi,
                        matches: vec![m],
                    }),
                }
            }
        }
        for group in &match_groups {
            match shape.match_route(service_id, group) {
                Ok(route) => routes.push(route),
                Err(e) => self.results.error(key, Reason::InvalidSpec, e),
            }
        }
        routes
    }

    /// Checks one rule: its filters (KongPlugin `ExtensionRef`s become plugins of its routes)
    /// and its backends; errors and warnings go on the HTTPRoute.
    fn http_rule(
        &mut self,
        key: &ObjectRef,
        namespace: &str,
        ri: usize,
        rule: &'a HttpRouteRules,
    ) -> HttpRule<'a> {
        let field = format!("spec.rules[{ri}]");
        let mut extra_plugins = Vec::new();
        for (fi, filter) in rule.filters.iter().flatten().enumerate() {
            match &filter.extension_ref {
                Some(ext) if ext.group == KONG_GROUP && ext.kind == "KongPlugin" => {
                    extra_plugins.push(PluginRef { namespace: None, name: ext.name.clone() });
                }
                _ => self.results.warn(
                    key,
                    format!("{field}.filters[{fi}]: only ExtensionRef filters naming a KongPlugin are translated; this filter is ignored"),
                ),
            }
        }
        // Backends: (namespace, name, port, weight).
        let backends: Vec<Backend> = rule
            .backend_refs
            .iter()
            .flatten()
            .enumerate()
            .filter_map(|(bi, backend)| {
                self.http_backend(
                    key,
                    namespace,
                    &format!("{field}.backendRefs[{bi}]"),
                    backend,
                )
            })
            .collect();
        HttpRule {
            index: ri,
            rule,
            backend_key: backend_refs_key(rule),
            filter_key: sorted_json(rule.filters.iter().flatten()),
            backend_names: backend_names(namespace, rule),
            backends,
            extra_plugins,
        }
    }

    /// One backendRef of a rule, checked: `None` when it is not usable (reported on the
    /// HTTPRoute) or has weight 0.
    fn http_backend(
        &mut self,
        key: &ObjectRef,
        namespace: &str,
        bfield: &str,
        backend: &HttpRouteRulesBackendRefs,
    ) -> Option<Backend> {
        if backend.group.as_deref().unwrap_or_default() != ""
            || backend.kind.as_deref().unwrap_or("Service") != "Service"
        {
            self.results.error(
                key,
                Reason::Unsupported,
                format!("{bfield}: only core Service backends are supported"),
            );
            return None;
        }
        if backend.filters.as_ref().is_some_and(|f| !f.is_empty()) {
            self.results.warn(
                key,
                format!("{bfield}.filters: backend filters are not translated; ignored"),
            );
        }
        let bns = backend.namespace.as_deref().unwrap_or(namespace);
        if bns != namespace
            && !self.ix.grant_allows(
                (GATEWAY_GROUP, "HTTPRoute", namespace),
                bns,
                ("", "Service", &backend.name),
            )
        {
            self.results.error(
                key,
                Reason::ReferenceNotPermitted,
                format!("{bfield}: no ReferenceGrant in namespace {bns} allows HTTPRoutes from {namespace} to use Service {}", backend.name),
            );
            return None;
        }
        let Some(port) = backend.port else {
            self.results.error(
                key,
                Reason::InvalidSpec,
                format!("{bfield}.port: required for a Service backend"),
            );
            return None;
        };
        let number = match self
            .ix
            .resolve_port(bns, &backend.name, &PortRef::Number(port))
        {
            Ok(n) => n,
            Err((reason, e)) => {
                self.results.error(key, reason, format!("{bfield}: {e}"));
                return None;
            }
        };
        let weight = backend.weight.unwrap_or(DEFAULT_WEIGHT);
        if weight == 0 {
            return None;
        }
        Some((bns.to_owned(), backend.name.clone(), number, weight))
    }
}

/// Groups items by a key, groups in order of their first item, items in order (KIC's
/// `groupRulesByBackendRefs` and `groupRulesByFilter`).
fn group_by<'r, T: 'r>(
    items: impl IntoIterator<Item = &'r T>,
    key: impl Fn(&T) -> &str,
) -> Vec<Vec<&'r T>> {
    let mut groups: Vec<Vec<&'r T>> = Vec::new();
    for item in items {
        match groups.iter_mut().find(|g| key(g[0]) == key(item)) {
            Some(g) => g.push(item),
            None => groups.push(vec![item]),
        }
    }
    groups
}

/// What every route of one HTTPRoute shares.
struct RouteShape {
    /// `httproute.<namespace>.<name>`: route names add `.<rule>.<match>`.
    prefix: String,
    /// `spec.hostnames`, `None` when empty.
    hostnames: Option<Vec<String>>,
    /// The protocols of the listeners the HTTPRoute attaches to.
    protocols: Vec<String>,
}

/// Matches of one group of rules with the same key (KIC merges them into one route), with
/// the rule and match index of the first, which name the route.
struct MatchGroup<'a> {
    key: String,
    rule: usize,
    index: usize,
    matches: Vec<&'a HttpRouteRulesMatches>,
}

impl RouteShape {
    /// The route of a rule with an empty `matches`: hostnames only (or everything).
    fn catch_all_route(&self, rule: usize, service_id: EntityId) -> Route {
        let route_name = format!("{}.{rule}.0", self.prefix);
        Route {
            id: Some(ids::route_id(&route_name)),
            name: Some(route_name),
            service: Some(ForeignKey::new(service_id)),
            protocols: Some(self.protocols.clone()),
            hosts: self.hostnames.clone(),
            preserve_host: Some(true),
            ..Default::default()
        }
    }

    /// The route of one match group: the paths and methods of all its matches, the headers of
    /// the first (the same in all: they are part of the key). `Err` is the error to report.
    fn match_route(&self, service_id: EntityId, group: &MatchGroup) -> Result<Route, String> {
        let (ri, mi) = (group.rule, group.index);
        let route_name = format!("{}.{ri}.{mi}", self.prefix);
        let headers = match_headers(group.matches[0]).map_err(|e| {
            format!(
                "spec.rules[{ri}].matches[{mi}].headers: {e}; route {route_name:?} is not created"
            )
        })?;
        let mut methods: Vec<String> = Vec::new();
        let mut paths: Vec<String> = Vec::new();
        for m in &group.matches {
            paths.extend(http_route_paths(m));
            let method = m
                .method
                .as_ref()
                .and_then(|m| serde_json::to_value(m).ok())
                .and_then(|v| v.as_str().map(str::to_owned));
            if let Some(method) = method {
                push_unique(&mut methods, [method]);
            }
        }
        Ok(Route {
            id: Some(ids::route_id(&route_name)),
            name: Some(route_name),
            service: Some(ForeignKey::new(service_id)),
            protocols: Some(self.protocols.clone()),
            methods: (!methods.is_empty()).then_some(methods),
            hosts: self.hostnames.clone(),
            paths: Some(paths),
            headers: (!headers.is_empty()).then_some(headers),
            strip_path: Some(false),
            preserve_host: Some(true),
            ..Default::default()
        })
    }
}

/// The Ingress being translated, for its steps.
struct IngressOf<'x> {
    key: &'x ObjectRef,
    namespace: &'x str,
    name: &'x str,
    /// The regular-expression marker: `konghq.com/regex-prefix`, else KIC's `/~`.
    regex_prefix: &'x str,
}

/// The paths of one Ingress route: its host and backend's Konnect service.
struct IngressGroup {
    host: String,
    service_id: EntityId,
    paths: Vec<String>,
}

/// A backend's Service port, by number (first) or name; `None` when it has neither.
fn backend_port(backend: &IngressServiceBackend) -> Option<PortRef> {
    let p = backend.port.as_ref()?;
    match (&p.number, &p.name) {
        (Some(n), _) => Some(PortRef::Number(*n)),
        (None, Some(s)) => Some(PortRef::Name(s.clone())),
        (None, None) => None,
    }
}

/// The route of one Ingress route group, with KIC's defaults for Ingress routes.
fn ingress_route(route_name: &str, group: IngressGroup) -> Route {
    Route {
        id: Some(ids::route_id(route_name)),
        name: Some(route_name.to_owned()),
        service: Some(ForeignKey::new(group.service_id)),
        protocols: Some(vec!["http".into(), "https".into()]),
        hosts: (!group.host.is_empty()).then(|| vec![group.host]),
        paths: Some(group.paths),
        strip_path: Some(false),
        preserve_host: Some(true),
        regex_priority: Some(0),
        request_buffering: Some(true),
        response_buffering: Some(true),
        ..Default::default()
    }
}

/// A checked backend: (namespace, Service, port number, weight).
type Backend = (String, String, u16, i32);

/// One HTTPRoute rule, checked, with KIC's grouping keys.
struct HttpRule<'a> {
    index: usize,
    rule: &'a HttpRouteRules,
    /// KIC's `getHTTPBackendRefsKey`: the backendRefs as sorted JSON.
    backend_key: String,
    /// KIC's `getFiltersKey`: the filters as sorted JSON.
    filter_key: String,
    /// The backends as `getKongServiceNameByBackendRefs` names them, sorted.
    backend_names: Vec<String>,
    /// The usable backends, in order.
    backends: Vec<Backend>,
    /// KongPlugins named by the rule's `ExtensionRef` filters.
    extra_plugins: Vec<PluginRef>,
}

/// The API server fills `weight: 1` when it is absent (the Gateway API CRD's default,
/// sigs.k8s.io/gateway-api config/crd/standard/gateway.networking.k8s.io_httproutes.yaml,
/// backendRefs.weight), so KIC always sees a weight and names and groups with it; a manifest
/// read from a file must give the same names.
const DEFAULT_WEIGHT: i32 = 1;

/// KIC's `maxKongServiceNameLength`: a longer combined service name is shortened.
const MAX_SERVICE_NAME: usize = 511;

/// The match the API server fills in for a rule without `matches` (Gateway API CRD default):
/// path PathPrefix `/`.
static DEFAULT_MATCH: std::sync::LazyLock<HttpRouteRulesMatches> =
    std::sync::LazyLock::new(HttpRouteRulesMatches::default);

/// Sorted JSON forms joined by `;` (KIC's `getSortedItemsString`).
fn sorted_json<'x, T: serde::Serialize + 'x>(items: impl IntoIterator<Item = &'x T>) -> String {
    let mut keys: Vec<String> = items
        .into_iter()
        .map(|i| serde_json::to_string(i).unwrap_or_default())
        .collect();
    keys.sort();
    keys.join(";")
}

/// The backendRefs key, with the API server's defaults filled (group `""`, kind `Service`,
/// weight 1) so a file and the applied object group alike.
fn backend_refs_key(rule: &HttpRouteRules) -> String {
    let refs: Vec<_> = rule
        .backend_refs
        .iter()
        .flatten()
        .map(|b| {
            let mut b = b.clone();
            b.group.get_or_insert_with(String::new);
            b.kind.get_or_insert_with(|| "Service".into());
            b.weight.get_or_insert(DEFAULT_WEIGHT);
            b
        })
        .collect();
    sorted_json(&refs)
}

/// `<namespace>.<name>[.<port>][.<weight>]` of each backend, sorted
/// (`getKongServiceNameByBackendRefs`).
fn backend_names(namespace: &str, rule: &HttpRouteRules) -> Vec<String> {
    let mut names: Vec<String> = rule
        .backend_refs
        .iter()
        .flatten()
        .map(|b| {
            let mut n = format!("{}.{}", b.namespace.as_deref().unwrap_or(namespace), b.name);
            if let Some(port) = b.port {
                n.push_str(&format!(".{port}"));
            }
            n.push_str(&format!(".{}", b.weight.unwrap_or(DEFAULT_WEIGHT)));
            n
        })
        .collect();
    names.sort();
    names
}

/// KIC's service name with `--combined-services-from-different-httproutes`:
/// `httproute.<namespace>.svc.<backends joined by _>`; past 511 characters, the first backend
/// and `_combined.<SHA-256 of the full name>`.
fn combined_service_name(namespace: &str, backend_names: &[String]) -> String {
    use sha2::{Digest, Sha256};
    if backend_names.is_empty() {
        return format!("httproute.{namespace}.svc._");
    }
    let name = format!("httproute.{namespace}.svc.{}", backend_names.join("_"));
    if name.len() > MAX_SERVICE_NAME {
        let hash = hex::encode(Sha256::digest(name.as_bytes()));
        return format!(
            "httproute.{namespace}.svc.{}_combined.{hash}",
            backend_names[0]
        );
    }
    name
}

/// KIC's `httpRouteMatchMeta.getKey`: method, headers (names lower-cased, the first of equal
/// names kept, sorted by name) and query parameters. The parent HTTPRoute is part of KIC's key
/// too; here matches are only ever grouped within one HTTPRoute.
fn match_key(m: &HttpRouteRulesMatches) -> String {
    let mut seen = std::collections::BTreeSet::new();
    let mut headers: Vec<(String, String, String)> = Vec::new();
    for h in m.headers.iter().flatten() {
        let name = h.name.to_ascii_lowercase();
        if !seen.insert(name.clone()) {
            continue;
        }
        let kind = match h.r#type {
            Some(HttpRouteRulesMatchesHeadersType::RegularExpression) => "RegularExpression",
            _ => "Exact",
        };
        headers.push((name, kind.to_owned(), h.value.clone()));
    }
    headers.sort_by(|a, b| a.0.cmp(&b.0));
    let method = m
        .method
        .as_ref()
        .and_then(|m| serde_json::to_value(m).ok())
        .unwrap_or_default();
    serde_json::json!({"method": method, "headers": headers}).to_string()
}

/// KIC's `convertGatewayMatchHeadersToKongRouteMatchHeaders`: names as written, a regular
/// expression as `~*<value>`; the same name twice is an error.
fn match_headers(m: &HttpRouteRulesMatches) -> Result<BTreeMap<String, Vec<String>>, String> {
    let mut out = BTreeMap::new();
    for h in m.headers.iter().flatten() {
        let value = match h.r#type {
            Some(HttpRouteRulesMatchesHeadersType::RegularExpression) => format!("~*{}", h.value),
            _ => h.value.clone(),
        };
        if out.insert(h.name.clone(), vec![value]).is_some() {
            return Err(format!(
                "multiple header matches for the same header are not allowed: {}",
                h.name
            ));
        }
    }
    Ok(out)
}

/// Route protocols from the listeners an HTTPRoute attaches to: `http` for an HTTP listener,
/// `https` for an HTTPS one (KIC PR #7901, "secure by default (defaults from Gateway)").
/// Without such a listener: KIC's historical `[http, https]`.
fn listener_protocols(listeners: &[&GatewayListeners]) -> Vec<String> {
    let mut out = Vec::new();
    for wanted in ["HTTP", "HTTPS"] {
        if listeners.iter().any(|l| l.protocol == wanted) {
            out.push(wanted.to_ascii_lowercase());
        }
    }
    if out.is_empty() {
        out = vec!["http".into(), "https".into()];
    }
    out
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
    host_aliases: Option<Vec<String>>,
    snis: Option<Vec<String>>,
    force_ssl_redirect: bool,
}

impl RouteOverrides {
    /// Applies the annotations in the order of KIC's `Route.overrideByAnnotation` and then
    /// `normalizeProtocols` (internal/dataplane/kongstate/route.go), which KIC runs on every
    /// route, from Ingresses and HTTPRoutes alike.
    fn apply(&self, route: &mut Route) {
        if let Some(v) = self.strip_path {
            route.strip_path = Some(v);
        }
        // overrideHTTPSRedirectCode
        if self.force_ssl_redirect {
            route.https_redirect_status_code = Some(302);
            route.protocols = Some(ssl_protocols(
                route.protocols.as_deref().unwrap_or_default(),
            ));
        }
        if let Some(v) = self.https_redirect_status_code {
            route.https_redirect_status_code = Some(v);
        }
        if let Some(v) = self.preserve_host {
            route.preserve_host = Some(v);
        }
        if let Some(v) = self.request_buffering {
            route.request_buffering = Some(v);
        }
        if let Some(v) = self.response_buffering {
            route.response_buffering = Some(v);
        }
        if let Some(v) = &self.protocols {
            route.protocols = Some(v.clone());
        }
        if let Some(v) = self.regex_priority {
            route.regex_priority = Some(v);
        }
        if let Some(v) = &self.methods {
            route.methods = Some(v.clone());
        }
        // overrideSNIs: an empty value means "no SNI criteria".
        if let Some(v) = &self.snis {
            route.snis = (!v.is_empty()).then(|| v.clone());
        }
        // overrideHosts: the aliases appended to the hosts, each once.
        if let Some(aliases) = self.host_aliases.as_ref().filter(|a| !a.is_empty()) {
            let hosts = route.hosts.get_or_insert_with(Vec::new);
            push_unique(hosts, aliases.iter().cloned());
        }
        if let Some(v) = &self.headers {
            route.headers = Some(v.clone());
        }
        if let Some(v) = &self.path_handling {
            route.path_handling = Some(v.clone());
        }
        normalize_protocols(route);
    }
}

/// KIC's `useSSLProtocol`: `grpcs` if a gRPC protocol is there, `https` if an HTTP one is (or
/// if neither is).
fn ssl_protocols(protocols: &[String]) -> Vec<String> {
    let grpc = protocols.iter().any(|p| p.contains("grpc"));
    let http = protocols.iter().any(|p| p.contains("http"));
    let mut out = Vec::new();
    if grpc {
        out.push("grpcs".to_owned());
    }
    if http || !grpc {
        out.push("https".to_owned());
    }
    out
}

/// KIC's `normalizeProtocols`: gRPC mixed with HTTP becomes `[http, https]`; a gRPC route has
/// no `strip_path`.
fn normalize_protocols(route: &mut Route) {
    let protocols = route.protocols.as_deref().unwrap_or_default();
    let grpc = protocols.iter().any(|p| p.contains("grpc"));
    let http = protocols.iter().any(|p| p.contains("http"));
    if grpc && http {
        route.protocols = Some(vec!["http".into(), "https".into()]);
    }
    if grpc {
        route.strip_path = None;
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

    fn paths(p: &str, t: &str) -> Option<Vec<String>> {
        ingress_paths(&path(p, t), CONTROLLER_REGEX_PREFIX).ok()
    }

    fn v(items: &[&str]) -> Option<Vec<String>> {
        Some(items.iter().map(|s| (*s).to_owned()).collect())
    }

    /// Expected values from KIC's PathsFromIngressPaths and MaybePrependRegexPrefix
    /// (internal/dataplane/translator/subtranslator/ingress.go): plain paths first, then the
    /// regex ones; `/~` marks a regex.
    #[test]
    fn ingress_paths_follow_kic() {
        assert_eq!(paths("/echo", "Prefix"), v(&["/echo/", "~/echo$"]));
        assert_eq!(paths("/echo/", "Prefix"), v(&["/echo/", "~/echo$"]));
        assert_eq!(paths("//a///b", "Prefix"), v(&["/a/b/", "~/a/b$"]));
        assert_eq!(paths("/", "Prefix"), v(&["/"]));
        assert_eq!(paths("/a/b", "Exact"), v(&["~/a/b$"]));
        assert_eq!(paths("/x", "ImplementationSpecific"), v(&["/x"]));
        assert_eq!(paths("", "ImplementationSpecific"), v(&["/"]));
        assert_eq!(
            paths("/~/foo/\\d{3}", "ImplementationSpecific"),
            v(&["~/foo/\\d{3}"])
        );
        // The marker only counts at the start, and only once.
        assert_eq!(paths("/a/~b", "ImplementationSpecific"), v(&["/a/~b"]));
        assert_eq!(
            ingress_paths(&path("/re/x.+", "ImplementationSpecific"), "/re").ok(),
            v(&["~/x.+"])
        );
        // An empty konghq.com/regex-prefix matches every path: KIC's strings.Replace with an
        // empty old string inserts "~" at the start.
        assert_eq!(
            ingress_paths(&path("/x", "ImplementationSpecific"), "").ok(),
            v(&["~/x"])
        );
        assert!(ingress_paths(&path("/x", "Regex"), CONTROLLER_REGEX_PREFIX).is_err());
    }

    /// Expected values from KIC's generateKongRoutePathFromHTTPRouteMatch
    /// (internal/dataplane/translator/subtranslator/httproute.go).
    #[test]
    fn http_route_paths_follow_kic() {
        use gateway_api::httproutes::HttpRouteRulesMatchesPath;
        let m = |t: HttpRouteRulesMatchesPathType, p: &str| HttpRouteRulesMatches {
            path: Some(HttpRouteRulesMatchesPath {
                r#type: Some(t),
                value: Some(p.into()),
            }),
            ..Default::default()
        };
        use HttpRouteRulesMatchesPathType as T;
        assert_eq!(
            http_route_paths(&m(T::PathPrefix, "/")),
            v(&["~/$", "/"]).unwrap()
        );
        assert_eq!(
            http_route_paths(&m(T::PathPrefix, "/a")),
            v(&["~/a$", "/a/"]).unwrap()
        );
        assert_eq!(
            http_route_paths(&m(T::PathPrefix, "/a/")),
            v(&["~/a/$", "/a/"]).unwrap()
        );
        assert_eq!(http_route_paths(&m(T::Exact, "/a")), v(&["~/a$"]).unwrap());
        assert_eq!(
            http_route_paths(&m(T::RegularExpression, "/a.+")),
            v(&["~/a.+"]).unwrap()
        );
        assert_eq!(
            http_route_paths(&HttpRouteRulesMatches::default()),
            v(&["~/$", "/"]).unwrap()
        );
    }

    /// KIC's getKongServiceNameByBackendRefs: sorted, weight included, trimmed past 511.
    #[test]
    fn combined_service_names_follow_kic() {
        let names = vec!["a.x.80.1".to_owned(), "a.y.80.1".to_owned()];
        assert_eq!(
            combined_service_name("a", &names),
            "httproute.a.svc.a.x.80.1_a.y.80.1"
        );
        assert_eq!(combined_service_name("a", &[]), "httproute.a.svc._");
        let long: Vec<String> = (0..16)
            .map(|i| format!("a.{}{i:02}.80.1", "s".repeat(40)))
            .collect();
        let full = format!("httproute.a.svc.{}", long.join("_"));
        assert!(full.len() > 511);
        use sha2::{Digest, Sha256};
        assert_eq!(
            combined_service_name("a", &long),
            format!(
                "httproute.a.svc.{}_combined.{}",
                long[0],
                hex::encode(Sha256::digest(full.as_bytes()))
            )
        );
    }

    use super::super::fixtures::*;

    fn echo_ingress(ingress: IngressB) -> crate::translate::DesiredState {
        Fixture::new()
            .with(service("web", "echo").port(80))
            .with(ingress)
            .translate()
    }

    /// One route per (Ingress, host, Service, port), named
    /// `<namespace>.<ingress>.<service>.<host>.<port>` with `*` written `_`, the paths of its
    /// rule combined in order; Exact `/p` is `~/p$`, Prefix `/p` is `/p/` then `~/p$` (`/` for
    /// the root), ImplementationSpecific as written (KIC 3.5
    /// internal/dataplane/translator/subtranslator/ingress.go `PathsFromIngressPaths` and the
    /// route name of `ingressTranslationMeta`; docs/compatibility.md). Route defaults
    /// (protocols http+https, strip_path false, preserve_host true, regex_priority 0,
    /// buffering on) as tests/golden/kic-cases.py `ingress_regex` derives them.
    #[test]
    fn ingress_paths_of_each_type_share_one_route_per_host_and_backend() {
        let state = echo_ingress(
            ingress("web", "shop")
                .path("shop.example.com", "/cart", "Exact", "echo", 80)
                .path("shop.example.com", "/items/", "Prefix", "echo", 80)
                .path(
                    "shop.example.com",
                    "/raw",
                    "ImplementationSpecific",
                    "echo",
                    80,
                )
                .path("*.example.com", "/", "Prefix", "echo", 80),
        );
        assert_eq!(
            names(&state.routes),
            [
                "web.shop.echo._.example.com.80",
                "web.shop.echo.shop.example.com.80"
            ]
        );
        let shop = route(&state, "web.shop.echo.shop.example.com.80");
        assert_eq!(
            shop.paths,
            v(&["~/cart$", "/items/", "~/items$", "/raw"]),
            "Exact, Prefix, ImplementationSpecific in rule order"
        );
        assert_eq!(shop.hosts, v(&["shop.example.com"]));
        assert_eq!(shop.protocols, v(&["http", "https"]));
        assert_eq!(
            (shop.strip_path, shop.preserve_host),
            (Some(false), Some(true))
        );
        assert_eq!(shop.regex_priority, Some(0));
        assert_eq!(
            (shop.request_buffering, shop.response_buffering),
            (Some(true), Some(true))
        );
        let wildcard = route(&state, "web.shop.echo._.example.com.80");
        assert_eq!(wildcard.hosts, v(&["*.example.com"]));
        assert_eq!(wildcard.paths, v(&["/"]));
        // Both routes lead to the one service of the backend.
        assert_eq!(shop.service, wildcard.service);
    }

    /// KIC's `MaybePrependRegexPrefixForIngressV1Fn`: a path starting with `/~`
    /// (`ControllerPathRegexPrefix`) is a regular expression, the marker replaced by `~`;
    /// `konghq.com/regex-prefix` replaces the marker, and `/~` is then a plain path; repeated
    /// slashes are flattened first (`flattenMultipleSlashes`). Cited in
    /// tests/golden/ingress-regex-paths/input.yaml.
    #[test]
    fn ingress_regex_paths_use_kic_marker_or_the_annotation() {
        let state = echo_ingress(
            ingress("web", "default-marker")
                .path(
                    "a.example.com",
                    "/~/foo/\\d{3}",
                    "ImplementationSpecific",
                    "echo",
                    80,
                )
                .path("a.example.com", "//double//", "Prefix", "echo", 80),
        );
        assert_eq!(
            route(&state, "web.default-marker.echo.a.example.com.80").paths,
            v(&["~/foo/\\d{3}", "/double/", "~/double$"])
        );
        let state = echo_ingress(
            ingress("web", "custom-marker")
                .annotation("konghq.com/regex-prefix", "/re")
                .path(
                    "b.example.com",
                    "/re/bar.*",
                    "ImplementationSpecific",
                    "echo",
                    80,
                )
                .path(
                    "b.example.com",
                    "/~/plain",
                    "ImplementationSpecific",
                    "echo",
                    80,
                ),
        );
        assert_eq!(
            route(&state, "web.custom-marker.echo.b.example.com.80").paths,
            v(&["~/bar.*", "/~/plain"])
        );
    }

    fn shop_gateway(route: HttpRouteB) -> Fixture {
        Fixture::new()
            .with(gateway("shop", "gw").listener("http", "HTTP", 80))
            .with(service("shop", "web").port(80))
            .with(service("shop", "b").port(80))
            .with(route.parent("gw"))
    }

    /// KIC's default (`groupRulesFromHTTPRoutesByKongServiceName`, subtranslator/httproute.go):
    /// the rules of one HTTPRoute with the same backendRefs share one service named
    /// `httproute.<ns>.<route>.<first rule>`; within it, matches with the same
    /// method/headers/query (`getKey`) merge into one route named after the first, with the
    /// paths of all (`translateHTTPRouteRulesMetaToKongstateRoutes`); PathPrefix `/p` is
    /// `~/p$` then `/p/` (`generateKongRoutePathFromHTTPRouteMatch`); an HTTP listener gives
    /// `[http]` (KIC PR #7901). As tests/golden/kic-cases.py `services_cases` and
    /// `consolidation` derive them; ids with python3 uuid.uuid5 over go-kong's scheme.
    #[test]
    fn http_route_gets_one_service_per_group_of_rules_with_the_same_backends() {
        let state = shop_gateway(
            http_route("shop", "one")
                .rule(rule().prefix("/one").backend("web", 80))
                .rule(rule().prefix("/two").backend("b", 80))
                .rule(rule().prefix("/three").backend("web", 80)),
        )
        .translate();
        assert_eq!(
            names(&state.services),
            ["httproute.shop.one.0", "httproute.shop.one.1"]
        );
        let web = service_named(&state, "httproute.shop.one.0");
        assert_eq!(id(web.id), "59722d37-31f5-596f-9f7f-a6979ab3b4a7");
        assert_eq!((web.host.as_str(), web.port), ("web.shop.svc", Some(80)));
        assert_eq!(
            id(service_named(&state, "httproute.shop.one.1").id),
            "568be6fe-9356-5818-be57-808a7000c8d3"
        );
        // Rule 2 has rule 0's backends and no method or headers: its match joins rule 0's route.
        assert_eq!(
            names(&state.routes),
            ["httproute.shop.one.0.0", "httproute.shop.one.1.0"]
        );
        let r0 = route(&state, "httproute.shop.one.0.0");
        assert_eq!(id(r0.id), "4f509916-bb1e-5da7-9f72-656c6c58a1e4");
        assert_eq!(r0.paths, v(&["~/one$", "/one/", "~/three$", "/three/"]));
        assert_eq!(r0.protocols, v(&["http"]));
        assert_eq!((r0.strip_path, r0.preserve_host), (Some(false), Some(true)));
        assert_eq!(
            r0.service.as_ref().map(|s| s.id.to_string()),
            Some("59722d37-31f5-596f-9f7f-a6979ab3b4a7".to_owned())
        );
        let r1 = route(&state, "httproute.shop.one.1.0");
        assert_eq!(
            r1.service.as_ref().map(|s| s.id.to_string()),
            Some("568be6fe-9356-5818-be57-808a7000c8d3".to_owned())
        );
    }

    /// `matches: []` gives a route on the hostnames only (no paths, no strip_path), while an
    /// absent `matches` is the API server's default PathPrefix `/` (Gateway API CRD), so
    /// `~/$` and `/`; a method match is its own route (another `getKey`). docs/compatibility.md,
    /// "Routes from an HTTPRoute".
    #[test]
    fn http_route_empty_absent_and_method_matches() {
        let state = shop_gateway(
            http_route("shop", "r")
                .hostname("shop.example.com")
                .rule(rule().no_matches().backend("web", 80))
                .rule(rule().backend("b", 80))
                .rule(
                    rule()
                        .matching(serde_json::json!({
                            "path": { "type": "Exact", "value": "/buy" },
                            "method": "POST",
                        }))
                        .backend("b", 80),
                ),
        )
        .translate();
        let hosts_only = route(&state, "httproute.shop.r.0.0");
        assert_eq!(hosts_only.hosts, v(&["shop.example.com"]));
        assert_eq!(
            (hosts_only.paths.as_ref(), hosts_only.strip_path),
            (None, None)
        );
        assert_eq!(hosts_only.preserve_host, Some(true));
        let default_match = route(&state, "httproute.shop.r.1.0");
        assert_eq!(default_match.paths, v(&["~/$", "/"]));
        assert_eq!(default_match.methods, None);
        let post = route(&state, "httproute.shop.r.2.0");
        assert_eq!(post.paths, v(&["~/buy$"]));
        assert_eq!(post.methods, v(&["POST"]));
        assert_eq!(post.service, default_match.service, "rules 1 and 2 share b");
    }
}
