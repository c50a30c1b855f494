//! Vexil's storage engines: where bytes live, and nothing about what they mean.
//!
//! This crate owns durability. It offers an [`Engine`]: named column families
//! ([`Cf`]), atomic write batches with a chosen [`Durability`], point reads,
//! ordered scans and a consistent export of whole column families. It also
//! offers a [`BlobStore`] for snapshot and backup files, written atomically
//! (temp file, fsync, rename).
//!
//! It knows nothing of Raft, flags or HTTP: `raft/` gives the bytes meaning.
//!
//! # Layout
//! - [`cf`]: the column families and what each holds.
//! - [`engine`]: the `Engine` trait, `WriteBatch` and `StorageError`.
//! - [`rocks`]: `RocksEngine`, the on-disk engine (one RocksDB; the log in
//!   its WAL, the state machine unlogged and flushed atomically), and its
//!   [`Checkpoints`]: point-in-time copies made of hard links.
//! - [`mem`]: `MemEngine`, an in-memory twin for the simulation; it survives a
//!   simulated crash because the test keeps it alive.
//! - [`blob`]: `BlobStore` for snapshot files, on disk or in memory.
//! - [`snapfile`]: the checksummed file format of snapshots and backups.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod blob;
pub mod cf;
pub mod engine;
pub mod mem;
pub mod rocks;
pub mod snapfile;

pub use blob::{BlobStore, FsBlobStore, MemBlobStore};
pub use cf::Cf;
pub use engine::{Checkpoints, Durability, Engine, Op, StorageError, WriteBatch};
pub use mem::MemEngine;
pub use rocks::RocksEngine;
