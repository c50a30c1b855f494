//! Every problem with a flag or segment, each with the JSON path of its field.
//!
//! [`validate_flag`] and [`validate_segment`] never stop at the first problem:
//! an empty result means valid. Paths are spelled as JSON would, e.g.
//! `rules[0].clauses[1].values[0]`, `fallthrough.rollout.variations` or
//! `prerequisites[0].flag`; codes are the constants in [`code`].
//!
//! Validation is stricter than compilation: it also checks references
//! (prerequisite flags, segments, prerequisite cycles) against a [`Catalog`],
//! and cosmetic rules (keys, tags, names, rule ids). A flag that passes
//! validation always compiles.
//!
//! Two levels: [`validate_flag`] and [`validate_segment`] are what the state
//! machine enforces when it applies a change, and must stay as they are
//! (a replica of another release applies the same log). New input through
//! the API must also pass [`validate_flag_input`] and
//! [`validate_segment_input`]: the size [`limits`](crate::limits) and the
//! rules added since (see `input.rs` for why they live apart).

mod clauses;
mod context;
mod input;
mod prerequisites;
mod usage;

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use crate::model::{Flag, FlagKind, Segment, Serve};

pub use context::validate_context;
pub(crate) use usage::json_bytes;
pub use usage::{StateUsage, Stored};

/// The machine-readable `code` of each [`FieldError`].
pub mod code {
    pub const INVALID_KEY: &str = "invalid_key";
    pub const INVALID_TAG: &str = "invalid_tag";
    pub const NO_VARIATIONS: &str = "no_variations";
    pub const BOOLEAN_VARIATIONS: &str = "boolean_variations";
    pub const WRONG_KIND: &str = "wrong_kind";
    pub const DUPLICATE_VARIATION_NAME: &str = "duplicate_variation_name";
    pub const UNKNOWN_VARIATION: &str = "unknown_variation";
    pub const DUPLICATE_TARGET: &str = "duplicate_target";
    pub const EMPTY_RULE_ID: &str = "empty_rule_id";
    pub const DUPLICATE_RULE_ID: &str = "duplicate_rule_id";
    pub const EMPTY_ATTRIBUTE: &str = "empty_attribute";
    pub const EMPTY_VALUES: &str = "empty_values";
    pub const INVALID_VALUE: &str = "invalid_value";
    pub const NOT_A_STRING: &str = "not_a_string";
    pub const NOT_A_NUMBER: &str = "not_a_number";
    pub const INVALID_REGEX: &str = "invalid_regex";
    pub const INVALID_DATE: &str = "invalid_date";
    pub const INVALID_SEMVER: &str = "invalid_semver";
    pub const INVALID_CIDR: &str = "invalid_cidr";
    pub const UNKNOWN_SEGMENT: &str = "unknown_segment";
    pub const SEGMENT_MATCH_IN_SEGMENT: &str = "segment_match_in_segment";
    pub const EMPTY_ROLLOUT: &str = "empty_rollout";
    pub const INVALID_WEIGHTS: &str = "invalid_weights";
    pub const UNKNOWN_FLAG: &str = "unknown_flag";
    pub const PREREQUISITE_CYCLE: &str = "prerequisite_cycle";
    /// A list over its limit in [`crate::limits`] (input only).
    pub const TOO_MANY: &str = "too_many";
    /// A string or value over its limit in [`crate::limits`] (input only).
    pub const TOO_LONG: &str = "too_long";
    /// Two variations of a flag serve the same value (input only).
    pub const DUPLICATE_VARIATION: &str = "duplicate_variation";
    /// A segment key both included and excluded (input only).
    pub const INCLUDED_AND_EXCLUDED: &str = "included_and_excluded";
    /// The flag's or segment's `matches` patterns, compiled, are over
    /// [`MAX_REGEX_BYTES`](crate::limits::MAX_REGEX_BYTES) (input only).
    pub const REGEX_BUDGET: &str = "regex_budget";
    /// A token's scope lists nothing where it must list something.
    pub const REQUIRED: &str = "required";
    /// A token's scope lists a project or environment twice.
    pub const DUPLICATE: &str = "duplicate";
    /// A token's scope that its role cannot have (an `sdk` token's must
    /// name one environment).
    pub const INVALID_SCOPE: &str = "invalid_scope";
    /// The state is at one of its limits ([`MAX_FLAGS`](crate::limits::MAX_FLAGS),
    /// [`MAX_SEGMENTS`](crate::limits::MAX_SEGMENTS),
    /// [`MAX_STATE_BYTES`](crate::limits::MAX_STATE_BYTES)) (input only).
    pub const STATE_FULL: &str = "state_full";

    /// Every code of a flag or segment, for documentation and coverage
    /// tests (a token scope's codes are apart).
    pub const ALL: [&str; 25] = [
        INVALID_KEY,
        INVALID_TAG,
        NO_VARIATIONS,
        BOOLEAN_VARIATIONS,
        WRONG_KIND,
        DUPLICATE_VARIATION_NAME,
        UNKNOWN_VARIATION,
        DUPLICATE_TARGET,
        EMPTY_RULE_ID,
        DUPLICATE_RULE_ID,
        EMPTY_ATTRIBUTE,
        EMPTY_VALUES,
        INVALID_VALUE,
        NOT_A_STRING,
        NOT_A_NUMBER,
        INVALID_REGEX,
        INVALID_DATE,
        INVALID_SEMVER,
        INVALID_CIDR,
        UNKNOWN_SEGMENT,
        SEGMENT_MATCH_IN_SEGMENT,
        EMPTY_ROLLOUT,
        INVALID_WEIGHTS,
        UNKNOWN_FLAG,
        PREREQUISITE_CYCLE,
    ];

    /// The codes only [`validate_flag_input`](super::validate_flag_input)
    /// and [`validate_segment_input`](super::validate_segment_input) report.
    pub const INPUT: [&str; 6] = [
        TOO_MANY,
        TOO_LONG,
        DUPLICATE_VARIATION,
        INCLUDED_AND_EXCLUDED,
        REGEX_BUDGET,
        STATE_FULL,
    ];
}

/// One problem: where, what kind, and a sentence for humans.
#[derive(
    Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error, utoipa::ToSchema,
)]
#[error("{field}: {message} ({code})")]
pub struct FieldError {
    /// JSON path of the offending field, e.g. `rules[0].clauses[1].values[0]`.
    pub field: String,
    /// One of [`code`], stable for clients to switch on.
    pub code: String,
    /// Human-readable detail; may change between versions.
    pub message: String,
}

impl FieldError {
    /// A problem at `field`.
    pub fn new(field: impl Into<String>, code: &str, message: impl Into<String>) -> Self {
        FieldError {
            field: field.into(),
            code: code.to_owned(),
            message: message.into(),
        }
    }
}

/// The flags and segments that references are checked against.
pub trait Catalog {
    /// The stored flag with this key.
    fn flag(&self, key: &str) -> Option<&Flag>;
    /// The stored segment with this key.
    fn segment(&self, key: &str) -> Option<&Segment>;
    /// What the stored state holds apart from `except` (the flag or segment
    /// a write would replace), for the state limits. `None`, the default,
    /// skips them.
    fn usage_except(&self, except: Stored<'_>) -> Option<StateUsage> {
        let _ = except;
        None
    }
}

/// Checks a flag or segment key: 1–128 chars of `[A-Za-z0-9._-]`.
pub fn validate_key(field: &str, key: &str) -> Option<FieldError> {
    let ok = (1..=128).contains(&key.len())
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    (!ok).then(|| FieldError::new(field, code::INVALID_KEY, "must be 1–128 of [A-Za-z0-9._-]"))
}

/// Every problem with `flag`. References are resolved in `catalog`, with
/// `flag` standing in for any stored flag of the same key.
pub fn validate_flag(flag: &Flag, catalog: &dyn Catalog) -> Vec<FieldError> {
    let mut errors = Vec::new();
    errors.extend(validate_key("key", &flag.key));
    check_tags(&flag.tags, &mut errors);
    check_variations(flag, &mut errors);
    check_index("off_variation", flag.off_variation, flag, &mut errors);
    check_targets(flag, &mut errors);
    check_rules(flag, catalog, &mut errors);
    check_serve("fallthrough", &flag.fallthrough, flag, &mut errors);
    prerequisites::check(flag, catalog, &mut errors);
    errors
}

/// Every problem with `segment`. Segment rules may not use `segment_match`.
/// A key both included and excluded passes here (`included` wins), as it
/// always has; new input is refused by [`validate_segment_input`].
pub fn validate_segment(segment: &Segment, catalog: &dyn Catalog) -> Vec<FieldError> {
    let mut errors = Vec::new();
    errors.extend(validate_key("key", &segment.key));
    let mut ids = HashSet::new();
    for (i, rule) in segment.rules.iter().enumerate() {
        if !rule.id.is_empty() && !ids.insert(rule.id.as_str()) {
            errors.push(duplicate_rule_id(i, &rule.id));
        }
        let scope = clauses::Scope::Segment;
        clauses::check_all(
            &format!("rules[{i}]"),
            &rule.clauses,
            scope,
            catalog,
            &mut errors,
        );
    }
    errors
}

/// Every problem with `flag` as new input through the API: the limits
/// first (alone when broken, so the answer stays small): sizes, the regex
/// budget, then the state's limits; then [`validate_flag`] and the rules
/// only new input must meet.
pub fn validate_flag_input(flag: &Flag, catalog: &dyn Catalog) -> Vec<FieldError> {
    let mut errors = input::flag_sizes(flag);
    if errors.is_empty() {
        let regexes = crate::compile::flag_regexes(flag);
        let bytes = usage::json_bytes(flag) + regexes.used;
        errors.extend(regexes.over.map(input::over_budget));
        errors.extend(usage::fits(Stored::Flag(&flag.key), bytes, catalog));
    }
    if errors.is_empty() {
        errors = validate_flag(flag, catalog);
        input::flag_content(flag, &mut errors);
    }
    errors
}

/// Every problem with `segment` as new input through the API (see
/// [`validate_flag_input`]).
pub fn validate_segment_input(segment: &Segment, catalog: &dyn Catalog) -> Vec<FieldError> {
    let mut errors = input::segment_sizes(segment);
    if errors.is_empty() {
        let regexes = crate::compile::segment_regexes(segment);
        let bytes = usage::json_bytes(segment) + regexes.used;
        errors.extend(regexes.over.map(input::over_budget));
        errors.extend(usage::fits(Stored::Segment(&segment.key), bytes, catalog));
    }
    if errors.is_empty() {
        errors = validate_segment(segment, catalog);
        input::segment_content(segment, &mut errors);
    }
    errors
}

fn check_tags(tags: &[String], errors: &mut Vec<FieldError>) {
    use crate::limits::MAX_TAG_CHARS;
    for (i, tag) in tags.iter().enumerate() {
        let len = tag.chars().count();
        if !(1..=MAX_TAG_CHARS).contains(&len) || tag.chars().any(char::is_control) {
            let msg = "must be 1–64 characters without control characters";
            errors.push(FieldError::new(
                format!("tags[{i}]"),
                code::INVALID_TAG,
                msg,
            ));
        }
    }
}

fn check_variations(flag: &Flag, errors: &mut Vec<FieldError>) {
    let vars = &flag.variations;
    if vars.is_empty() {
        errors.push(FieldError::new(
            "variations",
            code::NO_VARIATIONS,
            "a flag needs variations",
        ));
    }
    let values = || vars.iter().map(|v| &v.value);
    let is_true_false = vars.len() == 2
        && values().any(|v| v.as_bool() == Some(true))
        && values().any(|v| v.as_bool() == Some(false));
    if flag.kind == FlagKind::Boolean && !vars.is_empty() && !is_true_false {
        let msg = "a boolean flag has exactly two variations, true and false";
        errors.push(FieldError::new("variations", code::BOOLEAN_VARIATIONS, msg));
    }
    let mut names = HashSet::new();
    for (i, v) in vars.iter().enumerate() {
        if !flag.kind.accepts(&v.value) {
            let msg = format!("a {} flag cannot serve {}", flag.kind.as_str(), v.value);
            errors.push(FieldError::new(
                format!("variations[{i}].value"),
                code::WRONG_KIND,
                msg,
            ));
        }
        if let Some(name) = &v.name
            && !names.insert(name.as_str())
        {
            let msg = format!("another variation is already named {name:?}");
            let field = format!("variations[{i}].name");
            errors.push(FieldError::new(field, code::DUPLICATE_VARIATION_NAME, msg));
        }
    }
}

/// Reports `index` at `field` unless it names one of `flag`'s variations.
fn check_index(field: &str, index: usize, flag: &Flag, errors: &mut Vec<FieldError>) {
    if index >= flag.variations.len() {
        let msg = format!("{} has no variation {index}", flag.key);
        errors.push(FieldError::new(field, code::UNKNOWN_VARIATION, msg));
    }
}

fn check_targets(flag: &Flag, errors: &mut Vec<FieldError>) {
    let mut seen = HashSet::new();
    for (i, target) in flag.targets.iter().enumerate() {
        check_index(
            &format!("targets[{i}].variation"),
            target.variation,
            flag,
            errors,
        );
        for (j, key) in target.values.iter().enumerate() {
            if !seen.insert(key.as_str()) {
                let field = format!("targets[{i}].values[{j}]");
                let msg = format!("{key:?} is already targeted; the first target wins");
                errors.push(FieldError::new(field, code::DUPLICATE_TARGET, msg));
            }
        }
    }
}

fn check_rules(flag: &Flag, catalog: &dyn Catalog, errors: &mut Vec<FieldError>) {
    let mut ids = HashSet::new();
    for (i, rule) in flag.rules.iter().enumerate() {
        if rule.id.is_empty() {
            let msg = "rules need an id, reported in RULE_MATCH";
            errors.push(FieldError::new(
                format!("rules[{i}].id"),
                code::EMPTY_RULE_ID,
                msg,
            ));
        } else if !ids.insert(rule.id.as_str()) {
            errors.push(duplicate_rule_id(i, &rule.id));
        }
        let path = format!("rules[{i}]");
        clauses::check_all(&path, &rule.clauses, clauses::Scope::Flag, catalog, errors);
        check_serve(&format!("{path}.serve"), &rule.serve, flag, errors);
    }
}

fn duplicate_rule_id(i: usize, id: &str) -> FieldError {
    let msg = format!("another rule already has id {id:?}");
    FieldError::new(format!("rules[{i}].id"), code::DUPLICATE_RULE_ID, msg)
}

fn check_serve(path: &str, serve: &Serve, flag: &Flag, errors: &mut Vec<FieldError>) {
    let rollout = match serve {
        Serve::Variation(v) => return check_index(&format!("{path}.variation"), *v, flag, errors),
        Serve::Rollout(r) => r,
    };
    let path = format!("{path}.rollout");
    if rollout.bucket_by.is_empty() {
        let msg = "bucket_by names the attribute to hash";
        errors.push(FieldError::new(
            format!("{path}.bucket_by"),
            code::EMPTY_ATTRIBUTE,
            msg,
        ));
    }
    let slices = format!("{path}.variations");
    if rollout.variations.is_empty() {
        errors.push(FieldError::new(
            &slices,
            code::EMPTY_ROLLOUT,
            "a rollout needs variations",
        ));
    }
    for (i, wv) in rollout.variations.iter().enumerate() {
        check_index(
            &format!("{slices}[{i}].variation"),
            wv.variation,
            flag,
            errors,
        );
    }
    let total: u64 = rollout
        .variations
        .iter()
        .map(|wv| u64::from(wv.weight))
        .sum();
    if !rollout.variations.is_empty() && total != 100_000 {
        let msg = format!("weights sum to {total}; they must sum to 100000 (100%)");
        errors.push(FieldError::new(slices, code::INVALID_WEIGHTS, msg));
    }
}
