//! `steward bench embed`: sentence embedding throughput on real texts, with
//! ONNX Runtime and sentence-transformers side by side in the same run.
//!
//! Short texts are question titles of the shared Stack Exchange dumps; passages
//! are titles joined until just under the model's max length (so that no tool
//! truncates or chunks). Every tool gets the same texts, the same thread count,
//! one warm-up call, and is timed over all texts including tokenization.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context as _;
use steward_ml::embed::bert::{BertEmbedder, BertOptions};
use steward_ml::embed::{DEFAULT_MODEL, Purpose};

use crate::Context;

#[derive(Debug, clap::Args)]
pub struct BenchEmbedArgs {
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,

    /// Compute threads for every tool (candle's and rayon's, torch's, ONNX
    /// Runtime's intra-op).
    #[arg(long, default_value_t = 2)]
    threads: usize,

    /// Python with sentence-transformers and onnxruntime for the peers; without
    /// one the peers are skipped.
    #[arg(long, env = "STEWARD_PEER_PYTHON")]
    python: Option<PathBuf>,

    /// A BERT sentence-transformer (name or folder).
    #[arg(long, default_value = DEFAULT_MODEL)]
    model: String,

    /// Number of short texts.
    #[arg(long, default_value_t = 1000)]
    sentences: usize,

    /// Number of passages near the max length.
    #[arg(long, default_value_t = 64)]
    passages: usize,

    /// Folder of the shared data (holding se-ai-2017/, se-cardano-2021/).
    #[arg(long, env = "STEWARD_DATA_DIR", default_value = "../shared/data")]
    data_dir: PathBuf,

    /// Folder of the peer scripts.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/../../bench/peers"))]
    peers_dir: PathBuf,
}

/// One tool's figures.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct Figures {
    name: String,
    version: String,
    sentences_per_s: f64,
    passages_per_s: f64,
}

pub async fn run(args: BenchEmbedArgs, context: &Context) -> anyhow::Result<()> {
    // candle and gemm read the thread count from the environment on every call,
    // and a process may not change its own environment safely: run again in a
    // child with the variables set.
    let wanted = args.threads.to_string();
    if std::env::var("RAYON_NUM_THREADS").ok().as_deref() != Some(wanted.as_str()) {
        let status = std::process::Command::new(std::env::current_exe()?)
            .args(std::env::args_os().skip(1))
            .env("RAYON_NUM_THREADS", &wanted)
            .env("CANDLE_NUM_THREADS", &wanted)
            .status()
            .context("re-running with the thread count set")?;
        anyhow::ensure!(status.success(), "benchmark failed ({status})");
        return Ok(());
    }

    let resolver = steward_runtime::build::model_resolver(&context.config);
    let model_dir = resolver
        .resolve(&args.model)
        .await
        .with_context(|| format!("resolving {}", args.model))?;
    let embedder = {
        let dir = model_dir.clone();
        tokio::task::spawn_blocking(move || {
            BertEmbedder::load(&dir, BertOptions::from_model_dir(&dir)?)
        })
        .await??
    };

    let titles = read_titles(&args.data_dir)?;
    anyhow::ensure!(
        !titles.is_empty(),
        "no titles found under {}",
        args.data_dir.display()
    );
    let sentences: Vec<String> = titles
        .iter()
        .cycle()
        .take(args.sentences)
        .cloned()
        .collect();
    let max_length = embedder.options().max_length;
    let passages = build_passages(&embedder, &titles, args.passages, max_length)?;

    let sentence_refs: Vec<&str> = sentences.iter().map(String::as_str).collect();
    let passage_refs: Vec<&str> = passages.iter().map(String::as_str).collect();
    let sentence_tokens = embedder.token_counts(&sentence_refs)?;
    let passage_tokens = embedder.token_counts(&passage_refs)?;
    let mean = |counts: &[usize]| counts.iter().sum::<usize>() as f64 / counts.len().max(1) as f64;

    let (steward, sentences, passages) =
        tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
            let refs: Vec<&str> = sentences.iter().map(String::as_str).collect();
            let sentences_per_s = rate(&embedder, &refs)?;
            let refs: Vec<&str> = passages.iter().map(String::as_str).collect();
            let passages_per_s = rate(&embedder, &refs)?;
            let figures = Figures {
                name: "steward".to_string(),
                version: format!("steward {} (candle 0.11)", env!("CARGO_PKG_VERSION")),
                sentences_per_s,
                passages_per_s,
            };
            Ok((figures, sentences, passages))
        })
        .await??;

    let mut peers: Vec<(String, Result<Figures, String>)> = Vec::new();
    let mut skipped = None;
    match &args.python {
        Some(python) => {
            let texts = tempfile_texts(&sentences, &passages)?;
            for (key, script) in [
                ("onnxruntime", "embed_onnx.py"),
                ("sentence_transformers", "embed_st.py"),
            ] {
                let outcome = run_peer(
                    python,
                    &args.peers_dir.join(script),
                    &model_dir,
                    &texts,
                    args.threads,
                );
                peers.push((key.to_string(), outcome));
            }
        }
        None => {
            skipped = Some("no peer python (--python or STEWARD_PEER_PYTHON): peers skipped");
        }
    }

    if args.json {
        let mut report = serde_json::json!({
            "model": embedder_name(&model_dir),
            "threads": args.threads,
            "texts": {
                "sentences": sentence_tokens.len(),
                "sentence_mean_tokens": mean(&sentence_tokens),
                "passages": passage_tokens.len(),
                "passage_mean_tokens": mean(&passage_tokens),
            },
            "steward": steward,
        });
        let mut ratios = serde_json::Map::new();
        for (key, outcome) in &peers {
            match outcome {
                Ok(figures) => {
                    report[key] = serde_json::to_value(figures)?;
                    ratios.insert(
                        format!("steward_vs_{key}"),
                        serde_json::json!({
                            "sentences": steward.sentences_per_s / figures.sentences_per_s,
                            "passages": steward.passages_per_s / figures.passages_per_s,
                        }),
                    );
                }
                Err(error) => report[key] = serde_json::json!({ "error": error }),
            }
        }
        report["ratios"] = serde_json::Value::Object(ratios);
        if let Some(reason) = skipped {
            report["peers_skipped"] = serde_json::json!(reason);
        }
        println!("{report}");
        return Ok(());
    }

    println!(
        "embedding throughput, {} ({} threads): {} short texts (mean {:.1} tokens), {} passages (mean {:.1} tokens)",
        embedder_name(&model_dir),
        args.threads,
        sentence_tokens.len(),
        mean(&sentence_tokens),
        passage_tokens.len(),
        mean(&passage_tokens),
    );
    println!(
        "{:<24} {:>14} {:>14}  version",
        "tool", "sentences/s", "passages/s"
    );
    let print_row = |figures: &Figures| {
        println!(
            "{:<24} {:>14.1} {:>14.2}  {}",
            figures.name, figures.sentences_per_s, figures.passages_per_s, figures.version
        );
    };
    print_row(&steward);
    for (key, outcome) in &peers {
        match outcome {
            Ok(figures) => {
                print_row(figures);
                println!(
                    "{:<24} {:>13.2}x {:>13.2}x  steward / {}",
                    "",
                    steward.sentences_per_s / figures.sentences_per_s,
                    steward.passages_per_s / figures.passages_per_s,
                    figures.name
                );
            }
            Err(error) => println!("{key:<24} failed: {error}"),
        }
    }
    if let Some(reason) = skipped {
        println!("{reason}");
    }
    Ok(())
}

/// Texts per second over all of `texts`, after one warm-up batch.
fn rate(embedder: &BertEmbedder, texts: &[&str]) -> anyhow::Result<f64> {
    let warm_up = &texts[..texts.len().min(32)];
    embedder.embed(warm_up, Purpose::Passage)?;
    let started = Instant::now();
    embedder.embed(texts, Purpose::Passage)?;
    Ok(texts.len() as f64 / started.elapsed().as_secs_f64())
}

fn embedder_name(dir: &Path) -> String {
    dir.file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Question titles of the Stack Exchange dumps under `data_dir`, in file order.
fn read_titles(data_dir: &Path) -> anyhow::Result<Vec<String>> {
    let mut titles = Vec::new();
    for dump in ["se-ai-2017", "se-cardano-2021"] {
        let path = data_dir.join(dump).join("Posts.xml");
        let Ok(xml) = std::fs::read_to_string(&path) else {
            continue;
        };
        titles.extend(xml.lines().filter_map(|line| attribute(line, "Title")));
    }
    anyhow::ensure!(
        !titles.is_empty(),
        "no Posts.xml with titles under {} (set --data-dir or STEWARD_DATA_DIR)",
        data_dir.display()
    );
    Ok(titles)
}

/// The unescaped value of `name="..."` in a dump row.
fn attribute(line: &str, name: &str) -> Option<String> {
    let key = format!(" {name}=\"");
    let start = line.find(&key)? + key.len();
    let end = start + line[start..].find('"')?;
    Some(unescape(&line[start..end]))
}

fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        let Some(semi) = rest.find(';') else { break };
        let entity = &rest[1..semi];
        let decoded = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => entity
                .strip_prefix("#x")
                .and_then(|hex| u32::from_str_radix(hex, 16).ok())
                .or_else(|| entity.strip_prefix('#').and_then(|dec| dec.parse().ok()))
                .and_then(char::from_u32),
        };
        match decoded {
            Some(character) => {
                out.push(character);
                rest = &rest[semi + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// `count` passages, each titles joined while the token count stays within
/// `max_length` (and above 90% of it).
fn build_passages(
    embedder: &BertEmbedder,
    titles: &[String],
    count: usize,
    max_length: usize,
) -> anyhow::Result<Vec<String>> {
    let title_refs: Vec<&str> = titles.iter().map(String::as_str).collect();
    let title_tokens = embedder.token_counts(&title_refs)?;
    let mut passages = Vec::with_capacity(count);
    let mut next = 0usize;
    while passages.len() < count {
        let mut passage = String::new();
        let mut tokens = 2usize;
        loop {
            let index = next % titles.len();
            // Each title costs its tokens without [CLS]/[SEP], plus one for the space.
            let cost = title_tokens[index].saturating_sub(2);
            if tokens + cost > max_length {
                break;
            }
            if !passage.is_empty() {
                passage.push(' ');
            }
            passage.push_str(&titles[index]);
            tokens += cost;
            next += 1;
        }
        anyhow::ensure!(!passage.is_empty(), "a title longer than the max length");
        next += 1;
        passages.push(passage);
    }
    // Joining may merge tokens at the seams; make sure no passage needs chunking.
    let refs: Vec<&str> = passages.iter().map(String::as_str).collect();
    let counts = embedder.token_counts(&refs)?;
    for (passage, count) in passages.iter_mut().zip(counts) {
        if count > max_length {
            let cut = passage.rfind(' ').unwrap_or(0);
            passage.truncate(cut);
        }
    }
    Ok(passages)
}

struct PeerTexts {
    _dir: tempfile::TempDir,
    sentences: PathBuf,
    passages: PathBuf,
}

/// The texts as JSON lines (one JSON string per line) in a temporary folder.
fn tempfile_texts(sentences: &[String], passages: &[String]) -> anyhow::Result<PeerTexts> {
    let dir = tempfile::tempdir().context("temporary folder for the peers' texts")?;
    let write = |name: &str, texts: &[String]| -> anyhow::Result<PathBuf> {
        let path = dir.path().join(name);
        let mut body = String::new();
        for text in texts {
            body.push_str(&serde_json::to_string(text)?);
            body.push('\n');
        }
        std::fs::write(&path, body).with_context(|| format!("writing {}", path.display()))?;
        Ok(path)
    };
    let sentences = write("sentences.jsonl", sentences)?;
    let passages = write("passages.jsonl", passages)?;
    Ok(PeerTexts {
        _dir: dir,
        sentences,
        passages,
    })
}

fn run_peer(
    python: &Path,
    script: &Path,
    model_dir: &Path,
    texts: &PeerTexts,
    threads: usize,
) -> Result<Figures, String> {
    let output = std::process::Command::new(python)
        .arg(script)
        .arg("--model")
        .arg(model_dir)
        .arg("--sentences")
        .arg(&texts.sentences)
        .arg("--passages")
        .arg(&texts.passages)
        .arg("--threads")
        .arg(threads.to_string())
        .env("OMP_NUM_THREADS", threads.to_string())
        .env("MKL_NUM_THREADS", threads.to_string())
        .env("TOKENIZERS_PARALLELISM", "true")
        .output()
        .map_err(|error| format!("running {}: {error}", python.display()))?;
    let value = super::bench::peer_json(script, &output)?;
    serde_json::from_value(value).map_err(|error| format!("{}: {error}", script.display()))
}
