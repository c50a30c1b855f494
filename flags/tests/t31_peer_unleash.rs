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

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

struct Counting;

thread_local! {
    /// Whether this thread's allocations are being counted.
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    /// How many allocations this thread made while counting.
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: every call is forwarded unchanged to `System`; the thread-locals are
// const-initialised `Cell`s without destructors, so touching them never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note_allocation();
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as our caller's.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note_allocation();
        // SAFETY: same contract as our caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn note_allocation() {
    let _ = COUNTING.try_with(|on| {
        if on.get() {
            let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        }
    });
}

/// How many allocations `f` makes on this thread.
fn allocations_in(f: impl FnOnce()) -> usize {
    ALLOCATIONS.with(|n| n.set(0));
    COUNTING.with(|on| on.set(true));
    f();
    COUNTING.with(|on| on.set(false));
    ALLOCATIONS.with(Cell::get)
}

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
