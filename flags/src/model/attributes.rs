//! [`Attributes`]: a context's attributes, as JSON an object.
//!
//! Stored as one vector sorted by name rather than a `BTreeMap`: contexts
//! rarely carry more than a dozen attributes, and one contiguous allocation
//! keeps a lookup to a short scan instead of a walk through a 600-byte tree
//! node and a heap string per comparison (evaluation benchmarks over 1M
//! contexts were dominated by those cache misses).
//!
//! As JSON, an attribute whose value is `null` is treated as absent, and
//! a value that is not a string, number, boolean or list of strings is an
//! error naming the attribute. [`Context`] is decoded here too.

use std::fmt;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{AttrValue, Context};

/// Up to this many attributes, a lookup scans (comparing lengths first, so
/// most names are rejected without reading their bytes); beyond, it bisects.
const SCAN_LIMIT: usize = 16;

/// Attribute name → value, unique names, sorted by name.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Attributes {
    /// Sorted by name, no duplicate names.
    entries: Vec<(String, AttrValue)>,
}

impl Attributes {
    /// No attributes.
    pub fn new() -> Self {
        Attributes::default()
    }

    /// The value of `name`.
    pub fn get(&self, name: &str) -> Option<&AttrValue> {
        let found = if self.entries.len() <= SCAN_LIMIT {
            self.entries.iter().find(|(n, _)| n == name)
        } else {
            let i = self.entries.binary_search_by(|(n, _)| n.as_str().cmp(name));
            i.ok().and_then(|i| self.entries.get(i))
        };
        found.map(|(_, v)| v)
    }

    /// Sets `name`, returning the value it replaced.
    pub fn insert(&mut self, name: String, value: AttrValue) -> Option<AttrValue> {
        match self
            .entries
            .binary_search_by(|(n, _)| n.as_str().cmp(&name))
        {
            Ok(i) => self
                .entries
                .get_mut(i)
                .map(|e| std::mem::replace(&mut e.1, value)),
            Err(i) => {
                self.entries.insert(i, (name, value));
                None
            }
        }
    }

    /// Removes `name`, returning its value.
    pub fn remove(&mut self, name: &str) -> Option<AttrValue> {
        let i = self
            .entries
            .binary_search_by(|(n, _)| n.as_str().cmp(name))
            .ok()?;
        Some(self.entries.remove(i).1)
    }

    /// Every attribute, sorted by name.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&str, &AttrValue)> {
        self.entries.iter().map(|(n, v)| (n.as_str(), v))
    }

    /// The number of attributes.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// Later duplicates of a name win, as when inserting one by one.
impl FromIterator<(String, AttrValue)> for Attributes {
    fn from_iter<I: IntoIterator<Item = (String, AttrValue)>>(iter: I) -> Self {
        let mut entries: Vec<(String, AttrValue)> = iter.into_iter().collect();
        // A stable sort keeps duplicates in input order; keep the last of each.
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        entries.reverse();
        entries.dedup_by(|later, earlier| later.0 == earlier.0);
        entries.reverse();
        Attributes { entries }
    }
}

impl Serialize for Attributes {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.entries.len()))?;
        for (name, value) in &self.entries {
            map.serialize_entry(name, value)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Attributes {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(AttributesVisitor)
    }
}

struct AttributesVisitor;

impl<'de> Visitor<'de> for AttributesVisitor {
    type Value = Attributes;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a map of attribute names to values")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Attributes, A::Error> {
        let mut entries = Vec::with_capacity(map.size_hint().unwrap_or(0).min(64));
        while let Some(name) = map.next_key::<String>()? {
            next_attribute(&mut map, name, &mut entries)?;
        }
        Ok(entries.into_iter().collect())
    }
}

/// Reads the value of attribute `name`; `null` means "not set" (SDKs send
/// it for empty fields), so it is dropped.
fn next_attribute<'de, A: MapAccess<'de>>(
    map: &mut A,
    name: String,
    entries: &mut Vec<(String, AttrValue)>,
) -> Result<(), A::Error> {
    if let Some(value) = map.next_value_seed(AttrSeed(Some(&name)))? {
        entries.push((name, value));
    }
    Ok(())
}

/// A context: `key` is the targeting key, every other field an attribute.
/// Decoded here rather than with `#[serde(flatten)]`, which buffers every
/// value and so loses the name of the attribute an error is about.
impl<'de> Deserialize<'de> for Context {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(ContextVisitor)
    }
}

struct ContextVisitor;

impl<'de> Visitor<'de> for ContextVisitor {
    type Value = Context;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a context: an object with a `key` and attributes")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Context, A::Error> {
        let mut key = String::new();
        let mut entries = Vec::with_capacity(map.size_hint().unwrap_or(0).min(64));
        while let Some(name) = map.next_key::<String>()? {
            if name == "key" {
                key = map.next_value()?;
            } else {
                next_attribute(&mut map, name, &mut entries)?;
            }
        }
        Ok(Context {
            key,
            attributes: entries.into_iter().collect(),
        })
    }
}

/// An attribute value on its own (no name to report).
impl<'de> Deserialize<'de> for AttrValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        AttrSeed(None)
            .deserialize(deserializer)?
            .ok_or_else(|| de::Error::custom("null is not an attribute value"))
    }
}

/// Decodes one attribute value, `None` for `null`. The name, when known,
/// goes into every error: the same rules, and nearly the same words, as
/// OFREP's contexts (`node/src/api/ofrep/context.rs`).
struct AttrSeed<'a>(Option<&'a str>);

impl AttrSeed<'_> {
    fn prefix(&self) -> String {
        self.0
            .map(|n| format!("attribute {n:?}: "))
            .unwrap_or_default()
    }
}

impl<'de> DeserializeSeed<'de> for AttrSeed<'_> {
    type Value = Option<AttrValue>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for AttrSeed<'_> {
    type Value = Option<AttrValue>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}a string, a number, a boolean or a list of strings",
            self.prefix()
        )
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Some(AttrValue::Bool(v)))
    }

    #[allow(clippy::cast_precision_loss)]
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Some(AttrValue::Number(v as f64)))
    }

    #[allow(clippy::cast_precision_loss)]
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Some(AttrValue::Number(v as f64)))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Some(AttrValue::Number(v)))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Some(AttrValue::String(v.to_owned())))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Some(AttrValue::String(v)))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
        while let Some(item) = seq.next_element_seed(ListItem(self.0))? {
            items.push(item);
        }
        Ok(Some(AttrValue::List(items)))
    }

    fn visit_map<A: MapAccess<'de>>(self, _map: A) -> Result<Self::Value, A::Error> {
        let example = self.0.unwrap_or("user");
        Err(de::Error::custom(format!(
            "{}nested objects are not allowed; send each field as an attribute of its own \
             (e.g. \"{example}.plan\")",
            self.prefix()
        )))
    }
}

/// One element of a list attribute: a string.
struct ListItem<'a>(Option<&'a str>);

impl<'de> DeserializeSeed<'de> for ListItem<'_> {
    type Value = String;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<String, D::Error> {
        deserializer.deserialize_string(self)
    }
}

impl<'de> Visitor<'de> for ListItem<'_> {
    type Value = String;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}a string (a list attribute holds only strings)",
            AttrSeed(self.0).prefix()
        )
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
        Ok(v.to_owned())
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<String, E> {
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(pairs: &[(&str, f64)]) -> Attributes {
        pairs
            .iter()
            .map(|(n, v)| ((*n).to_owned(), AttrValue::Number(*v)))
            .collect()
    }

    #[test]
    fn later_duplicates_win_and_names_stay_sorted() {
        let a = attrs(&[("b", 1.0), ("a", 2.0), ("b", 3.0)]);
        let names: Vec<_> = a.iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["a", "b"]);
        assert_eq!(a.get("b"), Some(&AttrValue::Number(3.0)));
    }

    #[test]
    fn scan_and_bisect_agree() {
        let names: Vec<String> = (0..40).map(|i| format!("attr-{i}")).collect();
        let many: Attributes = (names.iter().enumerate())
            .map(|(i, n)| (n.clone(), AttrValue::Number(i as f64)))
            .collect();
        for (i, n) in names.iter().enumerate() {
            assert_eq!(many.get(n), Some(&AttrValue::Number(i as f64)));
        }
        assert_eq!(many.get("attr-x"), None);
    }

    #[test]
    fn contexts_round_trip_through_json_and_drop_nulls() {
        let json = serde_json::json!({
            "key": "u1", "country": "NZ", "age": 42.0, "beta": true,
            "groups": ["a", "b"], "nickname": null,
        });
        let ctx: crate::model::Context = serde_json::from_value(json).unwrap();
        assert_eq!(ctx.key, "u1");
        assert_eq!(ctx.attributes.len(), 4);
        assert_eq!(ctx.attributes.get("nickname"), None);
        assert_eq!(
            ctx.attributes.get("country"),
            Some(&AttrValue::String("NZ".into()))
        );
        let back = serde_json::to_value(&ctx).unwrap();
        let expected = serde_json::json!({
            "key": "u1", "age": 42.0, "beta": true, "country": "NZ", "groups": ["a", "b"],
        });
        assert_eq!(back, expected);
    }

    #[test]
    fn insert_replaces_and_remove_removes() {
        let mut a = Attributes::new();
        assert_eq!(a.insert("x".into(), AttrValue::Bool(true)), None);
        assert_eq!(
            a.insert("x".into(), AttrValue::Bool(false)),
            Some(AttrValue::Bool(true))
        );
        assert_eq!(a.len(), 1);
        assert_eq!(a.remove("x"), Some(AttrValue::Bool(false)));
        assert!(a.is_empty());
    }
}
