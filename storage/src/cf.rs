//! Column families: one key space per kind of record.

/// A column family. The Raft log and metadata are separate from the state
/// machine so that a snapshot covers exactly [`Cf::STATE_MACHINE`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Cf {
    /// Raft log entries, keyed by big-endian index.
    Log,
    /// Raft metadata: the vote, the committed log id, the last purged log id.
    RaftMeta,
    /// Current flags, keyed by flag key.
    Flags,
    /// Current segments, keyed by segment key.
    Segments,
    /// Every committed version of every flag and segment.
    History,
    /// The audit log and its secondary indexes.
    Audit,
    /// API tokens (hashes only) and the hash → name index.
    Tokens,
    /// State-machine metadata: applied log id, membership, idempotency keys.
    Meta,
}

impl Cf {
    /// Every column family, in a fixed order.
    pub const ALL: [Cf; 8] = [
        Cf::Log,
        Cf::RaftMeta,
        Cf::Flags,
        Cf::Segments,
        Cf::History,
        Cf::Audit,
        Cf::Tokens,
        Cf::Meta,
    ];

    /// The column families a state-machine snapshot carries.
    pub const STATE_MACHINE: [Cf; 6] = [
        Cf::Flags,
        Cf::Segments,
        Cf::History,
        Cf::Audit,
        Cf::Tokens,
        Cf::Meta,
    ];

    /// The on-disk name.
    pub fn name(self) -> &'static str {
        match self {
            Cf::Log => "log",
            Cf::RaftMeta => "raft_meta",
            Cf::Flags => "flags",
            Cf::Segments => "segments",
            Cf::History => "history",
            Cf::Audit => "audit",
            Cf::Tokens => "tokens",
            Cf::Meta => "meta",
        }
    }

    /// A stable one-byte tag, used in snapshot files.
    pub fn tag(self) -> u8 {
        match self {
            Cf::Log => 0,
            Cf::RaftMeta => 1,
            Cf::Flags => 2,
            Cf::Segments => 3,
            Cf::History => 4,
            Cf::Audit => 5,
            Cf::Tokens => 6,
            Cf::Meta => 7,
        }
    }

    /// The inverse of [`Cf::tag`].
    pub fn from_tag(tag: u8) -> Option<Cf> {
        Cf::ALL.into_iter().find(|cf| cf.tag() == tag)
    }
}
