//! Lower-case hexadecimal, the one encoder every crate and the CLI use for
//! digests, roots and byte values.

use std::fmt;

/// `bytes` as lower-case hex, two digits per byte, no separator.
pub fn hex(bytes: &[u8]) -> String {
    Hex(bytes).to_string()
}

/// Displays its bytes as lower-case hex without allocating.
#[derive(Debug, Clone, Copy)]
pub struct Hex<'a>(pub &'a [u8]);

impl fmt::Display for Hex<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_is_two_lower_case_digits_per_byte() {
        assert_eq!(hex(&[]), "");
        assert_eq!(hex(&[0x00, 0x0f, 0xa0, 0xff]), "000fa0ff");
        assert_eq!(format!("0x{}", Hex(&[1, 0xab])), "0x01ab");
    }
}
