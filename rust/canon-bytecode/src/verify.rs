//! The bytecode verifier: the only way to turn an untrusted [`Module`] into a
//! [`VerifiedProgram`], the only thing the machine runs.
//!
//! Verification runs in two passes, both in `bytecode-spec/format.md`
//! ("Verifier rules"):
//!
//! 1. structural checks (`structural`, `open`): the string and type
//!    tables, the entry procedure, every operand of every instruction in range,
//!    arities, `open` admission rules, the last instruction of each procedure;
//! 2. the typestate walk (`typestate`): an abstract interpretation of each
//!    procedure's control flow that tracks, per register, whether it holds a
//!    value or an endpoint at a known local-type node, and checks every session
//!    instruction against that type.
//!
//! The walk relies on the first pass: once it passes, every index it uses is
//! in range.

mod budget;
mod coherence;
mod error;
mod open;
mod structural;
mod types;
mod typestate;

pub use budget::MAX_VERIFY_WORK;
pub use error::{Site, VERIFY_CODES, VerifyError};
pub use open::MAX_ROLES_PER_OPEN;

use canon_types::TypeId;

use crate::module::{Module, ProcId};

/// A module that passed [`verify`]. Its fields are private: the only way to
/// build one is `verify`, so holding one is proof the module was checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedProgram {
    module: Module,
    digest: [u8; 32],
    /// For every type id, the first node that is not `Mu`/`Var`.
    resolved: Vec<TypeId>,
}

/// The resolved table with every `End` node mapped to one representative:
/// all `End`s are the same type, so paths that reach different `End` nodes
/// may join (e.g. the arms of an offer sharing one `close`).
fn typestate_ids(module: &Module, resolved: &[TypeId]) -> Vec<TypeId> {
    let is_end = |t: TypeId| matches!(module.types.get(t), Some(canon_types::TypeNode::End));
    let Some(end) = resolved.iter().copied().find(|t| is_end(*t)) else { return resolved.to_vec() };
    resolved.iter().map(|&t| if is_end(t) { end } else { t }).collect()
}

/// Checks `module` (see the module docs) and wraps it as a [`VerifiedProgram`].
/// Errors name the procedure and instruction where verification failed.
pub fn verify(module: Module) -> Result<VerifiedProgram, VerifyError> {
    verify_counted(module).0
}

/// [`verify`], also returning the steps it took (the work counted against
/// [`MAX_VERIFY_WORK`], a measure of cost that does not depend on the machine).
pub fn verify_counted(module: Module) -> (Result<VerifiedProgram, VerifyError>, u64) {
    let work = budget::Work::new(MAX_VERIFY_WORK);
    let result = verify_with(module, &work);
    (result, work.spent())
}

fn verify_with(module: Module, work: &budget::Work) -> Result<VerifiedProgram, VerifyError> {
    let resolved = structural::check_module(&module, work)?;
    for pid in 0..module.procs.len() {
        structural::check_proc(&module, pid as ProcId, work)?;
    }
    let states = typestate_ids(&module, &resolved);
    let labels = budget::LabelIndex::new(&module.types, work);
    for pid in 0..module.procs.len() {
        typestate::walk_proc(&module, &states, &labels, work, pid as ProcId)?;
    }
    let digest = module.digest();
    Ok(VerifiedProgram { module, digest, resolved })
}

impl VerifiedProgram {
    /// The verified module.
    pub fn module(&self) -> &Module {
        &self.module
    }

    /// SHA-256 of the module's canonical encoding ([`Module::digest`]),
    /// computed once at verification.
    pub fn digest(&self) -> [u8; 32] {
        self.digest
    }

    /// Gives the module back.
    pub fn into_module(self) -> Module {
        self.module
    }

    /// The first node at or after `ty` that is not `Mu` or `Var` (what
    /// `TypeGraph::resolve` returns), from a table computed at verification.
    /// An id outside the type table (never held by verified code) is returned
    /// unchanged.
    pub fn resolved(&self, ty: TypeId) -> TypeId {
        self.resolved.get(ty.0 as usize).copied().unwrap_or(ty)
    }

    /// The whole table of [`VerifiedProgram::resolved`], indexed by type id:
    /// the machine advances endpoint types through it, never by walking
    /// `mu`/`var` chains.
    pub fn resolved_table(&self) -> &[TypeId] {
        &self.resolved
    }
}

/// The [`Site`] of procedure `pid`, optionally at instruction `instr`.
fn site(m: &Module, pid: ProcId, instr: Option<u32>) -> Site {
    let name = m.procs.get(pid as usize).map(|p| m.sym(p.name)).unwrap_or("<bad-proc>");
    Site { proc: pid, name: name.to_owned(), instr }
}
