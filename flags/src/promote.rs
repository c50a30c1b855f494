//! Promotion: copying the configuration of some of a project's flags from
//! one environment to another. The plan is what a dry run shows and what
//! the state machine checks again when it applies the promotion as one
//! entry (`vexil_raft`'s `Op::Promote`), so both refuse the same things.
//!
//! Only configurations move (enabled, off variation, targets, rules,
//! fallthrough, prerequisites): the definition is the project's, the same
//! in both environments. A flag configured alike in both is left out, so
//! an apply writes only what changes. Segments are not copied: one that a
//! promoted rule matches on must already exist in the target, or the
//! promotion is refused with every such segment named.

use serde::{Deserialize, Serialize};

use crate::definition::config_differences;
use crate::model::Flag;
use crate::set::{FlagSet, segments_used_by};
use crate::validate::FieldError;

/// Which flags a promotion takes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Selection {
    /// Every flag of the source environment.
    All,
    /// These keys.
    Keys(Vec<String>),
    /// The flags with this tag.
    Tag(String),
}

/// One flag a promotion changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PlannedFlag {
    pub key: String,
    /// The configuration fields that change (see `config_differences`).
    pub fields: Vec<String>,
    /// Each of those fields as the target has it now and as it would be
    /// (filled by [`describe`] for the dry run; empty where the state
    /// machine plans).
    pub changes: Vec<FieldChange>,
    /// The source configuration's version, copied.
    pub from_version: u64,
    /// The target configuration's version now: the apply expects it.
    pub to_version: u64,
}

/// One field of a promoted configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FieldChange {
    pub field: String,
    /// The target's value now.
    pub before: serde_json::Value,
    /// The value promoted onto it (the source's).
    pub after: serde_json::Value,
}

/// A segment a promoted flag's rules match on that the target lacks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MissingSegment {
    pub flag: String,
    pub segment: String,
}

/// What a promotion would do.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Plan {
    /// The flags that change, by key.
    pub flags: Vec<PlannedFlag>,
    /// Selected flags already configured alike in both environments.
    pub unchanged: Vec<String>,
    /// Why it cannot be applied, if anything: segments the target lacks.
    pub missing_segments: Vec<MissingSegment>,
}

/// Why a selection names nothing that can be promoted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectionError {
    /// Keys the source environment does not hold.
    #[error("no flag {} in the source environment", .0.join(", "))]
    NotInSource(Vec<String>),
    /// Keys the target environment does not hold.
    #[error("no flag {} in the target environment", .0.join(", "))]
    NotInTarget(Vec<String>),
}

/// The most flags one promotion may name: one Raft entry writes a version,
/// a history record and an audit entry for each.
pub const MAX_FLAGS: usize = 10_000;

/// The configuration `target` gets when `source`'s is promoted onto it:
/// `source`'s configuration fields with `target`'s definition and record
/// fields (version and times are stamped when it is written).
pub fn promoted(source: &Flag, target: &Flag) -> Flag {
    let mut out = target.clone();
    out.enabled = source.enabled;
    out.off_variation = source.off_variation;
    out.targets.clone_from(&source.targets);
    out.rules.clone_from(&source.rules);
    out.fallthrough = source.fallthrough.clone();
    out.prerequisites.clone_from(&source.prerequisites);
    out
}

/// Fills each planned flag's `changes` (its fields' values before and
/// after) for a person to read: the dry run's answer. The state machine
/// applies a plan without them, so this JSON work stays off the apply path.
pub fn describe(plan: &mut Plan, from: &FlagSet, to: &FlagSet) {
    for p in &mut plan.flags {
        let (Some(source), Some(target)) = (from.get_flag(&p.key), to.get_flag(&p.key)) else {
            continue;
        };
        let (now, then) = (
            serde_json::to_value(target.flag()).unwrap_or_default(),
            serde_json::to_value(source.flag()).unwrap_or_default(),
        );
        p.changes = p
            .fields
            .iter()
            .map(|f| FieldChange {
                field: f.clone(),
                before: now.get(f).cloned().unwrap_or_default(),
                after: then.get(f).cloned().unwrap_or_default(),
            })
            .collect();
    }
}

/// The keys `selection` takes from `from`, sorted and without repeats.
pub fn select(
    from: &FlagSet,
    to: &FlagSet,
    selection: &Selection,
) -> Result<Vec<String>, SelectionError> {
    let mut keys: Vec<String> = match selection {
        Selection::All => from.flags().map(|f| f.key().to_owned()).collect(),
        Selection::Tag(tag) => from
            .flags()
            .filter(|f| f.flag().tags.contains(tag))
            .map(|f| f.key().to_owned())
            .collect(),
        Selection::Keys(keys) => keys.clone(),
    };
    keys.sort_unstable();
    keys.dedup();
    let lacking = |set: &FlagSet| -> Vec<String> {
        keys.iter()
            .filter(|k| set.get_flag(k).is_none())
            .cloned()
            .collect()
    };
    let missing = lacking(from);
    if !missing.is_empty() {
        return Err(SelectionError::NotInSource(missing));
    }
    let missing = lacking(to);
    if !missing.is_empty() {
        return Err(SelectionError::NotInTarget(missing));
    }
    Ok(keys)
}

/// What promoting `keys` (each held by both sets) from `from` to `to`
/// would do.
pub fn plan(from: &FlagSet, to: &FlagSet, keys: &[String]) -> Plan {
    let mut out = Plan::default();
    for key in keys {
        let (Some(source), Some(target)) = (from.get_flag(key), to.get_flag(key)) else {
            continue;
        };
        let (source, target) = (source.flag(), target.flag());
        let fields = config_differences(source, target);
        if fields.is_empty() {
            out.unchanged.push(key.clone());
            continue;
        }
        for segment in segments_used_by(source) {
            if to.get_segment(segment).is_none() {
                out.missing_segments.push(MissingSegment {
                    flag: key.clone(),
                    segment: segment.to_owned(),
                });
            }
        }
        out.flags.push(PlannedFlag {
            key: key.clone(),
            fields: fields.into_iter().map(String::from).collect(),
            changes: Vec::new(),
            from_version: source.version,
            to_version: target.version,
        });
    }
    out
}

/// Why the target would refuse `promoted` (the new configurations, all of
/// them at once, so that two promoted flags requiring each other are seen
/// as a cycle): each error's field is `flags.<key>.<field>`.
pub fn check(to: &FlagSet, promoted: &[Flag]) -> Vec<FieldError> {
    let mut after = to.clone();
    for flag in promoted {
        after.upsert_flag(flag.clone());
    }
    let mut errors = Vec::new();
    for flag in promoted {
        for mut e in crate::validate::validate_flag(flag, &after) {
            e.field = format!("flags.{}.{}", flag.key, e.field);
            errors.push(e);
        }
    }
    errors
}

/// The errors that say which segments a target lacks.
pub fn missing_segment_errors(missing: &[MissingSegment], to: &str) -> Vec<FieldError> {
    missing
        .iter()
        .map(|m| {
            FieldError::new(
                format!("flags.{}.rules", m.flag),
                "missing_segment",
                format!(
                    "flag {:?} matches on segment {:?}, which environment {to:?} does not have: \
                     create it there first",
                    m.flag, m.segment
                ),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Segment;

    fn flag(key: &str, enabled: bool, tags: &[&str], segment: Option<&str>) -> Flag {
        let rules = match segment {
            Some(s) => serde_json::json!([{"id": "r1", "clauses": [
                {"attribute": "key", "operator": "segment_match", "values": [s]}
            ], "serve": {"variation": 0}}]),
            None => serde_json::json!([]),
        };
        serde_json::from_value(serde_json::json!({
            "key": key, "kind": "boolean", "tags": tags,
            "variations": [{"value": true}, {"value": false}],
            "off_variation": 1, "fallthrough": {"variation": 0}, "enabled": enabled,
            "rules": rules, "version": 3,
        }))
        .expect("flag")
    }

    fn segment(key: &str) -> Segment {
        serde_json::from_value(serde_json::json!({"key": key})).expect("segment")
    }

    #[test]
    fn a_plan_lists_what_changes_and_the_segments_the_target_lacks() {
        let from = FlagSet::from_parts(
            vec![
                flag("a", true, &["web"], None),
                flag("b", false, &["web"], None),
                flag("c", true, &[], Some("beta")),
                flag("d", true, &["web"], Some("staff")),
            ],
            vec![segment("beta"), segment("staff")],
        );
        let to = FlagSet::from_parts(
            vec![
                flag("a", false, &["web"], None),
                flag("b", false, &["web"], None),
                flag("c", false, &[], None),
                flag("d", false, &["web"], None),
            ],
            vec![segment("staff")],
        );
        let all = select(&from, &to, &Selection::All).expect("all");
        assert_eq!(all, ["a", "b", "c", "d"]);
        let mut p = plan(&from, &to, &all);
        assert!(
            p.flags[0].changes.is_empty(),
            "the apply path's plan has no values"
        );
        describe(&mut p, &from, &to);
        let changed: Vec<(&str, Vec<&str>)> = p
            .flags
            .iter()
            .map(|f| {
                (
                    f.key.as_str(),
                    f.fields.iter().map(String::as_str).collect(),
                )
            })
            .collect();
        assert_eq!(
            changed,
            vec![
                ("a", vec!["enabled"]),
                ("c", vec!["enabled", "rules"]),
                ("d", vec!["enabled", "rules"]),
            ]
        );
        assert_eq!(p.unchanged, ["b"]);
        assert_eq!(p.flags[0].changes[0].field, "enabled");
        assert_eq!(p.flags[0].changes[0].before, serde_json::json!(false));
        assert_eq!(p.flags[0].changes[0].after, serde_json::json!(true));
        assert_eq!(
            p.missing_segments,
            vec![MissingSegment {
                flag: "c".into(),
                segment: "beta".into()
            }]
        );
        let tagged = select(&from, &to, &Selection::Tag("web".into())).expect("tag");
        assert_eq!(tagged, ["a", "b", "d"]);
        assert!(plan(&from, &to, &tagged).missing_segments.is_empty());
    }

    #[test]
    fn a_selection_names_the_keys_an_environment_lacks() {
        let from = FlagSet::from_parts(vec![flag("a", true, &[], None)], vec![]);
        let to = FlagSet::from_parts(vec![], vec![]);
        assert_eq!(
            select(&from, &to, &Selection::Keys(vec!["a".into(), "zz".into()])),
            Err(SelectionError::NotInSource(vec!["zz".into()]))
        );
        assert_eq!(
            select(&from, &to, &Selection::Keys(vec!["a".into()])),
            Err(SelectionError::NotInTarget(vec!["a".into()]))
        );
    }

    #[test]
    fn a_promoted_configuration_keeps_the_targets_definition_and_version() {
        let mut source = flag("a", true, &[], Some("beta"));
        source.version = 9;
        source.off_variation = 0;
        let mut target = flag("a", false, &["kept"], None);
        target.version = 2;
        let out = promoted(&source, &target);
        assert!(out.enabled);
        assert_eq!(out.off_variation, 0);
        assert_eq!(out.rules, source.rules);
        assert_eq!(out.tags, ["kept"]);
        assert_eq!(out.version, 2);
        assert!(config_differences(&out, &source).is_empty());
    }

    #[test]
    fn promoting_two_flags_that_would_require_each_other_is_refused() {
        let mut x = flag("x", true, &[], None);
        let mut y = flag("y", true, &[], None);
        let to = FlagSet::from_parts(vec![x.clone(), y.clone()], vec![]);
        assert!(check(&to, &[x.clone()]).is_empty());
        x.prerequisites =
            serde_json::from_value(serde_json::json!([{"flag": "y", "variation": 0}]))
                .expect("prerequisite");
        y.prerequisites =
            serde_json::from_value(serde_json::json!([{"flag": "x", "variation": 0}]))
                .expect("prerequisite");
        let errors = check(&to, &[x, y]);
        assert!(!errors.is_empty());
        assert!(errors[0].field.starts_with("flags.x."), "{errors:?}");
    }
}
