//! `canon`: the command-line face of canon. Parsing arguments, reading and
//! writing files, printing — the work itself is done by the library crates.

mod audit_cmd;
mod bench_cmd;
mod bundle_cmd;
mod bytecode_cmd;
mod choreo_cmd;
mod ckpt_cmd;
mod cluster_cmd;
mod input;
mod keygen_cmd;
mod proof_cmd;
mod replay_cmd;
mod run_cmd;
mod sim_cmd;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// The counting allocator of the `canon` binary: allocation counts
/// (`stats_alloc`) under peak live-heap tracking (`peakmem_alloc`), read by
/// `canon bench`. Both are thin atomic counters around the system allocator.
#[global_allocator]
pub(crate) static ALLOC: peakmem_alloc::PeakMemAlloc<&stats_alloc::StatsAlloc<std::alloc::System>> =
    peakmem_alloc::PeakMemAlloc::new(&stats_alloc::INSTRUMENTED_SYSTEM);

/// Exit codes, documented in docs/cli.md.
pub mod exit {
    /// Success; for `replay diff`, the replays are identical.
    pub const OK: u8 = 0;
    /// An error: bad input, a failed check, replays that differ, a failed verification.
    pub const FAILURE: u8 = 1;
    /// Wrong command-line usage (clap's own code).
    pub const USAGE: u8 = 2;
    /// `run`: a coroutine faulted.
    pub const FAULTED: u8 = 3;
    /// `run`: a group stalled (deadlock).
    pub const STALLED: u8 = 4;
    /// `run`: the round budget ran out (`--max-rounds`).
    pub const BUDGET_EXHAUSTED: u8 = 5;
}

#[derive(Parser)]
#[command(name = "canon", version, about = "A deterministic protocol virtual machine for multiparty session types")]
#[command(
    after_help = "Inputs are recognised by extension: .canon/.scr/.nuscr (choreography), .casm (assembly), .cbc (bytecode).\nExit codes: 0 ok, 1 error or difference, 2 usage, 3 fault, 4 stalled, 5 round budget exhausted."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Assemble a .casm text file into binary bytecode (.cbc).
    Asm {
        input: PathBuf,
        /// Output file (default: the input with extension .cbc).
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
    /// Print the text assembly of a .cbc file.
    Disasm { input: PathBuf },
    /// Check a program: decode + verify (.cbc/.casm), or parse + check + project
    /// every protocol of a choreography (.canon, .scr, .nuscr) and of the modules it imports.
    Check {
        input: PathBuf,
        /// Check only this protocol of a choreography.
        #[arg(long)]
        protocol: Option<String>,
        /// An extra directory to look up imported modules in (repeatable).
        #[arg(long = "import-path", value_name = "DIR")]
        import_path: Vec<PathBuf>,
    },
    /// Compile a choreography to bytecode.
    Compile {
        input: PathBuf,
        /// Output file (default: the input with extension .cbc, or .casm with --emit casm).
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// What to write.
        #[arg(long, value_enum, default_value = "cbc")]
        emit: choreo_cmd::Emit,
        /// The protocol to compile when the file has several entry protocols.
        #[arg(long)]
        protocol: Option<String>,
    },
    /// Print the local type of each role (or one role) of a choreography.
    Project {
        input: PathBuf,
        /// Only this role.
        #[arg(long)]
        role: Option<String>,
        #[arg(long, value_enum, default_value = "text")]
        format: choreo_cmd::Format,
        /// The protocol to project when the file has several.
        #[arg(long)]
        protocol: Option<String>,
        /// An extra directory to look up imported modules in (repeatable).
        #[arg(long = "import-path", value_name = "DIR")]
        import_path: Vec<PathBuf>,
    },
    /// Run a program (.cbc, .casm or a choreography) and write its replay.
    Run(run_cmd::RunArgs),
    /// Continue a checkpointed run (`run --checkpoint-every`) from a checkpoint to the replay the
    /// uninterrupted run writes.
    Resume(ckpt_cmd::ResumeArgs),
    /// Write a new secret signing-key seed (for `run --key-seed-file`).
    Keygen(keygen_cmd::KeygenArgs),
    /// Export and verify signed offline audit bundles of replays.
    #[command(subcommand)]
    Bundle(bundle_cmd::BundleCommand),
    /// Inspect, compare and verify replay files.
    #[command(subcommand)]
    Replay(replay_cmd::ReplayCommand),
    /// Run the named performance workloads and print their figures.
    Bench(bench_cmd::BenchArgs),
    /// Run batches of cluster runs (`run --cluster`) pulled from a NATS JetStream server.
    Worker(cluster_cmd::WorkerArgs),
    /// Run seeded fault simulations, checking canon's invariants after every round.
    Sim(sim_cmd::SimArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Asm { input, output } => bytecode_cmd::asm(&input, output.as_deref()),
        Command::Disasm { input } => bytecode_cmd::disasm(&input),
        Command::Check { input, protocol, import_path } => {
            if protocol.is_some() || !import_path.is_empty() {
                choreo_cmd::check_with(&input, protocol.as_deref(), &import_path)
            } else {
                bytecode_cmd::check(&input)
            }
        }
        Command::Compile { input, output, emit, protocol } => {
            choreo_cmd::compile(&input, output.as_deref(), emit, protocol.as_deref())
        }
        Command::Project { input, role, format, protocol, import_path } => {
            choreo_cmd::project(&input, role.as_deref(), format, protocol.as_deref(), &import_path)
        }
        Command::Run(args) => run_cmd::run(&args),
        Command::Resume(args) => ckpt_cmd::resume(&args),
        Command::Keygen(args) => keygen_cmd::keygen(&args),
        Command::Bundle(cmd) => bundle_cmd::bundle(cmd),
        Command::Replay(cmd) => replay_cmd::replay(cmd),
        Command::Bench(args) => bench_cmd::bench(&args),
        Command::Worker(args) => cluster_cmd::worker(&args),
        Command::Sim(args) => sim_cmd::sim(&args),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            match err.downcast_ref::<input::Rendered>() {
                Some(diagnostics) => eprintln!("{diagnostics}"),
                None => eprintln!("error: {err:#}"),
            }
            ExitCode::from(exit::FAILURE)
        }
    }
}
