//! The worker loop on a real SQLite store: a job runs to success with its
//! progress and summary in the row, a cancelled job stops as cancelled, a
//! failing one fails with its reason, a dead worker's job is taken back and
//! finished, and a worker that shuts down gives its job back to the queue.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use steward_runtime::Config;
use steward_runtime::jobs::JobSpec;
use steward_runtime::worker::{WorkerOptions, WorkerReport, run_worker};
use steward_store::{JobRecord, JobState, Store};
use steward_testkit::TestDb;
use tokio::sync::oneshot;

/// Longest any wait in these tests may take before it fails the test.
const PATIENCE: Duration = Duration::from_secs(120);

fn options(name: &str, once: bool) -> WorkerOptions {
    WorkerOptions {
        name: name.to_string(),
        concurrency: 1,
        poll_interval: Duration::from_millis(50),
        heartbeat: Duration::from_millis(200),
        stale_after: Duration::from_secs(1),
        once,
    }
}

/// A JSONL community of `n_users` users, one line each.
fn users_file(dir: &Path, n_users: usize) -> PathBuf {
    let path = dir.join(format!("users-{n_users}.jsonl"));
    let mut file = std::io::BufWriter::new(std::fs::File::create(&path).expect("temp file"));
    for id in 1..=n_users {
        writeln!(
            file,
            r#"{{"type":"user","id":{id},"display_name":"user {id}","created_at":"2024-01-02T03:04:05Z"}}"#
        )
        .expect("written");
    }
    file.flush().expect("flushed");
    path
}

fn import(path: &Path, batch_size: usize) -> JobSpec {
    JobSpec::ImportJsonl {
        path: path.to_path_buf(),
        strict: true,
        batch_size,
    }
}

async fn enqueue(store: &Store, spec: &JobSpec) -> JobRecord {
    store.enqueue_job(&spec.new_job()).await.expect("queued")
}

/// Reads job `id` until `done` says so; fails the test after [`PATIENCE`].
async fn wait_until(
    store: &Store,
    id: i64,
    what: &str,
    done: impl Fn(&JobRecord) -> bool,
) -> JobRecord {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let job = store.job(id).await.expect("read").expect("the job exists");
        if done(&job) {
            return job;
        }
        assert!(
            Instant::now() < deadline,
            "job {id} never got {what} within {PATIENCE:?}: {job:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A worker on its own task, stopped by sending on the returned channel.
fn start_worker(
    store: &Store,
    options: WorkerOptions,
) -> (
    oneshot::Sender<()>,
    tokio::task::JoinHandle<steward_runtime::Result<WorkerReport>>,
) {
    let (stop, stopped) = oneshot::channel::<()>();
    let worker = tokio::spawn(run_worker(
        store.clone(),
        Config::defaults(),
        options,
        async move {
            let _ = stopped.await;
        },
    ));
    (stop, worker)
}

fn is_running_with_progress(job: &JobRecord) -> bool {
    job.state == JobState::Running && job.progress["done"].as_u64().is_some_and(|done| done > 0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queued_job_runs_to_success_with_its_summary_in_the_row() {
    let db = TestDb::sqlite();
    let store = db.open().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let job = enqueue(&store, &import(&users_file(dir.path(), 30), 10)).await;

    let report = run_worker(
        store.clone(),
        Config::defaults(),
        options("w1", true),
        std::future::pending(),
    )
    .await
    .expect("the worker runs");
    assert_eq!(report.succeeded, 1, "{report:?}");

    let done = store.job(job.id).await.expect("read").expect("exists");
    assert_eq!(done.state, JobState::Succeeded, "{done:?}");
    assert_eq!(done.worker.as_deref(), Some("w1"));
    let result = done.result.expect("a summary");
    assert_eq!(result["total_skipped"], 0, "{result}");
    assert_eq!(
        done.progress["phase"], "users-30.jsonl",
        "the last progress is kept"
    );
    assert_eq!(store.stats().await.expect("stats").users, 30);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_a_running_job_stops_it_as_cancelled_keeping_whole_batches() {
    let db = TestDb::sqlite();
    let store = db.open().await;
    let dir = tempfile::tempdir().expect("temp dir");
    // One transaction per line: long enough to be cancelled midway.
    let job = enqueue(&store, &import(&users_file(dir.path(), 50_000), 1)).await;
    let (stop, worker) = start_worker(&store, options("w1", false));

    wait_until(
        &store,
        job.id,
        "running with progress",
        is_running_with_progress,
    )
    .await;
    store.cancel_job(job.id).await.expect("cancel");
    let cancelled = wait_until(&store, job.id, "finished", |job| job.state.is_final()).await;
    assert_eq!(cancelled.state, JobState::Cancelled, "{cancelled:?}");
    assert!(cancelled.finished_at.is_some());
    let users = store.stats().await.expect("stats").users;
    assert!(
        (1..50_000).contains(&users),
        "stopped midway, keeping what it wrote: {users}"
    );

    stop.send(()).expect("the worker listens");
    let report = worker.await.expect("joined").expect("the worker runs");
    assert_eq!(report.cancelled, 1, "{report:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_job_fails_with_its_reason_and_the_next_one_still_runs() {
    let db = TestDb::sqlite();
    let store = db.open().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let missing = dir.path().join("no-such-dump");
    let failing = enqueue(
        &store,
        &JobSpec::ImportStackexchange {
            path: missing.clone(),
            strict: false,
            batch_size: 100,
        },
    )
    .await;
    let fine = enqueue(&store, &import(&users_file(dir.path(), 3), 10)).await;

    let report = run_worker(
        store.clone(),
        Config::defaults(),
        options("w1", true),
        std::future::pending(),
    )
    .await
    .expect("the worker runs");
    assert_eq!((report.failed, report.succeeded), (1, 1), "{report:?}");

    let failed = store.job(failing.id).await.expect("read").expect("exists");
    assert_eq!(failed.state, JobState::Failed);
    let error = failed.error.expect("a reason");
    assert!(error.contains("no-such-dump"), "{error}");
    let fine = store.job(fine.id).await.expect("read").expect("exists");
    assert_eq!(fine.state, JobState::Succeeded);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_strict_import_with_skips_fails_and_says_how_many() {
    let db = TestDb::sqlite();
    let store = db.open().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("bad.jsonl");
    std::fs::write(&path, "{\"type\":\"user\",\"id\":1}\n").expect("written");
    let job = enqueue(&store, &import(&path, 10)).await;
    run_worker(
        store.clone(),
        Config::defaults(),
        options("w1", true),
        std::future::pending(),
    )
    .await
    .expect("the worker runs");
    let failed = store.job(job.id).await.expect("read").expect("exists");
    assert_eq!(failed.state, JobState::Failed);
    let error = failed.error.expect("a reason");
    assert!(error.contains("1 records were skipped"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_workers_job_is_taken_back_and_finished_by_another() {
    let db = TestDb::sqlite();
    let store = db.open().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let job = enqueue(&store, &import(&users_file(dir.path(), 20), 5)).await;
    // A worker claims it and dies without a heartbeat.
    let claimed = store
        .claim_job("dead", &[])
        .await
        .expect("claim")
        .expect("the job");
    assert_eq!(claimed.id, job.id);
    tokio::time::sleep(Duration::from_millis(1_100)).await;

    let report = run_worker(
        store.clone(),
        Config::defaults(),
        options("alive", true),
        std::future::pending(),
    )
    .await
    .expect("the worker runs");
    assert_eq!(report.succeeded, 1, "{report:?}");
    let done = store.job(job.id).await.expect("read").expect("exists");
    assert_eq!(
        (done.state, done.worker.as_deref(), done.attempts),
        (JobState::Succeeded, Some("alive"), 2)
    );
    assert_eq!(store.stats().await.expect("stats").users, 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_that_shuts_down_gives_its_job_back_and_the_next_finishes_it() {
    let db = TestDb::sqlite();
    let store = db.open().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let n_users = 3_000;
    let job = enqueue(&store, &import(&users_file(dir.path(), n_users), 1)).await;
    let (stop, worker) = start_worker(&store, options("first", false));
    wait_until(
        &store,
        job.id,
        "running with progress",
        is_running_with_progress,
    )
    .await;
    stop.send(()).expect("the worker listens");
    let report = worker.await.expect("joined").expect("the worker runs");
    assert_eq!(report.released, 1, "{report:?}");
    let released = store.job(job.id).await.expect("read").expect("exists");
    assert_eq!(
        (released.state, released.worker.as_deref()),
        (JobState::Queued, None)
    );

    let report = run_worker(
        store.clone(),
        Config::defaults(),
        options("second", true),
        std::future::pending(),
    )
    .await
    .expect("the worker runs");
    assert_eq!(report.succeeded, 1, "{report:?}");
    assert_eq!(
        store.stats().await.expect("stats").users,
        i64::try_from(n_users).expect("small")
    );
}
