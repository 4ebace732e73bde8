//! Writing output files atomically: the bytes go to a temporary file in the
//! destination's directory, which is then renamed over the destination, so a
//! reader (or an interrupted run) never sees a half-written file.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};

/// Writes `bytes` to `path` through a temporary file and a rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = parent(path);
    let mut tmp = temp_builder().tempfile_in(dir).with_context(|| {
        format!("cannot write {}: cannot create a temporary file in {}", path.display(), dir.display())
    })?;
    tmp.write_all(bytes)
        .and_then(|()| tmp.as_file().sync_all())
        .with_context(|| format!("cannot write {}", path.display()))?;
    tmp.persist(path).map_err(|e| e.error).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

/// An output file written as it streams: the bytes go to a temporary file
/// beside `path`, renamed over it by [`AtomicFile::commit`]. Dropped
/// uncommitted, the temporary file is removed and `path` is untouched.
pub struct AtomicFile {
    path: std::path::PathBuf,
    tmp: std::io::BufWriter<tempfile::NamedTempFile>,
}

impl AtomicFile {
    /// Creates the temporary file for `path`.
    pub fn create(path: &Path) -> Result<AtomicFile> {
        let dir = parent(path);
        let tmp = temp_builder().tempfile_in(dir).with_context(|| {
            format!("cannot write {}: cannot create a temporary file in {}", path.display(), dir.display())
        })?;
        Ok(AtomicFile { path: path.to_owned(), tmp: std::io::BufWriter::with_capacity(1 << 16, tmp) })
    }

    /// The file the bytes go to.
    pub fn writer(&mut self) -> &mut dyn Write {
        &mut self.tmp
    }

    /// What was written so far, from its start (the buffer flushed first).
    pub fn reread(&mut self) -> Result<std::fs::File> {
        use std::io::Seek;
        self.tmp.flush().with_context(|| format!("cannot write {}", self.path.display()))?;
        let mut file =
            self.tmp.get_ref().reopen().with_context(|| format!("cannot read back {}", self.path.display()))?;
        file.rewind()?;
        Ok(file)
    }

    /// Flushes, syncs and renames the temporary file over the destination.
    pub fn commit(self) -> Result<()> {
        let path = self.path;
        let tmp = self
            .tmp
            .into_inner()
            .map_err(|e| e.into_error())
            .with_context(|| format!("cannot write {}", path.display()))?;
        tmp.as_file().sync_all().with_context(|| format!("cannot write {}", path.display()))?;
        tmp.persist(&path).map_err(|e| e.error).with_context(|| format!("cannot write {}", path.display()))?;
        Ok(())
    }
}

fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

fn temp_builder() -> tempfile::Builder<'static, 'static> {
    let mut builder = tempfile::Builder::new();
    builder.prefix(".canon-").suffix(".tmp");
    // A temporary file is private (0600); the output gets the mode any new
    // file gets (0666 less the umask), as `File::create` would give it.
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666));
    builder
}
