//! A program image: a verified program together with the tables every group
//! of it reads but never writes (the constant pool as values, the payload
//! kind of every type name). Built once per program and shared, read-only,
//! by all of its groups — on any thread — through an `Arc`.

use std::sync::Arc;

use canon_bytecode::{Const, Instr, Module, VerifiedProgram};
use canon_types::Value;

use crate::auth::run_identity;
use crate::config::Config;
use crate::store::PayloadKinds;

/// A program digest, a configuration and their run identity.
type RunIdMemo = ([u8; 32], Config, [u8; 32]);

thread_local! {
    /// The last (program digest, configuration) this thread computed a run
    /// identity for, and that identity: many short runs of one program under
    /// one configuration (a new machine, so a new image, each) hash the
    /// configuration and the identity once. A pure memo: the result is
    /// always `run_identity(program_digest, config.digest())`, whatever ran
    /// before on the thread.
    static LAST_RUN_ID: std::cell::Cell<Option<RunIdMemo>> = const { std::cell::Cell::new(None) };
}

/// `run_identity(program_digest, config.digest())`, remembered for the last
/// pair seen on this thread.
fn run_identity_memo(program_digest: &[u8; 32], config: &Config) -> [u8; 32] {
    LAST_RUN_ID.with(|last| match last.get() {
        Some((p, c, id)) if p == *program_digest && c == *config => id,
        _ => {
            let id = run_identity(program_digest, &config.digest());
            last.set(Some((*program_digest, *config, id)));
            id
        }
    })
}

/// A verified program and its per-program run-time tables.
#[derive(Debug)]
pub struct ProgramImage {
    program: Arc<VerifiedProgram>,
    consts: Vec<Value>,
    kinds: PayloadKinds,
    /// Coroutines a group starts with room for: the entry plus the `spawn`s
    /// written in the entry procedure (a capacity hint, not a limit).
    coroutines_hint: usize,
    /// The run identity of the last configuration asked for, so the groups
    /// of one run hash it once (see [`ProgramImage::run_identity`]).
    run_id: std::sync::Mutex<Option<(Config, [u8; 32])>>,
}

impl ProgramImage {
    /// Builds the tables of `program` (linear in its constant pool and string table).
    pub fn new(program: Arc<VerifiedProgram>) -> ProgramImage {
        let m = program.module();
        let (consts, kinds) = (const_values(m), PayloadKinds::new(&m.strings));
        let entry_code = m.procs.get(m.entry as usize).map_or(&[][..], |p| p.code.as_slice());
        let coroutines_hint = 1 + entry_code.iter().filter(|i| matches!(i, Instr::Spawn { .. })).count();
        ProgramImage { program, consts, kinds, coroutines_hint, run_id: std::sync::Mutex::new(None) }
    }

    /// The run identity ([`run_identity`]) of this program under `config`,
    /// computed once per configuration (a run's groups share it) rather than
    /// hashed again by every group.
    pub fn run_identity(&self, config: &Config) -> [u8; 32] {
        let mut memo = self.run_id.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        match *memo {
            Some((c, id)) if c == *config => id,
            _ => {
                let id = run_identity_memo(&self.program.digest(), config);
                *memo = Some((*config, id));
                id
            }
        }
    }

    /// The verified program.
    pub fn program(&self) -> &Arc<VerifiedProgram> {
        &self.program
    }

    /// The program's module.
    pub fn module(&self) -> &Module {
        self.program.module()
    }

    /// The constant pool as values, indexed like `Module::consts`: `const`
    /// clones one (an `Arc` count for strings and bytes, never an allocation).
    pub fn resolved(&self) -> &[canon_types::TypeId] {
        self.program.resolved_table()
    }

    /// The constant pool as values.
    pub fn consts(&self) -> &[Value] {
        &self.consts
    }

    /// Room for coroutines a new group reserves.
    pub(crate) fn coroutines_hint(&self) -> usize {
        self.coroutines_hint
    }

    /// The payload kind of every type name.
    pub fn kinds(&self) -> &PayloadKinds {
        &self.kinds
    }
}

/// The constant pool as values.
fn const_values(m: &Module) -> Vec<Value> {
    m.consts
        .iter()
        .map(|c| match c {
            Const::Unit => Value::Unit,
            Const::Bool(b) => Value::Bool(*b),
            Const::Int(i) => Value::Int(*i),
            Const::Str(s) => Value::Str(Arc::from(m.sym(*s))),
            Const::Label(s) => Value::Label(*s),
            Const::Bytes(b) => Value::Bytes(Arc::from(b.as_slice())),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_holds_the_pool_as_values_and_the_kinds_of_type_names() {
        let src = ".const hi = str \"hi\"\n.const seven = int 7\n.entry main\n.proc main() regs 2\n    const r0, hi\n    const r1, seven\n    halt\n.end\n";
        let module = canon_bytecode::assemble(src).expect("assembles");
        let image = ProgramImage::new(Arc::new(canon_bytecode::verify(module).expect("verifies")));
        assert!(image.consts().contains(&Value::Str(Arc::from("hi"))), "{:?}", image.consts());
        assert!(image.consts().contains(&Value::Int(7)), "{:?}", image.consts());
        assert_eq!(image.consts().len(), image.module().consts.len());
        assert_eq!(image.kinds().0.len(), image.module().strings.len());
    }

    fn image_of(src: &str) -> ProgramImage {
        let module = canon_bytecode::assemble(src).expect("assembles");
        ProgramImage::new(Arc::new(canon_bytecode::verify(module).expect("verifies")))
    }

    #[test]
    fn run_identity_is_a_function_of_program_and_configuration_whatever_ran_before() {
        // New images (new machines) of two programs under two configurations,
        // interleaved on one thread: each answer is the identity computed from
        // scratch, so the thread's memo never lets one run's history reach another.
        let a_src = ".entry main\n.proc main() regs 1\n    halt\n.end\n";
        let b_src = ".const seven = int 7\n.entry main\n.proc main() regs 1\n    const r0, seven\n    halt\n.end\n";
        let c1 = Config::default();
        let c2 = Config { seed: 9, ..Config::default() };
        let c3 = Config { auth: crate::config::Auth::None, ..Config::default() };
        for (src, config) in [(a_src, c1), (a_src, c1), (b_src, c1), (a_src, c2), (a_src, c1), (b_src, c3), (b_src, c3)]
        {
            let image = image_of(src);
            let want = run_identity(&image.program().digest(), &config.digest());
            assert_eq!(image.run_identity(&config), want);
            assert_eq!(image.run_identity(&config), want, "the image's own memo");
        }
        assert_ne!(image_of(a_src).run_identity(&c1), image_of(a_src).run_identity(&c2));
        assert_ne!(image_of(a_src).run_identity(&c1), image_of(b_src).run_identity(&c1));
    }
}
