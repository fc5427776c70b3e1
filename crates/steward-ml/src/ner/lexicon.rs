//! A lexicon of the entity strings seen in training (`jquery` → `Library`), with how often each
//! string is an entity where it occurs at all: `table` is a `Data_Structure` now and then but
//! mostly plain English, `jQuery` nearly always a `Library`, and the model should learn the
//! difference from that ratio rather than from the string.

use std::collections::HashMap;

use super::{Sentence, tag_spans};

/// Entity strings up to this many tokens are kept; longer ones are rare and rarely repeat.
pub(super) const MAX_PHRASE_TOKENS: usize = 4;

/// What the lexicon knows about one lower-cased phrase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct LexEntry {
    /// Index of its most frequent type in the tagger's type list.
    pub kind: u16,
    /// The share of its occurrences that were entities, bucketed: 0 (< 10 %) to 3 (≥ 60 %).
    pub bucket: u8,
}

/// A token's place in a lexicon match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct LexHit {
    /// The token begins the matched phrase.
    pub begins: bool,
    /// The phrase's entry.
    pub entry: LexEntry,
}

/// Lower-cased entity phrases (tokens joined by single spaces) and their entries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Lexicon {
    entries: HashMap<String, LexEntry>,
}

impl Lexicon {
    /// The lexicon of `sentences`' gold spans; `types` maps a type name to its index.
    pub fn build<'a>(
        sentences: impl Iterator<Item = &'a Sentence> + Clone,
        types: &[String],
    ) -> Lexicon {
        let mut entity_counts: HashMap<String, Vec<u32>> = HashMap::new();
        for sentence in sentences.clone() {
            for (start, end, kind) in tag_spans(&sentence.tags) {
                if end - start > MAX_PHRASE_TOKENS {
                    continue;
                }
                let Some(kind_index) = types.iter().position(|known| *known == kind) else {
                    continue;
                };
                let counts = entity_counts
                    .entry(phrase(sentence, start, end))
                    .or_insert_with(|| vec![0; types.len()]);
                counts[kind_index] += 1;
            }
        }
        let mut occurrences: HashMap<&str, u32> = HashMap::new();
        let mut key = String::new();
        for sentence in sentences {
            let lowered: Vec<String> = sentence
                .tokens
                .iter()
                .map(|token| token.text.to_lowercase())
                .collect();
            for start in 0..lowered.len() {
                key.clear();
                for (offset, word) in lowered[start..].iter().take(MAX_PHRASE_TOKENS).enumerate() {
                    if offset > 0 {
                        key.push(' ');
                    }
                    key.push_str(word);
                    if let Some((known, _)) = entity_counts.get_key_value(key.as_str()) {
                        *occurrences.entry(known.as_str()).or_default() += 1;
                    }
                }
            }
        }
        let entries = entity_counts
            .iter()
            .map(|(key, counts)| {
                let (kind, _) = counts
                    .iter()
                    .enumerate()
                    .max_by_key(|&(index, count)| (*count, std::cmp::Reverse(index)))
                    .expect("a counted phrase has at least one type");
                let as_entity: u32 = counts.iter().sum();
                let seen = occurrences
                    .get(key.as_str())
                    .copied()
                    .unwrap_or(as_entity)
                    .max(as_entity);
                let share = f64::from(as_entity) / f64::from(seen);
                let bucket = match share {
                    share if share < 0.1 => 0,
                    share if share < 0.3 => 1,
                    share if share < 0.6 => 2,
                    _ => 3,
                };
                let kind = u16::try_from(kind).expect("fewer than 65536 entity types");
                (key.clone(), LexEntry { kind, bucket })
            })
            .collect();
        Lexicon { entries }
    }

    /// A lexicon from stored entries.
    pub fn from_entries(entries: HashMap<String, LexEntry>) -> Lexicon {
        Lexicon { entries }
    }

    /// The entries, for storage.
    pub fn entries(&self) -> &HashMap<String, LexEntry> {
        &self.entries
    }

    /// Each token's place in the longest lexicon phrase that covers it, matched left to right.
    pub fn hits(&self, lowered: &[String]) -> Vec<Option<LexHit>> {
        let mut hits = vec![None; lowered.len()];
        let mut start = 0;
        let mut key = String::new();
        while start < lowered.len() {
            let longest = MAX_PHRASE_TOKENS.min(lowered.len() - start);
            let mut matched = 0;
            for end in (start + 1..=start + longest).rev() {
                key.clear();
                for (offset, word) in lowered[start..end].iter().enumerate() {
                    if offset > 0 {
                        key.push(' ');
                    }
                    key.push_str(word);
                }
                if let Some(entry) = self.entries.get(&key) {
                    for (offset, hit) in hits[start..end].iter_mut().enumerate() {
                        *hit = Some(LexHit {
                            begins: offset == 0,
                            entry: *entry,
                        });
                    }
                    matched = end - start;
                    break;
                }
            }
            start += matched.max(1);
        }
        hits
    }
}

/// Tokens `start..end` of `sentence`, lower-cased and joined by spaces.
fn phrase(sentence: &Sentence, start: usize, end: usize) -> String {
    sentence.tokens[start..end]
        .iter()
        .map(|token| token.text.to_lowercase())
        .collect::<Vec<_>>()
        .join(" ")
}
