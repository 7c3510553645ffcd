//! Tags on every entity we write: identity and ownership first, user tags last.
//!
//! Order: `managed-by:konnect-plugin-operator`, the owner tag, KIC's `k8s-name:`,
//! `k8s-namespace:`, `k8s-kind:`, `k8s-uid:`, `k8s-group:`, `k8s-version:` of the source object,
//! the desired-payload hash tag, then the user's tags (`konghq.com/tags`, the object's `tags`).
//! Konnect allows at most 20 tags of at most 128 characters, without `,` or `/` (the rules
//! one [`Tag`] enforces); user tags are dropped first, and each drop is reported as a warning.

use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::canonical::Writer;
pub use crate::konnect::models::MAX_TAG_LEN;
use crate::konnect::models::Tag;

/// Konnect's limit on the number of tags of an entity.
pub const MAX_TAGS: usize = 20;
/// Marks every entity this operator writes.
pub const MANAGED_BY: &str = "managed-by:konnect-plugin-operator";
/// Prefix of the owner tag.
pub const OWNER_PREFIX: &str = "kpo-owner:";
/// Prefix of the desired-payload hash tag.
pub const HASH_PREFIX: &str = "kpo-hash:";
/// Length of the hex digest in the hash tag.
pub const HASH_LEN: usize = 12;
// The hash tag hex-encodes the first HASH_LEN / 2 bytes of the digest.
const _: () = assert!(HASH_LEN.is_multiple_of(2));

/// The owner tag for an owner identity (the controller lists Konnect entities by it).
pub fn owner_tag(owner: &str) -> Tag {
    generated_parts(OWNER_PREFIX, owner)
}

/// The managed-by and owner tags, which start every entity's tags (see [`build_after`]).
pub(crate) fn head(owner: &str) -> [Tag; 2] {
    [generated(MANAGED_BY), owner_tag(owner)]
}

/// The hash tag as printers show it for a plugin with Secret-derived values
/// (`kpo-hash:<redacted>`).
pub fn redacted_hash_tag() -> Tag {
    generated(&format!("{HASH_PREFIX}<redacted>"))
}

/// The identity of the Kubernetes object an entity comes from.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SourceMeta {
    pub kind: String,
    pub group: String,
    pub version: String,
    pub name: String,
    pub namespace: Option<String>,
    pub uid: Option<String>,
    /// The user's tags, in order (`konghq.com/tags` first, then the object's `tags` field).
    pub user_tags: Vec<String>,
}

impl SourceMeta {
    /// KIC's `k8s-*` tags for this object, in order, as (prefix, value) pairs.
    fn k8s_tags(&self) -> impl Iterator<Item = (&'static str, &str)> {
        [
            Some(("k8s-name:", self.name.as_str())),
            self.namespace.as_deref().map(|ns| ("k8s-namespace:", ns)),
            Some(("k8s-kind:", self.kind.as_str())),
            self.uid.as_deref().map(|uid| ("k8s-uid:", uid)),
            // KIC omits the group tag for the core group.
            (!self.group.is_empty()).then_some(("k8s-group:", self.group.as_str())),
            Some(("k8s-version:", self.version.as_str())),
        ]
        .into_iter()
        .flatten()
    }
}

/// Replaces what Konnect refuses in a tag (`,`, `/`, control characters) by `_` and cuts it
/// to [`MAX_TAG_LEN`] characters, for tags we generate (user tags are dropped instead, never
/// rewritten).
fn sanitize(tag: &str) -> String {
    tag.chars()
        .map(|c| {
            if c == ',' || c == '/' || c.is_control() {
                '_'
            } else {
                c
            }
        })
        .take(MAX_TAG_LEN)
        .collect()
}

/// A tag we generate. Every caller passes a constant prefix (`managed-by:`, `k8s-name:`,
/// `kpo-hash:`...) followed by a value, so the text is never empty.
fn generated(tag: &str) -> Tag {
    generated_from(String::from(tag))
}

/// [`generated`] of `prefix` + `value`, built in one allocation.
fn generated_parts(prefix: &str, value: &str) -> Tag {
    let mut tag = String::with_capacity(prefix.len() + value.len());
    tag.push_str(prefix);
    tag.push_str(value);
    generated_from(tag)
}

fn generated_from(tag: String) -> Tag {
    // Nearly every tag is short printable ASCII without `,` or `/`, which `sanitize` would
    // return unchanged: keep the text as it is then (a byte count bounds the character count).
    let clean = tag.len() <= MAX_TAG_LEN
        && tag
            .bytes()
            .all(|b| (0x20..0x7f).contains(&b) && b != b',' && b != b'/');
    let tag = if clean { tag } else { sanitize(&tag) };
    // Cannot fail: `sanitize` leaves at most MAX_TAG_LEN characters, none of them `,`, `/` or
    // a control character, and keeps at least the first character of a non-empty text.
    Tag::new(tag).expect("a sanitized, prefixed tag is valid")
}

/// Builds the full tag list; returns the tags and a warning per dropped user tag.
pub fn build(owner: &str, source: &SourceMeta, hash: &str) -> (Vec<Tag>, Vec<String>) {
    build_after(&head(owner), source, hash)
}

/// [`build`] with its first two tags (managed-by and owner) made once by the caller: they are
/// the same on every entity of a translation.
pub(crate) fn build_after(
    head: &[Tag],
    source: &SourceMeta,
    hash: &str,
) -> (Vec<Tag>, Vec<String>) {
    let mut tags = Vec::with_capacity((head.len() + 7 + source.user_tags.len()).min(MAX_TAGS));
    tags.extend_from_slice(head);
    tags.extend(
        source
            .k8s_tags()
            .map(|(prefix, value)| generated_parts(prefix, value)),
    );
    tags.push(generated_parts(HASH_PREFIX, hash));
    let mut warnings = Vec::new();
    for tag in &source.user_tags {
        let tag = match Tag::new(tag.trim()) {
            Ok(tag) => tag,
            Err(refused) => {
                warnings.push(format!("{refused}; dropped"));
                continue;
            }
        };
        if tags.contains(&tag) {
            continue;
        }
        if tags.len() >= MAX_TAGS {
            warnings.push(format!(
                "tag {tag:?} dropped: Konnect allows at most {MAX_TAGS} tags",
                tag = tag.as_str()
            ));
            continue;
        }
        tags.push(tag);
    }
    (tags, warnings)
}

/// Serializes a JSON value with object keys sorted at every level, so equal payloads hash
/// equally whatever order their maps were built in.
pub fn canonical_json(value: &Value) -> String {
    fn sort(value: &Value) -> Value {
        match value {
            Value::Object(map) => {
                let mut entries: Vec<(&String, &Value)> = map.iter().collect();
                entries.sort_by(|a, b| a.0.cmp(b.0));
                Value::Object(
                    entries
                        .into_iter()
                        .map(|(k, v)| (k.clone(), sort(v)))
                        .collect(),
                )
            }
            Value::Array(items) => Value::Array(items.iter().map(sort).collect()),
            other => other.clone(),
        }
    }
    sort(value).to_string()
}

/// The desired-payload hash: the first [`HASH_LEN`] hex digits of the SHA-256 of the canonical
/// JSON of the entity without its `tags`, `created_at` and `updated_at`.
pub fn payload_hash<T: Serialize>(entity: &T) -> String {
    payload_hash_with(entity, &mut Writer::default())
}

/// Top-level keys the payload hash leaves out.
const UNHASHED: &[&str] = &["tags", "created_at", "updated_at"];

/// [`payload_hash`], with `scratch` as the buffer for the canonical JSON (reused across calls
/// so hashing thousands of entities allocates it once). The canonical JSON is written straight
/// from the entity ([`super::canonical`]); only a value that path cannot reproduce byte for
/// byte goes through `serde_json::Value` as before, so the result is the same either way.
pub(crate) fn payload_hash_with<T: Serialize>(entity: &T, scratch: &mut Writer) -> String {
    match scratch.write(entity, UNHASHED) {
        Ok(json) => hex::encode(&Sha256::digest(json)[..HASH_LEN / 2]),
        Err(_) => payload_hash_slow(entity),
    }
}

/// The payload hash through `serde_json::Value` (the reference the fast path must equal).
fn payload_hash_slow<T: Serialize>(entity: &T) -> String {
    let mut value = serde_json::to_value(entity).unwrap_or(Value::Null);
    if let Value::Object(map) = &mut value {
        map.remove("tags");
        map.remove("created_at");
        map.remove("updated_at");
    }
    let digest = Sha256::digest(canonical_json(&value).as_bytes());
    hex::encode(digest)[..HASH_LEN].to_owned()
}

/// The canonical JSON of the fast path as text (tests compare it with [`canonical_json`]).
#[cfg(test)]
fn fast_canonical<T: Serialize>(value: &T) -> Option<String> {
    let mut w = Writer::default();
    let json = w.write(value, &[]).ok()?;
    String::from_utf8(json.to_vec()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn source(user: &[&str]) -> SourceMeta {
        SourceMeta {
            kind: "KongPlugin".into(),
            group: "configuration.konghq.com".into(),
            version: "v1".into(),
            name: "p".into(),
            namespace: Some("default".into()),
            uid: Some("u-1".into()),
            user_tags: user.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn tags_come_in_documented_order() {
        let (tags, warnings) = build("cluster-a", &source(&["team:x"]), "0123456789ab");
        assert_eq!(
            tags,
            vec![
                "managed-by:konnect-plugin-operator",
                "kpo-owner:cluster-a",
                "k8s-name:p",
                "k8s-namespace:default",
                "k8s-kind:KongPlugin",
                "k8s-uid:u-1",
                "k8s-group:configuration.konghq.com",
                "k8s-version:v1",
                "kpo-hash:0123456789ab",
                "team:x",
            ]
        );
        assert!(warnings.is_empty());
    }

    #[test]
    fn user_tags_are_dropped_first_over_the_limit() {
        let user: Vec<String> = (0..30).map(|i| format!("u{i}")).collect();
        let user: Vec<&str> = user.iter().map(String::as_str).collect();
        let (tags, warnings) = build("o", &source(&user), "h");
        assert_eq!(tags.len(), MAX_TAGS);
        assert_eq!(tags[8], "kpo-hash:h");
        assert_eq!(warnings.len(), 30 - (MAX_TAGS - 9));
    }

    #[test]
    fn bad_user_tags_are_refused_and_long_names_cut() {
        let mut s = source(&["a/b", "", &"x".repeat(129)]);
        s.name = "n".repeat(300);
        let (tags, warnings) = build("o", &s, "h");
        // The texts users see in warnings (the `Tag` error texts, then "; dropped").
        assert_eq!(
            warnings,
            vec![
                r#"tag "a/b" contains ',' or '/'; dropped"#.to_owned(),
                r#"tag "" is empty; dropped"#.to_owned(),
                format!(
                    r#"tag "{}" is longer than 128 characters; dropped"#,
                    "x".repeat(129)
                ),
            ]
        );
        assert!(
            tags.iter()
                .all(|t| t.as_str().chars().count() <= MAX_TAG_LEN)
        );
    }

    /// A value of every serde shape, to hold the fast canonical path to the slow one.
    #[derive(Serialize)]
    struct Shapes {
        z: Option<u8>,
        a_float: f64,
        f32s: Vec<f32>,
        ch: char,
        #[serde(with = "bytes_like")]
        bytes: Vec<u8>,
        unit: (),
        e: Vec<E>,
        ints: std::collections::BTreeMap<i32, String>,
        big: u64,
        neg: i64,
        wide: i128,
        tuple: (bool, &'static str),
        nested: Value,
    }

    mod bytes_like {
        pub fn serialize<S: serde::Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
            s.serialize_bytes(v)
        }
    }

    #[derive(Serialize)]
    enum E {
        Unit,
        New(u8),
        Tuple(u8, String),
        Struct { y: u8, x: Value },
    }

    /// A map that writes one key twice (no derive does, but a hand-written impl may).
    struct Dup;
    impl Serialize for Dup {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            use serde::ser::SerializeMap;
            let mut m = s.serialize_map(None)?;
            m.serialize_entry("b", &1)?;
            m.serialize_entry("a", &2)?;
            m.serialize_entry("b", &3)?;
            m.end()
        }
    }

    fn slow<T: Serialize>(v: &T) -> String {
        canonical_json(&serde_json::to_value(v).expect("to_value"))
    }

    #[test]
    fn fast_canonical_json_equals_the_value_path() {
        let nested = json!({
            "b": [3, {"y": null, "x": [1.5, -0.0, 1e300, 0.1]}],
            "a\"": "quote \" slash \\ nl \n tab \t ctl \u{1} del \u{7f} é 😀",
            "a#": {"z": {}, "y": []},
            "": "",
            "ünï": i64::MIN,
            "max": u64::MAX,
        });
        let shapes = Shapes {
            z: None,
            a_float: 2.5e-8,
            f32s: vec![0.1, 1.0, f32::NAN],
            ch: '"',
            bytes: vec![0, 255],
            unit: (),
            e: vec![
                E::Unit,
                E::New(1),
                E::Tuple(2, "t".into()),
                E::Struct {
                    y: 3,
                    x: json!({"k": 1, "c": 2}),
                },
            ],
            ints: [
                (-1, "m".to_owned()),
                (10, "t".to_owned()),
                (2, "two".to_owned()),
            ]
            .into_iter()
            .collect(),
            big: u64::MAX,
            neg: i64::MIN,
            wide: -5,
            tuple: (true, "x"),
            nested: nested.clone(),
        };
        assert_eq!(
            fast_canonical(&nested).as_deref(),
            Some(slow(&nested).as_str())
        );
        assert_eq!(
            fast_canonical(&shapes).as_deref(),
            Some(slow(&shapes).as_str())
        );
        assert_eq!(fast_canonical(&Dup).as_deref(), Some(slow(&Dup).as_str()));
        assert_eq!(slow(&Dup), r#"{"a":2,"b":3}"#);
        // Keys sort by their raw text, not their escaped form (`"` < `#`, but `\` > `#`).
        let text = slow(&nested);
        assert!(text.find(r#""a\"""#) < text.find(r##""a#""##));
        // Out of the range `to_value` accepts: refused, so the slow path decides.
        assert!(fast_canonical(&u128::MAX).is_none());
    }

    #[test]
    fn payload_hash_equals_the_value_path_on_entities() {
        use crate::konnect::models::{ForeignKey, Plugin, Route, Service};
        use crate::translate::ids;
        let plugin = Plugin {
            id: Some(ids::service_id("p")),
            name: "cors".into(),
            config: json!({"origins": ["a", "b"], "credentials": true, "max_age": 3600}),
            enabled: Some(true),
            service: Some(ForeignKey::new(ids::service_id("s"))),
            tags: Some(vec![generated("x:y")]),
            created_at: Some(1),
            ..Default::default()
        };
        let route = Route {
            name: Some("r".into()),
            headers: Some(
                [
                    ("x-b".to_owned(), vec!["1".to_owned()]),
                    ("x-a".to_owned(), vec![]),
                ]
                .into_iter()
                .collect(),
            ),
            paths: Some(vec!["~/a$".into()]),
            ..Default::default()
        };
        let service = Service {
            host: "h".into(),
            port: Some(80),
            ..Default::default()
        };
        assert_eq!(payload_hash(&plugin), payload_hash_slow(&plugin));
        assert_eq!(payload_hash(&route), payload_hash_slow(&route));
        assert_eq!(payload_hash(&service), payload_hash_slow(&service));
        // Tags and timestamps are not part of the payload.
        let bare = Plugin {
            tags: None,
            created_at: None,
            ..plugin.clone()
        };
        assert_eq!(payload_hash(&plugin), payload_hash(&bare));
        let disabled = Plugin {
            enabled: Some(false),
            ..bare
        };
        assert_ne!(payload_hash(&plugin), payload_hash(&disabled));
    }

    fn json_value() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<f64>().prop_map(|f| {
                serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)
            }),
            ".{0,8}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                proptest::collection::vec((".{0,6}", inner), 0..6)
                    .prop_map(|kv| Value::Object(kv.into_iter().collect())),
            ]
        })
    }

    proptest::proptest! {
        #[test]
        fn fast_canonical_json_equals_the_value_path_on_any_json(v in json_value()) {
            proptest::prop_assert_eq!(fast_canonical(&v), Some(canonical_json(&v)));
            proptest::prop_assert_eq!(payload_hash(&v), payload_hash_slow(&v));
        }
    }

    #[test]
    fn hash_ignores_key_order_and_tags() {
        let a = json!({"name": "x", "config": {"a": 1, "b": 2}, "tags": ["t"]});
        let b = json!({"config": {"b": 2, "a": 1}, "name": "x"});
        assert_eq!(payload_hash(&a), payload_hash(&b));
        assert_ne!(payload_hash(&a), payload_hash(&json!({"name": "y"})));
        assert_eq!(payload_hash(&a).len(), HASH_LEN);
    }
}
