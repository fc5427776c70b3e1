//! `steward eval`: quality figures on real data. `eval search` takes an
//! unpacked Stack Exchange dump, imports it into a temporary store, embeds
//! and indexes it, and scores BM25, dense and hybrid retrieval on the
//! relevance judgments the dump itself holds (duplicate and related links).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context as _;
use serde_json::json;
use steward_ingest::stackexchange::{DumpOptions, import_dump};
use steward_jobs::JobHandle;
use steward_runtime::build::{self, LsaFallback};
use steward_runtime::search::{self as runtime_search, RefreshOptions};
use steward_search::answer::eval as answer_eval;
use steward_search::eval::{self, ModeReport};
use steward_search::searcher::{Fusion, Mode};

use crate::{Context, progress};

#[derive(Debug, clap::Subcommand)]
pub enum EvalCommand {
    /// Search quality on a dump's own judgments: nDCG@10, Recall@10,
    /// Recall@100 and MRR for bm25, dense and hybrid, side by side; and
    /// duplicate detection's cross-validated precision and recall (`dupes`).
    Search(EvalSearchArgs),
    /// Recommender quality: P@10, R@10, R@20, nDCG@10, MAP@10 and coverage
    /// for every model side by side (popularity the baseline), on a Stack
    /// Exchange dump's time split (with expert routing's Recall@10 and MRR
    /// against the most active answerers) or on MovieLens-100k.
    Recsys(super::eval_recsys::EvalRecsysArgs),
    /// Knowledge-graph quality on a Stack Exchange dump: link prediction
    /// (AUC, Hits@20) of GraphSAGE against Adamic-Adar, common neighbours
    /// and text-embedding cosine on held-out edges; the tagger's F1.
    Kg(super::eval_kg::EvalKgArgs),
    /// Sequence-tagger quality: entity-level precision, recall and F1 per
    /// type and micro-averaged on a CoNLL file (the Stack Overflow NER dev
    /// split by default).
    Ner(super::eval_ner::EvalNerArgs),
}

#[derive(Debug, clap::Args)]
pub struct EvalSearchArgs {
    /// An unpacked Stack Exchange dump (Posts.xml, PostLinks.xml, ...).
    #[arg(long, value_name = "DIR")]
    data: PathBuf,

    /// The embedding model for dense retrieval (a name, a folder, or `lsa`)
    /// [config: embedding.model].
    #[arg(long)]
    model: Option<String>,

    /// Score at most this many queries (the first ones in link order);
    /// all by default.
    #[arg(long)]
    max_queries: Option<usize>,

    /// The dense share for the weighted-fusion row, 0 to 1.
    #[arg(long, default_value_t = 0.5)]
    dense_weight: f32,

    /// Keep the temporary store and indices here instead of a folder that
    /// is removed afterwards.
    #[arg(long, value_name = "DIR")]
    keep: Option<PathBuf>,

    /// Questions with an accepted answer the `qa` section asks (a seeded
    /// sample; each asked by its title alone); 0 skips it.
    #[arg(long, default_value_t = 10)]
    qa_questions: usize,

    /// The seed of the `qa` sample.
    #[arg(long, default_value_t = 2017)]
    qa_seed: u64,

    /// `qa` answers extractively, without loading the LLM.
    #[arg(long)]
    no_llm: bool,

    /// Print one JSON object instead of a table.
    #[arg(long)]
    json: bool,
}

impl EvalCommand {
    /// The config keys these flags set.
    pub fn flags(&self, flags: &mut steward_runtime::config::Flags) {
        match self {
            EvalCommand::Search(args) => {
                flags.set("--model", "embedding.model", args.model.as_ref());
            }
            EvalCommand::Recsys(args) => {
                flags.set("--model", "embedding.model", args.embedding_model());
            }
            EvalCommand::Kg(args) => {
                flags.set("--model", "embedding.model", args.model.as_ref());
            }
            EvalCommand::Ner(_) => {}
        }
    }
}

pub async fn run(command: EvalCommand, context: &Context) -> anyhow::Result<()> {
    match command {
        EvalCommand::Search(args) => search(args, context).await,
        EvalCommand::Recsys(args) => super::eval_recsys::run(args, context).await,
        EvalCommand::Kg(args) => super::eval_kg::run(args, context).await,
        EvalCommand::Ner(args) => super::eval_ner::run(&args),
    }
}

async fn search(args: EvalSearchArgs, context: &Context) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.data.join("Posts.xml").is_file(),
        "{} holds no Posts.xml: give an unpacked Stack Exchange dump folder",
        args.data.display()
    );
    anyhow::ensure!(
        (0.0..=1.0).contains(&args.dense_weight),
        "--dense-weight {} must be between 0 and 1",
        args.dense_weight
    );
    let started = Instant::now();
    let scratch = Scratch::new(args.keep.as_deref())?;
    let mut config = scratch.config(&context.config);
    config.search.index_dir = Some(scratch.path().join("index"));
    let store = build::open_store(&config).await?;

    let job = JobHandle::new();
    let import = progress::run(
        &job,
        import_dump(&store, &args.data, &DumpOptions::default(), &job),
    )
    .await
    .with_context(|| format!("importing {}", args.data.display()))?;
    let import_seconds = started.elapsed().as_secs_f64();

    let resolver = build::model_resolver(&config);
    let loaded = progress::run(
        &job,
        build::load_embedder(&config, &resolver, Some(&store), LsaFallback::Allowed, &job),
    )
    .await?;
    if let Some(warning) = &loaded.warning {
        eprintln!("warning: {warning}");
    }
    let model = loaded.embedder.model_id().to_string();
    let searcher =
        runtime_search::open_searcher(&config, &store, Some(Arc::new(loaded.embedder)), &job)
            .await?;
    let indexing = Instant::now();
    let options = RefreshOptions {
        rebuild: true,
        save: false,
        embed: true,
    };
    let refreshed = progress::run(&job, runtime_search::refresh(&searcher, options, &job))
        .await
        .context("embedding and indexing the dump")?;
    let index_seconds = indexing.elapsed().as_secs_f64();

    let mut judgments = eval::judgments_from_links(&store).await?;
    if let Some(max) = args.max_queries {
        judgments.truncate(max);
    }
    anyhow::ensure!(
        !judgments.is_empty(),
        "{} has no usable duplicate or related links between questions: nothing to score",
        args.data.display()
    );
    let duplicates = judgments
        .iter()
        .filter(|judgment| {
            judgment
                .relevant
                .values()
                .any(|gain| *gain >= eval::DUPLICATE_GAIN)
        })
        .count();

    let scoring = Instant::now();
    let runs = [
        ("bm25", Mode::Bm25, Fusion::Rrf),
        ("dense", Mode::Dense, Fusion::Rrf),
        ("hybrid", Mode::Hybrid, Fusion::Rrf),
        ("hybrid_weighted", Mode::Hybrid, Fusion::Weighted),
    ];
    let mut reports: Vec<(&str, ModeReport)> = Vec::new();
    for (name, mode, fusion) in runs {
        let report = eval::evaluate(&searcher, &judgments, mode, fusion, args.dense_weight)
            .await
            .with_context(|| format!("scoring {name}"))?;
        reports.push((name, report));
    }
    let eval_seconds = scoring.elapsed().as_secs_f64();
    let qa = qa_section(&args, &config, &store, &searcher).await?;
    let (dupes, dupes_line) = dupes_section(&searcher, &job).await;
    store.close().await;

    let stats_posts = refreshed.lexical.indexed;
    if args.json {
        let mut object = json!({
            "data": args.data.display().to_string(),
            "model": model,
            "threads_indexed": stats_posts,
            "posts_imported": import.file("Posts.xml").map_or(0, |file| file.imported),
            "import_skipped": import.total_skipped,
            "queries": judgments.len(),
            "queries_with_duplicate": duplicates,
            "dense_weight": args.dense_weight,
            "seconds": {
                "import": import_seconds,
                "embed_and_index": index_seconds,
                "score": eval_seconds,
                "total": started.elapsed().as_secs_f64(),
            },
        });
        for (name, report) in &reports {
            object[*name] = serde_json::to_value(report)?;
        }
        if let Some(qa) = &qa {
            object["qa"] = serde_json::to_value(qa)?;
        }
        object["dupes"] = dupes;
        println!("{object}");
        return Ok(());
    }
    println!(
        "{}: {} threads, {} queries ({} with a duplicate target), model {}",
        args.data.display(),
        stats_posts,
        judgments.len(),
        duplicates,
        model
    );
    println!(
        "{:<16} {:>8} {:>10} {:>11} {:>7} {:>9}",
        "mode", "nDCG@10", "Recall@10", "Recall@100", "MRR", "p50 ms"
    );
    for (name, report) in &reports {
        println!(
            "{:<16} {:>8.4} {:>10.4} {:>11.4} {:>7.4} {:>9.1}",
            name,
            report.ndcg_at_10,
            report.recall_at_10,
            report.recall_at_100,
            report.mrr,
            report.p50_latency_ms
        );
    }
    if let Some(qa) = &qa {
        println!(
            "qa ({} questions, {}): accepted in top-3 {:.3}, citation validity {:.3}, refusal rate {:.3}, p50 {:.1} s, modes {:?}, {:.0} s",
            qa.questions,
            qa.model.as_deref().unwrap_or("extractive"),
            qa.accepted_in_top3,
            qa.citation_validity,
            qa.refusal_rate,
            qa.p50_latency_s,
            qa.modes,
            qa.seconds
        );
    }
    println!("{dupes_line}");
    println!(
        "import {import_seconds:.1} s, embed + index {index_seconds:.1} s, scoring {eval_seconds:.1} s, total {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// The `dupes` section (duplicate detection's cross-validated figures at
/// its learned threshold, `steward_search::duplicates::evaluate`) and its
/// line of the table; `{"error": ...}` when the dump cannot calibrate.
async fn dupes_section(
    searcher: &steward_search::searcher::Searcher,
    job: &JobHandle,
) -> (serde_json::Value, String) {
    match steward_search::duplicates::evaluate(searcher, job).await {
        Ok(report) => (
            serde_json::to_value(&report).expect("a dupes report serializes"),
            format!(
                "dupes: precision {:.4}, recall {:.4}, F1 {:.4} at threshold {:.3} ({} pairs, {} positive; {} links; {:.1} s)",
                report.precision,
                report.recall,
                report.f1,
                report.threshold,
                report.pairs,
                report.positives,
                report.positive_links.join(" + "),
                report.seconds
            ),
        ),
        Err(error) => (
            json!({ "error": error.to_string() }),
            format!("dupes: not measured: {error}"),
        ),
    }
}

/// Where the evaluation's store and indices live.
pub(super) enum Scratch {
    Temporary(tempfile::TempDir),
    Kept(PathBuf),
}

impl Scratch {
    /// `keep` (created if missing), else a temporary folder removed on drop.
    pub(super) fn new(keep: Option<&std::path::Path>) -> anyhow::Result<Scratch> {
        Ok(match keep {
            Some(dir) => {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("creating {}", dir.display()))?;
                Scratch::Kept(dir.to_path_buf())
            }
            None => Scratch::Temporary(tempfile::tempdir().context("creating a temporary folder")?),
        })
    }

    /// `config` with its store in this folder: a SQLite file, no blob folder
    /// or PostgreSQL schema of the real install.
    pub(super) fn config(&self, config: &steward_runtime::Config) -> steward_runtime::Config {
        let mut config = config.clone();
        config.database.url = self.path().join("eval.db").display().to_string();
        config.database.blob_dir = None;
        config.database.schema = None;
        config
    }

    pub(super) fn path(&self) -> &std::path::Path {
        match self {
            Scratch::Temporary(dir) => dir.path(),
            Scratch::Kept(dir) => dir,
        }
    }
}

/// The `qa` section (see `steward_search::answer::eval`): a seeded sample of
/// questions with accepted answers, each asked by its title alone; `None`
/// with `--qa-questions 0`. Without a loadable LLM it runs extractive, and
/// says so.
async fn qa_section(
    args: &EvalSearchArgs,
    config: &steward_runtime::Config,
    store: &steward_store::Store,
    searcher: &steward_search::searcher::Searcher,
) -> anyhow::Result<Option<answer_eval::QaReport>> {
    if args.qa_questions == 0 {
        return Ok(None);
    }
    let gateway = if args.no_llm {
        None
    } else {
        match build::load_llm(config, &build::model_resolver(config)).await {
            Ok(llm) => Some(build::gateway(config, llm, store.clone())?),
            Err(error) => {
                eprintln!("warning: no LLM ({error}); the qa section answers extractively");
                None
            }
        }
    };
    let use_llm = gateway.is_some();
    let questions = answer_eval::sample_questions(store, args.qa_questions, args.qa_seed).await?;
    let answerer = steward_runtime::ask::answerer(config, searcher.clone(), gateway);
    let report = answer_eval::evaluate(&answerer, &questions, use_llm, args.qa_seed)
        .await
        .context("scoring qa")?;
    Ok(Some(report))
}
