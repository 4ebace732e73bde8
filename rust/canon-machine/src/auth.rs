//! Message authentication: per-endpoint Ed25519 keys, the canonical message
//! envelope that is signed and hashed, and the offline check of a recorded
//! event stream's signatures.
//!
//! The envelope of a message is
//! `sid u64 ‖ from u16 ‖ to u16 ‖ seq u64 ‖ label u32 ‖ canonical payload`,
//! little-endian (specified in `bytecode-spec/replay.md`). The sender signs
//! it; its SHA-256 is the message's identity under the nullifier policy.

use std::collections::BTreeMap;

use canon_types::{SymId, Value};
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

use crate::event::{Event, EventKind};

/// Domain tag of the key derivation.
pub const KEY_DOMAIN: &[u8] = b"canon-endpoint-key";

/// Bytes of the envelope before the payload.
pub const ENVELOPE_HEAD_BYTES: usize = 8 + 2 + 2 + 8 + 4;

/// One endpoint's key pair, bound at open.
#[derive(Debug, Clone)]
pub struct EndpointKey {
    signing: SigningKey,
    verifying: VerifyingKey,
}

impl EndpointKey {
    /// The key pair of a 32-byte secret.
    pub fn from_secret(secret: &[u8; 32]) -> Self {
        let signing = SigningKey::from_bytes(secret);
        let verifying = signing.verifying_key();
        EndpointKey { signing, verifying }
    }

    /// The key derived from the run's seed:
    /// `secret = SHA-256("canon-endpoint-key" ‖ seed u64 ‖ sid u64 ‖ role u16)`.
    pub fn derive(seed: u64, sid: u64, role: u16) -> Self {
        EndpointKey::from_secret(&derive_secret(seed, sid, role))
    }

    /// The verifying key, as recorded in `Opened`.
    pub fn verifying_bytes(&self) -> [u8; 32] {
        self.verifying.to_bytes()
    }

    /// Signs `envelope`. No allocation.
    pub fn sign(&self, envelope: &[u8]) -> [u8; 64] {
        self.signing.sign(envelope).to_bytes()
    }

    /// Whether `signature` is this endpoint's (strict) signature of `envelope`.
    pub fn verify(&self, envelope: &[u8], signature: &[u8; 64]) -> bool {
        verify_with(&self.verifying, envelope, signature)
    }
}

/// The seeded secret of endpoint `role` of session `sid` (see [`EndpointKey::derive`]).
pub fn derive_secret(seed: u64, sid: u64, role: u16) -> [u8; 32] {
    Sha256::new()
        .chain_update(KEY_DOMAIN)
        .chain_update(seed.to_le_bytes())
        .chain_update(sid.to_le_bytes())
        .chain_update(role.to_le_bytes())
        .finalize()
        .into()
}

fn verify_with(key: &VerifyingKey, envelope: &[u8], signature: &[u8; 64]) -> bool {
    key.verify_strict(envelope, &Signature::from_bytes(signature)).is_ok()
}

/// The fields of a message that its envelope covers.
#[derive(Debug, Clone, Copy)]
pub struct EnvelopeFields<'a> {
    pub sid: u64,
    pub from: u16,
    pub to: u16,
    pub seq: u64,
    pub label: SymId,
    pub payload: &'a Value,
}

/// Writes the canonical envelope of a message into `out` (cleared first, so
/// a reused buffer does not allocate once it has grown).
pub fn envelope_into(out: &mut Vec<u8>, f: EnvelopeFields<'_>) {
    out.clear();
    let mut head = [0u8; ENVELOPE_HEAD_BYTES];
    head[..8].copy_from_slice(&f.sid.to_le_bytes());
    head[8..10].copy_from_slice(&f.from.to_le_bytes());
    head[10..12].copy_from_slice(&f.to.to_le_bytes());
    head[12..20].copy_from_slice(&f.seq.to_le_bytes());
    head[20..].copy_from_slice(&f.label.0.to_le_bytes());
    out.extend_from_slice(&head);
    f.payload.encode(out);
}

/// The message identity: SHA-256 of its envelope.
pub fn identity(envelope: &[u8]) -> [u8; 32] {
    Sha256::digest(envelope).into()
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
pub enum SignatureError {
    #[error("event {index}: forged signature on message seq {seq} from role {from} to role {to} of session {sid:#x}")]
    Forged { index: usize, sid: u64, from: u16, to: u16, seq: u64 },
    #[error(
        "event {index}: message seq {seq} of session {sid:#x} has no signature, but the session was opened with keys"
    )]
    Missing { index: usize, sid: u64, seq: u64 },
    #[error("event {index}: message seq {seq} of session {sid:#x} is signed, but the session was opened without keys")]
    Unexpected { index: usize, sid: u64, seq: u64 },
    #[error("event {index}: a message of session {sid:#x}, which no earlier event opened")]
    UnknownSession { index: usize, sid: u64 },
    #[error(
        "event {index}: session {sid:#x} records {keys} keys for {roles} roles, or a key that is not a curve point"
    )]
    BadKeys { index: usize, sid: u64, roles: usize, keys: usize },
}

/// Checks every `Sent` signature in `events` against the verifying keys the
/// `Opened` events bound, rebuilding each envelope from the event. Stops at
/// the first failure. Needs no seed and no program.
pub fn verify_signatures(events: &[Event]) -> Result<SignatureReport, SignatureError> {
    let mut sessions: BTreeMap<u64, Vec<VerifyingKey>> = BTreeMap::new();
    let mut report = SignatureReport::default();
    let mut envelope = Vec::new();
    for (index, ev) in events.iter().enumerate() {
        let sid = ev.site.sid;
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
                        let fields = EnvelopeFields { sid, from, to, seq, label: *label, payload };
                        envelope_into(&mut envelope, fields);
                        if !verify_with(key, &envelope, sig) {
                            return Err(SignatureError::Forged { index, sid, from, to, seq });
                        }
                        report.checked += 1;
                    }
                    (None, _) => return Err(SignatureError::Forged { index, sid, from, to, seq }),
                }
            }
            _ => {}
        }
    }
    Ok(report)
}

fn opened_keys(index: usize, sid: u64, roles: usize, keys: &[[u8; 32]]) -> Result<Vec<VerifyingKey>, SignatureError> {
    let bad = SignatureError::BadKeys { index, sid, roles, keys: keys.len() };
    if !keys.is_empty() && keys.len() != roles {
        return Err(bad);
    }
    keys.iter().map(|k| VerifyingKey::from_bytes(k).map_err(|_| bad.clone())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derivation_is_deterministic_and_distinct() {
        let a = EndpointKey::derive(1, 0, 0).verifying_bytes();
        assert_eq!(a, EndpointKey::derive(1, 0, 0).verifying_bytes());
        assert_ne!(a, EndpointKey::derive(2, 0, 0).verifying_bytes());
        assert_ne!(a, EndpointKey::derive(1, 1, 0).verifying_bytes());
        assert_ne!(a, EndpointKey::derive(1, 0, 1).verifying_bytes());
    }

    #[test]
    fn envelope_layout_and_signature() {
        let payload = Value::Int(5);
        let mut env = Vec::new();
        let f = EnvelopeFields { sid: 0x0102, from: 1, to: 2, seq: 3, label: SymId(4), payload: &payload };
        envelope_into(&mut env, f);
        let mut want = vec![2, 1, 0, 0, 0, 0, 0, 0, 1, 0, 2, 0, 3, 0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0];
        want.extend_from_slice(&[2, 5, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(env, want);
        let key = EndpointKey::derive(0, 0x0102, 1);
        let sig = key.sign(&env);
        assert!(key.verify(&env, &sig));
        let mut bad = sig;
        bad[10] ^= 1;
        assert!(!key.verify(&env, &bad));
        env[20] ^= 1;
        assert!(!key.verify(&env, &sig));
    }
}
