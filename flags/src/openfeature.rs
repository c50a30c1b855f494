//! How a Vexil evaluation reads in OpenFeature terms: the resolution reason,
//! the error code, the variant, the flag metadata, and when a flag needs a
//! targeting key. The OFREP endpoints (`vexil-node`) and the Rust OpenFeature
//! provider (`vexil-sdk`) both answer through this module, so the mapping is
//! written down, and implemented, in one place.
//!
//! | Vexil reason | when | OpenFeature |
//! |---|---|---|
//! | `OFF` | the flag is disabled | `DISABLED`, with the off variation's value and variant |
//! | `TARGET_MATCH` | the context key is listed in a target | `TARGETING_MATCH` |
//! | `RULE_MATCH` | the rule serves one variation | `TARGETING_MATCH` |
//! | `RULE_MATCH` | the rule serves a percentage rollout | `SPLIT` |
//! | `FALLTHROUGH` | a percentage rollout | `SPLIT` |
//! | `FALLTHROUGH` | one variation, and the flag has no targets, rules or prerequisites | `STATIC` |
//! | `FALLTHROUGH` | one variation, after targeting that did not match | `DEFAULT` |
//! | `PREREQUISITE_FAILED` | the off variation is served | `DEFAULT` |
//! | `ERROR` / `FLAG_NOT_FOUND` | | error `FLAG_NOT_FOUND` |
//! | `ERROR` / `MALFORMED_FLAG` | the flag cannot be evaluated | error `PARSE_ERROR` |
//! | `ERROR` / `WRONG_TYPE` | the SDK asked for another type | error `TYPE_MISMATCH` |
//! | `ERROR` / `CLIENT_NOT_READY` | the SDK has no state yet | error `PROVIDER_NOT_READY` |
//! | `ERROR` / `GENERAL` | | error `GENERAL` |
//!
//! An error is never a successful answer: OFREP sends it as an evaluation
//! failure (`errorCode`, `errorDetails`) and the provider as an `Err`, and
//! OpenFeature clients then report the reason `ERROR` with the caller's default.
//!
//! **Variant:** the served variation's `name`, else its index as a string
//! (`"0"`, `"1"`, …), as [`crate::Detail::variation_name`] gives it.
//!
//! **Metadata:** `version` (the flag's version), `vexilReason` (the Vexil
//! reason kind, since the mapping above loses detail), and `ruleId` or
//! `prerequisite` when the reason names one.
//!
//! **Targeting key:** see [`needs_targeting_key`].

use serde_json::{Map, Value};

use crate::eval::{ErrorKind, Lookup, OwnedReason};
use crate::model::{Clause, Flag, Operator, Segment, Serve};

/// An OpenFeature resolution reason of a successful evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OfReason {
    /// The value can only be this one: no targeting at all.
    Static,
    /// A target or a rule chose the value.
    TargetingMatch,
    /// A percentage rollout chose the value.
    Split,
    /// The flag is disabled.
    Disabled,
    /// Targeting ran and fell back to a configured value.
    Default,
}

impl OfReason {
    /// The reason as OpenFeature spells it, e.g. `TARGETING_MATCH`.
    pub fn as_str(self) -> &'static str {
        match self {
            OfReason::Static => "STATIC",
            OfReason::TargetingMatch => "TARGETING_MATCH",
            OfReason::Split => "SPLIT",
            OfReason::Disabled => "DISABLED",
            OfReason::Default => "DEFAULT",
        }
    }
}

/// An OpenFeature error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OfErrorCode {
    FlagNotFound,
    ParseError,
    TypeMismatch,
    TargetingKeyMissing,
    InvalidContext,
    ProviderNotReady,
    General,
}

impl OfErrorCode {
    /// The code as OpenFeature spells it, e.g. `FLAG_NOT_FOUND`.
    pub fn as_str(self) -> &'static str {
        match self {
            OfErrorCode::FlagNotFound => "FLAG_NOT_FOUND",
            OfErrorCode::ParseError => "PARSE_ERROR",
            OfErrorCode::TypeMismatch => "TYPE_MISMATCH",
            OfErrorCode::TargetingKeyMissing => "TARGETING_KEY_MISSING",
            OfErrorCode::InvalidContext => "INVALID_CONTEXT",
            OfErrorCode::ProviderNotReady => "PROVIDER_NOT_READY",
            OfErrorCode::General => "GENERAL",
        }
    }
}

impl From<ErrorKind> for OfErrorCode {
    fn from(kind: ErrorKind) -> Self {
        match kind {
            ErrorKind::FlagNotFound => OfErrorCode::FlagNotFound,
            ErrorKind::MalformedFlag => OfErrorCode::ParseError,
            ErrorKind::WrongType => OfErrorCode::TypeMismatch,
            ErrorKind::ClientNotReady => OfErrorCode::ProviderNotReady,
            ErrorKind::General => OfErrorCode::General,
        }
    }
}

/// The OpenFeature reason for `reason` (see the table above); an `ERROR`
/// reason gives its error code instead.
pub fn reason(
    reason: &OwnedReason,
    in_rollout: bool,
    flag: &Flag,
) -> Result<OfReason, OfErrorCode> {
    Ok(match reason {
        OwnedReason::Off => OfReason::Disabled,
        OwnedReason::TargetMatch => OfReason::TargetingMatch,
        OwnedReason::RuleMatch { .. } if in_rollout => OfReason::Split,
        OwnedReason::RuleMatch { .. } => OfReason::TargetingMatch,
        OwnedReason::Fallthrough if in_rollout => OfReason::Split,
        OwnedReason::Fallthrough if is_static(flag) => OfReason::Static,
        OwnedReason::Fallthrough | OwnedReason::PrerequisiteFailed { .. } => OfReason::Default,
        OwnedReason::Error { error_kind } => return Err((*error_kind).into()),
    })
}

/// Whether `flag` serves one variation to everyone while enabled: no
/// targets, rules or prerequisites, and a fallthrough that is not a rollout.
pub fn is_static(flag: &Flag) -> bool {
    flag.targets.is_empty()
        && flag.rules.is_empty()
        && flag.prerequisites.is_empty()
        && matches!(flag.fallthrough, Serve::Variation(_))
}

/// The flag metadata of an evaluation (see the module docs).
pub fn metadata(reason: &OwnedReason, flag: &Flag) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("version".into(), flag.version.into());
    m.insert("vexilReason".into(), reason.kind().into());
    match reason {
        OwnedReason::RuleMatch { rule_id, .. } => {
            m.insert("ruleId".into(), rule_id.as_str().into());
        }
        OwnedReason::PrerequisiteFailed { prerequisite } => {
            m.insert("prerequisite".into(), prerequisite.as_str().into());
        }
        _ => {}
    }
    m
}

/// Whether evaluating `flag` for a context without a targeting key must be
/// refused with `TARGETING_KEY_MISSING`: the flag is enabled and what it
/// serves may depend on the key. That is when it has individual targets, a
/// rule clause on `key`, a `segment_match` on a segment that lists keys or
/// has a clause on `key`, or a percentage rollout bucketed by `key`.
/// Prerequisite flags are not followed: they evaluate with an empty key.
pub fn needs_targeting_key(flag: &Flag, lookup: &dyn Lookup) -> bool {
    if !flag.enabled {
        return false;
    }
    let rules_need_it = flag.rules.iter().any(|rule| {
        buckets_by_key(&rule.serve) || rule.clauses.iter().any(|c| reads_key(c, lookup))
    });
    !flag.targets.is_empty() || buckets_by_key(&flag.fallthrough) || rules_need_it
}

fn buckets_by_key(serve: &Serve) -> bool {
    matches!(serve, Serve::Rollout(r) if r.bucket_by == "key")
}

fn reads_key(clause: &Clause, lookup: &dyn Lookup) -> bool {
    if clause.attribute == "key" {
        return true;
    }
    clause.operator == Operator::SegmentMatch
        && (clause.values.iter().filter_map(Value::as_str))
            .filter_map(|key| lookup.segment(key))
            .any(|s| segment_reads_key(s.segment()))
}

fn segment_reads_key(segment: &Segment) -> bool {
    let clauses = segment.rules.iter().flat_map(|r| &r.clauses);
    !segment.included.is_empty()
        || !segment.excluded.is_empty()
        || clauses.into_iter().any(|c| c.attribute == "key")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::{FlagSet, Segment};

    fn flag(extra: Value) -> Flag {
        let mut base = json!({
            "key": "f", "kind": "boolean", "enabled": true, "off_variation": 1,
            "variations": [{"value": true, "name": "on"}, {"value": false}],
            "fallthrough": {"variation": 0},
        });
        if let (Some(b), Some(e)) = (base.as_object_mut(), extra.as_object()) {
            b.extend(e.clone());
        }
        serde_json::from_value(base).unwrap()
    }

    fn rollout() -> Value {
        json!({"rollout": {"variations": [{"variation": 0, "weight": 100000}]}})
    }

    #[test]
    fn every_reason_maps_as_the_table_says() {
        let plain = flag(json!({}));
        let targeted = flag(json!({"targets": [{"variation": 0, "values": ["u"]}]}));
        let rule = OwnedReason::RuleMatch {
            rule_index: 0,
            rule_id: "r".into(),
        };
        let prereq = OwnedReason::PrerequisiteFailed {
            prerequisite: "p".into(),
        };
        let cases = [
            (OwnedReason::Off, false, &plain, Ok(OfReason::Disabled)),
            (
                OwnedReason::TargetMatch,
                false,
                &targeted,
                Ok(OfReason::TargetingMatch),
            ),
            (rule.clone(), false, &targeted, Ok(OfReason::TargetingMatch)),
            (rule, true, &targeted, Ok(OfReason::Split)),
            (OwnedReason::Fallthrough, true, &plain, Ok(OfReason::Split)),
            (
                OwnedReason::Fallthrough,
                false,
                &plain,
                Ok(OfReason::Static),
            ),
            (
                OwnedReason::Fallthrough,
                false,
                &targeted,
                Ok(OfReason::Default),
            ),
            (prereq, false, &plain, Ok(OfReason::Default)),
        ];
        for (r, in_rollout, f, expected) in cases {
            assert_eq!(reason(&r, in_rollout, f), expected, "{r:?}");
        }
        let errors = [
            (ErrorKind::FlagNotFound, "FLAG_NOT_FOUND"),
            (ErrorKind::MalformedFlag, "PARSE_ERROR"),
            (ErrorKind::WrongType, "TYPE_MISMATCH"),
            (ErrorKind::ClientNotReady, "PROVIDER_NOT_READY"),
            (ErrorKind::General, "GENERAL"),
        ];
        for (kind, code) in errors {
            let r = OwnedReason::Error { error_kind: kind };
            assert_eq!(
                reason(&r, false, &plain).map_err(OfErrorCode::as_str),
                Err(code)
            );
        }
    }

    #[test]
    fn the_targeting_key_is_needed_only_when_the_result_may_depend_on_it() {
        let mut set = FlagSet::new();
        let by_key: Segment =
            serde_json::from_value(json!({"key": "s", "included": ["u"]})).unwrap();
        let by_country: Segment = serde_json::from_value(json!({"key": "c", "rules": [
            {"clauses": [{"attribute": "country", "operator": "in", "values": ["NZ"]}]}]}))
        .unwrap();
        set.upsert_segment(by_key);
        set.upsert_segment(by_country);
        let clause = |attr: &str, op: &str, v: &str| {
            json!({"rules": [{"id": "r", "serve": {"variation": 0},
                "clauses": [{"attribute": attr, "operator": op, "values": [v]}]}]})
        };
        let cases = [
            (json!({}), false),
            (
                json!({"targets": [{"variation": 0, "values": ["u"]}]}),
                true,
            ),
            (json!({"fallthrough": rollout()}), true),
            (json!({"enabled": false, "fallthrough": rollout()}), false),
            (clause("key", "in", "u"), true),
            (clause("country", "in", "NZ"), false),
            (clause("", "segment_match", "s"), true),
            (clause("", "segment_match", "c"), false),
        ];
        for (extra, needed) in cases {
            assert_eq!(
                needs_targeting_key(&flag(extra.clone()), &set),
                needed,
                "{extra}"
            );
        }
    }

    #[test]
    fn metadata_names_the_rule_or_prerequisite() {
        let f = flag(json!({"version": 3}));
        let rule = OwnedReason::RuleMatch {
            rule_index: 0,
            rule_id: "r1".into(),
        };
        assert_eq!(
            Value::Object(metadata(&rule, &f)),
            json!({"version": 3, "vexilReason": "RULE_MATCH", "ruleId": "r1"})
        );
        assert_eq!(
            Value::Object(metadata(&OwnedReason::Off, &f)),
            json!({"version": 3, "vexilReason": "OFF"})
        );
    }
}
