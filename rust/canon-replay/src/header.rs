//! The replay header: what run this is — the program's digest, the whole
//! canonical configuration (seed included), and the program's string table.

use std::io::Read;

use canon_machine::Config;

use crate::error::ReplayError;
use crate::source::Source;

/// The four bytes every replay fragment starts with.
pub const MAGIC: [u8; 4] = *b"CNRP";

/// The replay format version this crate reads and writes.
pub const FORMAT_VERSION: u16 = 2;

/// Fixed-width part of the header before the configuration: magic, version,
/// flags, program digest, configuration length.
pub const HEADER_FIXED_BYTES: usize = 4 + 2 + 2 + 32 + 4;

/// Identifies the run a replay records. The configuration is recorded whole,
/// so a replay re-executes with no other input than the program. The string
/// table is the program's own (`Module::strings`), so labels and role names
/// print without the program.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReplayHeader {
    /// SHA-256 of the program's canonical bytecode.
    pub program_digest: [u8; 32],
    /// The machine configuration of the run (its seed is the run's seed).
    pub config: Config,
    /// The program's string table; `SymId(i)` in events names `strings[i]`.
    pub strings: Vec<String>,
}

impl ReplayHeader {
    /// The string `id` names, if it is in the table.
    pub fn sym(&self, id: canon_types::SymId) -> Option<&str> {
        self.strings.get(id.0 as usize).map(String::as_str)
    }

    /// The run's seed (`config.seed`).
    pub fn seed(&self) -> u64 {
        self.config.seed
    }

    /// SHA-256 of the canonical configuration ([`Config::digest`]).
    pub fn config_digest(&self) -> [u8; 32] {
        self.config.digest()
    }

    /// Appends the canonical header bytes to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(&self.program_digest);
        let config = self.config.canonical_bytes();
        out.extend_from_slice(&len_u32(config.len()).to_le_bytes());
        out.extend_from_slice(&config);
        out.extend_from_slice(&len_u32(self.strings.len()).to_le_bytes());
        for s in &self.strings {
            out.extend_from_slice(&len_u32(s.len()).to_le_bytes());
            out.extend_from_slice(s.as_bytes());
        }
    }

    /// Reads a header from the front of `src`.
    pub(crate) fn decode<R: Read>(src: &mut Source<R>) -> Result<ReplayHeader, ReplayError> {
        let magic: [u8; 4] = src.array("magic")?;
        if magic != MAGIC {
            return Err(ReplayError::BadMagic { offset: 0, found: magic });
        }
        let at = src.offset();
        let version = src.u16("format version")?;
        if version != FORMAT_VERSION {
            return Err(ReplayError::UnsupportedVersion { offset: at, version });
        }
        let at = src.offset();
        let flags = src.u16("flags")?;
        if flags != 0 {
            return Err(ReplayError::UnsupportedFlags { offset: at, flags });
        }
        let program_digest = src.array("program digest")?;
        let at = src.offset();
        let len = src.u32("config length")? as usize;
        if len != Config::CANONICAL_LEN {
            return Err(ReplayError::BadConfig { offset: at, length: len });
        }
        let mut bytes = Vec::with_capacity(len);
        src.bytes(len, "config", &mut bytes)?;
        let config =
            Config::from_canonical_bytes(&bytes).ok_or(ReplayError::BadConfig { offset: at + 4, length: len })?;
        let strings = decode_strings(src)?;
        Ok(ReplayHeader { program_digest, config, strings })
    }
}

fn decode_strings<R: Read>(src: &mut Source<R>) -> Result<Vec<String>, ReplayError> {
    let count = src.u32("string count")? as usize;
    // No capacity from the count: the table grows only with bytes actually read.
    let mut strings = Vec::new();
    let mut raw = Vec::new();
    for index in 0..count {
        let len = src.u32("string length")? as usize;
        let at = src.offset();
        raw.clear();
        src.bytes(len, "string bytes", &mut raw)?;
        let s = std::str::from_utf8(&raw).map_err(|_| ReplayError::BadString { offset: at, index })?;
        strings.push(s.to_owned());
    }
    Ok(strings)
}

/// A length written as a `u32` field. Lengths come from in-process values
/// (string tables, payloads bounded by `Limits`), never from untrusted input.
pub(crate) fn len_u32(len: usize) -> u32 {
    u32::try_from(len).expect("replay field longer than u32::MAX bytes")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> ReplayHeader {
        ReplayHeader {
            program_digest: [1; 32],
            config: Config { seed: 7, ..Config::default() },
            strings: vec!["Buyer".into(), "Seller".into(), "".into()],
        }
    }

    fn decode(bytes: &[u8]) -> Result<ReplayHeader, ReplayError> {
        ReplayHeader::decode(&mut Source::new(bytes))
    }

    #[test]
    fn header_round_trips() {
        let mut out = Vec::new();
        sample().encode(&mut out);
        assert_eq!(out.len(), HEADER_FIXED_BYTES + Config::CANONICAL_LEN + 4 + (4 + 5) + (4 + 6) + 4);
        assert_eq!(decode(&out), Ok(sample()));
        assert_eq!(sample().seed(), 7);
    }

    #[test]
    fn huge_string_count_is_truncation_not_allocation() {
        let mut out = Vec::new();
        ReplayHeader::default().encode(&mut out);
        let n = out.len();
        out[n - 4..].copy_from_slice(&u32::MAX.to_le_bytes());
        let err = decode(&out).unwrap_err();
        assert!(matches!(err, ReplayError::Truncated { offset, what: "string length", .. } if offset == n), "{err:?}");
    }

    #[test]
    fn a_huge_string_length_is_truncation_not_allocation() {
        let mut out = Vec::new();
        ReplayHeader { strings: vec!["x".into()], ..Default::default() }.encode(&mut out);
        let n = out.len();
        out[n - 5..n - 1].copy_from_slice(&u32::MAX.to_le_bytes());
        let err = decode(&out).unwrap_err();
        assert!(matches!(err, ReplayError::Truncated { what: "string bytes", available: 1, .. }), "{err:?}");
    }

    #[test]
    fn bad_utf8_names_the_string() {
        let mut out = Vec::new();
        ReplayHeader { strings: vec!["ok".into(), "x".into()], ..Default::default() }.encode(&mut out);
        let n = out.len();
        out[n - 1] = 0xff;
        assert_eq!(decode(&out).unwrap_err(), ReplayError::BadString { offset: n - 1, index: 1 });
    }

    #[test]
    fn a_config_that_is_not_canonical_is_bad_config() {
        let mut out = Vec::new();
        sample().encode(&mut out);
        let config_at = HEADER_FIXED_BYTES;
        let mut wrong_len = out.clone();
        wrong_len[config_at - 4] = 64;
        assert_eq!(decode(&wrong_len), Err(ReplayError::BadConfig { offset: config_at - 4, length: 64 }));
        let mut bad_tag = out.clone();
        bad_tag[config_at + 75] = 9; // auth
        assert_eq!(decode(&bad_tag), Err(ReplayError::BadConfig { offset: config_at, length: Config::CANONICAL_LEN }));
    }
}
