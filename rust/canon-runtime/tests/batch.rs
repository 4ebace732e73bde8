//! A batch of a run (`canon_runtime::Batch`, what a cluster worker runs):
//! run in segments, each paused segment checkpointed, encoded to bytes and
//! resumed in a fresh machine, it gives exactly the blocks `run_groups`
//! gives for the same groups; a checkpoint resumed with blocks other than
//! the ones it records, or of another batch, program or configuration, is
//! refused.

use std::path::Path;
use std::sync::Arc;

use canon_bytecode::{VerifiedProgram, decode, verify};
use canon_machine::{Auth, Config, KeySeed, KeySource, ReplayMode};
use canon_replay::EncodedBlocks;
use canon_runtime::{Batch, BatchSegment, Checkpoint, CheckpointError, GroupReport, Machine, SeededHost, run_groups};

fn program(name: &str) -> Arc<VerifiedProgram> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().and_then(Path::parent).expect("workspace root");
    let bytes = std::fs::read(root.join("fixtures/asm").join(name)).expect("fixture");
    Arc::new(verify(decode(&bytes).expect("decodes")).expect("verifies"))
}

/// A run's machine as its loader builds it: `count` instances, lazily.
fn machine(name: &str, config: Config, count: u32) -> Machine {
    let mut m = Machine::new(config);
    if config.auth != Auth::None {
        m.set_key_source(KeySource::Seed(KeySeed::TEST_ONLY_PUBLIC));
    }
    let seed = config.seed;
    m.load_lazy(&program(name), count, Box::new(move |i| Box::new(SeededHost::new(seed ^ u64::from(i)))), &[])
        .expect("loads");
    m
}

fn bytes_of(blocks: &EncodedBlocks) -> Vec<(Vec<u8>, [u8; 32])> {
    blocks.blocks().map(|(b, d)| (b.to_vec(), *d)).collect()
}

/// Runs batch `groups` pausing every `every` rounds; at every pause the
/// batch is checkpointed, the checkpoint encoded, decoded and resumed on a
/// fresh machine. Returns the blocks, the reports and the pauses.
fn segmented(
    name: &str,
    config: Config,
    count: u32,
    groups: std::ops::Range<usize>,
    every: u64,
) -> (EncodedBlocks, Vec<GroupReport>, usize) {
    let mut batch = Batch::start(machine(name, config, count), groups.clone()).expect("a batch");
    let (mut blocks, mut reports, mut pauses) = (EncodedBlocks::default(), Vec::new(), 0);
    loop {
        match batch.run(Some(every), &mut |r| reports.push(r.clone())).expect("runs") {
            BatchSegment::Finished(last) => {
                blocks.extend_from(&last);
                return (blocks, reports, pauses);
            }
            BatchSegment::Paused(segment) => {
                pauses += 1;
                blocks.extend_from(&segment);
                let bytes = batch.checkpoint().expect("checkpoints").to_bytes();
                let checkpoint = Checkpoint::from_bytes(&bytes).expect("decodes");
                assert!((groups.start..groups.end).contains(&(checkpoint.header.next_group as usize)));
                assert_eq!(checkpoint.group_count(), Ok(groups.end as u64));
                batch =
                    Batch::resume(machine(name, config, count), groups.clone(), &checkpoint, &blocks).expect("resumes");
                assert_eq!(batch.next_group(), checkpoint.header.next_group as usize);
            }
        }
    }
}

#[test]
fn a_batch_resumed_from_its_checkpoints_gives_the_blocks_of_an_uninterrupted_one() {
    let configs = [
        Config { seed: 7, auth: Auth::None, replay_mode: ReplayMode::Off, ..Config::default() },
        Config { seed: 3, auth: Auth::Ed25519, replay_mode: ReplayMode::Sequence, ..Config::default() },
    ];
    for config in configs {
        for (name, count) in [("choice.cbc", 30), ("ping_pong_loop.cbc", 12), ("three_party_relay.cbc", 12)] {
            for groups in [0..count as usize, 5..count as usize - 1, 1..2] {
                let mut whole_reports = Vec::new();
                let whole = run_groups(&mut machine(name, config, count), groups.clone(), &mut |r| {
                    whole_reports.push(r.clone())
                });
                for every in [1, 3, 17, 1000] {
                    let (blocks, reports, pauses) = segmented(name, config, count, groups.clone(), every);
                    let what = format!("{name} groups {groups:?} every {every} rounds ({pauses} pauses)");
                    assert!(bytes_of(&blocks) == bytes_of(&whole), "{what}: the blocks differ");
                    assert_eq!(blocks.event_count(), whole.event_count(), "{what}");
                    assert_eq!(reports, whole_reports, "{what}: the reports differ");
                    if every == 1 {
                        assert!(pauses > 0, "{what}: never paused");
                    }
                }
            }
        }
    }
}

/// A checkpoint of batch 10..20 after a few segments, and the blocks before it.
fn paused_batch(config: Config) -> (Checkpoint, EncodedBlocks) {
    let mut batch = Batch::start(machine("choice.cbc", config, 30), 10..20).expect("a batch");
    let mut blocks = EncodedBlocks::default();
    for _ in 0..6 {
        match batch.run(Some(2), &mut |_| {}).expect("runs") {
            BatchSegment::Paused(segment) => blocks.extend_from(&segment),
            BatchSegment::Finished(_) => panic!("the batch is longer than 12 rounds"),
        }
    }
    assert!(blocks.block_count() > 1, "make the batch longer");
    (batch.checkpoint().expect("checkpoints"), blocks)
}

#[test]
fn a_checkpoint_is_resumed_only_with_its_own_blocks_batch_and_configuration() {
    let config = Config { seed: 7, auth: Auth::None, replay_mode: ReplayMode::Off, ..Config::default() };
    let (checkpoint, blocks) = paused_batch(config);
    let fresh = || machine("choice.cbc", config, 30);
    assert!(Batch::resume(fresh(), 10..20, &checkpoint, &blocks).is_ok());
    let position = |r: Result<Batch, CheckpointError>| match r {
        Err(CheckpointError::BadPosition { reason }) => reason,
        Err(e) => panic!("expected a refused position, got {e}"),
        Ok(_) => panic!("resumed"),
    };
    // Blocks missing, added or changed.
    let mut fewer = EncodedBlocks::default();
    blocks.blocks().take(blocks.block_count() - 1).for_each(|(b, _)| {
        fewer.push_block(b).expect("a block");
    });
    assert!(position(Batch::resume(fresh(), 10..20, &checkpoint, &fewer)).contains("are not those it records"));
    let mut more = EncodedBlocks::default();
    more.extend_from(&blocks);
    more.extend_from(&fewer);
    assert!(position(Batch::resume(fresh(), 10..20, &checkpoint, &more)).contains("are not those it records"));
    let mut changed = EncodedBlocks::default();
    for (i, (b, _)) in blocks.blocks().enumerate() {
        let mut b = b.to_vec();
        if i == 0 {
            let last = b.len() - 1;
            b[last] ^= 1;
        }
        changed.push_block(&b).expect("a block");
    }
    assert!(position(Batch::resume(fresh(), 10..20, &checkpoint, &changed)).contains("are not those it records"));
    // Another batch: ending elsewhere, or starting after the checkpoint's group.
    let next = checkpoint.header.next_group as usize;
    assert!(next + 1 < 20, "make the paused batch shorter");
    for other in [0..10, 10..21, 20..30, next + 1..20] {
        assert!(
            position(Batch::resume(fresh(), other.clone(), &checkpoint, &blocks)).contains("is not one of batch"),
            "{other:?}"
        );
    }
    // Another configuration, another program.
    let seed8 = Config { seed: 8, ..config };
    assert!(matches!(
        Batch::resume(machine("choice.cbc", seed8, 30), 10..20, &checkpoint, &blocks),
        Err(CheckpointError::ConfigMismatch)
    ));
    assert!(matches!(
        Batch::resume(machine("ping_pong_loop.cbc", config, 30), 10..20, &checkpoint, &blocks),
        Err(CheckpointError::ProgramMismatch { .. })
    ));
    // A machine that is not a fresh one of the run, or a batch outside it.
    assert!(position(Batch::start(fresh(), 25..31)).contains("not inside the run"));
    assert!(position(Batch::start(fresh(), 5..5)).contains("not inside the run"));
    assert!(position(Batch::resume(Machine::new(config), 10..20, &checkpoint, &blocks)).contains("loaded lazily"));
}
