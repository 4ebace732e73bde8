//! canon-choreo: the choreography language.
//!
//! A Scribble-compatible global-protocol language (with nuscr's differences and
//! the canon extensions `within`, `invoke` and `buffer`; see
//! `docs/language.md`). The pipeline is
//!
//! ```text
//! source ──lex/parse──▶ ast::File ──elaborate──▶ Choreography (GlobalType per protocol)
//! ```
//!
//! Every error is a [`Diagnostic`] with a stable code (6001..=6099, see
//! [`CHOREO_CODES`]) and a byte span; [`Diagnostics`] renders them rustc-style
//! (through `annotate-snippets`) with `file:line:column`. Bad input never panics.
//!
//! ```
//! let src = "global protocol P(role A, role B) { Ping(Int) from A to B; }";
//! let choreo = canon_choreo::load("p.canon", src, None).unwrap();
//! assert_eq!(choreo.entry().protocol.name, "P");
//! ```
#![deny(missing_docs)]

pub mod ast;
pub mod compile;
pub mod diag;
pub mod elaborate;
pub mod lexer;
pub mod lower;
pub mod modules;
pub mod parser;
pub mod source_map;

pub use compile::{
    COMPILE_CODES, CompileError, compile_choreography, compile_elaborated, compile_protocol, projection_diagnostics,
    projection_failures,
};
pub use diag::{CHOREO_CODES, Code, Diagnostic, Diagnostics, Label, did_you_mean, render_without_source};
pub use elaborate::{
    Choreography, EdgeBufferDecl, ElaboratedProtocol, SourceFile, elaborate, elaborate_modules,
    elaborate_modules_unchosen,
};
pub use modules::{ImportPaths, load_for_check, load_with_imports};
pub use parser::parse;
pub use source_map::{check_and_compile_mapped, compile_choreography_mapped, compile_elaborated_mapped};

/// Parses and elaborates `src`, choosing the entry protocol as
/// [`elaborate()`] does.
pub fn load(file_name: &str, src: &str, protocol: Option<&str>) -> Result<Choreography, Diagnostics> {
    let file = parse(file_name, src)?;
    let mut choreo = elaborate(&file, protocol).map_err(|items| Diagnostics::new(file_name, src, items))?;
    choreo.sources = vec![SourceFile { name: file_name.to_owned(), text: src.to_owned() }];
    Ok(choreo)
}

/// What checking one protocol of a choreography found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtocolReport {
    /// The protocol's name (`module.Name` for an imported one).
    pub name: String,
    /// Declared roles, in order.
    pub roles: Vec<String>,
    /// Declared `aux` (checked only through the protocols that `do` it).
    pub aux: bool,
    /// Defined in an imported module.
    pub imported: bool,
    /// The file it was written in (an index into [`Choreography::sources`]):
    /// render a failure with [`Choreography::diagnostics_in`].
    pub file: usize,
    /// The instruction count of its compiled module, or why it failed
    /// (projection or compilation error, with its code).
    pub outcome: Result<usize, Diagnostic>,
}

/// Projects and compiles every protocol of `choreo` (not only the entry),
/// in order: what `canon check` reports. `aux` protocols are not checked on
/// their own (their roles may be unbound outside a `do`); their outcome is
/// `Ok(0)`.
pub fn check_protocols(choreo: &Choreography) -> Vec<ProtocolReport> {
    use canon_types::ErrorCode;
    choreo
        .protocols
        .iter()
        .map(|p| {
            let outcome = if p.aux {
                Ok(0)
            } else {
                compile_elaborated(p).map(|m| m.procs.iter().map(|pr| pr.code.len()).sum()).map_err(|e| {
                    let span = match &e {
                        CompileError::Projection(pe) if pe.span() != canon_types::Span::default() => pe.span(),
                        CompileError::UnknownBufferRole { span, .. } => *span,
                        _ => p.span,
                    };
                    let mut d = Diagnostic::with_code(e.code(), span, e.to_string());
                    d.notes = vec![format!("while projecting protocol `{}`", p.protocol.name)];
                    d
                })
            };
            ProtocolReport {
                name: p.protocol.name.clone(),
                roles: p.protocol.roles.clone(),
                aux: p.aux,
                imported: p.imported,
                file: p.file,
                outcome,
            }
        })
        .collect()
}

/// Every check the toolchain makes on a choreography source, with the
/// diagnostics rendered. This is the single entry point of the ill-formed
/// fixture tests (`fixtures/choreo/ill_formed/*.canon` and their `.diag.snap`
/// snapshots); later checks (projection, well-formedness) are added here.
pub fn check_source(file_name: &str, src: &str) -> Result<Choreography, String> {
    let choreo = load(file_name, src, None).map_err(|d| d.render())?;
    let projection = projection_diagnostics(&choreo);
    if !projection.is_empty() {
        return Err(Diagnostics::new(file_name, src, projection).render());
    }
    Ok(choreo)
}
