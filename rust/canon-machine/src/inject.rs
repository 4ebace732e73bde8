//! Fault injection at the transport boundary, for tests and demos: a fault
//! applied to the group's `nth` sent message between the sender's buffer push
//! and the receiver. Injections are set with `Group::inject`, are part of the
//! run's inputs (each applied one is recorded as an `Injected` event, so a
//! replay can be re-executed with the same injections) and never depend on
//! scheduling: `nth` counts the group's `Sent` events in canonical order.

use std::sync::Arc;

use canon_types::{Endpoint, SymId, Value};

/// What the transport does to one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub enum Injection {
    /// The message is delivered twice (same seq, same signature).
    Duplicate,
    /// The message is held back and delivered right after the next message
    /// on the same edge. With no later message on the edge it is never delivered.
    Reorder,
    /// The message is lost.
    Drop,
    /// The payload is altered after signing (see [`corrupt_value`]).
    CorruptPayload,
    /// One bit of the signature is flipped (no effect under `Auth::None`).
    CorruptSignature,
}

impl Injection {
    /// Every injection, in tag order.
    pub const ALL: [Injection; 5] = [
        Injection::Duplicate,
        Injection::Reorder,
        Injection::Drop,
        Injection::CorruptPayload,
        Injection::CorruptSignature,
    ];

    /// The stable tag byte used in replay records.
    pub fn byte(self) -> u8 {
        match self {
            Injection::Duplicate => 0,
            Injection::Reorder => 1,
            Injection::Drop => 2,
            Injection::CorruptPayload => 3,
            Injection::CorruptSignature => 4,
        }
    }

    /// The injection [`Injection::byte`] encodes.
    pub fn from_byte(b: u8) -> Option<Injection> {
        Injection::ALL.get(usize::from(b)).copied()
    }

    /// The kebab-case name (`duplicate`, `reorder`, `drop`, `corrupt-payload`, `corrupt-signature`).
    pub fn name(self) -> &'static str {
        match self {
            Injection::Duplicate => "duplicate",
            Injection::Reorder => "reorder",
            Injection::Drop => "drop",
            Injection::CorruptPayload => "corrupt-payload",
            Injection::CorruptSignature => "corrupt-signature",
        }
    }

    /// The injection named `name` (as [`Injection::name`] spells it).
    pub fn from_name(name: &str) -> Option<Injection> {
        Injection::ALL.into_iter().find(|i| i.name() == name)
    }
}

/// A deterministic corruption of a payload that always changes its canonical
/// encoding: integers get their low bit flipped, booleans negated, bytes and
/// strings their first byte's low bit flipped (an empty one gains a byte),
/// labels and endpoint roles their low bit flipped, a tuple its first item
/// (an empty tuple becomes `Unit`), and `Unit` becomes `Bool(true)`.
pub fn corrupt_value(v: &Value) -> Value {
    match v {
        Value::Unit => Value::Bool(true),
        Value::Bool(b) => Value::Bool(!b),
        Value::Int(i) => Value::Int(i ^ 1),
        Value::Bytes(b) => {
            let mut bytes = b.to_vec();
            match bytes.first_mut() {
                Some(first) => *first ^= 1,
                None => bytes.push(1),
            }
            Value::Bytes(Arc::from(bytes))
        }
        Value::Str(s) => {
            // Flipping bit 0 of an ASCII byte keeps the string UTF-8.
            let mut text = s.to_string();
            match text.chars().next() {
                Some(c) if c.is_ascii() => text.replace_range(..1, &char::from(c as u8 ^ 1).to_string()),
                _ => text.insert(0, '!'),
            }
            Value::Str(Arc::from(text))
        }
        Value::Label(l) => Value::Label(SymId(l.0 ^ 1)),
        Value::Endpoint(ep) => Value::Endpoint(Endpoint { sid: ep.sid, role: ep.role ^ 1 }),
        Value::Tuple(items) => match items.split_first() {
            Some((first, rest)) => {
                let mut out = Vec::with_capacity(items.len());
                out.push(corrupt_value(first));
                out.extend(rest.iter().cloned());
                Value::Tuple(Arc::from(out))
            }
            None => Value::Unit,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_and_names_round_trip() {
        for (i, inj) in Injection::ALL.into_iter().enumerate() {
            assert_eq!(inj.byte() as usize, i);
            assert_eq!(Injection::from_byte(inj.byte()), Some(inj));
            assert_eq!(Injection::from_name(inj.name()), Some(inj));
        }
        assert_eq!(Injection::from_byte(5), None);
        assert_eq!(Injection::from_name("lose"), None);
    }

    #[test]
    fn corruption_changes_every_encoding() {
        let values = [
            Value::Unit,
            Value::Bool(false),
            Value::Int(-4),
            Value::Bytes(Arc::from(&[][..])),
            Value::Bytes(Arc::from(&[7u8, 8][..])),
            Value::Str(Arc::from("")),
            Value::Str(Arc::from("héllo")),
            Value::Str(Arc::from("é")),
            Value::Label(SymId(3)),
            Value::Endpoint(Endpoint { sid: 1, role: 0 }),
            Value::Tuple(Arc::from(vec![Value::Int(1), Value::Unit])),
            Value::Tuple(Arc::from(Vec::new())),
        ];
        for v in &values {
            let c = corrupt_value(v);
            assert_ne!(v.to_bytes(), c.to_bytes(), "{v:?}");
            assert!(Value::decode(&c.to_bytes()).is_ok(), "{c:?} encodes canonically");
        }
    }
}
