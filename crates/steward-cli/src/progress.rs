//! Shows a running job on stderr while the command waits for it: a progress
//! bar on a terminal, plain lines every few seconds otherwise (so that
//! `steward embed --all > log 2>&1` says how far it is). Ctrl-C cancels the job.
//!
//! `STEWARD_PROGRESS_INTERVAL_MS` sets the interval of the plain lines
//! (default 5000); tests set it low to see a line from a short import.

use std::fmt::Write as _;
use std::future::Future;
use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{HumanBytes, ProgressBar, ProgressDrawTarget, ProgressStyle};
use steward_jobs::{JobHandle, Progress, Unit};

/// The environment variable that sets the interval of the plain lines.
pub const INTERVAL_ENV: &str = "STEWARD_PROGRESS_INTERVAL_MS";

const DEFAULT_INTERVAL: Duration = Duration::from_secs(5);

/// How often the terminal bar is redrawn.
const BAR_REFRESH: Duration = Duration::from_millis(100);

/// Runs `task` (which reports to `job`) to its end, showing `job`'s progress on
/// stderr. The first Ctrl-C cancels the job (the task stops where it is safe
/// to, typically after its batch); a second one exits at once.
pub async fn run<T, E>(job: &JobHandle, task: impl Future<Output = Result<T, E>>) -> Result<T, E> {
    let ctrl_c = tokio::spawn(cancel_on_ctrl_c(job.clone()));
    let started = Instant::now();
    let mut view = View::for_stderr();
    let mut ticker = tokio::time::interval(view.interval());
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The first tick is immediate, and there is nothing to show yet.
    ticker.tick().await;
    let mut task = std::pin::pin!(task);
    let outcome = loop {
        tokio::select! {
            outcome = &mut task => break outcome,
            _ = ticker.tick() => view.show(&job.progress()),
        }
    };
    ctrl_c.abort();
    let ending = if job.is_cancelled() {
        Ending::Cancelled
    } else if outcome.is_ok() {
        Ending::Done
    } else {
        Ending::Failed
    };
    view.finish(&job.progress(), ending, started.elapsed());
    outcome
}

async fn cancel_on_ctrl_c(job: JobHandle) {
    if tokio::signal::ctrl_c().await.is_err() {
        return;
    }
    job.cancel();
    eprintln!("stopping after the current step; press Ctrl-C again to quit now");
    if tokio::signal::ctrl_c().await.is_ok() {
        std::process::exit(130);
    }
}

/// How the job ended, for the last line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ending {
    Done,
    Cancelled,
    Failed,
}

/// Where progress goes: a bar (made at the first phase) or plain lines.
#[derive(Debug)]
enum View {
    Bar(Option<Bar>),
    Lines(Duration),
}

#[derive(Debug)]
struct Bar {
    bar: ProgressBar,
    known_total: bool,
}

impl View {
    fn for_stderr() -> View {
        if std::io::stderr().is_terminal() {
            View::Bar(None)
        } else {
            View::Lines(line_interval())
        }
    }

    fn interval(&self) -> Duration {
        match self {
            View::Bar(_) => BAR_REFRESH,
            View::Lines(interval) => *interval,
        }
    }

    fn show(&mut self, progress: &Progress) {
        if progress.phase.is_empty() {
            return;
        }
        match self {
            View::Lines(_) => eprintln!("{}", describe(progress)),
            View::Bar(bar) => {
                let known_total = progress.total.is_some();
                if let Some(old) = bar.take_if(|old| old.known_total != known_total) {
                    old.bar.finish_and_clear();
                }
                let bar = bar.get_or_insert_with(|| Bar::new(known_total));
                if let Some(total) = progress.total {
                    bar.bar.set_length(total);
                }
                bar.bar.set_position(progress.done);
                bar.bar.set_message(describe(progress));
            }
        }
    }

    fn finish(self, progress: &Progress, ending: Ending, elapsed: Duration) {
        match self {
            View::Bar(bar) => {
                if let Some(bar) = bar {
                    bar.bar.finish_and_clear();
                }
            }
            View::Lines(_) if progress.phase.is_empty() => {}
            View::Lines(_) => eprintln!("{}", last_line(progress, ending, elapsed)),
        }
    }
}

impl Bar {
    fn new(known_total: bool) -> Bar {
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        let template = if known_total {
            "[{bar:30}] {wide_msg}"
        } else {
            "{spinner} {wide_msg}"
        };
        if let Ok(style) = ProgressStyle::with_template(template) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.enable_steady_tick(BAR_REFRESH);
        Bar { bar, known_total }
    }
}

/// The interval of plain lines: [`INTERVAL_ENV`] when it is a positive number
/// of milliseconds, else five seconds.
fn line_interval() -> Duration {
    std::env::var(INTERVAL_ENV)
        .ok()
        .and_then(|value| value.trim().parse::<u64>().ok())
        .filter(|millis| *millis > 0)
        .map_or(DEFAULT_INTERVAL, Duration::from_millis)
}

/// One line: `embedding: 1200/5000 items (24%), 85.3/s, eta 45s; 1000 embedded`.
pub(crate) fn describe(progress: &Progress) -> String {
    let mut line = format!("{}: ", progress.phase);
    let amount = |value: u64| match progress.unit {
        Unit::Bytes => HumanBytes(value).to_string(),
        Unit::Items => value.to_string(),
    };
    match (progress.total, progress.unit) {
        (Some(total), Unit::Bytes) => {
            let _ = write!(line, "{}/{}", amount(progress.done), amount(total));
        }
        (Some(total), Unit::Items) => {
            let _ = write!(line, "{}/{total} items", progress.done);
        }
        (None, Unit::Bytes) => line.push_str(&amount(progress.done)),
        (None, Unit::Items) => {
            let _ = write!(line, "{} items", progress.done);
        }
    }
    if let Some(fraction) = progress.fraction() {
        let _ = write!(line, " ({}%)", (fraction * 100.0).floor() as u64);
    }
    if let Some(rate) = progress.rate_per_sec {
        match progress.unit {
            Unit::Bytes => {
                let _ = write!(line, ", {}/s", HumanBytes(rate.round() as u64));
            }
            Unit::Items => {
                let _ = write!(line, ", {rate:.1}/s");
            }
        }
    }
    if let Some(eta) = progress.eta_secs.filter(|eta| *eta > 0.0) {
        let _ = write!(line, ", eta {}", short_duration(eta.ceil()));
    }
    if let Some(message) = &progress.message {
        let _ = write!(line, "; {message}");
    }
    line
}

/// The line after the job: how it ended, how long it took, where it was (the
/// rate of the last moments says nothing about a finished job).
fn last_line(progress: &Progress, ending: Ending, elapsed: Duration) -> String {
    let progress = Progress {
        rate_per_sec: None,
        eta_secs: None,
        ..progress.clone()
    };
    let (word, preposition) = match ending {
        Ending::Done => ("done", "in"),
        Ending::Cancelled => ("cancelled", "after"),
        Ending::Failed => ("failed", "after"),
    };
    format!(
        "{word} {preposition} {}, at {}",
        short_duration(elapsed.as_secs_f64()),
        describe(&progress)
    )
}

/// `45s`, `3m05s`, `2h07m`: short enough for a progress line.
fn short_duration(seconds: f64) -> String {
    let seconds = seconds.max(0.0).round() as u64;
    match seconds {
        0..60 => format!("{seconds}s"),
        60..3_600 => format!("{}m{:02}s", seconds / 60, seconds % 60),
        _ => format!("{}h{:02}m", seconds / 3_600, seconds % 3_600 / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn progress(done: u64, total: Option<u64>, unit: Unit) -> Progress {
        Progress {
            phase: "phase".to_string(),
            done,
            total,
            unit,
            rate_per_sec: None,
            eta_secs: None,
            message: None,
        }
    }

    fn check(progress: Progress, expected: &str) {
        assert_eq!(describe(&progress), expected, "{progress:?}");
    }

    #[test]
    fn lines_say_done_total_share_rate_eta_and_message() {
        check(
            Progress {
                phase: "embedding".to_string(),
                rate_per_sec: Some(85.31),
                eta_secs: Some(44.6),
                ..progress(1_200, Some(5_000), Unit::Items)
            },
            "embedding: 1200/5000 items (24%), 85.3/s, eta 45s",
        );
        check(
            Progress {
                rate_per_sec: Some(5.0 * 1024.0 * 1024.0),
                eta_secs: Some(125.0),
                message: Some("2000 rows imported".to_string()),
                ..progress(3 * 1024 * 1024, Some(8 * 1024 * 1024), Unit::Bytes)
            },
            "phase: 3.00 MiB/8.00 MiB (37%), 5.00 MiB/s, eta 2m05s; 2000 rows imported",
        );
        check(progress(7, None, Unit::Items), "phase: 7 items");
        check(progress(2_048, None, Unit::Bytes), "phase: 2.00 KiB");
        check(progress(0, Some(0), Unit::Items), "phase: 0/0 items (100%)");
        check(
            Progress {
                rate_per_sec: Some(2.0),
                eta_secs: Some(0.0),
                ..progress(7, Some(7), Unit::Items)
            },
            "phase: 7/7 items (100%), 2.0/s",
        );
    }

    #[test]
    fn the_last_line_says_how_the_job_ended() {
        let at = Progress {
            rate_per_sec: Some(1.0),
            eta_secs: Some(4.0),
            ..progress(3, Some(7), Unit::Items)
        };
        for (ending, elapsed, expected) in [
            (Ending::Done, 1.4, "done in 1s, at phase: 3/7 items (42%)"),
            (
                Ending::Cancelled,
                61.0,
                "cancelled after 1m01s, at phase: 3/7 items (42%)",
            ),
            (
                Ending::Failed,
                7_300.0,
                "failed after 2h01m, at phase: 3/7 items (42%)",
            ),
        ] {
            assert_eq!(
                last_line(&at, ending, Duration::from_secs_f64(elapsed)),
                expected
            );
        }
    }
}
