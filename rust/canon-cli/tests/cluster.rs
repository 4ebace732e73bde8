//! `canon run --cluster` and `canon worker` against a real `nats-server`
//! with JetStream on a loopback port: the replay is byte-identical to a local
//! cooperative run, also when a worker is SIGKILLed mid-run and when the
//! coordinator is killed and resumed; a worker refuses a tampered program.
//! Without `nats-server` on the machine the tests say so and pass.

// Wall time here bounds waits and measures runs; it never reaches a replay.
#![allow(clippy::disallowed_methods)]

mod common;

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{repo_root, run_command, temp_dir, test_key_seed};

/// The `nats-server` binary, if installed.
fn nats_server() -> Option<PathBuf> {
    let candidates = ["/usr/sbin/nats-server", "/usr/bin/nats-server", "/usr/local/bin/nats-server"];
    if let Some(p) = candidates.iter().map(PathBuf::from).find(|p| p.exists()) {
        return Some(p);
    }
    let out = Command::new("sh").args(["-c", "command -v nats-server"]).output().ok()?;
    let path = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    (!path.is_empty()).then(|| PathBuf::from(path))
}

/// Kills its process when dropped.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A `nats-server -js` on a free loopback port, in a temporary directory.
struct Server {
    _proc: Proc,
    url: String,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").expect("bind a free port").local_addr().expect("local address").port()
}

fn start_server(bin: &Path, dir: &Path) -> Server {
    let port = free_port();
    let store = dir.join("jetstream");
    let child = Command::new(bin)
        .args(["-js", "-sd"])
        .arg(&store)
        .args(["-a", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("nats-server starts");
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "nats-server did not listen on port {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
    Server { _proc: Proc(child), url: format!("nats://127.0.0.1:{port}") }
}

fn canon_cmd() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_canon"));
    cmd.env("CANON_KEY_SEED_FILE", test_key_seed()).current_dir(repo_root());
    cmd
}

/// A worker named `name` with a short ack deadline; its stderr goes to `log`.
fn start_worker(url: &str, name: &str, log: &Path, extra: &[&str]) -> Proc {
    let child = canon_cmd()
        .args(["worker", "--nats", url, "--concurrency", "1", "--ack-wait", "2", "--grace", "1", "--name", name])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).expect("create a worker log"))
        .spawn()
        .expect("a worker starts");
    Proc(child)
}

const PROGRAM: &str = "fixtures/two_buyer.canon";
const SESSIONS: &str = "10000";

/// The local cooperative run every cluster run must equal: (replay bytes,
/// summary lines after the first).
fn local_run(dir: &Path) -> (Vec<u8>, Vec<String>) {
    let out = dir.join("local.replay");
    let o = run_command(canon_cmd().args(["run", PROGRAM, "--sessions", SESSIONS, "--auth", "none", "-o"]).arg(&out));
    o.expect_code(0);
    (std::fs::read(&out).expect("local replay"), summary_tail(&o.stdout))
}

/// The summary without its first line (which names the runner) and the `->` path.
fn summary_tail(stdout: &str) -> Vec<String> {
    stdout.lines().skip(1).map(|l| l.split(" -> ").next().unwrap_or(l).to_owned()).collect()
}

fn cluster_run_cmd(url: &str, out: &Path) -> Command {
    let mut cmd = canon_cmd();
    cmd.args(["run", PROGRAM, "--sessions", SESSIONS, "--auth", "none", "--cluster", url, "--batch", "100", "-o"])
        .arg(out);
    cmd
}

fn assert_identical(local: &(Vec<u8>, Vec<String>), replay: &Path, stdout: &str, what: &str) {
    let bytes = std::fs::read(replay).expect("cluster replay");
    assert!(
        bytes == local.0,
        "{what}: the cluster replay differs from the local run's ({} vs {} bytes)",
        bytes.len(),
        local.0.len()
    );
    assert_eq!(summary_tail(stdout), local.1, "{what}: the summaries differ");
}

/// Reads the coordinator's stderr up to its `canon: run RUN: …` line; returns the run id.
fn run_id_of(child: &mut Child) -> (String, std::io::Lines<BufReader<std::process::ChildStderr>>) {
    let mut lines = BufReader::new(child.stderr.take().expect("piped stderr")).lines();
    let started = lines.by_ref().map_while(Result::ok).find(|l| l.starts_with("canon: run ")).expect("the run id line");
    (started["canon: run ".len()..].split(':').next().unwrap().to_owned(), lines)
}

/// Waits until some stored batch of `run` satisfies `pred` (given the batch
/// manifests stored so far); at most 60 s.
fn wait_for(url: &str, run: &str, pred: impl Fn(&[canon_cluster::wire::Manifest]) -> bool) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let cluster = canon_cluster::Cluster::connect(url, "test").await.expect("connect");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let mut done = Vec::new();
            for b in 0..100 {
                if let Some(m) = cluster.manifest(run, b).await.expect("read a manifest") {
                    done.push(m);
                }
            }
            if pred(&done) {
                return;
            }
            assert!(Instant::now() < deadline, "run {run} made no progress");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
}

/// `GET /metrics` from a worker's endpoint.
fn scrape(addr: &str) -> String {
    use std::io::{Read, Write};
    let mut conn = std::net::TcpStream::connect(addr).expect("the metrics endpoint listens");
    conn.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut body = String::new();
    conn.read_to_string(&mut body).unwrap();
    body
}

#[test]
fn cluster_runs_are_byte_identical_to_local_runs() {
    let Some(bin) = nats_server() else {
        println!("skipped: nats-server is not installed (apt-get install nats-server)");
        return;
    };
    let dir = temp_dir("cluster");
    let server = start_server(&bin, &dir);
    let local = local_run(&dir);
    let metrics = format!("127.0.0.1:{}", free_port());
    let mut workers = vec![
        start_worker(&server.url, "w0", &dir.join("w0.log"), &[]),
        start_worker(&server.url, "w1", &dir.join("w1.log"), &["--metrics-addr", &metrics]),
        start_worker(&server.url, "w2", &dir.join("w2.log"), &[]),
    ];

    // (1) A plain run.
    let out = dir.join("plain.replay");
    let o = run_command(&mut cluster_run_cmd(&server.url, &out));
    o.expect_code(0);
    assert!(o.stdout.contains("cluster runner, run "), "{o}");
    assert_identical(&local, &out, &o.stdout, "plain run");
    let m = scrape(&metrics);
    for counter in [
        "canon_worker_batches_total",
        "canon_worker_groups_total",
        "canon_worker_sessions_total",
        "canon_worker_rounds_total",
        "canon_worker_bytes_total",
    ] {
        assert!(m.contains(counter), "{counter} missing from\n{m}");
    }

    // (2) SIGKILL of a worker mid-run, once it has stored a batch: the batch
    // it holds is redelivered after the ack deadline.
    let out = dir.join("killed-worker.replay");
    let mut coordinator =
        cluster_run_cmd(&server.url, &out).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let (run, _lines) = run_id_of(&mut coordinator);
    wait_for(&server.url, &run, |done| done.iter().any(|m| m.worker == "w0"));
    workers[0].0.kill().expect("SIGKILL a worker");
    let o = coordinator.wait_with_output().expect("the coordinator finishes");
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{stdout}");
    assert_identical(&local, &out, &stdout, "worker killed");
    workers[0] = start_worker(&server.url, "w0b", &dir.join("w0b.log"), &[]);

    // (3) The coordinator killed once a few batches are done, then resumed.
    let out = dir.join("resumed.replay");
    let mut coordinator =
        cluster_run_cmd(&server.url, &out).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    let (run, _lines) = run_id_of(&mut coordinator);
    wait_for(&server.url, &run, |done| done.len() >= 3);
    coordinator.kill().expect("kill the coordinator");
    let _ = coordinator.wait();
    let o = run_command(cluster_run_cmd(&server.url, &out).args(["--resume", &run]));
    o.expect_code(0);
    let reused: u32 = o
        .stderr
        .split(" already done")
        .next()
        .and_then(|s| s.rsplit('(').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(reused >= 3, "the resumed run re-ran finished batches\n{o}");
    assert_identical(&local, &out, &o.stdout, "coordinator resumed");

    // A resume with other arguments is refused.
    let o = run_command(canon_cmd().args([
        "run",
        PROGRAM,
        "--sessions",
        "9999",
        "--auth",
        "none",
        "--cluster",
        &server.url,
        "--batch",
        "100",
        "--resume",
        &run,
    ]));
    o.expect_clean_failure().stderr_has(&["different arguments", "--sessions"]);

    // Signed (the default): workers sign with their own copy of the key seed.
    let (signed_local, signed) = (dir.join("signed-local.replay"), dir.join("signed.replay"));
    let l = run_command(canon_cmd().args(["run", PROGRAM, "--sessions", "200", "-o"]).arg(&signed_local));
    l.expect_code(0);
    let o = run_command(
        canon_cmd()
            .args(["run", PROGRAM, "--sessions", "200", "--cluster", &server.url, "--batch", "16", "-o"])
            .arg(&signed),
    );
    o.expect_code(0);
    assert_identical(
        &(std::fs::read(&signed_local).unwrap(), summary_tail(&l.stdout)),
        &signed,
        &o.stdout,
        "signed run",
    );
    drop(workers);
}

#[test]
fn a_worker_refuses_a_tampered_program() {
    let Some(bin) = nats_server() else {
        println!("skipped: nats-server is not installed (apt-get install nats-server)");
        return;
    };
    let dir = temp_dir("cluster-tamper");
    let server = start_server(&bin, &dir);
    // The program the run names, and other bytes stored under its name.
    let (real, other) = (dir.join("real.cbc"), dir.join("other.cbc"));
    run_command(canon_cmd().args(["compile", PROGRAM, "-o"]).arg(&real)).expect_code(0);
    run_command(canon_cmd().args(["compile", "fixtures/three_buyer.canon", "-o"]).arg(&other)).expect_code(0);
    let real_bytes = std::fs::read(&real).unwrap();
    let tampered = std::fs::read(&other).unwrap();
    let digest = canon_cluster::wire::sha256_hex(&real_bytes);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let cluster = canon_cluster::Cluster::connect(&server.url, "tamper-test").await.expect("connect");
        cluster.put_program(&digest, &tampered).await.expect("store the tampered program");
        let spec = canon_cluster::RunSpec {
            version: canon_cluster::wire::WIRE_VERSION,
            program: digest.clone(),
            sessions: 4,
            batch: 2,
            params: serde_json::Value::Null,
            header: String::new(),
            keys: None,
        };
        cluster.runs.put("tampered.spec", serde_json::to_vec(&spec).unwrap().into()).await.expect("store the spec");
        canon_cluster::coordinator::enqueue(&cluster, "tampered", 0..2).await.expect("enqueue");
        // A batch finished twice: the same result is a duplicate, another is a conflict.
        use canon_cluster::store::Stored;
        assert_eq!(cluster.store_result("twice", 0, b"result", "a").await.unwrap(), Stored::New);
        assert_eq!(cluster.store_result("twice", 0, b"result", "b").await.unwrap(), Stored::Duplicate);
        match cluster.store_result("twice", 0, b"other", "c").await.unwrap() {
            Stored::Conflict(c) => {
                assert_eq!(c.kept, canon_cluster::wire::sha256_hex(b"result"));
                assert_eq!(c.other, canon_cluster::wire::sha256_hex(b"other"));
            }
            other => panic!("expected a conflict, got {other:?}"),
        }
        let kept = cluster.manifest("twice", 0).await.unwrap().unwrap();
        assert_eq!(cluster.load_result("twice", 0, &kept).await.unwrap(), b"result");
    });
    let log = dir.join("worker.log");
    let worker = start_worker(&server.url, "w", &log, &[]);
    let refusal = rt.block_on(async {
        let cluster = canon_cluster::Cluster::connect(&server.url, "tamper-test").await.expect("connect");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let mut keys = cluster.runs.keys().await.expect("list keys");
            use futures_util::StreamExt;
            while let Some(k) = keys.next().await {
                let k = k.unwrap();
                if k.starts_with("tampered.refused.") {
                    return cluster.runs.get(&k).await.unwrap().unwrap();
                }
            }
            assert!(Instant::now() < deadline, "the worker did not refuse the tampered program");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    let refusal = String::from_utf8_lossy(&refusal).into_owned();
    assert!(refusal.contains("program digest mismatch"), "{refusal}");
    assert!(refusal.contains(&digest), "{refusal}");
    drop(worker);
    let log = std::fs::read_to_string(&log).unwrap();
    assert!(log.contains("refusing run tampered: program digest mismatch"), "{log}");
    // It ran nothing: no batch of the run is done.
    let done = rt.block_on(async {
        let cluster = canon_cluster::Cluster::connect(&server.url, "tamper-test").await.expect("connect");
        cluster.manifest("tampered", 0).await.unwrap().is_some()
            || cluster.manifest("tampered", 1).await.unwrap().is_some()
    });
    assert!(!done, "a refused batch was run");
}

#[test]
fn an_unreachable_server_is_a_clear_error_not_a_hang() {
    let port = free_port();
    let url = format!("nats://127.0.0.1:{port}");
    let started = Instant::now();
    let o = run_command(canon_cmd().args(["run", PROGRAM, "--sessions", "2", "--cluster", &url]));
    o.expect_clean_failure().stderr_has(&["cannot reach NATS", &url, "after 3 attempts"]);
    let o = run_command(canon_cmd().args(["worker", "--nats", &url]));
    o.expect_clean_failure().stderr_has(&["cannot reach NATS"]);
    assert!(started.elapsed() < Duration::from_secs(30), "took {:?}", started.elapsed());
}

/// The checkpoint manifest of batch `batch` of `run`, once one is stored; at most 60 s.
fn wait_for_checkpoint(url: &str, run: &str, batch: u32) -> canon_cluster::wire::CheckpointManifest {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let cluster = canon_cluster::Cluster::connect(url, "test").await.expect("connect");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let key = canon_cluster::store::checkpoint_key(run, batch);
            if let Some(v) = cluster.checkpoints.get(&key).await.expect("read the checkpoints bucket") {
                return serde_json::from_slice(&v).expect("a checkpoint manifest");
            }
            assert!(Instant::now() < deadline, "no checkpoint of batch {batch} of run {run} was stored");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
}

/// The keys of the checkpoints bucket that belong to `run`.
fn checkpoint_keys(url: &str, run: &str) -> Vec<String> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        use futures_util::StreamExt;
        let cluster = canon_cluster::Cluster::connect(url, "test").await.expect("connect");
        let mut keys = cluster.checkpoints.keys().await.expect("list keys");
        let mut mine = Vec::new();
        while let Some(k) = keys.next().await {
            let k = k.unwrap();
            if k.starts_with(&format!("{run}.")) {
                mine.push(k);
            }
        }
        mine
    })
}

/// A worker SIGKILLed in the middle of a long batch, after it stored a
/// checkpoint of it: the batch is redelivered to another worker, which
/// resumes it from that checkpoint (its log and its `resumed` counter say
/// so) rather than from its first group; the replay is the local run's, and
/// the finished batch's checkpoint is deleted.
#[test]
fn a_redelivered_batch_resumes_from_its_checkpoint() {
    let Some(bin) = nats_server() else {
        println!("skipped: nats-server is not installed (apt-get install nats-server)");
        return;
    };
    let dir = temp_dir("cluster-checkpoint");
    let server = start_server(&bin, &dir);
    let task = "fixtures/seeds/iterative_task.canon";
    let sessions = "20000";
    let local = dir.join("local.replay");
    let l = run_command(canon_cmd().args(["run", task, "--sessions", sessions, "--auth", "none", "-o"]).arg(&local));
    l.expect_code(0);
    let every = ["--checkpoint-every", "2000"];
    let mut first = start_worker(&server.url, "first", &dir.join("first.log"), &every);
    // One batch of every instance: the worker holding it holds the whole run.
    let out = dir.join("resumed.replay");
    let mut coordinator = canon_cmd()
        .args(["run", task, "--sessions", sessions, "--auth", "none", "--cluster", &server.url])
        .args(["--batch", sessions, "-o"])
        .arg(&out)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (run, _lines) = run_id_of(&mut coordinator);
    let stored = wait_for_checkpoint(&server.url, &run, 0);
    first.0.kill().expect("SIGKILL the worker");
    let _ = first.0.wait();
    assert_eq!(stored.worker, "first");
    assert!(!checkpoint_keys(&server.url, &run).is_empty());
    let metrics = format!("127.0.0.1:{}", free_port());
    let second_log = dir.join("second.log");
    let mut args = every.to_vec();
    args.extend(["--metrics-addr", metrics.as_str()]);
    let second = start_worker(&server.url, "second", &second_log, &args);
    let o = coordinator.wait_with_output().expect("the coordinator finishes");
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&o.stderr));
    assert_identical(&(std::fs::read(&local).unwrap(), summary_tail(&l.stdout)), &out, &stdout, "resumed batch");
    let log = std::fs::read_to_string(&second_log).unwrap();
    assert!(
        log.contains(&format!("resuming batch 0 of run {run} from its checkpoint at group"))
            && log.contains("(stored by first)"),
        "the redelivered batch was not resumed from its checkpoint:\n{log}"
    );
    let m = scrape(&metrics);
    assert!(m.contains("canon_worker_resumed_total 1\n"), "{m}");
    assert!(m.contains("canon_worker_batches_total 1\n"), "{m}");
    // The finished batch's checkpoint (manifest and parts) is gone.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !checkpoint_keys(&server.url, &run).is_empty() {
        assert!(Instant::now() < deadline, "checkpoint left behind: {:?}", checkpoint_keys(&server.url, &run));
        std::thread::sleep(Duration::from_millis(100));
    }
    drop(second);
}

/// `--metrics` on a cluster run: the batches' report totals and the replay
/// read back give the metrics of the local run, in JSON and in the
/// Prometheus text, whether the replay goes to a file or nowhere.
#[test]
fn a_cluster_run_has_the_metrics_of_the_local_run() {
    let Some(bin) = nats_server() else {
        println!("skipped: nats-server is not installed (apt-get install nats-server)");
        return;
    };
    let dir = temp_dir("cluster-metrics");
    let server = start_server(&bin, &dir);
    let base = ["run", PROGRAM, "--sessions", "1000", "--auth", "none"];
    let file = |name: &str| dir.join(name).to_string_lossy().into_owned();
    for format in ["json", "prometheus"] {
        let local = format!("{format}={}", file(&format!("local.{format}")));
        run_command(canon_cmd().args(base).args(["--metrics", &local])).expect_code(0);
    }
    let _worker = start_worker(&server.url, "w0", &dir.join("w0.log"), &[]);
    let cluster = ["--cluster", &server.url, "--batch", "100"];
    // With -o, the metrics in a file; without, printed after the summary.
    let json = format!("json={}", file("cluster.json"));
    let out = file("cluster.replay");
    run_command(canon_cmd().args(base).args(cluster).args(["-o", &out, "--metrics", &json])).expect_code(0);
    let printed = run_command(canon_cmd().args(base).args(cluster).args(["--metrics", "prometheus"]));
    printed.expect_code(0);
    let read = |name: &str| std::fs::read_to_string(dir.join(name)).expect(name);
    assert_eq!(read("cluster.json"), read("local.json"));
    let prom = printed.stdout.find("# HELP").map(|at| &printed.stdout[at..]).expect("the metrics follow the summary");
    assert_eq!(prom, read("local.prometheus"));
    let j: serde_json::Value = serde_json::from_str(&read("cluster.json")).unwrap();
    assert_eq!(j["instances"].as_u64(), Some(1000));
    assert!(j["instructions"].as_u64().is_some_and(|n| n > 0));
}

/// `--owner` travels with the run parameters: the workers claim every
/// instance's session, so a choreography with readiness checks runs as it
/// does locally (without the owner, each instance's first check is refused).
#[test]
fn an_owned_cluster_run_is_byte_identical_to_the_local_run() {
    let Some(bin) = nats_server() else {
        println!("skipped: nats-server is not installed (apt-get install nats-server)");
        return;
    };
    let dir = temp_dir("cluster-owner");
    let server = start_server(&bin, &dir);
    let workers = [
        start_worker(&server.url, "o0", &dir.join("o0.log"), &[]),
        start_worker(&server.url, "o1", &dir.join("o1.log"), &[]),
    ];
    let program = "fixtures/shipment_checks.canon";
    let run = |extra: &[&str], out: &Path| {
        run_command(
            canon_cmd().args(["run", program, "--sessions", "120", "--owner", "shop", "-o"]).arg(out).args(extra),
        )
    };
    let local = dir.join("local.replay");
    let l = run(&[], &local);
    l.expect_code(0);
    let clustered = dir.join("cluster.replay");
    let o = run(&["--cluster", &server.url, "--batch", "16"], &clustered);
    o.expect_code(0);
    let shown = run_command(canon_cmd().args(["replay", "show"]).arg(&clustered));
    shown.expect_code(0);
    assert!(shown.stdout.contains("g119 c3 s0:Carrier WitnessConsume"), "the last instance's checks are not consumed");
    assert_identical(&(std::fs::read(&local).unwrap(), summary_tail(&l.stdout)), &clustered, &o.stdout, "owned run");
    let unowned = run_command(
        canon_cmd()
            .args(["run", program, "--sessions", "120", "--cluster", &server.url, "--batch", "16", "-o"])
            .arg(dir.join("unowned.replay")),
    );
    unowned.expect_code(3);
    drop(workers);
}

/// A coordinator and its workers start together, and each creates the
/// streams and buckets it finds missing: clients connecting to a fresh
/// server at once must all succeed, whichever of them creates each stream.
#[test]
fn clients_connecting_at_once_to_a_fresh_server_all_connect() {
    let Some(bin) = nats_server() else {
        println!("skipped: nats-server is not installed (apt-get install nats-server)");
        return;
    };
    for round in 0..30 {
        let dir = temp_dir(&format!("cluster-connect-{round}"));
        let server = start_server(&bin, &dir);
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let failures: Vec<String> = rt.block_on(async {
            let tasks: Vec<_> = (0..16)
                .map(|i| {
                    let url = server.url.clone();
                    tokio::spawn(async move { canon_cluster::Cluster::connect(&url, &format!("client{i}")).await })
                })
                .collect();
            let mut failures = Vec::new();
            for t in tasks {
                if let Err(e) = t.await.expect("the task ends") {
                    failures.push(e.to_string());
                }
            }
            failures
        });
        assert!(failures.is_empty(), "round {round}: {failures:?}");
    }
}
