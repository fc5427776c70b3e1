//! `steward dupes` end to end on a real community (ai.stackexchange.com 2017
//! from the shared data), LSA standing in for the embedding model: before
//! calibration the threads come without probabilities and the notice says
//! what to run; `--calibrate --json` prints the learned threshold and the
//! cross-validated figures; afterwards a draft gets probabilities and a
//! linked duplicate is marked in the text output's order. Bad input is
//! refused with what to write instead.

mod common;

use std::path::Path;
use std::process::Output;

use common::{failure, json};
use steward_testkit::shared_data_dir;

/// `steward` with LSA standing in for the embedding model.
fn steward(dir: &Path, args: &[&str]) -> Output {
    common::steward_command(dir)
        .env("STEWARD_EMBEDDING__MODEL", "lsa")
        .args(args)
        .output()
        .expect("the steward binary runs")
}

#[test]
fn dupes_calibrates_on_the_links_and_scores_a_draft() {
    let Some(dump) = shared_data_dir("se-ai-2017") else {
        return;
    };
    let dir = tempfile::tempdir().expect("a temporary folder");
    let help = steward(dir.path(), &["dupes", "--help"]);
    assert!(help.status.success());
    assert!(String::from_utf8_lossy(&help.stdout).contains("--calibrate"));
    json(&steward(
        dir.path(),
        &[
            "import",
            "stackexchange",
            dump.to_str().expect("UTF-8"),
            "--json",
        ],
    ));

    // Bad input says what to write.
    assert!(failure(&steward(dir.path(), &["dupes"])).contains("<TITLE>"));
    assert!(failure(&steward(dir.path(), &["dupes", "x", "--limit", "0"])).contains("--limit"));
    assert!(
        failure(&steward(
            dir.path(),
            &["dupes", "x", "--body-file", "missing.md"]
        ))
        .contains("missing.md")
    );

    let title = "What is the difference between machine learning and deep learning?";
    let before = json(&steward(
        dir.path(),
        &["dupes", title, "--limit", "3", "--json"],
    ));
    let threads = before["threads"].as_array().expect("threads");
    assert_eq!(threads.len(), 3, "{before}");
    assert!(threads.iter().all(|thread| thread["probability"].is_null()));
    assert!(before["calibration"].is_null());
    assert!(
        before["notice"]
            .as_str()
            .is_some_and(|notice| notice.contains("steward dupes --calibrate")),
        "{before}"
    );

    let calibrated = json(&steward(dir.path(), &["dupes", "--calibrate", "--json"]));
    let threshold = calibrated["threshold"].as_f64().expect("a threshold");
    assert!(threshold > 0.0 && threshold < 1.0, "{calibrated}");
    assert_eq!(
        calibrated["positive_links"],
        serde_json::json!(["duplicate", "related"])
    );
    for key in ["precision", "recall", "f1"] {
        let value = calibrated["metrics"][key].as_f64().unwrap_or(-1.0);
        assert!((0.0..=1.0).contains(&value), "{key}: {calibrated}");
    }
    assert!(calibrated["metrics"]["positives"].as_u64() > Some(0));
    assert!(calibrated["version"].as_i64() == Some(1), "{calibrated}");

    let after = json(&steward(
        dir.path(),
        &[
            "dupes",
            title,
            "--tags",
            "machine-learning,deep-learning",
            "--json",
        ],
    ));
    assert_eq!(after["calibration"]["threshold"], threshold);
    let probabilities: Vec<f64> = after["threads"]
        .as_array()
        .expect("threads")
        .iter()
        .map(|thread| thread["probability"].as_f64().expect("a probability"))
        .collect();
    assert!(!probabilities.is_empty());
    assert!(probabilities.windows(2).all(|pair| pair[0] >= pair[1]));

    let text = steward(dir.path(), &["dupes", title]);
    assert!(text.status.success());
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("calibrated on duplicate and related links"),
        "{text}"
    );
    assert!(text.contains(" 1. 0."), "{text}");
}
