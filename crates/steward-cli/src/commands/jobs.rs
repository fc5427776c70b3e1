//! `steward jobs`: list, show, cancel and queue the jobs in the database
//! (the same rows `/api/v1/jobs` serves), and [`run_recorded`], how the
//! long commands (import, embed, train-lsa) run their task in the foreground
//! and still leave a job row behind.

use std::time::Duration;

use anyhow::Context as _;
use steward_jobs::{JobHandle, Progress};
use steward_runtime::jobs::{JobOutput, JobSpec};
use steward_runtime::worker::{CLI_WORKER, execute};
use steward_server::dto::{JobDto, JobList};
use steward_store::{JobFilter, JobRecord, JobState, MAX_JOBS_PER_PAGE, Store};

use crate::{Context, progress};

/// How often `jobs enqueue --wait` reads the job row.
const WAIT_POLL: Duration = Duration::from_millis(500);

#[derive(Debug, clap::Subcommand)]
pub enum JobsCommand {
    /// List jobs, newest first.
    List(ListArgs),
    /// Show one job: parameters, state, progress, result or error.
    Show(ShowArgs),
    /// Cancel a job: a queued one at once, a running one at its worker's next
    /// heartbeat (it stops after its current batch).
    Cancel(CancelArgs),
    /// Queue a job for a worker (`steward worker`, or the one inside
    /// `steward serve`).
    Enqueue(EnqueueArgs),
}

#[derive(Debug, clap::Args)]
pub struct ListArgs {
    /// Only jobs in this state: queued, running, succeeded, failed, cancelled.
    #[arg(long, value_parser = parse_state)]
    state: Option<JobState>,
    /// Only jobs of this kind (import-stackexchange, import-jsonl, embed, train-lsa).
    #[arg(long)]
    kind: Option<String>,
    /// At most this many jobs.
    #[arg(long, default_value_t = 50)]
    limit: u32,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
pub struct ShowArgs {
    id: i64,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
pub struct CancelArgs {
    id: i64,
}

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("what").required(true).args(["kind", "spec"])))]
pub struct EnqueueArgs {
    /// The job kind: import-stackexchange, import-jsonl, embed, train-lsa.
    kind: Option<String>,
    /// A parameter of the job, repeatable (`--param path=/data/dump
    /// --param strict=true`); numbers and true/false are read as such.
    #[arg(long = "param", value_name = "KEY=VALUE", requires = "kind", value_parser = parse_param)]
    params: Vec<(String, serde_json::Value)>,
    /// The whole job as JSON, as `POST /api/v1/jobs` takes it
    /// (`{"kind": "embed", "model": "lsa"}`).
    #[arg(long, value_name = "JSON", conflicts_with = "kind")]
    spec: Option<String>,
    /// Wait for the job to end, showing its progress; the exit status says
    /// whether it succeeded.
    #[arg(long)]
    wait: bool,
    /// Print the job as one JSON object (at the end with --wait).
    #[arg(long)]
    json: bool,
}

fn parse_state(text: &str) -> Result<JobState, String> {
    text.parse::<JobState>().map_err(|error| error.to_string())
}

/// `KEY=VALUE`; the value is a JSON number or boolean when it reads as one,
/// else a string.
fn parse_param(text: &str) -> Result<(String, serde_json::Value), String> {
    let (key, value) = text
        .split_once('=')
        .ok_or_else(|| format!("`{text}`: expected KEY=VALUE"))?;
    let key = key.trim();
    if key.is_empty() {
        return Err(format!("`{text}`: the key is empty"));
    }
    let value = match serde_json::from_str::<serde_json::Value>(value) {
        Ok(parsed @ (serde_json::Value::Bool(_) | serde_json::Value::Number(_))) => parsed,
        _ => serde_json::Value::String(value.to_string()),
    };
    Ok((key.to_string(), value))
}

pub async fn run(command: JobsCommand, context: &Context) -> anyhow::Result<()> {
    let store = steward_runtime::build::open_store(&context.config).await?;
    let outcome = match command {
        JobsCommand::List(args) => list(&store, args).await,
        JobsCommand::Show(args) => show(&store, args).await,
        JobsCommand::Cancel(args) => cancel(&store, args.id).await,
        JobsCommand::Enqueue(args) => enqueue(&store, args).await,
    };
    store.close().await;
    outcome
}

async fn list(store: &Store, args: ListArgs) -> anyhow::Result<()> {
    let filter = JobFilter {
        state: args.state,
        kind: args.kind,
        limit: args.limit.clamp(1, MAX_JOBS_PER_PAGE),
        before_id: None,
    };
    let jobs = store.jobs(&filter).await.context("listing jobs")?;
    if args.json {
        let list = JobList {
            items: jobs.iter().map(JobDto::from).collect(),
            next_before_id: None,
        };
        println!(
            "{}",
            serde_json::to_string(&list).context("serializing jobs")?
        );
        return Ok(());
    }
    if jobs.is_empty() {
        println!("no jobs");
        return Ok(());
    }
    println!(
        "{:>6}  {:<20}  {:<9}  {:<24}  {:<20}  progress",
        "id", "kind", "state", "created", "worker"
    );
    for job in &jobs {
        println!(
            "{:>6}  {:<20}  {:<9}  {:<24}  {:<20}  {}",
            job.id,
            job.kind,
            job.state.as_str(),
            steward_server::dto::time(job.created_at),
            job.worker.as_deref().unwrap_or("-"),
            progress_line(job),
        );
    }
    Ok(())
}

fn progress_line(job: &JobRecord) -> String {
    match serde_json::from_value::<Progress>(job.progress.clone()) {
        Ok(progress) if !progress.phase.is_empty() => progress::describe(&progress),
        _ => "-".to_string(),
    }
}

async fn show(store: &Store, args: ShowArgs) -> anyhow::Result<()> {
    let job = store
        .job(args.id)
        .await
        .context("reading the job")?
        .with_context(|| format!("no job {}", args.id))?;
    print_job(&job, args.json)
}

fn print_job(job: &JobRecord, json: bool) -> anyhow::Result<()> {
    if json {
        let dto = JobDto::from(job);
        println!(
            "{}",
            serde_json::to_string(&dto).context("serializing the job")?
        );
        return Ok(());
    }
    let time = |at: Option<steward_domain::Timestamp>| {
        at.map_or_else(|| "-".to_string(), steward_server::dto::time)
    };
    println!("job {}: {} ({})", job.id, job.kind, job.state.as_str());
    println!("  params:    {}", job.params);
    println!("  progress:  {}", progress_line(job));
    println!(
        "  worker:    {} (attempt {})",
        job.worker.as_deref().unwrap_or("-"),
        job.attempts
    );
    println!("  created:   {}", time(Some(job.created_at)));
    println!("  started:   {}", time(job.started_at));
    println!("  heartbeat: {}", time(job.heartbeat_at));
    println!("  finished:  {}", time(job.finished_at));
    if job.cancel_requested {
        println!("  cancel requested");
    }
    if let Some(result) = &job.result {
        println!("  result:    {result}");
    }
    if let Some(error) = &job.error {
        println!("  error:     {error}");
    }
    Ok(())
}

async fn cancel(store: &Store, id: i64) -> anyhow::Result<()> {
    let before = store
        .job(id)
        .await
        .context("reading the job")?
        .with_context(|| format!("no job {id}"))?;
    if before.state.is_final() {
        anyhow::bail!(
            "job {id} is already {}; only queued or running jobs can be cancelled",
            before.state.as_str()
        );
    }
    let after = store
        .cancel_job(id)
        .await
        .context("cancelling the job")?
        .with_context(|| format!("no job {id}"))?;
    match after.state {
        JobState::Running => {
            println!("job {id} will stop at its worker's next heartbeat, after its current batch")
        }
        state => println!("job {id} is {}", state.as_str()),
    }
    Ok(())
}

async fn enqueue(store: &Store, args: EnqueueArgs) -> anyhow::Result<()> {
    let value = match (&args.spec, &args.kind) {
        (Some(spec), _) => serde_json::from_str(spec).context("--spec is not JSON")?,
        (None, Some(kind)) => {
            let mut object = serde_json::Map::new();
            object.insert("kind".to_string(), kind.clone().into());
            for (key, value) in &args.params {
                object.insert(key.clone(), value.clone());
            }
            serde_json::Value::Object(object)
        }
        (None, None) => anyhow::bail!("give a job kind or --spec"),
    };
    let spec = JobSpec::from_json(value)?;
    let queued = store
        .enqueue_job(&spec.new_job())
        .await
        .context("queueing the job")?;
    if !args.wait {
        if args.json {
            return print_job(&queued, true);
        }
        println!(
            "job {} queued ({}); `steward jobs show {}` follows it",
            queued.id, queued.kind, queued.id
        );
        return Ok(());
    }
    eprintln!(
        "job {} queued ({}); waiting for a worker",
        queued.id, queued.kind
    );
    let job = JobHandle::new();
    let finished = progress::run(&job, wait_for(store, queued.id, &job)).await?;
    print_job(&finished, args.json)?;
    match finished.state {
        JobState::Succeeded => Ok(()),
        state => anyhow::bail!(
            "job {} {}{}",
            finished.id,
            state.as_str(),
            finished
                .error
                .as_deref()
                .map(|error| format!(": {error}"))
                .unwrap_or_default()
        ),
    }
}

/// Reads job `id` until it ends, mirroring its progress into `job` (which
/// the progress view draws); a cancel of `job` (Ctrl-C) cancels the row.
async fn wait_for(store: &Store, id: i64, job: &JobHandle) -> anyhow::Result<JobRecord> {
    let mut phase = String::new();
    let mut cancel_sent = false;
    loop {
        if job.is_cancelled() && !cancel_sent {
            store.cancel_job(id).await.context("cancelling the job")?;
            cancel_sent = true;
        }
        let row = store
            .job(id)
            .await
            .context("reading the job")?
            .with_context(|| format!("job {id} is gone"))?;
        if let Ok(progress) = serde_json::from_value::<Progress>(row.progress.clone()) {
            if progress.phase != phase {
                phase.clone_from(&progress.phase);
                job.set_phase(&progress.phase, progress.total, progress.unit);
            }
            job.set_total(progress.total);
            job.set_done(progress.done);
            if let Some(message) = progress.message {
                job.set_message(message);
            }
        }
        if row.state.is_final() {
            return Ok(row);
        }
        tokio::time::sleep(WAIT_POLL).await;
    }
}

/// Runs `spec` here and now, recorded as a job row (worker `cli`) with its
/// progress, and shows the progress on stderr; Ctrl-C cancels it. The task
/// is the same code a worker runs.
pub(crate) async fn run_recorded(
    context: &Context,
    store: &Store,
    spec: JobSpec,
) -> anyhow::Result<Result<JobOutput, steward_runtime::Error>> {
    let config = &context.config;
    let record = store
        .start_job(&spec.new_job(), CLI_WORKER)
        .await
        .context("recording the job")?;
    let job = JobHandle::new();
    // Nobody stops a foreground job but its own Ctrl-C, which cancels `job`.
    let (_never, stop) = tokio::sync::watch::channel(false);
    let heartbeat = Duration::from_secs(config.worker.heartbeat_secs);
    let executed = progress::run(
        &job,
        execute(
            store, config, record.id, spec, CLI_WORKER, heartbeat, &job, stop,
        ),
    )
    .await
    .context("recording the job's outcome")?;
    Ok(executed.outcome)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn params_read_numbers_and_booleans_as_such() {
        let check = |text: &str, expected: Option<(&str, serde_json::Value)>| {
            assert_eq!(
                parse_param(text).ok(),
                expected.map(|(key, value)| (key.to_string(), value)),
                "{text}"
            );
        };
        check("strict=true", Some(("strict", json!(true))));
        check("batch_size=50", Some(("batch_size", json!(50))));
        check("path=/data/dump", Some(("path", json!("/data/dump"))));
        check("model=lsa", Some(("model", json!("lsa"))));
        check("path=a=b", Some(("path", json!("a=b"))));
        check("strict", None);
        check("=x", None);
    }
}
