//! Checks over the nodes' stores: agreement on what each log index did, and
//! the audit log's completeness and replay.

use std::collections::BTreeMap;

use serde_json::Value;
use vexil_raft::keys;
use vexil_raft::records::{AuditEntry, VersionEntry};
use vexil_storage::{Cf, Engine};

use super::Violation;
use super::linear::Truth;
use crate::history::Obs;

fn dump(engine: &dyn Engine, cf: Cf) -> BTreeMap<Vec<u8>, Vec<u8>> {
    let mut out = BTreeMap::new();
    let _ = engine.export(&[cf], &mut |_, k, v| {
        out.insert(k.to_vec(), v.to_vec());
        Ok(true)
    });
    out
}

/// The raw request-id record and audit entry one log index left behind.
type AppliedEntry = (Option<Vec<u8>>, Option<Vec<u8>>);

/// What each applied log index did: its request id (every command records
/// one) and its audit entry, if it changed anything.
fn applied_entries(engine: &dyn Engine) -> BTreeMap<u64, AppliedEntry> {
    let mut out: BTreeMap<u64, AppliedEntry> = BTreeMap::new();
    // `g` + generation (8 bytes) + request id → the stored answer, which
    // names the index that applied it.
    for (k, v) in dump(engine, Cf::Meta) {
        if k.first() == Some(&keys::META_REQUEST_GENERATION)
            && let Some(id) = k.get(9..)
            && let Some(i) = serde_json::from_slice::<Value>(&v)
                .ok()
                .and_then(|a| a.get("index")?.as_u64())
        {
            out.entry(i).or_default().0 = Some(id.to_vec());
        }
    }
    // An entry's audit entries (`e` + index, then `e` + index + seq for a
    // promotion's per-flag ones) in key order, joined.
    for (k, v) in dump(engine, Cf::Audit) {
        if k.first() == Some(&keys::AUDIT_ENTRY)
            && let Some(pos) = k.get(1..).and_then(keys::AuditPos::from_suffix)
        {
            out.entry(pos.id)
                .or_default()
                .1
                .get_or_insert_with(Vec::new)
                .extend_from_slice(&v);
        }
    }
    out
}

/// No two nodes applied different commands (or audited differently) at the
/// same index.
pub fn agreement(engines: &BTreeMap<u64, &dyn Engine>) -> Vec<Violation> {
    let all: Vec<(u64, BTreeMap<u64, _>)> = engines
        .iter()
        .map(|(id, e)| (*id, applied_entries(*e)))
        .collect();
    let mut out = Vec::new();
    for (i, (a, ea)) in all.iter().enumerate() {
        for (b, eb) in all.iter().skip(i + 1) {
            for (index, x) in ea {
                if let Some(y) = eb.get(index) {
                    let both = |p: &Option<Vec<u8>>, q: &Option<Vec<u8>>| {
                        p.is_some() && q.is_some() && p != q
                    };
                    if both(&x.0, &y.0) || both(&x.1, &y.1) {
                        out.push(Violation(format!(
                            "nodes {a} and {b} applied different entries at index {index}"
                        )));
                    }
                }
            }
        }
    }
    out
}

fn obs(v: &VersionEntry) -> Option<Obs> {
    let s = v.state.as_ref()?;
    Some(Obs {
        version: v.version,
        description: s
            .get("description")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        enabled: s.get("enabled").and_then(Value::as_bool).unwrap_or(false),
    })
}

/// Every flag's committed history, from one node's store.
pub fn truth(engine: &dyn Engine) -> BTreeMap<String, Truth> {
    let mut out: BTreeMap<String, Truth> = BTreeMap::new();
    for (k, v) in dump(engine, Cf::History) {
        if k.first() != Some(&keys::HISTORY_FLAG) {
            continue;
        }
        let Ok(entry) = serde_json::from_slice::<VersionEntry>(&v) else {
            continue;
        };
        let Some(end) = k.len().checked_sub(9) else {
            continue;
        };
        let key = String::from_utf8_lossy(&k[1..end]).into_owned();
        out.entry(key)
            .or_default()
            .insert(entry.version, obs(&entry));
    }
    out
}

/// The audit log accounts for every committed flag version:
/// - a `default`/`production` record (its bare key, the first release's
///   layout) has exactly one `flag:<key>` entry per version;
/// - a record of another environment (`project/environment/key`), whose
///   versions are written in the same Raft entry as the change that made
///   them (a flag made or renamed through `/v1/flags`, the level-4 fill, a
///   new environment), has a version made by an entry whose audit entry
///   names the flag, its project or its environment;
/// - replaying the `flag:<key>` entries (each one's `after`, in id order)
///   gives the current `default`/`production` flags. The simulation writes
///   through the unscoped routes only, which are the only writers there.
pub fn audit(engine: &dyn Engine) -> Vec<Violation> {
    let mut out = Vec::new();
    let mut per_version: BTreeMap<(String, u64), usize> = BTreeMap::new();
    // Every audit target of each log entry (a promotion writes several).
    let mut targets: BTreeMap<u64, Vec<String>> = BTreeMap::new();
    let mut replay: BTreeMap<String, Value> = BTreeMap::new();
    for (k, v) in dump(engine, Cf::Audit) {
        if k.first() != Some(&keys::AUDIT_ENTRY) {
            continue;
        }
        let Ok(e) = serde_json::from_slice::<AuditEntry>(&v) else {
            out.push(Violation("undecodable audit entry".into()));
            continue;
        };
        targets.entry(e.id).or_default().push(e.target.clone());
        let Some(key) = e.target.strip_prefix("flag:") else {
            continue;
        };
        if key.contains('/') {
            continue;
        }
        *per_version
            .entry((key.to_owned(), e.version.unwrap_or(0)))
            .or_default() += 1;
        match e.after {
            Some(after) => replay.insert(key.to_owned(), after),
            None => replay.remove(key),
        };
    }
    for (record, versions) in flag_versions(engine) {
        let scoped: Vec<&str> = record.splitn(3, '/').collect();
        for (v, index) in versions {
            match scoped.as_slice() {
                [key] => match per_version.get(&(key.to_string(), v)) {
                    Some(1) => {}
                    n => out.push(Violation(format!(
                        "flag {key} version {v} has {} audit entries",
                        n.copied().unwrap_or(0)
                    ))),
                },
                [project, env, key] => {
                    let named = [
                        format!("flag:{project}/{key}"),
                        format!("flag:{project}/{env}/{key}"),
                        format!("project:{project}"),
                        format!("environment:{project}/{env}"),
                    ];
                    let ok = targets.get(&index).is_some_and(|ts| {
                        ts.iter().any(|t| {
                            named.contains(t)
                                || (*project == "default" && *t == format!("flag:{key}"))
                        })
                    });
                    if !ok {
                        out.push(Violation(format!(
                            "flag {record} version {v} was made by entry {index}, whose audit entry is {:?}",
                            targets.get(&index)
                        )));
                    }
                }
                _ => out.push(Violation(format!("flag record {record} has no valid key"))),
            }
        }
    }
    let current: BTreeMap<String, Value> = dump(engine, Cf::Flags)
        .into_iter()
        .filter(|(k, _)| !k.contains(&b'/'))
        .filter_map(|(k, v)| Some((String::from_utf8(k).ok()?, serde_json::from_slice(&v).ok()?)))
        .collect();
    if current != replay {
        out.push(Violation(format!(
            "replaying the audit log gives {} flags, the store holds {} (or their contents differ)",
            replay.len(),
            current.len()
        )));
    }
    out
}

/// Every flag record's committed versions, with the log index of each.
fn flag_versions(engine: &dyn Engine) -> BTreeMap<String, BTreeMap<u64, u64>> {
    let mut out: BTreeMap<String, BTreeMap<u64, u64>> = BTreeMap::new();
    for (k, v) in dump(engine, Cf::History) {
        if k.first() != Some(&keys::HISTORY_FLAG) {
            continue;
        }
        let (Ok(entry), Some(end)) = (
            serde_json::from_slice::<VersionEntry>(&v),
            k.len().checked_sub(9),
        ) else {
            continue;
        };
        let key = String::from_utf8_lossy(&k[1..end]).into_owned();
        out.entry(key)
            .or_default()
            .insert(entry.version, entry.index);
    }
    out
}

/// A digest of the flags and segments, to compare nodes.
pub fn state_digest(engine: &dyn Engine) -> (usize, u64) {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    let flags = dump(engine, Cf::Flags);
    flags.hash(&mut h);
    dump(engine, Cf::Segments).hash(&mut h);
    (flags.len(), h.finish())
}

/// The promotion records of the promoter's project (`promo`).
fn promo_records(engine: &dyn Engine) -> Vec<Value> {
    dump(engine, Cf::Meta)
        .into_iter()
        .filter(|(k, _)| k.first() == Some(&keys::META_PROMOTION))
        .filter_map(|(_, v)| serde_json::from_slice::<Value>(&v).ok())
        .filter(|p| p["project"] == "promo")
        .collect()
}

/// How many promotions the promoter's project holds.
pub fn promotion_count(engine: &dyn Engine) -> usize {
    promo_records(engine).len()
}

/// Promotions are whole (issue 22): the promoter's flags
/// (`workload::promoter`) are at one version and state in `production`,
/// and there is one promotion per version after the first, each naming
/// every flag. A promotion that reached only some flags would leave them
/// apart. Nothing to check if the promoter's setup did not finish.
pub fn promotions(engine: &dyn Engine, flags: usize) -> Vec<Violation> {
    let mut out = Vec::new();
    let configs: Vec<(u64, bool)> = (0..flags)
        .filter_map(|i| {
            let raw = engine
                .get(Cf::Flags, format!("promo/production/p{i}").as_bytes())
                .ok()??;
            let v: Value = serde_json::from_slice(&raw).ok()?;
            Some((v["version"].as_u64()?, v["enabled"] == true))
        })
        .collect();
    let records = promo_records(engine);
    if configs.len() < flags {
        if !records.is_empty() {
            out.push(Violation(format!(
                "{} promotions of project promo, which has {} of its {flags} flags",
                records.len(),
                configs.len()
            )));
        }
        return out;
    }
    let states: std::collections::BTreeSet<(u64, bool)> = configs.into_iter().collect();
    if states.len() != 1 {
        out.push(Violation(format!(
            "promo's production flags are apart (a partial promotion): {states:?}"
        )));
        return out;
    }
    let version = states.iter().next().map_or(0, |s| s.0);
    if records.len() as u64 != version.saturating_sub(1) {
        out.push(Violation(format!(
            "{} promotions for promo's flags at version {version}",
            records.len()
        )));
    }
    for p in &records {
        let n = p["flags"].as_array().map_or(0, Vec::len);
        if n != flags {
            out.push(Violation(format!(
                "promotion {} moved {n} of {flags} flags",
                p["id"]
            )));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use vexil_raft::keys;
    use vexil_storage::{Cf, Durability, Engine, MemEngine, WriteBatch};

    use super::agreement;

    fn node(records: &[(u64, &str)]) -> MemEngine {
        let engine = MemEngine::new();
        let mut b = WriteBatch::new();
        for (index, id) in records {
            let answer = serde_json::json!({"index": index, "duplicate": false});
            b.put(
                Cf::Meta,
                keys::request_in(index / vexil_raft::DEDUPE_WINDOW, id),
                serde_json::to_vec(&answer).expect("encode"),
            );
        }
        engine.write(b, Durability::Sync).expect("write");
        engine
    }

    #[test]
    fn a_partial_promotion_is_caught() {
        use vexil_storage::{Durability, MemEngine, WriteBatch};
        let engine = MemEngine::new();
        let mut b = WriteBatch::new();
        for (i, version) in [(0, 2), (1, 2), (2, 1), (3, 2)] {
            let flag =
                serde_json::json!({"key": format!("p{i}"), "version": version, "enabled": true});
            b.put(
                Cf::Flags,
                format!("promo/production/p{i}").into_bytes(),
                flag.to_string().into_bytes(),
            );
        }
        b.put(
            Cf::Meta,
            keys::promotion(9),
            serde_json::json!({"id": 9, "project": "promo", "flags": [{}, {}, {}]})
                .to_string()
                .into_bytes(),
        );
        engine.write(b, Durability::Sync).expect("write");
        let found = super::promotions(&engine, 4);
        assert!(
            found.iter().any(|v| v.to_string().contains("apart")),
            "{found:?}"
        );
        assert_eq!(super::promotion_count(&engine), 1);
    }

    #[test]
    fn agreement_reads_request_ids_by_the_index_in_their_answer() {
        let a = node(&[(1, "x"), (2, "y")]);
        let same = node(&[(1, "x"), (2, "y")]);
        let other = node(&[(1, "x"), (2, "z")]);
        let check = |b: &MemEngine| {
            let engines: BTreeMap<u64, &dyn Engine> = [(1, &a as &dyn Engine), (2, b)].into();
            agreement(&engines)
        };
        assert!(check(&same).is_empty());
        let found = check(&other);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].0.contains("index 2"), "{found:?}");
    }
}
