//! Sessions per second of a cluster run on 1, 2 and 3 local workers against
//! the local runners, on this machine (not a test: it prints figures).
//!
//! ```sh
//! cargo build --release -p canon-cli --examples
//! target/release/examples/cluster_bench [SESSIONS] [BATCH]
//! ```
//!
//! It starts `nats-server -js` on a free loopback port in a temporary
//! directory, runs `fixtures/two_buyer.canon` (signed, the default) with
//! `--sessions SESSIONS` (default 100,000) locally (cooperative, and threaded
//! with 2 workers) and then with `--cluster` on 1, 2 and 3 `canon worker`
//! processes (`--concurrency 1` each), checks every cluster replay is
//! byte-identical to the local one, and prints the wall time and sessions/s
//! of each. The `canon` binary is the one next to this example's directory.

// Wall time here bounds waits and measures runs; it never reaches a replay.
#![allow(clippy::disallowed_methods)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn canon_bin() -> PathBuf {
    let exe = std::env::current_exe().expect("the example's path");
    exe.parent().and_then(Path::parent).map(|d| d.join("canon")).expect("target directory")
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("repository root")
}

fn canon(key_seed: &Path) -> Command {
    let mut cmd = Command::new(canon_bin());
    cmd.env("CANON_KEY_SEED_FILE", key_seed).current_dir(repo_root());
    cmd
}

fn timed(cmd: &mut Command) -> Duration {
    let start = Instant::now();
    let out = cmd.stdout(Stdio::null()).stderr(Stdio::piped()).output().expect("canon runs");
    let took = start.elapsed();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    took
}

fn main() {
    let mut args = std::env::args().skip(1);
    let sessions: u32 = args.next().map_or(100_000, |s| s.parse().expect("SESSIONS is a number"));
    let batch: u32 = args.next().map_or(64, |s| s.parse().expect("BATCH is a number"));
    let dir = std::env::temp_dir().join(format!("canon-cluster-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let key_seed = repo_root().join("fixtures/keys/TEST-ONLY-public.key-seed");
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let _server = Proc(
        Command::new("nats-server")
            .args(["-js", "-sd"])
            .arg(dir.join("js"))
            .args(["-a", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nats-server starts (apt-get install nats-server)"),
    );
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        std::thread::sleep(Duration::from_millis(50));
    }
    let url = format!("nats://127.0.0.1:{port}");
    let n = sessions.to_string();
    let program = "fixtures/two_buyer.canon";
    let local = dir.join("local.replay");
    println!("{sessions} two-buyer sessions (Ed25519 signing), batch {batch}, on {} cores", num_cores());
    let report = |what: &str, took: Duration| {
        println!(
            "  {what:<28} {:>8.2} s  {:>9.0} sessions/s",
            took.as_secs_f64(),
            f64::from(sessions) / took.as_secs_f64()
        );
    };
    let took = timed(canon(&key_seed).args(["run", program, "--sessions", &n, "-o"]).arg(&local));
    report("local cooperative", took);
    let threaded = dir.join("threaded.replay");
    let took = timed(
        canon(&key_seed)
            .args(["run", program, "--sessions", &n, "--runner", "threaded", "--workers", "2", "-o"])
            .arg(&threaded),
    );
    report("local threaded, 2 threads", took);
    let expected = std::fs::read(&local).expect("local replay");
    for workers in 1..=3 {
        let procs: Vec<Proc> = (0..workers)
            .map(|_| {
                Proc(
                    canon(&key_seed)
                        .args(["worker", "--nats", &url, "--concurrency", "1"])
                        .stdout(Stdio::null())
                        .stderr(Stdio::null())
                        .spawn()
                        .expect("a worker starts"),
                )
            })
            .collect();
        let out = dir.join(format!("cluster{workers}.replay"));
        let took = timed(
            canon(&key_seed)
                .args(["run", program, "--sessions", &n, "--cluster", &url, "--batch", &batch.to_string(), "-o"])
                .arg(&out),
        );
        let identical = std::fs::read(&out).expect("cluster replay") == expected;
        report(&format!("cluster, {workers} worker(s)"), took);
        assert!(identical, "the cluster replay differs from the local one");
        drop(procs);
    }
    println!("  every cluster replay is byte-identical to the local cooperative run's");
    let _ = std::fs::remove_dir_all(&dir);
}

fn num_cores() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}
