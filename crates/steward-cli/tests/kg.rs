//! The knowledge graph end to end on a real community (ai.stackexchange.com
//! 2017 from the shared data): nothing is served before a build and the
//! error says what to run; the tagger trains on a CoNLL file and is stored;
//! `kg build --json` reports entities from tags and the tagger, the top
//! entities and typed relations with provenance; an entity's page, a path
//! and an export work; a post imported afterwards is in the graph after
//! `kg update` without a rebuild; `eval ner` and `eval kg` print their JSON.

mod common;

use std::io::Write as _;

use common::{failure, json, steward, steward_command, succeeded};
use steward_testkit::shared_data_dir;

/// The first `sentences` sentences of a CoNLL file, written to `to`.
fn conll_slice(from: &std::path::Path, to: &std::path::Path, sentences: usize) {
    let text = std::fs::read_to_string(from).expect("CoNLL file");
    let mut kept = String::new();
    let mut count = 0;
    for line in text.lines() {
        kept.push_str(line);
        kept.push('\n');
        if line.trim().is_empty() {
            count += 1;
            if count >= sentences {
                break;
            }
        }
    }
    std::fs::write(to, kept).expect("slice");
}

fn kg(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    // Few GraphSAGE epochs: the test checks the wiring, `eval kg` the quality.
    steward_command(dir)
        .env("STEWARD_KG__GNN_EPOCHS", "10")
        .args(args)
        .output()
        .expect("the steward binary runs")
}

#[test]
fn build_show_path_export_update_and_evaluate() {
    let (Some(dump), Some(ner)) = (
        shared_data_dir("se-ai-2017"),
        shared_data_dir("stackoverflow-ner"),
    ) else {
        return;
    };
    let dir = tempfile::tempdir().expect("a temporary folder");
    let dump_arg = dump.to_str().expect("UTF-8");
    for command in [
        &["kg", "--help"][..],
        &["kg", "build", "--help"],
        &["kg", "show", "--help"],
        &["kg", "path", "--help"],
        &["kg", "export", "--help"],
        &["eval", "kg", "--help"],
        &["eval", "ner", "--help"],
    ] {
        assert!(steward(dir.path(), command).status.success(), "{command:?}");
    }
    json(&steward(
        dir.path(),
        &["import", "stackexchange", dump_arg, "--json"],
    ));
    assert!(failure(&steward(dir.path(), &["kg", "show", "python"])).contains("steward kg build"));

    let train = dir.path().join("train.conll");
    conll_slice(&ner.join("train.txt"), &train, 400);
    let trained = json(&steward(
        dir.path(),
        &[
            "kg",
            "train-ner",
            "--corpus",
            train.to_str().expect("UTF-8"),
            "--json",
        ],
    ));
    assert_eq!(trained["version"], 1, "{trained}");

    let built = json(&kg(dir.path(), &["kg", "build", "--json"]));
    assert!(
        built["from_tags"].as_u64().expect("from_tags") >= 100,
        "{built}"
    );
    assert_eq!(built["ner"], true, "the stored tagger ran: {built}");
    let top = built["top_entities"].as_array().expect("top entities");
    assert_eq!(top.len(), 20, "{built}");
    assert!(
        built["edges"]["related_to"]
            .as_u64()
            .expect("co-occurrence edges")
            > 100,
        "{built}"
    );
    for relation in built["top_relations"].as_array().expect("relations") {
        assert!(
            relation["post_id"].is_i64() && relation["extractor"].is_string(),
            "provenance: {relation}"
        );
    }

    let first = top[0]["name"].as_str().expect("a name");
    let page = json(&steward(dir.path(), &["kg", "show", first, "--json"]));
    assert_eq!(page["name"], first);
    assert!(
        page["neighbours"]["related_to"]
            .as_array()
            .is_some_and(|list| !list.is_empty()),
        "{page}"
    );
    assert!(
        !page["description"]
            .as_str()
            .expect("description")
            .is_empty()
    );
    let text = succeeded(&steward(dir.path(), &["kg", "show", first]));
    assert!(text.contains("related_to:"), "{text}");

    let second = top[1]["name"].as_str().expect("a name");
    let path = json(&steward(
        dir.path(),
        &["kg", "path", first, second, "--json"],
    ));
    assert!(
        path["path"]["steps"]
            .as_array()
            .is_some_and(|steps| !steps.is_empty()),
        "{path}"
    );
    assert!(
        failure(&steward(
            dir.path(),
            &["kg", "path", first, "no-such-thing-xyz"]
        ))
        .contains("no-such-thing-xyz")
    );

    let graphml = dir.path().join("graph.graphml");
    succeeded(&steward(
        dir.path(),
        &["kg", "export", "--out", graphml.to_str().expect("UTF-8")],
    ));
    let exported = json(&steward(dir.path(), &["kg", "export", "--format", "json"]));
    let xml = std::fs::read_to_string(&graphml).expect("GraphML");
    assert_eq!(
        xml.matches("<node ").count(),
        exported["nodes"].as_array().expect("nodes").len()
    );
    assert_eq!(
        xml.matches("<edge ").count(),
        exported["links"].as_array().expect("links").len()
    );

    // A post written after the build is in the graph after an update.
    let before = page["mentions"].as_i64().expect("mentions");
    let posts = dir.path().join("posts.jsonl");
    let mut file = std::fs::File::create(&posts).expect("posts file");
    writeln!(
        file,
        r#"{{"type":"post","id":990001,"kind":"question","title":"{first} and {second}","body_html":"<p>How does {first} relate to {second}?</p>","tags":[],"created_at":"2030-01-01T00:00:00Z"}}"#
    )
    .expect("write");
    drop(file);
    json(&steward(
        dir.path(),
        &["import", "jsonl", posts.to_str().expect("UTF-8"), "--json"],
    ));
    let updated = json(&steward(dir.path(), &["kg", "update", "--json"]));
    assert_eq!(updated["posts"], 1, "{updated}");
    let after = json(&steward(dir.path(), &["kg", "show", first, "--json"]));
    assert_eq!(after["mentions"].as_i64(), Some(before + 1), "{after}");

    // The tagger's evaluation, and the graph's.
    let dev = dir.path().join("dev.conll");
    conll_slice(&ner.join("dev.txt"), &dev, 200);
    let scored = json(&steward(
        dir.path(),
        &[
            "eval",
            "ner",
            "--train",
            train.to_str().expect("UTF-8"),
            "--file",
            dev.to_str().expect("UTF-8"),
            "--json",
        ],
    ));
    let micro = scored["micro_f1"].as_f64().expect("micro_f1");
    assert!(micro > 0.0, "{scored}");
    assert!(
        scored["per_type"]
            .as_object()
            .is_some_and(|types| !types.is_empty()),
        "{scored}"
    );

    let evaluated = json(&kg(
        dir.path(),
        &[
            "eval", "kg", "--data", dump_arg, "--no-ner", "--splits", "1", "--json",
        ],
    ));
    for method in ["gnn", "adamic_adar", "common_neighbors", "embedding_cosine"] {
        let auc = evaluated[method]["auc"]
            .as_f64()
            .unwrap_or_else(|| panic!("{method}: {evaluated}"));
        let hits = evaluated[method]["hits@20"]
            .as_f64()
            .unwrap_or_else(|| panic!("{method}: {evaluated}"));
        assert!(
            (0.0..=1.0).contains(&auc) && (0.0..=1.0).contains(&hits),
            "{evaluated}"
        );
    }
    assert!(
        evaluated["adamic_adar"]["auc"].as_f64() > Some(0.6),
        "structure predicts links: {evaluated}"
    );
}
