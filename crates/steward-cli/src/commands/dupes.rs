//! `steward dupes`: the threads a draft question may duplicate, each with
//! its calibrated probability; `steward dupes --calibrate` fits that
//! calibration on the community's own duplicate and related links.

use std::path::PathBuf;

use anyhow::Context as _;
use steward_runtime::build;
use steward_runtime::dupes as runtime_dupes;
use steward_runtime::jobs::{JobOutput, JobSpec};
use steward_search::duplicates::{self, Draft, SimilarResults};

use crate::Context;

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  \
    steward dupes --calibrate\n  \
    steward dupes \"How do I undo my last commit?\" --tags git --body-file draft.md\n  \
    steward dupes \"Is backprop biologically plausible?\" --limit 5 --json")]
pub struct DupesArgs {
    /// The draft question's title (not with --calibrate).
    #[arg(required_unless_present = "calibrate", conflicts_with = "calibrate")]
    title: Option<String>,

    /// The draft's body (HTML or markdown text).
    #[arg(long, value_name = "TEXT", conflicts_with_all = ["body_file", "calibrate"])]
    body: Option<String>,

    /// Read the draft's body from this file (`-` for stdin).
    #[arg(long, value_name = "FILE", conflicts_with = "calibrate")]
    body_file: Option<PathBuf>,

    /// The draft's tags, comma-separated.
    #[arg(
        long,
        value_name = "TAGS",
        value_delimiter = ',',
        conflicts_with = "calibrate"
    )]
    tags: Vec<String>,

    /// How many threads to show.
    #[arg(long, default_value_t = 10, conflicts_with = "calibrate")]
    limit: usize,

    /// Fit the calibration on the community's links instead (the search
    /// indices are brought up to date first) and save it as the promoted
    /// `duplicate-calibration:<model>` artifact. Runs as a recorded job.
    #[arg(long)]
    calibrate: bool,

    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

/// Longest body the command reads, as the API (characters).
const MAX_BODY_CHARS: usize = 30_000;

impl DupesArgs {
    fn draft(&self) -> anyhow::Result<Draft> {
        let title = self.title.as_deref().map(str::trim).unwrap_or_default();
        anyhow::ensure!(
            !title.is_empty(),
            "the title is empty: give the draft question's title"
        );
        anyhow::ensure!(
            (1..=50).contains(&self.limit),
            "--limit {}: it must be 1 to 50",
            self.limit
        );
        let body = match (&self.body, &self.body_file) {
            (Some(body), _) => body.clone(),
            (None, Some(path)) if path.as_os_str() == "-" => {
                std::io::read_to_string(std::io::stdin()).context("reading the body from stdin")?
            }
            (None, Some(path)) => std::fs::read_to_string(path)
                .with_context(|| format!("--body-file {}: reading it", path.display()))?,
            (None, None) => String::new(),
        };
        anyhow::ensure!(
            body.chars().count() <= MAX_BODY_CHARS,
            "the body is longer than {MAX_BODY_CHARS} characters: give the start of it"
        );
        Ok(Draft {
            title: title.to_string(),
            body,
            tags: self
                .tags
                .iter()
                .map(|tag| tag.trim().to_lowercase())
                .filter(|tag| !tag.is_empty())
                .collect(),
        })
    }
}

pub async fn run(args: DupesArgs, context: &Context) -> anyhow::Result<()> {
    if args.calibrate {
        return calibrate(args.json, context).await;
    }
    let draft = args.draft()?;
    let store = build::open_store(&context.config).await?;
    let outcome = async {
        let (searcher, notice) = super::search::command_searcher(context, &store, true).await?;
        let calibration = runtime_dupes::load_calibration(&searcher).await?;
        let mut results =
            duplicates::similar(&searcher, calibration.as_ref(), &draft, args.limit, None).await?;
        if let Some(notice) = notice {
            results.notice = Some(match results.notice {
                Some(own) => format!("{notice}. {own}"),
                None => notice,
            });
        }
        anyhow::Ok(results)
    }
    .await;
    store.close().await;
    let results = outcome?;
    if args.json {
        println!("{}", serde_json::to_string(&results)?);
        return Ok(());
    }
    print_results(&results);
    Ok(())
}

fn print_results(results: &SimilarResults) {
    if let Some(notice) = &results.notice {
        eprintln!("note: {notice}");
    }
    if let Some(calibration) = &results.calibration {
        println!(
            "calibrated on {} links ({}): likely duplicate at p >= {:.3} (cross-validated precision {:.2}, recall {:.2})",
            calibration.positive_links.join(" and "),
            calibration.model,
            calibration.threshold,
            calibration.precision,
            calibration.recall
        );
    }
    if results.threads.is_empty() {
        println!("no similar question found");
        return;
    }
    for (index, thread) in results.threads.iter().enumerate() {
        let probability = thread
            .probability
            .map_or_else(|| "  -  ".to_string(), |p| format!("{p:.3}"));
        println!(
            "{:>2}. {} {} [#{}]{}",
            index + 1,
            probability,
            thread.title.as_deref().unwrap_or("(untitled)"),
            thread.post_id.0,
            if thread.likely_duplicate {
                "  ← likely duplicate"
            } else {
                ""
            }
        );
        let similarity = thread
            .features
            .dense_similarity
            .map(|similarity| format!("similarity {similarity:.3}"));
        let terms = (!thread.matched_terms.is_empty())
            .then(|| format!("terms {}", thread.matched_terms.join(", ")));
        let why: Vec<String> = similarity.into_iter().chain(terms).collect();
        if !why.is_empty() {
            println!("    {}", why.join(" · "));
        }
    }
}

async fn calibrate(json: bool, context: &Context) -> anyhow::Result<()> {
    let store = build::open_store(&context.config).await?;
    let outcome = super::jobs::run_recorded(context, &store, JobSpec::CalibrateDuplicates {}).await;
    store.close().await;
    let output = outcome?.context("calibrating duplicate detection")?;
    if json {
        println!("{}", output.summary());
        return Ok(());
    }
    let (report, warning) = match output {
        JobOutput::CalibrateDuplicates { report, warning } => (report, warning),
        other => anyhow::bail!("a calibration job returned {other:?} instead of its report"),
    };
    if let Some(warning) = warning {
        eprintln!("warning: {warning}");
    }
    let metrics = &report.metrics;
    println!(
        "{} v{}: threshold {:.3}, positives: {} links",
        report.name,
        report.version,
        report.threshold,
        report.positive_links.join(" and ")
    );
    println!(
        "cross-validated ({} folds): precision {:.3}, recall {:.3}, F1 {:.3}",
        metrics.folds, metrics.precision, metrics.recall, metrics.f1
    );
    println!(
        "{} drafts, {} pairs ({} positive, {} negative); {} duplicate and {} related links; \
         candidates held {:.0}% of the linked threads",
        metrics.queries,
        metrics.pairs,
        metrics.positives,
        metrics.negatives,
        metrics.duplicate_links,
        metrics.related_links,
        metrics.candidate_recall * 100.0
    );
    println!("in {:.1} s", report.elapsed_seconds);
    Ok(())
}
