//! `GET /v1/backup` (admin): a consistent backup of the whole state, streamed
//! as a checksummed file (see `vexil_raft::backup`). The read barrier first
//! makes it include every write acknowledged before the request.

use std::io::Write;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;
use vexil_raft::Role;
use vexil_storage::blob::BlobWriter;

use super::error::ApiResult;
use super::extract::Caller;
use super::{AppState, Consistency};

pub fn router() -> Router<AppState> {
    Router::new().route("/v1/backup", get(backup))
}

/// A writer whose bytes go to an HTTP response, a chunk at a time.
#[derive(Debug)]
struct ToResponse {
    tx: tokio::sync::mpsc::Sender<Result<Bytes, std::io::Error>>,
    buf: Vec<u8>,
}

const CHUNK: usize = 256 << 10;

impl ToResponse {
    fn send(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::take(&mut self.buf));
        self.tx.blocking_send(Ok(chunk)).map_err(|_| {
            std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the client went away")
        })
    }
}

impl Write for ToResponse {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(buf);
        if self.buf.len() >= CHUNK {
            self.send()?;
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.send()
    }
}

impl BlobWriter for ToResponse {
    fn commit(mut self: Box<Self>) -> Result<(), vexil_storage::StorageError> {
        self.send()?;
        Ok(())
    }
}

#[utoipa::path(get, path = "/v1/backup", tag = "operations", security(("bearer" = [])),
    responses((status = 200, description = "A consistent, checksummed backup file", content_type = "application/octet-stream", body = Vec<u8>)))]
async fn backup(State(state): State<AppState>, caller: Caller) -> ApiResult<Response> {
    caller.require(Role::Admin)?;
    state.before_read(Consistency::Linearizable).await?;
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let raft = state.raft.clone();
    let at = (raft.config().clock)();
    let errors = tx.clone();
    tokio::task::spawn_blocking(move || {
        let out = Box::new(ToResponse {
            tx,
            buf: Vec::with_capacity(CHUNK),
        });
        if let Err(e) = raft.write_backup(out, at) {
            // The stream ends with an error: the client sees a broken body
            // (and the file would fail its checksum anyway).
            let _ = errors.blocking_send(Err(std::io::Error::other(e.to_string())));
        }
    });
    let body = Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(rx));
    let name = format!(
        "attachment; filename=\"vexil-{}.backup\"",
        at.format("%Y%m%dT%H%M%SZ")
    );
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_owned()),
            (header::CONTENT_DISPOSITION, name),
        ],
        body,
    )
        .into_response())
}
