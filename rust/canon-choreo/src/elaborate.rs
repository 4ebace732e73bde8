//! Elaboration: from the syntax tree to checked [`Protocol`]s.
//!
//! Two phases. First every protocol is checked where it was written (unknown
//! or duplicate roles, self-sends, unbound `continue`, `do` targets and arity,
//! empty choice branches, buffer declarations, duplicate protocol names).
//! Only if the whole file passes is every protocol expanded (see `expand`)
//! into a [`GlobalType`], and checked for unused roles. Finally the entry
//! protocol is chosen.

mod check;
mod expand;

use std::collections::{BTreeMap, BTreeSet};

use canon_bytecode::BufferConfig;
use canon_types::{GlobalType, Protocol, Span};

use crate::ast::{File, ProtocolDecl, TypeDecl};
use crate::diag::{Code, Diagnostic};

pub use expand::count_nodes;

/// The deepest chain of non-recursive `do` calls expanded.
pub const MAX_DO_DEPTH: usize = 32;
/// The most [`GlobalType`] nodes one expanded protocol may have.
pub const MAX_GLOBAL_NODES: usize = 5_000;

/// A checked choreography file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choreography {
    /// The `module` name, if declared.
    pub module: Option<String>,
    /// The imported module names (recorded, not resolved).
    pub imports: Vec<String>,
    /// The payload type declarations.
    pub types: Vec<TypeDecl>,
    /// Every protocol of the file, in source order, each fully expanded.
    pub protocols: Vec<ElaboratedProtocol>,
    /// Index in `protocols` of the entry protocol.
    pub entry: usize,
}

impl Choreography {
    /// The entry protocol.
    pub fn entry(&self) -> &ElaboratedProtocol {
        &self.protocols[self.entry]
    }

    /// The protocol named `name`.
    pub fn get(&self, name: &str) -> Option<&ElaboratedProtocol> {
        self.protocols.iter().find(|p| p.protocol.name == name)
    }
}

/// One protocol after elaboration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ElaboratedProtocol {
    /// Name, roles and the expanded global type (no `do`, no multicast).
    pub protocol: Protocol,
    /// Declared `aux` (not an entry point).
    pub aux: bool,
    /// The protocol's own buffer declarations, in source order.
    pub buffers: Vec<EdgeBufferDecl>,
    /// The span of the declaration.
    pub span: Span,
}

/// A checked `buffer A -> B ...;` declaration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EdgeBufferDecl {
    pub from: String,
    pub to: String,
    pub config: BufferConfig,
    pub span: Span,
}

/// Checks and expands every protocol of `file` and picks the entry protocol:
/// the one named `protocol`, else the single non-`aux` protocol.
pub fn elaborate(file: &File, protocol: Option<&str>) -> Result<Choreography, Vec<Diagnostic>> {
    let mut diags = Vec::new();
    let mut table: BTreeMap<&str, &ProtocolDecl> = BTreeMap::new();
    let mut decls = Vec::new();
    for decl in &file.protocols {
        if table.contains_key(decl.name.name.as_str()) {
            let msg = format!("protocol `{}` is defined twice", decl.name.name);
            diags.push(Diagnostic::new(Code::DuplicateProtocol, decl.name.span, msg));
        } else {
            table.insert(&decl.name.name, decl);
            decls.push(decl);
        }
    }
    for decl in &decls {
        diags.extend(check::check_protocol(&table, decl));
    }
    if !diags.is_empty() {
        return Err(diags);
    }
    let mut protocols = Vec::with_capacity(decls.len());
    for decl in &decls {
        match expand::expand_protocol(&table, decl) {
            Ok(body) => {
                diags.extend(unused_roles(decl, &body));
                protocols.push(elaborated(decl, body));
            }
            Err(d) => diags.push(d),
        }
    }
    if !diags.is_empty() {
        return Err(diags);
    }
    let entry = pick_entry(file, &protocols, protocol).map_err(|d| vec![d])?;
    Ok(Choreography {
        module: file.module.as_ref().map(|m| m.text()),
        imports: file.imports.iter().map(|i| i.name.text()).collect(),
        types: file.types.clone(),
        protocols,
        entry,
    })
}

fn elaborated(decl: &ProtocolDecl, body: GlobalType) -> ElaboratedProtocol {
    let buffers = decl
        .buffers
        .iter()
        .map(|b| EdgeBufferDecl {
            from: b.from.name.clone(),
            to: b.to.name.clone(),
            config: BufferConfig { mode: b.mode, policy: b.policy, capacity: b.capacity },
            span: b.span,
        })
        .collect();
    let roles = decl.roles.iter().map(|r| r.name.clone()).collect();
    let protocol = Protocol { name: decl.name.name.clone(), roles, body };
    ElaboratedProtocol { protocol, aux: decl.aux, buffers, span: decl.span }
}

/// The roles that take part in some interaction of `g`.
pub fn roles_used(g: &GlobalType) -> BTreeSet<&str> {
    let mut used = BTreeSet::new();
    let mut stack = vec![g];
    while let Some(g) = stack.pop() {
        match g {
            GlobalType::End | GlobalType::Continue { .. } => {}
            GlobalType::Message { from, to, cont, .. } => {
                used.insert(from.as_str());
                used.insert(to.as_str());
                stack.push(cont);
            }
            GlobalType::Invoke { role, cont, .. } => {
                used.insert(role.as_str());
                stack.push(cont);
            }
            GlobalType::Choice { at, branches, .. } => {
                used.insert(at.as_str());
                stack.extend(branches.iter());
            }
            GlobalType::Rec { body, .. } => stack.push(body),
        }
    }
    used
}

fn unused_roles(decl: &ProtocolDecl, body: &GlobalType) -> Vec<Diagnostic> {
    let used = roles_used(body);
    let unused = decl.roles.iter().filter(|r| !used.contains(r.name.as_str()));
    unused
        .map(|r| {
            let msg = format!("role `{}` takes part in no interaction of protocol `{}`", r.name, decl.name.name);
            Diagnostic::new(Code::UnusedRole, r.span, msg).with_note("remove the role or give it something to do")
        })
        .collect()
}

fn pick_entry(file: &File, protocols: &[ElaboratedProtocol], wanted: Option<&str>) -> Result<usize, Diagnostic> {
    let names = |aux: bool| -> String {
        let list: Vec<&str> = protocols.iter().filter(|p| aux || !p.aux).map(|p| p.protocol.name.as_str()).collect();
        list.join(", ")
    };
    let at = Span { start: 0, end: 0 };
    if let Some(name) = wanted {
        return protocols.iter().position(|p| p.protocol.name == name).ok_or_else(|| {
            let msg = format!("no protocol named `{name}`");
            let note = if protocols.is_empty() {
                "the file defines no protocol".to_owned()
            } else {
                format!("the file defines {}", names(true))
            };
            let d = Diagnostic::new(Code::NoEntryProtocol, at, msg).with_note(note);
            d.with_suggestion(name, protocols.iter().map(|p| p.protocol.name.as_str()))
        });
    }
    let entries: Vec<usize> = (0..protocols.len()).filter(|&i| !protocols[i].aux).collect();
    match entries.as_slice() {
        [one] => Ok(*one),
        [] if protocols.is_empty() => {
            Err(Diagnostic::new(Code::NoEntryProtocol, file.span, "the file defines no global protocol"))
        }
        [] => Err(Diagnostic::new(Code::NoEntryProtocol, at, "every protocol is `aux`: name the entry protocol")
            .with_note(format!("the file defines {}", names(true)))),
        [_, second, ..] => Err(Diagnostic::new(
            Code::NoEntryProtocol,
            protocols[*second].span,
            "several entry protocols: name the one to use",
        )
        .with_note(format!("the candidates are {}", names(false)))),
    }
}

#[cfg(test)]
mod tests;
