//! The flag model: the JSON shapes the API, the SDKs and the state machine share.
//!
//! Every type serialises in `snake_case`. Fields the server assigns (`version`,
//! `created_at`, `updated_at`, `updated_by`) default when absent, so a client
//! can post a flag without them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

mod attributes;

pub use attributes::Attributes;

/// A feature flag: what it serves, to whom, and in what order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Flag {
    /// Identity: 1–128 chars of `[A-Za-z0-9._-]`, unique in the cluster.
    #[schema(pattern = "^[A-Za-z0-9._-]{1,128}$")]
    pub key: String,
    /// Human name shown in the UI; defaults to empty.
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Free-form labels used for filtering.
    #[serde(default)]
    pub tags: Vec<String>,
    pub kind: FlagKind,
    /// The values this flag can serve. A boolean flag has exactly `true` and `false`.
    pub variations: Vec<Variation>,
    /// The kill switch: a disabled flag serves `off_variation` to everyone.
    #[serde(default)]
    pub enabled: bool,
    /// Index into `variations` served when the flag is off or a prerequisite fails.
    pub off_variation: usize,
    /// Individual targets: context keys pinned to a variation.
    #[serde(default)]
    pub targets: Vec<Target>,
    /// Evaluated in order; the first rule whose clauses all match wins.
    #[serde(default)]
    pub rules: Vec<Rule>,
    /// What a context that matched nothing gets.
    pub fallthrough: Serve,
    /// Flags that must serve a given variation before this one is evaluated.
    #[serde(default)]
    pub prerequisites: Vec<Prerequisite>,
    /// Mixed into the bucketing hash so two flags bucket the same user independently.
    #[serde(default)]
    pub salt: String,
    /// Server-assigned: increments on every committed change to this flag.
    #[serde(default)]
    pub version: u64,
    #[serde(default)]
    pub created_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub updated_at: Option<DateTime<Utc>>,
    /// The token name of whoever made the last change.
    #[serde(default)]
    pub updated_by: Option<String>,
}

/// The type of every variation value of a flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FlagKind {
    Boolean,
    String,
    Number,
    Json,
}

impl FlagKind {
    /// The name used in JSON and error messages.
    pub fn as_str(self) -> &'static str {
        match self {
            FlagKind::Boolean => "boolean",
            FlagKind::String => "string",
            FlagKind::Number => "number",
            FlagKind::Json => "json",
        }
    }

    /// Whether `value` is a legal variation value for this kind.
    pub fn accepts(self, value: &Value) -> bool {
        match self {
            FlagKind::Boolean => value.is_boolean(),
            FlagKind::String => value.is_string(),
            FlagKind::Number => value.is_number(),
            FlagKind::Json => true,
        }
    }
}

/// One value a flag can serve.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Variation {
    pub value: Value,
    /// A short name (OpenFeature's "variant"); defaults to the index when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
}

/// Context keys that always get `variation`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Target {
    pub variation: usize,
    pub values: Vec<String>,
}

/// A targeting rule: all clauses must match for `serve` to apply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Stable id, reported in `RULE_MATCH` reasons; survives reordering.
    pub id: String,
    #[serde(default)]
    pub description: String,
    pub clauses: Vec<Clause>,
    pub serve: Serve,
}

/// One condition on a context attribute.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Clause {
    /// The attribute name; `key` is the context's targeting key.
    pub attribute: String,
    pub operator: Operator,
    /// The clause matches if the attribute matches any of these.
    pub values: Vec<Value>,
    /// Inverts the result of the whole clause.
    #[serde(default)]
    pub negate: bool,
    /// For string operators: compare ignoring case.
    #[serde(default)]
    pub case_insensitive: bool,
}

/// Every operator a clause can use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Operator {
    In,
    StartsWith,
    EndsWith,
    Contains,
    Matches,
    Lt,
    Lte,
    Gt,
    Gte,
    Before,
    After,
    SemverEq,
    SemverLt,
    SemverGt,
    InCidr,
    SegmentMatch,
}

impl Operator {
    /// Every operator, in documentation order (the UI's picker uses this order).
    pub const ALL: [Operator; 16] = [
        Operator::In,
        Operator::StartsWith,
        Operator::EndsWith,
        Operator::Contains,
        Operator::Matches,
        Operator::Lt,
        Operator::Lte,
        Operator::Gt,
        Operator::Gte,
        Operator::Before,
        Operator::After,
        Operator::SemverEq,
        Operator::SemverLt,
        Operator::SemverGt,
        Operator::InCidr,
        Operator::SegmentMatch,
    ];
}

/// What a rule or the fallthrough serves: one variation, or a weighted split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Serve {
    Variation(usize),
    Rollout(Rollout),
}

/// A percentage rollout.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Rollout {
    /// Weights in thousandths of a percent; they sum to 100_000.
    pub variations: Vec<WeightedVariation>,
    /// The attribute hashed into a bucket; `key` by default.
    #[serde(default = "default_bucket_by")]
    pub bucket_by: String,
    /// Replaces the flag's salt in the hash when set, to share buckets across flags.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<String>,
    /// How buckets are computed. Only `vexil` exists today; the field lets
    /// imported flags keep Unleash's or flagd's bucketing later.
    #[serde(default, skip_serializing_if = "BucketHash::is_default")]
    pub hash: BucketHash,
}

fn default_bucket_by() -> String {
    "key".to_owned()
}

/// The bucketing algorithm of a rollout. See `bucket.rs` for the exact input.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BucketHash {
    #[default]
    Vexil,
}

impl BucketHash {
    fn is_default(&self) -> bool {
        *self == BucketHash::Vexil
    }
}

/// One slice of a rollout.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WeightedVariation {
    pub variation: usize,
    /// Thousandths of a percent: 50% is 50_000.
    pub weight: u32,
}

/// Another flag that must serve `variation` for this flag to go past "off".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Prerequisite {
    pub flag: String,
    pub variation: usize,
}

/// A reusable set of contexts: explicit keys plus rules.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Segment {
    /// Identity: 1–128 chars of `[A-Za-z0-9._-]`, unique among segments.
    #[schema(pattern = "^[A-Za-z0-9._-]{1,128}$")]
    pub key: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Keys always in the segment (checked first).
    #[serde(default)]
    pub included: Vec<String>,
    /// Keys never in the segment, even if a rule matches.
    #[serde(default)]
    pub excluded: Vec<String>,
    /// A context is in the segment if any rule's clauses all match.
    #[serde(default)]
    pub rules: Vec<SegmentRule>,
    #[serde(default)]
    pub version: u64,
    #[serde(default)]
    pub created_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub updated_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub updated_by: Option<String>,
}

/// A segment rule: all clauses must match.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SegmentRule {
    #[serde(default)]
    pub id: String,
    pub clauses: Vec<Clause>,
}

/// The value of one context attribute. As JSON: a string, a number, a
/// boolean or a list of strings; anything else is refused with the
/// attribute's name (`attributes.rs`), never flattened or guessed at.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum AttrValue {
    Bool(bool),
    Number(f64),
    String(String),
    /// A list matches a clause if any element matches: how groups are targeted.
    List(Vec<String>),
}

/// Who is asking: a targeting key plus attributes.
///
/// JSON shape: `{"key": "user-1", "country": "NZ", "groups": ["beta"]}`.
/// Decoded by hand (`attributes.rs`), so that an error names the attribute.
#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Context {
    /// The targeting key (`key` in clauses, the default `bucket_by`).
    #[serde(default)]
    pub key: String,
    /// Every other attribute (an attribute named `key` is the targeting key).
    #[serde(flatten)]
    #[schema(value_type = std::collections::HashMap<String, AttrValue>)]
    pub attributes: Attributes,
}

impl Context {
    /// A context with only a targeting key.
    pub fn new(key: impl Into<String>) -> Self {
        Context {
            key: key.into(),
            attributes: Attributes::new(),
        }
    }

    /// Adds an attribute (builder style).
    pub fn with(mut self, name: impl Into<String>, value: impl Into<AttrValue>) -> Self {
        self.attributes.insert(name.into(), value.into());
        self
    }

    /// Looks an attribute up; `key` is the targeting key.
    pub fn get(&self, name: &str) -> Option<AttrRef<'_>> {
        if name == "key" {
            return Some(AttrRef::Str(&self.key));
        }
        self.attributes.get(name).map(|v| match v {
            AttrValue::Bool(b) => AttrRef::Bool(*b),
            AttrValue::Number(n) => AttrRef::Number(*n),
            AttrValue::String(s) => AttrRef::Str(s),
            AttrValue::List(l) => AttrRef::List(l),
        })
    }
}

/// A borrowed view of an attribute, so lookups never allocate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum AttrRef<'a> {
    Bool(bool),
    Number(f64),
    Str(&'a str),
    List(&'a [String]),
}

impl From<&str> for AttrValue {
    fn from(s: &str) -> Self {
        AttrValue::String(s.to_owned())
    }
}
impl From<String> for AttrValue {
    fn from(s: String) -> Self {
        AttrValue::String(s)
    }
}
impl From<bool> for AttrValue {
    fn from(b: bool) -> Self {
        AttrValue::Bool(b)
    }
}
impl From<f64> for AttrValue {
    fn from(n: f64) -> Self {
        AttrValue::Number(n)
    }
}
impl From<i64> for AttrValue {
    #[allow(clippy::cast_precision_loss)]
    fn from(n: i64) -> Self {
        AttrValue::Number(n as f64)
    }
}
impl From<Vec<String>> for AttrValue {
    fn from(l: Vec<String>) -> Self {
        AttrValue::List(l)
    }
}
impl From<Vec<&str>> for AttrValue {
    fn from(l: Vec<&str>) -> Self {
        AttrValue::List(l.into_iter().map(str::to_owned).collect())
    }
}
