//! How well a text supports another: lexical containment (the share of one
//! text's content terms found in the other, through steward-text's tokenizer,
//! so English, Chinese and code identifiers all count) and the cosine of
//! their embeddings, combined into one figure between 0 and 1.
//!
//! Attribution uses it to keep a generated sentence only when some passage
//! supports it, and to say which passages those are.

use std::collections::HashSet;
use std::sync::LazyLock;

use serde::Serialize;
use steward_text::tokenize::{Tokenizer, TokenizerConfig};

use super::sentences::{self, Sentence};

/// The dense cosine's share of a combined support; the lexical share gets the
/// rest. Without vectors the support is the lexical share alone.
pub const DENSE_SHARE: f32 = 0.5;

static TOKENIZER: LazyLock<Tokenizer> =
    LazyLock::new(|| Tokenizer::new(TokenizerConfig { stopwords: true }));

/// Words of a question's form that carry no topic, beyond the tokenizer's
/// stopwords: "how do I ..." would otherwise match every how-to.
const QUESTION_WORDS: &[&str] = &[
    "how", "what", "why", "when", "where", "which", "who", "can", "could", "should", "would", "do",
    "does", "did", "is", "are", "there", "any", "way", "i", "my", "me", "you", "it", "get", "want",
    "need", "possible",
];

/// The distinct content terms of `text`: tokenizer terms without stopwords,
/// question words and single characters (ASCII), a plural `s` dropped.
pub fn content_terms(text: &str) -> HashSet<String> {
    TOKENIZER
        .terms(text)
        .into_iter()
        .filter(|term| !QUESTION_WORDS.contains(&term.as_str()))
        .filter(|term| !(term.len() == 1 && term.is_ascii()))
        .map(|term| fold_plural(&term))
        .collect()
}

/// `commits` → `commit`; `class`, `is`, `bus` unchanged.
fn fold_plural(term: &str) -> String {
    if term.len() > 4
        && term.bytes().all(|b| b.is_ascii_lowercase())
        && term.ends_with('s')
        && !term.ends_with("ss")
        && !term.ends_with("us")
    {
        term[..term.len() - 1].to_string()
    } else {
        term.to_string()
    }
}

/// The share of `terms` found in `within`; 0 when `terms` is empty.
pub fn containment(terms: &HashSet<String>, within: &HashSet<String>) -> f32 {
    if terms.is_empty() {
        return 0.0;
    }
    terms.iter().filter(|term| within.contains(*term)).count() as f32 / terms.len() as f32
}

/// Cosine similarity; 0 for a zero or mismatched vector.
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    if a.len() != b.len() || a.is_empty() {
        return 0.0;
    }
    let (mut dot, mut norm_a, mut norm_b) = (0.0f32, 0.0f32, 0.0f32);
    for (x, y) in a.iter().zip(b) {
        dot += x * y;
        norm_a += x * x;
        norm_b += y * y;
    }
    if norm_a <= 0.0 || norm_b <= 0.0 {
        return 0.0;
    }
    dot / (norm_a.sqrt() * norm_b.sqrt())
}

/// One support figure from its two parts (a negative cosine counts as 0).
pub fn combine(lexical: f32, dense: Option<f32>) -> f32 {
    match dense {
        Some(similarity) => DENSE_SHARE * similarity.max(0.0) + (1.0 - DENSE_SHARE) * lexical,
        None => lexical,
    }
}

/// A support figure with its parts, as responses show it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Support {
    pub support: f32,
    pub lexical: f32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dense: Option<f32>,
}

impl Support {
    pub fn of(lexical: f32, dense: Option<f32>) -> Support {
        Support {
            support: combine(lexical, dense),
            lexical,
            dense,
        }
    }
}

/// A passage as attribution sees it: its terms and the vectors of its
/// sentence chunks (empty without an embedder).
#[derive(Debug, Clone, Default)]
pub struct PassageEvidence {
    pub terms: HashSet<String>,
    pub chunks: Vec<String>,
    pub chunk_vectors: Vec<Vec<f32>>,
}

/// Most sentence chunks of one passage compared with a generated sentence.
pub const MAX_CHUNKS: usize = 16;

impl PassageEvidence {
    /// `text`'s terms and sentence chunks (vectors are added by the caller,
    /// who embeds every chunk of every passage in one batch).
    pub fn new(text: &str) -> PassageEvidence {
        PassageEvidence {
            terms: content_terms(text),
            chunks: sentences::split(text)
                .into_iter()
                .map(|sentence| sentence.text)
                .take(MAX_CHUNKS)
                .collect(),
            chunk_vectors: Vec::new(),
        }
    }

    /// How well this passage supports a sentence with `terms` and `vector`:
    /// containment of the sentence's terms, and the best cosine with one of
    /// the passage's chunks.
    pub fn supports(&self, terms: &HashSet<String>, vector: Option<&[f32]>) -> Support {
        let lexical = containment(terms, &self.terms);
        let dense = vector
            .filter(|_| !self.chunk_vectors.is_empty())
            .map(|vector| {
                self.chunk_vectors
                    .iter()
                    .map(|chunk| cosine(vector, chunk))
                    .fold(0.0f32, f32::max)
            });
        Support::of(lexical, dense)
    }
}

/// What attribution decided for one generated sentence.
#[derive(Debug, Clone, PartialEq)]
pub struct Attributed {
    /// The sentence without the model's markers.
    pub text: String,
    /// Kept: some passage supports it at the threshold.
    pub kept: bool,
    /// Passage numbers (1-based) it is cited to; empty when dropped.
    pub citations: Vec<usize>,
    /// The best support any passage gives it.
    pub support: f32,
    /// The model's own markers, as it wrote them.
    pub model_markers: Vec<usize>,
    /// Characters of content (what the kept share is measured in).
    pub weight: usize,
}

/// Attributes each of `sentences` to `passages` (1-based numbers are their
/// positions): a sentence is kept when some passage supports it at
/// `threshold`; its citations are the model's own markers that such a
/// passage confirms, else the best supporting passage (and a second one
/// nearly as good). `vectors` holds one vector per sentence, or is empty.
pub fn attribute(
    sentences: &[Sentence],
    vectors: &[Vec<f32>],
    passages: &[PassageEvidence],
    threshold: f32,
) -> Vec<Attributed> {
    sentences
        .iter()
        .enumerate()
        .map(|(index, sentence)| {
            let (text, model_markers) = sentences::strip_markers(&sentence.text);
            let terms = content_terms(&text);
            let weight = if terms.is_empty() {
                0
            } else {
                text.chars().count()
            };
            let vector = vectors.get(index).map(Vec::as_slice);
            let supports: Vec<f32> = passages
                .iter()
                .map(|passage| {
                    if terms.is_empty() {
                        0.0
                    } else {
                        passage.supports(&terms, vector).support
                    }
                })
                .collect();
            let best = supports.iter().copied().fold(0.0f32, f32::max);
            // A question is no answer: a model that restates the question (or
            // asks one back) would otherwise be "supported" by the question post.
            let asks = text.ends_with('?') || text.ends_with('？');
            let kept = !terms.is_empty() && !asks && best >= threshold;
            let mut citations: Vec<usize> = model_markers
                .iter()
                .copied()
                .filter(|n| {
                    supports
                        .get(n.wrapping_sub(1))
                        .is_some_and(|support| *support >= threshold)
                })
                .collect();
            if kept && citations.is_empty() {
                let mut ranked: Vec<(usize, f32)> = supports
                    .iter()
                    .enumerate()
                    .map(|(position, support)| (position + 1, *support))
                    .filter(|(_, support)| *support >= threshold)
                    .collect();
                ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
                citations = ranked
                    .iter()
                    .take(2)
                    .filter(|(_, support)| *support >= best - NEARLY_AS_GOOD)
                    .map(|(n, _)| *n)
                    .collect();
                citations.sort_unstable();
            }
            if !kept {
                citations.clear();
            }
            Attributed {
                text,
                kept,
                citations,
                support: best,
                model_markers,
                weight,
            }
        })
        .collect()
}

/// A second passage is cited too when it supports a sentence within this of
/// the best one.
const NEARLY_AS_GOOD: f32 = 0.05;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::answer::sentences::split;

    fn passages() -> Vec<PassageEvidence> {
        vec![
            PassageEvidence::new(
                "Use git reset --soft HEAD~1 to undo the last commit and keep its changes staged.",
            ),
            PassageEvidence::new("Docker volumes keep a container's data across restarts."),
        ]
    }

    #[test]
    fn content_terms_drop_question_words_and_fold_plurals() {
        let terms = content_terms("How do I undo my last git commits?");
        let mut sorted: Vec<&str> = terms.iter().map(String::as_str).collect();
        sorted.sort_unstable();
        assert_eq!(sorted, ["commit", "git", "last", "undo"]);
    }

    #[test]
    fn a_copied_sentence_is_kept_and_cited_to_its_passage() {
        let generated = split(
            "Use git reset --soft HEAD~1 to undo the last commit and keep its changes staged.",
        );
        let found = attribute(&generated, &[], &passages(), 0.45);
        assert!(found[0].kept, "{found:?}");
        assert_eq!(found[0].citations, [1]);
    }

    #[test]
    fn an_invented_sentence_nothing_supports_is_dropped() {
        let generated = split("Then create a new branch called hotfix and open a pull request.");
        let found = attribute(&generated, &[], &passages(), 0.45);
        assert!(!found[0].kept, "{found:?}");
        assert!(found[0].citations.is_empty());
    }

    #[test]
    fn a_question_is_not_an_answer_even_when_a_passage_holds_it() {
        let generated = split("How do I undo the last commit with git reset [1]?");
        let found = attribute(&generated, &[], &passages(), 0.45);
        assert!(!found[0].kept, "{found:?}");
        assert!(found[0].weight > 0, "it counts against the kept share");
    }

    #[test]
    fn a_model_marker_is_kept_only_when_its_passage_supports_the_sentence() {
        // The model cites [2] (docker) for a git sentence: repaired to [1].
        let generated = split("Undo the last commit with git reset --soft HEAD~1 [2].");
        let found = attribute(&generated, &[], &passages(), 0.45);
        assert_eq!(found[0].model_markers, [2]);
        assert_eq!(found[0].citations, [1]);
        // A marker past the passages is dropped the same way.
        let generated = split("Docker volumes keep data across restarts [7].");
        let found = attribute(&generated, &[], &passages(), 0.45);
        assert_eq!(found[0].citations, [2]);
    }
}
