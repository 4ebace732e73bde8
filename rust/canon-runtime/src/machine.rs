//! The runtime's machine: the groups of one verified program, and the
//! host-side ownership record of each loaded instance.

use std::sync::Arc;

use canon_bytecode::VerifiedProgram;
use canon_machine::{Config, Group, Host, OwnershipRecord, ProgramImage};
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
];

impl ErrorCode for LoadError {
    fn code(&self) -> u16 {
        match self {
            LoadError::ProgramMismatch { .. } => 4001,
            LoadError::TooManyGroups { .. } => 4002,
            LoadError::UnknownGroup { .. } => 4003,
            LoadError::NotOwned { .. } => 4004,
            LoadError::StaleOwner { .. } => 4005,
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
}

fn hex(d: &[u8; 32]) -> String {
    d.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

impl Machine {
    pub fn new(config: Config) -> Machine {
        Machine { config, image: None, groups: Vec::new(), owners: Vec::new() }
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The program, once one instance is loaded.
    pub fn program(&self) -> Option<&Arc<VerifiedProgram>> {
        self.image.as_ref().map(|i| i.program())
    }

    /// Loaded instances.
    pub fn group_count(&self) -> usize {
        self.groups.len()
    }

    /// The groups, for inspection after a run (session statuses, faults).
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
        let image = match &self.image {
            Some(i) if i.program().digest() != program.digest() => {
                let want = hex(&i.program().digest());
                return Err(LoadError::ProgramMismatch { want, got: hex(&program.digest()) });
            }
            Some(i) => i,
            None => self.image.insert(Arc::new(ProgramImage::new(Arc::clone(program)))),
        };
        // Session ids are `group << 32 | n`: the group id must fit 32 bits.
        let id = u32::try_from(self.groups.len()).map_err(|_| LoadError::TooManyGroups { limit: u32::MAX })?;
        self.groups.push(Group::with_image(Arc::clone(image), id, &self.config, host));
        self.owners.push(None);
        Ok(id)
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
