//! `testfn_path()` finds (and builds if needed) the same binary cargo built for this package.

#[test]
fn testfn_path_is_the_binary_cargo_built_for_this_package() {
    let located = weir_testfns::testfn_path();
    let built_by_cargo = std::path::PathBuf::from(env!("CARGO_BIN_EXE_weir-testfn"));
    assert_eq!(located.canonicalize().unwrap(), built_by_cargo.canonicalize().unwrap());
    // It runs: without a Runtime API it fails init on request, before contacting anything.
    let status = std::process::Command::new(&located)
        .env_clear()
        .env("WEIR_TESTFN_INIT", "fail")
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(3));
}
