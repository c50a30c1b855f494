//! Clause semantics.
//!
//! - **Missing attribute**: the clause does not match, and `negate` does *not*
//!   turn that into a match (LaunchDarkly's behaviour): `country not in [NZ]`
//!   is false for a context with no `country`.
//! - **List attribute**: matches if any element matches (how groups are
//!   targeted). `negate` applies to the result, so `groups not in [beta]`
//!   means "no group is beta".
//! - `in`: equality with any value; a string equals a string, a number a
//!   number, a bool a bool (no coercion).
//! - `starts_with` / `ends_with` / `contains`: strings only. With
//!   `case_insensitive`, both sides are lowercased char by char with
//!   [`char::to_lowercase`] (Unicode, no allocation: the clause's values are
//!   lowercased at compile time, the attribute lazily while comparing).
//! - `matches`: the regex matches anywhere in the string (anchor with `^…$`).
//!   A clause with a pattern over its flag's regex budget (stored before the
//!   budget existed) never matches, negated or not.
//! - `lt`/`lte`/`gt`/`gte`: numbers only; a numeric string does not match.
//! - `before`/`after`: the attribute is an RFC 3339 string or epoch
//!   milliseconds, compared with each value.
//! - `semver_eq`/`semver_lt`/`semver_gt`: the attribute is a semver string
//!   ("1.2" reads as "1.2.0"), compared by semver precedence (build metadata
//!   ignored).
//! - `in_cidr`: the attribute is an IP address inside any of the networks.
//! - `segment_match`: the context is in any named segment (see
//!   [`CompiledSegment`] for membership); `attribute` is ignored and an
//!   unknown segment does not match.

use std::cmp::Ordering;
use std::net::IpAddr;

use super::Lookup;
use crate::compile::{
    CompiledClause, CompiledSegment, Operand, millis_from_number, millis_from_str, parse_semver,
};
use crate::model::{AttrRef, Context, Operator};

/// Whether `clause` matches `ctx`. Segments are found in `lookup`; with none,
/// `segment_match` never matches.
pub(super) fn matches(clause: &CompiledClause, ctx: &Context, lookup: Option<&dyn Lookup>) -> bool {
    if clause.over_budget {
        return false;
    }
    if clause.op == Operator::SegmentMatch {
        return in_any_segment(clause, ctx, lookup) != clause.negate;
    }
    let Some(attr) = ctx.get(&clause.attribute) else {
        return false;
    };
    let hit = match attr {
        AttrRef::List(items) => items.iter().any(|s| matches_one(clause, AttrRef::Str(s))),
        one => matches_one(clause, one),
    };
    hit != clause.negate
}

impl CompiledSegment {
    /// Whether `ctx` is in this segment: an included key is in (even if also
    /// excluded), else an excluded key is out, else any rule decides.
    pub fn contains(&self, ctx: &Context) -> bool {
        if self.is_included(&ctx.key) {
            return true;
        }
        if self.is_excluded(&ctx.key) {
            return false;
        }
        // Segment rules never use `segment_match`, so they need no lookup.
        (self.rules().iter()).any(|rule| rule.iter().all(|c| matches(c, ctx, None)))
    }
}

fn in_any_segment(clause: &CompiledClause, ctx: &Context, lookup: Option<&dyn Lookup>) -> bool {
    let Some(lookup) = lookup else {
        return false;
    };
    clause.operands.iter().any(|o| match o {
        Operand::Str(key) => lookup.segment(key).is_some_and(|s| s.contains(ctx)),
        _ => false,
    })
}

/// Whether one scalar attribute value matches any of the clause's values.
fn matches_one(c: &CompiledClause, attr: AttrRef<'_>) -> bool {
    use Operator::*;
    let ops = &c.operands;
    match (c.op, attr) {
        (In, _) => ops.iter().any(|o| equals(attr, o, c.case_insensitive)),
        (StartsWith | EndsWith | Contains, AttrRef::Str(s)) => ops.iter().any(|o| match o {
            Operand::Str(v) => text(c.op, c.case_insensitive, s, v),
            _ => false,
        }),
        (Matches, AttrRef::Str(s)) => ops.iter().any(|o| match o {
            Operand::Regex(r) => r.is_match(s),
            _ => false,
        }),
        (Lt | Lte | Gt | Gte, AttrRef::Number(n)) => ops.iter().any(|o| match o {
            Operand::Num(v) => compare(c.op, n.partial_cmp(v)),
            _ => false,
        }),
        (Before | After, _) => attr_millis(attr).is_some_and(|t| {
            ops.iter()
                .any(|o| matches!(o, Operand::Date(d) if compare(c.op, Some(t.cmp(d)))))
        }),
        (SemverEq | SemverLt | SemverGt, AttrRef::Str(s)) => parse_semver(s).is_some_and(|v| {
            ops.iter().any(|o| match o {
                Operand::Semver(w) => compare(c.op, Some(v.cmp_precedence(w))),
                _ => false,
            })
        }),
        (InCidr, AttrRef::Str(s)) => s.parse::<IpAddr>().is_ok_and(|ip| {
            ops.iter()
                .any(|o| matches!(o, Operand::Cidr(net) if net.contains(&ip)))
        }),
        _ => false,
    }
}

/// Whether `ordering` (attribute vs value) satisfies an ordering operator.
fn compare(op: Operator, ordering: Option<Ordering>) -> bool {
    use Operator::*;
    let Some(ord) = ordering else {
        return false;
    };
    match op {
        Lt | Before | SemverLt => ord == Ordering::Less,
        Lte => ord != Ordering::Greater,
        Gt | After | SemverGt => ord == Ordering::Greater,
        Gte => ord != Ordering::Less,
        SemverEq => ord == Ordering::Equal,
        _ => false,
    }
}

fn attr_millis(attr: AttrRef<'_>) -> Option<i64> {
    match attr {
        AttrRef::Str(s) => millis_from_str(s),
        AttrRef::Number(n) => millis_from_number(n),
        _ => None,
    }
}

fn equals(attr: AttrRef<'_>, operand: &Operand, case_insensitive: bool) -> bool {
    match (attr, operand) {
        (AttrRef::Str(a), Operand::Str(v)) if case_insensitive => lower(a).eq(v.chars()),
        (AttrRef::Str(a), Operand::Str(v)) => a == &**v,
        (AttrRef::Number(a), Operand::Num(v)) => a == *v,
        (AttrRef::Bool(a), Operand::Bool(v)) => a == *v,
        _ => false,
    }
}

/// `starts_with`, `ends_with` or `contains`; `v` is already lowercased when
/// `case_insensitive`.
fn text(op: Operator, case_insensitive: bool, s: &str, v: &str) -> bool {
    match (op, case_insensitive) {
        (Operator::StartsWith, false) => s.starts_with(v),
        (Operator::EndsWith, false) => s.ends_with(v),
        (Operator::Contains, false) => s.contains(v),
        (Operator::StartsWith, true) => starts_with_ci(s, v),
        (Operator::EndsWith, true) => {
            let mut rev = s.chars().rev().flat_map(|c| c.to_lowercase().rev());
            v.chars().rev().all(|c| rev.next() == Some(c))
        }
        (Operator::Contains, true) => {
            v.is_empty() || s.char_indices().any(|(i, _)| starts_with_ci(&s[i..], v))
        }
        _ => false,
    }
}

fn lower(s: &str) -> impl Iterator<Item = char> + '_ {
    s.chars().flat_map(char::to_lowercase)
}

fn starts_with_ci(s: &str, lowered_prefix: &str) -> bool {
    let mut chars = lower(s);
    lowered_prefix.chars().all(|c| chars.next() == Some(c))
}

#[cfg(test)]
mod tests {
    use super::text;
    use crate::model::Operator::*;

    #[test]
    fn case_insensitive_text_is_unicode_aware() {
        assert!(text(StartsWith, true, "ÉCOLE normale", "école"));
        assert!(text(EndsWith, true, "Grüße STRASSE", "strasse"));
        assert!(text(Contains, true, "Ünïcödé", "nïc"));
        assert!(!text(Contains, true, "abc", "abcd"));
        assert!(text(Contains, true, "abc", ""));
        assert!(!text(StartsWith, false, "ABC", "abc"));
    }
}
