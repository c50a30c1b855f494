//! Linearizability of each flag's history, checked with the versions the
//! server assigned.
//!
//! A flag is a register whose every committed change gets the next version
//! number, so the committed history is a known total order: version 1, 2, …
//! (read from a node's store after the run). That turns the usual search of
//! a WGL/porcupine checker into direct checks: the history is linearizable
//! iff
//! 1. every acknowledged write is in the committed history, at the version
//!    it reported, with the state it reported (durability, no lost update);
//! 2. every read saw the committed state of the version it reports;
//! 3. real-time order is respected: when operation A completed before B was
//!    invoked, B's version is after A's (strictly when B is a write, or when
//!    A is a read and B a write), and a read of "absent" fits some absent
//!    version (0 or a deletion) in the window its neighbours allow.
//!
//! Writes that timed out are unknown: they may appear in the committed
//! history or not, and constrain nothing. One incompleteness is accepted:
//! two "absent" reads are not ordered against each other.

use std::collections::BTreeMap;

use super::Violation;
use crate::history::{Obs, Op, Outcome};

/// The committed history of one flag: version → state (`None` = deleted).
pub type Truth = BTreeMap<u64, Option<Obs>>;

/// What an operation pins down about the order.
#[derive(Debug, Clone, Copy)]
enum Pos {
    /// A write that produced this version.
    Write(u64),
    /// A read of this version.
    Read(u64),
}

fn pos(op: &Op) -> Option<Pos> {
    match &op.outcome {
        Outcome::Wrote { version, .. } => Some(Pos::Write(*version)),
        Outcome::Read(Some(obs)) => Some(Pos::Read(obs.version)),
        _ => None,
    }
}

fn describe(op: &Op) -> String {
    format!(
        "{} {:?} {} on node {} [{}µs..{}µs] → {:?}",
        op.client, op.kind, op.key, op.node, op.invoke, op.complete, op.outcome
    )
}

/// Checks one flag's operations against its committed history.
pub fn check_key(key: &str, ops: &[&Op], truth: &Truth) -> Vec<Violation> {
    let mut out = Vec::new();
    let versions: Vec<u64> = truth.keys().copied().collect();
    if versions.iter().enumerate().any(|(i, v)| *v != i as u64 + 1) {
        out.push(Violation(format!(
            "{key}: committed versions are not 1..n: {versions:?}"
        )));
    }
    for op in ops {
        match &op.outcome {
            Outcome::Wrote { version, state } => match truth.get(version) {
                None => out.push(Violation(format!(
                    "acknowledged write lost: {}",
                    describe(op)
                ))),
                Some(t) if t != state => out.push(Violation(format!(
                    "acknowledged write differs from the committed version {version} ({t:?}): {}",
                    describe(op)
                ))),
                _ => {}
            },
            Outcome::Read(Some(obs)) if truth.get(&obs.version) != Some(&Some(obs.clone())) => out
                .push(Violation(format!(
                    "read saw a state never committed (committed: {:?}): {}",
                    truth.get(&obs.version),
                    describe(op)
                ))),
            _ => {}
        }
    }
    out.extend(real_time(key, ops, truth));
    out
}

fn real_time(key: &str, ops: &[&Op], truth: &Truth) -> Vec<Violation> {
    let mut out = Vec::new();
    for a in ops {
        let Some(pa) = pos(a) else { continue };
        for b in ops.iter().filter(|b| a.complete < b.invoke) {
            let Some(pb) = pos(b) else { continue };
            let ok = match (pa, pb) {
                (Pos::Write(x), Pos::Write(y)) | (Pos::Read(x), Pos::Write(y)) => x < y,
                (Pos::Write(x), Pos::Read(y)) | (Pos::Read(x), Pos::Read(y)) => x <= y,
            };
            if !ok {
                out.push(Violation(format!(
                    "{key}: real-time order broken: {} completed before {} began",
                    describe(a),
                    describe(b)
                )));
            }
        }
    }
    // Reads of "absent" must fit an absent version between their neighbours.
    let absent: Vec<u64> = std::iter::once(0)
        .chain(truth.iter().filter(|(_, s)| s.is_none()).map(|(v, _)| *v))
        .collect();
    for r in ops.iter().filter(|o| o.outcome == Outcome::Read(None)) {
        let lo = ops
            .iter()
            .filter(|a| a.complete < r.invoke)
            .filter_map(|a| pos(a))
            .map(|p| match p {
                Pos::Write(v) | Pos::Read(v) => v,
            })
            .max()
            .unwrap_or(0);
        let hi = ops
            .iter()
            .filter(|b| r.complete < b.invoke)
            .filter_map(|b| match pos(b) {
                Some(Pos::Write(v)) => Some(v),
                Some(Pos::Read(v)) => Some(v + 1),
                None => None,
            })
            .min()
            .unwrap_or(u64::MAX);
        if !absent.iter().any(|x| *x >= lo && *x < hi) {
            out.push(Violation(format!(
                "{key}: read saw the flag absent, but no absent version lies in [{lo}, {hi}): {}",
                describe(r)
            )));
        }
    }
    out
}

/// Checks every flag in `ops`.
pub fn check(ops: &[Op], truth: &BTreeMap<String, Truth>) -> Vec<Violation> {
    let mut by_key: BTreeMap<&str, Vec<&Op>> = BTreeMap::new();
    for op in ops {
        by_key.entry(&op.key).or_default().push(op);
    }
    let empty = Truth::new();
    let mut out = Vec::new();
    for (key, ops) in by_key {
        out.extend(check_key(key, &ops, truth.get(key).unwrap_or(&empty)));
    }
    out
}

/// Whether an operation is a write that definitely did nothing.
pub fn rejected(op: &Op) -> bool {
    op.kind.is_write() && matches!(op.outcome, Outcome::Rejected(_))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::Kind;

    fn obs(v: u64, d: &str) -> Obs {
        Obs {
            version: v,
            description: d.into(),
            enabled: true,
        }
    }

    fn op(kind: Kind, invoke: u64, complete: u64, outcome: Outcome) -> Op {
        Op {
            client: "c".into(),
            key: "k".into(),
            kind,
            node: 1,
            invoke,
            complete,
            outcome,
        }
    }

    fn truth() -> Truth {
        BTreeMap::from([(1, Some(obs(1, "a"))), (2, Some(obs(2, "b"))), (3, None)])
    }

    #[test]
    fn a_linearizable_history_passes() {
        let ops = [
            op(
                Kind::Create,
                0,
                10,
                Outcome::Wrote {
                    version: 1,
                    state: Some(obs(1, "a")),
                },
            ),
            op(Kind::Read, 5, 20, Outcome::Read(None)),
            op(
                Kind::Update,
                11,
                30,
                Outcome::Wrote {
                    version: 2,
                    state: Some(obs(2, "b")),
                },
            ),
            op(Kind::Read, 15, 25, Outcome::Read(Some(obs(1, "a")))),
            op(
                Kind::Delete,
                31,
                40,
                Outcome::Wrote {
                    version: 3,
                    state: None,
                },
            ),
            op(Kind::Read, 41, 50, Outcome::Read(None)),
        ];
        let refs: Vec<&Op> = ops.iter().collect();
        assert!(check_key("k", &refs, &truth()).is_empty());
    }

    #[test]
    fn a_stale_read_is_caught() {
        let ops = [
            op(
                Kind::Update,
                0,
                10,
                Outcome::Wrote {
                    version: 2,
                    state: Some(obs(2, "b")),
                },
            ),
            op(Kind::Read, 11, 20, Outcome::Read(Some(obs(1, "a")))),
        ];
        let refs: Vec<&Op> = ops.iter().collect();
        assert_eq!(check_key("k", &refs, &truth()).len(), 1);
    }

    #[test]
    fn a_lost_or_altered_write_is_caught() {
        let ops = [op(
            Kind::Update,
            0,
            10,
            Outcome::Wrote {
                version: 4,
                state: Some(obs(4, "z")),
            },
        )];
        let refs: Vec<&Op> = ops.iter().collect();
        assert!(!check_key("k", &refs, &truth()).is_empty());
        let ops = [op(
            Kind::Update,
            0,
            10,
            Outcome::Wrote {
                version: 2,
                state: Some(obs(2, "y")),
            },
        )];
        let refs: Vec<&Op> = ops.iter().collect();
        assert!(!check_key("k", &refs, &truth()).is_empty());
    }

    #[test]
    fn an_absent_read_after_the_create_is_caught() {
        let ops = [
            op(
                Kind::Create,
                0,
                10,
                Outcome::Wrote {
                    version: 1,
                    state: Some(obs(1, "a")),
                },
            ),
            op(Kind::Read, 11, 20, Outcome::Read(None)),
            op(
                Kind::Update,
                21,
                30,
                Outcome::Wrote {
                    version: 2,
                    state: Some(obs(2, "b")),
                },
            ),
        ];
        let refs: Vec<&Op> = ops.iter().collect();
        assert_eq!(check_key("k", &refs, &truth()).len(), 1);
    }
}
