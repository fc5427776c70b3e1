//! End-to-end search through the `steward` binary on a real community
//! (ai.stackexchange.com 2017 from the shared data): `steward search` builds
//! the lexical index on first use and finds a question by its words,
//! `index build` embeds and indexes, `index status` says both are current,
//! and `eval search --json` prints the one object docs/cli.md promises.

mod common;

use std::path::{Path, PathBuf};

use common::{json, steward};
use steward_testkit::shared_data_dir;

/// The real dump's questions and links only: every thread root and every
/// judgment, at a fraction of the embedding cost of the whole dump.
fn questions_only(source: &Path, dump: &Path) -> usize {
    let posts = std::fs::read_to_string(source.join("Posts.xml")).expect("Posts.xml");
    let rows: Vec<&str> = posts
        .lines()
        .filter(|line| {
            line.trim_start().starts_with("<row ") && line.contains(" PostTypeId=\"1\" ")
        })
        .collect();
    let mut text = String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<posts>\n");
    for row in &rows {
        text.push_str(row);
        text.push('\n');
    }
    text.push_str("</posts>\n");
    std::fs::create_dir_all(dump).expect("dump dir");
    std::fs::write(dump.join("Posts.xml"), text).expect("write Posts.xml");
    std::fs::copy(source.join("PostLinks.xml"), dump.join("PostLinks.xml")).expect("copy links");
    rows.len()
}

fn dump() -> Option<PathBuf> {
    shared_data_dir("se-ai-2017")
}

#[test]
fn search_finds_a_question_by_its_words_and_index_status_says_it_is_current() {
    let Some(source) = dump() else { return };
    let dir = tempfile::tempdir().expect("a temporary folder");
    let questions = questions_only(&source, &dir.path().join("dump"));
    let dump = dir.path().join("dump");
    json(&steward(
        dir.path(),
        &[
            "import",
            "stackexchange",
            dump.to_str().expect("UTF-8"),
            "--json",
        ],
    ));

    // The first search builds the lexical index; no model is needed for bm25.
    let found = json(&steward(
        dir.path(),
        &[
            "search",
            "optimal number of neurons per layer",
            "--mode",
            "bm25",
            "--json",
        ],
    ));
    let top = &found["hits"][0];
    assert_eq!(
        top["title"], "How to find the optimal number of neurons per layer?",
        "{found}"
    );
    assert_eq!(top["found_by"], serde_json::json!(["bm25"]));
    let terms: Vec<&str> = top["bm25"]["matched_terms"]
        .as_array()
        .expect("matched terms")
        .iter()
        .filter_map(|term| term.as_str())
        .collect();
    assert!(terms.contains(&"neurons"), "{terms:?}");
    assert!(
        top["snippet"].as_str().is_some_and(|s| !s.is_empty()),
        "{top}"
    );

    // A tag filter narrows; text output names the hit and why.
    let filtered = json(&steward(
        dir.path(),
        &[
            "search",
            "neural network",
            "--mode",
            "bm25",
            "--tag",
            "definitions",
            "--json",
        ],
    ));
    for hit in filtered["hits"].as_array().expect("hits") {
        assert!(
            hit["tags"]
                .as_array()
                .expect("tags")
                .contains(&"definitions".into()),
            "{hit}"
        );
    }
    let text = steward(dir.path(), &["search", "backprop", "--mode", "bm25"]);
    assert!(text.status.success());
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("found by bm25 #1"), "{text}");

    let status = json(&steward(dir.path(), &["index", "status", "--json"]));
    assert_eq!(status["lexical"]["documents"], questions, "{status}");
    assert_eq!(
        status["lexical"]["position"], status["feed_head"],
        "{status}"
    );

    // Bad input is refused with what to write instead.
    let bad = steward(dir.path(), &["search", "x", "--since", "yesterday"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("YYYY-MM-DD"));
}

#[test]
fn eval_search_prints_every_mode_side_by_side() {
    let Some(source) = dump() else { return };
    let dir = tempfile::tempdir().expect("a temporary folder");
    let dump = dir.path().join("dump");
    questions_only(&source, &dump);
    let report = json(&steward(
        dir.path(),
        &[
            "eval",
            "search",
            "--data",
            dump.to_str().expect("UTF-8"),
            "--model",
            "lsa",
            "--json",
        ],
    ));
    assert!(
        report["queries"].as_u64().is_some_and(|n| n >= 20),
        "{report}"
    );
    for mode in ["bm25", "dense", "hybrid", "hybrid_weighted"] {
        for metric in ["ndcg@10", "recall@10", "recall@100", "mrr"] {
            let value = report[mode][metric].as_f64().unwrap_or(-1.0);
            assert!((0.0..=1.0).contains(&value), "{mode} {metric}: {report}");
        }
        // Every mode finds a linked question for some query.
        assert!(
            report[mode]["recall@100"].as_f64() > Some(0.2),
            "{mode}: {report}"
        );
    }
}
