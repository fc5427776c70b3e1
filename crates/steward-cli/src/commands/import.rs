//! `steward import`: Stack Exchange dumps and JSONL files into the database,
//! with progress on stderr and a summary (or `--json`) on stdout. The import
//! runs as a job here (the same task a worker runs) and is recorded as one.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use steward_ingest::report::ImportReport;
use steward_runtime::jobs::{JobOutput, JobSpec};

use crate::Context;

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
    let (spec, source, json) = match command {
        ImportCommand::Stackexchange(args) => (
            JobSpec::ImportStackexchange {
                path: args.dir.clone(),
                strict: args.strict,
                batch_size: args.batch_size,
            },
            args.dir,
            args.json,
        ),
        ImportCommand::Jsonl(args) => (
            JobSpec::ImportJsonl {
                path: args.file.clone(),
                strict: args.strict,
                batch_size: args.batch_size,
            },
            args.file,
            args.json,
        ),
    };
    let outcome = super::jobs::run_recorded(context, &store, spec).await;
    store.close().await;
    match outcome? {
        Ok(JobOutput::Import(report)) => print_report(&report, json),
        Ok(other) => anyhow::bail!("an import returned {other:?} instead of its report"),
        // The report is printed before the error, as for a clean import.
        Err(steward_runtime::Error::StrictSkips { report }) => {
            print_report(&report, json)?;
            anyhow::bail!(
                "{} records were skipped and --strict is set; fix them in the source (file and line are listed above) or import without --strict",
                report.total_skipped
            )
        }
        Err(error) => Err(explain(error, &source)),
    }
}

/// Turns an import error into a message that says what to do next.
fn explain(error: steward_runtime::Error, source: &Path) -> anyhow::Error {
    use steward_ingest::Error as Ingest;
    use steward_runtime::Error as Runtime;
    let hint = match &error {
        Runtime::Cancelled => {
            "everything imported so far is kept; run the same command again to finish (it converges, nothing is counted twice)"
        }
        Runtime::Import { source, .. } => match **source {
            Ingest::Store(_) => {
                "the batch in progress was rolled back; fix the database problem and run the same command again to resume"
            }
            Ingest::MissingPosts(_) | Ingest::Io { .. } => {
                "check the path: `steward import stackexchange` wants the unpacked dump folder, `steward import jsonl` a file"
            }
            _ => {
                "run the same command again; if it fails the same way, report it with this message"
            }
        },
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
