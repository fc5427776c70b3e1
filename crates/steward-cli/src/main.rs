//! `steward`: the command line. Parses argv, wires the crates together and
//! reports; the work itself lives in the library crates.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use steward_runtime::Config;
use steward_runtime::config::{Flags, Setting, Sources};

mod commands;
mod progress;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Steward: a self-hosted AI operations engine for technical communities.
///
/// Settings come from built-in defaults, then the config file, then STEWARD_*
/// environment variables, then flags; `steward config show` says which won.
#[derive(Debug, Parser)]
#[command(name = "steward", version, about, long_about = None)]
struct Cli {
    /// Config file; without it, ./steward.toml is read when it exists
    /// (steward.example.toml lists every key).
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,

    /// Database: a SQLite file path (created on first use) or a postgres:// URL
    /// [config: database.url, env STEWARD_DATABASE_URL; default ./steward.db].
    #[arg(long, global = true, value_name = "URL")]
    database: Option<String>,

    /// Directory holding model folders (all-MiniLM-L6-v2/, SmolLM2-135M-Instruct/, ...)
    /// [config: models.dir, env STEWARD_MODEL_DIR].
    #[arg(long, global = true, value_name = "DIR")]
    model_dir: Option<PathBuf>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Import community data (a Stack Exchange dump or JSONL).
    #[command(subcommand)]
    Import(commands::import::ImportCommand),
    /// Print counts and summary figures of the community in the database.
    Stats(commands::stats::StatsArgs),
    /// Write a synthetic community in Stack Exchange dump format.
    Sample(commands::sample::SampleArgs),
    /// Serve the HTTP API (with a job worker inside, unless --no-worker).
    Serve(commands::serve::ServeArgs),
    /// Run queued jobs (imports, embedding, training) from the database.
    Worker(commands::worker::WorkerArgs),
    /// Jobs: list, show, cancel, enqueue.
    #[command(subcommand)]
    Jobs(commands::jobs::JobsCommand),
    /// Generate (or take) a community, import it and serve it.
    Demo(commands::demo::DemoArgs),
    /// Compute sentence embeddings (for texts on stdin/a file, or the whole community).
    Embed(commands::embed::EmbedArgs),
    /// Generate text with the configured LLM, streaming to stdout.
    Generate(commands::generate::GenerateArgs),
    /// List or fetch models; train the community's LSA model.
    #[command(subcommand)]
    Models(commands::models::ModelsCommand),
    /// Search the community's threads (BM25, dense or hybrid), with why each was found.
    Search(commands::search::SearchArgs),
    /// Answer a question from the community's posts, with citations (or refuse).
    Ask(commands::ask::AskArgs),
    /// Questions a draft may duplicate, with calibrated probabilities;
    /// `--calibrate` learns the calibration from the community's links.
    Dupes(commands::dupes::DupesArgs),
    /// Train the recommender (models chosen on the latest acts) as a recorded job.
    Train(commands::recommend::TrainArgs),
    /// A member's recommended threads, with why (`--explain`).
    Recommend(commands::recommend::RecommendArgs),
    /// The members most likely to answer a question well.
    Experts(commands::recommend::ExpertsArgs),
    /// The knowledge graph: build, update, train the tagger, show, path, export.
    #[command(subcommand)]
    Kg(commands::kg::KgCommand),
    /// Search indices: build (bring up to the change feed) and status.
    #[command(subcommand)]
    Index(commands::search::IndexCommand),
    /// Trained models and indices: list, show, promote, roll back.
    #[command(subcommand)]
    Artifacts(commands::artifacts::ArtifactsCommand),
    /// API keys: create, list, revoke.
    #[command(subcommand)]
    Keys(commands::keys::KeysCommand),
    /// LLM audit: usage totals.
    #[command(subcommand)]
    Llm(commands::llm::LlmCommand),
    /// Quality figures on real data (search: nDCG, recall, MRR per mode).
    #[command(subcommand)]
    Eval(commands::eval::EvalCommand),
    /// Benchmarks on real or generated data; print figures (and JSON with --json).
    #[command(subcommand)]
    Bench(commands::bench::BenchCommand),
    /// Show or check the effective configuration.
    #[command(subcommand)]
    Config(commands::config::ConfigCommand),
}

impl Command {
    /// The flags of this command that set config keys.
    fn flags(&self, flags: &mut Flags) {
        match self {
            Command::Serve(args) => args.flags(flags),
            Command::Worker(args) => args.flags(flags),
            Command::Demo(args) => args.flags(flags),
            Command::Embed(args) => args.flags(flags),
            Command::Generate(args) => args.flags(flags),
            Command::Bench(command) => command.flags(flags),
            Command::Eval(command) => command.flags(flags),
            Command::Import(_)
            | Command::Stats(_)
            | Command::Sample(_)
            | Command::Jobs(_)
            | Command::Models(_)
            | Command::Search(_)
            | Command::Ask(_)
            | Command::Dupes(_)
            | Command::Train(_)
            | Command::Recommend(_)
            | Command::Experts(_)
            | Command::Kg(_)
            | Command::Index(_)
            | Command::Artifacts(_)
            | Command::Keys(_)
            | Command::Llm(_)
            | Command::Config(_) => {}
        }
    }

    /// Defaults of this command that differ from the built-in ones.
    fn command_defaults(&self) -> Vec<Setting> {
        match self {
            Command::Demo(_) => commands::demo::command_defaults(),
            _ => Vec::new(),
        }
    }
}

/// What every command gets from `main`: the effective configuration.
#[derive(Debug, Clone)]
pub struct Context {
    pub config: Config,
}

/// The one place a command's [`Config`] comes from: defaults, the command's
/// own defaults, the config file, the environment, then the flags given.
fn load_config(cli: &Cli) -> anyhow::Result<Config> {
    let mut flags = Flags::new();
    flags
        .set("--database", "database.url", cli.database.as_ref())
        .set("--model-dir", "models.dir", cli.model_dir.as_ref());
    cli.command.flags(&mut flags);
    let mut sources = Sources::from_process(cli.config.clone());
    sources.command_defaults = cli.command.command_defaults();
    sources.flags = flags.into_settings();
    Ok(Config::load(&sources)?)
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    init_tracing();
    let context = Context {
        config: load_config(&cli)?,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        match cli.command {
            Command::Import(command) => commands::import::run(command, &context).await,
            Command::Stats(args) => commands::stats::run(args, &context).await,
            Command::Sample(args) => commands::sample::run(args, &context).await,
            Command::Serve(_) => commands::serve::run(&context).await,
            Command::Worker(args) => commands::worker::run(args, &context).await,
            Command::Jobs(command) => commands::jobs::run(command, &context).await,
            Command::Demo(args) => commands::demo::run(args, &context).await,
            Command::Embed(args) => commands::embed::run(args, &context).await,
            Command::Generate(args) => commands::generate::run(args, &context).await,
            Command::Models(command) => commands::models::run(command, &context).await,
            Command::Search(args) => commands::search::run(args, &context).await,
            Command::Ask(args) => commands::ask::run(args, &context).await,
            Command::Index(command) => commands::search::run_index(command, &context).await,
            Command::Dupes(args) => commands::dupes::run(args, &context).await,
            Command::Train(args) => commands::recommend::train(args, &context).await,
            Command::Recommend(args) => commands::recommend::recommend(args, &context).await,
            Command::Experts(args) => commands::recommend::experts(args, &context).await,
            Command::Kg(command) => commands::kg::run(command, &context).await,
            Command::Artifacts(command) => commands::artifacts::run(command, &context).await,
            Command::Keys(command) => commands::keys::run(command, &context).await,
            Command::Llm(command) => commands::llm::run(command, &context).await,
            Command::Bench(command) => commands::bench::run(command, &context).await,
            Command::Eval(command) => commands::eval::run(command, &context).await,
            Command::Config(command) => commands::config::run(command, &context),
        }
    })
}
/// Logs go to stderr (stdout is for results and `--json`); `RUST_LOG` filters.
fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,steward=info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}
