//! Reading programs from files, by extension, with errors that name the file
//! and the place in it.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use canon_bytecode::{Module, VerifiedProgram};

/// What a file holds, from its extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Bytecode,
    Assembly,
    Choreography,
}

pub fn kind_of(path: &Path) -> Result<Kind> {
    match path.extension().and_then(|e| e.to_str()) {
        Some("cbc") => Ok(Kind::Bytecode),
        Some("casm") => Ok(Kind::Assembly),
        Some("canon" | "scr" | "nuscr") => Ok(Kind::Choreography),
        _ => bail!(
            "{}: unknown file kind; expected .cbc (bytecode), .casm (assembly) or .canon/.scr/.nuscr (choreography)",
            path.display()
        ),
    }
}

pub fn read_text(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}

pub fn read_bytes(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}

/// Decodes a `.cbc` file; the error names the byte offset.
pub fn decode_file(path: &Path) -> Result<Module> {
    let bytes = read_bytes(path)?;
    canon_bytecode::decode(&bytes).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

/// Assembles a `.casm` file; the error names line and column.
pub fn assemble_file(path: &Path) -> Result<Module> {
    let src = read_text(path)?;
    canon_bytecode::assemble(&src).map_err(|e| anyhow::anyhow!("{}:{e}", path.display()))
}

/// The unverified module of a bytecode or assembly file.
pub fn module_file(path: &Path) -> Result<Module> {
    match kind_of(path)? {
        Kind::Bytecode => decode_file(path),
        Kind::Assembly => assemble_file(path),
        Kind::Choreography => Ok(compile_file(path, None)?.module().clone()),
    }
}

/// Verifies a module; the error names procedure and instruction.
pub fn verify(path: &Path, module: Module) -> Result<VerifiedProgram> {
    canon_bytecode::verify(module).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

/// Choreography diagnostics (`error[E…]`, `--> file:line:column`, the
/// source line with a caret and label, notes, help): `main` prints them
/// rendered, without an `error:` prefix (coloured on a terminal), or as JSON
/// lines with `--message-format json`.
#[derive(Debug)]
pub struct Diags(pub canon_choreo::Diagnostics);

impl std::fmt::Display for Diags {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.render(false))
    }
}

impl std::error::Error for Diags {}

impl Diags {
    /// The rendered diagnostics, with ANSI colours when `color` is set.
    pub fn render(&self, color: bool) -> String {
        self.0.render_styled(color).trim_end().to_owned()
    }

    /// One JSON object per diagnostic (schema in docs/cli.md).
    pub fn json_lines(&self) -> String {
        let d = &self.0;
        let mut out = String::new();
        for item in &d.items {
            // Without a file (no source at hand), no position either.
            let at = |offset: u32| Some(d.line_col(offset)).filter(|_| !d.file_name.is_empty());
            let ((line, column), (end_line, end_column)) =
                (at(item.span.start).unzip(), at(item.span.end.max(item.span.start)).unzip());
            let v = serde_json::json!({
                "file": Some(&d.file_name).filter(|f| !f.is_empty()),
                "line": line,
                "column": column,
                "end_line": end_line,
                "end_column": end_column,
                "code": format!("E{}", item.code),
                "message": item.message,
                "notes": item.notes,
                "help": item.help,
                "rendered": canon_choreo::Diagnostics::new(&d.file_name, &d.source_text, vec![item.clone()]).render(),
            });
            out.push_str(&v.to_string());
            out.push('\n');
        }
        out
    }
}

/// Choreography diagnostics in one or more files: the loaded file's first,
/// then those of the modules it imports, each group rendered with its own
/// file's path and excerpt (a protocol of an imported module fails with the
/// module's lines).
#[derive(Debug)]
pub struct DiagsByFile(pub Vec<canon_choreo::Diagnostics>);

impl std::fmt::Display for DiagsByFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.render(false))
    }
}

impl std::error::Error for DiagsByFile {}

impl DiagsByFile {
    /// Every group rendered, with ANSI colours when `color` is set.
    pub fn render(&self, color: bool) -> String {
        let parts: Vec<String> = self.0.iter().map(|d| d.render_styled(color)).collect();
        parts.join("\n").trim_end().to_owned()
    }

    /// One JSON object per diagnostic, as [`Diags::json_lines`], each naming
    /// the file it points into.
    pub fn json_lines(&self) -> String {
        self.0.iter().map(|d| Diags(d.clone()).json_lines()).collect()
    }
}

/// The projection failures of `choreo` as an error, if any.
pub fn projection_failures(choreo: &canon_choreo::Choreography) -> Result<()> {
    let failures = canon_choreo::projection_failures(choreo);
    if failures.is_empty() { Ok(()) } else { Err(DiagsByFile(failures).into()) }
}

/// Compiles a choreography file; the error is the rendered diagnostics.
pub fn compile_file(path: &Path, protocol: Option<&str>) -> Result<VerifiedProgram> {
    let src = read_text(path)?;
    let name = path.display().to_string();
    // Imports are looked up under the file's own module root.
    let paths = canon_choreo::ImportPaths::default();
    let choreo = canon_choreo::load_with_imports(path, &src, protocol, &paths).map_err(Diags)?;
    projection_failures(&choreo)?;
    // With a source map (debug section): faults name the `.canon` line.
    let module =
        canon_choreo::compile_choreography_mapped(&choreo, &name, &src).map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
    verify(path, module)
}

/// Any program file, decoded/assembled/compiled and verified.
pub fn program_file(path: &Path, protocol: Option<&str>) -> Result<Arc<VerifiedProgram>> {
    let program = match kind_of(path)? {
        Kind::Choreography => compile_file(path, protocol)?,
        _ => verify(path, module_file(path)?)?,
    };
    Ok(Arc::new(program))
}
