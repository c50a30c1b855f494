//! Clause values parsed into the form the evaluator compares against.
//!
//! Validation and compilation both call [`parse_operand`], so a value that
//! validates always compiles and vice versa. The attribute-side parsers
//! ([`parse_semver`], [`millis_from_str`], …) are shared with evaluation, so
//! both sides of a comparison are read by the same rules.

use std::fmt::Write;

use ipnet::IpNet;
use regex_automata::MatchKind;
use regex_automata::meta::{self, Regex};
use regex_automata::util::syntax;
use semver::Version;
use serde_json::Value;

use crate::model::Operator;
use crate::stackbuf::StackBuf;
use crate::validate::code;

/// Each pattern's compiled automaton is capped at 1 MiB so one pasted
/// pattern cannot eat the server's memory (what a whole flag's patterns may
/// take is [`crate::limits::MAX_REGEX_BYTES`]).
const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// The lazy DFA cache one pattern may grow, per evaluating thread (the
/// `regex` crate's default is 2 MiB). A search that outgrows it clears it,
/// and a pattern whose cache keeps clearing falls back to a slower engine:
/// the result is the same, only the memory is bounded.
const REGEX_CACHE_CAPACITY: usize = 256 * 1024;

/// One clause value, parsed for its operator.
#[derive(Debug, Clone)]
pub(crate) enum Operand {
    /// A string; lowercased at compile time when the clause is case-insensitive.
    Str(Box<str>),
    /// A number (`in` and the numeric operators).
    Num(f64),
    /// A boolean (`in` only).
    Bool(bool),
    /// A pattern for `matches`; case-insensitivity is built into it.
    Regex(Regex),
    /// A point in time, in milliseconds since the Unix epoch.
    Date(i64),
    /// A version for the `semver_*` operators.
    Semver(Version),
    /// A network for `in_cidr`.
    Cidr(IpNet),
}

/// Why a clause value cannot be used with its operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OperandError {
    /// One of [`crate::validate::code`].
    pub code: &'static str,
    /// Human-readable detail.
    pub message: String,
}

impl OperandError {
    fn new(code: &'static str, message: impl Into<String>) -> Self {
        OperandError {
            code,
            message: message.into(),
        }
    }
}

/// Parses one clause value for `op`. `segment_match` values come back as
/// [`Operand::Str`]; whether the segment exists is the caller's concern.
pub(crate) fn parse_operand(
    op: Operator,
    case_insensitive: bool,
    value: &Value,
) -> Result<Operand, OperandError> {
    use Operator::*;
    match op {
        In => match value {
            Value::String(s) => Ok(Operand::Str(fold(s, case_insensitive))),
            Value::Number(n) => n.as_f64().map(Operand::Num).ok_or_else(not_a_number),
            Value::Bool(b) => Ok(Operand::Bool(*b)),
            _ => Err(OperandError::new(
                code::INVALID_VALUE,
                "`in` compares strings, numbers and booleans only",
            )),
        },
        StartsWith | EndsWith | Contains => {
            Ok(Operand::Str(fold(string(value)?, case_insensitive)))
        }
        SegmentMatch => Ok(Operand::Str(string(value)?.into())),
        Matches => parse_regex(string(value)?, case_insensitive).map(Operand::Regex),
        Lt | Lte | Gt | Gte => value.as_f64().map(Operand::Num).ok_or_else(not_a_number),
        Before | After => millis_from_json(value).map(Operand::Date).ok_or_else(|| {
            OperandError::new(
                code::INVALID_DATE,
                "expected an RFC 3339 string or epoch milliseconds",
            )
        }),
        SemverEq | SemverLt | SemverGt => value
            .as_str()
            .and_then(parse_semver)
            .map(Operand::Semver)
            .ok_or_else(|| OperandError::new(code::INVALID_SEMVER, "expected a semantic version")),
        InCidr => value
            .as_str()
            .and_then(parse_cidr)
            .map(Operand::Cidr)
            .ok_or_else(|| OperandError::new(code::INVALID_CIDR, "expected a CIDR or an IP")),
    }
}

fn string(value: &Value) -> Result<&str, OperandError> {
    value
        .as_str()
        .ok_or_else(|| OperandError::new(code::NOT_A_STRING, "expected a string"))
}

fn not_a_number() -> OperandError {
    OperandError::new(code::NOT_A_NUMBER, "expected a number")
}

fn parse_regex(pattern: &str, case_insensitive: bool) -> Result<Regex, OperandError> {
    build_regex(pattern, case_insensitive, REGEX_SIZE_LIMIT)
        .map_err(|e| OperandError::new(code::INVALID_REGEX, regex_error(&e)))
}

/// Compiles `pattern` as `regex::Regex` would (leftmost-first, UTF-8,
/// Unicode), with its automaton capped at `size_limit` bytes.
pub(crate) fn build_regex(
    pattern: &str,
    case_insensitive: bool,
    size_limit: usize,
) -> Result<Regex, Box<meta::BuildError>> {
    let config = meta::Config::new()
        .match_kind(MatchKind::LeftmostFirst)
        .utf8_empty(true)
        .nfa_size_limit(Some(size_limit))
        .hybrid_cache_capacity(REGEX_CACHE_CAPACITY);
    let syntax = syntax::Config::new()
        .utf8(true)
        .case_insensitive(case_insensitive);
    meta::Builder::new()
        .configure(config)
        .syntax(syntax)
        .build(pattern)
        .map_err(Box::new)
}

/// The words `regex::Error` uses, so messages stay as they were.
fn regex_error(e: &meta::BuildError) -> String {
    match (e.size_limit(), e.syntax_error()) {
        (Some(limit), _) => format!("Compiled regex exceeds size limit of {limit} bytes."),
        (None, Some(syntax)) => syntax.to_string(),
        (None, None) => e.to_string(),
    }
}

/// What one flag's or segment's `matches` patterns take compiled, counted
/// pattern by pattern in the flag's order ([`Regex::memory_usage`]). The
/// budget is [`crate::limits::MAX_REGEX_BYTES`]: new input over it is
/// refused, and a stored flag over it (written before the budget existed)
/// still loads, its first clause over the budget and every later one never
/// matching.
#[derive(Debug, Default)]
pub(crate) struct RegexBudget {
    /// Bytes taken by the patterns compiled so far.
    pub used: usize,
    /// The first value that did not fit: its field path and why.
    pub over: Option<(String, String)>,
}

impl RegexBudget {
    /// Compiles `pattern` for the value at `path` if it fits in what is
    /// left; `Ok(None)` when it does not (and so never matches). A pattern
    /// that is invalid on its own is still an error.
    pub(crate) fn compile(
        &mut self,
        path: &str,
        pattern: &str,
        case_insensitive: bool,
    ) -> Result<Option<Regex>, OperandError> {
        use crate::limits::MAX_REGEX_BYTES;
        let left = MAX_REGEX_BYTES.saturating_sub(self.used);
        let cap = left.min(REGEX_SIZE_LIMIT);
        let built = match build_regex(pattern, case_insensitive, cap) {
            // Over what is left, not over the pattern's own limit: it does not fit.
            Err(e) if e.size_limit().is_some() && cap < REGEX_SIZE_LIMIT => None,
            Err(e) => return Err(OperandError::new(code::INVALID_REGEX, regex_error(&e))),
            Ok(re) => Some(re),
        };
        let size = built.as_ref().map_or(usize::MAX, Regex::memory_usage);
        match built {
            Some(re) if size <= left => {
                self.used += size;
                Ok(Some(re))
            }
            _ => {
                let shown = if size == usize::MAX { left + 1 } else { size };
                self.over.get_or_insert_with(|| {
                    let message = format!(
                        "this pattern takes {shown} bytes compiled, but only {left} of the \
                         {MAX_REGEX_BYTES} bytes a flag or segment may spend on regexes are left"
                    );
                    (path.to_owned(), message)
                });
                self.used = MAX_REGEX_BYTES;
                Ok(None)
            }
        }
    }
}

/// `s` as stored for a case-insensitive clause: lowercased char by char with
/// [`char::to_lowercase`], the same mapping evaluation applies to attributes.
fn fold(s: &str, case_insensitive: bool) -> Box<str> {
    if case_insensitive {
        s.chars().flat_map(char::to_lowercase).collect()
    } else {
        s.into()
    }
}

/// A semantic version; "1" and "1.2" are padded to "1.0.0" and "1.2.0"
/// (pre-release and build suffixes are kept). Padding uses a stack buffer,
/// so a version over 128 bytes that needs padding does not parse.
pub(crate) fn parse_semver(s: &str) -> Option<Version> {
    if let Ok(v) = Version::parse(s) {
        return Some(v);
    }
    let (core, suffix) = s.split_at(s.find(['-', '+']).unwrap_or(s.len()));
    let pad = match core.bytes().filter(|&b| b == b'.').count() {
        0 => ".0.0",
        1 => ".0",
        _ => return None,
    };
    let mut buf = StackBuf::<128>::new();
    write!(buf, "{core}{pad}{suffix}").ok()?;
    Version::parse(buf.as_str()).ok()
}

/// A CIDR such as `10.0.0.0/8`; a bare IP means that one host.
pub(crate) fn parse_cidr(s: &str) -> Option<IpNet> {
    s.parse::<IpNet>()
        .ok()
        .or_else(|| s.parse::<std::net::IpAddr>().ok().map(IpNet::from))
}

/// An RFC 3339 timestamp as milliseconds since the Unix epoch.
pub(crate) fn millis_from_str(s: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.timestamp_millis())
}

/// Epoch milliseconds given as a number; fractions are truncated.
#[allow(clippy::cast_possible_truncation)]
pub(crate) fn millis_from_number(n: f64) -> Option<i64> {
    n.is_finite().then_some(n as i64)
}

fn millis_from_json(value: &Value) -> Option<i64> {
    match value {
        Value::String(s) => millis_from_str(s),
        Value::Number(n) => n.as_f64().and_then(millis_from_number),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn semver_pads_short_versions_and_keeps_suffixes() {
        assert_eq!(parse_semver("1.2"), Version::parse("1.2.0").ok());
        assert_eq!(parse_semver("3"), Version::parse("3.0.0").ok());
        assert_eq!(
            parse_semver("1.2-beta.1"),
            Version::parse("1.2.0-beta.1").ok()
        );
        assert_eq!(parse_semver("1.2.3+b7"), Version::parse("1.2.3+b7").ok());
        assert_eq!(parse_semver("1.2.3.4"), None);
        assert_eq!(parse_semver("x"), None);
        assert_eq!(parse_semver(""), None);
    }

    #[test]
    fn dates_accept_rfc3339_and_epoch_millis() {
        let ms = 1_700_000_000_000_i64;
        assert_eq!(millis_from_json(&json!("2023-11-14T22:13:20Z")), Some(ms));
        assert_eq!(millis_from_json(&json!(ms)), Some(ms));
        assert_eq!(millis_from_json(&json!("2023-11-14")), None);
        assert_eq!(millis_from_json(&json!(true)), None);
    }

    #[test]
    fn cidr_accepts_networks_and_bare_ips() {
        assert!(parse_cidr("10.0.0.0/8").is_some());
        assert!(parse_cidr("2001:db8::/32").is_some());
        assert_eq!(parse_cidr("10.1.2.3"), "10.1.2.3/32".parse().ok());
        assert_eq!(parse_cidr("10.0.0.0/33"), None);
    }

    #[test]
    fn operands_report_the_validation_code() {
        let err = |op, v| parse_operand(op, false, &v).err().map(|e| e.code);
        assert_eq!(
            err(Operator::Matches, json!("(")),
            Some(code::INVALID_REGEX)
        );
        assert_eq!(err(Operator::Gt, json!("5")), Some(code::NOT_A_NUMBER));
        assert_eq!(err(Operator::In, json!(null)), Some(code::INVALID_VALUE));
        assert_eq!(err(Operator::Contains, json!(1)), Some(code::NOT_A_STRING));
        assert_eq!(err(Operator::In, json!("x")), None);
    }

    #[test]
    fn case_insensitive_strings_are_folded_at_compile_time() {
        match parse_operand(Operator::In, true, &json!("ÉCOLE")) {
            Ok(Operand::Str(s)) => assert_eq!(&*s, "école"),
            other => panic!("unexpected {other:?}"),
        }
    }
}
