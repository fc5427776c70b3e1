//! The tagger: a first-order linear chain over the hashed features, trained as an averaged
//! structured perceptron (Collins 2002) and decoded by Viterbi restricted to valid BIO.
//!
//! A perceptron rather than a CRF: it needs no gradient of the partition function, trains the
//! 164k-token corpus in seconds on one core, and averaging gives it most of a CRF's accuracy on
//! sparse features. Confidence comes from forward-backward over the same scores.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use super::features::sentence_features;
use super::lexicon::{LexEntry, Lexicon};
use super::{EntitySpan, NerError, NerToken, Result, Sentence, split_tag, tag_spans};

/// How to train a [`Tagger`].
#[derive(Debug, Clone, PartialEq)]
pub struct NerTrainOptions {
    /// Passes over the training sentences. The default was picked on a held-out tenth of the
    /// train split (never on dev): F1 there levels off after it.
    pub epochs: usize,
    /// Seeds the order the sentences are visited in; same data + same seed = same tagger.
    pub seed: u64,
    /// Features seen fewer times than this in training are dropped (1 keeps all).
    pub min_feature_count: u32,
    /// The training lexicon feature for a sentence comes from the other folds of this many, so
    /// the model learns how far a lexicon match can be trusted on unseen text; 0 or 1 builds it
    /// from all sentences (and the model then trusts it too much).
    pub lexicon_folds: usize,
    /// Scores are divided by this before the forward-backward pass that gives
    /// [`EntitySpan::confidence`]: an averaged perceptron's scores are not log-probabilities and,
    /// read as such, make nearly every span look 99 % sure. The default was fitted on the held-out
    /// fifth of train for the default options: there, spans at 0.5–0.6 confidence are right 59 %
    /// of the time, at 0.8–0.9 79 %, above 0.9 88 %. A much smaller training set or fewer epochs
    /// give smaller weights and want a smaller temperature.
    pub confidence_temperature: f32,
}

impl Default for NerTrainOptions {
    fn default() -> NerTrainOptions {
        NerTrainOptions {
            epochs: 10,
            seed: 2020,
            min_feature_count: 1,
            lexicon_folds: 5,
            confidence_temperature: 14.0,
        }
    }
}

/// The feature hashes are already uniform, so the map uses them as they are.
#[derive(Debug, Default, Clone, Copy)]
struct IdentityHasher(u64);

impl Hasher for IdentityHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*byte);
        }
    }
    fn write_u64(&mut self, value: u64) {
        self.0 = value;
    }
}

type FeatureIds = HashMap<u64, u32, BuildHasherDefault<IdentityHasher>>;

/// A trained tagger: an immutable value, cheap to share across threads.
#[derive(Clone)]
pub struct Tagger {
    /// Entity types, sorted; label 0 is `O`, `1 + 2k` is `B-types[k]`, `2 + 2k` is `I-types[k]`.
    types: Vec<String>,
    feature_ids: FeatureIds,
    /// `weights[feature * n_labels + label]`.
    weights: Vec<f32>,
    /// `transitions[previous * n_labels + label]`; `previous == n_labels` is the sentence start.
    transitions: Vec<f32>,
    lexicon: Lexicon,
    /// See [`NerTrainOptions::confidence_temperature`].
    temperature: f32,
}

impl std::fmt::Debug for Tagger {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Tagger")
            .field("types", &self.types)
            .field("features", &self.feature_ids.len())
            .field("lexicon_phrases", &self.lexicon.entries().len())
            .finish()
    }
}

/// Labels, and which follow which under BIO.
struct LabelSet {
    n_labels: usize,
}

impl LabelSet {
    fn new(n_types: usize) -> LabelSet {
        LabelSet {
            n_labels: 1 + 2 * n_types,
        }
    }

    /// `I-X` may only follow `B-X` or `I-X`; `previous == n_labels` is the sentence start.
    fn allowed(&self, previous: usize, label: usize) -> bool {
        if label == 0 || label % 2 == 1 {
            return true;
        }
        previous < self.n_labels && previous != 0 && previous.div_ceil(2) == label / 2
    }
}

/// A small seeded generator for the visiting order (SplitMix64): the order must be the same on
/// every platform and rand release, and this is all the randomness training needs.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut mixed = self.0;
        mixed = (mixed ^ (mixed >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        mixed = (mixed ^ (mixed >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        mixed ^ (mixed >> 31)
    }

    fn shuffle<T>(&mut self, items: &mut [T]) {
        for index in (1..items.len()).rev() {
            let bound = u64::try_from(index + 1).expect("usize fits u64");
            let other = usize::try_from(self.next() % bound).expect("below a usize bound");
            items.swap(index, other);
        }
    }
}

/// At most this many entity types (labels, `1 + 2 * types`, must fit a byte when stored).
const MAX_TYPES: usize = 127;

/// A training sentence's feature ids, flattened: token `i` has `ids[offsets[i]..offsets[i + 1]]`.
struct Encoded {
    ids: Vec<u32>,
    offsets: Vec<usize>,
    gold: Vec<usize>,
}

impl Tagger {
    /// Trains on `train`; `progress(epoch, epochs)` is called after each pass. Sentences whose
    /// tags are not valid BIO are read as `conlleval` reads them.
    pub fn train(
        train: &[Sentence],
        options: &NerTrainOptions,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Tagger {
        let mut type_counts: HashMap<String, usize> = HashMap::new();
        for (_, _, kind) in train.iter().flat_map(|sentence| tag_spans(&sentence.tags)) {
            *type_counts.entry(kind).or_default() += 1;
        }
        let mut types: Vec<(String, usize)> = type_counts.into_iter().collect();
        // Labels are stored as bytes: the most frequent MAX_TYPES types are kept, the rest read as O.
        types.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        types.truncate(MAX_TYPES);
        let mut types: Vec<String> = types.into_iter().map(|(kind, _)| kind).collect();
        types.sort();
        let labels = LabelSet::new(types.len());
        let n_labels = labels.n_labels;

        let folds = options.lexicon_folds.max(1);
        let fold_lexicons: Vec<Lexicon> = if folds == 1 {
            Vec::new()
        } else {
            (0..folds)
                .map(|fold| {
                    let others = train
                        .iter()
                        .enumerate()
                        .filter(move |(index, _)| index % folds != fold)
                        .map(|(_, sentence)| sentence);
                    Lexicon::build(others, &types)
                })
                .collect()
        };
        let lexicon = Lexicon::build(train.iter(), &types);

        // Hash every token's features once, count them, and give the frequent ones dense ids.
        let hashed: Vec<Vec<Vec<u64>>> = train
            .iter()
            .enumerate()
            .map(|(index, sentence)| {
                let sentence_lexicon = fold_lexicons.get(index % folds).unwrap_or(&lexicon);
                sentence_features(&sentence.tokens, sentence_lexicon)
            })
            .collect();
        let mut counts: HashMap<u64, u32, BuildHasherDefault<IdentityHasher>> = HashMap::default();
        for token_features in hashed.iter().flatten() {
            for feature in token_features {
                *counts.entry(*feature).or_default() += 1;
            }
        }
        let mut kept: Vec<u64> = counts
            .into_iter()
            .filter(|&(_, count)| count >= options.min_feature_count)
            .map(|(feature, _)| feature)
            .collect();
        kept.sort_unstable();
        let feature_ids: FeatureIds = kept
            .iter()
            .enumerate()
            .map(|(id, feature)| {
                (
                    *feature,
                    u32::try_from(id).expect("fewer than 2^32 features"),
                )
            })
            .collect();
        let encoded: Vec<Encoded> = hashed
            .iter()
            .zip(train)
            .map(|(token_features, sentence)| {
                let mut ids = Vec::new();
                let mut offsets = vec![0];
                for features in token_features {
                    ids.extend(
                        features
                            .iter()
                            .filter_map(|feature| feature_ids.get(feature)),
                    );
                    offsets.push(ids.len());
                }
                let gold = gold_labels(&sentence.tags, &types);
                Encoded { ids, offsets, gold }
            })
            .collect();
        drop(hashed);

        let mut tagger = Tagger {
            types,
            feature_ids,
            weights: vec![0.0; kept.len() * n_labels],
            transitions: vec![0.0; (n_labels + 1) * n_labels],
            lexicon,
            temperature: if options.confidence_temperature.is_finite()
                && options.confidence_temperature > 0.0
            {
                options.confidence_temperature
            } else {
                1.0
            },
        };
        // The averaged perceptron's bookkeeping (Daumé's trick): `*_sums` accumulate each update
        // times the step it happened at; the average is `weights - sums / steps`.
        let mut weight_sums = vec![0.0f32; tagger.weights.len()];
        let mut transition_sums = vec![0.0f32; tagger.transitions.len()];
        let mut order: Vec<usize> = (0..encoded.len()).collect();
        let mut rng = SplitMix64(options.seed);
        let mut step = 1.0f32;
        let mut scores = Vec::new();
        for epoch in 0..options.epochs {
            rng.shuffle(&mut order);
            for &sentence_index in &order {
                let sentence = &encoded[sentence_index];
                if sentence.gold.is_empty() {
                    continue;
                }
                tagger.emissions(&sentence.ids, &sentence.offsets, &mut scores);
                let predicted = tagger.viterbi(&scores, sentence.gold.len());
                if predicted != sentence.gold {
                    tagger.update(
                        sentence,
                        &predicted,
                        step,
                        &mut weight_sums,
                        &mut transition_sums,
                    );
                }
                step += 1.0;
            }
            progress(epoch + 1, options.epochs);
        }
        for (weight, sum) in tagger.weights.iter_mut().zip(&weight_sums) {
            *weight -= sum / step;
        }
        for (weight, sum) in tagger.transitions.iter_mut().zip(&transition_sums) {
            *weight -= sum / step;
        }
        tagger.drop_silent_features();
        tagger
    }

    /// Perceptron update towards `gold` and away from `predicted`, at the tokens and transitions
    /// where they differ.
    fn update(
        &mut self,
        sentence: &Encoded,
        predicted: &[usize],
        step: f32,
        weight_sums: &mut [f32],
        transition_sums: &mut [f32],
    ) {
        let n_labels = self.n_labels();
        for (index, (&gold, &guess)) in sentence.gold.iter().zip(predicted).enumerate() {
            if gold != guess {
                for &feature in &sentence.ids[sentence.offsets[index]..sentence.offsets[index + 1]]
                {
                    let row = feature as usize * n_labels;
                    self.weights[row + gold] += 1.0;
                    weight_sums[row + gold] += step;
                    self.weights[row + guess] -= 1.0;
                    weight_sums[row + guess] -= step;
                }
            }
            let gold_previous = if index == 0 {
                n_labels
            } else {
                sentence.gold[index - 1]
            };
            let guess_previous = if index == 0 {
                n_labels
            } else {
                predicted[index - 1]
            };
            if (gold_previous, gold) != (guess_previous, guess) {
                self.transitions[gold_previous * n_labels + gold] += 1.0;
                transition_sums[gold_previous * n_labels + gold] += step;
                self.transitions[guess_previous * n_labels + guess] -= 1.0;
                transition_sums[guess_previous * n_labels + guess] -= step;
            }
        }
    }

    /// Features whose averaged weights are all zero cost memory and nothing else.
    fn drop_silent_features(&mut self) {
        let n_labels = self.n_labels();
        let mut features: Vec<(u64, u32)> =
            self.feature_ids.iter().map(|(k, v)| (*k, *v)).collect();
        features.sort_unstable();
        let mut feature_ids = FeatureIds::default();
        let mut weights = Vec::new();
        for (feature, id) in features {
            let row = &self.weights[id as usize * n_labels..(id as usize + 1) * n_labels];
            if row.iter().any(|weight| *weight != 0.0) {
                let new_id = u32::try_from(feature_ids.len()).expect("fewer than 2^32 features");
                feature_ids.insert(feature, new_id);
                weights.extend_from_slice(row);
            }
        }
        self.feature_ids = feature_ids;
        self.weights = weights;
    }

    fn n_labels(&self) -> usize {
        1 + 2 * self.types.len()
    }

    /// The entity types this tagger knows, sorted.
    pub fn types(&self) -> Vec<String> {
        self.types.clone()
    }

    fn label_name(&self, label: usize) -> String {
        if label == 0 {
            "O".to_string()
        } else {
            let prefix = if label % 2 == 1 { "B" } else { "I" };
            format!("{prefix}-{}", self.types[(label - 1) / 2])
        }
    }

    /// Fills `scores[token * n_labels + label]` with the emission scores.
    fn emissions(&self, ids: &[u32], offsets: &[usize], scores: &mut Vec<f32>) {
        let n_labels = self.n_labels();
        let n_tokens = offsets.len() - 1;
        scores.clear();
        scores.resize(n_tokens * n_labels, 0.0);
        for token in 0..n_tokens {
            let out = &mut scores[token * n_labels..(token + 1) * n_labels];
            for &feature in &ids[offsets[token]..offsets[token + 1]] {
                let row =
                    &self.weights[feature as usize * n_labels..(feature as usize + 1) * n_labels];
                for (score, weight) in out.iter_mut().zip(row) {
                    *score += weight;
                }
            }
        }
    }

    /// The best valid BIO label sequence under `scores`.
    fn viterbi(&self, scores: &[f32], n_tokens: usize) -> Vec<usize> {
        let n_labels = self.n_labels();
        let labels = LabelSet::new(self.types.len());
        if n_tokens == 0 {
            return Vec::new();
        }
        // Which labels may precede each label: all but the `I-` ones may follow anything, so
        // listing them halves the work of the inner loop.
        let predecessors: Vec<Vec<usize>> = (0..n_labels)
            .map(|label| {
                (0..n_labels)
                    .filter(|&previous| labels.allowed(previous, label))
                    .collect()
            })
            .collect();
        let mut best = vec![f32::NEG_INFINITY; n_tokens * n_labels];
        let mut back = vec![0usize; n_tokens * n_labels];
        for label in 0..n_labels {
            if labels.allowed(n_labels, label) {
                best[label] = scores[label] + self.transitions[n_labels * n_labels + label];
            }
        }
        for token in 1..n_tokens {
            let (done, rest) = best.split_at_mut(token * n_labels);
            let previous_best = &done[(token - 1) * n_labels..];
            let current = &mut rest[..n_labels];
            for (label, previous_labels) in predecessors.iter().enumerate() {
                let mut top = f32::NEG_INFINITY;
                let mut top_previous = 0;
                for &previous in previous_labels {
                    let candidate =
                        previous_best[previous] + self.transitions[previous * n_labels + label];
                    if candidate > top {
                        top = candidate;
                        top_previous = previous;
                    }
                }
                current[label] = top + scores[token * n_labels + label];
                back[token * n_labels + label] = top_previous;
            }
        }
        let last = &best[(n_tokens - 1) * n_labels..];
        let mut label = (0..n_labels)
            .max_by(|&a, &b| last[a].total_cmp(&last[b]).then(b.cmp(&a)))
            .expect("at least one label");
        let mut path = vec![0; n_tokens];
        for token in (0..n_tokens).rev() {
            path[token] = label;
            label = back[token * n_labels + label];
        }
        path
    }

    /// Posterior probability of each token's label (forward-backward over the same scores divided
    /// by the temperature, read as log-potentials), `[token * n_labels + label]`.
    fn marginals(&self, scores: &[f32], n_tokens: usize) -> Vec<f32> {
        let n_labels = self.n_labels();
        let scores: Vec<f32> = scores
            .iter()
            .map(|score| score / self.temperature)
            .collect();
        let transitions: Vec<f32> = self
            .transitions
            .iter()
            .map(|weight| weight / self.temperature)
            .collect();
        let labels = LabelSet::new(self.types.len());
        let mut alpha = vec![f32::NEG_INFINITY; n_tokens * n_labels];
        let mut beta = vec![0.0f32; n_tokens * n_labels];
        for label in 0..n_labels {
            if labels.allowed(n_labels, label) {
                alpha[label] = scores[label] + transitions[n_labels * n_labels + label];
            }
        }
        for token in 1..n_tokens {
            for label in 0..n_labels {
                let total = log_sum_exp((0..n_labels).filter(|&p| labels.allowed(p, label)).map(
                    |p| alpha[(token - 1) * n_labels + p] + transitions[p * n_labels + label],
                ));
                alpha[token * n_labels + label] = total + scores[token * n_labels + label];
            }
        }
        for token in (0..n_tokens.saturating_sub(1)).rev() {
            for label in 0..n_labels {
                beta[token * n_labels + label] = log_sum_exp(
                    (0..n_labels)
                        .filter(|&next| labels.allowed(label, next))
                        .map(|next| {
                            transitions[label * n_labels + next]
                                + scores[(token + 1) * n_labels + next]
                                + beta[(token + 1) * n_labels + next]
                        }),
                );
            }
        }
        let log_partition = log_sum_exp(alpha[(n_tokens - 1) * n_labels..].iter().copied());
        alpha
            .iter()
            .zip(&beta)
            .map(|(a, b)| (a + b - log_partition).exp().clamp(0.0, 1.0))
            .collect()
    }

    /// Emission scores for raw tokens.
    fn score_tokens(&self, tokens: &[NerToken]) -> Vec<f32> {
        let hashed = sentence_features(tokens, &self.lexicon);
        let mut ids = Vec::new();
        let mut offsets = vec![0];
        for features in &hashed {
            ids.extend(
                features
                    .iter()
                    .filter_map(|feature| self.feature_ids.get(feature)),
            );
            offsets.push(ids.len());
        }
        let mut scores = Vec::new();
        self.emissions(&ids, &offsets, &mut scores);
        scores
    }

    /// One BIO tag per token; always a valid BIO sequence. A long input (a whole post) is tagged
    /// sentence by sentence (see [`sentence_ranges`]), as the model was trained.
    pub fn tag(&self, tokens: &[NerToken]) -> Vec<String> {
        let mut tags = Vec::with_capacity(tokens.len());
        for range in sentence_ranges(tokens) {
            let sentence = &tokens[range];
            let scores = self.score_tokens(sentence);
            tags.extend(
                self.viterbi(&scores, sentence.len())
                    .into_iter()
                    .map(|label| self.label_name(label)),
            );
        }
        tags
    }

    /// The entities in `tokens`, with a confidence each; the spans of [`Tagger::tag`]'s tags.
    pub fn spans(&self, tokens: &[NerToken]) -> Vec<EntitySpan> {
        let n_labels = self.n_labels();
        let mut spans = Vec::new();
        for range in sentence_ranges(tokens) {
            let offset = range.start;
            let sentence = &tokens[range];
            let scores = self.score_tokens(sentence);
            let path = self.viterbi(&scores, sentence.len());
            let marginals = self.marginals(&scores, sentence.len());
            let tags: Vec<String> = path.iter().map(|&label| self.label_name(label)).collect();
            spans.extend(tag_spans(&tags).into_iter().map(|(start, end, kind)| {
                let confidence = (start..end)
                    .map(|token| marginals[token * n_labels + path[token]])
                    .fold(1.0f32, f32::min);
                EntitySpan {
                    start: offset + start,
                    end: offset + end,
                    kind,
                    confidence,
                }
            }));
        }
        spans
    }
}

/// Where a long token sequence is cut into sentences for tagging: after a sentence-final `.`,
/// `?`, `!` (or `。`, `？`, `！`) that is not in code, and at the latest every
/// [`MAX_SENTENCE_TOKENS`] tokens. The model was trained on the corpus's sentences, whose first
/// and last tokens it has features for, and a post tagged whole would blur them.
pub fn sentence_ranges(tokens: &[NerToken]) -> Vec<std::ops::Range<usize>> {
    let mut ranges = Vec::new();
    let mut start = 0;
    for (index, token) in tokens.iter().enumerate() {
        let final_mark =
            !token.in_code && matches!(token.text.as_str(), "." | "?" | "!" | "。" | "？" | "！");
        if final_mark || index + 1 - start >= MAX_SENTENCE_TOKENS {
            ranges.push(start..index + 1);
            start = index + 1;
        }
    }
    if start < tokens.len() {
        ranges.push(start..tokens.len());
    }
    ranges
}

/// The longest stretch tagged as one sequence; the corpus's sentences are far shorter.
pub const MAX_SENTENCE_TOKENS: usize = 200;

/// `ln(sum(exp(values)))` without overflow, in two passes and no allocation.
fn log_sum_exp(values: impl Iterator<Item = f32> + Clone) -> f32 {
    let top = values.clone().fold(f32::NEG_INFINITY, f32::max);
    if top == f32::NEG_INFINITY {
        return top;
    }
    top + values.map(|value| (value - top).exp()).sum::<f32>().ln()
}

/// Label ids of a tag sequence; tags of unknown types read as `O`, and an `I-` that continues
/// nothing as `B-`.
fn gold_labels(tags: &[String], types: &[String]) -> Vec<usize> {
    let mut labels = vec![0; tags.len()];
    for (start, end, kind) in tag_spans(tags) {
        if let Ok(type_index) = types.binary_search(&kind) {
            labels[start] = 1 + 2 * type_index;
            for label in &mut labels[start + 1..end] {
                *label = 2 + 2 * type_index;
            }
        }
    }
    labels
}

/// The stored form: a magic string and format version, the payload, and an FNV-1a checksum of
/// the payload, so a truncated or corrupted file is refused rather than silently mis-tagging.
const MAGIC: &[u8; 12] = b"STEWARD-NER\0";
const FORMAT_VERSION: u32 = 1;

fn checksum(bytes: &[u8]) -> u64 {
    let mut hash = 0xcbf2_9ce4_8422_2325u64;
    for byte in bytes {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

fn put_u32(out: &mut Vec<u8>, value: usize) {
    let value = u32::try_from(value).expect("model sizes fit in u32");
    out.extend_from_slice(&value.to_le_bytes());
}

fn put_str(out: &mut Vec<u8>, text: &str) {
    put_u32(out, text.len());
    out.extend_from_slice(text.as_bytes());
}

/// Reads the payload, refusing anything out of bounds.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self
            .at
            .checked_add(n)
            .filter(|end| *end <= self.bytes.len());
        let end = end.ok_or_else(|| NerError::BadModel("truncated".to_string()))?;
        let slice = &self.bytes[self.at..end];
        self.at = end;
        Ok(slice)
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        Ok(self
            .take(N)?
            .try_into()
            .expect("take returns exactly N bytes"))
    }
    fn u8(&mut self) -> Result<u8> {
        Ok(self.array::<1>()?[0])
    }
    fn u16(&mut self) -> Result<u16> {
        Ok(u16::from_le_bytes(self.array()?))
    }
    fn u32(&mut self) -> Result<usize> {
        Ok(u32::from_le_bytes(self.array()?) as usize)
    }
    fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(self.array()?))
    }
    fn f32(&mut self) -> Result<f32> {
        let value = f32::from_le_bytes(self.array()?);
        if value.is_finite() {
            Ok(value)
        } else {
            Err(NerError::BadModel("a weight is not finite".to_string()))
        }
    }
    fn string(&mut self) -> Result<String> {
        let length = self.u32()?;
        let bytes = self.take(length)?;
        String::from_utf8(bytes.to_vec())
            .map_err(|_| NerError::BadModel("a string is not UTF-8".to_string()))
    }
}

impl Tagger {
    /// The tagger as bytes (see [`Tagger::from_bytes`]); only non-zero weights are stored.
    pub fn to_bytes(&self) -> Vec<u8> {
        let n_labels = self.n_labels();
        let mut payload = Vec::new();
        put_u32(&mut payload, self.types.len());
        for kind in &self.types {
            put_str(&mut payload, kind);
        }
        payload.extend_from_slice(&self.temperature.to_le_bytes());
        for weight in &self.transitions {
            payload.extend_from_slice(&weight.to_le_bytes());
        }
        let mut features: Vec<(u64, u32)> =
            self.feature_ids.iter().map(|(k, v)| (*k, *v)).collect();
        features.sort_unstable();
        put_u32(&mut payload, features.len());
        for (feature, id) in features {
            payload.extend_from_slice(&feature.to_le_bytes());
            let row = &self.weights[id as usize * n_labels..(id as usize + 1) * n_labels];
            let non_zero: Vec<(usize, f32)> = row
                .iter()
                .copied()
                .enumerate()
                .filter(|(_, weight)| *weight != 0.0)
                .collect();
            put_u32(&mut payload, non_zero.len());
            for (label, weight) in non_zero {
                payload.push(u8::try_from(label).expect("fewer than 256 labels"));
                payload.extend_from_slice(&weight.to_le_bytes());
            }
        }
        let mut entries: Vec<(&String, &LexEntry)> = self.lexicon.entries().iter().collect();
        entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
        put_u32(&mut payload, entries.len());
        for (phrase, entry) in entries {
            put_str(&mut payload, phrase);
            payload.extend_from_slice(&entry.kind.to_le_bytes());
            payload.push(entry.bucket);
        }
        let mut bytes = Vec::with_capacity(payload.len() + 32);
        bytes.extend_from_slice(MAGIC);
        bytes.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        bytes.extend_from_slice(&checksum(&payload).to_le_bytes());
        bytes.extend_from_slice(&payload);
        bytes
    }

    /// A tagger from [`Tagger::to_bytes`]; anything else, a newer format, or a truncated or
    /// corrupted copy is an error.
    pub fn from_bytes(bytes: &[u8]) -> Result<Tagger> {
        let bad = |reason: &str| NerError::BadModel(reason.to_string());
        if bytes.len() < MAGIC.len() + 12 || &bytes[..MAGIC.len()] != MAGIC {
            return Err(bad("no STEWARD-NER header"));
        }
        let mut reader = Reader {
            bytes,
            at: MAGIC.len(),
        };
        let version = u32::from_le_bytes(reader.array()?);
        if version != FORMAT_VERSION {
            return Err(NerError::BadModel(format!(
                "format version {version}, this build reads version {FORMAT_VERSION}"
            )));
        }
        let expected = reader.u64()?;
        if checksum(&bytes[reader.at..]) != expected {
            return Err(bad("checksum mismatch (truncated or corrupted)"));
        }
        let n_types = reader.u32()?;
        if n_types > MAX_TYPES {
            return Err(bad("too many entity types"));
        }
        let types = (0..n_types)
            .map(|_| reader.string())
            .collect::<Result<Vec<_>>>()?;
        let n_labels = 1 + 2 * n_types;
        let temperature = reader.f32()?;
        if temperature <= 0.0 {
            return Err(bad("the confidence temperature is not positive"));
        }
        let transitions = (0..(n_labels + 1) * n_labels)
            .map(|_| reader.f32())
            .collect::<Result<Vec<_>>>()?;
        let n_features = reader.u32()?;
        // Each stored feature takes at least 12 bytes: a larger count is corrupt, and must not
        // size an allocation.
        if n_features > bytes.len() / 12 {
            return Err(bad("feature count larger than the file"));
        }
        let mut feature_ids = FeatureIds::default();
        let mut weights = vec![0.0; n_features * n_labels];
        for id in 0..n_features {
            let feature = reader.u64()?;
            let non_zero = reader.u32()?;
            for _ in 0..non_zero {
                let label = usize::from(reader.u8()?);
                let weight = reader.f32()?;
                if label >= n_labels {
                    return Err(bad("a weight names a label out of range"));
                }
                weights[id * n_labels + label] = weight;
            }
            let id = u32::try_from(id).map_err(|_| bad("too many features"))?;
            if feature_ids.insert(feature, id).is_some() {
                return Err(bad("a feature is stored twice"));
            }
        }
        let n_entries = reader.u32()?;
        let mut entries = HashMap::new();
        for _ in 0..n_entries {
            let phrase = reader.string()?;
            let kind = reader.u16()?;
            let bucket = reader.u8()?;
            if usize::from(kind) >= n_types || bucket > 3 {
                return Err(bad("a lexicon entry is out of range"));
            }
            entries.insert(phrase, LexEntry { kind, bucket });
        }
        if reader.at != bytes.len() {
            return Err(bad("trailing bytes"));
        }
        let tagger = Tagger {
            types,
            feature_ids,
            weights,
            transitions,
            lexicon: Lexicon::from_entries(entries),
            temperature,
        };
        if tagger
            .types
            .iter()
            .any(|kind| split_tag(&format!("B-{kind}")).1 != kind)
        {
            return Err(bad("an entity type name is not usable in a BIO tag"));
        }
        Ok(tagger)
    }
}
