//! `steward eval kg --data DIR`: imports an unpacked Stack Exchange dump
//! into a temporary store, builds its knowledge graph, and scores link
//! prediction on held-out edges (GraphSAGE against Adamic-Adar, common
//! neighbours and the cosine of the entities' text embeddings, on the same
//! positives and negatives), and the tagger's entity-level F1 on the Stack
//! Overflow NER dev split.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context as _;
use serde_json::json;
use steward_ingest::stackexchange::{DumpOptions, import_dump};
use steward_jobs::JobHandle;
use steward_kg::build::{load_view, node_features};
use steward_kg::linkpred::{self, LinkPredReport, LinkScores};
use steward_runtime::build::{self, LsaFallback};

use super::eval::Scratch;
use crate::{Context, progress};

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  \
    steward eval kg --data ../shared/data/se-ai-2017\n  \
    steward eval kg --data ../shared/data/se-cardano-2021 --splits 5 --json")]
pub struct EvalKgArgs {
    /// An unpacked Stack Exchange dump (Posts.xml, Tags.xml, ...).
    #[arg(long, value_name = "DIR")]
    data: PathBuf,

    /// The embedding model for node features (a name or a folder)
    /// [config: embedding.model]; hashed words when it cannot be loaded.
    #[arg(long)]
    pub model: Option<String>,

    /// Share of the edges held out per split.
    #[arg(long, default_value_t = 0.1)]
    test_share: f64,

    /// Random splits to average over.
    #[arg(long, default_value_t = 3)]
    splits: u64,

    /// Build without the sequence tagger (tag names only).
    #[arg(long)]
    no_ner: bool,

    /// The CoNLL file the tagger is scored on; default: the dev split next
    /// to the training corpus (`kg.ner_corpus`).
    #[arg(long, value_name = "FILE")]
    ner_file: Option<PathBuf>,

    /// Keep the temporary store here.
    #[arg(long, value_name = "DIR")]
    keep: Option<PathBuf>,

    /// Print one JSON object instead of a table.
    #[arg(long)]
    json: bool,
}

pub async fn run(args: EvalKgArgs, context: &Context) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.data.join("Posts.xml").is_file(),
        "{} holds no Posts.xml: give an unpacked Stack Exchange dump folder",
        args.data.display()
    );
    anyhow::ensure!(
        args.test_share > 0.0 && args.test_share < 0.5,
        "--test-share {}: it must be above 0 and below 0.5",
        args.test_share
    );
    anyhow::ensure!(args.splits >= 1, "--splits must be at least 1");
    let started = Instant::now();
    let scratch = Scratch::new(args.keep.as_deref())?;
    let mut config = scratch.config(&context.config);
    config.kg.ner = !args.no_ner;
    let store = build::open_store(&config).await?;
    let job = JobHandle::new();
    progress::run(
        &job,
        import_dump(&store, &args.data, &DumpOptions::default(), &job),
    )
    .await
    .with_context(|| format!("importing {}", args.data.display()))?;

    let (tagger, warning) =
        progress::run(&job, steward_runtime::kg::tagger(&config, &store, &job)).await?;
    if let Some(warning) = &warning {
        eprintln!("warning: {warning}");
    }
    let resolver = build::model_resolver(&config);
    let embedder =
        match build::load_embedder(&config, &resolver, Some(&store), LsaFallback::Refused, &job)
            .await
        {
            Ok(loaded) => {
                if let Some(warning) = &loaded.warning {
                    eprintln!("warning: {warning}");
                }
                Some(loaded.embedder)
            }
            Err(error) => {
                eprintln!("warning: node features are hashed words, not embeddings: {error}");
                None
            }
        };
    let mut options = steward_runtime::kg::build_options(&config);
    // The evaluation trains GraphSAGE itself, on each split's training edges.
    options.train_gnn = false;
    let report = progress::run(
        &job,
        steward_kg::build::build(&store, tagger.as_ref(), embedder.as_ref(), &options, &job),
    )
    .await
    .context("building the knowledge graph")?;

    let view = load_view(&store, options.min_cooccurrence).await?;
    let (features, dim, feature_source) = node_features(&store, &view, embedder.as_ref()).await?;
    let edges = view.dense_edges();
    anyhow::ensure!(
        edges.len() >= 20,
        "the graph of {} has only {} edges: too few to hold any out",
        args.data.display(),
        edges.len()
    );
    let mut splits = Vec::new();
    for seed in 0..args.splits {
        splits.push(linkpred::evaluate(
            view.nodes().len(),
            &edges,
            &features,
            dim,
            &options.gnn,
            args.test_share,
            seed + 1,
        ));
    }
    let ner = match (&tagger, ner_file(&args, &config)) {
        (Some(tagger), Some(file)) => {
            let gold = steward_ml::ner::conll::read(&file, &steward_ml::ner::Protocol::default())
                .map_err(|error| anyhow::anyhow!("reading {}: {error}", file.display()))?;
            Some((file, steward_ml::ner::evaluate(tagger, &gold)))
        }
        _ => None,
    };
    store.close().await;

    let methods = mean_scores(&splits);
    let first = &splits[0];
    if args.json {
        let mut value = json!({
            "graph": {
                "nodes": view.nodes().len(),
                "edges": edges.len(),
                "train_edges": first.train_edges,
                "test_edges": first.test_edges,
                "negatives": first.negatives,
                "entities_from_tags": report.from_tags,
                "entities_from_ner": report.from_ner,
                "features": feature_source,
            },
            "splits": args.splits,
            "test_share": args.test_share,
            "ner": ner.as_ref().map(|(_, report)| serde_json::to_value(report).expect("a report serializes")),
            "seconds": started.elapsed().as_secs_f64(),
        });
        for (name, scores) in &methods {
            value[*name] = serde_json::to_value(scores)?;
        }
        println!("{value}");
        return Ok(());
    }
    println!(
        "{}: {} entities ({} from tags, {} from the tagger), {} edges; {} held out per split ({}), {} negatives; features: {}",
        args.data.display(),
        view.nodes().len(),
        report.from_tags,
        report.from_ner,
        edges.len(),
        first.test_edges,
        args.splits,
        first.negatives,
        feature_source
    );
    println!("{:<18} {:>8} {:>8}", "method", "AUC", "Hits@20");
    for (name, scores) in &methods {
        println!(
            "{:<18} {:>8.4} {:>8.4}",
            name, scores.auc, scores.hits_at_20
        );
    }
    if let Some((file, report)) = &ner {
        println!("\ntagger on {}:", file.display());
        println!("{}", serde_json::to_string_pretty(report)?);
    }
    println!("in {:.1} s", started.elapsed().as_secs_f64());
    Ok(())
}

/// The tagger's evaluation file: `--ner-file`, else `dev.txt` beside the corpus.
fn ner_file(args: &EvalKgArgs, config: &steward_runtime::Config) -> Option<PathBuf> {
    if let Some(file) = &args.ner_file {
        return Some(file.clone());
    }
    let dev = steward_runtime::kg::ner_corpus(config).with_file_name("dev.txt");
    dev.is_file().then_some(dev)
}

/// Each method's scores averaged over the splits, in a fixed order.
fn mean_scores(splits: &[LinkPredReport]) -> Vec<(&'static str, LinkScores)> {
    let count = splits.len().max(1) as f64;
    let mean = |pick: fn(&LinkPredReport) -> &LinkScores| LinkScores {
        auc: splits.iter().map(|split| pick(split).auc).sum::<f64>() / count,
        hits_at_20: splits
            .iter()
            .map(|split| pick(split).hits_at_20)
            .sum::<f64>()
            / count,
    };
    vec![
        ("gnn", mean(|split| &split.gnn)),
        ("adamic_adar", mean(|split| &split.adamic_adar)),
        ("common_neighbors", mean(|split| &split.common_neighbors)),
        ("embedding_cosine", mean(|split| &split.embedding_cosine)),
    ]
}
