//! `canon sim --seed S [--seeds N] [--steps N] [--faults all|LIST]`: the
//! seeded fault simulator (canon-sim). Each seed names one simulation —
//! program, configuration, instances, injected faults — and every invariant
//! is checked after every round; a failing seed prints the one-line command
//! that reproduces it.

use crate::out::{Out, OutputError};
use anyhow::Result;
use canon_sim::{FaultSet, SeedReport, SimOptions, repro_command, run_seed};

use crate::exit;

/// `canon sim` arguments.
#[derive(clap::Args, Debug, Clone)]
pub struct SimArgs {
    /// The first seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// How many consecutive seeds to run, from `--seed`.
    #[arg(long, default_value_t = 1)]
    pub seeds: u64,
    /// Rounds each instance may run.
    #[arg(long, default_value_t = 1_000)]
    pub steps: u64,
    /// Faults to inject: `all`, `none`, or a comma-separated list of
    /// duplicate, reorder, drop, corrupt-payload, corrupt-signature, reject,
    /// bad-value, bad-choice, forge, cut, panic, checkpoint, owner-death, cancel.
    #[arg(long, default_value = "all", value_parser = FaultSet::parse)]
    pub faults: FaultSet,
    /// Threads running seeds (the results do not depend on it).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=256))]
    pub jobs: u64,
    /// Print one line per seed, not only the failing ones.
    #[arg(long, short)]
    pub verbose: bool,
}

/// Runs the seeds; exit 1 if any seed broke an invariant.
pub fn sim(args: &SimArgs, out: &mut Out) -> Result<u8> {
    let opts = SimOptions { steps: args.steps.max(1), faults: args.faults, sabotage: None };
    let last = args.seed.saturating_add(args.seeds);
    let mut totals = Totals::default();
    // Seeds run in chunks of `jobs`, one thread each, and print in seed order.
    let mut seed = args.seed;
    while seed < last {
        let end = seed.saturating_add(args.jobs).min(last);
        let reports: Vec<SeedReport> = std::thread::scope(|scope| {
            let handles: Vec<_> = (seed..end).map(|s| scope.spawn(move || run_seed(s, &opts))).collect();
            handles.into_iter().map(|h| h.join().expect("run_seed catches every panic")).collect()
        });
        for r in &reports {
            totals.add(r);
            if args.verbose || !r.passed() {
                print_seed(out, r, &opts)?;
            }
        }
        seed = end;
    }
    writeln!(
        out,
        "{} seeds ({} failed): {} instances, {} rounds, {} events; {} transport faults applied of {} planned, \
         {} coroutine faults (all typed and recorded), {} instances cut short; {} handler panics recovered, \
         {} checkpoint restores, {} ownership operations",
        totals.seeds,
        totals.failed,
        totals.instances,
        totals.rounds,
        totals.events,
        totals.injected,
        totals.planned,
        totals.faults,
        totals.cut,
        totals.panics,
        totals.restores,
        totals.ownership
    )?;
    Ok(if totals.failed == 0 { exit::OK } else { exit::FAILURE })
}

fn print_seed(out: &mut Out, r: &SeedReport, opts: &SimOptions) -> Result<(), OutputError> {
    let verdict = if r.passed() { "ok" } else { "FAILED" };
    writeln!(
        out,
        "seed {} {verdict}: {} (auth {}, replay mode {}), {} instances, {} rounds, {} events, {} injected, {} faults, \
         {} panics, {} restores, {} ownership",
        r.seed,
        r.program,
        r.auth,
        r.replay_mode,
        r.instances,
        r.rounds,
        r.events,
        r.injected,
        r.faults,
        r.panics,
        r.restores,
        r.ownership
    )?;
    for v in &r.violations {
        writeln!(out, "  violated: {}: {}", v.invariant, v.detail)?;
    }
    if !r.passed() {
        writeln!(out, "  reproduce: {}", repro_command(r.seed, opts))?;
    }
    Ok(())
}

#[derive(Default)]
struct Totals {
    seeds: u64,
    failed: u64,
    instances: u64,
    rounds: u64,
    events: u64,
    injected: u64,
    planned: u64,
    faults: u64,
    cut: u64,
    panics: u64,
    restores: u64,
    ownership: u64,
}

impl Totals {
    fn add(&mut self, r: &SeedReport) {
        self.seeds += 1;
        self.failed += u64::from(!r.passed());
        self.instances += u64::from(r.instances);
        self.rounds += r.rounds;
        self.events += r.events;
        self.injected += r.injected;
        self.planned += r.planned;
        self.faults += r.faults;
        self.cut += u64::from(r.cut);
        self.panics += r.panics;
        self.restores += r.restores;
        self.ownership += r.ownership;
    }
}
