//! `steward`: the command line. Parses argv, wires the crates together and
//! reports; the work itself lives in the library crates.

use clap::{Parser, Subcommand};

mod commands;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Where the community lives when `--database` is not given.
pub const DEFAULT_DATABASE: &str = "./steward.db";

/// Steward: a self-hosted AI operations engine for technical communities.
#[derive(Debug, Parser)]
#[command(name = "steward", version, about, long_about = None)]
struct Cli {
    /// Database: a SQLite file path (created on first use) or a postgres:// URL.
    #[arg(long, global = true, env = "STEWARD_DATABASE_URL", default_value = DEFAULT_DATABASE)]
    database: String,

    /// Directory holding model folders (all-MiniLM-L6-v2/, SmolLM2-135M-Instruct/, ...).
    #[arg(long, global = true, env = "STEWARD_MODEL_DIR")]
    model_dir: Option<std::path::PathBuf>,

    /// Server secret API keys are hashed with (32+ characters). Default: for a
    /// SQLite file, one kept beside it (`<db>.auth-secret`); required for PostgreSQL.
    #[arg(
        long,
        global = true,
        env = "STEWARD_AUTH_SECRET",
        hide_env_values = true
    )]
    auth_secret: Option<String>,

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
    /// Serve the HTTP API.
    Serve(commands::serve::ServeArgs),
    /// Generate (or take) a community, import it and serve it.
    Demo(commands::demo::DemoArgs),
    /// Compute sentence embeddings (for texts on stdin/a file, or the whole community).
    Embed(commands::embed::EmbedArgs),
    /// Generate text with the configured LLM, streaming to stdout.
    Generate(commands::generate::GenerateArgs),
    /// List or fetch models.
    #[command(subcommand)]
    Models(commands::models::ModelsCommand),
    /// API keys: create, list, revoke.
    #[command(subcommand)]
    Keys(commands::keys::KeysCommand),
    /// LLM audit: usage totals.
    #[command(subcommand)]
    Llm(commands::llm::LlmCommand),
    /// Benchmarks on real or generated data; print figures (and JSON with --json).
    #[command(subcommand)]
    Bench(commands::bench::BenchCommand),
}

/// What every command gets from the global flags.
#[derive(Debug, Clone)]
pub struct Context {
    pub database: String,
    pub model_dir: Option<std::path::PathBuf>,
    /// `--auth-secret` / `STEWARD_AUTH_SECRET`, as given.
    pub auth_secret: Option<String>,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    init_tracing();
    let context = Context {
        database: cli.database,
        model_dir: cli.model_dir,
        auth_secret: cli.auth_secret,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        match cli.command {
            Command::Import(command) => commands::import::run(command, &context).await,
            Command::Stats(args) => commands::stats::run(args, &context).await,
            Command::Sample(args) => commands::sample::run(args, &context).await,
            Command::Serve(args) => commands::serve::run(args, &context).await,
            Command::Demo(args) => commands::demo::run(args, &context).await,
            Command::Embed(args) => commands::embed::run(args, &context).await,
            Command::Generate(args) => commands::generate::run(args, &context).await,
            Command::Models(command) => commands::models::run(command, &context).await,
            Command::Keys(command) => commands::keys::run(command, &context).await,
            Command::Llm(command) => commands::llm::run(command, &context).await,
            Command::Bench(command) => commands::bench::run(command, &context).await,
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
