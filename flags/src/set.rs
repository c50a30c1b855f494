//! [`FlagSet`]: the compiled flags and segments of one environment.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use crate::compile::{CompiledFlag, CompiledSegment};
use crate::eval::{self, Detail, Lookup};
use crate::model::{Context, Flag, Operator, Segment};
use crate::validate::{Catalog, StateUsage, Stored};

/// Compiled flags and segments by key. It is the [`Lookup`] evaluation uses
/// and the [`Catalog`] validation checks references against.
///
/// Cloning is O(1): a clone is a snapshot that shares the maps, and the
/// first change to either copy copies the maps (not the compiled flags,
/// which are shared `Arc`s). So a server hands each evaluation a clone taken
/// under its lock and evaluates without it, and a change applied meanwhile
/// never waits for the evaluation.
#[derive(Debug, Clone, Default)]
pub struct FlagSet {
    /// Shared between snapshots until one of them changes.
    maps: Arc<Maps>,
}

#[derive(Debug, Clone, Default)]
struct Maps {
    /// Every flag, compiled once per version.
    flags: HashMap<String, CompiledFlag>,
    /// Every segment, compiled once per version.
    segments: HashMap<String, CompiledSegment>,
    /// The sum of every flag's and segment's `bytes()`.
    bytes: usize,
}

impl Maps {
    fn flag_bytes(f: Option<&CompiledFlag>) -> usize {
        f.map_or(0, CompiledFlag::bytes)
    }

    fn segment_bytes(s: Option<&CompiledSegment>) -> usize {
        s.map_or(0, CompiledSegment::bytes)
    }
}

impl FlagSet {
    /// An empty set.
    pub fn new() -> Self {
        FlagSet::default()
    }

    /// A set holding `flags` and `segments` (later duplicates of a key win).
    pub fn from_parts(flags: Vec<Flag>, segments: Vec<Segment>) -> Self {
        let mut set = FlagSet::new();
        for flag in flags {
            set.upsert_flag(flag);
        }
        for segment in segments {
            set.upsert_segment(segment);
        }
        set
    }

    /// Compiles and stores `flag`, returning the version it replaced.
    pub fn upsert_flag(&mut self, flag: impl Into<Arc<Flag>>) -> Option<CompiledFlag> {
        self.insert_compiled_flag(CompiledFlag::new(flag.into()))
    }

    /// Stores an already compiled flag, returning the version it replaced.
    pub fn insert_compiled_flag(&mut self, flag: CompiledFlag) -> Option<CompiledFlag> {
        let maps = Arc::make_mut(&mut self.maps);
        maps.bytes += flag.bytes();
        let old = maps.flags.insert(flag.key().to_owned(), flag);
        maps.bytes -= Maps::flag_bytes(old.as_ref());
        old
    }

    /// Removes the flag with `key`, returning it.
    pub fn remove_flag(&mut self, key: &str) -> Option<CompiledFlag> {
        let maps = Arc::make_mut(&mut self.maps);
        let old = maps.flags.remove(key);
        maps.bytes -= Maps::flag_bytes(old.as_ref());
        old
    }

    /// Compiles and stores `segment`, returning the version it replaced.
    pub fn upsert_segment(&mut self, segment: impl Into<Arc<Segment>>) -> Option<CompiledSegment> {
        let segment = CompiledSegment::new(segment.into());
        let maps = Arc::make_mut(&mut self.maps);
        maps.bytes += segment.bytes();
        let old = maps.segments.insert(segment.key().to_owned(), segment);
        maps.bytes -= Maps::segment_bytes(old.as_ref());
        old
    }

    /// Removes the segment with `key`, returning it.
    pub fn remove_segment(&mut self, key: &str) -> Option<CompiledSegment> {
        let maps = Arc::make_mut(&mut self.maps);
        let old = maps.segments.remove(key);
        maps.bytes -= Maps::segment_bytes(old.as_ref());
        old
    }

    /// What the set holds, as the state limits count it.
    pub fn usage(&self) -> StateUsage {
        StateUsage {
            flags: self.maps.flags.len(),
            segments: self.maps.segments.len(),
            bytes: self.maps.bytes,
        }
    }

    /// The flag with `key`.
    pub fn get_flag(&self, key: &str) -> Option<&CompiledFlag> {
        self.maps.flags.get(key)
    }

    /// The segment with `key`.
    pub fn get_segment(&self, key: &str) -> Option<&CompiledSegment> {
        self.maps.segments.get(key)
    }

    /// Every flag, in no particular order.
    pub fn flags(&self) -> impl ExactSizeIterator<Item = &CompiledFlag> {
        self.maps.flags.values()
    }

    /// Every segment, in no particular order.
    pub fn segments(&self) -> impl ExactSizeIterator<Item = &CompiledSegment> {
        self.maps.segments.values()
    }

    /// The number of flags.
    pub fn len(&self) -> usize {
        self.maps.flags.len()
    }

    /// Whether there are no flags (there may still be segments).
    pub fn is_empty(&self) -> bool {
        self.maps.flags.is_empty()
    }

    /// Evaluates the flag `key`; an unknown key is `ERROR`/`FLAG_NOT_FOUND` with no value.
    pub fn evaluate(&self, key: &str, ctx: &Context) -> Detail<'_> {
        match self.maps.flags.get(key) {
            Some(flag) => eval::evaluate(flag, ctx, self),
            None => Detail::flag_not_found(),
        }
    }

    /// Evaluates every flag for `ctx`, in no particular order.
    pub fn evaluate_all<'a>(
        &'a self,
        ctx: &Context,
    ) -> impl Iterator<Item = (&'a str, Detail<'a>)> {
        eval::evaluate_all(self, ctx)
    }

    /// Keys of the flags whose rules match on segment `key`, sorted.
    /// The server refuses to delete a segment while this is non-empty.
    pub fn flags_using_segment(&self, key: &str) -> Vec<String> {
        let uses = |f: &CompiledFlag| segments_used_by(f.flag()).contains(key);
        sorted_keys(self.flags().filter(|f| uses(f)))
    }

    /// Keys of the flags that list `key` as a prerequisite, sorted.
    /// The server refuses to delete a flag while this is non-empty.
    pub fn flags_requiring(&self, key: &str) -> Vec<String> {
        let requires = |f: &CompiledFlag| f.flag().prerequisites.iter().any(|p| p.flag == key);
        sorted_keys(self.flags().filter(|f| requires(f)))
    }
}

/// The keys of the segments `flag`'s rules match on.
pub fn segments_used_by(flag: &Flag) -> BTreeSet<&str> {
    let clauses = flag.rules.iter().flat_map(|r| &r.clauses);
    clauses
        .filter(|c| c.operator == Operator::SegmentMatch)
        .flat_map(|c| c.values.iter().filter_map(|v| v.as_str()))
        .collect()
}

fn sorted_keys<'a>(flags: impl Iterator<Item = &'a CompiledFlag>) -> Vec<String> {
    let mut keys: Vec<String> = flags.map(|f| f.key().to_owned()).collect();
    keys.sort_unstable();
    keys
}

impl Lookup for FlagSet {
    fn flag(&self, key: &str) -> Option<&CompiledFlag> {
        self.maps.flags.get(key)
    }

    fn segment(&self, key: &str) -> Option<&CompiledSegment> {
        self.maps.segments.get(key)
    }
}

impl Catalog for FlagSet {
    fn flag(&self, key: &str) -> Option<&Flag> {
        self.maps.flags.get(key).map(|f| &**f.flag())
    }

    fn segment(&self, key: &str) -> Option<&Segment> {
        self.maps.segments.get(key).map(|s| &**s.segment())
    }

    fn usage_except(&self, except: Stored<'_>) -> Option<StateUsage> {
        let mut usage = self.usage();
        match except {
            Stored::Flag(key) => {
                if let Some(f) = self.maps.flags.get(key) {
                    usage.flags -= 1;
                    usage.bytes -= f.bytes();
                }
            }
            Stored::Segment(key) => {
                if let Some(s) = self.maps.segments.get(key) {
                    usage.segments -= 1;
                    usage.bytes -= s.bytes();
                }
            }
        }
        Some(usage)
    }
}
