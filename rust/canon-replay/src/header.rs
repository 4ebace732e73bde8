//! The replay header: what run this is, and the program's string table.

use crate::cursor::{Cursor, Short};
use crate::error::ReplayError;

/// The four bytes every replay fragment starts with.
pub const MAGIC: [u8; 4] = *b"CNRP";

/// The replay format version this crate reads and writes.
pub const FORMAT_VERSION: u16 = 1;

/// Fixed-width part of the header: magic, version, flags, two digests, seed.
pub const HEADER_FIXED_BYTES: usize = 4 + 2 + 2 + 32 + 32 + 8;

/// Identifies the run a replay records. The string table is the program's
/// own (`Module::strings`), so labels and role names print without the program.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReplayHeader {
    /// SHA-256 of the program's canonical bytecode.
    pub program_digest: [u8; 32],
    /// SHA-256 of the canonical machine configuration.
    pub config_digest: [u8; 32],
    /// The run's explicit seed.
    pub seed: u64,
    /// The program's string table; `SymId(i)` in events names `strings[i]`.
    pub strings: Vec<String>,
}

impl ReplayHeader {
    /// The string `id` names, if it is in the table.
    pub fn sym(&self, id: canon_types::SymId) -> Option<&str> {
        self.strings.get(id.0 as usize).map(String::as_str)
    }

    /// Appends the canonical header bytes to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(&self.program_digest);
        out.extend_from_slice(&self.config_digest);
        out.extend_from_slice(&self.seed.to_le_bytes());
        out.extend_from_slice(&len_u32(self.strings.len()).to_le_bytes());
        for s in &self.strings {
            out.extend_from_slice(&len_u32(s.len()).to_le_bytes());
            out.extend_from_slice(s.as_bytes());
        }
    }

    /// Reads a header from the front of the cursor.
    pub(crate) fn decode(c: &mut Cursor<'_>) -> Result<ReplayHeader, ReplayError> {
        let magic: [u8; 4] = c.array("magic").map_err(truncated)?;
        if magic != MAGIC {
            return Err(ReplayError::BadMagic { offset: 0, found: magic });
        }
        let at = c.offset();
        let version = c.u16("format version").map_err(truncated)?;
        if version != FORMAT_VERSION {
            return Err(ReplayError::UnsupportedVersion { offset: at, version });
        }
        let at = c.offset();
        let flags = c.u16("flags").map_err(truncated)?;
        if flags != 0 {
            return Err(ReplayError::UnsupportedFlags { offset: at, flags });
        }
        let program_digest = c.array("program digest").map_err(truncated)?;
        let config_digest = c.array("config digest").map_err(truncated)?;
        let seed = c.u64("seed").map_err(truncated)?;
        let strings = decode_strings(c)?;
        Ok(ReplayHeader { program_digest, config_digest, seed, strings })
    }
}

fn decode_strings(c: &mut Cursor<'_>) -> Result<Vec<String>, ReplayError> {
    let at = c.offset();
    let count = c.u32("string count").map_err(truncated)? as usize;
    // Every entry takes at least its 4-byte length: bound the allocation by the input.
    if count > c.remaining() / 4 {
        let short =
            Short { offset: at, what: "string table", needed: count.saturating_mul(4), available: c.remaining() };
        return Err(truncated(short));
    }
    let mut strings = Vec::with_capacity(count);
    for index in 0..count {
        let len = c.u32("string length").map_err(truncated)? as usize;
        let at = c.offset();
        let raw = c.take(len, "string bytes").map_err(truncated)?;
        let s = std::str::from_utf8(raw).map_err(|_| ReplayError::BadString { offset: at, index })?;
        strings.push(s.to_owned());
    }
    Ok(strings)
}

/// A length written as a `u32` field. Lengths come from in-process values
/// (string tables, payloads bounded by `Limits`), never from untrusted input.
pub(crate) fn len_u32(len: usize) -> u32 {
    u32::try_from(len).expect("replay field longer than u32::MAX bytes")
}

/// A short read in the file structure (outside an event record).
pub(crate) fn truncated(s: Short) -> ReplayError {
    ReplayError::Truncated { offset: s.offset, what: s.what, needed: s.needed, available: s.available }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> ReplayHeader {
        ReplayHeader {
            program_digest: [1; 32],
            config_digest: [2; 32],
            seed: 7,
            strings: vec!["Buyer".into(), "Seller".into(), "".into()],
        }
    }

    #[test]
    fn header_round_trips() {
        let mut out = Vec::new();
        sample().encode(&mut out);
        assert_eq!(out.len(), HEADER_FIXED_BYTES + 4 + (4 + 5) + (4 + 6) + 4);
        let mut c = Cursor::new(&out, 0);
        assert_eq!(ReplayHeader::decode(&mut c), Ok(sample()));
        assert_eq!(c.remaining(), 0);
    }

    #[test]
    fn huge_string_count_is_truncation_not_allocation() {
        let mut out = Vec::new();
        ReplayHeader::default().encode(&mut out);
        let n = out.len();
        out[n - 4..].copy_from_slice(&u32::MAX.to_le_bytes());
        let err = ReplayHeader::decode(&mut Cursor::new(&out, 0)).unwrap_err();
        assert!(matches!(err, ReplayError::Truncated { offset, what: "string table", .. } if offset == n - 4));
    }

    #[test]
    fn bad_utf8_names_the_string() {
        let mut out = Vec::new();
        ReplayHeader { strings: vec!["ok".into(), "x".into()], ..Default::default() }.encode(&mut out);
        let n = out.len();
        out[n - 1] = 0xff;
        let err = ReplayHeader::decode(&mut Cursor::new(&out, 0)).unwrap_err();
        assert_eq!(err, ReplayError::BadString { offset: n - 1, index: 1 });
    }
}
