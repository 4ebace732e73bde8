//! One handler per role: the two-buyer bookshop where Buyer1, Buyer2 and the
//! Seller each have their own host object, dispatched by `canon::RoleHost`.
//! Role and label names are looked up once, when the program is loaded; the
//! handlers then compare interned ids, never strings.
//!
//! Run with `cargo run -p canon --example per_role` (it also runs in
//! `cargo test -p canon --examples`).

use std::sync::Arc;

use canon::{
    Config, CooperativeRunner, Host, HostCtx, Machine, RoleHost, Runner, SeededHost, SymId, Value, VerifiedProgram,
};

/// The labels the bookshop's handlers care about, interned once.
#[derive(Clone, Copy)]
struct Labels {
    title: SymId,
    quote: SymId,
    share: SymId,
    accept: SymId,
    date: SymId,
}

impl Labels {
    /// Looks the labels up once; a misspelt one is an `UnknownName` naming
    /// the closest label the program has.
    fn of(program: &VerifiedProgram) -> Result<Labels, canon::UnknownName> {
        Ok(Labels {
            title: program.label("Title")?,
            quote: program.label("Quote")?,
            share: program.label("Share")?,
            accept: program.label("Accept")?,
            date: program.label("Date")?,
        })
    }
}

/// Buyer1 asks for a title and offers to pay half.
struct Buyer1(Labels);
impl Host for Buyer1 {
    fn produce(&mut self, _: &HostCtx<'_>, label: SymId) -> Value {
        if label == self.0.title {
            Value::Str(Arc::from("TAPL"))
        } else if label == self.0.share {
            Value::Int(44)
        } else {
            Value::Unit
        }
    }
}

/// Buyer2 accepts a share up to its budget; only `produce` and `choose` are
/// written, the other methods keep their defaults.
struct Buyer2 {
    labels: Labels,
    budget: i64,
}
impl Host for Buyer2 {
    fn produce(&mut self, _: &HostCtx<'_>, label: SymId) -> Value {
        if label == self.labels.accept { Value::Str(Arc::from("1 Main Street")) } else { Value::Unit }
    }
    fn choose(&mut self, _: &HostCtx<'_>, labels: &[SymId]) -> usize {
        let want_accept = 44 <= self.budget;
        labels.iter().position(|l| (*l == self.labels.accept) == want_accept).unwrap_or(0)
    }
}

/// The seller quotes 88 and ships tomorrow.
struct Seller(Labels);
impl Host for Seller {
    fn produce(&mut self, _: &HostCtx<'_>, label: SymId) -> Value {
        if label == self.0.quote {
            Value::Int(88)
        } else if label == self.0.date {
            Value::Str(Arc::from("tomorrow"))
        } else {
            Value::Unit
        }
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/two_buyer.canon");
    let program = Arc::new(canon::compile_file(path)?);
    let labels = Labels::of(&program)?;
    // Calls outside a session, and of roles without a handler, go to the seeded fallback.
    let host = RoleHost::new(SeededHost::new(1))
        .with_role(&program, "Buyer1", Buyer1(labels))?
        .with_role(&program, "Buyer2", Buyer2 { labels, budget: 50 })?
        .with_role(&program, "Seller", Seller(labels))?;
    // A misspelt name is refused, naming the closest one the program has.
    let typo = program.label("Qoute").map_err(|e| e.to_string());
    assert_eq!(typo, Err("the program has no label `Qoute`; did you mean `Quote`?".to_owned()));

    let mut machine = Machine::new(Config { seed: 1, ..Config::default() });
    // Signing keys derive from a secret key seed (`canon keygen`); the public
    // test seed keeps the example self-contained (its signatures prove nothing).
    machine.set_key_source(canon::KeySource::Seed(canon::KeySeed::TEST_ONLY_PUBLIC));
    machine.load(&program, Box::new(host))?;
    let outcome = CooperativeRunner.run(&mut machine);
    if outcome.faulted() || outcome.stalled().is_some() {
        return Err(format!("the bookshop run did not complete: {:?}", outcome.groups).into());
    }
    let replay = canon::Replay::decode(outcome.replay_bytes())?;
    let text = canon::render_text(&replay);
    for line in text.lines().filter(|l| l.contains(" Sent ")) {
        println!("{line}");
    }
    if !text.contains("Quote(88)") || !text.contains("Accept(\"1 Main Street\")") {
        return Err("the handlers' answers are not in the replay".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_example_runs() {
        super::main().expect("the per-role example runs");
    }
}
