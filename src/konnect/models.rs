//! Konnect core-entity models, shaped exactly like the request and response bodies of the
//! Konnect control-plane configuration API (`/v2/control-planes/{id}/core-entities/...`).
//!
//! Every optional field is skipped when `None`, so a value serializes as the minimal body
//! Konnect accepts and round-trips through `GET` unchanged. These types are shared: the
//! translate layer builds desired state with them and the emulator stores them.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer, de};
use uuid::Uuid;

/// The protocols Kong accepts on a service and on a route (Kong's shared `protocols` type).
/// Wider than `crate::crd::KongProtocol`, the plugin CRD's enum, which has no
/// `tls_passthrough`, `ws` or `wss`.
pub const PROTOCOLS: &[&str] = &[
    "http",
    "https",
    "grpc",
    "grpcs",
    "tcp",
    "tls",
    "tls_passthrough",
    "udp",
    "ws",
    "wss",
];

/// The id of a core entity: a UUID, written as Konnect writes it (lowercase, hyphenated).
///
/// Parsing accepts only the hyphenated form (any case), so every `EntityId` prints back in
/// the one form Konnect uses and two ids are equal exactly when their strings are. The order
/// is the UUID's byte order, which is also the order of the lowercase strings: sorting by id
/// gives the same order either way.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EntityId(Uuid);

impl EntityId {
    /// Length of the hyphenated form.
    const LEN: usize = 36;

    /// The UUID.
    pub fn as_uuid(&self) -> &Uuid {
        &self.0
    }
}

impl From<Uuid> for EntityId {
    fn from(id: Uuid) -> Self {
        Self(id)
    }
}

impl From<EntityId> for Uuid {
    fn from(id: EntityId) -> Self {
        id.0
    }
}

impl fmt::Display for EntityId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0.hyphenated(), f)
    }
}

/// `EntityId(8e980ed1-…)`: the id is no secret, and the plain UUID reads best in test output.
impl fmt::Debug for EntityId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EntityId({})", self.0.hyphenated())
    }
}

/// Why a string is not an [`EntityId`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{value:?} is not an entity id (a hyphenated UUID)")]
pub struct EntityIdError {
    /// The refused string, cut to 64 characters (it may come from a server response).
    value: String,
}

impl FromStr for EntityId {
    type Err = EntityIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let refuse = || EntityIdError {
            value: s.chars().take(64).collect(),
        };
        // `Uuid::parse_str` also takes the simple, braced and URN forms; Konnect writes only
        // this one, and accepting the others would let one id have several spellings.
        if s.len() != Self::LEN {
            return Err(refuse());
        }
        Uuid::parse_str(s).map(Self).map_err(|_| refuse())
    }
}

impl Serialize for EntityId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for EntityId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl de::Visitor<'_> for Visitor {
            type Value = EntityId;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a hyphenated UUID string")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<EntityId, E> {
                s.parse().map_err(E::custom)
            }
        }
        deserializer.deserialize_str(Visitor)
    }
}

/// Konnect's limit on the length of one tag, in characters.
pub const MAX_TAG_LEN: usize = 128;

/// One tag of an entity: 1 to [`MAX_TAG_LEN`] characters, without `,` or `/` and without
/// ASCII control characters.
///
/// The spec gives a tag no rule beyond "a string", but `,` and `/` are the AND / OR separators
/// of its `tags=` list filter. The character rule is exactly Kong's tag type (printable ASCII
/// and space except `,` and `/`, or any non-ASCII UTF-8), and the length is Konnect's limit;
/// Every tag we build goes through [`Tag::new`]. Reading is lenient on purpose: what Konnect
/// returns is what it holds, and a tag someone wrote out of band that our rule would refuse
/// must not fail the whole listing (and with it the relist that drift detection needs).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct Tag(String);

/// Why a string is not a [`Tag`]. The texts are shown to users in warnings.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TagError {
    #[error("tag \"\" is empty")]
    Empty,
    #[error("tag {0:?} is longer than {max} characters", max = MAX_TAG_LEN)]
    TooLong(String),
    #[error("tag {0:?} contains ',' or '/'")]
    Separator(String),
    #[error("tag {0:?} contains a control character")]
    Control(String),
}

impl Tag {
    /// Checks `tag` against Konnect's rules (see [`Tag`]).
    pub fn new(tag: impl Into<String>) -> Result<Self, TagError> {
        let tag = tag.into();
        if tag.is_empty() {
            Err(TagError::Empty)
        } else if tag.chars().count() > MAX_TAG_LEN {
            Err(TagError::TooLong(tag))
        } else if tag.contains([',', '/']) {
            Err(TagError::Separator(tag))
        } else if tag.chars().any(|c| c.is_ascii_control()) {
            Err(TagError::Control(tag))
        } else {
            Ok(Self(tag))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }

    /// True when the tag begins with `prefix` (e.g. `kpo-hash:`).
    pub fn starts_with(&self, prefix: &str) -> bool {
        self.0.starts_with(prefix)
    }
}

impl AsRef<str> for Tag {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl std::borrow::Borrow<str> for Tag {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for Tag {
    type Err = TagError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

impl TryFrom<String> for Tag {
    type Error = TagError;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::new(s)
    }
}

impl TryFrom<&str> for Tag {
    type Error = TagError;

    fn try_from(s: &str) -> Result<Self, Self::Error> {
        Self::new(s)
    }
}

impl From<Tag> for String {
    fn from(tag: Tag) -> Self {
        tag.0
    }
}

impl PartialEq<str> for Tag {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for Tag {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl<'de> Deserialize<'de> for Tag {
    /// Accepts any string the server holds (see [`Tag`]): reading never fails on a tag.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Self)
    }
}

/// A reference to another entity by id, as Konnect writes it: `{"id": "..."}`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ForeignKey {
    pub id: EntityId,
}

impl ForeignKey {
    pub fn new(id: impl Into<EntityId>) -> Self {
        Self { id: id.into() }
    }
}

/// A Gateway Service.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Service {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<EntityId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub host: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retries: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connect_timeout: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_timeout: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub write_timeout: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<Tag>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<i64>,
}

/// A Route, optionally attached to a Service.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Route {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<EntityId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<ForeignKey>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocols: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub methods: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hosts: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paths: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headers: Option<BTreeMap<String, Vec<String>>>,
    /// Server names matched on TLS connections (KIC's `konghq.com/snis`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snis: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strip_path: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preserve_host: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub https_redirect_status_code: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regex_priority: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_handling: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_buffering: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_buffering: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<Tag>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<i64>,
}

/// A Consumer. Konnect requires at least one of `username` and `custom_id`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Consumer {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<EntityId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<Tag>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<i64>,
}

/// A Consumer Group.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ConsumerGroup {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<EntityId>,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<Tag>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<i64>,
}

/// A plugin instance: global when no scope key is set, otherwise scoped to the
/// service / route / consumer / consumer group it references.
/// `Default` is written by hand so that `config` starts as `{}`, as Konnect expects, not `null`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Plugin {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<EntityId>,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_name: Option<String>,
    /// The plugin configuration; Konnect fills defaults, so a response carries every field.
    #[serde(default = "empty_object")]
    pub config: serde_json::Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocols: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<Tag>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<ForeignKey>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<ForeignKey>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consumer: Option<ForeignKey>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consumer_group: Option<ForeignKey>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ordering: Option<serde_json::Value>,
    /// Partials the plugin uses (`[{id, name, path}]`). Kept verbatim so that a read, modify,
    /// write cycle does not drop what someone else set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partials: Option<serde_json::Value>,
    /// An expression deciding per request whether the plugin runs (at most 1024 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<i64>,
}

impl Default for Plugin {
    fn default() -> Self {
        Self {
            id: None,
            name: String::new(),
            instance_name: None,
            config: empty_object(),
            enabled: None,
            protocols: None,
            tags: None,
            service: None,
            route: None,
            consumer: None,
            consumer_group: None,
            ordering: None,
            partials: None,
            condition: None,
            created_at: None,
            updated_at: None,
        }
    }
}

fn empty_object() -> serde_json::Value {
    serde_json::Value::Object(serde_json::Map::new())
}

/// Membership of a consumer in a consumer group. This is our own shape for desired
/// state; Konnect models membership as sub-resources of the group or the consumer.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ConsumerGroupMembership {
    pub consumer_group: ForeignKey,
    pub consumer: ForeignKey,
}

/// A Konnect control plane (the subset of fields the operator reads).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ControlPlane {
    pub id: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
}

/// One page of a core-entity list: `{"data": [...], "offset": "..."}`.
/// `offset` is absent on the last page.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Page<T> {
    pub data: Vec<T>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<String>,
}

impl<T> Default for Page<T> {
    fn default() -> Self {
        Self {
            data: Vec::new(),
            offset: None,
        }
    }
}

/// Entities that can be stored and addressed by id in a control plane.
pub trait Entity {
    /// The entity's id, once assigned.
    fn id(&self) -> Option<EntityId>;
    /// Sets the id (used before an upsert by `PUT /{id}`).
    fn set_id(&mut self, id: EntityId);
}

macro_rules! impl_entity {
    ($($t:ty),*) => {$(
        impl Entity for $t {
            fn id(&self) -> Option<EntityId> {
                self.id
            }
            fn set_id(&mut self, id: EntityId) {
                self.id = Some(id);
            }
        }
    )*};
}
impl_entity!(Service, Route, Consumer, ConsumerGroup, Plugin);

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn tag(s: &str) -> Tag {
        Tag::new(s).unwrap()
    }

    #[test]
    fn minimal_plugin_serializes_without_absent_fields() {
        let p = Plugin {
            name: "session".into(),
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_value(&p).unwrap(),
            json!({"name": "session", "config": {}})
        );
    }

    #[test]
    fn plugin_without_config_deserializes_to_empty_object() {
        let p: Plugin = serde_json::from_value(json!({"name": "cors"})).unwrap();
        assert_eq!(p.config, json!({}));
    }

    #[test]
    fn scoped_plugin_round_trips() {
        let body = json!({
            "id": "0b1b8a3e-0000-4000-8000-000000000001",
            "name": "key-auth",
            "config": {"key_names": ["apikey"]},
            "enabled": true,
            "protocols": ["http", "https"],
            "tags": ["a", "b"],
            "route": {"id": "0b1b8a3e-0000-4000-8000-000000000002"},
            "consumer_group": {"id": "0b1b8a3e-0000-4000-8000-000000000003"},
            "ordering": {"before": {"access": ["rate-limiting"]}},
            "created_at": 1700000000,
            "updated_at": 1700000001
        });
        let p: Plugin = serde_json::from_value(body.clone()).unwrap();
        assert_eq!(
            p.route,
            Some(ForeignKey::new(Uuid::from_u128(
                0x0b1b8a3e_0000_4000_8000_000000000002
            )))
        );
        assert_eq!(p.tags, Some(vec![tag("a"), tag("b")]));
        assert_eq!(serde_json::to_value(&p).unwrap(), body);
    }

    #[test]
    fn partials_and_condition_survive_a_read_then_write() {
        let read = json!({
            "id": "0b1b8a3e-0000-4000-8000-000000000004", "name": "rate-limiting-advanced",
            "config": {},
            "partials": [{"id": "a1", "name": "redis-shared", "path": "config.redis"}],
            "condition": "http.path ^= \"/api\"",
        });
        let p: Plugin = serde_json::from_value(read.clone()).unwrap();
        assert_eq!(p.condition.as_deref(), Some("http.path ^= \"/api\""));
        assert_eq!(serde_json::to_value(&p).unwrap(), read);
    }

    #[test]
    fn route_headers_and_service_round_trip() {
        let body = json!({
            "name": "r",
            "service": {"id": "0b1b8a3e-0000-4000-8000-000000000005"},
            "paths": ["/a"],
            "headers": {"x-a": ["1", "2"]},
            "strip_path": false
        });
        let r: Route = serde_json::from_value(body.clone()).unwrap();
        assert_eq!(serde_json::to_value(&r).unwrap(), body);
    }

    #[test]
    fn unknown_response_fields_are_ignored() {
        // Konnect responses carry fields we don't model (e.g. client_certificate).
        let s: Service = serde_json::from_value(json!({
            "host": "example.com", "client_certificate": null, "tls_verify": true
        }))
        .unwrap();
        assert_eq!(s.host, "example.com");
    }

    #[test]
    fn page_offset_is_optional() {
        let p: Page<Consumer> =
            serde_json::from_value(json!({"data": [{"username": "u"}]})).unwrap();
        assert_eq!(p.offset, None);
        assert_eq!(p.data[0].username.as_deref(), Some("u"));
    }

    const ID: &str = "8e980ed1-7cfc-5fc0-9756-290ab293e834";

    #[test]
    fn entity_id_parses_and_prints_the_hyphenated_form() {
        let id: EntityId = ID.parse().unwrap();
        assert_eq!(id.to_string(), ID);
        assert_eq!(
            *id.as_uuid(),
            Uuid::from_u128(0x8e980ed1_7cfc_5fc0_9756_290ab293e834)
        );
        assert_eq!(EntityId::from(*id.as_uuid()), id);
        // Upper case is the same UUID and prints back in Konnect's lower case.
        let upper: EntityId = ID.to_uppercase().parse().unwrap();
        assert_eq!(upper, id);
        assert_eq!(upper.to_string(), ID);
    }

    #[test]
    fn entity_id_refuses_what_is_not_a_hyphenated_uuid() {
        for bad in [
            "",
            "r1",
            "default.echo.80",
            // Other spellings of the same UUID: refused, so an id has one spelling only.
            "8e980ed17cfc5fc09756290ab293e834",
            "{8e980ed1-7cfc-5fc0-9756-290ab293e834}",
            "urn:uuid:8e980ed1-7cfc-5fc0-9756-290ab293e834",
            // Right length, not hex.
            "8e980ed1-7cfc-5fc0-9756-290ab293e83g",
            " 8e980ed1-7cfc-5fc0-9756-290ab293e83",
        ] {
            let err = bad.parse::<EntityId>().unwrap_err();
            assert!(
                err.to_string().contains("not an entity id"),
                "{bad:?}: {err}"
            );
        }
    }

    #[test]
    fn entity_id_serde_is_the_plain_string() {
        let id: EntityId = ID.parse().unwrap();
        assert_eq!(serde_json::to_value(id).unwrap(), json!(ID));
        let back: EntityId = serde_json::from_value(json!(ID)).unwrap();
        assert_eq!(back, id);
        assert_eq!(
            serde_json::to_value(ForeignKey::new(id)).unwrap(),
            json!({ "id": ID })
        );
        // Borrowed and owned strings both deserialize (serde_json::from_str borrows).
        let fk: ForeignKey = serde_json::from_str(&format!(r#"{{"id":"{ID}"}}"#)).unwrap();
        assert_eq!(fk.id, id);
        let err =
            serde_json::from_value::<Route>(json!({"service": {"id": "svc-name"}})).unwrap_err();
        assert!(err.to_string().contains("not an entity id"), "{err}");
        assert!(serde_json::from_value::<EntityId>(json!(7)).is_err());
    }

    #[test]
    fn entity_ids_sort_like_their_strings() {
        // translate sorts entities by id; the order must not depend on the representation.
        let mut ids: Vec<EntityId> = [
            "f0000000-0000-4000-8000-000000000000",
            "0a000000-0000-4000-8000-000000000000",
            "09000000-0000-4000-8000-000000000000",
            "0a000000-0000-4000-8000-00000000000b",
        ]
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
        let mut strings: Vec<String> = ids.iter().map(EntityId::to_string).collect();
        ids.sort();
        strings.sort();
        assert_eq!(
            ids.iter().map(EntityId::to_string).collect::<Vec<_>>(),
            strings
        );
    }

    #[test]
    fn tag_accepts_konnect_tags() {
        for ok in [
            "a",
            "managed-by:konnect-plugin-operator",
            "k8s-uid:0b1b8a3e-0000-4000-8000-000000000001",
            "with space",
            "ünïcödé",
            // Kong takes any non-ASCII UTF-8, C1 controls included; so must we, to read it.
            "a\u{85}b",
            &"x".repeat(MAX_TAG_LEN),
            // 128 characters of two bytes each: the limit counts characters, not bytes.
            &"é".repeat(MAX_TAG_LEN),
        ] {
            let t = Tag::new(ok).unwrap();
            assert_eq!(t.as_str(), ok);
            assert_eq!(t.to_string(), ok);
            assert_eq!(AsRef::<str>::as_ref(&t), ok);
            assert_eq!(t, *ok);
        }
    }

    #[test]
    fn tag_refuses_what_konnect_refuses() {
        assert_eq!(Tag::new(""), Err(TagError::Empty));
        let long = "x".repeat(MAX_TAG_LEN + 1);
        assert_eq!(Tag::new(long.clone()), Err(TagError::TooLong(long)));
        assert_eq!(Tag::new("a,b"), Err(TagError::Separator("a,b".into())));
        assert_eq!(Tag::new("a/b"), Err(TagError::Separator("a/b".into())));
        assert_eq!(Tag::new("a\nb"), Err(TagError::Control("a\nb".into())));
        assert!(Tag::new("del\u{7f}").is_err());
        assert_eq!(
            Tag::new("a,b").unwrap_err().to_string(),
            r#"tag "a,b" contains ',' or '/'"#
        );
        assert_eq!(TagError::Empty.to_string(), r#"tag "" is empty"#);
        assert!("a/b".parse::<Tag>().is_err());
        assert!(Tag::try_from("ok").is_ok());
    }

    #[test]
    fn tag_serde_round_trips_and_reads_what_the_server_holds() {
        let t = tag("k8s-kind:KongPlugin");
        assert_eq!(
            serde_json::to_value(&t).unwrap(),
            json!("k8s-kind:KongPlugin")
        );
        let back: Tag = serde_json::from_value(json!("k8s-kind:KongPlugin")).unwrap();
        assert_eq!(back, t);

        let at_limit = "t".repeat(MAX_TAG_LEN);
        let ok: Vec<Tag> = serde_json::from_value(json!([at_limit])).unwrap();
        assert_eq!(ok[0].as_str(), at_limit);

        // A tag written out of band that we would never build still reads, so one foreign
        // entity cannot fail a whole listing; building it is refused.
        let over = "t".repeat(MAX_TAG_LEN + 1);
        let consumer: Consumer =
            serde_json::from_value(json!({"username": "u", "tags": [over.clone(), "a/b"]}))
                .unwrap();
        let tags = consumer.tags.expect("tags");
        assert_eq!(tags[0].as_str(), over);
        assert_eq!(tags[1].as_str(), "a/b");
        assert!(matches!(Tag::new(over), Err(TagError::TooLong(_))));
        assert!(matches!(Tag::new("a/b"), Err(TagError::Separator(_))));
    }
}
