//! `GET /api/v1/search` over a real lexical index on SQLite and (when
//! `TEST_DATABASE_URL` is set, always under `CI=true`) PostgreSQL: hits with
//! their evidence, filters from the query string, Chinese and code queries,
//! a post deleted and one written seen after the next catch-up, and the
//! errors a client gets for bad parameters or a server without search.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::Value;
use steward_domain::{Post, PostId};
use steward_jobs::JobHandle;
use steward_search::LexicalIndex;
use steward_search::searcher::Searcher;
use steward_server::{AppState, router};
use steward_store::{Store, WriteBatch};
use steward_testkit::fixtures::{question, user};
use steward_testkit::{TestDb, on_every_backend};
use tower::ServiceExt;

async fn get(state: &AppState, uri: &str) -> (StatusCode, Value) {
    let response = router(state.clone())
        .oneshot(Request::get(uri).body(Body::empty()).expect("a request"))
        .await
        .expect("infallible");
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("a body");
    let body = serde_json::from_slice(&bytes).unwrap_or_else(|error| panic!("{uri}: {error}"));
    (status, body)
}

fn thread(id: i64, title: &str, body: &str, tags: &[&str], answers: i64) -> Post {
    Post {
        title: Some(title.to_string()),
        body_html: format!("<p>{body}</p>"),
        body_text: body.to_string(),
        answer_count: answers,
        ..question(id, tags, 1_704_067_200_000 + id * 86_400_000)
    }
}

fn community() -> WriteBatch {
    let mut select = thread(
        2,
        "Stop a task when either future finishes",
        "My task waits on a socket and a timer.",
        &["rust", "tokio"],
        1,
    );
    select.code_blocks = vec!["tokio::select! {\n    _ = socket.readable() => {}\n}".into()];
    WriteBatch {
        users: vec![user(1)],
        posts: vec![
            thread(
                1,
                "How do I undo my last git commit?",
                "I committed the wrong files.",
                &["git"],
                2,
            ),
            select,
            thread(
                3,
                "Undo git add of a staged file",
                "I staged a file by mistake.",
                &["git"],
                0,
            ),
            thread(
                4,
                "如何给表添加索引",
                "查询很慢，我想为经常查询的列创建索引。",
                &["postgresql"],
                1,
            ),
        ],
        ..WriteBatch::default()
    }
}

async fn state_with_search(store: &Store) -> AppState {
    let lexical = LexicalIndex::in_ram().expect("an index");
    lexical
        .rebuild(store, &JobHandle::new())
        .await
        .expect("built");
    AppState {
        searcher: Some(Searcher::new(store.clone(), Arc::new(lexical), None)),
        ..AppState::new(store.clone())
    }
}

fn ids(body: &Value) -> Vec<i64> {
    body["hits"]
        .as_array()
        .unwrap_or_else(|| panic!("no hits: {body}"))
        .iter()
        .map(|hit| hit["post_id"].as_i64().expect("an id"))
        .collect()
}

#[tokio::test]
async fn search_answers_hits_with_evidence_and_honours_filters() {
    on_every_backend(|db| async move {
        let store = db.open().await;
        store.write(&community()).await.expect("written");
        let state = state_with_search(&store).await;

        let (status, body) = get(&state, "/api/v1/search?q=undo+git+commit").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        // No embedder on this server: hybrid (the default) says it ran bm25.
        assert_eq!(body["mode"], "bm25");
        assert!(
            body["notice"]
                .as_str()
                .is_some_and(|n| n.contains("steward embed")),
            "{body}"
        );
        assert_eq!(ids(&body)[..2], [1, 3], "{body}");
        let top = &body["hits"][0];
        assert_eq!(top["title"], "How do I undo my last git commit?");
        assert_eq!(top["found_by"], serde_json::json!(["bm25"]));
        assert_eq!(top["bm25"]["rank"], 1);
        assert!(top["snippet"].is_string());

        // Filters from the query string.
        let (_, answered) = get(&state, "/api/v1/search?q=undo+git&answered=true").await;
        assert_eq!(ids(&answered), [1]);
        let (_, unanswered) = get(&state, "/api/v1/search?q=undo+git&answered=false").await;
        assert_eq!(ids(&unanswered), [3]);
        let (_, tagged) = get(&state, "/api/v1/search?q=task&tags=Rust,tokio").await;
        assert_eq!(ids(&tagged), [2]);
        let (_, dated) = get(&state, "/api/v1/search?q=undo&since=2024-01-03").await;
        assert_eq!(ids(&dated), [3]);

        // Code identifiers and Chinese.
        let (_, code) = get(&state, "/api/v1/search?q=tokio%3A%3Aselect!&mode=bm25").await;
        assert_eq!(ids(&code), [2], "{code}");
        let (_, chinese) = get(
            &state,
            "/api/v1/search?q=%E5%88%9B%E5%BB%BA%E7%B4%A2%E5%BC%95",
        )
        .await;
        assert_eq!(ids(&chinese)[0], 4, "{chinese}");

        // Pages.
        let (_, all) = get(&state, "/api/v1/search?q=undo+git").await;
        let (_, second) = get(&state, "/api/v1/search?q=undo+git&per_page=1&page=2").await;
        assert_eq!(ids(&all).len(), 2, "{all}");
        assert_eq!(ids(&second), ids(&all)[1..], "{second}");

        // A deleted thread is gone at once (the store no longer has it), a
        // new one is found once the index has caught up.
        store.delete_posts(&[PostId(1)]).await.expect("deleted");
        let (_, after_delete) = get(&state, "/api/v1/search?q=undo+git+commit").await;
        assert!(!ids(&after_delete).contains(&1), "{after_delete}");
        let mut batch = community();
        batch.posts = vec![thread(
            9,
            "Revert a pushed git commit",
            "It is on main already.",
            &["git"],
            0,
        )];
        store.write(&batch).await.expect("written");
        let searcher = state.searcher.as_ref().expect("search is on");
        searcher
            .lexical()
            .catch_up(&store, &JobHandle::new())
            .await
            .expect("caught up");
        let (_, after_write) = get(&state, "/api/v1/search?q=revert+pushed").await;
        assert_eq!(ids(&after_write)[0], 9);
        store.close().await;
    })
    .await;
}

#[tokio::test]
async fn bad_parameters_are_named_and_a_server_without_search_says_so() {
    let db = TestDb::sqlite();
    let store = db.open().await;
    store.write(&community()).await.expect("written");
    let state = state_with_search(&store).await;
    for (uri, parameter) in [
        ("/api/v1/search", "q"),
        ("/api/v1/search?q=%20", "q"),
        ("/api/v1/search?q=x&mode=fuzzy", "mode"),
        ("/api/v1/search?q=x&fusion=max", "fusion"),
        ("/api/v1/search?q=x&per_page=1000", "per_page"),
        ("/api/v1/search?q=x&until=31-12-2024", "until"),
    ] {
        let (status, body) = get(&state, uri).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}: {body}");
        assert_eq!(body["error"]["code"], "invalid_parameter", "{uri}");
        assert_eq!(body["error"]["parameter"], parameter, "{uri}");
    }
    let without = AppState::new(store.clone());
    let (status, body) = get(&without, "/api/v1/search?q=git").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"]["code"], "search_unavailable");
    store.close().await;
}
