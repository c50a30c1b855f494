//! Evaluation of one flag, or of every flag, for a context.
//!
//! Order: **off** → **prerequisites** → **individual targets** (on the context
//! key) → **rules** in order (all clauses must match) → **fallthrough**.
//!
//! - A prerequisite passes when its flag exists, is enabled, evaluates without
//!   error and serves the required variation; otherwise this flag serves its
//!   off variation with `PREREQUISITE_FAILED` naming the first failing one
//!   (a missing prerequisite flag is a failure, not an error).
//! - A prerequisite cycle, or a chain deeper than [`MAX_PREREQUISITE_DEPTH`],
//!   makes every flag whose evaluation reaches it serve its off variation
//!   with `ERROR`/`MALFORMED_FLAG`. Detection uses a fixed array on the stack.
//! - A malformed flag (see [`crate::compile`]) serves its off variation with
//!   `ERROR`/`MALFORMED_FLAG`, even when disabled (so the breakage stays
//!   visible); if even that index is out of range the value is absent.
//! - `in_rollout` is true exactly when a percentage rollout chose the value.
//!
//! Evaluation never panics and does not allocate (pinned by
//! `tests/t30_no_alloc.rs`; the exceptions are a regex's per-thread cache on
//! its first use and semver pre-release identifiers over 8 bytes).
//!
//! Clause semantics are documented in `eval/clause.rs`.

mod clause;
mod owned;

pub use owned::{EvaluationDetail, OwnedReason};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::bucket;
use crate::compile::{CompiledFlag, CompiledSegment, CompiledServe, FlagBody};
use crate::model::Context;
use crate::set::FlagSet;

/// The longest prerequisite chain followed below the flag evaluated.
pub const MAX_PREREQUISITE_DEPTH: usize = 16;

/// Where evaluation finds prerequisite flags and segments by key.
pub trait Lookup {
    /// The compiled flag with this key.
    fn flag(&self, key: &str) -> Option<&CompiledFlag>;
    /// The compiled segment with this key.
    fn segment(&self, key: &str) -> Option<&CompiledSegment>;
}

/// The result of evaluating a flag, borrowing from the flag.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Detail<'a> {
    /// The value served; `None` only for errors with no valid off variation.
    pub value: Option<&'a Value>,
    /// The index of the variation served.
    pub variation: Option<usize>,
    /// Why this value was served.
    pub reason: Reason<'a>,
    /// Whether a percentage rollout chose the variation.
    pub in_rollout: bool,
}

/// Why a value was served. See [`OwnedReason`] for the JSON shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason<'a> {
    /// The flag is disabled.
    Off,
    /// The context key is listed in a target.
    TargetMatch,
    /// A rule matched.
    RuleMatch { rule_index: usize, rule_id: &'a str },
    /// This prerequisite was missing, off, or served another variation.
    PrerequisiteFailed { prerequisite: &'a str },
    /// Nothing matched.
    Fallthrough,
    /// Something went wrong; the off variation (if any) is served.
    Error(ErrorKind),
}

/// The kinds of evaluation error, shared with SDKs (hence the client ones).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorKind {
    /// No flag has the key asked for.
    FlagNotFound,
    /// The flag cannot be evaluated: it failed to compile or its prerequisites cycle.
    MalformedFlag,
    /// The SDK asked for a type the flag does not serve.
    WrongType,
    /// The SDK has no flags yet.
    ClientNotReady,
    /// Anything else.
    General,
}

/// Evaluates `flag` for `ctx`, resolving prerequisites and segments in `lookup`.
pub fn evaluate<'a>(flag: &'a CompiledFlag, ctx: &Context, lookup: &'a dyn Lookup) -> Detail<'a> {
    let mut path = Path::default();
    match evaluate_in(flag, ctx, lookup, &mut path) {
        Ok(detail) => detail,
        Err(Broken) => error_detail(flag, ErrorKind::MalformedFlag),
    }
}

/// Evaluates every flag in `set` for `ctx`, in no particular order.
pub fn evaluate_all<'a>(
    set: &'a FlagSet,
    ctx: &Context,
) -> impl Iterator<Item = (&'a str, Detail<'a>)> {
    set.flags()
        .map(move |flag| (flag.key(), evaluate(flag, ctx, set)))
}

/// A prerequisite cycle or too deep a chain: the whole evaluation is void.
#[derive(Debug)]
struct Broken;

/// The keys of the flags whose prerequisites are being checked, outermost
/// first. Only flags with prerequisites are pushed (a flag without any cannot
/// close a cycle), so a chain of N hops pushes N keys.
#[derive(Debug, Default)]
struct Path<'a> {
    /// `None` until the first push, so flags without prerequisites skip the setup.
    keys: Option<[&'a str; MAX_PREREQUISITE_DEPTH]>,
    /// How many of `keys` are in use.
    len: usize,
}

impl<'a> Path<'a> {
    fn push(&mut self, key: &'a str) -> Result<(), Broken> {
        let keys = self.keys.get_or_insert([""; MAX_PREREQUISITE_DEPTH]);
        let in_use = keys.get(..self.len).ok_or(Broken)?;
        if in_use.contains(&key) {
            return Err(Broken);
        }
        *keys.get_mut(self.len).ok_or(Broken)? = key;
        self.len += 1;
        Ok(())
    }

    fn pop(&mut self) {
        self.len = self.len.saturating_sub(1);
    }
}

fn evaluate_in<'a>(
    flag: &'a CompiledFlag,
    ctx: &Context,
    lookup: &'a dyn Lookup,
    path: &mut Path<'a>,
) -> Result<Detail<'a>, Broken> {
    let Some(body) = flag.body() else {
        return Ok(error_detail(flag, ErrorKind::MalformedFlag));
    };
    if !flag.flag().enabled {
        return Ok(off_detail(flag, Reason::Off));
    }
    if !flag.flag().prerequisites.is_empty() {
        path.push(flag.key())?;
        let failed = first_failed_prerequisite(flag, ctx, lookup, path);
        path.pop();
        if let Some(prerequisite) = failed? {
            let reason = Reason::PrerequisiteFailed { prerequisite };
            return Ok(off_detail(flag, reason));
        }
    }
    Ok(evaluate_targeting(flag, body, ctx, lookup))
}

/// The key of the first prerequisite that does not pass, if any.
fn first_failed_prerequisite<'a>(
    flag: &'a CompiledFlag,
    ctx: &Context,
    lookup: &'a dyn Lookup,
    path: &mut Path<'a>,
) -> Result<Option<&'a str>, Broken> {
    for prereq in &flag.flag().prerequisites {
        let passed = match lookup.flag(&prereq.flag) {
            Some(pf) if pf.flag().enabled => {
                let detail = evaluate_in(pf, ctx, lookup, path)?;
                let errored = matches!(detail.reason, Reason::Error(_));
                !errored && detail.variation == Some(prereq.variation)
            }
            _ => false,
        };
        if !passed {
            return Ok(Some(&prereq.flag));
        }
    }
    Ok(None)
}

fn evaluate_targeting<'a>(
    flag: &'a CompiledFlag,
    body: &'a FlagBody,
    ctx: &Context,
    lookup: &'a dyn Lookup,
) -> Detail<'a> {
    if let Some(&variation) = body.targets.get(ctx.key.as_str()) {
        return variation_detail(flag, variation, Reason::TargetMatch, false);
    }
    for (rule_index, rule) in body.rules.iter().enumerate() {
        if rule
            .clauses
            .iter()
            .all(|c| clause::matches(c, ctx, Some(lookup)))
        {
            let reason = Reason::RuleMatch {
                rule_index,
                rule_id: &rule.id,
            };
            return serve(flag, &rule.serve, ctx, reason);
        }
    }
    serve(flag, &body.fallthrough, ctx, Reason::Fallthrough)
}

fn serve<'a>(
    flag: &'a CompiledFlag,
    serve: &CompiledServe,
    ctx: &Context,
    reason: Reason<'a>,
) -> Detail<'a> {
    match serve {
        CompiledServe::Variation(v) => variation_detail(flag, *v, reason, false),
        CompiledServe::Rollout(r) => {
            let b = bucket::bucket_context(r.hash, &r.salt, &r.bucket_by, ctx);
            match bucket::variation_for_bucket(&r.variations, b) {
                Some(v) => variation_detail(flag, v, reason, true),
                None => error_detail(flag, ErrorKind::MalformedFlag),
            }
        }
    }
}

/// Serves `variation`; an index out of range (compilation rules it out)
/// degrades to an error rather than a panic.
fn variation_detail<'a>(
    flag: &'a CompiledFlag,
    variation: usize,
    reason: Reason<'a>,
    in_rollout: bool,
) -> Detail<'a> {
    match flag.flag().variations.get(variation) {
        Some(v) => Detail {
            value: Some(&v.value),
            variation: Some(variation),
            reason,
            in_rollout,
        },
        None => error_detail(flag, ErrorKind::MalformedFlag),
    }
}

/// The off variation with `reason` (`Off` or `PrerequisiteFailed`).
fn off_detail<'a>(flag: &'a CompiledFlag, reason: Reason<'a>) -> Detail<'a> {
    variation_detail(flag, flag.flag().off_variation, reason, false)
}

/// An error: the off variation when it exists, else no value.
fn error_detail(flag: &CompiledFlag, kind: ErrorKind) -> Detail<'_> {
    let off = flag.flag().off_variation;
    let value = flag.flag().variations.get(off).map(|v| &v.value);
    Detail {
        value,
        variation: value.map(|_| off),
        reason: Reason::Error(kind),
        in_rollout: false,
    }
}

impl ErrorKind {
    /// The name used in JSON, e.g. `FLAG_NOT_FOUND`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::FlagNotFound => "FLAG_NOT_FOUND",
            ErrorKind::MalformedFlag => "MALFORMED_FLAG",
            ErrorKind::WrongType => "WRONG_TYPE",
            ErrorKind::ClientNotReady => "CLIENT_NOT_READY",
            ErrorKind::General => "GENERAL",
        }
    }
}

impl std::fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
