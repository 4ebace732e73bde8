//! The canon protocol machine: the session store with bounded per-edge
//! buffers, coroutines, and the one `step` function, organised in groups
//! that run in deterministic rounds.
//!
//! A [`Group`] is one instance of a verified program's entry procedure and
//! everything it spawns and opens. [`Group::run_round`] runs every runnable
//! coroutine for one fuel quantum in coroutine-id order, then a barrier makes
//! the round's sends visible. Every observable step is an [`Event`]; every
//! protocol violation is a typed [`Fault`] (3xxx). The machine reads no
//! clock, no randomness and no files.

pub mod actions;
pub mod buffer;
pub mod config;
mod coroutine;
pub mod event;
pub mod fault;
pub mod group;
pub mod host;
mod step;
mod step_session;
pub mod store;

pub use actions::{CloseOutcome, Expect, Peeked, Refusal, SendOutcome, TypeView};
pub use buffer::{BoundedBuffer, Message, PushOutcome};
pub use config::{Config, Limits, config_digest};
pub use event::*;
pub use fault::{Expected, FAULT_CODES, Fault, Op};
pub use group::{BlockedEndpoint, CoroutineFault, Group, GroupOutcome, GroupStatus, RoundReport, StallReport};
pub use host::{Host, HostCtx, NullHost};
pub use store::{OpenRequest, PayloadKinds, Session, SessionStatus, SessionStore, unfold};
