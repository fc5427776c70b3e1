//! `steward demo`: a working Steward in one command. Writes a sample community
//! (unless `--data` names a real dump), imports it and serves the API, calling
//! the `sample`, `import` and `serve` commands with typed arguments.

use std::path::PathBuf;

use anyhow::Context as _;
use steward_ingest::stackexchange::DumpOptions;
use steward_runtime::config::{Flags, Setting};

use super::import::{ImportCommand, StackExchangeArgs};
use super::sample::SampleArgs;
use crate::Context;

/// The demo's database unless one is configured, so a demo never mixes sample
/// data into a real community's `./steward.db`.
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

    /// Address to serve on [config: server.bind].
    #[arg(long, value_name = "ADDR")]
    bind: Option<String>,

    /// Serve community data only, without loading models
    /// [config: server.load_models = false].
    #[arg(long)]
    no_models: bool,
}

impl DemoArgs {
    /// The config keys these flags set.
    pub fn flags(&self, flags: &mut Flags) {
        flags.set("--bind", "server.bind", self.bind.as_ref()).set(
            "--no-models",
            "server.load_models",
            self.no_models.then_some(false),
        );
    }
}

/// The demo's own defaults; a config file, the environment and flags override them.
pub fn command_defaults() -> Vec<Setting> {
    vec![Setting::command_default(
        "demo",
        "database.url",
        DEMO_DATABASE,
    )]
}

pub async fn run(args: DemoArgs, context: &Context) -> anyhow::Result<()> {
    let config = &context.config;
    let dump_dir = match &args.data {
        Some(dir) => dir.clone(),
        None => {
            let sample = SampleArgs::new(args.sample_dir.clone(), args.users, args.seed);
            super::sample::run(sample, context).await?;
            args.sample_dir.clone()
        }
    };
    eprintln!(
        "Importing {} into {}",
        dump_dir.display(),
        config.database.url
    );
    let import = ImportCommand::Stackexchange(StackExchangeArgs {
        dir: dump_dir,
        strict: false,
        batch_size: DumpOptions::default().batch_size,
        json: false,
    });
    super::import::run(import, context)
        .await
        .context("importing the demo community")?;
    let admin_key = create_admin_key(context).await?;
    eprintln!(
        "Admin API key (shown once): {admin_key}\n\
         Try: curl http://{bind}/api/v1/stats\n     \
         curl -H 'Authorization: Bearer {admin_key}' http://{bind}/api/v1/keys\n\
         (Ctrl-C stops the server)",
        bind = config.server.bind
    );
    super::serve::run(context).await
}

/// A fresh admin key for the demo's database, so that every endpoint can be
/// tried at once.
async fn create_admin_key(context: &Context) -> anyhow::Result<String> {
    let secret = super::keys::server_secret(context)?;
    let store = steward_runtime::build::open_store(&context.config).await?;
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
