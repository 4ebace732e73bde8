//! Compiling a checked protocol to a bytecode [`Module`].
//!
//! The module has one entry procedure `main` and one procedure per role,
//! `role_<Role>`, in declaration order:
//!
//! ```text
//! main:            open [R1, .., Rn] types [t1, .., tn] handlers [default, ..] -> r0, .., r(n-1)
//!                  spawn role_R1(r0) ; .. ; spawn role_Rn(r(n-1)) ; halt
//! role_Ri(r0: ep ti): the role's projection, lowered by [`crate::lower`]
//! ```
//!
//! `ti` is role `Ri`'s local type (its projection, erased) stored in the
//! module's type table. The annotated projection ([`canon_types::LocalAction`])
//! drives the code, so `invoke` steps and receive deadlines are kept.

use canon_bytecode::{EdgeBuffer, Instr, Module, Param, Proc, Reg};
use canon_types::{
    ErrorCode, GraphError, LocalAction, ProjectionError, Protocol, Span, SymId, TypeId, project_all_actions,
};

use crate::diag::{Diagnostic, Diagnostics};
use crate::elaborate::{Choreography, EdgeBufferDecl, ElaboratedProtocol};

use crate::lower;

/// The handler binding every role is opened with.
pub const DEFAULT_HANDLER: &str = "default";
/// The name of the entry procedure.
pub const ENTRY_PROC: &str = "main";

/// Why a protocol could not be compiled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CompileError {
    /// The protocol is not well formed or a role's projection fails.
    #[error(transparent)]
    Projection(#[from] ProjectionError),
    /// A projected local type does not fit the type table.
    #[error("role `{role}`: its local type cannot be stored in the type table: {source}")]
    LocalType {
        /// The role whose projection failed.
        role: String,
        /// Why the type table refused it.
        #[source]
        source: GraphError,
    },
    /// A buffer configuration names an undeclared role.
    #[error("buffer {from} -> {to}: `{role}` is not a role of protocol `{protocol}`")]
    UnknownBufferRole {
        /// The buffer edge's sending role.
        from: String,
        /// The buffer edge's receiving role.
        to: String,
        /// The name that is not a role.
        role: String,
        /// The protocol's name.
        protocol: String,
        /// Where the buffer was declared.
        span: Span,
    },
    /// More roles than one open can hold.
    #[error("protocol `{protocol}` has {roles} roles, more than the {max} one open can hold")]
    TooManyRoles {
        /// The protocol's name.
        protocol: String,
        /// How many roles the protocol declares.
        roles: usize,
        /// The most roles one `open` can hold.
        max: usize,
    },
    /// A projected jump names no enclosing loop.
    #[error("role `{role}`: `{var}` jumps back to no enclosing loop")]
    UnboundLoop {
        /// The role whose projection failed.
        role: String,
        /// The loop variable.
        var: String,
    },
}

canon_types::error_codes! {
    /// The compiler's own codes (projection errors keep their 61xx codes).
    pub COMPILE_CODES for CompileError {
        LocalType = 6150: "a projected local type does not fit the type table",
        UnknownBufferRole = 6151: "a buffer configuration names an undeclared role",
        TooManyRoles = 6152: "more roles than one open can hold",
        UnboundLoop = 6153: "a projected jump names no enclosing loop",
    }
    delegate { Projection }
}

/// A module's string table under construction: interns each string once.
#[derive(Debug, Default)]
pub struct Strings(Vec<String>);

impl Strings {
    /// The id of `s`, adding it if new.
    pub fn intern(&mut self, s: &str) -> SymId {
        match self.0.iter().position(|t| t == s) {
            Some(i) => SymId(i as u32),
            None => {
                self.0.push(s.to_owned());
                SymId(self.0.len() as u32 - 1)
            }
        }
    }
}

/// Compiles the entry protocol of `choreo` with its buffer declarations.
pub fn compile_choreography(choreo: &Choreography) -> Result<Module, CompileError> {
    compile_elaborated(choreo.entry())
}

/// Compiles one elaborated protocol with its buffer declarations.
pub fn compile_elaborated(protocol: &ElaboratedProtocol) -> Result<Module, CompileError> {
    compile_protocol(&protocol.protocol, &protocol.buffers)
}

/// Projects every role of every non-`aux` protocol of `choreo` and returns the
/// failures as diagnostics (code 61xx, at the offending node; at the protocol
/// declaration for errors that have no node, such as an unused role).
///
/// The spans of an imported protocol's diagnostic point into its own module:
/// render them with [`projection_failures`] (or
/// [`Choreography::diagnostics_in`] with [`ElaboratedProtocol::file`]).
pub fn projection_diagnostics(choreo: &Choreography) -> Vec<Diagnostic> {
    choreo.protocols.iter().filter(|p| !p.aux).filter_map(projection_failure).collect()
}

/// Why `p` does not project, as a diagnostic; `None` when every role projects.
fn projection_failure(p: &ElaboratedProtocol) -> Option<Diagnostic> {
    project_all_actions(&p.protocol).err().map(|e| projection_diagnostic(p, &e))
}

/// `e`, the reason `p` does not project, as a diagnostic.
pub(crate) fn projection_diagnostic(p: &ElaboratedProtocol, e: &ProjectionError) -> Diagnostic {
    let span = if e.span() == Span::default() { p.span } else { e.span() };
    let mut d = Diagnostic::with_code(e.code(), span, e.to_string());
    d.notes = vec![format!("while projecting protocol `{}`", p.protocol.name)];
    d
}

/// [`projection_diagnostics`] grouped by the file each failed protocol was
/// written in (the loaded file first, then the imported modules), each group
/// with that file's name and text, so that a failure inside an imported
/// module shows the module's path, line and excerpt. Empty when every
/// protocol projects.
pub fn projection_failures(choreo: &Choreography) -> Vec<Diagnostics> {
    let mut by_file: std::collections::BTreeMap<usize, Vec<Diagnostic>> = std::collections::BTreeMap::new();
    let failed = choreo.protocols.iter().filter(|p| !p.aux).filter_map(|p| Some((p.file, projection_failure(p)?)));
    for (file, d) in failed {
        by_file.entry(file).or_default().push(d);
    }
    by_file.into_iter().map(|(file, items)| choreo.diagnostics_in(file, items)).collect()
}

/// Checks and projects `protocol`, then compiles it (see the module docs).
/// `buffers` override the default buffer of some directed edges.
pub fn compile_protocol(protocol: &Protocol, buffers: &[EdgeBufferDecl]) -> Result<Module, CompileError> {
    let roles = project_all_actions(protocol)?;
    compile_projections(protocol, &roles, buffers)
}

/// Compiles already-projected roles (`roles`: every declared role with its
/// annotated projection, in declaration order).
pub fn compile_projections(
    protocol: &Protocol,
    roles: &[(String, LocalAction)],
    buffers: &[EdgeBufferDecl],
) -> Result<Module, CompileError> {
    compile_projections_mapped(protocol, roles, buffers, Span::default()).map(|(module, _)| module)
}

/// [`compile_projections`], also returning, per procedure and instruction,
/// the span of the statement it came from (what [`crate::source_map`] turns
/// into the module's debug section). `decl` is the protocol declaration's
/// span, given to `main` and to what precedes a role's first statement.
pub fn compile_projections_mapped(
    protocol: &Protocol,
    roles: &[(String, LocalAction)],
    buffers: &[EdgeBufferDecl],
    decl: Span,
) -> Result<(Module, Vec<Vec<Span>>), CompileError> {
    if roles.len() > usize::from(Reg::MAX) {
        return Err(CompileError::TooManyRoles {
            protocol: protocol.name.clone(),
            roles: roles.len(),
            max: usize::from(Reg::MAX),
        });
    }
    let mut strings = Strings::default();
    let mut module = Module::default();
    let main_name = strings.intern(ENTRY_PROC);
    let mut role_syms = Vec::with_capacity(roles.len());
    let mut roots = Vec::with_capacity(roles.len());
    for (role, action) in roles {
        role_syms.push(strings.intern(role));
        let root = module
            .types
            .lower(&action.erase(), &mut |s| strings.intern(s))
            .map_err(|source| CompileError::LocalType { role: role.clone(), source })?;
        roots.push(root);
    }
    let edges = edge_buffers(protocol, roles, buffers)?;
    let open = open_instr(&mut strings, &role_syms, &roots, edges);
    module.procs.push(entry_proc(main_name, open, roles.len()));
    let mut spans = vec![vec![decl; module.procs[0].code.len()]];
    for ((role, action), root) in roles.iter().zip(&roots) {
        let name = strings.intern(&format!("role_{role}"));
        let (code, code_spans) = lower::lower_role_mapped(role, action, &mut strings, decl)?;
        module.procs.push(Proc {
            name,
            params: vec![Param::Endpoint(*root)],
            reg_count: lower::reg_count(&code),
            code,
        });
        spans.push(code_spans);
    }
    module.strings = strings.0;
    module.entry = 0;
    Ok((module, spans))
}

fn open_instr(strings: &mut Strings, roles: &[SymId], types: &[TypeId], buffers: Vec<EdgeBuffer>) -> Instr {
    let handler = strings.intern(DEFAULT_HANDLER);
    Instr::Open {
        roles: roles.to_vec(),
        types: types.to_vec(),
        handlers: vec![handler; roles.len()],
        dsts: (0..roles.len() as Reg).collect(),
        buffers,
    }
}

/// `main`: the `open`, one `spawn` per role (procedure `i + 1` takes the
/// endpoint in register `i`), `halt`.
fn entry_proc(name: SymId, open: Instr, role_count: usize) -> Proc {
    let mut code = Vec::with_capacity(role_count + 2);
    code.push(open);
    for i in 0..role_count {
        code.push(Instr::Spawn { proc: i as u32 + 1, args: vec![i as Reg] });
    }
    code.push(Instr::Halt);
    Proc { name, params: Vec::new(), reg_count: role_count.max(1) as u16, code }
}

fn edge_buffers(
    protocol: &Protocol,
    roles: &[(String, LocalAction)],
    buffers: &[EdgeBufferDecl],
) -> Result<Vec<EdgeBuffer>, CompileError> {
    let index = |spec: &EdgeBufferDecl, role: &str| {
        roles.iter().position(|(r, _)| r == role).map(|i| i as u16).ok_or_else(|| CompileError::UnknownBufferRole {
            from: spec.from.clone(),
            to: spec.to.clone(),
            role: role.to_owned(),
            protocol: protocol.name.clone(),
            span: spec.span,
        })
    };
    buffers
        .iter()
        .map(|spec| Ok(EdgeBuffer { from: index(spec, &spec.from)?, to: index(spec, &spec.to)?, config: spec.config }))
        .collect()
}
