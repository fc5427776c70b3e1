//! Both search indices follow the change feed: a post written, edited or
//! deleted shows in BM25 and dense results after the next refresh, on SQLite
//! and (when `TEST_DATABASE_URL` is set, always under `CI=true`) PostgreSQL,
//! with the real all-MiniLM-L6-v2 embedder.

use std::sync::{Arc, OnceLock};

use steward_domain::{Post, PostId};
use steward_jobs::JobHandle;
use steward_ml::embed::Embedder;
use steward_ml::embed::bert::{BertEmbedder, BertOptions};
use steward_runtime::Config;
use steward_runtime::search::{RefreshOptions, open_searcher, refresh, status};
use steward_search::searcher::{Mode, SearchRequest, Searcher};
use steward_store::{Store, WriteBatch};
use steward_testkit::fixtures::{question, user};
use steward_testkit::{TestDb, on_every_backend, shared_model_dir};

const MODEL: &str = "all-MiniLM-L6-v2";

/// The embedder, loaded once for every test of this file.
fn embedder() -> Option<Arc<Embedder>> {
    static EMBEDDER: OnceLock<Option<Arc<Embedder>>> = OnceLock::new();
    EMBEDDER
        .get_or_init(|| {
            let dir = shared_model_dir(MODEL)?;
            let options = BertOptions::from_model_dir(&dir).expect("model options");
            let bert = BertEmbedder::load(&dir, options).expect("the model loads");
            Some(Arc::new(Embedder::Bert(Box::new(bert))))
        })
        .clone()
}

fn thread(id: i64, title: &str, body: &str, tags: &[&str]) -> Post {
    Post {
        title: Some(title.to_string()),
        body_html: format!("<p>{body}</p>"),
        body_text: body.to_string(),
        ..question(id, tags, 1_704_067_200_000 + id * 86_400_000)
    }
}

fn corpus() -> Vec<Post> {
    vec![
        thread(
            1,
            "How do I undo my last git commit?",
            "I committed the wrong files to my local repository and want to take the commit back before pushing.",
            &["git"],
        ),
        thread(
            2,
            "Waiting on two futures at once with tokio::select!",
            "My async Rust task must stop when either the socket closes or a timeout fires; both are a Future<Output = ()>.",
            &["rust", "tokio"],
        ),
        thread(
            3,
            "Python list comprehension with a condition",
            "How can I filter a list while transforming each element in one expression?",
            &["python"],
        ),
        thread(
            4,
            "Docker container loses data on restart",
            "Files written inside my container are gone after docker restart; where should the database live?",
            &["docker"],
        ),
        thread(
            5,
            "如何给 PostgreSQL 表添加索引",
            "查询很慢，我想知道怎样为经常查询的列创建索引，以及索引会不会影响写入速度。",
            &["postgresql"],
        ),
    ]
}

fn batch(posts: Vec<Post>) -> WriteBatch {
    WriteBatch {
        users: vec![user(1)],
        posts,
        ..WriteBatch::default()
    }
}

async fn searcher(db: &TestDb, store: &Store, index_dir: &std::path::Path) -> Searcher {
    let mut config = Config::defaults();
    config.search.index_dir = Some(index_dir.to_path_buf());
    if let Some(schema) = db.schema() {
        config.database.schema = Some(schema.to_string());
    }
    open_searcher(&config, store, embedder(), &JobHandle::new())
        .await
        .expect("the indices open")
}

async fn step(searcher: &Searcher) {
    let options = RefreshOptions {
        rebuild: false,
        save: true,
        embed: true,
    };
    refresh(searcher, options, &JobHandle::new())
        .await
        .expect("a refresh");
}

async fn top(searcher: &Searcher, query: &str, mode: Mode) -> Vec<i64> {
    let request = SearchRequest {
        mode,
        limit: 3,
        ..SearchRequest::new(query)
    };
    let results = searcher.search(&request).await.expect("a search");
    assert_eq!(results.mode, mode, "{:?}", results.notice);
    results.hits.iter().map(|hit| hit.post_id.0).collect()
}

#[tokio::test]
async fn both_indices_follow_writes_edits_and_deletes() {
    if embedder().is_none() {
        return;
    }
    on_every_backend(|db| async move {
        let store = db.open().await;
        let index_dir = tempfile::tempdir().expect("a temporary folder");
        store.write(&batch(corpus())).await.expect("written");
        let searcher = searcher(&db, &store, index_dir.path()).await;
        step(&searcher).await;

        // Each retriever finds each thread by what it is about.
        assert_eq!(top(&searcher, "revert a commit in git", Mode::Bm25).await[0], 1);
        assert_eq!(top(&searcher, "take back what I committed", Mode::Dense).await[0], 1);
        assert_eq!(top(&searcher, "tokio::select", Mode::Bm25).await[0], 2);
        // A snippet is HTML-escaped whichever retriever found the thread.
        let request = SearchRequest {
            mode: Mode::Dense,
            limit: 1,
            ..SearchRequest::new("stop an async rust task on a timeout")
        };
        let dense_only = searcher.search(&request).await.expect("a search");
        assert_eq!(dense_only.hits[0].post_id, PostId(2));
        assert!(
            dense_only.hits[0].snippet.contains("Future&lt;Output = ()&gt;"),
            "{}",
            dense_only.hits[0].snippet
        );
        assert_eq!(top(&searcher, "创建索引", Mode::Bm25).await[0], 5);
        assert_eq!(top(&searcher, "persistent storage for containers", Mode::Hybrid).await[0], 4);

        // An edit moves a thread to its new topic in both indices.
        let mut edited = corpus().remove(2);
        edited.title = Some("Kubernetes pod keeps crashing with OOMKilled".into());
        edited.body_text = "The pod exceeds its memory limit and the kubelet kills it.".into();
        edited.body_html = format!("<p>{}</p>", edited.body_text);
        edited.tags = vec!["kubernetes".into()];
        store.write(&batch(vec![edited])).await.expect("edited");
        step(&searcher).await;
        assert_eq!(top(&searcher, "OOMKilled pod", Mode::Bm25).await[0], 3);
        assert_eq!(top(&searcher, "my kubernetes pod runs out of memory", Mode::Dense).await[0], 3);
        assert!(!top(&searcher, "list comprehension", Mode::Bm25).await.contains(&3));

        // A deleted thread is gone from both.
        store.delete_posts(&[PostId(1)]).await.expect("deleted");
        step(&searcher).await;
        assert!(!top(&searcher, "undo git commit", Mode::Bm25).await.contains(&1));
        assert!(!top(&searcher, "undo git commit", Mode::Dense).await.contains(&1));

        // And a new one is found after the next step.
        store
            .write(&batch(vec![thread(
                6,
                "Undo a git rebase that went wrong",
                "After an interactive rebase my branch lost commits; how do I get back to before it?",
                &["git"],
            )]))
            .await
            .expect("written");
        step(&searcher).await;
        assert_eq!(top(&searcher, "undo git rebase", Mode::Hybrid).await[0], 6);

        // The status says both are at the head of the feed.
        let mut config = Config::defaults();
        config.search.index_dir = Some(index_dir.path().to_path_buf());
        let status = status(&config, &store).await.expect("a status");
        assert_eq!(status.lexical.documents, 5);
        assert_eq!(status.lexical.position, status.feed_head);
        assert_eq!(status.vectors.len(), 1, "{:?}", status.vectors);
        assert_eq!(status.vectors[0].count, 5);
        assert_eq!(status.vectors[0].position, status.feed_head);
        store.close().await;
    })
    .await;
}

#[tokio::test]
async fn without_an_embedder_dense_falls_back_to_bm25_and_says_so() {
    let db = TestDb::sqlite();
    let store = db.open().await;
    let index_dir = tempfile::tempdir().expect("a temporary folder");
    store.write(&batch(corpus())).await.expect("written");
    let mut config = Config::defaults();
    config.search.index_dir = Some(index_dir.path().to_path_buf());
    let searcher = open_searcher(&config, &store, None, &JobHandle::new())
        .await
        .expect("opens");
    step(&searcher).await;
    let request = SearchRequest {
        mode: Mode::Hybrid,
        ..SearchRequest::new("docker restart data")
    };
    let results = searcher.search(&request).await.expect("a search");
    assert_eq!(results.mode, Mode::Bm25);
    assert!(
        results
            .notice
            .as_deref()
            .is_some_and(|notice| notice.contains("steward embed")),
        "{:?}",
        results.notice
    );
    assert_eq!(results.hits[0].post_id, PostId(4));
    assert_eq!(results.hits[0].found_by, ["bm25"]);
    assert!(
        results.hits[0].snippet.contains("<mark>"),
        "{}",
        results.hits[0].snippet
    );
    store.close().await;
}
