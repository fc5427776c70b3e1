//! `steward embed`: vectors for texts (one per line of a file or stdin, printed
//! as JSON lines) or for the whole community (stored; after the first run,
//! only what the change feed says was edited or deleted).

use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use steward_jobs::JobHandle;
use steward_ml::embed::LoadedEmbedder;
use steward_ml::embed::Purpose;
use steward_ml::resolve::ModelResolver;
use steward_runtime::build::{self, LsaFallback};
use steward_runtime::config::Flags;
use steward_runtime::jobs::{JobOutput, JobSpec};

use crate::{Context, progress};

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("source").required(true).args(["input", "all"])))]
pub struct EmbedArgs {
    /// Texts to embed, one per line (`-` reads stdin). Prints one JSON object per
    /// line: {"index", "model", "vector"}.
    #[arg(long, value_name = "FILE")]
    input: Option<PathBuf>,

    /// Embed every post of the community into the database. The first run
    /// of a model scans everything; later runs follow the change feed (edited
    /// posts are embedded again, deleted ones lose their vectors).
    #[arg(long)]
    all: bool,

    /// Scan every post instead of following the change feed (with --all);
    /// posts whose vectors are current are still not embedded again.
    #[arg(long, requires = "all")]
    full: bool,

    /// A model name (looked up in models.dir, the cache, then the hub), a model
    /// folder, or `lsa` (trained on the community) [config: embedding.model].
    #[arg(long)]
    model: Option<String>,

    /// Embed the texts as search queries (models with a query prefix use it).
    #[arg(long, requires = "input")]
    query: bool,

    /// Texts per model call.
    #[arg(long, default_value_t = 64)]
    batch_size: usize,

    /// Also embed comments (with --all).
    #[arg(long, requires = "all")]
    include_comments: bool,
}

impl EmbedArgs {
    /// The config keys these flags set.
    pub fn flags(&self, flags: &mut Flags) {
        flags.set("--model", "embedding.model", self.model.as_ref());
    }
}

pub async fn run(args: EmbedArgs, context: &Context) -> anyhow::Result<()> {
    let resolver = build::model_resolver(&context.config);
    match &args.input {
        Some(input) => embed_lines(&args, input, &resolver, context).await,
        None => embed_all(&args, context).await,
    }
}

async fn embed_lines(
    args: &EmbedArgs,
    input: &std::path::Path,
    resolver: &ModelResolver,
    context: &Context,
) -> anyhow::Result<()> {
    // The store is only needed for the LSA fallback; do not create a database
    // file just to embed a few lines.
    let store = build::open_existing_store(&context.config).await?;
    let loaded = load(context, resolver, store.as_ref()).await?;
    let embedder = Arc::new(loaded.embedder);
    let purpose = if args.query {
        Purpose::Query
    } else {
        Purpose::Passage
    };

    let reader: Box<dyn BufRead + Send> = if input.as_os_str() == "-" {
        Box::new(std::io::BufReader::new(std::io::stdin()))
    } else {
        let file =
            std::fs::File::open(input).with_context(|| format!("opening {}", input.display()))?;
        Box::new(std::io::BufReader::new(file))
    };
    let batch_size = args.batch_size.max(1);
    // Reading, embedding and printing all block: one blocking task streams the
    // input batch by batch, so memory stays bounded on large inputs.
    tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
        let stdout = std::io::stdout();
        let mut out = std::io::BufWriter::new(stdout.lock());
        let mut lines = reader.lines();
        let mut index = 0usize;
        loop {
            let batch: Vec<String> = lines
                .by_ref()
                .take(batch_size)
                .collect::<Result<_, _>>()
                .context("reading input")?;
            if batch.is_empty() {
                break;
            }
            let refs: Vec<&str> = batch.iter().map(String::as_str).collect();
            let vectors = embedder.embed(&refs, purpose)?;
            for vector in vectors {
                let line = serde_json::json!({
                    "index": index,
                    "model": embedder.model_id(),
                    "vector": vector,
                });
                writeln!(out, "{line}")?;
                index += 1;
            }
            out.flush()?;
        }
        Ok(())
    })
    .await
    .context("embedding thread")?
}

async fn embed_all(args: &EmbedArgs, context: &Context) -> anyhow::Result<()> {
    let store = build::open_store(&context.config).await?;
    // `--model` already set embedding.model; the job names it so that its row
    // says which model ran.
    let spec = JobSpec::Embed {
        model: Some(context.config.embedding.model.clone()),
        full: args.full,
        include_comments: args.include_comments,
        batch_size: args.batch_size.max(1),
    };
    let outcome = super::jobs::run_recorded(context, &store, spec).await;
    store.close().await;
    let report = match outcome?.context("embedding the community")? {
        JobOutput::Embed { report, .. } => report,
        other => anyhow::bail!("an embed job returned {other:?} instead of its report"),
    };
    let seconds = report.elapsed.as_secs_f64();
    println!(
        "{} {} ({} dims), {}: {} embedded, {} deleted, {} unchanged, {} scanned \
         (touched {}), feed applied up to seq {}, in {:.1} s ({:.1} posts/s)",
        if report.cancelled {
            "cancelled: embedding with"
        } else {
            "embedded with"
        },
        report.model,
        report.dim,
        report.mode.as_str(),
        report.embedded,
        report.deleted,
        report.unchanged,
        report.scanned,
        report.embedded + report.deleted,
        report.feed_position,
        seconds,
        report.embedded as f64 / seconds.max(1e-9),
    );
    Ok(())
}

/// Loads the embedder, showing a download or LSA training as it runs, and
/// prints the warning of a fallback.
async fn load(
    context: &Context,
    resolver: &ModelResolver,
    store: Option<&steward_store::Store>,
) -> anyhow::Result<LoadedEmbedder> {
    let job = JobHandle::new();
    let loaded = progress::run(
        &job,
        build::load_embedder(&context.config, resolver, store, LsaFallback::Allowed, &job),
    )
    .await?;
    if let Some(warning) = &loaded.warning {
        eprintln!("warning: {warning}");
    }
    Ok(loaded)
}
