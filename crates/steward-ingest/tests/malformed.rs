//! The malformed-input corpus: every value a hostile probe found accepted,
//! wrapped or overwritten, written here into a temporary directory (no
//! generator script, nothing committed but this file), imported into real
//! SQLite and PostgreSQL, and checked to be a located skip (or a documented
//! normalisation) while every good row around it is kept as it was.

use std::path::Path;

use steward_domain::{PostId, PostKind};
use steward_ingest::jsonl::{JsonlOptions, import_jsonl};
use steward_ingest::report::ImportReport;
use steward_ingest::stackexchange::{DumpOptions, import_dump};
use steward_jobs::JobHandle;
use steward_store::Store;
use steward_testkit::TestDb;

const CREATED: &str = r#"CreationDate="2016-08-02T15:39:14.947""#;

/// Writes a dump file: the XML wrapper around `rows`, one per line, so that
/// row n (from 1) is on line n + 2.
fn write_dump_file(dir: &Path, file: &str, element: &str, rows: &[String]) {
    let mut text = format!("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<{element}>\n");
    for row in rows {
        text.push_str(&format!("  <row {row} />\n"));
    }
    text.push_str(&format!("</{element}>\n"));
    std::fs::write(dir.join(file), text).expect("dump file written");
}

/// `(file, line, code)` of every skip, in report order.
fn skips(report: &ImportReport) -> Vec<(String, u64, &'static str)> {
    assert!(
        report.skips.len() as u64 == report.total_skipped,
        "{report}"
    );
    report
        .skips
        .iter()
        .map(|skip| (skip.file.clone(), skip.line, skip.reason.code()))
        .collect()
}

fn located(file: &str, rows: &[(u64, &'static str)]) -> Vec<(String, u64, &'static str)> {
    rows.iter()
        .map(|(line, code)| (file.to_string(), *line, *code))
        .collect()
}

async fn on_every_backend<F, Fut>(test: F)
where
    F: Fn(Store) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let sqlite = TestDb::sqlite();
    test(sqlite.open().await).await;
    if let Some(postgres) = TestDb::postgres() {
        let store = postgres.open().await;
        test(store.clone()).await;
        store.close().await;
        postgres.cleanup().await;
    }
}

/// The dump of the corpus: good rows first in each file, then one bad row per
/// finding. Returns what the import must report.
fn write_hostile_dump(dir: &Path) -> Vec<(String, u64, &'static str)> {
    let question = |id: &str, extra: &str| {
        format!(
            r#"Id="{id}" PostTypeId="1" Title="Q{id}" Body="&lt;p&gt;q&lt;/p&gt;" Tags="&lt;a&gt;&lt;b&gt;" {CREATED} {extra}"#
        )
    };
    let answer = |id: &str, parent: &str| {
        format!(r#"Id="{id}" PostTypeId="2" ParentId="{parent}" Body="a" {CREATED}"#)
    };
    let posts = [
        question("12", ""),
        answer("13", "12"),
        question("100", ""),
        question("-5", ""),
        question("0", ""),
        question("1099511627776", ""),
        question("1099511627876", ""),
        question("9223372036854775807", ""),
        r#"Id="20" PostTypeId="1" Body="x" CreationDate="0000-01-01T00:00:00""#.to_string(),
        r#"Id="21" PostTypeId="1" Body="x" CreationDate="9999-12-31T00:00:00""#.to_string(),
        format!(r#"Id="22" PostTypeId="1" Title="a&#x1B;[31m" Body="x" {CREATED}"#),
        format!("Id=\"23\" PostTypeId=\"1\" Title=\"raw \u{1} control\" Body=\"x\" {CREATED}"),
        answer("24", "13"),
        answer("25", "25"),
        answer("26", "1099511627777"),
        format!(r#"Id="27" PostTypeId="1" ParentId="12" Body="x" {CREATED}"#),
    ];
    write_dump_file(dir, "Posts.xml", "posts", &posts);
    let comment = |id: &str, post: &str| {
        format!(r#"Id="{id}" PostId="{post}" Text="c{id}" UserId="5" {CREATED}"#)
    };
    let comments = [
        comment("1", "12"),
        comment("100", "12"),
        comment("-1099511627764", "13"),
        comment("9223372036854775807", "13"),
        comment("0", "13"),
        comment("3", "99999"),
        comment("4", "1099511627777"),
    ];
    write_dump_file(dir, "Comments.xml", "comments", &comments);
    let vote = |id: &str, post: &str, kind: &str| {
        format!(r#"Id="{id}" PostId="{post}" VoteTypeId="{kind}" {CREATED}"#)
    };
    let votes = [
        vote("1", "12", "2"),
        vote("2", "12", "999"),
        vote("3", "12", "-3"),
        vote("4", "13", "3"),
        vote("5", "-12", "2"),
    ];
    write_dump_file(dir, "Votes.xml", "votes", &votes);
    let links = [
        format!(r#"Id="1" PostId="100" RelatedPostId="12" LinkTypeId="1" {CREATED}"#),
        format!(r#"Id="2" PostId="12" RelatedPostId="12" LinkTypeId="3" {CREATED}"#),
    ];
    write_dump_file(dir, "PostLinks.xml", "postlinks", &links);
    let user = |id: &str, name: &str| {
        format!(r#"Id="{id}" DisplayName="{name}" Reputation="1" {CREATED}"#)
    };
    let users = [
        user("-1", "Community"),
        user("5", "Ada"),
        user("-2", "below Community"),
        user("6", "bell &#x7; ringer"),
        user("1099511627776", "too big"),
    ];
    write_dump_file(dir, "Users.xml", "users", &users);

    let mut expected = Vec::new();
    expected.extend(located(
        "Users.xml",
        &[
            (5, "id_out_of_range"),
            (6, "illegal_character"),
            (7, "id_out_of_range"),
        ],
    ));
    expected.extend(located(
        "Posts.xml",
        &[
            (6, "id_out_of_range"),
            (7, "id_out_of_range"),
            (8, "id_out_of_range"),
            (9, "id_out_of_range"),
            (10, "id_out_of_range"),
            (11, "date_out_of_range"),
            (12, "date_out_of_range"),
            (13, "illegal_character"),
            (14, "illegal_character"),
            (15, "parent_not_question"),
            (16, "self_link"),
            (17, "id_out_of_range"),
            (18, "unexpected_parent"),
        ],
    ));
    expected.extend(located(
        "Comments.xml",
        &[
            (5, "id_out_of_range"),
            (6, "id_out_of_range"),
            (7, "id_out_of_range"),
            (8, "dangling_reference"),
            (9, "id_out_of_range"),
        ],
    ));
    expected.extend(located("PostLinks.xml", &[(4, "self_link")]));
    expected.extend(located(
        "Votes.xml",
        &[
            (4, "unknown_vote_type"),
            (5, "unknown_vote_type"),
            (7, "id_out_of_range"),
        ],
    ));
    expected
}

#[tokio::test]
async fn hostile_dump_values_are_located_skips_and_good_rows_stay_as_they_were() {
    on_every_backend(|store| async move {
        let temp = tempfile::tempdir().expect("temp dir");
        let expected = write_hostile_dump(temp.path());
        let report = import_dump(
            &store,
            temp.path(),
            &DumpOptions { batch_size: 4 },
            &JobHandle::new(),
        )
        .await
        .expect("the dump imports");
        assert_eq!(skips(&report), expected, "{report}");

        let stats = store.stats().await.expect("stats");
        assert_eq!(
            (stats.users, stats.questions, stats.answers, stats.comments),
            (2, 2, 1, 2),
            "{report}"
        );
        assert_eq!((stats.post_links, stats.anonymous_votes), (1, 2));
        // Question 12 is still a question with its tags; post 100 is still
        // the question, and comment 100 lives apart from it.
        let question = store.post(PostId(12)).await.expect("read").expect("stored");
        assert_eq!(
            (question.kind, question.tags.clone()),
            (PostKind::Question, vec!["a".to_string(), "b".to_string()])
        );
        let post_100 = store
            .post(PostId(100))
            .await
            .expect("read")
            .expect("stored");
        assert_eq!(post_100.title.as_deref(), Some("Q100"));
        let comment_100 = store
            .post(PostId::comment(100))
            .await
            .expect("read")
            .expect("stored");
        assert_eq!(
            (comment_100.kind, comment_100.parent_id),
            (PostKind::Comment, Some(PostId(12)))
        );
        let community = store
            .user(steward_domain::UserId(-1))
            .await
            .expect("read")
            .expect("the Community user is valid");
        assert_eq!(community.display_name, "Community");

        // A second import changes nothing and reports the same.
        let again = import_dump(
            &store,
            temp.path(),
            &DumpOptions::default(),
            &JobHandle::new(),
        )
        .await
        .expect("the dump imports again");
        assert_eq!(skips(&again), expected);
        assert_eq!(store.stats().await.expect("stats"), stats);
    })
    .await;
}

#[tokio::test]
async fn a_dump_file_without_line_breaks_is_read_as_xml_with_columns() {
    on_every_backend(|store| async move {
        let temp = tempfile::tempdir().expect("temp dir");
        let row = |id: &str| {
            format!(r#"<row Id="{id}" PostTypeId="1" Title="Q{id}" Body="q" {CREATED} />"#)
        };
        let prefix = format!(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?><posts>{}",
            row("1")
        );
        let text = format!("{prefix}{}{}</posts>", row("x2"), row("3"));
        std::fs::write(temp.path().join("Posts.xml"), &text).expect("Posts.xml");
        let report = import_dump(
            &store,
            temp.path(),
            &DumpOptions::default(),
            &JobHandle::new(),
        )
        .await
        .expect("the dump imports");
        let skip = report.skips.first().expect("one skip");
        assert_eq!(
            (
                report.total_skipped,
                skip.line,
                skip.column,
                skip.reason.code()
            ),
            (1, 1, Some(prefix.len() as u64 + 1), "bad_number"),
            "{report}"
        );
        assert!(
            report
                .to_string()
                .contains(&format!("Posts.xml:1:{}:", prefix.len() + 1)),
            "{report}"
        );
        assert_eq!(store.stats().await.expect("stats").questions, 2);
        let file = report.file("Posts.xml").expect("read");
        assert_eq!((file.rows_read, file.imported), (3, 2));
    })
    .await;
}

#[cfg(unix)]
#[tokio::test]
async fn an_unreadable_dump_file_is_an_error_naming_it_not_an_absent_file() {
    let temp = tempfile::tempdir().expect("temp dir");
    write_dump_file(temp.path(), "Posts.xml", "posts", &[]);
    let users = temp.path().join("Users.xml");
    std::os::unix::fs::symlink(&users, &users).expect("a symlink loop");
    let store = TestDb::sqlite().open().await;
    let error = import_dump(
        &store,
        temp.path(),
        &DumpOptions::default(),
        &JobHandle::new(),
    )
    .await
    .expect_err("a symlink loop is an error");
    let message = error.to_string();
    assert!(message.contains("Users.xml"), "{message}");
    assert!(
        matches!(error, steward_ingest::Error::Io { .. }),
        "{message}"
    );
}

fn jsonl(dir: &Path, name: &str, lines: &[String]) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, lines.join("\n")).expect("jsonl written");
    path
}

fn json_post(id: i64, kind: &str, parent: Option<i64>, extra: &str) -> String {
    let parent = parent.map_or(String::new(), |parent| format!(r#","parent_id":{parent}"#));
    format!(
        r#"{{"type":"post","id":{id},"kind":"{kind}"{parent},"body_text":"b","created_at":"2024-01-02T03:04:05Z"{extra}}}"#
    )
}

fn json_event(extra: &str) -> String {
    format!(
        r#"{{"type":"event","user_id":1,"kind":"view","target":{{"type":"post","id":1}},"at":"2024-01-02T03:04:05Z"{extra}}}"#
    )
}

#[tokio::test]
async fn hostile_jsonl_lines_are_located_skips_and_the_good_lines_of_their_batch_stay() {
    on_every_backend(|store| async move {
        let temp = tempfile::tempdir().expect("temp dir");
        let long_key = "k".repeat(100 * 1024);
        let lines = vec![
            json_post(1, "question", None, r#","tags":["rust"]"#),
            json_post(2, "answer", Some(1), ""),
            json_post(3, "question", None, r#","tags":[""]"#),
            json_post(4, "question", None, r#","tags":["ok","   "]"#),
            json_post(-4, "question", None, ""),
            json_post(0, "question", None, ""),
            json_post(i64::MAX, "question", None, ""),
            json_post(5, "answer", Some(2), ""),
            json_post(6, "answer", Some(6), ""),
            json_post(7, "question", None, r#","title":"C:\\u0000 is a path""#),
            json_post(8, "question", None, r#","title":"a\u0000b""#),
            json_event(r#","key":"""#),
            json_event(&format!(r#","key":"{long_key}""#)),
            json_event(r#","weight":1e308"#),
            json_event(r#","key":"fine""#),
            r#"{"type":"user","id":9,"display_name":"Old","created_at":"0000-01-01T00:00:00Z"}"#
                .to_string(),
            r#"{"type":"user","id":10,"display_name":"Late","created_at":"9999-12-31T00:00:00Z"}"#
                .to_string(),
            r#"{"type":"link","id":1,"post_id":1,"related_post_id":1,"kind":"duplicate","created_at":"2024-01-02T03:04:05Z"}"#
                .to_string(),
        ];
        let path = jsonl(temp.path(), "community.jsonl", &lines);
        let report = import_jsonl(&store, &path, &JsonlOptions::default(), &JobHandle::new())
            .await
            .expect("the file imports");
        let fields: Vec<(u64, &str, Option<&str>)> = report
            .skips
            .iter()
            .map(|skip| (skip.line, skip.reason.code(), skip.reason.field()))
            .collect();
        assert_eq!(
            fields,
            [
                (3, "empty_tag", None),
                (4, "empty_tag", None),
                (5, "id_out_of_range", None),
                (6, "id_out_of_range", None),
                (7, "id_out_of_range", None),
                (8, "parent_not_question", None),
                (9, "self_link", None),
                (11, "illegal_character", None),
                (12, "invalid_event", Some("key")),
                (13, "invalid_event", Some("key")),
                (14, "invalid_event", Some("weight")),
                (16, "date_out_of_range", None),
                (17, "date_out_of_range", None),
                (18, "self_link", None),
            ],
            "{report}"
        );
        let stats = store.stats().await.expect("stats");
        assert_eq!((stats.questions, stats.answers, stats.events), (2, 1, 1));
        let path_post = store.post(PostId(7)).await.expect("read").expect("stored");
        assert_eq!(path_post.title.as_deref(), Some("C:\\u0000 is a path"));

        // A second file turns question 1 into an answer of its own answer
        // (a cycle) and hangs an answer under an answer: both refused.
        let second = jsonl(
            temp.path(),
            "second.jsonl",
            &[
                json_post(1, "answer", Some(2), ""),
                json_post(11, "answer", Some(2), ""),
                json_post(12, "comment", Some(2), ""),
            ],
        );
        let report = import_jsonl(&store, &second, &JsonlOptions::default(), &JobHandle::new())
            .await
            .expect("the second file imports");
        let codes: Vec<(u64, &str)> = report
            .skips
            .iter()
            .map(|skip| (skip.line, skip.reason.code()))
            .collect();
        assert_eq!(codes, [(1, "kind_changed"), (2, "parent_not_question")], "{report}");
        let question = store.post(PostId(1)).await.expect("read").expect("stored");
        assert_eq!((question.kind, question.parent_id), (PostKind::Question, None));
    })
    .await;
}
