//! Every script builds through the one dev build, `build_dev_bins` in
//! scripts/lib.sh (`cargo build --workspace --bins --tests`). A narrower
//! dev selection (`cargo build -p …`) resolves a host dependency of
//! RocksDB's build script with other features and compiles RocksDB's C++
//! again, ~15 minutes on two cores. Release builds (the benchmarks') are a
//! separate profile and allowed.

use std::path::{Path, PathBuf};

fn scripts(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            scripts(&path, out);
        } else if path.extension().is_some_and(|e| e == "sh") {
            out.push(path);
        }
    }
}

#[test]
fn t66_scripts_build_through_build_dev_bins() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts");
    let mut files = Vec::new();
    scripts(&root, &mut files);
    assert!(files.len() > 3, "no scripts found in {}", root.display());
    let mut bad = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        for (n, line) in lines.iter().enumerate() {
            let code = line.split('#').next().unwrap_or_default();
            if !code.contains("cargo build") {
                continue;
            }
            // A command continued with `\` reads as one.
            let mut command = code.to_owned();
            let mut i = n;
            while command.trim_end().ends_with('\\') && i + 1 < lines.len() {
                i += 1;
                command.push_str(lines[i]);
            }
            let shared = command.contains("--workspace --bins --tests");
            if !shared && !command.contains("--release") {
                bad.push(format!("{}:{}: {}", file.display(), n + 1, line.trim()));
            }
        }
    }
    assert!(
        bad.is_empty(),
        "dev builds other than build_dev_bins (scripts/lib.sh):\n{}",
        bad.join("\n")
    );
}
