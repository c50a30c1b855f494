//! A node started without `--admin-token` generates the first admin token,
//! writes it to `<data-dir>/admin-token` (mode 0600) and prints it once; a
//! restart keeps that token and that file and creates no second one.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::wait_until;
use reqwest::blocking::Client;
use serde_json::Value;

/// The line `server::create_admin_token` prints when it made the token:
/// the file's path, never the token.
const PRINTED: &str = "Vexil generated the first admin token and saved it in ";

/// One `vexil serve` process; killed on drop.
struct Proc {
    child: Child,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts a single node on `data`, its stdout going to `stdout`.
fn serve(data: &Path, api: &str, stdout: &Path) -> Proc {
    let out = std::fs::File::create(stdout).unwrap();
    let err = std::fs::File::create(stdout.with_extension("err")).unwrap();
    let child = Command::new(common::bin())
        .args(["serve", "--id", "1", "--data-dir"])
        .arg(data)
        .args(["--listen", api, "--peer-listen"])
        .arg(format!("127.0.0.1:{}", free_port()))
        .args(["--heartbeat-ms", "50"])
        .args(["--election-timeout-min-ms", "150"])
        .args(["--election-timeout-max-ms", "300"])
        .env_remove("VEXIL_ADMIN_TOKEN")
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .unwrap();
    Proc { child }
}

fn me(http: &Client, api: &str, token: &str) -> u16 {
    http.get(format!("http://{api}/v1/me"))
        .bearer_auth(token)
        .send()
        .map(|r| r.status().as_u16())
        .unwrap_or(0)
}

/// Waits until the token in `file` exists and authenticates as admin.
fn wait_for_token(http: &Client, api: &str, file: &Path) -> String {
    let mut token = String::new();
    wait_until(Duration::from_secs(30), || {
        token = std::fs::read_to_string(file)
            .unwrap_or_default()
            .trim()
            .to_owned();
        !token.is_empty() && me(http, api, &token) == 200
    });
    token
}

fn printed_tokens(stdout: &Path) -> Vec<String> {
    std::fs::read_to_string(stdout)
        .unwrap()
        .lines()
        .filter_map(|l| l.strip_prefix(PRINTED).map(str::to_owned))
        .collect()
}

fn get(http: &Client, api: &str, path: &str, token: &str) -> Value {
    let r = http
        .get(format!("http://{api}{path}"))
        .bearer_auth(token)
        .send()
        .unwrap();
    assert_eq!(r.status(), 200, "GET {path}");
    r.json().unwrap()
}

#[test]
fn t23_generated_admin_token_is_written_once_and_survives_restart() {
    let dir = tempfile::tempdir().unwrap();
    let data: PathBuf = dir.path().join("data");
    let file = data.join("admin-token");
    let api = format!("127.0.0.1:{}", free_port());
    let http = Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();

    let first_out = dir.path().join("first.out");
    let node = serve(&data, &api, &first_out);
    let token = wait_for_token(&http, &api, &file);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "admin-token mode is {mode:o}");
    }
    let me_body = get(&http, &api, "/v1/me", &token);
    assert_eq!(me_body["role"], "admin", "{me_body}");
    assert!(token.starts_with("vxl_admin_"), "{token}");
    assert_eq!(me(&http, &api, "vxl_admin_not-the-token"), 401);
    assert_eq!(
        printed_tokens(&first_out),
        vec![file.display().to_string()],
        "the file's path is printed once"
    );
    let out = std::fs::read_to_string(&first_out).unwrap()
        + &std::fs::read_to_string(first_out.with_extension("err")).unwrap();
    assert!(!out.contains(&token), "the token itself is never printed");
    drop(node);

    let second_out = dir.path().join("second.out");
    let _node = serve(&data, &api, &second_out);
    assert_eq!(
        wait_for_token(&http, &api, &file),
        token,
        "the file is kept"
    );
    // A committed write proves this node leads again, so a bootstrap that
    // wrongly thought the cluster had no token has had its chance to run.
    let flag = common::bool_flag("after-restart");
    let r = http
        .post(format!("http://{api}/v1/flags"))
        .bearer_auth(&token)
        .json(&flag)
        .send()
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(
        std::fs::read_to_string(&file).unwrap().trim(),
        token,
        "the file still holds the first token"
    );
    let tokens = get(&http, &api, "/v1/tokens", &token);
    let names: Vec<&str> = tokens["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["admin"], "{tokens}");
    let audit = get(&http, &api, "/v1/audit?action=token.create", &token);
    assert_eq!(audit["entries"].as_array().unwrap().len(), 1, "{audit}");
    assert!(
        printed_tokens(&second_out).is_empty(),
        "a restart creates no new token"
    );
}
