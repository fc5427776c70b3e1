//! The graph built from a small community on every backend: tags become
//! entities, sentences become typed relations with provenance, and the
//! change feed keeps it current — a new post's entities and edges appear
//! without a rebuild, an edited post's old edges go, a deleted post's too —
//! then the real AI dump end to end, and exports that read back whole.

use steward_domain::{Post, PostId, PostKind, Tag};
use steward_jobs::JobHandle;
use steward_kg::build::{self, BuildOptions};
use steward_kg::gnn::GnnOptions;
use steward_kg::relation::Relation;
use steward_kg::service::{EntityContext, KgService};
use steward_kg::view::GraphView;
use steward_store::{Store, WriteBatch};
use steward_testkit::fixtures::{post, question, user};
use steward_testkit::on_every_backend;

fn tag(name: &str, count: i64, excerpt: &str, synonyms: &[&str]) -> Tag {
    Tag {
        name: name.to_string(),
        count,
        excerpt: Some(excerpt.to_string()),
        wiki: None,
        synonyms: synonyms.iter().map(|s| s.to_string()).collect(),
    }
}

fn with_text(mut post: Post, text: &str) -> Post {
    post.body_text = text.to_string();
    post.body_html = format!("<p>{text}</p>");
    post
}

fn options() -> BuildOptions {
    BuildOptions {
        min_cooccurrence: 1,
        gnn: GnnOptions {
            epochs: 5,
            ..GnnOptions::default()
        },
        ..BuildOptions::default()
    }
}

async fn community(store: &Store) {
    let tags = vec![
        tag(
            "rust",
            30,
            "Rust is a systems programming language.",
            &["rustlang"],
        ),
        tag(
            "tokio",
            20,
            "Tokio is an asynchronous runtime library for Rust.",
            &[],
        ),
        tag(
            "async-runtime",
            10,
            "For questions about runtimes that drive futures.",
            &[],
        ),
        tag(
            "serde",
            12,
            "Serde is a serialization library for Rust.",
            &[],
        ),
        tag("json", 15, "JSON is a text data format.", &[]),
        tag("python", 40, "Python is a programming language.", &[]),
    ];
    let posts = vec![
        with_text(
            question(1, &["rust", "tokio"], 1_000),
            "Tokio is an async runtime for Rust. I use tokio with serde to read JSON.",
        ),
        with_text(
            question(2, &["rust", "serde"], 2_000),
            "Serde depends on Rust macros. How do I parse JSON with serde?",
        ),
        with_text(
            post(3, PostKind::Answer, Some(1), 3_000),
            "Use serde together with tokio; rustlang has good async support.",
        ),
        with_text(
            question(4, &["python"], 4_000),
            "Python vs Rust for a web server?",
        ),
    ];
    store
        .write(&WriteBatch {
            users: vec![user(1)],
            tags,
            posts,
            ..WriteBatch::default()
        })
        .await
        .expect("community");
}

#[tokio::test]
async fn a_community_becomes_a_graph_that_follows_its_posts() {
    on_every_backend(|db| async move {
        let store = db.open().await;
        community(&store).await;
        let report = build::build(&store, None, None, &options(), &JobHandle::new())
            .await
            .expect("build");
        assert_eq!(report.from_tags, 6);
        assert_eq!(report.posts, 4);
        assert!(report.version.is_some(), "a snapshot is stored: {report:?}");

        let service = KgService::new(store.clone());
        let served = service.served().await.expect("served");
        let id = |name: &str| served.resolve(name).expect(name);
        // A synonym resolves to its tag; the answer's `rustlang` is Rust.
        assert_eq!(id("rustlang"), id("rust"));
        let rust_page = service.entity_page("rust").await.expect("page");
        assert_eq!(rust_page.entity.kind, "language");
        assert!(rust_page.entity.mentions >= 3, "{rust_page:?}");
        assert!(rust_page.top_posts.iter().any(|post| post.id == 1));

        // "Tokio is an async runtime for Rust": a typed relation with the
        // sentence it was read from.
        let tokio_page = service.entity_page("tokio").await.expect("page");
        let is_a = tokio_page
            .neighbours
            .get("is_a")
            .expect("tokio is_a something");
        assert!(
            is_a.iter().any(|n| n.entity.key == "async-runtime"
                && n.outgoing
                && n.provenance
                    .iter()
                    .any(|p| p.post_id == 1 && p.sentence.contains("Tokio is an async runtime"))),
            "{is_a:?}"
        );
        // "Python vs Rust": an alternative.
        let python_page = service.entity_page("python").await.expect("page");
        assert!(
            python_page
                .neighbours
                .get("alternative_to")
                .is_some_and(|list| list.iter().any(|n| n.entity.key == "rust")),
            "{python_page:?}"
        );
        // Co-occurrence joins what posts name together.
        assert!(
            served
                .view
                .edges()
                .iter()
                .any(|edge| edge.relation == Relation::RelatedTo)
        );
        // Query expansion and prompt context name the entities in a text.
        let expanded = served.expand("parsing json in rustlang");
        assert!(
            expanded
                .iter()
                .any(|entity| entity.name == "rust"
                    && entity.aliases.contains(&"rustlang".to_string())),
            "{expanded:?}"
        );
        assert!(
            served
                .context("tokio question", 3)
                .iter()
                .any(|line| line.starts_with("tokio (library)"))
        );

        // A new post: its entities and edges are in the graph after an
        // update, without a rebuild.
        store
            .write(&WriteBatch {
                posts: vec![with_text(
                    question(5, &["python", "json"], 5_000),
                    "Python reads JSON with serde? No: json module.",
                )],
                ..WriteBatch::default()
            })
            .await
            .expect("new post");
        let before = served.view.edges().len();
        let update = service.update(None).await.expect("update");
        assert_eq!(update.posts, 1);
        let mentions = store.kg_post_mentions(PostId(5)).await.expect("mentions");
        let named: Vec<i64> = mentions.iter().map(|m| m.entity_id).collect();
        for name in ["python", "json", "serde"] {
            assert!(named.contains(&id(name)), "{name} in {mentions:?}");
        }
        let served = service.served().await.expect("reloaded");
        assert!(served.view.edges().len() > before, "new edges are served");
        assert_eq!(
            store
                .artifact_versions(build::ARTIFACT)
                .await
                .expect("versions")
                .len(),
            1,
            "no rebuild happened"
        );

        // An edit that drops a sentence retracts the edge only it supported.
        store
            .write(&WriteBatch {
                posts: vec![with_text(
                    question(4, &["python"], 4_000),
                    "Which web server should I use?",
                )],
                ..WriteBatch::default()
            })
            .await
            .expect("edit");
        service.update(None).await.expect("update");
        let python_page = service.entity_page("python").await.expect("page");
        assert!(
            python_page
                .neighbours
                .get("alternative_to")
                .is_none_or(|list| list.iter().all(|n| n.entity.key != "rust")),
            "{python_page:?}"
        );

        // A deleted post takes its facts along.
        store.delete_posts(&[PostId(5)]).await.expect("delete");
        assert!(
            store
                .kg_post_mentions(PostId(5))
                .await
                .expect("mentions")
                .is_empty()
        );

        // A new tag becomes an entity on the next update.
        store
            .write(&WriteBatch {
                tags: vec![tag(
                    "axum",
                    1,
                    "Axum is a web framework built on tokio.",
                    &[],
                )],
                ..WriteBatch::default()
            })
            .await
            .expect("tag");
        let update = service.update(None).await.expect("update");
        assert_eq!(update.new_entities, 1);
        assert_eq!(
            service.entity_page("axum").await.expect("axum").entity.kind,
            "framework"
        );

        // Paths explain, unknown names say so.
        let path = service
            .path("serde", "tokio")
            .await
            .expect("path")
            .expect("a path");
        assert!(!path.steps.is_empty());
        let unknown = service.entity_page("cobol").await.expect_err("unknown");
        assert!(unknown.to_string().contains("cobol"), "{unknown}");
    })
    .await;
}

#[tokio::test]
async fn an_update_before_any_build_says_to_build_first() {
    on_every_backend(|db| async move {
        let store = db.open().await;
        community(&store).await;
        let error = build::update(&store, None, &options())
            .await
            .expect_err("not built");
        assert!(matches!(error, steward_kg::Error::NotBuilt), "{error}");
        assert!(error.to_string().contains("steward kg build"), "{error}");
    })
    .await;
}

/// Exported GraphML reads back with the same nodes and edges.
fn round_trips(view: &GraphView) {
    let xml = view.to_graphml();
    let back = GraphView::from_graphml(&xml).expect("parses");
    assert_eq!(back.nodes().len(), view.nodes().len());
    assert_eq!(back.edges().len(), view.edges().len());
    let json = view.to_json();
    assert_eq!(
        json["nodes"].as_array().map(Vec::len),
        Some(view.nodes().len())
    );
    assert_eq!(
        json["links"].as_array().map(Vec::len),
        Some(view.edges().len())
    );
}

#[tokio::test]
async fn the_ai_dump_gives_a_graph_of_its_tags_that_exports_whole() {
    let Some(dump) = steward_testkit::shared_data_dir("se-ai-2017") else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(&dir.path().join("kg.db").display().to_string())
        .await
        .expect("store");
    let job = JobHandle::new();
    steward_ingest_import(&store, &dump, &job).await;
    let report = build::build(&store, None, None, &options(), &job)
        .await
        .expect("build");
    assert!(report.from_tags >= 100, "{report:?}");
    let service = KgService::new(store.clone());
    let served = service.served().await.expect("served");
    assert!(
        served.view.edges().len() >= 200,
        "{} edges",
        served.view.edges().len()
    );
    // The most central entities are named in many posts.
    let top = served.top(5);
    assert!(top.iter().all(|entity| entity.mentions >= 10), "{top:?}");
    round_trips(&served.view);
    let first = &top[0];
    let page = service
        .entity_page(&first.id.to_string())
        .await
        .expect("page");
    assert!(
        !page.neighbours.is_empty() && !page.top_posts.is_empty(),
        "{page:?}"
    );
    store.close().await;
}

async fn steward_ingest_import(store: &Store, dump: &std::path::Path, job: &JobHandle) {
    steward_ingest::stackexchange::import_dump(
        store,
        dump,
        &steward_ingest::stackexchange::DumpOptions::default(),
        job,
    )
    .await
    .expect("import");
}
