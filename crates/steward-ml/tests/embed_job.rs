//! The community embedding job on a real SQLite store: everything is embedded
//! once, a second run embeds nothing, an edited post is embedded again, a
//! cancel stops it between batches; LSA training reports its phases and stops
//! on a cancel; and an embedder that cannot be found falls back to LSA with a
//! warning, fast.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use steward_domain::{Post, PostId, PostKind};
use steward_jobs::{JobHandle, Unit};
use steward_ml::Error;
use steward_ml::embed::job::{EmbedJobOptions, embed_community};
use steward_ml::embed::{Embedder, LSA_ARTIFACT};
use steward_ml::resolve::ModelResolver;
use steward_store::{Store, WriteBatch};

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
    (dir, store)
}

/// A resolver that finds nothing locally and whose hub refuses connections.
fn offline_resolver(cache: &std::path::Path) -> ModelResolver {
    ModelResolver::new(None, cache.to_path_buf(), "http://127.0.0.1:9")
}

#[tokio::test]
async fn a_second_run_embeds_nothing_and_an_edit_embeds_one_post() {
    let (dir, store) = community().await;
    let loaded = Embedder::load(
        "lsa",
        &offline_resolver(dir.path()),
        Some(&store),
        &JobHandle::new(),
    )
    .await
    .expect("LSA trains on the community");
    assert!(loaded.warning.is_none());
    let embedder = Arc::new(loaded.embedder);
    let options = EmbedJobOptions {
        batch_size: 4,
        ..EmbedJobOptions::default()
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
        Some("10 embedded, 0 unchanged")
    );
    let second = embed_community(&store, Arc::clone(&embedder), &options, &JobHandle::new())
        .await
        .expect("second run");
    let mut edited = post(
        3,
        PostKind::Question,
        Some("Squash commits"),
        "Now with an edit.",
    );
    edited.code_blocks.push("git rebase -i HEAD~3".to_string());
    store
        .write(&WriteBatch {
            posts: vec![edited],
            ..WriteBatch::default()
        })
        .await
        .expect("edit");
    let third = embed_community(&store, Arc::clone(&embedder), &options, &JobHandle::new())
        .await
        .expect("third run");

    // (embedded, unchanged, scanned): the comment is scanned but not embedded.
    for (report, expected) in [
        (&first, (10, 0, 11)),
        (&second, (0, 10, 11)),
        (&third, (1, 9, 11)),
    ] {
        assert_eq!(
            (report.embedded, report.unchanged, report.scanned),
            expected,
            "{report:?}"
        );
        assert!(!report.cancelled);
    }
    let ids: Vec<PostId> = (1..=10).map(PostId).collect();
    let stored = store
        .embeddings(embedder.model_id(), &ids)
        .await
        .expect("read back");
    assert_eq!(stored.len(), 10);
    assert!(stored.iter().all(|row| row.vector.len() == embedder.dim()));
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
        store.artifact(LSA_ARTIFACT).await.expect("read").is_none(),
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
    assert!(store.artifact(LSA_ARTIFACT).await.expect("read").is_some());

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
