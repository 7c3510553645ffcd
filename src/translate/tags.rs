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

/// The owner tag for an owner identity (the controller lists Konnect entities by it).
pub fn owner_tag(owner: &str) -> Tag {
    generated(&format!("{OWNER_PREFIX}{owner}"))
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
    /// KIC's `k8s-*` tags for this object (not yet made [`Tag`]s).
    fn k8s_tags(&self) -> Vec<String> {
        let mut tags = vec![format!("k8s-name:{}", self.name)];
        if let Some(ns) = &self.namespace {
            tags.push(format!("k8s-namespace:{ns}"));
        }
        tags.push(format!("k8s-kind:{}", self.kind));
        if let Some(uid) = &self.uid {
            tags.push(format!("k8s-uid:{uid}"));
        }
        // KIC omits the group tag for the core group.
        if !self.group.is_empty() {
            tags.push(format!("k8s-group:{}", self.group));
        }
        tags.push(format!("k8s-version:{}", self.version));
        tags
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
    // Cannot fail: `sanitize` leaves at most MAX_TAG_LEN characters, none of them `,`, `/` or
    // a control character, and keeps at least the first character of a non-empty text.
    Tag::new(sanitize(tag)).expect("a sanitized, prefixed tag is valid")
}

/// Builds the full tag list; returns the tags and a warning per dropped user tag.
pub fn build(owner: &str, source: &SourceMeta, hash: &str) -> (Vec<Tag>, Vec<String>) {
    let mut tags = vec![generated(MANAGED_BY), owner_tag(owner)];
    tags.extend(source.k8s_tags().iter().map(|t| generated(t)));
    tags.push(generated(&format!("{HASH_PREFIX}{hash}")));
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
    let mut value = serde_json::to_value(entity).unwrap_or(Value::Null);
    if let Value::Object(map) = &mut value {
        map.remove("tags");
        map.remove("created_at");
        map.remove("updated_at");
    }
    let digest = Sha256::digest(canonical_json(&value).as_bytes());
    hex::encode(digest)[..HASH_LEN].to_owned()
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

    #[test]
    fn hash_ignores_key_order_and_tags() {
        let a = json!({"name": "x", "config": {"a": 1, "b": 2}, "tags": ["t"]});
        let b = json!({"config": {"b": 2, "a": 1}, "name": "x"});
        assert_eq!(payload_hash(&a), payload_hash(&b));
        assert_ne!(payload_hash(&a), payload_hash(&json!({"name": "y"})));
        assert_eq!(payload_hash(&a).len(), HASH_LEN);
    }
}
