//! Host handlers shipped with the runtime: the seeded default and the replay
//! host used for re-execution.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use canon_machine::{Event, EventKind, Host, HostCtx, HostPoint, HostStateError};
use canon_replay::Replay;
use canon_types::{SymId, Value, ValueKind};

/// SplitMix64: a tiny, well-mixed deterministic generator step.
fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// The default host: every answer is a pure function of the seed and the
/// call's deterministic position (group, coroutine, per-coroutine call
/// index), never of scheduling or time.
///
/// - `produce` makes a value of the payload's declared type (`Int` → a
///   number below 1000, `String` → `"Label-n"`, `Bool`, `Unit`, `Bytes`;
///   several payload items → a tuple; an unknown type name → a string);
/// - `choose` picks a branch uniformly at random;
/// - `accept` accepts everything;
/// - `invoke` answers an `Int` below 1000.
#[derive(Debug, Clone, Copy)]
pub struct SeededHost {
    seed: u64,
}

impl SeededHost {
    /// The default host whose answers derive from `seed`.
    pub fn new(seed: u64) -> Self {
        SeededHost { seed }
    }

    fn draw(&self, ctx: &HostCtx<'_>, salt: u64) -> u64 {
        let mut x = splitmix(self.seed ^ salt);
        x = splitmix(x ^ u64::from(ctx.group));
        x = splitmix(x ^ u64::from(ctx.coroutine));
        splitmix(x ^ ctx.call_index)
    }

    fn value_of(&self, ctx: &HostCtx<'_>, label: SymId, ty: SymId, n: u64) -> Value {
        let name = ctx.module.sym(ty);
        match ValueKind::for_type_name(name) {
            Some(ValueKind::Unit) => Value::Unit,
            Some(ValueKind::Bool) => Value::Bool(n & 1 == 1),
            Some(ValueKind::Int) => Value::Int((n % 1000) as i64),
            Some(ValueKind::Bytes) => Value::Bytes(Arc::from(n.to_le_bytes().as_slice())),
            Some(ValueKind::Label) => Value::Label(label),
            // A string for strings, for host type aliases, and for kinds a
            // host cannot conjure (endpoints, tuples): the machine's payload
            // check then reports the mismatch as a typed fault.
            _ => Value::Str(Arc::from(format!("{}-{}", ctx.module.sym(label), n % 1000))),
        }
    }
}

impl Host for SeededHost {
    fn produce(&mut self, ctx: &HostCtx<'_>, label: SymId) -> Value {
        let n = self.draw(ctx, 0x7072_6f64);
        match ctx.payload {
            [] => Value::Unit,
            [ty] => self.value_of(ctx, label, *ty, n),
            tys => {
                let items: Vec<Value> = tys
                    .iter()
                    .enumerate()
                    .map(|(i, ty)| self.value_of(ctx, label, *ty, splitmix(n ^ i as u64)))
                    .collect();
                Value::Tuple(Arc::from(items))
            }
        }
    }

    fn accept(&mut self, _: &HostCtx<'_>, _: SymId, _: &Value) -> bool {
        true
    }

    fn choose(&mut self, ctx: &HostCtx<'_>, labels: &[SymId]) -> usize {
        if labels.is_empty() {
            return 0;
        }
        (self.draw(ctx, 0x6368_6f6f) % labels.len() as u64) as usize
    }

    fn invoke(&mut self, ctx: &HostCtx<'_>, _: SymId, _: &Value) -> Value {
        Value::Int((self.draw(ctx, 0x696e_766b) % 1000) as i64)
    }

    /// Every readiness check succeeds: a failed check needs a host that
    /// says so.
    fn check_readiness(&mut self, _: &HostCtx<'_>, _: SymId, _: &Value) -> bool {
        true
    }

    /// Answers depend only on the seed and the call's position, so the seed
    /// is the whole state.
    fn save_state(&self) -> Result<Vec<u8>, HostStateError> {
        Ok(self.seed.to_le_bytes().to_vec())
    }

    /// Checks the saved seed is this host's: a resumed run answered from
    /// another seed would diverge from the checkpointed one.
    fn restore_state(&mut self, state: &[u8]) -> Result<(), HostStateError> {
        if state != self.seed.to_le_bytes() {
            return Err(HostStateError::Invalid { reason: "saved under another host seed".into() });
        }
        Ok(())
    }
}

/// One recorded answer, in the order the coroutine asked.
#[derive(Debug, Clone)]
enum Recorded {
    Answer(HostPoint, Value),
}

/// Answers host calls from a recorded replay, so a program can be re-executed
/// without its host. Answers are matched per `(group, coroutine)` in the
/// order they were recorded: `produce`/`choose`/`invoke` from `HostAnswer`
/// events, `accept` from the coroutine's `Received` events (accepted) and
/// `HostAnswer{Accept}` events (rejected).
///
/// When the program asks something the replay did not record, the host
/// answers `Unit` (or an out-of-range choice, which the machine faults on);
/// re-execution then produces a different replay and the comparison names
/// the first divergent event.
#[derive(Debug, Clone, Default)]
pub struct ReplayHost {
    answers: BTreeMap<u32, VecDeque<Recorded>>,
    accepts: BTreeMap<u32, VecDeque<bool>>,
}

impl ReplayHost {
    /// The recorded answers of group `group` in `replay`. This scans the whole
    /// replay; to answer many groups, read them one at a time
    /// (`canon_replay::ReplayReader::next_group`) and use
    /// [`ReplayHost::from_group_events`].
    pub fn for_group(replay: &Replay, group: u32) -> ReplayHost {
        let events: Vec<Event> = replay.events.iter().filter(|e| e.site.group == group).cloned().collect();
        ReplayHost::from_group_events(&events)
    }

    /// The recorded answers in `events`, the events of one group, in one pass.
    pub fn from_group_events(events: &[Event]) -> ReplayHost {
        let mut host = ReplayHost::default();
        for e in events {
            let c = e.site.coroutine;
            match &e.kind {
                EventKind::HostAnswer { point: HostPoint::Accept { .. }, answer } => {
                    host.accepts.entry(c).or_default().push_back(matches!(answer, Value::Bool(true)));
                }
                EventKind::HostAnswer { point, answer } => {
                    host.answers.entry(c).or_default().push_back(Recorded::Answer(*point, answer.clone()));
                }
                EventKind::Received { .. } => host.accepts.entry(c).or_default().push_back(true),
                _ => {}
            }
        }
        host
    }

    fn next(&mut self, ctx: &HostCtx<'_>, want: HostPoint) -> Option<Value> {
        match self.answers.get_mut(&ctx.coroutine)?.pop_front()? {
            Recorded::Answer(point, value) if point == want => Some(value),
            Recorded::Answer(..) => None,
        }
    }
}

impl Host for ReplayHost {
    fn produce(&mut self, ctx: &HostCtx<'_>, label: SymId) -> Value {
        self.next(ctx, HostPoint::Produce { label }).unwrap_or_default()
    }

    fn accept(&mut self, ctx: &HostCtx<'_>, _: SymId, _: &Value) -> bool {
        self.accepts.entry(ctx.coroutine).or_default().pop_front().unwrap_or(true)
    }

    fn choose(&mut self, ctx: &HostCtx<'_>, labels: &[SymId]) -> usize {
        match self.next(ctx, HostPoint::Choose) {
            Some(Value::Label(l)) => labels.iter().position(|x| *x == l).unwrap_or(labels.len()),
            _ => labels.len(),
        }
    }

    fn invoke(&mut self, ctx: &HostCtx<'_>, effect: SymId, _: &Value) -> Value {
        self.next(ctx, HostPoint::Invoke { effect }).unwrap_or_default()
    }
}
