//! Imports of the real Stack Exchange dumps in `shared/data`, corrupted copies
//! of them, JSONL files and generated samples, into real SQLite (always) and
//! PostgreSQL (when `TEST_DATABASE_URL` is set), checked against counts taken
//! from the files independently of the importer.

use std::path::Path;

use steward_domain::PostId;
use steward_ingest::jsonl::{JsonlOptions, import_jsonl};
use steward_ingest::report::ImportReport;
use steward_ingest::stackexchange::{DUMP_FILES, DumpOptions, import_dump};
use steward_jobs::{JobHandle, Unit};
use steward_sample::{SampleConfig, generate};
use steward_store::{Stats, Store};
use steward_testkit::{TestDb, shared_data_dir};

/// Rows in a dump file, counted without the importer: lines holding `<row`.
fn count_rows(path: &Path) -> u64 {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines().filter(|line| line.contains("<row")).count() as u64
}

fn count_matching(path: &Path, needle: &str) -> u64 {
    let text = std::fs::read_to_string(path).expect("dump file is readable");
    text.lines().filter(|line| line.contains(needle)).count() as u64
}

async fn sqlite_store(dir: &Path) -> Store {
    Store::open(&dir.join("steward.db").display().to_string())
        .await
        .expect("SQLite store opens")
}

fn event_count(stats: &Stats, kind: &str) -> i64 {
    stats
        .events_by_kind
        .iter()
        .find(|(name, _)| name == kind)
        .map_or(0, |(_, count)| *count)
}

async fn import(store: &Store, dir: &Path) -> ImportReport {
    import_dump(store, dir, &DumpOptions::default(), &JobHandle::new())
        .await
        .expect("the dump imports")
}

/// What a clean import of a real dump must store, counted from the files
/// with a separate XML parser (Python's ElementTree), not by the importer:
/// votes and links whose post the dump no longer holds are the only skips.
struct Expected {
    dump: &'static str,
    users: i64,
    questions: i64,
    answers: i64,
    /// Questions + answers + tag wikis and excerpts + other post types.
    posts: i64,
    comments: i64,
    tags: i64,
    post_links: i64,
    badges: i64,
    /// Votes on posts the dump holds, minus favorites and bounty starts with a voter.
    anonymous_votes: i64,
    favorites: i64,
    follows: i64,
    edits: i64,
    /// Post links (of 101 / 104) and votes (of 5323 / 9147) naming deleted posts.
    dangling_links: u64,
    dangling_votes: u64,
}

const AI_2017: Expected = Expected {
    dump: "se-ai-2017",
    users: 3157,
    questions: 421,
    answers: 749,
    posts: 1279,
    comments: 1165,
    tags: 222,
    post_links: 91,
    badges: 3290,
    anonymous_votes: 4664,
    favorites: 262,
    follows: 3,
    edits: 1087,
    dangling_links: 101 - 91,
    dangling_votes: 5323 - 4929,
};

const CARDANO_2021: Expected = Expected {
    dump: "se-cardano-2021",
    users: 3988,
    questions: 1042,
    answers: 1496,
    posts: 2630,
    comments: 1829,
    tags: 224,
    post_links: 93,
    badges: 4467,
    anonymous_votes: 8505,
    favorites: 291,
    follows: 6,
    edits: 0,
    dangling_links: 104 - 93,
    dangling_votes: 9147 - 8802,
};

/// The store holds exactly the pinned counts, and the report says exactly
/// which rows were skipped and why.
fn check_counts(expected: &Expected, dir: &Path, report: &ImportReport, stats: &Stats) {
    let dump = expected.dump;
    for file in DUMP_FILES {
        let path = dir.join(file);
        let Some(file_report) = report.file(file) else {
            assert!(!path.exists(), "{dump}: {file} exists but was not read");
            assert!(
                report.absent_files.iter().any(|absent| absent == file),
                "{dump}: {file} not reported absent"
            );
            continue;
        };
        assert_eq!(
            file_report.rows_read,
            count_rows(&path),
            "{dump}: {file}: rows read"
        );
        assert_eq!(
            file_report.imported + file_report.skipped + file_report.ignored,
            file_report.rows_read,
            "{dump}: {file}: every row is imported, skipped or ignored"
        );
    }
    let actual = [
        stats.users,
        stats.questions,
        stats.answers,
        stats.posts,
        stats.comments,
        stats.tags,
        stats.post_links,
        stats.badges,
        stats.anonymous_votes,
        event_count(stats, "favorite"),
        event_count(stats, "follow"),
        event_count(stats, "edit"),
    ];
    let wanted = [
        expected.users,
        expected.questions,
        expected.answers,
        expected.posts,
        expected.comments,
        expected.tags,
        expected.post_links,
        expected.badges,
        expected.anonymous_votes,
        expected.favorites,
        expected.follows,
        expected.edits,
    ];
    assert_eq!(
        actual, wanted,
        "{dump}: users, questions, answers, posts, comments, tags, links, badges, \
         anonymous votes, favorites, follows, edits"
    );
    let skipped = |file: &str| report.file(file).map_or(0, |file| file.skipped);
    assert_eq!(
        (skipped("PostLinks.xml"), skipped("Votes.xml")),
        (expected.dangling_links, expected.dangling_votes),
        "{dump}: {report}"
    );
    assert_eq!(
        report.skips_by_reason,
        std::collections::BTreeMap::from([(
            "dangling_reference".to_string(),
            expected.dangling_links + expected.dangling_votes
        )]),
        "{dump}: {report}"
    );
    for kind in ["answer", "accept", "comment"] {
        assert!(
            event_count(stats, kind) > 0,
            "{dump}: no {kind} events: {:?}",
            stats.events_by_kind
        );
    }
}

#[tokio::test]
async fn real_dumps_import_every_good_row_and_a_second_import_changes_nothing() {
    for expected in [AI_2017, CARDANO_2021] {
        let Some(dir) = shared_data_dir(expected.dump) else {
            return;
        };
        let temp = tempfile::tempdir().expect("temp dir");
        let store = sqlite_store(temp.path()).await;
        let report = import(&store, &dir).await;
        println!("{}:\n{report}", expected.dump);
        let stats = store.stats().await.expect("stats");
        check_counts(&expected, &dir, &report, &stats);

        let again = import(&store, &dir).await;
        assert_eq!(again.total_skipped, report.total_skipped);
        assert_eq!(
            store.stats().await.expect("stats"),
            stats,
            "{}: a second import changed the store",
            expected.dump
        );
    }
}

#[tokio::test]
async fn the_ai_dump_keeps_edits_and_tag_wikis() {
    let Some(dir) = shared_data_dir("se-ai-2017") else {
        return;
    };
    let temp = tempfile::tempdir().expect("temp dir");
    let store = sqlite_store(temp.path()).await;
    let report = import(&store, &dir).await;
    let stats = store.stats().await.expect("stats");
    assert!(
        event_count(&stats, "edit") > 0,
        "{:?}",
        stats.events_by_kind
    );
    let history = report
        .file("PostHistory.xml")
        .expect("PostHistory.xml read");
    assert!(history.ignored > 0 && history.imported > 0, "{history:?}");
    assert_eq!(
        stats.accepted_questions,
        count_matching(&dir.join("Posts.xml"), "AcceptedAnswerId=") as i64
    );

    // fuzzy-logic names excerpt post 252 and wiki post 251, both with text;
    // deep-network's wiki post 1796 has an empty body, so it has no wiki.
    let tag = store
        .tag("fuzzy-logic")
        .await
        .expect("tag read")
        .expect("tag stored");
    assert!(
        tag.excerpt.is_some_and(|excerpt| !excerpt.is_empty()),
        "excerpt from ExcerptPostId"
    );
    assert!(
        tag.wiki
            .is_some_and(|wiki| !wiki.is_empty() && !wiki.contains("<p>")),
        "wiki from WikiPostId"
    );
    let tag = store
        .tag("deep-network")
        .await
        .expect("tag read")
        .expect("tag stored");
    assert!(tag.excerpt.is_some() && tag.wiki.is_none(), "{tag:?}");

    let question = store
        .post(PostId(1))
        .await
        .expect("post read")
        .expect("post 1 stored");
    assert_eq!(question.tags, ["neural-networks", "definitions"]);
    assert!(
        !question.body_text.contains("<p>"),
        "body text is HTML-free: {}",
        question.body_text
    );
    let comment = store
        .post(PostId::comment(3))
        .await
        .expect("post read")
        .expect("comment 3 stored");
    assert_eq!(comment.parent_id, Some(PostId(5)));
}

#[tokio::test]
async fn postgres_gives_the_same_stats_as_sqlite() {
    for expected in [AI_2017, CARDANO_2021] {
        let Some(db) = TestDb::postgres() else { return };
        let Some(dir) = shared_data_dir(expected.dump) else {
            return;
        };
        let temp = tempfile::tempdir().expect("temp dir");
        let sqlite = sqlite_store(temp.path()).await;
        import(&sqlite, &dir).await;
        let postgres = db.open().await;
        let report = import(&postgres, &dir).await;
        let stats = postgres.stats().await.expect("stats");
        check_counts(&expected, &dir, &report, &stats);
        assert_eq!(
            stats,
            sqlite.stats().await.expect("stats"),
            "{}",
            expected.dump
        );
        assert_eq!(
            postgres.vote_counts().await.expect("counts"),
            sqlite.vote_counts().await.expect("counts"),
            "{}: vote counts per post",
            expected.dump
        );
        import(&postgres, &dir).await;
        assert_eq!(
            postgres.stats().await.expect("stats"),
            stats,
            "{}: re-import on PostgreSQL",
            expected.dump
        );
        postgres.close().await;
        // Also dropped when `db` goes, should an assertion above fail.
        db.cleanup().await;
    }
}

/// Copies a dump into `target`, replacing Posts.xml by `posts`.
fn copy_dump(source: &Path, target: &Path) {
    for file in DUMP_FILES {
        let path = source.join(file);
        if path.is_file() {
            std::fs::copy(&path, target.join(file)).expect("copy dump file");
        }
    }
}

#[tokio::test]
async fn a_corrupted_dump_imports_every_good_row_and_names_each_bad_line() {
    let Some(dir) = shared_data_dir("se-ai-2017") else {
        return;
    };
    let temp = tempfile::tempdir().expect("temp dir");
    let corrupt = temp.path().join("dump");
    std::fs::create_dir_all(&corrupt).expect("dump dir");
    copy_dump(&dir, &corrupt);

    let original = std::fs::read_to_string(dir.join("Posts.xml")).expect("Posts.xml");
    let first_row = original
        .lines()
        .find(|line| line.contains("<row Id=\"1\""))
        .expect("row 1")
        .to_string();
    let bad_lines: [(&str, String); 6] = [
        ("not_a_record", "  this line is garbage, not a row".to_string()),
        ("malformed", r#"  <row Id="900001" PostTypeId="1" CreationDate=2016-08-02 />"#.to_string()),
        ("bad_date", r#"  <row Id="900002" PostTypeId="1" CreationDate="2016-13-45T99:00:00" Body="x" />"#.to_string()),
        ("duplicate_id", first_row),
        ("unknown_post_type", r#"  <row Id="900003" PostTypeId="42" CreationDate="2016-08-02T15:39:14.947" Body="x" />"#.to_string()),
        ("dangling_reference", r#"  <row Id="900004" PostTypeId="2" ParentId="888888" CreationDate="2016-08-02T15:39:14.947" Body="x" />"#.to_string()),
    ];
    // Spread the bad lines through the file, then cut it off inside a last row.
    let mut lines: Vec<String> = original
        .lines()
        .filter(|line| !line.starts_with("</posts>"))
        .map(str::to_string)
        .collect();
    let mut expected: Vec<(u64, &str)> = Vec::new();
    for (idx, (code, bad_line)) in bad_lines.iter().enumerate() {
        let at = 10 + idx * 150;
        lines.insert(at, bad_line.clone());
        expected.push((at as u64 + 1, code));
    }
    let mut text = lines.join("\n");
    text.push_str("\n  <row Id=\"900005\" PostTypeId=\"1\" CreationDate=\"2016-08-02T15:3");
    expected.push((lines.len() as u64 + 1, "truncated"));
    std::fs::write(corrupt.join("Posts.xml"), text).expect("write corrupt Posts.xml");

    let store = sqlite_store(temp.path()).await;
    let report = import(&store, &corrupt).await;
    let posts_skips: Vec<(u64, &str)> = report
        .skips
        .iter()
        .filter(|skip| skip.file == "Posts.xml")
        .map(|skip| (skip.line, skip.reason.code()))
        .collect();
    assert_eq!(posts_skips, expected, "{report}");

    let stats = store.stats().await.expect("stats");
    assert_eq!(
        stats.posts,
        count_rows(&dir.join("Posts.xml")) as i64,
        "every good post imported"
    );
    let clean_temp = tempfile::tempdir().expect("temp dir");
    let clean = sqlite_store(clean_temp.path()).await;
    import(&clean, &dir).await;
    assert_eq!(
        stats,
        clean.stats().await.expect("stats"),
        "corruption changed more than the bad rows"
    );
    let summary = report.to_string();
    assert!(
        summary.contains("Posts.xml:11: malformed") || summary.contains("Posts.xml:11:"),
        "{summary}"
    );
}

/// Imports `dir` with a cancel raised, from another task, as soon as the
/// import reports that it is in `file`: the import must stop in that file,
/// after a batch, before reaching its end.
async fn cancelled_import(store: &Store, dir: &Path, file: &'static str) {
    let job = JobHandle::new();
    let watcher = job.clone();
    let mut changes = job.subscribe();
    let canceller = tokio::spawn(async move {
        while changes.changed().await.is_ok() {
            if watcher.progress().phase == file {
                watcher.cancel();
                return;
            }
        }
    });
    let options = DumpOptions { batch_size: 100 };
    let outcome = import_dump(store, dir, &options, &job).await;
    canceller.abort();
    assert!(
        matches!(outcome, Err(steward_ingest::Error::Cancelled { .. })),
        "expected a cancel in {file}: {outcome:?}"
    );
    let progress = job.progress();
    assert_eq!(progress.phase, file, "stopped in the file it was in");
    assert_eq!(progress.unit, Unit::Bytes);
    let total = progress.total.expect("a dump file's size is known");
    assert!(
        progress.done > 0 && progress.done < total,
        "stopped after a batch, before the end of {file}: {progress:?}"
    );
}

#[tokio::test]
async fn a_cancelled_import_run_again_converges_to_the_full_import() {
    let Some(dir) = shared_data_dir("se-cardano-2021") else {
        return;
    };
    let full_temp = tempfile::tempdir().expect("temp dir");
    let full = sqlite_store(full_temp.path()).await;
    import(&full, &dir).await;
    let expected = full.stats().await.expect("stats");

    for file in ["Posts.xml", "Votes.xml"] {
        let temp = tempfile::tempdir().expect("temp dir");
        let store = sqlite_store(temp.path()).await;
        cancelled_import(&store, &dir, file).await;
        let partial = store.stats().await.expect("stats");
        assert_ne!(
            partial, expected,
            "cancelled in {file} but everything is there"
        );
        import(&store, &dir).await;
        assert_eq!(
            store.stats().await.expect("stats"),
            expected,
            "resumed after a cancel in {file}"
        );
    }
}

#[tokio::test]
async fn jsonl_imports_good_lines_and_reports_bad_ones() {
    let temp = tempfile::tempdir().expect("temp dir");
    let path = temp.path().join("community.jsonl");
    let lines = [
        r#"{"type":"user","id":1,"display_name":"Ada","reputation":10,"created_at":"2024-01-02T03:04:05Z"}"#,
        r#"{"type":"user","id":2,"display_name":"李娜","created_at":"2024-01-02T03:04:05+08:00"}"#,
        r#"{"type":"post","id":7,"kind":"question","owner_id":1,"title":"How do I borrow twice?","body_html":"<p>It fails:</p><pre><code>let a = &mut x;</code></pre>","tags":["rust","borrow-checker"],"created_at":"2024-01-02T03:04:05Z"}"#,
        r#"{"type":"post","id":8,"kind":"answer","parent_id":7,"owner_id":2,"body_text":"Use a block to end the first borrow.","created_at":"2024-01-02T04:04:05Z"}"#,
        r#"{"type":"post","id":9,"kind":"comment","parent_id":8,"owner_id":1,"body_text":"Thanks!","created_at":"2024-01-02T05:04:05Z"}"#,
        r#"{"type":"event","user_id":2,"kind":"answer","target":{"type":"post","id":7},"at":"2024-01-02T04:04:05Z","key":"demo:answer:8"}"#,
        r#"{"type":"event","user_id":1,"kind":"favorite","target":{"type":"post","id":7},"at":"2024-01-03T00:00:00Z"}"#,
        r#"{"type":"tag","name":"rust","count":1,"excerpt":"A systems language."}"#,
        r#"{"type":"post","id":10,"kind":"question","title":"Second","body_text":"Another one.","created_at":"2024-01-04T00:00:00Z"}"#,
        r#"{"type":"link","id":1,"post_id":10,"related_post_id":7,"kind":"duplicate","created_at":"2024-01-05T00:00:00Z"}"#,
        "",
        r#"{"type":"post","id":11,"kind":"answer","parent_id":999,"body_text":"orphan","created_at":"2024-01-04T00:00:00Z"}"#,
        r#"{"type":"post","id":7,"kind":"question","title":"again","body_text":"dup","created_at":"2024-01-04T00:00:00Z"}"#,
        r#"{"type":"user","id":3,"display_name":"Bad","created_at":"last tuesday"}"#,
        r#"{"type":"event","user_id":1,"kind":"like","target":{"type":"post","id":7},"at":"2024-01-03T00:00:00Z"}"#,
        r#"{"type":"user","id":4,"display_name":"#,
    ];
    std::fs::write(&path, lines.join("\n")).expect("write jsonl");
    let store = sqlite_store(temp.path()).await;
    let job = JobHandle::new();
    let report = import_jsonl(&store, &path, &JsonlOptions::default(), &job)
        .await
        .expect("the file imports");
    let progress = job.progress();
    let size = std::fs::metadata(&path).expect("the file is there").len();
    assert_eq!(
        (progress.phase.as_str(), progress.done, progress.total),
        ("community.jsonl", size, Some(size)),
        "one phase, the whole file read"
    );
    let skips: Vec<(u64, &str)> = report
        .skips
        .iter()
        .map(|skip| (skip.line, skip.reason.code()))
        .collect();
    assert_eq!(
        skips,
        [
            (12, "dangling_reference"),
            (13, "duplicate_id"),
            (14, "bad_date"),
            (15, "invalid_event"),
            (16, "malformed"),
        ],
        "{report}"
    );
    let stats = store.stats().await.expect("stats");
    assert_eq!(
        (stats.users, stats.questions, stats.answers, stats.comments),
        (2, 2, 1, 1)
    );
    assert_eq!(
        (stats.post_links, stats.duplicate_links, stats.events),
        (1, 1, 2)
    );
    let question = store.post(PostId(7)).await.expect("read").expect("stored");
    assert_eq!(question.code_blocks.len(), 1, "{question:?}");
    let answer = store.post(PostId(8)).await.expect("read").expect("stored");
    assert!(answer.body_html.starts_with("<p>"), "{}", answer.body_html);

    import_jsonl(&store, &path, &JsonlOptions::default(), &JobHandle::new())
        .await
        .expect("the file imports again");
    assert_eq!(
        store.stats().await.expect("stats"),
        stats,
        "a second JSONL import changed the store"
    );
}

/// Writes a dump file: the XML wrapper around `rows`, one per line, so that
/// row n is on line n + 2.
fn write_dump_file(dir: &Path, file: &str, element: &str, rows: &[&str]) {
    let mut text = format!("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<{element}>\n");
    for row in rows {
        text.push_str(&format!("  <row {row} />\n"));
    }
    text.push_str(&format!("</{element}>\n"));
    std::fs::write(dir.join(file), text).expect("dump file written");
}

#[tokio::test]
async fn dump_rows_with_out_of_range_users_or_times_are_located_skips() {
    let temp = tempfile::tempdir().expect("temp dir");
    let dump = temp.path().join("dump");
    std::fs::create_dir_all(&dump).expect("dump dir");
    let created = r#"CreationDate="2016-08-02T15:39:14.947""#;
    write_dump_file(
        &dump,
        "Posts.xml",
        "posts",
        &[
            &format!(
                r#"Id="1" PostTypeId="1" OwnerUserId="1" Title="Q" Body="&lt;p&gt;q&lt;/p&gt;" {created}"#
            ),
            &format!(
                r#"Id="2" PostTypeId="2" ParentId="1" OwnerUserId="-1" Body="&lt;p&gt;a&lt;/p&gt;" {created}"#
            ),
            &format!(
                r#"Id="3" PostTypeId="2" ParentId="1" OwnerUserId="-7" Body="&lt;p&gt;a&lt;/p&gt;" {created}"#
            ),
        ],
    );
    write_dump_file(
        &dump,
        "Comments.xml",
        "comments",
        &[
            &format!(r#"Id="1" PostId="1" UserId="1" Text="fine" {created}"#),
            r#"Id="2" PostId="1" UserId="1" Text="from the future" CreationDate="9999-12-31T00:00:00""#,
        ],
    );
    write_dump_file(
        &dump,
        "Votes.xml",
        "votes",
        &[
            &format!(r#"Id="1" PostId="1" VoteTypeId="5" UserId="1" {created}"#),
            &format!(r#"Id="2" PostId="1" VoteTypeId="5" UserId="-2" {created}"#),
            &format!(r#"Id="3" PostId="1" VoteTypeId="2" {created}"#),
        ],
    );
    write_dump_file(
        &dump,
        "PostHistory.xml",
        "posthistory",
        &[
            &format!(r#"Id="1" PostHistoryTypeId="5" PostId="1" UserId="1" {created}"#),
            r#"Id="2" PostHistoryTypeId="5" PostId="1" UserId="1" CreationDate="1900-01-01T00:00:00""#,
        ],
    );
    let store = sqlite_store(temp.path()).await;
    let report = import(&store, &dump).await;
    let skips: Vec<(&str, u64, &str, Option<&str>)> = report
        .skips
        .iter()
        .map(|skip| {
            (
                skip.file.as_str(),
                skip.line,
                skip.reason.code(),
                skip.reason.field(),
            )
        })
        .collect();
    assert_eq!(
        skips,
        [
            ("Posts.xml", 5, "id_out_of_range", None),
            ("Comments.xml", 4, "date_out_of_range", None),
            ("Votes.xml", 4, "id_out_of_range", None),
            ("PostHistory.xml", 4, "date_out_of_range", None),
        ],
        "{report}"
    );
    let stats = store.stats().await.expect("stats");
    assert_eq!((stats.questions, stats.answers, stats.comments), (1, 1, 1));
    assert_eq!(
        ["answer", "comment", "favorite", "edit"].map(|kind| event_count(&stats, kind)),
        [1, 1, 1, 1],
        "the Community user (-1) is a valid answerer"
    );
    assert_eq!(stats.anonymous_votes, 1);
}

/// The generator's own tests pin its bytes (crates/steward-sample); this one
/// checks that what it writes is a dump the importer takes without a skip.
#[tokio::test]
async fn samples_import_without_skips() {
    let temp = tempfile::tempdir().expect("temp dir");
    let first = generate(&temp.path().join("a"), &SampleConfig::new(400, 7)).expect("sample");
    let store = sqlite_store(temp.path()).await;
    let report = import(&store, &temp.path().join("a")).await;
    assert_eq!(report.total_skipped, 0, "{report}");
    let stats = store.stats().await.expect("stats");
    assert_eq!(stats.users as u64, first.users);
    assert_eq!(stats.questions as u64, first.questions);
    assert_eq!(stats.answers as u64, first.answers);
    assert_eq!(stats.comments as u64, first.comments);
    assert_eq!(stats.post_links as u64, first.post_links);
    assert_eq!(stats.duplicate_links as u64, first.duplicate_links);
    assert_eq!(stats.badges as u64, first.badges);
    assert_eq!(stats.tags as u64, first.tags);
    assert_eq!(stats.accepted_questions as u64, first.accepted_answers);
    assert_eq!(event_count(&stats, "favorite") as u64, first.favorites);
    assert_eq!(event_count(&stats, "accept") as u64, first.accepted_answers);
    assert_eq!(event_count(&stats, "answer") as u64, first.answers);
}
