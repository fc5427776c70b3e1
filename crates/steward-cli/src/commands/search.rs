//! `steward search`: the community's threads for a query, BM25, dense or
//! both fused, each hit with why it was found; and `steward index`, which
//! builds the indices and says how current they are.

use std::io::IsTerminal;
use std::sync::Arc;

use anyhow::Context as _;
use steward_domain::{PostKind, Timestamp};
use steward_jobs::JobHandle;
use steward_runtime::build::{self, LsaFallback};
use steward_runtime::jobs::{JobOutput, JobSpec};
use steward_runtime::search::{self as runtime_search, RefreshOptions};
use steward_search::Filters;
use steward_search::searcher::{Fusion, Mode, SearchRequest, SearchResults, Searcher};
use steward_store::Store;

use crate::Context;

#[derive(Debug, clap::Args)]
pub struct SearchArgs {
    /// What to look for: words, code identifiers (`tokio::select!`), Chinese.
    query: String,

    /// bm25, dense or hybrid [config: search.mode].
    #[arg(long)]
    mode: Option<Mode>,

    /// How hybrid merges its lists: rrf or weighted [config: search.fusion].
    #[arg(long)]
    fusion: Option<Fusion>,

    /// The dense list's share in weighted fusion, 0 to 1 [config: search.dense_weight].
    #[arg(long)]
    dense_weight: Option<f32>,

    /// Only threads with this tag (repeat for several: all must match).
    #[arg(long = "tag", value_name = "TAG")]
    tags: Vec<String>,

    /// Only threads with an answer.
    #[arg(long, conflicts_with = "unanswered")]
    answered: bool,

    /// Only threads without one.
    #[arg(long)]
    unanswered: bool,

    /// Only threads asked on or after this day (YYYY-MM-DD, UTC).
    #[arg(long, value_name = "DATE")]
    since: Option<String>,

    /// Only threads asked before this day (YYYY-MM-DD, UTC).
    #[arg(long, value_name = "DATE")]
    until: Option<String>,

    /// Only threads of this kind (question, article, ...; repeat for several).
    #[arg(long = "kind", value_name = "KIND")]
    kinds: Vec<String>,

    /// Hits per page.
    #[arg(long, default_value_t = 10)]
    limit: usize,

    /// Which page of hits (from 1).
    #[arg(long, default_value_t = 1)]
    page: usize,

    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

/// A day as the start of that day, UTC.
fn day(value: &str, flag: &str) -> anyhow::Result<Timestamp> {
    steward_search::parse_day(value)
        .with_context(|| format!("{flag} {value}: write the day as YYYY-MM-DD"))
}

impl SearchArgs {
    fn request(&self, context: &Context) -> anyhow::Result<SearchRequest> {
        let settings = &context.config.search;
        anyhow::ensure!(self.limit >= 1, "--limit must be at least 1");
        anyhow::ensure!(self.page >= 1, "--page counts from 1");
        let dense_weight = self.dense_weight.unwrap_or(settings.dense_weight as f32);
        anyhow::ensure!(
            (0.0..=1.0).contains(&dense_weight),
            "--dense-weight {dense_weight}: it must be between 0 and 1"
        );
        let kinds = self
            .kinds
            .iter()
            .map(|kind| {
                kind.parse::<PostKind>()
                    .map_err(|error| anyhow::anyhow!("--kind {kind}: {error}"))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(SearchRequest {
            query: self.query.clone(),
            mode: self.mode.unwrap_or(settings.mode),
            fusion: self.fusion.unwrap_or(settings.fusion),
            dense_weight,
            filters: Filters {
                tags: self
                    .tags
                    .iter()
                    .map(|tag| tag.trim().to_lowercase())
                    .collect(),
                created_from: self
                    .since
                    .as_deref()
                    .map(|d| day(d, "--since"))
                    .transpose()?,
                created_to: self
                    .until
                    .as_deref()
                    .map(|d| day(d, "--until"))
                    .transpose()?,
                answered: match (self.answered, self.unanswered) {
                    (true, _) => Some(true),
                    (_, true) => Some(false),
                    _ => None,
                },
                kinds,
            },
            limit: self.limit,
            offset: (self.page - 1) * self.limit,
        })
    }
}

/// A searcher over `store` for a command: the lexical index brought up to
/// the feed (built the first time), and the dense side when the configured
/// embedder loads and posts were embedded with it. Nothing is embedded here
/// (that is `steward embed --all` or `steward index build`); what stops the
/// dense side is said in the returned notice.
pub(crate) async fn command_searcher(
    context: &Context,
    store: &Store,
    want_dense: bool,
) -> anyhow::Result<(Searcher, Option<String>)> {
    let config = &context.config;
    let job = JobHandle::new();
    let mut notice = None;
    let embedder = if want_dense {
        let resolver = build::model_resolver(config);
        match build::load_embedder(config, &resolver, Some(store), LsaFallback::Refused, &job).await
        {
            Ok(loaded) => {
                notice = loaded.warning;
                Some(Arc::new(loaded.embedder))
            }
            Err(error) => {
                notice = Some(format!("{error}; searching with bm25 only"));
                None
            }
        }
    } else {
        None
    };
    let searcher = runtime_search::open_searcher(config, store, embedder, &job).await?;
    let options = RefreshOptions {
        rebuild: false,
        save: false,
        embed: false,
    };
    crate::progress::run(&job, runtime_search::refresh(&searcher, options, &job))
        .await
        .context("bringing the search index up to date")?;
    Ok((searcher, notice))
}

pub async fn run(args: SearchArgs, context: &Context) -> anyhow::Result<()> {
    let request = args.request(context)?;
    let store = build::open_store(&context.config).await?;
    let outcome = async {
        let (searcher, notice) =
            command_searcher(context, &store, request.mode != Mode::Bm25).await?;
        let mut results = searcher.search(&request).await?;
        // Why the model did not load says more than "no embedder".
        if notice.is_some() {
            results.notice = notice;
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
    print_results(&results, std::io::stdout().is_terminal());
    Ok(())
}

fn print_results(results: &SearchResults, terminal: bool) {
    if let Some(notice) = &results.notice {
        eprintln!("note: {notice}");
    }
    for expansion in &results.expansions {
        eprintln!(
            "note: `{}` is a synonym of the tag `{}`: searched for it too",
            expansion.from, expansion.tag
        );
    }
    if results.hits.is_empty() {
        println!(
            "no thread matches `{}` ({})",
            results.query,
            results.mode.as_str()
        );
        return;
    }
    for (index, hit) in results.hits.iter().enumerate() {
        let title = hit.title.as_deref().unwrap_or("(untitled)");
        println!(
            "{:>2}. {} [#{}] score {} · {} answers{}",
            index + 1,
            title,
            hit.post_id.0,
            hit.score_of_post,
            hit.answer_count,
            if hit.accepted_answer_id.is_some() {
                " · accepted"
            } else {
                ""
            }
        );
        if !hit.tags.is_empty() {
            println!("    tags: {}", hit.tags.join(", "));
        }
        let mut why = Vec::new();
        if let Some(bm25) = &hit.bm25 {
            why.push(format!(
                "bm25 #{} ({:.2}; {})",
                bm25.rank,
                bm25.score,
                bm25.matched_terms.join(", ")
            ));
        }
        if let Some(dense) = &hit.dense {
            why.push(format!(
                "dense #{} (similarity {:.3})",
                dense.rank, dense.similarity
            ));
        }
        println!("    found by {}", why.join(" + "));
        println!("    {}", highlight(&hit.snippet, terminal));
    }
}

/// `<mark>` highlights as bold on a terminal, `**` around the match elsewhere;
/// the snippet's HTML entities decoded.
fn highlight(snippet: &str, terminal: bool) -> String {
    let (open, close) = if terminal {
        ("\x1b[1m", "\x1b[0m")
    } else {
        ("**", "**")
    };
    snippet
        .replace("<mark>", open)
        .replace("</mark>", close)
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
        .replace('\n', " ")
}

#[derive(Debug, clap::Subcommand)]
pub enum IndexCommand {
    /// Bring the search indices up to the change feed (the first run builds
    /// them): posts changed since are embedded with embedding.model, the
    /// lexical index updated, and the vector index saved as a new artifact
    /// version when it changed. Runs as a recorded job.
    Build(BuildArgs),
    /// Say how current the indices are: documents, feed position and lag.
    Status(StatusArgs),
}

#[derive(Debug, clap::Args)]
pub struct BuildArgs {
    /// Rebuild both indices from the store instead of following the feed.
    #[arg(long)]
    rebuild: bool,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

pub async fn run_index(command: IndexCommand, context: &Context) -> anyhow::Result<()> {
    match command {
        IndexCommand::Build(args) => build_index(args, context).await,
        IndexCommand::Status(args) => status(args, context).await,
    }
}

async fn build_index(args: BuildArgs, context: &Context) -> anyhow::Result<()> {
    let store = build::open_store(&context.config).await?;
    let spec = JobSpec::Index {
        rebuild: args.rebuild,
    };
    let outcome = super::jobs::run_recorded(context, &store, spec).await;
    store.close().await;
    let output = outcome?.context("building the search indices")?;
    if args.json {
        println!("{}", output.summary());
        return Ok(());
    }
    let (report, warning) = match output {
        JobOutput::Index { report, warning } => (report, warning),
        other => anyhow::bail!("an index job returned {other:?} instead of its report"),
    };
    if let Some(warning) = warning {
        eprintln!("warning: {warning}");
    }
    let lexical = &report.lexical;
    println!(
        "lexical index ({}): {} threads indexed, {} removed; at feed position {}",
        lexical.mode, lexical.indexed, lexical.deleted, lexical.position
    );
    if let Some(embedded) = &report.embedded {
        println!(
            "embedded with {}: {} posts, {} vectors removed",
            embedded.model, embedded.embedded, embedded.deleted
        );
    }
    if let Some(dense) = &report.dense {
        println!(
            "vector index ({}): {} threads indexed, {} removed; at feed position {}{}",
            dense.mode,
            dense.indexed,
            dense.deleted,
            dense.position,
            match report.saved_version {
                Some(version) => format!("; saved as version {version}"),
                None => String::new(),
            }
        );
    }
    println!("in {:.1} s", report.elapsed_seconds);
    Ok(())
}

async fn status(args: StatusArgs, context: &Context) -> anyhow::Result<()> {
    let store = build::open_store(&context.config).await?;
    let outcome = runtime_search::status(&context.config, &store).await;
    store.close().await;
    let status = outcome?;
    if args.json {
        println!("{}", serde_json::to_string(&status)?);
        return Ok(());
    }
    println!(
        "change feed head: {}\nlexical index at {}: {} threads, feed position {} ({} behind), {:.1} MB",
        status.feed_head,
        status
            .lexical
            .dir
            .as_deref()
            .map_or_else(|| "(memory)".into(), |dir| dir.display().to_string()),
        status.lexical.documents,
        status.lexical.position,
        status.feed_head - status.lexical.position,
        status.lexical.size_bytes as f64 / 1e6,
    );
    if status.vectors.is_empty() {
        println!(
            "no vector index saved yet: `steward embed --all` then `steward index build` make one"
        );
    }
    for vector in &status.vectors {
        println!(
            "vector index {} v{}: {} threads, feed position {} ({} behind)",
            vector.name,
            vector.version,
            vector.count,
            vector.position,
            status.feed_head - vector.position,
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn highlights_read_on_a_terminal_and_in_a_pipe() {
        let snippet = "use <mark>tokio</mark>::select! &amp; more";
        assert_eq!(highlight(snippet, false), "use **tokio**::select! & more");
        assert_eq!(
            highlight(snippet, true),
            "use \x1b[1mtokio\x1b[0m::select! & more"
        );
    }

    #[test]
    fn days_are_utc_midnights_and_bad_ones_say_the_format() {
        assert_eq!(
            day("2024-02-29", "--since").expect("a day").to_rfc3339(),
            "2024-02-29T00:00:00+00:00"
        );
        let error = day("29/02/2024", "--since").expect_err("not a day");
        assert!(format!("{error:#}").contains("YYYY-MM-DD"), "{error:#}");
    }
}
