//! `canon run --metrics json|prometheus[=FILE]`: the Prometheus text parses
//! with a Prometheus text-format parser (the `prometheus-parse` crate), its
//! values agree with the run's replay, and the JSON form carries the same
//! numbers.

mod common;

use std::collections::BTreeMap;

use canon_machine::EventKind;
use common::{arg, canon, temp_dir};
use prometheus_parse::{LineInfo, Scrape, Value};

/// Every sample of a Prometheus text, by name and labels (`name{k="v"}`);
/// histograms by their bucket bounds. Every line must be one the parser
/// recognises (a comment, a sample, or blank).
fn parse(text: &str) -> BTreeMap<String, f64> {
    for line in text.lines() {
        let info = LineInfo::parse(line);
        let comment = line.starts_with("# ");
        assert!(comment || info != LineInfo::Ignored, "the parser does not recognise {line:?}");
    }
    let scrape = Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).expect("parses");
    let mut samples = BTreeMap::new();
    for s in scrape.samples {
        let mut labels: Vec<String> = s.labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
        labels.sort();
        let name = if labels.is_empty() { s.metric.clone() } else { format!("{}{{{}}}", s.metric, labels.join(",")) };
        match s.value {
            Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => {
                samples.insert(name, v);
            }
            Value::Histogram(buckets) => {
                for b in buckets {
                    samples.insert(format!("{name}[le={}]", b.less_than), b.count);
                }
            }
            Value::Summary(_) => panic!("canon writes no summaries"),
        }
    }
    samples
}

#[test]
fn prometheus_metrics_parse_and_agree_with_the_replay() {
    let dir = temp_dir("metrics-prometheus");
    let (replay, prom) = (dir.join("tb.replay"), dir.join("tb.prom"));
    canon(&[
        "run",
        "fixtures/two_buyer.canon",
        "--sessions",
        "10",
        "-o",
        &arg(&replay),
        "--metrics",
        &format!("prometheus={}", arg(&prom)),
    ])
    .expect_code(0);
    let text = std::fs::read_to_string(&prom).expect("the metrics file");
    let m = parse(&text);
    let bytes = std::fs::read(&replay).unwrap();
    let r = canon_replay::Replay::decode(&bytes).unwrap();
    let count = |f: fn(&EventKind) -> bool| r.events.iter().filter(|e| f(&e.kind)).count() as f64;
    assert_eq!(m["canon_instances_total"], 10.0);
    assert_eq!(m["canon_sessions_opened_total"], 10.0);
    assert_eq!(m["canon_sessions_opened_total"], count(|k| matches!(k, EventKind::Opened { .. })));
    assert_eq!(m["canon_sessions_closed_total"], count(|k| matches!(k, EventKind::Closed)));
    assert_eq!(m["canon_messages_sent_total"], count(|k| matches!(k, EventKind::Sent { .. })));
    assert_eq!(m["canon_messages_delivered_total"], count(|k| matches!(k, EventKind::Received { .. })));
    let answers = count(|k| matches!(k, EventKind::HostAnswer { .. }));
    assert_eq!(m["canon_host_calls_total"], answers + m["canon_messages_delivered_total"]);
    assert_eq!(m["canon_events_total"], r.events.len() as f64);
    assert_eq!(m["canon_replay_bytes_total"], bytes.len() as f64);
    assert_eq!(m["canon_replay_blocks_total"], r.block_count() as f64);
    assert_eq!(m["canon_instance_outcomes_total{outcome=\"completed\"}"], 10.0);
    assert!(m["canon_buffer_high_water_messages{edge_kind=\"fifo_block\"}"] >= 1.0);
    // Histograms: every session ended, the +Inf bucket holds them all.
    assert_eq!(m["canon_session_duration_rounds[le=inf]"], 10.0);
    assert_eq!(m["canon_instance_rounds[le=inf]"], 10.0);
    let rounds: f64 = m["canon_rounds_total"];
    assert_eq!(m["canon_instance_rounds_sum"], rounds);
}

#[test]
fn json_metrics_carry_the_same_numbers_and_fit_in_the_json_summary() {
    let dir = temp_dir("metrics-json");
    let prom = dir.join("m.prom");
    let base = ["run", "fixtures/three_buyer.canon", "--sessions", "7", "--seed", "4"];
    let printed = canon(&[&base[..], &["--metrics", &format!("prometheus={}", arg(&prom))]].concat());
    printed.expect_code(0);
    let p = parse(&std::fs::read_to_string(&prom).unwrap());
    // --metrics json prints one JSON object after the summary.
    let out = canon(&[&base[..], &["--metrics", "json", "--runner", "threaded", "--workers", "3"]].concat());
    out.expect_code(0).stdout_has(&["ran fixtures/three_buyer.canon"]);
    let json_line = out.stdout.lines().last().expect("a last line");
    let j: serde_json::Value = serde_json::from_str(json_line).expect("the last line is the metrics object");
    assert_eq!(j["sessions"]["opened"].as_f64(), Some(p["canon_sessions_opened_total"]));
    assert_eq!(j["messages"]["sent"].as_f64(), Some(p["canon_messages_sent_total"]));
    assert_eq!(j["instructions"].as_f64(), Some(p["canon_instructions_total"]));
    assert_eq!(j["host_calls"].as_f64(), Some(p["canon_host_calls_total"]));
    assert_eq!(j["replay_bytes"].as_f64(), Some(p["canon_replay_bytes_total"]));
    assert_eq!(j["session_rounds"]["count"].as_f64(), Some(p["canon_session_duration_rounds_count"]));
    // With --json, the metrics are a field of the one object.
    let out = canon(&[&base[..], &["--json", "--metrics", "json"]].concat());
    let obj: serde_json::Value = serde_json::from_str(out.expect_code(0).stdout.trim()).expect("one JSON object");
    assert_eq!(obj["metrics"], j);
    assert_eq!(obj["messages"].as_f64(), j["messages"]["delivered"].as_f64());
    // ...and the Prometheus text cannot share stdout with it.
    canon(&[&base[..], &["--json", "--metrics", "prometheus"]].concat())
        .expect_code(1)
        .stderr_has(&["--metrics prometheus=FILE"]);
}

#[test]
fn faults_are_counted_by_code() {
    let out = canon(&["run", "fixtures/asm/fault_buffer_full.casm", "--sessions", "3", "--metrics", "prometheus"]);
    let text = out.expect_code(3).stdout.clone();
    let start = text.find("# HELP").expect("the metrics follow the summary");
    let m = parse(&text[start..]);
    assert_eq!(m["canon_faults_total{code=\"3014\"}"], 3.0);
    assert_eq!(m["canon_sessions_faulted_total"], 3.0);
    assert_eq!(m["canon_buffer_high_water_messages{edge_kind=\"fifo_error\"}"], 1.0);
}

#[test]
fn a_bad_metrics_flag_is_a_usage_error() {
    for bad in ["yaml", "json=", "prometheus-text"] {
        canon(&["run", "fixtures/two_buyer.canon", "--metrics", bad]).expect_code(2);
    }
}

#[test]
fn a_resumed_run_has_the_metrics_of_the_uninterrupted_run() {
    let dir = temp_dir("metrics-resume");
    let base = ["run", "fixtures/two_buyer.canon", "--sessions", "300", "--seed", "2"];
    let file = |name: &str| arg(&dir.join(name));
    // The uninterrupted run, its metrics in both formats.
    for m in ["json=local.json", "prometheus=local.prom"] {
        let (format, name) = m.split_once('=').unwrap();
        let metrics = format!("{format}={}", file(name));
        canon(&[&base[..], &["-o", &file("local.replay"), "--metrics", &metrics]].concat()).expect_code(0);
    }
    // The same run checkpointed; resumed from its last checkpoint (most of
    // the instances behind it) into another file, with the metrics asked of
    // the resume only.
    let cks = file("cks");
    canon(&[&base[..], &["-o", &file("ck.replay"), "--checkpoint-every", "200", "--checkpoint-dir", &cks]].concat())
        .expect_code(0);
    // A resume checkpoints on into the same directory: both resume from a copy.
    let latest = format!("{cks}/chosen.ckpt");
    std::fs::copy(format!("{cks}/latest.ckpt"), &latest).expect("the last checkpoint");
    for m in ["json=resumed.json", "prometheus=resumed.prom"] {
        let (format, name) = m.split_once('=').unwrap();
        let metrics = format!("{format}={}", file(name));
        let o = canon(&["resume", &latest, "-o", &file("resumed.replay"), "--metrics", &metrics]);
        o.expect_code(0);
        let from: u64 = o
            .stdout
            .split_once("from group ")
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .and_then(|g| g.parse().ok())
            .unwrap_or_else(|| panic!("where the run resumed: {o}"));
        assert!(from > 0 && from < 300, "the checkpoint is not inside the run: group {from}");
    }
    let read = |name: &str| std::fs::read(dir.join(name)).expect(name);
    assert!(read("resumed.replay") == read("local.replay"), "the resumed replay differs");
    let json = String::from_utf8(read("resumed.json")).unwrap();
    assert_eq!(json, String::from_utf8(read("local.json")).unwrap());
    let j: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(j["instances"].as_u64(), Some(300), "{json}");
    assert!(j["instructions"].as_u64().is_some_and(|n| n > 0), "{json}");
    let prom = String::from_utf8(read("resumed.prom")).unwrap();
    assert_eq!(prom, String::from_utf8(read("local.prom")).unwrap());
    assert_eq!(parse(&prom)["canon_instances_total"], 300.0);
}
