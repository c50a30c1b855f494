//! The flag model and the pure evaluator that the server and the SDK share.
//!
//! This crate owns what a flag *is* and what it *serves*. It does no IO, has no
//! async runtime, and knows nothing of HTTP, Raft or storage: give it flags,
//! segments and a context, and it answers deterministically.
//!
//! # Layout
//! - [`model`]: the serde types (`Flag`, `Segment`, `Context`, …) in the JSON shape
//!   the API and SDKs use.
//! - [`validate`]: every problem with a flag or segment, each with its field path.
//! - [`limits`]: the documented size limits the API enforces on new input
//!   (flags, segments, the whole state, evaluation contexts).
//! - [`compile`]: a flag compiled once per version (regexes, CIDRs, semvers parsed).
//! - [`bucket`](mod@bucket): the one function that maps a context to a rollout bucket.
//! - [`eval`]: evaluation of one flag or of every flag for a context, and the
//!   owned `EvaluationDetail` the API serialises.
//! - [`scope`]: projects and environments, the scopes flags live in.
//! - [`compare`]: where two environments of a project differ.
//! - [`definition`]: a flag's definition (shared by a project's environments)
//!   and its configuration (one per environment).
//! - [`set`]: `FlagSet`, the compiled collection of flags and segments.
//! - [`wire`]: the change-feed shapes (snapshot, change events) shared by the
//!   server's stream and the SDK.
//! - [`openfeature`]: how a result reads in OpenFeature terms (reason, error
//!   code, variant, metadata, when a targeting key is needed), shared by the
//!   OFREP endpoints and the Rust OpenFeature provider.
//! - `stackbuf`: a fixed stack buffer so number and semver formatting never allocate.
//!
//! # Rollout bucketing
//!
//! `bucket = xxh3_64(salt ++ "." ++ value) % 100_000`, where `salt` is the
//! rollout's `seed`, else the flag's `salt`, else the flag's `key`, and
//! `value` is the `bucket_by` attribute (numbers as Rust's `{}` of the `f64`,
//! so `42` not `42.0`). For flag `new-checkout` (no salt, no seed) and context
//! key `user-1`, the hash input is the bytes `new-checkout.user-1`, whose
//! XXH3-64 is `0x7220821870ac0a3f`: bucket 74 687, so a 50/50 rollout serves
//! it its second slice. A context without a bucketable attribute (missing,
//! boolean or list) gets bucket 0, i.e. the first slice with a non-zero
//! weight, and still counts as `in_rollout`. Details and the variation walk
//! are in [`bucket`](mod@bucket).
//!
//! # Invariants
//! - **Architecture Invariant:** evaluation does no IO, never panics, and does
//!   not allocate (details in [`eval`]).
//! - **Architecture Invariant:** a malformed flag evaluates to an error for
//!   itself only; flags that require it see `PREREQUISITE_FAILED`, and every
//!   other flag is unaffected.

#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod bucket;
pub mod compare;
pub mod compile;
pub mod definition;
pub mod eval;
pub mod limits;
pub mod model;
pub mod openfeature;
pub mod promote;
pub mod scope;
pub mod set;
mod stackbuf;
pub mod validate;
pub mod wire;

pub use bucket::{BUCKETS, bucket};
pub use compile::{CompiledFlag, CompiledSegment};
pub use definition::FlagDefinition;
pub use eval::{
    Detail, ErrorKind, EvaluationDetail, Lookup, MAX_PREREQUISITE_DEPTH, OwnedReason, Reason,
    evaluate, evaluate_all,
};
pub use model::*;
pub use scope::{Environment, Project};
pub use set::{FlagSet, segments_used_by};
pub use validate::{
    Catalog, FieldError, StateUsage, Stored, validate_context, validate_flag, validate_flag_input,
    validate_key, validate_segment, validate_segment_input,
};
