//! Rebuilds the in-memory mirror from the engine (at start-up and after a
//! snapshot is installed).

use std::collections::{BTreeMap, HashMap};

use vexil_flags::{Flag, FlagSet, Segment};
use vexil_storage::{Cf, Engine, StorageError};

use crate::apply::decode;
use crate::keys;
use crate::records::TokenRecord;
use crate::state::State;

/// Reads flags, segments, tokens and feed metadata into a fresh [`State`].
pub fn load_state(engine: &dyn Engine) -> Result<State, StorageError> {
    let mut flags: Vec<Flag> = Vec::new();
    let mut segments: Vec<Segment> = Vec::new();
    let mut scoped: BTreeMap<String, (Vec<Flag>, Vec<Segment>)> = BTreeMap::new();
    let mut tokens = BTreeMap::new();
    let mut token_hashes = HashMap::new();
    engine.export(&[Cf::Flags, Cf::Segments, Cf::Tokens], &mut |cf, k, v| {
        match cf {
            Cf::Flags | Cf::Segments => {
                let id =
                    std::str::from_utf8(k).map_err(|e| StorageError::Corrupt(e.to_string()))?;
                let (env, _) = keys::split_record(id);
                let (f, s) = if env == keys::LEGACY_ENV {
                    (&mut flags, &mut segments)
                } else {
                    let e = scoped.entry(env.to_owned()).or_default();
                    (&mut e.0, &mut e.1)
                };
                if cf == Cf::Flags {
                    f.push(decode(v)?);
                } else {
                    s.push(decode(v)?);
                }
            }
            Cf::Tokens if k.first() == Some(&keys::TOKEN_BY_NAME) => {
                let t: TokenRecord = decode(v)?;
                token_hashes.insert(t.digest().to_owned(), t.name.clone());
                tokens.insert(t.name.clone(), t);
            }
            _ => {}
        }
        Ok(true)
    })?;
    let applied = read_applied(engine)?;
    let mut state = State {
        flags: FlagSet::from_parts(flags, segments),
        tokens,
        token_hashes,
        applied: applied.index,
        last_at_ms: applied.last_at_ms,
        last_change: applied.last_change,
        requests_pruned_below: 0,
        legacy_requests_until: newest_legacy_request(engine)?,
        cluster_level: read_level(engine)?,
        projects: read_scoped(engine, keys::META_PROJECT)?
            .into_iter()
            .map(|p: vexil_flags::Project| (p.key.clone(), p))
            .collect(),
        environments: read_scoped(engine, keys::META_ENVIRONMENT)?
            .into_iter()
            .map(|e: vexil_flags::Environment| (e.id(), e))
            .collect(),
        scoped: scoped
            .into_iter()
            .map(|(env, (f, s))| (env, FlagSet::from_parts(f, s)))
            .collect(),
        definitions: read_scoped(engine, keys::META_DEFINITION)?
            .into_iter()
            .map(|d: vexil_flags::FlagDefinition| (d.id(), d))
            .collect(),
    };
    crate::derived::derive_all(engine, &mut state)?;
    Ok(state)
}

/// Every project, environment or flag definition record (`prefix` is
/// `keys::META_PROJECT`, `keys::META_ENVIRONMENT` or
/// `keys::META_DEFINITION`); a store of an earlier release has none.
fn read_scoped<T: serde::de::DeserializeOwned>(
    engine: &dyn Engine,
    prefix: u8,
) -> Result<Vec<T>, StorageError> {
    let start = [prefix];
    let end = [prefix + 1];
    engine
        .scan(
            Cf::Meta,
            vexil_storage::engine::Scan {
                start: &start,
                end: Some(&end),
                reverse: false,
                limit: usize::MAX,
            },
        )?
        .iter()
        .map(|(_, v)| decode(v))
        .collect()
}

/// The cluster's feature level as stored. Below level 7 a bare number, as
/// releases before it read it. From level 7 an object, which those
/// releases fail to read at start-up: one of them started on a store of
/// level 7 or above would otherwise run without the records that level
/// derives instead of storing (`crate::derived`), and diverge.
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(untagged)]
enum StoredLevel {
    Number(u32),
    Object { level: u32, needs: String },
}

pub(crate) fn encode_level(level: u32) -> Result<Vec<u8>, StorageError> {
    let stored = if level < crate::version::DERIVED_BLANKS {
        StoredLevel::Number(level)
    } else {
        StoredLevel::Object {
            level,
            needs: format!("a release that supports cluster level {level}"),
        }
    };
    crate::apply::encode(&stored)
}

/// The cluster's feature level: absent in stores of the first release.
fn read_level(engine: &dyn Engine) -> Result<u32, StorageError> {
    match engine.get(Cf::Meta, keys::META_CLUSTER_LEVEL)? {
        Some(v) => match decode(&v)? {
            StoredLevel::Number(level) | StoredLevel::Object { level, .. } => Ok(level),
        },
        None => Ok(crate::version::BASE),
    }
}

/// The log index of the newest request id in the layout before
/// generations, if any is left.
fn newest_legacy_request(engine: &dyn Engine) -> Result<Option<u64>, StorageError> {
    let start = [keys::META_REQUEST_INDEX];
    let end = [keys::META_REQUEST_INDEX + 1];
    let newest = engine.scan(
        Cf::Meta,
        vexil_storage::engine::Scan {
            start: &start,
            end: Some(&end),
            reverse: true,
            limit: 1,
        },
    )?;
    Ok(newest.first().and_then(|(k, _)| keys::trailing_u64(k)))
}

/// What the `applied` meta record holds: the last applied log index, and the
/// two values the mirror needs on restart.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct AppliedMeta {
    pub index: u64,
    /// Audit time never goes back below this (milliseconds since the epoch).
    pub last_at_ms: i64,
    /// The log index of the last change the feed published.
    pub last_change: u64,
}

/// Reads the `applied` record. It is the log id with `last_at` and
/// `last_change` beside it (see `consensus::state_machine::applied_record`);
/// stores written before those moved into it keep them as `last_at` and
/// `last_change` keys of their own, read when the record lacks them.
pub(crate) fn read_applied(engine: &dyn Engine) -> Result<AppliedMeta, StorageError> {
    let meta = |key: &[u8]| -> Result<Option<serde_json::Value>, StorageError> {
        engine.get(Cf::Meta, key)?.map(|v| decode(&v)).transpose()
    };
    let record = meta(keys::META_APPLIED)?.unwrap_or_default();
    let field = |name: &str, old_key: &[u8]| -> Result<Option<serde_json::Value>, StorageError> {
        match record.get(name) {
            Some(v) => Ok(Some(v.clone())),
            None => meta(old_key),
        }
    };
    Ok(AppliedMeta {
        index: record.get("index").and_then(|i| i.as_u64()).unwrap_or(0),
        last_at_ms: field("last_at", keys::META_LAST_AT)?
            .and_then(|v| v.as_i64())
            .unwrap_or(0),
        last_change: field("last_change", keys::META_LAST_CHANGE)?
            .and_then(|v| v.as_u64())
            .unwrap_or(0),
    })
}

#[cfg(test)]
mod level_tests {
    use vexil_storage::{Cf, Durability, Engine, MemEngine, WriteBatch};

    use super::*;

    /// Below level 7 the level is the bare number earlier releases read;
    /// from 7 it is a form they refuse (as `serde_json` reads a `u32`), and
    /// this release reads both.
    #[test]
    fn from_level_7_the_stored_level_stops_an_earlier_release() {
        for level in [2, 6, 7, 9] {
            let bytes = encode_level(level).expect("encode");
            let earlier = serde_json::from_slice::<u32>(&bytes);
            assert_eq!(
                earlier.is_ok(),
                level < crate::version::DERIVED_BLANKS,
                "{level}"
            );
            let engine = MemEngine::new();
            let mut b = WriteBatch::new();
            b.put(Cf::Meta, keys::META_CLUSTER_LEVEL.to_vec(), bytes);
            engine.write(b, Durability::Sync).expect("write");
            assert_eq!(load_state(&engine).expect("load").level(), level);
        }
    }
}
