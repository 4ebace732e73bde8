//! A group's state at a round boundary, saved and restored for checkpoints
//! (`bytecode-spec/checkpoint.md`; the file around it is canon-runtime's).
//!
//! The state is the group's `State` through its serde derives: every field
//! of every state type is saved, so a field added later is saved and
//! restored with no code here. What is not saved: the program image (the
//! restorer supplies the program, whose digest the file names), the host
//! (its state is the host's, `Host::save_state`), scratch buffers and
//! every secret — endpoint keys are saved as verifying keys only and rebound
//! from the key source at restore.

use std::sync::Arc;

use canon_bytecode::Instr;
use canon_types::{TypeId, Value};

use crate::auth::KeySource;
use crate::config::Config;
use crate::group::{Group, GroupStatus, State};
use crate::host::Host;
use crate::image::ProgramImage;
use crate::step_session::IN_TRANSIT;
use crate::store::NO_WAITER;

/// One group's saved state (serde; canon-runtime encodes it with bincode).
#[derive(serde::Deserialize)]
pub struct GroupState {
    st: State,
    status: GroupStatus,
}

/// A group's state borrowed for saving: serialises exactly as the
/// [`GroupState`] it restores to.
#[derive(serde::Serialize)]
pub struct SavedGroup<'g> {
    st: &'g State,
    status: &'g GroupStatus,
}

impl std::fmt::Debug for GroupState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupState").field("group", &self.st.group).field("tick", &self.st.tick).finish()
    }
}

impl GroupState {
    /// The group's id.
    pub fn group(&self) -> u32 {
        self.st.group
    }

    /// The group's round number (the tick of the next round to run).
    pub fn tick(&self) -> u64 {
        self.st.tick
    }
}

/// Why a group cannot be saved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SaveError {
    /// The group holds host-supplied endpoint secrets, which a checkpoint never holds.
    #[error(
        "group {group} holds host-supplied endpoint secrets; a checkpoint holds no secret, so the group cannot be saved"
    )]
    SuppliedKeys {
        /// The group that cannot be saved.
        group: u32,
    },
}

/// Why a saved group does not fit the program it is restored with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RestoreError {
    /// A saved group restored under another group id.
    #[error("saved group {found} restored as group {want}")]
    WrongGroup {
        /// The group id it was restored as.
        want: u32,
        /// The group id it was saved as.
        found: u32,
    },
    /// A saved group whose configuration is not the checkpoint's.
    #[error(
        "group {group}: its saved limits, buffer default, auth, replay mode or run identity are not the checkpoint's configuration"
    )]
    ConfigMismatch {
        /// The group concerned.
        group: u32,
    },
    /// A coroutine frame outside the program's code.
    #[error("group {group}: coroutine {coroutine} is at procedure {proc} instruction {pc}, outside the program")]
    BadFrame {
        /// The group concerned.
        group: u32,
        /// The coroutine concerned.
        coroutine: u32,
        /// The procedure its frame is at.
        proc: u32,
        /// The instruction index its frame is at.
        pc: u32,
    },
    /// A coroutine's frames that do not fit its saved registers.
    #[error("group {group}: coroutine {coroutine}'s frames do not fit its {regs} registers")]
    BadRegisters {
        /// The group concerned.
        group: u32,
        /// The coroutine concerned.
        coroutine: u32,
        /// How many registers the coroutine has saved.
        regs: usize,
    },
    /// A session local type outside the program's type table.
    #[error("group {group}: session {sid:#x} refers to local type {ty}, outside the program's {len} types")]
    BadType {
        /// The group concerned.
        group: u32,
        /// The session concerned.
        sid: u64,
        /// The local type id saved.
        ty: u32,
        /// How many types the program has.
        len: usize,
    },
    /// A buffer whose visible-message count exceeds what it holds.
    #[error("group {group}: a buffer of session {sid:#x} counts more visible messages than it holds")]
    BadBuffer {
        /// The group concerned.
        group: u32,
        /// The session concerned.
        sid: u64,
    },
    /// Session counters that disagree with the saved sessions.
    #[error(
        "group {group}: the live-session count, or a session's open-endpoint count or edge index, disagrees with the sessions"
    )]
    BadSessions {
        /// The group concerned.
        group: u32,
    },
    /// A live-coroutine count that disagrees with the saved coroutines.
    #[error("group {group}: {alive} coroutines counted alive, {running} not ended")]
    BadAlive {
        /// The group concerned.
        group: u32,
        /// The count of coroutines saved as alive.
        alive: u32,
        /// The coroutines that have not ended.
        running: usize,
    },
    /// A value naming an endpoint of a session the group never opened.
    #[error("group {group}: a value refers to an endpoint of session {sid:#x}, which the group has not opened")]
    BadEndpoint {
        /// The group concerned.
        group: u32,
        /// The session concerned.
        sid: u64,
    },
    /// An endpoint whose owner is neither a coroutine of the group nor in transit.
    #[error(
        "group {group}: endpoint {role} of session {sid:#x} is owned by coroutine {owner}, which the group does not have"
    )]
    BadOwner {
        /// The group concerned.
        group: u32,
        /// The session concerned.
        sid: u64,
        /// The endpoint's role index.
        role: u16,
        /// The owner saved.
        owner: u32,
    },
    /// An edge whose parked waiter is not a coroutine of the group.
    #[error(
        "group {group}: coroutine {waiter}, which the group does not have, is parked on edge {from} -> {to} of session {sid:#x}"
    )]
    BadWaiter {
        /// The group concerned.
        group: u32,
        /// The session concerned.
        sid: u64,
        /// The edge's sending role index.
        from: u16,
        /// The edge's receiving role index.
        to: u16,
        /// The waiter saved.
        waiter: u32,
    },
    /// An endpoint whose key the key source given does not hold.
    #[error(
        "group {group}: no key for endpoint {role} of session {sid:#x} in the key source (or a different one): restore with the key source of the run"
    )]
    KeyUnavailable {
        /// The group concerned.
        group: u32,
        /// The session concerned.
        sid: u64,
        /// The endpoint's role index.
        role: u16,
    },
}

impl Group {
    /// Saves the group's state. Call it between rounds; events not yet
    /// drained ([`Group::drain_events`]: a group not yet run holds its
    /// `Spawned`) are saved with it.
    pub fn save_state(&self) -> Result<SavedGroup<'_>, SaveError> {
        let group = self.st.group;
        if !self.st.supplied_keys.is_empty() {
            return Err(SaveError::SuppliedKeys { group });
        }
        Ok(SavedGroup { st: &self.st, status: &self.status })
    }

    /// Restores a saved group of `image`'s program run under `config`,
    /// answered by `host`, with endpoint keys from `keys` (every key of a
    /// live session must be the source's: checked against the saved
    /// verifying key). The saved state is checked against the program
    /// (frames, registers, types, endpoints) and the configuration (limits,
    /// buffer default, auth, replay mode, run identity: a group runs under
    /// the configuration its replay records), so a damaged or foreign state
    /// is refused rather than run.
    pub fn restore_state(
        image: Arc<ProgramImage>,
        saved: GroupState,
        config: &Config,
        host: Box<dyn Host + Send>,
        keys: KeySource,
    ) -> Result<Group, RestoreError> {
        let GroupState { mut st, status } = saved;
        // Every group binds the run identity (edge histories hash it under
        // every auth mode), as `Group::with_image` computes it.
        let run = image.run_identity(config);
        let same = st.limits == config.limits
            && st.default_buffer == config.default_buffer
            && st.auth == config.auth
            && st.replay_mode == config.replay_mode
            && st.run == run;
        if !same {
            return Err(RestoreError::ConfigMismatch { group: st.group });
        }
        check(&image, &st)?;
        for (n, session) in st.store.sessions.iter_mut().enumerate() {
            let sid = (u64::from(st.group) << 32) | n as u64;
            for (role, key) in session.body.keys.iter_mut().enumerate() {
                let role = role as u16;
                let rebound = keys.key(sid, role).is_some_and(|k| key.rebind(k));
                if !rebound {
                    return Err(RestoreError::KeyUnavailable { group: st.group, sid, role });
                }
            }
        }
        st.keys = keys;
        st.envelope = Vec::with_capacity(64);
        Ok(Group::from_parts(image, st, status, host))
    }
}

/// The structural checks of a restored state against its program.
fn check(image: &ProgramImage, st: &State) -> Result<(), RestoreError> {
    let m = image.module();
    let group = st.group;
    let types = m.types.nodes.len();
    for (id, c) in st.coroutines.iter().enumerate() {
        let coroutine = id as u32;
        for f in &c.frames {
            let code: Option<&Vec<Instr>> = m.procs.get(f.proc as usize).map(|p| &p.code);
            if code.is_none_or(|code| f.pc as usize >= code.len()) && !c.ended {
                return Err(RestoreError::BadFrame { group, coroutine, proc: f.proc, pc: f.pc });
            }
            if (f.base as usize).saturating_add(f.len as usize) > c.regs.len() {
                return Err(RestoreError::BadRegisters { group, coroutine, regs: c.regs.len() });
            }
        }
        for v in &c.regs {
            check_value(st, v)?;
        }
    }
    let running = st.coroutines.iter().filter(|c| !c.ended).count();
    if st.alive as usize != running {
        return Err(RestoreError::BadAlive { group, alive: st.alive, running });
    }
    if !st.store.is_consistent() {
        return Err(RestoreError::BadSessions { group });
    }
    let type_ok = |t: TypeId| (t.0 as usize) < types;
    // Owners and waiters index the coroutines (`Exec` steps them by id).
    let coroutine_ok = |co: u32| (co as usize) < st.coroutines.len();
    for (n, s) in st.store.sessions.iter().enumerate() {
        let sid = (u64::from(group) << 32) | n as u64;
        for (role, e) in s.body.endpoints.iter().enumerate() {
            for t in [e.current, e.original] {
                if !type_ok(t) {
                    return Err(RestoreError::BadType { group, sid, ty: t.0, len: types });
                }
            }
            if e.owner != IN_TRANSIT && !coroutine_ok(e.owner) {
                return Err(RestoreError::BadOwner { group, sid, role: role as u16, owner: e.owner });
            }
        }
        for (i, edge) in s.body.edges.iter().enumerate() {
            if edge.waiter != NO_WAITER && !coroutine_ok(edge.waiter) {
                let (from, to) = s.body.edge_roles(i).unwrap_or((u16::MAX, u16::MAX));
                return Err(RestoreError::BadWaiter { group, sid, from, to, waiter: edge.waiter });
            }
        }
        for edge in &s.body.edges {
            if !edge.buffer.is_consistent() {
                return Err(RestoreError::BadBuffer { group, sid });
            }
            for msg in edge.buffer.iter() {
                check_value(st, &msg.payload)?;
            }
        }
    }
    Ok(())
}

fn check_value(st: &State, v: &Value) -> Result<(), RestoreError> {
    match v {
        Value::Endpoint(ep) => {
            let n = ep.sid & u64::from(u32::MAX);
            if (ep.sid >> 32) as u32 != st.group || n as usize >= st.store.sessions.len() {
                return Err(RestoreError::BadEndpoint { group: st.group, sid: ep.sid });
            }
            Ok(())
        }
        Value::Tuple(items) => items.iter().try_for_each(|i| check_value(st, i)),
        _ => Ok(()),
    }
}
