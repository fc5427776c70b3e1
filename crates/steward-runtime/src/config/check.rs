//! The checks a configuration passes at load, beyond its types: each problem
//! names its key, where the value came from and what to write instead.

use std::net::SocketAddr;

use steward_ml::audit::QuotaScope;

use super::{Config, LlmProvider, QuotaSettings};
use crate::Problem;

/// Every problem of `config`, in key order; empty when it is usable.
pub(super) fn check(config: &Config) -> Vec<Problem> {
    let mut problems = Problems {
        config,
        found: Vec::new(),
    };
    problems.not_empty("database.url", &config.database.url);
    problems.at_least(
        "database.max_connections",
        config.database.max_connections.into(),
        1,
    );
    if let Some(dir) = &config.database.blob_dir {
        problems.not_empty("database.blob_dir", &dir.to_string_lossy());
    }
    if let Some(dir) = &config.models.dir {
        problems.not_empty("models.dir", &dir.to_string_lossy());
    }
    problems.not_empty("models.cache_dir", &config.models.cache_dir);
    problems.http_url("models.hub", &config.models.hub);

    problems.not_empty("llm.model", &config.llm.model);
    match (&config.llm.provider, &config.llm.url) {
        (LlmProvider::OpenaiCompatible, None) => problems.push(
            "llm.url",
            "required when llm.provider = \"openai_compatible\": the server's base URL, e.g. http://127.0.0.1:8000/v1"
                .to_string(),
        ),
        (_, Some(url)) => problems.http_url("llm.url", url),
        (LlmProvider::Local, None) => {}
    }
    problems.at_least("llm.timeout_secs", config.llm.timeout_secs, 1);
    problems.at_least("llm.max_context", config.llm.max_context as u64, 1);
    problems.at_least("llm.max_concurrent", config.llm.max_concurrent as u64, 1);
    problems.not_empty("embedding.model", &config.embedding.model);
    if let Some(dir) = &config.search.index_dir {
        problems.not_empty("search.index_dir", &dir.to_string_lossy());
    }
    if !(0.0..=1.0).contains(&config.search.dense_weight) {
        problems.push(
            "search.dense_weight",
            format!(
                "is {}; it must be between 0 and 1 (the dense list's share)",
                config.search.dense_weight
            ),
        );
    }
    problems.at_least("search.refresh_secs", config.search.refresh_secs, 1);
    problems.at_least("ask.threads", config.ask.threads as u64, 1);
    problems.at_least("ask.passages", config.ask.passages as u64, 1);
    problems.at_least("ask.max_tokens", config.ask.max_tokens.into(), 1);
    problems.at_least("ask.passage_chars", config.ask.passage_chars as u64, 50);
    for (key, value) in [
        ("ask.min_support", config.ask.min_support),
        ("ask.sentence_support", config.ask.sentence_support),
        ("ask.min_kept_share", config.ask.min_kept_share),
    ] {
        if !(0.0..=1.0).contains(&value) {
            problems.push(key, format!("is {value}; it must be between 0 and 1"));
        }
    }

    if let Err(message) = check_bind(&config.server.bind) {
        problems.push("server.bind", message);
    }
    problems.at_least(
        "server.body_limit_bytes",
        config.server.body_limit_bytes as u64,
        1,
    );
    problems.at_least(
        "server.request_timeout_secs",
        config.server.request_timeout_secs,
        1,
    );
    problems.at_least("server.llm_timeout_secs", config.server.llm_timeout_secs, 1);
    problems.at_least(
        "server.header_read_timeout_secs",
        config.server.header_read_timeout_secs,
        1,
    );
    problems.at_least(
        "server.max_connections",
        config.server.max_connections as u64,
        1,
    );
    problems.at_least(
        "auth.anonymous_requests_per_second",
        config.auth.anonymous_requests_per_second.into(),
        1,
    );
    problems.at_least(
        "auth.anonymous_burst",
        config.auth.anonymous_burst.into(),
        1,
    );
    problems.at_least(
        "database.acquire_timeout_secs",
        config.database.acquire_timeout_secs,
        1,
    );

    for (index, quota) in config.quotas.iter().enumerate() {
        if let Err(message) = quota_scope(&quota.scope) {
            problems.push(&format!("quotas[{index}].scope"), message);
        }
        if quota.tokens < 0 {
            problems.push(
                &format!("quotas[{index}].tokens"),
                format!("is {}; a token count is 0 or more", quota.tokens),
            );
        }
        if quota.window_secs == 0 {
            problems.push(
                &format!("quotas[{index}].window_secs"),
                "is 0; a window is at least 1 second".to_string(),
            );
        }
    }

    if let Some(schema) = &config.database.schema {
        problems.not_empty("database.schema", schema);
    }
    problems.at_least(
        "worker.concurrency",
        u64::from(config.worker.concurrency),
        1,
    );
    if let Some(name) = &config.worker.name {
        problems.not_empty("worker.name", name);
    }
    problems.at_least("worker.poll_interval_ms", config.worker.poll_interval_ms, 1);
    problems.at_least("worker.heartbeat_secs", config.worker.heartbeat_secs, 1);
    if config.worker.stale_after_secs <= config.worker.heartbeat_secs {
        problems.push(
            "worker.stale_after_secs",
            format!(
                "is {}; it must be more than worker.heartbeat_secs ({}), or live jobs would be taken from their workers",
                config.worker.stale_after_secs, config.worker.heartbeat_secs
            ),
        );
    }
    if let Some(secret) = &config.auth.secret
        && secret.expose().trim().is_empty()
    {
        problems.push(
            "auth.secret",
            "is empty; set it to a long random string, or leave it out".to_string(),
        );
    }
    problems.found
}

struct Problems<'a> {
    config: &'a Config,
    found: Vec<Problem>,
}

impl Problems<'_> {
    fn push(&mut self, key: &str, message: String) {
        let origin = self.config.provenance.origin_of(key).cloned();
        self.found.push(Problem {
            key: key.to_string(),
            origin,
            message,
        });
    }

    fn not_empty(&mut self, key: &str, value: &str) {
        if value.trim().is_empty() {
            self.push(key, "is empty; set it or leave it out".to_string());
        }
    }

    fn at_least(&mut self, key: &str, value: u64, minimum: u64) {
        if value < minimum {
            self.push(key, format!("is {value}; it must be at least {minimum}"));
        }
    }

    fn http_url(&mut self, key: &str, value: &str) {
        if !(value.starts_with("http://") || value.starts_with("https://")) {
            self.push(key, format!("`{value}` is not an http:// or https:// URL"));
        }
    }
}

/// `IP:PORT` (`127.0.0.1:8080`, `[::]:8080`) or `HOSTNAME:PORT` (`localhost:8080`).
fn check_bind(bind: &str) -> Result<(), String> {
    if bind.parse::<SocketAddr>().is_ok() {
        return Ok(());
    }
    let usage = || {
        format!(
            "`{bind}` is not an address to listen on; write HOST:PORT, e.g. 127.0.0.1:8080 (port 0 picks a free port)"
        )
    };
    let (host, port) = bind.rsplit_once(':').ok_or_else(usage)?;
    let host_ok = !host.is_empty()
        && host
            .chars()
            .all(|char| char.is_ascii_alphanumeric() || char == '-' || char == '.');
    if host_ok && port.parse::<u16>().is_ok() {
        Ok(())
    } else {
        Err(usage())
    }
}

/// `feature:NAME` or `role:NAME`.
pub(crate) fn quota_scope(scope: &str) -> Result<QuotaScope, String> {
    match scope.split_once(':') {
        Some(("feature", name)) if !name.is_empty() => Ok(QuotaScope::Feature(name.to_string())),
        Some(("role", name)) if !name.is_empty() => Ok(QuotaScope::Role(name.to_string())),
        _ => Err(format!(
            "`{scope}` is not a quota scope; write feature:NAME or role:NAME"
        )),
    }
}

/// A quota as the command line and `STEWARD_QUOTAS` write it:
/// `feature:NAME=TOKENS/SECONDS` or `role:NAME=TOKENS/SECONDS`.
pub fn parse_quota(text: &str) -> Result<QuotaSettings, String> {
    let usage =
        || format!("`{text}`: expected feature:NAME=TOKENS/SECONDS or role:NAME=TOKENS/SECONDS");
    let (scope, limit) = text.split_once('=').ok_or_else(usage)?;
    let (tokens, seconds) = limit.split_once('/').ok_or_else(usage)?;
    quota_scope(scope).map_err(|_| usage())?;
    let tokens = tokens
        .trim()
        .parse::<i64>()
        .ok()
        .filter(|tokens| *tokens >= 0);
    let window_secs = seconds
        .trim()
        .parse::<u64>()
        .ok()
        .filter(|seconds| *seconds > 0);
    match (tokens, window_secs) {
        (Some(tokens), Some(window_secs)) => Ok(QuotaSettings {
            scope: scope.to_string(),
            tokens,
            window_secs,
        }),
        _ => Err(usage()),
    }
}
