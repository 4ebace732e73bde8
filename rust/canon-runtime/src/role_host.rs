//! A host with one handler per role: [`RoleHost`].

use canon_bytecode::{UnknownName, VerifiedProgram};
use canon_machine::{Host, HostCtx};
use canon_types::{SymId, Value};

/// A [`Host`] that sends each call to the handler of the role making it
/// (`HostCtx::role_name`), or to a fallback for roles without one and for
/// calls outside a session. Role names are looked up once, when a handler
/// is added; dispatch compares ids.
///
/// Typed handlers compare label ids fetched once from the program and convert
/// payloads with `TryFrom<Value>` / `From`:
///
/// <!-- role-host-example:begin -->
/// ```
/// use std::sync::Arc;
/// use canon_machine::{Host, HostCtx, KeySeed, KeySource};
/// use canon_runtime::{CooperativeRunner, Machine, RoleHost, Runner, SeededHost};
/// use canon_types::{SymId, Value};
///
/// let src = "global protocol Auction(role Buyer, role Seller) {
///   Bid(Int, String) from Buyer to Seller;
///   choice at Seller { Sold() from Seller to Buyer; } or { Refused() from Seller to Buyer; }
/// }";
/// let choreo = canon_choreo::load("auction.canon", src, None)?;
/// let program = Arc::new(canon_bytecode::verify(canon_choreo::compile_choreography(&choreo)?)?);
///
/// struct Buyer { bid: SymId }
/// impl Host for Buyer {
///     fn produce(&mut self, _: &HostCtx<'_>, label: SymId) -> Value {
///         if label == self.bid { Value::from((120, "lot 7")) } else { Value::Unit }
///     }
///     fn accept(&mut self, _: &HostCtx<'_>, _: SymId, _: &Value) -> bool { true }
///     fn choose(&mut self, _: &HostCtx<'_>, _: &[SymId]) -> usize { 0 }
///     fn invoke(&mut self, _: &HostCtx<'_>, _: SymId, arg: &Value) -> Value { arg.clone() }
/// }
///
/// struct Seller { bid: SymId, sold: SymId, last_bid: i64 }
/// impl Host for Seller {
///     fn produce(&mut self, _: &HostCtx<'_>, _: SymId) -> Value { Value::Unit }
///     fn accept(&mut self, _: &HostCtx<'_>, label: SymId, payload: &Value) -> bool {
///         if label == self.bid {
///             let Ok((price, _lot)) = <(i64, String)>::try_from(payload) else { return false };
///             self.last_bid = price;
///         }
///         true
///     }
///     fn choose(&mut self, _: &HostCtx<'_>, labels: &[SymId]) -> usize {
///         let want_sold = self.last_bid >= 100;
///         labels.iter().position(|l| (*l == self.sold) == want_sold).unwrap_or(0)
///     }
///     fn invoke(&mut self, _: &HostCtx<'_>, _: SymId, arg: &Value) -> Value { arg.clone() }
/// }
///
/// let (bid, sold) = (program.label("Bid")?, program.label("Sold")?);
/// let host = RoleHost::new(SeededHost::new(1))
///     .with_role(&program, "Buyer", Buyer { bid })?
///     .with_role(&program, "Seller", Seller { bid, sold, last_bid: 0 })?;
/// let mut machine = Machine::new(canon_runtime::Config::default());
/// // Signing keys derive from a secret key seed (`canon keygen`); this public one is for examples only.
/// machine.set_key_source(KeySource::Seed(KeySeed::TEST_ONLY_PUBLIC));
/// machine.load(&program, Box::new(host))?;
/// let outcome = CooperativeRunner.run(&mut machine);
/// assert!(!outcome.faulted());
/// let replay = canon_replay::Replay::decode(outcome.replay_bytes())?;
/// assert!(canon_replay::render_text(&replay).contains("Sent -> Buyer Sold()"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
/// <!-- role-host-example:end -->
pub struct RoleHost {
    /// Handlers by role id, sorted by id.
    roles: Vec<(SymId, Box<dyn Host + Send>)>,
    fallback: Box<dyn Host + Send>,
}

impl RoleHost {
    /// A host that sends every call to `fallback` until roles are added.
    pub fn new(fallback: impl Host + Send + 'static) -> RoleHost {
        RoleHost { roles: Vec::new(), fallback: Box::new(fallback) }
    }

    /// Sends the calls of role `role` of `program` to `handler` (replacing
    /// any handler it had); an error if no `open` of the program names `role`.
    pub fn with_role(
        mut self,
        program: &VerifiedProgram,
        role: &str,
        handler: impl Host + Send + 'static,
    ) -> Result<RoleHost, UnknownName> {
        let id = program.role(role)?;
        match self.roles.binary_search_by_key(&id, |(r, _)| *r) {
            Ok(i) => self.roles[i].1 = Box::new(handler),
            Err(i) => self.roles.insert(i, (id, Box::new(handler))),
        }
        Ok(self)
    }

    fn handler(&mut self, ctx: &HostCtx<'_>) -> &mut dyn Host {
        match self.roles.binary_search_by_key(&ctx.role_name, |(r, _)| *r) {
            Ok(i) if ctx.sid != canon_machine::EventSite::NO_SID => self.roles[i].1.as_mut(),
            _ => self.fallback.as_mut(),
        }
    }
}

impl Host for RoleHost {
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

    fn check_readiness(&mut self, ctx: &HostCtx<'_>, check: SymId, arg: &Value) -> bool {
        self.handler(ctx).check_readiness(ctx, check, arg)
    }
}
