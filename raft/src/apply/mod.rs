//! Applying a command: deterministic, openraft-free.
//!
//! [`apply_command`] reads the current state (the mirror and the engine) and
//! returns a [`WriteBatch`] holding the change, its version, its audit entry
//! and its idempotency record, plus the [`Effect`]s to make on the mirror once
//! the batch is written. Either all of it is committed or none of it.

mod audit;
mod stored;
mod tokens;
mod versioned;

use chrono::{DateTime, TimeZone, Utc};
use vexil_storage::{Cf, Engine, StorageError, WriteBatch};

use crate::command::{Change, Command, Op, Rejection, Response, SYSTEM_ACTOR};
use crate::keys;
use crate::records::TokenRecord;
use crate::state::State;

/// How many recent request ids are remembered for idempotency. A retry
/// arriving after this many later writes is applied again.
pub const DEDUPE_WINDOW: u64 = 100_000;

/// A change to make on the mirror after the batch is written.
#[derive(Debug, Clone)]
pub(crate) enum Effect {
    UpsertFlag(vexil_flags::Flag),
    RemoveFlag(String),
    UpsertSegment(vexil_flags::Segment),
    RemoveSegment(String),
    UpsertToken(TokenRecord),
    RemoveToken(String),
    LastAt(i64),
    /// Every idempotency record below this log index is deleted.
    RequestsPrunedBelow(u64),
}

/// The outcome of applying one command.
#[derive(Debug)]
pub(crate) struct Applied {
    pub batch: WriteBatch,
    pub response: Response,
    pub effects: Vec<Effect>,
}

/// Everything one apply needs, and what it accumulates.
pub(crate) struct Ctx<'a> {
    pub engine: &'a dyn Engine,
    pub state: &'a State,
    pub index: u64,
    pub cmd: &'a Command,
    /// `cmd.at`, clamped so audit time never goes backwards.
    pub at: DateTime<Utc>,
    pub batch: WriteBatch,
    pub effects: Vec<Effect>,
}

/// Applies `cmd`, committed at log `index`, against the current state.
pub(crate) fn apply_command(
    engine: &dyn Engine,
    state: &State,
    index: u64,
    cmd: &Command,
) -> Result<Applied, StorageError> {
    if let Some(previous) = engine.get(Cf::Meta, &keys::request(&cmd.request_id))? {
        let mut response = stored::from_stored(engine, &previous)?;
        response.duplicate = true;
        return Ok(Applied {
            batch: WriteBatch::new(),
            response,
            effects: Vec::new(),
        });
    }
    let at = clamp_time(cmd.at, state.last_at_ms);
    let mut ctx = Ctx {
        engine,
        state,
        index,
        cmd,
        at,
        batch: WriteBatch::new(),
        effects: vec![Effect::LastAt(at.timestamp_millis())],
    };
    let result = match authorize(state, cmd) {
        Ok(()) => dispatch(&mut ctx)?,
        Err(rejection) => Err(rejection),
    };
    let response = Response {
        index,
        duplicate: false,
        result,
    };
    let mut ctx = if response.result.is_ok() {
        ctx
    } else {
        // A rejected command changes nothing but its idempotency record.
        Ctx {
            batch: WriteBatch::new(),
            effects: Vec::new(),
            ..ctx
        }
    };
    // `ctx.at` is persisted by the state machine, in the `applied` record,
    // from the `LastAt` effect.
    remember_request(&mut ctx, &response)?;
    Ok(Applied {
        batch: ctx.batch,
        response,
        effects: ctx.effects,
    })
}

fn dispatch(ctx: &mut Ctx<'_>) -> Result<Result<Change, Rejection>, StorageError> {
    use versioned::{FLAGS, SEGMENTS};
    let op = &ctx.cmd.op;
    match op {
        Op::CreateFlag { flag } => versioned::create(ctx, &FLAGS, flag.clone()),
        Op::UpdateFlag {
            flag,
            expected_version,
        } => versioned::update(ctx, &FLAGS, flag.clone(), *expected_version),
        Op::ToggleFlag { key, enabled } => versioned::toggle(ctx, key, *enabled),
        Op::DeleteFlag {
            key,
            expected_version,
        } => versioned::delete(ctx, &FLAGS, key, *expected_version),
        Op::RollbackFlag { key, version } => versioned::rollback(ctx, &FLAGS, key, *version),
        Op::CreateSegment { segment } => versioned::create(ctx, &SEGMENTS, segment.clone()),
        Op::UpdateSegment {
            segment,
            expected_version,
        } => versioned::update(ctx, &SEGMENTS, segment.clone(), *expected_version),
        Op::DeleteSegment {
            key,
            expected_version,
        } => versioned::delete(ctx, &SEGMENTS, key, *expected_version),
        Op::RollbackSegment { key, version } => versioned::rollback(ctx, &SEGMENTS, key, *version),
        Op::CreateToken {
            name,
            role,
            secret_hash,
        } => tokens::create(ctx, name, *role, secret_hash),
        Op::DeleteToken { name } => tokens::delete(ctx, name),
    }
}

/// The actor must still hold a token with the role the change needs, so a
/// revoked token stops working cluster-wide the moment its revocation applies.
fn authorize(state: &State, cmd: &Command) -> Result<(), Rejection> {
    if cmd.actor == SYSTEM_ACTOR {
        return Ok(());
    }
    let needs = cmd.op.required_role();
    match state.tokens.get(&cmd.actor) {
        Some(token) if token.role.allows(needs) => Ok(()),
        _ => Err(Rejection::Forbidden {
            actor: cmd.actor.clone(),
            needs,
        }),
    }
}

/// Old request ids are forgotten on every `PRUNE_EVERY`th entry, up to
/// `PRUNE_LIMIT` at a time: at most one id arrives per entry, so each round
/// clears more than arrived since the last and a backlog (after a restart,
/// or rounds that fell on membership entries) drains. Pruning on every
/// entry cost a storage seek per write; this costs one per 32.
const PRUNE_EVERY: u64 = 32;
const PRUNE_LIMIT: usize = 4 * PRUNE_EVERY as usize;

/// Stores the response under the request id, and forgets ids older than
/// [`DEDUPE_WINDOW`] entries (in small rounds, so the cost stays flat).
fn remember_request(ctx: &mut Ctx<'_>, response: &Response) -> Result<(), StorageError> {
    let id = &ctx.cmd.request_id;
    ctx.batch
        .put(Cf::Meta, keys::request(id), stored::to_stored(response)?);
    ctx.batch.put(
        Cf::Meta,
        keys::request_index(ctx.index),
        id.as_bytes().to_vec(),
    );
    if !ctx.index.is_multiple_of(PRUNE_EVERY) {
        return Ok(());
    }
    let Some(horizon) = ctx.index.checked_sub(DEDUPE_WINDOW) else {
        return Ok(());
    };
    let start = keys::request_index(ctx.state.requests_pruned_below);
    let end = keys::request_index(horizon);
    let old = ctx.engine.scan(
        Cf::Meta,
        vexil_storage::engine::Scan {
            start: &start,
            end: Some(&end),
            reverse: false,
            limit: PRUNE_LIMIT,
        },
    )?;
    let pruned_below = match old.last() {
        Some((k, _)) if old.len() == PRUNE_LIMIT => keys::trailing_u64(k).map_or(0, |i| i + 1),
        _ => horizon,
    };
    for (k, v) in old {
        ctx.batch.delete(Cf::Meta, k);
        let old_id = String::from_utf8_lossy(&v);
        ctx.batch.delete(Cf::Meta, keys::request(&old_id));
    }
    ctx.effects.push(Effect::RequestsPrunedBelow(pruned_below));
    Ok(())
}

fn clamp_time(at: DateTime<Utc>, last_ms: i64) -> DateTime<Utc> {
    if at.timestamp_millis() >= last_ms {
        at
    } else {
        Utc.timestamp_millis_opt(last_ms).single().unwrap_or(at)
    }
}

pub(crate) fn encode<T: serde::Serialize>(value: &T) -> Result<Vec<u8>, StorageError> {
    serde_json::to_vec(value).map_err(|e| StorageError::Corrupt(e.to_string()))
}

/// `value` as JSON text, to embed in a record without a [`serde_json::Value`].
pub(crate) fn raw<T: serde::Serialize>(
    value: &T,
) -> Result<Box<serde_json::value::RawValue>, StorageError> {
    serde_json::value::to_raw_value(value).map_err(|e| StorageError::Corrupt(e.to_string()))
}

pub(crate) fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, StorageError> {
    serde_json::from_slice(bytes).map_err(|e| StorageError::Corrupt(e.to_string()))
}

/// Makes a written batch's effects visible: updates the mirror and publishes
/// feed events, all under the write lock.
pub(crate) fn commit_effects(shared: &crate::state::Shared, index: u64, effects: Vec<Effect>) {
    use vexil_flags::wire::Change as Feed;
    let mut state = shared.write();
    for effect in effects {
        match effect {
            Effect::UpsertFlag(flag) => {
                let key = flag.key.clone();
                state.flags.upsert_flag(flag);
                if let Some(f) = state.flags.get_flag(&key).map(|f| f.flag().clone()) {
                    shared.publish(&mut state, index, Feed::FlagUpsert { flag: f });
                }
            }
            Effect::RemoveFlag(key) => {
                state.flags.remove_flag(&key);
                shared.publish(&mut state, index, Feed::FlagDelete { key });
            }
            Effect::UpsertSegment(segment) => {
                let key = segment.key.clone();
                state.flags.upsert_segment(segment);
                if let Some(s) = state.flags.get_segment(&key).map(|s| s.segment().clone()) {
                    shared.publish(&mut state, index, Feed::SegmentUpsert { segment: s });
                }
            }
            Effect::RemoveSegment(key) => {
                state.flags.remove_segment(&key);
                shared.publish(&mut state, index, Feed::SegmentDelete { key });
            }
            Effect::UpsertToken(token) => {
                state
                    .token_hashes
                    .insert(token.hash.clone(), token.name.clone());
                state.tokens.insert(token.name.clone(), token);
            }
            Effect::RemoveToken(name) => {
                if let Some(t) = state.tokens.remove(&name) {
                    state.token_hashes.remove(&t.hash);
                }
            }
            Effect::LastAt(ms) => state.last_at_ms = state.last_at_ms.max(ms),
            Effect::RequestsPrunedBelow(i) => {
                state.requests_pruned_below = state.requests_pruned_below.max(i);
            }
        }
    }
    state.applied = state.applied.max(index);
}

#[cfg(test)]
mod tests {
    use vexil_storage::{Durability, MemEngine};

    use super::*;

    fn apply_at(engine: &MemEngine, state: &mut State, index: u64) {
        let cmd = Command {
            request_id: format!("req-{index}"),
            actor: SYSTEM_ACTOR.into(),
            at: Utc::now(),
            op: Op::DeleteToken {
                name: "absent".into(),
            },
        };
        let applied = apply_command(engine, state, index, &cmd).expect("apply");
        engine
            .write(applied.batch, Durability::Sync)
            .expect("write");
        for effect in applied.effects {
            if let Effect::RequestsPrunedBelow(i) = effect {
                state.requests_pruned_below = state.requests_pruned_below.max(i);
            }
        }
    }

    fn remembered(engine: &MemEngine, index: u64) -> bool {
        let id = engine
            .get(Cf::Meta, &keys::request_index(index))
            .expect("get");
        let record = engine
            .get(Cf::Meta, &keys::request(&format!("req-{index}")))
            .expect("get");
        assert_eq!(id.is_some(), record.is_some(), "index {index}");
        id.is_some()
    }

    #[test]
    fn request_ids_older_than_the_window_are_forgotten_in_rounds() {
        let engine = MemEngine::new();
        let mut state = State::default();
        let old = PRUNE_LIMIT as u64 + 10;
        for index in 1..=old {
            apply_at(&engine, &mut state, index);
        }
        assert_eq!(state.requests_pruned_below, 0, "nothing to prune yet");

        // Past the window, but not a round: nothing goes.
        let round = (DEDUPE_WINDOW + old).next_multiple_of(PRUNE_EVERY);
        apply_at(&engine, &mut state, round - 1);
        assert!((1..=old).all(|i| remembered(&engine, i)));

        // A round forgets up to PRUNE_LIMIT ids below its horizon, oldest first.
        apply_at(&engine, &mut state, round);
        let limit = PRUNE_LIMIT as u64;
        assert!((1..=limit).all(|i| !remembered(&engine, i)));
        assert!((limit + 1..=old).all(|i| remembered(&engine, i)));
        assert_eq!(state.requests_pruned_below, limit + 1);
        assert!(remembered(&engine, round - 1) && remembered(&engine, round));

        // The next round takes the rest below its horizon.
        apply_at(&engine, &mut state, round + PRUNE_EVERY);
        assert!((1..=old).all(|i| !remembered(&engine, i)));
        assert_eq!(
            state.requests_pruned_below,
            round + PRUNE_EVERY - DEDUPE_WINDOW
        );
        assert!(remembered(&engine, round - 1) && remembered(&engine, round));

        // After a restart the bound is unknown (0): the scan starts at the
        // first key and still finds only what is left.
        state.requests_pruned_below = 0;
        let later = DEDUPE_WINDOW + round;
        apply_at(&engine, &mut state, later);
        assert!(!remembered(&engine, round - 1));
        assert!(remembered(&engine, round));
        assert_eq!(state.requests_pruned_below, round);
    }
}
