//! Data-driven: every `fixtures/*.canon` is a well-formed protocol that
//! passes every check, projects on every role, compiles, and verifies.
//! Adding a case is adding a file.

use std::fs;
use std::path::{Path, PathBuf};

use canon_bytecode::{Instr, verify};
use canon_choreo::{check_source, compile_choreography};
use canon_types::project_all;

fn fixtures() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures");
    let mut files: Vec<PathBuf> = fs::read_dir(&dir)
        .expect("fixtures/ exists")
        .map(|e| e.expect("readable directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "canon"))
        .collect();
    files.sort();
    files
}

#[test]
fn every_fixture_compiles_and_verifies() {
    let files = fixtures();
    assert!(files.len() >= 12, "expected the 12 protocol fixtures, found {}", files.len());
    let mut failures = Vec::new();
    for path in &files {
        let name = path.file_name().and_then(|n| n.to_str()).expect("utf-8 file name");
        let src = fs::read_to_string(path).expect("readable fixture");
        let choreo = match check_source(name, &src) {
            Ok(c) => c,
            Err(rendered) => {
                failures.push(format!("{name}: rejected\n{rendered}"));
                continue;
            }
        };
        let module = match compile_choreography(&choreo) {
            Ok(m) => m,
            Err(e) => {
                failures.push(format!("{name}: does not compile: {e}"));
                continue;
            }
        };
        let roles = choreo.entry().protocol.roles.len();
        if module.procs.len() != roles + 1 {
            failures.push(format!("{name}: {} procedures for {roles} roles", module.procs.len()));
        }
        if let Err(e) = verify(module) {
            failures.push(format!("{name}: does not verify: {e}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

fn fixture(name: &str) -> canon_choreo::Choreography {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures").join(name);
    let src = fs::read_to_string(&path).expect("fixture exists");
    check_source(name, &src).unwrap_or_else(|d| panic!("{d}"))
}

#[test]
fn seed_fixtures_use_the_extensions() {
    for name in ["seeds/decision_pipeline.canon", "job_lifecycle.canon"] {
        let module = compile_choreography(&fixture(name)).unwrap();
        let code: Vec<&Instr> = module.procs.iter().flat_map(|p| &p.code).collect();
        assert!(code.iter().any(|i| matches!(i, Instr::RecvTimeout { .. })), "{name}: no deadline");
        assert!(code.iter().any(|i| matches!(i, Instr::Invoke { .. })), "{name}: no invoke");
        assert!(code.iter().any(|i| matches!(i, Instr::Select { .. })), "{name}: no choice");
    }
    let pipeline = fixture("seeds/decision_pipeline.canon");
    assert_eq!(
        pipeline.entry().protocol.roles.len(),
        16,
        "source + nine stages + three model services + archive, reviewer, supervisor"
    );
}

#[test]
fn a_role_outside_a_loop_only_sees_what_follows_it() {
    let streaming = fixture("streaming.canon");
    let projections = project_all(&streaming.entry().protocol).unwrap();
    let monitor = projections.iter().find(|(r, _)| r == "Monitor").unwrap();
    assert_eq!(monitor.1.to_string(), "Consumer?Summary(count: Int).end");
    let jobs = fixture("job_lifecycle.canon");
    let projections = project_all(&jobs.entry().protocol).unwrap();
    assert_eq!(
        projections[0].1.to_string(),
        "Scheduler!Submit(job: String, key: String).Scheduler?Accepted(job_id: Int).\
         Scheduler?{Succeeded(result: String).end, Failed(reason: String).end}"
    );
}
