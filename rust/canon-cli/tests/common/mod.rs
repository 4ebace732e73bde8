//! Helpers shared by the CLI integration tests: running the real `canon`
//! binary, unique temporary paths, and the fixture list.

#![allow(dead_code)] // each test binary uses a different subset

use std::path::{Path, PathBuf};
use std::process::Command;

/// What one `canon` invocation produced.
#[derive(Debug)]
pub struct Output {
    /// The process exit code (`None` if killed by a signal).
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    /// Raw stdout bytes, for byte-exact comparisons.
    pub stdout_bytes: Vec<u8>,
}

impl Output {
    /// Asserts the process exited with `code`, printing everything it said otherwise.
    #[track_caller]
    pub fn expect_code(&self, code: i32) -> &Self {
        assert_eq!(self.code, Some(code), "unexpected exit code\n{self}");
        self
    }

    /// Asserts a clean failure: a non-zero exit code that is not a panic
    /// (Rust's panic exit code is 101), no "panicked" in stderr, and an
    /// `error:` line.
    #[track_caller]
    pub fn expect_clean_failure(&self) -> &Self {
        let code = self.code.expect("the process was killed by a signal");
        assert_ne!(code, 0, "expected a failure\n{self}");
        assert_ne!(code, 101, "the process panicked\n{self}");
        assert!(!self.stderr.contains("panicked"), "the process panicked\n{self}");
        assert!(self.stderr.contains("error"), "no error message on stderr\n{self}");
        self
    }

    /// Asserts stderr contains every one of `needles`.
    #[track_caller]
    pub fn stderr_has(&self, needles: &[&str]) -> &Self {
        for n in needles {
            assert!(self.stderr.contains(n), "stderr lacks {n:?}\n{self}");
        }
        self
    }

    /// Asserts stdout contains every one of `needles`.
    #[track_caller]
    pub fn stdout_has(&self, needles: &[&str]) -> &Self {
        for n in needles {
            assert!(self.stdout.contains(n), "stdout lacks {n:?}\n{self}");
        }
        self
    }
}

impl std::fmt::Display for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "exit code: {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}", self.code, self.stdout, self.stderr)
    }
}

/// Runs the `canon` binary with `args` from the repository root.
pub fn canon<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Output {
    canon_in(&repo_root(), args)
}

/// The committed public test key seed: every test run signs with it, so no
/// test creates a key seed in the user's home.
pub fn test_key_seed() -> PathBuf {
    repo_root().join("fixtures/keys/TEST-ONLY-public.key-seed")
}

/// Runs the `canon` binary with `args` from `dir` (signing with the test key seed).
pub fn canon_in<S: AsRef<std::ffi::OsStr>>(dir: &Path, args: &[S]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_canon"));
    cmd.env("CANON_KEY_SEED_FILE", test_key_seed());
    run_command(cmd.args(args).current_dir(dir))
}

/// Runs a prepared command and collects what it said.
pub fn run_command(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("the canon binary runs");
    Output {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        stdout_bytes: out.stdout,
    }
}

/// The workspace root (where `fixtures/` lives).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("repository root exists")
}

/// A fresh, empty directory for one test: unique per test name and process.
pub fn temp_dir(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("canon-cli-{}-{test}", std::process::id()));
    if dir.exists() {
        std::fs::remove_dir_all(&dir).expect("remove an old temp dir");
    }
    std::fs::create_dir_all(&dir).expect("create a temp dir");
    dir
}

/// What a fixture is expected to do when run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// Exit code 0.
    Ok,
    /// Exit code 3 and the output names this fault code.
    Fault(u16),
    /// Exit code 4.
    Stalled,
    /// Exit code 6: the run ended, but a session was cancelled or aborted.
    Cancelled,
}

impl Expect {
    /// The `canon run` exit code this expectation means.
    pub fn exit_code(self) -> i32 {
        match self {
            Expect::Ok => 0,
            Expect::Fault(_) => 3,
            Expect::Stalled => 4,
            Expect::Cancelled => 6,
        }
    }
}

/// A runnable fixture file.
#[derive(Debug, Clone)]
pub struct Fixture {
    /// Absolute path.
    pub path: PathBuf,
    /// The file name with its extension (`ping_pong.casm`): unique across fixtures.
    pub name: String,
    pub expect: Expect,
    /// Extra `canon run` arguments from the fixture's `; args:` (or
    /// `// args:`) header, given before every test's own.
    pub args: Vec<String>,
}

impl Fixture {
    /// The insta snapshot of the `replay show` view: `fixtures/expected/<name>.replay.snap`.
    pub fn golden(&self) -> PathBuf {
        expected_dir().join(format!("{}.replay.snap", self.name))
    }

    /// Whether the program asks the host to choose between branches.
    pub fn has_choice(&self) -> bool {
        let src = std::fs::read_to_string(&self.path).unwrap_or_default();
        src.lines().any(|l| {
            let code = l.split(';').next().unwrap_or("").split("//").next().unwrap_or("");
            code.split_whitespace().any(|w| w == "select" || w == "choice")
        })
    }

    pub fn is_choreography(&self) -> bool {
        matches!(self.path.extension().and_then(|e| e.to_str()), Some("canon" | "scr" | "nuscr"))
    }
}

/// Where the replay-view snapshots live.
pub fn expected_dir() -> PathBuf {
    repo_root().join("fixtures/expected")
}

/// Files in `dir` (not recursive) with one of `exts`, sorted.
fn files_with(dir: &Path, exts: &[&str]) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.expect("read a directory entry").path())
        .filter(|p| p.is_file() && p.extension().and_then(|e| e.to_str()).is_some_and(|e| exts.contains(&e)))
        .collect();
    files.sort();
    files
}

/// The `; expect:` (or `// expect:`) header of a fixture; choreographies
/// without one are expected to run ok.
pub fn parse_expect(path: &Path, src: &str) -> Expect {
    let header = src.lines().find_map(|l| {
        let l = l.trim_start();
        l.strip_prefix("; expect:").or_else(|| l.strip_prefix("// expect:")).map(str::trim)
    });
    match header {
        None => {
            assert!(path.extension().is_none_or(|e| e != "casm"), "{}: no `; expect:` header", path.display());
            Expect::Ok
        }
        Some("ok") => Expect::Ok,
        Some("stalled") => Expect::Stalled,
        Some("cancelled") => Expect::Cancelled,
        Some(h) => match h.strip_prefix("fault ").map(|c| c.trim().parse::<u16>()) {
            Some(Ok(code)) => Expect::Fault(code),
            _ => panic!("{}: unreadable expect header {h:?}", path.display()),
        },
    }
}

/// The `; args:` (or `// args:`) header of a fixture: extra `canon run`
/// arguments, separated by whitespace (`// args: --owner shop`). At most one.
pub fn parse_args(path: &Path, src: &str) -> Vec<String> {
    let mut headers = src.lines().filter_map(|l| {
        let l = l.trim_start();
        l.strip_prefix("; args:").or_else(|| l.strip_prefix("// args:"))
    });
    let args = headers.next().map(|h| h.split_whitespace().map(str::to_owned).collect()).unwrap_or_default();
    assert!(headers.next().is_none(), "{}: more than one `args:` header", path.display());
    args
}

/// The `.casm` fixtures (`fixtures/asm/`).
pub fn asm_fixtures() -> Vec<PathBuf> {
    files_with(&repo_root().join("fixtures/asm"), &["casm"])
}

/// The choreography fixtures (`fixtures/` and `fixtures/choreo/`, not the
/// ill-formed ones).
pub fn choreo_fixtures() -> Vec<PathBuf> {
    let root = repo_root().join("fixtures");
    let exts = ["canon", "scr", "nuscr"];
    let mut files = files_with(&root, &exts);
    files.extend(files_with(&root.join("choreo"), &exts));
    files
}

/// Every runnable fixture, with its expectation. Panics on duplicate names,
/// which would share a golden file.
pub fn fixtures() -> Vec<Fixture> {
    let mut all: Vec<Fixture> = asm_fixtures()
        .into_iter()
        .chain(choreo_fixtures())
        .map(|path| {
            let src = std::fs::read_to_string(&path).expect("read a fixture");
            let name = path.file_name().expect("a file name").to_string_lossy().into_owned();
            let expect = parse_expect(&path, &src);
            let args = parse_args(&path, &src);
            Fixture { path, name, expect, args }
        })
        .collect();
    all.sort_by(|a, b| a.name.cmp(&b.name));
    for pair in all.windows(2) {
        assert_ne!(pair[0].name, pair[1].name, "two fixtures share a name: {:?} {:?}", pair[0].path, pair[1].path);
    }
    all
}

/// Path as an argument.
pub fn arg(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

/// The subcommands a `--help` text lists under `Commands:` (without `help`).
pub fn listed_subcommands(help: &str) -> Vec<String> {
    help.lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .map(str::to_owned)
        .collect()
}
