//! Records that a flag made through the unscoped routes implies, and that
//! are not stored (cluster level [`crate::version::DERIVED_BLANKS`]).
//!
//! From level 4, `POST /v1/flags` (project `default`, environment
//! `production`) also gives the flag a definition and a blank, disabled
//! configuration in each of `default`'s other environments. Stored, those
//! are four records and four versions more than the write itself, and they
//! made the unscoped write about a third slower. From level 7 a **new** key
//! (its production configuration is at version 1: then nothing in `default`
//! has a history of it, see `apply::env_config::derive_new`) gets them in
//! the mirror only: each is version 1, made at the write's time by its
//! actor, and every part of it follows from production's version 1, which
//! is stored. So:
//!
//! - the loader derives them again ([`derive_all`]): for a production flag
//!   of `default` without a stored definition, the definition, and a blank
//!   configuration in every other environment of `default` without a
//!   record of the key;
//! - their version 1 is read from production's version 1 ([`first_version`]),
//!   for the versions list and a rollback;
//! - the first change to one writes its version 1 into the history before
//!   the version it makes ([`materialize`]), so from then on its history is
//!   stored like any other, and the record with it.
//!
//! A definition change rewrites every configuration of the flag, so a
//! derived definition never has a stored configuration changed under it.

use serde_json::value::RawValue;
use vexil_flags::scope::DEFAULT_PROJECT;
use vexil_flags::{Flag, FlagDefinition};
use vexil_storage::{Cf, Engine, StorageError};

use crate::apply::decode;
use crate::keys;
use crate::records::VersionEntry;
use crate::state::State;

/// The definition a new `default` flag implies: the production
/// configuration's definition fields, at version 1, made at `at` by `actor`
/// (as writing it would stamp it).
pub(crate) fn definition(
    template: &Flag,
    at: chrono::DateTime<chrono::Utc>,
    actor: &str,
) -> FlagDefinition {
    let mut def = FlagDefinition::of(DEFAULT_PROJECT, template);
    def.version = 1;
    def.created_at = Some(at);
    def.updated_at = Some(at);
    def.updated_by = Some(actor.to_owned());
    if def.salt.is_empty() {
        def.salt.clone_from(&def.key);
    }
    def
}

/// The blank configuration a new `default` flag implies in another
/// environment, at version 1 (as writing it would stamp it).
pub(crate) fn blank(
    def: &FlagDefinition,
    template: &Flag,
    at: chrono::DateTime<chrono::Utc>,
    actor: &str,
) -> Flag {
    let mut flag = def.blank(template);
    flag.version = 1;
    flag.created_at = Some(at);
    flag.updated_at = Some(at);
    flag.updated_by = Some(actor.to_owned());
    if flag.salt.is_empty() {
        flag.salt.clone_from(&flag.key);
    }
    flag
}

/// Production's version 1 of `key` in `default`, with its state, if stored.
fn origin(engine: &dyn Engine, key: &str) -> Result<Option<(VersionEntry, Flag)>, StorageError> {
    let Some(raw) = engine.get(
        Cf::History,
        &keys::scoped_u64(keys::HISTORY_FLAG, &keys::in_env(keys::LEGACY_ENV, key), 1),
    )?
    else {
        return Ok(None);
    };
    let entry: VersionEntry = decode(&raw)?;
    let Some(state) = entry.state.clone() else {
        return Ok(None);
    };
    let flag: Flag =
        serde_json::from_value(state).map_err(|e| StorageError::Corrupt(e.to_string()))?;
    Ok(Some((entry, flag)))
}

/// Whether `id` (under history prefix `prefix`) has a stored version 1.
fn stored_first(engine: &dyn Engine, prefix: u8, id: &str) -> Result<bool, StorageError> {
    Ok(engine
        .get(Cf::History, &keys::scoped_u64(prefix, id, 1))?
        .is_some())
}

/// The key of `default`'s flag that `id` names, when it is a definition
/// (`default/key`) or a configuration outside production
/// (`default/env/key`): the records that may be derived.
pub(crate) fn derivable(prefix: u8, id: &str) -> Option<&str> {
    let rest = id.strip_prefix(DEFAULT_PROJECT)?.strip_prefix('/')?;
    match prefix {
        keys::HISTORY_DEFINITION if !rest.contains('/') => Some(rest),
        keys::HISTORY_FLAG => match rest.split_once('/') {
            // Production's records are under the bare key, always stored.
            Some((env, key))
                if !key.contains('/')
                    && !env.is_empty()
                    && env != vexil_flags::scope::LEGACY_ENVIRONMENT =>
            {
                Some(key)
            }
            _ => None,
        },
        _ => None,
    }
}

/// The mirror's current version of `id`, for the kinds that may be derived.
pub(crate) fn current_version(state: &State, prefix: u8, id: &str) -> Option<u64> {
    derivable(prefix, id)?;
    match prefix {
        keys::HISTORY_DEFINITION => state.definitions.get(id).map(|d| d.version),
        _ => {
            let (env, key) = keys::split_record(id);
            state
                .set(env)
                .and_then(|s| s.get_flag(key))
                .map(|f| f.flag().version)
        }
    }
}

/// The action a derived record's version 1 is recorded under: what
/// writing it would have recorded.
fn first_action(prefix: u8) -> &'static str {
    if prefix == keys::HISTORY_DEFINITION {
        "flag_definition.create"
    } else {
        "flag.restore"
    }
}

/// Version 1 of a derived record: `state` (its JSON), with the time, actor
/// and log index of production's version 1.
fn entry(
    engine: &dyn Engine,
    prefix: u8,
    id: &str,
    state: serde_json::Value,
) -> Result<Option<VersionEntry>, StorageError> {
    let Some(key) = derivable(prefix, id) else {
        return Ok(None);
    };
    let Some((origin, _)) = origin(engine, key)? else {
        return Ok(None);
    };
    Ok(Some(VersionEntry {
        version: 1,
        at: origin.at,
        actor: origin.actor,
        action: first_action(prefix).to_owned(),
        index: origin.index,
        state: Some(state),
    }))
}

/// Version 1 of `id` when it is derived and still at version 1 (its
/// history is not stored): what the versions list and a rollback read.
pub fn first_version(
    engine: &dyn Engine,
    state: &State,
    prefix: u8,
    id: &str,
) -> Result<Option<VersionEntry>, StorageError> {
    if current_version(state, prefix, id) != Some(1) || stored_first(engine, prefix, id)? {
        return Ok(None);
    }
    let json = match prefix {
        keys::HISTORY_DEFINITION => state.definitions.get(id).map(serde_json::to_value),
        _ => {
            let (env, key) = keys::split_record(id);
            state.set(env).and_then(|s| s.get_flag(key)).map(|f| {
                let flag: &Flag = f.flag();
                serde_json::to_value(flag)
            })
        }
    };
    match json {
        Some(Ok(value)) => entry(engine, prefix, id, value),
        Some(Err(e)) => Err(StorageError::Corrupt(e.to_string())),
        None => Ok(None),
    }
}

/// Before `id`'s version 2 is written over a derived version 1 (`before`,
/// as JSON), the history entry that version 1 would have had: written
/// first, so the history is whole from then on. `None` when `id` is not
/// derived or its version 1 is stored.
pub(crate) fn materialize(
    engine: &dyn Engine,
    prefix: u8,
    id: &str,
    before: &RawValue,
) -> Result<Option<VersionEntry>, StorageError> {
    if derivable(prefix, id).is_none() || stored_first(engine, prefix, id)? {
        return Ok(None);
    }
    let state: serde_json::Value =
        serde_json::from_str(before.get()).map_err(|e| StorageError::Corrupt(e.to_string()))?;
    entry(engine, prefix, id, state)
}

/// Adds to a freshly loaded `state` the records its flags imply (see the
/// module documentation). Only at level 7 and above: below it every such
/// record is stored.
pub(crate) fn derive_all(engine: &dyn Engine, state: &mut State) -> Result<(), StorageError> {
    if state.level() < crate::version::DERIVED_BLANKS {
        return Ok(());
    }
    let others: Vec<String> = state
        .environments_of(DEFAULT_PROJECT)
        .into_iter()
        .map(vexil_flags::Environment::id)
        .filter(|id| id != keys::LEGACY_ENV)
        .collect();
    let keys: Vec<String> = state
        .flags
        .flags()
        .map(|f| f.key().to_owned())
        .filter(|k| {
            !state
                .definitions
                .contains_key(&vexil_flags::definition::definition_id(DEFAULT_PROJECT, k))
        })
        .collect();
    for key in keys {
        let Some((origin, template)) = origin(engine, &key)? else {
            continue;
        };
        let def = definition(&template, origin.at, &origin.actor);
        // Every environment of `default` holds the flag while its
        // definition is derived: one without a record has it derived too
        // (a stored change to it stores the record).
        for env in &others {
            if state.set(env).is_some_and(|s| s.get_flag(&key).is_some()) {
                continue;
            }
            let flag = blank(&def, &template, origin.at, &origin.actor);
            state.set_mut(env).upsert_flag(flag);
        }
        state.definitions.insert(def.id(), def);
    }
    Ok(())
}
