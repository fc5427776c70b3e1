//! The change feed: what a write logs, what it must not log, tombstones,
//! consumer positions, and no skipped change under concurrent writers.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use steward_domain::{PostId, PostKind, UserId};
use steward_store::{
    Change, ChangeKey, ChangeOp, MAX_CHANGES_PER_READ, PostQuery, Store, StoredEmbedding,
    WriteBatch,
};

use super::{on_every_backend, post, question, sample_batch, tag, user};

/// The changes after `seq`, as `(op, key)` in seq order.
async fn logged_after(store: &Store, seq: i64) -> Vec<(ChangeOp, ChangeKey)> {
    store
        .changes_after(seq, MAX_CHANGES_PER_READ)
        .await
        .expect("read the feed")
        .into_iter()
        .map(|change| (change.op, change.key))
        .collect()
}

fn upsert(key: ChangeKey) -> (ChangeOp, ChangeKey) {
    (ChangeOp::Upsert, key)
}

#[tokio::test]
async fn a_first_write_logs_every_record_and_rewriting_it_logs_nothing() {
    on_every_backend(|db| async move {
        let store = db.open().await;
        assert_eq!(store.latest_change_seq().await.expect("seq"), 0);
        let batch = sample_batch();
        store.write(&batch).await.expect("first write");
        assert_eq!(
            logged_after(&store, 0).await,
            vec![
                upsert(ChangeKey::User(UserId(1))),
                upsert(ChangeKey::User(UserId(2))),
                upsert(ChangeKey::Post(PostId(1))),
                upsert(ChangeKey::Post(PostId(2))),
                upsert(ChangeKey::Tag("rust".to_string())),
                upsert(ChangeKey::Tag("tokio".to_string())),
                upsert(ChangeKey::PostLink(1)),
                upsert(ChangeKey::Event(1)),
            ]
        );
        let changes = store.changes_after(0, 100).await.expect("feed");
        assert!(changes.windows(2).all(|pair| pair[0].seq < pair[1].seq));
        let latest = store.latest_change_seq().await.expect("seq");
        assert_eq!(Some(latest), changes.last().map(|change| change.seq));

        store.write(&batch).await.expect("the same batch again");
        assert_eq!(
            store
                .insert_events(&batch.events)
                .await
                .expect("the same event"),
            0
        );
        assert_eq!(store.latest_change_seq().await.expect("seq"), latest);
        assert_eq!(logged_after(&store, latest).await, Vec::new());
    })
    .await;
}

#[tokio::test]
async fn an_edit_of_one_post_logs_exactly_one_upsert() {
    on_every_backend(|db| async move {
        let store = db.open().await;
        let posts = vec![
            question(1, &["rust"], 1_000),
            question(2, &["rust"], 2_000),
            question(3, &["go"], 3_000),
        ];
        let batch = WriteBatch {
            users: vec![user(1)],
            posts: posts.clone(),
            tags: vec![tag("rust")],
            ..WriteBatch::default()
        };
        store.write(&batch).await.expect("first write");
        let before = store.latest_change_seq().await.expect("seq");

        let mut edited = batch.clone();
        edited.posts[1].score = 7;
        store.write(&edited).await.expect("edit one post");
        assert_eq!(
            logged_after(&store, before).await,
            vec![upsert(ChangeKey::Post(PostId(2)))]
        );
        assert_eq!(
            store.post(PostId(2)).await.expect("read"),
            Some(edited.posts[1].clone())
        );

        // A change of tags alone is a change, and the tag index follows it.
        let before = store.latest_change_seq().await.expect("seq");
        edited.posts[2].tags = vec!["rust".to_string()];
        edited.tags[0].excerpt = Some("a language".to_string());
        store.write(&edited).await.expect("retag a post");
        assert_eq!(
            logged_after(&store, before).await,
            vec![
                upsert(ChangeKey::Post(PostId(3))),
                upsert(ChangeKey::Tag("rust".to_string())),
            ]
        );
        let rust = PostQuery {
            tag: Some("rust".to_string()),
            ..PostQuery::default()
        };
        assert_eq!(store.posts(&rust).await.expect("list").total, 3);
    })
    .await;
}

#[tokio::test]
async fn deleting_a_post_leaves_a_tombstone_and_the_post_is_gone() {
    on_every_backend(|db| async move {
        let store = db.open().await;
        store
            .write(&WriteBatch {
                users: vec![user(1), user(2)],
                posts: vec![
                    question(1, &["rust"], 1_000),
                    post(2, PostKind::Answer, Some(1), 2_000),
                ],
                ..WriteBatch::default()
            })
            .await
            .expect("write");
        let embedding = |post_id: i64| StoredEmbedding {
            post_id: PostId(post_id),
            model: "lsa".to_string(),
            content_hash: post_id,
            vector: vec![1.0, 2.0],
        };
        store
            .put_embeddings(&[embedding(1), embedding(2)])
            .await
            .expect("embed");
        let before = store.latest_change_seq().await.expect("seq");

        let deleted = store
            .delete_posts(&[PostId(1), PostId(99), PostId(1)])
            .await
            .expect("delete");
        assert_eq!(deleted, 1);
        assert_eq!(
            logged_after(&store, before).await,
            vec![(ChangeOp::Delete, ChangeKey::Post(PostId(1)))]
        );
        assert_eq!(store.post(PostId(1)).await.expect("read"), None);
        assert!(store.post(PostId(2)).await.expect("read").is_some());
        let rust = PostQuery {
            tag: Some("rust".to_string()),
            ..PostQuery::default()
        };
        assert_eq!(store.posts(&rust).await.expect("list").total, 0);
        let vectors = store
            .embeddings("lsa", &[PostId(1), PostId(2)])
            .await
            .expect("vectors");
        assert_eq!(vectors, vec![embedding(2)]);

        // Deleting what is gone logs nothing; writing it again brings it back.
        let tombstone = store.latest_change_seq().await.expect("seq");
        assert_eq!(store.delete_posts(&[PostId(1)]).await.expect("again"), 0);
        assert_eq!(store.delete_posts(&[]).await.expect("nothing"), 0);
        assert_eq!(logged_after(&store, tombstone).await, Vec::new());
        store
            .write(&WriteBatch {
                posts: vec![question(1, &["rust"], 1_000)],
                ..WriteBatch::default()
            })
            .await
            .expect("write again");
        assert_eq!(
            logged_after(&store, tombstone).await,
            vec![upsert(ChangeKey::Post(PostId(1)))]
        );
        assert_eq!(store.posts(&rust).await.expect("list").total, 1);

        let before = store.latest_change_seq().await.expect("seq");
        assert_eq!(
            store
                .delete_users(&[UserId(2), UserId(5)])
                .await
                .expect("delete users"),
            1
        );
        assert_eq!(store.user(UserId(2)).await.expect("read"), None);
        assert!(store.user(UserId(1)).await.expect("read").is_some());
        assert_eq!(
            logged_after(&store, before).await,
            vec![(ChangeOp::Delete, ChangeKey::User(UserId(2)))]
        );
    })
    .await;
}

#[tokio::test]
async fn consumer_positions_round_trip_and_survive_reopening() {
    on_every_backend(|db| async move {
        let store = db.open().await;
        let check = async |consumer: &str, expected: i64| {
            let position = store.consumer_position(consumer).await.expect("position");
            assert_eq!(position, expected, "{consumer}");
        };
        check("search", 0).await;
        store
            .set_consumer_position("search", 42)
            .await
            .expect("save");
        store
            .set_consumer_position("recsys", 7)
            .await
            .expect("save");
        check("search", 42).await;
        store
            .set_consumer_position("search", 3)
            .await
            .expect("rewind");
        check("search", 3).await;
        check("recsys", 7).await;
        store.close().await;
        let reopened = db.open().await;
        assert_eq!(
            reopened
                .consumer_position("search")
                .await
                .expect("reopened"),
            3
        );
    })
    .await;
}

#[tokio::test]
async fn posts_by_ids_come_in_the_callers_order() {
    on_every_backend(|db| async move {
        let store = db.open().await;
        store
            .write(&WriteBatch {
                posts: (1..=5).map(|id| question(id, &[], id * 10)).collect(),
                ..WriteBatch::default()
            })
            .await
            .expect("write");
        let check = async |ids: &[i64], expected: &[i64]| {
            let ids: Vec<PostId> = ids.iter().copied().map(PostId).collect();
            let found = store.posts_by_ids(&ids).await.expect("read");
            let found: Vec<i64> = found.iter().map(|post| post.id.0).collect();
            assert_eq!(found, expected, "{ids:?}");
        };
        check(&[3, 1, 5], &[3, 1, 5]).await;
        check(&[9, 2, 8], &[2]).await;
        check(&[4, 4], &[4]).await;
        check(&[], &[]).await;
        let many: Vec<i64> = (0..1_000).rev().collect();
        check(&many, &[5, 4, 3, 2, 1]).await;
    })
    .await;
}

/// The regression this guards: on PostgreSQL a writer that draws seq 10 can
/// commit after one that drew 11; a consumer that read up to 11 in between
/// would never see 10.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writers_never_let_a_consumer_skip_a_change() {
    const WRITERS: i64 = 8;
    const BATCHES: i64 = 50;
    const POSTS_PER_BATCH: i64 = 2;
    on_every_backend(|db| async move {
        let mut options = db.options();
        options.max_connections = WRITERS as u32 + 2;
        let store = Store::open_with(options).await.expect("open");
        let writers_done = Arc::new(AtomicBool::new(false));

        let reader = tokio::spawn({
            let store = store.clone();
            let writers_done = Arc::clone(&writers_done);
            async move {
                let mut seen: Vec<i64> = Vec::new();
                loop {
                    // Read the flag first: the poll after it sees every commit.
                    let finished = writers_done.load(Ordering::SeqCst);
                    let position = store.consumer_position("reader").await.expect("position");
                    let changes: Vec<Change> =
                        store.changes_after(position, 37).await.expect("poll");
                    for change in &changes {
                        assert!(change.seq > position);
                        seen.push(change.seq);
                    }
                    match changes.last() {
                        Some(last) => store
                            .set_consumer_position("reader", last.seq)
                            .await
                            .expect("checkpoint"),
                        None if finished => break,
                        None => tokio::time::sleep(std::time::Duration::from_millis(1)).await,
                    }
                }
                seen
            }
        });

        let writers: Vec<_> = (0..WRITERS)
            .map(|writer| {
                let store = store.clone();
                tokio::spawn(async move {
                    for batch in 0..BATCHES {
                        let first = (writer * BATCHES + batch) * POSTS_PER_BATCH;
                        let posts = (first..first + POSTS_PER_BATCH)
                            .map(|id| question(id, &["rust"], id))
                            .collect();
                        store
                            .write(&WriteBatch {
                                posts,
                                ..WriteBatch::default()
                            })
                            .await
                            .expect("write");
                    }
                })
            })
            .collect();
        for writer in writers {
            writer.await.expect("a writer finishes");
        }
        writers_done.store(true, Ordering::SeqCst);
        let seen = reader.await.expect("the reader finishes");

        let all: Vec<i64> = store
            .changes_after(0, MAX_CHANGES_PER_READ)
            .await
            .expect("the whole feed")
            .iter()
            .map(|change| change.seq)
            .collect();
        assert_eq!(all.len() as i64, WRITERS * BATCHES * POSTS_PER_BATCH);
        assert_eq!(seen, all, "the reader saw every change once, in order");
    })
    .await;
}
