//! Cited question answering: passages retrieved by hybrid search, an evidence
//! gate that refuses rather than invents, a draft from the LLM (through the
//! audit gateway), and attribution that keeps only the sentences some passage
//! supports, each cited to a passage that exists. Without a model, or when
//! too little of the draft survives, the answer is extractive: the best
//! sentences of the passages, cited.
//!
//! Invariants: every `[n]` in an answer names a returned passage with a real
//! post id; no sentence is shown that no passage supports; every ask writes
//! one row to the answer log.

pub mod eval;
mod extract;
pub mod passages;
pub mod prompt;
pub mod sentences;
pub mod support;

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use serde::Serialize;
use steward_domain::{PostId, UserId};
use steward_ml::audit::{CallContext, Gateway};
use steward_ml::embed::Purpose;
use steward_ml::llm::CancellationToken;
use steward_store::AnswerLogEntry;
use tokio::sync::mpsc::UnboundedSender;

pub use passages::Passage;
use passages::Retrieved;
pub use support::Support;

use crate::searcher::{Mode, Searcher};
use crate::{Error, Result};

/// The audit log's feature name for the LLM calls of `ask`.
pub const FEATURE: &str = "ask";

/// How `ask` retrieves, gates, generates and attributes (`[ask]` in the
/// config; the defaults are steward.example.toml's).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AskOptions {
    /// Threads read from the hybrid search.
    pub threads: usize,
    /// Passages kept (numbered `[1]..[k]`).
    pub passages: usize,
    /// The evidence gate: below this best passage support, refuse.
    pub min_support: f32,
    /// A generated sentence is kept when a passage supports it this well.
    pub sentence_support: f32,
    /// Below this share of the draft (in characters) kept, answer extractively.
    pub min_kept_share: f32,
    /// The draft's token budget.
    pub max_tokens: u32,
    /// Characters of each passage in the prompt.
    pub passage_chars: usize,
}

impl Default for AskOptions {
    fn default() -> AskOptions {
        AskOptions {
            threads: 8,
            passages: 5,
            min_support: 0.3,
            sentence_support: 0.45,
            min_kept_share: 0.5,
            max_tokens: 160,
            passage_chars: 600,
        }
    }
}

/// One question.
#[derive(Debug, Clone, PartialEq)]
pub struct AskRequest {
    pub question: String,
    /// Only threads with all of these tags (lower-case).
    pub tags: Vec<String>,
    /// Draft with the LLM when one is loaded; `false` answers extractively.
    pub use_llm: bool,
}

/// Who asks: copied into the audit row and the answer log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Asker {
    pub role: String,
    pub key_id: Option<String>,
}

/// How the answer was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AnswerMode {
    /// The model's draft, the sentences passages support, cited.
    Generated,
    /// The best sentences of the passages themselves, cited.
    Extractive,
    /// No grounded answer: the closest threads and who could answer.
    Refused,
}

impl AnswerMode {
    pub fn as_str(self) -> &'static str {
        match self {
            AnswerMode::Generated => "generated",
            AnswerMode::Extractive => "extractive",
            AnswerMode::Refused => "refused",
        }
    }
}

/// One sentence of an answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AnswerSentence {
    /// Without markers.
    pub text: String,
    /// Passage numbers it is cited to.
    pub citations: Vec<usize>,
    /// The best support a passage gives it.
    pub support: f32,
}

/// What the evidence gate saw.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Evidence {
    /// The best support of any passage read for the question.
    pub best_support: f32,
    /// The gate (`ask.min_support`).
    pub min_support: f32,
    /// Whether embeddings took part (else lexical overlap alone).
    pub dense: bool,
}

/// A thread close to a refused question.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClosestThread {
    pub post_id: PostId,
    pub title: Option<String>,
    pub tags: Vec<String>,
    pub answer_count: i64,
    pub accepted_answer_id: Option<PostId>,
    /// The fused search score.
    pub score: f32,
}

/// Someone who answered the closest threads well.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Expert {
    pub user_id: UserId,
    pub name: Option<String>,
    /// The summed score of their answers in those threads.
    pub answer_score: i64,
    pub answers: usize,
    pub accepted: usize,
    pub threads: Vec<PostId>,
}

/// Tokens a generated answer cost.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Tokens {
    pub prompt: u32,
    pub completion: u32,
}

/// An answer (or a refusal) with its sources.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AskResponse {
    /// The answer log's id; the audit row names it as `answer:<id>`.
    pub id: String,
    pub question: String,
    /// ISO 639-1 code of the question's language (`en` when it cannot be told).
    pub language: String,
    pub mode: AnswerMode,
    pub refused: bool,
    /// The text with `[n]` markers; empty for a refusal.
    pub answer: String,
    pub sentences: Vec<AnswerSentence>,
    /// The passages cited, by number.
    pub citations: Vec<Passage>,
    /// Every passage retrieved, by number.
    pub passages: Vec<Passage>,
    pub evidence: Evidence,
    /// Why the answer was refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// For a refusal: the threads closest to the question.
    pub closest_threads: Vec<ClosestThread>,
    /// For a refusal: who answered those threads best.
    pub could_answer: Vec<Expert>,
    /// The LLM that drafted, when one ran.
    pub model: Option<String>,
    pub search_mode: Mode,
    pub latency_ms: u64,
    pub tokens: Tokens,
    /// What the reader should know: why the answer is extractive, what search ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notice: Option<String>,
}

/// What an ask reports while it runs (the API streams these).
#[derive(Debug, Clone, PartialEq)]
pub enum AskEvent {
    /// The passages retrieved, before any generation.
    Passages(Vec<Passage>),
    /// A piece of the model's raw draft: not yet checked against the passages.
    Draft(String),
}

/// Answers questions over a searcher, with an LLM gateway when one is loaded.
#[derive(Debug, Clone)]
pub struct Answerer {
    searcher: Searcher,
    gateway: Option<Gateway>,
    options: AskOptions,
}

impl Answerer {
    pub fn new(searcher: Searcher, gateway: Option<Gateway>, options: AskOptions) -> Answerer {
        Answerer {
            searcher,
            gateway,
            options,
        }
    }

    pub fn options(&self) -> &AskOptions {
        &self.options
    }

    /// The LLM's model id, when one is loaded.
    pub fn model(&self) -> Option<&str> {
        self.gateway.as_ref().map(|gateway| gateway.llm.model_id())
    }

    pub fn searcher(&self) -> &Searcher {
        &self.searcher
    }

    /// Answers `request` for `asker`, sending progress to `events`; a cancel
    /// stops the generation (and the ask ends with the gateway's
    /// `CallCancelled`). Every ask that gets past retrieval is logged.
    pub async fn ask(
        &self,
        request: &AskRequest,
        asker: &Asker,
        events: Option<UnboundedSender<AskEvent>>,
        cancel: &CancellationToken,
    ) -> Result<AskResponse> {
        let started = Instant::now();
        let question = request.question.trim();
        if question.is_empty() {
            return Err(Error::EmptyQuery);
        }
        let id = uuid_v4();
        let language = question_language(question);
        let retrieved =
            passages::retrieve(&self.searcher, question, &request.tags, &self.options).await?;
        send(&events, AskEvent::Passages(retrieved.passages.clone()));
        let evidence = Evidence {
            best_support: retrieved.best_support,
            min_support: self.options.min_support,
            dense: retrieved.question_vector.is_some(),
        };
        let mut response = AskResponse {
            id: id.clone(),
            question: question.to_string(),
            language: language.to_string(),
            mode: AnswerMode::Extractive,
            refused: false,
            answer: String::new(),
            sentences: Vec::new(),
            citations: Vec::new(),
            passages: retrieved.passages.clone(),
            evidence,
            reason: None,
            closest_threads: Vec::new(),
            could_answer: Vec::new(),
            model: None,
            search_mode: retrieved.search_mode,
            latency_ms: 0,
            tokens: Tokens::default(),
            notice: retrieved.notice.clone(),
        };
        if retrieved.passages.is_empty() || retrieved.best_support < self.options.min_support {
            self.refuse(
                &mut response,
                &retrieved,
                format!(
                    "no grounded answer: the best passage supports the question at {:.2}, \
                     below ask.min_support {:.2}; here are the closest threads and who could \
                     answer them",
                    retrieved.best_support, self.options.min_support
                ),
            )
            .await?;
        } else {
            self.answer(&mut response, &retrieved, request, asker, events, cancel)
                .await?;
        }
        response.latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.log(&response, asker).await?;
        Ok(response)
    }

    /// Drafts with the model when there is one, attributes, and falls back to
    /// an extractive answer when the draft does not hold up.
    async fn answer(
        &self,
        response: &mut AskResponse,
        retrieved: &Retrieved,
        request: &AskRequest,
        asker: &Asker,
        events: Option<UnboundedSender<AskEvent>>,
        cancel: &CancellationToken,
    ) -> Result<()> {
        let evidence = self.passage_evidence(retrieved).await?;
        let fallback_notice = match (&self.gateway, request.use_llm) {
            (Some(gateway), true) => {
                match self
                    .draft(
                        gateway, response, retrieved, asker, events, cancel, &evidence,
                    )
                    .await?
                {
                    None => return Ok(()),
                    Some(notice) => Some(notice),
                }
            }
            (None, true) => Some("no language model is loaded: the answer is extractive".into()),
            (_, false) => None,
        };
        let extracted = extract::extract(
            &response.question,
            &response.language,
            &retrieved.passages,
            &evidence,
            retrieved.question_vector.as_deref(),
        );
        if extracted.is_empty() {
            let reason = format!(
                "no grounded answer: no sentence of the passages found answers the question in \
                 its language ({})",
                response.language
            );
            return self.refuse(response, retrieved, reason).await;
        }
        response.mode = AnswerMode::Extractive;
        self.finish(response, extracted);
        response.notice = join_notices(response.notice.take(), fallback_notice);
        Ok(())
    }

    /// The model's draft, attributed; `Ok(None)` when it made the answer,
    /// `Ok(Some(why))` when the answer must be extractive instead.
    #[allow(clippy::too_many_arguments)]
    async fn draft(
        &self,
        gateway: &Gateway,
        response: &mut AskResponse,
        retrieved: &Retrieved,
        asker: &Asker,
        events: Option<UnboundedSender<AskEvent>>,
        cancel: &CancellationToken,
        evidence: &[support::PassageEvidence],
    ) -> Result<Option<String>> {
        let chat = prompt::chat_request(
            &response.question,
            &response.language,
            &retrieved.passages,
            self.options.max_tokens,
        );
        let mut object_ids = vec![format!("answer:{}", response.id)];
        object_ids.extend(
            retrieved
                .passages
                .iter()
                .map(|passage| format!("post:{}", passage.post_id.0)),
        );
        let context = CallContext {
            feature: FEATURE.to_string(),
            role: asker.role.clone(),
            key_id: asker.key_id.clone(),
            object_ids,
        };
        let (sender, mut receiver) = tokio::sync::mpsc::unbounded_channel::<String>();
        let forward = tokio::spawn(async move {
            while let Some(piece) = receiver.recv().await {
                send(&events, AskEvent::Draft(piece));
            }
        });
        let outcome = gateway
            .chat_with(&context, &chat, Some(sender), cancel)
            .await;
        // The gateway dropped the sender: the forwarder ends.
        let _ = forward.await;
        response.model = Some(gateway.llm.model_id().to_string());
        let completion = match outcome {
            Ok(completion) => completion,
            Err(error @ steward_ml::Error::CallCancelled { .. }) => return Err(error.into()),
            Err(error) => {
                tracing::warn!(%error, "ask: the model did not answer; answering extractively");
                return Ok(Some(format!(
                    "the model did not answer ({error}): the answer is extractive"
                )));
            }
        };
        response.tokens = Tokens {
            prompt: completion.prompt_tokens,
            completion: completion.completion_tokens,
        };
        let mut drafted = sentences::split(&completion.text);
        // A draft cut by max_tokens ends mid-sentence (often mid-marker: `[4`):
        // that fragment is no claim to check.
        if completion.finish_reason == steward_ml::llm::FinishReason::Length
            && drafted.last().is_some_and(|last| {
                !last.code && !last.text.ends_with(['.', '!', '?', ']', '。', '！', '？'])
            })
        {
            drafted.pop();
        }
        let vectors = match &retrieved.embedder {
            Some(embedder) => {
                let texts = drafted
                    .iter()
                    .map(|sentence| sentences::strip_markers(&sentence.text).0)
                    .collect();
                passages::embed_many(embedder, texts, Purpose::Passage).await?
            }
            None => Vec::new(),
        };
        let attributed =
            support::attribute(&drafted, &vectors, evidence, self.options.sentence_support);
        let total: usize = attributed.iter().map(|sentence| sentence.weight).sum();
        let kept: usize = attributed
            .iter()
            .filter(|sentence| sentence.kept)
            .map(|sentence| sentence.weight)
            .sum();
        let share = if total == 0 {
            0.0
        } else {
            kept as f32 / total as f32
        };
        let kept_text: String = attributed
            .iter()
            .filter(|sentence| sentence.kept)
            .map(|sentence| sentence.text.as_str())
            .collect::<Vec<_>>()
            .join(" ");
        if kept == 0 || share < self.options.min_kept_share {
            return Ok(Some(format!(
                "the model's draft was not shown: only {:.0}% of it is supported by the \
                 passages (ask.min_kept_share {:.0}%); the answer is extractive",
                share * 100.0,
                self.options.min_kept_share * 100.0
            )));
        }
        if !language_follows(&response.language, &kept_text) {
            return Ok(Some(format!(
                "the model's draft was not shown: it is not in the question's language ({}); \
                 the answer is extractive",
                response.language
            )));
        }
        let sentences = attributed
            .into_iter()
            .filter(|sentence| sentence.kept)
            .map(|sentence| AnswerSentence {
                text: sentence.text,
                citations: sentence.citations,
                support: sentence.support,
            })
            .collect();
        response.mode = AnswerMode::Generated;
        self.finish(response, sentences);
        if share < 1.0 {
            response.notice = join_notices(
                response.notice.take(),
                Some(format!(
                    "{:.0}% of the model's draft is shown: the sentences no passage supports \
                     were dropped",
                    share * 100.0
                )),
            );
        }
        Ok(None)
    }

    /// Every passage's terms and sentence chunks, the chunks embedded in one
    /// batch when there is an embedder.
    async fn passage_evidence(
        &self,
        retrieved: &Retrieved,
    ) -> Result<Vec<support::PassageEvidence>> {
        let mut evidence: Vec<support::PassageEvidence> = retrieved
            .passages
            .iter()
            .map(|passage| support::PassageEvidence::new(&passage.text))
            .collect();
        if let Some(embedder) = &retrieved.embedder {
            let texts: Vec<String> = evidence
                .iter()
                .flat_map(|passage| passage.chunks.iter().cloned())
                .collect();
            let mut vectors = passages::embed_many(embedder, texts, Purpose::Passage)
                .await?
                .into_iter();
            for passage in &mut evidence {
                passage.chunk_vectors = vectors.by_ref().take(passage.chunks.len()).collect();
            }
        }
        Ok(evidence)
    }

    /// The answer text from its sentences, with only markers that resolve,
    /// and the cited passages.
    fn finish(&self, response: &mut AskResponse, sentences: Vec<AnswerSentence>) {
        let count = response.passages.len();
        let sentences: Vec<AnswerSentence> = sentences
            .into_iter()
            .map(|mut sentence| {
                sentence.citations.retain(|n| (1..=count).contains(n));
                sentence
            })
            .collect();
        let mut cited: Vec<usize> = sentences
            .iter()
            .flat_map(|sentence| sentence.citations.iter().copied())
            .collect();
        cited.sort_unstable();
        cited.dedup();
        let mut answer = String::new();
        for sentence in &sentences {
            let piece = sentences::with_markers(&sentence.text, &sentence.citations);
            if !answer.is_empty() {
                let chinese = response.language == "zh";
                answer.push_str(if chinese && !piece.starts_with("```") {
                    ""
                } else if piece.starts_with("```") || answer.ends_with("```") {
                    "\n"
                } else {
                    " "
                });
            }
            answer.push_str(&piece);
        }
        response.answer = answer;
        response.citations = cited
            .iter()
            .map(|n| response.passages[n - 1].clone())
            .collect();
        response.sentences = sentences;
    }

    /// Turns `response` into a refusal: the closest threads and who answered
    /// them best.
    async fn refuse(
        &self,
        response: &mut AskResponse,
        retrieved: &Retrieved,
        reason: String,
    ) -> Result<()> {
        response.mode = AnswerMode::Refused;
        response.refused = true;
        response.answer = String::new();
        response.sentences = Vec::new();
        response.citations = Vec::new();
        response.reason = Some(reason);
        response.closest_threads = retrieved
            .hits
            .iter()
            .take(CLOSEST_THREADS)
            .map(|hit| ClosestThread {
                post_id: hit.post_id,
                title: hit.title.clone(),
                tags: hit.tags.clone(),
                answer_count: hit.answer_count,
                accepted_answer_id: hit.accepted_answer_id,
                score: hit.score,
            })
            .collect();
        let closest: HashSet<PostId> = response
            .closest_threads
            .iter()
            .map(|thread| thread.post_id)
            .collect();
        let mut by_owner: HashMap<UserId, Expert> = HashMap::new();
        for answer in &retrieved.answers {
            let (Some(owner), Some(thread)) = (answer.owner_id, answer.parent_id) else {
                continue;
            };
            if !closest.contains(&thread) || owner.0 < 0 {
                continue;
            }
            let accepted = retrieved
                .hits
                .iter()
                .any(|hit| hit.accepted_answer_id == Some(answer.id));
            let expert = by_owner.entry(owner).or_insert_with(|| Expert {
                user_id: owner,
                name: None,
                answer_score: 0,
                answers: 0,
                accepted: 0,
                threads: Vec::new(),
            });
            expert.answer_score += answer.score;
            expert.answers += 1;
            expert.accepted += usize::from(accepted);
            if !expert.threads.contains(&thread) {
                expert.threads.push(thread);
            }
        }
        let mut experts: Vec<Expert> = by_owner.into_values().collect();
        experts.sort_by(|a, b| {
            (b.accepted, b.answer_score, b.answers)
                .cmp(&(a.accepted, a.answer_score, a.answers))
                .then(a.user_id.cmp(&b.user_id))
        });
        experts.truncate(COULD_ANSWER);
        for expert in &mut experts {
            expert.name = self
                .searcher
                .store()
                .user(expert.user_id)
                .await?
                .map(|user| user.display_name);
        }
        response.could_answer = experts;
        Ok(())
    }

    /// One answer-log row for `response`.
    async fn log(&self, response: &AskResponse, asker: &Asker) -> Result<()> {
        let passages = serde_json::to_value(&response.passages).unwrap_or_default();
        let citations = serde_json::to_value(&response.citations).unwrap_or_default();
        let entry = AnswerLogEntry {
            id: response.id.clone(),
            asked_at: chrono::Utc::now(),
            question: response.question.clone(),
            language: response.language.clone(),
            mode: response.mode.as_str().to_string(),
            passages,
            answer: match (&response.reason, response.refused) {
                (Some(reason), true) => reason.clone(),
                _ => response.answer.clone(),
            },
            citations,
            model: response.model.clone(),
            latency_ms: i64::try_from(response.latency_ms).unwrap_or(i64::MAX),
            prompt_tokens: i64::from(response.tokens.prompt),
            completion_tokens: i64::from(response.tokens.completion),
            role: asker.role.clone(),
            key_id: asker.key_id.clone(),
        };
        self.searcher.store().record_answer(&entry).await?;
        Ok(())
    }
}

/// Threads a refusal lists.
const CLOSEST_THREADS: usize = 5;
/// People a refusal names.
const COULD_ANSWER: usize = 5;

fn send(events: &Option<UnboundedSender<AskEvent>>, event: AskEvent) {
    if let Some(sender) = events {
        // A receiver that is gone (a client that left) is not an error.
        let _ = sender.send(event);
    }
}

fn join_notices(first: Option<String>, second: Option<String>) -> Option<String> {
    match (first, second) {
        (Some(first), Some(second)) => Some(format!("{second}; {first}")),
        (first, second) => first.or(second),
    }
}

/// The question's language: `zh` for Chinese (with English identifiers or
/// not), else what detection says, else `en`.
pub fn question_language(question: &str) -> &'static str {
    steward_text::lang::detect(question).unwrap_or("en")
}

/// Whether `text` is in `language`: Chinese must hold Chinese; any other
/// language must not be detected as something else, nor be mostly Chinese.
pub fn language_follows(language: &str, text: &str) -> bool {
    let detected = steward_text::lang::detect(text);
    match language {
        "zh" => detected == Some("zh"),
        _ => detected.is_none_or(|found| found == language) && detected != Some("zh"),
    }
}

/// Citations of `response` that do not resolve: each `[n]` marker in the
/// answer and each listed citation counts once; one resolves when `n` names
/// a returned passage whose post exists (`exists`) and, for a listed
/// citation, is that passage's post. Returns `(resolved, total)`.
pub fn check_citations(response: &AskResponse, exists: &HashSet<PostId>) -> (usize, usize) {
    let resolves = |n: usize, post: Option<PostId>| {
        n >= 1
            && response.passages.get(n - 1).is_some_and(|passage| {
                passage.n == n
                    && exists.contains(&passage.post_id)
                    && post.is_none_or(|post| post == passage.post_id)
            })
    };
    let markers = sentences::marker_numbers(&response.answer);
    let mut resolved = markers.iter().filter(|n| resolves(**n, None)).count();
    resolved += response
        .citations
        .iter()
        .filter(|citation| resolves(citation.n, Some(citation.post_id)))
        .count();
    (resolved, markers.len() + response.citations.len())
}

/// A random (version 4) UUID from the standard library's per-process hash
/// keys and the clock: the crate has no RNG dependency, and an id only needs
/// to be unique.
fn uuid_v4() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut bytes = [0u8; 16];
    for half in 0..2 {
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|elapsed| elapsed.as_nanos())
                .unwrap_or_default(),
        );
        hasher.write_usize(half);
        bytes[half * 8..half * 8 + 8].copy_from_slice(&hasher.finish().to_le_bytes());
    }
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|byte| format!("{byte:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn languages_follow_the_question() {
        assert_eq!(question_language("How do I undo my last git commit?"), "en");
        assert_eq!(question_language("如何在 Rust 中使用 tokio::select!"), "zh");
        assert!(language_follows("zh", "先为经常查询的列创建索引。"));
        assert!(!language_follows(
            "zh",
            "Create an index on the column you query."
        ));
        assert!(language_follows(
            "en",
            "Create an index on the column you query most often."
        ));
        assert!(!language_follows(
            "en",
            "先为经常查询的列创建索引，然后再查询。"
        ));
    }

    #[test]
    fn ids_are_version_4_uuids_and_differ() {
        let (a, b) = (uuid_v4(), uuid_v4());
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "4");
    }
}
