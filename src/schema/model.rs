//! The parsed form of Kong's schema format: fields, validators, records and entity checks.
//!
//! Parsing is strict about structure (a record without `fields`, an unknown `type`, a malformed
//! entity check is a [`SchemaError`]) and lenient about attributes it does not act on
//! (`description`, `referenceable`, `encrypted`, `deprecation`, ...), because Konnect adds
//! attributes over time and a schema we can still check is better than none.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::SchemaError;
use super::lua_pattern::LuaPattern;

/// The value types of Kong's schema format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldType {
    String,
    Number,
    Integer,
    Boolean,
    Array,
    Set,
    Map,
    Record,
    /// Free JSON (`type: json`); only presence is checked.
    Json,
    /// A reference to another entity: `{"id": "..."}`.
    Foreign,
}

impl FieldType {
    fn parse(s: &str) -> Option<FieldType> {
        Some(match s {
            "string" => FieldType::String,
            "number" => FieldType::Number,
            "integer" => FieldType::Integer,
            "boolean" => FieldType::Boolean,
            "array" => FieldType::Array,
            "set" => FieldType::Set,
            "map" => FieldType::Map,
            "record" => FieldType::Record,
            "json" => FieldType::Json,
            "foreign" => FieldType::Foreign,
            _ => return None,
        })
    }
}

/// `match_all` / `match_none` entries: a pattern and the error Kong reports.
#[derive(Clone, Debug)]
pub struct PatternErr {
    pub pattern: LuaPattern,
    pub err: String,
}

/// The single-field validators, in the order Kong runs them (`Schema.validators_order`).
#[derive(Clone, Debug, Default)]
pub struct Validators {
    pub eq: Option<Value>,
    pub ne: Option<Value>,
    pub one_of: Option<Vec<Value>>,
    pub not_one_of: Option<Vec<Value>>,
    pub gt: Option<f64>,
    pub timestamp: bool,
    pub uuid: bool,
    pub is_regex: bool,
    pub between: Option<(f64, f64)>,
    pub len_eq: Option<u64>,
    pub len_min: Option<u64>,
    pub len_max: Option<u64>,
    pub starts_with: Option<String>,
    pub not_match: Option<LuaPattern>,
    pub match_none: Vec<PatternErr>,
    pub match_: Option<LuaPattern>,
    pub match_all: Vec<PatternErr>,
    pub match_any: Option<(Vec<LuaPattern>, String)>,
    pub contains: Option<Value>,
}

/// One field definition.
#[derive(Clone, Debug)]
pub struct Field {
    pub ty: FieldType,
    pub required: bool,
    pub default: Option<Value>,
    pub validators: Validators,
    /// Array and set elements.
    pub elements: Option<Box<Field>>,
    /// Map keys and values.
    pub keys: Option<Box<Field>>,
    pub values: Option<Box<Field>>,
    /// Record contents.
    pub record: Option<Box<Record>>,
    /// `encrypted` or `referenceable` in Kong: a secret; error messages never echo its value.
    pub sensitive: bool,
}

/// A deprecated alias accepted on input and moved to its new place (`translate_backwards`).
#[derive(Clone, Debug)]
pub struct Shorthand {
    pub name: String,
    pub field: Field,
    /// Path, relative to the record, the value is moved to; `None` when the schema does not say
    /// (the value is then accepted and dropped, as Kong's shorthand function would rewrite it).
    pub target: Option<Vec<String>>,
}

/// A record: ordered fields plus cross-field rules.
#[derive(Clone, Debug, Default)]
pub struct Record {
    pub fields: Vec<(String, Field)>,
    pub entity_checks: Vec<EntityCheck>,
    pub shorthands: Vec<Shorthand>,
    /// Extension (Kong has it for entities): the field whose value picks a variant from
    /// `subschemas`, whose fields and checks are added to this record's.
    pub subschema_key: Option<String>,
    pub subschemas: BTreeMap<String, Record>,
    /// Extension: named validators implemented in Rust (see `custom.rs`).
    pub custom_validator: Option<String>,
    /// Extension: keys not in `fields` pass through unchecked (for partially embedded schemas).
    pub allow_unknown_fields: bool,
}

impl Record {
    pub fn field(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|(n, _)| n == name).map(|(_, f)| f)
    }
}

/// A conditional's `if_match` / `then_match`: validators plus `required`.
#[derive(Clone, Debug, Default)]
pub struct Match {
    pub required: bool,
    pub validators: Validators,
}

/// Kong's entity checkers.
#[derive(Clone, Debug)]
pub enum EntityCheck {
    AtLeastOneOf(Vec<String>),
    OnlyOneOf(Vec<String>),
    MutuallyExclusive(Vec<String>),
    MutuallyRequired(Vec<String>),
    Distinct(Vec<String>),
    MutuallyExclusiveSets {
        set1: Vec<String>,
        set2: Vec<String>,
    },
    Conditional {
        if_field: String,
        if_match: Match,
        then_field: String,
        then_match: Match,
        then_err: Option<String>,
    },
    ConditionalAtLeastOneOf {
        if_field: String,
        if_match: Match,
        then_at_least_one_of: Vec<String>,
        then_err: Option<String>,
        else_match: Option<Match>,
        else_then_at_least_one_of: Vec<String>,
        else_then_err: Option<String>,
    },
    /// A checker that exists only as Lua code (`custom_entity_check`) or one we do not know:
    /// kept so the schema parses, never fails validation.
    Opaque,
}

impl EntityCheck {
    /// Every field name the check reads.
    pub fn field_names(&self) -> Vec<&str> {
        fn v(l: &[String]) -> Vec<&str> {
            l.iter().map(String::as_str).collect()
        }
        match self {
            EntityCheck::AtLeastOneOf(l)
            | EntityCheck::OnlyOneOf(l)
            | EntityCheck::MutuallyExclusive(l)
            | EntityCheck::MutuallyRequired(l)
            | EntityCheck::Distinct(l) => v(l),
            EntityCheck::MutuallyExclusiveSets { set1, set2 } => {
                let mut out = v(set1);
                out.extend(v(set2));
                out
            }
            EntityCheck::Conditional {
                if_field,
                then_field,
                ..
            } => vec![if_field.as_str(), then_field.as_str()],
            EntityCheck::ConditionalAtLeastOneOf {
                if_field,
                then_at_least_one_of,
                else_then_at_least_one_of,
                ..
            } => {
                let mut out = vec![if_field.as_str()];
                out.extend(v(then_at_least_one_of));
                out.extend(v(else_then_at_least_one_of));
                out
            }
            EntityCheck::Opaque => Vec::new(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Parsing

fn err(path: &str, what: impl Into<String>) -> SchemaError {
    SchemaError::Invalid {
        path: path.to_owned(),
        reason: what.into(),
    }
}

fn as_f64(v: &Value, path: &str, attr: &str) -> Result<f64, SchemaError> {
    v.as_f64()
        .ok_or_else(|| err(path, format!("'{attr}' must be a number")))
}

fn as_u64(v: &Value, path: &str, attr: &str) -> Result<u64, SchemaError> {
    v.as_u64()
        .or_else(|| v.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64))
        .ok_or_else(|| err(path, format!("'{attr}' must be a non-negative integer")))
}

fn as_str<'a>(v: &'a Value, path: &str, attr: &str) -> Result<&'a str, SchemaError> {
    v.as_str()
        .ok_or_else(|| err(path, format!("'{attr}' must be a string")))
}

fn string_list(v: &Value, path: &str, attr: &str) -> Result<Vec<String>, SchemaError> {
    let arr = v
        .as_array()
        .ok_or_else(|| err(path, format!("'{attr}' must be an array of strings")))?;
    arr.iter()
        .map(|s| as_str(s, path, attr).map(str::to_owned))
        .collect()
}

/// Patterns Kong can run but we cannot translate are skipped (see `lua_pattern`).
fn pattern(v: &Value, path: &str, attr: &str) -> Result<Option<LuaPattern>, SchemaError> {
    let src = as_str(v, path, attr)?;
    let p = LuaPattern::new(src);
    if p.is_none() {
        tracing::debug!(
            path,
            attr,
            pattern = src,
            "Lua pattern not supported; check skipped"
        );
    }
    Ok(p)
}

fn pattern_errs(v: &Value, path: &str, attr: &str) -> Result<Vec<PatternErr>, SchemaError> {
    let arr = v
        .as_array()
        .ok_or_else(|| err(path, format!("'{attr}' must be an array")))?;
    let mut out = Vec::new();
    for item in arr {
        let p = item
            .get("pattern")
            .ok_or_else(|| err(path, format!("'{attr}' entries need 'pattern'")))?;
        let e = item
            .get("err")
            .and_then(Value::as_str)
            .unwrap_or("invalid value");
        if let Some(pattern) = pattern(p, path, attr)? {
            out.push(PatternErr {
                pattern,
                err: e.to_owned(),
            });
        }
    }
    Ok(out)
}

fn parse_validators(def: &Map<String, Value>, path: &str) -> Result<Validators, SchemaError> {
    let mut v = Validators::default();
    for (k, val) in def {
        match k.as_str() {
            "eq" => v.eq = Some(val.clone()),
            "ne" => v.ne = Some(val.clone()),
            "one_of" => {
                v.one_of = Some(
                    val.as_array()
                        .ok_or_else(|| err(path, "'one_of' must be an array"))?
                        .clone(),
                )
            }
            "not_one_of" => {
                v.not_one_of = Some(
                    val.as_array()
                        .ok_or_else(|| err(path, "'not_one_of' must be an array"))?
                        .clone(),
                )
            }
            "gt" => v.gt = Some(as_f64(val, path, k)?),
            "timestamp" => v.timestamp = val.as_bool().unwrap_or(false),
            "uuid" => v.uuid = val.as_bool().unwrap_or(false),
            "is_regex" => v.is_regex = val.as_bool().unwrap_or(false),
            "between" => {
                let arr = val
                    .as_array()
                    .filter(|a| a.len() == 2)
                    .ok_or_else(|| err(path, "'between' must be [min, max]"))?;
                v.between = Some((as_f64(&arr[0], path, k)?, as_f64(&arr[1], path, k)?));
            }
            "len_eq" => v.len_eq = Some(as_u64(val, path, k)?),
            "len_min" => v.len_min = Some(as_u64(val, path, k)?),
            "len_max" => v.len_max = Some(as_u64(val, path, k)?),
            "starts_with" => v.starts_with = Some(as_str(val, path, k)?.to_owned()),
            "not_match" => v.not_match = pattern(val, path, k)?,
            "match" => v.match_ = pattern(val, path, k)?,
            "match_none" => v.match_none = pattern_errs(val, path, k)?,
            "match_all" => v.match_all = pattern_errs(val, path, k)?,
            "match_any" => {
                let pats = val
                    .get("patterns")
                    .ok_or_else(|| err(path, "'match_any' needs 'patterns'"))?;
                let list = string_list(pats, path, "match_any.patterns")?;
                let compiled: Vec<LuaPattern> =
                    list.iter().filter_map(|p| LuaPattern::new(p)).collect();
                // Skipping one untranslatable alternative could turn a pass into a failure,
                // so the whole check is dropped unless every pattern translated.
                if compiled.len() == list.len() {
                    let e = val
                        .get("err")
                        .and_then(Value::as_str)
                        .unwrap_or("invalid value");
                    v.match_any = Some((compiled, e.to_owned()));
                }
            }
            "contains" => v.contains = Some(val.clone()),
            _ => {}
        }
    }
    Ok(v)
}

/// Parses one field definition (the object under the field's name).
pub fn parse_field(def: &Value, path: &str) -> Result<Field, SchemaError> {
    let def = def
        .as_object()
        .ok_or_else(|| err(path, "field definition must be an object"))?;
    let ty_name = def
        .get("type")
        .ok_or_else(|| err(path, "missing 'type'"))
        .and_then(|t| as_str(t, path, "type"))?;
    let ty =
        FieldType::parse(ty_name).ok_or_else(|| err(path, format!("unknown type '{ty_name}'")))?;
    let required = def
        .get("required")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let default = def.get("default").cloned();
    let validators = parse_validators(def, path)?;
    let sub = |key: &str| -> Result<Option<Box<Field>>, SchemaError> {
        def.get(key)
            .map(|d| parse_field(d, &format!("{path}.{key}")).map(Box::new))
            .transpose()
    };
    let (elements, keys, values) = (sub("elements")?, sub("keys")?, sub("values")?);
    match ty {
        FieldType::Array | FieldType::Set if elements.is_none() => {
            return Err(err(path, "missing attribute elements"));
        }
        FieldType::Map if keys.is_none() || values.is_none() => {
            return Err(err(path, "missing attribute keys or values"));
        }
        _ => {}
    }
    let record = if ty == FieldType::Record {
        Some(Box::new(parse_record(def, path)?))
    } else {
        None
    };
    let flag = |k: &str| def.get(k).and_then(Value::as_bool).unwrap_or(false);
    Ok(Field {
        sensitive: flag("encrypted") || flag("referenceable"),
        ty,
        required,
        default,
        validators,
        elements,
        keys,
        values,
        record,
    })
}

/// Parses `{"fields": [...], "entity_checks": [...], ...}`.
pub fn parse_record(def: &Map<String, Value>, path: &str) -> Result<Record, SchemaError> {
    let fields_v = def
        .get("fields")
        .ok_or_else(|| err(path, "missing attribute fields"))?;
    let fields = parse_field_list(fields_v, path)?;
    let entity_checks = match def.get("entity_checks") {
        Some(Value::Array(checks)) => checks
            .iter()
            .map(|c| parse_entity_check(c, path))
            .collect::<Result<Vec<_>, _>>()?,
        Some(Value::Null) | None => Vec::new(),
        Some(_) => return Err(err(path, "'entity_checks' must be an array")),
    };
    let shorthands = match def.get("shorthand_fields") {
        Some(v) => parse_field_list(v, &format!("{path}.shorthand_fields"))?
            .into_iter()
            .zip(v.as_array().into_iter().flatten())
            .map(|((name, field), raw)| {
                let target = raw
                    .get(&name)
                    .and_then(|d| d.get("translate_backwards"))
                    .and_then(|t| string_list(t, path, "translate_backwards").ok());
                Shorthand {
                    name,
                    field,
                    target,
                }
            })
            .collect(),
        None => Vec::new(),
    };
    let subschema_key = match def.get("subschema_key") {
        Some(k) => Some(as_str(k, path, "subschema_key")?.to_owned()),
        None => None,
    };
    let mut subschemas = BTreeMap::new();
    if let Some(subs) = def.get("subschemas") {
        let subs = subs
            .as_object()
            .ok_or_else(|| err(path, "'subschemas' must be an object"))?;
        for (name, sub) in subs {
            let sub_path = format!("{path}.subschemas.{name}");
            let sub = sub
                .as_object()
                .ok_or_else(|| err(&sub_path, "subschema must be an object"))?;
            subschemas.insert(name.clone(), parse_record(sub, &sub_path)?);
        }
    }
    let custom_validator = match def.get("custom_validator") {
        Some(Value::String(s)) => Some(s.clone()),
        _ => None,
    };
    Ok(Record {
        fields,
        entity_checks,
        shorthands,
        subschema_key,
        subschemas,
        custom_validator,
        allow_unknown_fields: def
            .get("allow_unknown_fields")
            .and_then(Value::as_bool)
            .unwrap_or(false),
    })
}

/// `[{"name": {...}}, ...]` in order.
fn parse_field_list(v: &Value, path: &str) -> Result<Vec<(String, Field)>, SchemaError> {
    let arr = v
        .as_array()
        .ok_or_else(|| err(path, "'fields' must be an array"))?;
    let mut out = Vec::with_capacity(arr.len());
    for entry in arr {
        let obj = entry
            .as_object()
            .filter(|o| o.len() == 1)
            .ok_or_else(|| err(path, "each field must be an object with exactly one key"))?;
        for (name, def) in obj {
            let field_path = if path.is_empty() {
                name.clone()
            } else {
                format!("{path}.{name}")
            };
            out.push((name.clone(), parse_field(def, &field_path)?));
        }
    }
    Ok(out)
}

fn parse_match(v: Option<&Value>, path: &str) -> Result<Match, SchemaError> {
    let obj = v
        .and_then(Value::as_object)
        .ok_or_else(|| err(path, "conditional match must be an object"))?;
    Ok(Match {
        required: obj
            .get("required")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        validators: parse_validators(obj, path)?,
    })
}

/// The entity checks [`parse_entity_check`] interprets; any other is kept as
/// [`EntityCheck::Opaque`] and skipped.
pub(crate) const KNOWN_ENTITY_CHECKS: &[&str] = &[
    "at_least_one_of",
    "only_one_of",
    "mutually_exclusive",
    "mutually_required",
    "distinct",
    "mutually_exclusive_sets",
    "conditional",
    "conditional_at_least_one_of",
];

fn parse_entity_check(c: &Value, path: &str) -> Result<EntityCheck, SchemaError> {
    let obj = c.as_object().filter(|o| o.len() == 1).ok_or_else(|| {
        err(
            path,
            "each entity check must be an object with exactly one key",
        )
    })?;
    let Some((name, arg)) = obj.iter().next() else {
        return Err(err(path, "empty entity check"));
    };
    let p = format!("{path}.entity_checks.{name}");
    let list = |a: &Value| string_list(a, &p, name);
    let s = |k: &str| -> Result<String, SchemaError> {
        arg.get(k)
            .ok_or_else(|| err(&p, format!("missing '{k}'")))
            .and_then(|v| as_str(v, &p, k).map(str::to_owned))
    };
    let opt_s = |k: &str| arg.get(k).and_then(Value::as_str).map(str::to_owned);
    let opt_list = |k: &str| -> Result<Vec<String>, SchemaError> {
        match arg.get(k) {
            Some(v) if !v.is_null() => string_list(v, &p, k),
            _ => Ok(Vec::new()),
        }
    };
    Ok(match name.as_str() {
        "at_least_one_of" => EntityCheck::AtLeastOneOf(list(arg)?),
        "only_one_of" => EntityCheck::OnlyOneOf(list(arg)?),
        "mutually_exclusive" => EntityCheck::MutuallyExclusive(list(arg)?),
        "mutually_required" => EntityCheck::MutuallyRequired(list(arg)?),
        "distinct" => EntityCheck::Distinct(list(arg)?),
        "mutually_exclusive_sets" => EntityCheck::MutuallyExclusiveSets {
            set1: opt_list("set1")?,
            set2: opt_list("set2")?,
        },
        "conditional" => EntityCheck::Conditional {
            if_field: s("if_field")?,
            if_match: parse_match(arg.get("if_match"), &p)?,
            then_field: s("then_field")?,
            then_match: parse_match(arg.get("then_match"), &p)?,
            then_err: opt_s("then_err"),
        },
        "conditional_at_least_one_of" => EntityCheck::ConditionalAtLeastOneOf {
            if_field: s("if_field")?,
            if_match: parse_match(arg.get("if_match"), &p)?,
            then_at_least_one_of: opt_list("then_at_least_one_of")?,
            then_err: opt_s("then_err"),
            else_match: match arg.get("else_match") {
                Some(m) if !m.is_null() => Some(parse_match(Some(m), &p)?),
                _ => None,
            },
            else_then_at_least_one_of: opt_list("else_then_at_least_one_of")?,
            else_then_err: opt_s("else_then_err"),
        },
        other => {
            tracing::debug!(
                path,
                check = other,
                "entity check not interpretable; skipped"
            );
            EntityCheck::Opaque
        }
    })
}
