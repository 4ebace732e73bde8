//! `canon compile`, `canon project`, and `canon check` on choreographies.

use std::path::Path;

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

/// Parses and checks the file; the error is the rendered diagnostics.
fn load(path: &Path, protocol: Option<&str>) -> Result<canon_choreo::Choreography> {
    require_choreography(path)?;
    input::load_choreography(path, protocol)
}

pub fn check(path: &Path, json: bool, out: &mut Out) -> Result<u8> {
    let choreo = load(path, None)?;
    let program = input::compile_file(path, None)?;
    let entry = &choreo.entry().protocol;
    let instructions = program.module().procs.iter().map(|p| p.code.len()).sum::<usize>();
    if json {
        let v = serde_json::json!({
            "input": path.display().to_string(),
            "status": "ok",
            "kind": "choreography",
            "protocol": entry.name,
            "roles": entry.roles,
            "protocols": choreo.protocols.len(),
            "instructions": instructions,
            "digest": canon_types::hex(&program.digest()),
        });
        writeln!(out, "{v}")?;
        return Ok(exit::OK);
    }
    writeln!(
        out,
        "{}: ok: protocol {} with {} roles ({}), {} protocols in file, compiles to {} instructions",
        path.display(),
        entry.name,
        entry.roles.len(),
        entry.roles.join(", "),
        choreo.protocols.len(),
        instructions
    )?;
    Ok(exit::OK)
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
    eprintln!("wrote {} ({} bytes)", out.display(), bytes.len());
    Ok(exit::OK)
}

pub fn project(path: &Path, role: Option<&str>, format: Format, protocol: Option<&str>, out: &mut Out) -> Result<u8> {
    let choreo = load(path, protocol)?;
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
