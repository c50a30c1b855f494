//! Segments compiled once per version: key sets for `included`/`excluded`
//! and parsed rules.

use std::collections::HashSet;
use std::sync::Arc;

use super::{CompiledClause, RegexBudget, compile_clauses};
use crate::model::{Clause, Operator, Segment};

/// A segment ready to evaluate. Cloning is cheap.
///
/// Membership: a context whose key is in `included` is in the segment (this
/// wins even if the key is also in `excluded`); otherwise a key in `excluded`
/// is out; otherwise the context is in if any rule's clauses all match.
/// A rule that fails to compile, or that uses `segment_match`, never matches;
/// [`CompiledSegment::is_malformed`] says why.
#[derive(Debug, Clone)]
pub struct CompiledSegment {
    /// Shared so that clones do not copy 10k-key sets.
    inner: Arc<SegmentInner>,
}

#[derive(Debug)]
struct SegmentInner {
    /// The source segment.
    segment: Arc<Segment>,
    /// Keys always in.
    included: HashSet<String>,
    /// Keys out unless included.
    excluded: HashSet<String>,
    /// The rules that compiled; each is a list of clauses that must all match.
    rules: Vec<Vec<CompiledClause>>,
    /// The first broken rule's problem, if any.
    malformed: Option<String>,
    /// The first pattern over the regex budget, if any (see [`super`]).
    over_budget: Option<String>,
    /// The source as JSON plus the compiled regexes, in bytes.
    bytes: usize,
}

impl CompiledSegment {
    /// Compiles `segment`. Never fails: a broken rule is dropped and recorded.
    pub fn new(segment: Arc<Segment>) -> Self {
        let mut rules = Vec::with_capacity(segment.rules.len());
        let mut malformed = None;
        let mut budget = RegexBudget::default();
        for (i, rule) in segment.rules.iter().enumerate() {
            match compile_segment_rule(i, &rule.clauses, &mut budget) {
                Ok(clauses) => rules.push(clauses),
                Err(e) => {
                    malformed.get_or_insert(e);
                }
            }
        }
        let inner = SegmentInner {
            bytes: crate::validate::json_bytes(&*segment) + budget.used,
            included: segment.included.iter().cloned().collect(),
            excluded: segment.excluded.iter().cloned().collect(),
            rules,
            malformed,
            over_budget: budget.over.map(|(field, why)| format!("{field}: {why}")),
            segment,
        };
        CompiledSegment {
            inner: Arc::new(inner),
        }
    }

    /// The source segment.
    pub fn segment(&self) -> &Arc<Segment> {
        &self.inner.segment
    }

    /// The segment's key.
    pub fn key(&self) -> &str {
        &self.inner.segment.key
    }

    /// The first rule that could not be compiled and why, if any.
    pub fn is_malformed(&self) -> Option<&str> {
        self.inner.malformed.as_deref()
    }

    /// The first `matches` value over the segment's regex budget, from
    /// which on its `matches` clauses never match (see
    /// [`CompiledFlag::over_budget`](super::CompiledFlag::over_budget)).
    pub fn over_budget(&self) -> Option<&str> {
        self.inner.over_budget.as_deref()
    }

    /// Bytes the segment counts for in the state's limit: its JSON plus its
    /// compiled regexes.
    pub fn bytes(&self) -> usize {
        self.inner.bytes
    }

    pub(crate) fn is_included(&self, key: &str) -> bool {
        self.inner.included.contains(key)
    }

    pub(crate) fn is_excluded(&self, key: &str) -> bool {
        self.inner.excluded.contains(key)
    }

    pub(crate) fn rules(&self) -> &[Vec<CompiledClause>] {
        &self.inner.rules
    }
}

/// What `segment`'s `matches` patterns take compiled, and the first one
/// over the budget, which [`crate::validate_segment_input`] refuses.
pub(crate) fn segment_regexes(segment: &Segment) -> RegexBudget {
    let mut budget = RegexBudget::default();
    for (i, rule) in segment.rules.iter().enumerate() {
        let _ = compile_segment_rule(i, &rule.clauses, &mut budget);
    }
    budget
}

fn compile_segment_rule(
    i: usize,
    clauses: &[Clause],
    budget: &mut RegexBudget,
) -> Result<Vec<CompiledClause>, String> {
    let path = format!("rules[{i}]");
    if let Some(j) = clauses
        .iter()
        .position(|c| c.operator == Operator::SegmentMatch)
    {
        return Err(format!(
            "{path}.clauses[{j}].operator: segment_match is not allowed in a segment"
        ));
    }
    compile_clauses(&path, clauses, budget)
}
