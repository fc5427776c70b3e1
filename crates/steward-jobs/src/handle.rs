//! [`JobHandle`]: the shared, cloneable link between a running task and whoever
//! watches or cancels it. The task reports through it and checks it between
//! units of work; observers poll [`JobHandle::progress`] or wait on
//! [`JobHandle::subscribe`].

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use crate::progress::{Progress, Unit};
use crate::rate::{RateWindow, eta};

/// The task was asked to stop and did, at a point where everything it wrote is
/// consistent. Crates map it into their own error type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("cancelled on request")]
pub struct Cancelled;

/// A long task's progress and cancellation flag. Clones share one job: the task
/// keeps one, the CLI or the worker another.
///
/// Cancellation is cooperative: [`JobHandle::cancel`] only raises a flag, and
/// the task stops at its next [`JobHandle::check_cancelled`], which it calls
/// where stopping leaves nothing half-done (between batches).
#[derive(Clone, Default)]
pub struct JobHandle {
    inner: Arc<Inner>,
}

struct Inner {
    /// Apart from the mutex: tasks check it in hot loops, and a cancel must
    /// not wait for a report in progress.
    cancelled: AtomicBool,
    state: Mutex<State>,
    /// Bumped on every change, for observers that wait instead of polling.
    changes: tokio::sync::watch::Sender<u64>,
}

impl Default for Inner {
    fn default() -> Inner {
        Inner {
            cancelled: AtomicBool::new(false),
            state: Mutex::new(State::new(Instant::now())),
            changes: tokio::sync::watch::Sender::new(0),
        }
    }
}

impl std::fmt::Debug for JobHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobHandle")
            .field("progress", &self.progress())
            .field("cancelled", &self.is_cancelled())
            .finish()
    }
}

impl JobHandle {
    /// A job nobody watches and nobody cancels yet.
    pub fn new() -> JobHandle {
        JobHandle::default()
    }

    /// Starts a phase: `done` goes back to zero, the message is cleared and the
    /// rate is measured afresh (a new file reads at its own speed).
    pub fn set_phase(&self, phase: &str, total: Option<u64>, unit: Unit) {
        self.update(|state, now| state.set_phase(phase, total, unit, now));
    }

    /// `n` more units of the current phase are done.
    pub fn advance(&self, n: u64) {
        self.update(|state, now| state.set_done(state.done.saturating_add(n), now));
    }

    pub fn set_done(&self, done: u64) {
        self.update(|state, now| state.set_done(done, now));
    }

    /// For phases that learn their size as they go.
    pub fn set_total(&self, total: Option<u64>) {
        self.update(|state, _| state.total = total);
    }

    pub fn set_message(&self, message: impl Into<String>) {
        let message = message.into();
        self.update(|state, _| state.message = Some(message));
    }

    /// A snapshot, with the rate and ETA as of now.
    pub fn progress(&self) -> Progress {
        self.state().snapshot(Instant::now())
    }

    /// Asks the task to stop at its next check. Idempotent.
    pub fn cancel(&self) {
        self.inner.cancelled.store(true, Ordering::Relaxed);
        self.notify();
    }

    pub fn is_cancelled(&self) -> bool {
        self.inner.cancelled.load(Ordering::Relaxed)
    }

    /// `Err(Cancelled)` once [`Self::cancel`] was called: `job.check_cancelled()?`
    /// at each point where the task may stop.
    pub fn check_cancelled(&self) -> Result<(), Cancelled> {
        if self.is_cancelled() {
            Err(Cancelled)
        } else {
            Ok(())
        }
    }

    /// A receiver whose value changes whenever the progress or the cancel flag
    /// does (the value itself is a counter), for observers that would rather
    /// wait than poll.
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.inner.changes.subscribe()
    }

    fn update(&self, change: impl FnOnce(&mut State, Instant)) {
        change(&mut self.state(), Instant::now());
        self.notify();
    }

    fn notify(&self) {
        self.inner
            .changes
            .send_modify(|version| *version = version.wrapping_add(1));
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while reporting leaves plain numbers behind, still readable.
        self.inner
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Everything but the cancel flag, behind the mutex. Methods take the time so
/// that tests control it.
#[derive(Debug, Clone)]
struct State {
    phase: String,
    done: u64,
    total: Option<u64>,
    unit: Unit,
    message: Option<String>,
    window: RateWindow,
}

impl State {
    fn new(now: Instant) -> State {
        State {
            phase: String::new(),
            done: 0,
            total: None,
            unit: Unit::Items,
            message: None,
            window: RateWindow::new(now, 0),
        }
    }

    fn set_phase(&mut self, phase: &str, total: Option<u64>, unit: Unit, now: Instant) {
        *self = State {
            phase: phase.to_string(),
            total,
            unit,
            ..State::new(now)
        };
    }

    fn set_done(&mut self, done: u64, now: Instant) {
        self.done = done;
        self.window.record(now, done);
    }

    fn snapshot(&self, now: Instant) -> Progress {
        let rate_per_sec = self.window.rate(now, self.done);
        Progress {
            phase: self.phase.clone(),
            done: self.done,
            total: self.total,
            unit: self.unit,
            rate_per_sec,
            eta_secs: eta(self.done, self.total, rate_per_sec),
            message: self.message.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn secs(start: Instant, seconds: f64) -> Instant {
        start + Duration::from_secs_f64(seconds)
    }

    #[test]
    fn a_phase_reports_rate_and_eta_from_its_own_start() {
        let start = Instant::now();
        let mut state = State::new(start);
        state.set_phase("Posts.xml", Some(1_000), Unit::Bytes, secs(start, 5.0));
        state.set_done(100, secs(start, 6.0));
        state.set_done(300, secs(start, 7.0));
        let progress = state.snapshot(secs(start, 7.0));
        assert_eq!(
            progress,
            Progress {
                phase: "Posts.xml".to_string(),
                done: 300,
                total: Some(1_000),
                unit: Unit::Bytes,
                rate_per_sec: Some(150.0),
                eta_secs: Some(700.0 / 150.0),
                message: None,
            }
        );
    }

    #[test]
    fn a_new_phase_resets_done_message_and_rate() {
        let start = Instant::now();
        let mut state = State::new(start);
        state.set_phase("reading posts", None, Unit::Items, start);
        state.set_done(5_000, secs(start, 2.0));
        state.message = Some("halfway".to_string());
        state.set_phase("svd", Some(7), Unit::Items, secs(start, 2.0));
        let progress = state.snapshot(secs(start, 2.1));
        assert_eq!(
            (progress.phase.as_str(), progress.done, progress.total),
            ("svd", 0, Some(7))
        );
        assert_eq!(progress.rate_per_sec, None, "too early to measure");
        assert_eq!(progress.message, None);
    }

    #[test]
    fn an_unknown_total_has_a_rate_but_no_eta() {
        let start = Instant::now();
        let mut state = State::new(start);
        state.set_done(40, secs(start, 2.0));
        let progress = state.snapshot(secs(start, 2.0));
        assert_eq!(progress.rate_per_sec, Some(20.0));
        assert_eq!(progress.eta_secs, None);
    }

    #[test]
    fn clones_share_progress_and_cancellation() {
        let job = JobHandle::new();
        let watcher = job.clone();
        assert_eq!(watcher.progress().phase, "", "nothing said yet");
        job.set_phase("embedding", Some(10), Unit::Items);
        job.advance(3);
        job.advance(4);
        job.set_message("7 embedded");
        let progress = watcher.progress();
        assert_eq!(progress.done, 7);
        assert_eq!(progress.message.as_deref(), Some("7 embedded"));
        assert_eq!(job.check_cancelled(), Ok(()));
        watcher.cancel();
        assert!(job.is_cancelled());
        assert_eq!(job.check_cancelled(), Err(Cancelled));
    }

    #[test]
    fn subscribers_hear_about_every_change() {
        let job = JobHandle::new();
        let mut changes = job.subscribe();
        assert!(!changes.has_changed().expect("the handle holds the sender"));
        job.advance(1);
        assert!(changes.has_changed().expect("sender alive"));
        changes.mark_unchanged();
        job.cancel();
        assert!(changes.has_changed().expect("sender alive"));
    }

    #[test]
    fn progress_round_trips_through_json() {
        let progress = Progress {
            phase: "Votes.xml".to_string(),
            done: 10,
            total: Some(20),
            unit: Unit::Bytes,
            rate_per_sec: Some(2.5),
            eta_secs: Some(4.0),
            message: None,
        };
        let json = serde_json::to_value(&progress).expect("serializes");
        assert_eq!(json["unit"], "bytes");
        assert_eq!(json["total"], 20);
        let back: Progress = serde_json::from_value(json).expect("deserializes");
        assert_eq!(back, progress);
    }
}
