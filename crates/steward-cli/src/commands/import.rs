//! `steward import`: Stack Exchange dumps and JSONL files into the database,
//! with progress on stderr and a summary (or `--json`) on stdout.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use steward_ingest::jsonl::{JsonlOptions, import_jsonl};
use steward_ingest::report::ImportReport;
use steward_ingest::stackexchange::{DumpOptions, import_dump};
use steward_jobs::JobHandle;

use crate::{Context, progress};

#[derive(Debug, clap::Subcommand)]
pub enum ImportCommand {
    /// Import an unpacked Stack Exchange data dump (a folder holding Posts.xml, Users.xml, ...).
    Stackexchange(StackExchangeArgs),
    /// Import a JSONL file: one user, post, event, tag or link per line (see docs/jsonl.md).
    Jsonl(JsonlArgs),
}

#[derive(Debug, clap::Args)]
pub struct StackExchangeArgs {
    /// Folder of the unpacked dump.
    pub dir: PathBuf,
    /// Exit with an error when any record was skipped.
    #[arg(long)]
    pub strict: bool,
    /// Rows per write transaction.
    #[arg(long, default_value_t = 2_000)]
    pub batch_size: usize,
    /// Print the report as one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct JsonlArgs {
    /// The JSONL file.
    pub file: PathBuf,
    /// Exit with an error when any line was skipped.
    #[arg(long)]
    pub strict: bool,
    /// Lines per write transaction.
    #[arg(long, default_value_t = 2_000)]
    pub batch_size: usize,
    /// Print the report as one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
}

pub async fn run(command: ImportCommand, context: &Context) -> anyhow::Result<()> {
    let store = steward_runtime::build::open_store(&context.config).await?;
    let job = JobHandle::new();
    let (report, strict, json) = match command {
        ImportCommand::Stackexchange(args) => {
            let options = DumpOptions {
                batch_size: args.batch_size,
            };
            let report = progress::run(&job, import_dump(&store, &args.dir, &options, &job))
                .await
                .map_err(|error| explain(error, &args.dir))?;
            (report, args.strict, args.json)
        }
        ImportCommand::Jsonl(args) => {
            let options = JsonlOptions {
                batch_size: args.batch_size,
            };
            let report = progress::run(&job, import_jsonl(&store, &args.file, &options, &job))
                .await
                .map_err(|error| explain(error, &args.file))?;
            (report, args.strict, args.json)
        }
    };
    store.close().await;
    print_report(&report, json)?;
    if strict && report.total_skipped > 0 {
        anyhow::bail!(
            "{} records were skipped and --strict is set; fix them in the source (file and line are listed above) or import without --strict",
            report.total_skipped
        );
    }
    Ok(())
}

/// Turns an import error into a message that says what to do next.
fn explain(error: steward_ingest::Error, source: &Path) -> anyhow::Error {
    let hint = match &error {
        steward_ingest::Error::Cancelled { .. } => {
            "everything imported so far is kept; run the same command again to finish (it converges, nothing is counted twice)"
        }
        steward_ingest::Error::Store(_) => {
            "the batch in progress was rolled back; fix the database problem and run the same command again to resume"
        }
        steward_ingest::Error::MissingPosts(_) | steward_ingest::Error::Io { .. } => {
            "check the path: `steward import stackexchange` wants the unpacked dump folder, `steward import jsonl` a file"
        }
        _ => "run the same command again; if it fails the same way, report it with this message",
    };
    anyhow::Error::new(error).context(format!("importing {} failed; {hint}", source.display()))
}

pub(crate) fn print_report(report: &ImportReport, json: bool) -> anyhow::Result<()> {
    if json {
        println!(
            "{}",
            serde_json::to_string(report).context("serializing the report")?
        );
    } else {
        print!("{report}");
    }
    Ok(())
}
