//! Domain values for tests: plain builders with boring defaults (override
//! fields with `..`), and a small hand-made community with questions,
//! answers, comments, an article and tags, in a store of its own.

use steward_domain::{
    Event, EventKind, EventTarget, Post, PostId, PostKind, Tag, Timestamp, User, UserId,
};
use steward_store::{Store, WriteBatch};

use crate::TestDb;

/// The time `millis` milliseconds after the Unix epoch.
pub fn at(millis: i64) -> Timestamp {
    chrono::DateTime::from_timestamp_millis(millis).expect("a valid test time")
}

/// User `id`, named `user {id}`, reputation `10 * id`.
pub fn user(id: i64) -> User {
    User {
        id: UserId(id),
        display_name: format!("user {id}"),
        reputation: id * 10,
        created_at: at(1_600_000_000_000 + id),
        last_access_at: None,
        location: None,
        about: None,
        website: None,
    }
}

/// Post `id` by user 1, body `body of {id}`, a title when it is a question.
pub fn post(id: i64, kind: PostKind, parent: Option<i64>, created_millis: i64) -> Post {
    Post {
        id: PostId(id),
        kind,
        parent_id: parent.map(PostId),
        accepted_answer_id: None,
        owner_id: Some(UserId(1)),
        title: (kind == PostKind::Question).then(|| format!("question {id}")),
        body_html: format!("<p>body of {id}</p>"),
        body_text: format!("body of {id}"),
        code_blocks: Vec::new(),
        tags: Vec::new(),
        score: 0,
        view_count: 0,
        answer_count: 0,
        comment_count: 0,
        favorite_count: 0,
        created_at: at(created_millis),
        last_activity_at: None,
        closed_at: None,
        license: None,
        language: None,
    }
}

/// A question with these tags.
pub fn question(id: i64, tags: &[&str], created_millis: i64) -> Post {
    Post {
        tags: tags.iter().map(|tag| tag.to_string()).collect(),
        ..post(id, PostKind::Question, None, created_millis)
    }
}

/// An event with the kind's default weight, at a fixed time.
pub fn event(key: &str, user_id: i64, kind: EventKind, target: EventTarget) -> Event {
    Event {
        key: key.to_string(),
        user_id: UserId(user_id),
        kind,
        target,
        at: at(1_700_000_000_123),
        weight: kind.default_weight(),
    }
}

/// A tag used once, with no wiki.
pub fn tag(name: &str) -> Tag {
    Tag {
        name: name.to_string(),
        count: 1,
        excerpt: None,
        wiki: None,
        synonyms: Vec::new(),
    }
}

/// The time an RFC 3339 string names, e.g. `2024-01-01T00:00:00Z`.
pub fn time(rfc3339: &str) -> Timestamp {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .expect("a valid RFC 3339 test time")
        .to_utc()
}

fn member(id: i64, name: &str, reputation: i64) -> User {
    User {
        display_name: name.to_string(),
        reputation,
        created_at: time("2023-06-01T00:00:00Z"),
        last_access_at: Some(time("2024-06-01T00:00:00Z")),
        location: Some("Lyon".to_string()),
        ..user(id)
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

fn community_post(spec: PostSpec<'_>) -> Post {
    Post {
        owner_id: Some(UserId(spec.owner)),
        title: spec.title.map(str::to_string),
        body_html: format!("<p>{}</p>", spec.body),
        body_text: spec.body.to_string(),
        tags: spec.tags.iter().map(|tag| tag.to_string()).collect(),
        score: spec.score,
        view_count: 10,
        created_at: time(spec.created),
        license: Some("CC BY-SA 4.0".to_string()),
        language: Some("en".to_string()),
        ..post(spec.id, spec.kind, spec.parent, 0)
    }
}

/// Users 1-3; question 10 (rust, io) with answers 11 (accepted, score 3) and
/// 12 (score 7), comment 13 on the question and 14 on answer 11; question 20
/// (rust, tokio, score 9); article 30.
pub fn community() -> WriteBatch {
    use PostKind::{Answer, Article, Comment, Question};
    let mut question = community_post(PostSpec {
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
        community_post(PostSpec {
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
        community_post(PostSpec {
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
        community_post(PostSpec {
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
        community_post(PostSpec {
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
        community_post(PostSpec {
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
        community_post(PostSpec {
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
        .map(tag)
        .collect();
    WriteBatch {
        users: vec![
            member(1, "Alice", 120),
            member(2, "Bob", 45),
            member(3, "Carol", 7),
        ],
        posts,
        tags,
        ..WriteBatch::default()
    }
}

/// A fresh SQLite store holding [`community`]; keep the [`TestDb`] alive as
/// long as the store.
pub async fn community_store() -> (TestDb, Store) {
    let db = TestDb::sqlite();
    let store = db.open().await;
    store.write(&community()).await.expect("community written");
    (db, store)
}
