//! `steward ask` through the binary on a real community (ai.stackexchange.com
//! 2017 from the shared data): `--json` prints one object whose citations
//! resolve to real posts (the accepted answer among them), a question the
//! community cannot answer is refused with the closest threads, and the text
//! output lists numbered sources.

use std::path::Path;
use std::process::{Command, Output};

use steward_testkit::shared_data_dir;

fn steward(dir: &Path, args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_steward"));
    command
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", dir)
        .env("RUST_LOG", "warn")
        .env("CANDLE_NUM_THREADS", "1")
        .env("RAYON_NUM_THREADS", "1")
        .arg("--database")
        .arg(dir.join("community.db"));
    if let Some(models) = std::env::var_os("STEWARD_MODEL_DIR") {
        command.arg("--model-dir").arg(models);
    }
    command
        .args(args)
        .output()
        .expect("the steward binary runs")
}

fn succeeded(output: &Output) -> String {
    assert!(
        output.status.success(),
        "steward failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).expect("UTF-8 stdout")
}

fn json(output: &Output) -> serde_json::Value {
    let text = succeeded(output);
    serde_json::from_str(&text)
        .unwrap_or_else(|error| panic!("stdout is not one JSON object ({error}): {text}"))
}

#[test]
fn ask_answers_with_resolving_citations_and_refuses_what_it_cannot_ground() {
    let Some(dump) = shared_data_dir("se-ai-2017") else {
        return;
    };
    let dir = tempfile::tempdir().expect("a temporary folder");
    let dump = dump.display().to_string();
    succeeded(&steward(
        dir.path(),
        &["import", "stackexchange", &dump, "--json"],
    ));

    // Extractive (no model loaded), over BM25: nothing was embedded.
    let answer = json(&steward(
        dir.path(),
        &[
            "ask",
            "How to find the optimal number of neurons per layer?",
            "--json",
            "--no-llm",
        ],
    ));
    assert_eq!(answer["mode"], "extractive", "{answer}");
    assert_eq!(answer["refused"], false);
    assert_eq!(answer["language"], "en");
    let passages = answer["passages"].as_array().expect("passages");
    let citations = answer["citations"].as_array().expect("citations");
    assert!(!citations.is_empty(), "{answer}");
    for citation in citations {
        let n = citation["n"].as_u64().expect("n") as usize;
        assert_eq!(passages[n - 1]["post_id"], citation["post_id"], "{answer}");
    }
    // The thread asked about is the one cited (question 4 on the site).
    assert!(
        citations.iter().any(|citation| citation["thread_id"] == 4),
        "{answer}"
    );

    let refused = json(&steward(
        dir.path(),
        &[
            "ask",
            "What is the best recipe for sourdough bread with rye flour?",
            "--json",
            "--no-llm",
        ],
    ));
    assert_eq!(refused["refused"], true, "{refused}");
    assert_eq!(refused["mode"], "refused");
    assert!(refused["closest_threads"].is_array());
    assert!(refused["could_answer"].is_array());

    // The text output: the answer with markers, then numbered sources.
    let text = succeeded(&steward(
        dir.path(),
        &[
            "ask",
            "How to find the optimal number of neurons per layer?",
            "--no-llm",
        ],
    ));
    assert!(
        text.split("Sources:")
            .next()
            .is_some_and(|answer| answer.contains("]")),
        "{text}"
    );
    assert!(text.contains("\nSources:\n  ["), "{text}");

    let help = succeeded(&steward(dir.path(), &["ask", "--help"]));
    assert!(
        help.contains("--no-llm") && help.contains("--json"),
        "{help}"
    );
}
