//! The runtime's machine: the groups of one verified program, and the
//! host-side ownership record of each loaded instance.

use std::sync::Arc;

use canon_bytecode::VerifiedProgram;
use canon_machine::{Config, Group, Host, ProgramImage};

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

canon_types::error_codes! {
    /// Stable codes: 4xxx (ownership and authority).
    pub LOAD_CODES for LoadError {
        ProgramMismatch = 4001: "a machine runs exactly one program",
        TooManyGroups = 4002: "the instance limit was reached",
        UnknownGroup = 4003: "no instance with that id",
        NotOwned = 4004: "the instance was loaded without ownership",
        StaleOwner = 4005: "an owner handle of an old generation or another owner was used",
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
    canon_types::hex(&d[..8])
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

    /// One group, for host set-up before a run (`Group::inject`,
    /// `Group::set_endpoint_key`).
    pub fn group_mut(&mut self, group: u32) -> Option<&mut Group> {
        self.groups.get_mut(group as usize)
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
        let slot = self.owners.get_mut(group as usize).ok_or(LoadError::UnknownGroup { group })?;
        let live = slot.as_mut().ok_or(LoadError::NotOwned { group })?;
        if live != current {
            return Err(LoadError::StaleOwner {
                group,
                label: current.label.clone(),
                presented: current.generation,
                current: live.label.clone(),
                generation: live.generation,
            });
        }
        *live = Owner { label: to.to_owned(), generation: live.generation + 1 };
        Ok(live.clone())
    }
}
