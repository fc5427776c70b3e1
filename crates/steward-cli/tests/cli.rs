//! End-to-end tests through the `steward` binary: what a user types, what they
//! see on stdout, and the exit status.

use std::path::Path;
use std::process::{Command, Output};

use steward_testkit::require_shared;

fn steward(database: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_steward"))
        .arg("--database")
        .arg(database)
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .expect("the steward binary runs")
}

fn json_stdout(output: &Output) -> serde_json::Value {
    assert!(
        output.status.success(),
        "steward failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap_or_else(|error| {
        panic!(
            "stdout is not one JSON object ({error}): {}",
            String::from_utf8_lossy(&output.stdout)
        )
    })
}

fn rows_in(path: &Path) -> i64 {
    let text = std::fs::read_to_string(path).expect("readable dump file");
    text.lines()
        .filter(|line| line.trim_start().starts_with("<row "))
        .count() as i64
}

#[test]
fn sample_import_and_stats_agree_and_reimport_changes_nothing() {
    let work = tempfile::tempdir().expect("temp dir");
    let dump = work.path().join("dump");
    let database = work.path().join("community.db");
    let sample = Command::new(env!("CARGO_BIN_EXE_steward"))
        .args(["sample", "--out"])
        .arg(&dump)
        .args(["--users", "120", "--seed", "7", "--json"])
        .output()
        .expect("steward sample runs");
    json_stdout(&sample);

    let report = json_stdout(&steward(
        &database,
        &[
            "import",
            "stackexchange",
            dump.to_str().expect("utf-8 path"),
            "--strict",
            "--json",
        ],
    ));
    assert_eq!(
        report["total_skipped"], 0,
        "a generated sample imports cleanly"
    );

    let stats = json_stdout(&steward(&database, &["stats", "--json"]));
    for key in [
        "posts",
        "questions",
        "answers",
        "comments",
        "users",
        "tags",
        "post_links",
        "badges",
        "events",
    ] {
        assert!(
            stats[key].is_i64(),
            "stats --json has integer `{key}`: {stats}"
        );
    }
    assert_eq!(
        stats["posts"].as_i64(),
        Some(rows_in(&dump.join("Posts.xml")))
    );
    assert_eq!(
        stats["comments"].as_i64(),
        Some(rows_in(&dump.join("Comments.xml")))
    );
    assert_eq!(
        stats["users"].as_i64(),
        Some(rows_in(&dump.join("Users.xml")))
    );
    assert!(stats["events"].as_i64() > Some(0));
    let named_counts = |key: &str| {
        stats[key].as_array().is_some_and(|items| {
            !items.is_empty()
                && items
                    .iter()
                    .all(|item| item["name"].is_string() && item["count"].is_i64())
        })
    };
    assert!(
        named_counts("events_by_kind") && named_counts("top_tags"),
        "arrays of {{name, count}}: {stats}"
    );
    // One shape for the CLI and `GET /api/v1/stats`: both print the store's Stats.
    let from_store = tokio::runtime::Runtime::new()
        .expect("a runtime")
        .block_on(async {
            let store = steward_store::Store::open(&database.display().to_string())
                .await
                .expect("the database opens");
            store.stats().await.expect("stats")
        });
    assert_eq!(
        stats,
        serde_json::to_value(from_store).expect("JSON"),
        "stats --json is the store's Stats as they serialize"
    );

    json_stdout(&steward(
        &database,
        &[
            "import",
            "stackexchange",
            dump.to_str().expect("utf-8 path"),
            "--json",
        ],
    ));
    let again = json_stdout(&steward(&database, &["stats", "--json"]));
    assert_eq!(
        again, stats,
        "importing the same dump twice changes nothing"
    );
}

#[test]
fn strict_import_fails_on_a_bad_row_and_names_its_line() {
    let dump_dir = require_shared!(data "se-ai-2017");
    let work = tempfile::tempdir().expect("temp dir");
    let dump = work.path().join("dump");
    std::fs::create_dir(&dump).expect("dump dir");
    let posts = std::fs::read_to_string(dump_dir.join("Posts.xml")).expect("Posts.xml");
    let mut lines: Vec<&str> = posts.lines().collect();
    // Line 5 of the file becomes garbage; everything else stays.
    lines[4] = "  <row Id=\"oops\" this is not xml";
    std::fs::write(dump.join("Posts.xml"), lines.join("\n")).expect("write corrupted copy");
    let database = work.path().join("community.db");

    let output = steward(
        &database,
        &[
            "import",
            "stackexchange",
            dump.to_str().expect("utf-8 path"),
            "--strict",
            "--json",
        ],
    );
    assert!(
        !output.status.success(),
        "--strict fails when a row was skipped"
    );
    let report: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("the report is still printed as JSON");
    assert_eq!(report["total_skipped"], 1);
    assert_eq!(report["skips"][0]["file"], "Posts.xml");
    assert_eq!(report["skips"][0]["line"], 5);

    let stats = json_stdout(&steward(&database, &["stats", "--json"]));
    assert_eq!(
        stats["posts"].as_i64(),
        Some(rows_in(&dump_dir.join("Posts.xml")) - 1),
        "every good row is imported"
    );
}

#[test]
fn unreachable_database_gives_an_error_that_says_what_failed() {
    let work = tempfile::tempdir().expect("temp dir");
    let database = work.path().join("missing-folder/community.db");
    let output = steward(&database, &["stats", "--json"]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("missing-folder"),
        "the error names the path: {stderr}"
    );
    assert!(output.stdout.is_empty(), "no half-printed JSON on failure");
}

#[test]
fn an_import_into_a_log_prints_plain_progress_lines_on_stderr() {
    let work = tempfile::tempdir().expect("temp dir");
    let dump = work.path().join("dump");
    let sample = Command::new(env!("CARGO_BIN_EXE_steward"))
        .args(["sample", "--out"])
        .arg(&dump)
        .args(["--users", "120", "--seed", "3", "--json"])
        .output()
        .expect("steward sample runs");
    json_stdout(&sample);

    // `output()` pipes stderr, so it is not a terminal: plain lines, not a bar.
    let output = Command::new(env!("CARGO_BIN_EXE_steward"))
        .arg("--database")
        .arg(work.path().join("community.db"))
        .args(["import", "stackexchange"])
        .arg(&dump)
        .arg("--json")
        .env("RUST_LOG", "warn")
        .env("STEWARD_PROGRESS_INTERVAL_MS", "1")
        .output()
        .expect("the steward binary runs");
    json_stdout(&output);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr
            .lines()
            .any(|line| line.starts_with("Posts.xml: ") && line.contains("%)")),
        "a progress line for Posts.xml: {stderr}"
    );
    let last = stderr.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("done in ") && last.contains(", at Tags.xml: "),
        "the last line says the import is done: {stderr}"
    );
    assert!(
        !stderr.contains('\r') && !stderr.contains('\u{1b}'),
        "no terminal control characters in a log: {stderr}"
    );
}
