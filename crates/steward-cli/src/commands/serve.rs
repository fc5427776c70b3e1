//! `steward serve`: opens the store, loads the models, and serves the HTTP API
//! until Ctrl-C or SIGTERM, finishing requests in flight.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use steward_auth::Authenticator;
use steward_ml::audit::{Gateway, Quota, QuotaScope};
use steward_ml::embed::{self, Embedder};
use steward_ml::llm::Llm;
use steward_ml::openai::{OpenAiClient, OpenAiConfig};
use steward_ml::resolve::ModelResolver;
use steward_server::{AppState, ServerConfig};
use steward_store::Store;

use crate::Context;
use crate::commands::generate::{DEFAULT_LLM, load_llm};

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on; port 0 picks a free port (the address is printed).
    #[arg(long, default_value = "127.0.0.1:8080")]
    bind: String,

    /// `local` runs a GGUF model in-process; an URL (`http://host:port/v1`) uses
    /// that OpenAI-compatible server, with the key from STEWARD_LLM_API_KEY or
    /// OPENAI_API_KEY.
    #[arg(long, default_value = "local")]
    llm: String,

    /// Chat model: a name or .gguf path for `local` (default SmolLM2-135M-Instruct),
    /// the server's model name for an URL (default `default`).
    #[arg(long)]
    llm_model: Option<String>,

    /// Embedding model for /v1/embeddings (`lsa` for the community's own LSA).
    #[arg(long, default_value = embed::DEFAULT_MODEL)]
    embed_model: String,

    /// Serve community data only: load no model (model endpoints answer 503).
    #[arg(long)]
    no_models: bool,

    /// Token quota, repeatable: `feature:NAME=TOKENS/SECONDS` or
    /// `role:NAME=TOKENS/SECONDS` (e.g. `role:member=20000/3600`).
    #[arg(long = "quota", value_name = "SCOPE=TOKENS/SECONDS", value_parser = parse_quota)]
    quotas: Vec<Quota>,

    /// Require an API key for reads too (stats, posts, users, models). By
    /// default anyone may read; writes and model calls always need a key.
    #[arg(long)]
    private: bool,

    /// Largest request body, bytes.
    #[arg(long, default_value_t = ServerConfig::default().body_limit_bytes)]
    body_limit: usize,

    /// Time limit of an /api request, seconds.
    #[arg(long, default_value_t = ServerConfig::default().request_timeout.as_secs())]
    request_timeout: u64,

    /// Time limit of a /v1 model request until its answer starts, seconds.
    #[arg(long, default_value_t = ServerConfig::default().llm_timeout.as_secs())]
    llm_timeout: u64,
}

pub async fn run(args: ServeArgs, context: &Context) -> anyhow::Result<()> {
    // First: without it no key can be checked, and it is a setup mistake to
    // report before anything slow happens.
    let secret = super::keys::server_secret(context)?;
    let store = Store::open(&context.database)
        .await
        .with_context(|| format!("opening the database {}", context.database))?;
    let (llm, embedder) = if args.no_models {
        (None, None)
    } else {
        (
            load_chat_model(&args, context).await,
            load_embedder(&args.embed_model, context, &store).await,
        )
    };
    let authenticator = Authenticator::new(store.clone(), secret);
    let state = AppState {
        llm: llm.map(|llm| {
            Arc::new(Gateway {
                llm,
                store: store.clone(),
                quotas: args.quotas.clone(),
            })
        }),
        embedder: embedder.map(Arc::new),
        config: ServerConfig {
            body_limit_bytes: args.body_limit,
            request_timeout: Duration::from_secs(args.request_timeout),
            llm_timeout: Duration::from_secs(args.llm_timeout),
            public_read: !args.private,
        },
        ..AppState::new(store.clone())
    }
    .with_authenticator(authenticator);
    let listener = tokio::net::TcpListener::bind(&args.bind)
        .await
        .with_context(|| format!("binding {}", args.bind))?;
    let address = listener.local_addr().context("reading the bound address")?;
    // The one line on stdout: scripts read the address from it.
    println!("http://{address}");
    tracing::info!(%address, "serving; Ctrl-C or SIGTERM stops after requests in flight");
    if !has_usable_key(&store).await? {
        eprintln!("{}", no_key_hint(context, !args.private));
    }
    steward_server::serve(listener, state, shutdown_signal())
        .await
        .context("serving")?;
    store.close().await;
    tracing::info!("stopped");
    Ok(())
}

/// Whether any key is neither revoked nor expired.
async fn has_usable_key(store: &Store) -> anyhow::Result<bool> {
    let now = chrono::Utc::now();
    let keys = store.api_keys().await.context("listing API keys")?;
    Ok(keys.iter().any(|key| {
        key.revoked_at.is_none() && key.expires_at.is_none_or(|expires_at| expires_at > now)
    }))
}

/// What a first-time user needs to know when no key can be used yet.
fn no_key_hint(context: &Context, public_read: bool) -> String {
    let database = if context.database == crate::DEFAULT_DATABASE {
        String::new()
    } else {
        format!(" --database {}", context.database)
    };
    let open = if public_read {
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

/// The chat model, or `None` with a warning saying why: the community
/// endpoints are worth serving without it.
async fn load_chat_model(args: &ServeArgs, context: &Context) -> Option<Llm> {
    let result = if args.llm == "local" {
        let model = args.llm_model.as_deref().unwrap_or(DEFAULT_LLM);
        load_llm(model, context).await
    } else if args.llm.starts_with("http://") || args.llm.starts_with("https://") {
        remote_llm(&args.llm, args.llm_model.as_deref().unwrap_or("default"))
    } else {
        Err(anyhow::anyhow!(
            "--llm `{}`: expected `local` or an http(s):// URL",
            args.llm
        ))
    };
    match result {
        Ok(llm) => {
            tracing::info!(model = llm.model_id(), "chat model loaded");
            Some(llm)
        }
        Err(error) => {
            tracing::warn!(
                "no chat model: {error:#}; /v1/chat/completions answers 503 model_unavailable"
            );
            None
        }
    }
}

fn remote_llm(base_url: &str, model: &str) -> anyhow::Result<Llm> {
    let api_key_env = ["STEWARD_LLM_API_KEY", "OPENAI_API_KEY"]
        .into_iter()
        .find(|name| std::env::var(name).is_ok_and(|value| !value.trim().is_empty()))
        .map(str::to_string);
    let client = OpenAiClient::new(&OpenAiConfig {
        base_url: base_url.to_string(),
        model: model.to_string(),
        api_key_env,
        ..OpenAiConfig::default()
    })
    .context("setting up the OpenAI-compatible client")?;
    Ok(Llm::OpenAiCompatible(client))
}

/// The embedder, or `None` with a warning. A missing model is not replaced by
/// LSA here (unlike `steward embed`): an API client asking for MiniLM vectors
/// must not silently get different ones. `--embed-model lsa` asks for LSA.
async fn load_embedder(name: &str, context: &Context, store: &Store) -> Option<Embedder> {
    let resolver = ModelResolver::from_env(context.model_dir.clone());
    let store = name.eq_ignore_ascii_case(embed::LSA_MODEL).then_some(store);
    match Embedder::load(name, &resolver, store).await {
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
    }
}

/// `feature:NAME=TOKENS/SECONDS` or `role:NAME=TOKENS/SECONDS`.
fn parse_quota(text: &str) -> Result<Quota, String> {
    let usage =
        || format!("`{text}`: expected feature:NAME=TOKENS/SECONDS or role:NAME=TOKENS/SECONDS");
    let (scope, limit) = text.split_once('=').ok_or_else(usage)?;
    let (tokens, seconds) = limit.split_once('/').ok_or_else(usage)?;
    let scope = match scope.split_once(':') {
        Some(("feature", name)) if !name.is_empty() => QuotaScope::Feature(name.to_string()),
        Some(("role", name)) if !name.is_empty() => QuotaScope::Role(name.to_string()),
        _ => return Err(usage()),
    };
    let max_tokens = tokens
        .trim()
        .parse::<i64>()
        .ok()
        .filter(|tokens| *tokens >= 0);
    let seconds = seconds
        .trim()
        .parse::<u64>()
        .ok()
        .filter(|seconds| *seconds > 0);
    match (max_tokens, seconds) {
        (Some(max_tokens), Some(seconds)) => Ok(Quota {
            scope,
            max_tokens,
            window: Duration::from_secs(seconds),
        }),
        _ => Err(usage()),
    }
}

/// Resolves on Ctrl-C, or SIGTERM on Unix (what `docker stop` and systemd send).
async fn shutdown_signal() {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotas_from_the_command_line() {
        let check = |text: &str, expected: Option<(QuotaScope, i64, u64)>| {
            let got = parse_quota(text)
                .ok()
                .map(|quota| (quota.scope, quota.max_tokens, quota.window.as_secs()));
            assert_eq!(got, expected, "{text}");
        };
        check(
            "feature:openai_api=1000/60",
            Some((QuotaScope::Feature("openai_api".into()), 1000, 60)),
        );
        check(
            "role:member=20000/3600",
            Some((QuotaScope::Role("member".into()), 20000, 3600)),
        );
        check("member=1/1", None);
        check("team:x=1/1", None);
        check("role:x=1", None);
        check("role:x=-1/60", None);
        check("role:x=10/0", None);
    }
}
