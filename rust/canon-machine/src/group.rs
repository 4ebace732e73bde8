//! A group: one instance of the program's entry procedure with everything it
//! spawns and opens, its logical clock, its event outbox and its host.
//! Runners call [`Group::run_round`] (or [`Group::run_to_end`]); they never
//! interpret instructions.

use std::collections::BTreeMap;
use std::sync::Arc;

use canon_bytecode::{BufferConfig, Instr, VerifiedProgram};
use canon_types::SymId;

use crate::auth::KeySource;
use crate::config::{Auth, Config, Limits, ReplayMode, hashes_edge_histories};
use crate::consume::Transport;
use crate::coroutine::Coroutine;
use crate::event::{Event, EventKind, EventSite};
use crate::fault::{Expected, Fault};
use crate::host::Host;
use crate::image::ProgramImage;
use crate::inject::Injection;
use crate::step::Exec;
use crate::store::SessionStore;

/// A fault that ended a coroutine, with where it happened.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CoroutineFault {
    /// The coroutine that faulted.
    pub coroutine: u32,
    /// Procedure and instruction index of the faulting instruction.
    pub proc: u32,
    /// The instruction index within `proc`.
    pub pc: u32,
    /// The round it faulted in.
    pub tick: u64,
    /// What went wrong.
    pub fault: Fault,
}

/// An endpoint a stalled coroutine is blocked on.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BlockedEndpoint {
    /// The coroutine waiting.
    pub coroutine: u32,
    /// The session of the endpoint it waits on.
    pub sid: u64,
    /// The endpoint's role index.
    pub role: u16,
    /// The role's name.
    pub role_name: SymId,
    /// What the endpoint's type waits for (the peer is in it).
    pub waits: Expected,
    /// The labels the type offers or expects.
    pub labels: Vec<SymId>,
}

/// Why a group stopped making progress.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StallReport {
    /// The round in which no coroutine progressed.
    pub tick: u64,
    /// Every coroutine blocked on an endpoint, with what it waits for.
    pub blocked: Vec<BlockedEndpoint>,
}

/// Where a group is.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub enum GroupStatus {
    /// Some coroutine can still run.
    Running,
    /// Every coroutine ended.
    Completed,
    /// No coroutine progressed in a whole round and no timeout can fire.
    Stalled(StallReport),
    /// `tick` reached `Limits::max_rounds`.
    BudgetExhausted,
    /// The group's instructions reached `Limits::max_instructions` (checked
    /// after each round, so the round that reached it completed).
    InstructionBudgetExhausted,
}

/// What one round did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoundReport {
    /// The round that ran.
    pub tick: u64,
    /// Instructions completed in the round.
    pub steps: u64,
    /// Whether any coroutine made progress.
    pub progressed: bool,
}

/// How a group ended.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct GroupOutcome {
    /// How the group ended.
    pub status: GroupStatus,
    /// Rounds run (the final tick).
    pub rounds: u64,
    /// Instructions completed.
    pub steps: u64,
    /// Coroutines that faulted.
    pub faults: usize,
}

/// The mutable state of a group, separate from the program so that `step`
/// can borrow both. Serialised whole into checkpoints (serde derives on every
/// state type, so a new field is saved and restored without further code);
/// only scratch space and the key source, which holds secrets, are skipped.
#[derive(serde::Serialize, serde::Deserialize)]
pub(crate) struct State {
    pub group: u32,
    pub tick: u64,
    pub limits: Limits,
    pub default_buffer: BufferConfig,
    pub coroutines: Vec<Coroutine>,
    pub alive: u32,
    pub store: SessionStore,
    pub outbox: Vec<Event>,
    pub next_witness: u64,
    pub faults: Vec<CoroutineFault>,
    #[serde(skip)]
    pub scratch_labels: Vec<SymId>,
    /// Reused buffer for a `select_to`'s arm receivers, parallel to
    /// `scratch_labels` (no allocation per choice).
    #[serde(skip)]
    pub scratch_receivers: Vec<SymId>,
    pub steps: u64,
    pub auth: Auth,
    pub replay_mode: ReplayMode,
    /// Where endpoint keys come from (`Group::set_key_source`).
    #[serde(skip)]
    pub keys: KeySource,
    /// The run identity signed envelopes bind (`auth::run_identity`).
    pub run: [u8; 32],
    /// Host-supplied endpoint secrets by `(sid, role)` (`Group::set_endpoint_key`).
    pub supplied_keys: BTreeMap<(u64, u16), [u8; 32]>,
    /// Reused envelope buffer of the send and receive paths.
    #[serde(skip)]
    pub envelope: Vec<u8>,
    /// Pending transport injections by the group-wide index of the `Sent` they apply to.
    pub injections: BTreeMap<u64, Injection>,
    /// `Sent` events so far: the index of the next one.
    pub sent_count: u64,
}

impl State {
    /// Un-parks the coroutines the store woke (see `Exec::park`).
    #[inline]
    fn wake(&mut self) {
        if self.store.woken.is_empty() {
            return;
        }
        for co in self.store.woken.drain(..) {
            if let Some(c) = self.coroutines.get_mut(co as usize) {
                c.parked = false;
            }
        }
    }

    /// The store, and the transport settings for one send or receive.
    pub fn store_and_transport(&mut self, inject: Option<Injection>) -> (&mut SessionStore, Transport<'_>) {
        let tr = Transport {
            auth: self.auth,
            replay_mode: self.replay_mode,
            max_nullifiers: self.limits.max_nullifiers_per_session,
            max_payload_bytes: self.limits.max_payload_bytes,
            run: &self.run,
            envelope: &mut self.envelope,
            inject,
        };
        (&mut self.store, tr)
    }
}

/// Events a new group's outbox has room for before it grows (a round of a
/// small protocol; runners drain the outbox every round).
const OUTBOX_CAPACITY: usize = 16;

/// Why a host-supplied key was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The session is open: its keys were bound at open.
    #[error("session {sid:#x} is already open: its keys were bound at open")]
    AlreadyOpen {
        /// The session id.
        sid: u64,
    },
    /// The session belongs to another group.
    #[error("session {sid:#x} does not belong to group {group}")]
    ForeignSession {
        /// The session id.
        sid: u64,
        /// The group asked about.
        group: u32,
    },
}

/// One group of coroutines and sessions. `Send`: a threaded runner moves
/// whole groups to worker threads.
pub struct Group {
    image: Arc<ProgramImage>,
    pub(crate) st: State,
    pub(crate) status: GroupStatus,
    host: Box<dyn Host + Send>,
}

impl Group {
    /// A group running `program`'s entry procedure as coroutine 0 (event
    /// `Spawned`). Builds the program's image; to run many groups of one
    /// program, build it once and use [`Group::with_image`].
    pub fn new(program: Arc<VerifiedProgram>, group_id: u32, config: &Config, host: Box<dyn Host + Send>) -> Group {
        Group::with_image(Arc::new(ProgramImage::new(program)), group_id, config, host)
    }

    /// A group running the entry procedure of `image`'s program as coroutine
    /// 0 (event `Spawned`), sharing the image's tables with other groups.
    pub fn with_image(image: Arc<ProgramImage>, group_id: u32, config: &Config, host: Box<dyn Host + Send>) -> Group {
        let m = image.module();
        let entry = m.entry;
        let reg_count = m.procs.get(entry as usize).map_or(0, |p| p.reg_count);
        let mut st = State {
            group: group_id,
            tick: 0,
            limits: config.limits,
            default_buffer: config.default_buffer,
            coroutines: Vec::with_capacity(image.coroutines_hint()),
            alive: 1,
            store: SessionStore::new(group_id),
            outbox: Vec::with_capacity(OUTBOX_CAPACITY),
            next_witness: 0,
            faults: Vec::new(),
            scratch_labels: Vec::new(),
            scratch_receivers: Vec::new(),
            steps: 0,
            auth: config.auth,
            replay_mode: config.replay_mode,
            keys: KeySource::None,
            // Envelopes bind the run identity (computed once per
            // configuration by the image).
            run: image.run_identity(config),
            supplied_keys: BTreeMap::new(),
            // Only signing and replay-consumption build envelopes (and only
            // they chain edge histories).
            envelope: if hashes_edge_histories(config.auth, config.replay_mode) {
                Vec::with_capacity(64)
            } else {
                Vec::new()
            },
            injections: BTreeMap::new(),
            sent_count: 0,
        };
        st.coroutines.push(Coroutine::new(entry, reg_count));
        let mut group = Group { image, st, status: GroupStatus::Running, host };
        let site =
            EventSite { group: group_id, tick: 0, coroutine: 0, sid: EventSite::NO_SID, role: EventSite::NO_ROLE };
        group.st.outbox.push(Event { site, kind: EventKind::Spawned { proc: entry } });
        group
    }

    /// A group from restored parts (`checkpoint.rs`).
    pub(crate) fn from_parts(
        image: Arc<ProgramImage>,
        st: State,
        status: GroupStatus,
        host: Box<dyn Host + Send>,
    ) -> Group {
        Group { image, st, status, host }
    }

    /// The host's state, for a checkpoint ([`Host::save_state`]).
    pub fn host_state(&self) -> Result<Vec<u8>, crate::host::HostStateError> {
        self.host.save_state()
    }

    /// The program.
    pub fn program(&self) -> &Arc<VerifiedProgram> {
        self.image.program()
    }

    /// The program image this group shares with the program's other groups.
    pub fn image(&self) -> &Arc<ProgramImage> {
        &self.image
    }

    /// This group's id.
    pub fn id(&self) -> u32 {
        self.st.group
    }

    /// The current round number.
    pub fn tick(&self) -> u64 {
        self.st.tick
    }

    /// Where the group is.
    pub fn status(&self) -> &GroupStatus {
        &self.status
    }

    /// The session store (read-only).
    pub fn store(&self) -> &SessionStore {
        &self.st.store
    }

    /// Faults that ended coroutines, in the order they happened.
    pub fn faults(&self) -> &[CoroutineFault] {
        &self.st.faults
    }

    /// Coroutines spawned so far, the entry included.
    pub fn coroutine_count(&self) -> usize {
        self.st.coroutines.len()
    }

    /// Sets where this group's endpoint keys come from: a secret key seed, or
    /// (re-execution) a recording's keys and signatures. Under
    /// `Auth::Ed25519` a group with no key source and no host-supplied key
    /// for an endpoint faults at its `open` (`NoEndpointKey`, 3033): keys
    /// never derive from the seed or anything else a replay records.
    pub fn set_key_source(&mut self, keys: KeySource) {
        self.st.keys = keys;
    }

    /// The run identity the group's message envelopes bind.
    pub fn run_identity(&self) -> [u8; 32] {
        self.st.run
    }

    /// Supplies the secret of endpoint `role` of session `sid`; it takes
    /// precedence over the key source. Keys are bound at open, so `sid` must
    /// not be open yet (sids are `group << 32 | n`, n counting opens). The
    /// verifying key is recorded in `Opened`, so the replay's signatures
    /// verify offline and re-execute without the secret.
    pub fn set_endpoint_key(&mut self, sid: u64, role: u16, secret: [u8; 32]) -> Result<(), KeyError> {
        let group = self.st.group;
        if (sid >> 32) as u32 != group {
            return Err(KeyError::ForeignSession { sid, group });
        }
        if self.st.store.get(sid).is_some() {
            return Err(KeyError::AlreadyOpen { sid });
        }
        self.st.supplied_keys.insert((sid, role), secret);
        Ok(())
    }

    /// Injects a transport fault into the group's `nth` sent message (`nth`
    /// counts this group's `Sent` events from 0, in canonical order). A later
    /// call for the same `nth` replaces the earlier one; an `nth` already
    /// passed is never applied. Each applied injection is recorded as an
    /// `Injected` event right after the message's `Sent`.
    pub fn inject(&mut self, nth: u64, injection: Injection) {
        self.st.injections.insert(nth, injection);
    }

    /// Applies the host-side ownership operation `op` to session `sid` (see
    /// `ownership.rs`): recorded in the group's event stream at the current
    /// tick (coroutine `u32::MAX`), with its outputs. A refused operation is
    /// recorded with its refusal and changes nothing else.
    pub fn apply_ownership(
        &mut self,
        sid: u64,
        op: crate::event::OwnershipRecord,
    ) -> Result<crate::ownership::Applied, crate::ownership::OwnershipError> {
        let mut sink = crate::ownership::Sink {
            group: self.st.group,
            tick: self.st.tick,
            out: &mut self.st.outbox,
            next_witness: &mut self.st.next_witness,
            coroutine: u32::MAX,
            role: crate::event::EventSite::NO_ROLE,
        };
        let result = crate::ownership::apply(&mut self.st.store, &mut sink, sid, op);
        // Coroutines parked on a session the operation ended run again.
        self.st.wake();
        result
    }

    /// `Sent` events so far.
    pub fn sent_count(&self) -> u64 {
        self.st.sent_count
    }

    /// Moves the events emitted so far to the end of `out`, in canonical
    /// order (tick, coroutine, emission order).
    pub fn drain_events(&mut self, out: &mut Vec<Event>) {
        out.append(&mut self.st.outbox);
    }

    /// Runs one round: every coroutine alive at its start, in id order, for
    /// up to one fuel quantum; then the barrier makes this round's sends
    /// visible and the tick advances. Does nothing unless `Running`.
    pub fn run_round(&mut self) -> RoundReport {
        let tick = self.st.tick;
        if self.status != GroupStatus::Running {
            return RoundReport { tick, steps: 0, progressed: false };
        }
        let n = self.st.coroutines.len();
        let (mut steps, mut progressed) = (0, false);
        let mut exec = Exec {
            m: self.image.module(),
            consts: self.image.consts(),
            kinds: self.image.kinds(),
            resolved: self.image.resolved(),
            st: &mut self.st,
            host: self.host.as_mut(),
        };
        for co in 0..n {
            let c = &exec.st.coroutines[co];
            // A parked coroutine would only block again (no step, no event).
            if !c.ended && !c.parked {
                let (s, blocked) = exec.run_quantum(co);
                steps += s;
                progressed |= s > 0 || !blocked;
                exec.st.wake();
            }
        }
        if self.st.auth == Auth::Ed25519Round {
            self.seal_round(tick);
        }
        self.st.store.flush();
        self.st.wake();
        // Saturating: a group restored from a crafted checkpoint may bring
        // any count; at the top, the budgets end it (`next_status`).
        self.st.steps = self.st.steps.saturating_add(steps);
        self.st.tick = self.st.tick.saturating_add(1);
        self.status = self.next_status(progressed);
        if self.status != GroupStatus::Running {
            // An ended group keeps its events, faults and session statuses,
            // not the storage kept for reuse.
            self.st.store.release();
        }
        RoundReport { tick, steps, progressed }
    }

    /// Signs the round's batches and records each batch signature in the
    /// round's `Sent` events of its endpoint (still in the outbox).
    fn seal_round(&mut self, tick: u64) {
        let st = &mut self.st;
        let sealed = st.store.seal_round(&st.run, tick);
        if sealed.is_empty() {
            return;
        }
        for ev in st.outbox.iter_mut().rev().take_while(|e| e.site.tick == tick) {
            if let EventKind::Sent { signature: sig @ None, .. } = &mut ev.kind
                && let Some((_, _, s)) =
                    sealed.iter().find(|(sid, role, _)| (*sid, *role) == (ev.site.sid, ev.site.role))
            {
                *sig = Some(*s);
            }
        }
    }

    fn next_status(&self, progressed: bool) -> GroupStatus {
        if self.st.alive == 0 {
            return GroupStatus::Completed;
        }
        if !progressed && !self.st.coroutines.iter().any(|c| !c.ended && c.wait.is_some()) {
            return GroupStatus::Stalled(self.stall_report());
        }
        if self.st.tick >= self.st.limits.max_rounds {
            return GroupStatus::BudgetExhausted;
        }
        if self.st.steps >= self.st.limits.max_instructions {
            return GroupStatus::InstructionBudgetExhausted;
        }
        GroupStatus::Running
    }

    /// Every live coroutine's blocking endpoint and what it waits for.
    fn stall_report(&self) -> StallReport {
        let m = self.image.module();
        let mut blocked = Vec::new();
        for (id, c) in self.st.coroutines.iter().enumerate().filter(|(_, c)| !c.ended) {
            let f = c.top();
            let instr: Option<&Instr> = m.procs.get(f.proc as usize).and_then(|p| p.code.get(f.pc as usize));
            let reg = match instr {
                Some(
                    Instr::Send { ep, .. }
                    | Instr::Recv { ep, .. }
                    | Instr::Offer { ep, .. }
                    | Instr::RecvTimeout { ep, .. },
                ) => *ep,
                _ => continue,
            };
            let Ok(ep) = c.endpoint(reg) else { continue };
            let Some((waits, labels)) = self.st.store.expectation(&m.types, ep) else { continue };
            let role_name = self.st.store.get(ep.sid).and_then(|s| s.body.roles.get(ep.role as usize).copied());
            blocked.push(BlockedEndpoint {
                coroutine: id as u32,
                sid: ep.sid,
                role: ep.role,
                role_name: role_name.unwrap_or_default(),
                waits,
                labels,
            });
        }
        StallReport { tick: self.st.tick - 1, blocked }
    }

    /// Runs rounds until the group is no longer `Running`.
    pub fn run_to_end(&mut self) -> GroupOutcome {
        while self.status == GroupStatus::Running {
            self.run_round();
        }
        self.outcome()
    }

    /// The outcome so far.
    pub fn outcome(&self) -> GroupOutcome {
        GroupOutcome {
            status: self.status.clone(),
            rounds: self.st.tick,
            steps: self.st.steps,
            faults: self.st.faults.len(),
        }
    }
}
