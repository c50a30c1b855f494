//! The one function that maps a context to a rollout bucket.
//!
//! # The exact input (`BucketHash::Vexil`)
//!
//! ```text
//! bucket = xxh3_64(salt ++ "." ++ value) % 100_000
//! ```
//!
//! - `xxh3_64` is XXH3 64-bit with seed 0 and the default secret, as in the
//!   reference `XXH3_64bits` (here fed piecewise through the streaming hasher,
//!   which gives the same result as hashing the concatenation).
//! - `salt` is the rollout's `seed` when set and non-empty, else the flag's
//!   `salt` when non-empty, else the flag's `key` ([`salt_for`]).
//! - `value` is the UTF-8 of the `bucket_by` attribute: a string as is; a
//!   number as Rust's `{}` display of the `f64`, which prints integral values
//!   without a fraction (`42`, not `42.0`; `-0` is hashed as `0`) and others
//!   in full (`1.5`, never exponent notation). Booleans, lists and a missing
//!   attribute are not bucketable: they get bucket **0**, i.e. the first
//!   variation with a non-zero weight, and still count as `in_rollout`.
//!
//! Worked example: flag key `new-checkout`, empty salt, no seed, context key
//! `user-1`. The hash input is the 19 bytes `new-checkout.user-1`;
//! `xxh3_64` of them is `0x7220821870ac0a3f`, and that modulo 100 000 is
//! bucket **74 687**. With a 50/50 rollout (`[{0, 50000}, {1, 50000}]`) the
//! running sums are 50 000 and 100 000, so the context gets variation 1.
//! (Pinned with other vectors, computed by the reference `xxhsum -H3`, in
//! `tests/t21_bucket_golden.rs`.)
//!
//! # From bucket to variation
//!
//! Walk `rollout.variations` in order, summing weights; the first slice whose
//! running sum exceeds the bucket wins. Weights are thousandths of a percent
//! and sum to 100 000. Raising the first slice's weight therefore only moves
//! users *into* it, never out.

use std::fmt::Write;

use xxhash_rust::xxh3::Xxh3Default;

use crate::model::{AttrRef, BucketHash, Context, Flag, Rollout, WeightedVariation};
use crate::stackbuf::StackBuf;

/// The number of buckets; rollout weights sum to this.
pub const BUCKETS: u32 = 100_000;

/// Large enough for Rust's `{}` of any `f64` (the longest, subnormals such as
/// `5e-324`, print as ~330 characters).
const NUMBER_BUF: usize = 400;

/// The bucket, in `0..100_000`, of `attribute_value` under `salt`.
///
/// Allocation-free: the pieces are streamed into the hasher.
pub fn bucket(hash: BucketHash, salt: &str, attribute_value: &str) -> u32 {
    match hash {
        BucketHash::Vexil => {
            let mut h = Xxh3Default::new();
            h.update(salt.as_bytes());
            h.update(b".");
            h.update(attribute_value.as_bytes());
            // The remainder is below 100 000, so it always fits in a u32.
            u32::try_from(h.digest() % u64::from(BUCKETS)).unwrap_or(0)
        }
    }
}

/// The salt a rollout hashes with: its `seed`, else the flag's `salt`, else
/// the flag's `key` (empty strings count as unset).
pub fn salt_for<'a>(flag: &'a Flag, rollout: &'a Rollout) -> &'a str {
    match rollout.seed.as_deref() {
        Some(seed) if !seed.is_empty() => seed,
        _ if !flag.salt.is_empty() => &flag.salt,
        _ => &flag.key,
    }
}

/// The bucket of `ctx` for a rollout hashing `bucket_by` under `salt`;
/// 0 when the attribute is missing or not bucketable (bool, list).
pub fn bucket_context(hash: BucketHash, salt: &str, bucket_by: &str, ctx: &Context) -> u32 {
    match ctx.get(bucket_by) {
        Some(AttrRef::Str(s)) => bucket(hash, salt, s),
        Some(AttrRef::Number(n)) => {
            let mut buf = StackBuf::<NUMBER_BUF>::new();
            let n = if n == 0.0 { 0.0 } else { n };
            match write!(buf, "{n}") {
                Ok(()) => bucket(hash, salt, buf.as_str()),
                Err(_) => 0,
            }
        }
        Some(AttrRef::Bool(_) | AttrRef::List(_)) | None => 0,
    }
}

/// The variation a bucket falls in: the first slice whose cumulative weight
/// exceeds `bucket`. `None` only if the weights sum to `bucket` or less
/// (compilation rejects rollouts whose weights do not sum to 100 000).
pub fn variation_for_bucket(variations: &[WeightedVariation], bucket: u32) -> Option<usize> {
    let mut cumulative: u64 = 0;
    for wv in variations {
        cumulative += u64::from(wv.weight);
        if cumulative > u64::from(bucket) {
            return Some(wv.variation);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(weights: &[u32]) -> Vec<WeightedVariation> {
        (weights.iter().enumerate())
            .map(|(variation, &weight)| WeightedVariation { variation, weight })
            .collect()
    }

    #[test]
    fn streaming_equals_hashing_the_concatenation() {
        let one_shot = xxhash_rust::xxh3::xxh3_64(b"salt.user-1") % 100_000;
        assert_eq!(
            u64::from(bucket(BucketHash::Vexil, "salt", "user-1")),
            one_shot
        );
    }

    #[test]
    fn cumulative_weights_pick_the_slice() {
        let v = split(&[0, 30_000, 70_000]);
        assert_eq!(variation_for_bucket(&v, 0), Some(1));
        assert_eq!(variation_for_bucket(&v, 29_999), Some(1));
        assert_eq!(variation_for_bucket(&v, 30_000), Some(2));
        assert_eq!(variation_for_bucket(&v, 99_999), Some(2));
        assert_eq!(variation_for_bucket(&split(&[10, 20]), 30), None);
    }

    #[test]
    fn numbers_hash_as_their_display() {
        let ctx = |n: f64| Context::new("k").with("n", n);
        let b = |ctx: &Context| bucket_context(BucketHash::Vexil, "s", "n", ctx);
        assert_eq!(b(&ctx(42.0)), bucket(BucketHash::Vexil, "s", "42"));
        assert_eq!(b(&ctx(1.5)), bucket(BucketHash::Vexil, "s", "1.5"));
        assert_eq!(b(&ctx(-0.0)), bucket(BucketHash::Vexil, "s", "0"));
        assert_eq!(
            b(&ctx(1e21)),
            bucket(BucketHash::Vexil, "s", "1000000000000000000000")
        );
    }

    #[test]
    fn every_f64_fits_the_number_buffer() {
        for n in [
            f64::MAX,
            f64::MIN,
            f64::MIN_POSITIVE,
            -5e-324,
            5e-324,
            f64::EPSILON,
        ] {
            assert!(format!("{n}").len() <= NUMBER_BUF, "{n}");
        }
    }

    #[test]
    fn unbucketable_attributes_get_bucket_zero() {
        let ctx = Context::new("k").with("b", true).with("l", vec!["x"]);
        for attr in ["b", "l", "missing"] {
            assert_eq!(bucket_context(BucketHash::Vexil, "s", attr, &ctx), 0);
        }
    }
}
