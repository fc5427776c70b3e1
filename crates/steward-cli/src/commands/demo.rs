//! `steward demo`: a working Steward in one command. Writes a sample community
//! (unless `--data` names a real dump), imports it and serves the API.

use std::path::PathBuf;

use anyhow::Context as _;

use crate::Context;

/// The database the demo uses when `--database` was left at its default, so a
/// demo never mixes sample data into a real community's `./steward.db`.
const DEMO_DATABASE: &str = "./steward-demo.db";

#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// A Stack Exchange dump folder to import instead of generating a sample.
    #[arg(long)]
    data: Option<PathBuf>,

    /// Where the generated sample community is written.
    #[arg(long, default_value = "./steward-demo")]
    sample_dir: PathBuf,

    /// Users in the generated sample community.
    #[arg(long, default_value_t = 400)]
    users: u32,

    /// Seed of the generated sample community.
    #[arg(long, default_value_t = 42)]
    seed: u64,

    /// Address to serve on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    bind: String,

    /// Serve community data only, without loading models.
    #[arg(long)]
    no_models: bool,
}

pub async fn run(args: DemoArgs, context: &Context) -> anyhow::Result<()> {
    let mut context = context.clone();
    if context.database == crate::DEFAULT_DATABASE {
        context.database = DEMO_DATABASE.to_string();
    }
    let dump_dir = match &args.data {
        Some(dir) => dir.clone(),
        None => {
            let sample_args: super::sample::SampleArgs = parse_args(&[
                "--out",
                &args.sample_dir.display().to_string(),
                "--users",
                &args.users.to_string(),
                "--seed",
                &args.seed.to_string(),
            ])?;
            super::sample::run(sample_args, &context).await?;
            args.sample_dir.clone()
        }
    };
    eprintln!("Importing {} into {}", dump_dir.display(), context.database);
    let import_command: super::import::ImportCommand =
        parse_subcommand(&["stackexchange", &dump_dir.display().to_string()])?;
    super::import::run(import_command, &context)
        .await
        .context("importing the demo community")?;

    let mut serve_argv = vec!["--bind", args.bind.as_str()];
    if args.no_models {
        serve_argv.push("--no-models");
    }
    let serve_args: super::serve::ServeArgs = parse_args(&serve_argv)?;
    let admin_key = create_admin_key(&context).await?;
    eprintln!(
        "Admin API key (shown once): {admin_key}\n\
         Try: curl http://{bind}/api/v1/stats\n     \
         curl -H 'Authorization: Bearer {admin_key}' http://{bind}/api/v1/keys\n\
         (Ctrl-C stops the server)",
        bind = args.bind
    );
    super::serve::run(serve_args, &context).await
}

/// A fresh admin key for the demo's database, so that every endpoint can be
/// tried at once.
async fn create_admin_key(context: &Context) -> anyhow::Result<String> {
    let secret = super::keys::server_secret(context)?;
    let store = steward_store::Store::open(&context.database)
        .await
        .with_context(|| format!("opening the database {}", context.database))?;
    let (key, _) = steward_auth::create_key(
        &store,
        &secret,
        "demo admin",
        steward_auth::Role::Admin,
        &[],
        None,
    )
    .await
    .context("creating the demo's admin key")?;
    store.close().await;
    Ok(key)
}

/// Builds another command's arguments the way its users would type them, so
/// the demo composes commands without reaching into their fields.
fn parse_args<T: clap::Args + clap::FromArgMatches>(argv: &[&str]) -> anyhow::Result<T> {
    let command = T::augment_args(clap::Command::new("steward"));
    let matches =
        command.try_get_matches_from(std::iter::once("steward").chain(argv.iter().copied()))?;
    Ok(T::from_arg_matches(&matches)?)
}

fn parse_subcommand<T: clap::Subcommand + clap::FromArgMatches>(
    argv: &[&str],
) -> anyhow::Result<T> {
    let command = T::augment_subcommands(clap::Command::new("steward"));
    let matches =
        command.try_get_matches_from(std::iter::once("steward").chain(argv.iter().copied()))?;
    Ok(T::from_arg_matches(&matches)?)
}
