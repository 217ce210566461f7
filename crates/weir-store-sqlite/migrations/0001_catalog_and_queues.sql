-- Migration 1: the catalog and the queues.
-- Times are epoch milliseconds passed in by the caller; no SQL here ever reads a clock.
-- Numbering leaves room: streams (shards, records, checkpoints, leases) come as migration 2+.

-- Small counters that must never go backwards (the catalog revision).
CREATE TABLE store_meta (
    name  TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO store_meta (name, value) VALUES ('catalog_revision', 0);

CREATE TABLE catalog (
    kind     TEXT    NOT NULL,
    key      TEXT    NOT NULL,
    value    BLOB    NOT NULL,
    revision INTEGER NOT NULL,
    PRIMARY KEY (kind, key)
) WITHOUT ROWID;

-- AUTOINCREMENT: a queue id is never reused, even after the queue is deleted.
CREATE TABLE queues (
    queue_id      INTEGER PRIMARY KEY AUTOINCREMENT,
    name          TEXT    NOT NULL UNIQUE,
    fifo          INTEGER NOT NULL,
    created_at_ms INTEGER NOT NULL
);

-- AUTOINCREMENT: a seq is never reused, so a receipt handle (queue, seq, receive_count) can
-- never name a later message, even across a crash after the newest message was deleted.
-- `leased` is 1 from a receive until a requeue; with visible_at_ms > now it means "in flight".
-- `fifo_group` is the ordering group in a FIFO queue (the group id, '' if none) and NULL in a
-- standard queue, so partial indexes cover FIFO rows only.
CREATE TABLE messages (
    seq                 INTEGER PRIMARY KEY AUTOINCREMENT,
    queue_id            INTEGER NOT NULL,
    message_id          TEXT    NOT NULL,
    body                BLOB    NOT NULL,
    attributes          BLOB    NOT NULL,
    sent_at_ms          INTEGER NOT NULL,
    visible_at_ms       INTEGER NOT NULL,
    receive_count       INTEGER NOT NULL,
    first_receive_at_ms INTEGER,
    leased              INTEGER NOT NULL,
    group_id            TEXT,
    dedup_id            TEXT,
    fifo_group          TEXT
);
-- Receive order of standard queues, next_visible_at, visible counts: (queue, visible_at, seq).
CREATE INDEX messages_by_visibility ON messages (queue_id, visible_at_ms);
-- Retention and the oldest message's age.
CREATE INDEX messages_by_age ON messages (queue_id, sent_at_ms);
-- FIFO: a group's messages in order, and its leased messages.
CREATE INDEX fifo_messages_by_group ON messages (queue_id, fifo_group, seq)
    WHERE fifo_group IS NOT NULL;
CREATE INDEX fifo_leased_by_group ON messages (queue_id, fifo_group, visible_at_ms)
    WHERE fifo_group IS NOT NULL AND leased = 1;

-- One row per non-empty FIFO group: its head and when it is next available
-- (max(head.visible_at, visible_at of every leased message of the group)). Derived from
-- `messages` and kept in step in the same transaction as every change to a group.
CREATE TABLE fifo_groups (
    queue_id        INTEGER NOT NULL,
    fifo_group      TEXT    NOT NULL,
    head_seq        INTEGER NOT NULL,
    available_at_ms INTEGER NOT NULL,
    PRIMARY KEY (queue_id, fifo_group)
) WITHOUT ROWID;
CREATE INDEX fifo_groups_by_availability ON fifo_groups (queue_id, available_at_ms, head_seq);

-- FIFO deduplication records: the original message id and when it was first sent.
CREATE TABLE fifo_dedup (
    queue_id           INTEGER NOT NULL,
    dedup_id           TEXT    NOT NULL,
    message_id         TEXT    NOT NULL,
    first_sent_at_ms   INTEGER NOT NULL,
    PRIMARY KEY (queue_id, dedup_id)
) WITHOUT ROWID;
