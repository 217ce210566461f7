//! The in-memory engine passes the conformance suite (it is the reference the others match).

weir_store::conformance_tests!((weir_store::MemoryStore::new(), ()));
