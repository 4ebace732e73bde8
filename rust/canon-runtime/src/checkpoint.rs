//! Checkpoints: a machine paused at a round boundary, saved to a versioned
//! file and restored to continue the run to the byte-identical replay
//! (`bytecode-spec/checkpoint.md`).
//!
//! A checkpoint holds what a run cannot rebuild from the program: which
//! groups are finished (all groups before `next`), the state of the groups
//! held in memory from `next` on (the part-run one and the eagerly loaded
//! ones not yet run; lazily loaded groups not yet reached are rebuilt), the
//! hosts' saved states, and where the replay stream stands (bytes, blocks,
//! running root, the open block). Its size is bounded by the live state, not
//! by the number of groups. It holds no secret: endpoint keys are saved as
//! verifying keys and rebound at restore from the key source it is given.

use std::sync::Arc;

use canon_bytecode::VerifiedProgram;
use canon_machine::{
    Config, Group, GroupState, Injection, KeySource, ProgramImage, RestoreError, SaveError, SavedGroup,
};
use canon_replay::WriterPosition;
use sha2::{Digest, Sha256};

use crate::machine::{HostFactory, Lazy, Machine, digest_prefix};
use crate::runner::{RunSummary, replay_header};

/// The file's first four bytes.
pub const CHECKPOINT_MAGIC: [u8; 4] = *b"CNCK";

/// The checkpoint format version this build reads and writes.
pub const CHECKPOINT_VERSION: u16 = 1;

/// Bytes of the fixed header before the body.
pub const CHECKPOINT_HEADER_BYTES: usize = 176;

/// The largest body accepted (and the bound on every length a body's
/// encoding claims): a larger one is refused before it is read.
pub const MAX_CHECKPOINT_BODY_BYTES: u64 = 1 << 30;

/// The bincode configuration of the body: fixed-width little-endian
/// integers, every claimed length bounded by [`MAX_CHECKPOINT_BODY_BYTES`].
fn bincode_config() -> impl bincode::config::Config {
    bincode::config::standard()
        .with_little_endian()
        .with_fixed_int_encoding()
        .with_limit::<{ MAX_CHECKPOINT_BODY_BYTES as usize }>()
}

/// Where a paused or restored run continues (held by the machine between
/// segments; saved by [`Machine::checkpoint`]).
pub(crate) struct ResumePoint {
    /// Groups before `next` are finished and written.
    pub next: usize,
    /// Group `next` is part-run (paused between two of its rounds).
    pub inside: bool,
    /// Group `next` when it is a lazily built one, part-run.
    pub in_flight: Option<Group>,
    /// Messages group `next` delivered so far.
    pub messages: u64,
    pub writer: WriterPosition,
    pub summary: RunSummary,
}

/// The fixed header of a checkpoint file (all integers little-endian).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointHeader {
    /// SHA-256 of the program's canonical bytecode.
    pub program_digest: [u8; 32],
    /// SHA-256 of the canonical configuration (the run's config digest).
    pub config_digest: [u8; 32],
    /// The first group not finished: the run continues with it.
    pub next_group: u64,
    /// Replay bytes already written: the resumed run appends from here.
    pub replay_bytes: u64,
    /// Replay blocks already chained.
    pub blocks: u64,
    /// Replay events already recorded (the open block's included).
    pub events: u64,
    /// The running root `h_blocks` of the replay's hash chain.
    pub chain: [u8; 32],
    /// Body length in bytes.
    pub body_len: u64,
    /// SHA-256 of the body.
    pub body_digest: [u8; 32],
}

/// A decoded, integrity-checked checkpoint file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The fixed header: version, digests, the replay position, body length and digest.
    pub header: CheckpointHeader,
    body: Vec<u8>,
}

/// One group held in memory from `next` on.
#[derive(serde::Serialize)]
struct SavedEntry<'g> {
    state: SavedGroup<'g>,
    owner: Option<&'g u64>,
    host: Vec<u8>,
}

#[derive(serde::Deserialize)]
struct Entry {
    state: GroupState,
    owner: Option<u64>,
    host: Vec<u8>,
}

/// The lazily loaded groups not yet reached.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct LazyPart {
    first: u64,
    count: u32,
    injections: Vec<(u64, Injection)>,
    /// The owner that claims each instance's choreography session when it
    /// is built ([`Machine::claim_lazy`]).
    owner: Option<String>,
}

#[derive(serde::Serialize)]
struct BodyOut<'g> {
    config: Vec<u8>,
    total: u64,
    next: u64,
    inside: bool,
    messages: u64,
    writer: &'g WriterPosition,
    summary: &'g RunSummary,
    groups: Vec<SavedEntry<'g>>,
    lazy: Option<LazyPart>,
}

#[derive(serde::Deserialize)]
struct Body {
    config: Vec<u8>,
    total: u64,
    next: u64,
    inside: bool,
    messages: u64,
    writer: WriterPosition,
    summary: RunSummary,
    groups: Vec<Entry>,
    lazy: Option<LazyPart>,
}

/// Why a checkpoint was not taken, read or restored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    #[error("not a checkpoint: the file does not start with CNCK")]
    /// The file does not start with the magic `CNCK`.
    BadMagic,
    #[error("checkpoint format version {found} is not supported (this build reads version {CHECKPOINT_VERSION})")]
    /// A format version this build does not read.
    UnsupportedVersion {
        /// The version in the file.
        found: u16,
    },
    #[error("checkpoint header flags {flags:#06x} are reserved and must be 0")]
    /// Reserved header flags are set.
    UnsupportedFlags {
        /// The flags in the file.
        flags: u16,
    },
    #[error("checkpoint truncated: {need} bytes needed, {have} present")]
    /// The file ends inside its header or body.
    Truncated {
        /// Bytes needed.
        need: u64,
        /// Bytes present.
        have: u64,
    },
    #[error("checkpoint body of {len} bytes exceeds the limit of {limit} bytes")]
    /// The body is over `MAX_CHECKPOINT_BODY_BYTES`.
    TooLarge {
        /// The body length the header claims.
        len: u64,
        /// The limit.
        limit: u64,
    },
    #[error("checkpoint corrupted: the body's SHA-256 does not match the header")]
    /// The body's SHA-256 differs from the header's.
    BodyDigestMismatch,
    #[error("checkpoint has {extra} bytes after its body")]
    /// Bytes follow the body.
    TrailingBytes {
        /// How many.
        extra: u64,
    },
    #[error("checkpoint body does not decode: {reason}")]
    /// The body does not decode.
    BadBody {
        /// The decoder's message.
        reason: String,
    },
    #[error("checkpoint header field `{field}` disagrees with the body")]
    /// A header field disagrees with the body.
    HeaderMismatch {
        /// The field's name.
        field: &'static str,
    },
    #[error("checkpoint is of program {found}, not of the program given ({want})")]
    /// The checkpoint is of another program.
    ProgramMismatch {
        /// The given program's digest (hex prefix).
        want: String,
        /// The checkpoint's program digest (hex prefix).
        found: String,
    },
    #[error("checkpoint configuration does not match its digest")]
    /// The saved configuration does not match its digest.
    ConfigMismatch,
    #[error("checkpoint position is inconsistent: {reason}")]
    /// The saved run position is inconsistent.
    BadPosition {
        /// What is inconsistent.
        reason: String,
    },
    #[error("the host of group {group} cannot save its state: {reason}")]
    /// A host cannot save its state (the default of `Host::save_state`).
    HostCannotSave {
        /// The group whose host refused.
        group: u32,
        /// The host's reason.
        reason: String,
    },
    #[error("the host of group {group} refused its saved state: {reason}")]
    /// A host refused its saved state.
    HostRestore {
        /// The group whose host refused.
        group: u32,
        /// The host's reason.
        reason: String,
    },
    #[error("{0}")]
    /// A group cannot be saved at this point.
    GroupNotSavable(SaveError),
    #[error("{0}")]
    /// A saved group does not fit the program or the keys.
    BadGroupState(RestoreError),
    #[error("the machine has no program loaded: there is nothing to checkpoint")]
    /// The machine has no program loaded.
    NoProgram,
    #[error("{0}")]
    /// A saved endpoint owner or parked waiter names no coroutine of its group.
    DanglingCoroutine(RestoreError),
}

canon_types::error_codes! {
    /// Stable codes: 51xx, checkpoints (within the replay family's 5xxx).
    pub CHECKPOINT_CODES for CheckpointError {
        BadMagic = 5101: "the file does not start with CNCK",
        UnsupportedVersion = 5102: "unknown checkpoint format version",
        UnsupportedFlags = 5103: "reserved checkpoint header flags are set",
        Truncated = 5104: "the checkpoint ends inside its header or body",
        TooLarge = 5105: "the checkpoint body exceeds MAX_CHECKPOINT_BODY_BYTES",
        BodyDigestMismatch = 5106: "the body's SHA-256 differs from the header's",
        TrailingBytes = 5107: "bytes after the checkpoint body",
        BadBody = 5108: "the checkpoint body does not decode",
        HeaderMismatch = 5109: "a checkpoint header field disagrees with the body",
        ProgramMismatch = 5110: "the checkpoint is of another program",
        ConfigMismatch = 5111: "the checkpoint configuration differs from its digest",
        BadPosition = 5112: "the checkpoint's run position is inconsistent",
        HostCannotSave = 5113: "a host cannot save its state for a checkpoint",
        HostRestore = 5114: "a host refused its saved state",
        GroupNotSavable = 5115: "a group cannot be saved at this point",
        BadGroupState = 5116: "a saved group does not fit the program or keys",
        NoProgram = 5117: "a machine with no program was checkpointed",
        DanglingCoroutine = 5118: "a saved endpoint owner or parked waiter names no coroutine of its group",
    }
}

fn bad(reason: impl Into<String>) -> CheckpointError {
    CheckpointError::BadPosition { reason: reason.into() }
}

impl Checkpoint {
    /// The file's bytes: the header, then the body.
    pub fn to_bytes(&self) -> Vec<u8> {
        let h = &self.header;
        let mut out = Vec::with_capacity(CHECKPOINT_HEADER_BYTES + self.body.len());
        out.extend_from_slice(&CHECKPOINT_MAGIC);
        out.extend_from_slice(&CHECKPOINT_VERSION.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(&h.program_digest);
        out.extend_from_slice(&h.config_digest);
        for n in [h.next_group, h.replay_bytes, h.blocks, h.events] {
            out.extend_from_slice(&n.to_le_bytes());
        }
        out.extend_from_slice(&h.chain);
        out.extend_from_slice(&h.body_len.to_le_bytes());
        out.extend_from_slice(&h.body_digest);
        out.extend_from_slice(&self.body);
        out
    }

    /// Reads and checks a checkpoint file: magic, version, flags, lengths
    /// (the body is bounded by [`MAX_CHECKPOINT_BODY_BYTES`]), the body's
    /// SHA-256, that the body decodes, and that the header's copies of the
    /// position and digests agree with it. It does not need the program:
    /// [`Machine::restore`] checks the checkpoint is of the one it is given.
    pub fn from_bytes(bytes: &[u8]) -> Result<Checkpoint, CheckpointError> {
        let have = bytes.len() as u64;
        if bytes.len() < 4 || bytes[..4] != CHECKPOINT_MAGIC {
            return Err(if bytes.len() < 4 && CHECKPOINT_MAGIC.starts_with(bytes) {
                CheckpointError::Truncated { need: 4, have }
            } else {
                CheckpointError::BadMagic
            });
        }
        if bytes.len() < CHECKPOINT_HEADER_BYTES {
            return Err(CheckpointError::Truncated { need: CHECKPOINT_HEADER_BYTES as u64, have });
        }
        let u16_at = |at: usize| u16::from_le_bytes([bytes[at], bytes[at + 1]]);
        let u64_at = |at: usize| {
            let mut b = [0; 8];
            b.copy_from_slice(&bytes[at..at + 8]);
            u64::from_le_bytes(b)
        };
        let d32_at = |at: usize| {
            let mut d = [0; 32];
            d.copy_from_slice(&bytes[at..at + 32]);
            d
        };
        let version = u16_at(4);
        if version != CHECKPOINT_VERSION {
            return Err(CheckpointError::UnsupportedVersion { found: version });
        }
        let flags = u16_at(6);
        if flags != 0 {
            return Err(CheckpointError::UnsupportedFlags { flags });
        }
        let header = CheckpointHeader {
            program_digest: d32_at(8),
            config_digest: d32_at(40),
            next_group: u64_at(72),
            replay_bytes: u64_at(80),
            blocks: u64_at(88),
            events: u64_at(96),
            chain: d32_at(104),
            body_len: u64_at(136),
            body_digest: d32_at(144),
        };
        if header.body_len > MAX_CHECKPOINT_BODY_BYTES {
            return Err(CheckpointError::TooLarge { len: header.body_len, limit: MAX_CHECKPOINT_BODY_BYTES });
        }
        let need = CHECKPOINT_HEADER_BYTES as u64 + header.body_len;
        if have < need {
            return Err(CheckpointError::Truncated { need, have });
        }
        if have > need {
            return Err(CheckpointError::TrailingBytes { extra: have - need });
        }
        let body = bytes[CHECKPOINT_HEADER_BYTES..].to_vec();
        let digest: [u8; 32] = Sha256::digest(&body).into();
        if digest != header.body_digest {
            return Err(CheckpointError::BodyDigestMismatch);
        }
        let checkpoint = Checkpoint { header, body };
        checkpoint.decode_body()?;
        Ok(checkpoint)
    }

    /// Decodes the body and checks the header agrees with it.
    fn decode_body(&self) -> Result<Body, CheckpointError> {
        let (body, used): (Body, usize) = bincode::serde::decode_from_slice(&self.body, bincode_config())
            .map_err(|e| CheckpointError::BadBody { reason: e.to_string() })?;
        if used != self.body.len() {
            return Err(CheckpointError::BadBody {
                reason: format!("{} bytes after the body", self.body.len() - used),
            });
        }
        let h = &self.header;
        let w = &body.writer;
        let checks: [(&'static str, bool); 5] = [
            ("next_group", h.next_group == body.next),
            ("replay_bytes", h.replay_bytes == w.bytes),
            ("blocks", h.blocks == w.blocks),
            ("events", h.events == w.events),
            ("chain", h.chain == w.chain),
        ];
        if let Some((field, _)) = checks.iter().find(|(_, ok)| !ok) {
            return Err(CheckpointError::HeaderMismatch { field });
        }
        if Sha256::digest(&body.config).as_slice() != h.config_digest {
            return Err(CheckpointError::ConfigMismatch);
        }
        let config = Config::from_canonical_bytes(&body.config).ok_or(CheckpointError::ConfigMismatch)?;
        if config.digest() != h.config_digest {
            return Err(CheckpointError::ConfigMismatch);
        }
        if !w.is_consistent() {
            return Err(bad("the replay's open block is not one a writer holds"));
        }
        if body.next > body.total || (body.inside && body.next >= body.total) {
            return Err(bad(format!("group {} of {} (part-run: {})", body.next, body.total, body.inside)));
        }
        if body.summary.groups != body.next {
            return Err(bad(format!("{} groups reported finished before group {}", body.summary.groups, body.next)));
        }
        // Checked: a crafted body may put the lazily loaded groups anywhere.
        let after = body.next.checked_add(body.groups.len() as u64);
        let lazy_end = body.lazy.as_ref().map_or(after, |l| l.first.checked_add(u64::from(l.count)));
        if body.lazy.as_ref().is_some_and(|l| Some(l.first) != after) || lazy_end != Some(body.total) {
            return Err(bad(format!(
                "{} saved and the lazily loaded groups do not cover groups up to {}",
                body.groups.len(),
                body.total
            )));
        }
        Ok(body)
    }

    /// The machine configuration the checkpointed run uses.
    pub fn config(&self) -> Result<Config, CheckpointError> {
        let body = self.decode_body()?;
        Config::from_canonical_bytes(&body.config).ok_or(CheckpointError::ConfigMismatch)
    }

    /// Groups of the run (finished, saved and not yet reached).
    pub fn group_count(&self) -> Result<u64, CheckpointError> {
        Ok(self.decode_body()?.total)
    }
}

impl Machine {
    /// Saves the machine: between [`crate::Runner::run_segment`] calls (after
    /// one returned `Paused`), or before any run. Refuses a group whose host
    /// cannot save its state ([`canon_machine::Host::save_state`]) or that
    /// holds host-supplied endpoint secrets (a checkpoint holds none).
    pub fn checkpoint(&self) -> Result<Checkpoint, CheckpointError> {
        let image = self.image.as_ref().ok_or(CheckpointError::NoProgram)?;
        let start;
        let (next, inside, messages, writer, summary, in_flight) = match &self.resume {
            Some(r) => (r.next, r.inside, r.messages, &r.writer, &r.summary, r.in_flight.as_ref()),
            None => {
                start = (WriterPosition::start(&replay_header(self)), RunSummary::default());
                (self.base, false, 0, &start.0, &start.1, None)
            }
        };
        let mut groups = Vec::new();
        let from = next.saturating_sub(self.base);
        let held = self.groups.iter().zip(&self.owners).skip(from).map(|(g, o)| (g, o.as_ref()));
        // A part-run lazily built group's session was claimed when it was built.
        let lazy_owner = self.lazy.as_ref().and_then(|l| l.owner.as_ref());
        let in_flight_owner = in_flight.filter(|_| lazy_owner.is_some()).map(|g| u64::from(g.id()) << 32);
        for (g, owner) in held.chain(in_flight.map(|g| (g, in_flight_owner.as_ref()))) {
            let state = g.save_state().map_err(CheckpointError::GroupNotSavable)?;
            let host =
                g.host_state().map_err(|e| CheckpointError::HostCannotSave { group: g.id(), reason: e.to_string() })?;
            groups.push(SavedEntry { state, owner, host });
        }
        let total = self.group_count() as u64;
        let after = next as u64 + groups.len() as u64;
        let lazy = self.lazy.as_ref().filter(|_| after < total).map(|l| LazyPart {
            first: after,
            count: (total - after) as u32,
            injections: l.injections.clone(),
            owner: l.owner.as_deref().map(str::to_owned),
        });
        let config = self.config.canonical_bytes();
        let body_out = BodyOut { config, total, next: next as u64, inside, messages, writer, summary, groups, lazy };
        let body = bincode::serde::encode_to_vec(&body_out, bincode_config())
            .map_err(|e| CheckpointError::BadBody { reason: e.to_string() })?;
        let header = CheckpointHeader {
            program_digest: image.program().digest(),
            config_digest: self.config.digest(),
            next_group: next as u64,
            replay_bytes: writer.bytes,
            blocks: writer.blocks,
            events: writer.events,
            chain: writer.chain,
            body_len: body.len() as u64,
            body_digest: Sha256::digest(&body).into(),
        };
        Ok(Checkpoint { header, body })
    }

    /// A machine that continues the checkpointed run of `program`: groups
    /// get their hosts from `hosts(id)` (a saved group's host then restores
    /// its saved state) and their endpoint keys from `keys` (the key source
    /// of the run; the saved verifying keys must match). Run it with
    /// [`crate::Runner::run_segment`] or [`crate::Runner::run_to`] on a sink
    /// that holds the replay's first `header.replay_bytes` bytes.
    pub fn restore(
        program: &Arc<VerifiedProgram>,
        checkpoint: &Checkpoint,
        hosts: Box<HostFactory>,
        keys: KeySource,
    ) -> Result<Machine, CheckpointError> {
        if program.digest() != checkpoint.header.program_digest {
            return Err(CheckpointError::ProgramMismatch {
                want: digest_prefix(&program.digest()),
                found: digest_prefix(&checkpoint.header.program_digest),
            });
        }
        let body = checkpoint.decode_body()?;
        let config = Config::from_canonical_bytes(&body.config).ok_or(CheckpointError::ConfigMismatch)?;
        let image = Arc::new(ProgramImage::new(Arc::clone(program)));
        let mut machine = Machine::new(config);
        machine.image = Some(Arc::clone(&image));
        machine.keys = keys.clone();
        machine.base = body.next as usize;
        for (i, entry) in body.groups.into_iter().enumerate() {
            let id = (body.next + i as u64) as u32;
            if entry.state.group() != id {
                return Err(CheckpointError::BadGroupState(RestoreError::WrongGroup {
                    want: id,
                    found: entry.state.group(),
                }));
            }
            let mut host = hosts(id);
            host.restore_state(&entry.host)
                .map_err(|e| CheckpointError::HostRestore { group: id, reason: e.to_string() })?;
            let group = Group::restore_state(Arc::clone(&image), entry.state, &config, host, keys.clone()).map_err(
                |e| match e {
                    RestoreError::BadOwner { .. } | RestoreError::BadWaiter { .. } => {
                        CheckpointError::DanglingCoroutine(e)
                    }
                    e => CheckpointError::BadGroupState(e),
                },
            )?;
            machine.groups.push(group);
            machine.owners.push(entry.owner);
        }
        if let Some(l) = body.lazy {
            let owner = l.owner.as_deref().map(Arc::from);
            machine.lazy = Some(Lazy { count: l.count, make: hosts, injections: l.injections, owner });
        }
        machine.resume = Some(ResumePoint {
            next: body.next as usize,
            inside: body.inside,
            in_flight: None,
            messages: body.messages,
            writer: body.writer,
            summary: body.summary,
        });
        Ok(machine)
    }
}
