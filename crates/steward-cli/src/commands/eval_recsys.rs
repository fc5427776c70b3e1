//! `steward eval recsys`: the recommender's quality. `--data DIR` imports a
//! Stack Exchange dump into a temporary store, embeds its threads, and
//! scores every model on a time split (the latest acts held out) and expert
//! routing on the questions asked after the split; `--movielens DIR` runs the
//! standard MovieLens-100k protocol.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context as _;
use serde_json::json;
use steward_ingest::stackexchange::{DumpOptions, import_dump};
use steward_jobs::JobHandle;
use steward_ml::embed::job::{EmbedJobOptions, embed_community};
use steward_recsys::dataset::Community;
use steward_recsys::metrics::RankingMetrics;
use steward_recsys::model::ModelKind;
use steward_recsys::service::unit_vectors;
use steward_recsys::train::evaluate_community;
use steward_runtime::build::{self, LsaFallback};

use super::eval::Scratch;
use crate::{Context, progress};

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("source").required(true).args(["data", "movielens"])))]
#[command(after_help = "Examples:\n  \
    steward eval recsys --data ../shared/data/se-ai-2017\n  \
    steward eval recsys --data dump/ --no-content --json\n  \
    steward eval recsys --movielens ml-100k/   (bench/fetch-movielens.sh fetches it)")]
pub struct EvalRecsysArgs {
    /// An unpacked Stack Exchange dump: time split of its acts, expert routing.
    #[arg(long, value_name = "DIR")]
    data: Option<PathBuf>,

    /// A MovieLens-100k folder (GroupLens `u.data`, or RecBole's `ml-100k.inter`).
    #[arg(long, value_name = "DIR")]
    movielens: Option<PathBuf>,

    /// Share of the latest acts (and questions) held out for testing.
    #[arg(long, default_value_t = 0.2)]
    test_share: f64,

    /// The embedding model for the content model and routing (a name, a
    /// folder, or `lsa`) [config: embedding.model].
    #[arg(long)]
    model: Option<String>,

    /// Leave the content model out (no embedding).
    #[arg(long)]
    no_content: bool,

    /// Print one JSON object (the metric names as keys, per model) instead of a table.
    #[arg(long)]
    json: bool,
}

impl EvalRecsysArgs {
    pub fn embedding_model(&self) -> Option<&String> {
        self.model.as_ref()
    }
}

pub async fn run(args: EvalRecsysArgs, context: &Context) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.test_share > 0.0 && args.test_share <= 0.5,
        "--test-share {}: it must be above 0 and at most 0.5",
        args.test_share
    );
    match (&args.data, &args.movielens) {
        (Some(data), _) => community(data, &args, context).await,
        (None, Some(dir)) => movielens(dir, &args).await,
        (None, None) => unreachable!("clap requires --data or --movielens"),
    }
}

async fn community(
    data: &std::path::Path,
    args: &EvalRecsysArgs,
    context: &Context,
) -> anyhow::Result<()> {
    anyhow::ensure!(
        data.join("Posts.xml").is_file(),
        "{} holds no Posts.xml: give an unpacked Stack Exchange dump folder",
        data.display()
    );
    let started = Instant::now();
    let scratch = Scratch::new(None)?;
    let config = scratch.config(&context.config);
    let store = build::open_store(&config).await?;
    let job = JobHandle::new();
    progress::run(
        &job,
        import_dump(&store, data, &DumpOptions::default(), &job),
    )
    .await
    .with_context(|| format!("importing {}", data.display()))?;
    let community = progress::run(&job, Community::load(&store, &job)).await?;
    let mut embedding_model = None;
    let vectors = if args.no_content {
        None
    } else {
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
        progress::run(
            &job,
            embed_community(
                &store,
                Arc::new(loaded.embedder),
                &EmbedJobOptions::default(),
                &job,
            ),
        )
        .await
        .context("embedding the dump")?;
        let ids: Vec<_> = community.threads.iter().map(|thread| thread.id).collect();
        let vectors = unit_vectors(&store, &model, &ids).await?;
        embedding_model = Some(model);
        Some(vectors)
    };
    store.close().await;
    let options = steward_runtime::recsys::train_options(&config);
    let test_share = args.test_share;
    let report = tokio::task::spawn_blocking(move || {
        evaluate_community(
            &community,
            vectors.as_ref(),
            &options,
            test_share,
            &mut |_| true,
        )
    })
    .await
    .context("the evaluation thread stopped")??;
    let seconds = started.elapsed().as_secs_f64();
    if args.json {
        let mut object = serde_json::Map::new();
        // Every model has its key; one that could not be fitted (content
        // without vectors, EASE on a large catalogue) is null.
        for model in ModelKind::ALL {
            let metrics = report.models.get(model.as_str());
            object.insert(model.as_str().to_string(), serde_json::to_value(metrics)?);
        }
        object.insert(
            "expert_routing".into(),
            serde_json::to_value(&report.expert_routing)?,
        );
        object.insert("data".into(), json!(data.display().to_string()));
        object.insert("embedding_model".into(), json!(embedding_model));
        object.insert("split".into(), json!(report.split));
        object.insert("test_share".into(), json!(args.test_share));
        object.insert("users".into(), json!(report.users));
        object.insert("items".into(), json!(report.items));
        object.insert(
            "train_interactions".into(),
            json!(report.train_interactions),
        );
        object.insert("test_interactions".into(), json!(report.test_interactions));
        object.insert(
            "acts_on_new_threads".into(),
            json!(report.acts_on_new_threads),
        );
        object.insert(
            "acts_by_new_members".into(),
            json!(report.acts_by_new_members),
        );
        object.insert("best".into(), json!(report.best));
        object.insert("seconds".into(), json!(seconds));
        println!("{}", serde_json::Value::Object(object));
        return Ok(());
    }
    println!(
        "{}: split at {} ({}% of acts after it); {} members × {} threads, {} train / {} test interactions",
        data.display(),
        report.split.format("%Y-%m-%d %H:%M"),
        (args.test_share * 100.0).round(),
        report.users,
        report.items,
        report.train_interactions,
        report.test_interactions
    );
    println!(
        "of the test pairs, {} are on threads posted after the split (cold: only content ranks them); {} held-out acts were by new members (not scored)",
        report.acts_on_new_threads, report.acts_by_new_members
    );
    print_table(&report.models);
    println!("best: {}", report.best.as_str());
    let routing = &report.expert_routing;
    println!(
        "expert routing on {} later questions: Recall@10 {:.4} (baseline, most active answerers in the tags: {:.4}; ratio {:.2}), MRR {:.4} (baseline {:.4})",
        routing.questions,
        routing.recall_at_10,
        routing.baseline_recall_at_10,
        routing.recall_ratio,
        routing.mrr,
        routing.baseline_mrr
    );
    println!("in {seconds:.1} s");
    Ok(())
}

async fn movielens(dir: &std::path::Path, args: &EvalRecsysArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let dir = dir.to_path_buf();
    let report = tokio::task::spawn_blocking(move || {
        steward_recsys::movielens::evaluate_movielens(
            &dir,
            &steward_recsys::movielens::MovielensOptions::default(),
        )
    })
    .await
    .context("the evaluation thread stopped")??;
    let seconds = started.elapsed().as_secs_f64();
    if args.json {
        let mut value = serde_json::to_value(&report)?;
        value["seconds"] = json!(seconds);
        println!("{value}");
        return Ok(());
    }
    println!("{report}");
    println!("in {seconds:.1} s");
    Ok(())
}

/// One row per model: the metrics side by side.
pub fn print_table(models: &std::collections::BTreeMap<String, RankingMetrics>) {
    println!(
        "  {:<11} {:>7} {:>7} {:>7} {:>8} {:>7} {:>8} {:>6}",
        "model", "P@10", "R@10", "R@20", "nDCG@10", "MAP@10", "coverage", "users"
    );
    for (model, metrics) in models {
        println!(
            "  {:<11} {:>7.4} {:>7.4} {:>7.4} {:>8.4} {:>7.4} {:>8.4} {:>6}",
            model,
            metrics.precision_at_10,
            metrics.recall_at_10,
            metrics.recall_at_20,
            metrics.ndcg_at_10,
            metrics.map_at_10,
            metrics.coverage,
            metrics.users
        );
    }
}
