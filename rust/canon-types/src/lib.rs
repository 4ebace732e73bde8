//! Session types for canon: values, local types (as trees and as the flat graph
//! the bytecode and the machine use), global types, projection and
//! well-formedness, and the stable error-code registry.
//!
//! This crate does no I/O.
#![deny(missing_docs)]

pub mod action;
pub mod codes;
pub mod dot;
pub mod enabling;
pub mod global;
pub mod graph;
pub mod hex;
pub mod local;
mod owed;
pub mod pretty;
pub mod project;
pub mod suggest;
#[cfg(feature = "testgen")]
pub mod testgen;
pub mod value;
pub mod value_convert;
pub mod wf;

pub use action::{ActionBranch, LocalAction};
pub use codes::{CodeEntry, ErrorCode, code_entry};
pub use enabling::normalize_choices;
pub use global::{GlobalType, Origin, Protocol, Span};
pub use graph::GraphError;
pub use graph::{FlatBranch, TypeGraph, TypeId, TypeNode};
pub use hex::{Hex, hex};
pub use local::{Branch, LocalType, Payload, TIMEOUT_LABEL};
pub use project::{PROJECTION_CODES, ProjectionError, project, project_actions, project_all, project_all_actions};
pub use suggest::did_you_mean;
pub use value::{Endpoint, SymId, Value, ValueKind};
pub use value_convert::ValueTypeError;
