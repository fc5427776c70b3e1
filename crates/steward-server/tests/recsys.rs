//! The recommender's routes over a real community (ai.stackexchange.com 2017
//! from the shared data) on SQLite and (when `TEST_DATABASE_URL` is set,
//! always under `CI=true`) PostgreSQL: before training they answer 503 with
//! what to run; after the `train-recsys` job the same server (no restart,
//! one reload) lists recommendations with explanations, a profile, similar
//! threads, experts and answerable questions; an event posted through the
//! API changes the member's next list; bad parameters get a 400 naming the
//! parameter, unknown posts and users a 404.

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{Value, json};
use steward_auth::Role;
use steward_ingest::stackexchange::{DumpOptions, import_dump};
use steward_jobs::JobHandle;
use steward_recsys::dataset::Community;
use steward_recsys::service::RecsysService;
use steward_runtime::Config;
use steward_runtime::jobs::{self, JobSpec};
use steward_server::{AppState, router};
use steward_testkit::{on_every_backend, shared_data_dir};
use tower::ServiceExt;

async fn call(
    state: &AppState,
    key: &str,
    method: &str,
    uri: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let request = Request::builder()
        .method(method)
        .uri(uri)
        .header("authorization", format!("Bearer {key}"))
        .header("content-type", "application/json")
        .body(body.map_or_else(Body::empty, |body| Body::from(body.to_string())))
        .expect("a request");
    let response = router(state.clone())
        .oneshot(request)
        .await
        .expect("infallible");
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("a body");
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (status, body)
}

async fn get(state: &AppState, key: &str, uri: &str) -> (StatusCode, Value) {
    call(state, key, "GET", uri, None).await
}

fn assert_invalid(status: StatusCode, body: &Value, parameter: &str) {
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["code"], "invalid_parameter", "{body}");
    assert_eq!(body["error"]["parameter"], parameter, "{body}");
}

#[tokio::test]
async fn recommendation_routes_before_and_after_training() {
    let Some(dump) = shared_data_dir("se-ai-2017") else {
        return;
    };
    on_every_backend(|db| {
        let dump = dump.clone();
        async move {
            let store = db.open().await;
            let job = JobHandle::new();
            import_dump(&store, &dump, &DumpOptions::default(), &job).await.expect("the dump imports");
            let (state, key) = common::keyed_state(&store, Role::Member).await;
            let service = RecsysService::new(store.clone());
            let state = AppState {
                recsys: Some(service.clone()),
                ..state
            };

            let (status, body) = get(&state, &key, "/api/v1/users/1/recommendations").await;
            assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
            assert_eq!(body["error"]["code"], "recommender_unavailable");
            assert!(body["error"]["message"].as_str().expect("a message").contains("steward train"));
            let without = AppState {
                recsys: None,
                ..state.clone()
            };
            let (status, _) = get(&without, &key, "/api/v1/questions/1/experts").await;
            assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);

            let mut config = Config::defaults();
            if let Some(schema) = db.schema() {
                config.database.schema = Some(schema.to_string());
            }
            // No embedding model in this test: the content model is left out.
            config.embedding.model = "lsa".to_string();
            config.recsys.search = false;
            jobs::run(&JobSpec::TrainRecsys { force: false }, &config, &store, &job)
                .await
                .expect("training runs");
            service.reload().await.expect("the promoted version loads");

            let community = Community::load(&store, &job).await.expect("the community");
            let mut answers = std::collections::HashMap::<i64, usize>::new();
            for answer in &community.answers {
                *answers.entry(answer.owner.0).or_default() += 1;
            }
            let (&member, _) = answers.iter().max_by_key(|(user, count)| (**count, -**user)).expect("an answerer");
            let question = community
                .threads
                .iter()
                .find(|thread| thread.answer_count >= 2)
                .expect("an answered question")
                .id
                .0;
            let answer = community.answers[0].id.0;

            let uri = format!("/api/v1/users/{member}/recommendations?n=5&explain=true&model=als");
            let (status, listed) = get(&state, &key, &uri).await;
            assert_eq!(status, StatusCode::OK, "{listed}");
            assert_eq!(listed["model"], "als");
            assert!(listed["version"].as_i64().is_some());
            let items = listed["items"].as_array().expect("items");
            assert_eq!(items.len(), 5);
            assert!(items.iter().all(|item| item["explanation"]["text"].as_str().is_some_and(|text| !text.is_empty())));

            // An event through the API: the next list already reflects it.
            let liked = items[0]["post_id"].as_i64().expect("a post id");
            let (status, body) = call(
                &state,
                &key,
                "POST",
                "/api/v1/events",
                Some(json!({"kind": "favorite", "user_id": member, "target": {"type": "post", "id": liked}})),
            )
            .await;
            assert!(status.is_success(), "{body}");
            let (_, after) = get(&state, &key, &uri).await;
            assert_eq!(after["folded_in"], true, "{after}");
            assert!(after["items"].as_array().expect("items").iter().all(|item| item["post_id"] != liked));

            let (status, profile) = get(&state, &key, &format!("/api/v1/users/{member}/profile")).await;
            assert_eq!(status, StatusCode::OK, "{profile}");
            assert!(profile["activity"]["answers"].as_u64().expect("answers") > 0);
            assert!(!profile["expertise"].as_array().expect("expertise").is_empty());

            let (status, similar) = get(&state, &key, &format!("/api/v1/posts/{question}/similar?n=3")).await;
            assert_eq!(status, StatusCode::OK, "{similar}");
            assert!(similar["items"].as_array().expect("items").iter().all(|item| item["post_id"] != question));

            let (status, experts) = get(&state, &key, &format!("/api/v1/questions/{question}/experts?n=3")).await;
            assert_eq!(status, StatusCode::OK, "{experts}");
            assert!(experts["experts"].as_array().expect("experts").len() <= 3);

            let (status, answerable) = get(&state, &key, &format!("/api/v1/users/{member}/answerable?n=3")).await;
            assert_eq!(status, StatusCode::OK, "{answerable}");
            assert!(answerable["questions"].as_array().expect("questions").len() <= 3);

            // Bad input.
            let (status, body) = get(&state, &key, "/api/v1/users/1/recommendations?n=0").await;
            assert_invalid(status, &body, "n");
            let (status, body) = get(&state, &key, "/api/v1/users/1/recommendations?model=magic").await;
            assert_invalid(status, &body, "model");
            let (status, body) = get(&state, &key, "/api/v1/users/1/recommendations?explain=maybe").await;
            assert_invalid(status, &body, "explain");
            let (status, body) = get(&state, &key, &format!("/api/v1/questions/{answer}/experts")).await;
            assert_invalid(status, &body, "id");
            let (status, body) = get(&state, &key, "/api/v1/posts/987654321/similar").await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
            let (status, body) = get(&state, &key, "/api/v1/users/987654321/profile").await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
            let (status, body) = get(&state, &key, "/api/v1/users/abc/recommendations").await;
            assert_invalid(status, &body, "id");
            store.close().await;
        }
    })
    .await;
}
