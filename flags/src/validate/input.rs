//! What the API refuses in new input, beyond [`validate_flag`] and
//! [`validate_segment`]: the size [`limits`](crate::limits), a value
//! offered twice among a flag's variations, and a key both included in and
//! excluded from a segment.
//!
//! These rules are not the state machine's. Every node must apply a log
//! entry exactly as every other node did: a node of the previous release
//! beside this one during a rolling upgrade, and this release replaying
//! entries committed before it. A rule added to apply would reject there
//! what was accepted before, and the replicas would diverge. So rules on
//! input are added here, checked at the API edge, and apply keeps the rules
//! stored data already meets.
//!
//! Sizes are checked first, and alone: an oversized body gets one error
//! per oversized list, never one per element of a 50,000-element list.
//!
//! [`validate_flag`]: super::validate_flag
//! [`validate_segment`]: super::validate_segment

use std::collections::HashSet;

use serde_json::Value;

use super::{FieldError, code};
use crate::limits::{
    MAX_CLAUSE_VALUES, MAX_CLAUSES, MAX_CONTEXT_KEY_CHARS, MAX_DESCRIPTION_CHARS, MAX_NAME_CHARS,
    MAX_PREREQUISITES, MAX_RULE_ID_CHARS, MAX_RULES, MAX_SEGMENT_KEYS, MAX_TAGS, MAX_TARGET_KEYS,
    MAX_VALUE_BYTES, MAX_VARIATIONS,
};
use crate::model::{Clause, Flag, Segment};

/// Size problems with `flag`.
pub(super) fn flag_sizes(flag: &Flag) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let target_keys: usize = flag.targets.iter().map(|t| t.values.len()).sum();
    count(
        "variations",
        flag.variations.len(),
        MAX_VARIATIONS,
        &mut errors,
    );
    count("tags", flag.tags.len(), MAX_TAGS, &mut errors);
    count("targets", target_keys, MAX_TARGET_KEYS, &mut errors);
    count("rules", flag.rules.len(), MAX_RULES, &mut errors);
    let prerequisites = flag.prerequisites.len();
    count(
        "prerequisites",
        prerequisites,
        MAX_PREREQUISITES,
        &mut errors,
    );
    if !errors.is_empty() {
        // Each list is bounded before anything walks it.
        return errors;
    }
    chars("name", &flag.name, MAX_NAME_CHARS, &mut errors);
    let description = &flag.description;
    chars(
        "description",
        description,
        MAX_DESCRIPTION_CHARS,
        &mut errors,
    );
    for (i, v) in flag.variations.iter().enumerate() {
        let name = v.name.as_deref().unwrap_or_default();
        chars(
            &format!("variations[{i}].name"),
            name,
            MAX_NAME_CHARS,
            &mut errors,
        );
        let field = format!("variations[{i}].description");
        chars(&field, &v.description, MAX_DESCRIPTION_CHARS, &mut errors);
        let bytes = serde_json::to_vec(&v.value).map_or(0, |b| b.len());
        if bytes > MAX_VALUE_BYTES {
            let msg = format!("is {bytes} bytes as JSON; at most {MAX_VALUE_BYTES}");
            errors.push(too(&format!("variations[{i}].value"), code::TOO_LONG, msg));
        }
    }
    for (i, t) in flag.targets.iter().enumerate() {
        keys(&format!("targets[{i}].values"), &t.values, &mut errors);
    }
    for (i, rule) in flag.rules.iter().enumerate() {
        let path = format!("rules[{i}]");
        chars(
            &format!("{path}.id"),
            &rule.id,
            MAX_RULE_ID_CHARS,
            &mut errors,
        );
        let field = format!("{path}.description");
        chars(
            &field,
            &rule.description,
            MAX_DESCRIPTION_CHARS,
            &mut errors,
        );
        clauses(&path, &rule.clauses, &mut errors);
    }
    errors
}

/// Size problems with `segment`.
pub(super) fn segment_sizes(segment: &Segment) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let listed = segment
        .included
        .len()
        .saturating_add(segment.excluded.len());
    if listed > MAX_SEGMENT_KEYS {
        let field = if segment.included.len() > segment.excluded.len() {
            "included"
        } else {
            "excluded"
        };
        let msg = format!(
            "{listed} keys in included and excluded together; at most {MAX_SEGMENT_KEYS} \
             (target more through rules on attributes)"
        );
        errors.push(too(field, code::TOO_MANY, msg));
    }
    count("rules", segment.rules.len(), MAX_RULES, &mut errors);
    if !errors.is_empty() {
        return errors;
    }
    chars("name", &segment.name, MAX_NAME_CHARS, &mut errors);
    let description = &segment.description;
    chars(
        "description",
        description,
        MAX_DESCRIPTION_CHARS,
        &mut errors,
    );
    keys("included", &segment.included, &mut errors);
    keys("excluded", &segment.excluded, &mut errors);
    for (i, rule) in segment.rules.iter().enumerate() {
        let path = format!("rules[{i}]");
        chars(
            &format!("{path}.id"),
            &rule.id,
            MAX_RULE_ID_CHARS,
            &mut errors,
        );
        clauses(&path, &rule.clauses, &mut errors);
    }
    errors
}

/// Content problems with a flag whose sizes are within the limits.
pub(super) fn flag_content(flag: &Flag, errors: &mut Vec<FieldError>) {
    // At most MAX_VARIATIONS² / 2 comparisons.
    for (i, v) in flag.variations.iter().enumerate() {
        let mut earlier = flag.variations.iter().take(i);
        if let Some(j) = earlier.position(|w| same_value(&w.value, &v.value)) {
            let msg = format!(
                "variation {j} already serves {}; a value may be served by one variation only",
                v.value
            );
            let field = format!("variations[{i}].value");
            errors.push(FieldError::new(field, code::DUPLICATE_VARIATION, msg));
        }
    }
}

/// Content problems with a segment whose sizes are within the limits.
pub(super) fn segment_content(segment: &Segment, errors: &mut Vec<FieldError>) {
    let included: HashSet<&str> = segment.included.iter().map(String::as_str).collect();
    for (i, key) in segment.excluded.iter().enumerate() {
        if included.contains(key.as_str()) {
            let msg = format!(
                "{key:?} is also in included; a key may be in one list only (included would win)"
            );
            let field = format!("excluded[{i}]");
            errors.push(FieldError::new(field, code::INCLUDED_AND_EXCLUDED, msg));
        }
    }
}

/// The error for the first `matches` value over the regex budget.
pub(super) fn over_budget((field, message): (String, String)) -> FieldError {
    FieldError::new(field, code::REGEX_BUDGET, message)
}

/// Equal JSON values, with numbers compared as numbers (`1` and `1.0`).
fn same_value(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

fn clauses(path: &str, clauses: &[Clause], errors: &mut Vec<FieldError>) {
    count(
        &format!("{path}.clauses"),
        clauses.len(),
        MAX_CLAUSES,
        errors,
    );
    for (i, clause) in clauses.iter().enumerate().take(MAX_CLAUSES) {
        let field = format!("{path}.clauses[{i}].values");
        count(&field, clause.values.len(), MAX_CLAUSE_VALUES, errors);
    }
}

/// Context keys: the first one over the limit is reported.
fn keys(field: &str, keys: &[String], errors: &mut Vec<FieldError>) {
    if let Some(i) = keys
        .iter()
        .position(|k| k.chars().count() > MAX_CONTEXT_KEY_CHARS)
    {
        let msg = format!("a context key has at most {MAX_CONTEXT_KEY_CHARS} characters");
        errors.push(too(&format!("{field}[{i}]"), code::TOO_LONG, msg));
    }
}

fn count(field: &str, n: usize, max: usize, errors: &mut Vec<FieldError>) {
    if n > max {
        let msg = format!("has {n} entries; at most {max}");
        errors.push(too(field, code::TOO_MANY, msg));
    }
}

fn chars(field: &str, s: &str, max: usize, errors: &mut Vec<FieldError>) {
    // Bytes bound characters from above: most strings skip the count.
    if s.len() > max && s.chars().count() > max {
        let msg = format!("has {} characters; at most {max}", s.chars().count());
        errors.push(too(field, code::TOO_LONG, msg));
    }
}

fn too(field: &str, code: &str, message: String) -> FieldError {
    FieldError::new(field, code, message)
}
