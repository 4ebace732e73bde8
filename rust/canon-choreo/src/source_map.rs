//! Source maps: compiling a choreography with a debug section that names, for
//! every instruction, the `file:line:col` and the text of the protocol
//! statement it came from (`bytecode-spec/format.md`, section 6).
//!
//! Spans are byte offsets into one source text, so a source map is written
//! only for a choreography whose statements all come from that text: one
//! that imports no module ([`compile_choreography_mapped`] returns the module
//! without a debug section otherwise). A source map never changes the
//! program: the verifier ignores it and the program digest leaves it out.

use std::collections::BTreeMap;

use canon_bytecode::{DebugInfo, Module, NO_SPAN, SourceSpan};
use canon_types::{LocalAction, Span, project_all_actions};

use crate::compile::{CompileError, compile_projections, compile_projections_mapped, projection_diagnostic};
use crate::diag::Diagnostic;
use crate::elaborate::{Choreography, ElaboratedProtocol};

/// Compiles the entry protocol of `choreo` (parsed from `src`, the text of
/// `file_name`) as [`crate::compile_choreography`] does, with a source map
/// when the choreography imports no module.
pub fn compile_choreography_mapped(choreo: &Choreography, file_name: &str, src: &str) -> Result<Module, CompileError> {
    let entry = choreo.entry();
    if !choreo.imports.is_empty() || entry.imported {
        return crate::compile_choreography(choreo);
    }
    compile_elaborated_mapped(entry, file_name, src)
}

/// [`crate::projection_diagnostics`] of `choreo`, then, when there are none,
/// [`compile_choreography_mapped`]: the same outcome, but each protocol is
/// projected once (the entry's projections checked are the ones compiled).
/// `Err` holds the projection failures; `Ok` the compilation's outcome.
pub fn check_and_compile_mapped(
    choreo: &Choreography,
    file_name: &str,
    src: &str,
) -> Result<Result<Module, CompileError>, Vec<Diagnostic>> {
    let mut failures = Vec::new();
    let mut entry_roles = None;
    for (i, p) in choreo.protocols.iter().enumerate().filter(|(_, p)| !p.aux) {
        match project_all_actions(&p.protocol) {
            Ok(roles) if i == choreo.entry => entry_roles = Some(roles),
            Ok(_) => {}
            Err(e) => failures.push(projection_diagnostic(p, &e)),
        }
    }
    if !failures.is_empty() {
        return Err(failures);
    }
    let entry = choreo.entry();
    // An `aux` entry is not checked above: compiling it projects it.
    let roles = match entry_roles.map_or_else(|| project_all_actions(&entry.protocol), Ok) {
        Ok(roles) => roles,
        Err(e) => return Ok(Err(e.into())),
    };
    Ok(if !choreo.imports.is_empty() || entry.imported {
        compile_projections(&entry.protocol, &roles, &entry.buffers)
    } else {
        compile_projected_mapped(entry, &roles, file_name, src)
    })
}

/// Compiles one elaborated protocol whose spans point into `src` (the text of
/// `file_name`), with a source map.
pub fn compile_elaborated_mapped(
    protocol: &ElaboratedProtocol,
    file_name: &str,
    src: &str,
) -> Result<Module, CompileError> {
    let roles = project_all_actions(&protocol.protocol)?;
    compile_projected_mapped(protocol, &roles, file_name, src)
}

/// [`compile_elaborated_mapped`] of `protocol` already projected (`roles`).
fn compile_projected_mapped(
    protocol: &ElaboratedProtocol,
    roles: &[(String, LocalAction)],
    file_name: &str,
    src: &str,
) -> Result<Module, CompileError> {
    let (mut module, spans) = compile_projections_mapped(&protocol.protocol, roles, &protocol.buffers, protocol.span)?;
    module.debug = Some(debug_info(file_name, src, &spans));
    Ok(module)
}

/// The debug section for per-instruction `spans` into `src`: each distinct
/// span once, in order of first use; a span that is empty or does not lie on
/// character boundaries of `src` maps to [`NO_SPAN`].
pub fn debug_info(file_name: &str, src: &str, spans: &[Vec<Span>]) -> DebugInfo {
    let lines = LineIndex::new(src);
    let mut index = BTreeMap::<Span, u32>::new();
    let mut table = Vec::new();
    let procs = spans
        .iter()
        .map(|code| {
            code.iter()
                .map(|span| {
                    if let Some(i) = index.get(span) {
                        return *i;
                    }
                    let i = match src.get(span.start as usize..span.end as usize) {
                        Some(text) if span.start < span.end => {
                            let (line, col) = lines.line_col(src, span.start as usize);
                            table.push(SourceSpan::new(0, line, col, text));
                            table.len() as u32 - 1
                        }
                        _ => NO_SPAN,
                    };
                    index.insert(*span, i);
                    i
                })
                .collect()
        })
        .collect();
    DebugInfo { files: vec![file_name.to_owned()], spans: table, procs }
}

/// Byte offsets of line starts, to find a line by binary search.
struct LineIndex(Vec<usize>);

impl LineIndex {
    fn new(src: &str) -> LineIndex {
        LineIndex(std::iter::once(0).chain(src.match_indices('\n').map(|(i, _)| i + 1)).collect())
    }

    /// The 1-based line and column (in characters) of byte offset `at`, which
    /// lies on a character boundary of `src`.
    fn line_col(&self, src: &str, at: usize) -> (u32, u32) {
        let line = self.0.partition_point(|&start| start <= at);
        let start = self.0[line - 1];
        let col = src[start..at].chars().count() + 1;
        (u32::try_from(line).unwrap_or(u32::MAX), u32::try_from(col).unwrap_or(u32::MAX))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_and_columns_count_from_one_in_characters() {
        let src = "ab\néé x\n\nz";
        let lines = LineIndex::new(src);
        assert_eq!(lines.line_col(src, 0), (1, 1));
        assert_eq!(lines.line_col(src, 1), (1, 2));
        assert_eq!(lines.line_col(src, 3), (2, 1));
        assert_eq!(lines.line_col(src, src.find('x').unwrap()), (2, 4));
        assert_eq!(lines.line_col(src, src.find('z').unwrap()), (4, 1));
    }

    #[test]
    fn spans_outside_the_text_or_empty_have_no_position() {
        let src = "é";
        let spans = vec![vec![
            Span { start: 0, end: 2 },
            Span { start: 1, end: 2 },
            Span { start: 0, end: 9 },
            Span::default(),
        ]];
        let d = debug_info("f", src, &spans);
        assert_eq!(d.procs, vec![vec![0, NO_SPAN, NO_SPAN, NO_SPAN]]);
        assert_eq!(d.spans, vec![SourceSpan::new(0, 1, 1, "é")]);
    }
}
