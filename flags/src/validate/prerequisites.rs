//! Prerequisite checks: the flag exists, the variation exists, no cycle.

use std::collections::HashSet;

use super::{Catalog, FieldError, check_index, code};
use crate::model::Flag;

/// Checks `flag.prerequisites` against `catalog`, with `flag` replacing any
/// stored flag of the same key (it is the version about to be written).
pub(super) fn check(flag: &Flag, catalog: &dyn Catalog, errors: &mut Vec<FieldError>) {
    let lookup = |key: &str| {
        if key == flag.key {
            Some(flag)
        } else {
            catalog.flag(key)
        }
    };
    for (i, prereq) in flag.prerequisites.iter().enumerate() {
        let field = format!("prerequisites[{i}].flag");
        let Some(target) = lookup(&prereq.flag) else {
            let msg = format!("no flag {:?}", prereq.flag);
            errors.push(FieldError::new(field, code::UNKNOWN_FLAG, msg));
            continue;
        };
        if reaches(&lookup, &prereq.flag, &flag.key) {
            let msg = format!("{:?} depends on {:?} again", prereq.flag, flag.key);
            errors.push(FieldError::new(field, code::PREREQUISITE_CYCLE, msg));
        }
        let field = format!("prerequisites[{i}].variation");
        check_index(&field, prereq.variation, target, errors);
    }
}

/// Whether following prerequisites from `start` (itself included) reaches
/// `goal`. Cycles elsewhere in the catalog are walked once and ignored.
fn reaches<'a>(lookup: &dyn Fn(&str) -> Option<&'a Flag>, start: &'a str, goal: &str) -> bool {
    let mut seen = HashSet::new();
    let mut stack = vec![start];
    while let Some(key) = stack.pop() {
        if key == goal {
            return true;
        }
        if !seen.insert(key) {
            continue;
        }
        if let Some(f) = lookup(key) {
            stack.extend(f.prerequisites.iter().map(|p| p.flag.as_str()));
        }
    }
    false
}
