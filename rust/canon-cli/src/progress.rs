//! The progress line of `canon run` and `canon cluster run` on a terminal.
//!
//! It says only what the run has shown so far. The instances finished give
//! an instance rate and, while they keep finishing, an estimate of the time
//! left. A long instance (one that reports its rounds) has an unknown length:
//! all that is known is its round count, its round rate and the round budget
//! that ends it at the latest. So the line then shows the rounds and their
//! rate, and an ETA only where the budget bounds what is left (the run's last
//! instance). An estimate the run has already overrun is replaced by how long
//! no instance has finished.
//!
//! Wall time is read for this line only (through the drawing library): it
//! never reaches a replay, a summary or an exit code.

use std::fmt::Write as _;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use canon_runtime::Progress;

/// How often the line is redrawn between the runner's reports.
const REDRAW_EVERY: Duration = Duration::from_secs(1);

/// An estimate from the finished instances is abandoned when no instance has
/// finished for this many times the mean time per instance (plus
/// [`OVERDUE_SLACK`]): the instance in progress is not like the others.
const OVERDUE_FACTOR: f64 = 4.0;

/// Added to the overdue threshold so that runs of very short instances do not
/// lose their estimate to a scheduling hiccup.
const OVERDUE_SLACK: Duration = Duration::from_secs(1);

/// What the progress line knows at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Seen {
    /// The runner's last report.
    pub(crate) progress: Progress,
    /// The run's round budget (`--max-rounds`): no instance runs longer.
    pub(crate) max_rounds: u64,
    /// Time since the run started.
    pub(crate) elapsed: Duration,
    /// When the number of finished instances last changed (the run's start
    /// while none has finished): where the instance in progress began.
    pub(crate) done_at: Duration,
    /// When the round count of the instance in progress was reported.
    pub(crate) rounds_at: Duration,
}

/// The text of the progress line for `seen`.
pub(crate) fn progress_text(seen: &Seen) -> String {
    let Progress { groups_done: done, groups_total: total, rounds } = seen.progress;
    let percent = (done as u128 * 100).checked_div(total as u128).unwrap_or(0);
    let mut text = format!("{done}/{total} instances ({percent}%)");
    if rounds > 0 {
        long_instance(seen, &mut text);
    } else {
        short_instances(seen, &mut text);
    }
    text
}

/// An instance in progress that reported its rounds: its rounds and round
/// rate; an ETA only when it is the run's last instance, bounded by the round
/// budget at the rate seen.
fn long_instance(seen: &Seen, text: &mut String) {
    let Progress { groups_done: done, groups_total: total, rounds } = seen.progress;
    let _ = write!(text, " · instance {} at round {rounds} of at most {}", done + 1, seen.max_rounds);
    let running = seen.rounds_at.saturating_sub(seen.done_at);
    let Some(rate) = per_second(rounds, running) else {
        text.push_str(" · ETA unknown");
        return;
    };
    let _ = write!(text, " · {} rounds/s", rate_text(rate));
    if done + 1 < total {
        // The instances after this one have run for no round yet.
        text.push_str(" · ETA unknown");
        return;
    }
    let left_rounds = seen.max_rounds.saturating_sub(rounds);
    let since_report = seen.elapsed.saturating_sub(seen.rounds_at);
    let left = seconds(left_rounds as f64 / rate).saturating_sub(since_report);
    let _ = write!(text, " · ETA at most {} (round budget)", duration_text(left));
}

/// Only finished instances reported: their rate and, while instances keep
/// finishing at it, the time the remaining ones take at that rate.
fn short_instances(seen: &Seen, text: &mut String) {
    let Progress { groups_done: done, groups_total: total, .. } = seen.progress;
    if done == 0 || done >= total {
        return;
    }
    let Some(rate) = per_second(done as u64, seen.done_at) else { return };
    let _ = write!(text, " · {} instances/s", rate_text(rate));
    let per_instance = seen.done_at.as_secs_f64() / done as f64;
    let estimate = seconds(per_instance * (total - done) as f64);
    let since_done = seen.elapsed.saturating_sub(seen.done_at);
    let overdue = seconds(per_instance * OVERDUE_FACTOR).saturating_add(OVERDUE_SLACK);
    if since_done > estimate || since_done > overdue {
        let _ = write!(text, " · ETA unknown (no instance finished for {})", duration_text(since_done));
    } else {
        let _ = write!(text, " · ETA {}", duration_text(estimate - since_done));
    }
}

/// `count` per second over `over`, when `over` is long enough to say.
fn per_second(count: u64, over: Duration) -> Option<f64> {
    let seconds = over.as_secs_f64();
    (seconds >= 0.001 && count > 0).then(|| count as f64 / seconds)
}

/// `s` seconds, saturating where a `Duration` ends.
fn seconds(s: f64) -> Duration {
    Duration::try_from_secs_f64(s).unwrap_or(Duration::MAX)
}

/// A rate: whole numbers from 10 up, one decimal below.
fn rate_text(rate: f64) -> String {
    if rate >= 10.0 { format!("{}", rate.round() as u64) } else { format!("{rate:.1}") }
}

/// A duration in its two largest units: `<1s`, `42s`, `3m 05s`, `2h 07m`.
fn duration_text(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0 if !d.is_zero() => "<1s".to_string(),
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m {:02}s", s / 60, s % 60),
        _ => format!("{}h {:02}m", s / 3600, s % 3600 / 60),
    }
}

/// The last report and when it and the last finished instance were seen.
#[derive(Debug, Clone, Copy)]
struct Tracker {
    progress: Progress,
    done_at: Duration,
    rounds_at: Duration,
}

/// Progress on stderr for long runs (only on a terminal: logs and pipes get
/// the summary alone). It appears for runs of 100 or more instances, or when
/// one instance runs long, and is redrawn every second so that an estimate
/// the run overruns does not stay on screen.
pub(crate) struct ProgressLine {
    /// Hidden until the line first appears; its clock starts with the run.
    bar: Option<indicatif::ProgressBar>,
    shown: bool,
    max_rounds: u64,
    tracker: Arc<Mutex<Tracker>>,
}

impl ProgressLine {
    /// A progress line for a run whose instances stop at `max_rounds`;
    /// when `on` is false it never shows.
    pub(crate) fn new(on: bool, max_rounds: u64) -> Self {
        let start = Progress { groups_done: 0, groups_total: 0, rounds: 0 };
        let tracker = Tracker { progress: start, done_at: Duration::ZERO, rounds_at: Duration::ZERO };
        let bar = on.then(|| indicatif::ProgressBar::with_draw_target(None, indicatif::ProgressDrawTarget::hidden()));
        ProgressLine { bar, shown: false, max_rounds, tracker: Arc::new(Mutex::new(tracker)) }
    }

    /// Records the runner's report `p` and redraws.
    pub(crate) fn show(&mut self, p: Progress) {
        let Some(bar) = &self.bar else { return };
        if p.groups_total == 0 || (p.rounds == 0 && p.groups_total < 100 && !self.shown) {
            return;
        }
        let now = bar.elapsed();
        {
            let mut t = self.tracker.lock().unwrap_or_else(PoisonError::into_inner);
            if p.groups_done != t.progress.groups_done {
                t.done_at = now;
            }
            if p.rounds > 0 {
                t.rounds_at = now;
            }
            t.progress = p;
        }
        if !self.shown {
            self.shown = true;
            let (tracker, max_rounds) = (Arc::clone(&self.tracker), self.max_rounds);
            let line = move |state: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                let t = *tracker.lock().unwrap_or_else(PoisonError::into_inner);
                let seen = Seen {
                    progress: t.progress,
                    max_rounds,
                    elapsed: state.elapsed(),
                    done_at: t.done_at,
                    rounds_at: t.rounds_at,
                };
                let _ = w.write_str(&progress_text(&seen));
            };
            let style = indicatif::ProgressStyle::with_template("  {line}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                .with_key("line", line);
            bar.set_style(style);
            bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
            bar.enable_steady_tick(REDRAW_EVERY);
        }
        bar.tick();
    }

    /// Removes the line.
    pub(crate) fn clear(&self) {
        if let Some(bar) = &self.bar
            && self.shown
        {
            bar.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(done: usize, total: usize, rounds: u64, elapsed: u64, done_at: u64, rounds_at: u64) -> Seen {
        Seen {
            progress: Progress { groups_done: done, groups_total: total, rounds },
            max_rounds: 1_000_000,
            elapsed: Duration::from_secs(elapsed),
            done_at: Duration::from_secs(done_at),
            rounds_at: Duration::from_secs(rounds_at),
        }
    }

    #[test]
    fn finished_instances_give_a_rate_and_an_estimate() {
        // 40 instances in 20 s: 2/s, 60 left take 30 s, 1 s of which passed.
        assert_eq!(progress_text(&seen(40, 100, 0, 21, 20, 0)), "40/100 instances (40%) · 2.0 instances/s · ETA 29s");
    }

    #[test]
    fn no_estimate_before_an_instance_finishes() {
        assert_eq!(progress_text(&seen(0, 500, 0, 30, 0, 0)), "0/500 instances (0%)");
    }

    #[test]
    fn an_overrun_estimate_is_withdrawn() {
        // 99 instances in 99 s, the last one has run 10 s: beyond the 1 s the
        // estimate gave it (and four times the mean, plus a second).
        assert_eq!(
            progress_text(&seen(99, 100, 0, 109, 99, 0)),
            "99/100 instances (99%) · 1.0 instances/s · ETA unknown (no instance finished for 10s)"
        );
        // 10 instances in 10 s, 90 left (90 s estimated), none finished for
        // 6 s: more than four times the mean plus a second.
        assert!(progress_text(&seen(10, 100, 0, 16, 10, 0)).ends_with("ETA unknown (no instance finished for 6s)"));
        assert!(progress_text(&seen(10, 100, 0, 14, 10, 0)).ends_with("ETA 1m 26s"));
    }

    #[test]
    fn a_long_last_instance_is_bounded_by_the_round_budget() {
        // 500,000 rounds in 10 s: 50,000 rounds/s, 500,000 rounds left at
        // most, 10 s after 2 s passed since the report.
        assert_eq!(
            progress_text(&seen(0, 1, 500_000, 12, 0, 10)),
            "0/1 instances (0%) · instance 1 at round 500000 of at most 1000000 · 50000 rounds/s \
             · ETA at most 8s (round budget)"
        );
    }

    #[test]
    fn a_long_instance_with_more_to_come_has_no_eta() {
        // Instances 1 to 3 took 3 s; the fourth has run 65,536 rounds in 8 s.
        assert_eq!(
            progress_text(&seen(3, 10, 65_536, 11, 3, 11)),
            "3/10 instances (30%) · instance 4 at round 65536 of at most 1000000 · 8192 rounds/s · ETA unknown"
        );
    }

    #[test]
    fn durations_show_their_two_largest_units() {
        assert_eq!(duration_text(Duration::ZERO), "0s");
        assert_eq!(duration_text(Duration::from_millis(300)), "<1s");
        assert_eq!(duration_text(Duration::from_secs(42)), "42s");
        assert_eq!(duration_text(Duration::from_secs(185)), "3m 05s");
        assert_eq!(duration_text(Duration::from_secs(2 * 3600 + 7 * 60 + 9)), "2h 07m");
    }
}
