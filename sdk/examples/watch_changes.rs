//! Prints every flag change as it arrives from the cluster, with the
//! client's status, until Ctrl-C.
//!
//! ```sh
//! VEXIL_URLS=http://127.0.0.1:7070,http://127.0.0.1:7170 VEXIL_SDK_TOKEN=vxl_… \
//!   cargo run -p vexil-sdk --example watch_changes
//! ```

use std::time::Duration;

use vexil_sdk::{Client, Context};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let urls = std::env::var("VEXIL_URLS").unwrap_or_else(|_| "http://127.0.0.1:7070".into());
    let token = std::env::var("VEXIL_SDK_TOKEN").map_err(|_| "set VEXIL_SDK_TOKEN")?;
    let client = Client::builder(urls.split(','), token).build()?;
    let mut changes = client.changes();
    let mut status = client.status_updates();
    if client
        .wait_until_ready(Duration::from_secs(10))
        .await
        .is_ok()
    {
        let flags = client.all_flags(&Context::new("watcher"));
        println!(
            "ready at index {:?} with {} flags",
            client.state_id(),
            flags.len()
        );
    }
    loop {
        tokio::select! {
            change = changes.recv() => match change {
                Ok(c) => match c.version {
                    Some(v) => println!("#{:<8} {} is now version {v}", c.id, c.key),
                    None => println!("#{:<8} {} was deleted", c.id, c.key),
                },
                // Fell behind the notification queue: the state itself is
                // complete, only some notifications were skipped.
                Err(e) => println!("(notifications skipped: {e})"),
            },
            Ok(()) = status.changed() => {
                println!("status: {:?} (node {})", *status.borrow_and_update(), client.current_node());
            }
            _ = tokio::signal::ctrl_c() => return Ok(()),
        }
    }
}
