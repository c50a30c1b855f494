//! `GET /metrics`: Prometheus text covering Raft, HTTP, SSE, evaluations
//! and refused writes, after some traffic.

mod common;

use common::inproc::{ADMIN, Node};
use serde_json::json;

/// The value of the first sample line starting with `prefix`.
fn sample(text: &str, prefix: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t63_metrics_after_traffic() {
    let node = Node::start().await;
    assert_eq!(
        node.post("/v1/flags", &common::bool_flag("checkout"))
            .await
            .status(),
        201
    );
    assert_eq!(
        node.post("/v1/flags", &common::bool_flag("checkout"))
            .await
            .status(),
        409
    );
    assert_eq!(
        node.post("/v1/flags", &json!({"key": "bad"}))
            .await
            .status(),
        400
    );
    let e = node
        .post(
            "/v1/evaluate",
            &json!({"flag": "checkout", "context": {"key": "u1"}}),
        )
        .await;
    assert_eq!(e.status(), 200);
    node.post("/v1/evaluate", &json!({"context": {"key": "u2"}}))
        .await;
    let sdk = node.token("app", "sdk").await;
    let r = node
        .send(
            reqwest::Method::POST,
            "/v1/sdk/metrics",
            Some(&sdk),
            Some(&json!({"flags": {"checkout": {"variations": {"0": 5}, "errors": 1}}})),
        )
        .await;
    assert_eq!(r.status(), 202);
    node.running.raft.trigger_snapshot().await.unwrap();
    // An SSE subscriber, held open while scraping.
    let stream = node
        .http
        .get(format!("{}/v1/stream", node.url))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);

    // No token needed.
    let r = node
        .http
        .get(format!("{}/metrics", node.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text")
    );
    let text = r.text().await.unwrap();
    let has =
        |prefix: &str| sample(&text, prefix).unwrap_or_else(|| panic!("no {prefix} in\n{text}"));
    assert_eq!(has("vexil_raft_is_leader "), 1.0);
    assert_eq!(has("vexil_raft_leader_id "), 1.0);
    assert!(has("vexil_raft_term ") >= 1.0);
    assert!(has("vexil_raft_commit_index ") >= 3.0);
    assert_eq!(
        has("vexil_raft_applied_index "),
        has("vexil_raft_commit_index ")
    );
    assert!(has("vexil_raft_snapshot_index ") >= 3.0);
    assert!(has("vexil_raft_last_log_index ") >= 3.0);
    assert!(has("vexil_raft_purged_index ") >= -1.0);
    assert!(has("vexil_raft_snapshots_built_total ") >= 1.0);
    assert_eq!(has("vexil_raft_snapshots_installed_total "), 0.0);
    assert!(has("vexil_raft_apply_duration_seconds_count ") >= 3.0);
    // Every histogram's buckets are cumulative once: non-decreasing, and
    // `+Inf` holds the count (they were once summed twice, and `+Inf` came
    // out at 17 times the count).
    for name in [
        "vexil_raft_apply_duration_seconds",
        "vexil_api_write_duration_seconds",
    ] {
        let lines: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with(&format!("{name}_bucket{{")))
            .collect();
        assert!(
            lines.last().is_some_and(|l| l.contains("le=\"+Inf\"")),
            "{name}: the last bucket is +Inf: {lines:?}"
        );
        let buckets: Vec<f64> = lines
            .iter()
            .map(|l| l.rsplit(' ').next().unwrap().parse().unwrap())
            .collect();
        assert!(buckets.len() > 2, "no buckets of {name} in\n{text}");
        assert!(
            buckets.windows(2).all(|w| w[0] <= w[1]),
            "{name}: {buckets:?}"
        );
        assert_eq!(
            buckets.last().copied(),
            Some(has(&format!("{name}_count "))),
            "{name}: {buckets:?}"
        );
    }
    assert!(has("vexil_raft_write_duration_seconds_count{outcome=\"ok\"} ") >= 2.0);
    assert!(has("vexil_api_write_duration_seconds_count ") >= 2.0);
    assert_eq!(has("vexil_sse_subscribers "), 1.0);
    assert_eq!(has("vexil_sse_dropped_slow_consumers_total "), 0.0);
    assert_eq!(
        has(
            "vexil_http_request_duration_seconds_count{method=\"POST\",route=\"/v1/flags\",status=\"201\"} "
        ),
        1.0
    );
    assert_eq!(
        has(
            "vexil_http_request_duration_seconds_count{method=\"POST\",route=\"/v1/flags\",status=\"409\"} "
        ),
        1.0
    );
    assert_eq!(
        has("vexil_writes_refused_total{cause=\"already_exists\"} "),
        1.0
    );
    assert_eq!(
        has("vexil_writes_refused_total{cause=\"bad_request\"} "),
        1.0
    );
    assert_eq!(
        has(
            "vexil_evaluations_total{flag=\"checkout\",reason=\"FALLTHROUGH\",project=\"default\",environment=\"production\"} "
        ),
        2.0
    );
    assert_eq!(
        has(
            "vexil_sdk_evaluations_total{flag=\"checkout\",result=\"0\",project=\"default\",environment=\"production\"} "
        ),
        5.0
    );
    assert_eq!(
        has(
            "vexil_sdk_evaluations_total{flag=\"checkout\",result=\"error\",project=\"default\",environment=\"production\"} "
        ),
        1.0
    );
    assert!(
        text.contains("route=\"/v1/flags/{key}\"")
            || !text.contains("route=\"/v1/flags/checkout\""),
        "raw paths never become labels"
    );
    assert!(text.trim_end().ends_with("# EOF"));
    drop(stream);
}

/// An SDK report with counts past the limit is a 400 naming the count (it
/// used to overflow a sum: a panic in debug builds, wrapped totals in
/// release), and a made-up variation index is counted nowhere, so it never
/// becomes a metrics label.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t64_sdk_reports_with_absurd_counts_are_refused() {
    let node = Node::start().await;
    assert_eq!(
        node.post("/v1/flags", &common::bool_flag("checkout"))
            .await
            .status(),
        201
    );
    let sdk = node.token("app", "sdk").await;
    let report = async |body: serde_json::Value| {
        node.send(
            reqwest::Method::POST,
            "/v1/sdk/metrics",
            Some(&sdk),
            Some(&body),
        )
        .await
    };
    // What schemathesis sent: two counts near 2^63 in one report.
    let r = report(json!({"flags": {
        "a": {"errors": 9_223_372_036_854_775_807_u64, "variations": {}},
        "b": {"errors": 9_223_372_036_854_775_808_u64, "variations": {}},
        "checkout": {"errors": 13248, "variations": {}},
    }}))
    .await;
    assert_eq!(r.status(), 400);
    let e: serde_json::Value = r.json().await.unwrap();
    assert_eq!(e["field"], "flags.a.errors", "{e}");
    let r =
        report(json!({"flags": {"checkout": {"variations": {"1": 2_000_000_000_000_u64}}}})).await;
    assert_eq!(r.status(), 400);
    let e: serde_json::Value = r.json().await.unwrap();
    assert_eq!(e["field"], "flags.checkout.variations.1", "{e}");

    // At the limit it is counted; variation 7 of a two-variation flag is not.
    let r = report(json!({"flags": {"checkout": {"variations": {
        "0": 1_000_000_000_000_u64, "7": 5
    }}}}))
    .await;
    assert_eq!(r.status(), 202);
    let a: serde_json::Value = r.json().await.unwrap();
    assert_eq!(a["accepted"]["counted"], 1_000_000_000_000_u64, "{a}");
    assert_eq!(a["accepted"]["ignored"], 5, "{a}");
    let text = node
        .http
        .get(format!("{}/metrics", node.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let sdk_lines: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("vexil_sdk_evaluations") && l.contains("checkout"))
        .collect();
    assert!(
        sdk_lines.iter().any(|l| l.contains("result=\"0\"")),
        "{sdk_lines:?}"
    );
    assert!(
        !sdk_lines.iter().any(|l| l.contains("result=\"7\"")),
        "{sdk_lines:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t65_made_up_methods_and_paths_add_no_label_values() {
    let node = Node::start().await;
    let scrape = || async {
        node.send(reqwest::Method::GET, "/metrics", None, None)
            .await
            .text()
            .await
            .unwrap()
    };
    // Without a token, on known routes and on made-up paths.
    for i in 0..50 {
        let method = reqwest::Method::from_bytes(format!("MADEUP{i}").as_bytes()).unwrap();
        let path = if i % 2 == 0 {
            "/v1/flags".to_owned()
        } else {
            format!("/no/such/path/{i}")
        };
        let r = node.send(method, &path, None, None).await;
        assert!(r.status().is_client_error(), "{}", r.status());
    }
    let text = scrape().await;
    let http: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("vexil_http_request_duration_seconds_count{"))
        .collect();
    assert!(!text.contains("MADEUP"), "a made-up method became a label");
    assert!(!text.contains("/no/such/path"), "a raw path became a label");
    let other: Vec<&&str> = http
        .iter()
        .filter(|l| l.contains("method=\"other\""))
        .collect();
    // One series per (route, status): /v1/flags answers 405 (or 401), an
    // unknown path 404 under `unmatched`.
    assert!(
        (1..=3).contains(&other.len()),
        "made-up methods: {other:#?}"
    );
    assert!(
        other.iter().any(|l| l.contains("route=\"unmatched\"")),
        "{other:#?}"
    );
    let n: f64 = other
        .iter()
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert_eq!(n, 50.0);
}
