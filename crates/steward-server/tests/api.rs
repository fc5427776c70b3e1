//! The `/api/v1` and `/v1` routes through `Router::oneshot` on a real SQLite
//! store holding a small hand-made community: what a client sees, errors
//! included.

mod common;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use serde_json::{Value, json};
use steward_auth::Role;
use steward_domain::{LlmCall, LlmOutcome};
use steward_server::{AppState, ServerConfig, router};
use steward_testkit::fixtures::community_store;
use tower::ServiceExt;

async fn call(
    state: &AppState,
    key: Option<&str>,
    method: Method,
    uri: &str,
    body: Option<String>,
) -> (StatusCode, Value) {
    let mut request = Request::builder().method(method).uri(uri);
    if let Some(key) = key {
        request = request.header("authorization", format!("Bearer {key}"));
    }
    if body.is_some() {
        request = request.header("content-type", "application/json");
    }
    let request = request
        .body(body.map(Body::from).unwrap_or_else(Body::empty))
        .expect("valid request");
    let response = router(state.clone())
        .oneshot(request)
        .await
        .expect("infallible");
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("body");
    let value = serde_json::from_slice(&bytes).unwrap_or_else(|error| {
        panic!(
            "{uri}: not JSON ({error}): {}",
            String::from_utf8_lossy(&bytes)
        )
    });
    (status, value)
}

/// An anonymous GET.
async fn get(state: &AppState, uri: &str) -> (StatusCode, Value) {
    call(state, None, Method::GET, uri, None).await
}

async fn post_json(state: &AppState, key: &str, uri: &str, body: &Value) -> (StatusCode, Value) {
    call(state, Some(key), Method::POST, uri, Some(body.to_string())).await
}

/// Asserts an error answer: status, stable code, and the detail fields given.
fn assert_error(
    answer: &(StatusCode, Value),
    status: StatusCode,
    code: &str,
    details: &[(&str, Value)],
) {
    let (got_status, body) = answer;
    assert_eq!(*got_status, status, "{body}");
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|message| !message.is_empty()),
        "{body}"
    );
    for (field, value) in details {
        assert_eq!(&body["error"][field], value, "{field} in {body}");
    }
}

fn ids(page: &Value) -> Vec<i64> {
    page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|item| item["id"].as_i64().expect("id"))
        .collect()
}

#[tokio::test]
async fn health_and_stats() {
    let (_db, store) = community_store().await;
    let state = AppState::new(store);

    assert_eq!(
        get(&state, "/api/v1/health/live").await,
        (StatusCode::OK, json!({"status": "ok"}))
    );
    assert_eq!(
        get(&state, "/api/v1/health/ready").await,
        (
            StatusCode::OK,
            json!({"status": "ready", "llm": null, "embedder": null})
        )
    );

    let (status, stats) = get(&state, "/api/v1/stats").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (
            &stats["questions"],
            &stats["answers"],
            &stats["comments"],
            &stats["users"],
            &stats["articles"]
        ),
        (&json!(2), &json!(2), &json!(2), &json!(3), &json!(1)),
        "{stats}"
    );
    assert_eq!(stats["first_post_at"], "2024-01-01T00:00:00Z");
    assert_eq!(stats["top_tags"][0], json!({"name": "rust", "count": 2}));
    assert_eq!(
        stats,
        serde_json::to_value(state.store.stats().await.expect("stats")).expect("JSON"),
        "the API prints the store's Stats as they serialize, as `steward stats --json` does"
    );
}

#[tokio::test]
async fn readiness_fails_when_the_database_is_gone() {
    let (_db, store) = community_store().await;
    let state = AppState::new(store.clone());
    store.close().await;
    assert_error(
        &get(&state, "/api/v1/health/ready").await,
        StatusCode::SERVICE_UNAVAILABLE,
        "not_ready",
        &[],
    );
    assert_eq!(get(&state, "/api/v1/health/live").await.0, StatusCode::OK);
}

#[tokio::test]
async fn post_listings_filter_sort_and_page() {
    let (_db, store) = community_store().await;
    let state = AppState::new(store);
    let check = async |query: &str, expected_ids: &[i64], expected_total: i64| {
        let (status, page) = get(&state, &format!("/api/v1/posts?{query}")).await;
        assert_eq!(status, StatusCode::OK, "{query}: {page}");
        assert_eq!(ids(&page), expected_ids, "{query}: {page}");
        assert_eq!(page["total"], expected_total, "{query}");
    };
    check("kind=question", &[20, 10], 2).await;
    check("kind=question&sort=oldest", &[10, 20], 2).await;
    check("kind=answer&sort=score", &[12, 11], 2).await;
    check("kind=question&tag=tokio", &[20], 1).await;
    check("kind=question&tag=Rust&sort=score", &[20, 10], 2).await;
    check("kind=question&per_page=1&page=2", &[10], 2).await;
    check("kind=question&per_page=1&page=3", &[], 2).await;
    check("tag=meta", &[30], 1).await;

    let (_, page) = get(&state, "/api/v1/posts?kind=question&sort=oldest&per_page=1").await;
    let first = &page["items"][0];
    assert_eq!(first["title"], "How do I read a file in Rust?");
    assert_eq!(
        first["excerpt"],
        "I want to read a whole file into a string."
    );
    assert_eq!(first["tags"], json!(["rust", "io"]));
    assert_eq!(first["created_at"], "2024-01-01T00:00:00Z");
    assert_eq!((&page["page"], &page["per_page"]), (&json!(1), &json!(1)));
}

#[tokio::test]
async fn bad_listing_parameters_are_named() {
    let (_db, store) = community_store().await;
    let state = AppState::new(store);
    for (query, parameter) in [
        ("page=0", "page"),
        ("page=abc", "page"),
        ("per_page=0", "per_page"),
        ("per_page=101", "per_page"),
        ("kind=poll", "kind"),
        ("sort=hot", "sort"),
    ] {
        let answer = get(&state, &format!("/api/v1/posts?{query}")).await;
        assert_error(
            &answer,
            StatusCode::BAD_REQUEST,
            "invalid_parameter",
            &[("parameter", json!(parameter))],
        );
    }
}

#[tokio::test]
async fn a_post_comes_with_its_answers_and_comments() {
    let (_db, store) = community_store().await;
    let state = AppState::new(store);
    let (status, thread) = get(&state, "/api/v1/posts/10").await;
    assert_eq!(status, StatusCode::OK, "{thread}");
    assert_eq!(thread["post"]["title"], "How do I read a file in Rust?");
    assert_eq!(
        thread["post"]["body_html"],
        "<p>I want to read a whole file into a string.</p>"
    );
    assert_eq!(thread["post"]["accepted_answer_id"], 11);
    // The accepted answer first, although the other one scores higher.
    let answers: Vec<_> = thread["answers"]
        .as_array()
        .expect("answers")
        .iter()
        .map(|answer| answer["id"].clone())
        .collect();
    assert_eq!(answers, [json!(11), json!(12)]);
    assert_eq!(
        thread["answers"][0]["comments"][0]["body_text"],
        "Thanks, that worked."
    );
    assert_eq!(thread["answers"][1]["comments"], json!([]));
    assert_eq!(thread["comments"][0]["body_text"], "Which Rust version?");

    assert_error(
        &get(&state, "/api/v1/posts/999").await,
        StatusCode::NOT_FOUND,
        "not_found",
        &[],
    );
    assert_error(
        &get(&state, "/api/v1/posts/ten").await,
        StatusCode::BAD_REQUEST,
        "invalid_parameter",
        &[("parameter", json!("id"))],
    );
}

#[tokio::test]
async fn users_by_id() {
    let (_db, store) = community_store().await;
    let state = AppState::new(store);
    let (status, user) = get(&state, "/api/v1/users/1").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (&user["display_name"], &user["reputation"]),
        (&json!("Alice"), &json!(120))
    );
    assert_eq!(user["created_at"], "2023-06-01T00:00:00Z");
    assert_error(
        &get(&state, "/api/v1/users/404").await,
        StatusCode::NOT_FOUND,
        "not_found",
        &[],
    );
}

#[tokio::test]
async fn events_are_stored_once_per_key() {
    let (_dir, store) = common::store().await;
    let (state, key) = common::keyed_state(&store, Role::Member).await;
    let view =
        json!({"kind": "view", "user_id": 2, "target": {"type": "post", "id": 10}, "key": "web:1"});
    assert_eq!(
        post_json(&state, &key, "/api/v1/events", &view).await,
        (StatusCode::OK, json!({"accepted": 1, "duplicates": 0}))
    );
    let batch = json!([
        view,
        {"kind": "up_vote", "user_id": 2, "target": {"type": "post", "id": 11}},
        {"kind": "follow", "user_id": 3, "target": {"type": "tag", "id": "rust"}, "at": "2024-05-01T10:00:00+02:00"},
        {"kind": "follow", "user_id": 3, "target": {"type": "user", "id": 1}, "weight": 0.5},
    ]);
    assert_eq!(
        post_json(&state, &key, "/api/v1/events", &batch).await,
        (StatusCode::OK, json!({"accepted": 3, "duplicates": 1}))
    );
    let stats = store.stats().await.expect("stats");
    assert_eq!(stats.events, 4);
}

#[tokio::test]
async fn a_bad_event_rejects_the_whole_batch() {
    let (_dir, store) = common::store().await;
    let (state, key) = common::keyed_state(&store, Role::Member).await;
    let good = json!({"kind": "view", "user_id": 2, "target": {"type": "post", "id": 10}});
    let cases = [
        (
            json!([good, {"kind": "like", "user_id": 2, "target": {"type": "post", "id": 10}}]),
            1,
            "kind",
        ),
        (
            json!([good, good, {"kind": "view", "user_id": 2, "target": {"type": "post", "id": 999}}]),
            2,
            "target.id",
        ),
        (
            json!([{"kind": "view", "target": {"type": "post", "id": 10}}]),
            0,
            "user_id",
        ),
        (
            json!([good, {"kind": "view", "user_id": 2, "target": {"type": "post", "id": 10}, "at": "soon"}]),
            1,
            "at",
        ),
    ];
    for (body, index, field) in cases {
        let answer = post_json(&state, &key, "/api/v1/events", &body).await;
        assert_error(
            &answer,
            StatusCode::BAD_REQUEST,
            "invalid_event",
            &[("index", json!(index)), ("field", json!(field))],
        );
    }
    assert_eq!(
        store.stats().await.expect("stats").events,
        0,
        "nothing of a bad batch is stored"
    );

    let answer = call(
        &state,
        Some(&key),
        Method::POST,
        "/api/v1/events",
        Some("{not json".into()),
    )
    .await;
    assert_error(&answer, StatusCode::BAD_REQUEST, "bad_request", &[]);
    let answer = post_json(&state, &key, "/api/v1/events", &json!("view")).await;
    assert_error(&answer, StatusCode::BAD_REQUEST, "bad_request", &[]);
}

#[tokio::test]
async fn oversized_bodies_are_refused() {
    let (_dir, store) = common::store().await;
    let (mut state, key) = common::keyed_state(&store, Role::Member).await;
    state.config = ServerConfig {
        body_limit_bytes: 1024,
        ..ServerConfig::default()
    };
    let event = json!({"kind": "view", "user_id": 2, "target": {"type": "post", "id": 10}});
    let batch = Value::Array(vec![event; 100]);
    assert!(batch.to_string().len() > 1024);
    let answer = post_json(&state, &key, "/api/v1/events", &batch).await;
    assert_error(
        &answer,
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        &[],
    );
    assert_eq!(store.stats().await.expect("stats").events, 0);
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_in_the_error_shape() {
    let (_db, store) = community_store().await;
    let state = AppState::new(store);
    assert_error(
        &get(&state, "/api/v1/nothing").await,
        StatusCode::NOT_FOUND,
        "not_found",
        &[],
    );
    let answer = call(&state, None, Method::DELETE, "/api/v1/posts/10", None).await;
    assert_error(
        &answer,
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        &[],
    );
}

#[tokio::test]
async fn model_endpoints_without_models() {
    let (_dir, store) = common::store().await;
    let (state, key) = common::keyed_state(&store, Role::Member).await;
    assert_eq!(
        get(&state, "/v1/models").await,
        (StatusCode::OK, json!({"object": "list", "data": []}))
    );
    let chat = json!({"model": "any", "messages": [{"role": "user", "content": "hi"}]});
    for (uri, body) in [
        ("/v1/chat/completions", chat),
        ("/v1/embeddings", json!({"model": "any", "input": "hi"})),
    ] {
        let (status, answer) = post_json(&state, &key, uri, &body).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{uri}: {answer}");
        assert_eq!(answer["error"]["code"], "model_unavailable", "{uri}");
        assert_eq!(answer["error"]["type"], "server_error", "{uri}");
    }

    let (status, answer) = call(
        &state,
        Some(&key),
        Method::POST,
        "/v1/chat/completions",
        Some("{}".into()),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert_eq!(answer["error"]["type"], "invalid_request_error");
    assert!(
        answer["error"]["message"]
            .as_str()
            .is_some_and(|message| message.contains("messages")),
        "{answer}"
    );
}

#[tokio::test]
async fn llm_usage_totals_per_feature_and_model() {
    let (_dir, store) = common::store().await;
    let (state, key) = common::keyed_state(&store, Role::Analyst).await;
    store
        .record_llm_call(&LlmCall {
            request_id: "r1".into(),
            feature: "openai_api".into(),
            role: "member".into(),
            key_id: Some("abcdefghijkl".into()),
            model: "SmolLM2".into(),
            prompt_tokens: 10,
            completion_tokens: 5,
            latency_ms: 20,
            outcome: LlmOutcome::Ok,
            object_ids: Vec::new(),
            at: common::at("2024-01-01T00:00:00Z"),
        })
        .await
        .expect("recorded");
    let (status, usage) = call(&state, Some(&key), Method::GET, "/api/v1/llm/usage", None).await;
    assert_eq!(status, StatusCode::OK, "{usage}");
    assert_eq!(
        usage,
        json!({"items": [{
            "feature": "openai_api", "model": "SmolLM2", "calls": 1, "refused": 0, "errors": 0,
            "prompt_tokens": 10, "completion_tokens": 5, "total_latency_ms": 20
        }]})
    );
}
