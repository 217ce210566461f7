//! The WAL stays bounded under continuous writes: checkpoints run off the commit path and the
//! writer's own checkpoint at the threshold lets the WAL restart from its beginning.

use bytes::Bytes;
use weir_store::{NewMessage, QueueKind, QueueStore};
use weir_store_sqlite::{SqliteOptions, SqliteStore};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wal_stays_bounded_under_continuous_writes() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("wal.db");
    let options = SqliteOptions { wal_checkpoint_pages: 64, ..SqliteOptions::default() };
    let store = SqliteStore::open(&db, options).unwrap();
    let queue = store.create_queue("q", QueueKind::Standard, 1).await.unwrap().id;
    let body = Bytes::from(vec![7u8; 4096]);
    let mut tasks = Vec::new();
    for task in 0..8 {
        let (store, body) = (store.clone(), body.clone());
        tasks.push(tokio::spawn(async move {
            for n in 0..250 {
                let message = NewMessage {
                    message_id: format!("{task}-{n}"),
                    body: body.clone(),
                    attributes: Bytes::new(),
                    delay_ms: 0,
                    group_id: None,
                    dedup_id: None,
                };
                store.send(queue, vec![message], 1).await.unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let stats = store.writer_stats();
    assert!(stats.background_checkpoints + stats.writer_checkpoints > 0, "{stats:?}");
    // 2000 messages of 4 KiB (about 8 MiB of pages) went through a WAL limited to about 64
    // pages (256 KiB) plus what one group adds before the next checkpoint.
    let wal_bytes = std::fs::metadata(format!("{}-wal", db.display())).unwrap().len();
    assert!(wal_bytes < 3 * 1024 * 1024, "WAL grew to {wal_bytes} bytes; {stats:?}");
    assert_eq!(store.stats(queue, 1).await.unwrap().visible, 2000);
    store.close().await;
}
