//! Reading bounded input files and writing output files safely.
//!
//! Every error names the file. Output files are written to a temporary file
//! in the same directory and then moved into place, so a reader never sees
//! half a key; without `--force` the move refuses to replace an existing
//! file (link/rename without replace, the O_EXCL of renames).

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use crate::error::CliError;

/// Reads all of `path`, refusing files larger than `limit` bytes without
/// reading them. The bytes are zeroized on drop (they may be a key).
pub fn read_bounded(
    path: &Path,
    what: &'static str,
    limit: u64,
) -> Result<Zeroizing<Vec<u8>>, CliError> {
    let read_err = |source| CliError::ReadFile {
        what,
        path: path.to_owned(),
        source,
    };
    let too_large = || CliError::FileTooLarge {
        what,
        path: path.to_owned(),
        limit,
    };
    let file = fs_err::File::open(path).map_err(read_err)?;
    // Fast path for regular files; the bounded read below also covers pipes
    // and files that grow while being read.
    if file.metadata().map_err(read_err)?.len() > limit {
        return Err(too_large());
    }
    let mut bytes = Zeroizing::new(Vec::new());
    file.take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(read_err)?;
    if bytes.len() as u64 > limit {
        return Err(too_large());
    }
    Ok(bytes)
}

/// Whether an output may replace an existing file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overwrite {
    /// Fail with [`CliError::OutputExists`] if the file exists.
    Never,
    /// Replace an existing file atomically.
    Replace,
}

/// Fails with [`CliError::OutputExists`] for the first of `paths` that
/// exists (or is a dangling symlink). Called before anything is written, so a
/// refused command leaves every file as it was.
pub fn ensure_absent<'a>(paths: impl IntoIterator<Item = &'a Path>) -> Result<(), CliError> {
    for path in paths {
        if fs_err::symlink_metadata(path).is_ok() {
            return Err(CliError::OutputExists {
                path: path.to_owned(),
            });
        }
    }
    Ok(())
}

/// A file written to a temporary name next to its destination, not yet in
/// place; dropped without [`Staged::commit`], it is removed.
#[derive(Debug)]
pub struct Staged {
    temp: tempfile::NamedTempFile,
    path: PathBuf,
    what: &'static str,
}

/// Writes `data` to a temporary file beside `path` with Unix `mode`, synced
/// to disk, ready to be moved into place with [`Staged::commit`].
pub fn stage(path: &Path, what: &'static str, data: &[u8], mode: u32) -> Result<Staged, CliError> {
    let write_err = |source| CliError::WriteFile {
        what,
        path: path.to_owned(),
        source,
    };
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut temp = tempfile::Builder::new()
        .prefix(".rsign-tmp-")
        .tempfile_in(dir)
        .map_err(write_err)?;
    set_mode(temp.as_file(), mode).map_err(write_err)?;
    temp.write_all(data).map_err(write_err)?;
    temp.as_file().sync_all().map_err(write_err)?;
    Ok(Staged {
        temp,
        path: path.to_owned(),
        what,
    })
}

impl Staged {
    /// Moves the file into place; with [`Overwrite::Never`] an existing
    /// destination is left alone and the result is [`CliError::OutputExists`].
    pub fn commit(self, overwrite: Overwrite) -> Result<(), CliError> {
        let Staged { temp, path, what } = self;
        let result = match overwrite {
            Overwrite::Never => temp.persist_noclobber(&path),
            Overwrite::Replace => temp.persist(&path),
        };
        match result {
            Ok(_) => Ok(()),
            Err(e) if e.error.kind() == std::io::ErrorKind::AlreadyExists => {
                Err(CliError::OutputExists { path })
            }
            Err(e) => Err(CliError::WriteFile {
                what,
                path,
                source: e.error,
            }),
        }
    }
}

/// Writes `data` to `path` atomically (see [`stage`]).
pub fn write_atomic(
    path: &Path,
    what: &'static str,
    data: &[u8],
    mode: u32,
    overwrite: Overwrite,
) -> Result<(), CliError> {
    stage(path, what, data, mode)?.commit(overwrite)
}

/// Removes a file this run created, when a later step failed. A failure to
/// remove is logged, not reported: the original error matters more.
pub fn remove_created(path: &Path) {
    if let Err(e) = fs_err::remove_file(path) {
        tracing::warn!("failed to remove `{}`: {e}", path.display());
    }
}

#[cfg(unix)]
fn set_mode(file: &std::fs::File, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    file.set_permissions(std::fs::Permissions::from_mode(mode))
}

#[cfg(not(unix))]
fn set_mode(_file: &std::fs::File, _mode: u32) -> std::io::Result<()> {
    Ok(())
}
