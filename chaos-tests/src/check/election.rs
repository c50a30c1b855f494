//! Election safety: at most one leader per term, over the whole run.

use std::collections::BTreeMap;

use super::Violation;

/// Remembers who led each term.
#[derive(Debug, Default)]
pub struct Elections {
    leaders: BTreeMap<u64, u64>,
}

impl Elections {
    /// Records that `node` reported itself leader in `term`.
    pub fn saw_leader(&mut self, term: u64, node: u64) -> Result<(), Violation> {
        match self.leaders.insert(term, node) {
            Some(other) if other != node => Err(Violation(format!(
                "two leaders in term {term}: nodes {other} and {node}"
            ))),
            _ => Ok(()),
        }
    }

    pub fn terms(&self) -> usize {
        self.leaders.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_leader_in_a_term_is_caught() {
        let mut e = Elections::default();
        e.saw_leader(1, 1).unwrap();
        e.saw_leader(1, 1).unwrap();
        e.saw_leader(2, 3).unwrap();
        assert!(e.saw_leader(2, 2).is_err());
    }
}
