//! Key layout of every column family. All integers are big-endian so that
//! byte order is numeric order.
//!
//! | family     | key                                   | value            |
//! |------------|---------------------------------------|------------------|
//! | `flags`    | flag key (`default/production`), else `project/env/key` | `Flag` JSON |
//! | `segments` | segment key, else `project/env/key`   | `Segment` JSON   |
//! | `history`  | `f` record key `\0` version           | `VersionEntry`   |
//! | `history`  | `s` record key `\0` version           | `VersionEntry`   |
//! | `history`  | `d` project `/` flag key `\0` version  | `VersionEntry`   |
//! | `history`  | `p` project `\0` version              | `VersionEntry`   |
//! | `history`  | `e` project `/` environment `\0` version | `VersionEntry` |
//! | `audit`    | `e` id, or `e` id seq (u32, from 1)   | `AuditEntry`     |
//! | `audit`    | `t` target `\0` id [seq] / `a` actor `\0` id [seq] / `c` action `\0` id [seq] / `p` promotion `\0` id [seq] | empty (indexes) |
//! | `tokens`   | `n` name                              | `TokenRecord`    |
//! | `tokens`   | `h` hash                              | name             |
//! | `meta`     | `applied` (log id, `last_at`, `last_change`), `membership`, `cluster_id` | JSON |
//! | `meta`     | `last_at`, `last_change` (stores written before they moved into `applied`) | JSON |
//! | `meta`     | `g` generation request id             | stored `Response` |
//! | `meta`     | `0x01` project                        | `Project` JSON   |
//! | `meta`     | `0x02` project `/` environment        | `Environment` JSON |
//! | `meta`     | `0x03` project `/` flag key           | `FlagDefinition` JSON |
//! | `meta`     | `0x04` promotion id (its log index)  | `Promotion` JSON |
//! | `meta`     | `r` request id, `i` index (before generations; read until they age out) | stored `Response`, request id |
//!
//! Projects and environments are few and small, so they live in `meta`
//! under prefixes below every printable byte (no named meta key starts
//! there) rather than in column families of their own: a store of the
//! previous release opens as it is, with none. `/` is not a key character,
//! so `0x02 project /` is the prefix of one project's environments, and
//! they sort by project, then environment key.
//!
//! A flag's configuration in one environment is a whole `Flag` record
//! (see `vexil_flags::definition`). Records of `default`'s `production`
//! keep the first release's bare keys, so a store of that release is
//! this scope as it is; every other environment's records are keyed
//! `project/environment/key` ([`in_env`]). `/` is not a key character,
//! so a bare key and a scoped one never collide, and one environment's
//! records are adjacent. The definitions a project's environments share
//! are in `meta` under `0x03`.

/// Appends a big-endian u64.
pub fn be(out: &mut Vec<u8>, n: u64) {
    out.extend_from_slice(&n.to_be_bytes());
}

/// Reads a big-endian u64 from the last 8 bytes of `key`.
pub fn trailing_u64(key: &[u8]) -> Option<u64> {
    let start = key.len().checked_sub(8)?;
    let bytes: [u8; 8] = key.get(start..)?.try_into().ok()?;
    Some(u64::from_be_bytes(bytes))
}

/// Reads a big-endian u64 that is the whole of `bytes`.
pub fn trailing_u64_opt(bytes: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(bytes.try_into().ok()?))
}

/// `prefix` + `name` + `\0`: the common start of every key of one record.
pub fn scoped(prefix: u8, name: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(name.len() + 10);
    k.push(prefix);
    k.extend_from_slice(name.as_bytes());
    k.push(0);
    k
}

/// `prefix` + `name` + `\0` + `n`.
pub fn scoped_u64(prefix: u8, name: &str, n: u64) -> Vec<u8> {
    let mut k = scoped(prefix, name);
    be(&mut k, n);
    k
}

pub const HISTORY_FLAG: u8 = b'f';
pub const HISTORY_SEGMENT: u8 = b's';
pub const HISTORY_PROJECT: u8 = b'p';
pub const HISTORY_ENVIRONMENT: u8 = b'e';

pub const META_PROJECT: u8 = 0x01;
pub const META_ENVIRONMENT: u8 = 0x02;

/// `prefix` + `id`: a project's or environment's record in `meta`.
pub fn meta_record(prefix: u8, id: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(1 + id.len());
    k.push(prefix);
    k.extend_from_slice(id.as_bytes());
    k
}

pub const AUDIT_ENTRY: u8 = b'e';
pub const AUDIT_BY_TARGET: u8 = b't';
pub const AUDIT_BY_ACTOR: u8 = b'a';
pub const AUDIT_BY_ACTION: u8 = b'c';
/// Entries linked to a promotion, by its id in decimal (level 5).
pub const AUDIT_BY_PROMOTION: u8 = b'p';

/// `e` + id.
pub fn audit_entry(id: u64) -> Vec<u8> {
    let mut k = vec![AUDIT_ENTRY];
    be(&mut k, id);
    k
}

/// An audit entry's position: the log index of the entry that made it,
/// and its place among that entry's audit entries. Most entries write one
/// audit entry, at `seq` 0, keyed by the index alone as the first release
/// wrote it; a promotion (level 5) writes one more per flag, at `seq` 1,
/// 2, …, keyed by the index and a big-endian u32, so they sort after the
/// first and before the next index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AuditPos {
    pub id: u64,
    pub seq: u32,
}

impl AuditPos {
    /// Appends this position to a key prefix.
    pub fn append_to(self, k: &mut Vec<u8>) {
        be(k, self.id);
        if self.seq > 0 {
            k.extend_from_slice(&self.seq.to_be_bytes());
        }
    }

    /// Reads the position from what follows a key's prefix.
    pub fn from_suffix(suffix: &[u8]) -> Option<AuditPos> {
        let id = u64::from_be_bytes(suffix.get(..8)?.try_into().ok()?);
        let seq = match suffix.len() {
            8 => 0,
            12 => u32::from_be_bytes(suffix.get(8..)?.try_into().ok()?),
            _ => return None,
        };
        Some(AuditPos { id, seq })
    }

    /// As the API shows a cursor: `id`, or `id.seq` past the first.
    pub fn cursor(self) -> String {
        if self.seq == 0 {
            self.id.to_string()
        } else {
            format!("{}.{}", self.id, self.seq)
        }
    }

    /// Reads [`AuditPos::cursor`]'s form.
    pub fn parse(s: &str) -> Option<AuditPos> {
        let (id, seq) = match s.split_once('.') {
            Some((id, seq)) => (id.parse().ok()?, seq.parse().ok()?),
            None => (s.parse().ok()?, 0),
        };
        Some(AuditPos { id, seq })
    }
}

/// `e` + position: an audit entry's key.
pub fn audit_at(pos: AuditPos) -> Vec<u8> {
    let mut k = vec![AUDIT_ENTRY];
    pos.append_to(&mut k);
    k
}

/// `prefix` + `name` + `\0` + position: an audit index key.
pub fn audit_index(prefix: u8, name: &str, pos: AuditPos) -> Vec<u8> {
    let mut k = scoped(prefix, name);
    pos.append_to(&mut k);
    k
}

/// `0x04` + id: a promotion's record in `meta` (level 5).
pub const META_PROMOTION: u8 = 0x04;

pub fn promotion(id: u64) -> Vec<u8> {
    let mut k = vec![META_PROMOTION];
    be(&mut k, id);
    k
}

pub const TOKEN_BY_NAME: u8 = b'n';
pub const TOKEN_BY_HASH: u8 = b'h';

pub fn token_name(name: &str) -> Vec<u8> {
    let mut k = vec![TOKEN_BY_NAME];
    k.extend_from_slice(name.as_bytes());
    k
}

pub fn token_hash(hash: &str) -> Vec<u8> {
    let mut k = vec![TOKEN_BY_HASH];
    k.extend_from_slice(hash.as_bytes());
    k
}

pub const META_APPLIED: &[u8] = b"applied";
pub const META_MEMBERSHIP: &[u8] = b"membership";
pub const META_LAST_AT: &[u8] = b"last_at";
pub const META_LAST_CHANGE: &[u8] = b"last_change";
pub const META_CLUSTER_ID: &[u8] = b"cluster_id";
/// The cluster's feature level (`crate::version`); absent means level 1.
pub const META_CLUSTER_LEVEL: &[u8] = b"cluster_level";
pub const META_REQUEST_GENERATION: u8 = b'g';
/// Written before request ids were kept by generation: still read, until
/// they are older than the window, then removed.
pub const META_REQUEST: u8 = b'r';
pub const META_REQUEST_INDEX: u8 = b'i';

/// `g` + generation + request id: the answer kept for a retry.
pub fn request_in(generation: u64, id: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(9 + id.len());
    k.push(META_REQUEST_GENERATION);
    be(&mut k, generation);
    k.extend_from_slice(id.as_bytes());
    k
}

/// `r` + request id (the layout before generations).
pub fn request(id: &str) -> Vec<u8> {
    let mut k = vec![META_REQUEST];
    k.extend_from_slice(id.as_bytes());
    k
}

pub fn request_index(index: u64) -> Vec<u8> {
    let mut k = vec![META_REQUEST_INDEX];
    be(&mut k, index);
    k
}

/// `project/environment` of the scope that holds the records made before
/// projects existed: their keys are unscoped.
pub const LEGACY_ENV: &str = "default/production";

/// A flag's or segment's record key (in `flags` or `segments`, and after
/// `f` or `s` in `history`): the bare key in [`LEGACY_ENV`], as the first
/// release wrote it, else `project/environment/key`. Keys have no `/`, so
/// the two never meet.
pub fn in_env(env: &str, key: &str) -> String {
    if env == LEGACY_ENV {
        key.to_owned()
    } else {
        format!("{env}/{key}")
    }
}

/// The environment id and key of a record key made by [`in_env`].
pub fn split_record(id: &str) -> (&str, &str) {
    match id.rsplit_once('/') {
        Some((env, key)) => (env, key),
        None => (LEGACY_ENV, id),
    }
}

/// The key part of a record key made by [`in_env`].
pub fn key_of(id: &str) -> &str {
    split_record(id).1
}

pub const HISTORY_DEFINITION: u8 = b'd';
pub const META_DEFINITION: u8 = 0x03;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_keys_keep_the_first_release_layout_in_the_legacy_scope() {
        assert_eq!(in_env(LEGACY_ENV, "a"), "a");
        assert_eq!(in_env("web/staging", "a"), "web/staging/a");
        assert_eq!(split_record("a"), (LEGACY_ENV, "a"));
        assert_eq!(split_record("web/staging/a"), ("web/staging", "a"));
        assert_eq!(key_of("web/staging/a"), "a");
    }

    #[test]
    fn audit_positions_sort_by_index_then_seq_and_keep_the_first_layout() {
        let first = AuditPos { id: 7, seq: 0 };
        assert_eq!(audit_at(first), audit_entry(7));
        let keys: Vec<Vec<u8>> = [(7, 0), (7, 1), (7, 300), (8, 0)]
            .into_iter()
            .map(|(id, seq)| audit_at(AuditPos { id, seq }))
            .collect();
        assert!(keys.windows(2).all(|w| w[0] < w[1]));
        for k in &keys {
            let pos = AuditPos::from_suffix(&k[1..]).expect("suffix");
            assert_eq!(audit_at(pos), *k);
            assert_eq!(AuditPos::parse(&pos.cursor()), Some(pos));
        }
        assert_eq!(AuditPos::parse("7.x"), None);
        assert_eq!(AuditPos::from_suffix(&[0; 9]), None);
    }
}
