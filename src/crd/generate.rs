//! CRD manifests for our kinds, assembled from schemars schemas of the Rust types plus what a
//! derive cannot say: CEL rules, printer columns, defaults and the condition schema.
//!
//! `konnect-plugin-operator crds` prints them; `crds/` holds the committed copies and CI fails
//! when they drift from what this module produces.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use schemars::generate::SchemaSettings;
use serde_json::{Value, json};

use super::{GROUP, KongClusterPlugin, KongConsumer, KongConsumerGroup, KongPlugin};

/// Kong's messages for the plugin CEL rules, verbatim.
pub const MSG_CONFIG_AND_CONFIG_FROM: &str =
    "Using both config and configFrom fields is not allowed.";
/// Kong's message when `configFrom` and `configPatches` are both set.
pub const MSG_CONFIG_FROM_AND_PATCHES: &str =
    "Using both configFrom and configPatches fields is not allowed.";
/// Kong's message when `plugin` changes on update.
pub const MSG_PLUGIN_IMMUTABLE: &str = "The plugin field is immutable";

/// Every CRD we install, in a stable order, with its file name under `crds/`.
pub fn all() -> Vec<(String, CustomResourceDefinition)> {
    [
        kong_plugin(),
        kong_cluster_plugin(),
        kong_consumer(),
        kong_consumer_group(),
    ]
    .into_iter()
    .chain(super::apps::crds())
    .map(|crd| {
        let name = crd.metadata.name.clone().unwrap_or_default();
        (
            format!(
                "{}_{}.yaml",
                crd.spec.group,
                name.split('.').next().unwrap_or_default()
            ),
            crd,
        )
    })
    .collect()
}

/// Renders CRDs as one multi-document YAML stream.
pub fn to_yaml(crds: &[(String, CustomResourceDefinition)]) -> Result<String, serde_norway::Error> {
    let mut out = String::new();
    for (_, crd) in crds {
        out.push_str("---\n");
        out.push_str(&serde_norway::to_string(crd)?);
    }
    Ok(out)
}

/// The CRD of `KongPlugin`.
pub fn kong_plugin() -> CustomResourceDefinition {
    let mut schema = root_schema::<KongPlugin>();
    schema["x-kubernetes-validations"] = plugin_rules();
    crd(CrdParts {
        kind: "KongPlugin",
        plural: "kongplugins",
        short_name: "kp",
        namespaced: true,
        version: "v1",
        columns: plugin_columns(),
        schema,
    })
}

/// The CRD of `KongClusterPlugin`.
pub fn kong_cluster_plugin() -> CustomResourceDefinition {
    let mut schema = root_schema::<KongClusterPlugin>();
    schema["x-kubernetes-validations"] = plugin_rules();
    crd(CrdParts {
        kind: "KongClusterPlugin",
        plural: "kongclusterplugins",
        short_name: "kcp",
        namespaced: false,
        version: "v1",
        columns: plugin_columns(),
        schema,
    })
}

/// The CRD of `KongConsumer`.
pub fn kong_consumer() -> CustomResourceDefinition {
    let mut schema = root_schema::<KongConsumer>();
    let mut rules = vec![json!({
        "message": "Need to provide either username or custom_id",
        "rule": "has(self.username) || has(self.custom_id)"
    })];
    rules.extend(control_plane_ref_object_rules(
        "(!has(self.spec) || !has(self.spec.controlPlaneRef))",
    ));
    schema["x-kubernetes-validations"] = Value::Array(rules);
    crd(CrdParts {
        kind: "KongConsumer",
        plural: "kongconsumers",
        short_name: "kc",
        namespaced: true,
        version: "v1",
        columns: vec![
            json!({"description": "Username of a Kong Consumer", "jsonPath": ".username", "name": "Username", "type": "string"}),
            age_column(),
            programmed_column(),
        ],
        schema,
    })
}

/// The CRD of `KongConsumerGroup`.
pub fn kong_consumer_group() -> CustomResourceDefinition {
    let mut schema = root_schema::<KongConsumerGroup>();
    // Kong's group CRD guards the immutability rule on `oldSelf`, the consumer CRD on `self`.
    schema["x-kubernetes-validations"] = Value::Array(control_plane_ref_object_rules(
        "(!has(oldSelf.spec) || !has(oldSelf.spec.controlPlaneRef))",
    ));
    crd(CrdParts {
        kind: "KongConsumerGroup",
        plural: "kongconsumergroups",
        short_name: "kcg",
        namespaced: true,
        version: "v1beta1",
        columns: vec![age_column(), programmed_column()],
        schema,
    })
}

struct CrdParts {
    kind: &'static str,
    plural: &'static str,
    short_name: &'static str,
    namespaced: bool,
    version: &'static str,
    columns: Vec<Value>,
    schema: Value,
}

fn crd(p: CrdParts) -> CustomResourceDefinition {
    let value = json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": format!("{}.{GROUP}", p.plural),
            "labels": {"app.kubernetes.io/part-of": "konnect-plugin-operator"},
        },
        "spec": {
            "group": GROUP,
            "names": {
                "categories": ["kong-ingress-controller", "kong"],
                "kind": p.kind,
                "listKind": format!("{}List", p.kind),
                "plural": p.plural,
                "shortNames": [p.short_name],
                "singular": p.kind.to_lowercase(),
            },
            "scope": if p.namespaced { "Namespaced" } else { "Cluster" },
            "versions": [{
                "additionalPrinterColumns": p.columns,
                "name": p.version,
                "schema": {"openAPIV3Schema": p.schema},
                "served": true,
                "storage": true,
                "subresources": {"status": {}},
            }],
        },
    });
    // The value is built from literals and schemars output above; a failure here is a bug in
    // this module, caught by the unit tests, not a runtime condition.
    serde_json::from_value(value).expect("assembled CRD is a valid CustomResourceDefinition")
}

fn plugin_rules() -> Value {
    json!([
        {"message": MSG_CONFIG_AND_CONFIG_FROM, "rule": "!(has(self.config) && has(self.configFrom))"},
        {"message": MSG_CONFIG_FROM_AND_PATCHES, "rule": "!(has(self.configFrom) && has(self.configPatches))"},
        {"message": MSG_PLUGIN_IMMUTABLE, "rule": "self.plugin == oldSelf.plugin"},
    ])
}

fn control_plane_ref_object_rules(immutable_guard: &str) -> Vec<Value> {
    vec![
        json!({
            "message": "controlPlaneRef is required once set",
            "rule": "(!has(oldSelf.spec) || !has(oldSelf.spec.controlPlaneRef)) || has(self.spec.controlPlaneRef)"
        }),
        json!({
            "message": "spec.controlPlaneRef cannot specify namespace for namespaced resource",
            "rule": "(!has(self.spec) || !has(self.spec.controlPlaneRef) || !has(self.spec.controlPlaneRef.konnectNamespacedRef)) ? true : !has(self.spec.controlPlaneRef.konnectNamespacedRef.__namespace__)"
        }),
        json!({
            "message": "spec.controlPlaneRef is immutable when an entity is already Programmed",
            "rule": format!("{immutable_guard} ? true : (!has(self.status) || !self.status.conditions.exists(c, c.type == 'Programmed' && c.status == 'True')) ? true : oldSelf.spec.controlPlaneRef == self.spec.controlPlaneRef")
        }),
    ]
}

fn plugin_columns() -> Vec<Value> {
    vec![
        json!({"description": "Name of the plugin", "jsonPath": ".plugin", "name": "Plugin-Type", "type": "string"}),
        age_column(),
        json!({"description": "Indicates if the plugin is disabled", "jsonPath": ".disabled", "name": "Disabled", "priority": 1, "type": "boolean"}),
        json!({"description": "Configuration of the plugin", "jsonPath": ".config", "name": "Config", "priority": 1, "type": "string"}),
        programmed_column(),
    ]
}

fn age_column() -> Value {
    json!({"description": "Age", "jsonPath": ".metadata.creationTimestamp", "name": "Age", "type": "date"})
}

fn programmed_column() -> Value {
    json!({"jsonPath": ".status.conditions[?(@.type==\"Programmed\")].status", "name": "Programmed", "type": "string"})
}

/// The openAPIV3Schema of a type: schemars with subschemas inlined, made structural, with the
/// `nullable` markers and `default: null` that Option fields produce removed (Kong's CRDs have none).
fn root_schema<T: schemars::JsonSchema>() -> Value {
    let generator = SchemaSettings::openapi3()
        .with(|s| {
            s.inline_subschemas = true;
            s.meta_schema = None;
        })
        .with_transform(kube::core::schema::StructuralSchemaRewriter)
        .into_generator();
    let mut value = serde_json::to_value(generator.into_root_schema_for::<T>()).unwrap_or_default();
    normalize(&mut value);
    if let Value::Object(map) = &mut value {
        map.remove("title");
    }
    // Type meta and metadata are validated by the API server itself; their schemas carry no
    // defaults (serde's `default` would otherwise leak into the CRD).
    for field in ["apiVersion", "kind", "metadata"] {
        if let Some(Value::Object(prop)) = value.pointer_mut(&format!("/properties/{field}")) {
            prop.remove("default");
        }
    }
    value
}

fn normalize(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.remove("nullable");
            if map.get("default") == Some(&Value::Null) {
                map.remove("default");
            }
            // `Option<Enum>` lists `null` among the values; the CRD says optional by omission.
            if let Some(Value::Array(values)) = map.get_mut("enum") {
                values.retain(|v| !v.is_null());
            }
            for v in map.values_mut() {
                normalize(v);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(normalize),
        _ => {}
    }
}

/// `schema_with` functions for fields whose schema is not what the Rust type implies.
pub(crate) mod schema_fns {
    use schemars::{Schema, SchemaGenerator, json_schema};
    use serde_json::json;

    pub fn string(_: &mut SchemaGenerator) -> Schema {
        json_schema!({"type": "string"})
    }

    pub fn object(_: &mut SchemaGenerator) -> Schema {
        json_schema!({"type": "object"})
    }

    pub fn free_form_object(_: &mut SchemaGenerator) -> Schema {
        json_schema!({"type": "object", "x-kubernetes-preserve-unknown-fields": true})
    }

    pub fn string_set(_: &mut SchemaGenerator) -> Schema {
        json_schema!({"type": "array", "items": {"type": "string"}, "x-kubernetes-list-type": "set"})
    }

    pub fn tags(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "array",
            "items": {"type": "string"},
            "maxItems": 20,
            "x-kubernetes-validations": [{
                "message": "tags entries must not be longer than 128 characters",
                "rule": "self.all(tag, size(tag) >= 1 && size(tag) <= 128)"
            }]
        })
    }

    fn pending_condition() -> serde_json::Value {
        json!({
            "lastTransitionTime": "1970-01-01T00:00:00Z",
            "message": "Waiting for controller",
            "reason": "Pending",
            "status": "Unknown",
            "type": "Programmed"
        })
    }

    /// `metav1.Condition` as controller-gen renders it.
    fn condition_item() -> serde_json::Value {
        json!({
            "description": "Condition contains details for one aspect of the current state of this API Resource.",
            "type": "object",
            "required": ["lastTransitionTime", "message", "reason", "status", "type"],
            "properties": {
                "lastTransitionTime": {"type": "string", "format": "date-time",
                    "description": "lastTransitionTime is the last time the condition transitioned from one status to another."},
                "message": {"type": "string", "maxLength": 32768,
                    "description": "message is a human readable message indicating details about the transition."},
                "observedGeneration": {"type": "integer", "format": "int64", "minimum": 0,
                    "description": "observedGeneration represents the .metadata.generation that the condition was set based upon."},
                "reason": {"type": "string", "maxLength": 1024, "minLength": 1,
                    "pattern": "^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$",
                    "description": "reason contains a programmatic identifier indicating the reason for the condition's last transition."},
                "status": {"type": "string", "enum": ["True", "False", "Unknown"],
                    "description": "status of the condition, one of True, False, Unknown."},
                "type": {"type": "string", "maxLength": 316,
                    "pattern": "^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$",
                    "description": "type of condition in CamelCase or in foo.example.com/CamelCase."}
            }
        })
    }

    fn conditions() -> serde_json::Value {
        json!({
            "description": "Conditions describe the current conditions of the object. Known condition types are: \"Programmed\".",
            "type": "array",
            "items": condition_item(),
            "maxItems": 8,
            "x-kubernetes-list-map-keys": ["type"],
            "x-kubernetes-list-type": "map"
        })
    }

    /// KongPlugin/KongClusterPlugin conditions: the default sits on the list.
    pub fn conditions_with_default(_: &mut SchemaGenerator) -> Schema {
        let mut c = conditions();
        c["default"] = json!([pending_condition()]);
        Schema::try_from(c).unwrap_or_default()
    }

    /// KongConsumer/KongConsumerGroup status: the default sits on the status object.
    pub fn entity_status(generator: &mut SchemaGenerator) -> Schema {
        let konnect = generator.subschema_for::<crate::crd::KonnectEntityStatus>();
        Schema::try_from(json!({
            "description": "Status represents the current status of the resource.",
            "type": "object",
            "default": {"conditions": [pending_condition()]},
            "properties": {
                "conditions": conditions(),
                "konnect": konnect,
            }
        }))
        .unwrap_or_default()
    }

    /// Kong's `controlPlaneRef` with its defaults, pattern and CEL rules.
    pub fn control_plane_ref(_: &mut SchemaGenerator) -> Schema {
        let when =
            |t: &str, cond: &str| format!("(has(self.type) && self.type == '{t}') ? {cond} : true");
        json_schema!({
            "description": "ControlPlaneRef is a reference to a ControlPlane this entity is associated with.",
            "type": "object",
            "properties": {
                "konnectID": {"type": "string", "pattern": "^[0-9a-f]{8}(?:\\-[0-9a-f]{4}){3}-[0-9a-f]{12}$",
                    "description": "KonnectID is the schema for the KonnectID type."},
                "konnectNamespacedRef": {
                    "description": "KonnectNamespacedRef is a reference to a Konnect Control Plane entity inside the cluster.",
                    "type": "object",
                    "required": ["name"],
                    "properties": {
                        "name": {"type": "string", "minLength": 1, "description": "Name is the name of the Konnect Control Plane."},
                        "namespace": {"type": "string", "description": "Namespace is the namespace where the Konnect Control Plane is in."}
                    }
                },
                "type": {"type": "string", "default": "kic", "enum": ["konnectID", "konnectNamespacedRef", "kic"],
                    "description": "Type indicates the type of the control plane being referenced."}
            },
            "x-kubernetes-validations": [
                {"message": "'konnectID' type is not supported", "rule": "self.type != 'konnectID'"},
                {"message": "when type is konnectNamespacedRef, konnectNamespacedRef must be set", "rule": when("konnectNamespacedRef", "has(self.konnectNamespacedRef)")},
                {"message": "when type is konnectNamespacedRef, konnectID must not be set", "rule": when("konnectNamespacedRef", "!has(self.konnectID)")},
                {"message": "when type is konnectID, konnectID must be set", "rule": when("konnectID", "has(self.konnectID)")},
                {"message": "when type is konnectID, konnectNamespacedRef must not be set", "rule": when("konnectID", "!has(self.konnectNamespacedRef)")},
                {"message": "when type is kic, konnectID must not be set", "rule": when("kic", "!has(self.konnectID)")},
                {"message": "when type is kic, konnectNamespacedRef must not be set", "rule": when("kic", "!has(self.konnectNamespacedRef)")},
                {"message": "when type is unset, konnectID must not be set", "rule": "!has(self.type) ? !has(self.konnectID) : true"},
                {"message": "when type is unset, konnectNamespacedRef must not be set", "rule": "!has(self.type) ? !has(self.konnectNamespacedRef) : true"}
            ]
        })
    }
}
