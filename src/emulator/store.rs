//! The emulated core entities of one control plane, and the rules Konnect enforces on them.
//!
//! Owns: the stored JSON representation (what GET returns, server-filled fields included),
//! request-body checks per entity (known fields, JSON types, required fields, defaults),
//! uniqueness, foreign keys, cascades, consumer-group membership, stable pagination and tag
//! filters. It is pure: no I/O, no clock (callers pass `now`), no HTTP types beyond the error
//! bodies of [`super::errors`]. Plugin configs are checked by [`super::plugins`].

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::errors::{ApiError, Detail};
use super::{plugins, typedefs};
use crate::konnect::models::PROTOCOLS;

/// The core entity kinds the emulator stores.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Service,
    Route,
    Consumer,
    ConsumerGroup,
    Plugin,
}

impl Kind {
    pub const ALL: [Kind; 5] = [
        Kind::Service,
        Kind::Route,
        Kind::Consumer,
        Kind::ConsumerGroup,
        Kind::Plugin,
    ];

    /// The name of the foreign-key field that points at an entity of this kind.
    pub fn foreign_field(self) -> &'static str {
        match self {
            Kind::Service => "service",
            Kind::Route => "route",
            Kind::Consumer => "consumer",
            Kind::ConsumerGroup => "consumer_group",
            Kind::Plugin => "plugin",
        }
    }

    /// Fields that may also be used instead of the id in a path (`/services/{idOrName}`).
    fn name_fields(self) -> &'static [&'static str] {
        match self {
            Kind::Service | Kind::Route | Kind::ConsumerGroup => &["name"],
            Kind::Consumer => &["username", "custom_id"],
            Kind::Plugin => &["instance_name"],
        }
    }

    /// The fields of the entity in the official spec, with the JSON type Konnect checks.
    fn fields(self) -> &'static [(&'static str, Ty)] {
        match self {
            Kind::Service => &[
                ("ca_certificates", Ty::StrList),
                ("client_certificate", Ty::Foreign),
                ("connect_timeout", Ty::Int(1, 2_147_483_646)),
                ("created_at", Ty::Int(0, i64::MAX)),
                ("enabled", Ty::Bool),
                ("host", Ty::Str),
                ("id", Ty::Str),
                ("name", Ty::Str),
                ("path", Ty::Str),
                ("port", Ty::Int(0, 65535)),
                ("protocol", Ty::Enum(PROTOCOLS)),
                ("read_timeout", Ty::Int(1, 2_147_483_646)),
                ("retries", Ty::Int(0, 32767)),
                ("tags", Ty::StrList),
                ("tls_sans", Ty::Object),
                ("tls_verify", Ty::Bool),
                ("tls_verify_depth", Ty::Int(0, 64)),
                ("updated_at", Ty::Int(0, i64::MAX)),
                ("url", Ty::Str),
                ("write_timeout", Ty::Int(1, 2_147_483_646)),
            ],
            Kind::Route => &[
                ("created_at", Ty::Int(0, i64::MAX)),
                ("destinations", Ty::ObjList),
                // Expression routes (`RouteExpression` in the spec; Kong's `routes.lua` under
                // `router_flavor = expressions`).
                ("expression", Ty::Str),
                ("headers", Ty::Headers),
                ("hosts", Ty::StrList),
                (
                    "https_redirect_status_code",
                    Ty::IntEnum(&[301, 302, 307, 308, 426]),
                ),
                ("id", Ty::Str),
                ("methods", Ty::StrList),
                ("name", Ty::Str),
                ("path_handling", Ty::Enum(&["v0", "v1"])),
                ("paths", Ty::StrList),
                ("preserve_host", Ty::Bool),
                ("priority", Ty::Int(0, 70_368_744_177_663)),
                ("protocols", Ty::EnumList(PROTOCOLS)),
                ("regex_priority", Ty::Int(i64::MIN, i64::MAX)),
                ("request_buffering", Ty::Bool),
                ("response_buffering", Ty::Bool),
                ("service", Ty::Foreign),
                ("snis", Ty::StrList),
                ("sources", Ty::ObjList),
                ("strip_path", Ty::Bool),
                ("tags", Ty::StrList),
                ("updated_at", Ty::Int(0, i64::MAX)),
            ],
            Kind::Consumer => &[
                ("created_at", Ty::Int(0, i64::MAX)),
                ("custom_id", Ty::Str),
                ("id", Ty::Str),
                ("tags", Ty::StrList),
                ("updated_at", Ty::Int(0, i64::MAX)),
                ("username", Ty::Str),
            ],
            Kind::ConsumerGroup => &[
                ("created_at", Ty::Int(0, i64::MAX)),
                ("id", Ty::Str),
                ("name", Ty::Str),
                ("tags", Ty::StrList),
                ("updated_at", Ty::Int(0, i64::MAX)),
            ],
            Kind::Plugin => &[
                ("condition", Ty::Str),
                ("config", Ty::Object),
                ("consumer", Ty::Foreign),
                ("consumer_group", Ty::Foreign),
                ("created_at", Ty::Int(0, i64::MAX)),
                ("enabled", Ty::Bool),
                ("id", Ty::Str),
                ("instance_name", Ty::Str),
                ("name", Ty::Str),
                ("ordering", Ty::Object),
                ("partials", Ty::ObjList),
                ("protocols", Ty::EnumList(PROTOCOLS)),
                ("route", Ty::Foreign),
                ("service", Ty::Foreign),
                ("tags", Ty::StrList),
                ("updated_at", Ty::Int(0, i64::MAX)),
            ],
        }
    }

    /// Server-filled defaults, as the spec's schemas declare them.
    fn defaults(self) -> Vec<(&'static str, Value)> {
        match self {
            Kind::Service => vec![
                ("protocol", json!("http")),
                ("port", json!(80)),
                ("retries", json!(5)),
                ("connect_timeout", json!(60000)),
                ("read_timeout", json!(60000)),
                ("write_timeout", json!(60000)),
                ("enabled", json!(true)),
            ],
            Kind::Route => vec![
                // The spec's schema says ["https"]; Kong's route schema, which Konnect's config
                // API runs, defaults to both and that is what Konnect returns.
                ("protocols", json!(["http", "https"])),
                ("strip_path", json!(true)),
                ("preserve_host", json!(false)),
                ("regex_priority", json!(0)),
                ("https_redirect_status_code", json!(426)),
                ("path_handling", json!("v0")),
                ("request_buffering", json!(true)),
                ("response_buffering", json!(true)),
            ],
            Kind::Consumer | Kind::ConsumerGroup => vec![],
            Kind::Plugin => vec![
                ("enabled", json!(true)),
                ("protocols", json!(["grpc", "grpcs", "http", "https"])),
                ("config", json!({})),
            ],
        }
    }
}

/// JSON types of entity fields.
#[derive(Clone, Copy, Debug)]
enum Ty {
    Str,
    Int(i64, i64),
    Bool,
    StrList,
    Foreign,
    Object,
    ObjList,
    Headers,
    Enum(&'static [&'static str]),
    IntEnum(&'static [i64]),
    EnumList(&'static [&'static str]),
}

impl Ty {
    /// The koko-style message for a value of the wrong type, or `None` when it fits.
    fn check(self, v: &Value) -> Option<String> {
        match self {
            Ty::Str => (!v.is_string()).then(|| "expected a string".to_string()),
            // Kong's `between` (`kong/db/schema/init.lua`, `BETWEEN`).
            Ty::Int(min, max) => match v.as_i64() {
                None => Some("expected an integer".into()),
                Some(n) if n < min || n > max => {
                    Some(format!("value should be between {min} and {max}"))
                }
                Some(_) => None,
            },
            Ty::Bool => (!v.is_boolean()).then(|| "expected a boolean".to_string()),
            Ty::StrList => match v.as_array() {
                Some(a) if a.iter().all(Value::is_string) => None,
                _ => Some("expected an array of strings".into()),
            },
            Ty::Foreign => match v.as_object() {
                Some(o) if o.get("id").is_some_and(Value::is_string) && o.len() == 1 => None,
                _ => Some("expected an object with a string 'id'".into()),
            },
            Ty::Object => (!v.is_object()).then(|| "expected an object".to_string()),
            Ty::ObjList => match v.as_array() {
                Some(a) if a.iter().all(Value::is_object) => None,
                _ => Some("expected an array of objects".into()),
            },
            Ty::Headers => match v.as_object() {
                Some(o)
                    if o.values()
                        .all(|l| l.as_array().is_some_and(|a| a.iter().all(Value::is_string))) =>
                {
                    None
                }
                _ => Some("expected a map of header names to arrays of strings".into()),
            },
            Ty::Enum(allowed) => match v.as_str() {
                Some(s) if allowed.contains(&s) => None,
                _ => Some(format!(
                    "value must be one of \"{}\"",
                    allowed.join("\", \"")
                )),
            },
            Ty::IntEnum(allowed) => match v.as_i64() {
                Some(n) if allowed.contains(&n) => None,
                _ => Some(format!(
                    "value must be one of {}",
                    allowed
                        .iter()
                        .map(i64::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
            },
            Ty::EnumList(allowed) => match v.as_array() {
                Some(a)
                    if a.iter()
                        .all(|x| x.as_str().is_some_and(|s| allowed.contains(&s))) =>
                {
                    None
                }
                _ => Some(format!(
                    "each item must be one of \"{}\"",
                    allowed.join("\", \"")
                )),
            },
        }
    }
}

/// The entity a nested path hangs under (`services/{id}/plugins`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Parent {
    pub kind: Kind,
    pub id: String,
}

/// One stored entity: its creation sequence (the list order) and what GET returns.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Row {
    seq: u64,
    body: Map<String, Value>,
}

/// The foreign-key fields an entity may carry, in the order constraints are checked.
const FOREIGN_FIELDS: [&str; 4] = ["service", "route", "consumer", "consumer_group"];

/// A plugin's scope: its name and the ids of the entities it is attached to.
type ScopeKey = [Option<String>; 5];

/// Lookups that would otherwise scan a whole table, so that a write costs O(log n) whatever
/// the table holds. Derived from the rows: never stored, rebuilt on load.
#[derive(Clone, Debug, Default)]
struct Index {
    /// (name field, value) -> id, for the fields that are unique and usable in paths.
    names: HashMap<(&'static str, String), String>,
    /// Plugins only: scope -> id (Kong's `unique-plugin-per-entity`).
    scopes: HashMap<ScopeKey, String>,
    /// (foreign field, referenced id) -> creation sequence -> id: the entities under a parent,
    /// in list order.
    children: HashMap<(&'static str, String), BTreeMap<u64, String>>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct Table {
    /// Creation sequence -> id: the stable list order that offsets point into.
    order: BTreeMap<u64, String>,
    rows: HashMap<String, Row>,
    #[serde(skip)]
    index: Index,
}

impl Table {
    fn index_row(&mut self, kind: Kind, id: &str, row: &Row) {
        for f in kind.name_fields() {
            if let Some(v) = row.body.get(*f).and_then(Value::as_str) {
                self.index.names.insert((f, v.to_string()), id.to_string());
            }
        }
        if kind == Kind::Plugin {
            self.index
                .scopes
                .insert(plugin_scope_key(&row.body), id.to_string());
        }
        for f in FOREIGN_FIELDS {
            if let Some(target) = foreign_id(&row.body, f) {
                self.index
                    .children
                    .entry((f, target))
                    .or_default()
                    .insert(row.seq, id.to_string());
            }
        }
    }

    fn unindex_row(&mut self, kind: Kind, id: &str, row: &Row) {
        for f in kind.name_fields() {
            if let Some(v) = row.body.get(*f).and_then(Value::as_str) {
                let key = (*f, v.to_string());
                if self.index.names.get(&key).is_some_and(|x| x == id) {
                    self.index.names.remove(&key);
                }
            }
        }
        if kind == Kind::Plugin {
            let key = plugin_scope_key(&row.body);
            if self.index.scopes.get(&key).is_some_and(|x| x == id) {
                self.index.scopes.remove(&key);
            }
        }
        for f in FOREIGN_FIELDS {
            if let Some(target) = foreign_id(&row.body, f) {
                let key = (f, target);
                if let Some(m) = self.index.children.get_mut(&key) {
                    m.remove(&row.seq);
                    if m.is_empty() {
                        self.index.children.remove(&key);
                    }
                }
            }
        }
    }

    /// The ids under a parent (`field` pointing at `target`), in creation order.
    fn children(&self, field: &'static str, target: &str) -> Option<&BTreeMap<u64, String>> {
        self.index.children.get(&(field, target.to_string()))
    }
}

/// All core entities of one control plane.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(from = "StoredCore")]
pub struct CoreStore {
    next_seq: u64,
    tables: BTreeMap<Kind, Table>,
    /// (consumer group id, consumer id).
    memberships: BTreeSet<(String, String)>,
    /// The same pairs the other way round, (consumer id, consumer group id); derived.
    #[serde(skip)]
    members_of: BTreeSet<(String, String)>,
}

/// What the state file holds of a [`CoreStore`]; loading rebuilds the derived indexes.
#[derive(Deserialize)]
struct StoredCore {
    next_seq: u64,
    tables: BTreeMap<Kind, Table>,
    memberships: BTreeSet<(String, String)>,
}

impl From<StoredCore> for CoreStore {
    fn from(s: StoredCore) -> CoreStore {
        let mut tables = s.tables;
        for (kind, table) in &mut tables {
            let rows: Vec<(String, Row)> = table
                .rows
                .iter()
                .map(|(id, r)| (id.clone(), r.clone()))
                .collect();
            table.index = Index::default();
            for (id, row) in &rows {
                table.index_row(*kind, id, row);
            }
        }
        let members_of = s
            .memberships
            .iter()
            .map(|(g, c)| (c.clone(), g.clone()))
            .collect();
        CoreStore {
            next_seq: s.next_seq,
            tables,
            memberships: s.memberships,
            members_of,
        }
    }
}

/// The ids of the pairs in `set` whose first element is `first`, in the set's order.
fn pairs_of<'a>(
    set: &'a BTreeSet<(String, String)>,
    first: &'a str,
) -> impl Iterator<Item = &'a String> + 'a {
    set.range((first.to_string(), String::new())..)
        .take_while(move |(a, _)| a == first)
        .map(|(_, b)| b)
}

/// A list request, parsed from the query string.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ListQuery {
    pub size: usize,
    pub offset: Option<u64>,
    pub tags: Option<TagFilter>,
    pub name_eq: Option<String>,
    pub name_contains: Option<String>,
    /// `custom_id=` (consumers only).
    pub custom_id: Option<String>,
}

/// Which filters a list endpoint takes, as the spec's parameters say. Anything else in the
/// query string answers 400, so a client relying on a filter the endpoint lacks finds out
/// instead of receiving the whole unfiltered list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Filters {
    /// `size`, `offset`, `tags`: nested lists and consumer groups.
    Paging,
    /// Also `filter[name][eq]` / `filter[name][contains]`: top-level services, routes, plugins.
    Name,
    /// Also the name filters and `custom_id`: the top-level consumer list. Consumers have no
    /// `name`; the spec names no field, so the name filters match `username`.
    Consumer,
}

impl Filters {
    /// The filters of the top-level list of `kind`.
    pub fn top_level(kind: Kind) -> Filters {
        match kind {
            Kind::Consumer => Filters::Consumer,
            Kind::ConsumerGroup => Filters::Paging,
            Kind::Service | Kind::Route | Kind::Plugin => Filters::Name,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum TagFilter {
    All(Vec<String>),
    Any(Vec<String>),
}

impl TagFilter {
    fn matches(&self, tags: Option<&Value>) -> bool {
        let has = |t: &String| {
            tags.and_then(Value::as_array)
                .is_some_and(|a| a.iter().any(|x| x.as_str() == Some(t)))
        };
        match self {
            TagFilter::All(ts) => ts.iter().all(has),
            TagFilter::Any(ts) => ts.iter().any(has),
        }
    }
}

pub const DEFAULT_PAGE_SIZE: usize = 100;
pub const MAX_PAGE_SIZE: usize = 1000;

impl ListQuery {
    /// Parses `size`, `offset`, `tags`, and the filters `allowed` names; any other parameter
    /// answers 400.
    pub fn parse(params: &[(String, String)], allowed: Filters) -> Result<ListQuery, ApiError> {
        let mut q = ListQuery {
            size: DEFAULT_PAGE_SIZE,
            ..ListQuery::default()
        };
        for (k, v) in params {
            match k.as_str() {
                "size" => {
                    q.size = match v.parse::<usize>() {
                        Ok(n) if (1..=MAX_PAGE_SIZE).contains(&n) => n,
                        _ => {
                            return Err(ApiError::Validation(vec![Detail::field(
                                "size",
                                format!("must be an integer between 1 and {MAX_PAGE_SIZE}"),
                            )]));
                        }
                    }
                }
                "offset" if v.is_empty() => {}
                "offset" => {
                    q.offset = Some(
                        decode_offset(v)
                            .ok_or_else(|| ApiError::BadRequest("invalid offset".into()))?,
                    )
                }
                "tags" if v.is_empty() => {}
                "tags" => q.tags = Some(parse_tags(v)?),
                "filter[name][eq]" if allowed != Filters::Paging => q.name_eq = Some(v.clone()),
                "filter[name][contains]" if allowed != Filters::Paging => {
                    q.name_contains = Some(v.clone())
                }
                "custom_id" if allowed == Filters::Consumer => q.custom_id = Some(v.clone()),
                other => {
                    return Err(ApiError::BadRequest(format!(
                        "unknown query parameter '{other}' for this list"
                    )));
                }
            }
        }
        Ok(q)
    }
}

fn parse_tags(v: &str) -> Result<TagFilter, ApiError> {
    let bad = || ApiError::BadRequest(format!("invalid tags filter '{v}'"));
    match (v.contains(','), v.contains('/')) {
        (true, true) => Err(bad()),
        (_, true) => split_tags(v, '/').map(TagFilter::Any).ok_or_else(bad),
        _ => split_tags(v, ',').map(TagFilter::All).ok_or_else(bad),
    }
}

fn split_tags(v: &str, sep: char) -> Option<Vec<String>> {
    let tags: Vec<String> = v.split(sep).map(str::to_string).collect();
    (!tags.iter().any(String::is_empty)).then_some(tags)
}

/// Offsets are opaque to clients; inside they are the creation sequence to resume from.
pub fn encode_offset(seq: u64) -> String {
    hex::encode(format!("seq:{seq}"))
}

fn decode_offset(s: &str) -> Option<u64> {
    let raw = hex::decode(s).ok()?;
    std::str::from_utf8(&raw)
        .ok()?
        .strip_prefix("seq:")?
        .parse()
        .ok()
}

/// One page of a list.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Page {
    pub data: Vec<Value>,
    /// Where the next page starts, when there is one.
    pub next_offset: Option<u64>,
}

/// A write that passed every check of [`CoreStore::prepare`] and is not stored yet.
///
/// Only valid against the store that prepared it, unchanged since: commit it right away.
#[derive(Clone, Debug)]
pub struct PreparedWrite {
    kind: Kind,
    id: String,
    /// The creation sequence of the entity it replaces; `None` when it creates one.
    existing_seq: Option<u64>,
    entity: Map<String, Value>,
}

impl PreparedWrite {
    /// Whether committing it adds an entity (rather than replacing one).
    pub fn creates(&self) -> bool {
        self.existing_seq.is_none()
    }
}

/// Whether a write creates only (POST) or creates-or-replaces (PUT).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteMode {
    Create,
    Upsert,
}

fn is_uuid(s: &str) -> bool {
    uuid::Uuid::parse_str(s).is_ok()
}

fn foreign_id(body: &Map<String, Value>, field: &str) -> Option<String> {
    body.get(field)?.get("id")?.as_str().map(str::to_string)
}

impl CoreStore {
    fn table(&self, kind: Kind) -> Option<&Table> {
        self.tables.get(&kind)
    }

    fn row(&self, kind: Kind, id: &str) -> Option<&Row> {
        self.table(kind)?.rows.get(id)
    }

    /// Number of stored entities of a kind.
    pub fn count(&self, kind: Kind) -> usize {
        self.table(kind).map_or(0, |t| t.rows.len())
    }

    /// Number of stored core entities of every kind (memberships are not entities).
    pub fn total(&self) -> usize {
        self.tables.values().map(|t| t.rows.len()).sum()
    }

    /// Finds an entity by id, or by the name fields Kong accepts in paths.
    pub fn resolve(&self, kind: Kind, id_or_name: &str) -> Option<String> {
        let table = self.table(kind)?;
        if table.rows.contains_key(id_or_name) {
            return Some(id_or_name.to_string());
        }
        kind.name_fields().iter().find_map(|f| {
            table
                .index
                .names
                .get(&(*f, id_or_name.to_string()))
                .cloned()
        })
    }

    fn belongs(&self, row: &Row, parent: Option<&Parent>) -> bool {
        match parent {
            None => true,
            Some(p) => foreign_id(&row.body, p.kind.foreign_field()).as_deref() == Some(&p.id),
        }
    }

    /// GET one entity (under `parent` when the path is nested).
    pub fn get(&self, kind: Kind, id_or_name: &str, parent: Option<&Parent>) -> Option<Value> {
        let id = self.resolve(kind, id_or_name)?;
        let row = self.row(kind, &id)?;
        self.belongs(row, parent)
            .then(|| Value::Object(row.body.clone()))
    }

    /// One page of entities in creation order, filtered.
    pub fn list(&self, kind: Kind, q: &ListQuery, parent: Option<&Parent>) -> Page {
        let Some(table) = self.table(kind) else {
            return Page::default();
        };
        let from = q.offset.unwrap_or(0);
        match parent {
            None => self.page_of(kind, q, table.order.range(from..)),
            Some(p) => match table.children(p.kind.foreign_field(), &p.id) {
                Some(ids) => self.page_of(kind, q, ids.range(from..)),
                None => Page::default(),
            },
        }
    }

    /// POST (create) or PUT (create or replace) one entity, without an entity limit.
    ///
    /// Returns the stored representation and whether it was created.
    pub fn write(
        &mut self,
        kind: Kind,
        path_id: Option<&str>,
        body: Value,
        parent: Option<&Parent>,
        mode: WriteMode,
        now: i64,
    ) -> Result<(Value, bool), ApiError> {
        let w = self.prepare(kind, path_id, body, parent, mode, now)?;
        Ok(self.commit(w))
    }

    /// Checks a write completely (body, foreign keys, uniqueness) without storing it, so a
    /// caller can apply a further rule, such as [`CoreStore::check_entity_limit`], before
    /// [`CoreStore::commit`].
    pub fn prepare(
        &self,
        kind: Kind,
        path_id: Option<&str>,
        body: Value,
        parent: Option<&Parent>,
        mode: WriteMode,
        now: i64,
    ) -> Result<PreparedWrite, ApiError> {
        let Value::Object(mut body) = body else {
            return Err(ApiError::BadRequest(
                "request body must be a JSON object".into(),
            ));
        };
        // Nested paths set the parent themselves, whatever the body says.
        if let Some(p) = parent {
            body.insert(p.kind.foreign_field().into(), json!({ "id": p.id }));
        }
        let id = match (path_id, body.get("id").and_then(Value::as_str)) {
            (Some(path), _) => path.to_string(),
            (None, Some(given)) => given.to_string(),
            (None, None) => uuid::Uuid::new_v4().to_string(),
        };
        if !is_uuid(&id) {
            return Err(ApiError::Validation(vec![Detail::field(
                "id",
                "must be a valid UUID",
            )]));
        }
        let existing = self.row(kind, &id).cloned();
        if mode == WriteMode::Create && existing.is_some() {
            return Err(ApiError::Constraint(vec![Detail::constraint(
                "id", "unique",
            )]));
        }
        // A PUT under services/{a}/plugins/{id} of a plugin of service b re-parents it, as Kong
        // does: the parent was set above and nothing is refused.
        let mut entity = normalize(kind, body)?;
        entity.insert("id".into(), json!(id));
        let created_at = existing
            .as_ref()
            .and_then(|r| r.body.get("created_at").cloned())
            .unwrap_or(json!(now));
        entity.insert("created_at".into(), created_at);
        entity.insert("updated_at".into(), json!(now));
        self.check_constraints(kind, &id, &entity)?;
        Ok(PreparedWrite {
            kind,
            id,
            existing_seq: existing.map(|r| r.seq),
            entity,
        })
    }

    /// Refuses a write that would create an entity in a control plane already holding
    /// `max` core entities, with the 403 Konnect answers when an account limit is hit.
    /// Replacing an existing entity is always allowed: it does not add one.
    pub fn check_entity_limit(&self, w: &PreparedWrite, max: Option<u32>) -> Result<(), ApiError> {
        let Some(max) = max else {
            return Ok(());
        };
        // u32 -> usize cannot truncate on the 32- and 64-bit targets we build for.
        if w.creates() && self.total() >= max as usize {
            return Err(ApiError::UsageConstraint(vec![Detail::entity(format!(
                "control plane entity limit of {max} reached"
            ))]));
        }
        Ok(())
    }

    /// Stores a prepared write; returns the stored representation and whether it was created.
    pub fn commit(&mut self, w: PreparedWrite) -> (Value, bool) {
        let created = w.creates();
        let seq = match w.existing_seq {
            Some(seq) => seq,
            None => {
                self.next_seq += 1;
                self.next_seq
            }
        };
        let table = self.tables.entry(w.kind).or_default();
        table.order.insert(seq, w.id.clone());
        if let Some(old) = table.rows.remove(&w.id) {
            table.unindex_row(w.kind, &w.id, &old);
        }
        let row = Row {
            seq,
            body: w.entity.clone(),
        };
        table.index_row(w.kind, &w.id, &row);
        table.rows.insert(w.id, row);
        (Value::Object(w.entity), created)
    }

    fn check_constraints(
        &self,
        kind: Kind,
        id: &str,
        entity: &Map<String, Value>,
    ) -> Result<(), ApiError> {
        // Foreign keys first: a dangling reference is the more basic mistake.
        for fk in [
            Kind::Service,
            Kind::Route,
            Kind::Consumer,
            Kind::ConsumerGroup,
        ] {
            let field = fk.foreign_field();
            if let Some(target) = foreign_id(entity, field)
                && self.row(fk, &target).is_none()
            {
                return Err(ApiError::Constraint(vec![Detail::constraint(
                    &format!("{field}.id"),
                    "foreign",
                )]));
            }
        }
        let Some(table) = self.table(kind) else {
            return Ok(());
        };
        let taken_by_other = |found: Option<&String>| found.is_some_and(|other| other != id);
        // The name fields are the unique ones (Kong's `unique = true` fields of each entity).
        for field in kind.name_fields() {
            if let Some(v) = entity.get(*field).and_then(Value::as_str)
                && taken_by_other(table.index.names.get(&(*field, v.to_string())))
            {
                return Err(ApiError::Constraint(vec![Detail::constraint(
                    field, "unique",
                )]));
            }
        }
        if kind == Kind::Plugin {
            let key = plugin_scope_key(entity);
            if taken_by_other(table.index.scopes.get(&key)) {
                return Err(ApiError::Constraint(vec![Detail {
                    kind: super::errors::DetailKind::Reference,
                    field: None,
                    messages: vec![
                        "unique-plugin-per-entity (type: unique) constraint failed".into(),
                    ],
                }]));
            }
        }
        Ok(())
    }

    /// DELETE one entity. Absent entities are fine (204); cascades follow Konnect's rules.
    pub fn delete(
        &mut self,
        kind: Kind,
        id_or_name: &str,
        parent: Option<&Parent>,
    ) -> Result<bool, ApiError> {
        let Some(id) = self.resolve(kind, id_or_name) else {
            return Ok(false);
        };
        let Some(row) = self.row(kind, &id) else {
            return Ok(false);
        };
        if !self.belongs(row, parent) {
            return Ok(false);
        }
        if kind == Kind::Service {
            let used = self
                .table(Kind::Route)
                .is_some_and(|t| t.children("service", &id).is_some());
            if used {
                return Err(ApiError::Constraint(vec![Detail::constraint(
                    "service.id",
                    "foreign",
                )]));
            }
        }
        self.remove_row(kind, &id);
        if kind != Kind::Plugin {
            let field = kind.foreign_field();
            let scoped: Vec<String> = self
                .table(Kind::Plugin)
                .and_then(|t| t.children(field, &id))
                .map(|m| m.values().cloned().collect())
                .unwrap_or_default();
            for pid in scoped {
                self.remove_row(Kind::Plugin, &pid);
            }
        }
        match kind {
            Kind::Consumer => {
                self.remove_all_groups_of(&id);
            }
            Kind::ConsumerGroup => {
                self.remove_all_members(&id);
            }
            _ => {}
        }
        Ok(true)
    }

    fn remove_row(&mut self, kind: Kind, id: &str) {
        if let Some(t) = self.tables.get_mut(&kind)
            && let Some(row) = t.rows.remove(id)
        {
            t.order.remove(&row.seq);
            t.unindex_row(kind, id, &row);
        }
    }

    /// `DELETE consumer_groups/{group}/consumers`: the group loses every member. Returns how
    /// many memberships were removed.
    pub fn remove_all_members(&mut self, group_id: &str) -> usize {
        let consumers: Vec<String> = pairs_of(&self.memberships, group_id).cloned().collect();
        for c in &consumers {
            self.memberships.remove(&(group_id.to_string(), c.clone()));
            self.members_of.remove(&(c.clone(), group_id.to_string()));
        }
        consumers.len()
    }

    /// `DELETE consumers/{consumer}/consumer_groups`: the consumer leaves every group. Returns
    /// how many memberships were removed.
    pub fn remove_all_groups_of(&mut self, consumer_id: &str) -> usize {
        let groups: Vec<String> = pairs_of(&self.members_of, consumer_id).cloned().collect();
        for g in &groups {
            self.memberships
                .remove(&(g.clone(), consumer_id.to_string()));
            self.members_of
                .remove(&(consumer_id.to_string(), g.clone()));
        }
        groups.len()
    }

    /// `POST consumer_groups/{group}/consumers {"consumer": id-or-username}`.
    ///
    /// Returns the group and the consumer added, as the 201 body.
    pub fn add_member(&mut self, group_id: &str, body: &Value) -> Result<Value, ApiError> {
        let Some(consumer_ref) = body.get("consumer").and_then(Value::as_str) else {
            return Err(ApiError::Validation(vec![Detail::field(
                "consumer",
                "required field missing",
            )]));
        };
        let Some(consumer_id) = self.resolve(Kind::Consumer, consumer_ref) else {
            return Err(ApiError::Constraint(vec![Detail::constraint(
                "consumer.id",
                "foreign",
            )]));
        };
        let key = (group_id.to_string(), consumer_id.clone());
        if self.memberships.contains(&key) {
            return Err(ApiError::Constraint(vec![Detail::constraint(
                "consumer_group_consumer",
                "unique",
            )]));
        }
        self.memberships.insert(key);
        self.members_of
            .insert((consumer_id.clone(), group_id.to_string()));
        let group = self
            .get(Kind::ConsumerGroup, group_id, None)
            .unwrap_or(Value::Null);
        let consumer = self
            .get(Kind::Consumer, &consumer_id, None)
            .unwrap_or(Value::Null);
        Ok(json!({ "consumer_group": group, "consumers": [consumer] }))
    }

    /// Removes a membership; absent memberships are fine.
    pub fn remove_member(&mut self, group_id: &str, consumer_ref: &str) -> bool {
        let consumer_id = self
            .resolve(Kind::Consumer, consumer_ref)
            .unwrap_or_else(|| consumer_ref.to_string());
        self.members_of
            .remove(&(consumer_id.clone(), group_id.to_string()));
        self.memberships
            .remove(&(group_id.to_string(), consumer_id))
    }

    /// The consumers of one group, paged like any list.
    pub fn members(&self, group_id: &str, q: &ListQuery) -> Page {
        self.related_page(Kind::Consumer, pairs_of(&self.memberships, group_id), q)
    }

    /// The groups of one consumer, paged like any list.
    pub fn groups_of(&self, consumer_id: &str, q: &ListQuery) -> Page {
        self.related_page(
            Kind::ConsumerGroup,
            pairs_of(&self.members_of, consumer_id),
            q,
        )
    }

    /// One page of the entities of `kind` with the given ids, in creation order.
    fn related_page<'a>(
        &self,
        kind: Kind,
        ids: impl Iterator<Item = &'a String>,
        q: &ListQuery,
    ) -> Page {
        let Some(table) = self.table(kind) else {
            return Page::default();
        };
        let ordered: BTreeMap<u64, String> = ids
            .filter_map(|id| table.rows.get(id).map(|r| (r.seq, id.clone())))
            .collect();
        self.page_of(kind, q, ordered.range(q.offset.unwrap_or(0)..))
    }

    /// One page of the entities of `kind` among `ids` (creation sequence, id; in creation
    /// order from the query's offset) that the query's filters match.
    fn page_of<'a>(
        &self,
        kind: Kind,
        q: &ListQuery,
        ids: impl Iterator<Item = (&'a u64, &'a String)>,
    ) -> Page {
        let mut data = Vec::new();
        let mut next_offset = None;
        let Some(table) = self.table(kind) else {
            return Page::default();
        };
        for (seq, id) in ids {
            let Some(row) = table.rows.get(id) else {
                continue;
            };
            if !row_matches(kind, &row.body, q) {
                continue;
            }
            if data.len() == q.size {
                next_offset = Some(*seq);
                break;
            }
            data.push(Value::Object(row.body.clone()));
        }
        Page { data, next_offset }
    }

    /// All consumers of a group, unpaged (for `list_consumers=true`).
    pub fn all_members(&self, group_id: &str) -> Vec<Value> {
        let q = ListQuery {
            size: usize::MAX,
            ..ListQuery::default()
        };
        self.members(group_id, &q).data
    }
}

fn row_matches(kind: Kind, body: &Map<String, Value>, q: &ListQuery) -> bool {
    let name_field = if kind == Kind::Consumer {
        "username"
    } else {
        "name"
    };
    let name = body.get(name_field).and_then(Value::as_str);
    let custom_id = body.get("custom_id").and_then(Value::as_str);
    q.tags.as_ref().is_none_or(|t| t.matches(body.get("tags")))
        && q.custom_id
            .as_ref()
            .is_none_or(|c| custom_id == Some(c.as_str()))
        && q.name_eq
            .as_ref()
            .is_none_or(|eq| name == Some(eq.as_str()))
        && q.name_contains
            .as_ref()
            .is_none_or(|c| name.is_some_and(|n| n.contains(c.as_str())))
}

fn plugin_scope_key(p: &Map<String, Value>) -> [Option<String>; 5] {
    [
        p.get("name").and_then(Value::as_str).map(str::to_string),
        foreign_id(p, "service"),
        foreign_id(p, "route"),
        foreign_id(p, "consumer"),
        foreign_id(p, "consumer_group"),
    ]
}

/// Checks a body as a write would (fields, types, plugin config), without storing it and
/// without looking at foreign keys: what `POST schemas/{entity}/validate` does.
pub fn validate(kind: Kind, body: Value) -> Result<(), ApiError> {
    match body {
        Value::Object(m) => normalize(kind, m).map(|_| ()),
        _ => Err(ApiError::BadRequest(
            "request body must be a JSON object".into(),
        )),
    }
}

/// Checks a request body against the entity's fields and fills the server defaults.
fn normalize(kind: Kind, mut body: Map<String, Value>) -> Result<Map<String, Value>, ApiError> {
    // Null means "unset" in Konnect bodies; the stored entity simply lacks the field.
    body.retain(|_, v| !v.is_null());
    let fields = kind.fields();
    let mut details = Vec::new();
    for (k, v) in &body {
        match fields.iter().find(|(name, _)| name == k) {
            None => details.push(Detail::field(k.clone(), "unknown field")),
            Some((_, ty)) => {
                if let Some(msg) = ty.check(v) {
                    details.push(Detail::field(k.clone(), msg));
                }
            }
        }
    }
    if !details.is_empty() {
        return Err(ApiError::Validation(details));
    }
    let expression_route = kind == Kind::Route && is_expression_route(&body);
    if expression_route {
        check_expression_route(&body)?;
    }
    match kind {
        Kind::Service => expand_service_url(&mut body)?,
        Kind::Consumer if !body.contains_key("username") && !body.contains_key("custom_id") => {
            return Err(ApiError::Validation(vec![Detail::entity(
                "at least one of these fields must be non-empty: 'custom_id', 'username'",
            )]));
        }
        _ => {}
    }
    let required: &[&str] = match kind {
        Kind::Service => &["host"],
        Kind::ConsumerGroup | Kind::Plugin => &["name"],
        Kind::Route | Kind::Consumer => &[],
    };
    let missing: Vec<Detail> = required
        .iter()
        .filter(|f| !body.contains_key(**f))
        .map(|f| Detail::field(*f, "required field missing"))
        .collect();
    if !missing.is_empty() {
        return Err(ApiError::Validation(missing));
    }
    let typedef_errors = typedefs::field_errors(kind, &body);
    if !typedef_errors.is_empty() {
        return Err(ApiError::Validation(typedef_errors));
    }
    if kind == Kind::Plugin {
        plugins::check(&mut body)?;
    }
    if expression_route {
        for (k, v) in expression_route_defaults() {
            body.entry(k).or_insert(v);
        }
        return Ok(body);
    }
    if kind == Kind::Route && is_grpc_route(&body) {
        // The grpc subschema's own default (`routes_subschemas.lua`: `strip_path` default
        // false, `ne = true`).
        body.entry("strip_path").or_insert(json!(false));
    }
    for (k, v) in kind.defaults() {
        body.entry(k).or_insert(v);
    }
    if kind == Kind::Route {
        let errors = typedefs::route_protocol_errors(&body);
        if !errors.is_empty() {
            return Err(ApiError::Validation(errors));
        }
    }
    Ok(body)
}

fn is_grpc_route(body: &Map<String, Value>) -> bool {
    body.get("protocols")
        .and_then(Value::as_array)
        .and_then(|a| a.first())
        .and_then(Value::as_str)
        .is_some_and(|p| p == "grpc" || p == "grpcs")
}

/// A route body with `expression` or `priority` is an expression route (`RouteExpression`).
fn is_expression_route(body: &Map<String, Value>) -> bool {
    body.contains_key("expression") || body.contains_key("priority")
}

/// The fields of the spec's `RouteExpression` (`additionalProperties: false`), which are
/// also the fields of Kong's route schema under `router_flavor = expressions`
/// (`kong/db/schema/entities/routes.lua`) plus `path_handling`.
const EXPRESSION_ROUTE_FIELDS: &[&str] = &[
    "created_at",
    "expression",
    "https_redirect_status_code",
    "id",
    "name",
    "path_handling",
    "preserve_host",
    "priority",
    "protocols",
    "request_buffering",
    "response_buffering",
    "service",
    "strip_path",
    "tags",
    "updated_at",
];

/// An expression route carries no traditional matcher (Kong's expressions-flavor route schema
/// has none of those fields), and needs its expression (`expression`: `required = true`).
/// Mixing both would store a route the spec's `oneOf` cannot decode as either variant.
fn check_expression_route(body: &Map<String, Value>) -> Result<(), ApiError> {
    let mut details: Vec<Detail> = body
        .keys()
        .filter(|k| !EXPRESSION_ROUTE_FIELDS.contains(&k.as_str()))
        .map(|k| Detail::field(k.clone(), "unknown field"))
        .collect();
    if !body.contains_key("expression") {
        details.push(Detail::field("expression", "required field missing"));
    }
    if details.is_empty() {
        Ok(())
    } else {
        Err(ApiError::Validation(details))
    }
}

/// The defaults of `RouteExpression` in the spec.
fn expression_route_defaults() -> Vec<(&'static str, Value)> {
    vec![
        ("protocols", json!(["http", "https"])),
        ("https_redirect_status_code", json!(426)),
        ("path_handling", json!("v0")),
        ("preserve_host", json!(false)),
        ("priority", json!(0)),
        ("request_buffering", json!(true)),
        ("response_buffering", json!(true)),
        ("strip_path", json!(true)),
    ]
}

/// `url` is a write-only helper for protocol, host, port and path.
fn expand_service_url(body: &mut Map<String, Value>) -> Result<(), ApiError> {
    let Some(Value::String(raw)) = body.remove("url") else {
        return Ok(());
    };
    let bad = || ApiError::Validation(vec![Detail::field("url", "missing host in url")]);
    let u = url::Url::parse(&raw).map_err(|_| bad())?;
    let host = u.host_str().ok_or_else(bad)?.to_string();
    body.insert("protocol".into(), json!(u.scheme()));
    body.insert("host".into(), json!(host));
    if let Some(port) = u.port_or_known_default() {
        body.insert("port".into(), json!(port));
    }
    if u.path() != "/" || raw.trim_end_matches('/').len() < raw.len() {
        body.insert("path".into(), json!(u.path()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(s: &mut CoreStore, kind: Kind, body: Value) -> Result<Value, ApiError> {
        s.write(kind, None, body, None, WriteMode::Create, 1_700_000_000)
            .map(|(v, _)| v)
    }

    fn id_of(v: &Value) -> String {
        v["id"].as_str().unwrap().to_string()
    }

    #[test]
    fn service_defaults_are_filled() {
        let mut s = CoreStore::default();
        let v = put(&mut s, Kind::Service, json!({"name": "a", "host": "h"})).unwrap();
        assert_eq!(v["protocol"], "http");
        assert_eq!(v["port"], 80);
        assert_eq!(v["retries"], 5);
        assert_eq!(v["connect_timeout"], 60000);
        assert_eq!(v["enabled"], true);
        assert_eq!(v["created_at"], 1_700_000_000);
    }

    #[test]
    fn service_url_expands() {
        let mut s = CoreStore::default();
        let v = put(
            &mut s,
            Kind::Service,
            json!({"url": "https://x.example:8443/api"}),
        )
        .unwrap();
        assert_eq!(v["protocol"], "https");
        assert_eq!(v["host"], "x.example");
        assert_eq!(v["port"], 8443);
        assert_eq!(v["path"], "/api");
        assert!(v.get("url").is_none());
    }

    #[test]
    fn unknown_field_is_a_validation_error() {
        let mut s = CoreStore::default();
        let e = put(&mut s, Kind::Service, json!({"host": "h", "nope": 1})).unwrap_err();
        assert_eq!(e.body()["details"][0]["field"], "nope");
        assert_eq!(e.body()["message"], "validation error");
    }

    #[test]
    fn duplicate_name_is_400_unique() {
        let mut s = CoreStore::default();
        put(&mut s, Kind::Service, json!({"name": "a", "host": "h"})).unwrap();
        let e = put(&mut s, Kind::Service, json!({"name": "a", "host": "h2"})).unwrap_err();
        assert_eq!(e.status(), 400);
        assert_eq!(
            e.body()["details"][0]["messages"][0],
            "name (type: unique) constraint failed"
        );
    }

    #[test]
    fn route_needs_existing_service_and_blocks_its_delete() {
        let mut s = CoreStore::default();
        let e = put(
            &mut s,
            Kind::Route,
            json!({"paths": ["/"], "service": {"id": uuid::Uuid::new_v4().to_string()}}),
        )
        .unwrap_err();
        assert_eq!(e.body()["details"][0]["field"], "service.id");
        let svc = put(&mut s, Kind::Service, json!({"host": "h"})).unwrap();
        let sid = id_of(&svc);
        let r = put(
            &mut s,
            Kind::Route,
            json!({"paths": ["/"], "service": {"id": sid}}),
        )
        .unwrap();
        assert!(s.delete(Kind::Service, &sid, None).is_err());
        s.delete(Kind::Route, &id_of(&r), None).unwrap();
        assert!(s.delete(Kind::Service, &sid, None).unwrap());
    }

    #[test]
    fn deleting_a_parent_removes_scoped_plugins() {
        let mut s = CoreStore::default();
        let c = put(&mut s, Kind::Consumer, json!({"username": "u"})).unwrap();
        let cid = id_of(&c);
        let p = put(
            &mut s,
            Kind::Plugin,
            json!({"name": "rate-limiting", "consumer": {"id": cid}, "config": {"minute": 5}}),
        )
        .unwrap();
        put(&mut s, Kind::Plugin, json!({"name": "cors"})).unwrap();
        assert_eq!(s.count(Kind::Plugin), 2);
        s.delete(Kind::Consumer, &cid, None).unwrap();
        assert_eq!(s.count(Kind::Plugin), 1);
        assert!(s.get(Kind::Plugin, &id_of(&p), None).is_none());
    }

    #[test]
    fn one_plugin_of_a_name_per_entity() {
        let mut s = CoreStore::default();
        put(&mut s, Kind::Plugin, json!({"name": "cors"})).unwrap();
        let e = put(&mut s, Kind::Plugin, json!({"name": "cors"})).unwrap_err();
        assert!(
            e.body()["details"][0]["messages"][0]
                .as_str()
                .unwrap()
                .contains("unique-plugin-per-entity")
        );
    }

    #[test]
    fn put_keeps_created_at_and_order() {
        let mut s = CoreStore::default();
        let id = uuid::Uuid::new_v4().to_string();
        let (_, created) = s
            .write(
                Kind::ConsumerGroup,
                Some(&id),
                json!({"name": "g"}),
                None,
                WriteMode::Upsert,
                10,
            )
            .unwrap();
        assert!(created);
        let (v, created) = s
            .write(
                Kind::ConsumerGroup,
                Some(&id),
                json!({"name": "g2"}),
                None,
                WriteMode::Upsert,
                20,
            )
            .unwrap();
        assert!(!created);
        assert_eq!(v["created_at"], 10);
        assert_eq!(v["updated_at"], 20);
        assert_eq!(v["name"], "g2");
    }

    #[test]
    fn paging_yields_each_once_and_tags_filter() {
        let mut s = CoreStore::default();
        for i in 0..25 {
            let tags = if i % 2 == 0 {
                json!(["a", "b"])
            } else {
                json!(["a"])
            };
            put(
                &mut s,
                Kind::Consumer,
                json!({"username": format!("u{i}"), "tags": tags}),
            )
            .unwrap();
        }
        let mut q = ListQuery::parse(&[("size".into(), "10".into())], Filters::Paging).unwrap();
        let mut seen = Vec::new();
        loop {
            let p = s.list(Kind::Consumer, &q, None);
            seen.extend(p.data.iter().map(id_of));
            match p.next_offset {
                Some(o) => q.offset = Some(o),
                None => break,
            }
        }
        assert_eq!(seen.len(), 25);
        let unique: BTreeSet<_> = seen.iter().collect();
        assert_eq!(unique.len(), 25);

        let and = ListQuery::parse(&[("tags".into(), "a,b".into())], Filters::Paging).unwrap();
        assert_eq!(s.list(Kind::Consumer, &and, None).data.len(), 13);
        let or = ListQuery::parse(&[("tags".into(), "b/zzz".into())], Filters::Paging).unwrap();
        assert_eq!(s.list(Kind::Consumer, &or, None).data.len(), 13);
        assert!(ListQuery::parse(&[("tags".into(), "a,b/c".into())], Filters::Paging).is_err());
    }

    #[test]
    fn list_filters_follow_the_spec_per_endpoint() {
        let mut s = CoreStore::default();
        put(
            &mut s,
            Kind::Consumer,
            json!({"username": "alice", "custom_id": "c-1"}),
        )
        .unwrap();
        put(
            &mut s,
            Kind::Consumer,
            json!({"username": "bob", "custom_id": "c-2"}),
        )
        .unwrap();
        put(&mut s, Kind::Consumer, json!({"username": "alicia"})).unwrap();
        let q = |k: &str, v: &str, f| ListQuery::parse(&[(k.into(), v.into())], f);
        let names = |q: &ListQuery| -> Vec<String> {
            s.list(Kind::Consumer, q, None)
                .data
                .iter()
                .map(|c| c["username"].as_str().unwrap_or_default().to_string())
                .collect()
        };
        let by_custom_id = q("custom_id", "c-2", Filters::Consumer).unwrap();
        assert_eq!(names(&by_custom_id), vec!["bob"]);
        // Consumers have no name: the name filters match the username.
        let eq = q("filter[name][eq]", "alice", Filters::Consumer).unwrap();
        assert_eq!(names(&eq), vec!["alice"]);
        let contains = q("filter[name][contains]", "ali", Filters::Consumer).unwrap();
        assert_eq!(names(&contains), vec!["alice", "alicia"]);
        // custom_id only on consumers; name filters not on consumer groups or nested lists;
        // unknown parameters are refused, not ignored.
        assert!(q("custom_id", "c-1", Filters::Name).is_err());
        assert!(q("filter[name][eq]", "x", Filters::Paging).is_err());
        assert!(q("filter[username][eq]", "x", Filters::Consumer).is_err());
        assert!(q("nope", "1", Filters::Name).is_err());
        assert_eq!(Filters::top_level(Kind::ConsumerGroup), Filters::Paging);
        assert_eq!(Filters::top_level(Kind::Consumer), Filters::Consumer);
    }

    #[test]
    fn entity_limit_counts_every_kind_and_spares_replacements() {
        let mut s = CoreStore::default();
        let svc = put(&mut s, Kind::Service, json!({"name": "a", "host": "h"})).unwrap();
        put(&mut s, Kind::Consumer, json!({"username": "u"})).unwrap();
        assert_eq!(s.total(), 2);
        let plugin = s
            .prepare(
                Kind::Plugin,
                None,
                json!({"name": "cors"}),
                None,
                WriteMode::Create,
                1,
            )
            .unwrap();
        assert!(plugin.creates());
        s.check_entity_limit(&plugin, None).unwrap();
        s.check_entity_limit(&plugin, Some(3)).unwrap();
        let e = s.check_entity_limit(&plugin, Some(2)).unwrap_err();
        assert_eq!(e.status(), 403);
        assert_eq!(e.body()["code"], 7);
        assert_eq!(e.body()["details"][0]["type"], "ERROR_TYPE_ENTITY");
        assert_eq!(
            e.body()["details"][0]["messages"][0],
            "control plane entity limit of 2 reached"
        );
        // Replacing an entity at the limit adds nothing, so it passes.
        let replace = s
            .prepare(
                Kind::Service,
                Some(&id_of(&svc)),
                json!({"name": "a", "host": "h2"}),
                None,
                WriteMode::Upsert,
                2,
            )
            .unwrap();
        assert!(!replace.creates());
        s.check_entity_limit(&replace, Some(2)).unwrap();
        let (v, created) = s.commit(replace);
        assert!(!created);
        assert_eq!(v["host"], "h2");
        assert_eq!(s.total(), 2);
    }

    #[test]
    fn indexes_follow_renames_rescoping_deletes_and_a_reload() {
        let mut s = CoreStore::default();
        let a = put(&mut s, Kind::Service, json!({"name": "a", "host": "h"})).unwrap();
        let b = put(&mut s, Kind::Service, json!({"name": "b", "host": "h"})).unwrap();
        let (aid, bid) = (id_of(&a), id_of(&b));
        let upsert = |s: &mut CoreStore, kind, id: &str, body| {
            s.write(kind, Some(id), body, None, WriteMode::Upsert, 2)
                .map(|(v, _)| v)
        };
        // Renaming a to c frees a and takes c.
        upsert(
            &mut s,
            Kind::Service,
            &aid,
            json!({"name": "c", "host": "h"}),
        )
        .unwrap();
        assert_eq!(s.resolve(Kind::Service, "c").as_deref(), Some(aid.as_str()));
        assert_eq!(s.resolve(Kind::Service, "a"), None);
        assert!(
            upsert(
                &mut s,
                Kind::Service,
                &bid,
                json!({"name": "c", "host": "h"})
            )
            .is_err()
        );
        upsert(
            &mut s,
            Kind::Service,
            &bid,
            json!({"name": "a", "host": "h"}),
        )
        .unwrap();
        // A plugin moved from one service to another frees its old scope.
        let p = put(
            &mut s,
            Kind::Plugin,
            json!({"name": "cors", "service": {"id": aid}}),
        )
        .unwrap();
        let pid = id_of(&p);
        upsert(
            &mut s,
            Kind::Plugin,
            &pid,
            json!({"name": "cors", "service": {"id": bid}}),
        )
        .unwrap();
        put(
            &mut s,
            Kind::Plugin,
            json!({"name": "cors", "service": {"id": aid}}),
        )
        .unwrap();
        assert!(
            put(
                &mut s,
                Kind::Plugin,
                json!({"name": "cors", "service": {"id": bid}})
            )
            .is_err()
        );
        let q = ListQuery {
            size: 10,
            ..ListQuery::default()
        };
        let under_b = Parent {
            kind: Kind::Service,
            id: bid.clone(),
        };
        assert_eq!(s.list(Kind::Plugin, &q, Some(&under_b)).data.len(), 1);
        // Deleting b cascades to its plugin and frees its name.
        s.delete(Kind::Service, &bid, None).unwrap();
        assert_eq!(s.count(Kind::Plugin), 1);
        assert_eq!(s.resolve(Kind::Service, "a"), None);
        // A reload (the state file) rebuilds every index.
        let reloaded: CoreStore =
            serde_json::from_value(serde_json::to_value(&s).unwrap()).unwrap();
        assert_eq!(
            reloaded.resolve(Kind::Service, "c").as_deref(),
            Some(aid.as_str())
        );
        let mut reloaded = reloaded;
        assert!(
            put(
                &mut reloaded,
                Kind::Service,
                json!({"name": "c", "host": "h"})
            )
            .is_err()
        );
        assert!(
            put(
                &mut reloaded,
                Kind::Plugin,
                json!({"name": "cors", "service": {"id": aid}})
            )
            .is_err()
        );
    }

    #[test]
    fn offsets_round_trip_and_reject_garbage() {
        assert_eq!(decode_offset(&encode_offset(42)), Some(42));
        assert_eq!(decode_offset("zz"), None);
    }
}
