//! One handler per role: the two-buyer bookshop where Buyer1, Buyer2 and the
//! Seller each have their own host object. Role and label names are looked
//! up once, when the program is loaded; the handlers then compare interned
//! ids, never strings.
//!
//! Run with `cargo run -p canon --example per_role` (it also runs in
//! `cargo test -p canon --examples`).

use std::collections::BTreeMap;
use std::sync::Arc;

use canon::{Config, CooperativeRunner, Host, HostCtx, Machine, Module, Runner, SeededHost, SymId, Value};

/// Dispatches every host call to the handler of the calling role, and to a
/// seeded fallback for roles without one.
struct PerRole {
    handlers: BTreeMap<SymId, Box<dyn Host + Send>>,
    fallback: SeededHost,
}

impl PerRole {
    fn handler(&mut self, ctx: &HostCtx<'_>) -> &mut dyn Host {
        match self.handlers.get_mut(&ctx.role_name) {
            Some(h) => h.as_mut(),
            None => &mut self.fallback,
        }
    }
}

impl Host for PerRole {
    fn produce(&mut self, ctx: &HostCtx<'_>, label: SymId) -> Value {
        self.handler(ctx).produce(ctx, label)
    }
    fn accept(&mut self, ctx: &HostCtx<'_>, label: SymId, payload: &Value) -> bool {
        self.handler(ctx).accept(ctx, label, payload)
    }
    fn choose(&mut self, ctx: &HostCtx<'_>, labels: &[SymId]) -> usize {
        self.handler(ctx).choose(ctx, labels)
    }
    fn invoke(&mut self, ctx: &HostCtx<'_>, effect: SymId, arg: &Value) -> Value {
        self.handler(ctx).invoke(ctx, effect, arg)
    }
}

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
    fn of(module: &Module) -> Option<Labels> {
        let id = |s: &str| module.find_sym(s);
        Some(Labels {
            title: id("Title")?,
            quote: id("Quote")?,
            share: id("Share")?,
            accept: id("Accept")?,
            date: id("Date")?,
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
    let module = program.module();
    let labels = Labels::of(module).ok_or("the program lacks a bookshop label")?;
    let role = |name: &str| module.find_sym(name).ok_or(format!("no role {name}"));
    let mut handlers: BTreeMap<SymId, Box<dyn Host + Send>> = BTreeMap::new();
    handlers.insert(role("Buyer1")?, Box::new(Buyer1(labels)));
    handlers.insert(role("Buyer2")?, Box::new(Buyer2 { labels, budget: 50 }));
    handlers.insert(role("Seller")?, Box::new(Seller(labels)));
    let host = PerRole { handlers, fallback: SeededHost::new(1) };

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
