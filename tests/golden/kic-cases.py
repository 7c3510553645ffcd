#!/usr/bin/env python3
"""Writes expected.json of the golden cases for issue 8 items 2-7, derived by hand from Kong
Ingress Controller's source (Kong/kubernetes-ingress-controller, KIC 3.5; see
docs/compatibility.md), never from this operator's output.

Run from the repository root: python3 tests/golden/kic-cases.py
Each case below cites the KIC functions its values come from. Ids are go-kong's FillID scheme,
computed here with uuid.uuid5 (base fd02801f-0957-4a15-a55a-c8d9606f30b5, type namespace
uuid5(base, plural), key the entity name; a plugin's key is its name then
":service/<name>", ":route/<name>"... for its parents). Tags are this operator's (the
`k8s-*`, owner and `kpo-hash` tags; the hash is masked in golden files).
"""

import json
import uuid
from pathlib import Path

BASE = uuid.UUID("fd02801f-0957-4a15-a55a-c8d9606f30b5")
GOLDEN = Path(__file__).parent


def uid(plural, key):
    return str(uuid.uuid5(uuid.uuid5(BASE, plural), key))


def tags(kind, name, namespace, group=None, version="v1"):
    t = [
        "managed-by:konnect-plugin-operator",
        "kpo-owner:test-cluster",
        f"k8s-name:{name}",
    ]
    if namespace is not None:
        t.append(f"k8s-namespace:{namespace}")
    t.append(f"k8s-kind:{kind}")
    if group:
        t.append(f"k8s-group:{group}")
    t.append(f"k8s-version:{version}")
    t.append("kpo-hash:<masked>")
    return t


def service(name, k8s_ns, k8s_name, port):
    """A Konnect service for a core Service: KIC's defaults (protocol http, path /, retries 5,
    timeouts 60000: translateIntoKongStateService / translateHTTPRouteRulesMetaToKongstateService);
    host <name>.<namespace>.svc (this operator: no upstreams)."""
    return {
        "id": uid("services", name),
        "name": name,
        "host": f"{k8s_name}.{k8s_ns}.svc",
        "port": port,
        "protocol": "http",
        "path": "/",
        "retries": 5,
        "connect_timeout": 60000,
        "read_timeout": 60000,
        "write_timeout": 60000,
        "tags": tags("Service", k8s_name, k8s_ns),
    }


# Route fields in the order this operator prints them (the Konnect model's field order).
ROUTE_ORDER = [
    "id", "name", "service", "protocols", "methods", "hosts", "paths", "headers", "snis",
    "strip_path", "preserve_host", "https_redirect_status_code", "regex_priority",
    "path_handling", "request_buffering", "response_buffering", "tags",
]


def route(name, service_name, source, **fields):
    r = {"id": uid("routes", name), "name": name, "service": {"id": uid("services", service_name)}}
    r.update(fields)
    r["tags"] = source
    return {k: r[k] for k in ROUTE_ORDER if k in r}


def plugin(name, key, source_tags, config=None, **parents):
    p = {
        "id": uid("plugins", key),
        "name": name,
        "config": config if config is not None else {},
        "enabled": True,
        "tags": source_tags,
    }
    for k, v in parents.items():
        p[k] = {"id": v}
    return p


def result(kind, namespace, name, status="Accepted", reason=None, message="", warnings=None):
    r = {"kind": kind, "namespace": namespace, "name": name, "status": status}
    if reason:
        r["reason"] = reason
    r["message"] = message
    if warnings:
        r["warnings"] = warnings
    return r


def write(case, services=(), routes=(), plugins=(), results=()):
    doc = {
        "services": sorted(services, key=lambda e: e["id"]),
        "routes": sorted(routes, key=lambda e: e["id"]),
        "consumers": [],
        "consumer_groups": [],
        "consumer_group_memberships": [],
        "plugins": sorted(plugins, key=lambda e: e["id"]),
        "held": [],
        "results": sorted(results, key=lambda r: (r["kind"], r["namespace"] or "", r["name"])),
    }
    (GOLDEN / case / "expected.json").write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")


def httproute_tags(name, ns):
    return tags("HTTPRoute", name, ns, "gateway.networking.k8s.io")


def ingress_tags(name, ns):
    return tags("Ingress", name, ns, "networking.k8s.io")


def prefix(p):
    """generateKongRoutePathFromHTTPRouteMatch, PathPrefix: ~<p>$ then <p>/."""
    return [f"~{p}$", p if p.endswith("/") else p + "/"]


# --- item 2: konghq.com/* route annotations on HTTPRoutes ------------------------------------
# KIC's FillOverrides runs Route.Override on every route, HTTPRoute routes included
# (internal/dataplane/kongstate/route.go, overrideByAnnotation then normalizeProtocols).
def httproute_annotations():
    ns = "apps"
    # annotated: base route from GenerateKongRoutesFromHTTPRouteMatches (protocols from the
    # HTTP and HTTPS listeners, preserve_host true, strip_path false), then each annotation.
    svc_a = "httproute.apps.annotated.0"
    svc_f = "httproute.apps.forced.0"
    routes = [
        route(
            "httproute.apps.annotated.0.0", svc_a, httproute_tags("annotated", ns),
            protocols=["https"],                       # overrideProtocols
            methods=["GET", "POST"],                   # overrideMethods (upper-cased)
            hosts=["api.example.com", "alias.example.com"],  # overrideHosts appends aliases
            paths=prefix("/api"),
            headers={"X-Env": ["prod", "staging"]},    # overrideHeaders replaces match headers
            snis=["api.example.com"],                  # overrideSNIs
            strip_path=True,                           # overrideStripPath
            preserve_host=False,                       # overridePreserveHost
            https_redirect_status_code=301,            # overrideHTTPSRedirectCode
            regex_priority=5,                          # overrideRegexPriority
            path_handling="v1",                        # overridePathHandling
            request_buffering=False,                   # overrideRequestBuffering
            response_buffering=False,                  # overrideResponseBuffering
        ),
        # forced: ingress.kubernetes.io/force-ssl-redirect "true" -> 302 and useSSLProtocol
        # ([http, https] -> [https]); the bad methods value is ignored (KIC logs it).
        route(
            "httproute.apps.forced.0.0", svc_f, httproute_tags("forced", ns),
            protocols=["https"],
            paths=prefix("/forced"),
            strip_path=False,
            preserve_host=True,
            https_redirect_status_code=302,
        ),
    ]
    write(
        "httproute-annotations",
        services=[service(svc_a, ns, "api", 80), service(svc_f, ns, "api", 80)],
        routes=routes,
        results=[
            result("HTTPRoute", ns, "annotated"),
            result(
                "HTTPRoute", ns, "forced", "Invalid", "InvalidAnnotation",
                # (this operator's message: details sorted, joined by "; ")
                'HTTPRoute apps/forced: metadata.annotations[konghq.com/host-aliases]: "bad_host" '
                "is not a host name; the annotation is ignored; "
                'metadata.annotations[konghq.com/methods]: "G3T" is not an HTTP method; the '
                "annotation is ignored; "
                'metadata.annotations[konghq.com/snis]: "*.example.com" is not a server name; the '
                "annotation is ignored",
            ),
            result("Service", ns, "api"),
        ],
    )


# --- item 3: service names ---------------------------------------------------------------------
# groupRulesFromHTTPRoutesByKongServiceName: by default rules of one HTTPRoute with the same
# backendRefs share a service named httproute.<ns>.<route>.<first rule>; with
# --combined-services-from-different-httproutes, rules with the same backends in any HTTPRoute
# of the namespace share httproute.<ns>.svc.<sorted backends> (getKongServiceNameByBackendRefs:
# <ns>.<name>.<port>.<weight>, weight 1 filled by the API server).
def services_cases():
    ns = "shop"
    weighted_warning = (
        "spec.rules[1].backendRefs: Konnect services have one host; traffic goes to Service "
        "shop/b (weighted balancing needs a Kong upstream, which this operator does not manage)"
    )

    def build(case, svc_one0, svc_one1, svc_two0):
        routes = [
            route(
                "httproute.shop.one.0.0", svc_one0, httproute_tags("one", ns),
                protocols=["http"], paths=prefix("/one"), strip_path=False, preserve_host=True,
            ),
            route(
                "httproute.shop.one.1.0", svc_one1, httproute_tags("one", ns),
                protocols=["http"], paths=prefix("/split"), strip_path=False, preserve_host=True,
            ),
            route(
                "httproute.shop.two.0.0", svc_two0, httproute_tags("two", ns),
                protocols=["http"], paths=prefix("/two"), strip_path=False, preserve_host=True,
            ),
        ]
        services = {
            svc_one0: service(svc_one0, ns, "web", 80),
            svc_one1: service(svc_one1, ns, "b", 80),
            svc_two0: service(svc_two0, ns, "web", 80),
        }
        write(
            case,
            services=list(services.values()),
            routes=routes,
            results=[
                result("HTTPRoute", ns, "one", warnings=[weighted_warning]),
                result("HTTPRoute", ns, "two"),
                result("Service", ns, "b"),
                result("Service", ns, "web"),
            ],
        )

    build("httproute-service-per-rule", "httproute.shop.one.0", "httproute.shop.one.1",
          "httproute.shop.two.0")
    build("httproute-combined-services", "httproute.shop.svc.shop.web.80.1",
          "httproute.shop.svc.shop.a.80.70_shop.b.80.30", "httproute.shop.svc.shop.web.80.1")


# --- item 4: rule consolidation ------------------------------------------------------------------
# translateHTTPRouteRulesMetaToKongstateRoutes: rules with the same backends (one service) are
# grouped by filters; in a group, matches with the same method/headers/query params (getKey)
# become one route named after the first match, its paths all the matches' paths in order.
def consolidation():
    ns = "pay"
    src = httproute_tags("r", ns)
    svc0, svc4 = "httproute.pay.r.0", "httproute.pay.r.4"
    common = dict(protocols=["http"], hosts=["pay.example.com"], strip_path=False, preserve_host=True)
    routes = [
        # rules 0 and 1: same backend, same ExtensionRef filter, path-only matches -> one route.
        route("httproute.pay.r.0.0", svc0, src, paths=prefix("/a") + prefix("/b"), **common),
        # rule 2: same backend and filter, but a method -> another key, its own route.
        route("httproute.pay.r.2.0", svc0, src, methods=["GET"], paths=["~/c$"], **common),
        # rule 3: same backend, no filter -> another filter group, no plugin.
        route("httproute.pay.r.3.0", svc0, src, paths=prefix("/d"), **common),
        # rule 4: another backend -> another service.
        route("httproute.pay.r.4.0", svc4, src, paths=prefix("/e"), **common),
    ]
    auth = tags("KongPlugin", "auth", ns, "configuration.konghq.com")
    plugins = [
        plugin("key-auth", f"key-auth:route/{r}", auth, route=uid("routes", r))
        for r in ["httproute.pay.r.0.0", "httproute.pay.r.2.0", "httproute.pay.r.4.0"]
    ]
    write(
        "httproute-rule-consolidation",
        services=[service(svc0, ns, "web", 80), service(svc4, ns, "other", 80)],
        routes=routes,
        plugins=plugins,
        results=[
            result("HTTPRoute", ns, "r"),
            result("KongPlugin", ns, "auth"),
            result("Service", ns, "other"),
            result("Service", ns, "web"),
        ],
    )


# --- item 5: protocols from the parent Gateway's listeners ---------------------------------------
# KIC PR #7901 (backported to 3.4.x and 3.5.x): an HTTP listener gives http, an HTTPS one https;
# a parentRef's sectionName selects one listener.
def listener_protocols():
    ns = "edge"
    cases = [
        ("secure", ["https"]),        # Gateway with one HTTPS listener
        ("mixed-all", ["http", "https"]),  # HTTP and HTTPS listeners, no sectionName
        ("mixed-http", ["http"]),     # sectionName: http
    ]
    routes, services, results = [], [], []
    for name, protocols in cases:
        svc = f"httproute.edge.{name}.0"
        services.append(service(svc, ns, "app", 8080))
        routes.append(route(
            f"httproute.edge.{name}.0.0", svc, httproute_tags(name, ns),
            protocols=protocols, paths=["~/$", "/"], strip_path=False, preserve_host=True,
        ))
        results.append(result("HTTPRoute", ns, name))
    results.append(result("Service", ns, "app"))
    write("httproute-listener-protocols", services=services, routes=routes, results=results)


# --- item 6: Ingress regex paths ------------------------------------------------------------------
# ingressTranslationIndex.Add (flattenMultipleSlashes, "" -> "/"), PathsFromIngressPaths (Prefix:
# /p/ then ~/p$), MaybePrependRegexPrefixForIngressV1Fn: a path starting with "/~" (or the
# konghq.com/regex-prefix value) has that prefix replaced by "~".
def ingress_regex():
    ns = "re"

    def iroute(name, ingress, host, paths):
        return route(
            name, "re.app.80", ingress_tags(ingress, ns),
            protocols=["http", "https"], hosts=[host], paths=paths, strip_path=False,
            preserve_host=True, regex_priority=0, request_buffering=True, response_buffering=True,
        )

    routes = [
        iroute("re.default-prefix.app.re.example.com.80", "default-prefix", "re.example.com",
               ["~/foo/\\d{3}", "/plain", "/double/slash/", "~/double/slash$"]),
        iroute("re.custom-prefix.app.custom.example.com.80", "custom-prefix", "custom.example.com",
               ["~/bar.*", "/~/not-a-regex-here"]),
    ]
    write(
        "ingress-regex-paths",
        services=[service("re.app.80", ns, "app", 80)],
        routes=routes,
        results=[
            result("Ingress", ns, "custom-prefix"),
            result("Ingress", ns, "default-prefix"),
            result("Service", ns, "app"),
        ],
    )


# --- item 7: Ingress host-aliases and snis ---------------------------------------------------------
# overrideHosts (aliases appended after the rule's host, each once; any invalid alias ->
# annotation ignored), overrideSNIs.
def ingress_aliases():
    ns = "alias"
    base = dict(strip_path=False, preserve_host=True, regex_priority=0,
                request_buffering=True, response_buffering=True)
    routes = [
        route("alias.shop.web.shop.example.com.80", "alias.web.80", ingress_tags("shop", ns),
              protocols=["https"], hosts=["shop.example.com", "www.example.com", "shop.example.org"],
              paths=["/"], snis=["shop.example.com", "www.example.com"], **base),
        # No host on the rule: the hosts are the aliases.
        route("alias.shop.web..80", "alias.web.80", ingress_tags("shop", ns),
              protocols=["https"], hosts=["shop.example.com", "www.example.com", "shop.example.org"],
              paths=["/any/", "~/any$"], snis=["shop.example.com", "www.example.com"], **base),
        # Invalid alias: annotation ignored, reported.
        route("alias.broken.web.broken.example.com.80", "alias.web.80", ingress_tags("broken", ns),
              protocols=["http", "https"], hosts=["broken.example.com"], paths=["/"], **base),
    ]
    write(
        "ingress-host-aliases-snis",
        services=[service("alias.web.80", ns, "web", 80)],
        routes=routes,
        results=[
            result(
                "Ingress", ns, "broken", "Invalid", "InvalidAnnotation",
                'Ingress alias/broken: metadata.annotations[konghq.com/host-aliases]: "bad_alias" '
                "is not a host name; the annotation is ignored",
            ),
            result("Ingress", ns, "shop"),
            result("Service", ns, "web"),
        ],
    )


if __name__ == "__main__":
    httproute_annotations()
    services_cases()
    consolidation()
    listener_protocols()
    ingress_regex()
    ingress_aliases()
