//! A new environment as a copy of another (cluster level 6,
//! `Op::CreateEnvironmentFrom`): what a team does when it adds `qa` next
//! to a `staging` it already trusts.
//!
//! In one Raft entry and under one audit entry (`environment.create`, whose
//! `after` names the source and counts what was copied) it creates the
//! environment, then writes each segment and flag configuration of the
//! source as the next version of its record in the new environment, as a
//! restore does (`super::purge`). A copy is exactly what the source holds
//! when the entry applies, so it validates there as it did in the source;
//! a flag whose definition has no configuration in the source starts blank
//! and disabled, as in any new environment ([`fill_except`]).

use std::collections::BTreeSet;

use vexil_flags::scope::env_id;
use vexil_flags::{Environment, Flag, Segment};
use vexil_storage::StorageError;

use super::audit::{self, AuditDraft};
use super::env_config::{fill_except, put_config};
use super::versioned::{
    self, ENVIRONMENTS, Environments, Kind, Outcome, Segments, commit, last_version, not_found,
};
use super::{Ctx, raw};
use crate::command::Change;
use crate::records::target;

/// Creates `environment` holding a copy of environment `from` of its project.
pub(super) fn create_environment_from(
    ctx: &mut Ctx<'_>,
    environment: &Environment,
    from: &str,
) -> Outcome {
    let source = env_id(&environment.project, from);
    if ENVIRONMENTS.current(ctx.state, &source).is_none() {
        return Ok(Err(not_found::<Environments>(&source)));
    }
    let (flags, segments) = super::purge::held(ctx, &source);
    let was = ctx.quiet_audit;
    ctx.quiet_audit = true;
    let made = copy_quietly(ctx, environment, &flags, &segments);
    ctx.quiet_audit = was;
    let made = made?;
    if let Ok(Change::Environment { after: Some(e), .. }) = &made {
        let mut after =
            serde_json::to_value(e).map_err(|e| StorageError::Corrupt(e.to_string()))?;
        if let Some(o) = after.as_object_mut() {
            o.insert("copied_from".into(), from.into());
            o.insert("flags".into(), flags.len().into());
            o.insert("segments".into(), segments.len().into());
        }
        audit::record(
            ctx,
            AuditDraft {
                action: "environment.create".into(),
                target: target(Environments::NAME, &e.id()),
                version: Some(e.version),
                before: None,
                after: Some(raw(&after)?),
            },
        )?;
    }
    Ok(made)
}

fn copy_quietly(
    ctx: &mut Ctx<'_>,
    environment: &Environment,
    flags: &[Flag],
    segments: &[Segment],
) -> Outcome {
    let made = versioned::create(ctx, &ENVIRONMENTS, environment.clone())?;
    if made.is_err() {
        return Ok(made);
    }
    let id = environment.id();
    let kind = Segments { env: &id };
    for s in segments {
        let mut s = s.clone();
        let record = kind.id(&s);
        // A record of an environment deleted under the same name keeps its
        // history: the copy continues its numbering.
        let version = last_version::<Segments>(ctx, &record)? + 1;
        kind.stamp(&mut s, version, ctx.at, ctx.at, &ctx.cmd.actor);
        if let Err(r) = commit(ctx, &kind, &record, "create", None, Some(s), version)? {
            return Ok(Err(r));
        }
    }
    let mut done = BTreeSet::new();
    for f in flags {
        done.insert(f.key.clone());
        if let Err(r) = put_config(ctx, &id, f.clone(), "create")? {
            return Ok(Err(r));
        }
    }
    fill_except(ctx, &environment.project, &[id], &done)?;
    Ok(made)
}

#[cfg(test)]
mod tests {
    use vexil_storage::MemEngine;

    use super::super::env_config::tests::{flag, has, run};
    use super::*;
    use crate::command::{Op, Rejection, Response};
    use crate::query::{self, AuditQuery};
    use crate::state::{FeedConfig, Shared, State};

    fn ok(r: Response) {
        assert!(r.result.is_ok(), "{r:?}");
    }

    fn qa(from: &str) -> Op {
        Op::CreateEnvironmentFrom {
            environment: Environment {
                key: "qa".into(),
                project: "web".into(),
                name: "QA".into(),
                ..vexil_flags::scope::default_environments("web")[0].clone()
            },
            from: from.into(),
        }
    }

    /// A level-6 cluster with project `web`, flags `a` and `b`; in staging,
    /// segment `beta`, `a` on with a rule on it and `b` with a target.
    /// Returns staging's `a` and `b` as configured (next index: 8).
    fn web() -> (MemEngine, Shared, Flag, Flag) {
        let engine = MemEngine::new();
        let shared = Shared::new(State::default(), FeedConfig::default());
        ok(run(&engine, &shared, 1, Op::SetClusterLevel { level: 6 }));
        ok(run(
            &engine,
            &shared,
            2,
            Op::CreateProject {
                project: vexil_flags::Project {
                    key: "web".into(),
                    ..vexil_flags::scope::default_project()
                },
                environments: vexil_flags::scope::default_environments("web"),
            },
        ));
        for (i, key) in ["a", "b"].into_iter().enumerate() {
            let mut f = flag(key);
            f.enabled = false;
            ok(run(
                &engine,
                &shared,
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
            &engine,
            &shared,
            5,
            Op::CreateSegmentIn {
                project: "web".into(),
                environment: "staging".into(),
                segment,
            },
        ));
        let mut a = has(&shared, "web/staging", "a").expect("a");
        a.enabled = true;
        a.rules = serde_json::from_value(serde_json::json!([{"id": "r1",
            "clauses": [{"attribute": "key", "operator": "segment_match", "values": ["beta"]}],
            "serve": {"variation": 0}}]))
        .expect("rules");
        ok(run(
            &engine,
            &shared,
            6,
            Op::UpdateFlagIn {
                project: "web".into(),
                environment: "staging".into(),
                expected_version: a.version,
                flag: a.clone(),
            },
        ));
        let mut b = has(&shared, "web/staging", "b").expect("b");
        b.targets = serde_json::from_value(serde_json::json!([{"variation": 0, "values": ["u7"]}]))
            .expect("targets");
        ok(run(
            &engine,
            &shared,
            7,
            Op::UpdateFlagIn {
                project: "web".into(),
                environment: "staging".into(),
                expected_version: b.version,
                flag: b.clone(),
            },
        ));
        let a = has(&shared, "web/staging", "a").expect("a");
        let b = has(&shared, "web/staging", "b").expect("b");
        (engine, shared, a, b)
    }

    /// `qa` as a copy of staging.
    #[test]
    fn a_copy_holds_the_sources_segments_and_configurations() {
        let (engine, shared, a, b) = web();

        // A source that does not exist: refused, nothing made.
        let r = run(&engine, &shared, 8, qa("nope"));
        assert!(
            matches!(&r.result, Err(Rejection::NotFound { key, .. }) if key == "web/nope"),
            "{r:?}"
        );
        assert!(!shared.read().environments.contains_key("web/qa"));

        ok(run(&engine, &shared, 9, qa("staging")));
        let copy = has(&shared, "web/qa", "a").expect("a in qa");
        assert!(copy.enabled);
        assert_eq!(copy.rules, a.rules);
        assert_eq!(copy.version, 1, "the first version of the record in qa");
        let copied_b = has(&shared, "web/qa", "b").expect("b in qa");
        assert_eq!(copied_b.targets, b.targets, "copied, not made blank");
        let st = shared.read();
        let seg = st.set("web/qa").and_then(|s| s.get_segment("beta"));
        assert_eq!(
            seg.map(|s| s.segment().included.clone()),
            Some(vec!["u1".to_owned()])
        );
        drop(st);
        // The source is untouched.
        assert_eq!(has(&shared, "web/staging", "a").expect("a"), a);

        // One audit entry, naming the source and counting the copy.
        let audit = query::audit(
            &engine,
            &AuditQuery {
                limit: 10,
                ..AuditQuery::default()
            },
        )
        .expect("audit");
        let made: Vec<_> = audit.items.iter().filter(|e| e.id == 9).collect();
        assert_eq!(made.len(), 1, "{made:?}");
        assert_eq!(made[0].action, "environment.create");
        assert_eq!(made[0].target, "environment:web/qa");
        let after = made[0].after.as_ref().expect("after");
        assert_eq!(after["copied_from"], "staging");
        assert_eq!(after["flags"], 2);
        assert_eq!(after["segments"], 1);

        // A second copy under the same key is refused whole.
        let r = run(&engine, &shared, 10, qa("staging"));
        assert!(
            matches!(r.result, Err(Rejection::AlreadyExists { .. })),
            "{r:?}"
        );
        assert_eq!(qa("staging").min_level(), crate::version::ENV_COPY);
    }

    /// `web` deleted with all it holds, then restored: the project with its
    /// definitions, then staging with what it held.
    #[test]
    fn a_purged_project_comes_back_with_its_definitions_then_its_environments() {
        let (engine, shared, a, b) = web();
        let purge = |key: &str| Op::PurgeProject {
            key: key.into(),
            expected_version: None,
        };
        assert_eq!(purge("web").min_level(), crate::version::ENV_COPY);
        // (`default` is refused: t29_a_project_with_flags_goes_only_when_confirmed.)
        ok(run(&engine, &shared, 9, purge("web")));
        {
            let st = shared.read();
            assert!(!st.projects.contains_key("web"));
            assert!(!st.definitions.contains_key("web/a"));
            assert!(!st.environments.contains_key("web/staging"));
            assert!(st.set("web/staging").is_none());
        }
        let audit = query::audit(
            &engine,
            &AuditQuery {
                limit: 10,
                ..AuditQuery::default()
            },
        )
        .expect("audit");
        let gone: Vec<_> = audit.items.iter().filter(|e| e.id == 9).collect();
        assert_eq!(gone.len(), 1, "one audit entry: {gone:?}");
        assert_eq!(gone[0].action, "project.delete");
        let before = gone[0].before.as_ref().expect("before");
        assert_eq!(before["flags"], 2);
        assert_eq!(before["segments"], 1);

        ok(run(
            &engine,
            &shared,
            10,
            Op::RollbackProject {
                key: "web".into(),
                version: 1,
            },
        ));
        {
            let st = shared.read();
            assert!(st.definitions.contains_key("web/a"));
            assert!(st.definitions.contains_key("web/b"));
            assert!(!st.environments.contains_key("web/staging"), "one by one");
        }
        ok(run(
            &engine,
            &shared,
            11,
            Op::RollbackEnvironment {
                project: "web".into(),
                key: "staging".into(),
                version: 1,
            },
        ));
        let back = has(&shared, "web/staging", "a").expect("a restored");
        assert_eq!((back.enabled, &back.rules), (a.enabled, &a.rules));
        assert_eq!(
            has(&shared, "web/staging", "b").expect("b").targets,
            b.targets
        );
        assert!(
            shared
                .read()
                .set("web/staging")
                .and_then(|s| s.get_segment("beta"))
                .is_some()
        );
    }
}
