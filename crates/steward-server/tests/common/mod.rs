//! A small hand-made community in a real SQLite store in a temporary
//! directory, shared by the router and end-to-end tests.

#![allow(dead_code)]

use chrono::{DateTime, Utc};
use steward_auth::{Authenticator, Role, ServerSecret, create_key};
use steward_domain::{Post, PostId, PostKind, Tag, User, UserId};
use steward_server::AppState;
use steward_store::{Store, WriteBatch};

pub fn at(rfc3339: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(rfc3339)
        .expect("valid test time")
        .to_utc()
}

fn user(id: i64, name: &str, reputation: i64) -> User {
    User {
        id: UserId(id),
        display_name: name.to_string(),
        reputation,
        created_at: at("2023-06-01T00:00:00Z"),
        last_access_at: Some(at("2024-06-01T00:00:00Z")),
        location: Some("Lyon".to_string()),
        about: None,
        website: None,
    }
}

struct PostSpec<'a> {
    id: i64,
    kind: PostKind,
    parent: Option<i64>,
    owner: i64,
    title: Option<&'a str>,
    body: &'a str,
    tags: &'a [&'a str],
    score: i64,
    created: &'a str,
}

fn post(spec: PostSpec<'_>) -> Post {
    Post {
        id: PostId(spec.id),
        kind: spec.kind,
        parent_id: spec.parent.map(PostId),
        accepted_answer_id: None,
        owner_id: Some(UserId(spec.owner)),
        title: spec.title.map(str::to_string),
        body_html: format!("<p>{}</p>", spec.body),
        body_text: spec.body.to_string(),
        code_blocks: Vec::new(),
        tags: spec.tags.iter().map(|tag| tag.to_string()).collect(),
        score: spec.score,
        view_count: 10,
        answer_count: 0,
        comment_count: 0,
        favorite_count: 0,
        created_at: at(spec.created),
        last_activity_at: None,
        closed_at: None,
        license: Some("CC BY-SA 4.0".to_string()),
        language: Some("en".to_string()),
    }
}

/// Users 1-3; question 10 (rust, io) with answers 11 (accepted, score 3) and
/// 12 (score 7), comment 13 on the question and 14 on answer 11; question 20
/// (rust, tokio, score 9); article 30.
pub fn community() -> WriteBatch {
    use PostKind::{Answer, Article, Comment, Question};
    let mut question = post(PostSpec {
        id: 10,
        kind: Question,
        parent: None,
        owner: 1,
        title: Some("How do I read a file in Rust?"),
        body: "I want to read a whole file into a string.",
        tags: &["rust", "io"],
        score: 5,
        created: "2024-01-01T00:00:00Z",
    });
    question.accepted_answer_id = Some(PostId(11));
    question.answer_count = 2;
    question.comment_count = 1;
    let posts = vec![
        question,
        post(PostSpec {
            id: 11,
            kind: Answer,
            parent: Some(10),
            owner: 2,
            title: None,
            body: "Use std::fs::read_to_string.",
            tags: &[],
            score: 3,
            created: "2024-01-02T00:00:00Z",
        }),
        post(PostSpec {
            id: 12,
            kind: Answer,
            parent: Some(10),
            owner: 3,
            title: None,
            body: "Open a File and wrap it in a BufReader.",
            tags: &[],
            score: 7,
            created: "2024-01-03T00:00:00Z",
        }),
        post(PostSpec {
            id: 13,
            kind: Comment,
            parent: Some(10),
            owner: 2,
            title: None,
            body: "Which Rust version?",
            tags: &[],
            score: 0,
            created: "2024-01-01T01:00:00Z",
        }),
        post(PostSpec {
            id: 14,
            kind: Comment,
            parent: Some(11),
            owner: 1,
            title: None,
            body: "Thanks, that worked.",
            tags: &[],
            score: 1,
            created: "2024-01-02T02:00:00Z",
        }),
        post(PostSpec {
            id: 20,
            kind: Question,
            parent: None,
            owner: 2,
            title: Some("What is tokio?"),
            body: "Everyone mentions tokio for async Rust.",
            tags: &["rust", "tokio"],
            score: 9,
            created: "2024-02-01T00:00:00Z",
        }),
        post(PostSpec {
            id: 30,
            kind: Article,
            parent: None,
            owner: 3,
            title: Some("Community guidelines"),
            body: "Be kind.",
            tags: &["meta"],
            score: 1,
            created: "2024-03-01T00:00:00Z",
        }),
    ];
    let tags = ["rust", "io", "tokio", "meta"]
        .into_iter()
        .map(|name| Tag {
            name: name.to_string(),
            count: 1,
            excerpt: None,
            wiki: None,
            synonyms: Vec::new(),
        })
        .collect();
    WriteBatch {
        users: vec![
            user(1, "Alice", 120),
            user(2, "Bob", 45),
            user(3, "Carol", 7),
        ],
        posts,
        tags,
        ..WriteBatch::default()
    }
}

/// A fresh store holding [`community`]; keep the directory alive as long as
/// the store.
pub async fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("steward.db");
    let store = Store::open(&path.display().to_string())
        .await
        .expect("store opens");
    store.write(&community()).await.expect("community written");
    (dir, store)
}

/// The server secret of test servers.
pub fn secret() -> ServerSecret {
    ServerSecret::new("the test server secret, 32 characters or more").expect("long enough")
}

/// A key of `role` in `store`, made under [`secret`].
pub async fn key(store: &Store, role: Role) -> String {
    let (key, _) = create_key(store, &secret(), "test", role, &[], None)
        .await
        .expect("key made");
    key
}

/// A state over `store` that accepts keys made under [`secret`], and a key
/// of `role`.
pub async fn keyed_state(store: &Store, role: Role) -> (AppState, String) {
    let state = AppState::new(store.clone())
        .with_authenticator(Authenticator::new(store.clone(), secret()));
    (state, key(store, role).await)
}
