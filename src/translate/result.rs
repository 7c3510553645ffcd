//! The per-object outcome of translation: `Accepted`, `Invalid` (bad input, with a reason and
//! a message naming the object and the field) or `Pending`. The report step renders these as
//! status conditions and Events; translation only produces them. "Accepted" means translation
//! took the object; "Programmed" is reserved for "written to Konnect", which only the
//! controller can report.

use std::collections::HashMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Serialize;

/// Why an object is not (fully) accepted. Maps to the condition reason and to KIC's Event
/// reasons (`KongConfigurationTranslationFailed` for all of them).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Reason {
    /// An annotation value cannot be parsed.
    InvalidAnnotation,
    /// A plugin configuration cannot be built or fails its schema.
    InvalidConfig,
    /// The object itself is malformed (a required field missing, an unsupported value).
    InvalidSpec,
    /// A referenced object (plugin, Secret, Service, consumer group) does not exist.
    ReferenceNotFound,
    /// A cross-namespace reference without a ReferenceGrant permitting it.
    ReferenceNotPermitted,
    /// A referenced plugin exists but is Invalid (schema error, Secret missing, conflict...):
    /// the referrer is held back (fail closed) until the plugin is fixed.
    PluginInvalid,
    /// Another object already claims the same Konnect entity.
    Conflict,
    /// The object asks for something Konnect's traditional router cannot express.
    Unsupported,
    /// A plugin no object refers to (not an error).
    NotReferenced,
    /// A KongClusterPlugin, KongConsumer or KongConsumerGroup of another ingress class (or
    /// without a class while ours is not the default): not ours, nothing is done with it.
    /// Shown by `render` so the user sees why; the controller must not write status on it
    /// (another controller may own it).
    IgnoredClass,
}

impl Reason {
    /// The reason as a CamelCase string, as conditions want it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidAnnotation => "InvalidAnnotation",
            Self::InvalidConfig => "InvalidConfig",
            Self::InvalidSpec => "InvalidSpec",
            Self::ReferenceNotFound => "ReferenceNotFound",
            Self::ReferenceNotPermitted => "ReferenceNotPermitted",
            Self::PluginInvalid => "PluginInvalid",
            Self::Conflict => "Conflict",
            Self::Unsupported => "Unsupported",
            Self::NotReferenced => "NotReferenced",
            Self::IgnoredClass => "IgnoredClass",
        }
    }
}

/// The state of one source object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Status {
    /// Translated: its entities are in the desired state (not yet written to Konnect).
    Accepted,
    Invalid {
        reason: Reason,
    },
    Pending {
        reason: Reason,
    },
}

impl Status {
    /// `Accepted`, `Invalid` or `Pending`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Accepted => "Accepted",
            Self::Invalid { .. } => "Invalid",
            Self::Pending { .. } => "Pending",
        }
    }

    /// The reason, when not accepted.
    pub fn reason(&self) -> Option<Reason> {
        match self {
            Self::Accepted => None,
            Self::Invalid { reason } | Self::Pending { reason } => Some(*reason),
        }
    }
}

/// Identifies a source object.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectRef {
    pub kind: &'static str,
    pub namespace: Option<String>,
    pub name: String,
}

impl ObjectRef {
    pub fn new(kind: &'static str, meta: &ObjectMeta) -> Self {
        Self {
            kind,
            namespace: meta.namespace.clone(),
            name: meta.name.clone().unwrap_or_default(),
        }
    }
}

impl std::fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{} {}/{}", self.kind, ns, self.name),
            None => write!(f, "{} {}", self.kind, self.name),
        }
    }
}

/// The outcome for one source object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectResult {
    pub kind: &'static str,
    pub namespace: Option<String>,
    pub name: String,
    pub uid: Option<String>,
    pub generation: Option<i64>,
    pub status: Status,
    /// `"<Kind> <ns>/<name>: <field>: <problem>; ..."` — never a Secret value.
    pub message: String,
    /// Things we did not do but that do not make the object Invalid (e.g. user tags dropped).
    pub warnings: Vec<String>,
}

impl ObjectResult {
    /// True when the object is Invalid.
    pub fn is_invalid(&self) -> bool {
        matches!(self.status, Status::Invalid { .. })
    }
}

/// The longest message a result carries, in bytes: a Kubernetes condition message holds at
/// most 32,768 characters (`maxLength` of `Condition.message`), and a character is at least
/// one byte.
pub const MAX_MESSAGE: usize = 32_768;

/// `"<key>: <detail>; <detail>..."`, at most [`MAX_MESSAGE`] bytes: details that do not fit are
/// left out and counted (`; ... and 4 more problems not shown`); a single detail too long to fit
/// is cut at a character boundary.
fn capped(key: &ObjectRef, details: &[&str]) -> String {
    // Room kept for the suffix: its count has at most 20 digits.
    const SUFFIX_ROOM: usize = 64;
    let mut out = format!("{key}: ");
    for (i, detail) in details.iter().enumerate() {
        let sep = if i == 0 { "" } else { "; " };
        let rest = details.len() - i - 1;
        let room = if rest == 0 {
            MAX_MESSAGE
        } else {
            MAX_MESSAGE - SUFFIX_ROOM
        };
        if out.len() + sep.len() + detail.len() <= room {
            out.push_str(sep);
            out.push_str(detail);
            continue;
        }
        if i == 0 {
            // Not even the first detail fits: keep what does, then say what was cut.
            let budget = MAX_MESSAGE - SUFFIX_ROOM - out.len();
            let mut end = budget.min(detail.len());
            while !detail.is_char_boundary(end) {
                end -= 1;
            }
            out.push_str(&detail[..end]);
            out.push_str(" ...");
            if details.len() > 1 {
                out.push_str(&format!(
                    "; ... and {} more problems not shown",
                    details.len() - 1
                ));
            }
            return out;
        }
        out.push_str(&format!(
            "; ... and {} more problems not shown",
            details.len() - i
        ));
        return out;
    }
    out
}

#[derive(Default)]
struct Acc {
    uid: Option<String>,
    generation: Option<i64>,
    errors: Vec<(Reason, String)>,
    pending: Option<(Reason, String)>,
    warnings: Vec<String>,
}

/// Collects findings per object while translating; [`Results::finish`] turns them into
/// [`ObjectResult`]s sorted by kind, namespace and name.
/// Hashed, not ordered: translation looks objects up far more often than it lists them.
#[derive(Default)]
pub struct Results {
    objects: HashMap<ObjectRef, Acc>,
}

impl Results {
    /// Room for `objects` objects up front: growing a large table copies it, and holds the old
    /// and the new one at once.
    pub fn with_capacity(objects: usize) -> Self {
        Results {
            objects: HashMap::with_capacity(objects),
        }
    }

    /// The findings of an object, created empty on first use. Looks the key up before cloning
    /// it: most calls are about an object already tracked.
    fn acc(&mut self, key: &ObjectRef) -> &mut Acc {
        if !self.objects.contains_key(key) {
            self.objects.insert(key.clone(), Acc::default());
        }
        // Present: inserted just above when it was not.
        self.objects
            .get_mut(key)
            .expect("the entry was just ensured")
    }

    /// Registers an object we serve (so it gets a result even when all goes well).
    pub fn track(&mut self, kind: &'static str, meta: &ObjectMeta) -> ObjectRef {
        let key = ObjectRef::new(kind, meta);
        let acc = self.acc(&key);
        acc.uid = meta.uid.clone();
        acc.generation = meta.generation;
        key
    }

    /// Records an error: the object becomes Invalid. `detail` starts with the field.
    pub fn error(&mut self, key: &ObjectRef, reason: Reason, detail: impl Into<String>) {
        let detail = detail.into();
        let acc = self.acc(key);
        if !acc.errors.iter().any(|(_, d)| *d == detail) {
            acc.errors.push((reason, detail));
        }
    }

    /// Records why an object is pending (kept only when there is no error).
    pub fn pending(&mut self, key: &ObjectRef, reason: Reason, detail: impl Into<String>) {
        let acc = self.acc(key);
        acc.pending.get_or_insert((reason, detail.into()));
    }

    /// Records a warning.
    pub fn warn(&mut self, key: &ObjectRef, detail: impl Into<String>) {
        let detail = detail.into();
        let acc = self.acc(key);
        if !acc.warnings.contains(&detail) {
            acc.warnings.push(detail);
        }
    }

    /// The error details recorded on an object so far, sorted (empty when none).
    pub fn error_details(&self, key: &ObjectRef) -> Vec<&str> {
        let mut details: Vec<&str> = self
            .objects
            .get(key)
            .map(|a| a.errors.iter().map(|(_, d)| d.as_str()).collect())
            .unwrap_or_default();
        details.sort_unstable();
        details
    }

    /// True when the object already has an error.
    pub fn has_error(&self, key: &ObjectRef) -> bool {
        self.objects.get(key).is_some_and(|a| !a.errors.is_empty())
    }

    /// The results, sorted by kind, namespace, name.
    pub fn finish(self) -> Vec<ObjectResult> {
        let mut objects: Vec<(ObjectRef, Acc)> = self.objects.into_iter().collect();
        objects.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        objects
            .into_iter()
            .map(|(key, mut acc)| {
                acc.errors.sort_by(|a, b| a.1.cmp(&b.1));
                let (status, message) = if let Some((reason, _)) = acc.errors.first() {
                    let reason = *reason;
                    let details: Vec<&str> = acc.errors.iter().map(|(_, d)| d.as_str()).collect();
                    (Status::Invalid { reason }, capped(&key, &details))
                } else if let Some((reason, detail)) = acc.pending {
                    (Status::Pending { reason }, capped(&key, &[&detail]))
                } else {
                    (Status::Accepted, String::new())
                };
                acc.warnings.sort();
                ObjectResult {
                    kind: key.kind,
                    namespace: key.namespace,
                    name: key.name,
                    uid: acc.uid,
                    generation: acc.generation,
                    status,
                    message,
                    warnings: acc.warnings,
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> ObjectRef {
        ObjectRef {
            kind: "Service",
            namespace: Some("ns".into()),
            name: "svc".into(),
        }
    }

    #[test]
    fn five_thousand_problems_fit_a_condition_and_are_counted() {
        let mut results = Results::default();
        let k = key();
        // 5,000 distinct details of 100 bytes each: 500 KB uncapped.
        for i in 0..5_000 {
            results.error(
                &k,
                Reason::ReferenceNotFound,
                format!("d{i:05}-{}", "x".repeat(94)),
            );
        }
        let r = results.finish().remove(0);
        assert!(r.message.len() <= MAX_MESSAGE, "{} bytes", r.message.len());
        let shown = r.message.matches("d0").count()
            + r.message.matches("d1").count()
            + r.message.matches("d2").count()
            + r.message.matches("d3").count()
            + r.message.matches("d4").count();
        let suffix = format!("; ... and {} more problems not shown", 5_000 - shown);
        assert!(
            r.message.ends_with(&suffix),
            "{}",
            &r.message[r.message.len() - 80..]
        );
        // Whole details only: every shown one is complete.
        assert!(shown > 100);
    }

    #[test]
    fn one_huge_detail_is_cut_on_a_char_boundary() {
        let mut results = Results::default();
        results.error(&key(), Reason::InvalidConfig, "é".repeat(40_000));
        let r = results.finish().remove(0);
        assert!(r.message.len() <= MAX_MESSAGE);
        assert!(r.message.ends_with(" ..."));
    }

    #[test]
    fn short_messages_are_untouched() {
        let mut results = Results::default();
        results.error(&key(), Reason::InvalidConfig, "b: two");
        results.error(&key(), Reason::InvalidConfig, "a: one");
        let r = results.finish().remove(0);
        assert_eq!(r.message, "Service ns/svc: a: one; b: two");
    }
}
