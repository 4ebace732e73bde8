//! Deep `mu` nesting costs work linear in its size, at load and at run
//! time: the verifier resolves every `mu`/`var` chain once (memoised, counted
//! by `verify_counted`), and the machine advances endpoint types through
//! that table only (`canon_machine::unfold`), never by walking a chain.

use std::sync::Arc;

use canon_bytecode::{assemble, verify_counted};
use canon_machine::{Config, Group, GroupStatus, NullHost};

/// A streams `n` messages to B under local types nested `depth` `mu`s deep:
/// every continuation is `X0`, whose resolution passes all `depth` binders.
fn program(depth: usize, n: i64) -> String {
    let binders: String = (0..depth).map(|i| format!("mu X{i}.")).collect();
    format!(
        "
.type ta = {binders}B!{{M(Int).X0, Stop().end}}
.type tb = {binders}A?{{M(Int).X0, Stop().end}}
.const zero = int 0
.const one = int 1
.const limit = int {n}
.const nothing = unit
.entry main
.proc main() regs 2
    open roles [A, B], types [ta, tb], handlers [default, default], dsts [r0, r1]
    spawn sender, [r0]
    spawn receiver, [r1]
    halt
.end
.proc sender(ep ta) regs 5
    const r1, zero
    const r2, one
    const r3, limit
loop:
    lt r4, r1, r3
    jmp_if r4, more
    const r4, nothing
    send r0, Stop, r4
    close r0
    halt
more:
    send r0, M, r1
    add r1, r1, r2
    jmp loop
.end
.proc receiver(ep tb) regs 2
loop:
    offer r0, r1, [M -> loop, Stop -> done]
done:
    close r0
    halt
.end
"
    )
}

fn verified_work(depth: usize) -> (Arc<canon_bytecode::VerifiedProgram>, u64) {
    let module = assemble(&program(depth, 50)).expect("assembles");
    let (result, work) = verify_counted(module);
    (Arc::new(result.expect("verifies")), work)
}

#[test]
fn ten_times_the_nesting_is_at_most_twelve_times_the_work() {
    let (_, small) = verified_work(20);
    let (_, large) = verified_work(200);
    eprintln!("verify work: depth 20 {small}, depth 200 {large}");
    assert!(large <= 12 * small, "depth 20: {small} steps; depth 200: {large} steps");
}

#[test]
fn the_machine_runs_deep_nesting_without_walking_it() {
    // The same messages at depth 1 and at depth 200 (the assembler nests at most about 250 deep): identical events (no
    // event names a type id) and instruction counts.
    let run = |depth| {
        let (program, _) = verified_work(depth);
        let mut group = Group::new(program, 0, &Config::default(), Box::new(NullHost));
        let outcome = group.run_to_end();
        let mut events = Vec::new();
        group.drain_events(&mut events);
        (outcome.status, outcome.steps, events)
    };
    let (shallow, deep) = (run(1), run(200));
    assert_eq!(shallow.0, GroupStatus::Completed);
    assert_eq!(shallow, deep);
    // And no code path of the machine walks a chain: `unfold` is a lookup
    // in the verified table, and nothing calls `TypeGraph::resolve`.
    let mut dirs = vec![std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/src"))];
    let mut files = 0;
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(dir).expect("src") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            let text = std::fs::read_to_string(&path).expect("readable");
            assert!(!text.contains(".resolve("), "{} walks mu chains at run time", path.display());
            files += 1;
        }
    }
    assert!(files > 20, "the machine's sources were found ({files} files)");
}
