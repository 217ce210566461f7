//! The conformance suite: the behaviour every storage engine must show, as async test cases.
//!
//! Owns: one `pub async fn` per behaviour, each taking a fresh, empty engine, and the
//! [`conformance_tests!`](crate::conformance_tests) macro that turns them into `#[tokio::test]`s
//! in an engine's own test crate. Never: engine internals (durability across crashes is tested
//! by each engine, since only it knows how to crash).
//!
//! Time is whatever the cases pass: they start at [`T0`] and move the clock by hand.
//!
//! ```ignore
//! // tests/conformance.rs of an engine (needs tokio with `macros` and `rt` as a dev-dependency):
//! weir_store::conformance_tests!({
//!     let dir = tempfile::tempdir().unwrap();
//!     let store = MyEngine::open(dir.path().join("db")).unwrap();
//!     (store, dir) // the second element lives as long as the test
//! });
//! ```

use bytes::Bytes;

use crate::Store;
use crate::catalog::{CatalogOp, Expect};
use crate::error::{CatalogError, QueueError, ReceiptError};
use crate::queue::{
    DeleteOutcome, FIFO_DEDUPLICATION_WINDOW_MS, NewMessage, QueueId, QueueKind, QueueStats, ReceiveOptions,
    ReceivedMessage, Redrive, SendOutcome, VisibilityChange,
};

/// The cases' starting time (epoch milliseconds, 2023-11-14).
pub const T0: u64 = 1_700_000_000_000;

/// Generates one `#[tokio::test]` per conformance case. `$make` is an expression evaluated
/// afresh for each test, yielding `(engine, guard)`; the guard (a temporary directory, `()`)
/// lives until the test ends.
#[macro_export]
macro_rules! conformance_tests {
    ($make:expr) => {
        $crate::conformance_tests!(@cases $make;
            catalog_put_get_list_and_revisions,
            catalog_compare_and_set,
            catalog_batches_are_atomic_and_sequential,
            queues_are_created_listed_and_deleted,
            standard_send_receive_delete,
            visibility_timeout_and_stale_receipts,
            change_visibility,
            delayed_messages,
            fifo_order_and_one_batch_in_flight_per_group,
            fifo_deduplication_window,
            fifo_requires_group_and_deduplication_ids,
            redrive_to_dead_letter_queue,
            fifo_redrive_keeps_group_order,
            requeue_reschedules_with_new_attributes,
            purge_removes_everything,
            move_messages_between_queues,
            stats_and_next_visible_at,
            retention_expires_old_messages,
            watch_fires_on_changes_and_closes_on_delete,
            large_batches_and_bodies,
        );
    };
    (@cases $make:expr; $($case:ident),* $(,)?) => {
        $(
            #[::tokio::test]
            async fn $case() {
                let fixture = $make;
                $crate::conformance::$case(&fixture.0).await;
            }
        )*
    };
}

fn bytes(text: &str) -> Bytes {
    Bytes::copy_from_slice(text.as_bytes())
}

/// A standard-queue message with id `id` and body `body:<id>`.
pub fn message(id: &str) -> NewMessage {
    NewMessage {
        message_id: id.to_owned(),
        body: bytes(&format!("body:{id}")),
        attributes: bytes(&format!("attrs:{id}")),
        delay_ms: 0,
        group_id: None,
        dedup_id: None,
    }
}

/// A FIFO message with id `id` in `group`, deduplicated by `dedup`.
pub fn fifo_message(id: &str, group: &str, dedup: &str) -> NewMessage {
    NewMessage { group_id: Some(group.to_owned()), dedup_id: Some(dedup.to_owned()), ..message(id) }
}

fn options(max_messages: u32, visibility_timeout_ms: u64) -> ReceiveOptions {
    ReceiveOptions { max_messages, visibility_timeout_ms, redrive: None }
}

fn ids(received: &[ReceivedMessage]) -> Vec<&str> {
    received.iter().map(|r| r.message.message_id.as_str()).collect()
}

fn handles(received: &[ReceivedMessage]) -> Vec<String> {
    received.iter().map(|r| r.receipt_handle.clone()).collect()
}

async fn queue<S: Store>(store: &S, name: &str, kind: QueueKind) -> QueueId {
    store.create_queue(name, kind, T0).await.expect("create queue").id
}

async fn send_all<S: Store>(store: &S, queue: QueueId, messages: Vec<NewMessage>, now_ms: u64) -> Vec<SendOutcome> {
    store.send(queue, messages, now_ms).await.expect("send")
}

async fn receive<S: Store>(
    store: &S,
    queue: QueueId,
    now_ms: u64,
    max: u32,
    visibility_ms: u64,
) -> Vec<ReceivedMessage> {
    store.receive(queue, now_ms, options(max, visibility_ms)).await.expect("receive")
}

async fn delete_all<S: Store>(store: &S, queue: QueueId, received: &[ReceivedMessage]) {
    let outcomes = store.delete(queue, handles(received)).await.expect("delete");
    assert!(outcomes.iter().all(|o| *o == Ok(DeleteOutcome::Deleted)), "{outcomes:?}");
}

fn put(kind: &str, key: &str, value: &str, expect: Expect) -> CatalogOp {
    CatalogOp::Put { kind: kind.to_owned(), key: key.to_owned(), value: bytes(value), expect }
}

fn delete(kind: &str, key: &str, expect: Expect) -> CatalogOp {
    CatalogOp::Delete { kind: kind.to_owned(), key: key.to_owned(), expect }
}

pub async fn catalog_put_get_list_and_revisions<S: Store>(store: &S) {
    assert_eq!(store.catalog_get("function", "a").await.unwrap(), None);
    let first = store
        .catalog_apply(vec![put("function", "b", "B1", Expect::Any), put("function", "a", "A1", Expect::Any)])
        .await
        .unwrap();
    assert!(first > 0);
    let a = store.catalog_get("function", "a").await.unwrap().expect("a stored");
    assert_eq!((a.kind.as_str(), a.key.as_str(), &a.value[..], a.revision), ("function", "a", &b"A1"[..], first));

    let second = store.catalog_apply(vec![put("function", "a", "A2", Expect::Any)]).await.unwrap();
    assert!(second > first, "revisions increase: {first} then {second}");
    assert_eq!(store.catalog_get("function", "a").await.unwrap().unwrap().revision, second);
    assert_eq!(store.catalog_get("function", "b").await.unwrap().unwrap().revision, first);

    store
        .catalog_apply(vec![
            put("alias", "a/live", "x", Expect::Any),
            put("function", "ab", "AB", Expect::Any),
            put("function", "b/1", "B/1", Expect::Any),
        ])
        .await
        .unwrap();
    let keys = |entries: Vec<crate::CatalogEntry>| entries.into_iter().map(|e| e.key).collect::<Vec<_>>();
    assert_eq!(keys(store.catalog_list("function", "").await.unwrap()), ["a", "ab", "b", "b/1"]);
    assert_eq!(keys(store.catalog_list("function", "a").await.unwrap()), ["a", "ab"]);
    assert_eq!(keys(store.catalog_list("function", "b/").await.unwrap()), ["b/1"]);
    assert_eq!(keys(store.catalog_list("alias", "").await.unwrap()), ["a/live"]);
    assert!(store.catalog_list("version", "").await.unwrap().is_empty());

    // Deleting an absent entry without a precondition is not an error.
    store.catalog_apply(vec![delete("function", "zzz", Expect::Any)]).await.unwrap();
    store.catalog_apply(vec![delete("function", "a", Expect::Any)]).await.unwrap();
    assert_eq!(store.catalog_get("function", "a").await.unwrap(), None);
}

pub async fn catalog_compare_and_set<S: Store>(store: &S) {
    let created = store.catalog_apply(vec![put("function", "f", "v1", Expect::Absent)]).await.unwrap();
    let again = store.catalog_apply(vec![put("function", "f", "v1-again", Expect::Absent)]).await;
    match again {
        Err(CatalogError::Conflict { op_index: 0, kind, key, expected: Expect::Absent, actual }) => {
            assert_eq!((kind.as_str(), key.as_str(), actual), ("function", "f", Some(created)));
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    let updated = store.catalog_apply(vec![put("function", "f", "v2", Expect::Revision(created))]).await.unwrap();
    // The old revision no longer matches.
    let stale = store.catalog_apply(vec![put("function", "f", "v3", Expect::Revision(created))]).await;
    assert!(matches!(stale, Err(CatalogError::Conflict { actual: Some(a), .. }) if a == updated), "{stale:?}");
    let stale_delete = store.catalog_apply(vec![delete("function", "f", Expect::Revision(created))]).await;
    assert!(matches!(stale_delete, Err(CatalogError::Conflict { .. })), "{stale_delete:?}");
    assert_eq!(&store.catalog_get("function", "f").await.unwrap().unwrap().value[..], b"v2");

    store.catalog_apply(vec![delete("function", "f", Expect::Revision(updated))]).await.unwrap();
    let missing = store.catalog_apply(vec![delete("function", "f", Expect::Revision(updated))]).await;
    assert!(matches!(missing, Err(CatalogError::Conflict { actual: None, .. })), "{missing:?}");

    // Recreated after a delete: a fresh revision, so a compare-and-set holding the revision of
    // the deleted entry cannot succeed (no ABA).
    let recreated = store.catalog_apply(vec![put("function", "f", "v4", Expect::Absent)]).await.unwrap();
    assert!(recreated > updated);
    let aba = store.catalog_apply(vec![put("function", "f", "v5", Expect::Revision(updated))]).await;
    assert!(matches!(aba, Err(CatalogError::Conflict { .. })), "{aba:?}");
}

pub async fn catalog_batches_are_atomic_and_sequential<S: Store>(store: &S) {
    let base = store
        .catalog_apply(vec![
            put("version", "f/1", "one", Expect::Any),
            put("version", "f/2", "two", Expect::Any),
            put("version", "g/1", "g-one", Expect::Any),
        ])
        .await
        .unwrap();
    // The third operation fails: nothing of the batch is applied.
    let refused = store
        .catalog_apply(vec![
            put("function", "new", "x", Expect::Absent),
            CatalogOp::DeleteByPrefix { kind: "version".into(), prefix: "f/".into() },
            put("version", "g/1", "changed", Expect::Revision(base + 100)),
        ])
        .await;
    assert!(matches!(refused, Err(CatalogError::Conflict { op_index: 2, .. })), "{refused:?}");
    assert_eq!(store.catalog_get("function", "new").await.unwrap(), None);
    assert_eq!(store.catalog_list("version", "").await.unwrap().len(), 3);

    // Preconditions see the operations before them in the same batch.
    let applied = store
        .catalog_apply(vec![
            CatalogOp::DeleteByPrefix { kind: "version".into(), prefix: "f/".into() },
            put("version", "f/1", "reborn", Expect::Absent),
            delete("version", "g/1", Expect::Revision(base)),
            put("function", "f", "F", Expect::Absent),
        ])
        .await
        .unwrap();
    let versions = store.catalog_list("version", "").await.unwrap();
    assert_eq!(versions.len(), 1);
    assert_eq!(
        (versions[0].key.as_str(), &versions[0].value[..], versions[0].revision),
        ("f/1", &b"reborn"[..], applied)
    );
    assert_eq!(store.catalog_get("function", "f").await.unwrap().unwrap().revision, applied);

    // A put then a compare-and-set against the batch's own, not yet known, revision fails.
    let own = store
        .catalog_apply(vec![put("function", "h", "1", Expect::Any), put("function", "h", "2", Expect::Revision(base))])
        .await;
    assert!(matches!(own, Err(CatalogError::Conflict { op_index: 1, .. })), "{own:?}");
    assert_eq!(store.catalog_get("function", "h").await.unwrap(), None);
}

pub async fn queues_are_created_listed_and_deleted<S: Store>(store: &S) {
    let b = store.create_queue("b-queue", QueueKind::Standard, T0).await.unwrap();
    let a = store.create_queue("a-queue.fifo", QueueKind::Fifo, T0 + 1).await.unwrap();
    assert_ne!(a.id, b.id);
    assert_eq!((a.name.as_str(), a.kind, a.created_at_ms), ("a-queue.fifo", QueueKind::Fifo, T0 + 1));
    assert!(matches!(
        store.create_queue("b-queue", QueueKind::Fifo, T0).await,
        Err(QueueError::QueueAlreadyExists(name)) if name == "b-queue"
    ));
    assert_eq!(store.list_queues().await.unwrap(), vec![a.clone(), b.clone()]);
    assert_eq!(store.get_queue("b-queue").await.unwrap(), Some(b.clone()));
    assert_eq!(store.get_queue("nope").await.unwrap(), None);

    send_all(store, b.id, vec![message("m1"), message("m2")], T0).await;
    store.delete_queue(b.id).await.unwrap();
    assert!(matches!(store.delete_queue(b.id).await, Err(QueueError::QueueDoesNotExist(id)) if id == b.id));
    assert!(matches!(store.send(b.id, vec![message("m3")], T0).await, Err(QueueError::QueueDoesNotExist(_))));
    assert!(matches!(store.receive(b.id, T0, options(10, 1000)).await, Err(QueueError::QueueDoesNotExist(_))));
    assert!(matches!(store.stats(b.id, T0).await, Err(QueueError::QueueDoesNotExist(_))));
    assert!(matches!(store.purge(b.id).await, Err(QueueError::QueueDoesNotExist(_))));

    // The name is free again, the id is not reused, and the old messages are gone.
    let b2 = store.create_queue("b-queue", QueueKind::Standard, T0).await.unwrap();
    assert!(b2.id != b.id && b2.id != a.id);
    assert!(receive(store, b2.id, T0, 10, 1000).await.is_empty());
    assert_eq!(store.list_queues().await.unwrap(), vec![a, b2]);
}

pub async fn standard_send_receive_delete<S: Store>(store: &S) {
    let q = queue(store, "orders", QueueKind::Standard).await;
    let other = queue(store, "other", QueueKind::Standard).await;
    let outcomes = send_all(store, q, vec![message("m1"), message("m2"), message("m3")], T0).await;
    let seqs: Vec<u64> = outcomes
        .iter()
        .map(|o| match o {
            SendOutcome::Sent { seq } => *seq,
            other => panic!("{other:?}"),
        })
        .collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "seqs increase: {seqs:?}");

    let first = receive(store, q, T0 + 10, 2, 30_000).await;
    assert_eq!(ids(&first), ["m1", "m2"]);
    let m1 = &first[0].message;
    assert_eq!((&m1.body[..], &m1.attributes[..]), (&b"body:m1"[..], &b"attrs:m1"[..]));
    assert_eq!((m1.seq, m1.sent_at_ms, m1.receive_count, m1.first_receive_at_ms), (seqs[0], T0, 1, Some(T0 + 10)));
    assert_eq!((m1.group_id.as_deref(), m1.dedup_id.as_deref()), (None, None));
    assert_ne!(first[0].receipt_handle, first[1].receipt_handle);

    let rest = receive(store, q, T0 + 20, 10, 30_000).await;
    assert_eq!(ids(&rest), ["m3"]);
    assert!(receive(store, q, T0 + 30, 10, 30_000).await.is_empty());

    let outcomes = store
        .delete(
            q,
            vec![
                first[0].receipt_handle.clone(),
                first[0].receipt_handle.clone(),
                "not a receipt handle".to_owned(),
                first[1].receipt_handle.clone(),
            ],
        )
        .await
        .unwrap();
    assert_eq!(
        outcomes,
        [
            Ok(DeleteOutcome::Deleted),
            Ok(DeleteOutcome::AlreadyGone),
            Err(ReceiptError::ReceiptHandleInvalid),
            Ok(DeleteOutcome::Deleted)
        ]
    );
    // A handle from another queue is invalid there and deletes nothing.
    let foreign = store.delete(other, vec![rest[0].receipt_handle.clone()]).await.unwrap();
    assert_eq!(foreign, [Err(ReceiptError::ReceiptHandleInvalid)]);
    delete_all(store, q, &rest).await;
    // Nothing comes back, not even after every visibility timeout.
    assert!(receive(store, q, T0 + 3_600_000, 10, 30_000).await.is_empty());
    assert_eq!(store.stats(q, T0 + 3_600_000).await.unwrap(), QueueStats::default());
}

pub async fn visibility_timeout_and_stale_receipts<S: Store>(store: &S) {
    let q = queue(store, "q", QueueKind::Standard).await;
    send_all(store, q, vec![message("m1")], T0).await;
    let first = receive(store, q, T0, 1, 1_000).await;
    assert_eq!(ids(&first), ["m1"]);
    assert!(receive(store, q, T0 + 999, 1, 1_000).await.is_empty(), "in flight until the timeout ends");
    let second = receive(store, q, T0 + 1_000, 1, 1_000).await;
    assert_eq!(ids(&second), ["m1"], "visible again when the timeout ends");
    assert_eq!(second[0].message.receive_count, 2);
    assert_eq!(second[0].message.first_receive_at_ms, Some(T0), "first receive time is kept");
    assert_ne!(first[0].receipt_handle, second[0].receipt_handle);

    // The first consumer's handle is stale: its delete succeeds but deletes nothing.
    assert_eq!(store.delete(q, handles(&first)).await.unwrap(), [Ok(DeleteOutcome::StaleReceipt)]);
    assert_eq!(store.stats(q, T0 + 1_500).await.unwrap().in_flight, 1);
    assert_eq!(store.delete(q, handles(&second)).await.unwrap(), [Ok(DeleteOutcome::Deleted)]);
    assert_eq!(store.delete(q, handles(&first)).await.unwrap(), [Ok(DeleteOutcome::AlreadyGone)]);
}

pub async fn change_visibility<S: Store>(store: &S) {
    let q = queue(store, "q", QueueKind::Standard).await;
    send_all(store, q, vec![message("m1"), message("m2"), message("m3")], T0).await;
    let received = receive(store, q, T0, 3, 1_000).await;
    let change = |r: &ReceivedMessage, visibility_timeout_ms| VisibilityChange {
        receipt_handle: r.receipt_handle.clone(),
        visibility_timeout_ms,
    };
    let outcomes = store
        .change_visibility(
            q,
            vec![
                change(&received[0], 10_000), // extend
                change(&received[1], 0),      // release now
                VisibilityChange { receipt_handle: "garbage".into(), visibility_timeout_ms: 5 },
            ],
            T0 + 500,
        )
        .await
        .unwrap();
    assert_eq!(outcomes, [Ok(()), Ok(()), Err(ReceiptError::ReceiptHandleInvalid)]);
    assert_eq!(ids(&receive(store, q, T0 + 500, 10, 60_000).await), ["m2"]);
    // m3's timeout ended at T0 + 1000; m1 was extended to T0 + 10500.
    assert_eq!(ids(&receive(store, q, T0 + 1_000, 10, 60_000).await), ["m3"]);
    assert!(receive(store, q, T0 + 10_499, 10, 60_000).await.is_empty());
    // m1 is no longer in flight at T0 + 10500: changing it is refused.
    let late = store.change_visibility(q, vec![change(&received[0], 1_000)], T0 + 10_500).await.unwrap();
    assert_eq!(late, [Err(ReceiptError::MessageNotInflight)]);
    let again = receive(store, q, T0 + 10_500, 10, 60_000).await;
    assert_eq!(ids(&again), ["m1"]);
    // The old handle is stale now.
    let stale = store.change_visibility(q, vec![change(&received[0], 1_000)], T0 + 10_600).await.unwrap();
    assert_eq!(stale, [Err(ReceiptError::MessageNotInflight)]);
    // A deleted message is not in flight either.
    delete_all(store, q, &again).await;
    let gone = store.change_visibility(q, vec![change(&again[0], 1_000)], T0 + 10_600).await.unwrap();
    assert_eq!(gone, [Err(ReceiptError::MessageNotInflight)]);
}

pub async fn delayed_messages<S: Store>(store: &S) {
    let q = queue(store, "q", QueueKind::Standard).await;
    let delayed = NewMessage { delay_ms: 5_000, ..message("late") };
    send_all(store, q, vec![delayed, message("now")], T0).await;
    let stats = store.stats(q, T0).await.unwrap();
    assert_eq!((stats.visible, stats.in_flight, stats.delayed), (1, 0, 1));
    assert_eq!(ids(&receive(store, q, T0, 10, 60_000).await), ["now"]);
    assert!(receive(store, q, T0 + 4_999, 10, 60_000).await.is_empty());
    let late = receive(store, q, T0 + 5_000, 10, 60_000).await;
    assert_eq!(ids(&late), ["late"]);
    assert_eq!(late[0].message.sent_at_ms, T0);
}

pub async fn fifo_order_and_one_batch_in_flight_per_group<S: Store>(store: &S) {
    let q = queue(store, "q.fifo", QueueKind::Fifo).await;
    send_all(
        store,
        q,
        vec![
            fifo_message("a1", "A", "a1"),
            fifo_message("b1", "B", "b1"),
            fifo_message("a2", "A", "a2"),
            fifo_message("a3", "A", "a3"),
            fifo_message("b2", "B", "b2"),
        ],
        T0,
    )
    .await;
    // Several groups in one batch, each in order; group A's visible prefix comes first.
    let first = receive(store, q, T0, 3, 1_000).await;
    assert_eq!(ids(&first), ["a1", "a2", "a3"]);
    assert_eq!(first[0].message.group_id.as_deref(), Some("A"));
    // Group A is in flight: it is skipped entirely; B is served.
    let second = receive(store, q, T0, 1, 1_000).await;
    assert_eq!(ids(&second), ["b1"]);
    // B has b1 in flight: b2 waits even though it is visible.
    assert!(receive(store, q, T0, 10, 1_000).await.is_empty());
    assert_eq!(store.stats(q, T0).await.unwrap().visible, 1, "b2 is visible but its group is blocked");

    // Deleting a1 and a2 leaves a3 in flight: group A stays blocked.
    delete_all(store, q, &first[..2]).await;
    assert!(receive(store, q, T0 + 10, 10, 1_000).await.is_empty());
    delete_all(store, q, &second).await;
    let b2 = receive(store, q, T0 + 20, 10, 1_000).await;
    assert_eq!(ids(&b2), ["b2"]);
    delete_all(store, q, &b2).await;

    // When a3's timeout ends it comes back, and nothing of A is delivered out of order.
    send_all(store, q, vec![fifo_message("a4", "A", "a4")], T0 + 30).await;
    let retry = receive(store, q, T0 + 1_000, 10, 1_000).await;
    assert_eq!(ids(&retry), ["a3", "a4"]);
    assert_eq!(retry[0].message.receive_count, 2);
    // An in-flight message later in a group blocks the group even when an earlier message is
    // visible again: release a3 only.
    let release = store
        .change_visibility(
            q,
            vec![VisibilityChange { receipt_handle: retry[0].receipt_handle.clone(), visibility_timeout_ms: 0 }],
            T0 + 1_001,
        )
        .await
        .unwrap();
    assert_eq!(release, [Ok(())]);
    assert!(receive(store, q, T0 + 1_001, 10, 1_000).await.is_empty(), "a4 is still in flight");
    assert_eq!(ids(&receive(store, q, T0 + 2_000, 10, 1_000).await), ["a3", "a4"]);
}

pub async fn fifo_deduplication_window<S: Store>(store: &S) {
    let q = queue(store, "q.fifo", QueueKind::Fifo).await;
    let outcomes = send_all(
        store,
        q,
        vec![fifo_message("m1", "G", "d1"), fifo_message("m1-dup-in-batch", "G", "d1"), fifo_message("m2", "G", "d2")],
        T0,
    )
    .await;
    assert!(matches!(outcomes[0], SendOutcome::Sent { .. }));
    assert_eq!(outcomes[1], SendOutcome::Duplicate { original_message_id: "m1".into() });
    assert!(matches!(outcomes[2], SendOutcome::Sent { .. }));

    // Still a duplicate after the original was received and deleted, until 5 minutes after
    // the FIRST send (a duplicate does not extend the window).
    let received = receive(store, q, T0, 10, 1_000).await;
    assert_eq!(ids(&received), ["m1", "m2"]);
    delete_all(store, q, &received).await;
    let window_end = T0 + FIFO_DEDUPLICATION_WINDOW_MS;
    let dup = send_all(store, q, vec![fifo_message("m1-again", "G", "d1")], window_end - 1).await;
    assert_eq!(dup, [SendOutcome::Duplicate { original_message_id: "m1".into() }]);
    assert!(receive(store, q, window_end - 1, 10, 1_000).await.is_empty());
    let accepted = send_all(store, q, vec![fifo_message("m1-later", "G", "d1")], window_end).await;
    assert!(matches!(accepted[0], SendOutcome::Sent { .. }));
    let dup_of_new = send_all(store, q, vec![fifo_message("x", "G", "d1")], window_end + 1).await;
    assert_eq!(dup_of_new, [SendOutcome::Duplicate { original_message_id: "m1-later".into() }]);
    // Deduplication is per queue.
    let other = queue(store, "other.fifo", QueueKind::Fifo).await;
    let elsewhere = send_all(store, other, vec![fifo_message("y", "G", "d1")], window_end + 1).await;
    assert!(matches!(elsewhere[0], SendOutcome::Sent { .. }));
    // Retention housekeeping drops expired deduplication records but keeps live ones.
    store.expire(q, window_end + 2, 14 * 86_400_000).await.unwrap();
    let still = send_all(store, q, vec![fifo_message("z", "G", "d1")], window_end + 3).await;
    assert_eq!(still, [SendOutcome::Duplicate { original_message_id: "m1-later".into() }]);
}

pub async fn fifo_requires_group_and_deduplication_ids<S: Store>(store: &S) {
    let q = queue(store, "q.fifo", QueueKind::Fifo).await;
    let no_group = NewMessage { group_id: None, ..fifo_message("b", "G", "b") };
    let refused = store.send(q, vec![fifo_message("a", "G", "a"), no_group], T0).await;
    assert!(matches!(refused, Err(QueueError::FifoMessageWithoutGroupId { index: 1 })), "{refused:?}");
    let no_dedup = NewMessage { dedup_id: None, ..fifo_message("c", "G", "c") };
    let refused = store.send(q, vec![no_dedup], T0).await;
    assert!(matches!(refused, Err(QueueError::FifoMessageWithoutDeduplicationId { index: 0 })), "{refused:?}");
    assert!(receive(store, q, T0, 10, 1_000).await.is_empty(), "a refused batch enqueues nothing");
    // Standard queues keep group and deduplication ids as given.
    let s = queue(store, "s", QueueKind::Standard).await;
    send_all(store, s, vec![fifo_message("d", "G", "D")], T0).await;
    let got = receive(store, s, T0, 1, 1_000).await;
    assert_eq!((got[0].message.group_id.as_deref(), got[0].message.dedup_id.as_deref()), (Some("G"), Some("D")));
}

pub async fn redrive_to_dead_letter_queue<S: Store>(store: &S) {
    let q = queue(store, "q", QueueKind::Standard).await;
    let dlq = queue(store, "dlq", QueueKind::Standard).await;
    let redrive = Some(Redrive { dead_letter_queue: dlq, max_receive_count: 2 });
    let options = ReceiveOptions { max_messages: 10, visibility_timeout_ms: 100, redrive };
    let receive_with_redrive = |now_ms| store.receive(q, now_ms, options);
    send_all(store, q, vec![message("poison"), message("fine")], T0).await;
    assert_eq!(ids(&receive_with_redrive(T0).await.unwrap()), ["poison", "fine"]);
    let second = receive_with_redrive(T0 + 100).await.unwrap();
    assert_eq!(ids(&second), ["poison", "fine"]);
    delete_all(store, q, &second[1..]).await;
    // The third receive finds "poison" already received twice: it goes to the DLQ instead,
    // and the receive says so.
    let third = store.receive_counted(q, T0 + 200, options).await.unwrap();
    assert_eq!((third.messages.len(), third.redriven), (0, 1));
    let stats = store.stats(q, T0 + 200).await.unwrap();
    assert_eq!(stats, QueueStats::default());
    let dead = receive(store, dlq, T0 + 200, 10, 100).await;
    assert_eq!(ids(&dead), ["poison"]);
    let m = &dead[0].message;
    assert_eq!((&m.body[..], &m.attributes[..], m.sent_at_ms), (&b"body:poison"[..], &b"attrs:poison"[..], T0));
    assert_eq!((m.receive_count, m.first_receive_at_ms), (1, Some(T0 + 200)), "receive count restarts in the DLQ");
    // The source's old handles no longer delete anything.
    assert_eq!(store.delete(q, handles(&second[..1])).await.unwrap(), [Ok(DeleteOutcome::AlreadyGone)]);

    // Redrive needs an existing destination other than the source.
    let missing = ReceiveOptions {
        max_messages: 1,
        visibility_timeout_ms: 1,
        redrive: Some(Redrive { dead_letter_queue: QueueId(999_999), max_receive_count: 1 }),
    };
    assert!(matches!(store.receive(q, T0, missing).await, Err(QueueError::DestinationQueueDoesNotExist(_))));
    let itself = ReceiveOptions { redrive: Some(Redrive { dead_letter_queue: q, max_receive_count: 1 }), ..missing };
    assert!(matches!(store.receive(q, T0, itself).await, Err(QueueError::DestinationIsSource)));
}

pub async fn fifo_redrive_keeps_group_order<S: Store>(store: &S) {
    let q = queue(store, "q.fifo", QueueKind::Fifo).await;
    let dlq = queue(store, "dlq.fifo", QueueKind::Fifo).await;
    let redrive = Some(Redrive { dead_letter_queue: dlq, max_receive_count: 1 });
    let opts = ReceiveOptions { max_messages: 10, visibility_timeout_ms: 100, redrive };
    send_all(store, q, vec![fifo_message("a1", "A", "a1"), fifo_message("a2", "A", "a2")], T0).await;
    let first = store.receive(q, T0, ReceiveOptions { max_messages: 1, ..opts }).await.unwrap();
    assert_eq!(ids(&first), ["a1"]);
    // a1 reached the maximum: it moves to the DLQ and a2 is delivered in the same receive.
    let second = store.receive(q, T0 + 100, opts).await.unwrap();
    assert_eq!(ids(&second), ["a2"]);
    let dead = receive(store, dlq, T0 + 100, 10, 100).await;
    assert_eq!(ids(&dead), ["a1"]);
    assert_eq!(dead[0].message.group_id.as_deref(), Some("A"));
}

pub async fn requeue_reschedules_with_new_attributes<S: Store>(store: &S) {
    let q = queue(store, "async:fn", QueueKind::Standard).await;
    send_all(store, q, vec![message("invoke-1")], T0).await;
    let first = receive(store, q, T0, 1, 900_000).await;
    let handle = first[0].receipt_handle.clone();
    let outcome = store.requeue(q, handle.clone(), T0 + 60_000, Some(bytes("attempt=2"))).await.unwrap();
    assert_eq!(outcome, Ok(()));
    let stats = store.stats(q, T0 + 1).await.unwrap();
    assert_eq!(
        (stats.visible, stats.in_flight, stats.delayed),
        (0, 0, 1),
        "a requeued message is delayed, not in flight"
    );
    assert_eq!(store.next_visible_at(q).await.unwrap(), Some(T0 + 60_000));
    assert!(receive(store, q, T0 + 59_999, 1, 900_000).await.is_empty());
    let retry = receive(store, q, T0 + 60_000, 1, 900_000).await;
    assert_eq!(ids(&retry), ["invoke-1"]);
    assert_eq!(&retry[0].message.attributes[..], b"attempt=2");
    assert_eq!(&retry[0].message.body[..], b"body:invoke-1");
    assert_eq!(retry[0].message.receive_count, 2);
    // The first handle is stale now; a requeue without new attributes keeps them.
    assert_eq!(store.requeue(q, handle, T0, None).await.unwrap(), Err(ReceiptError::MessageNotInflight));
    assert_eq!(store.requeue(q, "bogus".into(), T0, None).await.unwrap(), Err(ReceiptError::ReceiptHandleInvalid));
    assert_eq!(store.requeue(q, retry[0].receipt_handle.clone(), T0 + 70_000, None).await.unwrap(), Ok(()));
    let third = receive(store, q, T0 + 70_000, 1, 900_000).await;
    assert_eq!(&third[0].message.attributes[..], b"attempt=2");
    delete_all(store, q, &third).await;
    assert_eq!(
        store.requeue(q, third[0].receipt_handle.clone(), T0, None).await.unwrap(),
        Err(ReceiptError::MessageNotInflight)
    );
}

pub async fn purge_removes_everything<S: Store>(store: &S) {
    let q = queue(store, "q", QueueKind::Standard).await;
    let other = queue(store, "other", QueueKind::Standard).await;
    send_all(store, q, vec![message("a"), message("b"), NewMessage { delay_ms: 10_000, ..message("c") }], T0).await;
    send_all(store, other, vec![message("keep")], T0).await;
    let inflight = receive(store, q, T0, 1, 10_000).await;
    assert_eq!(store.purge(q).await.unwrap(), 3);
    assert!(receive(store, q, T0 + 1_000_000, 10, 1).await.is_empty());
    assert_eq!(store.delete(q, handles(&inflight)).await.unwrap(), [Ok(DeleteOutcome::AlreadyGone)]);
    assert_eq!(ids(&receive(store, other, T0, 10, 1).await), ["keep"]);
    assert_eq!(store.purge(q).await.unwrap(), 0);
}

pub async fn move_messages_between_queues<S: Store>(store: &S) {
    let dlq = queue(store, "dlq", QueueKind::Standard).await;
    let source = queue(store, "source", QueueKind::Standard).await;
    send_all(store, dlq, vec![message("d1"), message("d2"), message("d3"), message("d4")], T0).await;
    let inflight = receive(store, dlq, T0 + 1, 1, 10_000).await; // d1 stays in flight
    assert_eq!(store.move_messages(dlq, source, 2, T0 + 2).await.unwrap(), 2);
    assert_eq!(store.move_messages(dlq, source, 10, T0 + 3).await.unwrap(), 1, "in-flight messages stay");
    let moved = receive(store, source, T0 + 3, 10, 1_000).await;
    assert_eq!(ids(&moved), ["d2", "d3", "d4"]);
    assert!(moved.iter().all(|r| r.message.receive_count == 1 && r.message.sent_at_ms == T0));
    assert_eq!(store.delete(dlq, handles(&inflight)).await.unwrap(), [Ok(DeleteOutcome::Deleted)]);
    assert!(matches!(store.move_messages(dlq, dlq, 1, T0).await, Err(QueueError::DestinationIsSource)));
    assert!(matches!(
        store.move_messages(dlq, QueueId(777_777), 1, T0).await,
        Err(QueueError::DestinationQueueDoesNotExist(_))
    ));
    assert!(matches!(store.move_messages(QueueId(777_777), dlq, 1, T0).await, Err(QueueError::QueueDoesNotExist(_))));
}

pub async fn stats_and_next_visible_at<S: Store>(store: &S) {
    let q = queue(store, "q", QueueKind::Standard).await;
    assert_eq!(store.next_visible_at(q).await.unwrap(), None);
    send_all(store, q, vec![message("a"), message("b"), NewMessage { delay_ms: 9_000, ..message("c") }], T0 + 5).await;
    send_all(store, q, vec![message("d")], T0 + 7).await;
    assert_eq!(store.next_visible_at(q).await.unwrap(), Some(T0 + 5));
    let taken = receive(store, q, T0 + 10, 2, 3_000).await;
    assert_eq!(ids(&taken), ["a", "b"]);
    let stats = store.stats(q, T0 + 10).await.unwrap();
    assert_eq!(stats, QueueStats { visible: 1, in_flight: 2, delayed: 1, oldest_sent_at_ms: Some(T0 + 5) });
    assert_eq!(store.next_visible_at(q).await.unwrap(), Some(T0 + 7), "d is visible");
    receive(store, q, T0 + 10, 1, 3_000).await;
    assert_eq!(store.next_visible_at(q).await.unwrap(), Some(T0 + 3_010), "the in-flight messages come back first");
    let later = store.stats(q, T0 + 3_010).await.unwrap();
    assert_eq!(later, QueueStats { visible: 3, in_flight: 0, delayed: 1, oldest_sent_at_ms: Some(T0 + 5) });

    let f = queue(store, "f.fifo", QueueKind::Fifo).await;
    send_all(store, f, vec![fifo_message("a1", "A", "1"), fifo_message("a2", "A", "2")], T0).await;
    receive(store, f, T0, 1, 4_000).await;
    // a2 is visible, but its group is blocked until a1's timeout ends.
    assert_eq!(store.next_visible_at(f).await.unwrap(), Some(T0 + 4_000));
}

pub async fn retention_expires_old_messages<S: Store>(store: &S) {
    let q = queue(store, "q", QueueKind::Standard).await;
    send_all(store, q, vec![message("old")], T0).await;
    send_all(store, q, vec![message("new")], T0 + 1_000).await;
    receive(store, q, T0 + 1_000, 1, 60_000).await; // "old" is in flight: it expires anyway
    assert_eq!(store.expire(q, T0 + 999, 1_000).await.unwrap(), 0, "old is 999 ms old: kept");
    assert_eq!(store.expire(q, T0 + 1_000, 1_000).await.unwrap(), 1, "old is 1000 ms old: expired");
    assert_eq!(store.stats(q, T0 + 1_000).await.unwrap().oldest_sent_at_ms, Some(T0 + 1_000));
    assert_eq!(ids(&receive(store, q, T0 + 100_000, 10, 1).await), ["new"]);
    assert_eq!(store.expire(q, T0 + 2_000, 0).await.unwrap(), 1, "zero retention expires everything sent by now");
}

pub async fn watch_fires_on_changes_and_closes_on_delete<S: Store>(store: &S) {
    let q = queue(store, "q", QueueKind::Standard).await;
    let mut watch = store.watch(q);
    watch.mark_seen();
    assert!(!watch.has_changed());
    send_all(store, q, vec![message("a")], T0).await;
    assert!(watch.has_changed(), "a committed send fires the watch");
    assert!(watch.changed().await);
    watch.mark_seen();
    let received = receive(store, q, T0, 1, 1_000).await;
    assert!(!watch.has_changed(), "a receive alone makes nothing receivable sooner");
    store.requeue(q, received[0].receipt_handle.clone(), T0 + 5, None).await.unwrap().unwrap();
    assert!(watch.has_changed(), "a requeue fires the watch");
    watch.mark_seen();
    store.delete_queue(q).await.unwrap();
    assert!(!watch.changed().await, "deleting the queue closes its watches");
}

pub async fn large_batches_and_bodies<S: Store>(store: &S) {
    let q = queue(store, "q", QueueKind::Standard).await;
    let big = Bytes::from(vec![0xA5u8; 256 * 1024]);
    let messages: Vec<NewMessage> = (0..500)
        .map(|i| NewMessage { body: if i == 7 { big.clone() } else { bytes("x") }, ..message(&format!("m{i:03}")) })
        .collect();
    let outcomes = send_all(store, q, messages, T0).await;
    assert_eq!(outcomes.len(), 500);
    let received = receive(store, q, T0, 1_000, 1_000).await;
    assert_eq!(received.len(), 500);
    assert_eq!(received[7].message.body, big);
    assert!(received.windows(2).all(|w| w[0].message.seq < w[1].message.seq));
    delete_all(store, q, &received).await;
    assert_eq!(store.stats(q, T0).await.unwrap(), QueueStats::default());
}
