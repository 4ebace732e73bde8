//! Reading fixed-width little-endian fields from any `std::io::Read`,
//! reporting absolute file offsets, and growing buffers only with the bytes
//! actually read (a length prefix never allocates by itself).

use std::io::{ErrorKind, Read};

use sha2::{Digest, Sha256};

use crate::error::ReplayError;

/// Bytes read per step when a length prefix asks for more: a claimed length
/// costs memory only as its bytes arrive.
const CHUNK: usize = 64 * 1024;

pub(crate) struct Source<R> {
    r: R,
    offset: usize,
    /// Hashes every byte read while set (the header, for `h_0`).
    hasher: Option<Sha256>,
}

impl<R: Read> Source<R> {
    pub fn new(r: R) -> Self {
        Source { r, offset: 0, hasher: None }
    }

    /// The file offset of the next byte.
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// Starts hashing the bytes read from here on.
    pub fn start_hash(&mut self) {
        self.hasher = Some(Sha256::new());
    }

    /// Stops hashing and returns the digest of the bytes read since `start_hash`.
    pub fn finish_hash(&mut self) -> [u8; 32] {
        self.hasher.take().map(|h| h.finalize().into()).unwrap_or_default()
    }

    /// Reads as many bytes as `buf` holds, or reports how many there were.
    fn fill(&mut self, buf: &mut [u8]) -> Result<usize, ReplayError> {
        let mut got = 0;
        while got < buf.len() {
            match self.r.read(&mut buf[got..]) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(ReplayError::Io { offset: self.offset + got, message: e.to_string() }),
            }
        }
        if let Some(h) = &mut self.hasher {
            h.update(&buf[..got]);
        }
        Ok(got)
    }

    /// Fills `buf` exactly; a short read is `Truncated` at the field's offset.
    pub fn exact(&mut self, buf: &mut [u8], what: &'static str) -> Result<(), ReplayError> {
        let got = self.fill(buf)?;
        if got < buf.len() {
            return Err(ReplayError::Truncated { offset: self.offset, what, needed: buf.len(), available: got });
        }
        self.offset += got;
        Ok(())
    }

    pub fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], ReplayError> {
        let mut out = [0u8; N];
        self.exact(&mut out, what)?;
        Ok(out)
    }

    pub fn u16(&mut self, what: &'static str) -> Result<u16, ReplayError> {
        self.array(what).map(u16::from_le_bytes)
    }

    pub fn u32(&mut self, what: &'static str) -> Result<u32, ReplayError> {
        self.array(what).map(u32::from_le_bytes)
    }

    pub fn u64(&mut self, what: &'static str) -> Result<u64, ReplayError> {
        self.array(what).map(u64::from_le_bytes)
    }

    /// Appends exactly `n` bytes to `out`, growing it chunk by chunk.
    pub fn bytes(&mut self, n: usize, what: &'static str, out: &mut Vec<u8>) -> Result<(), ReplayError> {
        let start = out.len();
        while out.len() - start < n {
            let step = (n - (out.len() - start)).min(CHUNK);
            let at = out.len();
            out.resize(at + step, 0);
            let got = self.fill(&mut out[at..])?;
            out.truncate(at + got);
            if got < step {
                let available = out.len() - start;
                out.truncate(start);
                return Err(ReplayError::Truncated { offset: self.offset, what, needed: n, available });
            }
        }
        self.offset += n;
        Ok(())
    }

    /// Counts the bytes left (0 at the end of the input), reading them in
    /// constant memory.
    pub fn rest(&mut self) -> Result<usize, ReplayError> {
        let mut buf = [0u8; 4096];
        let mut extra = 0;
        loop {
            let got = self.fill(&mut buf)?;
            if got == 0 {
                return Ok(extra);
            }
            extra += got;
        }
    }
}
