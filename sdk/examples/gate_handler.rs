//! An axum service whose `/checkout` handler is gated on a flag, evaluated
//! locally for each request's user: no network call per request.
//!
//! ```sh
//! VEXIL_URLS=http://127.0.0.1:7070 VEXIL_SDK_TOKEN=vxl_… \
//!   cargo run -p vexil-sdk --example gate_handler
//! curl -H 'x-user: user-42' -H 'x-country: NZ' http://127.0.0.1:3000/checkout
//! ```
//! The flag is `new-checkout` (boolean); without it (or with every node
//! down and no cache) the handler serves the old checkout.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::get;
use vexil_sdk::{Client, Context};

fn header(h: &HeaderMap, name: &str) -> Option<String> {
    h.get(name)?.to_str().ok().map(str::to_owned)
}

async fn checkout(State(flags): State<Arc<Client>>, headers: HeaderMap) -> String {
    let user = header(&headers, "x-user").unwrap_or_else(|| "anonymous".into());
    let mut ctx = Context::new(user.clone());
    if let Some(country) = header(&headers, "x-country") {
        ctx = ctx.with("country", country);
    }
    let d = flags.bool_detail("new-checkout", &ctx, false);
    let page = if d.value { "new" } else { "old" };
    format!("{user}: the {page} checkout ({:?})\n", d.reason)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let urls = std::env::var("VEXIL_URLS").unwrap_or_else(|_| "http://127.0.0.1:7070".into());
    let token = std::env::var("VEXIL_SDK_TOKEN").map_err(|_| "set VEXIL_SDK_TOKEN")?;
    let client = Client::builder(urls.split(','), token)
        .cache_file(std::env::temp_dir().join("vexil-example-cache.json"))
        .build()?;
    // Serve either way: until ready, evaluations return the defaults.
    if let Err(status) = client.wait_until_ready(Duration::from_secs(5)).await {
        eprintln!("not ready yet ({status:?}); serving defaults meanwhile");
    }
    let app = Router::new()
        .route("/checkout", get(checkout))
        .with_state(Arc::new(client));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    eprintln!("listening on http://127.0.0.1:3000/checkout");
    axum::serve(listener, app).await?;
    Ok(())
}
