//! A bounds-checked little-endian reader that reports absolute file offsets.

/// A read ran past the end of the slice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Short {
    /// Absolute offset of the field that did not fit.
    pub offset: usize,
    pub what: &'static str,
    pub needed: usize,
    pub available: usize,
}

/// Reads fixed-width little-endian fields from `bytes`; `base` is the file
/// offset of `bytes[0]`, so every position it reports is a file offset.
pub(crate) struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
    base: usize,
}

impl<'a> Cursor<'a> {
    pub fn new(bytes: &'a [u8], base: usize) -> Self {
        Cursor { bytes, pos: 0, base }
    }

    /// The file offset of the next byte.
    pub fn offset(&self) -> usize {
        self.base + self.pos
    }

    /// Position within the slice.
    pub fn pos(&self) -> usize {
        self.pos
    }

    pub fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    /// The unread rest of the slice.
    pub fn rest(&self) -> &'a [u8] {
        &self.bytes[self.pos..]
    }

    pub fn skip(&mut self, n: usize) {
        debug_assert!(n <= self.remaining());
        self.pos += n;
    }

    pub fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], Short> {
        if n > self.remaining() {
            return Err(Short { offset: self.offset(), what, needed: n, available: self.remaining() });
        }
        let slice = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(slice)
    }

    pub fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], Short> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N, what)?);
        Ok(out)
    }

    pub fn u8(&mut self, what: &'static str) -> Result<u8, Short> {
        Ok(self.array::<1>(what)?[0])
    }

    pub fn u16(&mut self, what: &'static str) -> Result<u16, Short> {
        self.array(what).map(u16::from_le_bytes)
    }

    pub fn u32(&mut self, what: &'static str) -> Result<u32, Short> {
        self.array(what).map(u32::from_le_bytes)
    }

    pub fn u64(&mut self, what: &'static str) -> Result<u64, Short> {
        self.array(what).map(u64::from_le_bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_absolute_offsets() {
        let bytes = [1, 0, 2, 0, 0, 0];
        let mut c = Cursor::new(&bytes, 100);
        assert_eq!(c.u16("a"), Ok(1));
        assert_eq!(c.offset(), 102);
        assert_eq!(c.u64("b"), Err(Short { offset: 102, what: "b", needed: 8, available: 4 }));
        assert_eq!(c.u32("c"), Ok(2));
        assert_eq!(c.remaining(), 0);
    }
}
