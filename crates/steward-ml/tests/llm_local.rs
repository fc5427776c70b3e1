//! The local LLM on the real SmolLM2-135M-Instruct Q4_1 GGUF: tokenizer, chat
//! template, generation, sampling, stop strings and streaming, judged by what a
//! user would see.
//!
//! The model comes from `STEWARD_MODEL_DIR` (default `../shared/models` next to
//! the repository). Without it the tests say so and pass, except on CI (`CI=true`).

use std::sync::OnceLock;

use steward_ml::Error;
use steward_ml::llm::json_constraint::JsonState;
use steward_ml::llm::local::{LocalLlm, LocalOptions};
use steward_ml::llm::{
    CancellationToken, ChatMessage, ChatRequest, FinishReason, GenerationParams, Llm,
    ResponseFormat, Role,
};
use steward_testkit::shared_model_dir;

const MODEL: &str = "SmolLM2-135M-Instruct";

/// The shared model, loaded once per test binary; `None` (with a reason printed) when absent.
fn model() -> Option<&'static LocalLlm> {
    static MODEL_ONCE: OnceLock<Option<LocalLlm>> = OnceLock::new();
    MODEL_ONCE
        .get_or_init(|| {
            limit_threads();
            let dir = shared_model_dir(MODEL)?;
            Some(LocalLlm::load(&dir, &LocalOptions::default()).expect("SmolLM2 loads"))
        })
        .as_ref()
}

/// candle's thread pool spin-waits; with tests running in parallel more than
/// one thread each makes them crawl. Set before the pool exists (first model load).
#[allow(unsafe_code)]
fn limit_threads() {
    for var in ["CANDLE_NUM_THREADS", "RAYON_NUM_THREADS"] {
        if std::env::var_os(var).is_none() {
            // SAFETY: runs once inside the OnceLock initialiser, before any candle
            // or rayon thread exists; the other test threads wait on the OnceLock.
            unsafe { std::env::set_var(var, "1") };
        }
    }
}

fn user(question: &str) -> Vec<ChatMessage> {
    vec![ChatMessage {
        role: Role::User,
        content: question.to_string(),
    }]
}

fn request(question: &str, params: GenerationParams) -> ChatRequest {
    ChatRequest {
        messages: user(question),
        params,
    }
}

fn greedy(max_tokens: u32) -> GenerationParams {
    GenerationParams {
        max_tokens,
        temperature: 0.0,
        ..GenerationParams::default()
    }
}

/// Share of whitespace-separated words that are plain English-looking words
/// (letters with at most trailing punctuation). Garbage output scores near 0.
fn wordiness(text: &str) -> f64 {
    let words: Vec<&str> = text.split_whitespace().collect();
    let plain = words
        .iter()
        .filter(|word| {
            let core = word.trim_matches(|c: char| c.is_ascii_punctuation());
            !core.is_empty() && core.chars().all(|c| c.is_ascii_alphabetic() || c == '\'')
        })
        .count();
    plain as f64 / words.len().max(1) as f64
}

#[test]
fn q4_1_kernel_garbage_regression_capital_of_france_is_paris() {
    let Some(llm) = model() else { return };
    let completion = llm
        .generate(
            &request("What is the capital of France?", greedy(40)),
            |_| {},
        )
        .expect("generation runs");
    let text = completion.text;
    assert!(
        text.contains("Paris"),
        "answer does not mention Paris: {text:?}"
    );
    assert!(
        wordiness(&text) > 0.7,
        "answer is not mostly English words: {text:?}"
    );
    assert!(completion.prompt_ms > 0.0 && completion.decode_ms > 0.0);
}

/// The model again, with the prefix cache off: every run starts from scratch.
fn uncached_model() -> Option<&'static LocalLlm> {
    static MODEL_ONCE: OnceLock<Option<LocalLlm>> = OnceLock::new();
    MODEL_ONCE
        .get_or_init(|| {
            let path = model()?.path().to_path_buf();
            let options = LocalOptions {
                prefix_cache_entries: 0,
                ..LocalOptions::default()
            };
            Some(LocalLlm::load(&path, &options).expect("SmolLM2 loads"))
        })
        .as_ref()
}

#[test]
fn same_seed_same_text_when_sampling_and_another_seed_other_text() {
    let Some(cached) = model() else { return };
    let Some(uncached) = uncached_model() else {
        return;
    };
    let sampled = |seed: u64| GenerationParams {
        max_tokens: 24,
        temperature: 0.9,
        top_p: Some(0.95),
        seed,
        ..GenerationParams::default()
    };
    let question = "Tell me a short story about a robot.";
    let run = |llm: &LocalLlm, seed: u64| {
        llm.generate(&request(question, sampled(seed)), |_| {})
            .expect("generation runs")
            .text
    };
    // From scratch both times: the seed alone decides.
    let first = run(uncached, 7);
    assert_eq!(run(uncached, 7), first, "same seed, no cache");
    assert!(wordiness(&first) > 0.5, "{first:?}");
    // Through the prefix cache: the second run reuses the first one's prompt.
    let cached_first = run(cached, 7);
    assert_eq!(run(cached, 7), cached_first, "same seed, cache hit");
    // A sampler that ignored the seed (or the temperature) would give the same
    // text for every seed.
    let others: Vec<String> = (8..12).map(|seed| run(uncached, seed)).collect();
    assert!(
        others.iter().any(|text| *text != first),
        "seeds 7 to 11 all gave {first:?}"
    );
    // And greedy decoding ignores the seed.
    let greedy_text = |seed: u64| {
        uncached
            .generate(
                &request(question, GenerationParams { seed, ..greedy(12) }),
                |_| {},
            )
            .expect("generation runs")
            .text
    };
    assert_eq!(greedy_text(1), greedy_text(2));
}

#[test]
fn stop_string_ends_the_text_right_before_it_and_never_streams_it() {
    let Some(llm) = model() else { return };
    let question = "List three fruits, one per line.";
    let full = llm
        .generate(&request(question, greedy(30)), |_| {})
        .expect("run without stop");
    // Stop at the third word of the free-running answer: same greedy path up to there.
    let stop = full
        .text
        .split_whitespace()
        .nth(2)
        .expect("the answer has three words")
        .to_string();
    let cut = full.text.find(&stop).expect("the word is in the text");
    let mut pieces = Vec::new();
    let stopped = llm
        .generate(
            &request(
                question,
                GenerationParams {
                    stop: vec![stop.clone()],
                    ..greedy(30)
                },
            ),
            |piece| pieces.push(piece.to_string()),
        )
        .expect("run with stop");
    assert_eq!(stopped.text, full.text[..cut]);
    assert_eq!(stopped.finish_reason, FinishReason::Stop);
    assert_eq!(pieces.concat(), stopped.text);
    assert!(!pieces.concat().contains(&stop));
}

#[test]
fn max_tokens_is_honoured_exactly() {
    let Some(llm) = model() else { return };
    for max_tokens in [1, 5] {
        let completion = llm
            .generate(
                &request(
                    "Write a long essay about the history of Rome.",
                    greedy(max_tokens),
                ),
                |_| {},
            )
            .expect("generation runs");
        assert_eq!(completion.completion_tokens, max_tokens);
        assert_eq!(completion.finish_reason, FinishReason::Length);
        assert!(!completion.text.is_empty());
    }
}

#[test]
fn chinese_prompt_streams_whole_characters() {
    let Some(llm) = model() else { return };
    let mut pieces = Vec::new();
    let completion = llm
        .generate(
            &request("请用中文介绍一下巴黎。", greedy(24)),
            |piece| pieces.push(piece.to_string()),
        )
        .expect("generation runs");
    assert!(!completion.text.is_empty());
    assert!(
        !completion.text.contains('\u{fffd}'),
        "a character was split: {:?}",
        completion.text
    );
    assert!(pieces.iter().all(|piece| !piece.contains('\u{fffd}')));
    assert_eq!(pieces.concat(), completion.text);
}

#[tokio::test]
async fn chat_streams_pieces_that_add_up_to_the_completion() {
    let Some(llm) = model() else { return };
    let llm = Llm::Local(llm.clone());
    let (sender, mut receiver) = tokio::sync::mpsc::unbounded_channel();
    let completion = llm
        .chat(
            &request("What is the capital of France?", greedy(20)),
            Some(sender),
        )
        .await
        .expect("chat runs");
    let mut streamed = String::new();
    let mut n_pieces = 0;
    while let Some(piece) = receiver.recv().await {
        streamed.push_str(&piece);
        n_pieces += 1;
    }
    assert_eq!(streamed, completion.text);
    assert!(n_pieces > 1, "the text came in one piece, not streamed");
    assert_eq!(llm.model_id(), MODEL);
}

#[test]
fn prompt_longer_than_the_context_is_a_clear_error() {
    let Some(llm) = model() else { return };
    let long = "hello ".repeat(llm.context_length() + 10);
    let error = llm
        .generate(&request(&long, greedy(4)), |_| {})
        .expect_err("the prompt does not fit");
    assert!(
        matches!(error, Error::PromptTooLong { context_length, .. } if context_length == llm.context_length()),
        "{error}"
    );
}

#[test]
fn tokenizer_round_trips_english_chinese_and_code() {
    let Some(llm) = model() else { return };
    let tokenizer = llm.tokenizer();
    for text in [
        "The quick brown fox jumps over the lazy dog.",
        "巴黎是法国的首都，也是欧洲最大的城市之一。",
        "fn main() {\n    println!(\"{}\", 1 + 2);\n}\n",
        "  leading spaces, tabs\tand émojis 🦀",
    ] {
        let ids = tokenizer.encode(text).expect("encodes");
        assert_eq!(tokenizer.decode(&ids), text);
    }
    // SmolLM splits numbers into single digits.
    assert_eq!(tokenizer.encode("2024").expect("encodes").len(), 4);
}

/// Exact ids against the model's own tokenizer, computed without Steward's
/// code (see tests/data/README.md): a wrong split, merge order or special
/// token handling changes ids even where the text still round-trips.
#[test]
fn tokenizer_ids_match_the_reference_tokenizer_exactly() {
    let Some(llm) = model() else { return };
    let reference: serde_json::Value =
        serde_json::from_str(include_str!("data/smollm2_tokenizer_reference.json"))
            .expect("reference JSON");
    let cases = reference["cases"].as_array().expect("cases");
    assert!(cases.len() >= 30, "{} cases", cases.len());
    let mut wrong = Vec::new();
    for case in cases {
        let text = case["text"].as_str().expect("text");
        let expected: Vec<u32> = case["ids"]
            .as_array()
            .expect("ids")
            .iter()
            .map(|id| id.as_u64().expect("an id") as u32)
            .collect();
        let got = llm.tokenizer().encode(text).expect("encodes");
        if got != expected {
            wrong.push(format!("{text:?}: got {got:?}, expected {expected:?}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn chat_markers_are_single_special_tokens() {
    let Some(llm) = model() else { return };
    let tokenizer = llm.tokenizer();
    let ids = tokenizer
        .encode("<|im_start|>user\nHi<|im_end|>")
        .expect("encodes");
    let start = tokenizer.token_to_id("<|im_start|>").expect("in vocab");
    let end = tokenizer.token_to_id("<|im_end|>").expect("in vocab");
    assert_eq!(ids.first(), Some(&start));
    assert_eq!(ids.last(), Some(&end));
    assert!(tokenizer.is_end_of_turn(end));
    assert!(tokenizer.is_control(start));
}

#[test]
fn smollm2_chat_template_adds_its_default_system_prompt() {
    let Some(llm) = model() else { return };
    let prompt = llm
        .render_prompt(&user("What is Rust?"))
        .expect("template renders");
    assert_eq!(
        prompt,
        "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n\
         <|im_start|>user\nWhat is Rust?<|im_end|>\n\
         <|im_start|>assistant\n"
    );
}

#[test]
fn kv_cache_continuation_matches_one_pass() {
    let Some(llm) = model() else { return };
    let tokens = llm
        .tokenizer()
        .encode("The capital of France is Paris. The capital of Italy is")
        .expect("encodes");
    let mut one_pass = llm.new_cache();
    let whole: Vec<f32> = llm
        .forward(&tokens, &mut one_pass)
        .and_then(|logits| Ok(logits.to_vec1()?))
        .expect("one pass");
    let mut stepwise = llm.new_cache();
    let split = tokens.len() / 2;
    llm.forward(&tokens[..split], &mut stepwise)
        .expect("first half");
    let mut last = Vec::new();
    for &token in &tokens[split..] {
        last = llm
            .forward(&[token], &mut stepwise)
            .and_then(|logits| Ok(logits.to_vec1::<f32>()?))
            .expect("one token");
    }
    assert_eq!(stepwise.len(), tokens.len());
    let argmax = |values: &[f32]| {
        values
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .map(|(idx, _)| idx)
    };
    assert_eq!(argmax(&whole), argmax(&last));
    let max_diff = whole
        .iter()
        .zip(&last)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    // Not bit-identical: activations are quantized to 8 bits per 32-value block
    // before each matmul, and a last-bit difference in attention (another matmul
    // split) can flip one rounding next to SmolLM2's large outlier activations.
    // Observed here: up to 0.9 on logits spanning -26..15; a wrong position or
    // mask moves them by far more.
    assert!(max_diff < 2.0, "logits differ by {max_diff}");
    assert_eq!(
        llm.tokenizer()
            .decode(&[argmax(&whole).expect("logits") as u32]),
        " Rome"
    );
}

#[test]
fn a_cancelled_generation_stops_at_the_next_token() {
    let Some(llm) = model() else { return };
    let cancel = CancellationToken::new();
    let mut pieces = 0;
    let error = llm
        .generate_with(
            &request("Write a long essay about the history of Rome.", greedy(500)),
            &cancel,
            |_| {
                pieces += 1;
                if pieces == 3 {
                    cancel.cancel();
                }
            },
        )
        .expect_err("cancelled");
    match error {
        Error::CallCancelled {
            prompt_tokens,
            completion_tokens,
        } => {
            assert!(prompt_tokens > 10, "{prompt_tokens}");
            assert!((3..=5).contains(&completion_tokens), "{completion_tokens}");
        }
        other => panic!("expected a cancel, got {other}"),
    }
    assert_eq!(pieces, 3, "no piece after the cancel");
}

#[tokio::test]
async fn dropping_a_chat_stops_its_blocking_generation() {
    let Some(llm) = model() else { return };
    let llm = Llm::Local(llm.clone());
    let (sender, mut receiver) = tokio::sync::mpsc::unbounded_channel();
    let question = request(
        "Write a long essay about the history of Rome.",
        greedy(2000),
    );
    let chat = llm.chat(&question, Some(sender));
    // Run the chat until two pieces came, then drop it.
    {
        tokio::pin!(chat);
        let mut seen = 0;
        while seen < 2 {
            tokio::select! {
                _ = &mut chat => panic!("2000 tokens finished early"),
                piece = receiver.recv() => {
                    piece.expect("a piece");
                    seen += 1;
                }
            }
        }
    }
    // The blocking thread drops its sender when it stops: the channel closes.
    let closed = tokio::time::timeout(std::time::Duration::from_secs(5), async {
        while receiver.recv().await.is_some() {}
    })
    .await;
    assert!(
        closed.is_ok(),
        "the generation went on after the chat was dropped"
    );
}

#[test]
fn json_mode_answers_one_json_object() {
    let Some(llm) = model() else { return };
    let json = |question: &str, max_tokens: u32| {
        llm.generate(
            &request(
                question,
                GenerationParams {
                    response_format: ResponseFormat::JsonObject,
                    ..greedy(max_tokens)
                },
            ),
            |_| {},
        )
        .expect("generation runs")
    };
    let completion = json(
        "Describe a cat as a JSON object with the keys name and age.",
        48,
    );
    assert_eq!(
        completion.finish_reason,
        FinishReason::Stop,
        "{completion:?}"
    );
    let value: serde_json::Value = serde_json::from_str(&completion.text)
        .unwrap_or_else(|error| panic!("not JSON ({error}): {:?}", completion.text));
    assert!(value.is_object(), "{value}");
    // Without the constraint the same question is not answered in JSON.
    let free = llm
        .generate(
            &request(
                "Describe a cat as a JSON object with the keys name and age.",
                greedy(48),
            ),
            |_| {},
        )
        .expect("generation runs");
    assert!(
        serde_json::from_str::<serde_json::Value>(&free.text).is_err(),
        "the model answers JSON anyway, the test proves nothing: {:?}",
        free.text
    );
    // Cut short, the text is still the start of an object.
    let cut = json("List ten animals in a JSON object.", 5);
    assert_eq!(cut.finish_reason, FinishReason::Length);
    assert!(cut.text.starts_with('{'), "{:?}", cut.text);
    assert!(
        JsonState::new().after(cut.text.as_bytes()).is_some(),
        "{:?}",
        cut.text
    );
}
