//! The job worker: claims queued jobs from the store, runs each with
//! [`crate::jobs::run`] while heartbeating its progress into the job row,
//! stops a job whose row was cancelled, and finishes the row with the
//! outcome. Several workers (on several machines, over one PostgreSQL) share
//! one queue; a job whose worker died is queued again after
//! `worker.stale_after_secs`. [`execute`] is also how the CLI records the
//! jobs it runs in the foreground.

use std::future::Future;
use std::time::Duration;

use steward_jobs::JobHandle;
use steward_store::{Dialect, JobRecord, JobState, Store};
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::jobs::{self, JobOutput, JobSpec};
use crate::{Config, Error, Result};

/// The name the CLI records the jobs it runs itself under.
pub const CLI_WORKER: &str = "cli";

/// How a worker runs, from `[worker]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerOptions {
    /// Who claims the jobs (the job row's `worker`).
    pub name: String,
    /// Jobs run at once.
    pub concurrency: usize,
    pub poll_interval: Duration,
    pub heartbeat: Duration,
    pub stale_after: Duration,
    /// Stop once no job is queued and none is running (`steward worker --once`).
    pub once: bool,
}

impl WorkerOptions {
    /// `[worker]` of `config`; SQLite runs one job at a time (one writer).
    pub fn from_config(config: &Config, dialect: Dialect) -> WorkerOptions {
        let settings = &config.worker;
        let concurrency = match dialect {
            Dialect::Sqlite => 1,
            Dialect::Postgres => usize::try_from(settings.concurrency).unwrap_or(1).max(1),
        };
        WorkerOptions {
            name: settings.name.clone().unwrap_or_else(default_name),
            concurrency,
            poll_interval: Duration::from_millis(settings.poll_interval_ms),
            heartbeat: Duration::from_secs(settings.heartbeat_secs),
            stale_after: Duration::from_secs(settings.stale_after_secs),
            once: false,
        }
    }
}

/// `hostname:pid`: unique per process on one machine, and says where to look.
pub fn default_name() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|host| host.trim().to_string())
        .filter(|host| !host.is_empty())
        .unwrap_or_else(|| "localhost".to_string());
    format!("{host}:{}", std::process::id())
}

/// How a job ended, as far as its worker is concerned.
#[derive(Debug)]
pub struct Executed {
    /// What the row says now (`None`: the row is not this worker's any more,
    /// or it was given back to the queue: see `released`).
    pub state: Option<JobState>,
    /// Given back to the queue at shutdown, for another worker to finish.
    pub released: bool,
    /// What the task returned.
    pub outcome: Result<JobOutput>,
}

/// Runs job `id` (already claimed or started by `worker`) with `spec`:
/// heartbeats its progress every `heartbeat`, cancels `job` when the row is
/// cancelled or taken away, and finishes the row with the outcome. When
/// `stop` turns true (the worker shuts down) the job is cancelled and, unless
/// a client asked for the cancel, given back to the queue.
#[allow(clippy::too_many_arguments)]
pub async fn execute(
    store: &Store,
    config: &Config,
    id: i64,
    spec: JobSpec,
    worker: &str,
    heartbeat: Duration,
    job: &JobHandle,
    mut stop: watch::Receiver<bool>,
) -> Result<Executed> {
    let task = {
        let (store, config, job) = (store.clone(), config.clone(), job.clone());
        // A task of its own, so that a task busy on its thread never delays
        // the heartbeat that keeps its job from being taken away.
        tokio::spawn(async move { jobs::run(&spec, &config, &store, &job).await })
    };
    let mut task = std::pin::pin!(task);
    let mut ticker = tokio::time::interval(heartbeat);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker.tick().await;
    let mut lost = false;
    let mut stopping = *stop.borrow();
    let mut listening = !stopping;
    if stopping {
        job.cancel();
    }
    let outcome = loop {
        tokio::select! {
            joined = &mut task => break joined.unwrap_or_else(|error| Err(Error::JobTask {
                id,
                message: error.to_string(),
            })),
            _ = ticker.tick() => {
                match beat(store, id, worker, job).await {
                    Some(still_owned) if !still_owned => {
                        lost = true;
                        job.cancel();
                    }
                    _ => {}
                }
            }
            changed = stop.changed(), if listening => {
                if changed.is_err() {
                    // The sender is gone: nobody can stop this job any more.
                    listening = false;
                } else if *stop.borrow() {
                    stopping = true;
                    listening = false;
                    job.cancel();
                }
            }
        }
    };
    // The row keeps the progress as it was at the end.
    let last = store
        .heartbeat_job(id, worker, &progress_json(job))
        .await
        .map_err(|source| store_error("recording a job's last progress", source))?;
    if lost || !last.still_owned {
        tracing::warn!(
            job = id,
            worker,
            "job was taken from this worker (no heartbeat for too long?); its outcome is dropped"
        );
        return Ok(Executed {
            state: None,
            released: false,
            outcome,
        });
    }
    let cancel_requested = last.cancel_requested;
    let cancelled = match &outcome {
        Ok(output) => output.cancelled(),
        Err(Error::Cancelled) => true,
        Err(_) => false,
    };
    if cancelled && stopping && !cancel_requested {
        let released = store
            .release_job(id, worker)
            .await
            .map_err(|source| store_error("giving a job back to the queue", source))?;
        return Ok(Executed {
            state: released.then_some(JobState::Queued),
            released,
            outcome,
        });
    }
    let (state, summary, error) = match &outcome {
        Ok(output) if cancelled => (JobState::Cancelled, Some(output.summary()), None),
        Ok(output) => (JobState::Succeeded, Some(output.summary()), None),
        Err(Error::Cancelled) => (JobState::Cancelled, None, None),
        Err(error) => (JobState::Failed, None, Some(error_chain(error))),
    };
    let finished = store
        .finish_job(id, worker, state, summary.as_ref(), error.as_deref())
        .await
        .map_err(|source| store_error("finishing a job", source))?;
    Ok(Executed {
        state: finished.then_some(state),
        released: false,
        outcome,
    })
}

/// One heartbeat: saves the progress, cancels `job` when the row asks for it.
/// `Some(still_owned)`, or `None` when the store could not be reached (the
/// next heartbeat tries again; too many missed ones lose the job).
async fn beat(store: &Store, id: i64, worker: &str, job: &JobHandle) -> Option<bool> {
    match store.heartbeat_job(id, worker, &progress_json(job)).await {
        Ok(heartbeat) => {
            if heartbeat.cancel_requested {
                job.cancel();
            }
            Some(heartbeat.still_owned)
        }
        Err(error) => {
            tracing::warn!(job = id, %error, "job heartbeat failed; retrying at the next one");
            None
        }
    }
}

fn progress_json(job: &JobHandle) -> serde_json::Value {
    serde_json::to_value(job.progress()).expect("progress is plain numbers and strings")
}

fn store_error(what: &str, source: steward_store::Error) -> Error {
    Error::Store {
        what: what.to_string(),
        source: Box::new(source),
    }
}

/// The error with its causes, for the job row.
fn error_chain(error: &Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        let line = cause.to_string();
        if !text.contains(&line) {
            text.push_str(": ");
            text.push_str(&line);
        }
        source = cause.source();
    }
    text
}

/// What a worker did before it stopped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorkerReport {
    pub succeeded: u64,
    pub failed: u64,
    pub cancelled: u64,
    /// Given back to the queue at shutdown.
    pub released: u64,
    /// Taken away (requeued as stale) while running.
    pub lost: u64,
}

/// Claims and runs queued jobs until `shutdown` resolves (then running jobs
/// are cancelled and given back to the queue) or, with `options.once`, until
/// the queue is empty. Each poll also takes back the jobs of dead workers.
pub async fn run_worker(
    store: Store,
    config: Config,
    options: WorkerOptions,
    shutdown: impl Future<Output = ()>,
) -> Result<WorkerReport> {
    tracing::info!(
        worker = %options.name,
        concurrency = options.concurrency,
        "worker started"
    );
    let (stop_sender, stop) = watch::channel(false);
    let mut running: JoinSet<(i64, Result<Executed>)> = JoinSet::new();
    let mut report = WorkerReport::default();
    let mut shutdown = std::pin::pin!(shutdown);
    let mut stopping = false;
    loop {
        let mut claimed_any = false;
        if !stopping {
            match store.requeue_stale_jobs(options.stale_after).await {
                Ok(0) => {}
                Ok(taken_back) => tracing::warn!(
                    taken_back,
                    "queued again the jobs of workers that stopped heartbeating"
                ),
                Err(error) => tracing::warn!(%error, "taking back stale jobs failed"),
            }
            while running.len() < options.concurrency {
                match store.claim_job(&options.name, &[]).await {
                    Ok(Some(record)) => {
                        claimed_any = true;
                        spawn_job(&mut running, &store, &config, &options, record, &stop);
                    }
                    Ok(None) => break,
                    Err(error) => {
                        tracing::warn!(%error, "claiming a job failed; trying again later");
                        break;
                    }
                }
            }
        }
        if running.is_empty() && (stopping || (options.once && !claimed_any)) {
            break;
        }
        tokio::select! {
            () = &mut shutdown, if !stopping => {
                tracing::info!(running = running.len(), "worker stopping: giving running jobs back to the queue");
                stopping = true;
                stop_sender.send_replace(true);
            }
            Some(joined) = running.join_next(), if !running.is_empty() => {
                tally(&mut report, joined);
            }
            () = tokio::time::sleep(options.poll_interval), if !stopping => {}
        }
    }
    tracing::info!(worker = %options.name, ?report, "worker stopped");
    Ok(report)
}

fn spawn_job(
    running: &mut JoinSet<(i64, Result<Executed>)>,
    store: &Store,
    config: &Config,
    options: &WorkerOptions,
    record: JobRecord,
    stop: &watch::Receiver<bool>,
) {
    let (store, config, stop) = (store.clone(), config.clone(), stop.clone());
    let (worker, heartbeat) = (options.name.clone(), options.heartbeat);
    tracing::info!(job = record.id, kind = %record.kind, attempt = record.attempts, "job claimed");
    running.spawn(async move {
        let id = record.id;
        let executed = match JobSpec::from_row(&record.kind, &record.params) {
            Ok(spec) => {
                let job = JobHandle::new();
                execute(&store, &config, id, spec, &worker, heartbeat, &job, stop).await
            }
            // A row this build cannot run (written by another version, or by
            // hand): it fails with the reason rather than blocking the queue.
            Err(error) => {
                let message = error.to_string();
                store
                    .finish_job(id, &worker, JobState::Failed, None, Some(&message))
                    .await
                    .map(|finished| Executed {
                        state: finished.then_some(JobState::Failed),
                        released: false,
                        outcome: Err(error),
                    })
                    .map_err(|source| store_error("finishing a job", source))
            }
        };
        (id, executed)
    });
}

fn tally(
    report: &mut WorkerReport,
    joined: std::result::Result<(i64, Result<Executed>), tokio::task::JoinError>,
) {
    match joined {
        Ok((id, Ok(executed))) => {
            match (executed.state, executed.released) {
                (_, true) => report.released += 1,
                (Some(JobState::Succeeded), _) => report.succeeded += 1,
                (Some(JobState::Failed), _) => report.failed += 1,
                (Some(JobState::Cancelled), _) => report.cancelled += 1,
                _ => report.lost += 1,
            }
            match &executed.outcome {
                Err(error) if executed.state == Some(JobState::Failed) => {
                    tracing::warn!(job = id, %error, "job failed");
                }
                _ => {
                    tracing::info!(job = id, state = ?executed.state, released = executed.released, "job ended")
                }
            }
        }
        Ok((id, Err(error))) => {
            report.lost += 1;
            tracing::error!(job = id, %error, "recording a job's end failed; it is queued again once stale");
        }
        Err(error) => {
            report.lost += 1;
            tracing::error!(%error, "a job's task stopped unexpectedly; it is queued again once stale");
        }
    }
}
