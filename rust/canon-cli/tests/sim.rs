//! `canon sim` through the real binary: seeds pass and print their totals,
//! `--jobs` does not change the output, and a bad fault name is a usage error.

mod common;

use common::canon;

#[test]
fn seeds_pass_and_jobs_do_not_change_the_output() {
    let args = ["sim", "--seed", "10", "--seeds", "4", "--steps", "100", "-v"];
    let one = canon(&args);
    one.expect_code(0).stdout_has(&["seed 10 ok:", "seed 13 ok:", "4 seeds (0 failed)"]);
    let two = canon(&[&args[..], &["--jobs", "2"]].concat());
    two.expect_code(0);
    assert_eq!(one.stdout, two.stdout);
}

#[test]
fn an_unknown_fault_is_a_usage_error() {
    canon(&["sim", "--faults", "drop,lose"]).expect_code(2).stderr_has(&["unknown fault `lose`"]);
}
