//! Generates a sample dump of a given Posts.xml size and imports it into a
//! fresh SQLite file, printing per-file throughput: the library-only twin of
//! `steward bench import`, for profiling the importer without the CLI.
//!
//! `cargo run --release -p steward-ingest --example import_speed -- 50`

use std::time::Instant;

use steward_ingest::stackexchange::{DumpOptions, import_dump};
use steward_sample::{SampleConfig, generate};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let size_mb: u64 = std::env::args()
        .nth(1)
        .and_then(|arg| arg.parse().ok())
        .unwrap_or(20);
    let work_dir = tempfile::tempdir()?;
    let dump = work_dir.path().join("dump");
    let config = SampleConfig {
        users: u32::try_from(size_mb * 250)?.max(100),
        target_posts_bytes: Some(size_mb * 1_000_000),
        ..SampleConfig::new(1_000, 42)
    };
    let started = Instant::now();
    let summary = generate(&dump, &config)?;
    println!(
        "generated {} questions in {:.1} s",
        summary.questions,
        started.elapsed().as_secs_f64()
    );
    let store =
        steward_store::Store::open(&work_dir.path().join("bench.db").display().to_string()).await?;
    let report = import_dump(
        &store,
        &dump,
        &DumpOptions::default(),
        &steward_jobs::JobHandle::new(),
    )
    .await?;
    for file in &report.files {
        println!(
            "{:<14} {:>8.1} MB {:>6.2} s {:>7.1} MB/s {:>9} rows",
            file.file,
            file.bytes as f64 / 1e6,
            file.elapsed_seconds,
            file.bytes as f64 / 1e6 / file.elapsed_seconds.max(1e-9),
            file.rows_read
        );
    }
    println!(
        "total {:.1} MB/s, {} skipped",
        report.megabytes_per_second(),
        report.total_skipped
    );
    Ok(())
}
