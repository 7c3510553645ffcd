//! Named custom validators: rules Kong implements as Lua functions, which the schema JSON cannot
//! carry. An embedded schema names one with `"custom_validator": "<name>"` on a record; fetched
//! schemas never have them (Konnect drops functions when it serializes a schema).
//!
//! - `datakit_graph`: datakit's node graph (unique, well-formed names; every connection resolves
//!   to a node or an implicit source/sink; no cycles).
//! - `rate_limiting_periods`: rate-limiting's "a longer period may not have a lower limit".

use std::collections::{BTreeMap, HashMap};

use serde_json::{Map, Value};

use super::FieldError;
use super::interp::{join, push};

/// Nodes every datakit graph has without declaring them: the request/response phases and the
/// vault of `config.resources.vault`.
pub const DATAKIT_IMPLICIT_NODES: &[&str] = &[
    "request",
    "service_request",
    "service_response",
    "response",
    "vault",
];

/// The names [`run`] implements.
pub(crate) const KNOWN: &[&str] = &["datakit_graph", "rate_limiting_periods"];

/// Runs the validator called `name` on a processed record at `path`.
pub(crate) fn run(name: &str, rec: &Map<String, Value>, path: &str, errs: &mut Vec<FieldError>) {
    match name {
        "datakit_graph" => datakit_graph(rec, path, errs),
        "rate_limiting_periods" => rate_limiting_periods(rec, path, errs),
        other => tracing::debug!(validator = other, "unknown custom validator ignored"),
    }
}

fn rate_limiting_periods(rec: &Map<String, Value>, path: &str, errs: &mut Vec<FieldError>) {
    const ORDER: [&str; 6] = ["second", "minute", "hour", "day", "month", "year"];
    for (i, lower) in ORDER.iter().enumerate() {
        let Some(v1) = rec.get(*lower).and_then(Value::as_f64) else {
            continue;
        };
        for upper in &ORDER[i + 1..] {
            if let Some(v2) = rec.get(*upper).and_then(Value::as_f64)
                && v2 < v1
            {
                push(
                    errs,
                    if path.is_empty() { "config" } else { path },
                    format!(
                        "The limit for {upper}({v2:.1}) cannot be lower than the limit for {lower}({v1:.1})"
                    ),
                );
                return;
            }
        }
    }
}

/// One connection a node declares: where it is written in the config and the node it names.
struct Edge {
    field: String,
    node: String,
    /// `true` when data flows from the named node into this one.
    incoming: bool,
}

/// The node named by a connection string `NODE` or `NODE.field`.
fn node_of(reference: &str) -> &str {
    reference.split('.').next().unwrap_or(reference)
}

fn edges_of(node: &Map<String, Value>, node_path: &str) -> Vec<Edge> {
    let mut out = Vec::new();
    let mut add = |field: String, v: &Value, incoming: bool| {
        if let Some(s) = v.as_str() {
            out.push(Edge {
                field,
                node: node_of(s).to_owned(),
                incoming,
            });
        }
    };
    for (key, incoming) in [("input", true), ("output", false)] {
        if let Some(v) = node.get(key) {
            add(join(node_path, key), v, incoming);
        }
    }
    for (key, incoming) in [("inputs", true), ("outputs", false)] {
        if let Some(Value::Object(m)) = node.get(key) {
            for (k, v) in m {
                add(format!("{node_path}.{key}.{k}"), v, incoming);
            }
        }
    }
    // A branch runs its `then`/`else` nodes: control flows out of it.
    for key in ["then", "else"] {
        if let Some(Value::Array(names)) = node.get(key) {
            for (i, v) in names.iter().enumerate() {
                add(format!("{node_path}.{key}[{i}]"), v, false);
            }
        }
    }
    out
}

fn datakit_graph(rec: &Map<String, Value>, path: &str, errs: &mut Vec<FieldError>) {
    let Some(Value::Array(nodes)) = rec.get("nodes") else {
        return;
    };
    let nodes_path = join(path, "nodes");
    let node_path = |i: usize| format!("{nodes_path}[{i}]");

    // Names: unique, not an implicit node.
    let mut index: HashMap<&str, usize> = HashMap::new();
    for (i, node) in nodes.iter().enumerate() {
        let Some(name) = node.get("name").and_then(Value::as_str) else {
            continue;
        };
        let field = join(&node_path(i), "name");
        if DATAKIT_IMPLICIT_NODES.contains(&name) {
            push(errs, field, format!("'{name}' is a reserved node name"));
        } else if let Some(first) = index.get(name) {
            push(
                errs,
                field,
                format!(
                    "duplicate node name '{name}' (also used by {})",
                    node_path(*first)
                ),
            );
        } else {
            index.insert(name, i);
        }
    }

    // Connections resolve; build the data/control-flow graph between declared nodes.
    let mut succ: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (i, node) in nodes.iter().enumerate() {
        let Some(obj) = node.as_object() else {
            continue;
        };
        for edge in edges_of(obj, &node_path(i)) {
            if DATAKIT_IMPLICIT_NODES.contains(&edge.node.as_str()) {
                continue;
            }
            let Some(&j) = index.get(edge.node.as_str()) else {
                push(errs, edge.field, format!("unknown node '{}'", edge.node));
                continue;
            };
            let (from, to) = if edge.incoming { (j, i) } else { (i, j) };
            succ.entry(from).or_default().push(to);
        }
    }

    if let Some(cycle) = find_cycle(nodes.len(), &succ) {
        let names: Vec<String> = cycle
            .iter()
            .map(|&i| {
                nodes[i]
                    .get("name")
                    .and_then(Value::as_str)
                    .map_or_else(|| node_path(i), str::to_owned)
            })
            .collect();
        push(
            errs,
            nodes_path.clone(),
            format!("cycle detected: {}", names.join(" -> ")),
        );
    }
}

/// Iterative DFS; returns the nodes of the first cycle found, closed (first == last).
fn find_cycle(n: usize, succ: &BTreeMap<usize, Vec<usize>>) -> Option<Vec<usize>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Color {
        White,
        Grey,
        Black,
    }
    let mut color = vec![Color::White; n];
    let empty = Vec::new();
    for start in 0..n {
        if color[start] != Color::White {
            continue;
        }
        // Stack of (node, index of its next successor); the stack is the grey path.
        let mut stack: Vec<(usize, usize)> = vec![(start, 0)];
        color[start] = Color::Grey;
        while let Some(&mut (v, ref mut k)) = stack.last_mut() {
            let next = succ.get(&v).unwrap_or(&empty);
            if *k < next.len() {
                let w = next[*k];
                *k += 1;
                match color[w] {
                    Color::White => {
                        color[w] = Color::Grey;
                        stack.push((w, 0));
                    }
                    Color::Grey => {
                        let pos = stack.iter().position(|&(x, _)| x == w).unwrap_or(0);
                        let mut cycle: Vec<usize> = stack[pos..].iter().map(|&(x, _)| x).collect();
                        cycle.push(w);
                        return Some(cycle);
                    }
                    Color::Black => {}
                }
            } else {
                color[v] = Color::Black;
                stack.pop();
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cycle_finder() {
        let mut g = BTreeMap::new();
        g.insert(0, vec![1]);
        g.insert(1, vec![2]);
        assert!(find_cycle(3, &g).is_none());
        g.insert(2, vec![0]);
        assert_eq!(find_cycle(3, &g), Some(vec![0, 1, 2, 0]));
        let mut selfloop = BTreeMap::new();
        selfloop.insert(1, vec![1]);
        assert_eq!(find_cycle(2, &selfloop), Some(vec![1, 1]));
    }
}
