//! Builds Steward's parts from a [`Config`]: the one place that knows how the
//! store, the model resolver, the LLM, the embedder and the audit gateway are
//! put together. Commands and servers call these instead of wiring crates.

use std::time::Duration;
use steward_jobs::JobHandle;

use steward_ml::audit::{Gateway, Limits, Quota};
use steward_ml::embed::{self, Embedder, LoadedEmbedder};
use steward_ml::llm::Llm;
use steward_ml::llm::local::{LocalLlm, LocalOptions};
use steward_ml::llm::openai_compatible::{OpenAiClient, OpenAiConfig};
use steward_ml::resolve::ModelResolver;
use steward_store::{Store, StoreOptions};

use crate::config::{
    Config, LlmProvider, LlmSettings, Origin, expand_home, mask_url_password, quota_scope,
};
use crate::{Error, Problem, Result};

/// How the store is opened: `database.url`, its pool size and timeouts,
/// where big artifacts go (`database.blob_dir`) and, on PostgreSQL,
/// `database.schema`.
pub fn store_options(config: &Config) -> StoreOptions {
    let mut options = StoreOptions::new(config.database.url.clone());
    options.max_connections = config.database.max_connections;
    options.blob_dir = config.database.blob_dir.clone();
    options.schema = config.database.schema.clone();
    options.busy_timeout = std::time::Duration::from_millis(config.database.busy_timeout_ms);
    options.acquire_timeout = std::time::Duration::from_secs(config.database.acquire_timeout_secs);
    options
}

/// Opens (creating and migrating if needed) the database of `database.url`.
pub async fn open_store(config: &Config) -> Result<Store> {
    Store::open_with(store_options(config))
        .await
        .map_err(|source| {
            if source.is_busy() {
                return Error::StoreBusy {
                    url: mask_url_password(&config.database.url),
                    busy_timeout_ms: config.database.busy_timeout_ms,
                    source: Box::new(source),
                };
            }
            Error::OpenStore {
                url: mask_url_password(&config.database.url),
                origin: config
                    .origin("database.url")
                    .cloned()
                    .unwrap_or(Origin::Default),
                source: Box::new(source),
            }
        })
}

/// The store when its database already exists (any PostgreSQL URL, a SQLite
/// file that is there), else `None`: for commands that can use a store but
/// must not leave a new database file behind.
pub async fn open_existing_store(config: &Config) -> Result<Option<Store>> {
    if database_exists(&config.database.url) {
        open_store(config).await.map(Some)
    } else {
        Ok(None)
    }
}

fn database_exists(url: &str) -> bool {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return true;
    }
    let path = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url);
    std::path::Path::new(path.split('?').next().unwrap_or(path)).is_file()
}

/// Where models are looked for and fetched from (`[models]`). The hub token is
/// read from the variable `models.hub_token_env` names.
pub fn model_resolver(config: &Config) -> ModelResolver {
    let token = std::env::var(&config.models.hub_token_env)
        .ok()
        .filter(|token| !token.trim().is_empty());
    ModelResolver::new(
        config.models.dir.clone(),
        expand_home(&config.models.cache_dir),
        &config.models.hub,
    )
    .with_token(token)
}

/// The chat model of `[llm]`: a local GGUF model loaded now, or a client of
/// the OpenAI-compatible server.
pub async fn load_llm(config: &Config, resolver: &ModelResolver) -> Result<Llm> {
    match config.llm.provider {
        LlmProvider::Local => {
            load_local_llm(&config.llm.model, resolver, &local_options(&config.llm)).await
        }
        LlmProvider::OpenaiCompatible => remote_llm(&config.llm),
    }
}

/// The in-process model's options from `[llm]`.
pub fn local_options(llm: &LlmSettings) -> LocalOptions {
    LocalOptions {
        max_context: Some(llm.max_context),
        prefix_cache_entries: llm.prefix_cache_entries,
    }
}

/// Resolves and loads a local GGUF model; loading is seconds of CPU, so it
/// runs off the async runtime.
pub async fn load_local_llm(
    model: &str,
    resolver: &ModelResolver,
    options: &LocalOptions,
) -> Result<Llm> {
    let model_error = |source| Error::Model {
        what: format!("loading model `{model}` (llm.model)"),
        source: Box::new(source),
    };
    let path = resolver.resolve(model).await.map_err(model_error)?;
    let options = options.clone();
    let local = tokio::task::spawn_blocking(move || LocalLlm::load(&path, &options))
        .await
        .map_err(|error| Error::LoaderThread {
            what: format!("loading model `{model}`"),
            message: error.to_string(),
        })?
        .map_err(model_error)?;
    Ok(Llm::Local(local))
}

/// The OpenAI-compatible client's settings from `[llm]`: the API key comes
/// from the first variable of `llm.api_key_env` that is set and not empty.
pub fn openai_config(llm: &LlmSettings) -> Result<OpenAiConfig> {
    let base_url = llm.url.clone().ok_or_else(|| Error::Invalid {
        problems: vec![Problem {
            key: "llm.url".to_string(),
            origin: None,
            message: "required when llm.provider = \"openai_compatible\"".to_string(),
        }],
    })?;
    let api_key_env = llm
        .api_key_env
        .iter()
        .find(|name| std::env::var(name).is_ok_and(|value| !value.trim().is_empty()))
        .cloned();
    Ok(OpenAiConfig {
        base_url,
        model: llm.model.clone(),
        embedding_model: None,
        api_key_env,
        timeout_secs: llm.timeout_secs,
        max_retries: llm.max_retries,
    })
}

/// A client of the OpenAI-compatible server of `[llm]` (nothing is sent yet).
pub fn remote_llm(llm: &LlmSettings) -> Result<Llm> {
    let client = OpenAiClient::new(&openai_config(llm)?).map_err(|source| Error::Model {
        what: "setting up the OpenAI-compatible client (llm.url)".to_string(),
        source: Box::new(source),
    })?;
    Ok(Llm::OpenAiCompatible(client))
}

/// Whether a missing embedding model may be replaced by LSA trained on the
/// community. A batch job may (it warns); a server must not, or an API client
/// asking for MiniLM vectors would silently get different ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LsaFallback {
    Allowed,
    Refused,
}

/// The embedder of `embedding.model`. `store` trains or loads LSA when that is
/// the model asked for or (with [`LsaFallback::Allowed`]) the fallback; the
/// caller must show [`LoadedEmbedder::warning`].
pub async fn load_embedder(
    config: &Config,
    resolver: &ModelResolver,
    store: Option<&Store>,
    fallback: LsaFallback,
    job: &JobHandle,
) -> Result<LoadedEmbedder> {
    let model = &config.embedding.model;
    let store = match fallback {
        LsaFallback::Allowed => store,
        LsaFallback::Refused => store.filter(|_| model.eq_ignore_ascii_case(embed::LSA_MODEL)),
    };
    Embedder::load(model, resolver, store, job)
        .await
        .map_err(|source| Error::Model {
            what: format!("loading embedder `{model}` (embedding.model)"),
            source: Box::new(source),
        })
}

/// The gateway's quotas from `quotas`.
pub fn quotas(config: &Config) -> Result<Vec<Quota>> {
    config
        .quotas
        .iter()
        .enumerate()
        .map(|(index, quota)| {
            let scope = quota_scope(&quota.scope).map_err(|message| Error::Invalid {
                problems: vec![Problem {
                    key: format!("quotas[{index}].scope"),
                    origin: config.origin("quotas").cloned(),
                    message,
                }],
            })?;
            Ok(Quota {
                scope,
                max_tokens: quota.tokens,
                window: Duration::from_secs(quota.window_secs),
            })
        })
        .collect()
}

/// The gateway's concurrency limit from `[llm]`.
pub fn limits(llm: &LlmSettings) -> Limits {
    Limits {
        max_concurrent: llm.max_concurrent,
        max_queued: llm.max_queued,
    }
}

/// The one door to `llm`: the configured quotas and concurrency limit in
/// front, the audit log in `store`.
pub fn gateway(config: &Config, llm: Llm, store: Store) -> Result<Gateway> {
    Ok(Gateway::new(llm, store, quotas(config)?).with_limits(limits(&config.llm)))
}

/// What `steward serve` runs on. The server crate knows nothing of configs:
/// the binary puts these parts and `[server]`'s limits into its state.
#[derive(Debug)]
pub struct Serving {
    pub store: Store,
    /// `None` when `server.load_models` is false or the chat model failed to
    /// load (then a warning says why).
    pub gateway: Option<Gateway>,
    /// `None` like `gateway`; never an LSA stand-in for a missing model.
    pub embedder: Option<Embedder>,
}

/// Opens the store and loads the models for serving. Only the store is
/// required: a model that fails to load is logged and left out, because the
/// community endpoints are worth serving without it.
pub async fn serving(config: &Config) -> Result<Serving> {
    let store = open_store(config).await?;
    if !config.server.load_models {
        tracing::info!("server.load_models is false: serving community data only");
        return Ok(Serving {
            store,
            gateway: None,
            embedder: None,
        });
    }
    let resolver = model_resolver(config);
    let gateway = match load_llm(config, &resolver).await {
        Ok(llm) => {
            tracing::info!(model = llm.model_id(), "chat model loaded");
            Some(gateway(config, llm, store.clone())?)
        }
        Err(error) => {
            tracing::warn!(
                "no chat model: {error}; /v1/chat/completions answers 503 model_unavailable"
            );
            None
        }
    };
    let embedder = match load_embedder(
        config,
        &resolver,
        Some(&store),
        LsaFallback::Refused,
        &JobHandle::new(),
    )
    .await
    {
        Ok(loaded) => {
            if let Some(warning) = &loaded.warning {
                tracing::warn!("{warning}");
            }
            tracing::info!(model = loaded.embedder.model_id(), "embedder loaded");
            Some(loaded.embedder)
        }
        Err(error) => {
            tracing::warn!("no embedder: {error}; /v1/embeddings answers 503 model_unavailable");
            None
        }
    };
    Ok(Serving {
        store,
        gateway,
        embedder,
    })
}

#[cfg(test)]
mod tests {
    use steward_ml::audit::QuotaScope;

    use super::*;
    use crate::config::{Setting, Sources};

    fn config_with(flags: Vec<Setting>) -> Config {
        let mut sources = Sources::none();
        sources.flags = flags;
        Config::load(&sources).expect("valid config")
    }

    /// The libraries' own defaults (used where no config is around, as in
    /// their tests) agree with steward.example.toml.
    #[test]
    fn library_defaults_agree_with_the_example_file() {
        let config = Config::defaults();
        assert_eq!(
            store_options(&config).max_connections,
            StoreOptions::new("x").max_connections
        );
        assert_eq!(
            store_options(&config).blob_dir,
            StoreOptions::new("x").blob_dir
        );
        assert_eq!(local_options(&config.llm), LocalOptions::default());
        assert_eq!(limits(&config.llm), Limits::default());
        let openai = OpenAiConfig::default();
        assert_eq!(config.llm.timeout_secs, openai.timeout_secs);
        assert_eq!(config.llm.max_retries, openai.max_retries);
        assert_eq!(
            openai.api_key_env.as_deref(),
            config.llm.api_key_env.first().map(String::as_str)
        );
        assert_eq!(config.embedding.model, embed::DEFAULT_MODEL);
        assert_eq!(config.models.hub, steward_ml::resolve::DEFAULT_HUB_ENDPOINT);
    }

    #[test]
    fn quotas_become_the_gateways_quotas() {
        let quota = |text: &str| crate::config::parse_quota(text).expect("valid quota");
        let config = config_with(vec![Setting::flag(
            "--quota",
            "quotas",
            vec![
                quota("role:member=20000/3600"),
                quota("feature:generate=5/60"),
            ],
        )]);
        let got: Vec<(QuotaScope, i64, u64)> = quotas(&config)
            .expect("valid scopes")
            .into_iter()
            .map(|quota| (quota.scope, quota.max_tokens, quota.window.as_secs()))
            .collect();
        assert_eq!(
            got,
            vec![
                (QuotaScope::Role("member".into()), 20000, 3600),
                (QuotaScope::Feature("generate".into()), 5, 60),
            ]
        );
    }

    #[tokio::test]
    async fn a_store_is_opened_only_where_asked_and_errors_name_the_key() {
        let dir = tempfile::tempdir().expect("temp dir");
        let database = dir.path().join("community.db");
        let url = database.display().to_string();
        let config = config_with(vec![Setting::flag("--database", "database.url", &url)]);
        assert!(
            open_existing_store(&config)
                .await
                .expect("no error")
                .is_none(),
            "no database file yet: nothing opened"
        );
        assert!(!database.exists(), "and none created");
        open_store(&config).await.expect("created").close().await;
        assert!(open_existing_store(&config).await.expect("opens").is_some());

        let missing = dir.path().join("missing-folder/community.db");
        let config = config_with(vec![Setting::flag(
            "--database",
            "database.url",
            missing.display().to_string(),
        )]);
        let error = open_store(&config)
            .await
            .expect_err("the folder is missing")
            .to_string();
        for text in ["missing-folder", "database.url", "flag --database"] {
            assert!(error.contains(text), "{text} in {error}");
        }
    }

    #[test]
    fn the_remote_llm_takes_its_key_from_the_first_variable_set() {
        // PATH is set in every test process and stands in for a secret; the
        // first name is set nowhere.
        let config = config_with(vec![
            Setting::flag("--llm", "llm.provider", "openai_compatible"),
            Setting::flag("--llm", "llm.url", "http://127.0.0.1:9/v1"),
            Setting::flag(
                "--api-key-env",
                "llm.api_key_env",
                ["STEWARD_TEST_UNSET_KEY_VARIABLE", "PATH"],
            ),
        ]);
        let openai = openai_config(&config.llm).expect("url set");
        assert_eq!(openai.api_key_env.as_deref(), Some("PATH"));
        assert_eq!(openai.base_url, "http://127.0.0.1:9/v1");
        assert!(matches!(
            remote_llm(&config.llm),
            Ok(Llm::OpenAiCompatible(_))
        ));
    }
}
