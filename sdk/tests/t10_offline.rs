//! The client without any reachable node: defaults, the cache file, and
//! status, under paused time (backoff sleeps advance instantly).

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use vexil_sdk::{Client, Connector, Context, ErrorKind, OwnedReason, Status};

/// Every dial is refused, as when every node is down.
#[derive(Debug)]
struct Refused;

impl Connector for Refused {
    fn connect(
        &self,
        _addr: &str,
    ) -> BoxFuture<'static, std::io::Result<Box<dyn vexil_sdk::client_io::Io>>> {
        Box::pin(async {
            Err(std::io::Error::new(
                std::io::ErrorKind::ConnectionRefused,
                "refused",
            ))
        })
    }
}

fn client(cache: Option<&std::path::Path>) -> Client {
    let mut b = Client::builder(["http://node-a:7070", "http://node-b:7070"], "sdk-token")
        .connector(Arc::new(Refused))
        .seed(1);
    if let Some(p) = cache {
        b = b.cache_file(p);
    }
    b.build().unwrap()
}

const CACHE: &str = r#"{"id": 41, "flags": [{"key": "checkout", "kind": "boolean",
  "variations": [{"value": true}, {"value": false}], "enabled": true,
  "off_variation": 1, "fallthrough": {"variation": 0}, "version": 3}], "segments": []}"#;

#[tokio::test(start_paused = true)]
async fn t10_no_state_and_no_node_is_offline_and_serves_defaults() {
    let c = client(None);
    let ctx = Context::new("u1");
    let d = c.bool_detail("checkout", &ctx, true);
    assert!(d.value);
    assert_eq!(
        d.reason,
        OwnedReason::Error {
            error_kind: ErrorKind::ClientNotReady
        }
    );
    let mut rx = c.status_updates();
    let offline = rx.wait_for(|s| matches!(s, Status::Offline { .. }));
    tokio::time::timeout(Duration::from_secs(60), offline)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        c.wait_until_ready(Duration::from_secs(1))
            .await
            .unwrap_err(),
        c.status()
    );
}

#[tokio::test(start_paused = true)]
async fn t11_a_good_cache_file_serves_at_once_and_stays_stale() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cache.json");
    let c0 = client(Some(&path));
    drop(c0);
    vexil_sdk::write_cache_file(&path, &serde_json::from_str(CACHE).unwrap()).unwrap();
    let c = client(Some(&path));
    assert!(c.cache_warning().is_none());
    assert_eq!(c.state_id(), Some(41));
    let d = c.bool_detail("checkout", &Context::new("u1"), false);
    assert!(d.value);
    assert_eq!(d.reason, OwnedReason::Fallthrough);
    assert!(matches!(c.status(), Status::Stale { .. }));
    tokio::time::sleep(Duration::from_secs(30)).await;
    assert!(
        matches!(c.status(), Status::Stale { .. }),
        "never Offline with a state: {:?}",
        c.status()
    );
    let unknown = c.string_detail("nope", &Context::new("u1"), "dflt");
    assert_eq!(unknown.value, "dflt");
    assert_eq!(
        unknown.reason,
        OwnedReason::Error {
            error_kind: ErrorKind::FlagNotFound
        }
    );
    let wrong = c.string_detail("checkout", &Context::new("u1"), "dflt");
    assert_eq!(
        wrong.reason,
        OwnedReason::Error {
            error_kind: ErrorKind::WrongType
        }
    );
}

#[tokio::test(start_paused = true)]
async fn t12_a_corrupt_or_foreign_cache_file_is_reported_and_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cache.json");
    vexil_sdk::write_cache_file(&path, &serde_json::from_str(CACHE).unwrap()).unwrap();
    let mut raw = std::fs::read_to_string(&path).unwrap();
    raw = raw.replacen("checkout", "checkoux", 1);
    std::fs::write(&path, raw).unwrap();
    let c = client(Some(&path));
    let warning = c.cache_warning().expect("a warning");
    assert!(warning.contains("damaged"), "{warning}");
    assert_eq!(c.state_id(), None, "a damaged cache is never trusted");

    std::fs::write(&path, br#"{"some": "other app's file"}"#).unwrap();
    let c = client(Some(&path));
    assert!(c.cache_warning().unwrap().contains("not a Vexil SDK cache"));
    assert_eq!(c.state_id(), None);
}
