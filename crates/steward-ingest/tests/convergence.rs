//! Acceptance tests for "an import converges": two imports of the same dump
//! at once, and imports stopped at random moments over a dump whose votes are
//! shuffled, end with exactly the store of one clean import, on SQLite and on
//! PostgreSQL. The dump is a slice of se-ai-2017 (its first 300 posts, their
//! comments and every vote, shuffled), written to a temporary directory.

use std::path::Path;
use std::time::Duration;

use steward_domain::PostId;
use steward_ingest::stackexchange::{DumpOptions, import_dump};
use steward_jobs::JobHandle;
use steward_store::{Stats, Store};
use steward_testkit::{TestDb, shared_data_dir};

const RUNS: u64 = 10;

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

fn rows(text: &str) -> Vec<&str> {
    text.lines()
        .filter(|line| line.trim_start().starts_with("<row "))
        .collect()
}

fn write_file(dir: &Path, file: &str, element: &str, rows: &[&str]) {
    let mut text = format!("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<{element}>\n");
    for row in rows {
        text.push_str(row);
        text.push('\n');
    }
    text.push_str(&format!("</{element}>\n"));
    std::fs::write(dir.join(file), text).expect("slice written");
}

/// The slice of se-ai-2017 in `target`, votes shuffled with `seed`.
fn write_slice(source: &Path, target: &Path, seed: u64) {
    let read = |file: &str| std::fs::read_to_string(source.join(file)).expect("dump file");
    let posts = read("Posts.xml");
    write_file(target, "Posts.xml", "posts", &rows(&posts)[..300]);
    let comments = read("Comments.xml");
    write_file(target, "Comments.xml", "comments", &rows(&comments)[..300]);
    let votes = read("Votes.xml");
    let mut votes = rows(&votes);
    shuffle(&mut votes, seed);
    write_file(target, "Votes.xml", "votes", &votes);
}

async fn import(store: &Store, dir: &Path) {
    import_dump(store, dir, &DumpOptions { batch_size: 100 }, &JobHandle::new())
        .await
        .expect("the slice imports");
}

/// What a user would compare: the summary and every vote count.
async fn contents(store: &Store) -> (Stats, Vec<(PostId, i64, i64)>) {
    (
        store.stats().await.expect("stats"),
        store.vote_counts().await.expect("vote counts"),
    )
}

async fn clean_import(dir: &Path) -> (Stats, Vec<(PostId, i64, i64)>) {
    let db = TestDb::sqlite();
    let store = db.open().await;
    import(&store, dir).await;
    let clean = contents(&store).await;
    assert!(clean.0.anonymous_votes > 1_000, "{:?}", clean.0);
    clean
}

fn backends() -> Vec<TestDb> {
    [Some(TestDb::sqlite()), TestDb::postgres()]
        .into_iter()
        .flatten()
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_imports_of_one_dump_at_once_count_every_vote_once() {
    let Some(source) = shared_data_dir("se-ai-2017") else {
        return;
    };
    let temp = tempfile::tempdir().expect("temp dir");
    write_slice(&source, temp.path(), 7);
    let clean = clean_import(temp.path()).await;
    for run in 0..RUNS {
        for db in backends() {
            // Two stores on one database: two processes, as far as the
            // database can tell.
            let (first, second) = (db.open().await, db.open().await);
            let (dir_a, dir_b) = (temp.path().to_path_buf(), temp.path().to_path_buf());
            let racing_a = tokio::spawn(async move { import(&first, &dir_a).await });
            let racing_b = tokio::spawn(async move { import(&second, &dir_b).await });
            racing_a.await.expect("first import");
            racing_b.await.expect("second import");
            let store = db.open().await;
            assert_eq!(
                contents(&store).await,
                clean,
                "run {run} on {:?}: two imports at once",
                store.dialect()
            );
            store.close().await;
            db.cleanup().await;
        }
    }
}

#[tokio::test]
async fn imports_stopped_at_random_moments_over_shuffled_votes_converge() {
    let Some(source) = shared_data_dir("se-ai-2017") else {
        return;
    };
    for run in 0..RUNS {
        let temp = tempfile::tempdir().expect("temp dir");
        write_slice(&source, temp.path(), 1_000 + run);
        let clean = clean_import(temp.path()).await;
        for db in backends() {
            let store = db.open().await;
            // Stopped twice, at different moments (dropping the import drops
            // its open transaction, as a killed process does), then run to the end.
            for stop_after_ms in [40 + run * 37 % 200, 150 + run * 53 % 300] {
                let stopped = tokio::time::timeout(
                    Duration::from_millis(stop_after_ms),
                    import(&store, temp.path()),
                )
                .await;
                drop(stopped);
            }
            import(&store, temp.path()).await;
            assert_eq!(
                contents(&store).await,
                clean,
                "run {run} on {:?}: stopped twice, then completed",
                store.dialect()
            );
            store.close().await;
            db.cleanup().await;
        }
    }
}
