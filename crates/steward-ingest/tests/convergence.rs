//! Acceptance tests for "an import converges": two imports of the same dump
//! at once, and imports stopped at random moments over a dump whose votes are
//! shuffled, end with exactly the store of one clean import, on SQLite and on
//! PostgreSQL. The dump is a slice of se-ai-2017 (its first 300 posts, their
//! comments and every vote, shuffled), written to a temporary directory.

use std::path::Path;

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
    import_dump(
        store,
        dir,
        &DumpOptions { batch_size: 100 },
        &JobHandle::new(),
    )
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

/// Starts an import of `dir` and stops it (drops it mid-flight, open
/// transaction and all, as a killed process would) once it has read
/// `votes_bytes` bytes of Votes.xml; returns whether it was stopped before
/// the end.
async fn import_stopped_in_votes(store: &Store, dir: &Path, votes_bytes: u64) -> bool {
    let job = JobHandle::new();
    let mut changes = job.subscribe();
    let (store, dir, running_job) = (store.clone(), dir.to_path_buf(), job.clone());
    let import = tokio::spawn(async move {
        import_dump(&store, &dir, &DumpOptions { batch_size: 100 }, &running_job)
            .await
            .expect("the slice imports");
    });
    while changes.changed().await.is_ok() {
        let progress = job.progress();
        if progress.phase == "Votes.xml" && progress.done >= votes_bytes {
            import.abort();
            return import.await.is_err_and(|error| error.is_cancelled());
        }
    }
    import.await.expect("the import ends");
    false
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
        let votes_bytes = std::fs::metadata(temp.path().join("Votes.xml"))
            .expect("Votes.xml")
            .len();
        for db in backends() {
            let store = db.open().await;
            // Stopped twice inside Votes.xml, at moments that differ per run
            // (the votes are shuffled, so each stop leaves a scattered set of
            // vote ids counted), then run to the end.
            let mut stopped = 0;
            for share in [(run * 7 + 1) % 10, (run * 3 + 5) % 10] {
                let at = votes_bytes * share / 10;
                stopped += u32::from(import_stopped_in_votes(&store, temp.path(), at).await);
            }
            assert!(stopped > 0, "run {run}: no import was stopped in Votes.xml");
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
