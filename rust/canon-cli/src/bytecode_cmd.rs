//! `canon asm`, `canon disasm`, `canon check`.

use std::path::Path;

use anyhow::{Context, Result};

use crate::exit;
use crate::input::{self, Kind};

pub fn asm(input: &Path, output: Option<&Path>) -> Result<u8> {
    let module = input::assemble_file(input)?;
    let bytes = canon_bytecode::encode(&module);
    let out = output.map(Path::to_path_buf).unwrap_or_else(|| input.with_extension("cbc"));
    std::fs::write(&out, &bytes).with_context(|| format!("cannot write {}", out.display()))?;
    eprintln!("wrote {} ({} bytes)", out.display(), bytes.len());
    Ok(exit::OK)
}

pub fn disasm(input: &Path) -> Result<u8> {
    let module = input::decode_file(input)?;
    print!("{}", canon_bytecode::disassemble(&module));
    Ok(exit::OK)
}

pub fn check(input: &Path) -> Result<u8> {
    if input::kind_of(input)? == Kind::Choreography {
        return crate::choreo_cmd::check(input);
    }
    let module = input::module_file(input)?;
    let program = input::verify(input, module)?;
    let m = program.module();
    let instrs: usize = m.procs.iter().map(|p| p.code.len()).sum();
    println!(
        "{}: ok: {} procedures, {} instructions, {} local types, {} strings, digest {}",
        input.display(),
        m.procs.len(),
        instrs,
        m.types.nodes.len(),
        m.strings.len(),
        hex(&program.digest()[..8]),
    );
    Ok(exit::OK)
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
