//! Message authentication: where endpoint keys come from, the canonical
//! message envelope that is signed and hashed, and the offline check of a
//! recorded event stream's signatures.
//!
//! Endpoint signing keys are secrets: they come from a [`KeySource`] the
//! replay never contains (a [`KeySeed`] or host-supplied secrets), never from
//! the run's seed or anything else a replay records. A replay holds only the
//! verifying keys (in `Opened`).
//!
//! The envelope of a message is
//! `run identity [32] ‖ sid u64 ‖ from u16 ‖ to u16 ‖ seq u64 ‖ label u32 ‖
//! canonical payload`, little-endian (specified in `bytecode-spec/replay.md`).
//! The run identity ([`run_identity`]) binds the program digest and the
//! configuration digest (which holds the seed), so a signature made in one
//! run does not verify in another. The sender signs the envelope; its SHA-256
//! is the message's identity under the nullifier policy.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use canon_types::{SymId, Value};
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

use crate::event::{Event, EventKind};

mod cross_check;
pub use cross_check::{CrossCheckError, CrossCheckReport, cross_check};

/// Domain tag of the endpoint key derivation from a [`KeySeed`].
pub const KEY_DOMAIN: &[u8] = b"canon-endpoint-key-v2";

/// Domain tag of the run identity.
pub const RUN_DOMAIN: &[u8] = b"canon-run-id";

/// Bytes of the envelope before the payload.
pub const ENVELOPE_HEAD_BYTES: usize = 32 + 8 + 2 + 2 + 8 + 4;

/// The run identity the envelope binds:
/// `SHA-256("canon-run-id" ‖ program digest ‖ configuration digest)`. The
/// configuration digest covers the seed, so two runs share an identity only
/// if they are the same program under the same configuration and seed.
pub fn run_identity(program_digest: &[u8; 32], config_digest: &[u8; 32]) -> [u8; 32] {
    Sha256::new().chain_update(RUN_DOMAIN).chain_update(program_digest).chain_update(config_digest).finalize().into()
}

/// A 32-byte secret from which every endpoint signing key of a run is
/// derived deterministically:
/// `secret = SHA-256("canon-endpoint-key-v2" ‖ key seed [32] ‖ sid u64 ‖ role u16)`.
/// Whoever holds it can reproduce a run's signatures; a replay never holds it.
/// `Debug` does not print the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct KeySeed([u8; 32]);

/// First word of the key-seed file format (see [`KeySeed::to_text`]).
pub const KEY_SEED_FILE_TAG: &str = "canon-key-seed-v1";

/// Why a key-seed file was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeySeedError {
    /// The file has no key line.
    #[error("no `{KEY_SEED_FILE_TAG} <64 hex digits>` line")]
    Missing,
    /// A line that is not a key line.
    #[error("line {line}: expected `{KEY_SEED_FILE_TAG} <64 hex digits>`")]
    Malformed {
        /// The 1-based line number in the file.
        line: usize,
    },
    /// A second key line.
    #[error("line {line}: a second key line (a key-seed file holds one key)")]
    Duplicate {
        /// The 1-based line number in the file.
        line: usize,
    },
}

impl KeySeed {
    /// The public test key seed, committed to the repository as
    /// `fixtures/keys/TEST-ONLY-public.key-seed`. Everyone knows it: signatures
    /// made with it prove nothing. Tests and CI use it so their replays are
    /// reproducible; never use it for a real run.
    pub const TEST_ONLY_PUBLIC: KeySeed = KeySeed(*b"canon-PUBLIC-test-key-seed-00000");

    /// The key seed of 32 secret bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        KeySeed(bytes)
    }

    /// The secret bytes (to write a key-seed file).
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The secret of endpoint `role` of session `sid`.
    pub fn endpoint_secret(&self, sid: u64, role: u16) -> [u8; 32] {
        Sha256::new()
            .chain_update(KEY_DOMAIN)
            .chain_update(self.0)
            .chain_update(sid.to_le_bytes())
            .chain_update(role.to_le_bytes())
            .finalize()
            .into()
    }

    /// The key pair of endpoint `role` of session `sid`.
    pub fn endpoint_key(&self, sid: u64, role: u16) -> EndpointKey {
        EndpointKey::from_secret(&self.endpoint_secret(sid, role))
    }

    /// The key-seed file text: comment lines (`#`) and one line
    /// `canon-key-seed-v1 <64 lowercase hex digits>`.
    pub fn to_text(&self) -> String {
        let hex = canon_types::Hex(&self.0);
        format!("# canon key seed: endpoint signing keys derive from it. Keep it secret.\n{KEY_SEED_FILE_TAG} {hex}\n")
    }

    /// Parses the key-seed file text ([`KeySeed::to_text`]): blank lines and
    /// lines starting with `#` are ignored; exactly one key line.
    pub fn parse(text: &str) -> Result<KeySeed, KeySeedError> {
        let mut found = None;
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let bad = KeySeedError::Malformed { line: i + 1 };
            let hex = line.strip_prefix(KEY_SEED_FILE_TAG).and_then(|r| r.strip_prefix(' ')).ok_or(bad.clone())?;
            let bytes = parse_hex32(hex.trim()).ok_or(bad)?;
            if found.is_some() {
                return Err(KeySeedError::Duplicate { line: i + 1 });
            }
            found = Some(KeySeed(bytes));
        }
        found.ok_or(KeySeedError::Missing)
    }
}

impl fmt::Debug for KeySeed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KeySeed(<secret>)")
    }
}

/// 32 bytes from exactly 64 hex digits.
pub fn parse_hex32(s: &str) -> Option<[u8; 32]> {
    let s = s.as_bytes();
    if s.len() != 64 {
        return None;
    }
    let digit = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let mut out = [0u8; 32];
    for (i, pair) in s.chunks_exact(2).enumerate() {
        out[i] = digit(pair[0])? << 4 | digit(pair[1])?;
    }
    Some(out)
}

/// Where a group's endpoint keys come from when the host supplied none for
/// an endpoint (`Group::set_endpoint_key` takes precedence).
#[derive(Debug, Clone, Default)]
pub enum KeySource {
    /// No key source: opening a session under `Auth::Ed25519` faults with
    /// `NoEndpointKey` (3040) unless the host supplied every endpoint's key.
    #[default]
    None,
    /// Keys derived from a secret key seed.
    Seed(KeySeed),
    /// Re-execution without the secret: the verifying keys recorded in
    /// `Opened` and the signatures recorded in `Sent` (see [`RecordedKeys`]).
    Recorded(Arc<RecordedKeys>),
}

impl KeySource {
    /// The key of endpoint `role` of session `sid`, if the source has one.
    pub fn key(&self, sid: u64, role: u16) -> Option<EndpointKey> {
        match self {
            KeySource::None => None,
            KeySource::Seed(seed) => Some(seed.endpoint_key(sid, role)),
            KeySource::Recorded(rec) => {
                let bytes = rec.keys.get(&sid)?.get(usize::from(role))?;
                let verifying = VerifyingKey::from_bytes(bytes).ok()?;
                Some(EndpointKey { verifying, signer: Signer::Recorded(Arc::clone(rec)) })
            }
        }
    }
}

/// What a recorded run's signers left in its replay: the verifying key of
/// every endpoint (from `Opened`) and every signature (from `Sent`) by the
/// identity (SHA-256) of the envelope it signs. Re-execution with it
/// reproduces the recorded signatures without any secret: a message whose
/// re-executed envelope differs from every recorded one gets no valid
/// signature, so its `Sent` differs from the recording and its receiver
/// faults `BadSignature`.
#[derive(Debug, Clone, Default)]
pub struct RecordedKeys {
    keys: BTreeMap<u64, Vec<[u8; 32]>>,
    signatures: BTreeMap<[u8; 32], [u8; 64]>,
}

impl RecordedKeys {
    /// Collects the keys and signatures of `events`, recorded in the run `run`
    /// ([`run_identity`]).
    pub fn from_events<'e>(run: &[u8; 32], events: impl IntoIterator<Item = &'e Event>) -> Self {
        let mut rec = RecordedKeys::default();
        let mut envelope = Vec::new();
        let mut rounds: BTreeMap<RoundKey, (Vec<[u8; 32]>, [u8; 64])> = BTreeMap::new();
        for ev in events {
            let sid = ev.site.sid;
            match &ev.kind {
                EventKind::Opened { keys, .. } if !keys.is_empty() => {
                    rec.keys.insert(sid, keys.clone());
                }
                EventKind::Sent { to, label, seq, payload, signature: Some(sig) } => {
                    let fields =
                        EnvelopeFields { run, sid, from: ev.site.role, to: *to, seq: *seq, label: *label, payload };
                    envelope_into(&mut envelope, fields);
                    let id = identity(&envelope);
                    rec.signatures.entry(id).or_insert(*sig);
                    let round = (ev.site.group, ev.site.tick, sid, ev.site.role);
                    rounds.entry(round).or_insert_with(|| (Vec::new(), *sig)).0.push(id);
                }
                _ => {}
            }
        }
        // Under `Auth::Ed25519Round` a signature covers an endpoint's messages of one round.
        for ((_, tick, sid, from), (ids, sig)) in rounds {
            batch_envelope_into(&mut envelope, run, sid, from, tick, &ids);
            rec.signatures.entry(identity(&envelope)).or_insert(sig);
        }
        rec
    }

    /// Sessions with recorded keys.
    pub fn session_count(&self) -> usize {
        self.keys.len()
    }
}

// The secret stays inline: boxing it would allocate at every open.
#[allow(clippy::large_enum_variant)]
#[derive(Clone)]
enum Signer {
    Secret(SigningKey),
    Recorded(Arc<RecordedKeys>),
    /// Restored from a checkpoint, which holds no secret: signs nothing that
    /// verifies (64 zero bytes) until [`EndpointKey::rebind`] gives it its
    /// signer back from the key source.
    Unbound,
}

/// One endpoint's key, bound at open: a verifying key and what signs for it
/// (the secret, or, in re-execution, the recorded signatures).
#[derive(Clone)]
pub struct EndpointKey {
    verifying: VerifyingKey,
    signer: Signer,
}

impl fmt::Debug for EndpointKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.signer {
            Signer::Secret(_) => "secret",
            Signer::Recorded(_) => "recorded",
            Signer::Unbound => "unbound",
        };
        f.debug_struct("EndpointKey").field("verifying", &self.verifying).field("signer", &kind).finish()
    }
}

impl EndpointKey {
    /// The key pair of a 32-byte secret.
    pub fn from_secret(secret: &[u8; 32]) -> Self {
        let signing = SigningKey::from_bytes(secret);
        let verifying = signing.verifying_key();
        EndpointKey { verifying, signer: Signer::Secret(signing) }
    }

    /// The verifying key, as recorded in `Opened`.
    pub fn verifying_bytes(&self) -> [u8; 32] {
        self.verifying.to_bytes()
    }

    /// Whether the key was restored from a checkpoint and still lacks its signer.
    pub fn is_unbound(&self) -> bool {
        matches!(self.signer, Signer::Unbound)
    }

    /// Gives a key restored from a checkpoint its signer back: `from` (from
    /// the key source) must have the same verifying key. Returns whether it did.
    pub fn rebind(&mut self, from: EndpointKey) -> bool {
        if from.verifying != self.verifying {
            return false;
        }
        *self = from;
        true
    }

    /// Whether this key holds its secret (false in re-execution).
    pub fn has_secret(&self) -> bool {
        matches!(self.signer, Signer::Secret(_))
    }

    /// Signs `envelope`. No allocation. A recorded key returns the recorded
    /// signature of this exact envelope, or 64 zero bytes (which never
    /// verify) when the recording has none.
    pub fn sign(&self, envelope: &[u8]) -> [u8; 64] {
        match &self.signer {
            Signer::Secret(k) => k.sign(envelope).to_bytes(),
            Signer::Recorded(rec) => rec.signatures.get(&identity(envelope)).copied().unwrap_or([0; 64]),
            Signer::Unbound => [0; 64],
        }
    }

    /// Whether `signature` is this endpoint's (strict) signature of `envelope`.
    pub fn verify(&self, envelope: &[u8], signature: &[u8; 64]) -> bool {
        verify_with(&self.verifying, envelope, signature)
    }
}

/// A checkpoint records an endpoint key as its verifying key only: secrets
/// never leave the process. Restored keys are unbound until rebound.
impl serde::Serialize for EndpointKey {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        serde::Serialize::serialize(&self.verifying.to_bytes(), s)
    }
}

impl<'de> serde::Deserialize<'de> for EndpointKey {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let bytes: [u8; 32] = serde::Deserialize::deserialize(d)?;
        let verifying = VerifyingKey::from_bytes(&bytes).map_err(serde::de::Error::custom)?;
        Ok(EndpointKey { verifying, signer: Signer::Unbound })
    }
}

/// A round batch saves its sealed contents (a checkpoint is taken at a round
/// boundary, where every batch is sealed); the messages that shared one
/// `Arc` each get an equal batch back.
impl serde::Serialize for RoundBatch {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        serde::Serialize::serialize(&self.sealed().map(|b| (b.sid, b.from, b.tick, &b.ids, b.signature.as_slice())), s)
    }
}

impl<'de> serde::Deserialize<'de> for RoundBatch {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        type Sealed = Option<(u64, u16, u64, Vec<[u8; 32]>, Vec<u8>)>;
        let batch = RoundBatch::default();
        if let Some((sid, from, tick, ids, sig)) = <Sealed as serde::Deserialize>::deserialize(d)? {
            let signature: [u8; 64] =
                sig.try_into().map_err(|_| serde::de::Error::custom("a batch signature is 64 bytes"))?;
            batch.seal(sid, from, tick, ids, signature);
        }
        Ok(batch)
    }
}

/// Serde for an optional 64-byte signature (serde implements arrays up to 32).
pub(crate) mod signature_serde {
    use serde::{Deserialize, Serialize};

    pub fn serialize<S: serde::Serializer>(sig: &Option<[u8; 64]>, s: S) -> Result<S::Ok, S::Error> {
        sig.as_ref().map(|b| b.as_slice()).serialize(s)
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<[u8; 64]>, D::Error> {
        let bytes: Option<Vec<u8>> = Option::deserialize(d)?;
        bytes.map(|b| b.try_into().map_err(|_| serde::de::Error::custom("a signature is 64 bytes"))).transpose()
    }
}

fn verify_with(key: &VerifyingKey, envelope: &[u8], signature: &[u8; 64]) -> bool {
    key.verify_strict(envelope, &Signature::from_bytes(signature)).is_ok()
}

/// The fields of a message that its envelope covers.
#[derive(Debug, Clone, Copy)]
pub struct EnvelopeFields<'a> {
    /// The run identity ([`run_identity`]).
    pub run: &'a [u8; 32],
    /// The session id.
    pub sid: u64,
    /// The sending role's index.
    pub from: u16,
    /// The receiving role's index.
    pub to: u16,
    /// The message's sequence number on its edge.
    pub seq: u64,
    /// The message label.
    pub label: SymId,
    /// The message payload.
    pub payload: &'a Value,
}

/// Writes the canonical envelope of a message into `out` (cleared first, so
/// a reused buffer does not allocate once it has grown).
pub fn envelope_into(out: &mut Vec<u8>, f: EnvelopeFields<'_>) {
    out.clear();
    let mut head = [0u8; ENVELOPE_HEAD_BYTES];
    head[..32].copy_from_slice(f.run);
    head[32..40].copy_from_slice(&f.sid.to_le_bytes());
    head[40..42].copy_from_slice(&f.from.to_le_bytes());
    head[42..44].copy_from_slice(&f.to.to_le_bytes());
    head[44..52].copy_from_slice(&f.seq.to_le_bytes());
    head[52..].copy_from_slice(&f.label.0.to_le_bytes());
    out.extend_from_slice(&head);
    f.payload.encode(out);
}

/// The message identity: SHA-256 of its envelope.
pub fn identity(envelope: &[u8]) -> [u8; 32] {
    Sha256::digest(envelope).into()
}

/// One step of a running hash (an edge's authenticated history, a
/// session's consumption root): `SHA-256(pre || identity)`.
pub fn chain(pre: &[u8; 32], identity: &[u8; 32]) -> [u8; 32] {
    Sha256::new().chain_update(pre).chain_update(identity).finalize().into()
}

/// Domain tag of a round batch's signed bytes.
pub const BATCH_DOMAIN: &[u8] = b"canon-round-batch-v1";

/// Writes the bytes a round batch's signature covers:
/// `"canon-round-batch-v1" ‖ run identity [32] ‖ sid u64 ‖ from u16 ‖ tick u64 ‖
/// count u32 ‖ count × message identity [32]`, the identities (SHA-256 of
/// each message's envelope) in the order the endpoint sent the messages.
pub fn batch_envelope_into(out: &mut Vec<u8>, run: &[u8; 32], sid: u64, from: u16, tick: u64, ids: &[[u8; 32]]) {
    out.clear();
    out.extend_from_slice(BATCH_DOMAIN);
    out.extend_from_slice(run);
    out.extend_from_slice(&sid.to_le_bytes());
    out.extend_from_slice(&from.to_le_bytes());
    out.extend_from_slice(&tick.to_le_bytes());
    out.extend_from_slice(&(ids.len() as u32).to_le_bytes());
    for id in ids {
        out.extend_from_slice(id);
    }
}

/// One endpoint's messages of one round under `Auth::Ed25519Round`: shared
/// by the messages, sealed (signed) at the round's barrier, before any of
/// them becomes visible.
#[derive(Debug, Default)]
pub struct RoundBatch {
    sealed: std::sync::OnceLock<SealedBatch>,
}

impl PartialEq for RoundBatch {
    fn eq(&self, other: &Self) -> bool {
        self.sealed.get() == other.sealed.get()
    }
}

impl Eq for RoundBatch {}

/// A sealed round batch.
#[derive(Debug)]
pub struct SealedBatch {
    /// The session id.
    pub sid: u64,
    /// The sending role's index.
    pub from: u16,
    /// The round the messages were sent in.
    pub tick: u64,
    /// Message identities in send order.
    pub ids: Vec<[u8; 32]>,
    /// The sender's signature over the round's identities.
    pub signature: [u8; 64],
    /// Whether the signature verified, once checked (receivers check it once).
    verified: std::sync::OnceLock<bool>,
}

impl PartialEq for SealedBatch {
    fn eq(&self, o: &Self) -> bool {
        (self.sid, self.from, self.tick, &self.ids, self.signature) == (o.sid, o.from, o.tick, &o.ids, o.signature)
    }
}

impl RoundBatch {
    /// Seals the batch; a second seal is ignored.
    pub fn seal(&self, sid: u64, from: u16, tick: u64, ids: Vec<[u8; 32]>, signature: [u8; 64]) {
        let _ = self.sealed.set(SealedBatch { sid, from, tick, ids, signature, verified: std::sync::OnceLock::new() });
    }

    /// The sealed batch (`None` before its barrier).
    pub fn sealed(&self) -> Option<&SealedBatch> {
        self.sealed.get()
    }

    /// Unseals a batch no message holds any more, for reuse: returns its
    /// identity vector, emptied (its allocation kept).
    pub fn recycle(&mut self) -> Option<Vec<[u8; 32]>> {
        self.sealed.take().map(|s| {
            let mut ids = s.ids;
            ids.clear();
            ids
        })
    }
}

impl SealedBatch {
    /// Whether message `index` has identity `id` and the batch signature
    /// verifies with `key` for run `run` (the signature is checked once per batch).
    /// `scratch` receives the batch's signed bytes (a reused buffer: no
    /// allocation once it has grown).
    pub fn admits(&self, key: &EndpointKey, run: &[u8; 32], index: u32, id: &[u8; 32], scratch: &mut Vec<u8>) -> bool {
        if self.ids.get(index as usize) != Some(id) {
            return false;
        }
        *self.verified.get_or_init(|| {
            batch_envelope_into(scratch, run, self.sid, self.from, self.tick, &self.ids);
            key.verify(scratch, &self.signature)
        })
    }
}

/// What [`verify_signatures`] checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SignatureReport {
    /// Signatures that verified.
    pub checked: u64,
    /// `Sent` events of sessions opened without keys (`Auth::None`).
    pub unsigned: u64,
}

/// Why a recorded event stream's signatures do not verify. `index` is the
/// event's position in the stream.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignatureError {
    /// A message signature that does not verify against the key bound at open.
    #[error("event {index}: forged signature on message seq {seq} from role {from} to role {to} of session {sid:#x}")]
    Forged {
        /// The event's index in the replay.
        index: usize,
        /// The session id.
        sid: u64,
        /// The sending role's index.
        from: u16,
        /// The receiving role's index.
        to: u16,
        /// The message's sequence number on its edge.
        seq: u64,
    },
    /// An unsigned message in a session opened with keys.
    #[error(
        "event {index}: message seq {seq} of session {sid:#x} has no signature, but the session was opened with keys"
    )]
    Missing {
        /// The event's index in the replay.
        index: usize,
        /// The session id.
        sid: u64,
        /// The message's sequence number on its edge.
        seq: u64,
    },
    /// A signed message in a session opened without keys.
    #[error("event {index}: message seq {seq} of session {sid:#x} is signed, but the session was opened without keys")]
    Unexpected {
        /// The event's index in the replay.
        index: usize,
        /// The session id.
        sid: u64,
        /// The message's sequence number on its edge.
        seq: u64,
    },
    /// A message of a session no earlier event opened.
    #[error("event {index}: a message of session {sid:#x}, which no earlier event opened")]
    UnknownSession {
        /// The event's index in the replay.
        index: usize,
        /// The session id.
        sid: u64,
    },
    /// An `Opened` event whose keys do not match its roles or are not curve points.
    #[error(
        "event {index}: session {sid:#x} records {keys} keys for {roles} roles, or a key that is not a curve point"
    )]
    BadKeys {
        /// The event's index in the replay.
        index: usize,
        /// The session id.
        sid: u64,
        /// How many roles the session opened.
        roles: usize,
        /// How many keys the `Opened` event records.
        keys: usize,
    },
}

/// Checks every `Sent` signature in `events` against the verifying keys the
/// `Opened` events bound, rebuilding each envelope (bound to the run
/// identity `run`, see [`run_identity`]) from the event. Stops at the first
/// failure. Needs no secret and no program. What this proves depends on where
/// the verifying keys are trusted from: on their own, keys read from the same
/// file prove only that whoever wrote the file signed it (see
/// `bytecode-spec/replay.md`, "What a verified replay proves").
pub fn verify_signatures(run: &[u8; 32], events: &[Event]) -> Result<SignatureReport, SignatureError> {
    let mut sessions: BTreeMap<u64, Vec<VerifyingKey>> = BTreeMap::new();
    let mut report = SignatureReport::default();
    let mut envelope = Vec::new();
    let mut batches: BTreeMap<RoundKey, PendingCheck> = BTreeMap::new();
    for (index, ev) in events.iter().enumerate() {
        let sid = ev.site.sid;
        if batches.first_key_value().is_some_and(|(k, _)| (k.0, k.1) != (ev.site.group, ev.site.tick)) {
            check_batches(run, &mut batches, &mut envelope, &mut report)?;
        }
        match &ev.kind {
            EventKind::Opened { roles, keys } => {
                sessions.insert(sid, opened_keys(index, sid, roles.len(), keys)?);
            }
            EventKind::Sent { to, label, seq, payload, signature } => {
                let keys = sessions.get(&sid).ok_or(SignatureError::UnknownSession { index, sid })?;
                let (from, seq, to) = (ev.site.role, *seq, *to);
                match (keys.get(usize::from(from)), signature) {
                    (None, None) if keys.is_empty() => report.unsigned += 1,
                    (None, Some(_)) if keys.is_empty() => return Err(SignatureError::Unexpected { index, sid, seq }),
                    (Some(_), None) => return Err(SignatureError::Missing { index, sid, seq }),
                    (Some(key), Some(sig)) => {
                        let fields = EnvelopeFields { run, sid, from, to, seq, label: *label, payload };
                        envelope_into(&mut envelope, fields);
                        let site = (ev.site.group, ev.site.tick, sid, from);
                        let in_batch = batches.get(&site).is_some_and(|b| b.signature == *sig);
                        if !in_batch && verify_with(key, &envelope, sig) {
                            report.checked += 1;
                        } else {
                            // A round batch (`Auth::Ed25519Round`): checked when its round is complete.
                            let b = batches.entry(site).or_insert_with(|| PendingCheck {
                                first: index,
                                to,
                                seq,
                                signature: *sig,
                                ids: Vec::new(),
                                key: *key,
                            });
                            if b.signature != *sig {
                                return Err(SignatureError::Forged { index, sid, from, to, seq });
                            }
                            b.ids.push(identity(&envelope));
                        }
                    }
                    (None, _) => return Err(SignatureError::Forged { index, sid, from, to, seq }),
                }
            }
            _ => {}
        }
    }
    check_batches(run, &mut batches, &mut envelope, &mut report)?;
    Ok(report)
}

/// The messages of one endpoint in one round whose signature is a batch's.
struct PendingCheck {
    first: usize,
    to: u16,
    seq: u64,
    signature: [u8; 64],
    ids: Vec<[u8; 32]>,
    key: VerifyingKey,
}

/// Verifies every pending round batch (one signature each) and empties the map.
fn check_batches(
    run: &[u8; 32],
    batches: &mut BTreeMap<RoundKey, PendingCheck>,
    envelope: &mut Vec<u8>,
    report: &mut SignatureReport,
) -> Result<(), SignatureError> {
    for ((_, tick, sid, from), b) in std::mem::take(batches) {
        batch_envelope_into(envelope, run, sid, from, tick, &b.ids);
        if !verify_with(&b.key, envelope, &b.signature) {
            return Err(SignatureError::Forged { index: b.first, sid, from, to: b.to, seq: b.seq });
        }
        report.checked += b.ids.len() as u64;
    }
    Ok(())
}

fn opened_keys(index: usize, sid: u64, roles: usize, keys: &[[u8; 32]]) -> Result<Vec<VerifyingKey>, SignatureError> {
    let bad = SignatureError::BadKeys { index, sid, roles, keys: keys.len() };
    if !keys.is_empty() && keys.len() != roles {
        return Err(bad);
    }
    keys.iter().map(|k| VerifyingKey::from_bytes(k).map_err(|_| bad.clone())).collect()
}

/// The first `Opened` key not in `trusted`, as `(event index, sid, role)`.
/// With none, every signature [`verify_signatures`] accepted was made by a
/// holder of a trusted key's secret.
pub fn untrusted_key(events: &[Event], trusted: &std::collections::BTreeSet<[u8; 32]>) -> Option<(usize, u64, u16)> {
    events.iter().enumerate().find_map(|(index, ev)| match &ev.kind {
        EventKind::Opened { keys, .. } => {
            keys.iter().position(|k| !trusted.contains(k)).map(|role| (index, ev.site.sid, role as u16))
        }
        _ => None,
    })
}

/// `(group, tick, sid, from)`: one endpoint's messages of one round.
type RoundKey = (u32, u64, u64, u16);

#[cfg(test)]
mod tests {
    use super::*;

    const RUN: [u8; 32] = [7; 32];

    #[test]
    fn derivation_is_deterministic_and_distinct() {
        let seed = KeySeed::from_bytes([1; 32]);
        let a = seed.endpoint_key(0, 0).verifying_bytes();
        assert_eq!(a, seed.endpoint_key(0, 0).verifying_bytes());
        assert_ne!(a, KeySeed::from_bytes([2; 32]).endpoint_key(0, 0).verifying_bytes());
        assert_ne!(a, seed.endpoint_key(1, 0).verifying_bytes());
        assert_ne!(a, seed.endpoint_key(0, 1).verifying_bytes());
    }

    #[test]
    fn run_identity_binds_program_and_configuration() {
        let a = run_identity(&[1; 32], &[2; 32]);
        assert_ne!(a, run_identity(&[3; 32], &[2; 32]));
        assert_ne!(a, run_identity(&[1; 32], &[3; 32]));
    }

    #[test]
    fn key_seed_file_round_trips_and_refuses_bad_text() {
        let seed = KeySeed::from_bytes(core::array::from_fn(|i| i as u8 * 7));
        assert_eq!(KeySeed::parse(&seed.to_text()), Ok(seed.clone()));
        assert!(!format!("{seed:?}").contains("00"), "Debug must not print the secret");
        assert_eq!(KeySeed::parse("# nothing\n\n"), Err(KeySeedError::Missing));
        let short = format!("{KEY_SEED_FILE_TAG} {}\n", "ab".repeat(31));
        assert_eq!(KeySeed::parse(&short), Err(KeySeedError::Malformed { line: 1 }));
        let nonhex = format!("{KEY_SEED_FILE_TAG} {}\n", "zz".repeat(32));
        assert_eq!(KeySeed::parse(&nonhex), Err(KeySeedError::Malformed { line: 1 }));
        let twice = format!("{}{}", seed.to_text(), seed.to_text());
        assert_eq!(KeySeed::parse(&twice), Err(KeySeedError::Duplicate { line: 4 }));
        let committed = include_str!("../../../../fixtures/keys/TEST-ONLY-public.key-seed");
        assert_eq!(KeySeed::parse(committed), Ok(KeySeed::TEST_ONLY_PUBLIC));
    }

    #[test]
    fn envelope_layout_and_signature() {
        let payload = Value::Int(5);
        let mut env = Vec::new();
        let f = EnvelopeFields { run: &RUN, sid: 0x0102, from: 1, to: 2, seq: 3, label: SymId(4), payload: &payload };
        envelope_into(&mut env, f);
        let mut want = vec![7; 32];
        want.extend_from_slice(&[2, 1, 0, 0, 0, 0, 0, 0, 1, 0, 2, 0, 3, 0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0]);
        want.extend_from_slice(&[2, 5, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(env, want);
        let key = KeySeed::TEST_ONLY_PUBLIC.endpoint_key(0x0102, 1);
        let sig = key.sign(&env);
        assert!(key.verify(&env, &sig));
        let mut bad = sig;
        bad[10] ^= 1;
        assert!(!key.verify(&env, &bad));
        let mut other_run = env.clone();
        other_run[0] ^= 1;
        assert!(!key.verify(&other_run, &sig), "a signature is bound to its run");
        env[ENVELOPE_HEAD_BYTES - 4] ^= 1;
        assert!(!key.verify(&env, &sig));
    }

    #[test]
    fn recorded_keys_sign_only_what_was_recorded() {
        use crate::event::EventSite;
        let key = KeySeed::TEST_ONLY_PUBLIC.endpoint_key(0, 0);
        let payload = Value::Int(1);
        let mut env = Vec::new();
        envelope_into(
            &mut env,
            EnvelopeFields { run: &RUN, sid: 0, from: 0, to: 1, seq: 0, label: SymId(2), payload: &payload },
        );
        let sig = key.sign(&env);
        let site = |role| EventSite { group: 0, tick: 0, coroutine: 0, sid: 0, role };
        let events = [
            Event {
                site: site(EventSite::NO_ROLE),
                kind: EventKind::Opened { roles: vec![SymId(0), SymId(1)], keys: vec![key.verifying_bytes(); 2] },
            },
            Event {
                site: site(0),
                kind: EventKind::Sent { to: 1, label: SymId(2), seq: 0, payload, signature: Some(sig) },
            },
        ];
        let rec = KeySource::Recorded(Arc::new(RecordedKeys::from_events(&RUN, &events)));
        let replayed = rec.key(0, 0).expect("recorded key");
        assert!(!replayed.has_secret());
        assert_eq!(replayed.verifying_bytes(), key.verifying_bytes());
        assert_eq!(replayed.sign(&env), sig);
        env[60] ^= 1;
        assert!(!replayed.verify(&env, &replayed.sign(&env)), "an unrecorded envelope gets no valid signature");
        assert!(rec.key(1, 0).is_none() && KeySource::None.key(0, 0).is_none());
    }
}
