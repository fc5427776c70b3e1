//! `steward serve`: opens the store, loads the models (both built from the
//! config by `steward_runtime::build`), and serves the HTTP API until Ctrl-C
//! or SIGTERM, finishing requests in flight. Unless `--no-worker`, a job
//! worker runs inside (the embedded default).

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use steward_auth::{Authenticator, Rate, RateLimiter, RateLimits};
use steward_jobs::JobHandle;
use steward_runtime::Config;
use steward_runtime::config::{Flags, LlmProvider, QuotaSettings, parse_quota};
use steward_runtime::search;
use steward_runtime::worker::{WorkerOptions, run_worker};
use steward_server::search::SearchDefaults;
use steward_server::{AppState, ServerConfig};

use crate::Context;

/// Every flag overrides a config key (`steward config show` lists them).
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on; port 0 picks a free port (the address is printed)
    /// [config: server.bind].
    #[arg(long, value_name = "ADDR")]
    bind: Option<String>,

    /// `local` runs a GGUF model in-process; an URL (`http://host:port/v1`) uses
    /// that OpenAI-compatible server, with the key from the first variable of
    /// llm.api_key_env that is set [config: llm.provider, llm.url].
    #[arg(long, value_name = "local|URL", value_parser = parse_llm)]
    llm: Option<LlmChoice>,

    /// Chat model: a name or .gguf path for `local`, the server's model name for
    /// an URL [config: llm.model].
    #[arg(long, value_name = "MODEL")]
    llm_model: Option<String>,

    /// Embedding model for /v1/embeddings (`lsa` for the community's own LSA)
    /// [config: embedding.model].
    #[arg(long, value_name = "MODEL")]
    embed_model: Option<String>,

    /// Serve community data only: load no model (model endpoints answer 503)
    /// [config: server.load_models = false].
    #[arg(long)]
    no_models: bool,

    /// Run no job worker inside the server: separate `steward worker`
    /// processes run the queued jobs [config: server.run_worker = false].
    #[arg(long)]
    no_worker: bool,

    /// Require an API key for reads too (stats, posts, users, models); writes
    /// and model calls always need one [config: auth.public_read = false].
    #[arg(long)]
    private: bool,

    /// Token quota, repeatable: `feature:NAME=TOKENS/SECONDS` or
    /// `role:NAME=TOKENS/SECONDS` (e.g. `role:member=20000/3600`); replaces
    /// the configured list [config: quotas].
    #[arg(long = "quota", value_name = "SCOPE=TOKENS/SECONDS", value_parser = parse_quota)]
    quotas: Vec<QuotaSettings>,

    /// Largest request body, bytes [config: server.body_limit_bytes].
    #[arg(long, value_name = "BYTES")]
    body_limit: Option<u64>,

    /// Time limit of an /api request, seconds [config: server.request_timeout_secs].
    #[arg(long, value_name = "SECONDS")]
    request_timeout: Option<u64>,

    /// Time limit of a /v1 model request until its answer starts, seconds
    /// [config: server.llm_timeout_secs].
    #[arg(long, value_name = "SECONDS")]
    llm_timeout: Option<u64>,
}

/// What `--llm` says: the in-process model, or a server's URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LlmChoice {
    Local,
    Url(String),
}

fn parse_llm(text: &str) -> Result<LlmChoice, String> {
    if text == "local" {
        Ok(LlmChoice::Local)
    } else if text.starts_with("http://") || text.starts_with("https://") {
        Ok(LlmChoice::Url(text.to_string()))
    } else {
        Err(format!("`{text}`: expected `local` or an http(s):// URL"))
    }
}

impl ServeArgs {
    /// The config keys these flags set.
    pub fn flags(&self, flags: &mut Flags) {
        let (provider, url) = match &self.llm {
            Some(LlmChoice::Local) => (Some(LlmProvider::Local), None),
            Some(LlmChoice::Url(url)) => (Some(LlmProvider::OpenaiCompatible), Some(url)),
            None => (None, None),
        };
        flags
            .set("--bind", "server.bind", self.bind.as_ref())
            .set("--llm", "llm.provider", provider)
            .set("--llm", "llm.url", url)
            .set("--llm-model", "llm.model", self.llm_model.as_ref())
            .set(
                "--embed-model",
                "embedding.model",
                self.embed_model.as_ref(),
            )
            .set(
                "--no-models",
                "server.load_models",
                self.no_models.then_some(false),
            )
            .set(
                "--no-worker",
                "server.run_worker",
                self.no_worker.then_some(false),
            )
            .set(
                "--private",
                "auth.public_read",
                self.private.then_some(false),
            )
            .set(
                "--quota",
                "quotas",
                (!self.quotas.is_empty()).then_some(&self.quotas),
            )
            .set("--body-limit", "server.body_limit_bytes", self.body_limit)
            .set(
                "--request-timeout",
                "server.request_timeout_secs",
                self.request_timeout,
            )
            .set("--llm-timeout", "server.llm_timeout_secs", self.llm_timeout);
    }
}

/// Serves with the parts built from `context.config` until a shutdown signal.
pub async fn run(context: &Context) -> anyhow::Result<()> {
    let config = &context.config;
    // First: without it no key can be checked, and it is a setup mistake to
    // report before anything slow happens.
    let secret = super::keys::server_secret(context)?;
    let serving = steward_runtime::build::serving(config).await?;
    let store = serving.store.clone();
    let authenticator = Authenticator::new(store.clone(), secret);
    let embedder = serving.embedder.map(Arc::new);
    // Search without its indices is not worth refusing to serve for: the
    // route answers 503 and the log says why.
    let searcher =
        match search::open_searcher(config, &store, embedder.clone(), &JobHandle::new()).await {
            Ok(searcher) => Some(searcher),
            Err(error) => {
                tracing::warn!(%error, "search is off: /api/v1/search answers 503");
                None
            }
        };
    // The recommender serves whatever version is promoted; none yet is not an
    // error (its routes answer 503 until `steward train` runs).
    let recommender = steward_recsys::service::RecsysService::new(store.clone());
    match recommender.reload().await {
        Ok(reload) if reload.version.is_some() => {
            tracing::info!(
                version = reload.version,
                fresh_threads = reload.fresh_threads,
                "serving the recommender"
            );
        }
        Ok(_) => tracing::warn!(
            "no recommender is trained: its routes answer 503 until `steward train` runs"
        ),
        Err(error) => {
            tracing::warn!(%error, "the recommender cannot be loaded: its routes answer 503 until a reload succeeds")
        }
    }
    // The knowledge graph: what was built, kept current from the feed.
    let graph = steward_kg::service::KgService::new(store.clone());
    match graph.served().await {
        Ok(served) => tracing::info!(
            entities = served.view.nodes().len(),
            edges = served.view.edges().len(),
            "serving the knowledge graph"
        ),
        Err(steward_kg::Error::NotBuilt) => tracing::warn!(
            "no knowledge graph is built: its routes answer 503 until `steward kg build` runs"
        ),
        Err(error) => {
            tracing::warn!(%error, "the knowledge graph cannot be loaded: its routes answer 503 until it is")
        }
    }
    let state = AppState {
        llm: serving.gateway.map(Arc::new),
        recsys: Some(recommender.clone()),
        kg: Some(graph.clone()),
        embedder,
        config: server_config(config),
        rate_limiter: Arc::new(RateLimiter::new(rate_limits(config))),
        searcher: searcher.clone(),
        search_defaults: SearchDefaults {
            mode: config.search.mode,
            fusion: config.search.fusion,
            dense_weight: config.search.dense_weight as f32,
        },
        ask_options: steward_runtime::ask::options(&config.ask),
        ..AppState::new(serving.store)
    }
    .with_authenticator(authenticator);
    if let Some(searcher) = &searcher {
        log_duplicate_calibration(&state, searcher).await;
    }
    let listener = tokio::net::TcpListener::bind(&config.server.bind)
        .await
        .with_context(|| format!("binding {} (server.bind)", config.server.bind))?;
    let address = listener.local_addr().context("reading the bound address")?;
    // The one line on stdout: scripts read the address from it.
    println!("http://{address}");
    tracing::info!(%address, "serving; Ctrl-C or SIGTERM stops after requests in flight");
    if !has_usable_key(&store).await? {
        eprintln!("{}", no_key_hint(config));
    }
    // One signal stops both the server and its worker.
    let (stop_sender, stop) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown_signal().await;
        stop_sender.send_replace(true);
    });
    let stopped = |mut stop: tokio::sync::watch::Receiver<bool>| async move {
        // An error means the sender is gone, which happens only after it sent.
        let _ = stop.wait_for(|stopped| *stopped).await;
    };
    let worker = config.server.run_worker.then(|| {
        let options = WorkerOptions::from_config(config, store.dialect());
        tracing::info!(worker = %options.name, "running a job worker in the server (--no-worker turns it off)");
        tokio::spawn(run_worker(
            store.clone(),
            config.clone(),
            options,
            stopped(stop.clone()),
        ))
    });
    if let Some(searcher) = searcher {
        tracing::info!(
            every_secs = config.search.refresh_secs,
            "search indices follow the change feed"
        );
        tokio::spawn(search::refresh_loop(
            searcher,
            Duration::from_secs(config.search.refresh_secs),
            stopped(stop.clone()),
        ));
    }
    tokio::spawn(steward_runtime::recsys::refresh_loop(
        recommender,
        store.clone(),
        Duration::from_secs(config.recsys.refresh_secs),
        config.recsys.retrain_after_events,
        stopped(stop.clone()),
    ));
    if config.kg.update_secs > 0 {
        let tagger = match steward_runtime::kg::stored_tagger(&store).await {
            Ok(tagger) => tagger,
            Err(error) => {
                tracing::warn!(%error, "the graph's updates run without the tagger");
                None
            }
        };
        tokio::spawn(steward_runtime::kg::update_loop(
            graph,
            tagger,
            Duration::from_secs(config.kg.update_secs),
            stopped(stop.clone()),
        ));
    }
    steward_server::serve(listener, state, stopped(stop))
        .await
        .context("serving")?;
    if let Some(worker) = worker {
        worker
            .await
            .context("the worker's task stopped")?
            .context("running the worker")?;
    }
    store.close().await;
    tracing::info!("stopped");
    Ok(())
}

/// The server's limits from `[server]`: the server crate reads no config.
pub fn server_config(config: &Config) -> ServerConfig {
    ServerConfig {
        body_limit_bytes: config.server.body_limit_bytes,
        request_timeout: Duration::from_secs(config.server.request_timeout_secs),
        llm_timeout: Duration::from_secs(config.server.llm_timeout_secs),
        public_read: config.auth.public_read,
        header_read_timeout: Duration::from_secs(config.server.header_read_timeout_secs),
        max_connections: config.server.max_connections,
        stats_max_age: Duration::from_secs(config.server.stats_refresh_secs),
    }
}

/// The request rates: the anonymous one from `[auth]`, per role the defaults.
pub fn rate_limits(config: &Config) -> RateLimits {
    RateLimits {
        anonymous: Rate {
            per_second: f64::from(config.auth.anonymous_requests_per_second),
            burst: config.auth.anonymous_burst,
        },
        ..RateLimits::default()
    }
}

/// Whether any key is neither revoked nor expired.
async fn has_usable_key(store: &steward_store::Store) -> anyhow::Result<bool> {
    let now = chrono::Utc::now();
    let keys = store.api_keys().await.context("listing API keys")?;
    Ok(keys.iter().any(|key| {
        key.revoked_at.is_none() && key.expires_at.is_none_or(|expires_at| expires_at > now)
    }))
}

/// What a first-time user needs to know when no key can be used yet.
fn no_key_hint(config: &Config) -> String {
    let database = match config.origin("database.url") {
        Some(steward_runtime::config::Origin::Default) | None => String::new(),
        Some(_) => format!(" --database {}", config.database.url),
    };
    let open = if config.auth.public_read {
        "anyone may read (stats, posts, users, models); posting events and calling models"
    } else {
        "every endpoint but health"
    };
    format!(
        "No API key exists yet: {open} needs one. Create one with\n  \
         steward{database} keys create --role admin\n\
         and send it as `Authorization: Bearer KEY`."
    )
}

/// Resolves on Ctrl-C, or SIGTERM on Unix (what `docker stop` and systemd send).
pub(crate) async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
    tracing::info!("shutting down: finishing requests in flight");
}

/// Loads the promoted duplicate calibration at startup and says which (the
/// route reads it again whenever a newer version is promoted).
async fn log_duplicate_calibration(
    state: &AppState,
    searcher: &steward_search::searcher::Searcher,
) {
    let model = steward_search::duplicates::calibration_model(searcher);
    match state
        .duplicate_calibration
        .current(&state.store, &model)
        .await
    {
        Ok(Some(calibration)) => tracing::info!(
            model,
            threshold = calibration.threshold,
            "duplicate calibration loaded"
        ),
        Ok(None) => tracing::info!(
            model,
            "no duplicate calibration yet: /api/v1/questions/similar gives null probabilities until `steward dupes --calibrate` runs"
        ),
        Err(error) => tracing::warn!(%error, "the duplicate calibration cannot be read"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The server's own defaults (its tests use them) are the config's.
    #[test]
    fn server_defaults_agree_with_the_example_file() {
        assert_eq!(server_config(&Config::defaults()), ServerConfig::default());
    }

    #[test]
    fn the_anonymous_rate_defaults_agree_with_the_example_file() {
        assert_eq!(rate_limits(&Config::defaults()), RateLimits::default());
    }

    #[test]
    fn llm_flag_is_local_or_an_url() {
        let check = |text: &str, expected: Option<LlmChoice>| {
            assert_eq!(parse_llm(text).ok(), expected, "{text}");
        };
        check("local", Some(LlmChoice::Local));
        check(
            "http://127.0.0.1:8000/v1",
            Some(LlmChoice::Url("http://127.0.0.1:8000/v1".into())),
        );
        check(
            "https://api.example/v1",
            Some(LlmChoice::Url("https://api.example/v1".into())),
        );
        check("openai", None);
    }
}
