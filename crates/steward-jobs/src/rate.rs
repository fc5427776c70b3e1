//! Rate and ETA over a sliding window of (time, done) samples, with the clock
//! passed in so that the arithmetic is tested without sleeping.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// How far back the rate looks: long enough to smooth batchy progress (an
/// import writes a batch every few hundred milliseconds), short enough that a
/// slowdown shows within seconds.
pub(crate) const WINDOW: Duration = Duration::from_secs(10);

/// At most one sample per this interval, so a task calling `advance` a million
/// times keeps a window of a few dozen samples.
pub(crate) const SAMPLE_EVERY: Duration = Duration::from_millis(250);

/// No rate before this much time was observed: the first batch alone would
/// give an arbitrary number.
pub(crate) const MIN_SPAN: Duration = Duration::from_millis(500);

/// The samples of the current phase, oldest first; never empty.
#[derive(Debug, Clone)]
pub(crate) struct RateWindow {
    samples: VecDeque<(Instant, u64)>,
}

impl RateWindow {
    /// A window starting at `now` with `done` already done.
    pub(crate) fn new(now: Instant, done: u64) -> RateWindow {
        RateWindow {
            samples: VecDeque::from([(now, done)]),
        }
    }

    /// Notes that `done` was reached at `now`.
    pub(crate) fn record(&mut self, now: Instant, done: u64) {
        let last = self.samples.back().map_or(now, |&(at, _)| at);
        if now.saturating_duration_since(last) >= SAMPLE_EVERY {
            self.samples.push_back((now, done));
        }
        // Keep one sample at or before the window's start, so the measured span
        // covers the whole window once the phase is old enough.
        let start = now.checked_sub(WINDOW);
        while let (Some(start), Some(&(second, _))) = (start, self.samples.get(1)) {
            if second > start {
                break;
            }
            self.samples.pop_front();
        }
    }

    /// Units per second from the oldest kept sample to `now`, when at least
    /// [`MIN_SPAN`] has passed. Measured up to `now`, not to the last sample:
    /// a stalled task's rate falls instead of freezing.
    pub(crate) fn rate(&self, now: Instant, done: u64) -> Option<f64> {
        let &(since, done_then) = self.samples.front()?;
        let span = now.saturating_duration_since(since);
        if span < MIN_SPAN {
            return None;
        }
        Some(done.saturating_sub(done_then) as f64 / span.as_secs_f64())
    }
}

/// Seconds until `total` at `rate`: zero when done, `None` without a total or
/// without a positive rate.
pub(crate) fn eta(done: u64, total: Option<u64>, rate: Option<f64>) -> Option<f64> {
    let total = total?;
    if done >= total {
        return Some(0.0);
    }
    let rate = rate.filter(|rate| *rate > 0.0 && rate.is_finite())?;
    Some((total - done) as f64 / rate)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(start: Instant, millis: u64) -> Instant {
        start + Duration::from_millis(millis)
    }

    /// Records `(millis, done)` steps, then asks for the rate at `now_millis`.
    fn check(steps: &[(u64, u64)], now_millis: u64, expected: Option<f64>) {
        let start = Instant::now();
        let mut window = RateWindow::new(start, 0);
        let mut done = 0;
        for &(millis, value) in steps {
            done = value;
            window.record(at(start, millis), done);
        }
        let rate = window.rate(at(start, now_millis), done);
        match (rate, expected) {
            (Some(rate), Some(expected)) => assert!(
                (rate - expected).abs() < 1e-9,
                "{steps:?} at {now_millis} ms: {rate} != {expected}"
            ),
            _ => assert_eq!(rate, expected, "{steps:?} at {now_millis} ms"),
        }
    }

    #[test]
    fn no_rate_before_half_a_second() {
        check(&[], 0, None);
        check(&[(100, 50)], 400, None);
    }

    #[test]
    fn rate_is_done_over_elapsed_while_the_phase_is_younger_than_the_window() {
        check(&[(1_000, 100)], 2_000, Some(50.0));
        check(&[(500, 10), (1_000, 20), (4_000, 80)], 4_000, Some(20.0));
    }

    #[test]
    fn rate_forgets_what_happened_before_the_window() {
        // Fast for 10 s (1000/s), then slow (10/s) for 20 s: only the slow part counts.
        let mut steps: Vec<(u64, u64)> = (1..=10).map(|s| (s * 1_000, s * 1_000)).collect();
        steps.extend((1..=20).map(|s| (10_000 + s * 1_000, 10_000 + s * 10)));
        check(&steps, 30_000, Some(10.0));
    }

    #[test]
    fn a_stall_lowers_the_rate() {
        check(&[(1_000, 100)], 1_000, Some(100.0));
        check(&[(1_000, 100)], 4_000, Some(25.0));
    }

    #[test]
    fn samples_closer_than_the_interval_are_not_kept() {
        let start = Instant::now();
        let mut window = RateWindow::new(start, 0);
        for step in 1..=1_000 {
            window.record(at(start, step), step);
        }
        assert!(window.samples.len() <= 5, "{}", window.samples.len());
        for step in 1..=100 {
            window.record(at(start, 1_000 + step * 1_000), step);
        }
        let kept = window.samples.len();
        assert!(kept <= 12, "{kept} samples kept for a 10 s window");
    }

    #[test]
    fn eta_needs_a_total_and_a_positive_rate() {
        for (done, total, rate, expected) in [
            (100, Some(1_000), Some(50.0), Some(18.0)),
            (1_000, Some(1_000), None, Some(0.0)),
            (1_200, Some(1_000), Some(5.0), Some(0.0)),
            (100, None, Some(50.0), None),
            (100, Some(1_000), None, None),
            (100, Some(1_000), Some(0.0), None),
        ] {
            assert_eq!(
                eta(done, total, rate),
                expected,
                "eta({done}, {total:?}, {rate:?})"
            );
        }
    }
}
