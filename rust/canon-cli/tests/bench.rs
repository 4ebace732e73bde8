//! `canon bench` through the real binary: every workload runs at its tiny
//! `--quick` size and prints well-formed figures (their values are not checked:
//! they are wall-clock measurements).

mod common;

use common::canon;

const WORKLOADS: &[&str] = &[
    "ping_pong",
    "ping_pong_signed",
    "session_churn",
    "two_buyer",
    "two_buyer_signed",
    "parallel_sessions",
    "replay_write",
    "reexecute",
    "send_recv",
    "run_yield_small",
    "choice_heavy",
    "short_lived_session_churn",
];

#[test]
fn list_names_every_workload() {
    let o = canon(&["bench", "--list"]);
    o.expect_code(0);
    assert_eq!(o.stdout.lines().collect::<Vec<_>>(), WORKLOADS, "{o}");
}

#[test]
fn every_workload_prints_one_json_object_per_figure() {
    let o = canon(&["bench", "--quick", "--json"]);
    o.expect_code(0);
    let mut seen = Vec::new();
    for line in o.stdout.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        let obj = v.as_object().unwrap_or_else(|| panic!("not an object: {line}"));
        let mut keys: Vec<_> = obj.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(keys, ["allocs_per_op", "ns_per_op", "op", "ops_per_sec", "peak_bytes", "workload"], "{line}");
        assert!(obj["op"].as_str().is_some_and(|s| !s.is_empty()), "{line}");
        for k in ["ns_per_op", "ops_per_sec", "allocs_per_op"] {
            assert!(obj[k].as_f64().is_some_and(|x| x >= 0.0), "{k} in {line}");
        }
        assert!(obj["peak_bytes"].as_u64().is_some(), "{line}");
        let w = obj["workload"].as_str().unwrap_or_default().to_owned();
        if seen.last() != Some(&w) {
            seen.push(w);
        }
    }
    assert_eq!(seen, WORKLOADS, "{o}");
    let ops = |w: &str| -> Vec<String> {
        o.stdout
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|v| v["workload"] == w)
            .map(|v| v["op"].as_str().unwrap_or_default().to_owned())
            .collect()
    };
    assert_eq!(ops("send_recv"), ["off", "sequence", "nullifier"]);
    assert_eq!(ops("parallel_sessions"), ["cooperative", "threaded_2"]);
}

#[test]
fn one_workload_by_name_and_an_unknown_name_is_an_error() {
    let o = canon(&["bench", "run_yield_small", "--quick", "--json"]);
    o.expect_code(0);
    assert_eq!(o.stdout.lines().count(), 1, "{o}");
    assert!(o.stdout.contains("\"workload\":\"run_yield_small\""), "{o}");
    canon(&["bench", "no_such_workload"]).expect_clean_failure().stderr_has(&["send_recv"]);
}
