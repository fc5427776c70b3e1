//! End-to-end through the `steward` binary on a slice of a real community
//! (ai.stackexchange.com 2017 from the shared data): `embed --all --model lsa`
//! trains LSA into the artifact registry and then follows the change feed;
//! `models train-lsa` makes a second version, `artifacts rollback` serves the
//! first again; and the registry's errors say what to do next.

mod common;

use std::path::Path;

use common::{failure, json, steward, succeeded};

/// Questions and answers taken from the real dump: enough for LSA, and quick
/// to train in a debug build (the SVD's cost grows with the cube of the
/// dimensions, which a small corpus caps).
const SLICE_ROWS: usize = 100;

/// Writes the first [`SLICE_ROWS`] posts of the real dump in `source` into
/// `dump/Posts.xml`, the title of the first question changed by `edit`.
fn write_slice(source: &Path, dump: &Path, edit: impl Fn(&str) -> String) {
    let posts = std::fs::read_to_string(source.join("Posts.xml")).expect("Posts.xml");
    let mut lines = vec!["<?xml version=\"1.0\" encoding=\"utf-8\"?>".to_string()];
    lines.push("<posts>".to_string());
    lines.extend(
        posts
            .lines()
            .filter(|line| line.trim_start().starts_with("<row "))
            .take(SLICE_ROWS)
            .map(|line| {
                if line.contains(" Id=\"1\" ") {
                    edit(line)
                } else {
                    line.to_string()
                }
            }),
    );
    lines.push("</posts>".to_string());
    std::fs::create_dir_all(dump).expect("dump dir");
    std::fs::write(dump.join("Posts.xml"), lines.join("\n")).expect("write the slice");
}

fn import(dir: &Path, dump: &Path) {
    let report = json(&steward(
        dir,
        &[
            "import",
            "stackexchange",
            dump.to_str().expect("utf-8 path"),
            "--strict",
            "--json",
        ],
    ));
    assert_eq!(report["total_skipped"], 0, "{report}");
}

/// The one line `embed --all` prints.
fn embed_all(dir: &Path) -> String {
    succeeded(&steward(dir, &["embed", "--all", "--model", "lsa"]))
}

/// `(promoted version, versions)` of `lsa` in `artifacts list --json`.
fn lsa_listing(dir: &Path) -> (serde_json::Value, serde_json::Value) {
    let listing = json(&steward(dir, &["artifacts", "list", "--json"]));
    let artifacts = listing["artifacts"].as_array().expect("an array");
    assert_eq!(artifacts.len(), 1, "{listing}");
    let lsa = &artifacts[0];
    assert_eq!(lsa["name"], "lsa");
    assert_eq!(lsa["kind"], "embedder/lsa");
    assert!(lsa["size_bytes"].as_i64() > Some(0), "{lsa}");
    assert!(lsa["feed_seq"].as_i64() > Some(0), "{lsa}");
    (lsa["promoted_version"].clone(), lsa["versions"].clone())
}

#[test]
fn lsa_is_versioned_in_the_registry_and_embedding_follows_the_feed() {
    let data = steward_testkit::require_shared!(data "se-ai-2017");
    let work = tempfile::tempdir().expect("temp dir");
    let dir = work.path();
    let dump = dir.join("dump");
    write_slice(&data, &dump, str::to_string);
    import(dir, &dump);

    let missing = failure(&steward(dir, &["artifacts", "show", "lsa"]));
    assert!(missing.contains("no artifacts yet"), "{missing}");

    let first = embed_all(dir);
    assert!(first.contains(", full: "), "{first}");
    assert!(!first.contains(" 0 embedded"), "{first}");
    assert_eq!(lsa_listing(dir), (1.into(), 1.into()));

    let again = embed_all(dir);
    assert!(
        again.contains(", incremental: 0 embedded, 0 deleted, 0 unchanged, 0 scanned"),
        "nothing changed, nothing read: {again}"
    );

    // One question's title edited upstream and imported again: the feed
    // carries that post alone to the embedder. (Its new words are common
    // ones, so that the LSA trained next differs from the first.)
    write_slice(&data, &dump, |line| {
        line.replacen(" Title=\"", " Title=\"Neural network learning: ", 1)
    });
    import(dir, &dump);
    let after_edit = embed_all(dir);
    assert!(
        after_edit.contains(", incremental: 1 embedded, 0 deleted, 0 unchanged, 1 scanned"),
        "{after_edit}"
    );

    let trained = json(&steward(dir, &["models", "train-lsa", "--json"]));
    assert_eq!(
        (
            &trained["version"],
            &trained["promoted"],
            &trained["previous_version"]
        ),
        (&2.into(), &true.into(), &1.into()),
        "{trained}"
    );
    assert!(trained["metrics"]["explained_share"].as_f64() > Some(0.0));
    assert_eq!(lsa_listing(dir), (2.into(), 2.into()));

    let shown = json(&steward(dir, &["artifacts", "show", "lsa", "--json"]));
    let versions = shown["versions"].as_array().expect("versions");
    assert_eq!(versions.len(), 2, "{shown}");
    for (stored, (number, promoted)) in versions.iter().zip([(2, true), (1, false)]) {
        assert_eq!(stored["version"], number, "{stored}");
        assert_eq!(stored["promoted"], promoted, "{stored}");
        assert_eq!(stored["sha256"].as_str().map(str::len), Some(64));
        assert_eq!(stored["location"], "inline");
        assert!(stored["metadata"]["vocabulary"].as_u64() > Some(1));
        assert!(stored["metrics"]["training_seconds"].as_f64().is_some());
    }
    let one = json(&steward(
        dir,
        &["artifacts", "show", "lsa", "--version", "1", "--json"],
    ));
    assert_eq!(one["versions"].as_array().map(Vec::len), Some(1));

    // The new model's vectors are made by a full scan under its own id.
    assert!(embed_all(dir).contains(", full: "));

    let rollback = succeeded(&steward(dir, &["artifacts", "rollback", "lsa"]));
    assert!(
        rollback.contains("lsa v1 promoted again (was v2)"),
        "{rollback}"
    );
    assert_eq!(lsa_listing(dir), (1.into(), 2.into()));
    let back = embed_all(dir);
    assert!(
        back.contains(", incremental: 0 embedded"),
        "the first model's vectors and feed position are still there: {back}"
    );

    let nothing = failure(&steward(dir, &["artifacts", "rollback", "lsa"]));
    assert!(
        nothing.contains("steward artifacts promote lsa VERSION"),
        "{nothing}"
    );
    let promoted = succeeded(&steward(dir, &["artifacts", "promote", "lsa", "2"]));
    assert!(promoted.contains("lsa v2 promoted (was v1)"), "{promoted}");
    let unknown_version = failure(&steward(dir, &["artifacts", "promote", "lsa", "9"]));
    assert!(
        unknown_version.contains("lsa has no version 9; it has v1, v2"),
        "{unknown_version}"
    );
    let unknown_name = failure(&steward(dir, &["artifacts", "show", "lda"]));
    assert!(
        unknown_name.contains("no artifact named `lda`; known: lsa"),
        "{unknown_name}"
    );

    let table = succeeded(&steward(dir, &["artifacts", "list"]));
    assert!(
        table
            .lines()
            .any(|line| line.starts_with("lsa ") && line.contains("v2")),
        "{table}"
    );
}
