//! `canon run --checkpoint-every` and `canon resume`: checkpoints written
//! atomically into a directory during a run, and a run continued from one
//! (bytecode-spec/checkpoint.md).

use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use anyhow::{Context, Result, bail};
use canon_runtime::{
    CHECKPOINT_HEADER_BYTES, Checkpoint, GroupReport, MAX_CHECKPOINT_BODY_BYTES, Machine, Progress, RunSummary, Runner,
    SeededHost, Segment,
};
use clap::Args;
use sha2::{Digest, Sha256};

use canon_types::hex;

/// Checkpointing flags of `canon run`.
#[derive(Args, Debug, Clone)]
pub struct CheckpointArgs {
    /// Pause every ROUNDS rounds (summed over instances) and write a checkpoint to --checkpoint-dir
    /// (needs -o: a resumed run appends to the replay).
    #[arg(long, value_name = "ROUNDS", requires = "checkpoint_dir")]
    pub checkpoint_every: Option<u64>,
    /// Where checkpoints go: ckpt-NNNNNNNN.ckpt, latest.ckpt (the newest) and run.json (how to resume).
    #[arg(long, value_name = "DIR", requires = "checkpoint_every")]
    pub checkpoint_dir: Option<PathBuf>,
    /// Numbered checkpoints kept (older ones are deleted; latest.ckpt is always kept).
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub keep: usize,
}

/// What `canon resume` needs besides the checkpoint, written to `run.json`
/// in the checkpoint directory when the run starts.
#[derive(Debug, Clone)]
pub struct RunRecord {
    pub input: PathBuf,
    pub protocol: Option<String>,
    pub output: PathBuf,
    pub threaded: bool,
    pub workers: usize,
    pub key_seed_file: Option<PathBuf>,
    pub every: u64,
    pub keep: usize,
}

impl RunRecord {
    fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "input": self.input.to_string_lossy(),
            "protocol": self.protocol,
            "output": self.output.to_string_lossy(),
            "runner": if self.threaded { "threaded" } else { "cooperative" },
            "workers": self.workers,
            "key_seed_file": self.key_seed_file.as_ref().map(|p| p.to_string_lossy().into_owned()),
            "checkpoint_every": self.every,
            "keep": self.keep,
        })
    }

    fn from_json(v: &serde_json::Value) -> Option<RunRecord> {
        let path = |k: &str| v.get(k)?.as_str().map(PathBuf::from);
        Some(RunRecord {
            input: path("input")?,
            protocol: v.get("protocol")?.as_str().map(str::to_owned),
            output: path("output")?,
            threaded: v.get("runner")?.as_str()? == "threaded",
            workers: usize::try_from(v.get("workers")?.as_u64()?).ok()?,
            key_seed_file: path("key_seed_file"),
            every: v.get("checkpoint_every")?.as_u64()?.max(1),
            keep: usize::try_from(v.get("keep")?.as_u64()?).ok()?,
        })
    }
}

/// Where checkpoints are written and how many are kept.
pub struct Checkpointing {
    pub dir: PathBuf,
    pub every: u64,
    pub keep: usize,
}

impl Checkpointing {
    /// Starts a checkpointed run: creates the directory and writes `run.json`.
    pub fn start(record: &RunRecord, dir: &Path) -> Result<Checkpointing> {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let text = serde_json::to_string_pretty(&record.to_json())?;
        write_atomic(&dir.join("run.json"), text.as_bytes())?;
        Ok(Checkpointing { dir: dir.to_path_buf(), every: record.every.max(1), keep: record.keep })
    }

    /// Writes `ckpt-N.ckpt` (N one past the highest present) and
    /// `latest.ckpt`, each atomically (temporary file, then rename), and
    /// deletes all but the newest `keep` numbered ones.
    fn save(&self, checkpoint: &Checkpoint) -> Result<()> {
        let bytes = checkpoint.to_bytes();
        let mut numbered = self.numbered()?;
        let n = numbered.last().map_or(0, |(n, _)| n + 1);
        let path = self.dir.join(format!("ckpt-{n:08}.ckpt"));
        write_atomic(&path, &bytes)?;
        write_atomic(&self.dir.join("latest.ckpt"), &bytes)?;
        numbered.push((n, path));
        let excess = numbered.len().saturating_sub(self.keep.max(1));
        for (_, old) in &numbered[..excess] {
            std::fs::remove_file(old).with_context(|| format!("cannot remove {}", old.display()))?;
        }
        Ok(())
    }

    /// The numbered checkpoints present, oldest first.
    fn numbered(&self) -> Result<Vec<(u64, PathBuf)>> {
        let mut found = Vec::new();
        for entry in std::fs::read_dir(&self.dir).with_context(|| format!("cannot read {}", self.dir.display()))? {
            let path = entry?.path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if let Some(n) = name.strip_prefix("ckpt-").and_then(|r| r.strip_suffix(".ckpt"))
                && let Ok(n) = n.parse::<u64>()
            {
                found.push((n, path));
            }
        }
        found.sort();
        Ok(found)
    }
}

/// Writes `bytes` to `path` atomically: a temporary file in the same
/// directory, flushed, then renamed over `path`.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir).with_context(|| format!("cannot write in {}", dir.display()))?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

/// Runs `machine` to its end, pausing to checkpoint when asked.
pub fn drive(
    runner: &dyn Runner,
    machine: &mut Machine,
    sink: &mut dyn Write,
    observe: &mut dyn FnMut(Progress),
    each: &mut dyn FnMut(&GroupReport),
    stop: &AtomicBool,
    checkpointing: Option<&Checkpointing>,
) -> Result<RunSummary> {
    loop {
        let every = checkpointing.map(|c| c.every);
        match runner.run_segment_until(machine, sink, observe, each, every, stop)? {
            Segment::Finished(summary) => return Ok(*summary),
            Segment::Paused => {
                if let Some(c) = checkpointing {
                    c.save(&machine.checkpoint()?)?;
                }
            }
        }
    }
}

/// `canon resume`.
#[derive(Args, Debug)]
pub struct ResumeArgs {
    /// The checkpoint (e.g. DIR/latest.ckpt); its directory holds run.json.
    pub checkpoint: PathBuf,
    /// Write the replay here (the checkpointed prefix is copied first). Default: the run's own replay,
    /// truncated to the checkpoint and continued.
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// Print only one status line.
    #[arg(short, long)]
    pub quiet: bool,
}

/// Reads a checkpoint file, bounded by the format's limit.
fn read_checkpoint(path: &Path) -> Result<Checkpoint> {
    let file = std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut bytes = Vec::new();
    let limit = CHECKPOINT_HEADER_BYTES as u64 + MAX_CHECKPOINT_BODY_BYTES + 1;
    file.take(limit).read_to_end(&mut bytes).with_context(|| format!("cannot read {}", path.display()))?;
    Checkpoint::from_bytes(&bytes).with_context(|| format!("{} is refused", path.display()))
}

/// Checks that `replay` holds the checkpointed prefix: at least
/// `replay_bytes` bytes, ending in the running root (the chain hash stored
/// after the last block), or, before any block, a header hashing to it.
fn check_prefix(replay: &mut std::fs::File, ck: &Checkpoint) -> Result<()> {
    let h = &ck.header;
    let len = replay.metadata()?.len();
    if len < h.replay_bytes {
        bail!("the replay holds {len} bytes, fewer than the checkpoint's {}", h.replay_bytes);
    }
    let ok = if h.blocks == 0 {
        let mut prefix = vec![0; usize::try_from(h.replay_bytes)?];
        replay.seek(std::io::SeekFrom::Start(0))?;
        replay.read_exact(&mut prefix)?;
        Sha256::digest(&prefix).as_slice() == h.chain
    } else {
        let mut root = [0; 32];
        replay.seek(std::io::SeekFrom::Start(h.replay_bytes.saturating_sub(32)))?;
        replay.read_exact(&mut root)?;
        root == h.chain
    };
    if !ok {
        bail!("the replay's first {} bytes do not end at the checkpoint's root {}", h.replay_bytes, hex(&h.chain));
    }
    Ok(())
}

pub fn resume(args: &ResumeArgs, out: &mut crate::out::Out) -> Result<u8> {
    let ck = read_checkpoint(&args.checkpoint)?;
    let dir = args.checkpoint.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let record_path = dir.join("run.json");
    let text =
        std::fs::read_to_string(&record_path).with_context(|| format!("cannot read {}", record_path.display()))?;
    let record = serde_json::from_str(&text)
        .ok()
        .as_ref()
        .and_then(RunRecord::from_json)
        .with_context(|| format!("{} is not a run record", record_path.display()))?;
    let program = crate::input::program_file(&record.input, record.protocol.as_deref())?;
    let config = ck.config()?;
    let (keys, _) = crate::keygen_cmd::run_key_source(record.key_seed_file.as_deref(), config.auth)?;
    let seed = config.seed;
    let mut machine = Machine::restore(
        &program,
        &ck,
        Box::new(move |i| Box::new(SeededHost::new(crate::run_cmd::instance_seed(seed, i)))),
        keys,
    )?;
    let output = args.output.clone().unwrap_or_else(|| record.output.clone());
    if output != record.output {
        let mut from = std::fs::File::open(&record.output)
            .with_context(|| format!("cannot read the run's replay {}", record.output.display()))?;
        check_prefix(&mut from, &ck).with_context(|| format!("{}", record.output.display()))?;
        from.seek(std::io::SeekFrom::Start(0))?;
        let mut to = std::fs::File::create(&output).with_context(|| format!("cannot write {}", output.display()))?;
        std::io::copy(&mut from.take(ck.header.replay_bytes), &mut to)?;
    }
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&output)
        .with_context(|| format!("cannot open {}", output.display()))?;
    check_prefix(&mut file, &ck).with_context(|| format!("{}", output.display()))?;
    file.set_len(ck.header.replay_bytes)?;
    file.seek(std::io::SeekFrom::End(0))?;
    let mut note = std::fs::OpenOptions::new().create(true).append(true).open(sidecar(&output))?;
    writeln!(
        note,
        "resumed from {} at group {}, replay byte {}, block {}, root {}",
        args.checkpoint.display(),
        ck.header.next_group,
        ck.header.replay_bytes,
        ck.header.blocks,
        hex(&ck.header.chain)
    )?;
    let checkpointing = Checkpointing { dir: dir.to_path_buf(), every: record.every, keep: record.keep };
    let mut sink = std::io::BufWriter::with_capacity(1 << 16, file);
    let runner: Box<dyn Runner> = if record.threaded {
        Box::new(canon_runtime::ThreadedRunner::new(record.workers))
    } else {
        Box::new(canon_runtime::CooperativeRunner)
    };
    let stop = std::sync::atomic::AtomicBool::new(false);
    let summary =
        drive(runner.as_ref(), &mut machine, &mut sink, &mut |_| {}, &mut |_| {}, &stop, Some(&checkpointing))
            .with_context(|| format!("resuming into {}", output.display()))?;
    sink.flush()?;
    let status = crate::run_cmd::summary_status_line(&summary);
    if args.quiet {
        writeln!(out, "{status}")?;
    } else {
        let from = ck.header.next_group;
        writeln!(out, "resumed {} from group {from} into {}", record.input.display(), output.display())?;
        writeln!(
            out,
            "  instances {}, sessions {}, messages {}, events {}, rounds {}: {status}",
            summary.groups, summary.sessions, summary.messages, summary.events, summary.rounds
        )?;
        writeln!(out, "  root {}", hex(&summary.root))?;
    }
    Ok(crate::run_cmd::summary_status(&summary))
}

/// The non-canonical note beside a resumed replay: `REPLAY.resumed`.
pub fn sidecar(replay: &Path) -> PathBuf {
    let mut name = replay.as_os_str().to_owned();
    name.push(".resumed");
    PathBuf::from(name)
}
