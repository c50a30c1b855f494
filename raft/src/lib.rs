//! Vexil's replicated state machine: commands, their deterministic apply,
//! and the Raft that orders them.
//!
//! A write becomes a [`Command`], is committed on a quorum by Raft, and is
//! applied on every node by `apply/`, which turns it into one atomic batch:
//! the change, its new version, its audit entry and its idempotency record.
//! Each node keeps an in-memory mirror ([`state::State`]) for reads and feeds
//! every committed change to its subscribers ([`state::Shared::subscribe`]).
//!
//! This crate knows nothing of HTTP: peers are reached through the
//! [`Transport`] trait, which `node/` implements. Only the `consensus`
//! module knows openraft.
//!
//! # Layout
//! - [`command`]: `Command`, `Op`, `Response`, `Rejection`.
//! - `apply/`: applying a command to the engine and the mirror (no openraft).
//! - [`state`]: the mirror and the change feed (ring buffer + broadcast).
//! - [`records`]: roles, token records, versions, audit entries.
//! - [`query`]: reads over history and audit (pagination, filters).
//! - [`counters`]: snapshot counts and apply latency, for `/metrics`.
//! - [`keys`]: the key layout of every column family.
//! - [`api`]: configuration, errors and status types.
//! - [`transport`]: the peer RPC trait.
//! - `consensus/`: openraft's type config, log store, state machine,
//!   network and [`RaftNode`].

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod api;
mod apply;
pub mod command;
mod consensus;
pub mod counters;
pub mod derived;
pub mod keys;
mod loader;
pub mod member;
pub mod query;
pub mod records;
pub mod state;
pub mod transport;
pub mod version;

pub use api::{
    ClusterView, MemberView, MembershipError, NodeStatus, RaftConfig, ReadError, WriteError,
};
pub use apply::DEDUPE_WINDOW;
pub use command::{Change, Command, Op, PromoteFlag, Rejection, Response, SYSTEM_ACTOR};
pub use consensus::backup::{
    self, BackupInfo, RestoreError, restore_backup, state_hash, verify_backup,
};
pub use consensus::suite::run_openraft_suite;
pub use consensus::{BadRequest, IncomingSnapshot, RaftNode, StartError, seed_thread_rng};
pub use member::Member;
pub use records::{AuditEntry, Role, TokenInfo, TokenRecord, VersionEntry};
pub use transport::{Rpc, Transport, TransportError};

/// Hex SHA-256 of a token secret: what the state machine stores.
pub fn hash_secret(secret: &str) -> String {
    use sha2::Digest;
    // One formatter pass over the digest: every authenticated request
    // hashes its token, and a `format!` per byte showed in write profiles.
    format!("{:x}", sha2::Sha256::digest(secret.as_bytes()))
}

/// Whether a stored token hash is a salted one (an argon2id PHC string,
/// made for a secret an operator chose) rather than [`hash_secret`]'s hex
/// SHA-256 (a generated, 256-bit secret). A salted hash cannot be looked up
/// by the secret's digest: the node verifies it instead.
pub fn is_salted_hash(hash: &str) -> bool {
    hash.starts_with("$argon2")
}

#[cfg(test)]
mod tests {
    #[test]
    fn salted_hashes_are_told_from_digests() {
        assert!(super::is_salted_hash(
            "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA"
        ));
        assert!(!super::is_salted_hash(&super::hash_secret("abc")));
    }

    #[test]
    fn hash_secret_is_lowercase_hex_sha256() {
        // FIPS 180-2's test vector: stored hashes must keep this exact form.
        assert_eq!(
            super::hash_secret("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
