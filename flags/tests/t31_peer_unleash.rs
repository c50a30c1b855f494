//! The peer benchmark (`benches/peer_unleash.rs`) compares equal work: both
//! engines enable the same share of each country's users for both flags.
//! Also counts the allocations each engine makes per evaluation (Vexil's
//! must be zero; Unleash's are reported for docs/BENCHMARKS.md).

// Test helpers outside #[test] fns may unwrap: a panic is a test failure.
#![allow(clippy::unwrap_used)]
// A `GlobalAlloc` impl is `unsafe` by definition; it only forwards to `System`.
#![allow(unsafe_code)]

#[path = "../benches/peer/unleash.rs"]
mod peer;

mod alloc_counter;

use alloc_counter::allocations_in;

#[test]
fn both_engines_enable_the_same_share_of_each_country() {
    peer::assert_equivalent(100_000);
}

#[test]
fn allocations_per_evaluation() {
    const USERS: usize = 10_000;
    let (set, engine) = (peer::vexil_flags(), peer::unleash_engine());
    let vexil: Vec<_> = (0..USERS).map(peer::vexil_context).collect();
    let unleash: Vec<_> = (0..USERS).map(peer::unleash_context).collect();
    // Warm up: the first calls may set up lazy statics.
    for flag in peer::FLAGS {
        peer::vexil_enabled(&set, flag, &vexil[0]);
        peer::unleash_enabled(&engine, flag, &unleash[0]);
    }
    for flag in peer::FLAGS {
        let ours = allocations_in(|| {
            for ctx in &vexil {
                std::hint::black_box(peer::vexil_enabled(&set, flag, ctx));
            }
        });
        let theirs = allocations_in(|| {
            for ctx in &unleash {
                std::hint::black_box(peer::unleash_enabled(&engine, flag, ctx));
            }
        });
        eprintln!(
            "{flag}: allocations per evaluation: vexil {}, yggdrasil {:.2}",
            ours / USERS,
            theirs as f64 / USERS as f64
        );
        assert_eq!(ours, 0, "{flag}: Vexil allocated");
    }
}
