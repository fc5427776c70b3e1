//! `steward bench generate`: prompt-processing and decode speed (tokens/s) of the
//! local LLM, side by side with llama.cpp on the same GGUF file and token ids.
//!
//! Both sides get the same work: one forward pass over `--prompt-tokens` ids,
//! then `--gen-tokens` greedy decode steps (EOS ignored), after a warm-up; the
//! median of `--repeats` runs is reported.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context as _;
use serde::Serialize;
use steward_ml::llm::local::{LocalLlm, LocalOptions};
use steward_runtime::build;
use steward_runtime::config::Flags;

use crate::Context;

/// The prompt text, repeated until it has enough tokens (the Stack Exchange
/// kind of text Steward generates from).
const PROMPT_TEXT: &str = "A user asks how to fine-tune a small language model on a \
    laptop without a GPU. The accepted answer explains that quantized weights, a short \
    context and a few hundred training examples are enough to adapt the model's style, \
    and that evaluation on held-out questions matters more than the final loss. ";

/// The variable candle's CPU kernels read their thread count from.
const THREADS_VAR: &str = "CANDLE_NUM_THREADS";

#[derive(Debug, clap::Args)]
pub struct BenchGenerateArgs {
    /// Print one JSON object on stdout.
    #[arg(long)]
    json: bool,

    /// CPU threads for both sides (candle reads CANDLE_NUM_THREADS at start, so
    /// the bench re-runs itself with it set). Default: candle's own choice.
    #[arg(long)]
    threads: Option<usize>,

    #[arg(long, default_value_t = 128)]
    prompt_tokens: usize,

    #[arg(long, default_value_t = 128)]
    gen_tokens: usize,

    #[arg(long, default_value_t = 3)]
    repeats: usize,

    /// A GGUF model name or path [config: llm.model].
    #[arg(long)]
    model: Option<String>,

    /// A Python with `llama_cpp` installed (llama-cpp-python), for the peer column.
    #[arg(long, env = "STEWARD_PEER_PYTHON")]
    python: Option<PathBuf>,

    /// The peer script (bench/peers/generate_llama_cpp.py).
    #[arg(long, default_value = "bench/peers/generate_llama_cpp.py")]
    peer_script: PathBuf,
}

#[derive(Debug, Serialize)]
struct Speed {
    prompt_tok_s: f64,
    decode_tok_s: f64,
}

#[derive(Debug, Serialize)]
struct Report {
    model: String,
    gguf: String,
    threads: usize,
    prompt_tokens: usize,
    gen_tokens: usize,
    load_s: f64,
    steward: Speed,
    llama_cpp: Option<Speed>,
    /// Steward / llama.cpp; above 1 means Steward is faster.
    prompt_ratio: Option<f64>,
    decode_ratio: Option<f64>,
}

impl BenchGenerateArgs {
    /// The config keys these flags set.
    pub fn flags(&self, flags: &mut Flags) {
        flags.set("--model", "llm.model", self.model.as_ref());
    }
}

pub async fn run(args: BenchGenerateArgs, context: &Context) -> anyhow::Result<()> {
    if let Some(threads) = args.threads {
        let wanted = threads.to_string();
        if std::env::var(THREADS_VAR).ok().as_deref() != Some(wanted.as_str()) {
            return rerun_with_threads(&wanted);
        }
    }
    let threads = candle_core_threads();
    let model = context.config.llm.model.clone();
    let resolver = build::model_resolver(&context.config);
    let path = resolver
        .resolve(&model)
        .await
        .with_context(|| format!("finding model `{model}`"))?;
    let load_started = Instant::now();
    // No prefix reuse: every run must process its whole prompt.
    let options = LocalOptions {
        prefix_cache_entries: 0,
        ..build::local_options(&context.config.llm)
    };
    let llm = tokio::task::spawn_blocking(move || LocalLlm::load(&path, &options))
        .await?
        .context("loading the model")?;
    let load_s = load_started.elapsed().as_secs_f64();

    let prompt = prompt_tokens(&llm, args.prompt_tokens)?;
    let (bench_llm, bench_prompt) = (llm.clone(), prompt.clone());
    let (gen_tokens, repeats) = (args.gen_tokens, args.repeats.max(1));
    let steward = tokio::task::spawn_blocking(move || {
        measure(&bench_llm, &bench_prompt, gen_tokens, repeats)
    })
    .await??;

    let llama_cpp = match &args.python {
        Some(python) => Some(run_peer(python, &args, &llm, &prompt, threads)?),
        None => None,
    };
    let ratio = |ours: f64, theirs: Option<f64>| theirs.filter(|t| *t > 0.0).map(|t| ours / t);
    let report = Report {
        model,
        gguf: llm.path().display().to_string(),
        threads,
        prompt_tokens: prompt.len(),
        gen_tokens: args.gen_tokens,
        load_s,
        prompt_ratio: ratio(
            steward.prompt_tok_s,
            llama_cpp.as_ref().map(|s| s.prompt_tok_s),
        ),
        decode_ratio: ratio(
            steward.decode_tok_s,
            llama_cpp.as_ref().map(|s| s.decode_tok_s),
        ),
        steward,
        llama_cpp,
    };
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print_table(&report);
    }
    Ok(())
}

/// Runs this same command again with the thread count in the environment
/// (candle sizes its pool once, from the environment, at first use).
fn rerun_with_threads(threads: &str) -> anyhow::Result<()> {
    let exe = std::env::current_exe().context("finding the steward binary")?;
    let status = std::process::Command::new(exe)
        .args(std::env::args_os().skip(1))
        .env(THREADS_VAR, threads)
        .env("RAYON_NUM_THREADS", threads)
        .status()
        .context("re-running the bench with the thread count set")?;
    if !status.success() {
        anyhow::bail!("bench run failed: {status}");
    }
    Ok(())
}

/// The thread count candle will use (its own rule: the variable, else physical cores).
fn candle_core_threads() -> usize {
    std::env::var(THREADS_VAR)
        .or_else(|_| std::env::var("RAYON_NUM_THREADS"))
        .ok()
        .and_then(|value| value.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from))
}

/// Exactly `n` token ids of ordinary English text.
fn prompt_tokens(llm: &LocalLlm, n: usize) -> anyhow::Result<Vec<u32>> {
    let mut text = String::new();
    loop {
        text.push_str(PROMPT_TEXT);
        let tokens = llm.tokenizer().encode(&text)?;
        if tokens.len() >= n {
            return Ok(tokens[..n].to_vec());
        }
    }
}

/// Median prompt and decode speed over `repeats` runs, after a warm-up.
fn measure(
    llm: &LocalLlm,
    prompt: &[u32],
    gen_tokens: usize,
    repeats: usize,
) -> anyhow::Result<Speed> {
    let run = |gen_tokens: usize| -> anyhow::Result<(f64, f64)> {
        let mut cache = llm.new_cache();
        let started = Instant::now();
        let mut logits = llm.forward(prompt, &mut cache)?;
        let prompt_s = started.elapsed().as_secs_f64();
        let started = Instant::now();
        for _ in 0..gen_tokens {
            let next = logits.argmax(0)?.to_scalar::<u32>()?;
            logits = llm.forward(&[next], &mut cache)?;
        }
        let decode_s = started.elapsed().as_secs_f64();
        Ok((
            prompt.len() as f64 / prompt_s,
            if gen_tokens == 0 {
                0.0
            } else {
                gen_tokens as f64 / decode_s
            },
        ))
    };
    run(8)?;
    let mut prompt_rates = Vec::with_capacity(repeats);
    let mut decode_rates = Vec::with_capacity(repeats);
    for _ in 0..repeats {
        let (prompt_rate, decode_rate) = run(gen_tokens)?;
        prompt_rates.push(prompt_rate);
        decode_rates.push(decode_rate);
    }
    Ok(Speed {
        prompt_tok_s: median(&mut prompt_rates),
        decode_tok_s: median(&mut decode_rates),
    })
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn run_peer(
    python: &PathBuf,
    args: &BenchGenerateArgs,
    llm: &LocalLlm,
    prompt: &[u32],
    threads: usize,
) -> anyhow::Result<Speed> {
    let ids: Vec<String> = prompt.iter().map(u32::to_string).collect();
    let output = std::process::Command::new(python)
        .arg(&args.peer_script)
        .arg("--model")
        .arg(llm.path())
        .arg("--tokens")
        .arg(ids.join(","))
        .arg("--gen-tokens")
        .arg(args.gen_tokens.to_string())
        .arg("--threads")
        .arg(threads.to_string())
        .arg("--repeats")
        .arg(args.repeats.max(1).to_string())
        .output()
        .with_context(|| format!("running {}", python.display()))?;
    let value = super::bench::peer_json(&args.peer_script, &output)
        .map_err(|message| anyhow::anyhow!("the llama.cpp peer: {message}"))?;
    let field = |name: &str| {
        value[name]
            .as_f64()
            .with_context(|| format!("the peer's JSON has no `{name}`"))
    };
    Ok(Speed {
        prompt_tok_s: field("prompt_tok_s")?,
        decode_tok_s: field("decode_tok_s")?,
    })
}

fn print_table(report: &Report) {
    println!(
        "{} ({} threads, {} prompt tokens, {} generated; load {:.2} s)",
        report.model, report.threads, report.prompt_tokens, report.gen_tokens, report.load_s
    );
    println!("{:<12} {:>14} {:>14}", "", "prompt tok/s", "decode tok/s");
    println!(
        "{:<12} {:>14.1} {:>14.1}",
        "steward", report.steward.prompt_tok_s, report.steward.decode_tok_s
    );
    if let Some(peer) = &report.llama_cpp {
        println!(
            "{:<12} {:>14.1} {:>14.1}",
            "llama.cpp", peer.prompt_tok_s, peer.decode_tok_s
        );
        println!(
            "{:<12} {:>13.2}x {:>13.2}x",
            "ratio",
            report.prompt_ratio.unwrap_or(0.0),
            report.decode_ratio.unwrap_or(0.0)
        );
    }
}
