//! Promotion (cluster level 5): copying the configuration of several flags
//! from one environment to another in one entry, and rolling it back in
//! one entry. What is copied and what refuses it is
//! `vexil_flags::promote`, which the dry run uses too.
//!
//! A promotion is all or nothing: every check is made before anything is
//! written, and a rejection discards the batch. It writes one audit entry
//! for itself (`promotion.apply`, position `id`) and one per flag it
//! changes (`flag.promote`, positions `id.1`, `id.2`, …), each linked by
//! the promotion's id, which is the log index of its entry. Its record
//! (`keys::promotion`) says what each target configuration's version was
//! before and after, so that its rollback can restore them.

use vexil_flags::Flag;
use vexil_flags::promote::{self, Selection};
use vexil_storage::{Cf, StorageError};

use super::audit::{self, AuditDraft};
use super::env_config::{environment, put_config};
use super::versioned::{Flags, Kind, Outcome, invalid, set_of};
use super::{Ctx, decode, encode, raw};
use crate::command::{Change, PromoteFlag, Rejection};
use crate::keys;
use crate::records::{PromotedFlag, Promotion, VersionEntry, target};

fn refuse(field: &str, code: &str, message: String) -> Rejection {
    Rejection::Invalid {
        kind: "promotion".into(),
        errors: vec![vexil_flags::FieldError::new(field, code, message)],
    }
}

/// Writes the audit entry of one flag of a promotion or its rollback.
fn audit_flag(
    ctx: &mut Ctx<'_>,
    action: &str,
    env: &str,
    seq: u32,
    id: u64,
    before: &Flag,
    after: &Flag,
) -> Result<(), StorageError> {
    audit::record_at(
        ctx,
        AuditDraft {
            action: action.into(),
            target: target("flag", &keys::in_env(env, &after.key)),
            version: Some(after.version),
            before: Some(raw(before)?),
            after: Some(raw(after)?),
        },
        seq,
        Some(id),
    )
}

fn audit_promotion(
    ctx: &mut Ctx<'_>,
    action: &str,
    record: &Promotion,
) -> Result<(), StorageError> {
    audit::record_at(
        ctx,
        AuditDraft {
            action: action.into(),
            target: target("promotion", &record.id.to_string()),
            version: None,
            before: None,
            after: Some(raw(record)?),
        },
        0,
        Some(record.id),
    )
}

pub(super) fn promote(
    ctx: &mut Ctx<'_>,
    project: &str,
    from: &str,
    to: &str,
    flags: &[PromoteFlag],
) -> Outcome {
    let (from_id, to_id) = match (
        environment(ctx, project, from),
        environment(ctx, project, to),
    ) {
        (Ok(f), Ok(t)) => (f, t),
        (Err(r), _) | (_, Err(r)) => return Ok(Err(r)),
    };
    if from_id == to_id {
        return Ok(Err(refuse(
            "to",
            "same_environment",
            "promote to a different environment".into(),
        )));
    }
    if flags.is_empty() || flags.len() > promote::MAX_FLAGS {
        return Ok(Err(refuse(
            "flags",
            "count",
            format!("name 1 to {} flags", promote::MAX_FLAGS),
        )));
    }
    let keys: Vec<String> = flags.iter().map(|f| f.key.clone()).collect();
    let (from_set, to_set) = (set_of(ctx.state, &from_id), set_of(ctx.state, &to_id));
    match promote::select(from_set, to_set, &Selection::Keys(keys.clone())) {
        Ok(selected) if selected.len() == keys.len() => {}
        Ok(_) => {
            return Ok(Err(refuse(
                "flags",
                "duplicate",
                "a flag is named twice".into(),
            )));
        }
        Err(e) => {
            let (env, keys) = match e {
                promote::SelectionError::NotInSource(k) => (&from_id, k),
                promote::SelectionError::NotInTarget(k) => (&to_id, k),
            };
            return Ok(Err(Rejection::NotFound {
                kind: "flag".into(),
                key: keys::in_env(env, &keys[0]),
            }));
        }
    }
    for f in flags {
        for (set, env, expected) in [
            (from_set, &from_id, f.source_version),
            (to_set, &to_id, f.expected_version),
        ] {
            let actual = set.get_flag(&f.key).map_or(0, |c| c.flag().version);
            if actual != expected {
                return Ok(Err(Rejection::Conflict {
                    kind: "flag".into(),
                    key: keys::in_env(env, &f.key),
                    expected,
                    actual,
                }));
            }
        }
    }
    let plan = promote::plan(from_set, to_set, &keys);
    if !plan.missing_segments.is_empty() {
        return Ok(Err(Rejection::Invalid {
            kind: "promotion".into(),
            errors: promote::missing_segment_errors(&plan.missing_segments, to),
        }));
    }
    // (source, target before, target after) of each flag that changes.
    let mut changes: Vec<(Flag, Flag, Flag)> = Vec::with_capacity(plan.flags.len());
    for p in &plan.flags {
        let (Some(source), Some(target)) = (from_set.get_flag(&p.key), to_set.get_flag(&p.key))
        else {
            continue;
        };
        let (source, target) = (Flag::clone(source.flag()), Flag::clone(target.flag()));
        let after = promote::promoted(&source, &target);
        changes.push((source, target, after));
    }
    let afters: Vec<Flag> = changes.iter().map(|c| c.2.clone()).collect();
    let errors = promote::check(to_set, &afters);
    if !errors.is_empty() {
        return Ok(Err(invalid::<Flags>(errors)));
    }
    if changes.is_empty() {
        return Ok(Err(refuse(
            "flags",
            "nothing_to_promote",
            "every flag named is configured alike in both environments".into(),
        )));
    }
    let id = ctx.index;
    let mut promoted = Vec::with_capacity(changes.len());
    for (seq, (source, before, after)) in changes.into_iter().enumerate() {
        let written = match put_config(ctx, &to_id, after, "promote")? {
            Ok(f) => f,
            Err(r) => return Ok(Err(r)),
        };
        let seq = u32::try_from(seq + 1).unwrap_or(u32::MAX);
        audit_flag(ctx, "flag.promote", &to_id, seq, id, &before, &written)?;
        promoted.push(PromotedFlag {
            key: written.key.clone(),
            from_version: source.version,
            before: before.version,
            after: written.version,
        });
    }
    let record = Promotion {
        id,
        project: project.to_owned(),
        from: from.to_owned(),
        to: to.to_owned(),
        at: ctx.at,
        actor: ctx.cmd.actor.clone(),
        flags: promoted,
        rolled_back_by: None,
    };
    ctx.batch
        .put(Cf::Meta, keys::promotion(id), encode(&record)?);
    audit_promotion(ctx, "promotion.apply", &record)?;
    Ok(Ok(Change::Promotion {
        promotion: Box::new(record),
    }))
}

pub(super) fn rollback(ctx: &mut Ctx<'_>, project: &str, id: u64) -> Outcome {
    let not_found = || Rejection::NotFound {
        kind: "promotion".into(),
        key: format!("{project}/{id}"),
    };
    let Some(mut record) = crate::query::promotion(ctx.engine, id)? else {
        return Ok(Err(not_found()));
    };
    if record.project != project {
        return Ok(Err(not_found()));
    }
    if let Some(by) = record.rolled_back_by {
        return Ok(Err(refuse(
            "id",
            "rolled_back",
            format!("promotion {id} was rolled back already, at {by}"),
        )));
    }
    let to_id = match environment(ctx, project, &record.to) {
        Ok(e) => e,
        Err(r) => return Ok(Err(r)),
    };
    let kind = Flags {
        env: &to_id,
        keep_definition: true,
    };
    // Every flag must still be as the promotion left it.
    let mut restores: Vec<(Flag, Flag)> = Vec::with_capacity(record.flags.len());
    for f in &record.flags {
        let rid = keys::in_env(&to_id, &f.key);
        let Some(current) = kind.current(ctx.state, &rid) else {
            return Ok(Err(Rejection::NotFound {
                kind: "flag".into(),
                key: rid,
            }));
        };
        if current.version != f.after {
            return Ok(Err(Rejection::Conflict {
                kind: "flag".into(),
                key: rid,
                expected: f.after,
                actual: current.version,
            }));
        }
        let Some(raw_entry) = ctx.engine.get(
            Cf::History,
            &keys::scoped_u64(keys::HISTORY_FLAG, &rid, f.before),
        )?
        else {
            return Ok(Err(Rejection::VersionNotFound {
                kind: "flag".into(),
                key: rid,
                version: f.before,
            }));
        };
        let entry: VersionEntry = decode(&raw_entry)?;
        let Some(state) = entry.state else {
            return Ok(Err(Rejection::VersionNotFound {
                kind: "flag".into(),
                key: rid,
                version: f.before,
            }));
        };
        let old: Flag =
            serde_json::from_value(state).map_err(|e| StorageError::Corrupt(e.to_string()))?;
        // The definition may have changed since: keep today's.
        let restored = promote::promoted(&old, &current);
        restores.push((current, restored));
    }
    let afters: Vec<Flag> = restores.iter().map(|r| r.1.clone()).collect();
    let errors = promote::check(set_of(ctx.state, &to_id), &afters);
    if !errors.is_empty() {
        return Ok(Err(invalid::<Flags>(errors)));
    }
    for (seq, (before, after)) in restores.into_iter().enumerate() {
        let written = match put_config(ctx, &to_id, after, "rollback")? {
            Ok(f) => f,
            Err(r) => return Ok(Err(r)),
        };
        let seq = u32::try_from(seq + 1).unwrap_or(u32::MAX);
        audit_flag(ctx, "flag.rollback", &to_id, seq, id, &before, &written)?;
    }
    record.rolled_back_by = Some(ctx.index);
    ctx.batch
        .put(Cf::Meta, keys::promotion(id), encode(&record)?);
    audit_promotion(ctx, "promotion.rollback", &record)?;
    Ok(Ok(Change::Promotion {
        promotion: Box::new(record),
    }))
}

#[cfg(test)]
mod tests {
    use vexil_flags::Segment;
    use vexil_storage::MemEngine;

    use super::super::env_config::tests::{flag, has, run};
    use super::*;
    use crate::command::{Op, Response};
    use crate::query::{self, AuditQuery};
    use crate::state::{FeedConfig, Shared, State};

    /// A level-5 cluster with project `web` (development, staging,
    /// production), flags `a`, `b` and `c` in it, and segment `beta` in
    /// staging; `a` and `b` are configured in staging. Returns the next
    /// log index.
    fn web(engine: &MemEngine, shared: &Shared) -> u64 {
        let ok = |r: Response| assert!(r.result.is_ok(), "{r:?}");
        ok(run(engine, shared, 1, Op::SetClusterLevel { level: 5 }));
        let project = vexil_flags::Project {
            key: "web".into(),
            ..vexil_flags::scope::default_project()
        };
        ok(run(
            engine,
            shared,
            2,
            Op::CreateProject {
                environments: vexil_flags::scope::default_environments("web"),
                project,
            },
        ));
        for (i, key) in ["a", "b", "c"].into_iter().enumerate() {
            let mut f = flag(key);
            f.enabled = false;
            ok(run(
                engine,
                shared,
                3 + i as u64,
                Op::CreateProjectFlag {
                    project: "web".into(),
                    flag: f,
                },
            ));
        }
        let segment: Segment =
            serde_json::from_value(serde_json::json!({"key": "beta", "included": ["u1"]}))
                .expect("segment");
        ok(run(
            engine,
            shared,
            6,
            Op::CreateSegmentIn {
                project: "web".into(),
                environment: "staging".into(),
                segment,
            },
        ));
        let mut a = has(shared, "web/staging", "a").expect("a");
        a.enabled = true;
        a.rules = serde_json::from_value(serde_json::json!([{"id": "r1",
            "clauses": [{"attribute": "key", "operator": "segment_match", "values": ["beta"]}],
            "serve": {"variation": 0}}]))
        .expect("rules");
        ok(run(engine, shared, 7, update("a", a)));
        let mut b = has(shared, "web/staging", "b").expect("b");
        b.enabled = true;
        ok(run(engine, shared, 8, update("b", b)));
        9
    }

    fn update(key: &str, flag: Flag) -> Op {
        assert_eq!(flag.key, key);
        Op::UpdateFlagIn {
            project: "web".into(),
            environment: "staging".into(),
            expected_version: flag.version,
            flag,
        }
    }

    fn promote(keys: &[(&str, u64)]) -> Op {
        Op::Promote {
            project: "web".into(),
            from: "staging".into(),
            to: "production".into(),
            flags: keys
                .iter()
                .map(|(key, v)| PromoteFlag {
                    key: (*key).into(),
                    expected_version: *v,
                    source_version: if *key == "c" { 1 } else { 2 },
                })
                .collect(),
        }
    }

    fn production(shared: &Shared) -> Vec<(String, bool, u64)> {
        ["a", "b", "c"]
            .into_iter()
            .map(|k| {
                let f = has(shared, "web/production", k).expect("flag");
                (k.to_owned(), f.enabled, f.version)
            })
            .collect()
    }

    #[test]
    fn a_promotion_is_refused_whole_and_names_what_stops_it() {
        let engine = MemEngine::new();
        let shared = Shared::new(State::default(), FeedConfig::default());
        let next = web(&engine, &shared);
        let before = production(&shared);
        // `a` matches on `beta`, which production lacks.
        let r = run(&engine, &shared, next, promote(&[("a", 1), ("b", 1)]));
        match r.result {
            Err(Rejection::Invalid { errors, .. }) => {
                assert_eq!(errors.len(), 1, "{errors:?}");
                assert_eq!(errors[0].field, "flags.a.rules");
                assert_eq!(errors[0].code, "missing_segment");
                assert!(errors[0].message.contains("\"beta\""), "{errors:?}");
            }
            other => panic!("expected the missing segment, got {other:?}"),
        }
        // `b`'s target moved past the expected version.
        let r = run(&engine, &shared, next + 1, promote(&[("b", 1), ("c", 0)]));
        assert!(
            matches!(&r.result, Err(Rejection::Conflict { key, actual: 1, .. }) if key == "web/production/c"),
            "{r:?}"
        );
        // `b`'s source moved since the dry run.
        let mut moved = promote(&[("b", 1)]);
        if let Op::Promote { flags, .. } = &mut moved {
            flags[0].source_version = 1;
        }
        let r = run(&engine, &shared, next + 2, moved);
        assert!(
            matches!(&r.result, Err(Rejection::Conflict { key, actual: 2, .. }) if key == "web/staging/b"),
            "{r:?}"
        );
        // Nothing differs: refused rather than recorded empty.
        let r = run(&engine, &shared, next + 3, promote(&[("c", 1)]));
        assert!(matches!(&r.result, Err(Rejection::Invalid { .. })), "{r:?}");
        assert_eq!(production(&shared), before, "nothing was written");
        let audit = query::audit(
            &engine,
            &AuditQuery {
                limit: 100,
                ..AuditQuery::default()
            },
        )
        .expect("audit");
        assert!(
            audit.items.iter().all(|e| e.promotion.is_none()),
            "a refused promotion writes no audit entry"
        );
    }

    #[test]
    fn a_promotion_is_one_entry_audited_per_flag_and_rolled_back_whole() {
        let engine = MemEngine::new();
        let shared = Shared::new(State::default(), FeedConfig::default());
        let mut next = web(&engine, &shared);
        let production_beta: Segment =
            serde_json::from_value(serde_json::json!({"key": "beta", "included": ["u9"]}))
                .expect("segment");
        let r = run(
            &engine,
            &shared,
            next,
            Op::CreateSegmentIn {
                project: "web".into(),
                environment: "production".into(),
                segment: production_beta,
            },
        );
        assert!(r.result.is_ok(), "{r:?}");
        next += 1;
        let before = production(&shared);
        let at = next;
        let r = run(
            &engine,
            &shared,
            at,
            promote(&[("a", 1), ("b", 1), ("c", 1)]),
        );
        let Ok(Change::Promotion { promotion }) = r.result else {
            panic!("{r:?}");
        };
        assert_eq!(promotion.id, at);
        let keys: Vec<&str> = promotion.flags.iter().map(|f| f.key.as_str()).collect();
        assert_eq!(keys, ["a", "b"], "c is configured alike: not written");
        let staging_a = has(&shared, "web/staging", "a").expect("a");
        let prod_a = has(&shared, "web/production", "a").expect("a");
        assert!(vexil_flags::definition::config_differences(&staging_a, &prod_a).is_empty());
        assert_eq!(prod_a.version, 2);
        assert!(has(&shared, "web/production", "b").expect("b").enabled);
        // One audit entry for the promotion and one per flag, linked.
        let linked = query::audit(
            &engine,
            &AuditQuery {
                promotion: Some(at),
                limit: 100,
                ..AuditQuery::default()
            },
        )
        .expect("audit");
        let shown: Vec<(String, u32, &str, &str)> = linked
            .items
            .iter()
            .map(|e| {
                (
                    e.pos().cursor(),
                    e.seq,
                    e.action.as_str(),
                    e.target.as_str(),
                )
            })
            .collect();
        assert_eq!(
            shown,
            vec![
                (
                    format!("{at}.2"),
                    2,
                    "flag.promote",
                    "flag:web/production/b"
                ),
                (
                    format!("{at}.1"),
                    1,
                    "flag.promote",
                    "flag:web/production/a"
                ),
                (
                    format!("{at}"),
                    0,
                    "promotion.apply",
                    &*format!("promotion:{at}")
                ),
            ]
        );
        // A page of one walks the three by cursor.
        let mut cursor = None;
        let mut walked = Vec::new();
        loop {
            let page = query::audit(
                &engine,
                &AuditQuery {
                    limit: 1,
                    before: cursor,
                    ..AuditQuery::default()
                },
            )
            .expect("page");
            walked.extend(page.items.iter().map(|e| e.pos()));
            match page.next_cursor {
                Some(c) if walked.len() < 3 => cursor = keys::AuditPos::parse(&c),
                _ => break,
            }
        }
        let expected: Vec<keys::AuditPos> = [2, 1, 0]
            .into_iter()
            .map(|seq| keys::AuditPos { id: at, seq })
            .collect();
        assert_eq!(walked, expected);
        let by_target = query::audit(
            &engine,
            &AuditQuery {
                target: Some("flag:web/production/a".into()),
                limit: 100,
                ..AuditQuery::default()
            },
        )
        .expect("audit");
        assert_eq!(by_target.items[0].promotion, Some(at));
        // Rolled back as a whole: both flags get what they had.
        let r = run(
            &engine,
            &shared,
            at + 1,
            Op::RollbackPromotion {
                project: "web".into(),
                id: at,
            },
        );
        assert!(r.result.is_ok(), "{r:?}");
        let now = production(&shared);
        for (was, is) in before.iter().zip(&now) {
            assert_eq!(was.1, is.1, "{} is enabled as before", is.0);
        }
        assert_eq!(now[0].2, 3, "a rollback is a new version");
        assert_eq!(now[2].2, 1, "c was not touched");
        let record = query::promotion(&engine, at)
            .expect("read")
            .expect("record");
        assert_eq!(record.rolled_back_by, Some(at + 1));
        let again = run(
            &engine,
            &shared,
            at + 2,
            Op::RollbackPromotion {
                project: "web".into(),
                id: at,
            },
        );
        assert!(
            matches!(again.result, Err(Rejection::Invalid { .. })),
            "{again:?}"
        );
        let linked = query::audit(
            &engine,
            &AuditQuery {
                promotion: Some(at),
                limit: 100,
                ..AuditQuery::default()
            },
        )
        .expect("audit");
        assert_eq!(
            linked.items.len(),
            6,
            "three for the apply, three for the rollback"
        );
        assert_eq!(linked.items[0].action, "flag.rollback");
    }

    #[test]
    fn a_rollback_is_refused_when_a_flag_changed_since() {
        let engine = MemEngine::new();
        let shared = Shared::new(State::default(), FeedConfig::default());
        let at = web(&engine, &shared);
        let r = run(&engine, &shared, at, promote(&[("b", 1)]));
        assert!(r.result.is_ok(), "{r:?}");
        let r = run(
            &engine,
            &shared,
            at + 1,
            Op::ToggleFlagIn {
                project: "web".into(),
                environment: "production".into(),
                key: "b".into(),
                enabled: false,
            },
        );
        assert!(r.result.is_ok(), "{r:?}");
        let r = run(
            &engine,
            &shared,
            at + 2,
            Op::RollbackPromotion {
                project: "web".into(),
                id: at,
            },
        );
        assert!(
            matches!(&r.result, Err(Rejection::Conflict { key, expected: 2, actual: 3, .. }) if key == "web/production/b"),
            "{r:?}"
        );
        assert_eq!(
            Op::RollbackPromotion {
                project: "web".into(),
                id: at
            }
            .min_level(),
            crate::version::PROMOTION
        );
    }
}
