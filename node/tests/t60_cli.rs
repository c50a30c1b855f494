//! The client commands against an in-process node: what they print and the
//! exit code that says what happened (0 ok, 2 usage/invalid, 3 not found,
//! 4 conflict, 5 unauthorized, 6 unavailable).

mod common;
mod ops;

use common::inproc::{ADMIN, Node};
use ops::Run;

/// Runs the CLI off the async threads.
async fn cli(url: &str, token: &str, args: &[&str]) -> Run {
    let (url, token) = (url.to_owned(), token.to_owned());
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        ops::vexil(&url, &token, &args)
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t60_exit_codes_say_what_happened() {
    let node = Node::start().await;
    let url = node.url.as_str();
    cli(url, ADMIN, &["flags", "create", "checkout"])
        .await
        .expect(0);
    // Usage: a bad subcommand, and a request the server refuses as invalid.
    cli(url, ADMIN, &["flags", "explode"]).await.expect(2);
    let dir = tempfile::tempdir().unwrap();
    let bad = ops::write(
        dir.path(),
        "bad.json",
        r#"{"key": "x", "kind": "boolean", "variations": [], "off_variation": 0, "fallthrough": {"variation": 0}}"#,
    );
    let r = cli(url, ADMIN, &["flags", "create", "-f", &bad])
        .await
        .expect(2);
    assert!(r.stderr.contains("validation_failed"), "{}", r.stderr);
    // Not found, conflict.
    cli(url, ADMIN, &["flags", "get", "nope"]).await.expect(3);
    cli(url, ADMIN, &["flags", "on", "nope"]).await.expect(3);
    let r = cli(url, ADMIN, &["flags", "create", "checkout"])
        .await
        .expect(4);
    assert!(r.stderr.contains("already_exists"), "{}", r.stderr);
    // Unauthorized: an unknown token, and a role too low.
    cli(url, "not-a-token", &["flags", "list"]).await.expect(5);
    let viewer = node.token("reader", "viewer").await;
    cli(url, &viewer, &["flags", "list"]).await.expect(0);
    cli(url, &viewer, &["flags", "off", "checkout"])
        .await
        .expect(5);
    // Unavailable: nobody listens there.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    cli(
        &format!("http://127.0.0.1:{port}"),
        ADMIN,
        &["flags", "list"],
    )
    .await
    .expect(6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t61_flags_segments_tokens_audit_cluster_and_eval() {
    let node = Node::start().await;
    let url = node.url.as_str();
    let dir = tempfile::tempdir().unwrap();
    let seg = ops::write(dir.path(), "beta.yaml", "key: beta\nincluded: [u1]\n");
    cli(url, ADMIN, &["segments", "create", "-f", &seg])
        .await
        .expect(0);
    let flag = ops::write(
        dir.path(),
        "checkout.yaml",
        "key: checkout\nkind: boolean\nvariations: [{value: true}, {value: false}]\noff_variation: 1\nfallthrough: {variation: 1}\nenabled: true\nrules:\n  - id: beta-users\n    clauses: [{attribute: key, operator: segment_match, values: [beta]}]\n    serve: {variation: 0}\n",
    );
    cli(url, ADMIN, &["flags", "create", "-f", &flag])
        .await
        .expect(0);

    let r = cli(url, ADMIN, &["eval", "checkout", "--context", "key=u1"])
        .await
        .expect(0);
    assert_eq!(r.stdout.trim(), "true\tRULE_MATCH (rule beta-users)");
    let r = cli(
        url,
        ADMIN,
        &[
            "--output", "json", "eval", "checkout", "-c", "key=u2", "-c", "plan=pro",
        ],
    )
    .await
    .expect(0);
    assert_eq!(r.json()["reason"]["kind"], "FALLTHROUGH");
    assert_eq!(r.json()["value"], false);

    cli(url, ADMIN, &["flags", "off", "checkout"])
        .await
        .expect(0);
    let r = cli(url, ADMIN, &["--output", "json", "flags", "list"])
        .await
        .expect(0);
    assert_eq!(r.json()[0]["enabled"], false);
    let r = cli(url, ADMIN, &["flags", "history", "checkout"])
        .await
        .expect(0);
    assert!(r.stdout.starts_with("VERSION"), "{}", r.stdout);
    assert!(r.stdout.contains("flag.toggle"), "{}", r.stdout);
    cli(
        url,
        ADMIN,
        &["flags", "rollback", "checkout", "--version", "1"],
    )
    .await
    .expect(0);
    let r = cli(
        url,
        ADMIN,
        &["--output", "json", "flags", "get", "checkout"],
    )
    .await
    .expect(0);
    assert_eq!(
        (r.json()["enabled"].clone(), r.json()["version"].clone()),
        (true.into(), 3.into())
    );
    let edited = ops::write(
        dir.path(),
        "edited.json",
        &r.json()
            .to_string()
            .replace("\"name\":\"\"", "\"name\":\"Checkout\""),
    );
    cli(url, ADMIN, &["flags", "update", "-f", &edited])
        .await
        .expect(0);
    // The file still says version 3: the flag moved on, so this conflicts.
    cli(url, ADMIN, &["flags", "update", "-f", &edited])
        .await
        .expect(4);
    // A segment in use cannot be deleted.
    cli(url, ADMIN, &["segments", "delete", "beta"])
        .await
        .expect(4);
    let r = cli(url, ADMIN, &["segments", "list"]).await.expect(0);
    assert!(r.stdout.contains("[\"checkout\"]"), "{}", r.stdout);
    cli(url, ADMIN, &["flags", "delete", "checkout"])
        .await
        .expect(0);
    cli(url, ADMIN, &["segments", "delete", "beta"])
        .await
        .expect(0);
    cli(url, ADMIN, &["segments", "history", "beta"])
        .await
        .expect(0);

    let r = cli(
        url,
        ADMIN,
        &[
            "--output", "json", "tokens", "create", "ci", "--role", "editor",
        ],
    )
    .await
    .expect(0);
    let secret = r.json()["secret"].as_str().unwrap().to_owned();
    cli(url, &secret, &["flags", "create", "from-ci"])
        .await
        .expect(0);
    let r = cli(url, ADMIN, &["tokens", "list"]).await.expect(0);
    assert!(
        r.stdout.contains("ci") && r.stdout.contains("editor"),
        "{}",
        r.stdout
    );
    cli(url, ADMIN, &["tokens", "revoke", "ci"]).await.expect(0);
    cli(url, &secret, &["flags", "list"]).await.expect(5);

    let r = cli(
        url,
        ADMIN,
        &["--output", "json", "audit", "list", "--actor", "ci"],
    )
    .await
    .expect(0);
    assert_eq!(r.json()[0]["action"], "flag.create");
    let r = cli(
        url,
        ADMIN,
        &["audit", "list", "--flag", "checkout", "--limit", "2"],
    )
    .await
    .expect(0);
    assert_eq!(r.stdout.lines().count(), 3, "{}", r.stdout);

    let r = cli(url, ADMIN, &["cluster", "status"]).await.expect(0);
    assert!(r.stdout.contains("leader 1"), "{}", r.stdout);
    cli(url, ADMIN, &["cluster", "remove", "9"]).await.expect(3);
    let r = cli(url, ADMIN, &["cluster", "transfer-leader", "--to", "1"])
        .await
        .expect(0);
    assert_eq!(r.stdout.trim(), "node 1 leads");
    // One node: nobody else can take over.
    cli(url, ADMIN, &["cluster", "transfer-leader"])
        .await
        .expect(4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t60_projects_and_envs_commands() {
    let node = Node::start().await;
    let url = node.url.as_str();
    let r = cli(url, ADMIN, &["projects", "list"]).await.expect(0);
    assert!(
        r.stdout.contains("development,staging,production"),
        "{}",
        r.stdout
    );
    cli(url, ADMIN, &["projects", "create", "web", "--name", "Web"])
        .await
        .expect(0);
    cli(url, ADMIN, &["projects", "create", "web"])
        .await
        .expect(4);
    cli(url, ADMIN, &["projects", "create", "bad key"])
        .await
        .expect(2);
    let r = cli(
        url,
        ADMIN,
        &["projects", "update", "web", "--description", "the shop"],
    )
    .await
    .expect(0);
    assert!(
        r.stdout.contains("updated project web to version 2"),
        "{}",
        r.stdout
    );
    let r = cli(
        url,
        ADMIN,
        &[
            "envs",
            "create",
            "qa",
            "--project",
            "web",
            "--color",
            "#00ff00",
            "--order",
            "-1",
        ],
    )
    .await
    .expect(0);
    assert!(
        r.stdout.contains("created environment web/qa"),
        "{}",
        r.stdout
    );
    let r = cli(
        url,
        ADMIN,
        &["--output", "json", "envs", "list", "--project", "web"],
    )
    .await
    .expect(0);
    let envs: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let keys: Vec<&str> = envs
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["qa", "development", "staging", "production"]);
    cli(
        url,
        ADMIN,
        &[
            "envs",
            "update",
            "qa",
            "--project",
            "web",
            "--color",
            "blue",
        ],
    )
    .await
    .expect(2);
    cli(
        url,
        ADMIN,
        &[
            "envs",
            "update",
            "qa",
            "--project",
            "web",
            "--production",
            "true",
        ],
    )
    .await
    .expect(0);
    cli(url, ADMIN, &["envs", "delete", "qa", "--project", "web"])
        .await
        .expect(0);
    cli(url, ADMIN, &["envs", "get", "qa", "--project", "web"])
        .await
        .expect(3);
    cli(
        url,
        ADMIN,
        &[
            "envs",
            "rollback",
            "qa",
            "--project",
            "web",
            "--version",
            "2",
        ],
    )
    .await
    .expect(0);
    let r = cli(url, ADMIN, &["envs", "history", "qa", "--project", "web"])
        .await
        .expect(0);
    assert!(r.stdout.contains("environment.restore"), "{}", r.stdout);
    // A new environment as a copy of another; a source that is not there
    // is a usage error naming the option's field.
    let r = cli(
        url,
        ADMIN,
        &[
            "envs",
            "create",
            "qa2",
            "--project",
            "web",
            "--copy-from",
            "qa",
        ],
    )
    .await
    .expect(0);
    assert!(
        r.stdout
            .contains("created environment web/qa2 as a copy of qa"),
        "{}",
        r.stdout
    );
    let r = cli(
        url,
        ADMIN,
        &[
            "envs",
            "create",
            "qa3",
            "--project",
            "web",
            "--copy-from",
            "gone",
        ],
    )
    .await
    .expect(2);
    assert!(r.stderr.contains("copy_from"), "{}", r.stderr);
    // A project holding a flag goes only with --confirm.
    cli(url, ADMIN, &["projects", "create", "gone"])
        .await
        .expect(0);
    cli(
        url,
        ADMIN,
        &[
            "--project",
            "gone",
            "--env",
            "staging",
            "flags",
            "create",
            "f",
        ],
    )
    .await
    .expect(0);
    let r = cli(url, ADMIN, &["projects", "delete", "gone"])
        .await
        .expect(4);
    assert!(r.stderr.contains("?confirm=true"), "{}", r.stderr);
    let r = cli(url, ADMIN, &["projects", "delete", "gone", "--confirm"])
        .await
        .expect(0);
    assert!(
        r.stdout
            .contains("deleted project gone with everything it held"),
        "{}",
        r.stdout
    );
    cli(url, ADMIN, &["projects", "get", "gone"])
        .await
        .expect(3);
    // The default project holds the unscoped routes: refused, exit 4.
    let r = cli(url, ADMIN, &["projects", "delete", "default"])
        .await
        .expect(4);
    assert!(r.stderr.contains("in_use"), "{}", r.stderr);
    let editor = node.token("ed", "editor").await;
    cli(url, &editor, &["projects", "create", "api"])
        .await
        .expect(5);
    cli(url, &editor, &["envs", "list"]).await.expect(0);

    // Compare, and a confirmed delete of an environment that holds a flag.
    let r = node
        .post("/v1/projects/web/flags", &common::bool_flag("cmp"))
        .await;
    assert_eq!(r.status(), 201);
    let r = node
        .send(
            reqwest::Method::POST,
            "/v1/projects/web/environments/staging/flags/cmp/toggle",
            Some(ADMIN),
            Some(&serde_json::json!({"enabled": false})),
        )
        .await;
    assert_eq!(r.status(), 200);
    let r = cli(
        url,
        ADMIN,
        &[
            "envs",
            "compare",
            "staging",
            "production",
            "--project",
            "web",
        ],
    )
    .await
    .expect(0);
    assert!(
        r.stdout.contains("cmp") && r.stdout.contains("changed") && r.stdout.contains("enabled"),
        "{}",
        r.stdout
    );
    // Promotion: a dry run, the promotion, its rollback.
    let promote = [
        "promote",
        "--from",
        "production",
        "--to",
        "staging",
        "--project",
        "web",
    ];
    let r = cli(
        url,
        ADMIN,
        &[&promote[..], &["--flag", "cmp", "--dry-run"]].concat(),
    )
    .await
    .expect(0);
    assert!(r.stdout.contains("enabled: false -> true"), "{}", r.stdout);
    cli(url, ADMIN, &promote).await.expect(2);
    let r = cli(url, ADMIN, &[&promote[..], &["--all"]].concat())
        .await
        .expect(0);
    assert!(r.stdout.contains("promoted 1 flags"), "{}", r.stdout);
    let id = r
        .stdout
        .split("promotions rollback ")
        .nth(1)
        .and_then(|s| s.split('`').next())
        .expect("the promotion's id")
        .to_owned();
    let r = cli(url, ADMIN, &["promotions", "list", "--project", "web"])
        .await
        .expect(0);
    assert!(r.stdout.contains("production -> staging"), "{}", r.stdout);
    let rollback = ["promotions", "rollback", &id, "--project", "web"];
    let r = cli(url, ADMIN, &rollback).await.expect(0);
    assert!(r.stdout.contains("rolled back promotion"), "{}", r.stdout);
    cli(url, ADMIN, &rollback).await.expect(2);
    cli(
        url,
        &editor,
        &["promotions", "get", &id, "--project", "web"],
    )
    .await
    .expect(0);
    cli(
        url,
        ADMIN,
        &["envs", "delete", "staging", "--project", "web"],
    )
    .await
    .expect(4);
    let r = cli(
        url,
        ADMIN,
        &["envs", "delete", "staging", "--project", "web", "--confirm"],
    )
    .await
    .expect(0);
    assert!(r.stdout.contains("everything it held"), "{}", r.stdout);

    // Scoped tokens: an sdk token names one environment.
    let r = cli(
        url,
        ADMIN,
        &[
            "tokens",
            "create",
            "shop",
            "--role",
            "sdk",
            "--scope",
            "web/production",
        ],
    )
    .await
    .expect(0);
    assert!(r.stdout.contains("vxl_sdk_"), "{}", r.stdout);
    cli(
        url,
        ADMIN,
        &[
            "tokens", "create", "wide", "--role", "sdk", "--scope", "web",
        ],
    )
    .await
    .expect(2);
    cli(
        url,
        ADMIN,
        &[
            "tokens", "create", "bad", "--role", "viewer", "--scope", "web/",
        ],
    )
    .await
    .expect(2);
    let r = cli(url, ADMIN, &["tokens", "list"]).await.expect(0);
    assert!(
        r.stdout.contains("web/production") && r.stdout.contains("all projects"),
        "{}",
        r.stdout
    );

    // --project/--env (and VEXIL_PROJECT/VEXIL_ENV, the config file's
    // `project`/`env`) point flags, segments and eval at one environment.
    let prod = ["--project", "web", "--env", "production"];
    let dev = ["--project", "web", "--env", "development"];
    fn with<'a>(scope: &[&'a str], rest: &[&'a str]) -> Vec<&'a str> {
        scope.iter().chain(rest).copied().collect()
    }
    cli(url, ADMIN, &with(&prod, &["flags", "off", "cmp"]))
        .await
        .expect(0);
    let r = cli(
        url,
        ADMIN,
        &with(&prod, &["--output", "json", "flags", "get", "cmp"]),
    )
    .await
    .expect(0);
    let got: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(got["enabled"], false, "{got}");
    let r = cli(
        url,
        ADMIN,
        &with(&dev, &["--output", "json", "flags", "list"]),
    )
    .await
    .expect(0);
    let list: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(list[0]["key"], "cmp", "{list}");
    assert_eq!(list[0]["enabled"], true, "development is untouched: {list}");
    let r = cli(url, ADMIN, &with(&prod, &["eval", "cmp", "-c", "key=u1"]))
        .await
        .expect(0);
    assert!(r.stdout.starts_with("false"), "{}", r.stdout);
    // The unscoped routes (default's production) do not have it.
    cli(url, ADMIN, &["flags", "get", "cmp"]).await.expect(3);
    let dir = tempfile::tempdir().unwrap();
    let seg = ops::write(
        dir.path(),
        "seg.json",
        r#"{"key": "beta", "included": ["u1"]}"#,
    );
    cli(url, ADMIN, &with(&dev, &["segments", "create", "-f", &seg]))
        .await
        .expect(0);
    let r = ops::vexil_env(
        &["--url", url, "--token", ADMIN, "segments", "list"],
        &[("VEXIL_PROJECT", "web"), ("VEXIL_ENV", "development")],
    )
    .expect(0);
    assert!(r.stdout.contains("beta"), "{}", r.stdout);
    cli(url, ADMIN, &["segments", "get", "beta"])
        .await
        .expect(3);
    cli(url, ADMIN, &["--env", "bad key", "flags", "list"])
        .await
        .expect(2);
    // A flag made from a file with one environment chosen is configured
    // there only; deleting needs --all-environments.
    let file = ops::write(
        dir.path(),
        "on.json",
        r#"{"key": "dev-only", "kind": "boolean", "variations": [{"value": true}, {"value": false}],
            "off_variation": 1, "fallthrough": {"variation": 0}, "enabled": true}"#,
    );
    cli(url, ADMIN, &with(&dev, &["flags", "create", "-f", &file]))
        .await
        .expect(0);
    let get = |scope: &[&'static str]| {
        let args = with(scope, &["--output", "json", "flags", "get", "dev-only"]);
        async move {
            let r = cli(url, ADMIN, &args).await.expect(0);
            serde_json::from_str::<serde_json::Value>(&r.stdout).unwrap()["enabled"].clone()
        }
    };
    assert_eq!(get(&dev).await, true);
    assert_eq!(get(&prod).await, false);
    cli(url, ADMIN, &with(&dev, &["flags", "delete", "dev-only"]))
        .await
        .expect(2);
    cli(
        url,
        ADMIN,
        &with(&dev, &["flags", "delete", "dev-only", "--all-environments"]),
    )
    .await
    .expect(0);
    cli(url, ADMIN, &with(&prod, &["flags", "get", "dev-only"]))
        .await
        .expect(3);
}
