//! The extractive answer: the sentences of the top passages that best
//! overlap the question (terms and embedding), in the question's language,
//! each cited to its passage. What `ask` shows without a model, and when the
//! model's draft does not hold up.

use super::AnswerSentence;
use super::passages::Passage;
use super::support::{self, PassageEvidence, Support};
use steward_domain::PostKind;

/// Sentences an extractive answer holds at most.
const MAX_SENTENCES: usize = 3;
/// Characters it holds at most (a sentence that would pass it is left out,
/// unless it is the first).
const MAX_CHARS: usize = 700;
/// A sentence is a candidate when it supports the question at least this well.
const MIN_SENTENCE_SUPPORT: f32 = 0.2;

/// The extractive answer's sentences, in passage then reading order; empty
/// when no passage sentence in the question's language overlaps it.
pub(crate) fn extract(
    question: &str,
    language: &str,
    passages: &[Passage],
    evidence: &[PassageEvidence],
    question_vector: Option<&[f32]>,
) -> Vec<AnswerSentence> {
    let question_terms = support::content_terms(question);
    // Answers answer; the question post only restates the question.
    let any_answer = passages
        .iter()
        .any(|passage| passage.kind == PostKind::Answer);
    // (score, passage index, chunk index, support)
    let mut candidates: Vec<(f32, usize, usize, f32)> = Vec::new();
    for (index, (passage, evidence)) in passages.iter().zip(evidence.iter()).enumerate() {
        if any_answer && passage.kind != PostKind::Answer {
            continue;
        }
        // Earlier passages rank higher: they are the better answers.
        let prior = (1.0 - 0.1 * index as f32).max(0.5);
        for (chunk_index, chunk) in evidence.chunks.iter().enumerate() {
            if chunk.starts_with("```") || !super::language_follows(language, chunk) {
                continue;
            }
            let terms = support::content_terms(chunk);
            if terms.is_empty() {
                continue;
            }
            let lexical = support::containment(&question_terms, &terms);
            let dense = match (question_vector, evidence.chunk_vectors.get(chunk_index)) {
                (Some(question), Some(vector)) => Some(support::cosine(question, vector)),
                _ => None,
            };
            let support = Support::of(lexical, dense).support;
            if support >= MIN_SENTENCE_SUPPORT && (lexical > 0.0 || dense.is_some()) {
                candidates.push((support * prior, index, chunk_index, support));
            }
        }
    }
    candidates.sort_by(|a, b| b.0.total_cmp(&a.0).then((a.1, a.2).cmp(&(b.1, b.2))));
    let mut chosen: Vec<(usize, usize, f32)> = Vec::new();
    let mut chars = 0;
    for (_, index, chunk_index, support) in candidates {
        if chosen.len() == MAX_SENTENCES {
            break;
        }
        let length = evidence[index].chunks[chunk_index].chars().count();
        if !chosen.is_empty() && chars + length > MAX_CHARS {
            continue;
        }
        chars += length;
        chosen.push((index, chunk_index, support));
    }
    chosen.sort_by_key(|(index, chunk_index, _)| (*index, *chunk_index));
    chosen
        .into_iter()
        .map(|(index, chunk_index, support)| {
            let (text, _) = super::sentences::strip_markers(&evidence[index].chunks[chunk_index]);
            AnswerSentence {
                text: text.trim_end_matches('…').trim().to_string(),
                citations: vec![passages[index].n],
                support,
            }
        })
        .collect()
}
