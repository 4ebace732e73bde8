//! The receive-side admission through the store directly: a rejected message
//! (bad signature, replayed sequence, reused nullifier) changes no session
//! state, and an accepted one advances exactly the consumption state.

mod common;

use std::collections::BTreeMap;

use canon_bytecode::BufferConfig;
use canon_machine::{
    Auth, Expect, Fault, Injection, OpenRequest, PayloadKinds, Refusal, ReplayMode, Security, SendOutcome,
    SessionStore, Transport, TypeView,
};
use canon_types::{Endpoint, SymId, TypeId, Value};
use common::*;

const A: Endpoint = Endpoint { sid: 0, role: 0 };
const B: Endpoint = Endpoint { sid: 0, role: 1 };

struct Fixture {
    mb: Mb,
    types: [TypeId; 2],
    /// The `mu` resolution table (what the verifier computes).
    resolved: Vec<TypeId>,
    kinds: PayloadKinds,
    roles: [SymId; 2],
    m: SymId,
}

/// A sends `M(Int)` twice to B.
fn fixture() -> Fixture {
    let mut mb = Mb::new();
    let ta = mb.ty(&send("B", "M", &["Int"], send("B", "M", &["Int"], end())));
    let tb = mb.ty(&recv("A", "M", &["Int"], recv("A", "M", &["Int"], end())));
    let roles = [mb.s("A"), mb.s("B")];
    let m = mb.s("M");
    let kinds = PayloadKinds::new(&mb.m.strings);
    let resolved = mb.m.types.check_resolve(&mut 0).expect("well formed");
    Fixture { mb, types: [ta, tb], resolved, kinds, roles, m }
}

/// Everything a rejection must leave alone.
#[derive(Debug, PartialEq, Eq)]
struct Snapshot {
    ty: Option<TypeId>,
    held: usize,
    visible: usize,
    root: [u8; 32],
    next_seq: Option<u64>,
    entries: usize,
}

impl Fixture {
    fn open(&self, store: &mut SessionStore, auth: Auth, replay_mode: ReplayMode) {
        let h = self.roles[0];
        let req = OpenRequest { roles: &self.roles, types: &self.types, handlers: &[h, h], dsts_len: 2, buffers: &[] };
        let keys = canon_machine::KeySource::Seed(canon_machine::KeySeed::TEST_ONLY_PUBLIC);
        let security = Security { auth, replay_mode, keys: &keys, supplied: &BTreeMap::new() };
        store.open(&self.resolved, &req, 0, BufferConfig::default(), 4, &security).unwrap();
    }

    fn send(&self, store: &mut SessionStore, tr: &mut Transport<'_>, i: i64) {
        let tv = TypeView { graph: &self.mb.m.types, kinds: &self.kinds, resolved: &self.resolved };
        store.send(tv, A, 0, self.m, Value::Int(i), tr).unwrap();
    }

    fn snapshot(&self, store: &SessionStore) -> Snapshot {
        let body = &store.get(0).unwrap().body;
        let edge = body.edge_index(0, 1);
        Snapshot {
            ty: store.lookup_type(B),
            held: body.edge(0, 1).map_or(0, |e| e.buffer.len()),
            visible: body.edge(0, 1).map_or(0, |e| e.buffer.visible_len()),
            root: body.consumption.root(),
            next_seq: edge.and_then(|e| body.consumption.next_seq(e)),
            entries: store.consumption_len(),
        }
    }

    /// Peeks, takes and consumes one message on B.
    fn receive(&self, store: &mut SessionStore, tr: &mut Transport<'_>) -> Result<(), Refusal> {
        let g = &self.mb.m.types;
        let p = store.peek(g, B, 0, Expect::Label(self.m), tr)?.expect("a visible message");
        let tv = TypeView { graph: g, kinds: &self.kinds, resolved: &self.resolved };
        store.take(tv, B, p.from, p.envelope_id)?;
        if let Some(id) = p.identity {
            store.consume(tr.replay_mode, B, p.from, p.seq, id).expect("live session");
        }
        Ok(())
    }
}

fn transport(auth: Auth, replay_mode: ReplayMode, envelope: &mut Vec<u8>, inject: Option<Injection>) -> Transport<'_> {
    Transport { auth, replay_mode, max_nullifiers: 8, max_payload_bytes: 64, run: &[3; 32], envelope, inject }
}

/// Opens, sends the first message with `inject`, flushes and receives
/// `accept_first` messages; then the next receive must fail with `want`
/// and change nothing.
fn rejected(auth: Auth, mode: ReplayMode, inject: Injection, accept_first: usize, want: Fault) {
    let f = fixture();
    let mut store = SessionStore::new(0);
    let mut buf = Vec::new();
    f.open(&mut store, auth, mode);
    f.send(&mut store, &mut transport(auth, mode, &mut buf, Some(inject)), 0);
    store.flush();
    for _ in 0..accept_first {
        f.receive(&mut store, &mut transport(auth, mode, &mut buf, None)).unwrap();
    }
    let before = f.snapshot(&store);
    let err = f.receive(&mut store, &mut transport(auth, mode, &mut buf, None)).unwrap_err();
    assert_eq!(err, Refusal::Fault(want), "{auth:?} {mode:?} {inject:?}");
    assert_eq!(f.snapshot(&store), before, "a rejection changes no session state");
}

#[test]
fn rejections_change_no_session_state() {
    let bad_sig = Fault::BadSignature { ep: B, from: 0, seq: 0 };
    for mode in [ReplayMode::Off, ReplayMode::Sequence, ReplayMode::Nullifier] {
        rejected(Auth::Ed25519, mode, Injection::CorruptSignature, 0, bad_sig.clone());
        rejected(Auth::Ed25519, mode, Injection::CorruptPayload, 0, bad_sig.clone());
    }
    let replayed = Fault::ReplayedSequence { ep: B, from: 0, expected: 1, found: 0 };
    rejected(Auth::Ed25519, ReplayMode::Sequence, Injection::Duplicate, 1, replayed.clone());
    rejected(Auth::None, ReplayMode::Sequence, Injection::Duplicate, 1, replayed);
}

/// Under nullifier mode a duplicated message is refused where the copy
/// arrives: the send reports the refused identity, the store is exactly
/// that of the same send without the copy, and the receiver takes the
/// message once, then finds nothing more (no fault).
#[test]
fn a_duplicate_is_refused_at_arrival_under_nullifier_mode() {
    let f = fixture();
    let tv = TypeView { graph: &f.mb.m.types, kinds: &f.kinds, resolved: &f.resolved };
    let mode = ReplayMode::Nullifier;
    for auth in [Auth::Ed25519, Auth::None] {
        let mut buf = Vec::new();
        let mut sent = |inject| {
            let mut store = SessionStore::new(0);
            f.open(&mut store, auth, mode);
            let outcome = store.send(tv, A, 0, f.m, Value::Int(0), &mut transport(auth, mode, &mut buf, inject));
            store.flush();
            (store, outcome.unwrap())
        };
        let (clean, clean_outcome) = sent(None);
        let (mut store, outcome) = sent(Some(Injection::Duplicate));
        let SendOutcome::Sent { refused: Some(id), .. } = outcome else { panic!("{auth:?}: not refused: {outcome:?}") };
        assert!(matches!(clean_outcome, SendOutcome::Sent { refused: None, .. }));
        assert_eq!(f.snapshot(&store), f.snapshot(&clean), "{auth:?}: the refused copy changed the session");
        let whole = |s: &SessionStore| format!("{s:?}");
        assert!(whole(&store) == whole(&clean), "{auth:?}: the refused copy changed the store");
        // The receiver consumes the message once, under the refused identity.
        let g = &f.mb.m.types;
        let mut tr = transport(auth, mode, &mut buf, None);
        let p = store.peek(g, B, 0, Expect::Label(f.m), &mut tr).unwrap().expect("the message");
        assert_eq!(p.identity, Some(id));
        f.receive(&mut store, &mut tr).unwrap();
        assert_eq!(store.peek(g, B, 0, Expect::Label(f.m), &mut tr), Ok(None), "{auth:?}: the copy is not there");
    }
}

#[test]
fn a_gap_and_a_full_nullifier_set_are_rejected() {
    let f = fixture();
    let mut store = SessionStore::new(0);
    let mut buf = Vec::new();
    let mode = ReplayMode::Sequence;
    f.open(&mut store, Auth::Ed25519, mode);
    f.send(&mut store, &mut transport(Auth::Ed25519, mode, &mut buf, Some(Injection::Drop)), 0);
    f.send(&mut store, &mut transport(Auth::Ed25519, mode, &mut buf, None), 1);
    store.flush();
    let err = f.receive(&mut store, &mut transport(Auth::Ed25519, mode, &mut buf, None)).unwrap_err();
    assert_eq!(err, Refusal::Fault(Fault::SequenceGap { ep: B, from: 0, expected: 0, found: 1 }));

    let mut store = SessionStore::new(0);
    let mode = ReplayMode::Nullifier;
    f.open(&mut store, Auth::None, mode);
    f.send(&mut store, &mut transport(Auth::None, mode, &mut buf, None), 0);
    f.send(&mut store, &mut transport(Auth::None, mode, &mut buf, None), 1);
    store.flush();
    let mut one = Transport { max_nullifiers: 1, ..transport(Auth::None, mode, &mut buf, None) };
    f.receive(&mut store, &mut one).unwrap();
    let err = f.receive(&mut store, &mut one).unwrap_err();
    assert_eq!(err, Refusal::Fault(Fault::NullifierSetFull { ep: B, max: 1 }));
}

#[test]
fn acceptance_advances_exactly_the_consumption_state() {
    let f = fixture();
    let mut store = SessionStore::new(0);
    let mut buf = Vec::new();
    let mode = ReplayMode::Sequence;
    f.open(&mut store, Auth::Ed25519, mode);
    assert_eq!(store.consumption_len(), 0, "counters exist only for edges in use");
    f.send(&mut store, &mut transport(Auth::Ed25519, mode, &mut buf, None), 0);
    store.flush();
    let before = f.snapshot(&store);
    f.receive(&mut store, &mut transport(Auth::Ed25519, mode, &mut buf, None)).unwrap();
    let after = f.snapshot(&store);
    assert_eq!((before.next_seq, after.next_seq), (Some(0), Some(1)));
    assert_eq!(store.consumption_len(), 1, "one counter for the one edge consumed on");
    assert_ne!(before.root, after.root);
    assert_eq!((before.visible, after.visible), (1, 0));
    assert_ne!(before.ty, after.ty);
}
