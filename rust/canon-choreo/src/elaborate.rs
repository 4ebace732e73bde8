//! Elaboration: from the syntax tree to checked [`Protocol`]s.
//!
//! Two phases. First every protocol is checked where it was written (unknown
//! or duplicate roles, self-sends, unbound `continue`, `do` targets and arity,
//! empty choice branches, buffer declarations, duplicate protocol names).
//! Only if the whole file passes is every protocol expanded (see `expand`)
//! into a [`GlobalType`], normalised for Scribble's choice enabling
//! ([`canon_types::normalize_choices`]: nested choices at one subject,
//! `rec` and `continue` at a branch head), and checked for unused roles.
//! Finally the entry protocol is chosen.

mod check;
mod expand;

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};

use canon_bytecode::BufferConfig;
use canon_types::{GlobalType, Protocol, Span};

use crate::ast::{Block, File, ProtocolDecl, Stmt, TypeDecl};
use crate::diag::{Code, Diagnostic, Diagnostics};

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
    /// The imported module names, as written.
    pub imports: Vec<String>,
    /// The payload type declarations.
    pub types: Vec<TypeDecl>,
    /// Every protocol of the file, in source order, each fully expanded,
    /// followed by those of the imported modules (named `module.Name`).
    pub protocols: Vec<ElaboratedProtocol>,
    /// Index in `protocols` of the entry protocol.
    pub entry: usize,
    /// The name and text of every file the protocols come from, as
    /// [`ElaboratedProtocol::file`] indexes them: the loaded file first, then
    /// each imported module in load order. Filled by the loaders
    /// ([`crate::load`], [`crate::load_with_imports`], [`crate::load_for_check`]);
    /// empty after [`elaborate()`] of a parsed file alone.
    pub sources: Vec<SourceFile>,
}

/// The name and text of one file a choreography was loaded from, so that a
/// diagnostic pointing into it (an imported module's included) can show its
/// excerpt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFile {
    /// The file name shown in rendered locations.
    pub name: String,
    /// The full text the spans of its protocols point into.
    pub text: String,
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

    /// `items`, whose spans point into file `file` (an
    /// [`ElaboratedProtocol::file`]), with that file's name and text so that
    /// they render with its excerpt. Without the file's text (see
    /// [`Choreography::sources`]) they render without an excerpt.
    pub fn diagnostics_in(&self, file: usize, items: Vec<Diagnostic>) -> Diagnostics {
        match self.sources.get(file) {
            Some(s) => Diagnostics::new(&s.name, &s.text, items),
            None => Diagnostics::new("", "", items),
        }
    }
}

/// One protocol after elaboration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ElaboratedProtocol {
    /// Name, roles and the expanded global type (no `do`, no multicast).
    pub protocol: Protocol,
    /// Declared `aux` (not an entry point).
    pub aux: bool,
    /// Defined in an imported module (never the entry unless named).
    pub imported: bool,
    /// The file it was written in: an index into [`Choreography::sources`]
    /// (0 for the loaded file, so `imported` is `file > 0`).
    pub file: usize,
    /// The protocol's own buffer declarations, in source order.
    pub buffers: Vec<EdgeBufferDecl>,
    /// The span of the declaration.
    pub span: Span,
}

/// A checked `buffer A -> B ...;` declaration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EdgeBufferDecl {
    /// The sending role.
    pub from: String,
    /// The receiving role.
    pub to: String,
    /// The edge's buffer configuration.
    pub config: BufferConfig,
    /// Where it was written.
    pub span: Span,
}

/// Checks and expands every protocol of `file` and picks the entry protocol:
/// the one named `protocol`, else the single non-`aux` protocol. A `do` of a
/// protocol of another module needs [`elaborate_modules`].
pub fn elaborate(file: &File, protocol: Option<&str>) -> Result<Choreography, Vec<Diagnostic>> {
    elaborate_modules(file, &[], protocol).map_err(|(_, d)| d)
}

/// [`elaborate`] for a file and the modules it imports (directly or not),
/// each given with its module name. A `do` may name a protocol by its simple
/// name (same module), `module.Name`, or `alias.Name` (`import m as alias`).
/// Imported protocols are checked and expanded too, and listed after the
/// file's own as `module.Name`. On failure, returns the index of the file
/// the diagnostics point into (0: `file`, `i + 1`: `imports[i]`).
pub fn elaborate_modules(
    file: &File,
    imports: &[(String, &File)],
    protocol: Option<&str>,
) -> Result<Choreography, (usize, Vec<Diagnostic>)> {
    elaborate_impl(file, imports, protocol, true)
}

/// [`elaborate_modules`] without choosing an entry protocol: a file with
/// several entry protocols is accepted (its entry is then the first one),
/// as `canon check` needs. A file with no protocol is still refused.
pub fn elaborate_modules_unchosen(
    file: &File,
    imports: &[(String, &File)],
) -> Result<Choreography, (usize, Vec<Diagnostic>)> {
    elaborate_impl(file, imports, None, false)
}

fn elaborate_impl(
    file: &File,
    imports: &[(String, &File)],
    protocol: Option<&str>,
    need_entry: bool,
) -> Result<Choreography, (usize, Vec<Diagnostic>)> {
    let root_module = file.module.as_ref().map(|m| m.text());
    // Each file with its key prefix: "" for the root file, "m." for module m.
    let mut files: Vec<(String, Option<String>, Cow<'_, File>)> =
        vec![(String::new(), root_module.clone(), Cow::Borrowed(file))];
    for (name, f) in imports {
        if Some(name) != root_module.as_ref() {
            files.push((format!("{name}."), Some(name.clone()), Cow::Borrowed(*f)));
        }
    }
    let prefixes: Vec<(Option<String>, String)> = files.iter().map(|(p, m, _)| (m.clone(), p.clone())).collect();
    for (prefix, module, f) in &mut files {
        // A file whose names stay as written (the root file, without a
        // qualified `do`) is used as it is, not copied.
        if !prefix.is_empty() || f.protocols.iter().any(|d| has_do(&d.body)) {
            resolve_names(f.to_mut(), prefix, module.as_deref(), &prefixes);
        }
    }
    let mut table: BTreeMap<&str, &ProtocolDecl> = BTreeMap::new();
    let mut decls: Vec<(usize, &ProtocolDecl)> = Vec::new();
    let mut by_file: BTreeMap<usize, Vec<Diagnostic>> = BTreeMap::new();
    for (i, (_, _, f)) in files.iter().enumerate() {
        for decl in &f.protocols {
            if table.contains_key(decl.name.name.as_str()) {
                let msg = format!("protocol `{}` is defined twice", decl.name.name);
                by_file.entry(i).or_default().push(Diagnostic::new(Code::DuplicateProtocol, decl.name.span, msg));
            } else {
                table.insert(&decl.name.name, decl);
                decls.push((i, decl));
            }
        }
    }
    let exits = check::protocol_exits(&table);
    for (i, decl) in &decls {
        by_file.entry(*i).or_default().extend(check::check_protocol(&table, &exits, decl));
    }
    if let Some((i, d)) = by_file.into_iter().find(|(_, d)| !d.is_empty()) {
        return Err((i, d));
    }
    let mut protocols = Vec::with_capacity(decls.len());
    let mut by_file: BTreeMap<usize, Vec<Diagnostic>> = BTreeMap::new();
    for (i, decl) in &decls {
        match expand::expand_protocol(&table, decl) {
            Ok(body) => {
                let body = canon_types::normalize_choices(body);
                by_file.entry(*i).or_default().extend(unused_roles(decl, &body));
                protocols.push(elaborated(decl, body, *i));
            }
            Err(d) => by_file.entry(*i).or_default().push(d),
        }
    }
    if let Some((i, d)) = by_file.into_iter().find(|(_, d)| !d.is_empty()) {
        return Err((i, d));
    }
    let entry = match pick_entry(file, &protocols, protocol) {
        Ok(i) => i,
        Err(_) if !need_entry && protocol.is_none() && !protocols.is_empty() => {
            protocols.iter().position(|p| !p.aux && !p.imported).unwrap_or(0)
        }
        Err(d) => return Err((0, vec![d])),
    };
    Ok(Choreography {
        module: root_module,
        imports: file.imports.iter().map(|i| i.name.text()).collect(),
        types: file.types.clone(),
        protocols,
        entry,
        sources: Vec::new(),
    })
}

/// Rewrites the protocol names of `file` (module `module`, key prefix
/// `prefix`) to table keys: declarations get the prefix, and every `do`
/// target is resolved through the module name, the imports and their
/// aliases. A target naming no loaded module is left as written (and
/// reported as undefined by the checks).
fn resolve_names(file: &mut File, prefix: &str, module: Option<&str>, prefixes: &[(Option<String>, String)]) {
    let aliases: Vec<(String, String)> = file
        .imports
        .iter()
        .map(|i| (i.alias.as_ref().map_or_else(|| i.name.text(), |a| a.name.clone()), i.name.text()))
        .collect();
    let key = |written: &str| -> String {
        let Some((qual, last)) = written.rsplit_once('.') else { return format!("{prefix}{written}") };
        if Some(qual) == module {
            return format!("{prefix}{last}");
        }
        let target = aliases.iter().find(|(a, _)| a == qual).map_or(qual, |(_, m)| m.as_str());
        match prefixes.iter().find(|(m, _)| m.as_deref() == Some(target)) {
            Some((_, p)) => format!("{p}{last}"),
            None => written.to_owned(),
        }
    };
    for decl in &mut file.protocols {
        decl.name.name = format!("{prefix}{}", decl.name.name);
        rename_dos(&mut decl.body, &key);
    }
}

/// Whether `block` has a `do` statement (whose name [`rename_dos`] rewrites).
fn has_do(block: &Block) -> bool {
    block.stmts.iter().any(|stmt| match stmt {
        Stmt::Do(_) => true,
        Stmt::Choice(c) => c.branches.iter().any(has_do),
        Stmt::Rec(r) => has_do(&r.body),
        Stmt::Message(m) => m.handlers.iter().any(|h| has_do(&h.body)),
        Stmt::Continue(_) | Stmt::Invoke(_) | Stmt::Disconnect(_) => false,
    })
}

fn rename_dos(block: &mut Block, key: &impl Fn(&str) -> String) {
    for stmt in &mut block.stmts {
        match stmt {
            Stmt::Do(d) => d.protocol.name = key(&d.protocol.name),
            Stmt::Choice(c) => c.branches.iter_mut().for_each(|b| rename_dos(b, key)),
            Stmt::Rec(r) => rename_dos(&mut r.body, key),
            Stmt::Message(m) => m.handlers.iter_mut().for_each(|h| rename_dos(&mut h.body, key)),
            Stmt::Continue(_) | Stmt::Invoke(_) | Stmt::Disconnect(_) => {}
        }
    }
}

fn elaborated(decl: &ProtocolDecl, body: GlobalType, file: usize) -> ElaboratedProtocol {
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
    ElaboratedProtocol { protocol, aux: decl.aux, imported: file > 0, file, buffers, span: decl.span }
}

/// The roles that take part in some interaction of `g`.
pub fn roles_used(g: &GlobalType) -> BTreeSet<&str> {
    let mut used = BTreeSet::new();
    let mut stack = vec![g];
    while let Some(g) = stack.pop() {
        match g {
            GlobalType::End | GlobalType::Continue { .. } => {}
            GlobalType::Message { from, to, cont, on_timeout, .. } => {
                used.insert(from.as_str());
                used.insert(to.as_str());
                stack.push(cont);
                stack.extend(on_timeout.as_deref());
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
        let list: Vec<&str> =
            protocols.iter().filter(|p| (aux || !p.aux) && !p.imported).map(|p| p.protocol.name.as_str()).collect();
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
    let entries: Vec<usize> = (0..protocols.len()).filter(|&i| !protocols[i].aux && !protocols[i].imported).collect();
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
