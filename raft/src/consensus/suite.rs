//! openraft's storage conformance suite, run against our log store and state
//! machine on any engine. Lives here so that openraft stays in this module.

use std::sync::Arc;

use openraft::testing::log::{StoreBuilder, Suite};
use openraft::{ErrorSubject, ErrorVerb, StorageError};
use vexil_storage::{BlobStore, Engine};

use super::TypeConfig;
use super::log_store::LogStore;
use super::state_machine::StateMachine;
use crate::loader::load_state;
use crate::state::{FeedConfig, Shared};

/// Makes a fresh engine and blob store per suite case.
pub type Fresh = dyn Fn() -> (Arc<dyn Engine>, Arc<dyn BlobStore>) + Send + Sync;

struct Builder(Box<Fresh>);

fn io_err(e: std::io::Error) -> StorageError<TypeConfig> {
    StorageError::from_io_error(ErrorSubject::Store, ErrorVerb::Read, e)
}

impl StoreBuilder<TypeConfig, LogStore, StateMachine> for Builder {
    async fn build(&self) -> Result<((), LogStore, StateMachine), StorageError<TypeConfig>> {
        let (engine, blobs) = (self.0)();
        let log = LogStore::open(engine.clone()).map_err(io_err)?;
        let state = load_state(engine.as_ref()).map_err(|e| io_err(std::io::Error::from(e)))?;
        let shared = Arc::new(Shared::new(state, FeedConfig::default()));
        Ok(((), log, StateMachine::new(engine, blobs, shared)))
    }
}

/// Runs every case of `openraft::testing::log::Suite`.
pub async fn run_openraft_suite(fresh: Box<Fresh>) -> Result<(), String> {
    Suite::test_all(Builder(fresh))
        .await
        .map_err(|e| e.to_string())
}
