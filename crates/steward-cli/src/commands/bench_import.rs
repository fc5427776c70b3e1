//! `steward bench import`: import throughput (MB/s) and peak memory on a
//! generated Stack Exchange dump (or a given one), into a fresh SQLite file.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context as _;
use serde::Serialize;
use steward_ingest::stackexchange::{DumpOptions, import_dump};
use steward_jobs::JobHandle;
use steward_runtime::Config;
use steward_sample::{SampleConfig, generate};
use steward_store::{Store, StoreOptions};

use crate::{Context, progress};

/// Targets the import is held to.
const TARGET_MEGABYTES_PER_SECOND: f64 = 50.0;
const TARGET_PEAK_RSS_MEGABYTES: f64 = 300.0;

#[derive(Debug, clap::Args)]
pub struct BenchImportArgs {
    /// Size of the generated Posts.xml in megabytes.
    #[arg(long, default_value_t = 200)]
    pub size_mb: u64,
    /// Import this dump folder instead of generating one.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Seed of the generated community.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Rows per write transaction.
    #[arg(long, default_value_t = 2_000)]
    pub batch_size: usize,
    /// Print the figures as one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
}

/// The measured figures.
#[derive(Debug, Serialize)]
struct BenchImportResult {
    data: String,
    generated: bool,
    generate_seconds: f64,
    posts_megabytes: f64,
    posts_seconds: f64,
    posts_megabytes_per_second: f64,
    total_megabytes: f64,
    total_seconds: f64,
    total_megabytes_per_second: f64,
    rows: u64,
    rows_per_second: f64,
    skipped: u64,
    /// Peak resident memory of the import (VmHWM, reset after generation).
    peak_rss_megabytes: Option<f64>,
    target_megabytes_per_second: f64,
    target_peak_rss_megabytes: f64,
    meets_targets: bool,
}

pub async fn run(args: BenchImportArgs, context: &Context) -> anyhow::Result<()> {
    let work_dir = std::env::temp_dir().join(format!(
        "steward-bench-import-{}-{}",
        std::process::id(),
        chrono::Utc::now().timestamp_millis()
    ));
    std::fs::create_dir_all(&work_dir)
        .with_context(|| format!("creating {}", work_dir.display()))?;
    let outcome = bench(&args, &work_dir, &context.config).await;
    let _ = std::fs::remove_dir_all(&work_dir);
    let result = outcome?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string(&result).context("serializing the figures")?
        );
        return Ok(());
    }
    println!(
        "import bench on {}{}",
        result.data,
        if result.generated { " (generated)" } else { "" }
    );
    if result.generated {
        println!("  generate         {:>8.1} s", result.generate_seconds);
    }
    println!(
        "  Posts.xml        {:>8.1} MB in {:>6.1} s = {:>6.1} MB/s",
        result.posts_megabytes, result.posts_seconds, result.posts_megabytes_per_second
    );
    println!(
        "  all files        {:>8.1} MB in {:>6.1} s = {:>6.1} MB/s (target >= {TARGET_MEGABYTES_PER_SECOND})",
        result.total_megabytes, result.total_seconds, result.total_megabytes_per_second
    );
    println!(
        "  rows             {:>8} = {:>8.0} rows/s, {} skipped",
        result.rows, result.rows_per_second, result.skipped
    );
    match result.peak_rss_megabytes {
        Some(peak) => {
            println!("  peak RSS         {peak:>8.1} MB (target < {TARGET_PEAK_RSS_MEGABYTES})")
        }
        None => println!("  peak RSS         unknown (no /proc/self/status)"),
    }
    println!("  meets targets    {}", result.meets_targets);
    Ok(())
}

async fn bench(
    args: &BenchImportArgs,
    work_dir: &Path,
    config: &Config,
) -> anyhow::Result<BenchImportResult> {
    let (data_dir, generated, generate_seconds) = match &args.data {
        Some(dir) => (dir.clone(), false, 0.0),
        None => {
            let dir = work_dir.join("dump");
            let config = SampleConfig {
                // About one user per 4 kB of posts keeps the community's shape at every size.
                users: u32::try_from((args.size_mb * 250).max(100)).unwrap_or(u32::MAX),
                target_posts_bytes: Some(args.size_mb * 1_000_000),
                ..SampleConfig::new(1_000, args.seed)
            };
            let started = Instant::now();
            let target = dir.clone();
            tokio::task::spawn_blocking(move || generate(&target, &config))
                .await
                .context("the sample generator stopped unexpectedly")?
                .context("generating the benchmark dump")?;
            (dir, true, started.elapsed().as_secs_f64())
        }
    };
    // Measure the import's own peak, not the generator's.
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let database = work_dir.join("bench.db");
    // The configured pool, on the bench's own database.
    let store_options = StoreOptions {
        url: database.display().to_string(),
        ..steward_runtime::build::store_options(config)
    };
    let store = Store::open_with(store_options)
        .await
        .with_context(|| format!("opening {}", database.display()))?;
    let options = DumpOptions {
        batch_size: args.batch_size,
    };
    let job = JobHandle::new();
    let report = progress::run(&job, import_dump(&store, &data_dir, &options, &job))
        .await
        .with_context(|| format!("importing {}", data_dir.display()))?;
    store.close().await;
    let peak_rss_megabytes = peak_rss_kilobytes().map(|kilobytes| kilobytes as f64 / 1024.0);
    let posts = report
        .file("Posts.xml")
        .context("the report has no Posts.xml")?;
    let posts_megabytes = posts.bytes as f64 / 1e6;
    let total_megabytes = report.total_bytes as f64 / 1e6;
    let total_megabytes_per_second = report.megabytes_per_second();
    let meets_targets = total_megabytes_per_second >= TARGET_MEGABYTES_PER_SECOND
        && peak_rss_megabytes.is_some_and(|peak| peak < TARGET_PEAK_RSS_MEGABYTES);
    Ok(BenchImportResult {
        data: data_dir.display().to_string(),
        generated,
        generate_seconds,
        posts_megabytes,
        posts_seconds: posts.elapsed_seconds,
        posts_megabytes_per_second: posts_megabytes / posts.elapsed_seconds.max(1e-9),
        total_megabytes,
        total_seconds: report.elapsed_seconds,
        total_megabytes_per_second,
        rows: report.total_rows(),
        rows_per_second: report.total_rows() as f64 / report.elapsed_seconds.max(1e-9),
        skipped: report.total_skipped,
        peak_rss_megabytes,
        target_megabytes_per_second: TARGET_MEGABYTES_PER_SECOND,
        target_peak_rss_megabytes: TARGET_PEAK_RSS_MEGABYTES,
        meets_targets,
    })
}

/// `VmHWM` of this process, in kB.
fn peak_rss_kilobytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
}
