//! `steward import`: Stack Exchange dumps and JSONL files into the database,
//! with a progress bar on stderr and a summary (or `--json`) on stdout.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context as _;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use steward_ingest::jsonl::{JsonlOptions, import_jsonl};
use steward_ingest::progress::{Job, Progress};
use steward_ingest::report::ImportReport;
use steward_ingest::stackexchange::{DUMP_FILES, DumpOptions, import_dump};

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
    let cancel = cancel_on_ctrl_c();
    let (report, strict, json) = match command {
        ImportCommand::Stackexchange(args) => {
            let total_bytes: u64 = DUMP_FILES
                .iter()
                .filter_map(|name| std::fs::metadata(args.dir.join(name)).ok())
                .map(|metadata| metadata.len())
                .sum();
            let options = DumpOptions {
                batch_size: args.batch_size,
            };
            let report = with_progress_bar(total_bytes, &cancel, async |job| {
                import_dump(&store, &args.dir, &options, job).await
            })
            .await
            .map_err(|error| explain(error, &args.dir))?;
            (report, args.strict, args.json)
        }
        ImportCommand::Jsonl(args) => {
            let total_bytes = std::fs::metadata(&args.file)
                .map(|metadata| metadata.len())
                .unwrap_or(0);
            let options = JsonlOptions {
                batch_size: args.batch_size,
            };
            let report = with_progress_bar(total_bytes, &cancel, async |job| {
                import_jsonl(&store, &args.file, &options, job).await
            })
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

/// A flag raised by Ctrl-C; the import stops after its current batch.
fn cancel_on_ctrl_c() -> Arc<AtomicBool> {
    let cancel = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&cancel);
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            flag.store(true, Ordering::Relaxed);
        }
    });
    cancel
}

fn progress_bar(total_bytes: u64) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::with_draw_target(Some(total_bytes), ProgressDrawTarget::hidden());
    }
    let bar = ProgressBar::with_draw_target(Some(total_bytes), ProgressDrawTarget::stderr());
    let style = ProgressStyle::with_template(
        "{msg:16} [{bar:40}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar())
    .progress_chars("=> ");
    bar.set_style(style);
    bar
}

/// Runs one import as a cancellable job drawn as a progress bar on stderr.
async fn with_progress_bar(
    total_bytes: u64,
    cancel: &AtomicBool,
    import: impl AsyncFnOnce(Job<'_>) -> steward_ingest::Result<ImportReport>,
) -> steward_ingest::Result<ImportReport> {
    let bar = progress_bar(total_bytes);
    let observer = |progress: Progress<'_>| show_progress(&bar, progress);
    let outcome = import(Job::new().with_observer(&observer).with_cancel(cancel)).await;
    bar.finish_and_clear();
    outcome
}

fn show_progress(bar: &ProgressBar, progress: Progress<'_>) {
    match progress {
        Progress::FileStarted { file, .. } => bar.set_message(file.to_string()),
        Progress::Advanced { bytes } => bar.inc(bytes),
        Progress::FileFinished { .. } => {}
    }
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
