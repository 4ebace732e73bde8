//! The runtime's machine: the groups of one verified program, and the
//! host-side ownership record of each loaded instance.

use std::sync::Arc;

use canon_bytecode::VerifiedProgram;
use canon_machine::{
    Applied, Config, Group, Host, Injection, KeySource, OwnershipError, OwnershipRecord, ProgramImage, Scope,
    SessionOwnership,
};

/// A handle on a session's host-side ownership (seed 003's owner
/// capability): the session, the owner label, the generation (it increments
/// on every committed transfer and attenuation, so a stale handle fails
/// closed) and the scope the owner holds.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Owner {
    /// The group (instance) of the session.
    pub group: u32,
    /// The session id.
    pub sid: u64,
    /// The owner's name, chosen by the host.
    pub label: String,
    /// The owner generation: 0 at the claim, +1 per committed transfer
    /// and per attenuation.
    pub generation: u64,
    /// What the owner may do: the whole session or a fragment.
    pub scope: Scope,
}

/// A staged transfer of a session's ownership: it must be committed
/// ([`Machine::commit`]), rolled back, abandoned or reported failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    /// The group (instance) of the session.
    pub group: u32,
    /// The session id.
    pub sid: u64,
    /// The receipt's id, unique within the session.
    pub id: u64,
    /// The owner the transfer hands the session to.
    pub to: String,
}

/// A readiness witness: single-use proof that check `check` succeeded
/// under owner generation `generation` of session `sid`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Witness {
    /// The group (instance) of the session.
    pub group: u32,
    /// The session id.
    pub sid: u64,
    /// The witness's id, unique within the session.
    pub id: u64,
    /// The owner generation the witness is bound to.
    pub generation: u64,
    /// The readiness check the witness attests.
    pub check: String,
}

/// Why a load or an ownership operation was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// The program is not the one this machine already runs.
    #[error("program {got} differs from the machine's program {want}: one machine runs one program")]
    ProgramMismatch {
        /// The machine's program digest (hex prefix).
        want: String,
        /// The offered program's digest (hex prefix).
        got: String,
    },
    /// The machine holds as many instances as group ids allow.
    #[error("too many instances: the limit is {limit}")]
    TooManyGroups {
        /// The most instances one machine holds.
        limit: u32,
    },
    /// No instance has this group id.
    #[error("group {group} does not exist")]
    UnknownGroup {
        /// The group id asked for.
        group: u32,
    },
    /// The instance was loaded without an owner.
    #[error("group {group} has no owner; it was loaded without ownership")]
    NotOwned {
        /// The group id asked for.
        group: u32,
    },
    /// A session ownership operation was refused (nothing changed).
    #[error(transparent)]
    Ownership(#[from] OwnershipError),
    /// Eager loads must come before lazy ones.
    #[error("cannot load an instance after {lazy} lazily loaded ones: lazy instances come last")]
    AfterLazy {
        /// Lazily loaded instances already registered.
        lazy: u32,
    },
}

canon_types::error_codes! {
    /// Stable codes of refused loads: 4xxx (ownership and authority). A
    /// refused ownership operation keeps its own code
    /// (`canon_machine::OWNERSHIP_CODES`); the family's session faults are
    /// `canon_machine::OWNERSHIP_FAULT_CODES`.
    pub LOAD_CODES for LoadError {
        ProgramMismatch = 4001: "a machine runs exactly one program",
        TooManyGroups = 4002: "the instance limit was reached",
        UnknownGroup = 4003: "no instance with that id",
        NotOwned = 4004: "the instance was loaded without ownership",
        AfterLazy = 4006: "an instance was loaded after lazily loaded instances",
    }
    delegate { Ownership }
}

/// The groups of one program, ready for a runner.
pub struct Machine {
    pub(crate) config: Config,
    /// The program and its tables, built at the first load and shared by every group.
    pub(crate) image: Option<Arc<ProgramImage>>,
    pub(crate) groups: Vec<Group>,
    /// The session each instance loaded with an owner claimed.
    pub(crate) owners: Vec<Option<u64>>,
    /// Where every group's endpoint keys come from (`Machine::set_key_source`).
    pub(crate) keys: KeySource,
    /// Instances built only when a runner reaches them, after `groups`.
    pub(crate) lazy: Option<Lazy>,
    /// The id of `groups[0]` (and `owners[0]`): 0, or, in a machine restored
    /// from a checkpoint, the first group not finished when it was taken.
    pub(crate) base: usize,
    /// Where a paused or restored run continues (`checkpoint.rs`).
    pub(crate) resume: Option<crate::checkpoint::ResumePoint>,
}

/// Makes the host of lazily loaded instance `id`.
pub type HostFactory = dyn Fn(u32) -> Box<dyn Host + Send> + Send + Sync;

/// Instances loaded by [`Machine::load_lazy`]: built when a runner reaches
/// them and dropped once finished and written.
pub(crate) struct Lazy {
    pub(crate) count: u32,
    pub(crate) make: Box<HostFactory>,
    pub(crate) injections: Vec<(u64, Injection)>,
    /// The owner that claims each built instance's choreography session
    /// ([`Machine::claim_lazy`]).
    pub(crate) owner: Option<Arc<str>>,
}

/// Builds lazily loaded groups; shared by a runner's workers.
pub(crate) struct Builder<'a> {
    image: Option<&'a Arc<ProgramImage>>,
    config: &'a Config,
    first: usize,
    lazy: Option<&'a Lazy>,
    keys: &'a KeySource,
}

impl Builder<'_> {
    /// The group with id `id`, if it is a lazily loaded one.
    pub(crate) fn build(&self, id: usize) -> Option<Group> {
        let (image, lazy) = (self.image?, self.lazy?);
        let id = u32::try_from(id)
            .ok()
            .filter(|&i| (i as usize) >= self.first && (i as usize) < self.first + lazy.count as usize)?;
        let mut group = Group::with_image(Arc::clone(image), id, self.config, (lazy.make)(id));
        group.set_key_source(self.keys.clone());
        lazy.injections.iter().for_each(|&(nth, injection)| group.inject(nth, injection));
        if let Some(owner) = &lazy.owner {
            // A fresh group: the claim of its first session cannot be refused.
            let claim = OwnershipRecord::Claimed { owner: Arc::clone(owner), generation: 0 };
            let _claimed = group.apply_ownership(u64::from(id) << 32, claim);
        }
        Some(group)
    }
}

/// The first 8 bytes of a digest in hex: how error messages name a program.
pub(crate) fn digest_prefix(d: &[u8; 32]) -> String {
    canon_types::hex(&d[..8])
}

impl Machine {
    /// An empty machine running under `config`.
    pub fn new(config: Config) -> Machine {
        Machine {
            config,
            image: None,
            groups: Vec::new(),
            owners: Vec::new(),
            lazy: None,
            keys: KeySource::None,
            base: 0,
            resume: None,
        }
    }

    /// The configuration every instance runs under.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The program, once one instance is loaded.
    pub fn program(&self) -> Option<&Arc<VerifiedProgram>> {
        self.image.as_ref().map(|i| i.program())
    }

    /// Loaded instances (lazily loaded ones included).
    pub fn group_count(&self) -> usize {
        self.base + self.groups.len() + self.lazy.as_ref().map_or(0, |l| l.count as usize)
    }

    /// The index into `groups`/`owners` of group `id`, if it is an eagerly
    /// loaded one still held.
    fn slot(&self, id: u32) -> Option<usize> {
        (id as usize).checked_sub(self.base).filter(|&i| i < self.groups.len())
    }

    /// The eagerly loaded groups, for inspection after a run (session
    /// statuses, faults); lazily loaded groups are dropped once run.
    pub fn groups(&self) -> &[Group] {
        &self.groups
    }

    /// One group loaded without an owner, for host set-up before a run
    /// (`Group::inject`, `Group::set_endpoint_key`). `None` if the group does
    /// not exist or is owned: host-side mutation of an owned group goes
    /// through [`Machine::group_mut_as`] with the current owner handle.
    pub fn group_mut(&mut self, group: u32) -> Option<&mut Group> {
        let i = self.slot(group)?;
        if self.owners.get(i)?.is_some() {
            return None;
        }
        self.groups.get_mut(i)
    }

    /// Sets where the endpoint signing keys of every group, loaded or to be
    /// loaded, come from (a secret key seed, or a recording's keys for
    /// re-execution). Under `Auth::Ed25519` a machine without one faults at
    /// `open` (`NoEndpointKey`, 3033) unless the host supplied the keys
    /// (`Group::set_endpoint_key`).
    pub fn set_key_source(&mut self, keys: KeySource) {
        for g in &mut self.groups {
            g.set_key_source(keys.clone());
        }
        self.keys = keys;
    }

    /// One owned group, for host-side mutation by the current owner of its
    /// claimed session, with the full scope. A stale or foreign handle fails
    /// closed (`StaleOwner`, 4005), a fragment-scoped one too
    /// (`ScopeTooNarrow`, 4014); the refusal is recorded, nothing changes.
    pub fn group_mut_as(&mut self, group: u32, owner: &Owner) -> Result<&mut Group, LoadError> {
        let sid = self.claimed(group)?;
        let op = OwnershipRecord::Mutate { owner: Arc::from(owner.label.as_str()), generation: owner.generation };
        let g = self.slot(group).and_then(|i| self.groups.get_mut(i)).ok_or(LoadError::UnknownGroup { group })?;
        // Only a refused mutation is recorded (with its refusal).
        let foreign = owner.group != group || owner.sid != sid;
        if foreign || canon_machine::ownership::check_mutation(g.store(), sid, &owner.label, owner.generation).is_err()
        {
            g.apply_ownership(owner.sid, op)?;
            // A handle of another claimed session of this instance.
            return Err(OwnershipError::ForeignSession { sid: owner.sid, group }.into());
        }
        Ok(g)
    }

    /// The session `group`'s owner claimed at load.
    fn claimed(&self, group: u32) -> Result<u64, LoadError> {
        let slot = self.slot(group).and_then(|i| self.owners.get(i)).ok_or(LoadError::UnknownGroup { group })?;
        slot.ok_or(LoadError::NotOwned { group })
    }

    /// Applies ownership operation `op` to session `sid` of `group`.
    fn apply(&mut self, group: u32, sid: u64, op: OwnershipRecord) -> Result<Applied, LoadError> {
        let g = self.slot(group).and_then(|i| self.groups.get_mut(i)).ok_or(LoadError::UnknownGroup { group })?;
        Ok(g.apply_ownership(sid, op)?)
    }

    /// The ownership state of session `sid` of `group`.
    pub fn ownership(&self, group: u32, sid: u64) -> Option<&SessionOwnership> {
        self.groups.get(self.slot(group)?)?.store().ownership(sid)
    }

    /// Loads one instance of `program`'s entry procedure, answered by `host`.
    /// Returns the new group id (groups are numbered from 0 in load order).
    pub fn load(&mut self, program: &Arc<VerifiedProgram>, host: Box<dyn Host + Send>) -> Result<u32, LoadError> {
        if let Some(lazy) = &self.lazy {
            return Err(LoadError::AfterLazy { lazy: lazy.count });
        }
        let image = self.image_for(program)?;
        // Session ids are `group << 32 | n`: the group id must fit 32 bits.
        let id =
            u32::try_from(self.base + self.groups.len()).map_err(|_| LoadError::TooManyGroups { limit: u32::MAX })?;
        let mut group = Group::with_image(image, id, &self.config, host);
        group.set_key_source(self.keys.clone());
        self.groups.push(group);
        self.owners.push(None);
        Ok(id)
    }

    /// Loads `count` instances of `program`'s entry procedure after those
    /// already loaded, without building them: a runner builds each when it
    /// reaches it, with the host `make(id)` and every `(nth, injection)`
    /// transport fault applied, and drops it once it is finished and written
    /// — so a run's memory does not grow with `count`. No instance can be
    /// loaded after these. Returns the first new group id.
    pub fn load_lazy(
        &mut self,
        program: &Arc<VerifiedProgram>,
        count: u32,
        make: Box<HostFactory>,
        injections: &[(u64, Injection)],
    ) -> Result<u32, LoadError> {
        if let Some(lazy) = &self.lazy {
            return Err(LoadError::AfterLazy { lazy: lazy.count });
        }
        self.image_for(program)?;
        let first =
            u32::try_from(self.base + self.groups.len()).map_err(|_| LoadError::TooManyGroups { limit: u32::MAX })?;
        if u64::from(first) + u64::from(count) > u64::from(u32::MAX) + 1 {
            return Err(LoadError::TooManyGroups { limit: u32::MAX });
        }
        self.lazy = Some(Lazy { count, make, injections: injections.to_vec(), owner: None });
        Ok(first)
    }

    /// Every lazily loaded instance ([`Machine::load_lazy`]) claims its
    /// choreography's session (the first it opens, sid `group << 32`) for
    /// `owner` at generation 0 with the full scope when it is built, as
    /// [`Machine::load_choreography_owned`] does (recorded `OwnerClaimed`):
    /// what a choreography's readiness checks need. No handle is returned:
    /// such a run has no host acting as the owner afterwards. Returns
    /// `false` (and does nothing) when no instances were loaded lazily.
    pub fn claim_lazy(&mut self, owner: &str) -> bool {
        let Some(lazy) = self.lazy.as_mut() else { return false };
        lazy.owner = Some(Arc::from(owner));
        true
    }

    /// The builder of lazily loaded groups when `eager` eagerly loaded
    /// groups are held (a runner may have moved them out of `groups`).
    pub(crate) fn builder_after(&self, eager: usize) -> Builder<'_> {
        Builder {
            image: self.image.as_ref(),
            config: &self.config,
            first: self.base + eager,
            lazy: self.lazy.as_ref(),
            keys: &self.keys,
        }
    }

    /// The builder of lazily loaded groups.
    pub(crate) fn builder(&self) -> Builder<'_> {
        Builder {
            image: self.image.as_ref(),
            config: &self.config,
            first: self.base + self.groups.len(),
            lazy: self.lazy.as_ref(),
            keys: &self.keys,
        }
    }

    /// Runs `f` on group `id`: the loaded one, or a lazily loaded one built
    /// for the call and dropped after it.
    pub(crate) fn with_group(&mut self, id: usize, f: &mut dyn FnMut(&mut Group)) {
        let loaded = u32::try_from(id).ok().and_then(|id| self.slot(id));
        if let Some(g) = loaded.and_then(|i| self.groups.get_mut(i)) {
            f(g);
        } else if let Some(mut g) = self.builder().build(id) {
            f(&mut g);
        }
    }

    /// The machine's shared image of `program` (built at the first load).
    fn image_for(&mut self, program: &Arc<VerifiedProgram>) -> Result<Arc<ProgramImage>, LoadError> {
        let image = match &self.image {
            Some(i) if i.program().digest() != program.digest() => {
                let want = digest_prefix(&i.program().digest());
                return Err(LoadError::ProgramMismatch { want, got: digest_prefix(&program.digest()) });
            }
            Some(i) => i,
            None => self.image.insert(Arc::new(ProgramImage::new(Arc::clone(program)))),
        };
        Ok(Arc::clone(image))
    }

    /// Loads a compiled choreography (see `canon::compile_file`): one
    /// instance whose entry opens the protocol's session and spawns its roles.
    pub fn load_choreography(
        &mut self,
        program: &Arc<VerifiedProgram>,
        host: Box<dyn Host + Send>,
    ) -> Result<u32, LoadError> {
        self.load(program, host)
    }

    /// Like [`Machine::load_choreography`], and the choreography's session
    /// (the first one the instance opens) is claimed by `owner` at
    /// generation 0 with the full scope: host-side mutation of the instance
    /// and every ownership operation then need the current owner handle.
    pub fn load_choreography_owned(
        &mut self,
        program: &Arc<VerifiedProgram>,
        host: Box<dyn Host + Send>,
        owner: &str,
    ) -> Result<(u32, Owner), LoadError> {
        let group = self.load(program, host)?;
        let sid = u64::from(group) << 32;
        self.apply(group, sid, OwnershipRecord::Claimed { owner: Arc::from(owner), generation: 0 })?;
        let i = self.slot(group).ok_or(LoadError::UnknownGroup { group })?;
        self.owners[i] = Some(sid);
        Ok((group, Owner { group, sid, label: owner.to_owned(), generation: 0, scope: Scope::Full }))
    }

    /// The current owner of the session `group` claimed, if it was loaded with one.
    pub fn owner(&self, group: u32) -> Option<Owner> {
        let sid = (*self.owners.get(self.slot(group)?)?)?;
        let o = &self.ownership(group, sid)?.owner;
        Some(Owner { group, sid, label: o.label.clone(), generation: o.generation, scope: o.scope.clone() })
    }

    /// Stages a transfer of `current`'s session to `to`: the receipt must be
    /// committed, rolled back, abandoned or reported failed. One pending
    /// transfer per session (`TransferPending`, 4009).
    pub fn begin_transfer(&mut self, current: &Owner, to: &str) -> Result<Receipt, LoadError> {
        let op = OwnershipRecord::TransferBegun {
            owner: Arc::from(current.label.as_str()),
            generation: current.generation,
            to: Arc::from(to),
        };
        let id = self.apply(current.group, current.sid, op)?.number();
        Ok(Receipt { group: current.group, sid: current.sid, id, to: to.to_owned() })
    }

    /// Commits a staged transfer: the old owner is revoked, `receipt.to` is
    /// the owner at the next generation (`SemanticHandoff`,
    /// `TransformationObligation`); outstanding readiness witnesses are invalidated.
    pub fn commit(&mut self, receipt: &Receipt) -> Result<Owner, LoadError> {
        let generation =
            self.apply(receipt.group, receipt.sid, OwnershipRecord::Commit { receipt: receipt.id })?.number();
        let scope = self.ownership(receipt.group, receipt.sid).map_or(Scope::Full, |o| o.owner.scope.clone());
        Ok(Owner { group: receipt.group, sid: receipt.sid, label: receipt.to.clone(), generation, scope })
    }

    /// Rolls a staged transfer back: the owner stays; only this session's
    /// pending receipt is cleared.
    pub fn rollback(&mut self, receipt: &Receipt) -> Result<(), LoadError> {
        self.apply(receipt.group, receipt.sid, OwnershipRecord::Rollback { receipt: receipt.id }).map(|_| ())
    }

    /// The staged transfer was abandoned (neither side will drive the
    /// session): the session is cancelled.
    pub fn abandon(&mut self, receipt: &Receipt) -> Result<(), LoadError> {
        self.apply(receipt.group, receipt.sid, OwnershipRecord::Abandon { receipt: receipt.id }).map(|_| ())
    }

    /// The staged transfer failed to commit for `reason`: the session faults
    /// (`TransferCommitFailed`, 4012; "ownership transfer commit failed: …").
    pub fn commit_failed(&mut self, receipt: &Receipt, reason: &str) -> Result<(), LoadError> {
        let op = OwnershipRecord::CommitFailed { receipt: receipt.id, reason: Arc::from(reason) };
        self.apply(receipt.group, receipt.sid, op).map(|_| ())
    }

    /// Narrows the owner's scope to `scope` (within the current one); the
    /// generation increments, so the old handle is stale.
    pub fn attenuate(&mut self, current: &Owner, scope: Scope) -> Result<Owner, LoadError> {
        let op = OwnershipRecord::Attenuate {
            owner: Arc::from(current.label.as_str()),
            generation: current.generation,
            scope: scope.clone(),
        };
        let generation = self.apply(current.group, current.sid, op)?.number();
        Ok(Owner { generation, scope, ..current.clone() })
    }

    /// Issues a readiness witness: check `check` succeeded under the current
    /// owner generation. Single-use ([`Machine::consume`]).
    pub fn issue_readiness(&mut self, current: &Owner, check: &str) -> Result<Witness, LoadError> {
        let op = OwnershipRecord::IssueReadiness {
            owner: Arc::from(current.label.as_str()),
            generation: current.generation,
            check: Arc::from(check),
        };
        let id = self.apply(current.group, current.sid, op)?.number();
        Ok(Witness {
            group: current.group,
            sid: current.sid,
            id,
            generation: current.generation,
            check: check.to_owned(),
        })
    }

    /// Consumes a readiness witness. A forged, reused or stale one fails
    /// closed (4015–4017), with an audit rejection record.
    pub fn consume(&mut self, witness: &Witness) -> Result<(), LoadError> {
        let op = OwnershipRecord::Consume {
            witness: witness.id,
            generation: witness.generation,
            check: Arc::from(witness.check.as_str()),
        };
        self.apply(witness.group, witness.sid, op).map(|_| ())
    }

    /// The owner `current` died for `reason`: its (open) session faults
    /// (`OwnerDied`, 4011; "ownership owner `…` died: …").
    pub fn owner_died(&mut self, current: &Owner, reason: &str) -> Result<(), LoadError> {
        let op = OwnershipRecord::OwnerDied {
            owner: Arc::from(current.label.as_str()),
            generation: current.generation,
            reason: Arc::from(reason),
        };
        self.apply(current.group, current.sid, op).map(|_| ())
    }

    /// Transfers ownership of `group`'s session from the holder of `current`
    /// to `to` at once (a staged transfer committed immediately). A stale or
    /// foreign handle fails closed: the error names both, and nothing changes.
    pub fn transfer(&mut self, group: u32, current: &Owner, to: &str) -> Result<Owner, LoadError> {
        if current.group != group {
            return Err(OwnershipError::ForeignSession { sid: current.sid, group }.into());
        }
        let receipt = self.begin_transfer(current, to)?;
        self.commit(&receipt)
    }
}
