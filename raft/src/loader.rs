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
    let mut tokens = BTreeMap::new();
    let mut token_hashes = HashMap::new();
    engine.export(&[Cf::Flags, Cf::Segments, Cf::Tokens], &mut |cf, k, v| {
        match cf {
            Cf::Flags => flags.push(decode(v)?),
            Cf::Segments => segments.push(decode(v)?),
            Cf::Tokens if k.first() == Some(&keys::TOKEN_BY_NAME) => {
                let t: TokenRecord = decode(v)?;
                token_hashes.insert(t.hash.clone(), t.name.clone());
                tokens.insert(t.name.clone(), t);
            }
            _ => {}
        }
        Ok(true)
    })?;
    let meta_u64 = |key: &[u8]| -> Result<Option<serde_json::Value>, StorageError> {
        engine.get(Cf::Meta, key)?.map(|v| decode(&v)).transpose()
    };
    let applied = meta_u64(keys::META_APPLIED)?
        .and_then(|v| v.get("index").and_then(|i| i.as_u64()))
        .unwrap_or(0);
    let last_at_ms = meta_u64(keys::META_LAST_AT)?
        .and_then(|v| v.as_i64())
        .unwrap_or(0);
    let last_change = meta_u64(keys::META_LAST_CHANGE)?
        .and_then(|v| v.as_u64())
        .unwrap_or(0);
    Ok(State {
        flags: FlagSet::from_parts(flags, segments),
        tokens,
        token_hashes,
        applied,
        last_at_ms,
        last_change,
        requests_pruned_below: 0,
    })
}
