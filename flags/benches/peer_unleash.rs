//! Local evaluation, Vexil against Unleash's engine (`unleash-yggdrasil`),
//! on the same two flags written for each (see `peer/unleash.rs`):
//!
//! - `rollout_in`: a 50% rollout behind one `country in [NZ, AU]` check;
//! - `multi`: four strategies/rules (an id list, two constraints, a
//!   constrained rollout, a rollout for everyone).
//!
//! Each engine walks the same 1,000,000 users cyclically, each engine's
//! contexts pre-built in its own type. Before measuring, the setup panics
//! unless both engines enable the same share of each country's users.
//!
//! Run: `cargo bench -p vexil-flags --bench peer_unleash`; results in
//! docs/BENCHMARKS.md ("Local evaluation against Unleash").

#![allow(clippy::unwrap_used, missing_debug_implementations)]

#[path = "peer/unleash.rs"]
mod peer;

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};

const CONTEXTS: usize = 1_000_000;

fn benches(c: &mut Criterion) {
    peer::assert_equivalent(100_000);
    let vexil = peer::vexil_flags();
    let unleash = peer::unleash_engine();
    let vexil_contexts: Vec<_> = (0..CONTEXTS).map(peer::vexil_context).collect();
    let unleash_contexts: Vec<_> = (0..CONTEXTS).map(peer::unleash_context).collect();

    for flag in peer::FLAGS {
        let mut group = c.benchmark_group(format!("peer_unleash/{flag}"));
        let mut i = 0;
        group.bench_function("vexil", |b| {
            b.iter(|| {
                i = (i + 1) % CONTEXTS;
                black_box(
                    vexil
                        .evaluate(black_box(flag), black_box(&vexil_contexts[i]))
                        .variation,
                )
            })
        });
        let mut i = 0;
        group.bench_function("yggdrasil", |b| {
            b.iter(|| {
                i = (i + 1) % CONTEXTS;
                black_box(unleash.is_enabled(
                    black_box(flag),
                    black_box(&unleash_contexts[i]),
                    &None,
                ))
            })
        });
        group.finish();
    }
}

criterion_group!(peer_unleash, benches);
criterion_main!(peer_unleash);
