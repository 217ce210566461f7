"""Pattern: open the database connection once per execution environment, not per invocation.

Lambda (and weir) run a function in an execution environment that stays alive between
invocations. Code at module level runs once, at the cold start; the handler runs for every event.

    Worse: connect inside the handler.
        every invocation pays for a connection, and at high concurrency the database sees a
        storm of connects and disconnects.

    Better (below): connect at module level and reuse it in every warm invocation.
        one connection per concurrent environment; cap the environments with reserved
        concurrency (ReservedConcurrentExecutions) and the database sees at most that many.

The connection can still break (the database restarts): reconnect on failure instead of
assuming it lives forever. SQLite stands in for any database here.

Handler: db_connection_reuse.handler (environment variable DB_PATH, default /tmp/weir-visits.db)
"""

import os
import sqlite3

DB_PATH = os.environ.get("DB_PATH", "/tmp/weir-visits.db")

_connection = None


def connection():
    """The environment's connection: created on first use, reused afterwards."""
    global _connection
    if _connection is None:
        _connection = sqlite3.connect(DB_PATH, timeout=5, isolation_level=None)
        _connection.execute("PRAGMA journal_mode=WAL")
        _connection.execute("CREATE TABLE IF NOT EXISTS visits (page TEXT PRIMARY KEY, count INTEGER NOT NULL)")
    return _connection


# Connect during the cold start (init), where Lambda gives the function extra time, rather than
# on the first request.
connection()


def handler(event, context):
    page = str(event.get("page", "/"))
    try:
        count = record_visit(page)
    except sqlite3.Error:
        # The connection may be broken: drop it, reconnect once, retry.
        global _connection
        _connection = None
        count = record_visit(page)
    return {"page": page, "visits": count}


def record_visit(page):
    db = connection()
    db.execute("INSERT INTO visits (page, count) VALUES (?, 1) "
               "ON CONFLICT(page) DO UPDATE SET count = count + 1", (page,))
    return db.execute("SELECT count FROM visits WHERE page = ?", (page,)).fetchone()[0]
