//! canon: a deterministic protocol virtual machine for multiparty session
//! types. This crate is the host-facing front door: compile a choreography,
//! load it into a [`Machine`], run it with a [`Runner`], keep the replay.
//!
//! ```
//! use std::sync::Arc;
//! use canon::{Config, CooperativeRunner, KeySeed, KeySource, Machine, Runner, SeededHost};
//!
//! let src = "global protocol Hello(role A, role B) { Hi(Int) from A to B; Bye() from B to A; }";
//! let program = Arc::new(canon::compile_source("hello.canon", src, None)?);
//! let mut machine = Machine::new(Config { seed: 7, ..Config::default() });
//! // Signing keys derive from a secret key seed (`canon keygen`); this public one is for examples only.
//! machine.set_key_source(KeySource::Seed(KeySeed::TEST_ONLY_PUBLIC));
//! let (_group, owner) = machine.load_choreography_owned(&program, Box::new(SeededHost::new(7)), "host-app")?;
//! assert_eq!(owner.generation, 0);
//! let outcome = CooperativeRunner.run(&mut machine);
//! assert!(!outcome.faulted());
//! assert_eq!(outcome.message_count(), 2);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

use std::path::Path;

// Everything a host needs to load, run, verify, re-execute and diff, so a
// host depends on this crate alone.
pub use canon_bytecode::{
    BufferConfig, Module, NameKind, UnknownName, VerifiedProgram, assemble, decode, disassemble, encode, verify,
};
pub use canon_machine::{
    Auth, CoroutineFault, Event, EventKind, EventSite, Fault, GroupOutcome, GroupStatus, Host, HostCtx, Injection,
    KeySeed, KeySource, NullHost, ReplayMode, SessionStatus, SignatureError, SignatureReport, StallReport,
    run_identity, verify_signatures,
};
pub use canon_replay::{
    Replay, ReplayDiff, ReplayError, ReplayHeader, ReplayReader, diff, diff_readers, render_jsonl, render_text,
};
pub use canon_runtime::{
    Config, CooperativeRunner, GroupReport, Limits, LoadError, Machine, Owner, Progress, ReexecError, Reexecution,
    ReplayHost, RoleHost, RunOutcome, RunSummary, Runner, SeededHost, ThreadedRunner, reexecute, reexecute_reader,
};
pub use canon_types::{ErrorCode, Hex, SymId, Value, ValueTypeError, hex};

pub mod bundle;

/// The crates behind the facade, for what it does not re-export.
pub mod crates {
    pub use canon_bytecode as bytecode;
    pub use canon_choreo as choreo;
    pub use canon_machine as machine;
    pub use canon_replay as replay;
    pub use canon_runtime as runtime;
    pub use canon_types as types;
}

/// Why a choreography did not compile.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The choreography file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Parse, well-formedness or projection diagnostics, rendered with
    /// `file:line:column` and a caret.
    #[error("{0}")]
    Diagnostics(String),
    /// The checked protocol could not be compiled to bytecode.
    #[error("{file}: {source}")]
    Compile {
        /// The choreography's file name.
        file: String,
        /// Why compilation failed.
        source: Box<canon_choreo::CompileError>,
    },
    /// The compiler produced a module the verifier rejects (a compiler bug).
    #[error("{file}: compiled module failed verification: {source}")]
    Verify {
        /// The choreography's file name.
        file: String,
        /// The verifier's refusal.
        source: Box<canon_bytecode::VerifyError>,
    },
}

/// Parses, checks, projects and compiles a choreography source, and verifies
/// the result. `protocol` picks the entry protocol when the file has several.
pub fn compile_source(file_name: &str, src: &str, protocol: Option<&str>) -> Result<VerifiedProgram, Error> {
    let choreo = canon_choreo::load(file_name, src, protocol).map_err(|d| Error::Diagnostics(d.render()))?;
    compile_loaded(file_name, src, &choreo)
}

fn compile_loaded(file_name: &str, src: &str, choreo: &canon_choreo::Choreography) -> Result<VerifiedProgram, Error> {
    let module = canon_choreo::check_and_compile_mapped(choreo, file_name, src)
        .map_err(|projection| Error::Diagnostics(canon_choreo::Diagnostics::new(file_name, src, projection).render()))?
        .map_err(|source| Error::Compile { file: file_name.to_owned(), source: Box::new(source) })?;
    canon_bytecode::verify(module)
        .map_err(|source| Error::Verify { file: file_name.to_owned(), source: Box::new(source) })
}

/// [`compile_source`] on a file (`.canon`, `.scr`, `.nuscr`); its `import`s
/// are resolved under the file's module root (see docs/language.md).
pub fn compile_file(path: impl AsRef<Path>) -> Result<VerifiedProgram, Error> {
    let path = path.as_ref();
    let name = path.display().to_string();
    let src = std::fs::read_to_string(path).map_err(|source| Error::Io { path: name.clone(), source })?;
    let paths = canon_choreo::ImportPaths::default();
    let choreo =
        canon_choreo::load_with_imports(path, &src, None, &paths).map_err(|d| Error::Diagnostics(d.render()))?;
    compile_loaded(&name, &src, &choreo)
}
