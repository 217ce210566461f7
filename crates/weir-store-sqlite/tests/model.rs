//! Model-based tests: random operation sequences run against the SQLite engine and the
//! in-memory reference engine must give identical results, step by step, including across
//! simulated crashes.
//!
//! A "crash" copies the database and its WAL as they are on disk while the engine is idle
//! (exactly what a SIGKILL leaves: every acknowledged commit is in the WAL), without the
//! shared-memory index, abandons the old engine, and opens the copy: SQLite must recover the
//! committed state from the WAL alone. Real mid-write crashes are in `tests/crash.rs`.
//!
//! More cases: `PROPTEST_CASES=2000 cargo test -p weir-store-sqlite --test model`.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use proptest::prelude::*;
use weir_store::{
    CatalogOp, Expect, MemoryStore, NewMessage, QueueId, QueueKind, ReceiveOptions, Redrive, VisibilityChange,
};
use weir_store_sqlite::{Durability, SqliteOptions, SqliteStore};

const T0: u64 = 1_700_000_000_000;
const QUEUE_NAMES: [&str; 4] = ["q0", "q1", "f0.fifo", "f1.fifo"];
const ADVANCES_MS: [u64; 7] = [0, 1, 499, 1_000, 5_000, 30_000, 300_001];
const TIMEOUTS_MS: [u64; 5] = [0, 1, 1_000, 5_000, 60_000];
const DELAYS_MS: [u64; 5] = [0, 0, 0, 1_000, 10_000];
const RETENTIONS_MS: [u64; 4] = [0, 1_000, 60_000, 3_600_000];
const KINDS: [&str; 2] = ["function", "alias"];
const KEYS: [&str; 5] = ["a", "a/1", "a/2", "ab", "b"];
const PREFIXES: [&str; 4] = ["", "a", "a/", "zz"];

#[derive(Debug, Clone)]
enum Pick {
    /// One of the last eight receipt handles the target queue issued (current or stale by now).
    Seen(usize),
    /// One of the last eight receipt handles any queue issued.
    Foreign(usize),
    Garbage,
}

#[derive(Debug, Clone)]
enum CatalogStep {
    Put { kind: usize, key: usize, expect: ExpectPick },
    Delete { kind: usize, key: usize, expect: ExpectPick },
    DeleteByPrefix { kind: usize, prefix: usize },
}

#[derive(Debug, Clone)]
enum ExpectPick {
    Any,
    Absent,
    /// The n-th revision returned so far (modulo), or a made-up one when none.
    Seen(usize),
}

#[derive(Debug, Clone)]
enum Op {
    Advance(usize),
    CreateQueue(usize),
    DeleteQueue(usize),
    GetQueue(usize),
    ListQueues,
    /// (delay, group, dedup id) per message.
    Send {
        queue: usize,
        messages: Vec<(usize, Option<usize>, Option<usize>)>,
    },
    Receive {
        queue: usize,
        max: u32,
        timeout: usize,
        redrive: Option<(usize, u32)>,
    },
    Delete {
        queue: usize,
        picks: Vec<Pick>,
    },
    ChangeVisibility {
        queue: usize,
        picks: Vec<(Pick, usize)>,
    },
    Requeue {
        queue: usize,
        pick: Pick,
        delay: usize,
        new_attributes: bool,
    },
    Purge(usize),
    Move {
        source: usize,
        destination: usize,
        max: u32,
    },
    Stats(usize),
    NextVisibleAt(usize),
    Expire {
        queue: usize,
        retention: usize,
    },
    CatalogApply(Vec<CatalogStep>),
    CatalogGet {
        kind: usize,
        key: usize,
    },
    CatalogList {
        kind: usize,
        prefix: usize,
    },
    Crash,
}

fn pick() -> impl Strategy<Value = Pick> {
    prop_oneof![
        8 => any::<usize>().prop_map(Pick::Seen),
        1 => any::<usize>().prop_map(Pick::Foreign),
        1 => Just(Pick::Garbage),
    ]
}

fn expect_pick() -> impl Strategy<Value = ExpectPick> {
    prop_oneof![Just(ExpectPick::Any), Just(ExpectPick::Absent), any::<usize>().prop_map(ExpectPick::Seen)]
}

fn catalog_step() -> impl Strategy<Value = CatalogStep> {
    prop_oneof![
        4 => (0..KINDS.len(), 0..KEYS.len(), expect_pick()).prop_map(|(kind, key, expect)| CatalogStep::Put { kind, key, expect }),
        2 => (0..KINDS.len(), 0..KEYS.len(), expect_pick()).prop_map(|(kind, key, expect)| CatalogStep::Delete { kind, key, expect }),
        1 => (0..KINDS.len(), 0..PREFIXES.len()).prop_map(|(kind, prefix)| CatalogStep::DeleteByPrefix { kind, prefix }),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    // Indexes into the ids created so far (the four initial queues first); past the end: a
    // missing queue.
    let queue = || prop_oneof![12 => 0..4usize, 1 => 4..7usize];
    prop_oneof![
        6 => (0..ADVANCES_MS.len()).prop_map(Op::Advance),
        3 => (0..QUEUE_NAMES.len()).prop_map(Op::CreateQueue),
        1 => queue().prop_map(Op::DeleteQueue),
        1 => (0..QUEUE_NAMES.len()).prop_map(Op::GetQueue),
        1 => Just(Op::ListQueues),
        10 => (queue(), prop::collection::vec((0..DELAYS_MS.len(), prop::option::weighted(0.97, 1..3usize), prop::option::weighted(0.97, 1..16usize)), 0..5))
            .prop_map(|(queue, messages)| Op::Send { queue, messages }),
        10 => (queue(), 0..5u32, 0..TIMEOUTS_MS.len(), prop::option::weighted(0.3, (queue(), 1..4u32)))
            .prop_map(|(queue, max, timeout, redrive)| Op::Receive { queue, max, timeout, redrive }),
        6 => (queue(), prop::collection::vec(pick(), 0..4)).prop_map(|(queue, picks)| Op::Delete { queue, picks }),
        3 => (queue(), prop::collection::vec((pick(), 0..TIMEOUTS_MS.len()), 0..3))
            .prop_map(|(queue, picks)| Op::ChangeVisibility { queue, picks }),
        3 => (queue(), pick(), 0..DELAYS_MS.len(), any::<bool>())
            .prop_map(|(queue, pick, delay, new_attributes)| Op::Requeue { queue, pick, delay, new_attributes }),
        1 => queue().prop_map(Op::Purge),
        2 => (queue(), queue(), 0..4u32).prop_map(|(source, destination, max)| Op::Move { source, destination, max }),
        3 => queue().prop_map(Op::Stats),
        3 => queue().prop_map(Op::NextVisibleAt),
        1 => (queue(), 0..RETENTIONS_MS.len()).prop_map(|(queue, retention)| Op::Expire { queue, retention }),
        4 => prop::collection::vec(catalog_step(), 0..4).prop_map(Op::CatalogApply),
        2 => (0..KINDS.len(), 0..KEYS.len()).prop_map(|(kind, key)| Op::CatalogGet { kind, key }),
        2 => (0..KINDS.len(), 0..PREFIXES.len()).prop_map(|(kind, prefix)| Op::CatalogList { kind, prefix }),
        1 => Just(Op::Crash),
    ]
}

/// The SQLite engine under test, with its directory and a generation counter for crash copies.
struct SqliteUnderTest {
    dir: tempfile::TempDir,
    generation: u32,
    store: SqliteStore,
}

fn options() -> SqliteOptions {
    SqliteOptions { durability: Durability::Full, ..SqliteOptions::default() }
}

impl SqliteUnderTest {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path().join("gen0.db"), options()).unwrap();
        SqliteUnderTest { dir, generation: 0, store }
    }

    /// Copies the on-disk state (database + WAL, not the shared-memory index) to a new file and
    /// opens that, abandoning the old engine without a clean close.
    fn crash_and_reopen(&mut self) {
        self.generation += 1;
        let old: PathBuf = self.store.path().to_path_buf();
        let new = self.dir.path().join(format!("gen{}.db", self.generation));
        copy_on_disk_state(&old, &new);
        let reopened = SqliteStore::open(&new, options()).unwrap();
        let abandoned = std::mem::replace(&mut self.store, reopened);
        drop(abandoned);
    }
}

fn copy_on_disk_state(from: &Path, to: &Path) {
    std::fs::copy(from, to).unwrap();
    let wal = |path: &Path| PathBuf::from(format!("{}-wal", path.display()));
    if wal(from).exists() {
        std::fs::copy(wal(from), wal(to)).unwrap();
    }
}

/// Shared inputs both engines see, derived from the run so far.
struct Run {
    now_ms: u64,
    queue_ids: Vec<QueueId>,
    /// Every receipt handle issued, with the queue it came from.
    receipts: Vec<(QueueId, String)>,
    revisions: Vec<u64>,
    next_message: u64,
}

impl Run {
    fn queue(&self, index: usize) -> QueueId {
        self.queue_ids.get(index).copied().unwrap_or(QueueId(9_999))
    }

    fn receipt(&self, queue: usize, pick: &Pick) -> String {
        let recent = |handles: Vec<&String>, n: usize| match handles.len() {
            0 => "r1.1.1.1".to_owned(),
            len => handles[len - 1 - n % len.min(8)].clone(),
        };
        let queue = self.queue(queue);
        match pick {
            Pick::Seen(n) => recent(self.receipts.iter().filter(|(q, _)| *q == queue).map(|(_, h)| h).collect(), *n),
            Pick::Foreign(n) => recent(self.receipts.iter().map(|(_, h)| h).collect(), *n),
            Pick::Garbage => "garbage".to_owned(),
        }
    }

    fn expect(&self, pick: &ExpectPick) -> Expect {
        match pick {
            ExpectPick::Any => Expect::Any,
            ExpectPick::Absent => Expect::Absent,
            ExpectPick::Seen(n) if !self.revisions.is_empty() => {
                Expect::Revision(self.revisions[n % self.revisions.len()])
            }
            ExpectPick::Seen(n) => Expect::Revision(*n as u64 % 3 + 1),
        }
    }
}

/// Runs one operation on one engine and describes the result (both engines must agree).
async fn apply<S: weir_store::Store>(store: &S, op: &Op, run: &Run) -> String {
    match op {
        Op::Advance(_) | Op::Crash => String::new(),
        Op::CreateQueue(name) => {
            let kind = if QUEUE_NAMES[*name].ends_with(".fifo") { QueueKind::Fifo } else { QueueKind::Standard };
            format!("{:?}", store.create_queue(QUEUE_NAMES[*name], kind, run.now_ms).await)
        }
        Op::DeleteQueue(q) => format!("{:?}", store.delete_queue(run.queue(*q)).await),
        Op::GetQueue(name) => format!("{:?}", store.get_queue(QUEUE_NAMES[*name]).await),
        Op::ListQueues => format!("{:?}", store.list_queues().await),
        Op::Send { queue, messages } => {
            let batch = messages
                .iter()
                .enumerate()
                .map(|(i, (delay, group, dedup))| {
                    let n = run.next_message + i as u64;
                    NewMessage {
                        message_id: format!("m{n}"),
                        body: Bytes::from(if n.is_multiple_of(7) {
                            Vec::new()
                        } else {
                            format!("body{n}").into_bytes()
                        }),
                        attributes: Bytes::from(format!("attrs{n}")),
                        delay_ms: DELAYS_MS[*delay],
                        group_id: group.map(|g| format!("g{g}")),
                        dedup_id: dedup.map(|d| format!("d{d}")),
                    }
                })
                .collect();
            format!("{:?}", store.send(run.queue(*queue), batch, run.now_ms).await)
        }
        Op::Receive { queue, max, timeout, redrive } => {
            let options = ReceiveOptions {
                max_messages: *max,
                visibility_timeout_ms: TIMEOUTS_MS[*timeout],
                redrive: redrive
                    .map(|(dlq, max_receive_count)| Redrive { dead_letter_queue: run.queue(dlq), max_receive_count }),
            };
            format!("{:?}", store.receive(run.queue(*queue), run.now_ms, options).await)
        }
        Op::Delete { queue, picks } => {
            let handles = picks.iter().map(|p| run.receipt(*queue, p)).collect();
            format!("{:?}", store.delete(run.queue(*queue), handles).await)
        }
        Op::ChangeVisibility { queue, picks } => {
            let changes = picks
                .iter()
                .map(|(p, timeout)| VisibilityChange {
                    receipt_handle: run.receipt(*queue, p),
                    visibility_timeout_ms: TIMEOUTS_MS[*timeout],
                })
                .collect();
            format!("{:?}", store.change_visibility(run.queue(*queue), changes, run.now_ms).await)
        }
        Op::Requeue { queue, pick, delay, new_attributes } => {
            let attributes = new_attributes.then(|| Bytes::from(format!("requeued@{}", run.now_ms)));
            let visible_at = run.now_ms + DELAYS_MS[*delay];
            format!("{:?}", store.requeue(run.queue(*queue), run.receipt(*queue, pick), visible_at, attributes).await)
        }
        Op::Purge(q) => format!("{:?}", store.purge(run.queue(*q)).await),
        Op::Move { source, destination, max } => {
            format!("{:?}", store.move_messages(run.queue(*source), run.queue(*destination), *max, run.now_ms).await)
        }
        Op::Stats(q) => format!("{:?}", store.stats(run.queue(*q), run.now_ms).await),
        Op::NextVisibleAt(q) => format!("{:?}", store.next_visible_at(run.queue(*q)).await),
        Op::Expire { queue, retention } => {
            format!("{:?}", store.expire(run.queue(*queue), run.now_ms, RETENTIONS_MS[*retention]).await)
        }
        Op::CatalogApply(steps) => {
            let ops = steps
                .iter()
                .map(|step| match step {
                    CatalogStep::Put { kind, key, expect } => CatalogOp::Put {
                        kind: KINDS[*kind].into(),
                        key: KEYS[*key].into(),
                        value: Bytes::from(format!("v@{}", run.now_ms)),
                        expect: run.expect(expect),
                    },
                    CatalogStep::Delete { kind, key, expect } => CatalogOp::Delete {
                        kind: KINDS[*kind].into(),
                        key: KEYS[*key].into(),
                        expect: run.expect(expect),
                    },
                    CatalogStep::DeleteByPrefix { kind, prefix } => {
                        CatalogOp::DeleteByPrefix { kind: KINDS[*kind].into(), prefix: PREFIXES[*prefix].into() }
                    }
                })
                .collect();
            format!("{:?}", store.catalog_apply(ops).await)
        }
        Op::CatalogGet { kind, key } => format!("{:?}", store.catalog_get(KINDS[*kind], KEYS[*key]).await),
        Op::CatalogList { kind, prefix } => {
            format!("{:?}", store.catalog_list(KINDS[*kind], PREFIXES[*prefix]).await)
        }
    }
}

/// Everything observable without changing state, for a final comparison.
async fn snapshot<S: weir_store::Store>(store: &S, run: &Run) -> String {
    let mut out = format!("{:?}\n", store.list_queues().await);
    for queue in &run.queue_ids {
        out += &format!("{:?} {:?}\n", store.stats(*queue, run.now_ms).await, store.next_visible_at(*queue).await);
    }
    for kind in KINDS {
        out += &format!("{:?}\n", store.catalog_list(kind, "").await);
    }
    out
}

/// Records what both engines returned that later operations may refer to.
fn learn(run: &mut Run, op: &Op, result: &str) {
    match op {
        Op::Advance(i) => run.now_ms += ADVANCES_MS[*i],
        Op::CreateQueue(_) => {
            if let Some(id) = result.split("id: QueueId(").nth(1).and_then(|rest| rest.split(')').next()) {
                run.queue_ids.push(QueueId(id.parse().unwrap()));
            }
        }
        Op::Send { messages, .. } => run.next_message += messages.len() as u64,
        Op::Receive { queue, .. } => {
            let queue = run.queue(*queue);
            for part in result.split("receipt_handle: \"").skip(1) {
                run.receipts.push((queue, part.split('"').next().unwrap().to_owned()));
            }
        }
        Op::CatalogApply(_) => {
            if let Some(revision) = result.strip_prefix("Ok(").and_then(|rest| rest.strip_suffix(')')) {
                run.revisions.push(revision.parse().unwrap());
            }
        }
        _ => {}
    }
}

fn check_sequence(ops: Vec<Op>) -> Result<(), TestCaseError> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let model = MemoryStore::new();
        let mut sqlite = SqliteUnderTest::new();
        let mut run =
            Run { now_ms: T0, queue_ids: Vec::new(), receipts: Vec::new(), revisions: Vec::new(), next_message: 0 };
        let setup = (0..QUEUE_NAMES.len()).map(Op::CreateQueue);
        for (step, op) in setup.chain(ops).enumerate() {
            let op = &op;
            if let Op::Crash = op {
                sqlite.crash_and_reopen();
                prop_assert_eq!(
                    snapshot(&model, &run).await,
                    snapshot(&sqlite.store, &run).await,
                    "after crash at step {}",
                    step
                );
            }
            let expected = apply(&model, op, &run).await;
            let actual = apply(&sqlite.store, op, &run).await;
            prop_assert_eq!(&expected, &actual, "step {}: {:?}", step, op);
            if std::env::var("MODEL_TRACE").is_ok() {
                eprintln!("{op:?} => {}", &expected[..expected.len().min(300)]);
            }
            learn(&mut run, op, &expected);
        }
        prop_assert_eq!(snapshot(&model, &run).await, snapshot(&sqlite.store, &run).await, "final state");
        prop_assert!(!sqlite.store.is_poisoned());
        Ok(())
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, max_shrink_iters: 2_000, ..ProptestConfig::default() })]

    #[test]
    fn sqlite_engine_matches_the_in_memory_model(ops in prop::collection::vec(op(), 1..80)) {
        check_sequence(ops)?;
    }
}

/// A long scripted FIFO-heavy run, so the group bookkeeping sees deep groups, redrive and
/// crashes in one sequence regardless of what the random cases happen to draw.
#[test]
fn fifo_heavy_sequence_matches_the_model() {
    // Queues 2 and 3 are FIFO (see QUEUE_NAMES); 3 is the dead-letter queue of 2.
    let mut ops = Vec::new();
    for round in 0..40usize {
        // Unique deduplication ids except every fifth round, which resends the round before.
        let dedup_round = if round % 5 == 4 { round - 1 } else { round };
        let messages = (0..4).map(|i| (round % 2 * i % 5, Some((round + i) % 2 + 1), Some(100 + dedup_round * 4 + i)));
        ops.push(Op::Send { queue: 2, messages: messages.collect() });
        ops.push(Op::Receive { queue: 2, max: (round % 4) as u32 + 1, timeout: round % 5, redrive: Some((3, 2)) });
        ops.push(Op::Delete { queue: 2, picks: vec![Pick::Seen(round * 7), Pick::Seen(round * 3 + 1)] });
        ops.push(Op::ChangeVisibility { queue: 2, picks: vec![(Pick::Seen(round * 5), round % 5)] });
        ops.push(Op::Receive { queue: 2, max: 10, timeout: 3, redrive: None });
        ops.push(Op::ChangeVisibility { queue: 2, picks: vec![(Pick::Seen(round % 3), 0)] });
        ops.push(Op::Receive { queue: 2, max: 10, timeout: 2, redrive: Some((3, 3)) });
        ops.push(Op::Requeue {
            queue: 2,
            pick: Pick::Seen(round * 11),
            delay: round % 5,
            new_attributes: round % 2 == 0,
        });
        ops.push(Op::Advance(round % 7));
        ops.push(Op::NextVisibleAt(2));
        ops.push(Op::Stats(2));
        if round % 10 == 9 {
            ops.push(Op::Crash);
            ops.push(Op::Move { source: 3, destination: 2, max: 3 });
            ops.push(Op::Expire { queue: 2, retention: 2 });
        }
    }
    check_sequence(ops).unwrap();
}
