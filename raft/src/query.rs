//! Reads that the mirror does not hold: versions and the audit log, newest
//! first, with filters and cursors. Every scan is bounded, so one request
//! costs the same however large the log grows.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use vexil_storage::engine::{Scan, prefix_end};
use vexil_storage::{Cf, Engine, StorageError};

use crate::apply::decode;
use crate::keys;
use crate::records::{AuditEntry, VersionEntry};
use crate::state::Shared;

/// At most this many index entries are examined per page. A page that hits
/// it comes back short, with a cursor to continue from.
pub const MAX_SCAN: usize = 20_000;
/// Index entries fetched per engine call.
const CHUNK: usize = 512;

/// One page of results and where the next one starts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass back as `cursor` to get the next (older) page; `None` at the end.
    pub next_cursor: Option<String>,
}

/// Which records a versioned key belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Versioned {
    Flag,
    Segment,
    Project,
    /// Keyed by `project/environment`.
    Environment,
    /// A flag's definition, keyed by `project/key`.
    Definition,
}

impl Versioned {
    fn prefix(self) -> u8 {
        match self {
            Versioned::Flag => keys::HISTORY_FLAG,
            Versioned::Segment => keys::HISTORY_SEGMENT,
            Versioned::Project => keys::HISTORY_PROJECT,
            Versioned::Environment => keys::HISTORY_ENVIRONMENT,
            Versioned::Definition => keys::HISTORY_DEFINITION,
        }
    }
}

/// Every version of `key`, newest first. `mirror` gives the version 1 of a
/// record that is derived rather than stored ([`crate::derived`]).
pub fn versions(
    engine: &dyn Engine,
    mirror: &Shared,
    kind: Versioned,
    key: &str,
    limit: usize,
    before: Option<u64>,
) -> Result<Page<VersionEntry>, StorageError> {
    let start = keys::scoped(kind.prefix(), key);
    let end = match before {
        Some(v) => keys::scoped_u64(kind.prefix(), key, v),
        None => prefix_end(&start),
    };
    let scan = || -> Result<Vec<VersionEntry>, StorageError> {
        let pairs = engine.scan(
            Cf::History,
            Scan {
                start: &start,
                end: Some(&end),
                reverse: true,
                limit: limit.saturating_add(1),
            },
        )?;
        pairs.iter().map(|(_, v)| decode(v)).collect()
    };
    let mut items = scan()?;
    if items.is_empty() && before.is_none_or(|b| b > 1) && derivable(kind, key) {
        match derived_first(engine, mirror, kind, key)? {
            Some(first) => items.push(first),
            // A change stored its version 1 since the scan (the history
            // is written before the mirror moves): read it again.
            None => items = scan()?,
        }
    }
    let next_cursor = if items.len() > limit {
        items.truncate(limit);
        items.last().map(|v| v.version.to_string())
    } else {
        None
    };
    Ok(Page { items, next_cursor })
}

/// One version of `key`.
pub fn version(
    engine: &dyn Engine,
    mirror: &Shared,
    kind: Versioned,
    key: &str,
    version: u64,
) -> Result<Option<VersionEntry>, StorageError> {
    let id = keys::scoped_u64(kind.prefix(), key, version);
    match engine.get(Cf::History, &id)? {
        Some(v) => decode(&v).map(Some),
        None if version == 1 && derivable(kind, key) => {
            match derived_first(engine, mirror, kind, key)? {
                Some(first) => Ok(Some(first)),
                // Stored since the read, as in `versions`.
                None => engine
                    .get(Cf::History, &id)?
                    .map(|v| decode(&v))
                    .transpose(),
            }
        }
        None => Ok(None),
    }
}

/// Whether `key` may be a record derived rather than stored.
fn derivable(kind: Versioned, key: &str) -> bool {
    matches!(kind, Versioned::Flag | Versioned::Definition)
        && crate::derived::derivable(kind.prefix(), key).is_some()
}

/// Version 1 of a derived record, read under the mirror's lock only when
/// the history has none.
fn derived_first(
    engine: &dyn Engine,
    mirror: &Shared,
    kind: Versioned,
    key: &str,
) -> Result<Option<VersionEntry>, StorageError> {
    crate::derived::first_version(engine, &mirror.read(), kind.prefix(), key)
}

/// Audit filters. Empty fields match everything.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    /// A full target such as `flag:checkout`.
    pub target: Option<String>,
    pub actor: Option<String>,
    pub action: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    /// Entries linked to this promotion.
    pub promotion: Option<u64>,
    pub limit: usize,
    /// Only entries before this position (from a previous page).
    pub before: Option<keys::AuditPos>,
}

impl AuditQuery {
    fn matches(&self, e: &AuditEntry) -> bool {
        self.target.as_ref().is_none_or(|t| *t == e.target)
            && self.actor.as_ref().is_none_or(|a| *a == e.actor)
            && self.action.as_ref().is_none_or(|a| *a == e.action)
            && self.until.is_none_or(|u| e.at <= u)
            && self.since.is_none_or(|s| e.at >= s)
            && self.promotion.is_none_or(|p| e.promotion == Some(p))
    }

    /// The most selective index for this query: (prefix byte, name).
    fn index(&self) -> Option<(u8, String)> {
        if let Some(p) = self.promotion {
            Some((keys::AUDIT_BY_PROMOTION, p.to_string()))
        } else if let Some(t) = &self.target {
            Some((keys::AUDIT_BY_TARGET, t.clone()))
        } else if let Some(a) = &self.actor {
            Some((keys::AUDIT_BY_ACTOR, a.clone()))
        } else {
            self.action.clone().map(|a| (keys::AUDIT_BY_ACTION, a))
        }
    }
}

/// Audit entries matching `q`, newest first.
pub fn audit(engine: &dyn Engine, q: &AuditQuery) -> Result<Page<AuditEntry>, StorageError> {
    let (start, via_index) = match q.index() {
        Some((p, name)) => (keys::scoped(p, &name), true),
        None => (vec![keys::AUDIT_ENTRY], false),
    };
    // Entry keys and index keys alike: the prefix, then the entry's
    // position.
    let key_of = |pos: keys::AuditPos| {
        let mut k = start.clone();
        pos.append_to(&mut k);
        k
    };
    let mut end = match q.before {
        Some(pos) => key_of(pos),
        None => prefix_end(&start),
    };
    let mut items = Vec::new();
    let mut scanned = 0usize;
    let mut last_id = None;
    while items.len() < q.limit && scanned < MAX_SCAN {
        let chunk = engine.scan(
            Cf::Audit,
            Scan {
                start: &start,
                end: Some(&end),
                reverse: true,
                limit: CHUNK,
            },
        )?;
        let Some((oldest, _)) = chunk.last() else {
            return Ok(Page {
                items,
                next_cursor: None,
            });
        };
        end = oldest.clone();
        for (k, v) in &chunk {
            scanned += 1;
            let Some(pos) = k.get(start.len()..).and_then(keys::AuditPos::from_suffix) else {
                continue;
            };
            last_id = Some(pos);
            let entry: AuditEntry = if via_index {
                match engine.get(Cf::Audit, &keys::audit_at(pos))? {
                    Some(raw) => decode(&raw)?,
                    None => continue,
                }
            } else {
                decode(v)?
            };
            if q.since.is_some_and(|s| entry.at < s) {
                // `at` never decreases with id: nothing older can match.
                return Ok(Page {
                    items,
                    next_cursor: None,
                });
            }
            if q.matches(&entry) {
                items.push(entry);
                if items.len() == q.limit {
                    break;
                }
            }
        }
    }
    // A full page ending at the oldest entry of the range has no next page.
    // (With filters beyond the index, a cursor may still lead to an empty
    // page: the entries past it exist but may not match.)
    let Some(pos) = last_id else {
        return Ok(Page {
            items,
            next_cursor: None,
        });
    };
    let older = engine.scan(
        Cf::Audit,
        Scan {
            start: &start,
            end: Some(&key_of(pos)),
            reverse: true,
            limit: 1,
        },
    )?;
    let next_cursor = (!older.is_empty()).then(|| pos.cursor());
    Ok(Page { items, next_cursor })
}

/// The answer the state machine keeps for request `id` (in the layout by
/// generation, which every command since levels uses), on a replica that
/// has applied up to `applied`.
pub fn kept_answer(
    engine: &dyn Engine,
    applied: u64,
    id: &str,
) -> Result<Option<crate::Response>, StorageError> {
    crate::apply::kept_answer(engine, applied, id)
}

/// Whether the state machine keeps an answer for request `id`, on a replica
/// that has applied up to `applied`: the API leaves such a request to the
/// state machine (a retry gets the first answer) instead of deciding it
/// alone. Reads the two generations a write at `applied + 1` would.
pub fn remembers_request(
    engine: &dyn Engine,
    applied: u64,
    id: &str,
) -> Result<bool, StorageError> {
    let now = crate::apply::generation(applied.saturating_add(1));
    for g in [Some(now), now.checked_sub(1)].into_iter().flatten() {
        if engine.get(Cf::Meta, &keys::request_in(g, id))?.is_some() {
            return Ok(true);
        }
    }
    // The layout before generations, until its records age out.
    Ok(engine.get(Cf::Meta, &keys::request(id))?.is_some())
}

/// Promotion `id`, if there is one.
pub fn promotion(
    engine: &dyn Engine,
    id: u64,
) -> Result<Option<crate::records::Promotion>, StorageError> {
    engine
        .get(Cf::Meta, &keys::promotion(id))?
        .map(|v| decode(&v))
        .transpose()
}

/// `project`'s promotions that `visible` keeps, newest first: at most
/// `limit`, with ids below `before` when given.
pub fn promotions(
    engine: &dyn Engine,
    project: &str,
    limit: usize,
    before: Option<u64>,
    visible: impl Fn(&crate::records::Promotion) -> bool,
) -> Result<Page<crate::records::Promotion>, StorageError> {
    let start = vec![keys::META_PROMOTION];
    let mut end = match before {
        Some(id) => keys::promotion(id),
        None => prefix_end(&start),
    };
    let mut items = Vec::new();
    let mut scanned = 0usize;
    loop {
        if scanned >= MAX_SCAN {
            // Other projects' promotions filled the scan: the page ends
            // here, and the next one continues after the last seen.
            let last = end.get(1..).and_then(keys::trailing_u64_opt);
            return Ok(Page {
                items,
                next_cursor: last.map(|id| id.to_string()),
            });
        }
        let chunk = engine.scan(
            Cf::Meta,
            Scan {
                start: &start,
                end: Some(&end),
                reverse: true,
                limit: CHUNK,
            },
        )?;
        let Some((oldest, _)) = chunk.last() else {
            return Ok(Page {
                items,
                next_cursor: None,
            });
        };
        end = oldest.clone();
        for (_, v) in &chunk {
            scanned += 1;
            let p: crate::records::Promotion = decode(v)?;
            if p.project != project || !visible(&p) {
                continue;
            }
            items.push(p);
            if items.len() == limit {
                let last = items.last().map_or(0, |p| p.id);
                let more = engine
                    .scan(
                        Cf::Meta,
                        Scan {
                            start: &start,
                            end: Some(&keys::promotion(last)),
                            reverse: true,
                            limit: 1,
                        },
                    )?
                    .into_iter()
                    .any(|_| true);
                return Ok(Page {
                    items,
                    next_cursor: more.then(|| last.to_string()),
                });
            }
        }
    }
}
