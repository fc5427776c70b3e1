//! Entity-level scoring as `conlleval` does it: a predicted entity counts only when its span and
//! its type both match a gold entity exactly. Figures are percentages (0–100), like the paper's.

use std::collections::BTreeMap;

use serde::ser::{Serialize, SerializeMap, Serializer};

use super::{Sentence, Tagger, tag_spans};

/// Precision, recall and F1 in percent (0–100), and the number of gold entities.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Prf {
    /// Correct predicted entities over all predicted ones, in percent.
    pub precision: f64,
    /// Correct predicted entities over gold ones, in percent.
    pub recall: f64,
    /// Harmonic mean of precision and recall, in percent.
    pub f1: f64,
    /// Gold entities.
    pub support: usize,
}

impl Prf {
    /// The figures from counts; a ratio with nothing below the line is 0, as in `conlleval`.
    pub fn from_counts(correct: usize, gold: usize, predicted: usize) -> Prf {
        let percent = |part: usize, whole: usize| {
            if whole == 0 {
                0.0
            } else {
                100.0 * part as f64 / whole as f64
            }
        };
        let precision = percent(correct, predicted);
        let recall = percent(correct, gold);
        let f1 = if precision + recall == 0.0 {
            0.0
        } else {
            2.0 * precision * recall / (precision + recall)
        };
        Prf {
            precision,
            recall,
            f1,
            support: gold,
        }
    }
}

/// Two decimals, as the paper reports.
fn round2(value: f64) -> f64 {
    (value * 100.0).round() / 100.0
}

impl Serialize for Prf {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(4))?;
        map.serialize_entry("precision", &round2(self.precision))?;
        map.serialize_entry("recall", &round2(self.recall))?;
        map.serialize_entry("f1", &round2(self.f1))?;
        map.serialize_entry("support", &self.support)?;
        map.end()
    }
}

/// Entity-level figures on a gold set: micro-averaged over all entities, and per type.
///
/// Serialises as `{"micro_f1", "micro_precision", "micro_recall", "per_type": {type: {precision,
/// recall, f1, support}}, "sentences", "tokens"}`, percentages with two decimals.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct NerReport {
    /// Over all entities of all types.
    pub micro: Prf,
    /// Per entity type, for every type in the gold set or the predictions.
    pub per_type: BTreeMap<String, Prf>,
    /// Gold sentences scored.
    pub sentences: usize,
    /// Gold tokens scored.
    pub tokens: usize,
}

impl Serialize for NerReport {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(6))?;
        map.serialize_entry("micro_f1", &round2(self.micro.f1))?;
        map.serialize_entry("micro_precision", &round2(self.micro.precision))?;
        map.serialize_entry("micro_recall", &round2(self.micro.recall))?;
        map.serialize_entry("per_type", &self.per_type)?;
        map.serialize_entry("sentences", &self.sentences)?;
        map.serialize_entry("tokens", &self.tokens)?;
        map.end()
    }
}

/// Tags every gold sentence with `tagger` and scores the result.
pub fn evaluate(tagger: &Tagger, gold: &[Sentence]) -> NerReport {
    let predicted: Vec<Vec<String>> = gold
        .iter()
        .map(|sentence| tagger.tag(&sentence.tokens))
        .collect();
    score(gold, &predicted)
}

/// Scores `predicted[i]`, one tag sequence per gold sentence, against `gold[i]`.
///
/// # Panics
/// When `predicted` and `gold` differ in sentence count or a sentence's length: that is a
/// caller's bug, not data.
pub fn score(gold: &[Sentence], predicted: &[Vec<String>]) -> NerReport {
    assert_eq!(
        gold.len(),
        predicted.len(),
        "one predicted tag sequence per gold sentence"
    );
    // Per type: (correct, gold, predicted).
    let mut counts: BTreeMap<String, (usize, usize, usize)> = BTreeMap::new();
    let mut tokens = 0;
    for (sentence, tags) in gold.iter().zip(predicted) {
        assert_eq!(
            sentence.tags.len(),
            tags.len(),
            "one predicted tag per gold token"
        );
        tokens += tags.len();
        let gold_spans = tag_spans(&sentence.tags);
        let predicted_spans = tag_spans(tags);
        for span in &gold_spans {
            counts.entry(span.2.clone()).or_default().1 += 1;
        }
        for span in &predicted_spans {
            let entry = counts.entry(span.2.clone()).or_default();
            entry.2 += 1;
            if gold_spans.contains(span) {
                entry.0 += 1;
            }
        }
    }
    let (correct, gold_total, predicted_total) = counts.values().fold((0, 0, 0), |sum, count| {
        (sum.0 + count.0, sum.1 + count.1, sum.2 + count.2)
    });
    NerReport {
        micro: Prf::from_counts(correct, gold_total, predicted_total),
        per_type: counts
            .into_iter()
            .map(|(kind, (correct, gold, predicted))| {
                (kind, Prf::from_counts(correct, gold, predicted))
            })
            .collect(),
        sentences: gold.len(),
        tokens,
    }
}
