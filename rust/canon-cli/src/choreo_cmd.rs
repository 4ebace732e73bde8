//! `canon compile`, `canon project`, and `canon check` on choreographies.

use std::path::{Path, PathBuf};

use anyhow::{Result, anyhow};
use canon_types::project::project_all;
use clap::ValueEnum;

use crate::out::Out;
use crate::{exit, files, input};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Emit {
    /// Binary bytecode.
    Cbc,
    /// Text assembly.
    Casm,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Scribble-style local protocols.
    Text,
    /// Graphviz: one state machine per role.
    Dot,
    /// JSON: role → local type.
    Json,
}

/// Refuses a file that is not a choreography, before trying to parse it as one.
fn require_choreography(path: &Path) -> Result<()> {
    if input::kind_of(path)? != input::Kind::Choreography {
        return Err(anyhow!("{}: not a choreography; expected a .canon, .scr or .nuscr file", path.display()));
    }
    Ok(())
}

/// Parses and checks the file and the modules it imports; the error is the
/// rendered diagnostics.
fn load(path: &Path, protocol: Option<&str>, import_path: &[PathBuf]) -> Result<canon_choreo::Choreography> {
    require_choreography(path)?;
    let src = input::read_text(path)?;
    let paths = canon_choreo::ImportPaths::new(import_path.to_vec());
    let choreo = canon_choreo::load_with_imports(path, &src, protocol, &paths).map_err(input::Diags)?;
    input::projection_failures(&choreo)?;
    Ok(choreo)
}

/// Checks every protocol of the file and of the modules it imports (or only
/// `protocol`), one line per protocol (or one JSON object with `json`); the
/// failures' diagnostics follow.
pub fn check_with(
    path: &Path,
    protocol: Option<&str>,
    import_path: &[PathBuf],
    json: bool,
    out: &mut Out,
) -> Result<u8> {
    require_choreography(path)?;
    let src = input::read_text(path)?;
    let name = path.display().to_string();
    let paths = canon_choreo::ImportPaths::new(import_path.to_vec());
    let choreo = canon_choreo::load_for_check(path, &src, protocol, &paths).map_err(input::Diags)?;
    // Failures by the file they point into (0: the checked file).
    let mut failed: std::collections::BTreeMap<usize, Vec<canon_choreo::Diagnostic>> = Default::default();
    let mut listed = Vec::new();
    for (i, report) in canon_choreo::check_protocols(&choreo).into_iter().enumerate() {
        if protocol.is_some() && i != choreo.entry {
            continue;
        }
        let (what, roles) = (if report.aux { "aux protocol" } else { "protocol" }, report.roles.join(", "));
        let n = report.roles.len();
        listed.push(serde_json::json!({
            "name": report.name,
            "aux": report.aux,
            "imported": report.imported,
            "roles": report.roles,
            "ok": report.outcome.is_ok(),
            "instructions": report.outcome.as_ref().ok().filter(|_| !report.aux),
        }));
        match report.outcome {
            Ok(_) if json => {}
            Ok(_) if report.aux => {
                writeln!(out, "{name}: ok: {what} {} with {n} roles ({roles}), checked where it is used", report.name)?
            }
            Ok(instrs) => writeln!(
                out,
                "{name}: ok: {what} {} with {n} roles ({roles}), compiles to {instrs} instructions",
                report.name
            )?,
            Err(d) if report.imported => failed
                .entry(report.file)
                .or_default()
                .push(d.with_note(format!("in imported protocol `{}`, imported by {name}", report.name))),
            Err(d) => failed.entry(report.file).or_default().push(d),
        }
    }
    if json {
        let v = serde_json::json!({
            "input": name,
            "status": if failed.is_empty() { "ok" } else { "failed" },
            "kind": "choreography",
            "protocols": listed,
        });
        writeln!(out, "{v}")?;
    }
    if failed.is_empty() {
        return Ok(exit::OK);
    }
    // Each file's failures with its own excerpt: the checked file's, then the modules'.
    Err(input::DiagsByFile(failed.into_iter().map(|(file, items)| choreo.diagnostics_in(file, items)).collect()).into())
}

pub fn compile(path: &Path, output: Option<&Path>, emit: Emit, protocol: Option<&str>) -> Result<u8> {
    require_choreography(path)?;
    let program = input::compile_file(path, protocol)?;
    let (bytes, ext) = match emit {
        Emit::Cbc => (canon_bytecode::encode(program.module()), "cbc"),
        Emit::Casm => (canon_bytecode::disassemble(program.module()).into_bytes(), "casm"),
    };
    let out = output.map(Path::to_path_buf).unwrap_or_else(|| path.with_extension(ext));
    files::write_atomic(&out, &bytes)?;
    crate::out::stderrln!("wrote {} ({} bytes)", out.display(), bytes.len());
    Ok(exit::OK)
}

pub fn project(
    path: &Path,
    role: Option<&str>,
    format: Format,
    protocol: Option<&str>,
    import_path: &[PathBuf],
    out: &mut Out,
) -> Result<u8> {
    let choreo = load(path, protocol, import_path)?;
    let p = &choreo.entry().protocol;
    let mut all = project_all(p).map_err(|e| anyhow!("{}: {e}", path.display()))?;
    if let Some(r) = role {
        all.retain(|(name, _)| name == r);
        if all.is_empty() {
            return Err(anyhow!(
                "{}: protocol {} has no role `{r}` (roles: {})",
                path.display(),
                p.name,
                p.roles.join(", ")
            ));
        }
    }
    match format {
        Format::Text => {
            for (r, ty) in &all {
                writeln!(out, "{}", canon_types::pretty::pretty_local(&p.name, r, ty))?;
            }
        }
        Format::Dot => out.text(&canon_types::dot::dot_all(&p.name, &all))?,
        Format::Json => writeln!(out, "{}", canon_types::pretty::projections_json(&all)?)?,
    }
    Ok(exit::OK)
}
