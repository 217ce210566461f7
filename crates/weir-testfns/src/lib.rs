//! weir-testfns: test Lambda functions and the helpers other crates' tests use to find them.
//!
//! Owns: the `weir-testfn` binary (a real `lambda_runtime` function driven by its payload, see
//! `src/bin/weir-testfn.rs`), [`testfn_path`] (where that binary is, building it if needed) and
//! [`test_venv`] (a Python virtual environment with boto3, awscli and awslambdaric).
//! Never: runs functions itself or knows anything about how weir runs them.
//!
//! How the binary is found: tests inside this crate can use `env!("CARGO_BIN_EXE_weir-testfn")`.
//! Other crates cannot (cargo only sets that for a package's own binaries), so [`testfn_path`]
//! runs `cargo build -p weir-testfns --bin weir-testfn` once per process into the *same* target
//! directory and profile as the running test executable (derived from `current_exe()`:
//! `<target>/<profile>/deps/<test>`), then returns `<target>/<profile>/weir-testfn`. Building
//! every time (a no-op when fresh, about 0.3 s) means a test never runs a stale binary.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// Name of the test function binary.
pub const TESTFN_BIN: &str = "weir-testfn";

/// Absolute path of the `weir-testfn` binary matching the running test's target dir and profile.
///
/// Builds it (once per process) with cargo. Panics with a clear message if the build fails:
/// this is for tests and benchmarks only.
pub fn testfn_path() -> PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(build_testfn).clone()
}

fn build_testfn() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    // <target>/<profile>/deps/<test-binary>  (tests, benches)  or  <target>/<profile>/<binary>
    let mut profile_dir = exe.parent().expect("exe has a parent").to_path_buf();
    if profile_dir.file_name().is_some_and(|n| n == "deps") {
        profile_dir.pop();
    }
    let target_dir = profile_dir.parent().expect("profile dir has a parent");
    let profile_dir_name = profile_dir.file_name().and_then(|n| n.to_str()).unwrap_or("debug").to_owned();
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut build = Command::new(cargo);
    build
        .args(["build", "--quiet", "-p", "weir-testfns", "--bin", TESTFN_BIN])
        .arg("--manifest-path")
        .arg(&manifest)
        .env("CARGO_TARGET_DIR", target_dir);
    // `test` builds land in `debug`, `bench` in `release`, a custom profile in its own name.
    match profile_dir_name.as_str() {
        "debug" => {}
        "release" => {
            build.arg("--release");
        }
        custom => {
            build.args(["--profile", custom]);
        }
    }
    let status = build.status().unwrap_or_else(|e| panic!("running cargo to build {TESTFN_BIN}: {e}"));
    assert!(status.success(), "building {TESTFN_BIN} failed: {status}");
    let path = profile_dir.join(TESTFN_BIN);
    assert!(path.is_file(), "{} missing after build", path.display());
    path
}

/// Path of the test Python virtual environment (with pinned boto3, awscli, awslambdaric).
///
/// Runs `scripts/test-venv.sh` once per process; the script itself is idempotent (stamp file)
/// and serialises concurrent callers with a file lock, so parallel test processes are safe.
pub fn test_venv() -> PathBuf {
    static VENV: OnceLock<PathBuf> = OnceLock::new();
    VENV.get_or_init(|| {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/test-venv.sh");
        let output =
            Command::new("bash").arg(&script).output().unwrap_or_else(|e| panic!("running {}: {e}", script.display()));
        assert!(
            output.status.success(),
            "{} failed: {}\n{}",
            script.display(),
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        let path = String::from_utf8(output.stdout).expect("venv path is UTF-8");
        PathBuf::from(path.trim())
    })
    .clone()
}

/// The venv's Python interpreter (`<venv>/bin/python`).
pub fn test_venv_python() -> PathBuf {
    test_venv().join("bin/python")
}
