//! `kill -9` at random moments of an import whose Votes.xml is shuffled,
//! through the real `steward` binary: re-running the import must end with the
//! database of one clean import (the README's "an interrupted import
//! converges"). The dump is a slice of se-ai-2017 written to a temporary
//! directory: its first 300 posts and every vote, in a shuffled order. (The
//! same on PostgreSQL, in process, is `steward-ingest/tests/convergence.rs`.)

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};

use steward_testkit::require_shared;

const RUNS: u64 = 10;

fn steward(database: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_steward"));
    command
        .arg("--database")
        .arg(database)
        .args(args)
        .env("RUST_LOG", "warn");
    command
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

fn import(database: &Path, dump: &Path) -> Command {
    steward(
        database,
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

#[test]
fn imports_killed_at_random_moments_converge_to_one_clean_import() {
    let source = require_shared!(data "se-ai-2017");
    for run in 0..RUNS {
        let work = tempfile::tempdir().expect("temp dir");
        let dump = work.path().join("dump");
        write_slice(&source, &dump, 500 + run);

        let clean = work.path().join("clean.db");
        succeeded(import(&clean, &dump).output().expect("steward runs"));
        let expected = succeeded(
            steward(&clean, &["stats", "--json"])
                .output()
                .expect("stats"),
        );
        assert!(
            expected["anonymous_votes"].as_i64() > Some(1_000),
            "{expected}"
        );

        let killed = work.path().join("killed.db");
        // Twice killed (SIGKILL: no cleanup, a transaction open mid-way)
        // while it reports progress in Votes.xml, after a number of progress
        // lines that differs per run, then run to the end.
        let mut killed_in_votes = 0;
        for after_lines in [1 + run % 5, 3 + run * 7 % 11] {
            let mut child = import(&killed, &dump)
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
        succeeded(import(&killed, &dump).output().expect("steward runs"));
        let stats = succeeded(
            steward(&killed, &["stats", "--json"])
                .output()
                .expect("stats"),
        );
        assert_eq!(stats, expected, "run {run}: killed twice, then completed");
    }
}
