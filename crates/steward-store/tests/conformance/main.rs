//! Store conformance suite: every test runs against SQLite (a file in a temporary
//! directory) and, when `TEST_DATABASE_URL` is set (always under `CI=true`),
//! against PostgreSQL in a fresh schema of its own that is dropped afterwards.
//! The change feed, jobs and the artifact registry have their own modules.

mod artifacts;
mod feed;
mod interactions;
mod jobs;
mod kg;

use std::collections::{BTreeMap, HashSet};

use proptest::prelude::*;
use steward_domain::{
    AnonymousVote, Badge, BadgeClass, BadgeId, EventKind, EventTarget, LlmCall, LlmOutcome, Post,
    PostId, PostKind, PostLink, PostLinkKind, Tag, User, UserId,
};
use steward_store::{
    ApiKeyRecord, Dialect, Error, LlmUsage, NewArtifact, PostOrder, PostQuery, Store,
    StoredEmbedding, UsageFilter, WriteBatch,
};
use steward_testkit::fixtures::{at, event, post, question, tag, user};
use steward_testkit::{TestDb, on_every_backend};

fn ids(posts: &[Post]) -> Vec<i64> {
    posts.iter().map(|post| post.id.0).collect()
}

#[tokio::test]
async fn opening_twice_migrates_once_and_keeps_the_data() {
    on_every_backend(|db| async move {
        let store = db.open().await;
        let batch = WriteBatch {
            posts: vec![question(1, &["rust"], 1_000)],
            ..WriteBatch::default()
        };
        store.write(&batch).await.expect("write");
        store.close().await;
        let reopened = db.open().await;
        let again = db.open().await;
        let applied = again.applied_migrations().await.expect("migrations");
        let versions: Vec<i64> = applied.iter().map(|(version, _)| *version).collect();
        assert_eq!(versions, [1, 2, 3, 4, 5, 6, 7, 8], "{applied:?}");
        assert_eq!(reopened.stats().await.expect("stats").questions, 1);
        assert_eq!(
            again.post(PostId(1)).await.expect("read"),
            Some(batch.posts[0].clone())
        );
    })
    .await;
}

#[tokio::test]
async fn replicas_starting_together_migrate_once() {
    on_every_backend(|db| async move {
        let (first, second, third) = tokio::join!(
            Store::open_with(db.options()),
            Store::open_with(db.options()),
            Store::open_with(db.options()),
        );
        for store in [first, second, third] {
            let store = store.expect("every replica opens");
            assert_eq!(store.stats().await.expect("stats").posts, 0);
            let applied = store.applied_migrations().await.expect("migrations");
            assert_eq!(
                applied
                    .iter()
                    .map(|(version, _)| *version)
                    .collect::<Vec<_>>(),
                [1, 2, 3, 4, 5, 6, 7, 8],
                "each migration recorded once: {applied:?}"
            );
        }
    })
    .await;
}

#[tokio::test]
async fn bad_locations_are_reported() {
    let missing = Store::open("/no/such/directory/steward.db")
        .await
        .expect_err("no directory");
    assert!(
        matches!(missing, Error::MissingDirectory { .. }),
        "{missing}"
    );
    assert!(
        missing.to_string().contains("/no/such/directory"),
        "{missing}"
    );
    let unsupported = Store::open("mysql://localhost/steward")
        .await
        .expect_err("no MySQL");
    assert!(
        matches!(unsupported, Error::UnsupportedUrl(_)),
        "{unsupported}"
    );

    let directory = tempfile::tempdir().expect("a temporary directory");
    let url = format!("sqlite://{}/with space #1.db", directory.path().display());
    let store = Store::open(&url).await.expect("an odd file name opens");
    assert_eq!(store.dialect(), Dialect::Sqlite);
    assert!(directory.path().join("with space #1.db").exists());
}

#[tokio::test]
async fn an_in_memory_store_keeps_its_data_while_open() {
    let store = Store::open(":memory:")
        .await
        .expect("an in-memory store opens");
    store.write(&sample_batch()).await.expect("write");
    assert_eq!(store.stats().await.expect("stats").posts, 2);
    let other = Store::open("sqlite::memory:")
        .await
        .expect("a second one opens");
    assert_eq!(other.stats().await.expect("stats").posts, 0);
}

#[tokio::test]
async fn every_field_round_trips() {
    on_every_backend(|db| async move {
        let store = db.open().await;
        let full_user = User {
            id: UserId(7),
            display_name: "张伟 🦀".to_string(),
            reputation: -3,
            created_at: at(1_234_567_890_123),
            last_access_at: Some(at(1_700_000_000_999)),
            location: Some("北京, 中国".to_string()),
            about: Some("Rust & \"SQL\" 'quotes' \\ backslash\nnew line".to_string()),
            website: Some("https://example.org/?a=1&b=2".to_string()),
        };
        let bare_user = User {
            id: UserId(i64::MAX),
            ..user(8)
        };
        let full_post = Post {
            id: PostId(PostId::comment(5).0 - 1),
            kind: PostKind::Question,
            parent_id: Some(PostId(-4)),
            accepted_answer_id: Some(PostId(12)),
            owner_id: Some(UserId(7)),
            title: Some("如何在 Rust 中使用 async？😀".to_string()),
            body_html: "<p>正文 <code>x</code> 😀</p>\u{2028}\u{10FFFF}".to_string(),
            body_text: "正文 😀".to_string(),
            code_blocks: vec!["fn main() {}\n".to_string(), "\"quoted\" ,\t".to_string()],
            tags: vec!["rust".to_string(), "异步".to_string(), "c++".to_string()],
            score: i64::MIN,
            view_count: 1,
            answer_count: 2,
            comment_count: 3,
            favorite_count: 4,
            created_at: at(-86_400_001),
            last_activity_at: Some(at(1_700_000_000_001)),
            closed_at: Some(at(1_700_000_000_002)),
            license: Some("CC BY-SA 4.0".to_string()),
            language: Some("zh".to_string()),
        };
        let bare_post = Post {
            owner_id: None,
            title: None,
            ..post(PostId::comment(9).0, PostKind::Comment, Some(3), 5)
        };
        let full_tag = Tag {
            name: "异步".to_string(),
            count: 42,
            excerpt: Some("摘要".to_string()),
            wiki: Some("wiki 😀".to_string()),
            synonyms: vec!["async".to_string(), "异步编程".to_string()],
        };
        let batch = WriteBatch {
            users: vec![full_user.clone(), bare_user.clone()],
            posts: vec![full_post.clone(), bare_post.clone()],
            tags: vec![full_tag.clone(), tag("rust")],
            ..WriteBatch::default()
        };
        store.write(&batch).await.expect("write");
        assert_eq!(
            store.user(full_user.id).await.expect("read"),
            Some(full_user)
        );
        assert_eq!(
            store.user(bare_user.id).await.expect("read"),
            Some(bare_user)
        );
        assert_eq!(store.user(UserId(99)).await.expect("read"), None);
        assert_eq!(
            store.post(full_post.id).await.expect("read"),
            Some(full_post)
        );
        assert_eq!(
            store.post(bare_post.id).await.expect("read"),
            Some(bare_post)
        );
        assert_eq!(store.post(PostId(99)).await.expect("read"), None);
        assert_eq!(store.tag("异步").await.expect("read"), Some(full_tag));
        assert_eq!(store.tag("rust").await.expect("read"), Some(tag("rust")));
        assert_eq!(store.tag("go").await.expect("read"), None);
    })
    .await;
}

#[tokio::test]
async fn times_are_kept_to_the_millisecond() {
    on_every_backend(|db| async move {
        let store = db.open().await;
        let precise = at(1_700_000_000_123) + chrono::Duration::nanoseconds(456_789);
        let batch = WriteBatch {
            posts: vec![Post {
                created_at: precise,
                ..question(1, &[], 0)
            }],
            ..WriteBatch::default()
        };
        store.write(&batch).await.expect("write");
        let stored = store.post(PostId(1)).await.expect("read").expect("stored");
        assert_eq!(stored.created_at, at(1_700_000_000_123));
    })
    .await;
}

fn sample_batch() -> WriteBatch {
    let mut answer = post(2, PostKind::Answer, Some(1), 2_000);
    answer.tags = Vec::new();
    WriteBatch {
        users: vec![user(1), user(2)],
        posts: vec![question(1, &["rust", "tokio"], 1_000), answer],
        tags: vec![tag("rust"), tag("tokio")],
        post_links: vec![PostLink {
            id: 1,
            post_id: PostId(1),
            related_post_id: PostId(2),
            kind: PostLinkKind::Related,
            created_at: at(3_000),
        }],
        badges: vec![Badge {
            id: BadgeId(1),
            user_id: UserId(1),
            name: "rust".to_string(),
            class: BadgeClass::Gold,
            tag_based: true,
            awarded_at: at(4_000),
        }],
        events: vec![event(
            "se:answer:2",
            2,
            EventKind::Answer,
            EventTarget::Post(PostId(1)),
        )],
        anonymous_votes: Vec::new(),
        checkpoint: Some(("posts".to_string(), 2)),
    }
}

#[tokio::test]
async fn writing_the_same_batch_twice_changes_nothing() {
    on_every_backend(|db| async move {
        let store = db.open().await;
        let batch = sample_batch();
        store.write(&batch).await.expect("first write");
        let stats_once = store.stats().await.expect("stats");
        let posts_once = store.posts_after(None, 100).await.expect("posts");
        store.write(&batch).await.expect("second write");
        assert_eq!(store.stats().await.expect("stats"), stats_once);
        assert_eq!(
            store.posts_after(None, 100).await.expect("posts"),
            posts_once
        );
        assert_eq!(stats_once.posts, 2);
        assert_eq!(stats_once.users, 2);
        assert_eq!(stats_once.events, 1);
        assert_eq!(stats_once.badges, 1);
        assert_eq!(stats_once.post_links, 1);
        assert_eq!(
            store.checkpoint("posts").await.expect("checkpoint"),
            Some(2)
        );
        assert_eq!(store.checkpoint("users").await.expect("checkpoint"), None);
    })
    .await;
}

#[tokio::test]
async fn rewriting_a_post_updates_it_in_place() {
    on_every_backend(|db| async move {
        let store = db.open().await;
        let first = question(1, &["rust", "tokio"], 1_000);
        store
            .write(&WriteBatch {
                posts: vec![first],
                ..WriteBatch::default()
            })
            .await
            .expect("first write");
        let mut edited = question(1, &["tokio", "async", "tokio"], 1_000);
        edited.body_html = "<p>edited</p>".to_string();
        edited.score = 5;
        store
            .write(&WriteBatch {
                posts: vec![edited.clone()],
                ..WriteBatch::default()
            })
            .await
            .expect("second write");
        assert_eq!(store.post(PostId(1)).await.expect("read"), Some(edited));
        let tagged = |name: &str| PostQuery {
            tag: Some(name.to_string()),
            ..PostQuery::default()
        };
        assert_eq!(store.posts(&tagged("rust")).await.expect("list").total, 0);
        assert_eq!(store.posts(&tagged("async")).await.expect("list").total, 1);
        assert_eq!(store.posts(&tagged("tokio")).await.expect("list").total, 1);
        let stats = store.stats().await.expect("stats");
        assert_eq!(stats.questions, 1);
        assert_eq!(
            stats.top_tags,
            vec![("async".to_string(), 1), ("tokio".to_string(), 1)]
        );
    })
    .await;
}

#[tokio::test]
async fn the_last_record_of_an_id_in_one_batch_wins() {
    on_every_backend(|db| async move {
        let store = db.open().await;
        let mut later = user(1);
        later.display_name = "renamed".to_string();
        let batch = WriteBatch {
            users: vec![user(1), user(2), later.clone()],
            posts: vec![question(1, &["a"], 1), question(1, &["b"], 2)],
            ..WriteBatch::default()
        };
        store.write(&batch).await.expect("write");
        assert_eq!(store.user(UserId(1)).await.expect("read"), Some(later));
        assert_eq!(
            store.post(PostId(1)).await.expect("read"),
            Some(question(1, &["b"], 2))
        );
        assert_eq!(store.stats().await.expect("stats").users, 2);
    })
    .await;
}

#[tokio::test]
async fn a_batch_that_fails_part_way_leaves_nothing() {
    on_every_backend(|db| async move {
        let store = db.open().await;
        store.write(&sample_batch()).await.expect("a good batch");
        let before = store.stats().await.expect("stats");
        // Users, posts and votes are written before the tags; the database
        // rejects the empty tag name, so everything written before must go too.
        let failing = WriteBatch {
            users: vec![user(3)],
            posts: vec![question(10, &["go"], 10_000)],
            tags: vec![tag("go"), tag("")],
            events: vec![event(
                "live:1",
                3,
                EventKind::View,
                EventTarget::Post(PostId(10)),
            )],
            anonymous_votes: vec![AnonymousVote {
                id: 1,
                post_id: PostId(1),
                vote_type: 2,
            }],
            checkpoint: Some(("posts".to_string(), 10)),
            ..WriteBatch::default()
        };
        let error = store
            .write(&failing)
            .await
            .expect_err("an empty tag name is refused");
        assert!(matches!(error, Error::Database { .. }), "{error}");
        assert_eq!(store.stats().await.expect("stats"), before);
        assert_eq!(store.user(UserId(3)).await.expect("read"), None);
        assert_eq!(store.post(PostId(10)).await.expect("read"), None);
        assert_eq!(
            store.checkpoint("posts").await.expect("checkpoint"),
            Some(2)
        );

        // Values one backend would mangle are refused before anything is written.
        let with_nul = WriteBatch {
            posts: vec![Post {
                body_text: "a\0b".to_string(),
                ..question(11, &[], 0)
            }],
            ..WriteBatch::default()
        };
        let error = store.write(&with_nul).await.expect_err("NUL is refused");
        assert!(matches!(error, Error::InvalidValue { .. }), "{error}");
        let mut not_a_number = event("live:2", 1, EventKind::View, EventTarget::User(UserId(2)));
        not_a_number.weight = f64::NAN;
        let error = store
            .insert_events(&[not_a_number])
            .await
            .expect_err("NaN is refused");
        assert!(error.to_string().contains("live:2"), "{error}");
        assert_eq!(store.stats().await.expect("stats"), before);
    })
    .await;
}

#[tokio::test]
async fn events_are_stored_once_per_key() {
    on_every_backend(|db| async move {
        let store = db.open().await;
        let view = event(
            "live:view:1",
            1,
            EventKind::View,
            EventTarget::Post(PostId(1)),
        );
        let follow = event(
            "live:follow:1",
            1,
            EventKind::Follow,
            EventTarget::Tag("rust".into()),
        );
        let vote = event(
            "live:vote:1",
            2,
            EventKind::UpVote,
            EventTarget::User(UserId(1)),
        );
        let check = |inserted: u64, expected: u64| assert_eq!(inserted, expected);
        check(
            store
                .insert_events(&[view.clone(), follow.clone()])
                .await
                .expect("insert"),
            2,
        );
        check(
            store
                .insert_events(&[view.clone(), follow.clone()])
                .await
                .expect("insert"),
            0,
        );
        check(
            store
                .insert_events(&[vote.clone(), vote.clone(), view.clone()])
                .await
                .expect("insert"),
            1,
        );
        check(store.insert_events(&[]).await.expect("insert"), 0);
        let mut changed_copy = view.clone();
        changed_copy.weight = 100.0;
        store
            .write(&WriteBatch {
                events: vec![changed_copy, view.clone()],
                ..WriteBatch::default()
            })
            .await
            .expect("write");
        let keys = ["live:vote:1", "live:view:1", "missing", "live:follow:1"].map(String::from);
        let stored = store.events_by_keys(&keys).await.expect("read events");
        assert_eq!(
            stored,
            vec![follow, view, vote],
            "first record per key, by key"
        );
        let stats = store.stats().await.expect("stats");
        assert_eq!(stats.events, 3);
        assert_eq!(
            stats.events_by_kind,
            vec![
                ("follow".to_string(), 1),
                ("up_vote".to_string(), 1),
                ("view".to_string(), 1)
            ]
        );
    })
    .await;
}

fn vote(id: i64, post_id: i64, vote_type: i64) -> AnonymousVote {
    AnonymousVote {
        id,
        post_id: PostId(post_id),
        vote_type,
    }
}

#[tokio::test]
async fn each_anonymous_vote_is_counted_once_whatever_the_order_or_repetition() {
    on_every_backend(|db| async move {
        let store = db.open().await;
        let write = |votes: Vec<AnonymousVote>| {
            let store = store.clone();
            async move {
                store
                    .write(&WriteBatch {
                        anonymous_votes: votes,
                        ..WriteBatch::default()
                    })
                    .await
            }
        };
        // Out of order, one repeated inside the batch.
        write(vec![
            vote(30, 1, 2),
            vote(10, 1, 2),
            vote(20, 1, 3),
            vote(10, 1, 2),
        ])
        .await
        .expect("first votes");
        // Lower ids than before (an unsorted file), and two already counted.
        write(vec![
            vote(5, 2, 2),
            vote(10, 1, 2),
            vote(30, 1, 2),
            vote(1, 1, 2),
        ])
        .await
        .expect("second votes");
        let expected = vec![(PostId(1), 2, 3), (PostId(1), 3, 1), (PostId(2), 2, 1)];
        assert_eq!(store.vote_counts().await.expect("counts"), expected);
        assert_eq!(store.stats().await.expect("stats").anonymous_votes, 5);

        // A failing batch counts nothing of its votes.
        let failing = WriteBatch {
            anonymous_votes: vec![vote(40, 1, 2)],
            tags: vec![tag("")],
            ..WriteBatch::default()
        };
        store
            .write(&failing)
            .await
            .expect_err("an empty tag name is refused");
        assert_eq!(store.vote_counts().await.expect("counts"), expected);
        write(vec![vote(40, 1, 2)]).await.expect("the vote alone");
        assert_eq!(store.stats().await.expect("stats").anonymous_votes, 6);
    })
    .await;
}

#[tokio::test]
async fn concurrent_writers_of_the_same_votes_count_each_once() {
    on_every_backend(|db| async move {
        let store = db.open().await;
        let votes: Vec<AnonymousVote> = (1..=400).map(|id| vote(id, id % 7, 2 + id % 2)).collect();
        let writers = (0..4).map(|writer| {
            let store = store.clone();
            let mut votes = votes.clone();
            // Each writer sends them in its own order, in batches of 50.
            votes.rotate_left(writer * 100);
            async move {
                for chunk in votes.chunks(50) {
                    store
                        .write(&WriteBatch {
                            anonymous_votes: chunk.to_vec(),
                            ..WriteBatch::default()
                        })
                        .await
                        .expect("votes written");
                }
            }
        });
        futures::future::join_all(writers).await;
        let counts = store.vote_counts().await.expect("counts");
        assert_eq!(counts.iter().map(|(_, _, count)| count).sum::<i64>(), 400);
        assert_eq!(counts.len(), 14, "7 posts x 2 types: {counts:?}");
    })
    .await;
}

#[tokio::test]
async fn migration_4_drops_vote_counts_it_cannot_tie_to_vote_ids() {
    on_every_backend(|db| async move {
        let store = db.open().await;
        store.close().await;
        // Back to version 3, with counts and the checkpoint of the old scheme.
        let statements: Vec<String> = [
            "DROP TABLE anonymous_votes",
            // Migration 5's indexes go too, so that 4 and 5 run again in order.
            "DROP INDEX posts_by_time",
            "DROP INDEX posts_by_score",
            "DROP INDEX posts_by_kind_time_id",
            "DROP INDEX posts_by_kind_score",
            "DROP INDEX posts_by_parent_kind",
            "DROP INDEX posts_by_parent_time",
            // And migration 6's answer log.
            "DROP TABLE answer_log",
            // And migration 7's index.
            "DROP INDEX posts_by_owner",
            // And migration 8's knowledge graph.
            "DROP TABLE kg_entities",
            "DROP TABLE kg_mentions",
            "DROP TABLE kg_evidence",
            "DELETE FROM steward_migrations WHERE version >= 4",
            "INSERT INTO vote_counts (post_id, vote_type, count) VALUES (1, 2, 99)",
            "INSERT INTO checkpoints (key, position) VALUES ('stackexchange/Votes.xml', 500)",
            "INSERT INTO checkpoints (key, position) VALUES ('other', 7)",
        ]
        .map(str::to_string)
        .to_vec();
        artifacts::raw_sql(&db, &statements).await;

        let store = db.open().await;
        assert_eq!(
            store.vote_counts().await.expect("counts"),
            Vec::<(PostId, i64, i64)>::new()
        );
        assert_eq!(
            store
                .checkpoint("stackexchange/Votes.xml")
                .await
                .expect("checkpoint"),
            None
        );
        assert_eq!(
            store.checkpoint("other").await.expect("checkpoint"),
            Some(7)
        );
        store
            .write(&WriteBatch {
                anonymous_votes: vec![vote(1, 1, 2), vote(2, 1, 2)],
                ..WriteBatch::default()
            })
            .await
            .expect("votes");
        assert_eq!(
            store.vote_counts().await.expect("counts"),
            [(PostId(1), 2, 2)]
        );
    })
    .await;
}

/// Three questions (two answered, one accepted), three answers, two comments,
/// an article and a wiki page, by two users.
fn small_community() -> WriteBatch {
    let mut accepted_question = question(1, &["rust", "tokio"], 10_000);
    accepted_question.accepted_answer_id = Some(PostId(4));
    let mut with_answer_count_only = question(3, &["python"], 30_000);
    // The source says 1 answer, but it is not in the data: not answered here.
    with_answer_count_only.answer_count = 1;
    WriteBatch {
        users: vec![user(1), user(2)],
        posts: vec![
            accepted_question,
            question(2, &["rust"], 20_000),
            with_answer_count_only,
            post(4, PostKind::Answer, Some(1), 11_000),
            post(5, PostKind::Answer, Some(1), 12_000),
            post(6, PostKind::Answer, Some(2), 21_000),
            post(PostId::comment(1).0, PostKind::Comment, Some(1), 5_000),
            post(PostId::comment(2).0, PostKind::Comment, Some(4), 90_000),
            post(7, PostKind::Article, None, 40_000),
            post(8, PostKind::Wiki, None, 50_000),
        ],
        tags: vec![tag("rust"), tag("go")],
        post_links: vec![
            PostLink {
                id: 1,
                post_id: PostId(2),
                related_post_id: PostId(1),
                kind: PostLinkKind::Duplicate,
                created_at: at(25_000),
            },
            PostLink {
                id: 2,
                post_id: PostId(3),
                related_post_id: PostId(1),
                kind: PostLinkKind::Related,
                created_at: at(35_000),
            },
        ],
        badges: vec![Badge {
            id: BadgeId(1),
            user_id: UserId(2),
            name: "Teacher".to_string(),
            class: BadgeClass::Bronze,
            tag_based: false,
            awarded_at: at(60_000),
        }],
        events: vec![
            event("v1", 1, EventKind::View, EventTarget::Post(PostId(2))),
            event("v2", 2, EventKind::View, EventTarget::Post(PostId(1))),
            event("u1", 2, EventKind::UpVote, EventTarget::Post(PostId(4))),
        ],
        anonymous_votes: (1..=9)
            .map(|id| match id {
                1..=7 => vote(id, 1, 2),
                _ => vote(id, 4, 3),
            })
            .collect(),
        checkpoint: None,
    }
}

#[tokio::test]
async fn stats_of_a_small_community() {
    on_every_backend(|db| async move {
        let store = db.open().await;
        let empty = store.stats().await.expect("stats of an empty store");
        assert_eq!(
            (empty.posts, empty.first_post_at, empty.top_tags.len()),
            (0, None, 0)
        );
        store.write(&small_community()).await.expect("write");
        let stats = store.stats().await.expect("stats");
        assert_eq!(
            (
                stats.posts,
                stats.questions,
                stats.answers,
                stats.articles,
                stats.wikis,
                stats.comments
            ),
            (8, 3, 3, 1, 1, 2)
        );
        assert_eq!(
            (
                stats.users,
                stats.tags,
                stats.post_links,
                stats.duplicate_links
            ),
            (2, 4, 2, 1)
        );
        assert_eq!(
            (stats.badges, stats.events, stats.anonymous_votes),
            (1, 3, 9)
        );
        assert_eq!(
            stats.events_by_kind,
            vec![("view".to_string(), 2), ("up_vote".to_string(), 1)]
        );
        assert_eq!((stats.answered_questions, stats.accepted_questions), (2, 1));
        assert_eq!(
            (stats.first_post_at, stats.last_post_at),
            (Some(at(10_000)), Some(at(50_000)))
        );
        assert_eq!(
            stats.top_tags,
            vec![
                ("rust".to_string(), 2),
                ("python".to_string(), 1),
                ("tokio".to_string(), 1)
            ]
        );
        let children = store.children(PostId(1)).await.expect("children");
        assert_eq!(ids(&children), vec![PostId::comment(1).0, 4, 5]);
        assert!(
            store
                .children(PostId(8))
                .await
                .expect("children")
                .is_empty()
        );
    })
    .await;
}

#[tokio::test]
async fn listings_filter_order_and_page() {
    on_every_backend(|db| async move {
        let store = db.open().await;
        let mut posts = Vec::new();
        for id in 1..=25 {
            let tags: &[&str] = if id % 2 == 0 { &["rust"] } else { &["python"] };
            let mut listed = question(id, tags, id * 1_000);
            listed.score = (id * 7) % 11;
            posts.push(listed);
            posts.push(post(100 + id, PostKind::Answer, Some(id), id * 1_000 + 1));
        }
        store
            .write(&WriteBatch {
                posts,
                ..WriteBatch::default()
            })
            .await
            .expect("write");
        let check = |query: PostQuery, expected_total: i64, expected_ids: Vec<i64>| {
            let store = store.clone();
            async move {
                let page = store.posts(&query).await.expect("list");
                assert_eq!(
                    (page.total, ids(&page.items)),
                    (expected_total, expected_ids),
                    "{query:?}"
                );
            }
        };
        let questions = |order: PostOrder, page: u32, per_page: u32| PostQuery {
            kind: Some(PostKind::Question),
            tag: None,
            order,
            page,
            per_page,
            cursor: None,
        };
        check(questions(PostOrder::Newest, 1, 3), 25, vec![25, 24, 23]).await;
        check(questions(PostOrder::Newest, 3, 10), 25, vec![5, 4, 3, 2, 1]).await;
        check(questions(PostOrder::Oldest, 2, 4), 25, vec![5, 6, 7, 8]).await;
        check(questions(PostOrder::Newest, 4, 10), 25, vec![]).await;
        // Scores (id * 7) % 11: 10 for ids 3, 14, 25, then 9 for 6 and 17; ties newest first.
        check(questions(PostOrder::Score, 1, 4), 25, vec![25, 14, 3, 17]).await;
        let rust = PostQuery {
            tag: Some("rust".to_string()),
            order: PostOrder::Oldest,
            per_page: 3,
            ..PostQuery::default()
        };
        check(rust, 12, vec![2, 4, 6]).await;
        let answers = PostQuery {
            kind: Some(PostKind::Answer),
            per_page: 2,
            ..PostQuery::default()
        };
        check(answers, 25, vec![125, 124]).await;
        let defaults = store.posts(&PostQuery::default()).await.expect("list");
        assert_eq!(
            (defaults.page, defaults.per_page, defaults.total),
            (1, 30, 50)
        );
        assert_eq!(defaults.items.len(), 30);
    })
    .await;
}

#[tokio::test]
async fn the_id_cursor_visits_every_post_once() {
    on_every_backend(|db| async move {
        let store = db.open().await;
        let written: Vec<i64> = (-3..40)
            .map(|id| id * 3)
            .chain([PostId::comment(1).0])
            .collect();
        let posts = written.iter().map(|id| question(*id, &[], *id)).collect();
        store
            .write(&WriteBatch {
                posts,
                ..WriteBatch::default()
            })
            .await
            .expect("write");
        let mut visited = Vec::new();
        let mut after = None;
        loop {
            let page = store.posts_after(after, 7).await.expect("cursor");
            let Some(last) = page.last() else { break };
            after = Some(last.id);
            visited.extend(ids(&page));
        }
        let mut expected = written.clone();
        expected.sort_unstable();
        assert_eq!(visited, expected);
    })
    .await;
}

#[tokio::test]
async fn existing_posts_answers_for_long_id_lists() {
    on_every_backend(|db| async move {
        let store = db.open().await;
        let posts = (0..600).map(|id| question(id * 2, &[], id)).collect();
        store
            .write(&WriteBatch {
                posts,
                ..WriteBatch::default()
            })
            .await
            .expect("write");
        let asked: Vec<PostId> = (0..1_500).map(PostId).collect();
        let existing = store.existing_posts(&asked).await.expect("existing");
        let expected: HashSet<PostId> = (0..600).map(|id| PostId(id * 2)).collect();
        assert_eq!(existing, expected);
        assert!(
            store
                .existing_posts(&[])
                .await
                .expect("existing")
                .is_empty()
        );
    })
    .await;
}

#[tokio::test]
async fn top_answers_of_many_threads_match_each_threads_answers() {
    on_every_backend(|db| async move {
        let store = db.open().await;
        let mut posts = Vec::new();
        // Thread t has t answers with scores in a shuffled order; in even
        // threads an unvoted answer is accepted, so it comes first.
        for thread in 1..=6_i64 {
            let root = thread * 100;
            let mut question = question(root, &[], thread);
            if thread % 2 == 0 {
                question.accepted_answer_id = Some(PostId(root + 1));
            }
            posts.push(question);
            for answer in 1..=thread {
                let mut post = post(root + answer, PostKind::Answer, Some(root), answer);
                post.score = (answer * 7) % 5;
                posts.push(post);
            }
            posts.push(post(root + 50, PostKind::Comment, Some(root), 0));
        }
        store
            .write(&WriteBatch {
                users: vec![user(1)],
                posts,
                ..WriteBatch::default()
            })
            .await
            .expect("write");
        let parents: Vec<PostId> = [600, 100, 300, 999, 400, 200, 500]
            .into_iter()
            .map(PostId)
            .collect();
        for per_parent in [2, 100] {
            let batched = store
                .top_answers(&parents, per_parent)
                .await
                .expect("top answers");
            let mut one_by_one = Vec::new();
            for parent in &parents {
                let root = store.post(*parent).await.expect("read");
                let accepted = root.and_then(|root| root.accepted_answer_id);
                one_by_one.extend(
                    store
                        .answers(*parent, accepted, None, per_parent)
                        .await
                        .expect("answers"),
                );
            }
            assert_eq!(ids(&batched), ids(&one_by_one), "per_parent {per_parent}");
        }
        assert!(store.top_answers(&[], 5).await.expect("none").is_empty());
    })
    .await;
}

#[tokio::test]
async fn embeddings_round_trip_bit_exact() {
    on_every_backend(|db| async move {
        let store = db.open().await;
        let special = vec![
            0.0,
            -0.0,
            1.0e-45,
            f32::MAX,
            f32::MIN,
            f32::NAN,
            f32::INFINITY,
            0.1,
        ];
        let stored =
            |post_id: i64, model: &str, content_hash: i64, vector: Vec<f32>| StoredEmbedding {
                post_id: PostId(post_id),
                model: model.to_string(),
                content_hash,
                vector,
            };
        let first = vec![
            stored(1, "minilm", 11, special.clone()),
            stored(2, "minilm", 22, vec![0.5; 384]),
            stored(1, "lsa", 33, vec![]),
        ];
        store.put_embeddings(&first).await.expect("put");
        let read = store
            .embeddings("minilm", &[PostId(2), PostId(3), PostId(1)])
            .await
            .expect("read");
        assert_eq!(ids_of(&read), vec![2, 1]);
        let bits = |vector: &[f32]| {
            vector
                .iter()
                .map(|value| value.to_bits())
                .collect::<Vec<_>>()
        };
        assert_eq!(bits(&read[1].vector), bits(&special));
        assert_eq!(read[0].vector, vec![0.5; 384]);
        assert_eq!(read[0].content_hash, 22);
        let empty = store.embeddings("lsa", &[PostId(1)]).await.expect("read");
        assert_eq!(empty, vec![stored(1, "lsa", 33, vec![])]);

        store
            .put_embeddings(&[stored(2, "minilm", 23, vec![1.0, 2.0])])
            .await
            .expect("replace");
        let hashes = store
            .embedding_hashes("minilm", &[PostId(1), PostId(2), PostId(9)])
            .await
            .expect("hashes");
        assert_eq!(hashes.len(), 2);
        assert_eq!((hashes[&PostId(1)], hashes[&PostId(2)]), (11, 23));
        let all = store
            .embeddings_after("minilm", None, 10)
            .await
            .expect("cursor");
        assert_eq!(ids_of(&all), vec![1, 2]);
        let rest = store
            .embeddings_after("minilm", Some(PostId(1)), 10)
            .await
            .expect("cursor");
        assert_eq!(rest, vec![stored(2, "minilm", 23, vec![1.0, 2.0])]);

        // Deleting vectors touches one model only and counts what was there.
        assert_eq!(
            store
                .delete_embeddings("minilm", &[PostId(1), PostId(9)])
                .await
                .expect("delete"),
            1
        );
        assert_eq!(
            ids_of(
                &store
                    .embeddings_after("minilm", None, 10)
                    .await
                    .expect("cursor")
            ),
            vec![2]
        );
        assert_eq!(
            ids_of(&store.embeddings("lsa", &[PostId(1)]).await.expect("read")),
            vec![1]
        );
        assert_eq!(
            store
                .delete_embeddings("minilm", &[])
                .await
                .expect("delete"),
            0
        );
    })
    .await;
}

fn ids_of(embeddings: &[StoredEmbedding]) -> Vec<i64> {
    embeddings.iter().map(|stored| stored.post_id.0).collect()
}

#[tokio::test]
async fn the_newest_promoted_artifact_version_is_served() {
    on_every_backend(|db| async move {
        let store = db.open().await;
        async fn put(store: &Store, name: &str, bytes: &[u8]) {
            let new = NewArtifact {
                name,
                kind: "blob",
                metadata: serde_json::json!({}),
                metrics: serde_json::json!({}),
                feed_seq: None,
                bytes,
            };
            store.put_artifact_version(&new, true).await.expect("put");
        }
        assert_eq!(artifacts::promoted_bytes(&store, "als").await, None);
        let large: Vec<u8> = (0..1_000_000u32).map(|index| (index % 251) as u8).collect();
        put(&store, "als", &large).await;
        put(&store, "empty", &[]).await;
        assert_eq!(artifacts::promoted_bytes(&store, "als").await, Some(large));
        put(&store, "als", b"\x00\xffnew").await;
        assert_eq!(
            artifacts::promoted_bytes(&store, "als").await,
            Some(b"\x00\xffnew".to_vec())
        );
        assert_eq!(
            artifacts::promoted_bytes(&store, "empty").await,
            Some(Vec::new())
        );
    })
    .await;
}

#[tokio::test]
async fn llm_usage_and_token_filters() {
    on_every_backend(|db| async move {
        let store = db.open().await;
        let call = |request_id: &str,
                    feature: &str,
                    role: &str,
                    outcome: LlmOutcome,
                    tokens: (i64, i64),
                    millis: i64| LlmCall {
            request_id: request_id.to_string(),
            feature: feature.to_string(),
            role: role.to_string(),
            key_id: None,
            model: "SmolLM2".to_string(),
            prompt_tokens: tokens.0,
            completion_tokens: tokens.1,
            latency_ms: 10,
            outcome,
            object_ids: vec!["post:1".to_string(), "tag:异步".to_string()],
            at: at(millis),
        };
        let calls = [
            call("r1", "generate", "admin", LlmOutcome::Ok, (100, 50), 1_000),
            call(
                "r2",
                "generate",
                "member",
                LlmOutcome::Error,
                (30, 0),
                2_000,
            ),
            call(
                "r3",
                "generate",
                "member",
                LlmOutcome::Refused,
                (0, 0),
                3_000,
            ),
            call("r4", "digest", "service", LlmOutcome::Ok, (7, 3), 4_000),
        ];
        for recorded in &calls {
            store.record_llm_call(recorded).await.expect("record");
        }
        store
            .record_llm_call(&calls[0])
            .await
            .expect("a retried record counts once");
        let tokens = |feature: Option<&str>, role: Option<&str>, since: Option<i64>| {
            let store = store.clone();
            let filter = UsageFilter {
                feature: feature.map(str::to_string),
                role: role.map(str::to_string),
                since: since.map(at),
            };
            async move { store.llm_tokens(&filter).await.expect("tokens") }
        };
        assert_eq!(tokens(None, None, None).await, 190);
        assert_eq!(tokens(Some("generate"), None, None).await, 180);
        assert_eq!(tokens(Some("generate"), Some("member"), None).await, 30);
        assert_eq!(tokens(None, None, Some(2_000)).await, 40);
        assert_eq!(tokens(Some("nothing"), None, None).await, 0);
        let usage = store.llm_usage().await.expect("usage");
        let expected = |feature: &str,
                        calls: i64,
                        refused: i64,
                        errors: i64,
                        tokens: (i64, i64),
                        latency: i64| LlmUsage {
            feature: feature.to_string(),
            model: "SmolLM2".to_string(),
            calls,
            refused,
            errors,
            prompt_tokens: tokens.0,
            completion_tokens: tokens.1,
            total_latency_ms: latency,
        };
        assert_eq!(
            usage,
            vec![
                expected("digest", 1, 0, 0, (7, 3), 10),
                expected("generate", 3, 1, 1, (130, 50), 30)
            ]
        );
        let log = store.llm_calls_since(at(2_000), 10).await.expect("log");
        assert_eq!(log, calls[1..].to_vec());
    })
    .await;
}

/// One write of the model test: users and posts drawn from a few ids, so that
/// later writes overwrite earlier ones.
#[derive(Debug, Clone)]
struct ModelWrite {
    users: Vec<User>,
    posts: Vec<Post>,
}

fn arbitrary_text() -> impl Strategy<Value = String> {
    prop::sample::select(vec!["", "rust", "中文 文本", "emoji 😀🦀", "quote ' \" \\"])
        .prop_map(str::to_string)
}

fn arbitrary_user() -> impl Strategy<Value = User> {
    (
        0..5i64,
        arbitrary_text(),
        -5..5i64,
        proptest::option::of(arbitrary_text()),
    )
        .prop_map(|(id, display_name, reputation, location)| User {
            display_name,
            reputation,
            location,
            ..user(id)
        })
}

fn arbitrary_post() -> impl Strategy<Value = Post> {
    let tags = prop::sample::subsequence(vec!["rust", "python", "中文"], 0..=3);
    (
        0..6i64,
        0..3usize,
        tags,
        arbitrary_text(),
        -3..3i64,
        0..5i64,
    )
        .prop_map(|(id, kind_index, tags, body, score, created)| {
            let kind = [PostKind::Question, PostKind::Answer, PostKind::Comment][kind_index];
            let parent = (kind != PostKind::Question).then_some(0);
            Post {
                tags: tags.into_iter().map(str::to_string).collect(),
                body_text: body.clone(),
                body_html: body,
                score,
                ..post(id, kind, parent, created)
            }
        })
}

fn arbitrary_writes() -> impl Strategy<Value = Vec<ModelWrite>> {
    let write = (
        prop::collection::vec(arbitrary_user(), 0..5),
        prop::collection::vec(arbitrary_post(), 0..8),
    )
        .prop_map(|(users, posts)| ModelWrite { users, posts });
    prop::collection::vec(write, 1..5)
}

async fn check_against_the_model(writes: Vec<ModelWrite>) {
    let writes = &writes;
    on_every_backend(|db| async move {
        let store = db.open().await;
        let mut users: BTreeMap<i64, User> = BTreeMap::new();
        let mut posts: BTreeMap<i64, Post> = BTreeMap::new();
        for write in writes {
            store
                .write(&WriteBatch {
                    users: write.users.clone(),
                    posts: write.posts.clone(),
                    ..WriteBatch::default()
                })
                .await
                .expect("write");
            users.extend(write.users.iter().map(|user| (user.id.0, user.clone())));
            posts.extend(write.posts.iter().map(|post| (post.id.0, post.clone())));
        }
        for id in 0..6 {
            assert_eq!(
                store.user(UserId(id)).await.expect("read").as_ref(),
                users.get(&id)
            );
            assert_eq!(
                store.post(PostId(id)).await.expect("read").as_ref(),
                posts.get(&id)
            );
        }
        let stored: Vec<Post> = store.posts_after(None, 100).await.expect("cursor");
        assert_eq!(stored, posts.values().cloned().collect::<Vec<_>>());
        for tag_name in ["rust", "python", "中文"] {
            let query = PostQuery {
                tag: Some(tag_name.to_string()),
                ..PostQuery::default()
            };
            let expected = posts
                .values()
                .filter(|post| post.tags.iter().any(|tag| tag == tag_name));
            let total = store.posts(&query).await.expect("list").total;
            assert_eq!(
                total,
                i64::try_from(expected.count()).expect("small"),
                "{tag_name}"
            );
        }
        let stats = store.stats().await.expect("stats");
        let comments = posts
            .values()
            .filter(|post| post.kind == PostKind::Comment)
            .count();
        assert_eq!(stats.comments, i64::try_from(comments).expect("small"));
        assert_eq!(stats.users, i64::try_from(users.len()).expect("small"));
    })
    .await;
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]

    #[test]
    fn the_store_keeps_the_last_write_per_id(writes in arbitrary_writes()) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a test runtime");
        runtime.block_on(check_against_the_model(writes));
    }
}

// ---- API keys ----

fn api_key(id: &str, role: &str, created_millis: i64) -> ApiKeyRecord {
    ApiKeyRecord {
        id: id.to_string(),
        name: format!("key {id}"),
        role: role.to_string(),
        scopes: Vec::new(),
        hash: vec![0, 1, 2, 254, 255],
        created_at: at(created_millis),
        expires_at: None,
        revoked_at: None,
        last_used_at: None,
    }
}

#[tokio::test]
async fn api_keys_round_trip_and_list_oldest_first() {
    on_every_backend(|db| async move {
        let store = db.open().await;
        assert_eq!(store.api_keys().await.expect("list"), Vec::new());
        let scoped = ApiKeyRecord {
            scopes: vec!["write_events".to_string(), "use_llm".to_string()],
            expires_at: Some(at(9_000_000_000_123)),
            name: "ingest bot — 中文".to_string(),
            ..api_key("bbbbbbbbbbbb", "service", 2_000)
        };
        let plain = api_key("aaaaaaaaaaaa", "admin", 3_000);
        store.insert_api_key(&scoped).await.expect("insert");
        store.insert_api_key(&plain).await.expect("insert");
        assert_eq!(
            store.api_key("bbbbbbbbbbbb").await.expect("read"),
            Some(scoped.clone())
        );
        assert_eq!(store.api_key("nope").await.expect("read"), None);
        assert_eq!(
            store.api_keys().await.expect("list"),
            vec![scoped.clone(), plain.clone()]
        );
        let duplicate = store.insert_api_key(&plain).await;
        assert!(
            matches!(duplicate, Err(Error::Database { .. })),
            "{duplicate:?}"
        );
        let with_nul = ApiKeyRecord {
            name: "a\0b".to_string(),
            ..api_key("cccccccccccc", "member", 1)
        };
        assert!(matches!(
            store.insert_api_key(&with_nul).await,
            Err(Error::InvalidValue { .. })
        ));
        assert!(
            !format!("{plain:?}").contains("254"),
            "Debug leaves the hash out"
        );
    })
    .await;
}

#[tokio::test]
async fn revoking_a_key_counts_once_and_keeps_the_first_time() {
    on_every_backend(|db| async move {
        let store = db.open().await;
        store
            .insert_api_key(&api_key("aaaaaaaaaaaa", "member", 1_000))
            .await
            .expect("insert");
        let before = chrono::Utc::now() - chrono::Duration::seconds(1);
        assert!(store.revoke_api_key("aaaaaaaaaaaa").await.expect("revoke"));
        let revoked_at = store
            .api_key("aaaaaaaaaaaa")
            .await
            .expect("read")
            .and_then(|key| key.revoked_at)
            .expect("revoked");
        assert!(revoked_at > before, "{revoked_at}");
        assert!(!store.revoke_api_key("aaaaaaaaaaaa").await.expect("again"));
        assert!(!store.revoke_api_key("unknown").await.expect("unknown"));
        let again = store.api_key("aaaaaaaaaaaa").await.expect("read");
        assert_eq!(again.and_then(|key| key.revoked_at), Some(revoked_at));
    })
    .await;
}

#[tokio::test]
async fn touching_a_key_never_moves_its_last_use_back() {
    on_every_backend(|db| async move {
        let store = db.open().await;
        store
            .insert_api_key(&api_key("aaaaaaaaaaaa", "member", 1_000))
            .await
            .expect("insert");
        let last_used = async || {
            store
                .api_key("aaaaaaaaaaaa")
                .await
                .expect("read")
                .expect("exists")
                .last_used_at
        };
        store
            .touch_api_key("aaaaaaaaaaaa", at(5_000))
            .await
            .expect("touch");
        assert_eq!(last_used().await, Some(at(5_000)));
        store
            .touch_api_key("aaaaaaaaaaaa", at(4_000))
            .await
            .expect("touch");
        assert_eq!(
            last_used().await,
            Some(at(5_000)),
            "an older time is ignored"
        );
        store
            .touch_api_key("aaaaaaaaaaaa", at(6_000))
            .await
            .expect("touch");
        assert_eq!(last_used().await, Some(at(6_000)));
        store
            .touch_api_key("unknown", at(6_000))
            .await
            .expect("touching an unknown key does nothing");
    })
    .await;
}

#[tokio::test]
async fn llm_calls_remember_the_key_they_were_made_with() {
    on_every_backend(|db| async move {
        let store = db.open().await;
        let call = |request_id: &str, key_id: Option<&str>, millis: i64| LlmCall {
            request_id: request_id.to_string(),
            feature: "openai_api".to_string(),
            role: "member".to_string(),
            key_id: key_id.map(str::to_string),
            model: "SmolLM2".to_string(),
            prompt_tokens: 1,
            completion_tokens: 2,
            latency_ms: 3,
            outcome: LlmOutcome::Ok,
            object_ids: Vec::new(),
            at: at(millis),
        };
        let calls = vec![
            call("r1", Some("aaaaaaaaaaaa"), 1_000),
            call("r2", None, 2_000),
        ];
        for recorded in &calls {
            store.record_llm_call(recorded).await.expect("record");
        }
        assert_eq!(store.llm_calls_since(at(0), 10).await.expect("log"), calls);
    })
    .await;
}
