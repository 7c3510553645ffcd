//! Secret provenance: which values of a plugin's configuration came from a Kubernetes Secret
//! (`configFrom`: every value; `configPatches`: the values each patch added), and the
//! redaction of those values wherever a configuration is shown to a person (`render`, Debug
//! output, validation messages).
//!
//! The real values stay in [`super::DesiredState`]: the controller must send them to Konnect,
//! and the payload hash is computed from them so that drift detection sees a changed Secret.
//! What this module adds is the list of [`SecretField`]s of each plugin, the only thing a
//! printer needs to hide them.
//!
//! Provenance is tracked with a *shadow* document: a copy of the configuration in which every
//! Secret-derived scalar is replaced by a marker naming its Secret. Each `configPatches` `add`
//! is applied to the shadow exactly as to the configuration, so array insertions, whole-document
//! replacements and later patches over earlier ones keep the two in step without any pointer
//! bookkeeping. The markers are read back into JSON Pointers once the configuration is final.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::Value;

/// A Secret key a configuration value came from.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SecretSource {
    pub namespace: String,
    pub name: String,
    pub key: String,
}

/// `Secret <ns>/<name> key <key>`: how messages and redaction markers name a Secret key.
impl fmt::Display for SecretSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Secret {}/{} key {}",
            self.namespace, self.name, self.key
        )
    }
}

impl SecretSource {
    /// The text that stands for a value of this Secret key in printed output:
    /// `<redacted: Secret <ns>/<name> key <key>>`.
    pub fn marker(&self) -> String {
        format!("<redacted: {self}>")
    }
}

/// One string, number or boolean of a plugin's `config` that came from a Secret.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SecretField {
    /// RFC 6901 JSON Pointer into the plugin's `config` (`""` when the whole configuration is
    /// one scalar, which translation refuses, so in practice always `/...`).
    pub pointer: String,
    pub secret: SecretSource,
}

/// Prefix of the shadow markers. It starts with a NUL so that no configuration a person writes
/// in YAML is mistaken for one (and [`Shadow::from_user_config`] clears any that would be).
const SHADOW_PREFIX: &str = "\u{0}kpo-secret:";

/// The key under which the shadow of an object read from a Secret records that the object's
/// KEYS came from that Secret too (its value is the Secret's marker). It starts with the shadow
/// prefix, so no user-written key is mistaken for it ([`clear_markers`] drops those).
const KEYS_MARK: &str = "\u{0}kpo-secret:keys";

/// The shadow document of a configuration under construction (see the module docs).
#[derive(Clone, Debug, Default)]
pub(crate) struct Shadow {
    doc: Value,
    sources: Vec<SecretSource>,
}

impl Shadow {
    /// The shadow of a configuration the user wrote in the plugin object (nothing secret).
    pub fn from_user_config(config: &Value) -> Self {
        Self {
            doc: clear_markers(config),
            sources: Vec::new(),
        }
    }

    /// The shadow of a value read from `secret`: the same structure, every scalar marked.
    pub fn secret_value(&mut self, value: &Value, secret: SecretSource) -> Value {
        let index = match self.sources.iter().position(|s| *s == secret) {
            Some(i) => i,
            None => {
                self.sources.push(secret);
                self.sources.len() - 1
            }
        };
        mark(value, &format!("{SHADOW_PREFIX}{index}"))
    }

    /// Replaces the whole shadow (for `configFrom`, whose value is the whole configuration).
    pub fn set(&mut self, doc: Value) {
        self.doc = doc;
    }

    /// The shadow document, to apply the same patches to it as to the configuration.
    pub fn doc_mut(&mut self) -> &mut Value {
        &mut self.doc
    }

    /// The Secret-derived fields, sorted by pointer.
    pub fn fields(&self) -> Vec<SecretField> {
        let mut out = Vec::new();
        self.collect(&self.doc, &mut String::new(), &mut out);
        out.sort();
        out
    }

    fn collect(&self, v: &Value, pointer: &mut String, out: &mut Vec<SecretField>) {
        match v {
            Value::String(s) => {
                if let Some(source) = s
                    .strip_prefix(SHADOW_PREFIX)
                    .and_then(|i| i.parse::<usize>().ok())
                    .and_then(|i| self.sources.get(i))
                {
                    out.push(SecretField {
                        pointer: pointer.clone(),
                        secret: source.clone(),
                    });
                }
            }
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    let len = pointer.len();
                    pointer.push('/');
                    pointer.push_str(&i.to_string());
                    self.collect(item, pointer, out);
                    pointer.truncate(len);
                }
            }
            Value::Object(map) => {
                // The object's keys came from a Secret: the field is the object itself (a
                // printer replaces it whole, see `redact_config`).
                if let Some(source) = map
                    .get(KEYS_MARK)
                    .and_then(Value::as_str)
                    .and_then(|s| s.strip_prefix(SHADOW_PREFIX))
                    .and_then(|i| i.parse::<usize>().ok())
                    .and_then(|i| self.sources.get(i))
                {
                    out.push(SecretField {
                        pointer: pointer.clone(),
                        secret: source.clone(),
                    });
                }
                for (k, item) in map {
                    if k == KEYS_MARK {
                        continue;
                    }
                    let len = pointer.len();
                    pointer.push('/');
                    pointer.push_str(&escape_token(k));
                    self.collect(item, pointer, out);
                    pointer.truncate(len);
                }
            }
            Value::Null | Value::Bool(_) | Value::Number(_) => {}
        }
    }
}

/// A copy of a user-written value with any string that looks like a shadow marker nulled, so a
/// value the user typed can never be read back as Secret-derived.
fn clear_markers(v: &Value) -> Value {
    match v {
        Value::String(s) if s.starts_with(SHADOW_PREFIX) => Value::Null,
        Value::Array(items) => Value::Array(items.iter().map(clear_markers).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(k, _)| !k.starts_with(SHADOW_PREFIX))
                .map(|(k, v)| (k.clone(), clear_markers(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// The same structure with every string, number and boolean replaced by `marker` (nulls stay:
/// they carry nothing).
fn mark(v: &Value, marker: &str) -> Value {
    match v {
        Value::String(_) | Value::Number(_) | Value::Bool(_) => Value::String(marker.to_owned()),
        Value::Null => Value::Null,
        Value::Array(items) => Value::Array(items.iter().map(|i| mark(i, marker)).collect()),
        Value::Object(map) => {
            let mut out: serde_json::Map<String, Value> = map
                .iter()
                .map(|(k, v)| (k.clone(), mark(v, marker)))
                .collect();
            // Its keys are the Secret's too (a header name, a map key): mark them.
            if !map.is_empty() {
                out.insert(KEYS_MARK.to_owned(), Value::String(marker.to_owned()));
            }
            Value::Object(out)
        }
    }
}

/// RFC 6901 escaping of one reference token.
fn escape_token(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

/// A copy of `config` with the value at every field's pointer replaced by its Secret's
/// [marker](SecretSource::marker). Pointers that do not resolve are ignored (the structure is
/// still shown as it is).
pub fn redact_config(config: &Value, fields: &[SecretField]) -> Value {
    let mut out = config.clone();
    for field in fields {
        let target = if field.pointer.is_empty() {
            Some(&mut out)
        } else {
            out.pointer_mut(&field.pointer)
        };
        if let Some(v) = target {
            *v = Value::String(field.secret.marker());
        }
    }
    out
}

/// Lua's `tostring` of a scalar, as the schema engine writes values into its messages.
fn rendered(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(match n.as_f64() {
            Some(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", f as i64),
            _ => n.to_string(),
        }),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// The schema engine's field path (`config.a.b[0]`) of a pointer into `config`.
fn field_path(config: &Value, pointer: &str) -> String {
    let mut path = String::from("config");
    let mut cur = Some(config);
    for token in pointer.split('/').skip(1) {
        let token = token.replace("~1", "/").replace("~0", "~");
        match cur {
            Some(Value::Array(items)) => {
                path.push_str(&format!("[{token}]"));
                cur = token.parse::<usize>().ok().and_then(|i| items.get(i));
            }
            other => {
                path.push('.');
                path.push_str(&token);
                cur = other.and_then(|v| v.get(&token));
            }
        }
    }
    path
}

/// Minimum length of a Secret string hunted for in *every* message of its plugin. Shorter ones
/// are only hunted for in the messages about their own field (where an echo happens), so a
/// one-letter value does not shred unrelated messages.
const ANYWHERE_MIN_LEN: usize = 6;

/// Removes Secret-derived values from validation messages.
///
/// The schema engine echoes a value in a few messages (`invalid value: ...`), and it redacts
/// only the fields its schema marks as encrypted; a Secret can fill any field. A message about
/// a field at or above a Secret-derived value has that value (string, number or boolean)
/// replaced by its marker; any longer Secret string is also replaced wherever it appears.
pub(crate) struct Scrubber {
    /// (field path, rendered value, marker, is a map key), longest value first.
    values: Vec<(String, String, String, bool)>,
}

impl Scrubber {
    pub fn new(config: &Value, fields: &[SecretField]) -> Self {
        let mut values: Vec<(String, String, String, bool)> = fields
            .iter()
            .flat_map(|f| {
                let path = field_path(config, &f.pointer);
                let marker = f.secret.marker();
                match config.pointer(&f.pointer) {
                    // An object whose keys came from the Secret: its keys are the values.
                    // (An empty key names nothing, and would match everywhere.)
                    Some(Value::Object(map)) => map
                        .keys()
                        .filter(|k| !k.is_empty())
                        .map(|k| (path.clone(), k.clone(), marker.clone(), true))
                        .collect::<Vec<_>>(),
                    Some(v) => rendered(v)
                        .map(|r| vec![(path, r, marker, false)])
                        .unwrap_or_default(),
                    None => Vec::new(),
                }
            })
            .collect();
        values.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then_with(|| a.cmp(b)));
        Self { values }
    }

    /// True when there is nothing to scrub.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// `message` about `field`, without Secret values.
    pub fn scrub(&self, field: &str, message: &str) -> String {
        let mut out = message.to_owned();
        for (path, value, marker, _) in &self.values {
            let own = path == field
                || path
                    .strip_prefix(field)
                    .is_some_and(|rest| rest.starts_with('.') || rest.starts_with('['));
            if own {
                out = replace_token(&out, value, marker);
            } else if value.chars().count() >= ANYWHERE_MIN_LEN {
                out = out.replace(value.as_str(), marker);
            }
        }
        out
    }
}

impl Scrubber {
    /// A field path (`config.headers.X-Key[0]`) with each segment that is a Secret-derived map
    /// key replaced by its marker.
    pub fn scrub_field(&self, field: &str) -> String {
        // The outermost Secret-derived key wins: what is below it is not shown at all.
        let mut keys: Vec<_> = self.values.iter().filter(|v| v.3).collect();
        keys.sort_by_key(|v| v.0.len());
        for (path, key, marker, _) in keys {
            let Some(rest) = field
                .strip_prefix(path.as_str())
                .and_then(|r| r.strip_prefix('.'))
                .and_then(|r| r.strip_prefix(key.as_str()))
            else {
                continue;
            };
            if rest.is_empty() {
                return format!("{path}.{marker}");
            }
            if rest.starts_with('.') || rest.starts_with('[') {
                // What lies below a Secret-derived key may name more of it: not shown.
                return format!("{path}.{marker} (a field inside it)");
            }
        }
        field.to_owned()
    }
}

/// Replaces `value` in `text` where it is not part of a longer word (so the number `5` in
/// `value must be 5` goes, but not the `5` of `502`).
fn replace_token(text: &str, value: &str, marker: &str) -> String {
    if value.is_empty() {
        return text.to_owned();
    }
    let is_word = |c: char| c.is_alphanumeric() || c == '_' || c == '.' || c == '-';
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let mut prev: Option<char> = None;
    while let Some(at) = rest.find(value) {
        let before = rest[..at].chars().next_back().or(prev);
        let after = rest[at + value.len()..].chars().next();
        // Word boundaries only matter where the value itself starts or ends with a word char.
        let starts_word = value.chars().next().is_some_and(is_word);
        let ends_word = value.chars().next_back().is_some_and(is_word);
        let inside_word = (starts_word && before.is_some_and(is_word))
            || (ends_word && after.is_some_and(is_word));
        out.push_str(&rest[..at]);
        if !inside_word {
            out.push_str(marker);
        } else {
            out.push_str(value);
        }
        prev = value.chars().next_back();
        rest = &rest[at + value.len()..];
    }
    out.push_str(rest);
    out
}

/// Counts the Secret-derived values of every plugin (for a one-line summary).
pub fn count<K>(fields: &BTreeMap<K, Vec<SecretField>>) -> usize {
    fields.values().map(Vec::len).sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn src(key: &str) -> SecretSource {
        SecretSource {
            namespace: "ns".into(),
            name: "s".into(),
            key: key.into(),
        }
    }

    #[test]
    fn shadow_follows_patches_and_array_shifts() {
        let mut config = json!({"list": ["a", "b"], "x": 1, "n": null});
        let mut shadow = Shadow::from_user_config(&config);
        let secret = json!("SECRET");
        let marked = shadow.secret_value(&secret, src("k1"));
        // Insert at index 0: the user's "a" shifts to 1, the secret sits at 0.
        assert!(super::super::plugins::add_at(&mut config, "/list/0", secret).is_ok());
        assert!(super::super::plugins::add_at(shadow.doc_mut(), "/list/0", marked).is_ok());
        let obj = json!({"inner": {"pw": "p", "port": 5, "on": true, "none": null, "a/b": "q"}});
        let marked = shadow.secret_value(&obj, src("k2"));
        assert!(super::super::plugins::add_at(&mut config, "/deep/er", obj).is_ok());
        assert!(super::super::plugins::add_at(shadow.doc_mut(), "/deep/er", marked).is_ok());
        let fields = shadow.fields();
        let pointers: Vec<&str> = fields.iter().map(|f| f.pointer.as_str()).collect();
        // The two objects read from k2 are fields too: their keys are the Secret's.
        assert_eq!(
            pointers,
            [
                "/deep/er",
                "/deep/er/inner",
                "/deep/er/inner/a~1b",
                "/deep/er/inner/on",
                "/deep/er/inner/port",
                "/deep/er/inner/pw",
                "/list/0"
            ]
        );
        assert_eq!(fields[6].secret, src("k1"));
        let red = redact_config(&config, &fields);
        assert_eq!(
            red["list"],
            json!(["<redacted: Secret ns/s key k1>", "a", "b"])
        );
        // Keys and values of the Secret's object are hidden together.
        assert_eq!(red["deep"]["er"], json!("<redacted: Secret ns/s key k2>"));
        assert_eq!(red["x"], json!(1));
        assert!(!red.to_string().contains("SECRET"));
        assert!(!red.to_string().contains("inner"));
        // Only the scalar fields, redacted one by one, show the structure.
        let scalars: Vec<SecretField> = fields
            .iter()
            .filter(|f| !config.pointer(&f.pointer).is_some_and(Value::is_object))
            .cloned()
            .collect();
        let red = redact_config(&config, &scalars);
        assert_eq!(
            red["deep"]["er"]["inner"]["port"],
            json!("<redacted: Secret ns/s key k2>")
        );
        assert_eq!(red["deep"]["er"]["inner"]["none"], Value::Null);
    }

    #[test]
    fn user_values_never_read_as_markers() {
        let config = json!({"a": format!("{SHADOW_PREFIX}0")});
        let mut shadow = Shadow::from_user_config(&config);
        let _ = shadow.secret_value(&json!("x"), src("k"));
        assert!(shadow.fields().is_empty());
    }

    #[test]
    fn scrubber_hides_values_in_their_own_messages() {
        let config = json!({"port": 5, "name": "ab", "long": "canary-value", "list": ["q"]});
        let fields: Vec<SecretField> = ["/port", "/name", "/long", "/list/0"]
            .iter()
            .map(|p| SecretField {
                pointer: (*p).into(),
                secret: src("k"),
            })
            .collect();
        let s = Scrubber::new(&config, &fields);
        let m = "<redacted: Secret ns/s key k>";
        assert_eq!(
            s.scrub("config.port", "value must not be 5 (502)"),
            format!("value must not be {m} (502)")
        );
        assert_eq!(
            s.scrub("config.name", "invalid value: ab"),
            format!("invalid value: {m}")
        );
        // Short values elsewhere are left alone; long ones go everywhere.
        assert_eq!(s.scrub("config.other", "about ab"), "about ab");
        assert_eq!(
            s.scrub("config.other", "x canary-value y"),
            format!("x {m} y")
        );
        assert_eq!(
            s.scrub("config.list", "invalid value: q"),
            format!("invalid value: {m}")
        );
        assert_eq!(
            s.scrub("config.list[0]", "invalid value: q"),
            format!("invalid value: {m}")
        );
        assert_eq!(s.scrub("config.portal", "value 5"), "value 5");
    }

    #[test]
    fn secret_map_keys_are_scrubbed_from_messages_and_field_paths() {
        // A configPatches-like value: the Secret's object added at /headers.
        let config = json!({"headers": {"X-Canary-Header": "v"}});
        let mut shadow = Shadow::from_user_config(&json!({"headers": null}));
        let marked = shadow.secret_value(&config["headers"], src("k"));
        if let Some(at) = shadow.doc_mut().pointer_mut("/headers") {
            *at = marked;
        }
        let fields = shadow.fields();
        assert_eq!(fields.len(), 2, "{fields:?}");
        let s = Scrubber::new(&config, &fields);
        let m = "<redacted: Secret ns/s key k>";
        assert_eq!(
            s.scrub_field("config.headers.X-Canary-Header"),
            format!("config.headers.{m}")
        );
        assert_eq!(
            s.scrub_field("config.headers.X-Canary-Header[0]"),
            format!("config.headers.{m} (a field inside it)")
        );
        assert!(
            !s.scrub("config.headers", "unknown key X-Canary-Header")
                .contains("X-Canary-Header")
        );
        assert!(
            !redact_config(&config, &fields)
                .to_string()
                .contains("X-Canary-Header")
        );
    }

    /// Found by translate_props: an empty key from a Secret made `replace_token` loop forever
    /// (an empty pattern matches at every position), growing memory until the OOM killer.
    #[test]
    fn an_empty_secret_key_is_not_scrubbed_for() {
        let config = json!({"m": {"": "v", "k": "w"}});
        let mut shadow = Shadow::from_user_config(&json!({"m": null}));
        let marked = shadow.secret_value(&config["m"], src("k"));
        if let Some(at) = shadow.doc_mut().pointer_mut("/m") {
            *at = marked;
        }
        let s = Scrubber::new(&config, &shadow.fields());
        assert_eq!(s.scrub("config.m", "bad value"), "bad value");
        assert_eq!(s.scrub_field("config.m"), "config.m");
    }

    #[test]
    fn user_keys_that_look_like_markers_are_dropped() {
        let config = json!({"a": {KEYS_MARK: format!("{SHADOW_PREFIX}0")}});
        let mut shadow = Shadow::from_user_config(&config);
        let _ = shadow.secret_value(&json!({"x": 1}), src("k"));
        assert!(shadow.fields().is_empty());
    }
}
