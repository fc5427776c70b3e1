//! Passage retrieval: a hybrid search for threads, then every thread's
//! question and answers as passages, each scored against the question (the
//! cosine with its stored vector, the share of the question's terms it
//! holds), ranked with the thread's fused rank and the community's verdict
//! (accepted, score), and the best `k` kept.

use std::collections::HashMap;
use std::sync::Arc;

use serde::Serialize;
use steward_domain::{Post, PostId, PostKind, UserId};
use steward_ml::embed::{Embedder, Purpose};

use super::AskOptions;
use super::support::{self, Support};
use crate::searcher::{Fusion, Mode, SearchHit, SearchRequest, Searcher};
use crate::{Error, Filters, Result};

/// Answers read per thread: the accepted one first, then by score.
const ANSWERS_PER_THREAD: u32 = 6;
/// Characters of a passage's snippet.
const SNIPPET_CHARS: usize = 240;
/// Characters of each code block a passage carries.
const CODE_CHARS: usize = 300;

/// One passage an answer may cite.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Passage {
    /// Its number in the prompt and in `[n]` markers, from 1.
    pub n: usize,
    pub post_id: PostId,
    /// The thread's question.
    pub thread_id: PostId,
    pub thread_title: Option<String>,
    /// `question` or `answer`.
    pub kind: PostKind,
    /// The thread's accepted answer.
    pub accepted: bool,
    /// The post's own score (votes).
    pub score: i64,
    pub owner_id: Option<UserId>,
    /// How well it supports the question, with the parts.
    pub support: Support,
    /// The thread's rank in the hybrid search, from 1.
    pub thread_rank: usize,
    /// The start of its text, plain (not HTML).
    pub snippet: String,
    /// What the prompt shows: prose and code, trimmed to the budget.
    #[serde(skip)]
    pub text: String,
}

/// What retrieval found for a question.
#[derive(Debug, Clone)]
pub(crate) struct Retrieved {
    /// The best `k`, numbered.
    pub passages: Vec<Passage>,
    /// The threads found, best first.
    pub hits: Vec<SearchHit>,
    /// Every answer read, for "who could answer".
    pub answers: Vec<Post>,
    /// The best support of any passage read (kept or not).
    pub best_support: f32,
    pub search_mode: Mode,
    pub notice: Option<String>,
    /// The embedder of the dense side, when it ran.
    pub embedder: Option<Arc<Embedder>>,
    pub question_vector: Option<Vec<f32>>,
}

pub(crate) async fn retrieve(
    searcher: &Searcher,
    question: &str,
    tags: &[String],
    options: &AskOptions,
) -> Result<Retrieved> {
    let request = SearchRequest {
        query: question.to_string(),
        mode: Mode::Hybrid,
        fusion: Fusion::Rrf,
        dense_weight: 0.5,
        filters: Filters {
            tags: tags.to_vec(),
            ..Filters::default()
        },
        limit: options.threads.max(1),
        offset: 0,
    };
    let results = searcher.search(&request).await?;
    let store = searcher.store();
    let thread_ids: Vec<PostId> = results.hits.iter().map(|hit| hit.post_id).collect();
    let roots: HashMap<PostId, Post> = store
        .posts_by_ids(&thread_ids)
        .await?
        .into_iter()
        .map(|post| (post.id, post))
        .collect();

    // (post, thread rank, thread title, accepted)
    let mut candidates: Vec<(Post, usize, Option<String>, bool)> = Vec::new();
    let mut answers = Vec::new();
    // Every thread's best answers in one read, grouped by thread.
    let mut answers_of: HashMap<PostId, Vec<Post>> = HashMap::new();
    for answer in store.top_answers(&thread_ids, ANSWERS_PER_THREAD).await? {
        if let Some(parent) = answer.parent_id {
            answers_of.entry(parent).or_default().push(answer);
        }
    }
    for (rank, id) in thread_ids.iter().enumerate() {
        let Some(root) = roots.get(id) else { continue };
        candidates.push((root.clone(), rank + 1, root.title.clone(), false));
        for answer in answers_of.remove(id).unwrap_or_default() {
            let accepted = root.accepted_answer_id == Some(answer.id);
            answers.push(answer.clone());
            candidates.push((answer, rank + 1, root.title.clone(), accepted));
        }
    }

    let dense = searcher
        .dense()
        .filter(|_| results.mode != Mode::Bm25)
        .map(|dense| dense.embedder.clone());
    // The question's embedding from its search: embedded once per ask.
    let (question_vector, vectors) = match (&dense, results.query_vector.clone()) {
        (Some(embedder), Some(question_vector)) => {
            let ids: Vec<PostId> = candidates.iter().map(|(post, ..)| post.id).collect();
            let vectors: HashMap<PostId, Vec<f32>> = store
                .embeddings(embedder.model_id(), &ids)
                .await?
                .into_iter()
                .map(|stored| (stored.post_id, stored.vector))
                .collect();
            (Some(question_vector), vectors)
        }
        _ => (None, HashMap::new()),
    };

    let question_terms = support::content_terms(question);
    let mut scored: Vec<(f32, Passage)> = Vec::new();
    let mut root_support: HashMap<PostId, f32> = HashMap::new();
    let mut best_support = 0.0f32;
    for (post, thread_rank, thread_title, accepted) in candidates {
        let text = passage_text(&post, options.passage_chars);
        if text.trim().is_empty() {
            continue;
        }
        let matched_text = match &post.title {
            Some(title) => format!("{title}\n{text}"),
            None => text.clone(),
        };
        let lexical = support::containment(&question_terms, &support::content_terms(&matched_text));
        let dense = match (&question_vector, vectors.get(&post.id)) {
            (Some(question), Some(vector)) => Some(support::cosine(question, vector)),
            _ => None,
        };
        let support = Support::of(lexical, dense);
        best_support = best_support.max(support.support);
        let thread_id = post.parent_id.filter(|_| post.kind == PostKind::Answer);
        let thread_id = thread_id.unwrap_or(post.id);
        if post.kind != PostKind::Answer {
            root_support.insert(post.id, support.support);
        }
        let passage = Passage {
            n: 0,
            post_id: post.id,
            thread_id,
            thread_title,
            kind: post.kind,
            accepted,
            score: post.score,
            owner_id: post.owner_id,
            support,
            thread_rank,
            snippet: cut(&text, SNIPPET_CHARS),
            text,
        };
        scored.push((0.0, passage));
    }
    for (rank_score, passage) in &mut scored {
        let thread = root_support
            .get(&passage.thread_id)
            .copied()
            .unwrap_or(passage.support.support);
        *rank_score = rank_score_of(passage, thread);
    }
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.post_id.cmp(&b.1.post_id)));
    let passages = scored
        .into_iter()
        .take(options.passages.max(1))
        .enumerate()
        .map(|(index, (_, passage))| Passage {
            n: index + 1,
            ..passage
        })
        .collect();
    Ok(Retrieved {
        passages,
        hits: results.hits,
        answers,
        best_support,
        search_mode: results.mode,
        notice: results.notice,
        embedder: dense,
        question_vector,
    })
}

/// The order passages are kept in: mostly their own support, partly their
/// thread's (an answer rarely repeats the question's words), the thread's
/// fused rank, and the community's verdict: an accepted answer and a
/// well-voted one move up.
fn rank_score_of(passage: &Passage, thread_support: f32) -> f32 {
    let own = passage.support.support;
    let mut score = 0.7 * own + 0.3 * thread_support + 0.1 / passage.thread_rank as f32;
    if passage.accepted {
        score += 0.1;
    }
    if passage.kind == PostKind::Answer {
        score += (0.03 * (1.0 + passage.score.max(0) as f32).ln()).min(0.1);
        if passage.score < 0 {
            score -= 0.1;
        }
    }
    score
}

/// Embeddings of `texts` in one batch, on a blocking thread.
pub(crate) async fn embed_many(
    embedder: &Arc<Embedder>,
    texts: Vec<String>,
    purpose: Purpose,
) -> Result<Vec<Vec<f32>>> {
    if texts.is_empty() {
        return Ok(Vec::new());
    }
    let embedder = embedder.clone();
    let vectors = tokio::task::spawn_blocking(move || {
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        embedder.embed(&refs, purpose)
    })
    .await
    .map_err(Error::worker_thread)??;
    Ok(vectors)
}

/// A post's text for a prompt: its prose cut to `budget` characters (at a
/// sentence end when one is near), then its code blocks in fences while the
/// budget lasts.
pub(crate) fn passage_text(post: &Post, budget: usize) -> String {
    let prose = post.body_text.trim();
    let mut text = if prose.chars().count() > budget {
        let cut_text = cut_at_sentence(prose, budget);
        format!("{cut_text} …")
    } else {
        prose.to_string()
    };
    for code in &post.code_blocks {
        let used = text.chars().count();
        let code = code.trim();
        if code.is_empty() || used + 10 >= budget {
            break;
        }
        let room = (budget - used - 10).min(CODE_CHARS);
        let code = if code.chars().count() > room {
            cut(code, room)
        } else {
            code.to_string()
        };
        if !text.is_empty() {
            text.push('\n');
        }
        text.push_str("```\n");
        text.push_str(&code);
        text.push_str("\n```");
    }
    text
}

/// The first `chars` characters of `text`.
pub(crate) fn cut(text: &str, chars: usize) -> String {
    match text.char_indices().nth(chars) {
        Some((at, _)) => text[..at].to_string(),
        None => text.to_string(),
    }
}

/// The first `chars` characters, ended at the last sentence stop in the
/// second half when there is one.
fn cut_at_sentence(text: &str, chars: usize) -> String {
    let head = cut(text, chars);
    let half = head.len() / 2;
    let stop = head
        .char_indices()
        .rev()
        .find(|(at, c)| *at >= half && matches!(c, '.' | '!' | '?' | '。' | '！' | '？'))
        .map(|(at, c)| at + c.len_utf8());
    match stop {
        Some(end) => head[..end].to_string(),
        None => head,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passage_text_keeps_prose_then_code_within_the_budget() {
        let mut post = steward_testkit::fixtures::question(1, &["git"], 0);
        post.body_text = "First sentence here. Second one is longer than the rest of it.".into();
        post.code_blocks = vec!["git reset --soft HEAD~1".into()];
        let text = passage_text(&post, 200);
        assert!(text.starts_with("First sentence here."), "{text}");
        assert!(
            text.ends_with("```\ngit reset --soft HEAD~1\n```"),
            "{text}"
        );
        let short = passage_text(&post, 30);
        assert_eq!(short, "First sentence here. …");
    }
}
