//! Kong's entity checkers: cross-field rules declared in a record's `entity_checks`.
//!
//! Field names in a check are relative to the record that declares it (`"config.policy"` at the
//! plugin level, `"strategy"` inside `config.cache`), and checks see the record after defaults
//! were filled, as in Kong. Errors that Kong files under `@entity` are reported on the record's
//! path (`config` for plugin-level checks); `conditional` reports on its `then_field`, as Kong.

use serde_json::{Map, Value};

use super::FieldError;
use super::interp::{REQUIRED, is_nonempty, join, lua_eq, push, run_validators};
use super::model::{EntityCheck, Match};

/// `get_field(entity, "a.b.c")`.
fn get<'a>(map: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    let mut parts = name.split('.');
    let first = parts.next()?;
    let mut cur = map.get(first)?;
    for p in parts {
        cur = cur.as_object()?.get(p)?;
    }
    Some(cur)
}

fn quoted(names: &[String]) -> String {
    names
        .iter()
        .map(|n| format!("'{n}'"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Kong's `validate_field(if_match, value)`: a null value passes unless the match demands a
/// value (`required`, a non-null `eq`, or `ne = null`).
fn matches(m: &Match, v: Option<&Value>) -> Result<(), String> {
    match v {
        None | Some(Value::Null) => {
            if m.validators.ne.as_ref().is_some_and(Value::is_null) {
                return Err("value must not be null".to_owned());
            }
            if let Some(eq) = m.validators.eq.as_ref().filter(|e| !e.is_null()) {
                return Err(format!("value must be {}", super::interp::lua_tostring(eq)));
            }
            if m.required {
                return Err(REQUIRED.to_owned());
            }
            Ok(())
        }
        Some(value) => run_validators(&m.validators, value, false),
    }
}

fn count_nonempty(map: &Map<String, Value>, names: &[String]) -> usize {
    names.iter().filter(|n| is_nonempty(get(map, n))).count()
}

/// Runs one check over a processed record; `path` is the record's path (empty at the plugin
/// level) and `entity_path` where record-level errors are filed.
pub(crate) fn run(
    check: &EntityCheck,
    rec: &Map<String, Value>,
    path: &str,
    entity_path: &str,
    errs: &mut Vec<FieldError>,
) {
    let mut entity = |msg: String| push(errs, entity_path, msg);
    match check {
        EntityCheck::AtLeastOneOf(names) => {
            if count_nonempty(rec, names) == 0 {
                entity(format!(
                    "at least one of these fields must be non-empty: {}",
                    quoted(names)
                ));
            }
        }
        EntityCheck::OnlyOneOf(names) => {
            if count_nonempty(rec, names) != 1 {
                entity(format!(
                    "only one of these fields must be non-empty: {}",
                    quoted(names)
                ));
            }
        }
        EntityCheck::MutuallyExclusive(names) => {
            if count_nonempty(rec, names) > 1 {
                entity(format!(
                    "only one or none of these fields must be set: {}",
                    quoted(names)
                ));
            }
        }
        EntityCheck::MutuallyRequired(names) => {
            let n = count_nonempty(rec, names);
            if n != 0 && n != names.len() {
                entity(format!(
                    "all or none of these fields must be set: {}",
                    quoted(names)
                ));
            }
        }
        EntityCheck::Distinct(names) => {
            let values: Vec<&Value> = names
                .iter()
                .filter_map(|n| get(rec, n))
                .filter(|v| is_nonempty(Some(v)))
                .collect();
            let dup = values
                .iter()
                .enumerate()
                .any(|(i, a)| values[i + 1..].iter().any(|b| lua_eq(a, b)));
            if dup {
                entity(format!(
                    "values of these fields must be distinct: {}",
                    quoted(names)
                ));
            }
        }
        EntityCheck::MutuallyExclusiveSets { set1, set2 } => {
            if count_nonempty(rec, set1) > 0 && count_nonempty(rec, set2) > 0 {
                entity(format!(
                    "these sets are mutually exclusive: ({}), ({})",
                    quoted(set1),
                    quoted(set2)
                ));
            }
        }
        EntityCheck::Conditional {
            if_field,
            if_match,
            then_field,
            then_match,
            then_err,
        } => {
            if matches(if_match, get(rec, if_field)).is_err() {
                return;
            }
            if let Err(msg) = matches(then_match, get(rec, then_field)) {
                push(errs, join(path, then_field), msg);
                // Kong also files a line under @entity; only a schema-given text adds anything
                // over the field error, so the generic one is left out.
                if let Some(e) = then_err {
                    push(errs, entity_path, e.replace("%s", if_field));
                }
            }
        }
        EntityCheck::ConditionalAtLeastOneOf {
            if_field,
            if_match,
            then_at_least_one_of,
            then_err,
            else_match,
            else_then_at_least_one_of,
            else_then_err,
        } => {
            let if_value = get(rec, if_field);
            if if_value.is_none_or(Value::is_null) {
                return;
            }
            let (list, custom) = if matches(if_match, if_value).is_ok() {
                (then_at_least_one_of, then_err)
            } else {
                match else_match {
                    Some(m) if matches(m, if_value).is_ok() => {
                        (else_then_at_least_one_of, else_then_err)
                    }
                    _ => return,
                }
            };
            if count_nonempty(rec, list) == 0 {
                let q = quoted(list);
                entity(match custom {
                    Some(e) => e.replace("%s", &q),
                    None => format!("at least one of these fields must be non-empty: {q}"),
                });
            }
        }
        EntityCheck::Opaque => {}
    }
}
