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
    /// The kind, API group (empty for the core group) and version: always one of the kinds
    /// translation reads, so constants rather than a copy per object.
    pub kind: &'static str,
    pub group: &'static str,
    pub version: &'static str,
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
            Some(("k8s-kind:", self.kind)),
            self.uid.as_deref().map(|uid| ("k8s-uid:", uid)),
            // KIC omits the group tag for the core group.
            (!self.group.is_empty()).then_some(("k8s-group:", self.group)),
            Some(("k8s-version:", self.version)),
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

/// Entities per thread below which [`tag_all`] does not start another thread.
const MIN_PER_THREAD: usize = 256;

/// [`build_after`] for many entities, each with its [`payload_hash`], as `(tags, warnings)` in
/// the order of `items`. Hashing dominates translation's last step and each entity's tags
/// depend on that entity alone, so large batches are spread over the cores ([`super::par`]).
pub(crate) fn tag_all<T: Serialize + Sync>(
    head: &[Tag],
    items: &[(&T, &SourceMeta)],
) -> Vec<(Vec<Tag>, Vec<String>)> {
    super::par::map(items, MIN_PER_THREAD, |(entity, source)| {
        build_after(head, source, &payload_hash(*entity))
    })
}

/// Sorts the keys of every object in `value`, in place. serde_json's `preserve_order` feature
/// (on in this crate) keeps maps in insertion order, so the order must be made explicit.
fn sort_keys(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.sort_keys();
            map.values_mut().for_each(sort_keys);
        }
        Value::Array(items) => items.iter_mut().for_each(sort_keys),
        _ => {}
    }
}

/// Serializes a JSON value compactly with object keys sorted at every level, so equal payloads
/// hash equally whatever order their maps were built in.
pub fn canonical_json(value: &Value) -> String {
    let mut value = value.clone();
    sort_keys(&mut value);
    value.to_string()
}

/// Top-level keys the payload hash leaves out.
const UNHASHED: &[&str] = &["tags", "created_at", "updated_at"];

/// The desired-payload hash: the first [`HASH_LEN`] hex digits of the SHA-256 of the compact
/// JSON of the entity, object keys sorted at every level ([`canonical_json`]), without its
/// top-level `tags`, `created_at` and `updated_at`.
pub fn payload_hash<T: Serialize>(entity: &T) -> String {
    // A value serde_json cannot represent (none of our entities) hashes as `null`.
    let mut value = serde_json::to_value(entity).unwrap_or(Value::Null);
    if let Value::Object(map) = &mut value {
        for key in UNHASHED {
            map.shift_remove(*key);
        }
    }
    sort_keys(&mut value);
    let mut hasher = Sha256::new();
    // Writing into a hasher cannot fail, and a `Value` always serializes.
    let _ = serde_json::to_writer(&mut hasher, &value);
    hex::encode(&hasher.finalize()[..HASH_LEN / 2])
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn source(user: &[&str]) -> SourceMeta {
        SourceMeta {
            kind: "KongPlugin",
            group: "configuration.konghq.com",
            version: "v1",
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

    /// The digest is computed independently of this code, by Python's json and hashlib:
    ///
    /// ```text
    /// python3 -c 'import hashlib,json
    /// obj={"name":"key-auth","config":{"key_names":["apikey"],"hide_credentials":True,
    ///   "anonymous":None,"b":{"z":1,"a":2.5}},"enabled":True,"protocols":["http","https"],
    ///   "service":{"id":"0b7d8c6a-2f2b-5a3e-9c1d-000000000001"}}
    /// s=json.dumps(obj,sort_keys=True,separators=(",",":"),ensure_ascii=False)
    /// print(s); print(hashlib.sha256(s.encode()).hexdigest()[:12])'
    /// ```
    #[test]
    fn payload_hash_is_sha256_of_sorted_compact_json() {
        // Keys in a non-sorted insertion order (`preserve_order` keeps it), plus the
        // top-level keys the hash leaves out.
        let entity = json!({
            "name": "key-auth",
            "tags": ["managed-by:konnect-plugin-operator"],
            "config": {
                "key_names": ["apikey"],
                "hide_credentials": true,
                "anonymous": null,
                "b": {"z": 1, "a": 2.5}
            },
            "created_at": 1,
            "enabled": true,
            "protocols": ["http", "https"],
            "updated_at": 2,
            "service": {"id": "0b7d8c6a-2f2b-5a3e-9c1d-000000000001"}
        });
        let mut bare = entity.clone();
        if let Value::Object(m) = &mut bare {
            for k in UNHASHED {
                m.shift_remove(*k);
            }
        }
        assert_eq!(
            canonical_json(&bare),
            r#"{"config":{"anonymous":null,"b":{"a":2.5,"z":1},"hide_credentials":true,"key_names":["apikey"]},"enabled":true,"name":"key-auth","protocols":["http","https"],"service":{"id":"0b7d8c6a-2f2b-5a3e-9c1d-000000000001"}}"#
        );
        assert_eq!(payload_hash(&entity), "475e4bf0c2b4");
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
