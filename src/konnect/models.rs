//! Konnect core-entity models, shaped exactly like the request and response bodies of the
//! Konnect control-plane configuration API (`/v2/control-planes/{id}/core-entities/...`).
//!
//! Every optional field is skipped when `None`, so a value serializes as the minimal body
//! Konnect accepts and round-trips through `GET` unchanged. These types are shared: the
//! translate layer builds desired state with them and the emulator stores them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

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

/// A reference to another entity by id, as Konnect writes it: `{"id": "..."}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ForeignKey {
    pub id: String,
}

impl ForeignKey {
    pub fn new(id: impl Into<String>) -> Self {
        Self { id: id.into() }
    }
}

/// A Gateway Service.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Service {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
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
    pub tags: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<i64>,
}

/// A Route, optionally attached to a Service.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Route {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
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
    pub tags: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<i64>,
}

/// A Consumer. Konnect requires at least one of `username` and `custom_id`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Consumer {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<i64>,
}

/// A Consumer Group.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ConsumerGroup {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
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
    pub id: Option<String>,
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
    pub tags: Option<Vec<String>>,
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
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
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
    fn id(&self) -> Option<&str>;
    /// Sets the id (used before an upsert by `PUT /{id}`).
    fn set_id(&mut self, id: String);
}

macro_rules! impl_entity {
    ($($t:ty),*) => {$(
        impl Entity for $t {
            fn id(&self) -> Option<&str> {
                self.id.as_deref()
            }
            fn set_id(&mut self, id: String) {
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
            "route": {"id": "r1"},
            "consumer_group": {"id": "g1"},
            "ordering": {"before": {"access": ["rate-limiting"]}},
            "created_at": 1700000000,
            "updated_at": 1700000001
        });
        let p: Plugin = serde_json::from_value(body.clone()).unwrap();
        assert_eq!(p.route, Some(ForeignKey::new("r1")));
        assert_eq!(serde_json::to_value(&p).unwrap(), body);
    }

    #[test]
    fn partials_and_condition_survive_a_read_then_write() {
        let read = json!({
            "id": "p1", "name": "rate-limiting-advanced", "config": {},
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
            "service": {"id": "s"},
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
}
