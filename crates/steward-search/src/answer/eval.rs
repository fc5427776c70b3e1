//! Answer quality on a community's own verdicts: a seeded sample of
//! questions with an accepted answer, each asked by its title alone. Is the
//! accepted answer among the first three passages cited? Does every citation
//! resolve (it must, by construction; checked here independently)? How often
//! is the answer refused, and how long does it take?

use std::collections::{BTreeMap, HashSet};
use std::time::Instant;

use serde::Serialize;
use steward_domain::{PostId, PostKind};
use steward_ml::llm::CancellationToken;
use steward_store::Store;

use super::{AnswerMode, Answerer, AskRequest, Asker, check_citations};
use crate::Result;

/// One sampled question.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QaQuestion {
    pub post_id: PostId,
    pub title: String,
    pub accepted_answer_id: PostId,
}

/// The `qa` section of `steward eval search`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QaReport {
    /// Share of questions whose accepted answer is among the first three
    /// cited passages (by passage number).
    pub accepted_in_top3: f64,
    /// Share of citations (answer markers and listed citations) that name a
    /// retrieved passage whose post exists; 1.0 when there were none.
    pub citation_validity: f64,
    pub refusal_rate: f64,
    pub p50_latency_s: f64,
    pub p90_latency_s: f64,
    pub questions: usize,
    /// Citations checked for `citation_validity`.
    pub citations: usize,
    /// Answers by mode: `generated`, `extractive`, `refused`.
    pub modes: BTreeMap<&'static str, usize>,
    /// The LLM that drafted, `null` for extractive-only runs.
    pub model: Option<String>,
    pub seed: u64,
    pub seconds: f64,
}

/// Up to `count` questions with an accepted answer that is in the store and
/// a title, picked by `seed` (the same seed and store give the same sample).
pub async fn sample_questions(store: &Store, count: usize, seed: u64) -> Result<Vec<QaQuestion>> {
    let mut found = Vec::new();
    let mut after = None;
    loop {
        let page = store.posts_after(after, 2_000).await?;
        let Some(last) = page.last() else { break };
        after = Some(last.id);
        for post in page {
            if post.kind != PostKind::Question {
                continue;
            }
            let (Some(title), Some(accepted)) = (post.title.as_deref(), post.accepted_answer_id)
            else {
                continue;
            };
            if title.trim().is_empty() {
                continue;
            }
            found.push(QaQuestion {
                post_id: post.id,
                title: title.trim().to_string(),
                accepted_answer_id: accepted,
            });
        }
    }
    let accepted: Vec<PostId> = found.iter().map(|q| q.accepted_answer_id).collect();
    let mut present = HashSet::new();
    for chunk in accepted.chunks(1_000) {
        present.extend(store.existing_posts(chunk).await?);
    }
    found.retain(|question| present.contains(&question.accepted_answer_id));
    found.sort_by_key(|question| (mix(seed ^ question.post_id.0 as u64), question.post_id));
    found.truncate(count);
    Ok(found)
}

/// splitmix64: a well-spread order from a seed, without an RNG dependency.
fn mix(mut value: u64) -> u64 {
    value = value.wrapping_add(0x9E37_79B9_7F4A_7C15);
    value = (value ^ (value >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    value = (value ^ (value >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    value ^ (value >> 31)
}

/// Asks each of `questions` (by title) through `answerer`, with the model
/// when `use_llm`, and scores the answers.
pub async fn evaluate(
    answerer: &Answerer,
    questions: &[QaQuestion],
    use_llm: bool,
    seed: u64,
) -> Result<QaReport> {
    let started = Instant::now();
    let asker = Asker {
        role: "admin".to_string(),
        key_id: None,
    };
    let store = answerer.searcher().store();
    let mut latencies = Vec::with_capacity(questions.len());
    let mut accepted_in_top3 = 0usize;
    let mut refused = 0usize;
    let (mut resolved, mut citations) = (0usize, 0usize);
    let mut modes: BTreeMap<&'static str, usize> = [
        AnswerMode::Generated,
        AnswerMode::Extractive,
        AnswerMode::Refused,
    ]
    .into_iter()
    .map(|mode| (mode.as_str(), 0))
    .collect();
    let mut model = None;
    for question in questions {
        let request = AskRequest {
            question: question.title.clone(),
            tags: Vec::new(),
            use_llm,
        };
        let asked = Instant::now();
        let response = answerer
            .ask(&request, &asker, None, &CancellationToken::new())
            .await?;
        latencies.push(asked.elapsed().as_secs_f64());
        *modes.entry(response.mode.as_str()).or_default() += 1;
        if response.refused {
            refused += 1;
        }
        if response.model.is_some() {
            model = response.model.clone();
        }
        let mut first_cited: Vec<PostId> = Vec::new();
        for citation in &response.citations {
            if !first_cited.contains(&citation.post_id) {
                first_cited.push(citation.post_id);
            }
        }
        if first_cited
            .iter()
            .take(3)
            .any(|id| *id == question.accepted_answer_id)
        {
            accepted_in_top3 += 1;
        }
        // Independently of how the answer was built: does each cited post
        // exist in the store?
        let named: Vec<PostId> = response
            .passages
            .iter()
            .map(|passage| passage.post_id)
            .collect();
        let exists = store.existing_posts(&named).await?;
        let (ok, total) = check_citations(&response, &exists);
        resolved += ok;
        citations += total;
    }
    latencies.sort_by(f64::total_cmp);
    let share = |count: usize| {
        if questions.is_empty() {
            0.0
        } else {
            count as f64 / questions.len() as f64
        }
    };
    Ok(QaReport {
        accepted_in_top3: share(accepted_in_top3),
        citation_validity: if citations == 0 {
            1.0
        } else {
            resolved as f64 / citations as f64
        },
        refusal_rate: share(refused),
        p50_latency_s: crate::eval::percentile(&latencies, 0.5),
        p90_latency_s: crate::eval::percentile(&latencies, 0.9),
        questions: questions.len(),
        citations,
        modes,
        model,
        seed,
        seconds: started.elapsed().as_secs_f64(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sample_order_depends_on_the_seed_only() {
        let order = |seed: u64| {
            let mut ids: Vec<i64> = (1..=20).collect();
            ids.sort_by_key(|id| mix(seed ^ *id as u64));
            ids
        };
        assert_eq!(order(7), order(7));
        assert_ne!(order(7), order(8));
    }
}
