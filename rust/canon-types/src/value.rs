//! Runtime values and their one canonical encoding.
//!
//! Values are small and typed. Every value has exactly one byte encoding
//! ([`Value::encode`]); that encoding is what is signed, hashed and written to
//! replays. Heap-backed variants use `Arc` so that moving a value between
//! registers and buffers never allocates.

use std::sync::Arc;

/// An interned string id: an index into a module's string table. Role names,
/// labels, payload type names, effect names and handler names are all `SymId`s
/// at run time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, serde::Serialize, serde::Deserialize)]
pub struct SymId(pub u32);

/// A session endpoint: one role's end of one session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub struct Endpoint {
    /// Session id, unique within a machine.
    pub sid: u64,
    /// Index of the role in the session's role list (the order of `open`).
    pub role: u16,
}

/// `s<sid>.r<role>`: the session id and the role index, e.g. `s0.r1`.
impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "s{}.r{}", self.sid, self.role)
    }
}

/// A value held in a register, sent in a message, or answered by a host.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Value {
    /// The unit value `()`; also the initial content of every register.
    #[default]
    Unit,
    /// A boolean.
    Bool(bool),
    /// A signed 64-bit integer.
    Int(i64),
    /// A byte string.
    Bytes(Arc<[u8]>),
    /// A UTF-8 string.
    Str(Arc<str>),
    /// A label of the program's string table.
    Label(SymId),
    /// A session endpoint (delegation: it moves with the message).
    Endpoint(Endpoint),
    /// A tuple of values (a message with several payload items).
    Tuple(Arc<[Value]>),
}

/// The kind of a value, used by payload type checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub enum ValueKind {
    /// [`Value::Unit`].
    Unit,
    /// [`Value::Bool`].
    Bool,
    /// [`Value::Int`].
    Int,
    /// [`Value::Bytes`].
    Bytes,
    /// [`Value::Str`].
    Str,
    /// [`Value::Label`].
    Label,
    /// [`Value::Endpoint`].
    Endpoint,
    /// [`Value::Tuple`].
    Tuple,
}

/// Canonical encoding tags, one byte each (see `bytecode-spec/format.md`).
pub mod tag {
    /// The tag of [`crate::value::Value::Unit`].
    pub const UNIT: u8 = 0x00;
    /// The tag of [`crate::value::Value::Bool`].
    pub const BOOL: u8 = 0x01;
    /// The tag of [`crate::value::Value::Int`].
    pub const INT: u8 = 0x02;
    /// The tag of [`crate::value::Value::Bytes`].
    pub const BYTES: u8 = 0x03;
    /// The tag of [`crate::value::Value::Str`].
    pub const STR: u8 = 0x04;
    /// The tag of [`crate::value::Value::Label`].
    pub const LABEL: u8 = 0x05;
    /// The tag of [`crate::value::Value::Endpoint`].
    pub const ENDPOINT: u8 = 0x06;
    /// The tag of [`crate::value::Value::Tuple`].
    pub const TUPLE: u8 = 0x07;
}

/// Maximum nesting depth of tuples accepted by [`Value::decode`].
pub const MAX_VALUE_DEPTH: usize = 16;

/// Why a byte string is not a canonical value encoding.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ValueDecodeError {
    /// The input ends inside a value.
    #[error("value truncated at byte {offset}")]
    Truncated {
        /// The byte offset in the input where decoding failed.
        offset: usize,
    },
    /// A value tag that is not assigned.
    #[error("unknown value tag 0x{tag:02x} at byte {offset}")]
    UnknownTag {
        /// The byte offset in the input where decoding failed.
        offset: usize,
        /// The tag byte read.
        tag: u8,
    },
    /// A bool encoded as something other than 0 or 1.
    #[error("non-canonical bool byte 0x{byte:02x} at byte {offset}")]
    BadBool {
        /// The byte offset in the input where decoding failed.
        offset: usize,
        /// The byte read.
        byte: u8,
    },
    /// A string that is not UTF-8.
    #[error("string at byte {offset} is not UTF-8")]
    BadUtf8 {
        /// The byte offset in the input where decoding failed.
        offset: usize,
    },
    /// Tuples nested deeper than `MAX_VALUE_DEPTH`.
    #[error("tuple nesting deeper than {MAX_VALUE_DEPTH} at byte {offset}")]
    TooDeep {
        /// The byte offset in the input where decoding failed.
        offset: usize,
    },
}

impl ValueDecodeError {
    /// The byte offset, within the decoded bytes, at which decoding failed.
    pub fn offset(&self) -> usize {
        match *self {
            ValueDecodeError::Truncated { offset }
            | ValueDecodeError::UnknownTag { offset, .. }
            | ValueDecodeError::BadBool { offset, .. }
            | ValueDecodeError::BadUtf8 { offset }
            | ValueDecodeError::TooDeep { offset } => offset,
        }
    }
}

impl Value {
    /// The kind of this value.
    pub fn kind(&self) -> ValueKind {
        match self {
            Value::Unit => ValueKind::Unit,
            Value::Bool(_) => ValueKind::Bool,
            Value::Int(_) => ValueKind::Int,
            Value::Bytes(_) => ValueKind::Bytes,
            Value::Str(_) => ValueKind::Str,
            Value::Label(_) => ValueKind::Label,
            Value::Endpoint(_) => ValueKind::Endpoint,
            Value::Tuple(_) => ValueKind::Tuple,
        }
    }

    /// Appends the canonical encoding of `self` to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Value::Unit => out.push(tag::UNIT),
            Value::Bool(b) => out.extend_from_slice(&[tag::BOOL, u8::from(*b)]),
            Value::Int(i) => {
                out.push(tag::INT);
                out.extend_from_slice(&i.to_le_bytes());
            }
            Value::Bytes(b) => {
                out.push(tag::BYTES);
                out.extend_from_slice(&(b.len() as u32).to_le_bytes());
                out.extend_from_slice(b);
            }
            Value::Str(s) => {
                out.push(tag::STR);
                out.extend_from_slice(&(s.len() as u32).to_le_bytes());
                out.extend_from_slice(s.as_bytes());
            }
            Value::Label(SymId(id)) => {
                out.push(tag::LABEL);
                out.extend_from_slice(&id.to_le_bytes());
            }
            Value::Endpoint(ep) => {
                out.push(tag::ENDPOINT);
                out.extend_from_slice(&ep.sid.to_le_bytes());
                out.extend_from_slice(&ep.role.to_le_bytes());
            }
            Value::Tuple(items) => {
                out.push(tag::TUPLE);
                out.extend_from_slice(&(items.len() as u32).to_le_bytes());
                for item in items.iter() {
                    item.encode(out);
                }
            }
        }
    }

    /// The canonical encoding as a fresh vector.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode(&mut out);
        out
    }

    /// Length in bytes of the canonical encoding, without encoding.
    pub fn encoded_len(&self) -> usize {
        match self {
            Value::Unit => 1,
            Value::Bool(_) => 2,
            Value::Int(_) => 9,
            Value::Bytes(b) => 5 + b.len(),
            Value::Str(s) => 5 + s.len(),
            Value::Label(_) => 5,
            Value::Endpoint(_) => 11,
            Value::Tuple(items) => 5 + items.iter().map(Value::encoded_len).sum::<usize>(),
        }
    }

    /// Decodes one value from the front of `bytes`; returns it and the number
    /// of bytes read. Only canonical encodings are accepted.
    pub fn decode(bytes: &[u8]) -> Result<(Value, usize), ValueDecodeError> {
        let mut pos = 0;
        let value = decode_at(bytes, &mut pos, 0)?;
        Ok((value, pos))
    }
}

/// Values serialise (for machine checkpoints) as their canonical encoding,
/// so deserialising one goes through [`Value::decode`] and its nesting limit
/// ([`MAX_VALUE_DEPTH`]): a hostile input cannot recurse without bound.
impl serde::Serialize for Value {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(&self.to_bytes())
    }
}

impl<'de> serde::Deserialize<'de> for Value {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let bytes: Vec<u8> = serde::Deserialize::deserialize(d)?;
        match Value::decode(&bytes) {
            Ok((v, n)) if n == bytes.len() => Ok(v),
            Ok((_, n)) => Err(serde::de::Error::custom(format!("{} trailing bytes after a value", bytes.len() - n))),
            Err(e) => Err(serde::de::Error::custom(e)),
        }
    }
}

fn take<'a>(bytes: &'a [u8], pos: &mut usize, n: usize) -> Result<&'a [u8], ValueDecodeError> {
    let end = pos.checked_add(n).filter(|&e| e <= bytes.len()).ok_or(ValueDecodeError::Truncated { offset: *pos })?;
    let slice = &bytes[*pos..end];
    *pos = end;
    Ok(slice)
}

fn take_u32(bytes: &[u8], pos: &mut usize) -> Result<u32, ValueDecodeError> {
    let b = take(bytes, pos, 4)?;
    Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

fn decode_at(bytes: &[u8], pos: &mut usize, depth: usize) -> Result<Value, ValueDecodeError> {
    let start = *pos;
    let t = take(bytes, pos, 1)?[0];
    Ok(match t {
        tag::UNIT => Value::Unit,
        tag::BOOL => match take(bytes, pos, 1)?[0] {
            0 => Value::Bool(false),
            1 => Value::Bool(true),
            byte => return Err(ValueDecodeError::BadBool { offset: *pos - 1, byte }),
        },
        tag::INT => {
            let b = take(bytes, pos, 8)?;
            Value::Int(i64::from_le_bytes(b.try_into().expect("8 bytes")))
        }
        tag::BYTES => {
            let n = take_u32(bytes, pos)? as usize;
            Value::Bytes(Arc::from(take(bytes, pos, n)?))
        }
        tag::STR => {
            let n = take_u32(bytes, pos)? as usize;
            let at = *pos;
            let raw = take(bytes, pos, n)?;
            let s = std::str::from_utf8(raw).map_err(|_| ValueDecodeError::BadUtf8 { offset: at })?;
            Value::Str(Arc::from(s))
        }
        tag::LABEL => Value::Label(SymId(take_u32(bytes, pos)?)),
        tag::ENDPOINT => {
            let sid = u64::from_le_bytes(take(bytes, pos, 8)?.try_into().expect("8 bytes"));
            let role = u16::from_le_bytes(take(bytes, pos, 2)?.try_into().expect("2 bytes"));
            Value::Endpoint(Endpoint { sid, role })
        }
        tag::TUPLE => {
            if depth >= MAX_VALUE_DEPTH {
                return Err(ValueDecodeError::TooDeep { offset: start });
            }
            let n = take_u32(bytes, pos)? as usize;
            // Every item takes at least one byte: bound the allocation by the input.
            if n > bytes.len().saturating_sub(*pos) {
                return Err(ValueDecodeError::Truncated { offset: *pos });
            }
            let mut items = Vec::with_capacity(n);
            for _ in 0..n {
                items.push(decode_at(bytes, pos, depth + 1)?);
            }
            Value::Tuple(Arc::from(items))
        }
        tag => return Err(ValueDecodeError::UnknownTag { offset: start, tag }),
    })
}

impl ValueKind {
    /// The value kind a payload type name denotes, if it is a well-known name.
    /// Unknown names (host type aliases such as a Scribble `type <java> ...`
    /// declaration) return `None` and accept a value of any kind.
    pub fn for_type_name(name: &str) -> Option<ValueKind> {
        // ASCII case-insensitive without allocating (hosts call this per payload).
        const NAMES: &[(&str, ValueKind)] = &[
            ("unit", ValueKind::Unit),
            ("()", ValueKind::Unit),
            ("bool", ValueKind::Bool),
            ("boolean", ValueKind::Bool),
            ("int", ValueKind::Int),
            ("i64", ValueKind::Int),
            ("integer", ValueKind::Int),
            ("long", ValueKind::Int),
            ("nat", ValueKind::Int),
            ("bytes", ValueKind::Bytes),
            ("string", ValueKind::Str),
            ("str", ValueKind::Str),
            ("label", ValueKind::Label),
            ("endpoint", ValueKind::Endpoint),
        ];
        NAMES.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|&(_, k)| k)
    }
}

impl std::fmt::Display for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Value::Unit => write!(f, "()"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Int(i) => write!(f, "{i}"),
            Value::Bytes(b) => {
                write!(f, "0x{}", crate::Hex(b))
            }
            Value::Str(s) => write!(f, "{s:?}"),
            Value::Label(SymId(id)) => write!(f, "label#{id}"),
            Value::Endpoint(ep) => write!(f, "ep(s{}, r{})", ep.sid, ep.role),
            Value::Tuple(items) => {
                write!(f, "(")?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        write!(f, ", ")?;
                    }
                    write!(f, "{item}")?;
                }
                write!(f, ")")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn arb_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Unit),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::Int),
            proptest::collection::vec(any::<u8>(), 0..8).prop_map(|b| Value::Bytes(b.into())),
            "[a-z]{0,6}".prop_map(|s| Value::Str(s.as_str().into())),
            any::<u32>().prop_map(|i| Value::Label(SymId(i))),
            (any::<u64>(), any::<u16>()).prop_map(|(sid, role)| Value::Endpoint(Endpoint { sid, role })),
        ];
        leaf.prop_recursive(3, 16, 4, |inner| {
            proptest::collection::vec(inner, 0..4).prop_map(|v| Value::Tuple(v.into()))
        })
    }

    proptest! {
        #[test]
        fn value_round_trips(v in arb_value()) {
            let bytes = v.to_bytes();
            prop_assert_eq!(bytes.len(), v.encoded_len());
            let (back, n) = Value::decode(&bytes).unwrap();
            prop_assert_eq!(n, bytes.len());
            prop_assert_eq!(back, v);
        }

        #[test]
        fn accepted_bytes_are_canonical(bytes in proptest::collection::vec(any::<u8>(), 0..24)) {
            if let Ok((v, n)) = Value::decode(&bytes) {
                prop_assert_eq!(v.to_bytes(), bytes[..n].to_vec());
            }
        }
    }

    #[test]
    fn non_canonical_bool_is_rejected() {
        assert_eq!(Value::decode(&[tag::BOOL, 2]), Err(ValueDecodeError::BadBool { offset: 1, byte: 2 }));
    }
}
