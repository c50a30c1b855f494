//! Clause checks shared by flag rules and segment rules.

use super::{Catalog, FieldError, code};
use crate::compile::parse_operand;
use crate::model::{Clause, Operator};

/// Where the clauses live: segment rules may not reference segments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Scope {
    Flag,
    Segment,
}

/// Checks `clauses`, found at `{path}.clauses`.
pub(super) fn check_all(
    path: &str,
    clauses: &[Clause],
    scope: Scope,
    catalog: &dyn Catalog,
    errors: &mut Vec<FieldError>,
) {
    for (i, clause) in clauses.iter().enumerate() {
        check(
            &format!("{path}.clauses[{i}]"),
            clause,
            scope,
            catalog,
            errors,
        );
    }
}

fn check(
    path: &str,
    clause: &Clause,
    scope: Scope,
    catalog: &dyn Catalog,
    errors: &mut Vec<FieldError>,
) {
    let is_segment_match = clause.operator == Operator::SegmentMatch;
    if is_segment_match && scope == Scope::Segment {
        let msg = "segment rules cannot use segment_match (it could form a cycle)";
        let field = format!("{path}.operator");
        errors.push(FieldError::new(field, code::SEGMENT_MATCH_IN_SEGMENT, msg));
        return;
    }
    // `segment_match` reads the context key, whatever `attribute` says.
    if clause.attribute.is_empty() && !is_segment_match {
        let msg = "a clause needs an attribute";
        errors.push(FieldError::new(
            format!("{path}.attribute"),
            code::EMPTY_ATTRIBUTE,
            msg,
        ));
    }
    if clause.values.is_empty() {
        let msg = "a clause with no values never matches";
        errors.push(FieldError::new(
            format!("{path}.values"),
            code::EMPTY_VALUES,
            msg,
        ));
    }
    for (i, value) in clause.values.iter().enumerate() {
        let field = format!("{path}.values[{i}]");
        match parse_operand(clause.operator, clause.case_insensitive, value) {
            Err(e) => errors.push(FieldError::new(field, e.code, e.message)),
            Ok(_) if is_segment_match => {
                let key = value.as_str().unwrap_or_default();
                if catalog.segment(key).is_none() {
                    let msg = format!("no segment {key:?}");
                    errors.push(FieldError::new(field, code::UNKNOWN_SEGMENT, msg));
                }
            }
            Ok(_) => {}
        }
    }
}
