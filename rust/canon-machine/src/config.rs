//! Machine configuration: the named limits, the default buffer configuration
//! and the seed, with a canonical digest for replay headers.

use canon_bytecode::{Backpressure, BufferConfig, BufferMode};
use sha2::{Digest, Sha256};

/// Every limit the machine enforces, in one place. Defaults are documented
/// per field; all counts are per group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Limits {
    /// Sessions live (opened and not yet terminal) at once. Default 65,536.
    pub max_sessions: u32,
    /// Coroutines ever spawned, the entry included. Default 65,536.
    pub max_coroutines: u32,
    /// Largest payload, measured as its canonical encoding. Default 1 MiB.
    pub max_payload_bytes: u32,
    /// Instructions a coroutine may execute in one round. Default 1,024.
    pub fuel_per_quantum: u32,
    /// Rounds after which a group stops as budget-exhausted. Default 1,000,000
    /// (also the default of `canon run --max-rounds`).
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
            max_rounds: 1_000_000,
            max_call_depth: 256,
            max_nullifiers_per_session: 1 << 20,
            max_roles_per_open: canon_bytecode::MAX_ROLES_PER_OPEN as u32,
            max_instructions: 1 << 28,
        }
    }
}

/// Message authentication: whether senders sign and receivers verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize)]
pub enum Auth {
    /// Every endpoint has an Ed25519 key; the sender signs the canonical
    /// envelope of each message and the receiver verifies it before anything
    /// else (`BadSignature`, 3028).
    #[default]
    Ed25519,
    /// No keys, no signatures: messages are delivered as the transport hands them over.
    None,
    /// Round-batched Ed25519: each endpoint signs once per round, at the
    /// barrier, the list of the identities of the messages it sent in the
    /// round; a receiver checks its message's identity in the list and
    /// verifies the batch signature once (`bytecode-spec/replay.md`,
    /// "Round-batched signatures").
    Ed25519Round,
}

impl Auth {
    /// Whether endpoints have keys and messages are signed.
    pub fn signs(self) -> bool {
        self != Auth::None
    }
}

/// Whether a run under `auth` and `mode` computes the envelope identity of
/// every delivered message (to verify its signature or record its
/// consumption), and so chains it into its edge's authenticated history
/// (`bytecode-spec/replay.md`, "Edge histories"). Under `auth` none with
/// replay mode off nothing is signed or consumed: edge histories record
/// their counts and keep the all-zero hash.
pub fn hashes_edge_histories(auth: Auth, mode: ReplayMode) -> bool {
    auth != Auth::None || mode != ReplayMode::Off
}

/// Communication replay-consumption (seed 002/003): what a receiver checks
/// about a message's identity after its signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize)]
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
    /// Resource limits (sessions, coroutines, payload sizes, call depth, ...).
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
            Auth::Ed25519Round => 2,
        });
        out.push(self.replay_mode.byte());
        out
    }

    /// SHA-256 of [`Config::canonical_bytes`], for replay headers.
    pub fn digest(&self) -> [u8; 32] {
        Sha256::digest(self.canonical_bytes()).into()
    }
}

impl Config {
    /// Bytes of the canonical encoding ([`Config::canonical_bytes`]) of this
    /// encoding version.
    pub const CANONICAL_LEN: usize = 12 + 1 + 4 * 4 + 8 + 4 + 4 + 4 + 8 + 10 + 8 + 1 + 1;

    /// Reads a configuration back from its canonical encoding. `None` unless
    /// `bytes` is exactly the canonical encoding of some configuration: the
    /// domain tag, this encoding version, known enum tags, the length, and a
    /// zero `max_capacity` for every policy but `Resize`.
    pub fn from_canonical_bytes(bytes: &[u8]) -> Option<Config> {
        if bytes.len() != Config::CANONICAL_LEN || !bytes.starts_with(b"canon-config") {
            return None;
        }
        let mut at = 12;
        let mut take = |n: usize| {
            let s = &bytes[at..at + n];
            at += n;
            s
        };
        let u8_ = |s: &[u8]| s[0];
        let u32_ = |s: &[u8]| u32::from_le_bytes(s.try_into().expect("4 bytes"));
        let u64_ = |s: &[u8]| u64::from_le_bytes(s.try_into().expect("8 bytes"));
        if u8_(take(1)) != CONFIG_ENCODING_VERSION {
            return None;
        }
        let limits = Limits {
            max_sessions: u32_(take(4)),
            max_coroutines: u32_(take(4)),
            max_payload_bytes: u32_(take(4)),
            fuel_per_quantum: u32_(take(4)),
            max_rounds: u64_(take(8)),
            max_call_depth: u32_(take(4)),
            max_nullifiers_per_session: u32_(take(4)),
            max_roles_per_open: u32_(take(4)),
            max_instructions: u64_(take(8)),
        };
        let mode = match u8_(take(1)) {
            0 => BufferMode::Fifo,
            1 => BufferMode::LatestValue,
            _ => return None,
        };
        let (policy, max) = (u8_(take(1)), u32_(take(4)));
        let policy = match (policy, max) {
            (0, 0) => Backpressure::Block,
            (1, 0) => Backpressure::Drop,
            (2, 0) => Backpressure::Error,
            (3, max_capacity) => Backpressure::Resize { max_capacity },
            _ => return None,
        };
        let default_buffer = BufferConfig { mode, policy, capacity: u32_(take(4)) };
        let seed = u64_(take(8));
        let auth = match u8_(take(1)) {
            0 => Auth::Ed25519,
            1 => Auth::None,
            2 => Auth::Ed25519Round,
            _ => return None,
        };
        let replay_mode = ReplayMode::from_byte(u8_(take(1)))?;
        let config = Config { limits, default_buffer, seed, auth, replay_mode };
        // Every field is read back: the encoding is canonical iff it re-encodes to itself.
        (config.canonical_bytes() == bytes).then_some(config)
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
        let batched = Config { auth: Auth::Ed25519Round, ..base };
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
            batched.digest(),
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

    #[test]
    fn canonical_bytes_decode_back() {
        let mut varied = Config { seed: 9, auth: Auth::None, replay_mode: ReplayMode::Nullifier, ..Config::default() };
        varied.limits = Limits {
            max_sessions: 1,
            max_coroutines: 2,
            max_payload_bytes: 3,
            fuel_per_quantum: 4,
            max_rounds: 5,
            max_call_depth: 6,
            max_nullifiers_per_session: 7,
            max_roles_per_open: 10,
            max_instructions: 11,
        };
        varied.default_buffer = BufferConfig {
            mode: BufferMode::LatestValue,
            policy: Backpressure::Resize { max_capacity: 8 },
            capacity: 9,
        };
        for config in [Config::default(), varied] {
            let bytes = config.canonical_bytes();
            assert_eq!(bytes.len(), Config::CANONICAL_LEN);
            assert_eq!(Config::from_canonical_bytes(&bytes), Some(config));
        }
    }

    #[test]
    fn non_canonical_config_bytes_are_refused() {
        let good = Config::default().canonical_bytes();
        assert_eq!(Config::from_canonical_bytes(&good[..good.len() - 1]), None);
        let mut longer = good.clone();
        longer.push(0);
        assert_eq!(Config::from_canonical_bytes(&longer), None);
        // Every byte but the numeric fields is a tag or a reserved value.
        for (at, bad) in [(0, b'x'), (12, 3), (57, 2), (58, 4), (75, 3), (76, 3)] {
            let mut b = good.clone();
            b[at] = bad;
            assert_eq!(Config::from_canonical_bytes(&b), None, "byte {at} = {bad}");
        }
        // A max capacity under a policy other than Resize is not canonical.
        let mut b = good.clone();
        b[59] = 1;
        assert_eq!(Config::from_canonical_bytes(&b), None);
    }
}
