//! `steward bench ...`: measured figures on real or generated data. Every bench
//! takes `--json` and then prints one JSON object on stdout.

use steward_runtime::config::Flags;

use crate::Context;

use super::{bench_embed, bench_generate, bench_import, bench_recsys, bench_search, bench_serve};

#[derive(Debug, clap::Subcommand)]
pub enum BenchCommand {
    /// Import throughput (MB/s) and peak memory on a generated Stack Exchange dump.
    Import(bench_import::BenchImportArgs),
    /// Embedding throughput (sentences/s, 256-token passages/s), with peers side by side.
    Embed(bench_embed::BenchEmbedArgs),
    /// LLM prompt-processing and decode speed (tokens/s), with llama.cpp side by side.
    Generate(bench_generate::BenchGenerateArgs),
    /// HTTP serving: requests/s, p50 and p99 per endpoint under wrk, and a new
    /// client among many idle connections, on a generated community.
    Serve(bench_serve::BenchServeArgs),
    /// BM25 queries/s, index build docs/s and written → searchable latency on a
    /// generated community, with bm25s side by side.
    Search(bench_search::BenchSearchArgs),
    /// ALS seconds per iteration and nDCG@10 with `implicit` side by side
    /// (MovieLens-100k, a generated 10k x 5k set), and fold-in latency.
    Recsys(bench_recsys::BenchRecsysArgs),
}

impl BenchCommand {
    /// The config keys the bench's flags set.
    pub fn flags(&self, flags: &mut Flags) {
        match self {
            BenchCommand::Generate(args) => args.flags(flags),
            BenchCommand::Import(_)
            | BenchCommand::Embed(_)
            | BenchCommand::Serve(_)
            | BenchCommand::Search(_)
            | BenchCommand::Recsys(_) => {}
        }
    }
}

pub async fn run(command: BenchCommand, context: &Context) -> anyhow::Result<()> {
    match command {
        BenchCommand::Import(args) => bench_import::run(args, context).await,
        BenchCommand::Embed(args) => bench_embed::run(args, context).await,
        BenchCommand::Generate(args) => bench_generate::run(args, context).await,
        BenchCommand::Serve(args) => bench_serve::run(args, context).await,
        BenchCommand::Search(args) => bench_search::run(args, context).await,
        BenchCommand::Recsys(args) => bench_recsys::run(args, context).await,
    }
}

/// The JSON object a peer script printed as its last `{...}` line, or why
/// there is none: its exit status with the tail of its stderr, or no JSON.
/// Every peer (`bench/peers/*.py`) prints its figures this way.
pub(crate) fn peer_json(
    script: &std::path::Path,
    output: &std::process::Output,
) -> Result<serde_json::Value, String> {
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let tail: Vec<&str> = stderr.lines().rev().take(3).collect();
        return Err(format!(
            "{} exited with {}: {}",
            script.display(),
            output.status,
            tail.into_iter().rev().collect::<Vec<_>>().join(" / ")
        ));
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout
        .lines()
        .rev()
        .find(|line| line.trim_start().starts_with('{'))
        .ok_or_else(|| format!("{} printed no JSON", script.display()))?;
    serde_json::from_str(line).map_err(|error| format!("{}: {error}", script.display()))
}
