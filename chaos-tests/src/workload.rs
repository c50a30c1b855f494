//! The clients: writers, linearizable readers and SDK subscribers. Every
//! random choice comes from a generator seeded from the run's seed.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::Method;
use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};
use serde_json::{Value, json};

use crate::api::{Api, Reply};
use crate::cluster::{Roster, url};
use crate::history::{History, Kind, Obs, Op, Outcome, now};

/// Workload shape.
#[derive(Debug, Clone)]
pub struct Shape {
    /// The nodes to address (it changes as nodes join and leave).
    pub roster: Roster,
    pub keys: usize,
    /// Clients stop starting operations after this much simulated time.
    pub until: Duration,
}

fn obs(body: &Value) -> Option<Obs> {
    Some(Obs {
        version: body.get("version")?.as_u64()?,
        description: body
            .get("description")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        enabled: body
            .get("enabled")
            .and_then(Value::as_bool)
            .unwrap_or(false),
    })
}

fn flag(key: &str, description: &str) -> Value {
    json!({
        "key": key, "kind": "boolean", "description": description,
        "variations": [{"value": true}, {"value": false}],
        "off_variation": 1, "fallthrough": {"variation": 0}, "enabled": true
    })
}

/// What a write's reply means.
fn write_outcome(kind: &Kind, reply: &Reply) -> Outcome {
    match reply {
        // Nothing written: a linearizable read of the flag as it is.
        Reply::Ok {
            status,
            body,
            unchanged: true,
        } if *status < 300 => Outcome::Read(obs(body)),
        Reply::Ok { status, body, .. } if *status < 300 => match kind {
            Kind::Delete => Outcome::Wrote {
                version: body.get("version").and_then(Value::as_u64).unwrap_or(0),
                state: None,
            },
            _ => match obs(body) {
                Some(o) => Outcome::Wrote {
                    version: o.version,
                    state: Some(o),
                },
                None => Outcome::Unknown,
            },
        },
        Reply::Ok { status, .. } if (400..500).contains(status) => Outcome::Rejected(*status),
        _ => Outcome::Unknown,
    }
}

/// A writer: creates, updates, toggles, deletes and rolls back flags, each
/// with a unique description and idempotency key.
pub async fn writer(name: String, seed: u64, shape: Shape, history: History) -> turmoil::Result {
    let mut rng = SmallRng::seed_from_u64(seed);
    let api = Api::new(Duration::from_secs(3));
    let mut last_version: BTreeMap<String, u64> = BTreeMap::new();
    let mut seq = 0u64;
    while turmoil::elapsed() < shape.until {
        seq += 1;
        let key = format!("k{}", rng.random_range(0..shape.keys));
        let node = shape.roster.pick(&mut rng);
        let base = format!("{}/v1/flags", url(node));
        let desc = format!("{name}-{seq}");
        let idem = vec![("idempotency-key", format!("{name}-{seq}"))];
        let known = last_version.get(&key).copied().unwrap_or(1);
        let (kind, method, path, body) = match rng.random_range(0..10) {
            0 | 1 => (
                Kind::Create,
                Method::POST,
                base.clone(),
                Some(flag(&key, &desc)),
            ),
            2..=4 => {
                let mut b = flag(&key, &desc);
                b["version"] = json!(known);
                (Kind::Update, Method::PUT, format!("{base}/{key}"), Some(b))
            }
            5 | 6 => (
                Kind::Toggle,
                Method::POST,
                format!("{base}/{key}/toggle"),
                Some(json!({"enabled": rng.random_range(0..2) == 0})),
            ),
            7 => (Kind::Delete, Method::DELETE, format!("{base}/{key}"), None),
            _ => {
                let to = rng.random_range(1..=known.max(1));
                (
                    Kind::Rollback(to),
                    Method::POST,
                    format!("{base}/{key}/rollback"),
                    Some(json!({"version": to})),
                )
            }
        };
        let invoke = now();
        let reply = api.call(method, &path, &idem, body.as_ref()).await;
        let outcome = write_outcome(&kind, &reply);
        if let Outcome::Wrote { version, .. } = &outcome {
            last_version.insert(key.clone(), *version);
        }
        history.push(Op {
            client: name.clone(),
            key,
            kind,
            node,
            invoke,
            complete: now(),
            outcome,
        });
        tokio::time::sleep(Duration::from_millis(rng.random_range(5..=40))).await;
    }
    Ok(())
}

/// A reader: linearizable GETs of random flags on random nodes.
pub async fn reader(name: String, seed: u64, shape: Shape, history: History) -> turmoil::Result {
    let mut rng = SmallRng::seed_from_u64(seed);
    let api = Api::new(Duration::from_secs(3));
    while turmoil::elapsed() < shape.until {
        let key = format!("k{}", rng.random_range(0..shape.keys));
        let node = shape.roster.pick(&mut rng);
        let invoke = now();
        let reply = api
            .call(
                Method::GET,
                &format!("{}/v1/flags/{key}", url(node)),
                &[],
                None,
            )
            .await;
        let outcome = match &reply {
            Reply::Ok {
                status: 200, body, ..
            } => Outcome::Read(obs(body)),
            Reply::Ok { status: 404, .. } => Outcome::Read(None),
            _ => Outcome::Unknown,
        };
        history.push(Op {
            client: name.clone(),
            key,
            kind: Kind::Read,
            node,
            invoke,
            complete: now(),
            outcome,
        });
        tokio::time::sleep(Duration::from_millis(rng.random_range(5..=40))).await;
    }
    Ok(())
}

/// What an SDK subscriber saw.
#[derive(Debug, Clone, Default)]
pub struct SdkView {
    /// Flag key → every version it was notified of, in order.
    pub versions: BTreeMap<String, Vec<Option<u64>>>,
    /// The local state: log index and flag versions, refreshed continuously.
    pub state_id: Option<u64>,
    pub flags: BTreeMap<String, u64>,
}

/// An SDK client subscribed (first) to `first` of nodes `1..=ids`,
/// recording what it sees until `stop`. Its list names every node a run may
/// start, as a deployment's list names its spare machines; a node not
/// started yet (or gone) fails to connect and the SDK tries the next.
pub async fn subscriber(
    seed: u64,
    first: u64,
    ids: u64,
    stop: Duration,
    view: Arc<Mutex<SdkView>>,
) -> turmoil::Result {
    let urls: Vec<String> = (0..ids).map(|i| url((first - 1 + i) % ids + 1)).collect();
    let client = vexil_sdk::Client::builder(urls, crate::api::ADMIN)
        .connector(Arc::new(crate::net::SimConnector))
        .seed(seed)
        .backoff(Duration::from_millis(50), Duration::from_millis(800))
        .read_timeout(Duration::from_secs(3))
        .connect_timeout(Duration::from_secs(1))
        .build()
        .map_err(|e| e.to_string())?;
    let mut changes = client.changes();
    while turmoil::elapsed() < stop {
        tokio::select! {
            biased;
            change = changes.recv() => {
                if let Ok(c) = change {
                    let mut v = view.lock().unwrap_or_else(|p| p.into_inner());
                    v.versions.entry(c.key).or_default().push(c.version);
                }
            }
            _ = tokio::time::sleep(Duration::from_millis(100)) => {}
        }
        let mut v = view.lock().unwrap_or_else(|p| p.into_inner());
        v.state_id = client.state_id();
        v.flags = client.flag_versions();
    }
    Ok(())
}

/// The liveness probe: after healing, a write must succeed (retried with
/// one idempotency key until it does, on each node in turn).
pub async fn live_write(history: History, roster: Roster) -> turmoil::Result {
    let api = Api::new(Duration::from_secs(3));
    let mut attempt = 0usize;
    loop {
        let nodes = roster.get();
        let node = nodes
            .get(attempt % nodes.len().max(1))
            .copied()
            .unwrap_or(1);
        attempt += 1;
        let reply = api
            .call(
                Method::POST,
                &format!("{}/v1/flags/live-probe/toggle", url(node)),
                &[("idempotency-key", "live".into())],
                Some(&json!({"enabled": true})),
            )
            .await;
        let created = match reply {
            Reply::Ok { status: 404, .. } => {
                api.call(
                    Method::POST,
                    &format!("{}/v1/flags", url(node)),
                    &[("idempotency-key", "live-create".into())],
                    Some(&flag("live-probe", "live")),
                )
                .await
            }
            other => other,
        };
        if let Reply::Ok { status, .. } = created
            && (status < 300 || status == 409)
        {
            history.mark_live_write();
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// How many flags each of the promoter's promotions moves.
pub const PROMO_FLAGS: usize = 4;

/// The promoter (issue 22): project `promo` with [`PROMO_FLAGS`] flags,
/// enabled in `development` and disabled in `staging`, promoted to
/// `production` from each in turn, so that every promotion applied flips
/// all of them at once and `stores::promotions` can tell one that reached
/// only some. Each setup step is retried under one idempotency key until
/// it succeeds; each promotion until it is answered.
pub async fn promoter(seed: u64, shape: Shape) -> turmoil::Result {
    let mut rng = SmallRng::seed_from_u64(seed);
    let api = Api::new(Duration::from_secs(3));
    let mut steps = vec![(
        "/v1/projects".to_owned(),
        json!({"key": "promo"}),
        "promo-project".to_owned(),
    )];
    for i in 0..PROMO_FLAGS {
        let mut f = flag(&format!("p{i}"), "promo");
        f["enabled"] = json!(false);
        steps.push((
            "/v1/projects/promo/flags".into(),
            f,
            format!("promo-flag-{i}"),
        ));
        steps.push((
            format!("/v1/projects/promo/environments/development/flags/p{i}/toggle"),
            json!({"enabled": true}),
            format!("promo-on-{i}"),
        ));
    }
    for (path, body, key) in &steps {
        loop {
            if turmoil::elapsed() >= shape.until {
                return Ok(());
            }
            let node = shape.roster.pick(&mut rng);
            let url = format!("{}{path}", url(node));
            let idem = [("idempotency-key", key.clone())];
            match api.call(Method::POST, &url, &idem, Some(body)).await {
                Reply::Ok { status, .. } if status < 300 || status == 409 => break,
                _ => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    }
    let mut n = 0u64;
    while turmoil::elapsed() < shape.until {
        let node = shape.roster.pick(&mut rng);
        let from = if n.is_multiple_of(2) {
            "development"
        } else {
            "staging"
        };
        let reply = api
            .call(
                Method::POST,
                &format!("{}/v1/projects/promo/promote", url(node)),
                &[("idempotency-key", format!("promo-{n}"))],
                Some(&json!({"from": from, "to": "production", "all": true})),
            )
            .await;
        // 201: promoted; 200: nothing differed, an earlier attempt of
        // this one having committed.
        if let Reply::Ok {
            status: 200 | 201, ..
        } = reply
        {
            n += 1;
        }
        tokio::time::sleep(Duration::from_millis(rng.random_range(20..=80))).await;
    }
    Ok(())
}
