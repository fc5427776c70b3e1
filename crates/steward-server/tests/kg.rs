//! The knowledge graph's routes on SQLite and (when `TEST_DATABASE_URL` is
//! set, always under `CI=true`) PostgreSQL: before a build they answer 503
//! with what to run; after the `build-kg` job the same server lists and
//! searches entities, shows an entity's page with typed neighbours and
//! their provenance, explains a path, and exports a subgraph as JSON or
//! GraphML; bad parameters get a 400 naming the parameter, unknown entities
//! a 404.

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::Value;
use steward_auth::Role;
use steward_domain::{Post, Tag};
use steward_jobs::JobHandle;
use steward_kg::service::KgService;
use steward_runtime::Config;
use steward_runtime::jobs::{self, JobSpec};
use steward_server::{AppState, router};
use steward_store::WriteBatch;
use steward_testkit::fixtures::{question, user};
use steward_testkit::on_every_backend;
use tower::ServiceExt;

async fn get(state: &AppState, key: &str, uri: &str) -> (StatusCode, String, Value) {
    let request = Request::builder()
        .uri(uri)
        .header("authorization", format!("Bearer {key}"))
        .body(Body::empty())
        .expect("a request");
    let response = router(state.clone())
        .oneshot(request)
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
    let body = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    (status, content_type, body)
}

fn tag(name: &str, excerpt: &str) -> Tag {
    Tag {
        name: name.to_string(),
        count: 10,
        excerpt: Some(excerpt.to_string()),
        wiki: None,
        synonyms: Vec::new(),
    }
}

fn with_text(mut post: Post, text: &str) -> Post {
    post.body_text = text.to_string();
    post.body_html = format!("<p>{text}</p>");
    post
}

fn assert_invalid(status: StatusCode, body: &Value, parameter: &str) {
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["code"], "invalid_parameter", "{body}");
    assert_eq!(body["error"]["parameter"], parameter, "{body}");
}

#[tokio::test]
async fn graph_routes_before_and_after_a_build() {
    on_every_backend(|db| async move {
        let store = db.open().await;
        store
            .write(&WriteBatch {
                users: vec![user(1)],
                tags: vec![
                    tag("rust", "Rust is a systems programming language."),
                    tag("tokio", "Tokio is an asynchronous runtime library."),
                    tag("serde", "Serde is a serialization library."),
                    tag("json", "JSON is a data format."),
                ],
                posts: vec![
                    with_text(
                        question(1, &["rust", "tokio"], 1_000),
                        "Tokio with serde and JSON in Rust.",
                    ),
                    with_text(
                        question(2, &["rust", "serde"], 2_000),
                        "Serde reads JSON for Rust programs.",
                    ),
                    with_text(
                        question(3, &["tokio", "json"], 3_000),
                        "Tokio and serde stream JSON.",
                    ),
                    with_text(
                        question(4, &["rust"], 4_000),
                        "Why does the borrow checker reject this Rust code?",
                    ),
                    with_text(
                        question(5, &["json"], 5_000),
                        "Validating JSON against a schema.",
                    ),
                ],
                ..WriteBatch::default()
            })
            .await
            .expect("community");
        let (state, key) = common::keyed_state(&store, Role::Member).await;
        let service = KgService::new(store.clone());
        let state = AppState {
            kg: Some(service.clone()),
            ..state
        };

        let (status, _, body) = get(&state, &key, "/api/v1/kg/entities?q=rust").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        assert_eq!(body["error"]["code"], "kg_unavailable");
        assert!(
            body["error"]["message"]
                .as_str()
                .expect("a message")
                .contains("steward kg build")
        );

        let mut config = Config::defaults();
        if let Some(schema) = db.schema() {
            config.database.schema = Some(schema.to_string());
        }
        config.kg.ner = false;
        config.kg.min_cooccurrence = 1;
        config.kg.gnn_epochs = 5;
        config.embedding.model = "lsa".to_string();
        jobs::run(&JobSpec::BuildKg {}, &config, &store, &JobHandle::new())
            .await
            .expect("the build runs");
        service.reload().await.expect("the graph loads");

        let (status, _, body) = get(&state, &key, "/api/v1/kg/entities?q=ru&limit=5").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["entities"][0]["name"], "rust", "{body}");
        let (_, _, body) = get(&state, &key, "/api/v1/kg/entities?kind=library").await;
        let names: Vec<&str> = body["entities"]
            .as_array()
            .expect("a list")
            .iter()
            .filter_map(|e| e["name"].as_str())
            .collect();
        assert!(
            names.contains(&"tokio") && names.contains(&"serde") && !names.contains(&"rust"),
            "{body}"
        );

        let (status, _, page) = get(&state, &key, "/api/v1/kg/entities/serde").await;
        assert_eq!(status, StatusCode::OK, "{page}");
        assert_eq!(page["kind"], "library");
        assert!(
            page["neighbours"]["related_to"]
                .as_array()
                .is_some_and(|list| !list.is_empty()),
            "{page}"
        );
        assert!(
            page["top_posts"]
                .as_array()
                .is_some_and(|list| !list.is_empty()),
            "{page}"
        );
        let id = page["id"].as_i64().expect("an id");
        let (status, _, by_id) = get(&state, &key, &format!("/api/v1/kg/entities/{id}")).await;
        assert_eq!((status, &by_id["name"]), (StatusCode::OK, &page["name"]));

        let (status, _, body) = get(&state, &key, "/api/v1/kg/path?from=serde&to=tokio").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(
            body["path"]["steps"]
                .as_array()
                .is_some_and(|steps| !steps.is_empty()),
            "{body}"
        );

        let (status, _, body) = get(&state, &key, "/api/v1/kg/subgraph?seeds=rust&hops=1").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(
            body["nodes"]
                .as_array()
                .is_some_and(|nodes| nodes.len() >= 2),
            "{body}"
        );
        assert!(body["links"].is_array(), "{body}");
        let (status, content_type, body) = get(
            &state,
            &key,
            "/api/v1/kg/subgraph?seeds=rust,serde&format=graphml",
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert!(
            content_type.starts_with("application/graphml+xml"),
            "{content_type}"
        );
        assert!(
            body.as_str().is_some_and(|text| text.contains("<graphml")),
            "{body}"
        );

        let (status, _, body) = get(&state, &key, "/api/v1/kg/entities?limit=0").await;
        assert_invalid(status, &body, "limit");
        let (status, _, body) = get(&state, &key, "/api/v1/kg/entities?kind=thing").await;
        assert_invalid(status, &body, "kind");
        let (status, _, body) = get(&state, &key, "/api/v1/kg/path?to=rust").await;
        assert_invalid(status, &body, "from");
        let (status, _, body) = get(&state, &key, "/api/v1/kg/subgraph?seeds=rust&hops=9").await;
        assert_invalid(status, &body, "hops");
        let (status, _, body) =
            get(&state, &key, "/api/v1/kg/subgraph?seeds=rust&format=csv").await;
        assert_invalid(status, &body, "format");
        let (status, _, body) = get(&state, &key, "/api/v1/kg/entities/cobol").await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .expect("a message")
                .contains("cobol")
        );
    })
    .await;
}
