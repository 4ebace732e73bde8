//! Host-side ownership of loaded instances: mutation of an owned instance
//! needs its current owner handle; a stale or foreign handle fails closed.

use std::sync::Arc;

use canon_machine::{EventKind, OwnershipRecord};
use canon_replay::Replay;
use canon_runtime::{Config, CooperativeRunner, LoadError, Machine, Runner, SeededHost, reexecute};
use canon_types::ErrorCode;

const PING: &str = "
.type ta = B!Ping(Int).end
.type tb = A?Ping(Int).end
.entry main
.proc main() regs 2
    open roles [A, B], types [ta, tb], handlers [default, default], dsts [r0, r1]
    spawn role_a, [r0]
    spawn role_b, [r1]
    halt
.end
.proc role_a(ep ta) regs 2
    produce r1, r0, Ping
    send r0, Ping, r1
    close r0
    halt
.end
.proc role_b(ep tb) regs 2
    recv r0, Ping, r1
    close r0
    halt
.end
";

#[test]
fn host_side_mutation_of_an_owned_instance_needs_the_current_owner() {
    let program = Arc::new(canon_bytecode::verify(canon_bytecode::assemble(PING).unwrap()).unwrap());
    let mut machine = Machine::new(Config::default());
    let (group, first) = machine.load_choreography_owned(&program, Box::new(SeededHost::new(1)), "alice").unwrap();
    // No handle, no mutation.
    assert!(machine.group_mut(group).is_none());
    assert!(machine.group_mut_as(group, &first).is_ok());
    let second = machine.transfer(group, &first, "bob").unwrap();
    assert_eq!(second.generation, 1);
    // The old owner can no longer set an endpoint key, and nothing changes.
    let err = machine.group_mut_as(group, &first).err().unwrap();
    assert_eq!(err.code(), 4005);
    assert!(matches!(err, LoadError::StaleOwner { presented: 0, generation: 1, .. }));
    assert_eq!(machine.owner(group), Some(&second));
    let g = machine.group_mut_as(group, &second).unwrap();
    assert!(g.set_endpoint_key(0, 0, [7; 32]).is_ok());
    // A stale transfer fails closed too.
    assert_eq!(machine.transfer(group, &first, "mallory").err().map(|e| e.code()), Some(4005));
    assert_eq!(machine.owner(group), Some(&second));
    // An instance loaded without an owner stays freely configurable.
    let free = machine.load(&program, Box::new(SeededHost::new(2))).unwrap();
    assert!(machine.group_mut(free).is_some());
    assert_eq!(machine.group_mut_as(free, &second).err().map(|e| e.code()), Some(4004));
}

#[test]
fn ownership_operations_are_in_the_replay_and_re_execute_identically() {
    let program = Arc::new(canon_bytecode::verify(canon_bytecode::assemble(PING).unwrap()).unwrap());
    let run = |with_owners: bool| {
        let mut machine = Machine::new(Config::default());
        if with_owners {
            let (group, alice) =
                machine.load_choreography_owned(&program, Box::new(SeededHost::new(1)), "alice").unwrap();
            let bob = machine.transfer(group, &alice, "bob").unwrap();
            assert!(machine.transfer(group, &alice, "mallory").is_err());
            assert!(machine.group_mut_as(group, &bob).is_ok());
        } else {
            machine.load(&program, Box::new(SeededHost::new(1))).unwrap();
        }
        let outcome = CooperativeRunner.run(&mut machine);
        Replay::decode(outcome.replay_bytes()).unwrap()
    };
    let (owned, plain) = (run(true), run(false));
    assert_ne!(owned.events, plain.events, "ownership operations leave a trace");
    let records: Vec<OwnershipRecord> = owned
        .events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Ownership { record } => Some(record.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(
        records,
        vec![
            OwnershipRecord::Claimed { owner: Arc::from("alice"), generation: 0 },
            OwnershipRecord::Transferred { from: Arc::from("alice"), to: Arc::from("bob"), generation: 1 },
            OwnershipRecord::Rejected { code: 4005, owner: Arc::from("alice"), generation: 0 },
        ]
    );
    // Right after Spawned, at tick 0, by no coroutine.
    assert!(matches!(owned.events[0].kind, EventKind::Spawned { .. }));
    assert!(owned.events[1..4].iter().all(|e| e.site.tick == 0 && e.site.coroutine == u32::MAX));
    // The capability lifecycle log, computed from the replay alone.
    let log: Vec<String> = canon_replay::capability_lifecycle_audit_log(&owned)
        .iter()
        .map(|e| format!("{:?} {}", e.object, e.action))
        .collect();
    assert_eq!(
        log,
        vec![
            r#"Owner { label: "alice", generation: 0 } claimed"#,
            r#"Owner { label: "alice", generation: 0 } revoked"#,
            r#"Owner { label: "bob", generation: 1 } activated"#,
            r#"Owner { label: "alice", generation: 0 } rejected code=4005"#,
        ]
    );
    let again = reexecute(&program, &owned).unwrap();
    assert_eq!(again.events, owned.events);
    assert_eq!(again.root, owned.root);
}

/// A host ownership operation, naming a handle by its index among all
/// handles issued so far (so stale handles are exercised).
#[derive(Debug, Clone)]
enum Op {
    Transfer { handle: usize, to: u8 },
    Mutate { handle: usize },
}

fn op() -> impl proptest::strategy::Strategy<Value = Op> {
    use proptest::prelude::*;
    prop_oneof![
        (0..8usize, 0..4u8).prop_map(|(handle, to)| Op::Transfer { handle, to }),
        (0..8usize).prop_map(|handle| Op::Mutate { handle }),
    ]
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

    /// Random sequences of transfers and guarded mutations with fresh and
    /// stale handles: the machine agrees with the model (the last issued
    /// handle is the only live one) after every step, every operation is
    /// recorded, and re-execution reproduces the replay.
    #[test]
    fn host_ownership_operations_follow_the_model(ops in proptest::collection::vec(op(), 0..12)) {
        let program = Arc::new(canon_bytecode::verify(canon_bytecode::assemble(PING).unwrap()).unwrap());
        let mut machine = Machine::new(Config::default());
        let (group, first) = machine.load_choreography_owned(&program, Box::new(SeededHost::new(3)), "o0").unwrap();
        let mut handles = vec![first];
        let mut expected = vec![OwnershipRecord::Claimed { owner: Arc::from("o0"), generation: 0 }];
        for op in &ops {
            let live = handles.last().unwrap().clone();
            match op {
                Op::Transfer { handle, to } => {
                    let h = handles[handle % handles.len()].clone();
                    let label = format!("o{to}");
                    let got = machine.transfer(group, &h, &label);
                    if h == live {
                        let next = got.unwrap();
                        proptest::prop_assert_eq!(next.generation, live.generation + 1);
                        expected.push(OwnershipRecord::Transferred {
                            from: Arc::from(h.label.as_str()),
                            to: Arc::from(label.as_str()),
                            generation: next.generation,
                        });
                        handles.push(next);
                    } else {
                        proptest::prop_assert_eq!(got.err().map(|e| e.code()), Some(4005));
                        expected.push(OwnershipRecord::Rejected {
                            code: 4005,
                            owner: Arc::from(h.label.as_str()),
                            generation: h.generation,
                        });
                    }
                }
                Op::Mutate { handle } => {
                    let h = handles[handle % handles.len()].clone();
                    let ok = machine.group_mut_as(group, &h).is_ok();
                    proptest::prop_assert_eq!(ok, h == live);
                    if !ok {
                        expected.push(OwnershipRecord::Rejected {
                            code: 4005,
                            owner: Arc::from(h.label.as_str()),
                            generation: h.generation,
                        });
                    }
                }
            }
            proptest::prop_assert_eq!(machine.owner(group), handles.last());
        }
        let outcome = CooperativeRunner.run(&mut machine);
        let replay = Replay::decode(outcome.replay_bytes()).unwrap();
        let records: Vec<OwnershipRecord> = replay
            .events
            .iter()
            .filter_map(|e| match &e.kind {
                EventKind::Ownership { record } => Some(record.clone()),
                _ => None,
            })
            .collect();
        proptest::prop_assert_eq!(records, expected);
        let again = reexecute(&program, &replay).unwrap();
        proptest::prop_assert_eq!(again.root, replay.root);
    }
}
