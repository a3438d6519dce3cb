//! Safe output files: checked before any input is read, written atomically, removed on failure.
//!
//! A scan may run for hours and its outputs sit next to the files it must never destroy: the
//! profile that holds the secret key and the corpus under investigation. [`Outputs::prepare`]
//! therefore settles every output path *before* the scan reads anything:
//!
//! * an output that is the same file as an input or the profile (any `protected` path, also
//!   through a symlink or a hard link) is refused, `--force` or not;
//! * the same file named for two outputs is refused;
//! * an existing file is refused unless `force` is set, and an existing non-file (a directory,
//!   a device such as `/dev/null`) always;
//! * missing parent folders are created, and a temporary file is opened beside each output, which
//!   proves the folder writable.
//!
//! Everything is written to those temporary files; [`Outputs::commit`] renames them into place
//! (atomic on one file system). Dropping [`Outputs`] without committing removes the temporary
//! files, so a failed run leaves no partial output; if one rename fails, the outputs this run
//! already renamed are removed too.

use std::io::{Seek, Write};
use std::path::{Path, PathBuf};

use crate::error::{Result, ScanError};

/// One output being prepared.
#[derive(Debug)]
struct Pending {
    path: PathBuf,
    /// `parent (canonical)/file name`: compares outputs that name one file differently.
    resolved: PathBuf,
    temp: tempfile::NamedTempFile,
}

/// The outputs of one run, held as temporary files until [`Outputs::commit`].
#[derive(Debug)]
pub struct Outputs {
    pending: Vec<Pending>,
}

fn refuse(path: &Path, reason: impl Into<String>) -> ScanError {
    ScanError::Output {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// Whether two existing paths are one file (same device and inode on Unix).
fn same_file(a: &std::fs::Metadata, b: &std::fs::Metadata) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        a.dev() == b.dev() && a.ino() == b.ino()
    }
    #[cfg(not(unix))]
    {
        let _ = (a, b);
        false
    }
}

fn same_path(a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}

impl Outputs {
    /// Checks and opens every output (see the module documentation). `protected` lists the
    /// files the run reads (inputs, profile, accounts…); directories and `-` in it are ignored.
    /// Nothing is created at the output paths themselves until [`Outputs::commit`].
    pub fn prepare(outputs: &[&Path], protected: &[&Path], force: bool) -> Result<Outputs> {
        let mut pending: Vec<Pending> = Vec::with_capacity(outputs.len());
        for &path in outputs {
            let name = path
                .file_name()
                .filter(|_| !path.as_os_str().to_string_lossy().ends_with('/'))
                .ok_or_else(|| refuse(path, "names a folder, not a file"))?;
            if path.as_os_str() == "-" {
                return Err(refuse(path, "outputs cannot go to standard output here"));
            }
            if let Ok(meta) = std::fs::metadata(path) {
                for &p in protected {
                    if p.as_os_str() == "-" {
                        continue;
                    }
                    if let Ok(pm) = std::fs::metadata(p) {
                        if pm.is_file() && (same_file(&meta, &pm) || same_path(path, p)) {
                            return Err(refuse(
                                path,
                                format!(
                                    "is {} which this run reads; refusing to overwrite it (even with --force)",
                                    p.display()
                                ),
                            ));
                        }
                    }
                }
                if !meta.is_file() {
                    return Err(refuse(path, "exists and is not a regular file"));
                }
                if !force {
                    return Err(refuse(path, "exists; pass --force to replace it"));
                }
            }
            let parent = match path.parent().filter(|d| !d.as_os_str().is_empty()) {
                Some(d) => d.to_path_buf(),
                None => PathBuf::from("."),
            };
            std::fs::create_dir_all(&parent).map_err(|e| {
                refuse(
                    path,
                    format!("cannot create folder {}: {e}", parent.display()),
                )
            })?;
            let resolved = std::fs::canonicalize(&parent)
                .map_err(|e| ScanError::io(&parent, e))?
                .join(name);
            if let Some(other) = pending.iter().find(|p| p.resolved == resolved) {
                return Err(refuse(
                    path,
                    format!(
                        "is also given for another output ({})",
                        other.path.display()
                    ),
                ));
            }
            let prefix = format!(".{}.", name.to_string_lossy());
            let mut builder = tempfile::Builder::new();
            builder.prefix(&prefix).suffix(".provmark-tmp");
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                // The usual mode of a new file (the umask still applies): reports are shared.
                builder.permissions(std::fs::Permissions::from_mode(0o666));
            }
            let temp = builder
                .tempfile_in(&parent)
                .map_err(|e| refuse(path, format!("folder is not writable: {e}")))?;
            pending.push(Pending {
                path: path.to_path_buf(),
                resolved,
                temp,
            });
        }
        Ok(Outputs { pending })
    }

    /// The temporary file standing in for the `i`-th output (for writers that open a path).
    pub fn temp_path(&self, i: usize) -> Option<&Path> {
        self.pending.get(i).map(|p| p.temp.path())
    }

    /// Writes the whole content of the `i`-th output (to its temporary file).
    pub fn write(&mut self, i: usize, bytes: &[u8]) -> Result<()> {
        let p = self
            .pending
            .get_mut(i)
            .ok_or_else(|| ScanError::Internal(format!("no output #{i}")))?;
        let f = p.temp.as_file_mut();
        f.set_len(0)
            .and_then(|()| f.seek(std::io::SeekFrom::Start(0)).map(drop))
            .map_err(|e| ScanError::io(&p.path, e))?;
        f.write_all(bytes)
            .and_then(|()| f.flush())
            .map_err(|e| ScanError::io(&p.path, e))
    }

    /// Moves every temporary file into place. On failure the outputs already moved are removed
    /// (and the rest are dropped), so the run leaves nothing behind.
    pub fn commit(self) -> Result<()> {
        let mut done: Vec<PathBuf> = Vec::new();
        for p in self.pending {
            let sync = p.temp.as_file().sync_all();
            let result = sync.map_err(|e| ScanError::io(&p.path, e)).and_then(|()| {
                p.temp
                    .persist(&p.path)
                    .map(drop)
                    .map_err(|e| ScanError::io(&p.path, e.error))
            });
            if let Err(e) = result {
                for d in &done {
                    let _ = std::fs::remove_file(d);
                }
                return Err(e);
            }
            done.push(p.path);
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn refuses_inputs_existing_files_and_duplicates() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("key.json");
        let corpus = dir.path().join("s.jsonl");
        std::fs::write(&key, "secret").unwrap();
        std::fs::write(&corpus, "{}").unwrap();
        let prot = [key.as_path(), corpus.as_path()];
        for out in [&key, &corpus] {
            for force in [false, true] {
                let e = Outputs::prepare(&[out], &prot, force).unwrap_err();
                assert!(e.to_string().contains("refusing to overwrite"), "{e}");
            }
        }
        // Through another spelling of the same path.
        let odd = dir.path().join(".").join("key.json");
        assert!(Outputs::prepare(&[&odd], &prot, true).is_err());
        assert_eq!(std::fs::read_to_string(&key).unwrap(), "secret");

        let old = dir.path().join("old.json");
        std::fs::write(&old, "old").unwrap();
        let e = Outputs::prepare(&[&old], &prot, false).unwrap_err();
        assert!(e.to_string().contains("--force"), "{e}");
        assert!(Outputs::prepare(&[&old], &prot, true).is_ok());

        let a = dir.path().join("r.json");
        let b = dir.path().join("sub/../r.json");
        std::fs::create_dir_all(dir.path().join("sub")).unwrap();
        let e = Outputs::prepare(&[&a, &b], &prot, true).unwrap_err();
        assert!(e.to_string().contains("another output"), "{e}");
        assert!(Outputs::prepare(&[dir.path()], &prot, true).is_err());
    }

    #[cfg(unix)]
    #[test]
    fn refuses_a_symlink_to_the_profile() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("key.json");
        std::fs::write(&key, "secret").unwrap();
        let link = dir.path().join("link.json");
        std::os::unix::fs::symlink(&key, &link).unwrap();
        assert!(Outputs::prepare(&[&link], &[&key], true).is_err());
        assert_eq!(std::fs::read_to_string(&key).unwrap(), "secret");
    }

    #[test]
    fn writes_atomically_and_leaves_nothing_when_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("new/a.json");
        let b = dir.path().join("b.html");
        let mut out = Outputs::prepare(&[&a, &b], &[], false).unwrap();
        out.write(0, b"first").unwrap();
        out.write(0, b"A").unwrap();
        out.write(1, b"B").unwrap();
        assert!(!a.exists() && !b.exists());
        out.commit().unwrap();
        assert_eq!(std::fs::read(&a).unwrap(), b"A");
        assert_eq!(std::fs::read(&b).unwrap(), b"B");

        let c = dir.path().join("c.json");
        let mut out = Outputs::prepare(&[&c], &[], false).unwrap();
        out.write(0, b"partial").unwrap();
        drop(out);
        let left: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert!(!c.exists());
        assert!(
            !left
                .iter()
                .any(|n| n.to_string_lossy().contains("provmark-tmp")),
            "{left:?}"
        );
    }

    #[cfg(unix)]
    #[test]
    fn unwritable_folder_fails_before_anything_is_read() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let ro = dir.path().join("ro");
        std::fs::create_dir(&ro).unwrap();
        std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o555)).unwrap();
        let probe = ro.join("probe");
        if std::fs::write(&probe, b"x").is_ok() {
            // Running as root: permissions do not bind; nothing to test here.
            eprintln!("skipped: this user can write to a read-only folder");
            return;
        }
        let e = Outputs::prepare(&[&ro.join("r.json")], &[], false).unwrap_err();
        assert!(e.to_string().contains("not writable"), "{e}");
    }
}
