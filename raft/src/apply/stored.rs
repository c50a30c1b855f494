//! The answer kept under a request id, for a retry to get it again.
//!
//! A flag or segment change through the routes without a project is kept
//! as the version it made, not as the states before and after: the history
//! holds those under the bare key (versions `n - 1` and `n`, never pruned),
//! and a retry, rare, reads them back. Every such write then stores its
//! flag in three records (the flag, its version, its audit entry) instead
//! of four. A change in a named environment is kept whole: its history is
//! under `project/environment/key`, which a reference does not carry (until
//! stop 33 it was kept as a reference too, and a retry read `production`'s
//! versions instead; an answer stored that way reads as it did).
//!
//! An answer to a client's `Idempotency-Key` also keeps the fingerprint of
//! the change it answered, as a last field `fingerprint` that is left out
//! when there is none. Records are decoded without `deny_unknown_fields`, so
//! a node of the previous release reads them (from a snapshot) as before.

use serde::{Deserialize, Serialize};
use vexil_storage::{Cf, Engine, StorageError};

use super::{decode, encode};
use crate::command::{Change, Response};
use crate::keys;
use crate::records::VersionEntry;

/// What is stored. Untagged: records written before refs existed are full
/// responses and still decode.
#[derive(Debug, Serialize, Deserialize)]
#[serde(untagged)]
enum Stored {
    Ref {
        index: u64,
        change_ref: ChangeRef,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        fingerprint: Option<String>,
    },
    Full(Response),
}

/// A full response with the request's fingerprint after its fields:
/// `{"index":…,"duplicate":…,"result":…,"fingerprint":"…"}`, which decodes
/// as [`Stored::Full`].
#[derive(Serialize)]
struct FullOut<'a> {
    #[serde(flatten)]
    response: &'a Response,
    fingerprint: &'a str,
}

/// The fingerprint of any stored record, read on its own.
#[derive(Deserialize)]
struct Fingerprint {
    #[serde(default)]
    fingerprint: Option<String>,
}

/// A flag or segment change, by the version it made.
#[derive(Debug, Serialize, Deserialize)]
struct ChangeRef {
    /// The history prefix: [`keys::HISTORY_FLAG`] or [`keys::HISTORY_SEGMENT`].
    kind: char,
    key: String,
    version: u64,
}

/// The bytes to store for `response`.
#[cfg(test)]
pub(super) fn to_stored(response: &Response) -> Result<Vec<u8>, StorageError> {
    to_stored_with_fingerprint(response, None, false)
}

/// The bytes to store for `response` to a request with `fingerprint`;
/// `scoped` when the request named a project and environment (its flag or
/// segment is kept whole, see below).
pub(super) fn to_stored_with_fingerprint(
    response: &Response,
    fingerprint: Option<&str>,
    scoped: bool,
) -> Result<Vec<u8>, StorageError> {
    let full = || match fingerprint {
        Some(fingerprint) => encode(&FullOut {
            response,
            fingerprint,
        }),
        None => encode(response),
    };
    if scoped {
        // A record outside `default`'s `production` is not under its bare
        // key in the history, which is all a reference names: kept whole.
        return full();
    }
    let (kind, after, before) = match &response.result {
        Ok(Change::Flag { before, after }) => (
            keys::HISTORY_FLAG,
            after.as_ref().map(|f| (f.key.as_str(), f.version)),
            before.as_ref().map(|f| (f.key.as_str(), f.version)),
        ),
        Ok(Change::Segment { before, after }) => (
            keys::HISTORY_SEGMENT,
            after.as_ref().map(|s| (s.key.as_str(), s.version)),
            before.as_ref().map(|s| (s.key.as_str(), s.version)),
        ),
        _ => return full(),
    };
    // A delete has no `after`; its version is one past `before`'s.
    let (key, version) = match (after, before) {
        (Some(after), _) => after,
        (None, Some((key, v))) => (key, v + 1),
        (None, None) => return full(),
    };
    encode(&Stored::Ref {
        index: response.index,
        change_ref: ChangeRef {
            kind: char::from(kind),
            key: key.to_owned(),
            version,
        },
        fingerprint: fingerprint.map(str::to_owned),
    })
}

/// The response stored as `bytes`, and the fingerprint stored with it.
pub(super) fn from_stored_with_fingerprint(
    engine: &dyn Engine,
    bytes: &[u8],
) -> Result<(Response, Option<String>), StorageError> {
    let fingerprint = decode::<Fingerprint>(bytes)?.fingerprint;
    Ok((from_stored(engine, bytes)?, fingerprint))
}

/// The response stored as `bytes`, with the states read back from history.
pub(super) fn from_stored(engine: &dyn Engine, bytes: &[u8]) -> Result<Response, StorageError> {
    let (index, r) = match decode::<Stored>(bytes)? {
        Stored::Full(response) => return Ok(response),
        Stored::Ref {
            index, change_ref, ..
        } => (index, change_ref),
    };
    let prefix = u8::try_from(r.kind).unwrap_or(0);
    let state = |version: u64| -> Result<Option<serde_json::Value>, StorageError> {
        if version == 0 {
            return Ok(None);
        }
        match engine.get(Cf::History, &keys::scoped_u64(prefix, &r.key, version))? {
            Some(raw) => Ok(decode::<VersionEntry>(&raw)?.state),
            None => Ok(None),
        }
    };
    fn value<T: serde::de::DeserializeOwned>(
        v: Option<serde_json::Value>,
    ) -> Result<Option<Box<T>>, StorageError> {
        v.map(|v| serde_json::from_value(v).map_err(|e| StorageError::Corrupt(e.to_string())))
            .transpose()
    }
    let (before, after) = (state(r.version.saturating_sub(1))?, state(r.version)?);
    let change = match prefix {
        keys::HISTORY_FLAG => Change::Flag {
            before: value(before)?,
            after: value(after)?,
        },
        keys::HISTORY_SEGMENT => Change::Segment {
            before: value(before)?,
            after: value(after)?,
        },
        _ => return Err(StorageError::Corrupt(format!("history kind {:?}", r.kind))),
    };
    Ok(Response {
        index,
        duplicate: false,
        key_reused: false,
        result: Ok(change),
    })
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use vexil_storage::{Durability, MemEngine};

    use super::*;
    use crate::apply::{Effect, apply_command};
    use crate::command::{Command, Op, SYSTEM_ACTOR};
    use crate::state::State;

    fn flag(key: &str, enabled: bool) -> vexil_flags::Flag {
        serde_json::from_value(serde_json::json!({
            "key": key,
            "kind": "boolean",
            "variations": [{"value": true}, {"value": false}],
            "off_variation": 1,
            "fallthrough": {"variation": 0},
            "enabled": enabled,
        }))
        .expect("flag")
    }

    /// Applies `op` as request `id` at `index`, then again (a retry), and
    /// returns both answers.
    fn twice(
        engine: &MemEngine,
        state: &mut State,
        index: u64,
        id: &str,
        op: Op,
    ) -> (Response, Response) {
        let cmd = Command {
            request_id: id.into(),
            actor: SYSTEM_ACTOR.into(),
            at: Utc::now(),
            needs_level: None,
            op,
        };
        let first = apply_command(engine, state, index, &cmd).expect("apply");
        engine.write(first.batch, Durability::Sync).expect("write");
        for effect in first.effects {
            match effect {
                Effect::UpsertFlag(_, f) => {
                    state.flags.upsert_flag(f);
                }
                Effect::UpsertCompiled(_, f) => {
                    state.flags.insert_compiled_flag(f);
                }
                Effect::RemoveFlag(_, k) => {
                    state.flags.remove_flag(&k);
                }
                _ => {}
            }
        }
        let retry = apply_command(engine, state, index + 1, &cmd).expect("retry");
        assert!(retry.batch.is_empty() && retry.effects.is_empty());
        (first.response, retry.response)
    }

    #[test]
    fn a_retry_gets_the_first_answer_back_from_history() {
        let engine = MemEngine::new();
        let mut state = State::default();
        let ops = [
            Op::CreateFlag {
                flag: flag("a", true),
            },
            Op::UpdateFlag {
                flag: flag("a", false),
                expected_version: 1,
            },
            Op::DeleteFlag {
                key: "a".into(),
                expected_version: None,
            },
            Op::CreateFlag {
                flag: flag("a", true),
            },
            // A rejection is stored whole.
            Op::CreateFlag {
                flag: flag("a", true),
            },
        ];
        for (i, op) in ops.into_iter().enumerate() {
            let index = 10 * (i as u64 + 1);
            let (first, retry) = twice(&engine, &mut state, index, &format!("r{i}"), op);
            assert!(!first.duplicate && retry.duplicate, "op {i}");
            assert_eq!(first.index, retry.index, "op {i}");
            assert_eq!(first.result, retry.result, "op {i}");
        }
        let stored = engine
            .get(Cf::Meta, &keys::request_in(0, "r1"))
            .expect("get")
            .expect("stored");
        assert!(
            stored.len() < 100,
            "a ref, not the flag: {}",
            String::from_utf8_lossy(&stored)
        );
    }

    /// The exact bytes of records with and without a fingerprint: without
    /// one they are what the previous release wrote, and with one they
    /// decode as before (the previous release's reader ignores the field).
    #[test]
    fn stored_records_keep_their_shape_and_the_fingerprint_is_a_last_field() {
        let changed = Response {
            index: 42,
            duplicate: false,
            key_reused: false,
            result: Ok(Change::Flag {
                before: None,
                after: Some(Box::new(vexil_flags::Flag {
                    version: 3,
                    ..flag("a", true)
                })),
            }),
        };
        let rejected = Response {
            index: 7,
            duplicate: false,
            key_reused: false,
            result: Err(crate::command::Rejection::NotFound {
                kind: "token".into(),
                key: "absent".into(),
            }),
        };
        let text = |r: &Response, fp: Option<&str>| {
            String::from_utf8(to_stored_with_fingerprint(r, fp, false).expect("encode"))
                .expect("utf-8")
        };
        let r#ref = r#"{"index":42,"change_ref":{"kind":"f","key":"a","version":3}"#;
        assert_eq!(text(&changed, None), format!("{ref}}}"));
        assert_eq!(
            text(&changed, Some("0123abcd")),
            format!(r#"{ref},"fingerprint":"0123abcd"}}"#)
        );
        let full = r#"{"index":7,"duplicate":false,"result":{"Err":{"type":"not_found","kind":"token","key":"absent"}}"#;
        assert_eq!(text(&rejected, None), format!("{full}}}"));
        assert_eq!(
            text(&rejected, Some("0123abcd")),
            format!(r#"{full},"fingerprint":"0123abcd"}}"#)
        );

        // The previous release's reader: the same enum without the field.
        #[derive(Debug, Deserialize)]
        #[serde(untagged)]
        #[allow(dead_code)]
        enum PreviousStored {
            Ref { index: u64, change_ref: ChangeRef },
            Full(Response),
        }
        let engine = MemEngine::new();
        for (response, is_ref) in [(&changed, true), (&rejected, false)] {
            for fp in [None, Some("0123abcd")] {
                let bytes = to_stored_with_fingerprint(response, fp, false).expect("encode");
                let old: PreviousStored = serde_json::from_slice(&bytes).expect("old reader");
                assert_eq!(matches!(old, PreviousStored::Ref { .. }), is_ref);
                let (_, read) = from_stored_with_fingerprint(&engine, &bytes).expect("decode");
                assert_eq!(read.as_deref(), fp);
            }
        }
    }

    #[test]
    fn full_answers_stored_before_refs_still_decode() {
        let engine = MemEngine::new();
        let full = Response {
            index: 7,
            duplicate: false,
            key_reused: false,
            result: Ok(Change::Flag {
                before: None,
                after: Some(Box::new(flag("old", true))),
            }),
        };
        let bytes = encode(&full).expect("encode");
        assert_eq!(from_stored(&engine, &bytes).expect("decode"), full);
    }
}
