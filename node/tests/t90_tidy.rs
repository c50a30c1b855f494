//! Repository hygiene that the compiler does not check.

use std::path::Path;

/// Every crate's `lib.rs` opens with a `//!` summary of what it owns.
#[test]
fn t90_every_crate_lib_has_a_summary() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
    let members: Vec<&str> = manifest
        .split("members = [")
        .nth(1)
        .unwrap()
        .split(']')
        .next()
        .unwrap()
        .split(',')
        .map(|m| m.trim().trim_matches('"'))
        .filter(|m| !m.is_empty())
        .collect();
    assert!(members.len() >= 7, "workspace members: {members:?}");
    let mut missing = Vec::new();
    for member in members {
        let lib = root.join(member).join("src/lib.rs");
        let text = std::fs::read_to_string(&lib).unwrap_or_default();
        let first = text.lines().next().unwrap_or_default();
        let doc_lines = text.lines().take_while(|l| l.starts_with("//!")).count();
        if !first.starts_with("//!") || doc_lines < 2 || text.contains("TODO summary") {
            missing.push(lib.display().to_string());
        }
    }
    assert!(
        missing.is_empty(),
        "lib.rs without a //! summary: {missing:?}"
    );
}
