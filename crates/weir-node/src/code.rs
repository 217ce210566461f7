//! Function code on disk: a zip from CreateFunction/UpdateFunctionCode is
//! checked, hashed and unpacked once into `data/code/<sha256>/`; a local
//! folder (from `weir up`) is used in place by `$LATEST`, and copied into
//! `data/code/local-<sha256>/` when a version is published, so a published
//! version never changes.
//!
//! Unpacking is defensive: entries whose path escapes the code directory,
//! absolute paths and symlinks are rejected; sizes and entry counts are
//! capped like Lambda's (250 MB unzipped).

use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use base64::Engine as _;
use sha2::{Digest, Sha256};
use weir_wire::AwsError;

/// Lambda's limit on unzipped code size.
pub const MAX_UNZIPPED_BYTES: u64 = 250 * 1024 * 1024;
/// A zip with more entries than this is refused.
pub const MAX_ENTRIES: usize = 20_000;

/// Where a function's code lives.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CodeInfo {
    pub dir: PathBuf,
    /// Base64 SHA-256 of the zip (Lambda's `CodeSha256`), or of the folder
    /// listing for local folders.
    pub sha256: String,
    pub size: u64,
}

pub struct CodeStore {
    root: PathBuf,
}

impl CodeStore {
    pub fn new(data_dir: &Path) -> io::Result<Self> {
        let root = data_dir.join("code");
        fs::create_dir_all(&root)?;
        Ok(CodeStore { root })
    }

    /// Decodes base64 zip bytes and unpacks them (once per distinct zip).
    pub fn store_base64_zip(&self, zip_base64: &str) -> Result<CodeInfo, AwsError> {
        let bytes = base64::engine::general_purpose::STANDARD.decode(zip_base64.trim()).map_err(|_| {
            AwsError::invalid_parameter(
                "Could not unzip uploaded file. Please check your file, then try to upload again.",
            )
        })?;
        self.store_zip(&bytes)
    }

    pub fn store_zip(&self, bytes: &[u8]) -> Result<CodeInfo, AwsError> {
        let digest = Sha256::digest(bytes);
        let sha256 = base64::engine::general_purpose::STANDARD.encode(digest);
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        let dir = self.root.join(&hex);
        if !dir.exists() {
            let staging = self.root.join(format!(".{hex}.{}", std::process::id()));
            let _ = fs::remove_dir_all(&staging);
            fs::create_dir_all(&staging).map_err(io_error)?;
            if let Err(err) = unpack(bytes, &staging) {
                let _ = fs::remove_dir_all(&staging);
                return Err(err);
            }
            if let Err(err) = fs::rename(&staging, &dir) {
                let _ = fs::remove_dir_all(&staging);
                if !dir.exists() {
                    return Err(io_error(err));
                }
            }
        }
        Ok(CodeInfo { dir, sha256, size: bytes.len() as u64 })
    }

    /// A local folder used in place (its contents may change under `--watch`).
    pub fn local_dir(path: &Path) -> Result<CodeInfo, AwsError> {
        let dir = path
            .canonicalize()
            .map_err(|e| AwsError::invalid_parameter(format!("Code folder {}: {e}", path.display())))?;
        if !dir.is_dir() {
            return Err(AwsError::invalid_parameter(format!("Code folder {} is not a directory", dir.display())));
        }
        let mut hasher = Sha256::new();
        let mut size = 0;
        hash_tree(&dir, &dir, &mut hasher, &mut size).map_err(io_error)?;
        let sha256 = base64::engine::general_purpose::STANDARD.encode(hasher.finalize());
        Ok(CodeInfo { dir, sha256, size })
    }
}

impl CodeStore {
    /// The code a published version keeps: stored code as it is, a local
    /// folder copied (once per content) into the store.
    pub fn snapshot(&self, code: &CodeInfo) -> Result<CodeInfo, AwsError> {
        if code.dir.starts_with(&self.root) {
            return Ok(code.clone());
        }
        let digest = base64::engine::general_purpose::STANDARD.decode(&code.sha256).unwrap_or_default();
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        let dir = self.root.join(format!("local-{hex}"));
        if !dir.exists() {
            let staging = self.root.join(format!(".local-{hex}.{}", std::process::id()));
            let _ = fs::remove_dir_all(&staging);
            if let Err(err) = copy_tree(&code.dir, &staging) {
                let _ = fs::remove_dir_all(&staging);
                return Err(io_error(err));
            }
            if let Err(err) = fs::rename(&staging, &dir) {
                let _ = fs::remove_dir_all(&staging);
                if !dir.exists() {
                    return Err(io_error(err));
                }
            }
        }
        Ok(CodeInfo { dir, ..code.clone() })
    }
}

/// Copies a code folder, skipping what `hash_tree` skips; symbolic links
/// are copied as links (never followed, so a link cycle cannot recurse).
fn copy_tree(from: &Path, to: &Path) -> io::Result<()> {
    fs::create_dir_all(to)?;
    for entry in fs::read_dir(from)? {
        let entry = entry?;
        let (source, target) = (entry.path(), to.join(entry.file_name()));
        let kind = entry.file_type()?;
        if kind.is_symlink() {
            std::os::unix::fs::symlink(fs::read_link(&source)?, &target)?;
        } else if kind.is_dir() {
            if entry.file_name() == "__pycache__" || entry.file_name() == ".git" {
                continue;
            }
            copy_tree(&source, &target)?;
        } else {
            fs::copy(&source, &target)?;
        }
    }
    Ok(())
}

fn hash_tree(root: &Path, dir: &Path, hasher: &mut Sha256, size: &mut u64) -> io::Result<()> {
    let mut entries: Vec<_> = fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        let meta = entry.metadata()?;
        let relative = path.strip_prefix(root).unwrap_or(&path).to_string_lossy().into_owned();
        if meta.is_dir() {
            if entry.file_name() == "__pycache__" || entry.file_name() == ".git" {
                continue;
            }
            hash_tree(root, &path, hasher, size)?;
        } else {
            let modified = meta.modified().ok().and_then(|m| m.duration_since(std::time::UNIX_EPOCH).ok());
            hasher.update(relative.as_bytes());
            hasher.update(meta.len().to_le_bytes());
            hasher.update(modified.map_or(0, |d| d.as_nanos()).to_le_bytes());
            *size += meta.len();
        }
    }
    Ok(())
}

fn io_error(err: io::Error) -> AwsError {
    AwsError::service(format!("storing function code: {err}"))
}

fn invalid_zip(detail: impl std::fmt::Display) -> AwsError {
    AwsError::invalid_parameter(format!(
        "Could not unzip uploaded file. Please check your file, then try to upload again. ({detail})"
    ))
}

/// Unpacks `bytes` into `dest`, refusing anything that could write outside it.
fn unpack(bytes: &[u8], dest: &Path) -> Result<(), AwsError> {
    let mut archive = zip::ZipArchive::new(io::Cursor::new(bytes)).map_err(invalid_zip)?;
    if archive.len() > MAX_ENTRIES {
        return Err(invalid_zip(format!("more than {MAX_ENTRIES} entries")));
    }
    let mut total: u64 = 0;
    for index in 0..archive.len() {
        let mut entry = archive.by_index(index).map_err(invalid_zip)?;
        // Absolute names are refused outright (zip's `enclosed_name` would
        // quietly make them relative); `..` that escapes is refused by it.
        let absolute = entry.name().is_ok_and(|n| n.starts_with('/') || n.starts_with('\\'));
        let Some(relative) = entry.enclosed_name().filter(|_| !absolute) else {
            return Err(invalid_zip(format!("entry {:?} escapes the code directory", entry.name())));
        };
        if entry.is_symlink() {
            return Err(invalid_zip(format!("entry {:?} is a symbolic link", entry.name())));
        }
        let path = dest.join(relative);
        if entry.is_dir() {
            fs::create_dir_all(&path).map_err(io_error)?;
            continue;
        }
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(io_error)?;
        }
        let mode = entry.unix_mode().unwrap_or(0o644);
        let mut file = fs::OpenOptions::new().write(true).create_new(true).open(&path).map_err(|e| {
            if e.kind() == io::ErrorKind::AlreadyExists {
                invalid_zip(format!("duplicate entry {:?}", entry.name()))
            } else {
                io_error(e)
            }
        })?;
        let remaining = MAX_UNZIPPED_BYTES - total;
        let written = io::copy(&mut (&mut entry).take(remaining + 1), &mut file).map_err(invalid_zip)?;
        total += written;
        if total > MAX_UNZIPPED_BYTES {
            return Err(AwsError::invalid_parameter(format!(
                "Unzipped size must be smaller than {MAX_UNZIPPED_BYTES} bytes"
            )));
        }
        use std::os::unix::fs::PermissionsExt;
        let mode = if mode & 0o111 != 0 { 0o755 } else { 0o644 };
        fs::set_permissions(&path, fs::Permissions::from_mode(mode)).map_err(io_error)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn zip_of(entries: &[(&str, &[u8], u32)]) -> Vec<u8> {
        let mut out = io::Cursor::new(Vec::new());
        {
            let mut writer = zip::ZipWriter::new(&mut out);
            for (name, data, mode) in entries {
                let options = zip::write::SimpleFileOptions::default().unix_permissions(*mode);
                writer.start_file(*name, options).unwrap();
                writer.write_all(data).unwrap();
            }
            writer.finish().unwrap();
        }
        out.into_inner()
    }

    #[test]
    fn a_snapshot_copies_a_local_folder_once_and_keeps_links_as_links() {
        let data = tempfile::tempdir().unwrap();
        let store = CodeStore::new(data.path()).unwrap();
        let folder = tempfile::tempdir().unwrap();
        fs::create_dir_all(folder.path().join("pkg/__pycache__")).unwrap();
        fs::write(folder.path().join("app.py"), "v = 1\n").unwrap();
        fs::write(folder.path().join("pkg/__pycache__/app.pyc"), "compiled").unwrap();
        // A link back up the tree would recurse forever if followed.
        std::os::unix::fs::symlink("..", folder.path().join("pkg/up")).unwrap();
        let local = CodeStore::local_dir(folder.path()).unwrap();
        let snapshot = store.snapshot(&local).unwrap();
        assert!(snapshot.dir.starts_with(data.path()), "{}", snapshot.dir.display());
        assert_eq!(snapshot.sha256, local.sha256);
        assert_eq!(fs::read_to_string(snapshot.dir.join("app.py")).unwrap(), "v = 1\n");
        assert_eq!(fs::read_link(snapshot.dir.join("pkg/up")).unwrap(), Path::new(".."));
        assert!(!snapshot.dir.join("pkg/__pycache__").exists());
        // The folder changes; the snapshot does not, and is made once.
        fs::write(folder.path().join("app.py"), "v = 2\n").unwrap();
        assert_eq!(fs::read_to_string(snapshot.dir.join("app.py")).unwrap(), "v = 1\n");
        assert_eq!(store.snapshot(&local).unwrap(), snapshot);
        assert_eq!(store.snapshot(&snapshot).unwrap(), snapshot, "stored code is its own snapshot");
    }

    #[test]
    fn unpacks_once_keeps_executable_bits_and_reports_lambdas_sha() {
        let data = tempfile::tempdir().unwrap();
        let store = CodeStore::new(data.path()).unwrap();
        let zip = zip_of(&[("bootstrap", b"#!/bin/sh\n", 0o755), ("lib/app.py", b"x = 1\n", 0o644)]);
        let info = store.store_zip(&zip).unwrap();
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(info.dir.join("bootstrap")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o755);
        assert_eq!(fs::read(info.dir.join("lib/app.py")).unwrap(), b"x = 1\n");
        let expected = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(&zip));
        assert_eq!(info.sha256, expected);
        assert_eq!(store.store_zip(&zip).unwrap(), info, "the same zip is stored once");
    }

    #[test]
    fn entries_that_escape_the_code_directory_are_rejected() {
        let data = tempfile::tempdir().unwrap();
        let store = CodeStore::new(data.path()).unwrap();
        for name in ["../evil.py", "/etc/evil", "a/../../evil"] {
            let err = store.store_zip(&zip_of(&[(name, b"x", 0o644)])).unwrap_err();
            assert_eq!(err.code, "InvalidParameterValueException", "{name}");
            assert!(!data.path().join("evil.py").exists());
        }
        assert!(store.store_base64_zip("not base64!").is_err());
        assert!(store.store_zip(b"not a zip").is_err());
    }
}
