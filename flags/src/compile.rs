//! Flags and segments compiled once per version, so evaluation only compares.
//!
//! Compilation parses every clause value (regexes, semvers, CIDRs, dates,
//! numbers), lowercases case-insensitive strings, indexes targets by context
//! key and checks every variation index and rollout. It needs no catalog:
//! prerequisites and segments are looked up by key at evaluation time.
//!
//! A flag that fails to compile is **not** an error here. Its
//! [`CompiledFlag`] records why ([`CompiledFlag::is_malformed`]) and evaluates
//! to its off variation with `ERROR`/`MALFORMED_FLAG`. A broken segment rule
//! never matches (see [`CompiledSegment`]). Either way, one broken flag or
//! segment never affects the others.
//!
//! The `matches` patterns of one flag or segment share a budget of compiled
//! size ([`crate::limits::MAX_REGEX_BYTES`]). The API refuses new input over
//! it; a stored flag over it still compiles, and from the first pattern that
//! does not fit, its `matches` clauses never match ([`CompiledFlag::over_budget`]
//! says where), so a state written before the budget still loads.

mod operand;
mod segment;

use std::collections::HashMap;
use std::sync::Arc;

use crate::bucket;
use crate::model::{BucketHash, Clause, Flag, Operator, Serve, WeightedVariation};

pub(crate) use operand::{Operand, RegexBudget, parse_operand};
pub(crate) use operand::{millis_from_number, millis_from_str, parse_semver};
pub use segment::CompiledSegment;
pub(crate) use segment::segment_regexes;

/// A flag ready to evaluate. Cloning is cheap: the compiled form sits behind an `Arc`.
#[derive(Debug, Clone)]
pub struct CompiledFlag {
    /// Shared so that a `FlagSet` clone does not re-copy regexes and target maps.
    inner: Arc<FlagInner>,
}

#[derive(Debug)]
struct FlagInner {
    /// The source: evaluation serves its variation values and walks its prerequisites.
    flag: Arc<Flag>,
    /// The compiled targeting, or why the flag could not be compiled.
    body: Result<FlagBody, String>,
    /// The first pattern over the regex budget, if any (see the module docs).
    over_budget: Option<String>,
    /// The source as JSON plus the compiled regexes, in bytes: what the
    /// state limit counts ([`crate::limits::MAX_STATE_BYTES`]).
    bytes: usize,
    /// What its compiled regexes take, in bytes (within the budget).
    regex_bytes: usize,
}

/// Everything evaluation needs beyond the source flag.
#[derive(Debug)]
pub(crate) struct FlagBody {
    /// Context key → variation; when a key is listed twice the first target wins.
    pub targets: HashMap<Box<str>, usize>,
    /// The rules, in the flag's order.
    pub rules: Vec<CompiledRule>,
    /// What a context that matched nothing gets.
    pub fallthrough: CompiledServe,
}

/// A rule with parsed clauses.
#[derive(Debug)]
pub(crate) struct CompiledRule {
    /// The rule's id, reported in `RULE_MATCH`.
    pub id: Box<str>,
    /// All must match.
    pub clauses: Vec<CompiledClause>,
    /// What the rule serves; its indexes are checked.
    pub serve: CompiledServe,
}

/// A clause with parsed values.
#[derive(Debug)]
pub(crate) struct CompiledClause {
    /// The context attribute read (`key` is the targeting key).
    pub attribute: Box<str>,
    /// How the attribute is compared with `operands`.
    pub op: Operator,
    /// Inverts a match (but never turns a missing attribute into one).
    pub negate: bool,
    /// Compare strings ignoring case (operands are already lowercased).
    pub case_insensitive: bool,
    /// The parsed `values`; the clause matches if any one matches.
    pub operands: Vec<Operand>,
    /// A pattern did not fit in the regex budget: the clause never matches,
    /// negated or not.
    pub over_budget: bool,
}

/// A serve whose variation indexes are known to be in range.
#[derive(Debug)]
pub(crate) enum CompiledServe {
    /// Always this variation.
    Variation(usize),
    /// A percentage rollout.
    Rollout(CompiledRollout),
}

/// A rollout with its bucketing salt resolved.
#[derive(Debug)]
pub(crate) struct CompiledRollout {
    /// `seed`, else the flag's salt, else its key (see [`bucket::salt_for`]).
    pub salt: Box<str>,
    /// The attribute hashed.
    pub bucket_by: Box<str>,
    /// The bucketing algorithm.
    pub hash: BucketHash,
    /// The slices, weights summing to 100 000.
    pub variations: Vec<WeightedVariation>,
}

impl CompiledFlag {
    /// Compiles `flag`. Never fails: problems make the flag malformed.
    pub fn new(flag: Arc<Flag>) -> Self {
        let json_len = crate::validate::json_bytes(&*flag);
        Self::with_json_len(flag, json_len)
    }

    /// [`CompiledFlag::new`] for a flag whose compact JSON (as
    /// `serde_json::to_vec` writes it) is `json_len` bytes long, already
    /// known to the caller: the write path has just encoded it.
    pub fn with_json_len(flag: Arc<Flag>, json_len: usize) -> Self {
        let mut budget = RegexBudget::default();
        let body = compile_flag(&flag, &mut budget);
        let bytes = json_len + budget.used;
        CompiledFlag {
            inner: Arc::new(FlagInner {
                bytes,
                regex_bytes: budget.used.min(crate::limits::MAX_REGEX_BYTES),
                flag,
                body,
                over_budget: budget.over.map(|(field, why)| format!("{field}: {why}")),
            }),
        }
    }

    /// The source flag.
    pub fn flag(&self) -> &Arc<Flag> {
        &self.inner.flag
    }

    /// The flag's key.
    pub fn key(&self) -> &str {
        &self.inner.flag.key
    }

    /// Why the flag could not be compiled (`field: problem`), if it could not.
    pub fn is_malformed(&self) -> Option<&str> {
        self.inner.body.as_ref().err().map(String::as_str)
    }

    /// The first `matches` value over the flag's regex budget (`field:
    /// problem`), from which on its `matches` clauses never match. Only a
    /// flag stored before the budget existed can have one.
    pub fn over_budget(&self) -> Option<&str> {
        self.inner.over_budget.as_deref()
    }

    /// Bytes the flag counts for in the state's limit: its JSON plus its
    /// compiled regexes.
    pub fn bytes(&self) -> usize {
        self.inner.bytes
    }

    /// What the flag's compiled regexes take, in bytes: at most
    /// [`crate::limits::MAX_REGEX_BYTES`].
    pub fn regex_bytes(&self) -> usize {
        self.inner.regex_bytes
    }

    /// The compiled targeting, absent when malformed.
    pub(crate) fn body(&self) -> Option<&FlagBody> {
        self.inner.body.as_ref().ok()
    }
}

/// What `flag`'s `matches` patterns take compiled, and the first one over
/// the budget, which [`crate::validate_flag_input`] refuses.
pub(crate) fn flag_regexes(flag: &Flag) -> RegexBudget {
    let mut budget = RegexBudget::default();
    let _ = compile_flag(flag, &mut budget);
    budget
}

fn compile_flag(flag: &Flag, budget: &mut RegexBudget) -> Result<FlagBody, String> {
    let n = flag.variations.len();
    check_index("off_variation", flag.off_variation, n)?;
    for (i, v) in flag.variations.iter().enumerate() {
        if !flag.kind.accepts(&v.value) {
            return Err(format!(
                "variations[{i}].value: not a {}",
                flag.kind.as_str()
            ));
        }
    }
    let mut targets = HashMap::new();
    for (i, t) in flag.targets.iter().enumerate() {
        check_index(&format!("targets[{i}].variation"), t.variation, n)?;
        for key in &t.values {
            targets.entry(key.as_str().into()).or_insert(t.variation);
        }
    }
    let rules = (flag.rules.iter().enumerate())
        .map(|(i, rule)| {
            let path = format!("rules[{i}]");
            Ok(CompiledRule {
                id: rule.id.as_str().into(),
                clauses: compile_clauses(&path, &rule.clauses, budget)?,
                serve: compile_serve(&format!("{path}.serve"), &rule.serve, flag)?,
            })
        })
        .collect::<Result<_, String>>()?;
    let fallthrough = compile_serve("fallthrough", &flag.fallthrough, flag)?;
    Ok(FlagBody {
        targets,
        rules,
        fallthrough,
    })
}

fn check_index(path: &str, index: usize, len: usize) -> Result<(), String> {
    if index < len {
        Ok(())
    } else {
        Err(format!(
            "{path}: variation {index} does not exist ({len} variations)"
        ))
    }
}

fn compile_serve(path: &str, serve: &Serve, flag: &Flag) -> Result<CompiledServe, String> {
    let n = flag.variations.len();
    match serve {
        Serve::Variation(v) => {
            check_index(&format!("{path}.variation"), *v, n)?;
            Ok(CompiledServe::Variation(*v))
        }
        Serve::Rollout(r) => {
            for (i, wv) in r.variations.iter().enumerate() {
                check_index(
                    &format!("{path}.rollout.variations[{i}].variation"),
                    wv.variation,
                    n,
                )?;
            }
            let total: u64 = r.variations.iter().map(|wv| u64::from(wv.weight)).sum();
            if total != u64::from(bucket::BUCKETS) {
                return Err(format!(
                    "{path}.rollout.variations: weights sum to {total}, not 100000"
                ));
            }
            Ok(CompiledServe::Rollout(CompiledRollout {
                salt: bucket::salt_for(flag, r).into(),
                bucket_by: r.bucket_by.as_str().into(),
                hash: r.hash,
                variations: r.variations.clone(),
            }))
        }
    }
}

fn compile_clauses(
    path: &str,
    clauses: &[Clause],
    budget: &mut RegexBudget,
) -> Result<Vec<CompiledClause>, String> {
    (clauses.iter().enumerate())
        .map(|(i, c)| compile_clause(&format!("{path}.clauses[{i}]"), c, budget))
        .collect()
}

/// Compiles one clause; `path` names it in the error.
fn compile_clause(
    path: &str,
    clause: &Clause,
    budget: &mut RegexBudget,
) -> Result<CompiledClause, String> {
    let mut operands = Vec::with_capacity(clause.values.len());
    let mut over_budget = false;
    for (i, v) in clause.values.iter().enumerate() {
        let field = || format!("{path}.values[{i}]");
        let error = |e: operand::OperandError| format!("{}: {} ({})", field(), e.message, e.code);
        let pattern = v.as_str().filter(|_| clause.operator == Operator::Matches);
        let operand = match pattern {
            Some(p) => match budget.compile(&field(), p, clause.case_insensitive) {
                Ok(Some(re)) => Operand::Regex(re),
                Ok(None) => {
                    over_budget = true;
                    break;
                }
                Err(e) => return Err(error(e)),
            },
            None => parse_operand(clause.operator, clause.case_insensitive, v).map_err(error)?,
        };
        operands.push(operand);
    }
    Ok(CompiledClause {
        attribute: clause.attribute.as_str().into(),
        op: clause.operator,
        negate: clause.negate,
        case_insensitive: clause.case_insensitive,
        operands,
        over_budget,
    })
}
