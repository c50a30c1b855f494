//! Where two environments of a project differ, flag by flag and segment by
//! segment: what the compare view shows and what a promotion would copy.
//!
//! Only configurations are compared (enabled, off variation, targets,
//! rules, fallthrough, prerequisites; a segment's name, description, keys
//! and rules): a flag's definition is shared by every environment of its
//! project, so it never differs between two of them.

use serde::Serialize;

use crate::definition::config_differences;
use crate::model::Segment;
use crate::set::FlagSet;

/// How one flag or segment differs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Difference {
    pub key: String,
    /// `changed`, `only_in_from` or `only_in_to`.
    pub status: String,
    /// The fields that differ (for `changed`; empty otherwise).
    pub fields: Vec<String>,
}

impl Difference {
    fn new(key: &str, status: &str, fields: Vec<&str>) -> Self {
        Difference {
            key: key.to_owned(),
            status: status.to_owned(),
            fields: fields.into_iter().map(String::from).collect(),
        }
    }
}

/// Two environments compared.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Comparison {
    /// Flags that differ, by key.
    pub flags: Vec<Difference>,
    /// Flags configured alike in both.
    pub same_flags: usize,
    /// Segments that differ, by key.
    pub segments: Vec<Difference>,
    pub same_segments: usize,
}

/// The fields of two segments of one key that differ.
pub fn segment_differences(a: &Segment, b: &Segment) -> Vec<&'static str> {
    let mut out = Vec::new();
    if a.name != b.name {
        out.push("name");
    }
    if a.description != b.description {
        out.push("description");
    }
    if a.included != b.included {
        out.push("included");
    }
    if a.excluded != b.excluded {
        out.push("excluded");
    }
    if a.rules != b.rules {
        out.push("rules");
    }
    out
}

/// Compares `from` with `to`, keeping the flags `wanted` says (all when it
/// always says yes). Keys are sorted.
pub fn compare<'s>(
    from: &'s FlagSet,
    to: &'s FlagSet,
    wanted: impl Fn(&str) -> bool,
) -> Comparison {
    let flag_keys = from.flags().chain(to.flags()).map(|f| f.key());
    let flag = |set: &'s FlagSet, key: &str| set.get_flag(key).map(|f| f.flag().as_ref());
    let (flags, same_flags) = differ(
        flag_keys.filter(|k| wanted(k)),
        |key| (flag(from, key), flag(to, key)),
        config_differences,
    );
    let segment_keys = from.segments().chain(to.segments()).map(|s| s.key());
    let segment = |set: &'s FlagSet, key: &str| set.get_segment(key).map(|s| s.segment().as_ref());
    let (segments, same_segments) = differ(
        segment_keys,
        |key| (segment(from, key), segment(to, key)),
        segment_differences,
    );
    Comparison {
        flags,
        same_flags,
        segments,
        same_segments,
    }
}

/// The differences among `keys` (each looked up on both sides by
/// `sides`, its fields by `fields_of`), in key order, and how many are the
/// same.
fn differ<'k, 's, T: 's>(
    keys: impl Iterator<Item = &'k str>,
    sides: impl Fn(&str) -> (Option<&'s T>, Option<&'s T>),
    fields_of: fn(&T, &T) -> Vec<&'static str>,
) -> (Vec<Difference>, usize) {
    let mut keys: Vec<&str> = keys.collect();
    keys.sort_unstable();
    keys.dedup();
    let mut out = Vec::new();
    let mut same = 0;
    for key in keys {
        let (status, fields) = match sides(key) {
            (Some(a), Some(b)) => match fields_of(a, b) {
                fields if fields.is_empty() => {
                    same += 1;
                    continue;
                }
                fields => ("changed", fields),
            },
            (Some(_), None) => ("only_in_from", Vec::new()),
            (None, Some(_)) => ("only_in_to", Vec::new()),
            (None, None) => continue,
        };
        out.push(Difference::new(key, status, fields));
    }
    (out, same)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Flag;

    fn flag(key: &str, enabled: bool) -> Flag {
        serde_json::from_value(serde_json::json!({
            "key": key, "kind": "boolean",
            "variations": [{"value": true}, {"value": false}],
            "off_variation": 1, "fallthrough": {"variation": 0}, "enabled": enabled,
        }))
        .expect("flag")
    }

    fn segment(key: &str, included: &[&str]) -> Segment {
        serde_json::from_value(serde_json::json!({"key": key, "included": included}))
            .expect("segment")
    }

    #[test]
    fn only_what_differs_is_listed_with_its_fields() {
        let mut changed = flag("b", true);
        changed.off_variation = 0;
        let from = FlagSet::from_parts(
            vec![flag("a", true), changed, flag("only-from", true)],
            vec![segment("s", &["u1"]), segment("same", &[])],
        );
        let to = FlagSet::from_parts(
            vec![flag("a", true), flag("b", false), flag("only-to", true)],
            vec![segment("s", &["u2"]), segment("same", &[])],
        );
        let c = compare(&from, &to, |_| true);
        let shown: Vec<(&str, &str, Vec<&str>)> = c
            .flags
            .iter()
            .map(|d| {
                let fields = d.fields.iter().map(String::as_str).collect();
                (d.key.as_str(), d.status.as_str(), fields)
            })
            .collect();
        assert_eq!(
            shown,
            vec![
                ("b", "changed", vec!["enabled", "off_variation"]),
                ("only-from", "only_in_from", vec![]),
                ("only-to", "only_in_to", vec![]),
            ]
        );
        assert_eq!(c.same_flags, 1);
        assert_eq!(c.segments.len(), 1);
        assert_eq!(c.segments[0].fields, vec!["included"]);
        assert_eq!(c.same_segments, 1);
        // A filter keeps only the flags it names.
        let c = compare(&from, &to, |k| k == "a");
        assert!(c.flags.is_empty());
        assert_eq!(c.same_flags, 1);
    }
}
