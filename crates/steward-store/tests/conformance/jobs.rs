//! Jobs: the life of a job, claims by competing workers, cancellation, stale
//! workers, and listings.

use std::collections::HashSet;
use std::time::Duration;

use serde_json::json;
use steward_store::{Error, JobFilter, JobState, NewJob, Store};

use super::on_every_backend;

fn new_job(kind: &str, n: i64) -> NewJob {
    NewJob {
        kind: kind.to_string(),
        params: json!({ "n": n }),
    }
}

#[tokio::test]
async fn a_job_goes_from_queued_to_succeeded() {
    on_every_backend(|db| async move {
        let store = db.open().await;
        let queued = store
            .enqueue_job(&new_job("embed", 1))
            .await
            .expect("enqueue");
        assert_eq!(queued.state, JobState::Queued);
        assert_eq!(queued.params, json!({ "n": 1 }));
        assert_eq!(queued.progress, serde_json::Value::Null);
        assert_eq!((queued.attempts, queued.worker.as_deref()), (0, None));
        assert_eq!(queued.started_at, None);

        let claimed = store
            .claim_job("worker-a", &["embed"])
            .await
            .expect("claim")
            .expect("a queued job");
        assert_eq!(claimed.id, queued.id);
        assert_eq!(claimed.state, JobState::Running);
        assert_eq!(claimed.worker.as_deref(), Some("worker-a"));
        assert_eq!(claimed.attempts, 1);
        assert!(claimed.started_at.is_some() && claimed.heartbeat_at.is_some());
        assert_eq!(store.claim_job("worker-b", &[]).await.expect("claim"), None);

        let progress = json!({ "phase": "embedding", "done": 5, "total": 10 });
        let beat = store
            .heartbeat_job(queued.id, "worker-a", &progress)
            .await
            .expect("heartbeat");
        assert!(beat.still_owned && !beat.cancel_requested);
        assert!(
            !store
                .finish_job(queued.id, "worker-b", JobState::Succeeded, None, None)
                .await
                .expect("finish by another worker"),
            "only the owner finishes a job"
        );
        let result = json!({ "embedded": 10 });
        assert!(
            store
                .finish_job(
                    queued.id,
                    "worker-a",
                    JobState::Succeeded,
                    Some(&result),
                    None
                )
                .await
                .expect("finish")
        );
        let done = store.job(queued.id).await.expect("read").expect("stored");
        assert_eq!(done.state, JobState::Succeeded);
        assert_eq!(done.progress, progress);
        assert_eq!(done.result, Some(result));
        assert!(done.finished_at.is_some());
        assert!(
            !store
                .finish_job(queued.id, "worker-a", JobState::Failed, None, Some("late"))
                .await
                .expect("finish twice"),
            "a finished job stays finished"
        );
        let running = store
            .finish_job(queued.id, "worker-a", JobState::Running, None, None)
            .await;
        assert!(matches!(running, Err(Error::NotAFinalState { .. })));
        assert_eq!(store.job(9_999).await.expect("read"), None);
    })
    .await;
}

#[tokio::test]
async fn a_job_started_inline_is_running_at_once() {
    on_every_backend(|db| async move {
        let store = db.open().await;
        let job = store
            .start_job(&new_job("import", 1), "cli")
            .await
            .expect("start");
        assert_eq!(job.state, JobState::Running);
        assert_eq!((job.worker.as_deref(), job.attempts), (Some("cli"), 1));
        assert_eq!(store.claim_job("worker", &[]).await.expect("claim"), None);
        assert!(
            store
                .finish_job(job.id, "cli", JobState::Failed, None, Some("bad\0input"))
                .await
                .expect("finish")
        );
        let failed = store.job(job.id).await.expect("read").expect("stored");
        assert_eq!(failed.error.as_deref(), Some("bad\u{fffd}input"));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn workers_claiming_together_never_get_the_same_job() {
    const JOBS: i64 = 40;
    const WORKERS: usize = 6;
    on_every_backend(|db| async move {
        let mut options = db.options();
        options.max_connections = WORKERS as u32;
        let store = Store::open_with(options).await.expect("open");
        for n in 0..JOBS {
            let kind = if n % 4 == 3 { "train" } else { "embed" };
            store.enqueue_job(&new_job(kind, n)).await.expect("enqueue");
        }
        let workers: Vec<_> = (0..WORKERS)
            .map(|worker| {
                let store = store.clone();
                tokio::spawn(async move {
                    let name = format!("worker-{worker}");
                    let mut claimed = Vec::new();
                    while let Some(job) = store.claim_job(&name, &["embed"]).await.expect("claim") {
                        assert_eq!(job.kind, "embed");
                        assert_eq!(job.worker.as_deref(), Some(name.as_str()));
                        claimed.push(job.id);
                    }
                    claimed
                })
            })
            .collect();
        let mut all = Vec::new();
        for worker in workers {
            all.extend(worker.await.expect("a worker finishes"));
        }
        let distinct: HashSet<i64> = all.iter().copied().collect();
        assert_eq!(distinct.len(), all.len(), "a job was claimed twice");
        assert_eq!(all.len() as i64, JOBS - JOBS / 4);
        // The other kind is still waiting, oldest first.
        let train = store
            .claim_job("trainer", &["train", "other"])
            .await
            .expect("claim")
            .expect("a train job");
        assert_eq!(train.params, json!({ "n": 3 }));
    })
    .await;
}

#[tokio::test]
async fn cancelling_stops_queued_jobs_at_once_and_running_ones_at_their_next_heartbeat() {
    on_every_backend(|db| async move {
        let store = db.open().await;
        let queued = store
            .enqueue_job(&new_job("embed", 1))
            .await
            .expect("enqueue");
        let cancelled = store
            .cancel_job(queued.id)
            .await
            .expect("cancel")
            .expect("known job");
        assert_eq!(cancelled.state, JobState::Cancelled);
        assert!(cancelled.finished_at.is_some());
        assert_eq!(store.claim_job("worker", &[]).await.expect("claim"), None);

        let running = store
            .enqueue_job(&new_job("embed", 2))
            .await
            .expect("enqueue");
        store
            .claim_job("worker", &[])
            .await
            .expect("claim")
            .expect("the second job");
        let flagged = store
            .cancel_job(running.id)
            .await
            .expect("cancel")
            .expect("known job");
        assert_eq!(flagged.state, JobState::Running);
        assert!(flagged.cancel_requested);
        let beat = store
            .heartbeat_job(running.id, "worker", &json!(null))
            .await
            .expect("heartbeat");
        assert!(beat.cancel_requested && beat.still_owned);
        assert!(
            store
                .finish_job(running.id, "worker", JobState::Cancelled, None, None)
                .await
                .expect("finish")
        );

        // A finished job is left as it is.
        let after = store
            .cancel_job(running.id)
            .await
            .expect("cancel")
            .expect("known job");
        assert_eq!(after.state, JobState::Cancelled);
        assert_eq!(store.cancel_job(9_999).await.expect("cancel"), None);
    })
    .await;
}

#[tokio::test]
async fn a_silent_workers_job_goes_back_to_the_queue() {
    on_every_backend(|db| async move {
        let store = db.open().await;
        let job = store
            .enqueue_job(&new_job("embed", 1))
            .await
            .expect("enqueue");
        store
            .claim_job("crashed", &[])
            .await
            .expect("claim")
            .expect("the job");
        assert_eq!(
            store
                .requeue_stale_jobs(Duration::from_secs(3_600))
                .await
                .expect("requeue"),
            0,
            "a fresh heartbeat is not stale"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(
            store
                .requeue_stale_jobs(Duration::from_millis(5))
                .await
                .expect("requeue"),
            1
        );
        let requeued = store.job(job.id).await.expect("read").expect("stored");
        assert_eq!(requeued.state, JobState::Queued);
        assert_eq!((requeued.worker, requeued.attempts), (None, 1));

        let beat = store
            .heartbeat_job(job.id, "crashed", &json!(null))
            .await
            .expect("heartbeat");
        assert!(!beat.still_owned, "the old worker learns it lost the job");
        let again = store
            .claim_job("healthy", &[])
            .await
            .expect("claim")
            .expect("the requeued job");
        assert_eq!((again.id, again.attempts), (job.id, 2));
        assert!(
            !store
                .finish_job(job.id, "crashed", JobState::Succeeded, None, None)
                .await
                .expect("finish by the old worker")
        );
        assert!(
            store
                .finish_job(job.id, "healthy", JobState::Succeeded, None, None)
                .await
                .expect("finish")
        );

        // A stale job whose cancel was asked for is cancelled, not rerun.
        let doomed = store
            .enqueue_job(&new_job("embed", 2))
            .await
            .expect("enqueue");
        store.claim_job("crashed", &[]).await.expect("claim");
        store.cancel_job(doomed.id).await.expect("cancel");
        tokio::time::sleep(Duration::from_millis(20)).await;
        store
            .requeue_stale_jobs(Duration::from_millis(5))
            .await
            .expect("requeue");
        let doomed = store.job(doomed.id).await.expect("read").expect("stored");
        assert_eq!(doomed.state, JobState::Cancelled);
        assert_eq!(store.claim_job("healthy", &[]).await.expect("claim"), None);
    })
    .await;
}

#[tokio::test]
async fn job_listings_are_newest_first_filtered_and_paged() {
    on_every_backend(|db| async move {
        let store = db.open().await;
        let mut ids = Vec::new();
        for n in 0..7 {
            let kind = if n % 2 == 0 { "embed" } else { "import" };
            ids.push(
                store
                    .enqueue_job(&new_job(kind, n))
                    .await
                    .expect("enqueue")
                    .id,
            );
        }
        store.cancel_job(ids[0]).await.expect("cancel");
        let check = async |filter: JobFilter, expected: &[usize]| {
            let listed: Vec<i64> = store
                .jobs(&filter)
                .await
                .expect("list")
                .iter()
                .map(|job| job.id)
                .collect();
            let expected: Vec<i64> = expected.iter().map(|index| ids[*index]).collect();
            assert_eq!(listed, expected, "{filter:?}");
        };
        check(JobFilter::default(), &[6, 5, 4, 3, 2, 1, 0]).await;
        check(
            JobFilter {
                kind: Some("embed".to_string()),
                ..JobFilter::default()
            },
            &[6, 4, 2, 0],
        )
        .await;
        check(
            JobFilter {
                state: Some(JobState::Queued),
                kind: Some("embed".to_string()),
                ..JobFilter::default()
            },
            &[6, 4, 2],
        )
        .await;
        check(
            JobFilter {
                limit: 2,
                ..JobFilter::default()
            },
            &[6, 5],
        )
        .await;
        check(
            JobFilter {
                limit: 2,
                before_id: Some(ids[5]),
                ..JobFilter::default()
            },
            &[4, 3],
        )
        .await;
        check(
            JobFilter {
                state: Some(JobState::Cancelled),
                ..JobFilter::default()
            },
            &[0],
        )
        .await;
    })
    .await;
}

#[tokio::test]
async fn a_released_job_is_queued_again_unless_a_cancel_was_asked_for() {
    on_every_backend(|db| async move {
        let store = db.open().await;
        let first = store
            .enqueue_job(&new_job("import", 1))
            .await
            .expect("enqueue");
        store
            .claim_job("worker-a", &[])
            .await
            .expect("claim")
            .expect("a queued job");
        assert!(
            !store
                .release_job(first.id, "worker-b")
                .await
                .expect("release"),
            "only the owner releases a job"
        );
        assert!(
            store
                .release_job(first.id, "worker-a")
                .await
                .expect("release")
        );
        let released = store.job(first.id).await.expect("read").expect("stored");
        assert_eq!(
            (
                released.state,
                released.worker.as_deref(),
                released.attempts
            ),
            (JobState::Queued, None, 1)
        );
        let again = store
            .claim_job("worker-b", &[])
            .await
            .expect("claim")
            .expect("the released job");
        assert_eq!((again.id, again.attempts), (first.id, 2));

        store.cancel_job(first.id).await.expect("cancel");
        assert!(
            store
                .release_job(first.id, "worker-b")
                .await
                .expect("release")
        );
        let cancelled = store.job(first.id).await.expect("read").expect("stored");
        assert_eq!(cancelled.state, JobState::Cancelled);
        assert!(cancelled.finished_at.is_some());
    })
    .await;
}
