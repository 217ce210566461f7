//! The SQLite engine passes the conformance suite, each case on a fresh database file.

use weir_store_sqlite::{SqliteOptions, SqliteStore};

weir_store::conformance_tests!({
    let dir = tempfile::tempdir().expect("temporary directory");
    let store = SqliteStore::open(dir.path().join("weir.db"), SqliteOptions::default()).expect("open");
    (store, dir)
});
