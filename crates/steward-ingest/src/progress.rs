//! Typed progress and cooperative cancellation for long imports, so that the
//! CLI can draw a bar and the server can expose a job without this crate
//! knowing about either.

use std::sync::atomic::{AtomicBool, Ordering};

/// Something an import reports while it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress<'a> {
    /// A source file is about to be read; `bytes` is its size on disk.
    FileStarted { file: &'a str, bytes: u64 },
    /// `bytes` more bytes of the current file were read and written.
    Advanced { bytes: u64 },
    /// The current file is done.
    FileFinished { file: &'a str },
}

/// The caller's side of a running import: who to tell about progress and
/// which flag to watch for cancellation (checked between batches, so a cancel
/// never leaves half a batch behind).
#[derive(Clone, Copy, Default)]
pub struct Job<'a> {
    observer: Option<&'a (dyn Fn(Progress<'_>) + Sync)>,
    cancel: Option<&'a AtomicBool>,
}

impl std::fmt::Debug for Job<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Job")
            .field("observer", &self.observer.is_some())
            .field("cancel", &self.cancel)
            .finish()
    }
}

impl<'a> Job<'a> {
    /// A job nobody watches and nobody can cancel.
    pub fn new() -> Job<'a> {
        Job::default()
    }

    pub fn with_observer(self, observer: &'a (dyn Fn(Progress<'_>) + Sync)) -> Job<'a> {
        Job {
            observer: Some(observer),
            ..self
        }
    }

    pub fn with_cancel(self, cancel: &'a AtomicBool) -> Job<'a> {
        Job {
            cancel: Some(cancel),
            ..self
        }
    }

    pub(crate) fn report(&self, progress: Progress<'_>) {
        if let Some(observer) = self.observer {
            observer(progress);
        }
    }

    pub(crate) fn is_cancelled(&self) -> bool {
        self.cancel.is_some_and(|flag| flag.load(Ordering::Relaxed))
    }
}
