//! `MemEngine`: the in-memory twin of [`crate::RocksEngine`] for the simulation.
//!
//! Every write is "durable" the moment it returns: a simulated crash drops the
//! node's tasks but the test keeps the engine, exactly as a disk would.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::engine::{Pairs, Record, Scan, Visitor};
use crate::{Cf, Durability, Engine, Op, StorageError, WriteBatch};

type Table = BTreeMap<Vec<u8>, Vec<u8>>;

/// An engine whose column families are ordered maps. Cloning shares the data.
#[derive(Debug, Clone, Default)]
pub struct MemEngine {
    /// One map per column family, behind one lock so batches are atomic.
    tables: Arc<Mutex<BTreeMap<Cf, Table>>>,
}

impl MemEngine {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<Cf, Table>> {
        // A panic while holding the lock leaves the maps consistent (every
        // mutation below is a single map operation), so poisoning is ignored.
        self.tables.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn apply_op(tables: &mut BTreeMap<Cf, Table>, op: Op) {
    match op {
        Op::Put(cf, k, v) => {
            tables.entry(cf).or_default().insert(k, v);
        }
        Op::Delete(cf, k) => {
            tables.entry(cf).or_default().remove(&k);
        }
        Op::DeleteRange(cf, from, to) => {
            let table = tables.entry(cf).or_default();
            let doomed: Vec<Vec<u8>> = table.range(from..to).map(|(k, _)| k.clone()).collect();
            for k in doomed {
                table.remove(&k);
            }
        }
    }
}

impl Engine for MemEngine {
    fn get(&self, cf: Cf, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(self.lock().get(&cf).and_then(|t| t.get(key).cloned()))
    }

    fn write(&self, batch: WriteBatch, _durability: Durability) -> Result<(), StorageError> {
        let mut tables = self.lock();
        for op in batch.ops {
            apply_op(&mut tables, op);
        }
        Ok(())
    }

    fn sync(&self) -> Result<(), StorageError> {
        Ok(())
    }

    fn needs_sync(&self) -> bool {
        false
    }

    fn scan(&self, cf: Cf, scan: Scan<'_>) -> Result<Pairs, StorageError> {
        let tables = self.lock();
        let Some(table) = tables.get(&cf) else {
            return Ok(Vec::new());
        };
        let end = match scan.end {
            Some(e) => Bound::Excluded(e),
            None => Bound::Unbounded,
        };
        let range = table.range::<[u8], _>((Bound::Included(scan.start), end));
        let clone = |(k, v): (&Vec<u8>, &Vec<u8>)| (k.clone(), v.clone());
        Ok(if scan.reverse {
            range.rev().take(scan.limit).map(clone).collect()
        } else {
            range.take(scan.limit).map(clone).collect()
        })
    }

    fn export(&self, cfs: &[Cf], visit: &mut Visitor<'_>) -> Result<(), StorageError> {
        // Copy first so the visitor may call back into the engine.
        let copy: Vec<(Cf, Table)> = {
            let tables = self.lock();
            cfs.iter()
                .map(|cf| (*cf, tables.get(cf).cloned().unwrap_or_default()))
                .collect()
        };
        for (cf, table) in copy {
            for (k, v) in &table {
                if !visit(cf, k, v)? {
                    return Ok(());
                }
            }
        }
        Ok(())
    }

    fn replace(
        &self,
        cfs: &[Cf],
        pairs: &mut dyn Iterator<Item = Result<Record, StorageError>>,
    ) -> Result<(), StorageError> {
        let mut fresh: BTreeMap<Cf, Table> = cfs.iter().map(|cf| (*cf, Table::new())).collect();
        for pair in pairs {
            let (cf, k, v) = pair?;
            let Some(table) = fresh.get_mut(&cf) else {
                return Err(StorageError::Corrupt(format!(
                    "replace got a pair for {} outside the replaced families",
                    cf.name()
                )));
            };
            table.insert(k, v);
        }
        let mut tables = self.lock();
        for (cf, table) in fresh {
            tables.insert(cf, table);
        }
        Ok(())
    }
}
