//! Named benchmark workloads as `.casm` text, shared by `canon bench` and
//! the tests that count what a workload costs (so both measure one program).

/// A and B exchange `Ping(i)`/`Pong(i)` `iterations` times, then `Stop`:
/// `2 * iterations + 1` messages.
pub fn ping_pong_casm(iterations: u64) -> String {
    format!(
        ".type ta = mu X.B!{{Ping(Int).B?Pong(Int).X, Stop().end}}
.type tb = mu X.A?{{Ping(Int).A!Pong(Int).X, Stop().end}}
.const zero = int 0
.const one = int 1
.const rounds = int {iterations}
.const nothing = unit
.entry main
.proc main() regs 2
    open roles [A, B], types [ta, tb], handlers [default, default], dsts [r0, r1]
    spawn pinger, [r0]
    spawn ponger, [r1]
    halt
.end
.proc pinger(ep ta) regs 5
    const r1, zero
    const r2, one
    const r3, rounds
loop:
    lt r4, r1, r3
    jmp_if r4, ping
    const r4, nothing
    send r0, Stop, r4
    close r0
    halt
ping:
    send r0, Ping, r1
    recv r0, Pong, r4
    add r1, r1, r2
    jmp loop
.end
.proc ponger(ep tb) regs 2
loop:
    offer r0, r1, [Ping -> ping, Stop -> stop]
ping:
    send r0, Pong, r1
    jmp loop
stop:
    close r0
    halt
.end
"
    )
}
