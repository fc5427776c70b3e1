//! `POST /api/v1/questions/similar` over a real community (ai.stackexchange.com
//! 2017 from the shared data) on SQLite and (when `TEST_DATABASE_URL` is
//! set, always under `CI=true`) PostgreSQL: bad drafts get a 400 naming the
//! field, a server without search 503; before calibration the threads come
//! with null probabilities and a notice; once the calibration job has run,
//! the same server (no restart) scores them and finds a linked duplicate.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{Value, json};
use steward_domain::{PostKind, PostLinkKind};
use steward_ingest::stackexchange::{DumpOptions, import_dump};
use steward_jobs::JobHandle;
use steward_runtime::Config;
use steward_runtime::build::{self, LsaFallback};
use steward_runtime::jobs::{self, JobSpec};
use steward_runtime::search::{RefreshOptions, open_searcher, refresh};
use steward_server::{AppState, router};
use steward_store::Store;
use steward_testkit::{on_every_backend, shared_data_dir};
use tower::ServiceExt;

const ROUTE: &str = "/api/v1/questions/similar";

async fn post(state: &AppState, body: &Value) -> (StatusCode, Value) {
    let request = Request::post(ROUTE)
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .expect("a request");
    let response = router(state.clone())
        .oneshot(request)
        .await
        .expect("infallible");
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("a body");
    let body = serde_json::from_slice(&bytes).unwrap_or_else(|error| panic!("{error}"));
    (status, body)
}

fn assert_invalid(status: StatusCode, body: &Value, field: &str) {
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["code"], "invalid_parameter", "{body}");
    assert_eq!(body["error"]["parameter"], field, "{body}");
}

/// A duplicate link between two questions: (the asker's title, the target's id).
async fn duplicate_pair(store: &Store) -> Vec<(String, String, i64)> {
    let links = store.post_links_after(None, 1_000).await.expect("links");
    let mut pairs = Vec::new();
    for link in links
        .iter()
        .filter(|link| link.kind == PostLinkKind::Duplicate)
    {
        let posts = store
            .posts_by_ids(&[link.post_id, link.related_post_id])
            .await
            .expect("posts");
        let Some(asker) = posts.iter().find(|post| post.id == link.post_id) else {
            continue;
        };
        if asker.kind == PostKind::Question
            && posts.iter().any(|post| post.id == link.related_post_id)
        {
            pairs.push((
                asker.title.clone().unwrap_or_default(),
                asker.body_html.clone(),
                link.related_post_id.0,
            ));
        }
    }
    pairs
}

#[tokio::test]
async fn similar_questions_are_scored_once_calibrated_and_bad_drafts_are_named() {
    let Some(dump) = shared_data_dir("se-ai-2017") else {
        return;
    };
    on_every_backend(|db| {
        let dump = dump.clone();
        async move {
            let store = db.open().await;
            let job = JobHandle::new();
            import_dump(&store, &dump, &DumpOptions::default(), &job)
                .await
                .expect("the dump imports");

            // Without search: 503, as /api/v1/search.
            let bare = AppState::new(store.clone());
            let (status, body) = post(&bare, &json!({"title": "neural networks"})).await;
            assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
            assert_eq!(body["error"]["code"], "search_unavailable");

            let index_dir = tempfile::tempdir().expect("a temporary folder");
            let mut config = Config::defaults();
            config.embedding.model = "lsa".to_string();
            config.search.index_dir = Some(index_dir.path().to_path_buf());
            if let Some(schema) = db.schema() {
                config.database.schema = Some(schema.to_string());
            }
            let resolver = build::model_resolver(&config);
            let embedder =
                build::load_embedder(&config, &resolver, Some(&store), LsaFallback::Refused, &job)
                    .await
                    .expect("LSA loads")
                    .embedder;
            let searcher = open_searcher(&config, &store, Some(Arc::new(embedder)), &job)
                .await
                .expect("the indices open");
            let options = RefreshOptions {
                rebuild: false,
                save: false,
                embed: true,
            };
            refresh(&searcher, options, &job).await.expect("a refresh");
            let state = AppState {
                searcher: Some(searcher),
                ..AppState::new(store.clone())
            };

            // Bad drafts: 400 naming the field.
            for (body, field) in [
                (json!({"body": "no title"}), "title"),
                (json!({"title": "  "}), "title"),
                (json!({"title": "x", "body": "y".repeat(30_001)}), "body"),
                (json!({"title": "x", "limit": 0}), "limit"),
                (json!({"title": "x", "limit": "ten"}), "limit"),
                (json!({"title": "x", "tags": "git"}), "tags"),
                (json!({"title": "x", "tilte": "y"}), "tilte"),
            ] {
                let (status, answer) = post(&state, &body).await;
                assert_invalid(status, &answer, field);
            }

            let pairs = duplicate_pair(&store).await;
            assert!(!pairs.is_empty(), "the dump has duplicate links");
            let (title, body, _) = &pairs[0];
            let draft = json!({"title": title, "body": body, "limit": 5});

            // Before calibration: threads in search order, probabilities null.
            let (status, before) = post(&state, &draft).await;
            assert_eq!(status, StatusCode::OK, "{before}");
            let threads = before["threads"].as_array().expect("threads");
            assert_eq!(threads.len(), 5, "{before}");
            for thread in threads {
                assert!(thread["probability"].is_null(), "{thread}");
                assert_eq!(thread["likely_duplicate"], false);
                assert!(thread["post_id"].is_i64() && thread["snippet"].is_string());
            }
            assert!(before["calibration"].is_null());
            assert!(
                before["notice"]
                    .as_str()
                    .is_some_and(|notice| notice.contains("steward dupes --calibrate")),
                "{before}"
            );

            jobs::run(&JobSpec::CalibrateDuplicates {}, &config, &store, &job)
                .await
                .expect("calibrated");

            // The same state picks the new calibration up.
            let mut found_duplicate = false;
            for (title, body, target) in &pairs {
                let draft = json!({"title": title, "body": body, "limit": 20});
                let (status, after) = post(&state, &draft).await;
                assert_eq!(status, StatusCode::OK, "{after}");
                let threshold = after["calibration"]["threshold"]
                    .as_f64()
                    .unwrap_or_else(|| panic!("a calibration: {after}"));
                assert!(threshold > 0.0 && threshold < 1.0);
                assert_eq!(
                    after["calibration"]["positive_links"],
                    json!(["duplicate", "related"])
                );
                assert!(after.get("notice").is_none(), "{after}");
                for thread in after["threads"].as_array().expect("threads") {
                    let probability = thread["probability"].as_f64().expect("a probability");
                    assert_eq!(
                        thread["likely_duplicate"],
                        probability >= threshold,
                        "{thread}"
                    );
                    assert!(thread["features"]["title_overlap"].is_number());
                    if thread["post_id"] == *target {
                        found_duplicate = true;
                    }
                }
            }
            assert!(found_duplicate, "no linked duplicate among the candidates");
        }
    })
    .await;
}
