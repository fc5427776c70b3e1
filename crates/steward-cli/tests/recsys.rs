//! The recommender end to end on a real community (ai.stackexchange.com
//! 2017 from the shared data): nothing is served before training and the
//! error says what to run; `train --json` promotes a first version with a
//! validation row per model; `recommend --explain` lists threads the member
//! never touched, each with its reason; a new favorite sent as an event is
//! folded in at once; `experts` ranks members for a question; `eval recsys
//! --json` prints every model's metrics and expert routing against its
//! baseline. Bad input is refused with what to write instead.

mod common;

use std::collections::{HashMap, HashSet};
use std::io::Write as _;
use std::path::Path;

use common::{failure, json, steward};
use steward_testkit::shared_data_dir;

/// `(most active answerer, the threads they touched, a question with two or more answers)`,
/// read from the dump's Posts.xml.
fn pick(dump: &Path) -> (i64, HashSet<i64>, i64) {
    let posts = std::fs::read_to_string(dump.join("Posts.xml")).expect("Posts.xml");
    let attribute = |row: &str, name: &str| -> Option<i64> {
        let start = row.find(&format!(" {name}=\""))? + name.len() + 3;
        row[start..].split('"').next()?.parse().ok()
    };
    let mut answers: HashMap<i64, usize> = HashMap::new();
    let mut touched: HashMap<i64, HashSet<i64>> = HashMap::new();
    let mut question = None;
    for row in posts
        .lines()
        .filter(|line| line.trim_start().starts_with("<row"))
    {
        let (Some(id), Some(kind)) = (attribute(row, "Id"), attribute(row, "PostTypeId")) else {
            continue;
        };
        let owner = attribute(row, "OwnerUserId");
        match kind {
            1 => {
                if attribute(row, "AnswerCount").unwrap_or(0) >= 2 {
                    question = Some(id);
                }
                if let Some(owner) = owner {
                    touched.entry(owner).or_default().insert(id);
                }
            }
            2 => {
                if let (Some(owner), Some(parent)) = (owner, attribute(row, "ParentId")) {
                    *answers.entry(owner).or_default() += 1;
                    touched.entry(owner).or_default().insert(parent);
                }
            }
            _ => {}
        }
    }
    let (&member, _) = answers
        .iter()
        .max_by_key(|(user, count)| (**count, -**user))
        .expect("someone answered");
    (
        member,
        touched.remove(&member).unwrap_or_default(),
        question.expect("an answered question"),
    )
}

#[test]
fn train_recommend_fold_in_route_and_evaluate() {
    let Some(dump) = shared_data_dir("se-ai-2017") else {
        return;
    };
    let dir = tempfile::tempdir().expect("a temporary folder");
    let dump_arg = dump.to_str().expect("UTF-8");
    for command in [
        &["train", "--help"][..],
        &["recommend", "--help"],
        &["experts", "--help"],
        &["eval", "recsys", "--help"],
    ] {
        assert!(steward(dir.path(), command).status.success(), "{command:?}");
    }
    json(&steward(
        dir.path(),
        &["import", "stackexchange", dump_arg, "--json"],
    ));
    assert!(failure(&steward(dir.path(), &["recommend", "1"])).contains("steward train"));

    let trained = json(&steward(dir.path(), &["train", "--json"]));
    assert_eq!(trained["promoted"], true, "{trained}");
    assert_eq!(trained["version"], 1);
    for model in ["popularity", "item_knn", "als", "bpr", "hybrid"] {
        let ndcg = trained["validation"][model]["ndcg@10"]
            .as_f64()
            .unwrap_or_else(|| panic!("{model}: {trained}"));
        assert!((0.0..=1.0).contains(&ndcg));
    }

    let (member, touched, question) = pick(&dump);
    let member_arg = member.to_string();
    let listed = json(&steward(
        dir.path(),
        &["recommend", &member_arg, "--explain", "--json"],
    ));
    let items = listed["items"].as_array().expect("items");
    assert_eq!(items.len(), 10, "{listed}");
    assert_eq!(listed["folded_in"], false);
    for item in items {
        let post = item["post_id"].as_i64().expect("a post id");
        assert!(!touched.contains(&post), "{post} was touched by {member}");
        assert!(
            !item["explanation"]["text"]
                .as_str()
                .expect("a reason")
                .is_empty()
        );
    }
    let text = common::succeeded(&steward(
        dir.path(),
        &["recommend", &member_arg, "--n", "3", "--explain"],
    ));
    assert!(text.contains(" 3. "), "{text}");

    // A favorite written by another writer (a JSONL import) counts at once.
    let first = items[0]["post_id"].as_i64().expect("a post id");
    let events = dir.path().join("events.jsonl");
    let mut file = std::fs::File::create(&events).expect("events file");
    writeln!(
        file,
        r#"{{"type":"event","user_id":{member},"kind":"favorite","target":{{"type":"post","id":{first}}},"at":"2030-01-01T00:00:00Z","key":"test:fav"}}"#
    )
    .expect("write");
    drop(file);
    json(&steward(
        dir.path(),
        &["import", "jsonl", events.to_str().expect("UTF-8"), "--json"],
    ));
    let after = json(&steward(dir.path(), &["recommend", &member_arg, "--json"]));
    assert_eq!(after["folded_in"], true, "{after}");
    assert!(
        after["items"]
            .as_array()
            .expect("items")
            .iter()
            .all(|item| item["post_id"] != first)
    );

    let experts = json(&steward(
        dir.path(),
        &["experts", &question.to_string(), "--n", "5", "--json"],
    ));
    let experts = experts["experts"].as_array().expect("experts");
    assert!(!experts.is_empty() && experts.len() <= 5);
    assert!(experts.iter().all(|expert| {
        expert["probability"]
            .as_f64()
            .is_some_and(|p| (0.0..=1.0).contains(&p))
    }));

    // Bad input says what to write.
    assert!(
        failure(&steward(
            dir.path(),
            &["recommend", &member_arg, "--model", "magic"]
        ))
        .contains("als")
    );
    assert!(
        failure(&steward(
            dir.path(),
            &["recommend", &member_arg, "--n", "0"]
        ))
        .contains("--n")
    );
    assert!(failure(&steward(dir.path(), &["eval", "recsys"])).contains("--data"));

    let report = json(&steward(
        dir.path(),
        &[
            "eval",
            "recsys",
            "--data",
            dump_arg,
            "--no-content",
            "--json",
        ],
    ));
    for model in ["popularity", "item_knn", "als", "bpr", "hybrid"] {
        for metric in ["p@10", "r@10", "r@20", "ndcg@10", "map@10", "coverage"] {
            let value = report[model][metric]
                .as_f64()
                .unwrap_or_else(|| panic!("{model} {metric}: {report}"));
            assert!((0.0..=1.0).contains(&value), "{model} {metric}");
        }
    }
    assert!(
        report["content"].is_null(),
        "--no-content leaves the content model out"
    );
    let routing = &report["expert_routing"];
    assert!(
        routing["questions"].as_u64().expect("questions") > 10,
        "{routing}"
    );
    for metric in ["recall@10", "mrr", "baseline_recall@10", "baseline_mrr"] {
        assert!(
            routing[metric]
                .as_f64()
                .is_some_and(|value| (0.0..=1.0).contains(&value)),
            "{metric}"
        );
    }
}
