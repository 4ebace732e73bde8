//! The command line: every subcommand and flag, and the exit codes. The
//! reference part of docs/cli.md is generated from these definitions.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::{bench_cmd, bundle_cmd, choreo_cmd, ckpt_cmd, cluster_cmd, keygen_cmd, replay_cmd, run_cmd, sim_cmd};

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
    /// `run`: the round budget (`--max-rounds`) or the instruction budget ran out.
    pub const BUDGET_EXHAUSTED: u8 = 5;
    /// `run`: every group ended, but a session was cancelled (a timeout) or aborted.
    pub const SESSIONS_CANCELLED: u8 = 6;
    /// `run`: interrupted by Ctrl-C (SIGINT); the replay holds the rounds run so far.
    pub const INTERRUPTED: u8 = 130;
}

/// The `canon` command line.
#[derive(Parser)]
#[command(name = "canon", version, about = "A deterministic protocol virtual machine for multiparty session types")]
#[command(
    after_help = "Inputs are recognised by extension: .canon/.scr/.nuscr (choreography), .casm (assembly), .cbc (bytecode).\nExit codes: 0 ok, 1 error or difference, 2 usage, 3 fault, 4 stalled, 5 round or instruction budget exhausted,\n6 sessions cancelled, 130 interrupted."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// How errors are printed on stderr: human (rendered) or json (one object per line).
    #[arg(long, global = true, value_enum, default_value = "human")]
    pub message_format: MessageFormat,
    /// Colour diagnostics: auto (when stderr is a terminal and NO_COLOR is unset), always or never.
    #[arg(long, global = true, value_enum, default_value = "auto")]
    pub color: Color,
}

/// `--color`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Color {
    // Colour when stderr is a terminal and `NO_COLOR` is unset or empty.
    Auto,
    // Always colour (ANSI escapes even into a file or pipe).
    Always,
    // Never colour.
    Never,
}

impl Color {
    /// Whether to colour, given whether stderr is a terminal and the value
    /// of `NO_COLOR` (any non-empty value turns colour off, see no-color.org).
    pub fn enabled(self, terminal: bool, no_color: Option<std::ffi::OsString>) -> bool {
        match self {
            Color::Always => true,
            Color::Never => false,
            Color::Auto => terminal && no_color.is_none_or(|v| v.is_empty()),
        }
    }
}

/// `--message-format`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum MessageFormat {
    // `error[E…]`, `--> file:line:column`, the source line with a caret and label, notes and help.
    Human,
    // One JSON object per diagnostic (schema in docs/cli.md).
    Json,
}

#[derive(Subcommand)]
pub enum Command {
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
        /// One JSON object (schema in docs/cli.md) instead of text.
        #[arg(long)]
        json: bool,
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
    /// Print the explanation of an error code (E6101 or 6101) from docs/errors.md.
    Explain { code: String },
    /// Print a shell completion script.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

#[cfg(test)]
mod tests {
    use super::Color;

    #[test]
    fn auto_colours_a_terminal_unless_no_color_is_set() {
        assert!(Color::Auto.enabled(true, None));
        assert!(Color::Auto.enabled(true, Some("".into())), "an empty NO_COLOR does not count");
        assert!(!Color::Auto.enabled(true, Some("1".into())));
        assert!(!Color::Auto.enabled(false, None));
        assert!(Color::Always.enabled(false, Some("1".into())));
        assert!(!Color::Never.enabled(true, None));
    }
}
