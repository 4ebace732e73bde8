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

/// Choreography diagnostics (`file:line:column: error[E…]`, source line,
/// caret, notes, help): `main` prints them rendered, without an `error:`
/// prefix, or as JSON lines with `--message-format json`.
#[derive(Debug)]
pub struct Diags(pub canon_choreo::Diagnostics);

impl std::fmt::Display for Diags {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0.render().trim_end())
    }
}

impl std::error::Error for Diags {}

impl Diags {
    /// One JSON object per diagnostic (schema in docs/cli.md).
    pub fn json_lines(&self) -> String {
        let d = &self.0;
        let mut out = String::new();
        for item in &d.items {
            let (line, column) = d.line_col(item.span.start);
            let (end_line, end_column) = d.line_col(item.span.end.max(item.span.start));
            let v = serde_json::json!({
                "file": d.file_name,
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

/// Several files' diagnostics already rendered (`check` of imported
/// protocols): printed as they are.
#[derive(Debug)]
pub struct Rendered(pub String);

impl std::fmt::Display for Rendered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0.trim_end())
    }
}

impl std::error::Error for Rendered {}

/// Compiles a choreography file; the error is the rendered diagnostics.
pub fn compile_file(path: &Path, protocol: Option<&str>) -> Result<VerifiedProgram> {
    let src = read_text(path)?;
    let name = path.display().to_string();
    // Imports are looked up under the file's own module root.
    let paths = canon_choreo::ImportPaths::default();
    let choreo = canon_choreo::load_with_imports(path, &src, protocol, &paths).map_err(Diags)?;
    let projection = canon_choreo::projection_diagnostics(&choreo);
    if !projection.is_empty() {
        return Err(Diags(canon_choreo::Diagnostics::new(&name, &src, projection)).into());
    }
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
