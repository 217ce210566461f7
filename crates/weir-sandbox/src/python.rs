//! Python support: the embedded runtime client (`weir_runtime.py`, written into the sandbox's
//! runtime directory) and finding out which interpreter `python3` really is.
//! Never: installs anything into an interpreter.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// weir's Python runtime client.
pub(crate) const RUNTIME_SCRIPT: &str = include_str!("python/weir_runtime.py");
pub(crate) const RUNTIME_SCRIPT_NAME: &str = "weir_runtime.py";

/// A resolved interpreter.
#[derive(Clone, Debug)]
pub(crate) struct PythonInfo {
    /// Absolute path (`sys.executable`: a venv's interpreter stays the venv's).
    pub(crate) executable: PathBuf,
    /// `3.11`
    pub(crate) version: String,
}

impl PythonInfo {
    pub(crate) fn bin_dir(&self) -> Option<&Path> {
        self.executable.parent()
    }
}

/// Runs the interpreter once to learn its real path and version. Going through a launcher
/// such as a pyenv shim on every cold start would cost tens of milliseconds.
pub(crate) fn resolve(python: &Path) -> Result<PythonInfo, String> {
    let output = Command::new(python)
        .args(["-c", "import sys; print(sys.executable); print('%d.%d' % sys.version_info[:2])"])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("running {}: {e}", python.display()))?;
    if !output.status.success() {
        return Err(format!(
            "{} exited with {}: {}",
            python.display(),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let mut lines = stdout.lines();
    let executable = lines.next().filter(|l| !l.is_empty());
    let version = lines.next().filter(|l| !l.is_empty());
    match (executable, version) {
        (Some(executable), Some(version)) => {
            Ok(PythonInfo { executable: PathBuf::from(executable), version: version.to_owned() })
        }
        _ => Err(format!("{} did not report its path", python.display())),
    }
}
