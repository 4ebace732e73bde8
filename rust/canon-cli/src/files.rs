//! Writing output files atomically: the bytes go to a temporary file in the
//! destination's directory, which is then renamed over the destination, so a
//! reader (or an interrupted run) never sees a half-written file.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};

/// Writes `bytes` to `path` through a temporary file and a rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::Builder::new().prefix(".canon-").suffix(".tmp").tempfile_in(dir).with_context(|| {
        format!("cannot write {}: cannot create a temporary file in {}", path.display(), dir.display())
    })?;
    tmp.write_all(bytes)
        .and_then(|()| tmp.as_file().sync_all())
        .with_context(|| format!("cannot write {}", path.display()))?;
    tmp.persist(path).map_err(|e| e.error).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}
