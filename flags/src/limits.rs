//! The documented size limits of a flag or segment, in one place.
//!
//! Every stored change is kept three times more (its version, and its audit
//! entry's `before` and `after`), and every node holds every flag in memory,
//! so sizes are bounded well below the 1 MiB request body limit. The
//! numbers follow what users of LaunchDarkly and Unleash meet in practice
//! (Unleash's defaults: 30 constraints a strategy, 250 values a
//! constraint, 1,000 keys a segment).
//!
//! | what | limit |
//! |---|---|
//! | `key` (flag, segment) | 1–128 of `[A-Za-z0-9._-]` (see [`crate::validate_key`]) |
//! | `name` (flag, segment, variation) | [`MAX_NAME_CHARS`] characters |
//! | `description` (flag, segment, variation, rule) | [`MAX_DESCRIPTION_CHARS`] characters |
//! | `tags` | [`MAX_TAGS`] tags of 1–[`MAX_TAG_CHARS`] characters |
//! | `variations` | [`MAX_VARIATIONS`], no value twice; each value at most [`MAX_VALUE_BYTES`] bytes as JSON |
//! | `targets` | [`MAX_TARGET_KEYS`] context keys over all targets |
//! | `rules` (flag, segment) | [`MAX_RULES`] rules, ids of at most [`MAX_RULE_ID_CHARS`] characters |
//! | `clauses` of a rule | [`MAX_CLAUSES`] |
//! | `values` of a clause | [`MAX_CLAUSE_VALUES`] |
//! | `prerequisites` | [`MAX_PREREQUISITES`] |
//! | a segment's `included` plus `excluded` | [`MAX_SEGMENT_KEYS`] keys, none in both |
//! | a context key (targets, `included`, `excluded`) | [`MAX_CONTEXT_KEY_CHARS`] characters |
//! | the `matches` patterns of one flag or segment, compiled | [`MAX_REGEX_BYTES`] bytes together |
//!
//! **The whole state** (checked against the receiving node's applied state
//! when a flag or segment is written; see [`crate::validate::StateUsage`]):
//!
//! | what | limit |
//! |---|---|
//! | flags | [`MAX_FLAGS`] |
//! | segments | [`MAX_SEGMENTS`] |
//! | flags and segments as JSON, plus their compiled regexes | [`MAX_STATE_BYTES`] bytes |
//! | projects | [`MAX_PROJECTS`] |
//! | environments of one project | [`MAX_ENVIRONMENTS`] |
//!
//! **An evaluation context** (`/v1/evaluate`, OFREP; see
//! [`crate::validate::validate_context`]):
//!
//! | what | limit |
//! |---|---|
//! | one value (the targeting key, a string, or a list's strings together) | [`MAX_ATTRIBUTE_BYTES`] bytes |
//! | the whole context (key, names and values) | [`MAX_CONTEXT_BYTES`] bytes |
//!
//! A character is a Unicode scalar value. These limits apply to what the API
//! accepts; the state machine does not enforce them (see
//! [`crate::validate::validate_flag_input`]), so data stored before they
//! existed still loads, replays and rolls back. A stored flag over the regex
//! budget still compiles, its patterns beyond the budget never matching (see
//! [`crate::compile`]).

/// A flag's, segment's or variation's `name`.
pub const MAX_NAME_CHARS: usize = 256;
/// Any `description`: a flag's, segment's, variation's or rule's.
pub const MAX_DESCRIPTION_CHARS: usize = 4096;
/// Tags on one flag.
pub const MAX_TAGS: usize = 64;
/// One tag.
pub const MAX_TAG_CHARS: usize = 64;
/// Variations of one flag.
pub const MAX_VARIATIONS: usize = 100;
/// One variation's value, encoded as JSON.
pub const MAX_VALUE_BYTES: usize = 32 * 1024;
/// Context keys over all of a flag's targets.
pub const MAX_TARGET_KEYS: usize = 10_000;
/// Rules of one flag or segment.
pub const MAX_RULES: usize = 100;
/// One rule's `id`.
pub const MAX_RULE_ID_CHARS: usize = 128;
/// Clauses of one rule.
pub const MAX_CLAUSES: usize = 30;
/// Values of one clause.
pub const MAX_CLAUSE_VALUES: usize = 1_000;
/// Prerequisites of one flag.
pub const MAX_PREREQUISITES: usize = 20;
/// Keys in a segment's `included` and `excluded` together.
pub const MAX_SEGMENT_KEYS: usize = 10_000;
/// One context key in a target or a segment's lists.
pub const MAX_CONTEXT_KEY_CHARS: usize = 256;
/// What the `matches` patterns of one flag or segment may take once compiled,
/// together (each is measured by `regex_automata`'s `memory_usage`, and one
/// pattern's automaton is capped at 1 MiB besides). A simple pattern such as
/// `^[a-z0-9._%+-]+@example\.com$` takes about 7 KB, so a flag holds
/// hundreds; 5,000 patterns (which once took 2.1 GB on every node) do not fit.
pub const MAX_REGEX_BYTES: usize = 2 << 20;
/// Flags in the state.
pub const MAX_FLAGS: usize = 50_000;
/// Projects in the cluster.
pub const MAX_PROJECTS: usize = 1_000;
/// Environments of one project.
pub const MAX_ENVIRONMENTS: usize = 100;
/// Segments in the state.
pub const MAX_SEGMENTS: usize = 50_000;
/// The state's flags and segments as JSON, plus their compiled regexes.
/// Every node holds all of it in memory (and each change three times more on
/// disk), so this is what bounds a node's memory, whatever editors write.
pub const MAX_STATE_BYTES: usize = 256 << 20;
/// One context value: the targeting key, a string, or a list's strings
/// together (each element counts one byte more, so a list of empty strings
/// is bounded too). Evaluation scans a value once per clause that reads it,
/// so this bounds what one request costs.
pub const MAX_ATTRIBUTE_BYTES: usize = 8 * 1024;
/// One context altogether: the targeting key, every attribute's name and
/// value (numbers and booleans count 8 bytes).
pub const MAX_CONTEXT_BYTES: usize = 64 * 1024;
