//! The runtime's machine: the groups of one verified program, and the
//! host-side ownership record of each loaded instance.

use std::sync::Arc;

use canon_bytecode::VerifiedProgram;
use canon_machine::{Config, Group, Host, Injection, KeySource, OwnershipRecord, ProgramImage};
use canon_types::ErrorCode;

/// Who may drive a loaded instance from the host side (seed 003's ownership
/// capability): an owner label and a generation that increments on every
/// transfer, so a stale handle fails closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    pub label: String,
    pub generation: u64,
}

/// Why a load or an ownership operation was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoadError {
    #[error("program {got} differs from the machine's program {want}: one machine runs one program")]
    ProgramMismatch { want: String, got: String },
    #[error("too many instances: the limit is {limit}")]
    TooManyGroups { limit: u32 },
    #[error("group {group} does not exist")]
    UnknownGroup { group: u32 },
    #[error("group {group} has no owner; it was loaded without ownership")]
    NotOwned { group: u32 },
    #[error(
        "stale owner for group {group}: `{label}` generation {presented}, current is `{current}` generation {generation}"
    )]
    StaleOwner { group: u32, label: String, presented: u64, current: String, generation: u64 },
    #[error("cannot load an instance after {lazy} lazily loaded ones: lazy instances come last")]
    AfterLazy { lazy: u32 },
}

/// Stable codes: 4xxx (ownership and authority).
pub const LOAD_CODES: &[canon_types::CodeEntry] = &[
    canon_types::CodeEntry { code: 4001, name: "ProgramMismatch", summary: "a machine runs exactly one program" },
    canon_types::CodeEntry { code: 4002, name: "TooManyGroups", summary: "the instance limit was reached" },
    canon_types::CodeEntry { code: 4003, name: "UnknownGroup", summary: "no instance with that id" },
    canon_types::CodeEntry { code: 4004, name: "NotOwned", summary: "the instance was loaded without ownership" },
    canon_types::CodeEntry {
        code: 4005,
        name: "StaleOwner",
        summary: "an owner handle of an old generation or another owner was used",
    },
    canon_types::CodeEntry {
        code: 4006,
        name: "AfterLazy",
        summary: "an instance was loaded after lazily loaded instances",
    },
];

impl ErrorCode for LoadError {
    fn code(&self) -> u16 {
        match self {
            LoadError::ProgramMismatch { .. } => 4001,
            LoadError::TooManyGroups { .. } => 4002,
            LoadError::UnknownGroup { .. } => 4003,
            LoadError::NotOwned { .. } => 4004,
            LoadError::StaleOwner { .. } => 4005,
            LoadError::AfterLazy { .. } => 4006,
        }
    }
}

/// The groups of one program, ready for a runner.
pub struct Machine {
    config: Config,
    /// The program and its tables, built at the first load and shared by every group.
    image: Option<Arc<ProgramImage>>,
    pub(crate) groups: Vec<Group>,
    owners: Vec<Option<Owner>>,
    /// Where every group's endpoint keys come from (`Machine::set_key_source`).
    keys: KeySource,
    /// Instances built only when a runner reaches them, after `groups`.
    lazy: Option<Lazy>,
}

/// Makes the host of lazily loaded instance `id`.
pub type HostFactory = dyn Fn(u32) -> Box<dyn Host + Send> + Send + Sync;

/// Instances loaded by [`Machine::load_lazy`]: built when a runner reaches
/// them and dropped once finished and written.
struct Lazy {
    count: u32,
    make: Box<HostFactory>,
    injections: Vec<(u64, Injection)>,
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
        Some(group)
    }
}

fn hex(d: &[u8; 32]) -> String {
    d.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

impl Machine {
    pub fn new(config: Config) -> Machine {
        Machine { config, image: None, groups: Vec::new(), owners: Vec::new(), lazy: None, keys: KeySource::None }
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The program, once one instance is loaded.
    pub fn program(&self) -> Option<&Arc<VerifiedProgram>> {
        self.image.as_ref().map(|i| i.program())
    }

    /// Loaded instances (lazily loaded ones included).
    pub fn group_count(&self) -> usize {
        self.groups.len() + self.lazy.as_ref().map_or(0, |l| l.count as usize)
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
        if self.owners.get(group as usize)?.is_some() {
            return None;
        }
        self.groups.get_mut(group as usize)
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

    /// One owned group, for host-side mutation by its current owner. A stale
    /// or foreign handle fails closed (`StaleOwner`, 4005) and changes nothing.
    pub fn group_mut_as(&mut self, group: u32, owner: &Owner) -> Result<&mut Group, LoadError> {
        self.check_owner(group, owner).inspect_err(|e| self.record_rejection(group, owner, e))?;
        self.groups.get_mut(group as usize).ok_or(LoadError::UnknownGroup { group })
    }

    /// Records a refused handle in the group's event stream (when the group exists).
    fn record_rejection(&mut self, group: u32, presented: &Owner, e: &LoadError) {
        if let Some(g) = self.groups.get_mut(group as usize) {
            let owner = Arc::from(presented.label.as_str());
            g.record_ownership(OwnershipRecord::Rejected { code: e.code(), owner, generation: presented.generation });
        }
    }

    /// Whether `presented` is `group`'s current owner handle.
    fn check_owner(&self, group: u32, presented: &Owner) -> Result<(), LoadError> {
        let slot = self.owners.get(group as usize).ok_or(LoadError::UnknownGroup { group })?;
        let live = slot.as_ref().ok_or(LoadError::NotOwned { group })?;
        if live != presented {
            return Err(LoadError::StaleOwner {
                group,
                label: presented.label.clone(),
                presented: presented.generation,
                current: live.label.clone(),
                generation: live.generation,
            });
        }
        Ok(())
    }

    /// Loads one instance of `program`'s entry procedure, answered by `host`.
    /// Returns the new group id (groups are numbered from 0 in load order).
    pub fn load(&mut self, program: &Arc<VerifiedProgram>, host: Box<dyn Host + Send>) -> Result<u32, LoadError> {
        if let Some(lazy) = &self.lazy {
            return Err(LoadError::AfterLazy { lazy: lazy.count });
        }
        let image = self.image_for(program)?;
        // Session ids are `group << 32 | n`: the group id must fit 32 bits.
        let id = u32::try_from(self.groups.len()).map_err(|_| LoadError::TooManyGroups { limit: u32::MAX })?;
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
        let first = u32::try_from(self.groups.len()).map_err(|_| LoadError::TooManyGroups { limit: u32::MAX })?;
        if u64::from(first) + u64::from(count) > u64::from(u32::MAX) + 1 {
            return Err(LoadError::TooManyGroups { limit: u32::MAX });
        }
        self.lazy = Some(Lazy { count, make, injections: injections.to_vec() });
        Ok(first)
    }

    /// The builder of lazily loaded groups.
    pub(crate) fn builder(&self) -> Builder<'_> {
        Builder {
            image: self.image.as_ref(),
            config: &self.config,
            first: self.groups.len(),
            lazy: self.lazy.as_ref(),
            keys: &self.keys,
        }
    }

    /// Runs `f` on group `id`: the loaded one, or a lazily loaded one built
    /// for the call and dropped after it.
    pub(crate) fn with_group(&mut self, id: usize, f: &mut dyn FnMut(&mut Group)) {
        if let Some(g) = self.groups.get_mut(id) {
            f(g);
        } else if let Some(mut g) = self.builder().build(id) {
            f(&mut g);
        }
    }

    /// The machine's shared image of `program` (built at the first load).
    fn image_for(&mut self, program: &Arc<VerifiedProgram>) -> Result<Arc<ProgramImage>, LoadError> {
        let image = match &self.image {
            Some(i) if i.program().digest() != program.digest() => {
                let want = hex(&i.program().digest());
                return Err(LoadError::ProgramMismatch { want, got: hex(&program.digest()) });
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

    /// Like [`Machine::load_choreography`], and the instance is claimed by
    /// `owner` at generation 0: host-side mutation of it then requires the
    /// current owner handle ([`Machine::transfer`]).
    pub fn load_choreography_owned(
        &mut self,
        program: &Arc<VerifiedProgram>,
        host: Box<dyn Host + Send>,
        owner: &str,
    ) -> Result<(u32, Owner), LoadError> {
        let group = self.load(program, host)?;
        let claim = Owner { label: owner.to_owned(), generation: 0 };
        self.owners[group as usize] = Some(claim.clone());
        self.groups[group as usize]
            .record_ownership(OwnershipRecord::Claimed { owner: Arc::from(owner), generation: 0 });
        Ok((group, claim))
    }

    /// The current owner of `group`, if it was loaded with one.
    pub fn owner(&self, group: u32) -> Option<&Owner> {
        self.owners.get(group as usize)?.as_ref()
    }

    /// Transfers ownership of `group` from the holder of `current` to `to`,
    /// bumping the generation. A stale or foreign handle fails closed: the
    /// error names both, and nothing changes.
    pub fn transfer(&mut self, group: u32, current: &Owner, to: &str) -> Result<Owner, LoadError> {
        self.check_owner(group, current).inspect_err(|e| self.record_rejection(group, current, e))?;
        let slot = self.owners.get_mut(group as usize).ok_or(LoadError::UnknownGroup { group })?;
        let live = slot.as_mut().ok_or(LoadError::NotOwned { group })?;
        *live = Owner { label: to.to_owned(), generation: live.generation + 1 };
        let next = live.clone();
        let record = OwnershipRecord::Transferred {
            from: Arc::from(current.label.as_str()),
            to: Arc::from(to),
            generation: next.generation,
        };
        self.groups[group as usize].record_ownership(record);
        Ok(next)
    }
}
