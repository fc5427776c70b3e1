//! `steward worker`: runs queued jobs from the database until Ctrl-C or
//! SIGTERM (then running jobs go back to the queue for the next worker), or
//! with `--once` until the queue is empty.

use anyhow::Context as _;
use steward_runtime::config::Flags;
use steward_runtime::worker::{WorkerOptions, run_worker};

use crate::Context;

#[derive(Debug, clap::Args)]
pub struct WorkerArgs {
    /// Run the queued jobs, then exit instead of waiting for more.
    #[arg(long)]
    once: bool,

    /// Jobs run at once; always 1 on SQLite [config: worker.concurrency].
    #[arg(long, value_name = "N")]
    concurrency: Option<u32>,

    /// The name jobs are claimed under, shown by `steward jobs list`
    /// [config: worker.name; default hostname:pid].
    #[arg(long)]
    name: Option<String>,
}

impl WorkerArgs {
    /// The config keys these flags set.
    pub fn flags(&self, flags: &mut Flags) {
        flags
            .set("--concurrency", "worker.concurrency", self.concurrency)
            .set("--name", "worker.name", self.name.as_ref());
    }
}

pub async fn run(args: WorkerArgs, context: &Context) -> anyhow::Result<()> {
    let config = &context.config;
    let store = steward_runtime::build::open_store(config).await?;
    let mut options = WorkerOptions::from_config(config, store.dialect());
    options.once = args.once;
    eprintln!(
        "worker {} running up to {} job(s) at once; Ctrl-C or SIGTERM gives running jobs back to the queue",
        options.name, options.concurrency
    );
    let report = run_worker(
        store.clone(),
        config.clone(),
        options,
        super::serve::shutdown_signal(),
    )
    .await
    .context("running the worker")?;
    store.close().await;
    println!(
        "worker stopped: {} succeeded, {} failed, {} cancelled, {} given back to the queue",
        report.succeeded, report.failed, report.cancelled, report.released
    );
    Ok(())
}
