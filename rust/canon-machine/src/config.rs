//! Machine configuration: the named limits, the default buffer configuration
//! and the seed, with a canonical digest for replay headers.

use canon_bytecode::{Backpressure, BufferConfig, BufferMode};
use sha2::{Digest, Sha256};

/// Every limit the machine enforces, in one place. Defaults are documented
/// per field; all counts are per group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Limits {
    /// Sessions live (opened and not yet terminal) at once. Default 65,536.
    pub max_sessions: u32,
    /// Coroutines ever spawned, the entry included. Default 65,536.
    pub max_coroutines: u32,
    /// Largest payload, measured as its canonical encoding. Default 1 MiB.
    pub max_payload_bytes: u32,
    /// Instructions a coroutine may execute in one round. Default 1,024.
    pub fuel_per_quantum: u32,
    /// Rounds after which a group stops as budget-exhausted. Default 100,000,000.
    pub max_rounds: u64,
    /// Frames on one coroutine's call stack. Default 256.
    pub max_call_depth: u32,
    /// Consumed message identities a session keeps under
    /// [`ReplayMode::Nullifier`]; one more is `NullifierSetFull` (3032).
    /// The set holds one 32-byte identity per message received in the session
    /// and is pruned when the session ends. Default 1,048,576 (32 MiB of
    /// identities plus set overhead, per session).
    pub max_nullifiers_per_session: u32,
    /// Roles one `open` may name; one more is `TooManyRoles` (3xxx) at the
    /// `open`. A session's bookkeeping grows with the square of its roles.
    /// Default 256, the verifier's `MAX_ROLES_PER_OPEN` (a verified program
    /// never names more).
    pub max_roles_per_open: u32,
    /// Instructions a group may execute in total. Checked after every round:
    /// once reached, the group stops as
    /// [`GroupStatus::InstructionBudgetExhausted`](crate::GroupStatus) (at most
    /// one round over). Sized so that a run stops in about a second rather
    /// than hours when every coroutine spins. Default 268,435,456 (2²⁸).
    pub max_instructions: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_sessions: 65_536,
            max_coroutines: 65_536,
            max_payload_bytes: 1 << 20,
            fuel_per_quantum: 1_024,
            max_rounds: 100_000_000,
            max_call_depth: 256,
            max_nullifiers_per_session: 1 << 20,
            max_roles_per_open: canon_bytecode::MAX_ROLES_PER_OPEN as u32,
            max_instructions: 1 << 28,
        }
    }
}

/// Message authentication: whether senders sign and receivers verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Auth {
    /// Every endpoint has an Ed25519 key; the sender signs the canonical
    /// envelope of each message and the receiver verifies it before anything
    /// else (`BadSignature`, 3028).
    #[default]
    Ed25519,
    /// No keys, no signatures: messages are delivered as the transport hands them over.
    None,
}

/// Communication replay-consumption (seed 002/003): what a receiver checks
/// about a message's identity after its signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ReplayMode {
    /// No check, no consumption record.
    #[default]
    Off,
    /// The message's `seq` must be exactly the next one expected on its
    /// session-qualified edge (`ReplayedSequence` 3029, `SequenceGap` 3030).
    Sequence,
    /// The message's identity, SHA-256 of its envelope, must not have been
    /// consumed in the session before (`NullifierReused`, 3031).
    Nullifier,
}

impl ReplayMode {
    /// The byte that encodes the mode in configurations and `Consumed` records.
    pub fn byte(self) -> u8 {
        match self {
            ReplayMode::Off => 0,
            ReplayMode::Sequence => 1,
            ReplayMode::Nullifier => 2,
        }
    }

    /// The mode [`ReplayMode::byte`] encodes.
    pub fn from_byte(b: u8) -> Option<ReplayMode> {
        match b {
            0 => Some(ReplayMode::Off),
            1 => Some(ReplayMode::Sequence),
            2 => Some(ReplayMode::Nullifier),
            _ => None,
        }
    }
}

/// Machine configuration. Construct with `Config { seed, ..Default::default() }`
/// so that fields added later keep their defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Config {
    pub limits: Limits,
    /// Buffer configuration of every edge an `open` does not override.
    pub default_buffer: BufferConfig,
    /// The seed for everything that needs one (host handlers, keys).
    pub seed: u64,
    /// Message authentication (default Ed25519).
    pub auth: Auth,
    /// Replay-consumption policy at receive (default off).
    pub replay_mode: ReplayMode,
}

/// Version of the canonical configuration encoding hashed by [`Config::digest`].
/// Version 2 added `max_roles_per_open` and `max_instructions`.
pub const CONFIG_ENCODING_VERSION: u8 = 2;

impl Config {
    /// The canonical byte encoding: a domain tag, the encoding version, then
    /// every field little-endian in declaration order.
    pub fn canonical_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64);
        out.extend_from_slice(b"canon-config");
        out.push(CONFIG_ENCODING_VERSION);
        let l = &self.limits;
        out.extend_from_slice(&l.max_sessions.to_le_bytes());
        out.extend_from_slice(&l.max_coroutines.to_le_bytes());
        out.extend_from_slice(&l.max_payload_bytes.to_le_bytes());
        out.extend_from_slice(&l.fuel_per_quantum.to_le_bytes());
        out.extend_from_slice(&l.max_rounds.to_le_bytes());
        out.extend_from_slice(&l.max_call_depth.to_le_bytes());
        out.extend_from_slice(&l.max_nullifiers_per_session.to_le_bytes());
        out.extend_from_slice(&l.max_roles_per_open.to_le_bytes());
        out.extend_from_slice(&l.max_instructions.to_le_bytes());
        encode_buffer_config(&self.default_buffer, &mut out);
        out.extend_from_slice(&self.seed.to_le_bytes());
        out.push(match self.auth {
            Auth::Ed25519 => 0,
            Auth::None => 1,
        });
        out.push(self.replay_mode.byte());
        out
    }

    /// SHA-256 of [`Config::canonical_bytes`], for replay headers.
    pub fn digest(&self) -> [u8; 32] {
        Sha256::digest(self.canonical_bytes()).into()
    }
}

/// SHA-256 of the canonical encoding of `config` (see [`Config::digest`]).
pub fn config_digest(config: &Config) -> [u8; 32] {
    config.digest()
}

fn encode_buffer_config(b: &BufferConfig, out: &mut Vec<u8>) {
    out.push(match b.mode {
        BufferMode::Fifo => 0,
        BufferMode::LatestValue => 1,
    });
    let (policy, max) = match b.policy {
        Backpressure::Block => (0u8, 0u32),
        Backpressure::Drop => (1, 0),
        Backpressure::Error => (2, 0),
        Backpressure::Resize { max_capacity } => (3, max_capacity),
    };
    out.push(policy);
    out.extend_from_slice(&max.to_le_bytes());
    out.extend_from_slice(&b.capacity.to_le_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_depends_on_every_field() {
        let base = Config::default();
        let mut seeded = base;
        seeded.seed = 7;
        let mut fuel = base;
        fuel.limits.fuel_per_quantum = 3;
        let mut buf = base;
        buf.default_buffer.policy = Backpressure::Resize { max_capacity: 9 };
        let mut nullifiers = base;
        nullifiers.limits.max_nullifiers_per_session = 5;
        let mut roles = base;
        roles.limits.max_roles_per_open = 4;
        let mut instructions = base;
        instructions.limits.max_instructions = 1_000;
        let unsigned = Config { auth: Auth::None, ..base };
        let sequence = Config { replay_mode: ReplayMode::Sequence, ..base };
        let nullifier = Config { replay_mode: ReplayMode::Nullifier, ..base };
        let digests = [
            base.digest(),
            seeded.digest(),
            fuel.digest(),
            buf.digest(),
            nullifiers.digest(),
            roles.digest(),
            instructions.digest(),
            unsigned.digest(),
            sequence.digest(),
            nullifier.digest(),
        ];
        for (i, a) in digests.iter().enumerate() {
            for b in &digests[i + 1..] {
                assert_ne!(a, b);
            }
        }
        assert_eq!(base.digest(), config_digest(&Config::default()));
    }
}
