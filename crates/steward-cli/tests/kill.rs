//! `kill -9` at random moments of an import whose Votes.xml is shuffled,
//! through the real `steward` binary: re-running the import must end with the
//! database of one clean import (the README's "an interrupted import
//! converges"). The dump is a slice of se-ai-2017 written to a temporary
//! directory: its first 300 posts and every vote, in a shuffled order. On
//! SQLite (a file per database) and on PostgreSQL (a schema per database,
//! when `TEST_DATABASE_URL` is set; always under `CI=true`).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};

use steward_testkit::{TestDb, require_shared};

const RUNS: u64 = 10;

/// Where one import goes: a SQLite file, or a PostgreSQL schema of its own.
enum Database {
    Sqlite(std::path::PathBuf),
    Postgres { url: String, db: TestDb },
}

impl Database {
    fn steward(&self, work: &Path, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_steward"));
        command.current_dir(work).env("RUST_LOG", "warn");
        match self {
            Database::Sqlite(path) => {
                command.arg("--database").arg(path);
            }
            Database::Postgres { url, db } => {
                command.arg("--database").arg(url).env(
                    "STEWARD_DATABASE__SCHEMA",
                    db.schema().expect("a PostgreSQL schema"),
                );
            }
        }
        command.args(args);
        command
    }

    fn import(&self, work: &Path, dump: &Path) -> Command {
        self.steward(
            work,
            &[
                "import",
                "stackexchange",
                dump.to_str().expect("utf-8 path"),
                "--batch-size",
                "50",
                "--json",
            ],
        )
    }
}

fn succeeded(output: Output) -> serde_json::Value {
    assert!(
        output.status.success(),
        "steward failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("stdout is one JSON object")
}

/// A deterministic shuffle (xorshift), so a failure replays.
fn shuffle<T>(items: &mut [T], mut seed: u64) {
    for index in (1..items.len()).rev() {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let other = (seed % (index as u64 + 1)) as usize;
        items.swap(index, other);
    }
}

fn write_slice(source: &Path, target: &Path, seed: u64) {
    std::fs::create_dir_all(target).expect("dump dir");
    let rows = |file: &str| -> Vec<String> {
        std::fs::read_to_string(source.join(file))
            .expect("dump file")
            .lines()
            .filter(|line| line.trim_start().starts_with("<row "))
            .map(str::to_string)
            .collect()
    };
    let write = |file: &str, element: &str, rows: &[String]| {
        let text = format!(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<{element}>\n{}\n</{element}>\n",
            rows.join("\n")
        );
        std::fs::write(target.join(file), text).expect("slice written");
    };
    write("Posts.xml", "posts", &rows("Posts.xml")[..300]);
    let mut votes = rows("Votes.xml");
    shuffle(&mut votes, seed);
    write("Votes.xml", "votes", &votes);
}

#[test]
fn imports_killed_at_random_moments_converge_to_one_clean_import_on_sqlite() {
    let source = require_shared!(data "se-ai-2017");
    killed_imports_converge(&source, |work, name| {
        Some(Database::Sqlite(work.join(format!("{name}.db"))))
    });
}

#[test]
fn imports_killed_at_random_moments_converge_to_one_clean_import_on_postgres() {
    let source = require_shared!(data "se-ai-2017");
    let Ok(url) = std::env::var("TEST_DATABASE_URL") else {
        // Prints why, or fails under CI=true.
        let _ = TestDb::postgres();
        return;
    };
    killed_imports_converge(&source, |_, _| {
        Some(Database::Postgres {
            url: url.clone(),
            db: TestDb::postgres()?,
        })
    });
}

fn killed_imports_converge(source: &Path, database: impl Fn(&Path, &str) -> Option<Database>) {
    for run in 0..RUNS {
        let work = tempfile::tempdir().expect("temp dir");
        let work = work.path();
        let dump = work.join("dump");
        write_slice(source, &dump, 500 + run);

        let Some(clean) = database(work, "clean") else {
            return;
        };
        succeeded(clean.import(work, &dump).output().expect("steward runs"));
        let expected = succeeded(
            clean
                .steward(work, &["stats", "--json"])
                .output()
                .expect("stats"),
        );
        assert!(
            expected["anonymous_votes"].as_i64() > Some(1_000),
            "{expected}"
        );

        let Some(killed) = database(work, "killed") else {
            return;
        };
        // Twice killed (SIGKILL: no cleanup, a transaction open mid-way)
        // while it reports progress in Votes.xml, after a number of progress
        // lines that differs per run, then run to the end.
        let mut killed_in_votes = 0;
        for after_lines in [1 + run % 5, 3 + run * 7 % 11] {
            let mut child = killed
                .import(work, &dump)
                .env("STEWARD_PROGRESS_INTERVAL_MS", "1")
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .expect("steward starts");
            let stderr = child.stderr.take().expect("stderr is piped");
            let votes_lines = BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
                .filter(|line| line.starts_with("Votes.xml: "));
            if votes_lines.take(after_lines as usize).count() == after_lines as usize {
                // Fails only when the import has just finished: fine.
                if child.kill().is_ok() {
                    killed_in_votes += 1;
                }
            }
            child.wait().expect("the import is reaped");
        }
        assert!(
            killed_in_votes > 0,
            "run {run}: no kill landed in Votes.xml"
        );
        succeeded(killed.import(work, &dump).output().expect("steward runs"));
        let stats = succeeded(
            killed
                .steward(work, &["stats", "--json"])
                .output()
                .expect("stats"),
        );
        assert_eq!(stats, expected, "run {run}: killed twice, then completed");
    }
}
