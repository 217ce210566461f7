//! Real crash and failure tests, each in a child process (this test binary re-run in a child
//! mode), so the crash is a real SIGKILL and the failure a real I/O error.
//!
//! - `acknowledged_writes_survive_sigkill`: a child sends, receives, deletes and writes the
//!   catalog from many tasks and prints each acknowledgement; the test SIGKILLs it at a random
//!   moment (after a seeded number of acknowledgements), reopens the database and checks every
//!   acknowledged send is present unless its delete was acknowledged, every acknowledged delete
//!   is absent, and every acknowledged catalog put is there. Several crash rounds run on the
//!   same database, so recovery of a recovered database is covered too.
//!   Fixed seeds by default; many seeds:
//!   `for s in $(seq 1 200); do WEIR_CRASH_SEED=$s cargo test -p weir-store-sqlite --test crash || break; done`
//! - `a_failed_commit_poisons_the_engine`: a child lowers its file-size limit (RLIMIT_FSIZE,
//!   SIGXFSZ ignored) so the WAL cannot grow: SQLite's write fails with a real I/O error (EFBIG).
//!   That write must fail with the engine's error, every later write with `Poisoned`, while
//!   reads still work; the database then reopens intact with every acknowledged write.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use weir_store::{
    CatalogOp, CatalogStore, DeleteOutcome, Expect, NewMessage, QueueKind, QueueStore, ReceiveOptions, SendOutcome,
    StoreError,
};
use weir_store_sqlite::{SqliteOptions, SqliteStore};

const CHILD_MODE: &str = "WEIR_STORE_CHILD_MODE";
const CHILD_DB: &str = "WEIR_STORE_CHILD_DB";
const CHILD_ROUND: &str = "WEIR_STORE_CHILD_ROUND";
const QUEUE: &str = "crash-queue";
/// A child never outlives this, even if its parent vanished.
const CHILD_LIFETIME: Duration = Duration::from_secs(60);

/// SplitMix64: a tiny seeded generator, stable across versions.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }
}

fn wall_clock_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64
}

/// Kills the child when dropped (a failing test never leaves it running).
struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn_child(mode: &str, db: &Path, round: u32) -> ChildGuard {
    let child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_entry_point", "--ignored", "--nocapture", "--test-threads=1"])
        .env(CHILD_MODE, mode)
        .env(CHILD_DB, db)
        .env(CHILD_ROUND, round.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn child");
    ChildGuard(child)
}

/// Not a test on its own: the entry point of the child processes (does nothing unless the
/// parent set the child mode).
#[test]
#[ignore = "entry point of the child processes of the other tests"]
fn child_entry_point() {
    let Ok(mode) = std::env::var(CHILD_MODE) else { return };
    println!(); // end the test harness's "test child_entry_point ... " line
    let db = std::env::var(CHILD_DB).unwrap();
    let round: u32 = std::env::var(CHILD_ROUND).unwrap().parse().unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    match mode.as_str() {
        "torture" => runtime.block_on(torture_child(Path::new(&db), round)),
        "fill" => runtime.block_on(fill_child(Path::new(&db))),
        other => panic!("unknown child mode {other}"),
    }
}

/// Writes from many tasks until killed, printing one line per acknowledged write:
/// `SENT <id>`, `DELETED <id>`, `PUT <key> <revision>`, and `DELETING <id>` before asking to
/// delete (a delete that committed but was not acknowledged before the kill is legitimate).
async fn torture_child(db: &Path, round: u32) {
    let store = SqliteStore::open(db, SqliteOptions::default()).unwrap();
    let queue = match store.get_queue(QUEUE).await.unwrap() {
        Some(info) => info.id,
        None => store.create_queue(QUEUE, QueueKind::Standard, wall_clock_ms()).await.unwrap().id,
    };
    println!("READY");
    let deadline = Instant::now() + CHILD_LIFETIME;
    let mut tasks = Vec::new();
    for sender in 0..8u64 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut rng = Rng(u64::from(round) << 32 | sender);
            let mut n = 0u64;
            while Instant::now() < deadline {
                let batch: Vec<NewMessage> = (0..1 + rng.below(10))
                    .map(|_| {
                        n += 1;
                        NewMessage {
                            message_id: format!("r{round}-s{sender}-{n}"),
                            body: Bytes::from(vec![b'x'; rng.below(2_000) as usize]),
                            attributes: Bytes::new(),
                            delay_ms: 0,
                            group_id: None,
                            dedup_id: None,
                        }
                    })
                    .collect();
                let ids: Vec<String> = batch.iter().map(|m| m.message_id.clone()).collect();
                let outcomes = store.send(queue, batch, wall_clock_ms()).await.unwrap();
                for (id, outcome) in ids.iter().zip(outcomes) {
                    assert!(matches!(outcome, SendOutcome::Sent { .. }));
                    println!("SENT {id}");
                }
            }
        }));
    }
    for _consumer in 0..2 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            while Instant::now() < deadline {
                let options = ReceiveOptions { max_messages: 10, visibility_timeout_ms: 30_000, redrive: None };
                let received = store.receive(queue, wall_clock_ms(), options).await.unwrap();
                for message in &received {
                    println!("DELETING {}", message.message.message_id);
                }
                let handles = received.iter().map(|r| r.receipt_handle.clone()).collect();
                let outcomes = store.delete(queue, handles).await.unwrap();
                for (message, outcome) in received.iter().zip(outcomes) {
                    if outcome == Ok(DeleteOutcome::Deleted) {
                        println!("DELETED {}", message.message.message_id);
                    }
                }
            }
        }));
    }
    {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut n = 0u64;
            while Instant::now() < deadline {
                n += 1;
                let key = format!("r{round}-k{n}");
                let op = CatalogOp::Put {
                    kind: "doc".into(),
                    key: key.clone(),
                    value: Bytes::from(key.clone()),
                    expect: Expect::Absent,
                };
                let revision = store.catalog_apply(vec![op]).await.unwrap();
                println!("PUT {key} {revision}");
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
}

/// What the child acknowledged, read from its output.
#[derive(Default)]
struct Acknowledged {
    sent: BTreeSet<String>,
    deleted: BTreeSet<String>,
    delete_attempted: BTreeSet<String>,
    puts: BTreeMap<String, u64>,
}

impl Acknowledged {
    fn record(&mut self, line: &str) -> bool {
        let mut words = line.split_whitespace();
        match (words.next(), words.next(), words.next()) {
            (Some("SENT"), Some(id), None) => self.sent.insert(id.to_owned()),
            (Some("DELETED"), Some(id), None) => self.deleted.insert(id.to_owned()),
            (Some("DELETING"), Some(id), None) => {
                self.delete_attempted.insert(id.to_owned());
                return false; // an intention, not an acknowledgement
            }
            (Some("PUT"), Some(key), Some(revision)) => {
                self.puts.insert(key.to_owned(), revision.parse().unwrap());
                true
            }
            _ => return false,
        };
        true
    }
}

fn crash_seeds() -> Vec<u64> {
    match std::env::var("WEIR_CRASH_SEED") {
        Ok(seed) => vec![seed.parse().expect("WEIR_CRASH_SEED is a number")],
        Err(_) => vec![1, 2],
    }
}

#[test]
fn acknowledged_writes_survive_sigkill() {
    for seed in crash_seeds() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("crash.db");
        let mut rng = Rng(seed);
        let mut acknowledged = Acknowledged::default();
        for round in 0..3u32 {
            let kill_after = 50 + rng.below(2_000);
            let mut child = spawn_child("torture", &db, round);
            let mut lines = BufReader::new(child.0.stdout.take().unwrap()).lines();
            let mut acks = 0u64;
            let mut killed = false;
            // Lines already written before the kill are acknowledgements too: read to the end.
            for line in lines.by_ref() {
                let Ok(line) = line else { break };
                if acknowledged.record(&line) {
                    acks += 1;
                }
                if !killed && acks >= kill_after {
                    child.0.kill().unwrap(); // SIGKILL
                    killed = true;
                }
            }
            let status = child.0.wait().unwrap();
            assert!(killed, "seed {seed} round {round}: the child ended by itself ({status}) after {acks} acks");
            verify(&db, &acknowledged, seed, round);
        }
    }
}

/// Checks a copy of the crashed database (the original stays as the crash left it, for the
/// next round's child to recover).
fn verify(db: &Path, acknowledged: &Acknowledged, seed: u64, round: u32) {
    let copy = db.with_file_name(format!("verify-{round}.db"));
    std::fs::copy(db, &copy).unwrap();
    let wal = |path: &Path| format!("{}-wal", path.display());
    if Path::new(&wal(db)).exists() {
        std::fs::copy(wal(db), wal(&copy)).unwrap();
    }
    let conn = rusqlite::Connection::open(&copy).unwrap();
    let integrity: String = conn.query_row("PRAGMA integrity_check", [], |row| row.get(0)).unwrap();
    assert_eq!(integrity, "ok", "seed {seed} round {round}");
    drop(conn);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let store = SqliteStore::open(&copy, SqliteOptions::default()).unwrap();
        let queue = store.get_queue(QUEUE).await.unwrap().expect("queue survived").id;
        // Every message, in flight or not: receive far in the future.
        let everything = ReceiveOptions { max_messages: u32::MAX, visibility_timeout_ms: 0, redrive: None };
        let present: BTreeSet<String> = store
            .receive(queue, u64::MAX / 4, everything)
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.message.message_id)
            .collect();
        for id in &acknowledged.sent {
            if !acknowledged.delete_attempted.contains(id) {
                assert!(present.contains(id), "seed {seed} round {round}: acknowledged send {id} was lost");
            }
        }
        for id in &acknowledged.deleted {
            assert!(!present.contains(id), "seed {seed} round {round}: acknowledged delete {id} came back");
        }
        for (key, revision) in &acknowledged.puts {
            let entry = store.catalog_get("doc", key).await.unwrap();
            assert_eq!(entry.map(|e| e.revision), Some(*revision), "seed {seed} round {round}: put {key} lost");
        }
        eprintln!(
            "seed {seed} round {round}: {} sends, {} deletes, {} puts acknowledged; {} messages present",
            acknowledged.sent.len(),
            acknowledged.deleted.len(),
            acknowledged.puts.len(),
            present.len()
        );
        store.close().await;
    });
}

/// Fills the WAL past a lowered file-size limit; prints `ACK <id>` per acknowledged send and
/// `ERROR <n> <Debug of the error>` for each of the first failing writes, `READ ok` if a read
/// still works after poisoning.
async fn fill_child(db: &Path) {
    let store = SqliteStore::open(db, SqliteOptions::default()).unwrap();
    let queue = store.create_queue(QUEUE, QueueKind::Standard, 1).await.unwrap().id;
    let message = |n: u32| NewMessage {
        message_id: format!("m{n}"),
        body: Bytes::from(vec![b'y'; 64 * 1024]),
        attributes: Bytes::new(),
        delay_ms: 0,
        group_id: None,
        dedup_id: None,
    };
    for n in 0..4 {
        store.send(queue, vec![message(n)], 1).await.unwrap();
        println!("ACK m{n}");
    }
    // From here on no file of this process may grow past 256 KiB: the WAL already holds more
    // than that, so the next frames SQLite appends fail with EFBIG.
    // SAFETY: ignoring a signal installs no handler code; the process is single-purpose.
    unsafe { nix::sys::signal::signal(nix::sys::signal::Signal::SIGXFSZ, nix::sys::signal::SigHandler::SigIgn) }
        .unwrap();
    nix::sys::resource::setrlimit(nix::sys::resource::Resource::RLIMIT_FSIZE, 256 * 1024, 256 * 1024).unwrap();
    let mut errors = 0;
    for n in 4..200 {
        match store.send(queue, vec![message(n)], 1).await {
            Ok(_) => println!("ACK m{n}"),
            Err(error) => {
                println!("ERROR {errors} {error:?}");
                errors += 1;
                if errors == 3 {
                    break;
                }
            }
        }
    }
    let stats = store.stats(queue, 1).await;
    println!("READ {}", if stats.is_ok() { "ok" } else { "failed" });
    println!("POISONED {}", store.is_poisoned());
}

#[test]
fn a_failed_commit_poisons_the_engine() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("full.db");
    let mut child = spawn_child("fill", &db, 0);
    let output: Vec<String> = BufReader::new(child.0.stdout.take().unwrap()).lines().map_while(Result::ok).collect();
    assert!(child.0.wait().unwrap().success(), "child output: {output:?}");
    let errors: Vec<&String> = output.iter().filter(|line| line.starts_with("ERROR")).collect();
    assert_eq!(errors.len(), 3, "{output:?}");
    assert!(errors[0].starts_with("ERROR 0 Store(Engine("), "the failing write reports the cause: {}", errors[0]);
    assert_eq!(errors[1], "ERROR 1 Store(Poisoned)");
    assert_eq!(errors[2], "ERROR 2 Store(Poisoned)");
    assert!(output.contains(&"READ ok".to_owned()), "reads still work: {output:?}");
    assert!(output.contains(&"POISONED true".to_owned()));

    // Without the limit the database reopens intact, with every acknowledged write.
    let acknowledged: BTreeSet<String> =
        output.iter().filter_map(|line| line.strip_prefix("ACK ")).map(str::to_owned).collect();
    assert!(acknowledged.len() >= 4, "{output:?}");
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let store = SqliteStore::open(&db, SqliteOptions::default()).unwrap();
        let queue = store.get_queue(QUEUE).await.unwrap().unwrap().id;
        let all = ReceiveOptions { max_messages: 1_000, visibility_timeout_ms: 0, redrive: None };
        let present: BTreeSet<String> =
            store.receive(queue, 2, all).await.unwrap().into_iter().map(|r| r.message.message_id).collect();
        assert!(acknowledged.is_subset(&present), "acknowledged {acknowledged:?}, present {present:?}");
        assert!(!store.is_poisoned());
        store
            .send(
                queue,
                vec![NewMessage {
                    message_id: "after".into(),
                    body: Bytes::from_static(b"ok"),
                    attributes: Bytes::new(),
                    delay_ms: 0,
                    group_id: None,
                    dedup_id: None,
                }],
                3,
            )
            .await
            .unwrap();
        store.close().await;
    });
}

#[test]
fn a_second_engine_cannot_open_an_open_database() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("locked.db");
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let first = SqliteStore::open(&db, SqliteOptions::default()).unwrap();
    assert!(matches!(SqliteStore::open(&db, SqliteOptions::default()), Err(StoreError::Locked(_))));
    runtime.block_on(first.close());
    let reopened = SqliteStore::open(&db, SqliteOptions::default()).expect("free again once closed");
    runtime.block_on(reopened.close());
}
