//! The community embedding job on real stores: everything is embedded once,
//! then the job follows the change feed (an edit is embedded again, a deletion
//! loses its vectors, nothing else is read; on SQLite and, when
//! `TEST_DATABASE_URL` is set, PostgreSQL); a cancel stops it between batches;
//! LSA is trained into the artifact registry, reports its phases, stops on a
//! cancel, and is loaded (not retrained) however old; and an embedder that
//! cannot be found falls back to LSA with a warning, fast.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use futures::FutureExt;
use steward_domain::{Post, PostId, PostKind};
use steward_jobs::{JobHandle, Unit};
use steward_ml::Error;
use steward_ml::embed::job::{
    EmbedJobOptions, EmbedMode, EmbedReport, consumer_name, embed_community,
};
use steward_ml::embed::lsa::{LsaConfig, LsaEmbedder};
use steward_ml::embed::{
    Embedder, LEGACY_LSA_ARTIFACT, LSA_ARTIFACT, LSA_ARTIFACT_KIND, load_or_train_lsa, train_lsa,
};
use steward_ml::resolve::ModelResolver;
use steward_store::{NewArtifact, Store, StoredEmbedding, WriteBatch};
use steward_testkit::TestDb;

const TEXTS: &[(&str, &str)] = &[
    (
        "Undo the last git commit",
        "I committed to the wrong branch and want to undo the commit but keep the changes.",
    ),
    (
        "git reset versus git revert",
        "What is the difference between reset and revert for a pushed commit?",
    ),
    (
        "Squash commits with git rebase",
        "How do I squash my last three commits into one before merging?",
    ),
    (
        "pandas groupby count",
        "How do I count unique values per group in a pandas DataFrame?",
    ),
    (
        "Read CSV dates with pandas",
        "The date column of my CSV file is read as a string by pandas.",
    ),
    (
        "Merge DataFrames in pandas",
        "How do I join two pandas DataFrames on a key column?",
    ),
    (
        "Rust borrow checker error",
        "cannot borrow as mutable because it is also borrowed as immutable",
    ),
    (
        "Rust lifetimes of references",
        "The compiler asks for a lifetime on the reference my function returns.",
    ),
    (
        "反向传播如何计算梯度",
        "神经网络的反向传播算法是如何计算每个权重的梯度的？",
    ),
    (
        "梯度消失问题",
        "深层神经网络训练时梯度消失，反向传播算法应该怎么改进？",
    ),
];

fn post(id: i64, kind: PostKind, title: Option<&str>, body: &str) -> Post {
    Post {
        id: PostId(id),
        kind,
        parent_id: None,
        accepted_answer_id: None,
        owner_id: None,
        title: title.map(str::to_string),
        body_html: format!("<p>{body}</p>"),
        body_text: body.to_string(),
        code_blocks: Vec::new(),
        tags: Vec::new(),
        score: 0,
        view_count: 0,
        answer_count: 0,
        comment_count: 0,
        favorite_count: 0,
        created_at: Utc
            .with_ymd_and_hms(2024, 1, 1, 0, 0, 0)
            .single()
            .expect("a valid date"),
        last_activity_at: None,
        closed_at: None,
        license: None,
        language: None,
    }
}

async fn community() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(&dir.path().join("steward.db").display().to_string())
        .await
        .expect("store opens");
    write_community(&store).await;
    (dir, store)
}

/// The ten questions of [`TEXTS`] (ids 1..=10) and one comment (id 100).
async fn write_community(store: &Store) {
    let mut batch = WriteBatch::default();
    for (index, (title, body)) in TEXTS.iter().enumerate() {
        batch.posts.push(post(
            index as i64 + 1,
            PostKind::Question,
            Some(title),
            body,
        ));
    }
    batch.posts.push(post(
        100,
        PostKind::Comment,
        None,
        "Thanks, git reset worked for me.",
    ));
    store.write(&batch).await.expect("write");
}

/// Runs `test` on a fresh SQLite store, then on a fresh PostgreSQL schema
/// (dropped afterwards, passed or not) when `TEST_DATABASE_URL` is set.
async fn on_every_backend<F, Fut>(test: F)
where
    F: Fn(Store) -> Fut,
    Fut: Future<Output = ()>,
{
    let sqlite = TestDb::sqlite();
    test(sqlite.open().await).await;
    let Some(db) = TestDb::postgres() else {
        return;
    };
    let outcome = AssertUnwindSafe(async {
        let store = db.open().await;
        test(store.clone()).await;
        store.close().await;
    })
    .catch_unwind()
    .await;
    db.cleanup().await;
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

/// A resolver that finds nothing locally and whose hub refuses connections.
fn offline_resolver(cache: &std::path::Path) -> ModelResolver {
    ModelResolver::new(None, cache.to_path_buf(), "http://127.0.0.1:9")
}

/// What a run did, in one comparable value: (mode, scanned, embedded,
/// unchanged, deleted, touched ids sorted).
fn summary(report: &EmbedReport) -> (EmbedMode, u64, u64, u64, u64, Vec<i64>) {
    assert!(!report.cancelled, "{report:?}");
    let mut touched: Vec<i64> = report.touched.iter().map(|id| id.0).collect();
    touched.sort_unstable();
    (
        report.mode,
        report.scanned,
        report.embedded,
        report.unchanged,
        report.deleted,
        touched,
    )
}

fn edited_post(id: i64) -> Post {
    let mut edited = post(
        id,
        PostKind::Question,
        Some("Squash commits"),
        "Now with an edit.",
    );
    edited.code_blocks.push("git rebase -i HEAD~3".to_string());
    edited
}

async fn write_posts(store: &Store, posts: Vec<Post>) {
    store
        .write(&WriteBatch {
            posts,
            ..WriteBatch::default()
        })
        .await
        .expect("write");
}

/// The acceptance test of the change feed on the embedding side: after a
/// full first run, an edit and a deletion are all the next run touches.
#[tokio::test]
async fn after_an_edit_and_a_deletion_the_next_run_touches_exactly_those_two() {
    on_every_backend(|store| async move {
        write_community(&store).await;
        let cache = tempfile::tempdir().expect("temp dir");
        let loaded = Embedder::load(
            "lsa",
            &offline_resolver(cache.path()),
            Some(&store),
            &JobHandle::new(),
        )
        .await
        .expect("LSA trains on the community");
        assert!(loaded.warning.is_none());
        let embedder = Arc::new(loaded.embedder);
        let model = embedder.model_id().to_string();
        let options = EmbedJobOptions {
            batch_size: 4,
            ..EmbedJobOptions::default()
        };
        let run = || async {
            embed_community(&store, Arc::clone(&embedder), &options, &JobHandle::new())
                .await
                .expect("embed run")
        };

        let job = JobHandle::new();
        let first = embed_community(&store, Arc::clone(&embedder), &options, &job)
            .await
            .expect("first run");
        let progress = job.progress();
        assert_eq!(
            (
                progress.phase.as_str(),
                progress.done,
                progress.total,
                progress.unit
            ),
            ("embedding", 11, Some(11), Unit::Items),
            "every post and comment scanned"
        );
        assert_eq!(
            progress.message.as_deref(),
            Some("10 embedded, 0 unchanged, 0 deleted")
        );
        // The comment is scanned but not embedded.
        assert_eq!(
            summary(&first),
            (EmbedMode::Full, 11, 10, 0, 0, (1..=10).collect())
        );
        let head = store.latest_change_seq().await.expect("head");
        assert_eq!(first.feed_position, head);
        assert_eq!(
            store
                .consumer_position(&consumer_name(&model, false))
                .await
                .expect("position"),
            head
        );

        write_posts(&store, vec![edited_post(3)]).await;
        assert_eq!(store.delete_posts(&[PostId(5)]).await.expect("delete"), 1);
        let second = run().await;
        assert_eq!(
            summary(&second),
            (EmbedMode::Incremental, 1, 1, 0, 1, vec![3, 5]),
            "only the edited post is read and embedded, the deleted one removed"
        );
        let third = run().await;
        assert_eq!(
            summary(&third),
            (EmbedMode::Incremental, 0, 0, 0, 0, vec![])
        );
        assert_eq!(
            third.feed_position,
            store.latest_change_seq().await.expect("head")
        );

        // A change the embedded text does not show is read, not embedded.
        let mut rescored = post(1, PostKind::Question, Some(TEXTS[0].0), TEXTS[0].1);
        rescored.score = 42;
        write_posts(&store, vec![rescored]).await;
        assert_eq!(
            summary(&run().await),
            (EmbedMode::Incremental, 1, 0, 1, 0, vec![])
        );

        let ids: Vec<PostId> = (1..=10).map(PostId).collect();
        let stored = store.embeddings(&model, &ids).await.expect("read back");
        let stored_ids: Vec<i64> = stored.iter().map(|row| row.post_id.0).collect();
        assert_eq!(stored_ids, vec![1, 2, 3, 4, 6, 7, 8, 9, 10]);
        assert!(stored.iter().all(|row| row.vector.len() == embedder.dim()));
    })
    .await;
}

#[tokio::test]
async fn full_rescans_and_a_run_with_comments_follows_the_feed_apart() {
    let (dir, store) = community().await;
    let embedder = lsa(&store, dir.path()).await;
    let options = EmbedJobOptions::default();
    embed_community(&store, Arc::clone(&embedder), &options, &JobHandle::new())
        .await
        .expect("first run");
    let full = EmbedJobOptions {
        full: true,
        ..EmbedJobOptions::default()
    };
    let rescan = embed_community(&store, Arc::clone(&embedder), &full, &JobHandle::new())
        .await
        .expect("full run");
    assert_eq!(summary(&rescan), (EmbedMode::Full, 11, 0, 10, 0, vec![]));
    let with_comments = EmbedJobOptions {
        include_comments: true,
        ..EmbedJobOptions::default()
    };
    let comments = embed_community(&store, embedder, &with_comments, &JobHandle::new())
        .await
        .expect("run with comments");
    assert_eq!(
        summary(&comments),
        (EmbedMode::Full, 11, 1, 10, 0, vec![100]),
        "its own consumer starts with a full scan, and embeds the comment"
    );
}

/// A run that embeds a post while it is being deleted writes a vector after
/// the deletion dropped the post's vectors; the next run removes it.
#[tokio::test]
async fn a_vector_written_for_a_post_while_it_was_deleted_is_removed_next_run() {
    let (dir, store) = community().await;
    let embedder = lsa(&store, dir.path()).await;
    let model = embedder.model_id().to_string();
    let options = EmbedJobOptions::default();
    embed_community(&store, Arc::clone(&embedder), &options, &JobHandle::new())
        .await
        .expect("first run");
    store.delete_posts(&[PostId(6)]).await.expect("delete");
    store
        .put_embeddings(&[StoredEmbedding {
            post_id: PostId(6),
            model: model.clone(),
            content_hash: 1,
            vector: vec![0.0; embedder.dim()],
        }])
        .await
        .expect("late write");
    let next = embed_community(&store, embedder, &options, &JobHandle::new())
        .await
        .expect("next run");
    assert_eq!(
        summary(&next),
        (EmbedMode::Incremental, 0, 0, 0, 1, vec![6])
    );
    assert!(
        store
            .embeddings(&model, &[PostId(6)])
            .await
            .expect("read")
            .is_empty()
    );
}

#[tokio::test]
async fn lsa_is_kept_in_the_registry_and_loaded_however_old_it_is() {
    let (_dir, store) = community().await;
    let head = store.latest_change_seq().await.expect("head");
    let first = load_or_train_lsa(&store, &JobHandle::new())
        .await
        .expect("trains");
    let stored = store
        .promoted_artifact(LSA_ARTIFACT)
        .await
        .expect("read")
        .expect("promoted");
    assert_eq!(
        (stored.version, stored.kind.as_str(), stored.feed_seq),
        (1, LSA_ARTIFACT_KIND, Some(head))
    );
    assert_eq!(stored.metadata["model_id"], first.model_id());
    assert_eq!(stored.metadata["dim"], first.dim());
    assert_eq!(stored.metadata["training_texts"], 11);
    assert!(stored.metadata["vocabulary"].as_u64() > Some(1));
    assert_eq!(stored.metadata["config"]["dim"], LsaConfig::default().dim);
    let share = stored.metrics["explained_share"]
        .as_f64()
        .expect("explained share");
    assert!(share > 0.0 && share <= 1.0 + 1e-6, "{share}");
    assert!(stored.metrics["training_seconds"].as_f64() >= Some(0.0));

    // The community changes; the promoted model still loads, untrained.
    write_posts(&store, vec![edited_post(3)]).await;
    let job = JobHandle::new();
    let again = load_or_train_lsa(&store, &job).await.expect("loads");
    assert_eq!(again.model_id(), first.model_id());
    assert_eq!(job.progress().phase, "", "nothing was trained");

    // Retraining asked for: a new promoted version, rolled back to the first.
    let retrained = train_lsa(&store, &LsaConfig::default(), &JobHandle::new())
        .await
        .expect("retrains");
    assert_eq!(
        (retrained.version.version, retrained.version.promoted),
        (2, true)
    );
    assert_ne!(retrained.embedder.model_id(), first.model_id());
    let loaded = load_or_train_lsa(&store, &JobHandle::new())
        .await
        .expect("loads");
    assert_eq!(loaded.model_id(), retrained.embedder.model_id());
    store
        .rollback_artifact(LSA_ARTIFACT)
        .await
        .expect("rollback");
    let loaded = load_or_train_lsa(&store, &JobHandle::new())
        .await
        .expect("loads");
    assert_eq!(loaded.model_id(), first.model_id());
}

/// A store from before the registry kept its model under the old name; it is
/// adopted as-is (same model, same vectors), not retrained.
#[tokio::test]
async fn the_lsa_model_of_an_older_store_is_adopted_not_retrained() {
    let (_dir, store) = community().await;
    let texts: Vec<&str> = TEXTS.iter().map(|(title, _)| *title).collect();
    let config = LsaConfig {
        dim: 4,
        min_df: 1,
        ..LsaConfig::default()
    };
    let old = LsaEmbedder::train(&texts, &config, &JobHandle::new()).expect("trains");
    store
        .put_artifact_version(
            &NewArtifact {
                name: LEGACY_LSA_ARTIFACT,
                kind: "blob",
                metadata: serde_json::json!({}),
                metrics: serde_json::json!({}),
                feed_seq: None,
                bytes: &old.to_bytes(),
            },
            true,
        )
        .await
        .expect("legacy model");
    let job = JobHandle::new();
    let loaded = load_or_train_lsa(&store, &job).await.expect("adopts");
    assert_eq!(loaded.model_id(), old.model_id());
    assert_eq!(job.progress().phase, "", "nothing was trained");
    let adopted = store
        .promoted_artifact(LSA_ARTIFACT)
        .await
        .expect("read")
        .expect("adopted");
    assert_eq!((adopted.version, adopted.feed_seq), (1, None));
    assert_eq!(adopted.metadata["adopted_from"], "embedder/lsa v1");
}

async fn lsa(store: &Store, cache: &std::path::Path) -> Arc<Embedder> {
    let loaded = Embedder::load(
        "lsa",
        &offline_resolver(cache),
        Some(store),
        &JobHandle::new(),
    )
    .await
    .expect("LSA");
    Arc::new(loaded.embedder)
}

#[tokio::test]
async fn a_cancelled_job_stops_before_embedding() {
    let (dir, store) = community().await;
    let embedder = lsa(&store, dir.path()).await;
    let job = JobHandle::new();
    job.cancel();
    let report = embed_community(&store, embedder, &EmbedJobOptions::default(), &job)
        .await
        .expect("runs");
    assert!(report.cancelled);
    assert_eq!(report.embedded, 0);
}

#[tokio::test]
async fn a_cancel_mid_run_stops_after_a_batch_and_a_rerun_finishes() {
    let (dir, store) = community().await;
    let embedder = lsa(&store, dir.path()).await;
    let options = EmbedJobOptions {
        batch_size: 4,
        ..EmbedJobOptions::default()
    };
    let job = JobHandle::new();
    let watcher = job.clone();
    let mut changes = job.subscribe();
    let canceller = tokio::spawn(async move {
        while changes.changed().await.is_ok() {
            if watcher.progress().done > 0 {
                watcher.cancel();
                return;
            }
        }
    });
    let first = embed_community(&store, Arc::clone(&embedder), &options, &job)
        .await
        .expect("runs");
    canceller.abort();
    assert!(first.cancelled, "{first:?}");
    assert!(
        first.embedded > 0 && first.embedded < 10 && first.embedded % 4 == 0,
        "stopped between whole batches: {first:?}"
    );
    let rest = embed_community(&store, embedder, &options, &JobHandle::new())
        .await
        .expect("runs");
    assert!(!rest.cancelled);
    assert_eq!(
        (rest.embedded, rest.unchanged),
        (10 - first.embedded, first.embedded)
    );
}

#[tokio::test]
async fn lsa_training_reports_its_phases_and_a_cancel_stores_no_model() {
    let (dir, store) = community().await;
    let resolver = offline_resolver(dir.path());

    let cancelled = JobHandle::new();
    cancelled.cancel();
    let outcome = Embedder::load("lsa", &resolver, Some(&store), &cancelled).await;
    assert!(
        matches!(outcome, Err(Error::Cancelled(_))),
        "{:?}",
        outcome.map(|loaded| loaded.embedder.model_id().to_string())
    );
    assert!(
        store
            .artifact_versions(LSA_ARTIFACT)
            .await
            .expect("read")
            .is_empty(),
        "a cancelled training stores nothing"
    );

    let job = JobHandle::new();
    Embedder::load("lsa", &resolver, Some(&store), &job)
        .await
        .expect("trains");
    let progress = job.progress();
    assert_eq!(
        progress.phase, "svd",
        "reading posts, tokenizing, then the SVD passes"
    );
    assert_eq!(Some(progress.done), progress.total, "every pass done");
}

#[tokio::test]
async fn a_missing_model_falls_back_to_lsa_with_a_warning_within_seconds() {
    let (dir, store) = community().await;
    let resolver = offline_resolver(&dir.path().join("cache"));
    let started = Instant::now();
    let first = Embedder::load(
        "all-MiniLM-L6-v2",
        &resolver,
        Some(&store),
        &JobHandle::new(),
    )
    .await
    .expect("falls back");
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "took {:?}",
        started.elapsed()
    );
    let warning = first.warning.expect("the fallback is announced");
    assert!(warning.contains("could not download"), "{warning}");
    assert!(warning.contains("STEWARD_MODEL_DIR"), "{warning}");
    assert!(matches!(first.embedder, Embedder::Lsa(_)));
    assert!(
        store
            .promoted_artifact(LSA_ARTIFACT)
            .await
            .expect("read")
            .is_some()
    );

    // The stored model is reused: same id, same vectors.
    let second = Embedder::load("no-such-model", &resolver, Some(&store), &JobHandle::new())
        .await
        .expect("falls back");
    assert_eq!(second.embedder.model_id(), first.embedder.model_id());
    assert!(second.warning.expect("announced").contains("not found"));

    // Without a store there is nothing to fall back on.
    assert!(
        Embedder::load("no-such-model", &resolver, None, &JobHandle::new())
            .await
            .is_err()
    );
}
