//! Queue operations in SQL: the writer-side steps (run inside the group transaction) and the
//! reader-side queries.
//!
//! Owns: the SQL of sends, receives (standard and FIFO), deletes, visibility changes,
//! requeues, moves, redrive, purge, retention, stats and `next_visible_at`, and keeping the
//! derived `fifo_groups` rows in step with `messages`. Never: reads a clock (every time is a
//! bound parameter), commits (the writer thread does), parses bodies or attributes.
//!
//! Every writer step returns `Ok(Err(refusal))` for a refused request, decided before it
//! writes anything, and `Err(sqlite error)` only when the database fails.
//!
//! Receives cost O(batch · log n): standard queues walk the `(queue_id, visible_at_ms, seq)`
//! index; FIFO queues walk `fifo_groups` by `(available_at_ms, head_seq)` and each group's
//! messages by `(fifo_group, seq)`.

use std::collections::{BTreeSet, HashSet};

use bytes::Bytes;
use rusqlite::{Connection, OptionalExtension, params};
use weir_store::queue::{deadline_ms, dedup_record_live, stored_time_ms};
use weir_store::{
    DeleteOutcome, FIFO_DEDUPLICATION_WINDOW_MS, Message, NewMessage, QueueError, QueueId, QueueInfo, QueueKind,
    QueueStats, ReceiptError, ReceiptHandle, ReceiveOptions, Received, ReceivedMessage, SendOutcome, VisibilityChange,
};

use crate::writer::{QueueMeta, Writer};

type Step<T> = rusqlite::Result<Result<T, QueueError>>;

/// Times are stored as SQLite integers (i64); [`stored_time_ms`] clamps them to fit.
fn sql_time(ms: u64) -> i64 {
    stored_time_ms(ms) as i64
}

fn meta(writer: &Writer, queue: QueueId) -> Result<QueueMeta, QueueError> {
    writer.queues.get(&queue).cloned().ok_or(QueueError::QueueDoesNotExist(queue))
}

/// The message columns every candidate query selects, in [`MessageRow::from_row`]'s order
/// (a macro so the SQL texts stay `&'static str`: no formatting on the hot path).
macro_rules! message_columns {
    () => {
        "seq, message_id, body, attributes, sent_at_ms, visible_at_ms, receive_count, \
         first_receive_at_ms, group_id, dedup_id"
    };
}

/// Standard queues: the next page of visible messages after the cursor (visible_at, seq).
const STANDARD_CANDIDATES: &str = concat!(
    "SELECT ",
    message_columns!(),
    " FROM messages WHERE queue_id = ?1 AND visible_at_ms <= ?2 AND visible_at_ms >= ?3 \
     AND (visible_at_ms > ?3 OR seq > ?4) ORDER BY visible_at_ms, seq LIMIT ?5"
);

/// FIFO queues: the next page of one group's messages after a seq.
const GROUP_CANDIDATES: &str = concat!(
    "SELECT ",
    message_columns!(),
    " FROM messages WHERE queue_id = ?1 AND fifo_group = ?2 AND seq > ?3 ORDER BY seq LIMIT ?4"
);

struct MessageRow {
    seq: u64,
    message_id: String,
    body: Vec<u8>,
    attributes: Vec<u8>,
    sent_at_ms: u64,
    visible_at_ms: u64,
    receive_count: u32,
    first_receive_at_ms: Option<u64>,
    group_id: Option<String>,
    dedup_id: Option<String>,
}

impl MessageRow {
    fn from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<MessageRow> {
        Ok(MessageRow {
            seq: row.get::<_, i64>(0)? as u64,
            message_id: row.get(1)?,
            body: row.get(2)?,
            attributes: row.get(3)?,
            sent_at_ms: row.get::<_, i64>(4)? as u64,
            visible_at_ms: row.get::<_, i64>(5)? as u64,
            receive_count: row.get(6)?,
            first_receive_at_ms: row.get::<_, Option<i64>>(7)?.map(|ms| ms as u64),
            group_id: row.get(8)?,
            dedup_id: row.get(9)?,
        })
    }
}

pub(crate) fn create_queue(writer: &mut Writer, name: String, kind: QueueKind, now_ms: u64) -> Step<QueueInfo> {
    if writer.queues.values().any(|meta| meta.name == name) {
        return Ok(Err(QueueError::QueueAlreadyExists(name)));
    }
    let fifo = kind == QueueKind::Fifo;
    writer
        .conn
        .prepare_cached("INSERT INTO queues (name, fifo, created_at_ms) VALUES (?1, ?2, ?3)")?
        .execute(params![name, fifo, sql_time(now_ms)])?;
    let id = QueueId(writer.conn.last_insert_rowid() as u64);
    writer.queues.insert(id, QueueMeta { name: name.clone(), fifo });
    Ok(Ok(QueueInfo { id, name, kind, created_at_ms: stored_time_ms(now_ms) }))
}

pub(crate) fn delete_queue(writer: &mut Writer, queue: QueueId) -> Step<()> {
    if let Err(refused) = meta(writer, queue) {
        return Ok(Err(refused));
    }
    let id = queue.0 as i64;
    for sql in [
        "DELETE FROM messages WHERE queue_id = ?1",
        "DELETE FROM fifo_groups WHERE queue_id = ?1",
        "DELETE FROM fifo_dedup WHERE queue_id = ?1",
        "DELETE FROM queues WHERE queue_id = ?1",
    ] {
        writer.conn.prepare_cached(sql)?.execute([id])?;
    }
    writer.queues.remove(&queue);
    writer.deleted_queues.push(queue);
    Ok(Ok(()))
}

pub(crate) fn send(
    writer: &mut Writer,
    queue: QueueId,
    messages: Vec<NewMessage>,
    now_ms: u64,
) -> Step<Vec<SendOutcome>> {
    let meta = match meta(writer, queue) {
        Ok(meta) => meta,
        Err(refused) => return Ok(Err(refused)),
    };
    if meta.fifo {
        for (index, message) in messages.iter().enumerate() {
            if message.group_id.is_none() {
                return Ok(Err(QueueError::FifoMessageWithoutGroupId { index }));
            }
            if message.dedup_id.is_none() {
                return Ok(Err(QueueError::FifoMessageWithoutDeduplicationId { index }));
            }
        }
    }
    let now_ms = stored_time_ms(now_ms);
    let mut outcomes = Vec::with_capacity(messages.len());
    for message in messages {
        if meta.fifo {
            let dedup_id = message.dedup_id.as_deref().expect("validated");
            let record: Option<(String, i64)> = writer
                .conn
                .prepare_cached(
                    "SELECT message_id, first_sent_at_ms FROM fifo_dedup WHERE queue_id = ?1 AND dedup_id = ?2",
                )?
                .query_row(params![queue.0 as i64, dedup_id], |row| Ok((row.get(0)?, row.get(1)?)))
                .optional()?;
            if let Some((original_message_id, first_sent_at_ms)) = record
                && dedup_record_live(first_sent_at_ms as u64, now_ms)
            {
                outcomes.push(SendOutcome::Duplicate { original_message_id });
                continue;
            }
            writer
                .conn
                .prepare_cached(
                    "INSERT OR REPLACE INTO fifo_dedup (queue_id, dedup_id, message_id, first_sent_at_ms) \
                     VALUES (?1, ?2, ?3, ?4)",
                )?
                .execute(params![queue.0 as i64, dedup_id, message.message_id, now_ms as i64])?;
        }
        let visible_at_ms = deadline_ms(now_ms, message.delay_ms);
        let fifo_group = meta.fifo.then(|| message.group_id.clone().unwrap_or_default());
        let seq = insert_message(
            writer,
            queue,
            &message.message_id,
            &message.body,
            &message.attributes,
            now_ms,
            visible_at_ms,
            message.group_id.as_deref(),
            message.dedup_id.as_deref(),
            fifo_group.as_deref(),
        )?;
        outcomes.push(SendOutcome::Sent { seq });
    }
    if outcomes.iter().any(|outcome| matches!(outcome, SendOutcome::Sent { .. })) {
        writer.changed_queues.push(queue);
    }
    Ok(Ok(outcomes))
}

/// Inserts a fresh (never received) message and, in a FIFO queue, creates its group's row if
/// the group was empty (appending to a non-empty group changes neither its head nor its
/// leases). Returns the new seq.
#[allow(clippy::too_many_arguments)]
fn insert_message(
    writer: &mut Writer,
    queue: QueueId,
    message_id: &str,
    body: &[u8],
    attributes: &[u8],
    sent_at_ms: u64,
    visible_at_ms: u64,
    group_id: Option<&str>,
    dedup_id: Option<&str>,
    fifo_group: Option<&str>,
) -> rusqlite::Result<u64> {
    writer
        .conn
        .prepare_cached(
            "INSERT INTO messages (queue_id, message_id, body, attributes, sent_at_ms, visible_at_ms, \
             receive_count, first_receive_at_ms, leased, group_id, dedup_id, fifo_group) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, 0, NULL, 0, ?7, ?8, ?9)",
        )?
        .execute(params![
            queue.0 as i64,
            message_id,
            body,
            attributes,
            sql_time(sent_at_ms),
            sql_time(visible_at_ms),
            group_id,
            dedup_id,
            fifo_group
        ])?;
    let seq = writer.conn.last_insert_rowid() as u64;
    if let Some(group) = fifo_group {
        writer
            .conn
            .prepare_cached(
                "INSERT INTO fifo_groups (queue_id, fifo_group, head_seq, available_at_ms) VALUES (?1, ?2, ?3, ?4) \
                 ON CONFLICT (queue_id, fifo_group) DO NOTHING",
            )?
            .execute(params![queue.0 as i64, group, seq as i64, sql_time(visible_at_ms)])?;
    }
    Ok(seq)
}

/// Recomputes one FIFO group's row from its messages: head = lowest seq, available at
/// max(head.visible_at, visible_at of every leased message); no messages, no row.
fn refresh_group(conn: &Connection, queue: QueueId, group: &str) -> rusqlite::Result<()> {
    let id = queue.0 as i64;
    let head: Option<(i64, i64)> = conn
        .prepare_cached(
            "SELECT seq, visible_at_ms FROM messages WHERE queue_id = ?1 AND fifo_group = ?2 ORDER BY seq LIMIT 1",
        )?
        .query_row(params![id, group], |row| Ok((row.get(0)?, row.get(1)?)))
        .optional()?;
    let Some((head_seq, head_visible_at_ms)) = head else {
        conn.prepare_cached("DELETE FROM fifo_groups WHERE queue_id = ?1 AND fifo_group = ?2")?
            .execute(params![id, group])?;
        return Ok(());
    };
    let leased_until: Option<i64> = conn
        .prepare_cached(
            "SELECT MAX(visible_at_ms) FROM messages WHERE queue_id = ?1 AND fifo_group = ?2 AND leased = 1",
        )?
        .query_row(params![id, group], |row| row.get(0))?;
    let available_at_ms = leased_until.map_or(head_visible_at_ms, |leased| leased.max(head_visible_at_ms));
    conn.prepare_cached(
        "INSERT INTO fifo_groups (queue_id, fifo_group, head_seq, available_at_ms) VALUES (?1, ?2, ?3, ?4) \
         ON CONFLICT (queue_id, fifo_group) DO UPDATE SET head_seq = excluded.head_seq, \
         available_at_ms = excluded.available_at_ms",
    )?
    .execute(params![id, group, head_seq, available_at_ms])?;
    Ok(())
}

/// What the walk's visitor did with one candidate.
enum Visit {
    /// Counted towards the walk's limit (received, or moved by a move task).
    Counted,
    /// Moved by redrive: not counted.
    Redriven,
}

/// Visits the messages a receive at `now` may take, in delivery order (see the `queue` module
/// of weir-store), until `limit` visits were counted. The visitor may update or remove the
/// visited message (and only it); FIFO group rows of the source are refreshed afterwards.
fn walk(
    writer: &mut Writer,
    queue: QueueId,
    fifo: bool,
    now_ms: u64,
    limit: usize,
    mut visit: impl FnMut(&mut Writer, MessageRow) -> rusqlite::Result<Visit>,
) -> rusqlite::Result<()> {
    let id = queue.0 as i64;
    let now = now_ms as i64;
    let mut counted = 0usize;
    // Messages already visited: one received with a zero visibility timeout is visible again
    // and would otherwise come back in a later page of the same walk.
    let mut visited: HashSet<u64> = HashSet::new();
    if !fifo {
        let (mut cursor_visible_at, mut cursor_seq) = (i64::MIN, i64::MIN);
        while counted < limit {
            let page_size = limit - counted;
            let page: Vec<MessageRow> = writer
                .conn
                .prepare_cached(STANDARD_CANDIDATES)?
                .query_map(params![id, now, cursor_visible_at, cursor_seq, page_size as i64], MessageRow::from_row)?
                .collect::<rusqlite::Result<_>>()?;
            let exhausted = page.len() < page_size;
            for row in page {
                (cursor_visible_at, cursor_seq) = (row.visible_at_ms as i64, row.seq as i64);
                if !visited.insert(row.seq) {
                    continue;
                }
                if let Visit::Counted = visit(writer, row)? {
                    counted += 1;
                }
            }
            if exhausted {
                break;
            }
        }
        return Ok(());
    }

    let mut visited_groups: HashSet<String> = HashSet::new();
    let mut touched_groups: BTreeSet<String> = BTreeSet::new();
    let (mut cursor_available_at, mut cursor_head) = (i64::MIN, i64::MIN);
    'groups: while counted < limit {
        const GROUP_PAGE: usize = 16;
        let groups: Vec<(String, i64, i64)> = writer
            .conn
            .prepare_cached(
                "SELECT fifo_group, available_at_ms, head_seq FROM fifo_groups \
                 WHERE queue_id = ?1 AND available_at_ms <= ?2 AND available_at_ms >= ?3 \
                 AND (available_at_ms > ?3 OR head_seq > ?4) \
                 ORDER BY available_at_ms, head_seq LIMIT ?5",
            )?
            .query_map(params![id, now, cursor_available_at, cursor_head, GROUP_PAGE as i64], |row| {
                Ok((row.get(0)?, row.get(1)?, row.get(2)?))
            })?
            .collect::<rusqlite::Result<_>>()?;
        let exhausted = groups.len() < GROUP_PAGE;
        for (group, available_at_ms, head_seq) in groups {
            (cursor_available_at, cursor_head) = (available_at_ms, head_seq);
            if !visited_groups.insert(group.clone()) {
                continue;
            }
            touched_groups.insert(group.clone());
            // The group's visible prefix, page by page.
            let mut after_seq = i64::MIN;
            'messages: loop {
                let page_size = limit - counted;
                let page: Vec<MessageRow> = writer
                    .conn
                    .prepare_cached(GROUP_CANDIDATES)?
                    .query_map(params![id, group, after_seq, page_size as i64], MessageRow::from_row)?
                    .collect::<rusqlite::Result<_>>()?;
                let group_exhausted = page.len() < page_size;
                for row in page {
                    after_seq = row.seq as i64;
                    if row.visible_at_ms > now_ms {
                        break 'messages;
                    }
                    if let Visit::Counted = visit(writer, row)? {
                        counted += 1;
                        if counted == limit {
                            break 'messages;
                        }
                    }
                }
                if group_exhausted {
                    break;
                }
            }
            if counted == limit {
                break 'groups;
            }
        }
        if exhausted {
            break;
        }
    }
    for group in &touched_groups {
        refresh_group(&writer.conn, queue, group)?;
    }
    Ok(())
}

/// Moves one message (already read as `row`) to `destination` as a fresh visible message.
fn move_message(writer: &mut Writer, row: &MessageRow, destination: QueueId, now_ms: u64) -> rusqlite::Result<()> {
    writer.conn.prepare_cached("DELETE FROM messages WHERE seq = ?1")?.execute([row.seq as i64])?;
    let destination_fifo = writer.queues.get(&destination).is_some_and(|meta| meta.fifo);
    let fifo_group = destination_fifo.then(|| row.group_id.clone().unwrap_or_default());
    insert_message(
        writer,
        destination,
        &row.message_id,
        &row.body,
        &row.attributes,
        row.sent_at_ms,
        now_ms,
        row.group_id.as_deref(),
        row.dedup_id.as_deref(),
        fifo_group.as_deref(),
    )?;
    Ok(())
}

fn check_destination(writer: &Writer, source: QueueId, destination: QueueId) -> Result<QueueMeta, QueueError> {
    let source_meta = meta(writer, source)?;
    if source == destination {
        return Err(QueueError::DestinationIsSource);
    }
    if !writer.queues.contains_key(&destination) {
        return Err(QueueError::DestinationQueueDoesNotExist(destination));
    }
    Ok(source_meta)
}

pub(crate) fn receive(writer: &mut Writer, queue: QueueId, now_ms: u64, options: ReceiveOptions) -> Step<Received> {
    let checked = match options.redrive {
        Some(redrive) => check_destination(writer, queue, redrive.dead_letter_queue),
        None => meta(writer, queue),
    };
    let meta = match checked {
        Ok(meta) => meta,
        Err(refused) => return Ok(Err(refused)),
    };
    let now_ms = stored_time_ms(now_ms);
    let visible_at_ms = deadline_ms(now_ms, options.visibility_timeout_ms);
    let mut received = Vec::with_capacity((options.max_messages as usize).min(1024));
    let mut redriven = 0u64;
    walk(writer, queue, meta.fifo, now_ms, options.max_messages as usize, |writer, row| {
        if let Some(redrive) = options.redrive
            && row.receive_count >= redrive.max_receive_count
        {
            move_message(writer, &row, redrive.dead_letter_queue, now_ms)?;
            redriven += 1;
            return Ok(Visit::Redriven);
        }
        let receive_count = row.receive_count + 1;
        let first_receive_at_ms = row.first_receive_at_ms.unwrap_or(now_ms);
        writer
            .conn
            .prepare_cached(
                "UPDATE messages SET visible_at_ms = ?2, receive_count = ?3, first_receive_at_ms = ?4, leased = 1 \
                 WHERE seq = ?1",
            )?
            .execute(params![row.seq as i64, visible_at_ms as i64, receive_count, first_receive_at_ms as i64])?;
        received.push(ReceivedMessage {
            receipt_handle: ReceiptHandle { queue, seq: row.seq, receive_count }.to_string(),
            message: Message {
                seq: row.seq,
                message_id: row.message_id,
                body: Bytes::from(row.body),
                attributes: Bytes::from(row.attributes),
                sent_at_ms: row.sent_at_ms,
                receive_count,
                first_receive_at_ms: Some(first_receive_at_ms),
                group_id: row.group_id,
                dedup_id: row.dedup_id,
            },
        });
        Ok(Visit::Counted)
    })?;
    if redriven > 0 {
        writer.changed_queues.push(options.redrive.expect("redrive set").dead_letter_queue);
    }
    Ok(Ok(Received { messages: received, redriven }))
}

pub(crate) fn move_messages(
    writer: &mut Writer,
    source: QueueId,
    destination: QueueId,
    max_messages: u32,
    now_ms: u64,
) -> Step<u64> {
    let meta = match check_destination(writer, source, destination) {
        Ok(meta) => meta,
        Err(refused) => return Ok(Err(refused)),
    };
    let now_ms = stored_time_ms(now_ms);
    let mut moved = 0u64;
    walk(writer, source, meta.fifo, now_ms, max_messages as usize, |writer, row| {
        move_message(writer, &row, destination, now_ms)?;
        moved += 1;
        Ok(Visit::Counted)
    })?;
    if moved > 0 {
        writer.changed_queues.push(destination);
    }
    Ok(Ok(moved))
}

pub(crate) fn delete(
    writer: &mut Writer,
    queue: QueueId,
    receipt_handles: Vec<String>,
) -> Step<Vec<Result<DeleteOutcome, ReceiptError>>> {
    let meta = match meta(writer, queue) {
        Ok(meta) => meta,
        Err(refused) => return Ok(Err(refused)),
    };
    let id = queue.0 as i64;
    let mut groups: BTreeSet<String> = BTreeSet::new();
    let mut outcomes = Vec::with_capacity(receipt_handles.len());
    for text in &receipt_handles {
        let handle = match ReceiptHandle::parse_for(text, queue) {
            Ok(handle) => handle,
            Err(error) => {
                outcomes.push(Err(error));
                continue;
            }
        };
        let key = params![handle.seq as i64, id, handle.receive_count];
        let deleted = if meta.fifo {
            let group: Option<String> = writer
                .conn
                .prepare_cached(
                    "DELETE FROM messages WHERE seq = ?1 AND queue_id = ?2 AND receive_count = ?3 RETURNING fifo_group",
                )?
                .query_row(key, |row| row.get(0))
                .optional()?;
            group.map(|group| groups.insert(group)).is_some()
        } else {
            writer
                .conn
                .prepare_cached("DELETE FROM messages WHERE seq = ?1 AND queue_id = ?2 AND receive_count = ?3")?
                .execute(key)?
                == 1
        };
        let outcome = if deleted {
            DeleteOutcome::Deleted
        } else if message_exists(&writer.conn, queue, handle.seq)? {
            DeleteOutcome::StaleReceipt
        } else {
            DeleteOutcome::AlreadyGone
        };
        outcomes.push(Ok(outcome));
    }
    for group in &groups {
        refresh_group(&writer.conn, queue, group)?;
    }
    if !groups.is_empty() {
        writer.changed_queues.push(queue);
    }
    Ok(Ok(outcomes))
}

fn message_exists(conn: &Connection, queue: QueueId, seq: u64) -> rusqlite::Result<bool> {
    conn.prepare_cached("SELECT 1 FROM messages WHERE seq = ?1 AND queue_id = ?2")?
        .exists(params![seq as i64, queue.0 as i64])
}

pub(crate) fn change_visibility(
    writer: &mut Writer,
    queue: QueueId,
    changes: Vec<VisibilityChange>,
    now_ms: u64,
) -> Step<Vec<Result<(), ReceiptError>>> {
    let meta = match meta(writer, queue) {
        Ok(meta) => meta,
        Err(refused) => return Ok(Err(refused)),
    };
    let now_ms = stored_time_ms(now_ms);
    let mut groups: BTreeSet<String> = BTreeSet::new();
    let mut outcomes = Vec::with_capacity(changes.len());
    for change in &changes {
        let handle = match ReceiptHandle::parse_for(&change.receipt_handle, queue) {
            Ok(handle) => handle,
            Err(error) => {
                outcomes.push(Err(error));
                continue;
            }
        };
        let changed: Option<Option<String>> = writer
            .conn
            .prepare_cached(
                "UPDATE messages SET visible_at_ms = ?4 \
                 WHERE seq = ?1 AND queue_id = ?2 AND receive_count = ?3 AND leased = 1 AND visible_at_ms > ?5 \
                 RETURNING fifo_group",
            )?
            .query_row(
                params![
                    handle.seq as i64,
                    queue.0 as i64,
                    handle.receive_count,
                    deadline_ms(now_ms, change.visibility_timeout_ms) as i64,
                    now_ms as i64
                ],
                |row| row.get(0),
            )
            .optional()?;
        outcomes.push(match changed {
            Some(group) => {
                groups.extend(group);
                Ok(())
            }
            None => Err(ReceiptError::MessageNotInflight),
        });
    }
    if meta.fifo {
        for group in &groups {
            refresh_group(&writer.conn, queue, group)?;
        }
    }
    if outcomes.iter().any(Result::is_ok) {
        writer.changed_queues.push(queue);
    }
    Ok(Ok(outcomes))
}

pub(crate) fn requeue(
    writer: &mut Writer,
    queue: QueueId,
    receipt_handle: String,
    visible_at_ms: u64,
    attributes: Option<Bytes>,
) -> Step<Result<(), ReceiptError>> {
    if let Err(refused) = meta(writer, queue) {
        return Ok(Err(refused));
    }
    let handle = match ReceiptHandle::parse_for(&receipt_handle, queue) {
        Ok(handle) => handle,
        Err(error) => return Ok(Ok(Err(error))),
    };
    let changed: Option<Option<String>> = writer
        .conn
        .prepare_cached(
            "UPDATE messages SET visible_at_ms = ?4, leased = 0, attributes = COALESCE(?5, attributes) \
             WHERE seq = ?1 AND queue_id = ?2 AND receive_count = ?3 RETURNING fifo_group",
        )?
        .query_row(
            params![
                handle.seq as i64,
                queue.0 as i64,
                handle.receive_count,
                sql_time(visible_at_ms),
                attributes.as_deref()
            ],
            |row| row.get(0),
        )
        .optional()?;
    let Some(group) = changed else {
        return Ok(Ok(Err(ReceiptError::MessageNotInflight)));
    };
    if let Some(group) = group {
        refresh_group(&writer.conn, queue, &group)?;
    }
    writer.changed_queues.push(queue);
    Ok(Ok(Ok(())))
}

pub(crate) fn purge(writer: &mut Writer, queue: QueueId) -> Step<u64> {
    if let Err(refused) = meta(writer, queue) {
        return Ok(Err(refused));
    }
    let purged = writer.conn.prepare_cached("DELETE FROM messages WHERE queue_id = ?1")?.execute([queue.0 as i64])?;
    writer.conn.prepare_cached("DELETE FROM fifo_groups WHERE queue_id = ?1")?.execute([queue.0 as i64])?;
    Ok(Ok(purged as u64))
}

pub(crate) fn expire(writer: &mut Writer, queue: QueueId, now_ms: u64, retention_ms: u64) -> Step<u64> {
    let meta = match meta(writer, queue) {
        Ok(meta) => meta,
        Err(refused) => return Ok(Err(refused)),
    };
    let now_ms = stored_time_ms(now_ms);
    let id = queue.0 as i64;
    let mut expired = 0;
    if now_ms >= retention_ms {
        let cutoff = (now_ms - retention_ms) as i64;
        let groups: Vec<String> = if meta.fifo {
            writer
                .conn
                .prepare_cached("SELECT DISTINCT fifo_group FROM messages WHERE queue_id = ?1 AND sent_at_ms <= ?2")?
                .query_map(params![id, cutoff], |row| row.get(0))?
                .collect::<rusqlite::Result<_>>()?
        } else {
            Vec::new()
        };
        expired = writer
            .conn
            .prepare_cached("DELETE FROM messages WHERE queue_id = ?1 AND sent_at_ms <= ?2")?
            .execute(params![id, cutoff])? as u64;
        for group in &groups {
            refresh_group(&writer.conn, queue, group)?;
        }
        if !groups.is_empty() {
            writer.changed_queues.push(queue);
        }
    }
    if meta.fifo && now_ms >= FIFO_DEDUPLICATION_WINDOW_MS {
        writer
            .conn
            .prepare_cached("DELETE FROM fifo_dedup WHERE queue_id = ?1 AND first_sent_at_ms <= ?2")?
            .execute(params![id, (now_ms - FIFO_DEDUPLICATION_WINDOW_MS) as i64])?;
    }
    Ok(Ok(expired))
}

// ---- reader side ----

fn queue_kind(conn: &Connection, queue: QueueId) -> rusqlite::Result<Option<QueueKind>> {
    conn.prepare_cached("SELECT fifo FROM queues WHERE queue_id = ?1")?
        .query_row([queue.0 as i64], |row| row.get::<_, bool>(0))
        .optional()
        .map(|fifo| fifo.map(|fifo| if fifo { QueueKind::Fifo } else { QueueKind::Standard }))
}

fn queue_info(row: &rusqlite::Row<'_>) -> rusqlite::Result<QueueInfo> {
    Ok(QueueInfo {
        id: QueueId(row.get::<_, i64>(0)? as u64),
        name: row.get(1)?,
        kind: if row.get::<_, bool>(2)? { QueueKind::Fifo } else { QueueKind::Standard },
        created_at_ms: row.get::<_, i64>(3)? as u64,
    })
}

pub(crate) fn get_queue(conn: &Connection, name: &str) -> rusqlite::Result<Option<QueueInfo>> {
    conn.prepare_cached("SELECT queue_id, name, fifo, created_at_ms FROM queues WHERE name = ?1")?
        .query_row([name], queue_info)
        .optional()
}

pub(crate) fn list_queues(conn: &Connection) -> rusqlite::Result<Vec<QueueInfo>> {
    conn.prepare_cached("SELECT queue_id, name, fifo, created_at_ms FROM queues ORDER BY name")?
        .query_map([], queue_info)?
        .collect()
}

/// Runs in one read transaction so the counts describe one instant.
pub(crate) fn stats(conn: &Connection, queue: QueueId, now_ms: u64) -> Step<QueueStats> {
    let tx = conn.unchecked_transaction()?;
    if queue_kind(&tx, queue)?.is_none() {
        return Ok(Err(QueueError::QueueDoesNotExist(queue)));
    }
    let id = queue.0 as i64;
    let now = stored_time_ms(now_ms) as i64;
    let visible: i64 = tx
        .prepare_cached("SELECT COUNT(*) FROM messages WHERE queue_id = ?1 AND visible_at_ms <= ?2")?
        .query_row(params![id, now], |row| row.get(0))?;
    let (in_flight, not_visible): (i64, i64) = tx
        .prepare_cached(
            "SELECT COALESCE(SUM(leased), 0), COUNT(*) FROM messages WHERE queue_id = ?1 AND visible_at_ms > ?2",
        )?
        .query_row(params![id, now], |row| Ok((row.get(0)?, row.get(1)?)))?;
    let oldest: Option<i64> = tx
        .prepare_cached("SELECT MIN(sent_at_ms) FROM messages WHERE queue_id = ?1")?
        .query_row([id], |row| row.get(0))?;
    tx.finish()?;
    Ok(Ok(QueueStats {
        visible: visible as u64,
        in_flight: in_flight as u64,
        delayed: (not_visible - in_flight) as u64,
        oldest_sent_at_ms: oldest.map(|ms| ms as u64),
    }))
}

pub(crate) fn next_visible_at(conn: &Connection, queue: QueueId) -> Step<Option<u64>> {
    let tx = conn.unchecked_transaction()?;
    let sql = match queue_kind(&tx, queue)? {
        None => return Ok(Err(QueueError::QueueDoesNotExist(queue))),
        Some(QueueKind::Standard) => "SELECT MIN(visible_at_ms) FROM messages WHERE queue_id = ?1",
        Some(QueueKind::Fifo) => "SELECT MIN(available_at_ms) FROM fifo_groups WHERE queue_id = ?1",
    };
    let next: Option<i64> = tx.prepare_cached(sql)?.query_row([queue.0 as i64], |row| row.get(0))?;
    tx.finish()?;
    Ok(Ok(next.map(|ms| ms as u64)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The plan SQLite chooses for `sql`, one line per step.
    fn plan(conn: &Connection, sql: &str) -> String {
        let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        // The plan is chosen at prepare time; parameters (if any) are bound as NULL.
        let nulls = std::iter::repeat_n(rusqlite::types::Null, stmt.parameter_count());
        let rows = stmt.query_map(rusqlite::params_from_iter(nulls), |row| row.get::<_, String>(3)).unwrap();
        rows.map(Result::unwrap).collect::<Vec<_>>().join("\n")
    }

    #[test]
    fn hot_statements_use_indexes_and_never_sort() {
        let mut conn = Connection::open_in_memory().unwrap();
        crate::migrate::migrate(&mut conn).unwrap();
        let cases = [
            (STANDARD_CANDIDATES.to_owned(), "messages_by_visibility"),
            (
                "SELECT fifo_group FROM fifo_groups WHERE queue_id = 1 AND available_at_ms <= 5 \
                 AND available_at_ms >= 0 AND (available_at_ms > 0 OR head_seq > 0) \
                 ORDER BY available_at_ms, head_seq LIMIT 16"
                    .to_owned(),
                "fifo_groups_by_availability",
            ),
            (GROUP_CANDIDATES.to_owned(), "fifo_messages_by_group"),
            (
                "SELECT MAX(visible_at_ms) FROM messages WHERE queue_id = 1 AND fifo_group = 'g' AND leased = 1"
                    .to_owned(),
                "fifo_leased_by_group",
            ),
            ("SELECT MIN(visible_at_ms) FROM messages WHERE queue_id = 1".to_owned(), "messages_by_visibility"),
            ("SELECT MIN(sent_at_ms) FROM messages WHERE queue_id = 1".to_owned(), "messages_by_age"),
            ("DELETE FROM messages WHERE queue_id = 1 AND sent_at_ms <= 5".to_owned(), "messages_by_age"),
            (
                "DELETE FROM messages WHERE seq = 1 AND queue_id = 1 AND receive_count = 1".to_owned(),
                "INTEGER PRIMARY KEY",
            ),
        ];
        for (sql, index) in cases {
            let plan = plan(&conn, &sql);
            assert!(plan.contains(index), "{sql}\nshould use {index}, plan:\n{plan}");
            assert!(!plan.contains("TEMP B-TREE"), "{sql}\nshould not sort, plan:\n{plan}");
            assert!(!plan.contains("SCAN"), "{sql}\nshould not scan, plan:\n{plan}");
        }
    }
}
