//! `steward models`: what models this machine has and where, downloading the
//! known ones into the cache, and training the community's LSA model.

use anyhow::Context as _;
use steward_jobs::JobHandle;
use steward_ml::resolve::{KNOWN_MODELS, ModelResolver, ModelSource, known_model};

use steward_runtime::jobs::{JobOutput, JobSpec};

use crate::{Context, progress};

#[derive(Debug, clap::Subcommand)]
pub enum ModelsCommand {
    /// List models in the model dir and the cache, and the names `fetch` knows.
    List(ListArgs),
    /// Download a known model into the cache.
    Fetch(FetchArgs),
    /// Train the community's LSA model again on its posts now, and store and
    /// promote it as the next version of the `lsa` artifact.
    TrainLsa(TrainLsaArgs),
}

#[derive(Debug, clap::Args)]
pub struct TrainLsaArgs {
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
pub struct ListArgs {
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
pub struct FetchArgs {
    /// A known model name (see `steward models list`).
    name: String,
}

pub async fn run(command: ModelsCommand, context: &Context) -> anyhow::Result<()> {
    let resolver = steward_runtime::build::model_resolver(&context.config);
    match command {
        ModelsCommand::List(args) => list(&resolver, args.json),
        ModelsCommand::Fetch(args) => fetch(&resolver, &args.name).await,
        ModelsCommand::TrainLsa(args) => train_lsa(context, args.json).await,
    }
}

async fn train_lsa(context: &Context, json: bool) -> anyhow::Result<()> {
    let store = steward_runtime::build::open_store(&context.config).await?;
    let outcome = super::jobs::run_recorded(context, &store, JobSpec::TrainLsa {}).await;
    store.close().await;
    let output = outcome?.context("training LSA")?;
    if json {
        // The job row's summary is the report: one shape for the CLI and the API.
        println!("{}", output.summary());
        return Ok(());
    }
    let (trained, previous) = match output {
        JobOutput::TrainLsa { trained, previous } => (*trained, previous),
        other => anyhow::bail!("an LSA training job returned {other:?} instead of the model"),
    };
    let version = &trained.version;
    let metric = |key: &str| version.metrics[key].as_f64().unwrap_or(f64::NAN);
    println!(
        "trained {} v{} ({}): {} dims, {} terms, explained share {:.3}, in {:.1} s; promoted",
        version.name,
        version.version,
        trained.embedder.model_id(),
        trained.embedder.dim(),
        trained.embedder.vocabulary_size(),
        metric("explained_share"),
        metric("training_seconds"),
    );
    if let Some(previous) = previous
        .as_ref()
        .filter(|previous| previous.sha256 == version.sha256)
    {
        println!(
            "it is identical to v{}: nothing LSA sees has changed since (same model id, \
             same vectors)",
            previous.version
        );
    }
    println!(
        "`steward embed --all --model lsa` embeds the community with it{}",
        match previous {
            Some(previous) => format!(
                "; `steward artifacts rollback {}` serves v{} again",
                version.name, previous.version
            ),
            None => String::new(),
        }
    );
    Ok(())
}

fn list(resolver: &ModelResolver, json: bool) -> anyhow::Result<()> {
    let local = resolver.list_local();
    let source_name = |source: &ModelSource| match source {
        ModelSource::ModelDir => "model_dir",
        ModelSource::Cache => "cache",
    };
    if json {
        let report = serde_json::json!({
            "model_dir": resolver.model_dir().map(|dir| dir.display().to_string()),
            "cache_dir": resolver.cache_dir().display().to_string(),
            "hub": resolver.endpoint(),
            "local": local.iter().map(|model| serde_json::json!({
                "name": model.name,
                "path": model.path.display().to_string(),
                "source": source_name(&model.source),
                "size_bytes": model.size_bytes,
            })).collect::<Vec<_>>(),
            "known": KNOWN_MODELS.iter().map(|known| serde_json::json!({
                "name": known.name,
                "repo": known.repo,
                "revision": known.revision,
                "files": known.files.iter().map(|file| serde_json::json!({
                    "path": file.path,
                    "sha256": file.sha256,
                })).collect::<Vec<_>>(),
                "local_path": resolver.locate(known.name).map(|path| path.display().to_string()),
            })).collect::<Vec<_>>(),
        });
        println!("{report}");
        return Ok(());
    }
    match resolver.model_dir() {
        Some(dir) => println!("model dir: {}", dir.display()),
        None => println!("model dir: (not set: models.dir, --model-dir or STEWARD_MODEL_DIR)"),
    }
    println!("cache:     {}", resolver.cache_dir().display());
    println!("hub:       {}", resolver.endpoint());
    println!();
    if local.is_empty() {
        println!("no local models");
    } else {
        println!("{:<32} {:<10} {:>10}  path", "local model", "where", "size");
        for model in &local {
            println!(
                "{:<32} {:<10} {:>10}  {}",
                model.name,
                source_name(&model.source),
                format!("{:.1} MB", model.size_bytes as f64 / 1e6),
                model.path.display()
            );
        }
    }
    println!();
    println!("{:<32} {:<10} hub repository", "known model", "status");
    for known in KNOWN_MODELS {
        let status = if resolver.locate(known.name).is_some() {
            "local"
        } else {
            "fetchable"
        };
        println!("{:<32} {:<10} {}", known.name, status, known.repo);
    }
    Ok(())
}

async fn fetch(resolver: &ModelResolver, name: &str) -> anyhow::Result<()> {
    let known = known_model(name).with_context(|| {
        let names: Vec<&str> = KNOWN_MODELS.iter().map(|known| known.name).collect();
        format!("`{name}` is not a known model; known: {}", names.join(", "))
    })?;
    let job = JobHandle::new();
    let path = progress::run(&job, resolver.fetch(known, &job))
        .await
        .with_context(|| format!("fetching {}", known.name))?;
    println!("{} is in {}", known.name, path.display());
    Ok(())
}
