//! What an apply changes, and in which order: segments before the flags
//! that use them, prerequisites before their dependents, and the reverse
//! for deletes. Server-owned fields never count as a difference.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde_json::Value;
use vexil_flags::{Flag, Operator, Segment};

use crate::cli::versioned::Kind;

/// Create, update or delete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Create,
    Update,
    Delete,
}

/// One change to make.
#[derive(Debug, Clone)]
pub struct Change {
    pub action: Action,
    pub kind: Kind,
    pub key: String,
    /// The current document, normalized (update, delete).
    pub before: Option<Value>,
    /// The declared document as declared (create, update).
    pub after: Option<Value>,
    /// The current version (update, delete): sent as `If-Match`.
    pub version: u64,
}

/// A flag without what the server owns: versions, times, author, and the
/// salt when it is the documented default (the key).
pub fn normal_flag(f: &Flag) -> Flag {
    let mut f = f.clone();
    f.version = 0;
    f.created_at = None;
    f.updated_at = None;
    f.updated_by = None;
    if f.salt.is_empty() {
        f.salt = f.key.clone();
    }
    f
}

pub fn normal_segment(s: &Segment) -> Segment {
    let mut s = s.clone();
    s.version = 0;
    s.created_at = None;
    s.updated_at = None;
    s.updated_by = None;
    s
}

fn value<T: serde::Serialize>(t: &T) -> Value {
    serde_json::to_value(t).unwrap_or(Value::Null)
}

/// Orders `keys` so that each comes after the keys it depends on (among
/// `keys`); a cycle keeps the remaining keys in their order.
fn dependency_order(keys: Vec<String>, deps: &HashMap<String, Vec<String>>) -> Vec<String> {
    let set: BTreeSet<&String> = keys.iter().collect();
    let mut placed: BTreeSet<String> = BTreeSet::new();
    let mut out = Vec::with_capacity(keys.len());
    let mut pending = keys.clone();
    while !pending.is_empty() {
        let before = pending.len();
        pending.retain(|k| {
            let ready = deps.get(k).is_none_or(|ds| {
                ds.iter()
                    .all(|d| d == k || !set.contains(d) || placed.contains(d))
            });
            if ready {
                placed.insert(k.clone());
                out.push(k.clone());
            }
            !ready
        });
        if pending.len() == before {
            out.append(&mut pending);
        }
    }
    out
}

fn flag_deps(flags: &[&Flag]) -> HashMap<String, Vec<String>> {
    flags
        .iter()
        .map(|f| {
            let deps = f.prerequisites.iter().map(|p| p.flag.clone()).collect();
            (f.key.clone(), deps)
        })
        .collect()
}

fn segment_deps(segments: &[&Segment]) -> HashMap<String, Vec<String>> {
    segments
        .iter()
        .map(|s| {
            let deps = s
                .rules
                .iter()
                .flat_map(|r| &r.clauses)
                .filter(|c| c.operator == Operator::SegmentMatch)
                .flat_map(|c| {
                    c.values
                        .iter()
                        .filter_map(|v| v.as_str().map(str::to_owned))
                })
                .collect();
            (s.key.clone(), deps)
        })
        .collect()
}

/// The changes that make `current` match `declared`, in the order to make them.
pub fn plan(
    declared_flags: &[Flag],
    declared_segments: &[Segment],
    current_flags: &[Flag],
    current_segments: &[Segment],
    prune: bool,
) -> Vec<Change> {
    let cur_f: BTreeMap<&str, &Flag> = current_flags.iter().map(|f| (f.key.as_str(), f)).collect();
    let cur_s: BTreeMap<&str, &Segment> = current_segments
        .iter()
        .map(|s| (s.key.as_str(), s))
        .collect();
    let mut out = Vec::new();

    // Segments to create or update, referenced ones first.
    let upserts: Vec<&Segment> = declared_segments
        .iter()
        .filter(|s| {
            cur_s
                .get(s.key.as_str())
                .is_none_or(|c| normal_segment(c) != normal_segment(s))
        })
        .collect();
    let order = dependency_order(
        upserts.iter().map(|s| s.key.clone()).collect(),
        &segment_deps(&upserts),
    );
    let by_key: HashMap<&str, &Segment> = upserts.iter().map(|s| (s.key.as_str(), *s)).collect();
    for key in order {
        let Some(s) = by_key.get(key.as_str()) else {
            continue;
        };
        let current = cur_s.get(key.as_str());
        out.push(Change {
            action: if current.is_some() {
                Action::Update
            } else {
                Action::Create
            },
            kind: Kind::Segment,
            before: current.map(|c| value(&normal_segment(c))),
            after: Some(value(*s)),
            version: current.map_or(0, |c| c.version),
            key,
        });
    }

    // Flags to create or update, prerequisites first.
    let upserts: Vec<&Flag> = declared_flags
        .iter()
        .filter(|f| {
            cur_f
                .get(f.key.as_str())
                .is_none_or(|c| normal_flag(c) != normal_flag(f))
        })
        .collect();
    let order = dependency_order(
        upserts.iter().map(|f| f.key.clone()).collect(),
        &flag_deps(&upserts),
    );
    let by_key: HashMap<&str, &Flag> = upserts.iter().map(|f| (f.key.as_str(), *f)).collect();
    for key in order {
        let Some(f) = by_key.get(key.as_str()) else {
            continue;
        };
        let current = cur_f.get(key.as_str());
        out.push(Change {
            action: if current.is_some() {
                Action::Update
            } else {
                Action::Create
            },
            kind: Kind::Flag,
            before: current.map(|c| value(&normal_flag(c))),
            after: Some(value(*f)),
            version: current.map_or(0, |c| c.version),
            key,
        });
    }
    if !prune {
        return out;
    }

    // Deletes: dependents before what they depend on, flags before segments.
    let declared: BTreeSet<&str> = declared_flags.iter().map(|f| f.key.as_str()).collect();
    let gone: Vec<&Flag> = current_flags
        .iter()
        .filter(|f| !declared.contains(f.key.as_str()))
        .collect();
    let mut order = dependency_order(
        gone.iter().map(|f| f.key.clone()).collect(),
        &flag_deps(&gone),
    );
    order.reverse();
    for key in order {
        if let Some(f) = cur_f.get(key.as_str()) {
            out.push(delete(Kind::Flag, key, value(&normal_flag(f)), f.version));
        }
    }
    let declared: BTreeSet<&str> = declared_segments.iter().map(|s| s.key.as_str()).collect();
    let gone: Vec<&Segment> = current_segments
        .iter()
        .filter(|s| !declared.contains(s.key.as_str()))
        .collect();
    let mut order = dependency_order(
        gone.iter().map(|s| s.key.clone()).collect(),
        &segment_deps(&gone),
    );
    order.reverse();
    for key in order {
        if let Some(s) = cur_s.get(key.as_str()) {
            out.push(delete(
                Kind::Segment,
                key,
                value(&normal_segment(s)),
                s.version,
            ));
        }
    }
    out
}

fn delete(kind: Kind, key: String, before: Value, version: u64) -> Change {
    Change {
        action: Action::Delete,
        kind,
        key,
        before: Some(before),
        after: None,
        version,
    }
}

/// The top-level fields whose values differ, with (before, after).
pub fn field_diff(change: &Change) -> Vec<(String, Value, Value)> {
    let (Some(Value::Object(b)), Some(after)) = (&change.before, &change.after) else {
        return Vec::new();
    };
    // Compare the declared document normalized the same way as `before`.
    let after = match change.kind {
        Kind::Flag => {
            serde_json::from_value::<Flag>(after.clone()).map(|f| value(&normal_flag(&f)))
        }
        Kind::Segment => {
            serde_json::from_value::<Segment>(after.clone()).map(|s| value(&normal_segment(&s)))
        }
        // Apply files hold flags and segments only.
        Kind::Project | Kind::Environment => return Vec::new(),
    };
    let Ok(Value::Object(a)) = after else {
        return Vec::new();
    };
    let keys: BTreeSet<&String> = b.keys().chain(a.keys()).collect();
    keys.into_iter()
        .filter_map(|k| {
            let (x, y) = (
                b.get(k).cloned().unwrap_or(Value::Null),
                a.get(k).cloned().unwrap_or(Value::Null),
            );
            (x != y).then(|| (k.clone(), x, y))
        })
        .collect()
}
