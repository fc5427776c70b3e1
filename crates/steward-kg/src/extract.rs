//! From one post to the graph's facts: its mentions (tags, vocabulary names
//! found by the gazetteer, names the tagger found), the typed relations its
//! sentences state, and its co-occurrence evidence, each with provenance.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};
use steward_domain::{Post, PostId, PostKind};
use steward_ml::ner::{NerToken, Tagger};
use steward_store::{KgEvidence, KgMention, KgPostFacts};

use crate::gazetteer::Gazetteer;
use crate::normalize;
use crate::patterns::{self, SentenceMention};
use crate::relation::Relation;
use crate::vocab::{EntityKind, Vocabulary};

/// Sentences kept as provenance are cut to this many characters.
const SENTENCE_CHARS: usize = 300;

/// The text a post is read as: its title (questions), a blank line, its
/// prose. Mention offsets are byte offsets into this text.
pub fn post_text(post: &Post) -> String {
    match &post.title {
        Some(title) if !title.is_empty() => format!("{title}\n\n{}", post.body_text),
        _ => post.body_text.clone(),
    }
}

/// The text of each inline `<code>` element (outside `<pre>`), entities
/// decoded: what the author marked as code, a strong cue for the tagger.
pub fn inline_code(html: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = html;
    while let Some(open) = rest.find("<code>") {
        let after = &rest[open + "<code>".len()..];
        let Some(close) = after.find("</code>") else {
            break;
        };
        // `<pre><code>` blocks are not in the prose at all.
        let preceded_by_pre = rest[..open].trim_end().ends_with("<pre>");
        if !preceded_by_pre {
            let text = after[..close]
                .replace("&lt;", "<")
                .replace("&gt;", ">")
                .replace("&quot;", "\"")
                .replace("&#39;", "'")
                .replace("&amp;", "&");
            if !text.trim().is_empty() {
                found.push(text);
            }
        }
        rest = &after[close + "</code>".len()..];
    }
    found
}

/// Where each inline code snippet is in `text` (searched in order).
fn code_spans(text: &str, snippets: &[String]) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    let mut from = 0;
    for snippet in snippets {
        if let Some(at) = text[from..].find(snippet.as_str()) {
            let start = from + at;
            spans.push((start, start + snippet.len()));
            from = start + snippet.len();
        }
    }
    spans
}

/// A name the tagger found: the surface, its corpus type, and where.
#[derive(Debug, Clone, PartialEq)]
pub struct Recognized {
    pub start: usize,
    pub end: usize,
    pub surface: String,
    pub ner_type: String,
    pub confidence: f32,
    /// The author marked (part of) it as inline code.
    pub in_code: bool,
    /// A single capitalised word opening a sentence: its capital says
    /// nothing, so it is no evidence of a name.
    pub sentence_initial: bool,
}

/// Runs the sequence tagger over a post's text.
pub fn recognize(tagger: &Tagger, text: &str, html: &str) -> Vec<Recognized> {
    let spans = code_spans(text, &inline_code(html));
    let tokens = steward_ml::ner::tokenize(text, &spans);
    if tokens.is_empty() {
        return Vec::new();
    }
    let ner_tokens: Vec<NerToken> = tokens.iter().map(|(token, _, _)| token.clone()).collect();
    tagger
        .spans(&ner_tokens)
        .into_iter()
        .filter(|span| span.start < span.end && span.end <= tokens.len())
        .map(|span| {
            let start = tokens[span.start].1;
            let end = tokens[span.end - 1].2;
            let surface = &text[start..end];
            let title_case_word = span.end - span.start == 1
                && surface.starts_with(|c: char| c.is_uppercase())
                && surface.chars().skip(1).all(|c| c.is_lowercase());
            Recognized {
                start,
                end,
                surface: surface.to_string(),
                ner_type: span.kind,
                confidence: span.confidence,
                in_code: tokens[span.start..span.end]
                    .iter()
                    .any(|(token, _, _)| token.in_code),
                sentence_initial: title_case_word && at_sentence_start(text, start),
            }
        })
        .collect()
}

/// How sure a bare name in text is to mean the entity, learned per entry at
/// a full build; see [`LinkPriors::learn`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LinkPriors {
    /// Entry key → prior.
    pub by_key: BTreeMap<String, f32>,
}

/// A prior for an entry the build did not see in text.
const DEFAULT_PRIOR: f32 = 0.5;

/// Below this, a name in a thread that is not tagged with it is not linked.
pub const MIN_LINK_CONFIDENCE: f32 = 0.15;

impl LinkPriors {
    /// The prior of each entry, from how it was seen:
    /// `hits` posts named it in a thread carrying its tag among `seen` posts
    /// naming it, `capitalized` of them wrote it capitalized mid-sentence. A
    /// name that is more than a plain lower-case word (`c#`, `node.js`,
    /// `neural network`, `TensorFlow`) means the entity; a plain word
    /// (`history`, `research`) means it as often as the threads that use it
    /// are tagged with it, smoothed toward one half.
    pub fn learn(vocabulary: &Vocabulary, seen: &[FormStats]) -> LinkPriors {
        let mut by_key = BTreeMap::new();
        for (index, stats) in seen.iter().enumerate() {
            let entry = vocabulary.entry(index);
            let name_like = entry.key.chars().any(|c| !c.is_alphabetic())
                || !entry.key.is_ascii()
                || stats.seen > 0 && stats.capitalized * 2 >= stats.seen;
            let prior = if name_like || entry.tag.is_none() {
                0.9
            } else {
                (stats.hits as f32 + 1.0) / (stats.seen as f32 + 2.0)
            };
            by_key.insert(entry.key.clone(), prior);
        }
        LinkPriors { by_key }
    }

    pub fn prior(&self, key: &str) -> f32 {
        self.by_key.get(key).copied().unwrap_or(DEFAULT_PRIOR)
    }
}

/// How one entry's names were used across the community (for
/// [`LinkPriors::learn`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FormStats {
    /// Posts naming it.
    pub seen: u64,
    /// Of those, posts in a thread tagged with it.
    pub hits: u64,
    /// Of those, posts writing it capitalized not at a sentence start.
    pub capitalized: u64,
}

/// A vocabulary, its gazetteer and priors: turns posts into facts.
#[derive(Debug)]
pub struct Linker {
    vocabulary: Vocabulary,
    gazetteer: Gazetteer,
    priors: LinkPriors,
    /// Entry index → stored entity id.
    ids: Vec<i64>,
    /// Tag name → entry index.
    by_tag: HashMap<String, usize>,
}

/// A mention before it gets its entity id.
#[derive(Debug, Clone, PartialEq)]
pub struct Linked {
    pub entry: usize,
    pub start: usize,
    pub end: usize,
    pub extractor: &'static str,
    pub confidence: f32,
}

impl Linker {
    /// `ids[i]` is the stored id of `vocabulary.entry(i)`.
    pub fn new(vocabulary: Vocabulary, ids: Vec<i64>, priors: LinkPriors) -> Linker {
        let gazetteer = Gazetteer::new(&vocabulary);
        let by_tag = vocabulary
            .entries()
            .iter()
            .enumerate()
            .filter_map(|(index, entry)| Some((entry.tag.clone()?, index)))
            .collect();
        Linker {
            vocabulary,
            gazetteer,
            priors,
            ids,
            by_tag,
        }
    }

    pub fn vocabulary(&self) -> &Vocabulary {
        &self.vocabulary
    }

    pub fn priors(&self) -> &LinkPriors {
        &self.priors
    }

    /// The stored id of entry `index`.
    pub fn id(&self, index: usize) -> i64 {
        self.ids[index]
    }

    /// The entries the gazetteer finds in `text`, with what [`FormStats`]
    /// needs: (entry, thread tagged with it, written capitalized mid-sentence).
    pub fn observe(&self, text: &str, thread_tags: &[String]) -> Vec<(usize, bool, bool)> {
        let mut seen: BTreeMap<usize, (bool, bool)> = BTreeMap::new();
        for found in self.gazetteer.find(text) {
            let entry = self.vocabulary.entry(found.entry);
            let tagged = entry
                .tag
                .as_ref()
                .is_some_and(|tag| thread_tags.contains(tag));
            let surface = &text[found.start..found.end];
            let capitalized = surface.starts_with(|c: char| c.is_uppercase())
                && !at_sentence_start(text, found.start);
            let slot = seen.entry(found.entry).or_default();
            slot.0 |= tagged;
            slot.1 |= capitalized;
        }
        seen.into_iter()
            .map(|(entry, (tagged, capitalized))| (entry, tagged, capitalized))
            .collect()
    }

    /// The mentions in a post's text: each gazetteer match, confident when
    /// the thread carries the entity's tag, else as sure as its prior (a
    /// tagger's finding of the same span raises it); those below
    /// [`MIN_LINK_CONFIDENCE`] are dropped. Names the tagger found that the
    /// vocabulary resolves are linked too.
    pub fn link(
        &self,
        text: &str,
        thread_tags: &[String],
        recognized: &[Recognized],
    ) -> Vec<Linked> {
        let mut linked = Vec::new();
        let mut covered: Vec<(usize, usize)> = Vec::new();
        for found in self.gazetteer.find(text) {
            let entry = self.vocabulary.entry(found.entry);
            let tagged = entry
                .tag
                .as_ref()
                .is_some_and(|tag| thread_tags.contains(tag));
            let by_tagger = recognized
                .iter()
                .find(|r| r.start <= found.start && found.end <= r.end)
                .map_or(0.0, |r| r.confidence);
            let confidence = if tagged {
                1.0
            } else {
                self.priors.prior(&entry.key).max(by_tagger * 0.9)
            };
            if confidence < MIN_LINK_CONFIDENCE {
                continue;
            }
            covered.push((found.start, found.end));
            linked.push(Linked {
                entry: found.entry,
                start: found.start,
                end: found.end,
                extractor: "gazetteer",
                confidence,
            });
        }
        for name in recognized {
            if covered
                .iter()
                .any(|&(start, end)| start < name.end && name.start < end)
            {
                continue;
            }
            if let Some(entry) = self.vocabulary.resolve(&name.surface) {
                linked.push(Linked {
                    entry,
                    start: name.start,
                    end: name.end,
                    extractor: "ner",
                    confidence: name.confidence.clamp(0.0, 1.0),
                });
            }
        }
        linked.sort_by_key(|mention| (mention.start, mention.entry));
        linked
    }

    /// Everything the graph learns from one post. `thread_tags` are the
    /// question's tags (an answer's thread's); a question's own tags are
    /// mentions too (extractor `tag`, at offset -1).
    pub fn facts(
        &self,
        post: &Post,
        thread_tags: &[String],
        recognized: &[Recognized],
        max_cooccurring: usize,
    ) -> KgPostFacts {
        let text = post_text(post);
        let linked = self.link(&text, thread_tags, recognized);
        let mut mentions: Vec<KgMention> = Vec::with_capacity(linked.len() + post.tags.len());
        if post.kind == PostKind::Question {
            for tag in &post.tags {
                if let Some(&entry) = self.by_tag.get(tag) {
                    mentions.push(KgMention {
                        entity_id: self.ids[entry],
                        start: -1,
                        end: -1,
                        surface: tag.clone(),
                        extractor: "tag".to_string(),
                        confidence: 1.0,
                    });
                }
            }
        }
        for mention in &linked {
            mentions.push(KgMention {
                entity_id: self.ids[mention.entry],
                start: i64::try_from(mention.start).expect("a post is < 2^63 bytes"),
                end: i64::try_from(mention.end).expect("a post is < 2^63 bytes"),
                surface: text[mention.start..mention.end].to_string(),
                extractor: mention.extractor.to_string(),
                confidence: f64::from(mention.confidence),
            });
        }
        let mut evidence = self.sentence_relations(post.id, &text, &linked);
        evidence.extend(cooccurrence(post.id, &mentions, max_cooccurring));
        KgPostFacts {
            post_id: post.id,
            mentions,
            evidence,
        }
    }

    /// The typed relations each sentence states between the entities it names.
    fn sentence_relations(&self, post: PostId, text: &str, linked: &[Linked]) -> Vec<KgEvidence> {
        let mut evidence = Vec::new();
        for (start, end) in patterns::split_sentences(text) {
            let inside: Vec<&Linked> = linked
                .iter()
                .filter(|mention| start <= mention.start && mention.end <= end)
                .collect();
            if inside.len() < 2 {
                continue;
            }
            let mentions: Vec<SentenceMention> = inside
                .iter()
                .map(|mention| SentenceMention {
                    start: mention.start - start,
                    end: mention.end - start,
                    entity: u32::try_from(mention.entry).expect("fewer than 2^32 entries"),
                })
                .collect();
            let sentence = &text[start..end];
            for found in patterns::extract(sentence, &mentions) {
                let (source, target) = (found.source as usize, found.target as usize);
                if source == target
                    || !plausible(found.relation, self.vocabulary.entry(target).kind)
                {
                    continue;
                }
                let certainty = |entry: usize| {
                    inside
                        .iter()
                        .filter(|mention| mention.entry == entry)
                        .map(|mention| mention.confidence)
                        .fold(0.0_f32, f32::max)
                };
                let confidence = found.confidence * certainty(source).min(certainty(target));
                evidence.push(KgEvidence {
                    source_id: self.ids[source],
                    target_id: self.ids[target],
                    relation: found.relation.as_str().to_string(),
                    post_id: post,
                    extractor: format!("pattern:{}", found.cue),
                    sentence: sentence.chars().take(SENTENCE_CHARS).collect(),
                    confidence: f64::from(confidence),
                });
            }
        }
        evidence
    }

    /// A key's entry, for callers that name an entity by its text.
    pub fn resolve(&self, surface: &str) -> Option<usize> {
        self.vocabulary.resolve(surface)
    }

    /// The entity ids named in a query or any short text, most confident
    /// first, each once.
    pub fn entities_in(&self, text: &str) -> Vec<(i64, f32)> {
        let mut found: Vec<(i64, f32)> = Vec::new();
        for mention in self.link(text, &[], &[]) {
            let id = self.ids[mention.entry];
            match found.iter_mut().find(|(seen, _)| *seen == id) {
                Some((_, confidence)) => *confidence = confidence.max(mention.confidence),
                None => found.push((id, mention.confidence)),
            }
        }
        found.sort_by(|a, b| b.1.total_cmp(&a.1));
        found
    }
}

/// Cause and fix cues also fire on reasons that are not problems ("moved to
/// Vue because of React's size"): what is caused or solved must be an
/// error or a concept (`overfitting`, `vanishing-gradient`), not a library,
/// language or tool.
fn plausible(relation: Relation, target: EntityKind) -> bool {
    match relation {
        Relation::Causes | Relation::Solves => {
            matches!(target, EntityKind::Error | EntityKind::Concept)
        }
        _ => true,
    }
}

/// One `related_to` evidence row per pair of entities the post names (each
/// entity once; at most `max_entities` of them, the most confident first, so
/// a post listing fifty libraries does not make 1,225 edges).
fn cooccurrence(post: PostId, mentions: &[KgMention], max_entities: usize) -> Vec<KgEvidence> {
    let mut best: BTreeMap<i64, f64> = BTreeMap::new();
    for mention in mentions {
        let slot = best.entry(mention.entity_id).or_insert(0.0);
        *slot = slot.max(mention.confidence);
    }
    let mut entities: Vec<(i64, f64)> = best.into_iter().collect();
    entities.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    entities.truncate(max_entities);
    entities.sort_by_key(|(id, _)| *id);
    let mut evidence = Vec::new();
    for (i, &(a, confidence_a)) in entities.iter().enumerate() {
        for &(b, confidence_b) in &entities[i + 1..] {
            evidence.push(KgEvidence {
                source_id: a,
                target_id: b,
                relation: Relation::RelatedTo.as_str().to_string(),
                post_id: post,
                extractor: "cooccurrence".to_string(),
                sentence: String::new(),
                confidence: confidence_a.min(confidence_b),
            });
        }
    }
    evidence
}

/// Looks like an identifier: `tf.reshape`, `snake_case`, `std::vec`,
/// `print()`, `<div>`, `camelCase`/`PascalCase` with an inner capital.
fn code_like(surface: &str) -> bool {
    surface.contains(['.', '_', '(', '<', '#'])
        || surface.contains("::")
        || surface
            .chars()
            .skip(1)
            .zip(surface.chars())
            .any(|(c, before)| c.is_uppercase() && before.is_lowercase())
}

fn at_sentence_start(text: &str, at: usize) -> bool {
    let before = text[..at].trim_end_matches([' ', '\t', '"', '(', '*']);
    before.is_empty() || before.ends_with(['.', '!', '?', '\n', ':'])
}

/// A name the tagger found in enough posts to join the vocabulary.
#[derive(Debug, Clone, PartialEq)]
pub struct Discovered {
    pub key: String,
    /// The spelling seen most.
    pub name: String,
    pub kind: EntityKind,
    /// Distinct posts.
    pub posts: u64,
}

/// Tallies the tagger's names across posts (one vote per post) and keeps
/// those that are things (not values or file names), look like names (not
/// numbers, not a lone letter, not a long phrase) and occur in at least
/// `min_posts` posts. The tagger learned on programming prose: there a
/// capitalised word is often a class, while in prose about anything else it
/// is a common noun (`Data`, `Network`). So a class, function or variable
/// must look like code (written as code, or with `.`, `_`, `::`, `()`, an
/// inner capital), and a capitalised word opening a sentence is no vote.
#[derive(Debug, Default)]
pub struct Discovery {
    names: HashMap<String, Tally>,
}

/// One name's votes: (spelling counts, kind counts, posts).
type Tally = (HashMap<String, u64>, HashMap<EntityKind, u64>, u64);

impl Discovery {
    pub fn add_post(&mut self, recognized: &[Recognized]) {
        let mut in_post: HashMap<String, (String, EntityKind)> = HashMap::new();
        for name in recognized {
            let Some(kind) = EntityKind::of_ner_type(&name.ner_type) else {
                continue;
            };
            if name.sentence_initial
                || kind == EntityKind::Api && !name.in_code && !code_like(&name.surface)
            {
                continue;
            }
            let key = normalize::key(&name.surface);
            let letters = key.chars().filter(|c| c.is_alphabetic()).count();
            // A plain lower-case word (`computer`, `driver`) is a common
            // noun however the tagger labels it; a name has a capital, a
            // digit, code punctuation, several words or code markup.
            let plain_word = !name.in_code
                && !name.surface.contains(char::is_whitespace)
                && name.surface.chars().all(|c| c.is_lowercase());
            if letters < 2
                || plain_word
                || normalize::is_version(&key)
                || key.len() > 40
                || key.split('-').count() > 4
            {
                continue;
            }
            in_post.entry(key).or_insert((name.surface.clone(), kind));
        }
        for (key, (surface, kind)) in in_post {
            let slot = self.names.entry(key).or_default();
            *slot.0.entry(surface).or_default() += 1;
            *slot.1.entry(kind).or_default() += 1;
            slot.2 += 1;
        }
    }

    /// The names seen in at least `min_posts` posts, the most seen first.
    pub fn finish(self, min_posts: u64) -> Vec<Discovered> {
        let mut found: Vec<Discovered> = self
            .names
            .into_iter()
            .filter(|(_, (_, _, posts))| *posts >= min_posts)
            .map(|(key, (spellings, kinds, posts))| {
                let name = spellings
                    .into_iter()
                    .max_by(|a, b| a.1.cmp(&b.1).then_with(|| b.0.cmp(&a.0)))
                    .map(|(name, _)| name)
                    .unwrap_or_else(|| key.clone());
                let kind = kinds
                    .into_iter()
                    .max_by(|a, b| a.1.cmp(&b.1).then_with(|| b.0.cmp(&a.0)))
                    .map_or(EntityKind::Concept, |(kind, _)| kind);
                Discovered {
                    key,
                    name,
                    kind,
                    posts,
                }
            })
            .collect();
        found.sort_by(|a, b| b.posts.cmp(&a.posts).then_with(|| a.key.cmp(&b.key)));
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_code_is_found_but_code_blocks_are_not() {
        let html = "<p>Call <code>tf.reshape()</code> on a <code>List&lt;T&gt;</code></p>\
                    <pre><code>x = 1</code></pre>";
        assert_eq!(inline_code(html), ["tf.reshape()", "List<T>"]);
        let text = "Call tf.reshape() on a List<T>";
        assert_eq!(code_spans(text, &inline_code(html)), [(5, 17), (23, 30)]);
    }

    #[test]
    fn cooccurrence_pairs_each_entity_once_and_caps_them() {
        let mention = |entity_id: i64, confidence: f64| KgMention {
            entity_id,
            start: 0,
            end: 1,
            surface: String::new(),
            extractor: "gazetteer".to_string(),
            confidence,
        };
        let mentions = [
            mention(3, 1.0),
            mention(1, 0.5),
            mention(3, 0.2),
            mention(2, 0.9),
            mention(4, 0.1),
        ];
        let pairs: Vec<(i64, i64, f64)> = cooccurrence(PostId(7), &mentions, 3)
            .iter()
            .map(|e| (e.source_id, e.target_id, e.confidence))
            .collect();
        assert_eq!(pairs, [(1, 2, 0.5), (1, 3, 0.5), (2, 3, 0.9)]);
    }

    #[test]
    fn discovery_keeps_names_seen_in_enough_posts() {
        let name = |surface: &str, ner_type: &str| Recognized {
            start: 0,
            end: surface.len(),
            surface: surface.to_string(),
            ner_type: ner_type.to_string(),
            confidence: 0.9,
            in_code: false,
            sentence_initial: false,
        };
        let mut discovery = Discovery::default();
        discovery.add_post(&[
            name("PyTorch", "Library"),
            name("pytorch", "Library"),
            name("x", "Variable"),
        ]);
        discovery.add_post(&[
            name("PyTorch", "Library"),
            name("3.6", "Version"),
            name("42", "Value"),
        ]);
        discovery.add_post(&[name("Keras", "Library")]);
        // A class name must look like code; a capitalised word opening a
        // sentence is no vote.
        discovery.add_post(&[
            name("Data", "Class"),
            name("DataFrame", "Class"),
            name("tf.Session", "Class"),
        ]);
        discovery.add_post(&[
            name("Data", "Class"),
            name("DataFrame", "Class"),
            name("tf.Session", "Class"),
        ]);
        let opening = Recognized {
            sentence_initial: true,
            ..name("Keras", "Library")
        };
        discovery.add_post(&[opening]);
        let found = discovery.finish(2);
        let keys: Vec<&str> = found.iter().map(|found| found.key.as_str()).collect();
        assert_eq!(keys, ["dataframe", "pytorch", "tf.session"]);
        let found: Vec<Discovered> = found
            .into_iter()
            .filter(|found| found.key == "pytorch")
            .collect();
        assert_eq!(found.len(), 1);
        assert_eq!(
            (
                found[0].key.as_str(),
                found[0].name.as_str(),
                found[0].kind,
                found[0].posts
            ),
            ("pytorch", "PyTorch", EntityKind::Library, 2)
        );
    }
}
