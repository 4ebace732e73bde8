//! Looking up a program's labels, roles and effects by name, once, so that
//! host handlers compare interned ids ([`SymId`]) instead of strings:
//!
//! ```
//! # let program = canon_bytecode::verify(canon_bytecode::assemble(include_str!("../../../fixtures/asm/ping_pong.casm")).unwrap()).unwrap();
//! let ping = program.label("Ping")?;
//! assert_eq!(program.module().sym(ping), "Ping");
//! assert!(program.label("Pong").is_ok());
//! assert!(program.label("role_a").is_err(), "a procedure name is not a label");
//! # Ok::<(), canon_bytecode::UnknownName>(())
//! ```

use canon_types::{SymId, TypeNode};

use crate::instr::Instr;
use crate::module::Module;
use crate::verify::VerifiedProgram;

/// What kind of name [`Module::label`], [`Module::role`] or
/// [`Module::effect`] looked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum NameKind {
    /// A message label of the local-type table.
    Label,
    /// A role of an `open`.
    Role,
    /// A host effect of an `invoke`.
    Effect,
}

/// A name the program does not use as the kind asked for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the program has no {} `{name}`", match kind { NameKind::Label => "label", NameKind::Role => "role", NameKind::Effect => "effect" })]
pub struct UnknownName {
    /// What was looked for.
    pub kind: NameKind,
    /// The name asked for.
    pub name: String,
}

impl Module {
    /// The id of message label `name`: a label some local type of the program
    /// sends or receives. Compare it with the `label` a host is called with.
    pub fn label(&self, name: &str) -> Result<SymId, UnknownName> {
        self.find_used(name, NameKind::Label, |id| {
            self.types.nodes.iter().any(|n| match n {
                TypeNode::Send { branches, .. } | TypeNode::Recv { branches, .. } => {
                    branches.iter().any(|b| b.label == id)
                }
                _ => false,
            })
        })
    }

    /// The id of role `name`: a role some `open` of the program names.
    /// Compare it with `HostCtx::role_name`.
    pub fn role(&self, name: &str) -> Result<SymId, UnknownName> {
        self.find_used(name, NameKind::Role, |id| {
            self.instrs().any(|i| matches!(i, Instr::Open { roles, .. } if roles.contains(&id)))
        })
    }

    /// The id of host effect `name`: an effect some `invoke` performs.
    pub fn effect(&self, name: &str) -> Result<SymId, UnknownName> {
        self.find_used(name, NameKind::Effect, |id| {
            self.instrs().any(|i| matches!(i, Instr::Invoke { effect, .. } if *effect == id))
        })
    }

    fn instrs(&self) -> impl Iterator<Item = &Instr> {
        self.procs.iter().flat_map(|p| &p.code)
    }

    fn find_used(&self, name: &str, kind: NameKind, used: impl Fn(SymId) -> bool) -> Result<SymId, UnknownName> {
        self.find_sym(name).filter(|id| used(*id)).ok_or_else(|| UnknownName { kind, name: name.to_owned() })
    }
}

impl VerifiedProgram {
    /// [`Module::label`] of the verified module.
    pub fn label(&self, name: &str) -> Result<SymId, UnknownName> {
        self.module().label(name)
    }

    /// [`Module::role`] of the verified module.
    pub fn role(&self, name: &str) -> Result<SymId, UnknownName> {
        self.module().role(name)
    }

    /// [`Module::effect`] of the verified module.
    pub fn effect(&self, name: &str) -> Result<SymId, UnknownName> {
        self.module().effect(name)
    }
}
