//! The canon protocol machine: the session store with bounded per-edge
//! buffers, coroutines, and the one `step` function, organised in groups
//! that run in deterministic rounds.
//!
//! A [`Group`] is one instance of a verified program's entry procedure and
//! everything it spawns and opens. [`Group::run_round`] runs every runnable
//! coroutine for one fuel quantum in coroutine-id order, then a barrier makes
//! the round's sends visible. Every observable step is an [`Event`]; every
//! protocol violation is a typed [`Fault`] (3xxx). Messages are signed per
//! endpoint (Ed25519, [`auth`]) and checked at receive against the replay
//! policy ([`consume`]); [`inject`] injects transport faults for tests. The
//! machine reads no clock, no randomness and no files.
#![deny(missing_docs)]

pub mod actions;
pub mod auth;
pub mod buffer;
mod check;
pub mod checkpoint;
pub mod config;
pub mod consume;
mod coroutine;
pub mod event;
pub mod fault;
mod fault_message;
pub mod group;
pub mod host;
pub mod image;
pub mod inject;
pub mod lifecycle;
pub mod ownership;
mod step;
mod step_session;
pub mod store;

pub use actions::{CloseOutcome, Expect, Peeked, Refusal, SendOutcome, TypeView};
pub use auth::{
    CrossCheckError, CrossCheckReport, EndpointKey, KeySeed, KeySeedError, KeySource, RecordedKeys, SignatureError,
    SignatureReport, cross_check, parse_hex32, run_identity, untrusted_key, verify_signatures,
};
pub use buffer::{BoundedBuffer, Message, PushOutcome};
pub use checkpoint::{GroupState, RestoreError, SaveError, SavedGroup};
pub use config::{Auth, Config, Limits, ReplayMode, config_digest, hashes_edge_histories};
pub use consume::{Consumed, Consumption, Transport};
pub use event::*;
pub use fault::{Expected, FAULT_CODES, Fault, Op};
pub use group::{
    BlockedEndpoint, CoroutineFault, Group, GroupOutcome, GroupStatus, KeyError, RoundReport, StallReport,
};
pub use host::{Host, HostCtx, HostStateError, NullHost};
pub use image::ProgramImage;
pub use inject::Injection;
pub use lifecycle::Lifecycle;
pub use ownership::{
    Applied, IssuedWitness, OWNER_DIED, OWNERSHIP_CODES, OWNERSHIP_FAULT_CODES, OwnerCap, OwnershipError,
    OwnershipFault, PendingTransfer, Scope, SessionOwnership, TRANSFER_COMMIT_FAILED,
};
pub use store::{OpenRequest, PayloadKinds, Security, Session, SessionStatus, SessionStore, unfold};
