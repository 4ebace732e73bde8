//! Looking up a program's labels, roles and effects by name, once, so that
//! host handlers compare interned ids ([`SymId`]) instead of strings:
//!
//! ```
//! # let program = canon_bytecode::verify(canon_bytecode::assemble(include_str!("../../../fixtures/asm/ping_pong.casm")).unwrap()).unwrap();
//! let ping = program.label("Ping")?;
//! assert_eq!(program.module().sym(ping), "Ping");
//! assert!(program.label("Pong").is_ok());
//! assert!(program.label("role_a").is_err(), "a procedure name is not a label");
//! let typo = program.label("Pnig").unwrap_err();
//! assert_eq!(typo.to_string(), "the program has no label `Pnig`; did you mean `Ping`?");
//! assert_eq!(canon_types::ErrorCode::code(&typo), 2101);
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

/// A name the program does not use as the kind asked for (code 2101).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the program has no {} `{name}`{}",
    match kind { NameKind::Label => "label", NameKind::Role => "role", NameKind::Effect => "effect" },
    suggestion.as_ref().map_or(String::new(), |s| format!("; did you mean `{s}`?"))
)]
#[non_exhaustive]
pub struct UnknownName {
    /// What was looked for.
    pub kind: NameKind,
    /// The name asked for.
    pub name: String,
    /// The name of that kind the program does use that is closest to
    /// `name`, when one is close enough to be a likely typo.
    pub suggestion: Option<String>,
}

canon_types::error_codes! {
    /// The code of a host's name lookup that failed: 21xx, program names
    /// (beside verification's 20xx).
    pub NAME_CODES for struct UnknownName = 2101: "a label, role or effect name the program does not use"
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
            self.instrs()
                .any(|i| matches!(i, Instr::Invoke { effect, .. } | Instr::Check { effect, .. } if *effect == id))
        })
    }

    fn instrs(&self) -> impl Iterator<Item = &Instr> {
        self.procs.iter().flat_map(|p| &p.code)
    }

    fn find_used(&self, name: &str, kind: NameKind, used: impl Fn(SymId) -> bool) -> Result<SymId, UnknownName> {
        self.find_sym(name).filter(|id| used(*id)).ok_or_else(|| {
            // Only on a miss: the names of that kind, for "did you mean".
            let known = (0..self.strings.len() as u32).map(SymId).filter(|id| used(*id));
            let suggestion = canon_types::did_you_mean(name, known.map(|id| self.sym(id))).map(str::to_owned);
            UnknownName { kind, name: name.to_owned(), suggestion }
        })
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
