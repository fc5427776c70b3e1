//! Parity of the BERT embedder with sentence-transformers on all-MiniLM-L6-v2:
//! every reference sentence (English, code, mixed, Chinese; 2 to 239 tokens)
//! must come out with cosine ≥ 0.9999 against the Python vector. The reference
//! was made by bench/peers/make_minilm_reference.py (see tests/data/README.md).

use std::path::PathBuf;

use steward_ml::embed::Purpose;
use steward_ml::embed::bert::{BertEmbedder, BertOptions};
use steward_testkit::require_shared;

/// candle's CPU pool spin-waits; tests run in parallel, so each gets one thread.
fn one_thread<T: Send>(work: impl FnOnce() -> T + Send) -> T {
    rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .expect("a one-thread pool")
        .install(work)
}

struct Reference {
    text: String,
    tokens: usize,
    vector: Vec<f32>,
}

fn reference() -> Vec<Reference> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/minilm_reference.json");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("reference file"))
            .expect("json");
    json["sentences"]
        .as_array()
        .expect("sentences")
        .iter()
        .map(|row| Reference {
            text: row["text"].as_str().expect("text").to_string(),
            tokens: row["tokens"].as_u64().expect("tokens") as usize,
            vector: row["vector"]
                .as_array()
                .expect("vector")
                .iter()
                .map(|value| value.as_f64().expect("number") as f32)
                .collect(),
        })
        .collect()
}

fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a
        .iter()
        .zip(b)
        .map(|(x, y)| f64::from(*x) * f64::from(*y))
        .sum();
    let norm = |v: &[f32]| v.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    dot / (norm(a) * norm(b))
}

#[test]
fn minilm_matches_sentence_transformers_on_every_reference_sentence() {
    let dir = require_shared!(model "all-MiniLM-L6-v2");
    let reference = reference();
    assert!(reference.len() >= 50, "the acceptance bar is 50 sentences");
    let embedder = BertEmbedder::load(&dir, BertOptions::from_model_dir(&dir).expect("options"))
        .expect("model loads");
    assert_eq!(embedder.model_id(), "all-MiniLM-L6-v2");
    assert_eq!(embedder.dim(), 384);
    let texts: Vec<&str> = reference.iter().map(|row| row.text.as_str()).collect();

    // All at once (mixed lengths share padded batches) and one by one (no padding):
    // both must match, so padding is masked correctly.
    let (batched, counts, single) = one_thread(|| {
        let batched = embedder.embed(&texts, Purpose::Passage).expect("embed");
        let counts = embedder.token_counts(&texts).expect("count");
        let single: Vec<Vec<f32>> = texts
            .iter()
            .take(12)
            .map(|text| {
                embedder
                    .embed(&[text], Purpose::Passage)
                    .expect("embed")
                    .remove(0)
            })
            .collect();
        (batched, counts, single)
    });
    let mut worst = (1.0f64, "");
    for ((row, vector), count) in reference.iter().zip(&batched).zip(&counts) {
        assert_eq!(*count, row.tokens, "token count of {:?}", row.text);
        let similarity = cosine(vector, &row.vector);
        if similarity < worst.0 {
            worst = (similarity, row.text.as_str());
        }
        assert!(
            similarity >= 0.9999,
            "cosine {similarity} for {:?}",
            row.text
        );
    }
    for (row, vector) in reference.iter().zip(&single) {
        let similarity = cosine(vector, &row.vector);
        assert!(
            similarity >= 0.9999,
            "alone: cosine {similarity} for {:?}",
            row.text
        );
    }
    eprintln!("worst cosine {:.7} for {:?}", worst.0, worst.1);
}

#[test]
fn embedding_is_deterministic_and_unit_length() {
    let dir = require_shared!(model "all-MiniLM-L6-v2");
    let embedder = BertEmbedder::load(&dir, BertOptions::from_model_dir(&dir).expect("options"))
        .expect("model loads");
    let texts = [
        "How do I parse JSON in Rust?",
        "serde_json::from_str::<Value>(text)?",
        "",
    ];
    let (first, second) = one_thread(|| {
        (
            embedder.embed(&texts, Purpose::Query).expect("embed"),
            embedder.embed(&texts, Purpose::Query).expect("embed"),
        )
    });
    assert_eq!(first, second);
    for vector in &first {
        let norm: f32 = vector.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-5, "norm {norm}");
    }
}

#[test]
fn long_texts_are_chunked_so_their_end_still_counts() {
    let dir = require_shared!(model "all-MiniLM-L6-v2");
    let embedder = BertEmbedder::load(&dir, BertOptions::from_model_dir(&dir).expect("options"))
        .expect("model loads");
    let filler = "The quarterly report covers revenue, hiring and office moves. ".repeat(40);
    let about_gpus =
        format!("{filler} How do I fix CUDA out of memory errors when training on the GPU?");
    let about_cooking = format!("{filler} What is the best way to bake sourdough bread at home?");
    let query = "CUDA out of memory on the GPU during training";
    let vectors = one_thread(|| {
        embedder
            .embed(&[&about_gpus, &about_cooking, query], Purpose::Passage)
            .expect("embed")
    });
    let counts = embedder.token_counts(&[&about_gpus]).expect("count");
    assert!(
        counts[0] > 400,
        "the text must need several chunks ({} tokens)",
        counts[0]
    );
    // Truncated at 256 tokens both texts would be the same filler; chunked, the
    // one that ends with the GPU question is closer to the GPU query.
    assert!(cosine(&vectors[0], &vectors[2]) > cosine(&vectors[1], &vectors[2]));
}
