//! `steward ask` through the binary on a real community (ai.stackexchange.com
//! 2017 from the shared data): `--json` prints one object whose citations
//! resolve to real posts (the accepted answer among them), a question the
//! community cannot answer is refused with the closest threads, and the text
//! output lists numbered sources.

mod common;

use common::{json, steward, succeeded};
use steward_testkit::shared_data_dir;

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
