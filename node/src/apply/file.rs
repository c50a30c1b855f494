//! Reading an apply file (YAML or JSON) and finding where each flag and
//! segment sits in it, so errors name a file position.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde::de::DeserializeOwned;
use vexil_flags::{Flag, Segment};

use crate::cli::CliError;

/// What an apply file must hold, for messages.
const SHAPE: &str = "an apply file is a map with `segments` and `flags` lists (the shape `vexil export` prints), e.g. `flags: [{key: checkout, kind: boolean, …}]`";

/// What an apply file declares.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Declared {
    #[serde(default)]
    pub segments: Vec<Segment>,
    #[serde(default)]
    pub flags: Vec<Flag>,
}

/// An apply file's text, for positions.
#[derive(Debug)]
pub struct Source {
    pub path: PathBuf,
    text: String,
}

fn is_yaml(path: &Path, text: &str) -> bool {
    match path.extension().and_then(|e| e.to_str()) {
        Some("yaml" | "yml") => true,
        Some("json") => false,
        // stdin or another name: JSON starts with `{`.
        _ => !text.trim_start().starts_with('{'),
    }
}

/// Deserializes `text` as JSON or YAML; the error names the line, the
/// column and the field path. YAML is read as a JSON value first (so enums
/// are written as maps, `{variation: 0}`, as in JSON); a YAML value of the
/// wrong shape is placed at the `key:` of the item that holds it.
pub fn parse<T: DeserializeOwned>(text: &str, path: &Path) -> Result<T, CliError> {
    let shown = path.display();
    if !is_yaml(path, text) {
        let de = &mut serde_json::Deserializer::from_str(text);
        return serde_path_to_error::deserialize(de).map_err(|e| {
            let field = e.path().to_string();
            let inner = e.into_inner();
            CliError::Usage(format!(
                "{shown}:{}:{}: {}: {inner}",
                inner.line(),
                inner.column(),
                field_name(&field)
            ))
        });
    }
    let value: serde_json::Value = serde_norway::from_str(text).map_err(|e| {
        let at = e
            .location()
            .map(|l| format!("{}:{}:", l.line(), l.column()))
            .unwrap_or_default();
        CliError::Usage(format!("{shown}:{at} {e}"))
    })?;
    serde_path_to_error::deserialize(&value).map_err(|e| {
        let field = e.path().to_string();
        let src = Source {
            path: path.to_owned(),
            text: text.to_owned(),
        };
        let at = item_of(&field, &value)
            .and_then(|(kind, key)| src.position(kind, &key))
            .map(|(l, c)| format!("{l}:{c}:"))
            .unwrap_or_default();
        CliError::Usage(format!(
            "{shown}:{at} {}: {}",
            field_name(&field),
            e.into_inner()
        ))
    })
}

/// The (kind, key) of the item a path like `flags[3].rules` is inside.
fn item_of(field: &str, value: &serde_json::Value) -> Option<(&'static str, String)> {
    let (section, kind) = if field.starts_with("flags[") {
        ("flags", "flag")
    } else if field.starts_with("segments[") {
        ("segments", "segment")
    } else {
        return None;
    };
    let index: usize = field[section.len() + 1..].split(']').next()?.parse().ok()?;
    let key = value.get(section)?.get(index)?.get("key")?.as_str()?;
    Some((kind, key.to_owned()))
}

fn field_name(path: &str) -> &str {
    if path == "." { "(top level)" } else { path }
}

/// Parses one JSON or YAML document as a JSON value.
pub fn parse_value(text: &str, path: &Path) -> Result<serde_json::Value, CliError> {
    parse(text, path)
}

/// Reads and parses an apply file (`-` is stdin).
pub fn load(path: &Path) -> Result<(Declared, Source), CliError> {
    let text = if path.as_os_str() == "-" {
        std::io::read_to_string(std::io::stdin()).map_err(|e| CliError::local("stdin", e))?
    } else {
        std::fs::read_to_string(path).map_err(|e| CliError::input(path, &e))?
    };
    if text.trim().is_empty() {
        return Err(CliError::Usage(format!(
            "{} is empty: {SHAPE}",
            path.display()
        )));
    }
    // serde would read a JSON list as the struct's fields in order, so
    // `[]` would declare nothing (and `--prune` delete everything).
    if !parse_value(&text, path)?.is_object() {
        return Err(CliError::Usage(format!(
            "{} does not hold a map: {SHAPE}",
            path.display()
        )));
    }
    let declared: Declared = parse(&text, path).map_err(|e| match e {
        // serde names the Rust type; say what the file should hold.
        CliError::Usage(m) if m.contains("struct Declared") => CliError::Usage(format!(
            "{}; {SHAPE}",
            m.replace("struct Declared", "a map")
        )),
        other => other,
    })?;
    let source = Source {
        path: path.to_owned(),
        text,
    };
    check_unique(&declared, &source)?;
    Ok((declared, source))
}

fn check_unique(d: &Declared, src: &Source) -> Result<(), CliError> {
    let mut seen = std::collections::HashSet::new();
    for f in &d.flags {
        if !seen.insert(("flag", f.key.as_str())) {
            return Err(CliError::Usage(src.at("flag", &f.key, "is declared twice")));
        }
    }
    for s in &d.segments {
        if !seen.insert(("segment", s.key.as_str())) {
            return Err(CliError::Usage(src.at(
                "segment",
                &s.key,
                "is declared twice",
            )));
        }
    }
    Ok(())
}

impl Source {
    /// The 1-based (line, column) of the `key:` of the flag or segment
    /// `key`, in the `flags` or `segments` section. The last match wins, so
    /// a duplicate is reported where it repeats.
    pub fn position(&self, kind: &str, key: &str) -> Option<(usize, usize)> {
        let section = if kind == "flag" { "flags" } else { "segments" };
        let mut in_section = false;
        let mut found = None;
        for (n, line) in self.text.lines().enumerate() {
            let t = line.trim_start().trim_start_matches(['{', ',', ' ']);
            let bare = t.trim_start_matches('"');
            for s in ["flags", "segments"] {
                if bare.starts_with(s)
                    && bare[s.len()..]
                        .trim_start_matches('"')
                        .trim_start()
                        .starts_with(':')
                {
                    in_section = s == section;
                }
            }
            if !in_section {
                continue;
            }
            if let Some(col) = key_column(line, key) {
                found = Some((n + 1, col));
            }
        }
        found
    }

    /// `file:line:col: <kind> <key>: <message>`.
    pub fn at(&self, kind: &str, key: &str, message: &str) -> String {
        let pos = self
            .position(kind, key)
            .map(|(l, c)| format!("{l}:{c}:"))
            .unwrap_or_default();
        format!("{}:{pos} {kind} {key:?}: {message}", self.path.display())
    }
}

/// The column of a `key: <key>` (YAML) or `"key": "<key>"` (JSON) on `line`.
fn key_column(line: &str, key: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(i) = line[from..].find("key") {
        let start = from + i;
        let before = line[..start].trim_end_matches('"');
        let boundary = before.is_empty()
            || before.ends_with(|c: char| c.is_whitespace() || c == '{' || c == ',' || c == '-');
        let rest = line[start + 3..].trim_start_matches('"').trim_start();
        if boundary && let Some(value) = rest.strip_prefix(':') {
            let value = value
                .trim()
                .trim_end_matches(',')
                .trim_end_matches('}')
                .trim();
            let value = value.trim_matches(|c| c == '"' || c == '\'');
            if value == key {
                let col = line[..start].trim_end_matches('"').len() + 1;
                return Some(col);
            }
        }
        from = start + 3;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_in_yaml_and_json() {
        let yaml =
            "segments:\n  - key: beta\nflags:\n  - key: beta\n    kind: boolean\n  - key: \"x\"\n";
        let src = Source {
            path: "f.yaml".into(),
            text: yaml.into(),
        };
        assert_eq!(src.position("segment", "beta"), Some((2, 5)));
        assert_eq!(src.position("flag", "beta"), Some((4, 5)));
        assert_eq!(src.position("flag", "x"), Some((6, 5)));
        let json = "{\n  \"flags\": [\n    {\n      \"key\": \"a\",\n      \"kind\": \"boolean\"\n    }\n  ]\n}\n";
        let src = Source {
            path: "f.json".into(),
            text: json.into(),
        };
        assert_eq!(src.position("flag", "a"), Some((4, 7)));
        assert_eq!(src.position("segment", "a"), None);
    }

    #[test]
    fn yaml_enums_are_maps_as_in_json() {
        let yaml = "flags:\n  - key: a\n    kind: boolean\n    variations: [{value: true}, {value: false}]\n    off_variation: 1\n    fallthrough: {variation: 0}\n";
        let d: Declared = parse(yaml, Path::new("f.yml")).unwrap();
        assert_eq!(d.flags[0].fallthrough, vexil_flags::Serve::Variation(0));
        let e = parse::<Declared>("flags: [\n", Path::new("f.yaml"))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("f.yaml:2:"), "{e}");
    }

    #[test]
    fn parse_errors_name_line_column_and_field() {
        let yaml = "flags:\n  - key: a\n    kind: boolean\n    bogus: 1\n";
        let e = parse::<Declared>(yaml, Path::new("f.yaml"))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("f.yaml:2:5:"), "{e}");
        assert!(e.contains("bogus"), "{e}");
        let json = "{\"flags\": [{\"key\": \"a\", \"kind\": 7}]}";
        let e = parse::<Declared>(json, Path::new("f.json"))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("f.json:1:"), "{e}");
        assert!(e.contains("flags[0].kind"), "{e}");
    }
}
