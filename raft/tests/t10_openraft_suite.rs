//! openraft's own storage contract, against both engines.

use std::sync::Arc;

use vexil_storage::{BlobStore, Engine, FsBlobStore, MemBlobStore, MemEngine, RocksEngine};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t10_suite_passes_on_rocksdb() {
    let root = Arc::new(tempfile::tempdir().unwrap());
    let counter = Arc::new(std::sync::atomic::AtomicU64::new(0));
    vexil_raft::run_openraft_suite(Box::new(move || {
        let n = counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = root.path().join(format!("case-{n}"));
        let engine: Arc<dyn Engine> = Arc::new(
            RocksEngine::open(&dir.join("db"))
                .and_then(|e| e.with_checkpoints(&dir.join("checkpoints")))
                .unwrap(),
        );
        let blobs: Arc<dyn BlobStore> = Arc::new(FsBlobStore::open(&dir.join("snap")).unwrap());
        (engine, blobs)
    }))
    .await
    .unwrap();
}

#[tokio::test]
async fn t11_suite_passes_in_memory() {
    vexil_raft::run_openraft_suite(Box::new(|| {
        let engine: Arc<dyn Engine> = Arc::new(MemEngine::new());
        let blobs: Arc<dyn BlobStore> = Arc::new(MemBlobStore::new());
        (engine, blobs)
    }))
    .await
    .unwrap();
}
