//! Whether an operator can trust what the client commands say: a closed
//! pipe, a slow node, a URL that is not a Vexil node, unreadable or empty
//! files and arguments the server would silently accept each get an exit
//! code and a message that say what happened.

mod common;
mod ops;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::Stdio;
use std::sync::mpsc;

use common::inproc::{ADMIN, Node};
use ops::Run;

/// Runs the CLI against `url` off the async threads.
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

/// Runs `vexil ARGS…` with stdout a pipe nobody reads any more (as in
/// `vexil export | true`): its read end is closed before the command starts.
async fn with_closed_stdout(url: &str, args: &[&str]) -> Run {
    let mut c = ops::command();
    c.args(["--url", url, "--token", ADMIN]).args(args);
    tokio::task::spawn_blocking(move || {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let out = c
            .stdout(Stdio::from(writer))
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::new(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    })
    .await
    .unwrap()
}

/// A server on 127.0.0.1 that accepts one connection, reads the request
/// and answers `answer` (raw HTTP), or never answers (`None`) until the
/// returned sender is dropped.
fn fake_server(answer: Option<&'static str>) -> (String, mpsc::Sender<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (done, wait) = mpsc::channel::<()>();
    std::thread::spawn(move || {
        let Ok((mut stream, _)) = listener.accept() else {
            return;
        };
        let mut seen = Vec::new();
        let mut buf = [0u8; 4096];
        while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
            match stream.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => seen.extend_from_slice(&buf[..n]),
            }
        }
        if let Some(answer) = answer {
            let _ = stream.write_all(answer.as_bytes());
        }
        // Holds the connection open until the test is done.
        let _ = wait.recv();
    });
    (url, done)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t66_a_closed_stdout_ends_the_command_quietly() {
    let node = Node::start().await;
    let url = node.url.as_str();
    for key in ["a", "b", "c"] {
        cli(url, &["flags", "create", key]).await.expect(0);
    }
    for args in [
        &["export"][..],
        &["flags", "list", "--output", "json"],
        &["flags", "list"],
        &["flags", "get", "a"],
    ] {
        let r = with_closed_stdout(url, args).await;
        assert!(!r.stderr.contains("panicked"), "{args:?}: {}", r.stderr);
        assert_eq!(r.stderr, "", "{args:?}");
        assert_eq!(r.code, 141, "{args:?}: {}", r.stderr);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t66_a_timeout_says_the_change_may_still_complete() {
    let (url, done) = fake_server(None);
    let r = cli(&url, &["--timeout", "1s", "flags", "on", "checkout"])
        .await
        .expect(6);
    assert!(!r.stderr.contains("cannot reach"), "{}", r.stderr);
    assert!(r.stderr.contains("no answer"), "{}", r.stderr);
    assert!(r.stderr.contains("within 1s"), "{}", r.stderr);
    assert!(r.stderr.contains("may still complete"), "{}", r.stderr);
    assert!(r.stderr.contains("vexil audit list"), "{}", r.stderr);
    drop(done);

    // Nothing listening: that is "cannot reach", and nothing was sent.
    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let r = cli(&format!("http://127.0.0.1:{port}"), &["flags", "on", "x"])
        .await
        .expect(6);
    assert!(r.stderr.contains("cannot reach"), "{}", r.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t66_a_server_that_is_not_vexil_is_named_as_such() {
    let (url, done) = fake_server(Some(
        "HTTP/1.1 404 Not Found\r\ncontent-type: text/plain\r\ncontent-length: 9\r\nconnection: close\r\n\r\nnot found",
    ));
    let r = cli(&url, &["flags", "get", "checkout"]).await.expect(1);
    assert!(
        r.stderr.contains("does not look like a Vexil node"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("404: 404"), "{}", r.stderr);
    drop(done);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t66_a_missing_token_names_the_options_that_give_one() {
    let node = Node::start().await;
    let url = node.url.clone();
    let r =
        tokio::task::spawn_blocking(move || ops::vexil_env(&["--url", &url, "flags", "list"], &[]))
            .await
            .unwrap()
            .expect(5);
    assert!(r.stderr.contains("--token"), "{}", r.stderr);
    assert!(r.stderr.contains("VEXIL_TOKEN"), "{}", r.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t66_flags_get_prints_a_summary_as_a_table() {
    let node = Node::start().await;
    let url = node.url.as_str();
    cli(url, &["flags", "create", "checkout"]).await.expect(0);
    let r = cli(url, &["flags", "get", "checkout"]).await.expect(0);
    assert!(
        serde_json::from_str::<serde_json::Value>(&r.stdout).is_err(),
        "the table is JSON: {}",
        r.stdout
    );
    let line = |name: &str| {
        r.stdout
            .lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .map(|l| l.split_whitespace().skip(1).collect::<Vec<_>>().join(" "))
    };
    assert_eq!(line("key").as_deref(), Some("checkout"), "{}", r.stdout);
    assert_eq!(line("enabled").as_deref(), Some("false"), "{}", r.stdout);
    assert_eq!(
        line("variations").as_deref(),
        Some("0: true, 1: false"),
        "{}",
        r.stdout
    );
    let r = cli(url, &["--output", "json", "flags", "get", "checkout"])
        .await
        .expect(0);
    assert_eq!(r.json()["key"], "checkout");
}

/// These need no node: the command stops before it sends anything.
#[test]
fn t66_unreadable_and_empty_input_files_are_usage_errors() {
    let url = "http://127.0.0.1:9";
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.json");
    let missing = missing.to_str().unwrap();
    for args in [
        &["apply", "-f", missing][..],
        &["flags", "create", "-f", missing],
        &["segments", "update", "-f", missing],
    ] {
        let r = ops::vexil(url, ADMIN, args).expect(2);
        assert!(r.stderr.contains("cannot read"), "{args:?}: {}", r.stderr);
        assert!(r.stderr.contains(missing), "{args:?}: {}", r.stderr);
    }
    // A backup that is not there; its directory is not created.
    let absent = dir.path().join("absent");
    let backup = absent.join("x.backup");
    let r = ops::vexil(
        url,
        ADMIN,
        &["backup", "--verify", backup.to_str().unwrap()],
    )
    .expect(2);
    assert!(r.stderr.contains("cannot read"), "{}", r.stderr);
    assert!(!absent.exists(), "verify created {}", absent.display());
    let data = dir.path().join("data");
    let r = ops::vexil(
        url,
        ADMIN,
        &[
            "restore",
            backup.to_str().unwrap(),
            "--data-dir",
            data.to_str().unwrap(),
            "--id",
            "1",
            "--initial-cluster",
            "1=127.0.0.1:7071",
        ],
    )
    .expect(2);
    assert!(r.stderr.contains("cannot read"), "{}", r.stderr);
    assert!(!absent.exists() && !data.exists());

    // An empty apply file, and one of the wrong shape.
    let empty = ops::write(dir.path(), "empty.yaml", "\n");
    let r = ops::vexil(url, ADMIN, &["apply", "-f", &empty]).expect(2);
    assert!(r.stderr.contains("is empty"), "{}", r.stderr);
    assert!(r.stderr.contains("`flags`"), "{}", r.stderr);
    let list = ops::write(dir.path(), "list.json", "[]");
    let r = ops::vexil(url, ADMIN, &["apply", "-f", &list]).expect(2);
    assert!(!r.stderr.contains("Declared"), "{}", r.stderr);
    assert!(r.stderr.contains("`segments`"), "{}", r.stderr);
    let empty = ops::write(dir.path(), "empty.json", "");
    let r = ops::vexil(url, ADMIN, &["flags", "create", "-f", &empty]).expect(2);
    assert!(r.stderr.contains("is empty"), "{}", r.stderr);
}

#[test]
fn t66_arguments_the_server_would_take_silently_are_refused() {
    let url = "http://127.0.0.1:9";
    let r = ops::vexil(url, ADMIN, &["eval", "checkout", "--context", "=x"]).expect(2);
    assert!(r.stderr.contains("empty attribute name"), "{}", r.stderr);
    let r = ops::vexil(url, ADMIN, &["audit", "list", "--action", "flag.flip"]).expect(2);
    assert!(r.stderr.contains("flag.toggle"), "{}", r.stderr);
    assert!(r.stderr.contains("token.revoke"), "{}", r.stderr);
}

#[test]
fn t66_serve_help_lists_no_client_options() {
    let out = ops::command().args(["serve", "--help"]).output().unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    for option in ["--url", "--token", "--output", "--timeout"] {
        assert!(!help.contains(option), "serve --help lists {option}");
    }
    let r = ops::vexil_env(&["--url", "http://127.0.0.1:9", "serve"], &[]).expect(2);
    assert!(r.stderr.contains("--url"), "{}", r.stderr);
    // The client commands take them before and after their name.
    let out = ops::command()
        .args(["flags", "list", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(
        help.contains("--url") && help.contains("--timeout"),
        "{help}"
    );
}

/// A config file named by `VEXIL_CLI_CONFIG` must exist: a typo there used
/// to fall back silently to the defaults (another URL, no token).
#[test]
fn t66_a_missing_config_file_named_by_the_variable_is_refused() {
    let r = ops::vexil_env(
        &["flags", "list"],
        &[("VEXIL_CLI_CONFIG", "/nonexistent/vexil-cli.toml")],
    )
    .expect(2);
    assert!(
        r.stderr.contains("/nonexistent/vexil-cli.toml") && r.stderr.contains("does not exist"),
        "{}",
        r.stderr
    );
}
