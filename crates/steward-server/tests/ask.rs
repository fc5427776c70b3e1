//! `POST /api/v1/ask` over a real lexical index on SQLite and (when
//! `TEST_DATABASE_URL` is set, always under `CI=true`) PostgreSQL: a JSON
//! answer whose citations resolve and a refusal without a model, the SSE
//! events in order (`passages`, `draft`s from the real SmolLM2, `answer`,
//! `done`), and the errors a client gets for bad bodies or a server without
//! search.

mod common;

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{Value, json};
use steward_auth::Role;
use steward_domain::{Post, PostId, PostKind, UserId};
use steward_jobs::JobHandle;
use steward_ml::audit::Gateway;
use steward_ml::llm::Llm;
use steward_ml::llm::local::{LocalLlm, LocalOptions};
use steward_search::LexicalIndex;
use steward_search::answer::AskOptions;
use steward_search::searcher::Searcher;
use steward_server::{AppState, router};
use steward_store::{Store, WriteBatch};
use steward_testkit::fixtures::{post, user};
use steward_testkit::{TestDb, on_every_backend, shared_model_dir};
use tower::ServiceExt;

fn thread(id: i64, title: &str, body: &str, accepted: i64) -> Post {
    let mut question = post(
        id,
        PostKind::Question,
        None,
        1_704_067_200_000 + id * 60_000,
    );
    question.title = Some(title.to_string());
    question.body_text = body.to_string();
    question.accepted_answer_id = Some(PostId(accepted));
    question.answer_count = 1;
    question
}

fn reply(id: i64, parent: i64, owner: i64, body: &str) -> Post {
    let mut answer = post(
        id,
        PostKind::Answer,
        Some(parent),
        1_704_070_000_000 + id * 60_000,
    );
    answer.owner_id = Some(UserId(owner));
    answer.score = 5;
    answer.body_text = body.to_string();
    answer
}

fn community() -> WriteBatch {
    let mut users = vec![user(1), user(2)];
    users[1].display_name = "Grace".to_string();
    WriteBatch {
        users,
        posts: vec![
            thread(
                1,
                "How do I undo my last git commit?",
                "I committed the wrong files and want the commit back.",
                11,
            ),
            reply(
                11,
                1,
                2,
                "Use git reset --soft HEAD~1 to undo the last commit. The changes stay staged.",
            ),
            thread(
                2,
                "Docker container loses data on restart",
                "Files written inside my container are gone after a restart.",
                21,
            ),
            reply(
                21,
                2,
                1,
                "Keep the data in a Docker volume, which lives outside the container.",
            ),
        ],
        ..WriteBatch::default()
    }
}

/// A state with a lexical index over `store` (no embedder: bm25 evidence),
/// keys of the member role, and `llm` behind a gateway when given.
async fn state(store: &Store, llm: Option<Llm>) -> (AppState, String) {
    let lexical = LexicalIndex::in_ram().expect("an index");
    lexical
        .rebuild(store, &JobHandle::new())
        .await
        .expect("built");
    let (state, key) = common::keyed_state(store, Role::Member).await;
    let state = AppState {
        searcher: Some(Searcher::new(store.clone(), Arc::new(lexical), None)),
        llm: llm.map(|llm| Arc::new(Gateway::new(llm, store.clone(), Vec::new()))),
        ask_options: AskOptions {
            max_tokens: 16,
            ..AskOptions::default()
        },
        ..state
    };
    (state, key)
}

async fn post_ask(
    state: &AppState,
    key: &str,
    body: &str,
    accept: Option<&str>,
) -> (StatusCode, String, String) {
    let mut request = Request::post("/api/v1/ask")
        .header("authorization", format!("Bearer {key}"))
        .header("content-type", "application/json");
    if let Some(accept) = accept {
        request = request.header("accept", accept);
    }
    let response = router(state.clone())
        .oneshot(
            request
                .body(Body::from(body.to_string()))
                .expect("a request"),
        )
        .await
        .expect("infallible");
    let status = response.status();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("a body");
    (
        status,
        content_type,
        String::from_utf8(bytes.to_vec()).expect("UTF-8"),
    )
}

/// The events of an SSE body as (name, JSON data).
fn events(body: &str) -> Vec<(String, Value)> {
    body.split("\n\n")
        .filter_map(|block| {
            let mut name = None;
            let mut data = String::new();
            for line in block.lines() {
                if let Some(value) = line.strip_prefix("event: ") {
                    name = Some(value.to_string());
                } else if let Some(value) = line.strip_prefix("data: ") {
                    data.push_str(value);
                }
            }
            let name = name?;
            let data = serde_json::from_str(&data)
                .unwrap_or_else(|error| panic!("event {name}: {error}: {data}"));
            Some((name, data))
        })
        .collect()
}

fn assert_citations_resolve(answer: &Value) {
    let passages = answer["passages"].as_array().expect("passages");
    for citation in answer["citations"].as_array().expect("citations") {
        let n = citation["n"].as_u64().expect("a number") as usize;
        assert_eq!(passages[n - 1]["post_id"], citation["post_id"], "{answer}");
    }
    let text = answer["answer"].as_str().expect("text");
    for (index, _) in text.match_indices('[') {
        let rest = &text[index + 1..];
        if let Some(close) = rest.find(']')
            && let Ok(n) = rest[..close].parse::<usize>()
        {
            assert!((1..=passages.len()).contains(&n), "[{n}] in {answer}");
        }
    }
}

#[tokio::test]
async fn ask_answers_json_with_citations_and_refuses_what_it_cannot_ground() {
    on_every_backend(|db| async move {
        let store = db.open().await;
        store.write(&community()).await.expect("written");
        let (state, key) = state(&store, None).await;

        let (status, content_type, body) = post_ask(
            &state,
            &key,
            r#"{"question": "How do I undo my last git commit?"}"#,
            None,
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(
            content_type.starts_with("application/json"),
            "{content_type}"
        );
        let answer: Value = serde_json::from_str(&body).expect("JSON");
        assert_eq!(answer["mode"], "extractive", "{answer}");
        assert_eq!(answer["refused"], false);
        assert_eq!(answer["language"], "en");
        assert!(
            answer["answer"]
                .as_str()
                .is_some_and(|text| text.contains("undo the last commit [1].")),
            "{answer}"
        );
        assert_eq!(answer["citations"][0]["post_id"], 11, "{answer}");
        assert_eq!(answer["citations"][0]["accepted"], true);
        assert!(
            answer["notice"]
                .as_str()
                .is_some_and(|notice| notice.contains("no language model")),
            "{answer}"
        );
        assert_citations_resolve(&answer);
        let logged = store
            .logged_answer(answer["id"].as_str().expect("an id"))
            .await
            .expect("read")
            .expect("logged");
        assert_eq!(logged.mode, "extractive");
        assert_eq!(logged.role, "member");

        let (status, _, body) = post_ask(
            &state,
            &key,
            r#"{"question": "What is the best recipe for sourdough bread?"}"#,
            None,
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let refused: Value = serde_json::from_str(&body).expect("JSON");
        assert_eq!(refused["refused"], true, "{refused}");
        assert_eq!(refused["mode"], "refused");
        assert!(refused["reason"].is_string());
        assert!(refused["closest_threads"].is_array(), "{refused}");
        store.close().await;
    })
    .await;
}

#[tokio::test]
async fn a_streamed_ask_sends_passages_drafts_the_answer_then_done() {
    let Some(dir) = shared_model_dir("SmolLM2-135M-Instruct") else {
        return;
    };
    let llm = Llm::Local(LocalLlm::load(&dir, &LocalOptions::default()).expect("SmolLM2 loads"));
    let db = TestDb::sqlite();
    let store = db.open().await;
    store.write(&community()).await.expect("written");
    let (state, key) = state(&store, Some(llm)).await;

    let (status, content_type, body) = post_ask(
        &state,
        &key,
        r#"{"question": "How do I undo my last git commit?", "stream": true}"#,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(
        content_type.starts_with("text/event-stream"),
        "{content_type}"
    );
    let events = events(&body);
    let names: Vec<&str> = events.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(names.first(), Some(&"passages"), "{names:?}");
    assert_eq!(&names[names.len() - 2..], ["answer", "done"], "{names:?}");
    let drafts = &names[1..names.len() - 2];
    assert!(!drafts.is_empty(), "the model drafted nothing: {names:?}");
    assert!(drafts.iter().all(|name| *name == "draft"), "{names:?}");
    for (name, data) in &events {
        if name == "draft" {
            assert_eq!(data["unverified"], true);
            assert!(data["text"].is_string());
        }
    }
    assert_eq!(events[0].1["passages"][0]["n"], 1);
    let answer = &events[names.len() - 2].1;
    assert_ne!(answer["mode"], "refused", "{answer}");
    assert!(answer["model"].is_string(), "{answer}");
    assert_eq!(events[names.len() - 1].1["id"], answer["id"]);
    assert_citations_resolve(answer);
    // The generation left its audit row, naming the answer.
    let calls = store
        .llm_calls_since(steward_testkit::fixtures::at(0), 10)
        .await
        .expect("the audit log");
    let id = answer["id"].as_str().expect("an id");
    assert!(
        calls
            .iter()
            .any(|call| call.feature == "ask" && call.object_ids.contains(&format!("answer:{id}"))),
        "{calls:#?}"
    );

    // `Accept: text/event-stream` asks for a stream too; without the model
    // (use_llm false) there is no draft.
    let (_, _, body) = post_ask(
        &state,
        &key,
        r#"{"question": "How do I undo my last git commit?", "use_llm": false}"#,
        Some("text/event-stream"),
    )
    .await;
    let names: Vec<String> = self::events(&body)
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    assert_eq!(names, ["passages", "answer", "done"], "{body}");
    store.close().await;
}

#[tokio::test]
async fn bad_bodies_are_named_and_a_server_without_search_says_so() {
    let db = TestDb::sqlite();
    let store = db.open().await;
    store.write(&community()).await.expect("written");
    let (state, key) = state(&store, None).await;
    for (body, parameter) in [
        (json!({}), "question"),
        (json!({"question": "  "}), "question"),
        (json!({"question": "x".repeat(2_001)}), "question"),
        (json!({"question": "q", "tags": [""]}), "tags"),
    ] {
        let (status, _, answer) = post_ask(&state, &key, &body.to_string(), None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {answer}");
        let answer: Value = serde_json::from_str(&answer).expect("JSON");
        assert_eq!(answer["error"]["code"], "invalid_parameter", "{body}");
        assert_eq!(answer["error"]["parameter"], parameter, "{body}");
    }
    // A body of the wrong shape is a 400 that says where.
    let (status, _, answer) = post_ask(&state, &key, r#"{"question": 42}"#, None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert!(answer.contains("question"), "{answer}");
    let (status, _, answer) =
        post_ask(&state, &key, r#"{"question": "q", "colour": "red"}"#, None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert!(answer.contains("colour"), "{answer}");

    let without_search = AppState {
        searcher: None,
        ..state.clone()
    };
    let (status, _, answer) = post_ask(
        &without_search,
        &key,
        r#"{"question": "undo a commit"}"#,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{answer}");
    assert!(answer.contains("search_unavailable"), "{answer}");
    store.close().await;
}

#[tokio::test]
async fn a_client_that_leaves_a_stream_cancels_the_generation() {
    let Some(dir) = shared_model_dir("SmolLM2-135M-Instruct") else {
        return;
    };
    let llm = Llm::Local(LocalLlm::load(&dir, &LocalOptions::default()).expect("SmolLM2 loads"));
    let db = TestDb::sqlite();
    let store = db.open().await;
    store.write(&community()).await.expect("written");
    let (mut state, key) = state(&store, Some(llm)).await;
    // Long enough that only a cancel ends it within the test's wait.
    state.ask_options.max_tokens = 2_000;
    let request = Request::post("/api/v1/ask")
        .header("authorization", format!("Bearer {key}"))
        .header("content-type", "application/json")
        .body(Body::from(
            r#"{"question": "How do I undo my last git commit?", "stream": true}"#,
        ))
        .expect("a request");
    let response = router(state.clone())
        .oneshot(request)
        .await
        .expect("infallible");
    assert_eq!(response.status(), StatusCode::OK);
    let mut body = response.into_body().into_data_stream();
    // Read until the model has started drafting, then leave.
    let mut seen = String::new();
    while !seen.contains("event: draft") {
        let chunk = futures::StreamExt::next(&mut body)
            .await
            .expect("the stream goes on")
            .expect("a chunk");
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(seen.starts_with("event: passages"), "{seen}");
    drop(body);
    let mut cancelled = None;
    for _ in 0..250 {
        let calls = store
            .llm_calls_since(steward_testkit::fixtures::at(0), 10)
            .await
            .expect("the audit log");
        cancelled = calls.into_iter().find(|call| {
            call.feature == "ask" && call.outcome == steward_domain::LlmOutcome::Cancelled
        });
        if cancelled.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(40)).await;
    }
    let call = cancelled.expect("the generation was cancelled within 10 s");
    assert!(call.completion_tokens < 2_000, "{call:?}");
    store.close().await;
}
