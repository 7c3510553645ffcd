//! KIC's annotations: their names and how their values are parsed.
//!
//! Parsers return `Err(message)` naming what is wrong with the value; callers attach the
//! annotation name and the object. Nothing here panics on any input.

use std::collections::BTreeMap;

/// Prefix of every KIC annotation.
pub const PREFIX: &str = "konghq.com/";
pub const PLUGINS: &str = "konghq.com/plugins";
pub const PROTOCOL: &str = "konghq.com/protocol";
pub const PATH: &str = "konghq.com/path";
pub const CONNECT_TIMEOUT: &str = "konghq.com/connect-timeout";
pub const READ_TIMEOUT: &str = "konghq.com/read-timeout";
pub const WRITE_TIMEOUT: &str = "konghq.com/write-timeout";
pub const RETRIES: &str = "konghq.com/retries";
pub const STRIP_PATH: &str = "konghq.com/strip-path";
pub const METHODS: &str = "konghq.com/methods";
pub const PROTOCOLS: &str = "konghq.com/protocols";
pub const PRESERVE_HOST: &str = "konghq.com/preserve-host";
pub const HTTPS_REDIRECT_STATUS_CODE: &str = "konghq.com/https-redirect-status-code";
pub const REGEX_PRIORITY: &str = "konghq.com/regex-priority";
pub const PATH_HANDLING: &str = "konghq.com/path-handling";
pub const REQUEST_BUFFERING: &str = "konghq.com/request-buffering";
pub const RESPONSE_BUFFERING: &str = "konghq.com/response-buffering";
/// Prefix of the per-header match annotations: `konghq.com/headers.<name>`.
pub const HEADERS_PREFIX: &str = "konghq.com/headers.";
/// The separator of the values of `konghq.com/headers.*` (default `,`).
pub const HEADERS_SEPARATOR: &str = "konghq.com/headers-separator";
pub const HOST_ALIASES: &str = "konghq.com/host-aliases";
pub const SNIS: &str = "konghq.com/snis";
/// Replaces KIC's `/~` as the marker of a regex Ingress path.
pub const REGEX_PREFIX: &str = "konghq.com/regex-prefix";
/// `"true"` redirects plain HTTP to HTTPS (302) and makes the route HTTPS-only.
pub const FORCE_SSL_REDIRECT: &str = "ingress.kubernetes.io/force-ssl-redirect";
pub const TAGS: &str = "konghq.com/tags";
pub const INGRESS_CLASS: &str = "kubernetes.io/ingress.class";
/// Marks the cluster's default IngressClass.
pub const DEFAULT_INGRESS_CLASS: &str = "ingressclass.kubernetes.io/is-default-class";

/// The annotation map of an object (empty when absent).
pub type Annotations = BTreeMap<String, String>;

/// A plugin named by `konghq.com/plugins`: bare `name`, or `namespace:name`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PluginRef {
    pub namespace: Option<String>,
    pub name: String,
}

impl std::fmt::Display for PluginRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{ns}:{}", self.name),
            None => f.write_str(&self.name),
        }
    }
}

/// Parses `konghq.com/plugins` as KIC does: split on `,`, trim, skip empty entries; `ns:name`
/// splits at the first `:`; an entry starting or ending with `:` is dropped. Duplicates are
/// removed, first occurrence kept.
pub fn plugin_refs(annotations: Option<&Annotations>) -> Vec<PluginRef> {
    let Some(value) = annotations.and_then(|a| a.get(PLUGINS)) else {
        return Vec::new();
    };
    let mut refs: Vec<PluginRef> = Vec::new();
    for entry in value.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        if entry.starts_with(':') || entry.ends_with(':') {
            continue;
        }
        let plugin = match entry.split_once(':') {
            Some((ns, name)) => PluginRef {
                namespace: Some(ns.trim().to_owned()),
                name: name.trim().to_owned(),
            },
            None => PluginRef {
                namespace: None,
                name: entry.to_owned(),
            },
        };
        if !refs.contains(&plugin) {
            refs.push(plugin);
        }
    }
    refs
}

/// Splits a comma-separated list, trimming and skipping empty entries.
pub fn list(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
        .collect()
}

/// `"true"`/`"false"`, case-insensitive (KIC uses `strconv.ParseBool` on lower-cased values).
pub fn boolean(value: &str) -> Result<bool, String> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "t" => Ok(true),
        "false" | "0" | "f" => Ok(false),
        _ => Err(format!("{value:?} is not a boolean (true or false)")),
    }
}

/// `konghq.com/strip-path` and `konghq.com/preserve-host`: KIC lower-cases the value and
/// accepts only `true` and `false` (`overrideStripPath`, `overridePreserveHost` in
/// internal/dataplane/kongstate/route.go).
pub fn true_or_false(value: &str) -> Result<bool, String> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(format!("{value:?} is not true or false")),
    }
}

/// A non-negative integer no larger than `max`.
pub fn bounded_u32(value: &str, max: u32) -> Result<u32, String> {
    match value.trim().parse::<u64>() {
        Ok(n) if n <= u64::from(max) => {
            u32::try_from(n).map_err(|_| format!("{value:?} is too large"))
        }
        Ok(_) => Err(format!("{value:?} is larger than {max}")),
        Err(_) => Err(format!("{value:?} is not a non-negative integer")),
    }
}

/// A signed integer.
pub fn integer(value: &str) -> Result<i64, String> {
    value
        .trim()
        .parse::<i64>()
        .map_err(|_| format!("{value:?} is not an integer"))
}

/// The protocols Kong accepts on a service and on a route.
pub use crate::konnect::models::PROTOCOLS as KONG_PROTOCOLS;
/// The redirect codes Kong accepts for `https_redirect_status_code`.
pub const REDIRECT_CODES: &[u16] = &[426, 301, 302, 307, 308];
/// Kong's path handling modes.
pub const PATH_HANDLINGS: &[&str] = &["v0", "v1"];

/// One protocol, lower-cased, that must be in `allowed`.
pub fn protocol(value: &str, allowed: &[&str]) -> Result<String, String> {
    let p = value.trim().to_ascii_lowercase();
    if allowed.contains(&p.as_str()) {
        Ok(p)
    } else {
        Err(format!("{value:?} is not one of {}", allowed.join(", ")))
    }
}

/// A comma-separated list of protocols, each in `allowed`.
pub fn protocols(value: &str, allowed: &[&str]) -> Result<Vec<String>, String> {
    let items = list(value);
    if items.is_empty() {
        return Err("the list is empty".into());
    }
    let mut out = Vec::new();
    for item in items {
        let p = protocol(&item, allowed)?;
        if !out.contains(&p) {
            out.push(p);
        }
    }
    Ok(out)
}

/// A comma-separated list of HTTP methods, upper-cased (letters only, as Kong requires).
pub fn methods(value: &str) -> Result<Vec<String>, String> {
    let items = list(value);
    if items.is_empty() {
        return Err("the list is empty".into());
    }
    let mut out = Vec::new();
    for item in items {
        let m = item.to_ascii_uppercase();
        if !m.chars().all(|c| c.is_ascii_uppercase()) {
            return Err(format!("{item:?} is not an HTTP method"));
        }
        if !out.contains(&m) {
            out.push(m);
        }
    }
    Ok(out)
}

/// A service path: must start with `/`.
pub fn service_path(value: &str) -> Result<String, String> {
    let v = value.trim();
    if v.starts_with('/') && !v.chars().any(|c| c.is_whitespace() || c.is_control()) {
        Ok(v.to_owned())
    } else {
        Err(format!("{value:?} must be a path starting with '/'"))
    }
}

/// `konghq.com/headers.<name>` annotations: header name (as written) -> values, split on
/// `konghq.com/headers-separator` (default `,`) and trimmed, as KIC's `ExtractHeaders`
/// (internal/annotations/annotations.go) does; an annotation with an empty name or value is
/// skipped there too. Stricter than KIC: a name Kong would refuse, or an empty value between
/// separators, is an error instead of a configuration Kong rejects.
pub fn headers(annotations: Option<&Annotations>) -> Result<BTreeMap<String, Vec<String>>, String> {
    let separator = annotations
        .and_then(|a| a.get(HEADERS_SEPARATOR))
        .map(String::as_str)
        .filter(|s| !s.is_empty())
        .unwrap_or(",");
    let mut out = BTreeMap::new();
    for (key, value) in annotations.into_iter().flatten() {
        let Some(name) = key.strip_prefix(HEADERS_PREFIX) else {
            continue;
        };
        if name.is_empty() || value.is_empty() {
            continue;
        }
        if !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(format!("{key}: {name:?} is not a header name"));
        }
        let values: Vec<String> = value
            .split(separator)
            .map(|v| v.trim().to_owned())
            .collect();
        if values.iter().any(String::is_empty) {
            return Err(format!("{key}: {value:?} has an empty value"));
        }
        out.insert(name.to_owned(), values);
    }
    Ok(out)
}

/// One DNS label as KIC's host and SNI patterns read it: ASCII letters and digits, with single
/// `-` between them (`[a-zA-Z0-9]+(-[a-zA-Z0-9]+)*`).
fn dns_label(label: &str) -> bool {
    !label.is_empty()
        && !label.starts_with('-')
        && !label.ends_with('-')
        && !label.contains("--")
        && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

/// KIC's `validHosts` (internal/dataplane/kongstate/route.go): labels joined by `.`, with an
/// optional leading `*.` or trailing `.*`.
pub fn valid_host(host: &str) -> bool {
    let host = host.strip_prefix("*.").unwrap_or(host);
    let host = host.strip_suffix(".*").unwrap_or(host);
    host.split('.').all(dns_label)
}

/// KIC's `validSNIs`: labels joined by `.`, no wildcard.
pub fn valid_sni(sni: &str) -> bool {
    sni.split('.').all(dns_label)
}

/// `konghq.com/host-aliases`: a comma-separated list of hosts (trimmed, empty entries
/// dropped), each valid or the whole annotation is refused (`overrideHosts`).
pub fn host_aliases(value: &str) -> Result<Vec<String>, String> {
    let hosts = list(value);
    match hosts.iter().find(|h| !valid_host(h)) {
        Some(bad) => Err(format!("{bad:?} is not a host name")),
        None => Ok(hosts),
    }
}

/// `konghq.com/snis`: a comma-separated list of server names, each valid or the whole
/// annotation is refused (`overrideSNIs`). An empty value means no SNI criteria.
pub fn snis(value: &str) -> Result<Vec<String>, String> {
    let names = list(value);
    match names.iter().find(|h| !valid_sni(h)) {
        Some(bad) => Err(format!("{bad:?} is not a server name")),
        None => Ok(names),
    }
}

/// The user's tags from `konghq.com/tags`.
pub fn user_tags(annotations: Option<&Annotations>) -> Vec<String> {
    annotations
        .and_then(|a| a.get(TAGS))
        .map(|v| list(v))
        .unwrap_or_default()
}

/// Reads one annotation.
pub fn get<'a>(annotations: Option<&'a Annotations>, name: &str) -> Option<&'a str> {
    annotations.and_then(|a| a.get(name)).map(String::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ann(v: &str) -> Annotations {
        BTreeMap::from([(PLUGINS.to_owned(), v.to_owned())])
    }

    #[test]
    fn plugin_list_is_parsed_like_kic() {
        let refs = plugin_refs(Some(&ann(" a, ,b ,ns:c,:d,e:,a, x:y:z")));
        let shown: Vec<String> = refs.iter().map(ToString::to_string).collect();
        assert_eq!(shown, vec!["a", "b", "ns:c", "x:y:z"]);
        assert_eq!(refs[3].namespace.as_deref(), Some("x"));
        assert_eq!(refs[3].name, "y:z");
    }

    #[test]
    fn scalar_parsers_refuse_garbage() {
        assert_eq!(boolean("TRUE"), Ok(true));
        assert!(boolean("yes please").is_err());
        assert_eq!(bounded_u32("30000", 1 << 31), Ok(30000));
        assert!(bounded_u32("-1", 10).is_err());
        assert!(bounded_u32("11", 10).is_err());
        assert_eq!(methods("get, post"), Ok(vec!["GET".into(), "POST".into()]));
        assert!(methods("GET,P0ST").is_err());
        assert!(protocols("http,gopher", KONG_PROTOCOLS).is_err());
    }

    #[test]
    fn header_annotations_become_header_matches() {
        let a = BTreeMap::from([
            (
                "konghq.com/headers.X-Env".to_owned(),
                "prod, staging".to_owned(),
            ),
            ("other".to_owned(), "x".to_owned()),
        ]);
        let h = headers(Some(&a)).unwrap_or_default();
        // The name as written (KIC's ExtractHeaders keeps it), values trimmed.
        assert_eq!(
            h.get("X-Env"),
            Some(&vec!["prod".to_owned(), "staging".to_owned()])
        );
        let mut sep = a.clone();
        sep.insert(HEADERS_SEPARATOR.to_owned(), ";".to_owned());
        sep.insert("konghq.com/headers.x-b".to_owned(), "a,b; c".to_owned());
        let h = headers(Some(&sep)).unwrap_or_default();
        assert_eq!(h.get("x-b"), Some(&vec!["a,b".to_owned(), "c".to_owned()]));
    }

    #[test]
    fn hosts_and_snis_follow_kics_patterns() {
        assert!(valid_host("*.example.com"));
        assert!(valid_host("example.*"));
        assert!(valid_host("a-b.c1"));
        assert!(!valid_host("a..b"));
        assert!(!valid_host("-a.b"));
        assert!(!valid_host("a.*.b"));
        assert!(valid_sni("api.example.com"));
        assert!(!valid_sni("*.example.com"));
        assert_eq!(
            host_aliases(" a.example.com, ,b.example.com"),
            Ok(vec!["a.example.com".to_owned(), "b.example.com".to_owned()])
        );
        assert!(host_aliases("a.example.com,bad_host").is_err());
        assert_eq!(snis(""), Ok(vec![]));
        assert!(snis("*.x.com").is_err());
        assert_eq!(true_or_false("TRUE"), Ok(true));
        assert!(true_or_false("1").is_err());
    }
}
