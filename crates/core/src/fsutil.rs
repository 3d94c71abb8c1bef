//! Small file helpers shared by the rsign crates: a bounded read of a
//! regular file and an atomic replace of a file.
//!
//! Both report typed errors that say which step failed, so callers can keep
//! their own error types and messages by mapping at the call site.

use std::fmt;
use std::fs;
use std::io::{self, Read as _, Write as _};
use std::path::{Path, PathBuf};

/// Why [`read_bounded`] did not return the file's bytes.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReadBoundedError {
    /// The path names a FIFO, device, directory or socket, which is refused
    /// before opening (opening a FIFO blocks until a writer appears).
    #[error("not a regular file")]
    NotRegularFile,
    /// The file holds more than `limit` bytes; `size` is its size if known,
    /// else `limit + 1`.
    #[error("file has {size} bytes, more than the limit of {limit}")]
    TooLarge {
        /// The file's size (at least `limit + 1`).
        size: u64,
        /// The limit that was exceeded.
        limit: u64,
    },
    /// Inspecting, opening or reading the file failed (including
    /// [`io::ErrorKind::NotFound`]).
    #[error("cannot read the file")]
    Io(#[source] io::Error),
}

impl ReadBoundedError {
    /// Whether the file does not exist.
    #[must_use]
    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::Io(e) if e.kind() == io::ErrorKind::NotFound)
    }
}

/// Reads all of the regular file `path`, refusing files over `limit` bytes.
///
/// The file type and size are checked on the metadata (following symlinks)
/// before the file is opened, and again on the opened file; the read itself
/// never buffers more than `limit + 1` bytes, so a file that grows while
/// being read is refused too. (The check and the open are not atomic;
/// whoever can swap the file in between can also just edit it.)
pub fn read_bounded(path: &Path, limit: u64) -> Result<Vec<u8>, ReadBoundedError> {
    let check = |meta: &fs::Metadata| {
        if !meta.is_file() {
            return Err(ReadBoundedError::NotRegularFile);
        }
        if meta.len() > limit {
            return Err(ReadBoundedError::TooLarge {
                size: meta.len(),
                limit,
            });
        }
        Ok(meta.len())
    };
    check(&fs::metadata(path).map_err(ReadBoundedError::Io)?)?;
    let file = fs::File::open(path).map_err(ReadBoundedError::Io)?;
    let len = check(&file.metadata().map_err(ReadBoundedError::Io)?)?;
    let cap = limit.saturating_add(1);
    let mut bytes = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
    file.take(cap)
        .read_to_end(&mut bytes)
        .map_err(ReadBoundedError::Io)?;
    if bytes.len() as u64 > limit {
        return Err(ReadBoundedError::TooLarge { size: cap, limit });
    }
    Ok(bytes)
}

/// The step of [`write_atomic`] that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum WriteStep {
    /// Creating the temporary file (the path is the directory).
    CreateTemp,
    /// Writing the bytes to the temporary file.
    Write,
    /// Setting the temporary file's mode.
    SetMode,
    /// Syncing the temporary file to disk.
    Sync,
    /// Renaming the temporary file over the destination (the path is the
    /// destination).
    Replace,
    /// Syncing the directory so the rename is durable (the path is the
    /// directory). The destination already holds the new bytes.
    SyncDir,
}

impl fmt::Display for WriteStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::CreateTemp => "create a temporary file in",
            Self::Write => "write",
            Self::SetMode => "set the mode of",
            Self::Sync => "sync",
            Self::Replace => "replace",
            Self::SyncDir => "sync directory",
        })
    }
}

/// A failed [`write_atomic`]: which step, on which path.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
#[error("cannot {step} `{}`", path.display())]
pub struct WriteAtomicError {
    /// The step that failed.
    pub step: WriteStep,
    /// The path the step worked on (the temporary file, the destination or
    /// the directory; see [`WriteStep`]).
    pub path: PathBuf,
    /// The underlying error.
    #[source]
    pub source: io::Error,
}

/// Replaces `path` with `bytes` atomically: a reader sees the old content or
/// the new, never a mix, and after a crash the file holds one of the two.
///
/// The bytes go to a new temporary file in the same directory (created
/// exclusively with `mode`), the mode is then set exactly (the umask may have
/// cleared bits), the file is synced, renamed over `path`, and the directory
/// is synced. On failure before the rename the temporary file is removed.
/// `mode` is ignored where there are no Unix permissions. The directory must
/// exist.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<(), WriteAtomicError> {
    let fail = |step, path: &Path| {
        let path = path.to_owned();
        move |source| WriteAtomicError { step, path, source }
    };
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let Some(name) = path.file_name() else {
        return Err(fail(WriteStep::CreateTemp, path)(io::Error::new(
            io::ErrorKind::InvalidInput,
            "the path has no file name",
        )));
    };
    let (tmp, mut file) = create_temp(dir, &name.to_string_lossy(), mode)
        .map_err(fail(WriteStep::CreateTemp, dir))?;
    let written = (|| {
        file.write_all(bytes)
            .map_err(fail(WriteStep::Write, &tmp))?;
        set_mode(&file, mode).map_err(fail(WriteStep::SetMode, &tmp))?;
        file.sync_all().map_err(fail(WriteStep::Sync, &tmp))
    })();
    drop(file);
    let renamed =
        written.and_then(|()| fs::rename(&tmp, path).map_err(fail(WriteStep::Replace, path)));
    if let Err(e) = renamed {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    sync_dir(dir).map_err(fail(WriteStep::SyncDir, dir))
}

/// Creates `.<name>.<random>.tmp` in `dir`, failing if it exists.
fn create_temp(dir: &Path, name: &str, mode: u32) -> io::Result<(PathBuf, fs::File)> {
    let mut last = io::Error::other("no temporary file name was tried");
    for _ in 0..16 {
        let mut random = [0u8; 8];
        getrandom::fill(&mut random).map_err(|e| io::Error::other(e.to_string()))?;
        let tmp = dir.join(format!(".{name}.{}.tmp", hex::encode(random)));
        let mut options = fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            options.mode(mode);
        }
        #[cfg(not(unix))]
        let _ = mode;
        match options.open(&tmp) {
            Ok(file) => return Ok((tmp, file)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last = e,
            Err(e) => return Err(e),
        }
    }
    Err(last)
}

fn set_mode(file: &fs::File, mode: u32) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        file.set_permissions(fs::Permissions::from_mode(mode))?;
    }
    #[cfg(not(unix))]
    let _ = (file, mode);
    Ok(())
}

/// Makes a rename in `dir` durable.
fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        fs::File::open(dir)?.sync_all()?;
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic, clippy::expect_used)]

    use super::*;
    use std::sync::mpsc;
    use std::time::Duration;

    #[test]
    fn reads_a_file_within_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        fs::write(&path, b"hello").unwrap();
        assert_eq!(read_bounded(&path, 5).unwrap(), b"hello");
        assert_eq!(read_bounded(&path, 100).unwrap(), b"hello");
    }

    #[test]
    fn refuses_a_file_over_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        fs::write(&path, b"hello!").unwrap();
        match read_bounded(&path, 5) {
            Err(ReadBoundedError::TooLarge { size, limit }) => {
                assert_eq!((size, limit), (6, 5));
            }
            other => panic!("expected TooLarge, got {other:?}"),
        }
    }

    #[test]
    fn missing_file_is_not_found_and_directory_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let err = read_bounded(&dir.path().join("absent"), 10).unwrap_err();
        assert!(err.is_not_found(), "{err:?}");
        let err = read_bounded(dir.path(), 10).unwrap_err();
        assert!(matches!(err, ReadBoundedError::NotRegularFile), "{err:?}");
        assert!(!err.is_not_found());
    }

    #[cfg(unix)]
    #[test]
    fn refuses_a_fifo_without_hanging() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        let status = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .expect("mkfifo must be available to run this test");
        assert!(status.success(), "mkfifo failed");
        let (tx, rx) = mpsc::channel();
        let path = fifo.clone();
        std::thread::spawn(move || {
            let _ = tx.send(read_bounded(&path, 10).map(|_| ()));
        });
        match rx.recv_timeout(Duration::from_secs(10)) {
            Ok(Err(ReadBoundedError::NotRegularFile)) => {}
            Ok(other) => panic!("expected NotRegularFile, got {other:?}"),
            Err(_) => {
                // Unblock the reader so the test process can exit.
                let _ = fs::OpenOptions::new().write(true).open(&fifo);
                panic!("read_bounded blocked on a FIFO");
            }
        }
    }

    #[test]
    fn write_atomic_creates_and_replaces() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.json");
        write_atomic(&path, b"first", 0o644).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"first");
        write_atomic(&path, b"second, longer", 0o644).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"second, longer");
        // No temporary file is left behind.
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("out.json")]);
    }

    #[test]
    fn a_concurrent_reader_sees_old_or_new_content() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let old = vec![b'a'; 64 * 1024];
        let new = vec![b'b'; 96 * 1024];
        write_atomic(&path, &old, 0o644).unwrap();
        let (done_tx, done_rx) = mpsc::channel::<()>();
        let reader = {
            let (path, old, new) = (path.clone(), old.clone(), new.clone());
            std::thread::spawn(move || {
                let mut reads = 0u32;
                while done_rx.try_recv().is_err() {
                    let got = fs::read(&path).unwrap();
                    assert!(got == old || got == new, "saw a mix of {} bytes", got.len());
                    reads += 1;
                }
                reads
            })
        };
        for i in 0..40 {
            let bytes = if i % 2 == 0 { &new } else { &old };
            write_atomic(&path, bytes, 0o644).unwrap();
        }
        done_tx.send(()).unwrap();
        assert!(reader.join().unwrap() > 0);
    }

    #[test]
    fn write_atomic_into_a_missing_directory_fails_at_create_temp() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("no").join("f");
        let err = write_atomic(&path, b"x", 0o600).unwrap_err();
        assert_eq!(err.step, WriteStep::CreateTemp);
        assert_eq!(err.path, dir.path().join("no"));
        assert_eq!(err.source.kind(), io::ErrorKind::NotFound);
    }

    #[cfg(unix)]
    #[test]
    fn write_atomic_sets_the_mode_exactly() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        fs::write(&path, b"old").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o666)).unwrap();
        write_atomic(&path, b"new", 0o600).unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        write_atomic(&path, b"newer", 0o644).unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o644);
    }
}
