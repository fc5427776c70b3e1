//! The BM25 index over a real store: built from scratch, kept current by the
//! change feed (edits, new posts, deleted questions and answers), filtered,
//! searched in English, Chinese and code, reopened from disk; on SQLite and
//! (when `TEST_DATABASE_URL` is set, always under `CI=true`) PostgreSQL.

use std::collections::BTreeSet;

use steward_domain::{Post, PostId, PostKind};
use steward_jobs::JobHandle;
use steward_search::{Error, Filters, IndexReport, LexicalHit, LexicalIndex};
use steward_store::{Store, WriteBatch};
use steward_testkit::fixtures::{post, time, user};
use steward_testkit::{TestDb, on_every_backend};

struct Spec<'a> {
    id: i64,
    kind: PostKind,
    parent: Option<i64>,
    title: Option<&'a str>,
    body: &'a str,
    code: &'a [&'a str],
    tags: &'a [&'a str],
    score: i64,
    created: &'a str,
}

impl Default for Spec<'_> {
    fn default() -> Self {
        Spec {
            id: 0,
            kind: PostKind::Question,
            parent: None,
            title: None,
            body: "",
            code: &[],
            tags: &[],
            score: 0,
            created: "2024-01-01T00:00:00Z",
        }
    }
}

fn make(spec: Spec<'_>) -> Post {
    Post {
        title: spec.title.map(str::to_string),
        body_html: format!("<p>{}</p>", spec.body),
        body_text: spec.body.to_string(),
        code_blocks: spec.code.iter().map(|block| block.to_string()).collect(),
        tags: spec.tags.iter().map(|tag| tag.to_string()).collect(),
        score: spec.score,
        created_at: time(spec.created),
        ..post(spec.id, spec.kind, spec.parent, 0)
    }
}

fn answer(id: i64, parent: i64, score: i64, body: &str) -> Post {
    make(Spec {
        id,
        kind: PostKind::Answer,
        parent: Some(parent),
        body,
        score,
        created: "2024-07-01T00:00:00Z",
        ..Spec::default()
    })
}

/// Six threads: a Rust file question with an accepted and an up-voted answer
/// and a comment; a tokio question with the macro only in its code; a Chinese
/// question with an answer; an article on C++17 and .NET; two questions whose
/// only mention of `chrono` is in an answer, accepted in one, not in the other.
fn community() -> Vec<Post> {
    let mut file_question = make(Spec {
        id: 100,
        title: Some("How do I read a whole file into a String in Rust?"),
        body: "I want to load a text file into memory.",
        tags: &["rust", "io"],
        created: "2024-01-01T00:00:00Z",
        ..Spec::default()
    });
    file_question.accepted_answer_id = Some(PostId(101));
    let mut dates = make(Spec {
        id: 600,
        title: Some("Parsing dates"),
        body: "Which crate parses timestamps?",
        created: "2024-02-01T00:00:00Z",
        ..Spec::default()
    });
    dates.accepted_answer_id = Some(PostId(601));
    vec![
        file_question,
        answer(
            101,
            100,
            0,
            "Use std::fs::read_to_string, the idiomatic way.",
        ),
        answer(102, 100, 3, "Or open it with a BufReader."),
        make(Spec {
            id: 103,
            kind: PostKind::Comment,
            parent: Some(100),
            body: "What about the encoding?",
            ..Spec::default()
        }),
        make(Spec {
            id: 200,
            title: Some("Waiting on two futures"),
            body: "How can I wait for whichever finishes first?",
            code: &["loop { tokio::select! { a = rx.recv() => {}, _ = sleep(d) => {} } }"],
            tags: &["rust", "tokio"],
            created: "2024-06-01T00:00:00Z",
            ..Spec::default()
        }),
        make(Spec {
            id: 300,
            title: Some("如何训练神经网络？"),
            body: "神经网络的反向传播算法是如何工作的？",
            tags: &["machine-learning"],
            created: "2023-03-01T00:00:00Z",
            ..Spec::default()
        }),
        answer(301, 300, 1, "反向传播用链式法则计算梯度。"),
        make(Spec {
            id: 400,
            kind: PostKind::Article,
            title: Some("Release notes for our toolchain"),
            body: "Builds now support C++17, and .NET 8 on Linux.",
            tags: &["announcements"],
            created: "2024-09-01T00:00:00Z",
            ..Spec::default()
        }),
        dates,
        answer(601, 600, 0, "Try the chrono crate."),
        make(Spec {
            id: 700,
            title: Some("Formatting times"),
            body: "How do I print an hour?",
            created: "2024-03-01T00:00:00Z",
            ..Spec::default()
        }),
        answer(701, 700, 0, "Try the chrono crate."),
    ]
}

async fn write(store: &Store, posts: Vec<Post>) {
    store
        .write(&WriteBatch {
            users: vec![user(1)],
            posts,
            ..WriteBatch::default()
        })
        .await
        .expect("posts written");
}

async fn community_store(db: &TestDb) -> Store {
    let store = db.open().await;
    write(&store, community()).await;
    store
}

async fn built(store: &Store) -> LexicalIndex {
    let index = LexicalIndex::in_ram().expect("an index in memory");
    index
        .rebuild(store, &JobHandle::new())
        .await
        .expect("rebuilt");
    index
}

async fn catch_up(index: &LexicalIndex, store: &Store) -> IndexReport {
    index
        .catch_up(store, &JobHandle::new())
        .await
        .expect("caught up")
}

fn search(index: &LexicalIndex, query: &str) -> Vec<LexicalHit> {
    search_filtered(index, query, &Filters::default())
}

fn search_filtered(index: &LexicalIndex, query: &str, filters: &Filters) -> Vec<LexicalHit> {
    index.search(query, filters, 10).expect("searched")
}

fn ids(hits: &[LexicalHit]) -> Vec<i64> {
    hits.iter().map(|hit| hit.post_id.0).collect()
}

#[tokio::test]
async fn rebuild_then_search_finds_the_right_thread() {
    on_every_backend(|db| async move {
        let store = community_store(&db).await;
        let index = LexicalIndex::in_ram().expect("an index in memory");
        let job = JobHandle::new();
        let report = index.rebuild(&store, &job).await.expect("rebuilt");
        let head = store.latest_change_seq().await.expect("feed head");
        assert_eq!(
            report,
            IndexReport {
                mode: "rebuild",
                indexed: 6,
                deleted: 0,
                position: head,
            }
        );
        let progress = job.progress();
        assert_eq!(progress.phase, "indexing");
        assert_eq!(progress.done, 12, "every post and comment scanned");
        assert_eq!(progress.total, Some(12));

        let hits = search(&index, "read a file in rust");
        assert_eq!(hits[0].post_id, PostId(100), "{hits:?}");
        assert_eq!(
            hits[0].title.as_deref(),
            Some("How do I read a whole file into a String in Rust?")
        );
        assert!(hits[0].matched_terms.contains(&"read".to_string()));
        assert!(
            hits[0].snippet.contains("<mark>file</mark>"),
            "{}",
            hits[0].snippet
        );

        // Answers are part of their thread; comments are not indexed.
        assert_eq!(ids(&search(&index, "read_to_string")), [100]);
        assert_eq!(ids(&search(&index, "BufReader")), [100]);
        assert!(search(&index, "encoding").is_empty());
        // Answers are folded in, never hits of their own.
        assert!(
            ids(&search(&index, "crate"))
                .iter()
                .all(|id| [600, 700].contains(id))
        );

        let status = index.status().expect("status");
        assert_eq!(status.documents, 6);
        assert_eq!(status.position, head);
        assert!(status.size_bytes > 0);
        assert_eq!(status.dir, None);
    })
    .await;
}

#[tokio::test]
async fn an_accepted_answer_counts_more_than_an_unvoted_one() {
    on_every_backend(|db| async move {
        let store = community_store(&db).await;
        let index = built(&store).await;
        let hits = search(&index, "chrono");
        assert_eq!(ids(&hits), [600, 700]);
        assert!(hits[0].score > hits[1].score, "{hits:?}");
        // The match is in an answer only: the snippet is the body's beginning.
        assert_eq!(hits[0].snippet, "Which crate parses timestamps?");
        assert_eq!(hits[0].matched_terms, ["chrono"]);
    })
    .await;
}

#[tokio::test]
async fn a_chinese_query_finds_the_chinese_thread() {
    on_every_backend(|db| async move {
        let store = community_store(&db).await;
        let index = built(&store).await;
        for query in ["反向传播", "神经网络", "链式法则"] {
            let hits = search(&index, query);
            assert_eq!(ids(&hits), [300], "{query}");
        }
        let hits = search(&index, "反向传播");
        assert!(
            hits[0].snippet.contains("<mark>反向传播</mark>")
                || hits[0].snippet.contains("<mark>传播</mark>"),
            "{}",
            hits[0].snippet
        );
    })
    .await;
}

#[tokio::test]
async fn code_identifiers_find_the_thread_with_them_in_its_code() {
    on_every_backend(|db| async move {
        let store = community_store(&db).await;
        let index = built(&store).await;
        for query in ["tokio::select", "tokio::select!", "select!"] {
            let hits = search(&index, query);
            assert_eq!(ids(&hits)[0], 200, "{query}: {hits:?}");
        }
        let hits = search(&index, "tokio::select!");
        assert!(
            hits[0]
                .matched_terms
                .contains(&"tokio::select!".to_string()),
            "{hits:?}"
        );
        // The body does not mention it: the snippet comes from the code.
        assert!(
            hits[0].snippet.contains("<mark>tokio::select!</mark>"),
            "{}",
            hits[0].snippet
        );
        assert_eq!(ids(&search(&index, "C++17")), [400]);
        assert_eq!(ids(&search(&index, ".NET")), [400]);
    })
    .await;
}

#[tokio::test]
async fn filters_narrow_by_tags_answers_dates_and_kinds() {
    on_every_backend(|db| async move {
        let store = db.open().await;
        let thread = |id: i64, kind: PostKind, tags: &'static [&'static str], created: &str| {
            make(Spec {
                id,
                kind,
                title: Some("A thread"),
                body: "notes about testing",
                tags,
                created,
                ..Spec::default()
            })
        };
        let mut accepted = thread(
            3,
            PostKind::Question,
            &["python", "async"],
            "2024-03-10T00:00:00Z",
        );
        accepted.accepted_answer_id = Some(PostId(31));
        write(
            &store,
            vec![
                thread(
                    1,
                    PostKind::Question,
                    &["rust", "async"],
                    "2024-01-10T00:00:00Z",
                ),
                answer(11, 1, 0, "an answer"),
                thread(2, PostKind::Question, &["rust"], "2024-02-10T00:00:00Z"),
                accepted,
                answer(31, 3, 0, "the accepted answer"),
                thread(4, PostKind::Article, &["rust"], "2024-04-10T00:00:00Z"),
                thread(5, PostKind::Wiki, &[], "2024-05-10T00:00:00Z"),
            ],
        )
        .await;
        let index = built(&store).await;
        let check = |filters: Filters, expected: &[i64]| {
            let found: BTreeSet<i64> = ids(&search_filtered(&index, "testing", &filters))
                .into_iter()
                .collect();
            let expected: BTreeSet<i64> = expected.iter().copied().collect();
            assert_eq!(found, expected, "{filters:?}");
        };
        let tags = |names: &[&str]| names.iter().map(|name| name.to_string()).collect();
        check(Filters::default(), &[1, 2, 3, 4, 5]);
        check(
            Filters {
                tags: tags(&["rust"]),
                ..Filters::default()
            },
            &[1, 2, 4],
        );
        check(
            Filters {
                tags: tags(&["Rust"]),
                ..Filters::default()
            },
            &[1, 2, 4],
        );
        check(
            Filters {
                tags: tags(&["rust", "async"]),
                ..Filters::default()
            },
            &[1],
        );
        check(
            Filters {
                tags: tags(&["go"]),
                ..Filters::default()
            },
            &[],
        );
        check(
            Filters {
                answered: Some(true),
                ..Filters::default()
            },
            &[1, 3],
        );
        check(
            Filters {
                answered: Some(false),
                ..Filters::default()
            },
            &[2, 4, 5],
        );
        check(
            Filters {
                created_from: Some(time("2024-02-10T00:00:00Z")),
                created_to: Some(time("2024-04-10T00:00:00Z")),
                ..Filters::default()
            },
            &[2, 3],
        );
        check(
            Filters {
                created_from: Some(time("2024-04-01T00:00:00Z")),
                ..Filters::default()
            },
            &[4, 5],
        );
        check(
            Filters {
                created_to: Some(time("2024-01-10T00:00:01Z")),
                ..Filters::default()
            },
            &[1],
        );
        check(
            Filters {
                kinds: vec![PostKind::Article, PostKind::Wiki],
                ..Filters::default()
            },
            &[4, 5],
        );
        check(
            Filters {
                kinds: vec![PostKind::Question],
                tags: tags(&["async"]),
                answered: Some(true),
                ..Filters::default()
            },
            &[1, 3],
        );
        // Filters narrow, they do not score: the same thread scores the same.
        let plain = search(&index, "testing");
        let filtered = search_filtered(
            &index,
            "testing",
            &Filters {
                tags: tags(&["rust"]),
                ..Filters::default()
            },
        );
        let score_of = |hits: &[LexicalHit], id: i64| {
            hits.iter()
                .find(|hit| hit.post_id.0 == id)
                .map(|hit| hit.score)
        };
        assert_eq!(score_of(&plain, 2), score_of(&filtered, 2));
    })
    .await;
}

#[tokio::test]
async fn edits_and_new_posts_show_after_catching_up() {
    on_every_backend(|db| async move {
        let store = community_store(&db).await;
        let index = built(&store).await;
        assert_eq!(ids(&search(&index, "whichever")), [200]);

        let mut edited = community()
            .into_iter()
            .find(|post| post.id == PostId(200))
            .expect("question 200");
        edited.title = Some("Racing two channels".to_string());
        edited.body_text = "Which receiver gets its message first?".to_string();
        write(&store, vec![edited]).await;
        // Not before catching up.
        assert_eq!(ids(&search(&index, "whichever")), [200]);
        assert!(search(&index, "channels").is_empty());

        let report = catch_up(&index, &store).await;
        let head = store.latest_change_seq().await.expect("feed head");
        assert_eq!(
            report,
            IndexReport {
                mode: "changes",
                indexed: 1,
                deleted: 0,
                position: head,
            }
        );
        assert!(search(&index, "whichever").is_empty());
        assert_eq!(ids(&search(&index, "channels")), [200]);

        // An edited answer re-indexes its thread; a new question is added.
        write(
            &store,
            vec![
                answer(102, 100, 3, "Or mmap it."),
                make(Spec {
                    id: 800,
                    title: Some("Memory-mapped files"),
                    body: "Is mmap safe?",
                    ..Spec::default()
                }),
            ],
        )
        .await;
        let report = catch_up(&index, &store).await;
        assert_eq!((report.indexed, report.deleted), (2, 0));
        assert_eq!(
            ids(&search(&index, "mmap"))
                .into_iter()
                .collect::<BTreeSet<_>>(),
            BTreeSet::from([100, 800])
        );
        assert!(search(&index, "BufReader").is_empty());
        assert_eq!(index.status().expect("status").documents, 7);

        // Nothing new: nothing done, the position stays.
        let again = catch_up(&index, &store).await;
        assert_eq!((again.indexed, again.deleted), (0, 0));
        assert_eq!(
            again.position,
            store.latest_change_seq().await.expect("head")
        );
    })
    .await;
}

#[tokio::test]
async fn deleting_a_question_removes_its_thread() {
    on_every_backend(|db| async move {
        let store = community_store(&db).await;
        let index = built(&store).await;
        assert_eq!(ids(&search(&index, "tokio")), [200]);
        store.delete_posts(&[PostId(200)]).await.expect("deleted");
        let report = catch_up(&index, &store).await;
        assert_eq!((report.indexed, report.deleted), (0, 1));
        assert!(search(&index, "tokio").is_empty());
        assert_eq!(index.status().expect("status").documents, 5);
    })
    .await;
}

#[tokio::test]
async fn deleting_an_answer_reindexes_its_thread() {
    on_every_backend(|db| async move {
        let store = community_store(&db).await;
        let index = built(&store).await;
        assert_eq!(ids(&search(&index, "idiomatic")), [100]);
        store.delete_posts(&[PostId(101)]).await.expect("deleted");
        let report = catch_up(&index, &store).await;
        assert_eq!((report.indexed, report.deleted), (1, 0));
        assert!(search(&index, "idiomatic").is_empty());
        assert_eq!(ids(&search(&index, "BufReader")), [100]);
        assert_eq!(index.status().expect("status").documents, 6);

        // A thread whose last answer goes is unanswered again.
        let unanswered = Filters {
            answered: Some(false),
            ..Filters::default()
        };
        assert!(!ids(&search_filtered(&index, "timestamps", &unanswered)).contains(&600));
        store.delete_posts(&[PostId(601)]).await.expect("deleted");
        let mut dates = community()
            .into_iter()
            .find(|post| post.id == PostId(600))
            .expect("question 600");
        dates.accepted_answer_id = None;
        write(&store, vec![dates]).await;
        catch_up(&index, &store).await;
        assert_eq!(
            ids(&search_filtered(&index, "timestamps", &unanswered)),
            [600]
        );
    })
    .await;
}

#[tokio::test]
async fn a_reopened_index_keeps_its_documents_and_position() {
    on_every_backend(|db| async move {
        let store = community_store(&db).await;
        let directory = tempfile::tempdir().expect("a temporary directory");
        let path = directory.path().join("lexical");
        let status = {
            let index = LexicalIndex::open(&path).expect("created");
            assert_eq!(index.status().expect("status").position, 0);
            index
                .rebuild(&store, &JobHandle::new())
                .await
                .expect("rebuilt");
            index.status().expect("status")
        };
        assert_eq!(status.dir.as_deref(), Some(path.as_path()));
        assert_eq!(status.documents, 6);

        let reopened = LexicalIndex::open(&path).expect("reopened");
        let again = reopened.status().expect("status");
        assert_eq!(
            (again.documents, again.position),
            (status.documents, status.position)
        );
        assert_eq!(ids(&search(&reopened, "tokio")), [200]);

        // It follows the feed from where it was, not from scratch.
        write(
            &store,
            vec![make(Spec {
                id: 900,
                title: Some("Reopened indexes"),
                body: "persistence works",
                ..Spec::default()
            })],
        )
        .await;
        let report = catch_up(&reopened, &store).await;
        assert_eq!((report.mode, report.indexed), ("changes", 1));
        assert_eq!(ids(&search(&reopened, "persistence")), [900]);
    })
    .await;
}

#[tokio::test]
async fn catching_up_a_never_built_index_builds_it() {
    on_every_backend(|db| async move {
        let store = community_store(&db).await;
        let index = LexicalIndex::in_ram().expect("an index in memory");
        let report = catch_up(&index, &store).await;
        assert_eq!((report.mode, report.indexed), ("rebuild", 6));
        assert_eq!(ids(&search(&index, "tokio")), [200]);
    })
    .await;
}

#[tokio::test]
async fn a_cancelled_job_leaves_a_consistent_index() {
    on_every_backend(|db| async move {
        let store = community_store(&db).await;
        let index = built(&store).await;
        let before = index.status().expect("status");
        store
            .delete_posts(&[PostId(200)])
            .await
            .expect("deleted");

        let cancelled = JobHandle::new();
        cancelled.cancel();
        let rebuild = index.rebuild(&store, &cancelled).await;
        assert!(
            matches!(rebuild, Err(Error::Cancelled { position }) if position == before.position),
            "{rebuild:?}"
        );
        let catch_up_outcome = index.catch_up(&store, &cancelled).await;
        assert!(
            matches!(catch_up_outcome, Err(Error::Cancelled { position }) if position == before.position),
            "{catch_up_outcome:?}"
        );
        // Still the index as it was, searchable, and the next run finishes the job.
        assert_eq!(index.status().expect("status"), before);
        assert_eq!(ids(&search(&index, "tokio")), [200]);
        catch_up(&index, &store).await;
        assert!(search(&index, "tokio").is_empty());
    })
    .await;
}

#[tokio::test]
async fn an_index_of_another_layout_asks_for_a_rebuild() {
    let directory = tempfile::tempdir().expect("a temporary directory");
    {
        let mut builder = tantivy::schema::Schema::builder();
        builder.add_text_field("body", tantivy::schema::TEXT);
        tantivy::Index::create_in_dir(directory.path(), builder.build()).expect("a foreign index");
    }
    let error = LexicalIndex::open(directory.path()).expect_err("refused");
    assert!(matches!(error, Error::SchemaMismatch { .. }), "{error:?}");
    let message = error.to_string();
    assert!(message.contains("steward index build"), "{message}");

    // What the build command does then: replace it, and fill it.
    let db = TestDb::sqlite();
    let store = community_store(&db).await;
    let index = LexicalIndex::recreate(directory.path()).expect("recreated");
    assert_eq!(index.status().expect("status").documents, 0);
    index
        .rebuild(&store, &JobHandle::new())
        .await
        .expect("rebuilt");
    drop(index);
    let reopened = LexicalIndex::open(directory.path()).expect("ours now");
    assert_eq!(ids(&search(&reopened, "tokio")), [200]);
}

fn tag(name: &str, synonyms: &[&str]) -> steward_domain::Tag {
    steward_domain::Tag {
        name: name.to_string(),
        count: 1,
        excerpt: None,
        wiki: None,
        synonyms: synonyms.iter().map(|synonym| synonym.to_string()).collect(),
    }
}

#[tokio::test]
async fn a_tag_synonym_in_the_query_finds_threads_by_their_tag() {
    on_every_backend(|db| async move {
        let store = community_store(&db).await;
        let index = built(&store).await;
        // Nothing in the community says "ml" or "深度学习"...
        assert!(
            search(&index, "ml 反向传播 basics")
                .iter()
                .all(|hit| hit.post_id.0 == 300)
        );
        assert!(search(&index, "ml").is_empty());
        assert!(index.expansions("ml").is_empty());

        // ...until the community says they mean its machine-learning tag: the
        // next catch-up reads the synonyms, no thread is re-indexed.
        store
            .write(&WriteBatch {
                tags: vec![tag("machine-learning", &["ml", "深度学习"])],
                ..WriteBatch::default()
            })
            .await
            .expect("tag written");
        let report = catch_up(&index, &store).await;
        assert_eq!(report.indexed, 0, "{report:?}");
        let expansions = index.expansions("How do I start with ML?");
        assert_eq!(expansions.len(), 1, "{expansions:?}");
        assert_eq!(expansions[0].from, "ml");
        assert_eq!(expansions[0].tag, "machine-learning");
        assert_eq!(ids(&search(&index, "ml")), [300]);
        assert_eq!(ids(&search(&index, "深度学习")), [300]);
        // An expansion adds to the query: its other words still find their
        // threads, and the tag's words count as matched.
        let hits = search(&index, "ml file");
        let found = ids(&hits);
        assert!(found.contains(&100) && found.contains(&300), "{found:?}");
        let learning = hits.iter().find(|hit| hit.post_id.0 == 300).expect("found");
        assert!(
            learning.matched_terms.iter().any(|term| term == "machine"),
            "{:?}",
            learning.matched_terms
        );
    })
    .await;
}
