//! Kong's field rules for core entities, beyond JSON types: what Konnect's config API (which
//! runs Kong's entity schemas) refuses and a type check alone would accept.
//!
//! Each rule names its source in Kong/kong:
//! - `kong/db/schema/typedefs.lua`: `utf8_name`, `host`, `path`, `router_path`, `hosts`,
//!   `headers`, `sni`, `tags`/`tag`, `port`, `timeout`, `http_method`;
//! - `kong/db/schema/init.lua`: the implicit `len_min = 1` of every string field
//!   (`length must be at least 1`) and the validator messages (`BETWEEN`, `MATCH`,
//!   `STARTS_WITH`);
//! - `kong/db/schema/entities/routes.lua` (both router flavors) and
//!   `kong/db/schema/entities/routes_subschemas.lua`: which route fields each protocol allows
//!   and which it needs;
//! - `kong/db/schema/entities/consumers.lua`, `consumer_groups.lua`, `services.lua`,
//!   `plugins.lua`: which field of which entity uses which typedef.
//!
//! Pure: values in, [`Detail`]s out.

use serde_json::{Map, Value};

use super::errors::Detail;
use super::store::Kind;

/// Kong's implicit `len_min = 1` for strings (`kong/db/schema/init.lua`, `validate_field`).
const LEN_MIN_1: &str = "length must be at least 1";

/// `typedefs.utf8_name`: ASCII alphanumerics, `.`, `-`, `_`, `~`, and any non-ASCII UTF-8.
pub fn utf8_name(name: &str) -> Option<String> {
    let ok = !name.is_empty()
        && name
            .chars()
            .all(|c| !c.is_ascii() || c.is_ascii_alphanumeric() || ".-_~".contains(c));
    (!ok).then(|| {
        format!(
            "invalid value '{name}': the only accepted ascii characters are alphanumerics or ., -, _, and ~"
        )
    })
}

/// `typedefs.tag`: printable ASCII except `,` and `/` (space included), or non-ASCII UTF-8.
pub fn tag(tag: &str) -> Option<String> {
    if tag.is_empty() {
        return Some(LEN_MIN_1.into());
    }
    let ok = tag
        .chars()
        .all(|c| !c.is_ascii() || (c == ' ' || c.is_ascii_graphic()) && c != ',' && c != '/');
    (!ok).then(|| {
        format!(
            "invalid tag '{tag}': expected printable ascii (except `,` and `/`) or valid utf-8 sequences"
        )
    })
}

/// Kong's `utils.normalize_ip` classification, enough for the host typedefs: an IPv4 or IPv6
/// address, or a name of `[%w%.%-%_]` characters; with an optional `:port`.
enum HostKind {
    Ip,
    Name,
    Invalid,
}

fn host_kind(host: &str) -> (HostKind, bool) {
    if host.parse::<std::net::Ipv4Addr>().is_ok() {
        return (HostKind::Ip, false);
    }
    if let Some(inner) = host.strip_prefix('[') {
        return match inner.split_once(']') {
            Some((ip, rest)) if ip.parse::<std::net::Ipv6Addr>().is_ok() => {
                (HostKind::Ip, rest.starts_with(':'))
            }
            _ => (HostKind::Invalid, false),
        };
    }
    if host.parse::<std::net::Ipv6Addr>().is_ok() {
        return (HostKind::Ip, false);
    }
    let (name, has_port) = match host.rsplit_once(':') {
        Some((n, p)) => {
            if !p.chars().all(|c| c.is_ascii_digit()) || p.is_empty() {
                return (HostKind::Invalid, false);
            }
            (n, true)
        }
        None => (host, false),
    };
    if let Ok(ip) = name.parse::<std::net::Ipv4Addr>() {
        let _ = ip;
        return (HostKind::Ip, has_port);
    }
    let valid = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || ".-_".contains(c));
    if valid {
        (HostKind::Name, has_port)
    } else {
        (HostKind::Invalid, false)
    }
}

/// `typedefs.host` (`validate_host`): a name or an IP, without a port.
pub fn host(h: &str) -> Option<String> {
    match host_kind(h) {
        (HostKind::Invalid, _) => Some(format!("invalid value: {h}")),
        (_, true) => Some("must not have a port".into()),
        _ => None,
    }
}

/// `typedefs.sni` (`validate_sni`): a name, not an IP, without a port.
pub fn sni(h: &str) -> Option<String> {
    match host_kind(h) {
        (HostKind::Invalid, _) => Some(format!("invalid value: {h}")),
        (HostKind::Ip, _) => Some("must not be an IP".into()),
        (_, true) => Some("must not have a port".into()),
        _ => None,
    }
}

/// `typedefs.hosts` elements: at most one wildcard, leftmost or rightmost label, then
/// `validate_host_with_wildcards` (a host with an optional port once `*` reads `abc`).
pub fn route_host(h: &str) -> Option<String> {
    if h.matches('*').count() > 1 {
        return Some("invalid wildcard: must have at most one wildcard".into());
    }
    if h.contains('*') && !(h.starts_with("*.") || h.ends_with(".*")) {
        return Some("invalid wildcard: must be placed at leftmost or rightmost label".into());
    }
    let plain = h.replace('*', "abc");
    match host_kind(&plain) {
        (HostKind::Invalid, _) => Some(format!("invalid value: {plain}")),
        _ => None,
    }
}

/// `validate_path` of `typedefs.path`: RFC 3986 characters and proper percent-encoding.
fn rfc3986(path: &str) -> Option<String> {
    let ok = path.starts_with('/')
        && path
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || ".-_~/%".contains(c));
    if !ok {
        return Some(format!(
            "invalid path: '{path}' (characters outside of the reserved list of RFC 3986 found)"
        ));
    }
    let b = path.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = |k: usize| b.get(k).is_some_and(u8::is_ascii_hexdigit);
            if !(hex(i + 1) && hex(i + 2)) {
                let end = (i + 3).min(b.len());
                return Some(format!("invalid url-encoded value: '{}'", &path[i..end]));
            }
            i += 3;
        } else {
            i += 1;
        }
    }
    None
}

/// `typedefs.path` (a service's `path`): `starts_with = "/"`, no `//`, RFC 3986.
pub fn service_path(p: &str) -> Option<String> {
    if !p.starts_with('/') {
        return Some("should start with: /".into());
    }
    if p.contains("//") {
        return Some("must not have empty segments".into());
    }
    rfc3986(p)
}

/// `typedefs.router_path` (a route's `paths` elements): `/` (fixed) or `~/` (regex), no `//`;
/// a fixed path outside RFC 3986 is read as a regex by Kong, so only `~` paths and those are
/// left to the router.
pub fn router_path(p: &str) -> Option<String> {
    if !(p.starts_with('/') || p.starts_with("~/")) {
        return Some("should start with: / (fixed path) or ~/ (regex path)".into());
    }
    if p.contains("//") {
        return Some("must not have empty segments".into());
    }
    if p.starts_with('/')
        && let Some(e) = rfc3986(p)
        && e.starts_with("invalid url-encoded")
    {
        return Some(e);
    }
    None
}

/// `typedefs.http_method`: `match = "^%u+$"`.
pub fn http_method(m: &str) -> Option<String> {
    let ok = !m.is_empty() && m.chars().all(|c| c.is_ascii_uppercase());
    (!ok).then(|| format!("invalid value: {m}"))
}

fn str_items(body: &Map<String, Value>, field: &str) -> Vec<(usize, String)> {
    body.get(field)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .enumerate()
                .filter_map(|(i, v)| v.as_str().map(|s| (i, s.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

fn non_empty(body: &Map<String, Value>, field: &str) -> bool {
    match body.get(field) {
        Some(Value::Array(a)) => !a.is_empty(),
        Some(Value::Object(o)) => !o.is_empty(),
        Some(Value::String(s)) => !s.is_empty(),
        Some(Value::Null) | None => false,
        Some(_) => true,
    }
}

/// The field-level rules of `kind` for a body whose JSON types are already right. Entity-level
/// rules (a route's matchers) are [`route_entity_checks`].
pub fn field_errors(kind: Kind, body: &Map<String, Value>) -> Vec<Detail> {
    let mut out = Vec::new();
    let mut check = |field: String, msg: Option<String>| {
        if let Some(m) = msg {
            out.push(Detail::field(field, m));
        }
    };
    // Every string field: Kong's implicit len_min = 1.
    for (k, v) in body {
        if v.as_str() == Some("") {
            check(k.clone(), Some(LEN_MIN_1.into()));
        }
    }
    let s = |f: &str| {
        body.get(f)
            .and_then(Value::as_str)
            .filter(|v| !v.is_empty())
    };
    for (i, t) in str_items(body, "tags") {
        check(format!("tags[{i}]"), tag(&t));
    }
    match kind {
        Kind::Service => {
            if let Some(n) = s("name") {
                check("name".into(), utf8_name(n));
            }
            if let Some(h) = s("host") {
                check("host".into(), host(h));
            }
            if let Some(p) = s("path") {
                check("path".into(), service_path(p));
            }
        }
        Kind::Route => {
            if let Some(n) = s("name") {
                check("name".into(), utf8_name(n));
            }
            for (i, p) in str_items(body, "paths") {
                let msg = if p.is_empty() {
                    Some(LEN_MIN_1.into())
                } else {
                    router_path(&p)
                };
                check(format!("paths[{i}]"), msg);
            }
            for (i, h) in str_items(body, "hosts") {
                let msg = if h.is_empty() {
                    Some(LEN_MIN_1.into())
                } else {
                    route_host(&h)
                };
                check(format!("hosts[{i}]"), msg);
            }
            for (i, m) in str_items(body, "methods") {
                check(format!("methods[{i}]"), http_method(&m));
            }
            for (i, h) in str_items(body, "snis") {
                check(format!("snis[{i}]"), sni(&h));
            }
            if let Some(headers) = body.get("headers").and_then(Value::as_object) {
                for name in headers.keys() {
                    if name.eq_ignore_ascii_case("host") {
                        check(
                            format!("headers.{name}"),
                            Some("cannot contain 'host' header, which must be specified in the 'hosts' attribute".into()),
                        );
                    }
                }
            }
            for f in ["sources", "destinations"] {
                if let Some(items) = body.get(f).and_then(Value::as_array) {
                    for (i, item) in items.iter().enumerate() {
                        out.extend(source_errors(&format!("{f}[{i}]"), item));
                    }
                }
            }
        }
        Kind::Plugin => {
            if let Some(n) = s("instance_name") {
                check("instance_name".into(), utf8_name(n));
            }
        }
        Kind::Consumer | Kind::ConsumerGroup => {}
    }
    out
}

/// `typedefs.sources` / `destinations` elements: `{ip, port}`, at least one of them.
fn source_errors(path: &str, item: &Value) -> Vec<Detail> {
    let Some(o) = item.as_object() else {
        return vec![Detail::field(path, "expected a record")];
    };
    let mut out = Vec::new();
    for k in o.keys() {
        if k != "ip" && k != "port" {
            out.push(Detail::field(format!("{path}.{k}"), "unknown field"));
        }
    }
    match o.get("ip") {
        None | Some(Value::Null) => {}
        Some(Value::String(ip)) => {
            let base = ip.split_once('/').map_or(ip.as_str(), |(a, _)| a);
            if base.parse::<std::net::IpAddr>().is_err() {
                out.push(Detail::field(
                    format!("{path}.ip"),
                    format!("invalid ip or cidr range: '{ip}'"),
                ));
            }
        }
        Some(_) => out.push(Detail::field(format!("{path}.ip"), "expected a string")),
    }
    match o.get("port") {
        None | Some(Value::Null) => {}
        Some(p) => match p.as_i64() {
            Some(n) if (0..=65535).contains(&n) => {}
            Some(_) => out.push(Detail::field(
                format!("{path}.port"),
                "value should be between 0 and 65535",
            )),
            None => out.push(Detail::field(format!("{path}.port"), "expected an integer")),
        },
    }
    if !non_empty(o, "ip") && o.get("port").is_none_or(Value::is_null) {
        out.push(Detail::field(
            path,
            "at least one of these fields must be non-empty: 'ip', 'port'",
        ));
    }
    out
}

/// The protocol families of `routes_subschemas.lua` (the subschema is picked by protocol;
/// `mutually_exclusive_subsets` keeps one route in one family).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Family {
    Http,
    Grpc,
    Stream,
    Ws,
}

fn family(p: &str) -> Option<Family> {
    Some(match p {
        "http" | "https" => Family::Http,
        "grpc" | "grpcs" => Family::Grpc,
        "tcp" | "tls" | "udp" | "tls_passthrough" => Family::Stream,
        "ws" | "wss" => Family::Ws,
        _ => return None,
    })
}

fn quoted_list(fields: &[&str]) -> String {
    fields
        .iter()
        .map(|f| format!("'{f}'"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The route rules that depend on its protocols (`routes_subschemas.lua`, and the `snis`
/// check of `routes.lua`), for a traditional route with its defaults filled. Field errors
/// (`cannot set 'sources' when ...`) come first, then entity errors (`must set one of ...`).
pub fn route_protocol_errors(body: &Map<String, Value>) -> Vec<Detail> {
    let protocols: Vec<String> = str_items(body, "protocols")
        .into_iter()
        .map(|(_, p)| p)
        .collect();
    let has = |p: &str| protocols.iter().any(|x| x == p);
    let families: Vec<Family> = protocols.iter().filter_map(|p| family(p)).collect();
    let mut out = Vec::new();
    if let Some(first) = families.first()
        && families.iter().any(|f| f != first)
    {
        out.push(Detail::field(
            "protocols",
            "these sets are mutually exclusive: ('http', 'https'), ('tcp', 'tls', 'udp'), ('tls_passthrough'), ('grpc', 'grpcs'), ('ws', 'wss')",
        ));
        return out;
    }
    let forbid = |out: &mut Vec<Detail>, fields: &[&str], when: &str| {
        for f in fields {
            if non_empty(body, f) {
                out.push(Detail::field(
                    *f,
                    format!("cannot set '{f}' when 'protocols' is {when}"),
                ));
            }
        }
    };
    let need = |out: &mut Vec<Detail>, fields: &[&str], when: &str| {
        if !fields.iter().any(|f| non_empty(body, f)) {
            out.push(Detail::entity(format!(
                "must set one of {} when 'protocols' is {when}",
                quoted_list(fields)
            )));
        }
    };
    match families.first() {
        Some(Family::Http) => {
            forbid(&mut out, &["sources", "destinations"], "'http' or 'https'");
            if has("https") {
                need(
                    &mut out,
                    &["methods", "hosts", "headers", "paths", "snis"],
                    "'https'",
                );
            } else {
                need(
                    &mut out,
                    &["methods", "hosts", "headers", "paths"],
                    "'http'",
                );
            }
        }
        Some(Family::Grpc) => {
            if body.get("strip_path") == Some(&Value::Bool(true)) {
                out.push(Detail::field(
                    "strip_path",
                    "cannot set 'strip_path' when 'protocols' is 'grpc' or 'grpcs'",
                ));
            }
            forbid(
                &mut out,
                &["methods", "sources", "destinations"],
                "'grpc' or 'grpcs'",
            );
            if has("grpcs") {
                need(&mut out, &["hosts", "headers", "paths", "snis"], "'grpcs'");
            } else {
                need(&mut out, &["hosts", "headers", "paths"], "'grpc'");
            }
        }
        Some(Family::Stream) => {
            forbid(
                &mut out,
                &["methods", "hosts", "paths", "headers"],
                "'tcp', 'tls', 'tls_passthrough' or 'udp'",
            );
            if has("tls_passthrough") {
                if !non_empty(body, "snis") {
                    out.push(Detail::entity(
                        "must set snis when 'protocols' is 'tls_passthrough'",
                    ));
                }
            } else {
                need(
                    &mut out,
                    &["sources", "destinations", "snis"],
                    "'tcp', 'tls' or 'udp'",
                );
            }
        }
        // Kong Enterprise's WebSocket routes take the HTTP matchers.
        Some(Family::Ws) => {
            forbid(&mut out, &["sources", "destinations"], "'ws' or 'wss'");
            if has("wss") {
                need(
                    &mut out,
                    &["methods", "hosts", "headers", "paths", "snis"],
                    "'wss'",
                );
            } else {
                need(&mut out, &["methods", "hosts", "headers", "paths"], "'ws'");
            }
        }
        None => {}
    }
    let sni_protocols = ["grpcs", "https", "tls", "tls_passthrough", "wss"];
    if non_empty(body, "snis")
        && !protocols
            .iter()
            .any(|p| sni_protocols.contains(&p.as_str()))
    {
        out.push(Detail::entity(
            "'snis' can only be set when 'protocols' is 'grpcs', 'https', 'tls', 'tls_passthrough', or 'wss'",
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_tags() {
        assert!(utf8_name("svc-1.a_b~").is_none());
        assert!(utf8_name("nom-café").is_none());
        assert!(utf8_name("a b").is_some());
        assert!(utf8_name("a/b").is_some());
        assert!(tag("team a").is_none());
        assert!(tag("a,b").is_some());
        assert!(tag("a/b").is_some());
        assert_eq!(tag("").as_deref(), Some(LEN_MIN_1));
    }

    #[test]
    fn hosts_and_paths() {
        assert!(host("example.com").is_none());
        assert!(host("10.0.0.1").is_none());
        assert_eq!(host("a.com:80").as_deref(), Some("must not have a port"));
        assert!(host("a b").is_some());
        assert!(route_host("*.example.com").is_none());
        assert!(route_host("example.*").is_none());
        assert!(route_host("a.*.com").is_some());
        assert!(route_host("*.*.com").is_some());
        assert!(router_path("/a").is_none());
        assert!(router_path("~/a(b)?$").is_none());
        assert!(router_path("a").is_some());
        assert!(router_path("/a//b").is_some());
        assert!(service_path("/a%2").is_some());
        assert!(service_path("/a b").is_some());
        assert!(http_method("get").is_some());
        assert!(sni("10.0.0.1").is_some());
    }
}
