//! `canon`: the command-line face of canon. Parsing arguments, reading and
//! writing files, printing — the work itself is done by the library crates.

mod alloc;
mod audit_cmd;
mod bench_cmd;
mod bundle_cmd;
mod bytecode_cmd;
mod choreo_cmd;
mod ckpt_cmd;
mod cli;
mod cluster_cmd;
mod explain;
mod files;
mod input;
mod keygen_cmd;
mod metrics;
mod out;
mod progress;
mod proof_cmd;
mod replay_cmd;
mod run_cmd;
mod sim_cmd;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::{CommandFactory, Parser};

pub use cli::exit;
use cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let json_messages = cli.message_format == cli::MessageFormat::Json;
    let color = cli.color.enabled(std::io::stderr().is_terminal(), std::env::var_os("NO_COLOR"));
    let mut out = out::Out::stdout();
    let result = dispatch(cli.command, &mut out).and_then(|code| {
        out.flush()?;
        Ok(code)
    });
    match result {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            if let Some(e) = err.downcast_ref::<out::OutputError>() {
                if e.is_broken_pipe() {
                    // The reader stopped (`| head`): as Unix tools do, not an error.
                    return ExitCode::from(exit::OK);
                }
                crate::out::stderrln!("error: {e}");
                return ExitCode::from(exit::FAILURE);
            }
            if let Some(failures) = err.downcast_ref::<input::DiagsByFile>() {
                match json_messages {
                    true => crate::out::stderr!("{}", failures.json_lines()),
                    false => crate::out::stderrln!("{}", failures.render(color)),
                }
                return ExitCode::from(exit::FAILURE);
            }
            match err.downcast_ref::<input::Diags>() {
                Some(diagnostics) if json_messages => crate::out::stderr!("{}", diagnostics.json_lines()),
                Some(diagnostics) => crate::out::stderrln!("{}", diagnostics.render(color)),
                None if json_messages => {
                    crate::out::stderrln!("{}", serde_json::json!({ "code": null, "message": format!("{err:#}") }))
                }
                None => crate::out::stderrln!("error: {err:#}"),
            }
            ExitCode::from(exit::FAILURE)
        }
    }
}

fn dispatch(command: Command, out: &mut out::Out) -> anyhow::Result<u8> {
    match command {
        Command::Asm { input, output } => bytecode_cmd::asm(&input, output.as_deref()),
        Command::Disasm { input } => bytecode_cmd::disasm(&input, out),
        Command::Check { input, json, protocol, import_path } => {
            if protocol.is_some() || !import_path.is_empty() {
                choreo_cmd::check_with(&input, protocol.as_deref(), &import_path, json, out)
            } else {
                bytecode_cmd::check(&input, json, out)
            }
        }
        Command::Compile { input, output, emit, protocol } => {
            choreo_cmd::compile(&input, output.as_deref(), emit, protocol.as_deref())
        }
        Command::Project { input, role, format, protocol, import_path } => {
            choreo_cmd::project(&input, role.as_deref(), format, protocol.as_deref(), &import_path, out)
        }
        Command::Run(args) => run_cmd::run(&args, out),
        Command::Keygen(args) => keygen_cmd::keygen(&args, out),
        Command::Bundle(cmd) => bundle_cmd::bundle(cmd, out),
        Command::Replay(cmd) => replay_cmd::replay(cmd, out),
        Command::Bench(args) => bench_cmd::bench(&args, out),
        Command::Resume(args) => ckpt_cmd::resume(&args, out),
        Command::Worker(args) => cluster_cmd::worker(&args, out),
        Command::Sim(args) => sim_cmd::sim(&args, out),
        Command::Explain { code } => explain::explain(&code, out),
        Command::Completions { shell } => {
            let mut buf = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "canon", &mut buf);
            out.text(&String::from_utf8_lossy(&buf))?;
            Ok(exit::OK)
        }
    }
}
