//! Typed conversions between [`Value`] and Rust types, for host handlers:
//! `i64::try_from(payload)?`, `let (price, title): (i64, String) =
//! payload.try_into()?`, `Value::from(42)`, `Value::from(("ok", true))`.
//!
//! `TryFrom` checks the value's kind (and, for tuples, its arity) and says
//! what it expected and what it found; `From` never fails. Endpoints and
//! labels have no Rust counterpart here: a host never produces them.

use std::sync::Arc;

use crate::value::{Value, ValueKind};

/// Why a [`Value`] does not convert to the Rust type asked for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ValueTypeError {
    /// The value is of another kind.
    #[error("expected a value of kind {expected:?}, found {found:?}")]
    Kind {
        /// The kind the conversion needs.
        expected: ValueKind,
        /// The value's kind.
        found: ValueKind,
    },
    /// The value is a tuple of another length.
    #[error("expected a tuple of {expected} items, found {found}")]
    Arity {
        /// The tuple length the conversion needs.
        expected: usize,
        /// The tuple's length.
        found: usize,
    },
}

fn kind_error(expected: ValueKind, found: &Value) -> ValueTypeError {
    ValueTypeError::Kind { expected, found: found.kind() }
}

macro_rules! scalar {
    ($ty:ty, $kind:ident, $pat:pat => $out:expr, $from:ident => $into:expr) => {
        impl TryFrom<Value> for $ty {
            type Error = ValueTypeError;
            fn try_from(v: Value) -> Result<$ty, ValueTypeError> {
                <$ty>::try_from(&v)
            }
        }

        impl TryFrom<&Value> for $ty {
            type Error = ValueTypeError;
            fn try_from(v: &Value) -> Result<$ty, ValueTypeError> {
                match v {
                    $pat => Ok($out),
                    other => Err(kind_error(ValueKind::$kind, other)),
                }
            }
        }

        impl From<$ty> for Value {
            fn from($from: $ty) -> Value {
                $into
            }
        }
    };
}

scalar!(i64, Int, Value::Int(n) => *n, n => Value::Int(n));
scalar!(bool, Bool, Value::Bool(b) => *b, b => Value::Bool(b));
scalar!((), Unit, Value::Unit => (), _u => Value::Unit);
scalar!(String, Str, Value::Str(s) => s.to_string(), s => Value::Str(Arc::from(s)));
scalar!(Vec<u8>, Bytes, Value::Bytes(b) => b.to_vec(), b => Value::Bytes(Arc::from(b)));

/// Lossless widenings of smaller integers to `Value::Int`.
macro_rules! widen {
    ($($t:ty),+) => {
        $(impl From<$t> for Value {
            fn from(n: $t) -> Value {
                Value::Int(i64::from(n))
            }
        })+
    };
}

widen!(i32, u32, i16, u16, i8, u8);

impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::Str(Arc::from(s))
    }
}

impl From<&[u8]> for Value {
    fn from(b: &[u8]) -> Value {
        Value::Bytes(Arc::from(b))
    }
}

/// The items of a tuple of exactly `n` items.
fn tuple_items(v: &Value, n: usize) -> Result<&[Value], ValueTypeError> {
    match v {
        Value::Tuple(items) if items.len() == n => Ok(items),
        Value::Tuple(items) => Err(ValueTypeError::Arity { expected: n, found: items.len() }),
        other => Err(kind_error(ValueKind::Tuple, other)),
    }
}

macro_rules! tuple {
    ($n:literal: $($t:ident $i:tt),+) => {
        impl<$($t),+> TryFrom<&Value> for ($($t,)+)
        where
            $(for<'v> $t: TryFrom<&'v Value, Error = ValueTypeError>,)+
        {
            type Error = ValueTypeError;
            fn try_from(v: &Value) -> Result<Self, ValueTypeError> {
                let items = tuple_items(v, $n)?;
                Ok(($($t::try_from(&items[$i])?,)+))
            }
        }

        impl<$($t),+> TryFrom<Value> for ($($t,)+)
        where
            $(for<'v> $t: TryFrom<&'v Value, Error = ValueTypeError>,)+
        {
            type Error = ValueTypeError;
            fn try_from(v: Value) -> Result<Self, ValueTypeError> {
                <($($t,)+)>::try_from(&v)
            }
        }

        impl<$($t: Into<Value>),+> From<($($t,)+)> for Value {
            fn from(t: ($($t,)+)) -> Value {
                Value::Tuple(Arc::from(vec![$(t.$i.into()),+]))
            }
        }
    };
}

tuple!(2: A 0, B 1);
tuple!(3: A 0, B 1, C 2);
tuple!(4: A 0, B 1, C 2, D 3);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalars_round_trip() {
        assert_eq!(i64::try_from(Value::from(-7)), Ok(-7));
        assert_eq!(bool::try_from(Value::from(true)), Ok(true));
        assert_eq!(<()>::try_from(Value::from(())), Ok(()));
        assert_eq!(String::try_from(Value::from("hé")), Ok("hé".to_owned()));
        assert_eq!(Vec::<u8>::try_from(Value::from(&b"ab"[..])), Ok(b"ab".to_vec()));
    }

    #[test]
    fn wrong_kinds_name_what_was_expected_and_found() {
        assert_eq!(
            i64::try_from(Value::from("x")),
            Err(ValueTypeError::Kind { expected: ValueKind::Int, found: ValueKind::Str })
        );
        assert_eq!(
            String::try_from(&Value::Int(1)).unwrap_err().to_string(),
            "expected a value of kind Str, found Int"
        );
    }

    #[test]
    fn tuples_check_arity_and_each_item() {
        let v = Value::from((42, "Dune", true));
        assert_eq!(<(i64, String, bool)>::try_from(&v), Ok((42, "Dune".to_owned(), true)));
        assert_eq!(<(i64, String)>::try_from(&v), Err(ValueTypeError::Arity { expected: 2, found: 3 }));
        assert_eq!(
            <(i64, i64, bool)>::try_from(v),
            Err(ValueTypeError::Kind { expected: ValueKind::Int, found: ValueKind::Str })
        );
        assert_eq!(
            <(i64, i64)>::try_from(Value::Int(1)),
            Err(ValueTypeError::Kind { expected: ValueKind::Tuple, found: ValueKind::Int })
        );
        let nested = Value::from(((1, 2), ()));
        assert_eq!(<((i64, i64), ())>::try_from(&nested), Ok(((1, 2), ())));
    }
}
