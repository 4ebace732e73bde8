//! `canon asm`, `canon disasm`, `canon check`.

use std::path::Path;

use anyhow::Result;
use canon_types::hex;

use crate::input::{self, Kind};
use crate::out::Out;
use crate::{exit, files};

pub fn asm(input: &Path, output: Option<&Path>) -> Result<u8> {
    let module = input::assemble_file(input)?;
    let bytes = canon_bytecode::encode(&module);
    let out = output.map(Path::to_path_buf).unwrap_or_else(|| input.with_extension("cbc"));
    files::write_atomic(&out, &bytes)?;
    crate::out::stderrln!("wrote {} ({} bytes)", out.display(), bytes.len());
    Ok(exit::OK)
}

pub fn disasm(input: &Path, out: &mut Out) -> Result<u8> {
    let module = input::decode_file(input)?;
    out.text(&canon_bytecode::disassemble(&module))?;
    Ok(exit::OK)
}

pub fn check(input: &Path, json: bool, out: &mut Out) -> Result<u8> {
    if input::kind_of(input)? == Kind::Choreography {
        return crate::choreo_cmd::check_with(input, None, &[], json, out);
    }
    let module = input::module_file(input)?;
    let program = input::verify(input, module)?;
    let m = program.module();
    let instrs: usize = m.procs.iter().map(|p| p.code.len()).sum();
    if json {
        let v = serde_json::json!({
            "input": input.display().to_string(),
            "status": "ok",
            "kind": "bytecode",
            "procedures": m.procs.len(),
            "instructions": instrs,
            "local_types": m.types.nodes.len(),
            "strings": m.strings.len(),
            "digest": hex(&program.digest()),
        });
        writeln!(out, "{v}")?;
        return Ok(exit::OK);
    }
    writeln!(
        out,
        "{}: ok: {} procedures, {} instructions, {} local types, {} strings, digest {}",
        input.display(),
        m.procs.len(),
        instrs,
        m.types.nodes.len(),
        m.strings.len(),
        hex(&program.digest()[..8]),
    )?;
    Ok(exit::OK)
}
