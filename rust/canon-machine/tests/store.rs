//! The session store directly: open admission, ownership, buffers under
//! every mode and backpressure policy.

mod common;

use canon_bytecode::{Backpressure, BufferConfig, BufferMode, EdgeBuffer};
use canon_machine::{
    Auth, Expect, Fault, OpenRequest, PayloadKinds, Refusal, ReplayMode, Security, SendOutcome, SessionStatus,
    SessionStore, Transport, TypeView,
};
use canon_types::{Endpoint, SymId, TypeId, Value};
use common::*;

/// Unsigned transport with no replay policy (a fresh scratch buffer per statement).
macro_rules! tr {
    ($max:expr) => {
        &mut Transport {
            auth: Auth::None,
            replay_mode: ReplayMode::Off,
            max_nullifiers: 0,
            max_payload_bytes: $max,
            run: &[0; 32],
            envelope: &mut Vec::new(),
            inject: None,
        }
    };
}

/// No keys, no replay policy.
macro_rules! sec {
    () => {
        &Security {
            auth: Auth::None,
            replay_mode: ReplayMode::Off,
            keys: &canon_machine::KeySource::None,
            supplied: &std::collections::BTreeMap::new(),
        }
    };
}

struct Fixture {
    mb: Mb,
    ta: TypeId,
    tb: TypeId,
    /// The `mu` resolution table (what the verifier computes).
    resolved: Vec<TypeId>,
    kinds: PayloadKinds,
    roles: [SymId; 2],
    h: SymId,
    m: SymId,
}

/// A sends `M(Int)` to B `sends` times; B receives as often.
fn fixture(sends: usize) -> Fixture {
    let mut mb = Mb::new();
    let (mut ta, mut tb) = (end(), end());
    for _ in 0..sends {
        ta = send("B", "M", &["Int"], ta);
        tb = recv("A", "M", &["Int"], tb);
    }
    let (ta, tb) = (mb.ty(&ta), mb.ty(&tb));
    let roles = [mb.s("A"), mb.s("B")];
    let (h, m) = (mb.s("h"), mb.s("M"));
    let kinds = PayloadKinds::new(&mb.m.strings);
    let resolved = mb.m.types.check_resolve(&mut 0).expect("well formed");
    Fixture { mb, ta, tb, resolved, kinds, roles, h, m }
}

impl Fixture {
    fn tv(&self) -> TypeView<'_> {
        TypeView { graph: &self.mb.m.types, kinds: &self.kinds, resolved: &self.resolved }
    }

    fn open(&self, store: &mut SessionStore, buffers: &[EdgeBuffer]) -> Result<u64, Fault> {
        let req = OpenRequest {
            roles: &self.roles,
            types: &[self.ta, self.tb],
            handlers: &[self.h, self.h],
            dsts_len: 2,
            buffers,
        };
        store.open(&self.resolved, &req, 0, BufferConfig::default(), 16, sec!())
    }
}

const A: Endpoint = Endpoint { sid: 0, role: 0 };
const B: Endpoint = Endpoint { sid: 0, role: 1 };

#[test]
fn open_admission_rejects_each_malformed_open() {
    let f = fixture(1);
    let g = &f.resolved;
    let mut store = SessionStore::new(0);
    let (a, b, h) = (f.roles[0], f.roles[1], f.h);
    let types = [f.ta, f.tb];
    let open = |store: &mut SessionStore, roles: &[SymId], handlers: &[SymId], dsts_len, buffers: &[EdgeBuffer]| {
        let req = OpenRequest { roles, types: &types[..roles.len().min(2)], handlers, dsts_len, buffers };
        store.open(g, &req, 0, BufferConfig::default(), 1, sec!())
    };
    assert_eq!(open(&mut store, &[a, a], &[h, h], 2, &[]), Err(Fault::DuplicateRole { role: a }));
    assert_eq!(open(&mut store, &[a, b], &[h], 2, &[]), Err(Fault::MissingHandler { role: b }));
    assert_eq!(open(&mut store, &[a, b], &[h, h], 1, &[]), Err(Fault::OpenArity { roles: 2, types: 2, dsts: 1 }));
    let bad_edge = EdgeBuffer { from: 0, to: 2, config: BufferConfig::default() };
    assert_eq!(open(&mut store, &[a, b], &[h, h], 2, &[bad_edge]), Err(Fault::BadEdgeBuffer { from: 0, to: 2 }));
    assert!(store.is_empty(), "rejected opens create nothing");
    assert_eq!(open(&mut store, &[a, b], &[h, h], 2, &[]), Ok(0));
    assert_eq!(open(&mut store, &[a, b], &[h, h], 2, &[]), Err(Fault::TooManySessions { max: 1 }));
    assert_eq!(store.live(), 1);
}

#[test]
fn codes_of_admission_faults_are_stable() {
    use canon_types::ErrorCode;
    assert_eq!(Fault::DuplicateRole { role: SymId(0) }.code(), 3021);
    assert_eq!(Fault::MissingHandler { role: SymId(0) }.code(), 3022);
    assert_eq!(Fault::OpenArity { roles: 0, types: 0, dsts: 0 }.code(), 3023);
    assert_eq!(Fault::TooManySessions { max: 0 }.code(), 3019);
}

#[test]
fn only_the_owner_may_act() {
    let f = fixture(1);
    let mut store = SessionStore::new(0);
    f.open(&mut store, &[]).unwrap();
    let err = store.send(f.tv(), A, 3, f.m, Value::Int(1), tr!(64)).unwrap_err();
    assert_eq!(err, Refusal::Fault(Fault::NotOwner { ep: A, owner: 0, coroutine: 3 }));
    store.set_owner(A, 3);
    assert!(store.send(f.tv(), A, 3, f.m, Value::Int(1), tr!(64)).is_ok());
    let other_group = Endpoint { sid: 1 << 32, role: 0 };
    let err = store.send(f.tv(), other_group, 3, f.m, Value::Int(1), tr!(64)).unwrap_err();
    assert_eq!(err, Refusal::Fault(Fault::UnknownSession { sid: 1 << 32 }));
}

#[test]
fn payload_too_large() {
    let f = fixture(1);
    let mut store = SessionStore::new(0);
    f.open(&mut store, &[]).unwrap();
    let err = store.send(f.tv(), A, 0, f.m, Value::Int(1), tr!(4)).unwrap_err();
    assert_eq!(err, Refusal::Fault(Fault::PayloadTooLarge { ep: A, len_bytes: 9, max_bytes: 4 }));
    assert_eq!(store.lookup_type(A), Some(f.ta), "a refused send leaves the type alone");
}

/// Sends `n` messages A→B with `config` on that edge, without a barrier.
fn send_n(config: BufferConfig, n: usize) -> (Fixture, SessionStore, Vec<Result<SendOutcome, Refusal>>) {
    let f = fixture(n);
    let mut store = SessionStore::new(0);
    f.open(&mut store, &[EdgeBuffer { from: 0, to: 1, config }]).unwrap();
    let results = (0..n).map(|i| store.send(f.tv(), A, 0, f.m, Value::Int(i as i64), tr!(64))).collect();
    (f, store, results)
}

/// Delivers every visible message to B; returns the payloads.
fn drain(f: &Fixture, store: &mut SessionStore) -> Vec<Value> {
    let mut out = Vec::new();
    let after_end = Refusal::Fault(Fault::ActionAfterEnd { ep: B, attempted: canon_machine::Op::Recv });
    loop {
        let p = match store.peek(&f.mb.m.types, B, 0, Expect::Label(f.m), tr!(64)) {
            Ok(Some(p)) => p,
            Ok(None) => break,
            Err(e) if e == after_end => break,
            Err(e) => panic!("{e:?}"),
        };
        let peeked = store.peek_payload(B, p.from).cloned();
        let taken = store.take(f.tv(), B, p.from, p.envelope_id).unwrap().payload;
        assert_eq!(Some(&taken), peeked.as_ref());
        out.push(taken);
    }
    out
}

fn fifo(policy: Backpressure) -> BufferConfig {
    BufferConfig { mode: BufferMode::Fifo, policy, capacity: 2 }
}

fn sent(to: u16, seq: u64) -> Result<SendOutcome, Refusal> {
    Ok(SendOutcome::Sent { to, seq, overwrote: false, signature: None, refused: None })
}

#[test]
fn messages_are_invisible_until_the_barrier() {
    let (f, mut store, _) = send_n(fifo(Backpressure::Block), 2);
    assert!(drain(&f, &mut store).is_empty());
    store.flush();
    assert_eq!(drain(&f, &mut store), vec![Value::Int(0), Value::Int(1)]);
}

#[test]
fn fifo_block_blocks_without_state_change_then_resumes() {
    let (f, mut store, results) = send_n(fifo(Backpressure::Block), 3);
    assert_eq!(results, vec![sent(1, 0), sent(1, 1), Ok(SendOutcome::Blocked)]);
    let before = store.lookup_type(A);
    store.flush();
    // Backpressure counts visible messages too: still blocked.
    assert_eq!(store.send(f.tv(), A, 0, f.m, Value::Int(2), tr!(64)), Ok(SendOutcome::Blocked));
    assert_eq!(store.lookup_type(A), before);
    let p = store.peek(&f.mb.m.types, B, 0, Expect::Label(f.m), tr!(64)).unwrap().unwrap();
    store.take(f.tv(), B, 0, p.envelope_id).unwrap();
    assert_eq!(store.send(f.tv(), A, 0, f.m, Value::Int(2), tr!(64)), sent(1, 2));
    store.flush();
    assert_eq!(drain(&f, &mut store), vec![Value::Int(1), Value::Int(2)]);
}

#[test]
fn fifo_drop_discards_and_counts_the_sequence() {
    let (f, mut store, results) = send_n(fifo(Backpressure::Drop), 3);
    assert_eq!(results, vec![sent(1, 0), sent(1, 1), Ok(SendOutcome::Dropped { to: 1, seq: 2 })]);
    store.flush();
    assert_eq!(drain(&f, &mut store), vec![Value::Int(0), Value::Int(1)]);
}

#[test]
fn fifo_error_faults_when_full() {
    let (_, _, results) = send_n(fifo(Backpressure::Error), 3);
    assert_eq!(results[2], Err(Refusal::Fault(Fault::BufferFull { ep: A, to: 1, capacity: 2 })));
}

#[test]
fn fifo_resize_grows_to_its_maximum_then_faults() {
    let (f, mut store, results) = send_n(fifo(Backpressure::Resize { max_capacity: 3 }), 4);
    assert_eq!(results[..3], [sent(1, 0), sent(1, 1), sent(1, 2)]);
    assert_eq!(results[3], Err(Refusal::Fault(Fault::BufferFull { ep: A, to: 1, capacity: 3 })));
    store.flush();
    assert_eq!(drain(&f, &mut store).len(), 3);
}

#[test]
fn latest_value_keeps_the_newest_capacity_messages_under_every_policy() {
    for policy in
        [Backpressure::Block, Backpressure::Drop, Backpressure::Error, Backpressure::Resize { max_capacity: 9 }]
    {
        // Capacity 2: the third send overwrites the oldest (seq 0).
        let config = BufferConfig { mode: BufferMode::LatestValue, policy, capacity: 2 };
        let (f, mut store, results) = send_n(config, 3);
        assert_eq!(
            results,
            vec![
                sent(1, 0),
                sent(1, 1),
                Ok(SendOutcome::Sent { to: 1, seq: 2, overwrote: true, signature: None, refused: None })
            ],
            "{policy:?}"
        );
        store.flush();
        let p = store.peek(&f.mb.m.types, B, 0, Expect::Label(f.m), tr!(64)).unwrap().unwrap();
        assert_eq!((p.seq, store.peek_payload(B, p.from).cloned().unwrap()), (1, Value::Int(1)), "{policy:?}");
        assert_eq!(store.get(0).unwrap().body.edge(0, 1).unwrap().buffer.len(), 2, "{policy:?}");
    }
}

#[test]
fn latest_value_of_capacity_four_holds_four() {
    // `latest block 4`: four sends are all kept, the fifth overwrites seq 0.
    let config = BufferConfig { mode: BufferMode::LatestValue, policy: Backpressure::Block, capacity: 4 };
    let (_, store, results) = send_n(config, 5);
    assert_eq!(results[..4], [sent(1, 0), sent(1, 1), sent(1, 2), sent(1, 3)]);
    assert_eq!(results[4], Ok(SendOutcome::Sent { to: 1, seq: 4, overwrote: true, signature: None, refused: None }));
    let seqs: Vec<u64> = store.get(0).unwrap().body.edge(0, 1).unwrap().buffer.iter().map(|m| m.seq).collect();
    assert_eq!(seqs, vec![1, 2, 3, 4]);
}

#[test]
fn latest_value_replacing_a_visible_message_hides_it_until_the_barrier() {
    let config = BufferConfig { mode: BufferMode::LatestValue, policy: Backpressure::Block, capacity: 1 };
    let (f, mut store, _) = send_n(config, 2);
    store.flush();
    // After the barrier the newest (seq 1) is visible; a third send would
    // replace it and it would be invisible again until the next barrier.
    let p = store.peek(&f.mb.m.types, B, 0, Expect::Label(f.m), tr!(64)).unwrap().unwrap();
    assert_eq!(p.seq, 1);
}

#[test]
fn close_requires_end_and_the_last_close_ends_the_session() {
    let f = fixture(0);
    let mut store = SessionStore::new(0);
    f.open(&mut store, &[]).unwrap();
    assert_eq!(store.close(&f.mb.m.types, A, 0), Ok(canon_machine::CloseOutcome::EndpointClosed));
    assert_eq!(store.close(&f.mb.m.types, A, 0), Err(Refusal::Fault(Fault::EndpointClosed { ep: A })));
    assert_eq!(store.close(&f.mb.m.types, B, 0), Ok(canon_machine::CloseOutcome::SessionClosed { epoch: 1 }));
    assert_eq!(store.get(0).unwrap().status, SessionStatus::Closed);
    assert_eq!(store.close(&f.mb.m.types, B, 0), Err(Refusal::Fault(Fault::SessionClosed { ep: B })));
    assert_eq!(store.live(), 0);
}

#[test]
fn terminated_sessions_end_their_users() {
    let f = fixture(1);
    let mut store = SessionStore::new(0);
    f.open(&mut store, &[]).unwrap();
    store.finish(0, SessionStatus::Cancelled);
    let err = store.send(f.tv(), A, 0, f.m, Value::Int(1), tr!(64)).unwrap_err();
    assert_eq!(err, Refusal::SessionEnded(SessionStatus::Cancelled));
}
