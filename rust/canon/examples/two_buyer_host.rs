//! A host application driving the two-buyer choreography with its own
//! handler: it supplies the book title, prices it, and decides whether Buyer2
//! accepts — then keeps the replay.
//!
//! Run with `cargo run -p canon --example two_buyer_host`.

use std::sync::Arc;

use canon::{Config, CooperativeRunner, Host, HostCtx, Machine, Runner, SeededHost, SymId, Value};

/// Answers the points the bookshop cares about and leaves the rest to the
/// seeded default.
struct Bookshop {
    budget: i64,
    fallback: SeededHost,
}

impl Host for Bookshop {
    fn produce(&mut self, ctx: &HostCtx<'_>, label: SymId) -> Value {
        match ctx.module.sym(label) {
            "Title" => Value::Str(Arc::from("Types and Programming Languages")),
            "Quote" => Value::Int(88),
            _ => self.fallback.produce(ctx, label),
        }
    }

    fn choose(&mut self, ctx: &HostCtx<'_>, labels: &[SymId]) -> usize {
        // Buyer2 accepts when the quote fits the budget (here it always does).
        let want = if 88 <= self.budget { "Accept" } else { "Reject" };
        labels.iter().position(|l| ctx.module.sym(*l) == want).unwrap_or(0)
    }

    fn invoke(&mut self, ctx: &HostCtx<'_>, effect: SymId, arg: &Value) -> Value {
        self.fallback.invoke(ctx, effect, arg)
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/two_buyer.canon");
    let program = Arc::new(canon::compile_file(path)?);
    let mut machine = Machine::new(Config { seed: 42, ..Config::default() });
    // Endpoint signing keys derive from a secret key seed: read yours from a file written by
    // `canon keygen` (canon::KeySeed::parse). The public test seed keeps this example self-contained.
    machine.set_key_source(canon::KeySource::Seed(canon::KeySeed::TEST_ONLY_PUBLIC));
    let host = Bookshop { budget: 100, fallback: SeededHost::new(42) };
    let (group, owner) = machine.load_choreography_owned(&program, Box::new(host), "bookshop")?;
    let outcome = CooperativeRunner.run(&mut machine);
    println!(
        "instance {group} owned by {} (generation {}): {} messages, {} events, faulted: {}",
        owner.label,
        owner.generation,
        outcome.message_count(),
        outcome.event_count(),
        outcome.faulted()
    );
    let replay = canon::Replay::decode(outcome.replay_bytes())?;
    print!("{}", canon::render_text(&replay));
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_example_runs() {
        super::main().expect("the two-buyer host example runs");
    }
}
