//! `vexil apply`: declarative, idempotent, ordered by dependencies, with
//! `--dry-run`, `--prune`, errors at their file position, and `vexil
//! export` as its input format.

mod common;
mod ops;

use common::inproc::{ADMIN, Node};
use ops::Run;
use serde_json::Value;

async fn cli(url: &str, args: &[&str]) -> Run {
    let url = url.to_owned();
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        ops::vexil(&url, ADMIN, &args)
    })
    .await
    .unwrap()
}

/// `child` (listed first) needs `parent` and the segment `beta`.
const FILE: &str = "\
segments:
  - key: beta
    included: [u1, u2]
flags:
  - key: child
    kind: boolean
    variations: [{value: true}, {value: false}]
    off_variation: 1
    fallthrough: {variation: 1}
    enabled: true
    prerequisites: [{flag: parent, variation: 0}]
    rules:
      - id: r1
        clauses: [{attribute: key, operator: segment_match, values: [beta]}]
        serve: {variation: 0}
  - key: parent
    kind: boolean
    variations: [{value: true}, {value: false}]
    off_variation: 1
    fallthrough: {variation: 0}
    enabled: true
";

async fn audit_count(node: &Node) -> usize {
    let v: Value = node
        .get("/v1/audit?limit=1000", ADMIN)
        .await
        .json()
        .await
        .unwrap();
    v["entries"].as_array().unwrap().len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t61_apply_is_idempotent_ordered_and_prunes() {
    let node = Node::start().await;
    let url = node.url.as_str();
    let dir = tempfile::tempdir().unwrap();
    let file = ops::write(dir.path(), "flags.yaml", FILE);
    cli(url, &["flags", "create", "stray"]).await.expect(0);

    let r = cli(url, &["apply", "-f", &file, "--dry-run"])
        .await
        .expect(0);
    assert_eq!(
        r.stdout.lines().take(3).collect::<Vec<_>>(),
        ["+ segment beta", "+ flag parent", "+ flag child"],
        "segments, then prerequisites first: {}",
        r.stdout
    );
    let before = audit_count(&node).await;
    let r = cli(url, &["apply", "-f", &file]).await.expect(0);
    assert!(
        r.stdout
            .contains("applied: 3 to create, 0 to update, 0 to delete"),
        "{}",
        r.stdout
    );
    assert_eq!(audit_count(&node).await, before + 3);

    // A second apply changes nothing (server-owned fields and the default
    // salt do not count).
    let r = cli(url, &["apply", "-f", &file]).await.expect(0);
    assert_eq!(r.stdout.trim(), "no changes");
    assert_eq!(audit_count(&node).await, before + 3);

    // An edit shows as a field diff, and --dry-run changes nothing.
    let edited = ops::write(
        dir.path(),
        "edited.yaml",
        &FILE.replace("included: [u1, u2]", "included: [u1]"),
    );
    let r = cli(url, &["apply", "-f", &edited, "--dry-run"])
        .await
        .expect(0);
    assert!(r.stdout.contains("~ segment beta"), "{}", r.stdout);
    assert!(
        r.stdout.contains("included: [\"u1\",\"u2\"] -> [\"u1\"]"),
        "{}",
        r.stdout
    );
    let r = cli(
        url,
        &["--output", "json", "apply", "-f", &edited, "--dry-run"],
    )
    .await
    .expect(0);
    assert_eq!(r.json()["changes"][0]["action"], "update");
    assert_eq!(audit_count(&node).await, before + 3);

    // --prune deletes what the file omits: dependents first.
    let only_parent = ops::write(
        dir.path(),
        "parent.yaml",
        &FILE[FILE.find("  - key: parent").unwrap()..]
            .replace("  - key: parent", "flags:\n  - key: parent"),
    );
    let r = cli(url, &["apply", "-f", &only_parent, "--prune", "--dry-run"])
        .await
        .expect(0);
    let mut lines: Vec<&str> = r.stdout.lines().filter(|l| l.starts_with('-')).collect();
    assert_eq!(
        lines.pop(),
        Some("- segment beta"),
        "segments go last: {}",
        r.stdout
    );
    lines.sort_unstable();
    assert_eq!(lines, ["- flag child", "- flag stray"], "{}", r.stdout);
    cli(url, &["apply", "-f", &only_parent, "--prune"])
        .await
        .expect(0);
    let r = cli(url, &["--output", "json", "flags", "list"])
        .await
        .expect(0);
    let flags = r.json();
    let keys: Vec<&str> = flags
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["parent"]);

    // Back to the full file, then export and apply the export: no changes.
    cli(url, &["apply", "-f", &file]).await.expect(0);
    let r = cli(url, &["export"]).await.expect(0);
    let exported = ops::write(dir.path(), "state.json", &r.stdout);
    assert_eq!(r.json()["flags"].as_array().unwrap().len(), 2);
    assert!(r.json()["flags"][0].get("version").is_none());
    let r = cli(url, &["apply", "-f", &exported, "--prune"])
        .await
        .expect(0);
    assert_eq!(r.stdout.trim(), "no changes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t62_apply_reports_the_first_error_with_its_position() {
    let node = Node::start().await;
    let url = node.url.as_str();
    let dir = tempfile::tempdir().unwrap();

    // A value the model rejects: the line of the flag's key.
    let bad = ops::write(
        dir.path(),
        "bad.yaml",
        &FILE.replace(
            "prerequisites: [{flag: parent, variation: 0}]",
            "prerequisites: [{flag: missing, variation: 0}]",
        ),
    );
    let r = cli(url, &["apply", "-f", &bad]).await.expect(2);
    assert!(
        r.stderr
            .contains("bad.yaml:5:5: flag \"child\": prerequisites[0].flag"),
        "{}",
        r.stderr
    );
    assert_eq!(
        audit_count(&node).await,
        2,
        "nothing was written (only project default and the admin token)"
    );

    // A YAML syntax error and a wrong type.
    let r = cli(
        url,
        &[
            "apply",
            "-f",
            &ops::write(dir.path(), "syntax.yaml", "flags: [\n  - key: x\n"),
        ],
    )
    .await
    .expect(2);
    assert!(r.stderr.contains("syntax.yaml:"), "{}", r.stderr);
    let wrong = ops::write(
        dir.path(),
        "wrong.yaml",
        &FILE.replace(
            "    enabled: true\n    prerequisites",
            "    enabled: maybe\n    prerequisites",
        ),
    );
    let r = cli(url, &["apply", "-f", &wrong]).await.expect(2);
    assert!(
        r.stderr.contains("wrong.yaml:5:5: flags[0].enabled"),
        "{}",
        r.stderr
    );

    // JSON errors carry the parser's own line and column.
    let json =
        "{\n  \"flags\": [\n    {\"key\": \"a\", \"kind\": \"boolean\", \"bogus\": 1}\n  ]\n}\n";
    let r = cli(
        url,
        &["apply", "-f", &ops::write(dir.path(), "bad.json", json)],
    )
    .await
    .expect(2);
    assert!(r.stderr.contains("bad.json:3:"), "{}", r.stderr);
    assert!(r.stderr.contains("flags[0].bogus"), "{}", r.stderr);

    // A key declared twice is reported where it repeats.
    let twice = format!(
        "{FILE}  - key: parent\n    kind: boolean\n    variations: [{{value: true}}]\n    off_variation: 0\n    fallthrough: {{variation: 0}}\n"
    );
    let r = cli(
        url,
        &["apply", "-f", &ops::write(dir.path(), "twice.yaml", &twice)],
    )
    .await
    .expect(2);
    assert!(
        r.stderr
            .contains("twice.yaml:22:5: flag \"parent\": is declared twice"),
        "{}",
        r.stderr
    );

    // A write the server refuses names the item too (and keeps its code).
    let file = ops::write(dir.path(), "flags.yaml", FILE);
    let viewer = node.token("reader", "viewer").await;
    let u = url.to_owned();
    let r = tokio::task::spawn_blocking(move || ops::vexil(&u, &viewer, &["apply", "-f", &file]))
        .await
        .unwrap()
        .expect(5);
    assert!(
        r.stderr.contains("flags.yaml:2:5: segment \"beta\": "),
        "{}",
        r.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t63_connection_settings_come_from_a_config_file() {
    let node = Node::start().await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = ops::write(
        dir.path(),
        "cli.toml",
        &format!(
            "url = \"{}\"\ntoken = \"{ADMIN}\"\noutput = \"json\"\n",
            node.url
        ),
    );
    let r = tokio::task::spawn_blocking(move || {
        ops::vexil_env(&["flags", "list"], &[("VEXIL_CLI_CONFIG", &cfg)])
    })
    .await
    .unwrap()
    .expect(0);
    assert_eq!(r.json(), serde_json::json!([]));
    let bad = ops::write(
        dir.path(),
        "bad.toml",
        "url = \"http://x\"\ncolour = \"red\"\n",
    );
    let r = tokio::task::spawn_blocking(move || {
        ops::vexil_env(&["flags", "list"], &[("VEXIL_CLI_CONFIG", &bad)])
    })
    .await
    .unwrap()
    .expect(2);
    assert!(r.stderr.contains("colour"), "{}", r.stderr);
}

async fn config(node: &Node, env: &str, key: &str) -> Value {
    node.get(
        &format!("/v1/projects/web/environments/{env}/flags/{key}"),
        ADMIN,
    )
    .await
    .json()
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t64_apply_and_export_target_one_environment() {
    let node = Node::start().await;
    let url = node.url.as_str();
    let r = node
        .post("/v1/projects", &serde_json::json!({"key": "web"}))
        .await;
    assert_eq!(r.status(), 201);
    let dir = tempfile::tempdir().unwrap();
    let file = ops::write(dir.path(), "flags.yaml", FILE);
    let staging = ["--project", "web", "--env", "staging"];
    fn with<'a>(scope: &[&'a str], args: &[&'a str]) -> Vec<&'a str> {
        scope.iter().chain(args).copied().collect()
    }

    // Made in staging: each flag is in every environment, but configured
    // (on, its rules and prerequisite) in staging only; the segment is
    // staging's.
    let r = cli(url, &with(&staging, &["apply", "-f", &file]))
        .await
        .expect(0);
    assert!(r.stdout.contains("applied: 3 to create"), "{}", r.stdout);
    let child = config(&node, "staging", "child").await;
    assert_eq!(child["enabled"], true, "{child}");
    assert_eq!(child["rules"][0]["id"], "r1", "{child}");
    let prod = config(&node, "production", "child").await;
    assert_eq!(prod["enabled"], false, "{prod}");
    assert_eq!(prod["rules"], serde_json::json!([]), "{prod}");
    let segs: Value = node
        .get("/v1/projects/web/environments/production/segments", ADMIN)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(segs["segments"], serde_json::json!([]));
    let r = cli(url, &with(&staging, &["apply", "-f", &file]))
        .await
        .expect(0);
    assert_eq!(r.stdout.trim(), "no changes");

    // A definition field changes every environment, and the plan says so;
    // the configuration stays each environment's.
    let renamed = ops::write(
        dir.path(),
        "renamed.yaml",
        &FILE.replace(
            "  - key: parent\n",
            "  - key: parent\n    name: Parent flag\n",
        ),
    );
    let r = cli(
        url,
        &with(&staging, &["apply", "-f", &renamed, "--dry-run"]),
    )
    .await
    .expect(0);
    assert!(
        r.stdout
            .contains("name: \"\" -> \"Parent flag\"  (every environment)"),
        "{}",
        r.stdout
    );
    cli(url, &with(&staging, &["apply", "-f", &renamed]))
        .await
        .expect(0);
    for (env, enabled) in [("staging", true), ("production", false)] {
        let f = config(&node, env, "parent").await;
        assert_eq!(f["name"], "Parent flag", "{env}: {f}");
        assert_eq!(f["enabled"], enabled, "{env}: {f}");
    }

    // A kept flag must still hold: pruning the segment `child` uses is
    // refused before anything is written.
    let only_parent = ops::write(
        dir.path(),
        "parent.yaml",
        &FILE[FILE.find("  - key: parent").unwrap()..]
            .replace("  - key: parent", "flags:\n  - key: parent"),
    );
    let r = cli(
        url,
        &with(&staging, &["apply", "-f", &only_parent, "--prune"]),
    )
    .await
    .expect(2);
    assert!(
        r.stderr.contains("flag \"child\", which the file omits"),
        "{}",
        r.stderr
    );
    let segs: Value = node
        .get("/v1/projects/web/environments/staging/segments", ADMIN)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(segs["segments"][0]["key"], "beta", "nothing pruned: {segs}");

    // --prune deletes the environment's segments the file omits, but keeps
    // a flag (deleting it would delete it everywhere) and says so.
    node.post(
        "/v1/projects/web/environments/staging/segments",
        &serde_json::json!({"key": "stray"}),
    )
    .await;
    let extra = serde_json::json!({"key": "extra", "kind": "boolean",
        "variations": [{"value": true}, {"value": false}], "off_variation": 1,
        "fallthrough": {"variation": 0}});
    assert_eq!(
        node.post("/v1/projects/web/flags", &extra).await.status(),
        201
    );
    let r = cli(url, &with(&staging, &["apply", "-f", &renamed, "--prune"]))
        .await
        .expect(0);
    assert!(r.stdout.contains("deleted segment stray"), "{}", r.stdout);
    assert!(!r.stdout.contains("flag extra"), "{}", r.stdout);
    assert!(r.stderr.contains("kept flag \"extra\""), "{}", r.stderr);
    assert_eq!(config(&node, "staging", "extra").await["key"], "extra");

    // An export of staging applied to production makes production alike.
    let r = cli(url, &with(&staging, &["export"])).await.expect(0);
    let exported = ops::write(dir.path(), "staging.json", &r.stdout);
    assert_eq!(r.json()["segments"][0]["key"], "beta", "{}", r.stdout);
    let production = ["--project", "web", "--env", "production"];
    cli(url, &with(&production, &["apply", "-f", &exported]))
        .await
        .expect(0);
    let prod = config(&node, "production", "child").await;
    assert_eq!(prod["enabled"], true, "{prod}");
    assert_eq!(prod["rules"][0]["id"], "r1", "{prod}");
    let again = cli(url, &with(&production, &["export"])).await.expect(0);
    assert_eq!(again.json(), r.json());

    // A token scoped to staging alone may change staging's configurations
    // and segments, but not what every environment shares: an apply that
    // would is refused before its first write, not with a 403 midway.
    let r = node
        .post(
            "/v1/tokens",
            &serde_json::json!({"name": "stg-editor", "role": "editor",
                "scope": [{"project": "web", "environments": ["staging"]}]}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let secret = r.json::<Value>().await.unwrap()["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    let as_staging_editor = |args: Vec<String>| {
        let (url, secret) = (url.to_owned(), secret.clone());
        tokio::task::spawn_blocking(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            ops::vexil(&url, &secret, &args)
        })
    };
    // A new segment (planned first) and a renamed flag: nothing is written.
    let both = ops::write(
        dir.path(),
        "both.yaml",
        &FILE
            .replace("segments:\n", "segments:\n  - key: gamma\n")
            .replace("  - key: parent\n", "  - key: parent\n    name: Renamed\n"),
    );
    let args = |file: &str| -> Vec<String> {
        with(&staging, &["apply", "-f", file])
            .into_iter()
            .map(String::from)
            .collect()
    };
    let r = as_staging_editor(args(&both)).await.unwrap();
    assert_ne!(r.code, 0, "{}", r.stdout);
    assert!(
        r.stderr.contains("project web (all its environments)")
            && r.stderr.contains("nothing was written"),
        "{}",
        r.stderr
    );
    let segs: Value = node
        .get("/v1/projects/web/environments/staging/segments", ADMIN)
        .await
        .json()
        .await
        .unwrap();
    assert!(
        !segs.to_string().contains("gamma"),
        "nothing written: {segs}"
    );
    // Only staging's own records: the same token applies it.
    let own = ops::write(
        dir.path(),
        "own.yaml",
        &FILE
            .replace("segments:\n", "segments:\n  - key: gamma\n")
            .replace(
                "  - key: parent\n",
                "  - key: parent\n    name: Parent flag\n",
            ),
    );
    let r = as_staging_editor(args(&own)).await.unwrap();
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("created segment gamma"), "{}", r.stdout);
}
