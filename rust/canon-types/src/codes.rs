//! Stable numeric error codes, by range:
//!
//! | range | family |
//! |---|---|
//! | 1xxx | bytecode decode (`canon_bytecode::DecodeError`) |
//! | 2xxx | bytecode verify (`canon_bytecode::VerifyError`); 21xx program names (`canon_bytecode::UnknownName`) |
//! | 3xxx | runtime faults (`canon_machine::Fault`) |
//! | 4xxx | ownership and authority |
//! | 5xxx | replay artifacts (`canon_replay::ReplayError`) |
//! | 6xxx | choreography diagnostics (`canon_choreo`) |
//!
//! A code, once published, never changes meaning. Every family lists its codes
//! in a `CODES` table; a snapshot test pins the union of all tables.

/// One row of a family's code table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CodeEntry {
    /// The stable number.
    pub code: u16,
    /// The variant name, e.g. `"UnknownOpcode"`.
    pub name: &'static str,
    /// One line saying what it means.
    pub summary: &'static str,
}

/// Implemented by every error family that carries a stable code.
pub trait ErrorCode {
    /// The stable numeric code of this error value.
    fn code(&self) -> u16;
}

/// Declares an error family's code table and its [`ErrorCode`] impl from one
/// list, so the two cannot drift apart: one row per variant, `Variant = code:
/// "summary"`. The table lists the rows in order; `code()` maps each variant
/// (of any shape) to its number. A family of one error type that is a struct
/// is declared `TABLE for struct Type = code: "summary"`. A variant that wraps an error of another
/// family (`Variant(inner)`) is listed after `delegate`: its code is the inner
/// error's, and its rows are in the inner family's table.
///
/// ```
/// #[derive(Debug)]
/// pub enum Inner {
///     Late,
/// }
///
/// canon_types::error_codes! {
///     /// The inner family's codes.
///     pub INNER_CODES for Inner {
///         Late = 9101: "too late",
///     }
/// }
///
/// #[derive(Debug)]
/// pub enum MyError {
///     Empty,
///     Truncated { at: usize },
///     Wrapped(Inner),
/// }
///
/// canon_types::error_codes! {
///     /// My family's codes.
///     pub MY_CODES for MyError {
///         Empty = 9001: "the input is empty",
///         Truncated = 9002: "the input ends early",
///     }
///     delegate { Wrapped }
/// }
///
/// use canon_types::ErrorCode;
/// assert_eq!(MyError::Truncated { at: 3 }.code(), 9002);
/// assert_eq!(MyError::Wrapped(Inner::Late).code(), 9101);
/// assert_eq!(MY_CODES[0].name, "Empty");
/// assert_eq!(canon_types::code_entry(MY_CODES, 9002).map(|e| e.name), Some("Truncated"));
/// assert_eq!(MyError::Wrapped(Inner::Late).code_entry().name, "Late");
/// ```
#[macro_export]
macro_rules! error_codes {
    (
        $(#[$meta:meta])*
        $vis:vis $table:ident for struct $ty:ident = $code:literal : $summary:literal
    ) => {
        $(#[$meta])*
        $vis const $table: &[$crate::CodeEntry] =
            &[$crate::CodeEntry { code: $code, name: stringify!($ty), summary: $summary }];

        impl $crate::ErrorCode for $ty {
            fn code(&self) -> u16 {
                $code
            }
        }

        impl $ty {
            /// This error's row of its code table.
            pub fn code_entry(&self) -> &'static $crate::CodeEntry {
                &$table[0]
            }
        }
    };
    (
        $(#[$meta:meta])*
        $vis:vis $table:ident for $ty:ident {
            $($variant:ident = $code:literal : $summary:literal),* $(,)?
        }
        $(delegate { $($inner:ident),* $(,)? })?
    ) => {
        $(#[$meta])*
        $vis const $table: &[$crate::CodeEntry] = &[
            $($crate::CodeEntry { code: $code, name: stringify!($variant), summary: $summary },)*
        ];

        impl $crate::ErrorCode for $ty {
            fn code(&self) -> u16 {
                match self {
                    $($ty::$variant { .. } => $code,)*
                    $($($ty::$inner(inner) => $crate::ErrorCode::code(inner),)*)?
                }
            }
        }

        impl $ty {
            /// This error's row of its family's code table (for a variant
            /// wrapping another family's error, that family's row).
            pub fn code_entry(&self) -> &'static $crate::CodeEntry {
                match self {
                    $($ty::$variant { .. } => &$crate::CodeEntry {
                        code: $code,
                        name: stringify!($variant),
                        summary: $summary,
                    },)*
                    $($($ty::$inner(inner) => inner.code_entry(),)*)?
                }
            }
        }
    };
}

/// The row of `code` in `table`, if it has one.
pub fn code_entry(table: &'static [CodeEntry], code: u16) -> Option<&'static CodeEntry> {
    table.iter().find(|e| e.code == code)
}

/// [`error_codes!`] for a field-less code enum (one whose values *are* the
/// codes): declares the enum with each code as its discriminant, and the
/// table.
#[macro_export]
macro_rules! code_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $ty:ident;
        $(#[$tmeta:meta])*
        $tvis:vis $table:ident {
            $($variant:ident = $code:literal : $summary:literal),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        #[repr(u16)]
        $vis enum $ty {
            $(#[doc = $summary] $variant = $code,)*
        }

        $(#[$tmeta])*
        $tvis const $table: &[$crate::CodeEntry] = &[
            $($crate::CodeEntry { code: $code, name: stringify!($variant), summary: $summary },)*
        ];
    };
}
