//! LLM audit and quotas: every LLM call Steward makes on someone's behalf goes
//! through a [`Gateway`], which refuses calls over a token quota and writes one
//! audit row ([`LlmCall`]) per call, refused and failed ones included.
//!
//! Quotas are checked against the audit log itself, so they hold across
//! restarts and across server processes sharing one database.
//!
//! The gateway also admits calls: at most [`Limits::max_concurrent`] generate
//! at once (per process), at most [`Limits::max_queued`] more wait for a slot,
//! and the rest are refused at once with [`Error::Busy`]. A call whose caller
//! goes away (its [`CancellationToken`] is cancelled) leaves the queue, or
//! stops generating at its next token, and is recorded as `cancelled` with the
//! tokens it spent.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use steward_domain::{LlmCall, LlmOutcome};
use steward_store::{Store, UsageFilter};

use crate::llm::{CancellationToken, ChatRequest, Completion, Llm};
use crate::{Error, Result};

/// Whose calls a quota counts.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QuotaScope {
    /// Calls made for one feature (`generate`, `openai_api`, ...).
    Feature(String),
    /// Calls made by one role (`member`, `service`, ...).
    Role(String),
}

impl std::fmt::Display for QuotaScope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            QuotaScope::Feature(feature) => write!(f, "feature `{feature}`"),
            QuotaScope::Role(role) => write!(f, "role `{role}`"),
        }
    }
}

/// At most `max_tokens` (prompt plus completion) within any trailing `window`.
///
/// In a config file: `{ scope = { feature = "openai_api" }, max_tokens = 100000,
/// window_secs = 3600 }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quota {
    pub scope: QuotaScope,
    pub max_tokens: i64,
    #[serde(rename = "window_secs", with = "seconds")]
    pub window: Duration,
}

/// Durations as whole seconds: what a person writes in a config file.
mod seconds {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(
        duration: &Duration,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.serialize_u64(duration.as_secs())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Duration, D::Error> {
        u64::deserialize(deserializer).map(Duration::from_secs)
    }
}

impl Quota {
    fn applies_to(&self, context: &CallContext) -> bool {
        match &self.scope {
            QuotaScope::Feature(feature) => *feature == context.feature,
            QuotaScope::Role(role) => *role == context.role,
        }
    }

    fn filter(&self, since: steward_domain::Timestamp) -> UsageFilter {
        let (feature, role) = match &self.scope {
            QuotaScope::Feature(feature) => (Some(feature.clone()), None),
            QuotaScope::Role(role) => (None, Some(role.clone())),
        };
        UsageFilter {
            feature,
            role,
            since: Some(since),
        }
    }
}

/// Who asks for a call and about what; copied into the audit row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallContext {
    /// `generate`, `answer_draft`, `digest`, `openai_api`, ...
    pub feature: String,
    /// `admin`, `moderator`, `analyst`, `member`, `service`: the role of the
    /// authenticated caller (or of the operator, for the CLI), never a role
    /// the client claims.
    pub role: String,
    /// The API key the call is made with; `None` for Steward's own calls.
    pub key_id: Option<String>,
    /// Community objects the call is about (`post:12`, `tag:rust`).
    pub object_ids: Vec<String>,
}

/// How many calls the gateway lets generate at once, and how many may wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Calls generating at the same time (at least 1). A CPU model shares the
    /// cores among them: more slots only make each call slower.
    pub max_concurrent: usize,
    /// Calls waiting for a slot; one more is refused with [`Error::Busy`].
    pub max_queued: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_concurrent: 2,
            max_queued: 8,
        }
    }
}

/// What a refused call is told to wait before trying again.
const BUSY_RETRY_AFTER_SECS: u64 = 1;

/// The gateway's generation slots and wait queue; clones share them.
#[derive(Debug, Clone)]
pub struct Admission {
    inner: Arc<AdmissionInner>,
}

#[derive(Debug)]
struct AdmissionInner {
    limits: Limits,
    slots: tokio::sync::Semaphore,
    waiting: AtomicUsize,
}

/// Leaves the queue when dropped (admitted, cancelled or the future dropped).
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Admission {
    pub fn new(limits: Limits) -> Admission {
        let limits = Limits {
            max_concurrent: limits.max_concurrent.max(1),
            ..limits
        };
        Admission {
            inner: Arc::new(AdmissionInner {
                limits,
                slots: tokio::sync::Semaphore::new(limits.max_concurrent),
                waiting: AtomicUsize::new(0),
            }),
        }
    }

    pub fn limits(&self) -> Limits {
        self.inner.limits
    }

    /// Calls generating now.
    pub fn running(&self) -> usize {
        self.inner.limits.max_concurrent - self.inner.slots.available_permits()
    }

    /// Calls waiting for a slot now.
    pub fn waiting(&self) -> usize {
        self.inner.waiting.load(Ordering::SeqCst)
    }

    /// A slot, held until the permit drops: at once if one is free, after a
    /// wait in the queue if there is room, else [`Error::Busy`]. A cancel
    /// while waiting is [`Error::CallCancelled`].
    async fn enter(&self, cancel: &CancellationToken) -> Result<tokio::sync::SemaphorePermit<'_>> {
        let inner = &self.inner;
        if let Ok(permit) = inner.slots.try_acquire() {
            return Ok(permit);
        }
        let queued = inner.waiting.fetch_add(1, Ordering::SeqCst);
        let _waiting = Waiting(&inner.waiting);
        if queued >= inner.limits.max_queued {
            return Err(Error::Busy {
                running: self.running(),
                queued,
                retry_after_secs: BUSY_RETRY_AFTER_SECS,
            });
        }
        tokio::select! {
            permit = inner.slots.acquire() => permit.map_err(|_| Error::Io {
                context: "LLM admission".into(),
                source: std::io::Error::other("the slot semaphore was closed"),
            }),
            () = cancel.cancelled() => Err(Error::CallCancelled {
                prompt_tokens: 0,
                completion_tokens: 0,
            }),
        }
    }
}

/// The one door to the LLM: quotas and the concurrency limit in front, the
/// audit log behind.
#[derive(Debug, Clone)]
pub struct Gateway {
    pub llm: Llm,
    pub store: Store,
    pub quotas: Vec<Quota>,
    /// Generation slots and the wait queue, shared by every clone.
    pub admission: Admission,
}

impl Gateway {
    /// A gateway with the default [`Limits`].
    pub fn new(llm: Llm, store: Store, quotas: Vec<Quota>) -> Gateway {
        Gateway {
            llm,
            store,
            quotas,
            admission: Admission::new(Limits::default()),
        }
    }

    /// The same gateway with its own slots and queue of `limits`.
    pub fn with_limits(mut self, limits: Limits) -> Gateway {
        self.admission = Admission::new(limits);
        self
    }

    /// Runs `request` for `context`; see [`Gateway::chat_with`].
    pub async fn chat(
        &self,
        context: &CallContext,
        request: &ChatRequest,
        tokens: Option<tokio::sync::mpsc::UnboundedSender<String>>,
    ) -> Result<Completion> {
        self.chat_with(context, request, tokens, &CancellationToken::new())
            .await
    }

    /// Runs `request` for `context` unless a quota or the concurrency limit
    /// refuses it, stopping early when `cancel` is cancelled.
    ///
    /// A quota refuses when the tokens already used in its window plus the
    /// request's `max_tokens` would pass its limit: the prompt's size is only
    /// known once the model has tokenized it, so the completion budget is the
    /// part that can be checked up front. A refused call costs nothing and
    /// never reaches the model, but is still logged (outcome `refused`, zero
    /// tokens), so that an admin sees who hit the limit. So is a call refused
    /// because every slot is taken and the queue is full ([`Error::Busy`]).
    ///
    /// Calls running at the same moment do not see each other's tokens until
    /// they finish, so concurrent callers can overshoot a quota by at most
    /// their own budgets.
    ///
    /// A cancelled call ends with [`Error::CallCancelled`] and an audit row
    /// `cancelled` holding the tokens it spent. Dropping the future instead
    /// also stops the generation, but leaves no row: callers that can should
    /// cancel and let the call finish (the server does).
    pub async fn chat_with(
        &self,
        context: &CallContext,
        request: &ChatRequest,
        tokens: Option<tokio::sync::mpsc::UnboundedSender<String>>,
        cancel: &CancellationToken,
    ) -> Result<Completion> {
        let now = chrono::Utc::now();
        let budget = i64::from(request.params.max_tokens);
        for quota in self.quotas.iter().filter(|quota| quota.applies_to(context)) {
            let window = chrono::Duration::from_std(quota.window).unwrap_or(chrono::Duration::MAX);
            let since = now
                .checked_sub_signed(window)
                .unwrap_or(chrono::DateTime::UNIX_EPOCH);
            let used = self.store.llm_tokens(&quota.filter(since)).await?;
            if used.saturating_add(budget) > quota.max_tokens {
                self.record(context, LlmOutcome::Refused, None, Duration::ZERO)
                    .await?;
                return Err(Error::QuotaExceeded {
                    scope: quota.scope.to_string(),
                    used,
                    limit: quota.max_tokens,
                    window_secs: i64::try_from(quota.window.as_secs()).unwrap_or(i64::MAX),
                });
            }
        }
        let started = Instant::now();
        let slot = match self.admission.enter(cancel).await {
            Ok(slot) => slot,
            Err(error) => {
                let outcome = match &error {
                    Error::Busy { .. } => LlmOutcome::Refused,
                    _ => LlmOutcome::Cancelled,
                };
                self.record(context, outcome, None, started.elapsed())
                    .await?;
                return Err(error);
            }
        };
        let result = self.llm.chat_with(request, tokens, cancel).await;
        drop(slot);
        let latency = started.elapsed();
        match &result {
            Ok(completion) => {
                // The audit row is the invariant ("every call writes one"): a
                // call that cannot be recorded fails, even though it ran.
                self.record(context, LlmOutcome::Ok, Some(completion), latency)
                    .await?;
            }
            Err(Error::CallCancelled {
                prompt_tokens,
                completion_tokens,
            }) => {
                let spent = Completion {
                    text: String::new(),
                    prompt_tokens: *prompt_tokens,
                    completion_tokens: *completion_tokens,
                    finish_reason: crate::llm::FinishReason::Stop,
                    prompt_ms: 0.0,
                    decode_ms: 0.0,
                };
                self.record(context, LlmOutcome::Cancelled, Some(&spent), latency)
                    .await?;
            }
            Err(error) => {
                if let Err(store_error) =
                    self.record(context, LlmOutcome::Error, None, latency).await
                {
                    tracing::error!(%store_error, %error, "cannot record a failed LLM call");
                }
            }
        }
        result
    }

    async fn record(
        &self,
        context: &CallContext,
        outcome: LlmOutcome,
        completion: Option<&Completion>,
        latency: Duration,
    ) -> Result<()> {
        let call = LlmCall {
            request_id: uuid::Uuid::new_v4().to_string(),
            feature: context.feature.clone(),
            role: context.role.clone(),
            key_id: context.key_id.clone(),
            model: self.llm.model_id().to_string(),
            prompt_tokens: completion.map_or(0, |completion| i64::from(completion.prompt_tokens)),
            completion_tokens: completion
                .map_or(0, |completion| i64::from(completion.completion_tokens)),
            latency_ms: i64::try_from(latency.as_millis()).unwrap_or(i64::MAX),
            outcome,
            object_ids: context.object_ids.clone(),
            at: chrono::Utc::now(),
        };
        self.store.record_llm_call(&call).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotas_read_from_a_config_file() {
        let json = r#"[
            {"scope": {"feature": "openai_api"}, "max_tokens": 1000, "window_secs": 3600},
            {"scope": {"role": "member"}, "max_tokens": 50, "window_secs": 60}
        ]"#;
        let quotas: Vec<Quota> = serde_json::from_str(json).expect("valid quotas");
        assert_eq!(
            quotas,
            vec![
                Quota {
                    scope: QuotaScope::Feature("openai_api".into()),
                    max_tokens: 1000,
                    window: Duration::from_secs(3600),
                },
                Quota {
                    scope: QuotaScope::Role("member".into()),
                    max_tokens: 50,
                    window: Duration::from_secs(60),
                },
            ]
        );
        let back: Vec<Quota> =
            serde_json::from_str(&serde_json::to_string(&quotas).expect("serializable"))
                .expect("round trip");
        assert_eq!(back, quotas);
    }

    #[test]
    fn a_quota_applies_to_its_feature_or_its_role() {
        let context = CallContext {
            feature: "generate".into(),
            role: "member".into(),
            key_id: None,
            object_ids: Vec::new(),
        };
        let check = |scope: QuotaScope, expected: bool| {
            let quota = Quota {
                scope: scope.clone(),
                max_tokens: 1,
                window: Duration::from_secs(1),
            };
            assert_eq!(quota.applies_to(&context), expected, "{scope}");
        };
        check(QuotaScope::Feature("generate".into()), true);
        check(QuotaScope::Feature("digest".into()), false);
        check(QuotaScope::Role("member".into()), true);
        check(QuotaScope::Role("admin".into()), false);
    }
}
