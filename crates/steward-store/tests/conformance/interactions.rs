//! What the recommender reads: events in insertion order and by id, one
//! user's events, and lean post rows (all, by id, by owner).

use steward_domain::{EventKind, EventTarget, PostId, PostKind, UserId};
use steward_store::WriteBatch;

use super::{on_every_backend, post, question, user};
use steward_testkit::fixtures::event;

#[tokio::test]
async fn events_come_back_in_insertion_order_by_page_by_id_and_by_user() {
    on_every_backend(|db| async move {
        let store = db.open().await;
        let events = vec![
            event("a", 1, EventKind::Favorite, EventTarget::Post(PostId(10))),
            event("b", 2, EventKind::Answer, EventTarget::Post(PostId(10))),
            event(
                "c",
                1,
                EventKind::NotInterested,
                EventTarget::Post(PostId(11)),
            ),
            event("d", 1, EventKind::Follow, EventTarget::Tag("rust".into())),
        ];
        store.insert_events(&events).await.expect("insert");

        let first = store.events_after(0, 2).await.expect("page 1");
        assert_eq!(
            first
                .iter()
                .map(|stored| stored.event.key.as_str())
                .collect::<Vec<_>>(),
            ["a", "b"]
        );
        let rest = store.events_after(first[1].id, 10).await.expect("page 2");
        assert_eq!(
            rest.iter()
                .map(|stored| stored.event.key.as_str())
                .collect::<Vec<_>>(),
            ["c", "d"]
        );
        assert_eq!(rest[0].event.kind, EventKind::NotInterested);

        let by_id = store
            .events_by_ids(&[rest[1].id, first[0].id, 999_999])
            .await
            .expect("by id");
        assert_eq!(
            by_id
                .iter()
                .map(|stored| stored.event.key.as_str())
                .collect::<Vec<_>>(),
            ["a", "d"],
            "in id order, a missing id skipped"
        );

        let mine = store.user_events(UserId(1), 2).await.expect("user 1");
        assert_eq!(
            mine.iter()
                .map(|stored| stored.event.key.as_str())
                .collect::<Vec<_>>(),
            ["c", "d"],
            "the most recent `limit`, oldest first"
        );
        assert!(
            store
                .user_events(UserId(3), 10)
                .await
                .expect("nobody")
                .is_empty()
        );
    })
    .await;
}

#[tokio::test]
async fn post_meta_skips_comments_and_keeps_thread_owner_and_tags() {
    on_every_backend(|db| async move {
        let store = db.open().await;
        let mut answer = post(2, PostKind::Answer, Some(1), 2_000);
        answer.owner_id = Some(UserId(2));
        let mut asked = question(1, &["rust", "tokio"], 1_000);
        asked.accepted_answer_id = Some(PostId(2));
        asked.answer_count = 1;
        let mut closed = question(5, &["go"], 5_000);
        closed.closed_at = Some(steward_testkit::fixtures::at(6_000));
        let batch = WriteBatch {
            users: vec![user(1), user(2)],
            posts: vec![
                asked,
                answer,
                post(3, PostKind::Comment, Some(1), 3_000),
                question(4, &["go"], 4_000),
                closed,
            ],
            ..WriteBatch::default()
        };
        store.write(&batch).await.expect("write");

        let all = store.post_meta_after(None, 10).await.expect("all");
        assert_eq!(
            all.iter().map(|meta| meta.id.0).collect::<Vec<_>>(),
            [1, 2, 4, 5]
        );
        assert_eq!(all[0].tags, ["rust", "tokio"]);
        assert_eq!(all[0].accepted_answer_id, Some(PostId(2)));
        assert_eq!(all[1].parent_id, Some(PostId(1)));
        assert_eq!(all[1].kind, PostKind::Answer);
        let after = store
            .post_meta_after(Some(PostId(2)), 10)
            .await
            .expect("after 2");
        assert_eq!(
            after.iter().map(|meta| meta.id.0).collect::<Vec<_>>(),
            [4, 5]
        );

        let by_id = store
            .post_meta_by_ids(&[PostId(4), PostId(1), PostId(99)])
            .await
            .expect("by id");
        assert_eq!(
            by_id.iter().map(|meta| meta.id.0).collect::<Vec<_>>(),
            [1, 4]
        );

        let owned = store.posts_by_owner(UserId(1), 10).await.expect("owner 1");
        assert_eq!(
            owned.iter().map(|meta| meta.id.0).collect::<Vec<_>>(),
            [1, 4, 5],
            "oldest first, comments left out"
        );
        let open = store.unanswered_questions(10).await.expect("unanswered");
        assert_eq!(
            open.iter().map(|meta| meta.id.0).collect::<Vec<_>>(),
            [4],
            "answered and closed questions are not open"
        );
        let answered = store.posts_by_owner(UserId(2), 10).await.expect("owner 2");
        assert_eq!(
            answered.iter().map(|meta| meta.id.0).collect::<Vec<_>>(),
            [2]
        );
    })
    .await;
}
