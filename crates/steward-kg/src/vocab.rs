//! The entity vocabulary: what the graph can name. Seeded from the
//! community's tags (their synonyms are aliases, their wiki excerpts the
//! descriptions and the evidence for a type), grown by names the sequence
//! tagger finds often enough, and resolved so that one thing has one entry.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use steward_domain::Tag;

use crate::normalize;

/// What kind of thing an entity is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntityKind {
    Language,
    Library,
    Framework,
    Tool,
    Platform,
    /// A class, function, method or endpoint.
    Api,
    Error,
    Concept,
    Version,
}

impl EntityKind {
    pub const ALL: [EntityKind; 9] = [
        EntityKind::Language,
        EntityKind::Library,
        EntityKind::Framework,
        EntityKind::Tool,
        EntityKind::Platform,
        EntityKind::Api,
        EntityKind::Error,
        EntityKind::Concept,
        EntityKind::Version,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EntityKind::Language => "language",
            EntityKind::Library => "library",
            EntityKind::Framework => "framework",
            EntityKind::Tool => "tool",
            EntityKind::Platform => "platform",
            EntityKind::Api => "api",
            EntityKind::Error => "error",
            EntityKind::Concept => "concept",
            EntityKind::Version => "version",
        }
    }

    /// The kind for a type of the Stack Overflow NER corpus (after its type
    /// merges); `None` for types that are not things a graph should hold
    /// (values, variable and file names, user names, code and output blocks).
    pub fn of_ner_type(kind: &str) -> Option<EntityKind> {
        Some(match kind {
            "Language" => EntityKind::Language,
            "Library" => EntityKind::Library,
            "Application" | "Website" => EntityKind::Tool,
            "Operating_System" | "Device" => EntityKind::Platform,
            "Class" | "Function" | "Library_Variable" | "HTML_XML_Tag" => EntityKind::Api,
            "Error_Name" => EntityKind::Error,
            "Data_Structure" | "Algorithm" | "Data_Type" | "File_Type" => EntityKind::Concept,
            _ => return None,
        })
    }

    /// A tag's kind from its name and wiki excerpt: the first words that say
    /// what it is ("X is a programming language", "a library for ...").
    pub fn of_tag(key: &str, excerpt: Option<&str>) -> EntityKind {
        if normalize::split_version(key).is_some() {
            return EntityKind::Version;
        }
        if key.ends_with("error") || key.ends_with("exception") {
            return EntityKind::Error;
        }
        let Some(excerpt) = excerpt else {
            return EntityKind::Concept;
        };
        // What the thing is, is said right after "X is a", "X 是", or at
        // the very start ("A JavaScript library for ..."); an excerpt that
        // starts "For questions about ..." names a topic: a concept. Later
        // words describe other things ("... written in Python").
        let lowered = excerpt.to_lowercase();
        let definition = [
            " is a ",
            " is an ",
            " is the ",
            " are ",
            "是一个",
            "是一种",
            "是",
        ]
        .iter()
        .filter_map(|cue| lowered.find(cue).map(|at| at + cue.len()))
        .filter(|&at| at <= 120)
        .min()
        .or_else(|| {
            (lowered.starts_with("a ") || lowered.starts_with("an ") || lowered.starts_with("the "))
                .then_some(0)
        });
        let Some(from) = definition else {
            return EntityKind::Concept;
        };
        let head: String = lowered[from..].chars().take(60).collect();
        let cues: [(&[&str], EntityKind); 8] = [
            (
                &[
                    "programming language",
                    "query language",
                    "markup language",
                    "scripting language",
                    "编程语言",
                ],
                EntityKind::Language,
            ),
            (&["framework", "框架"], EntityKind::Framework),
            (
                &["library", "package", "module", "toolkit", "sdk", "库"],
                EntityKind::Library,
            ),
            (&["error", "exception", "错误", "异常"], EntityKind::Error),
            (
                &[
                    "operating system",
                    "platform",
                    "blockchain",
                    "cloud",
                    "平台",
                    "操作系统",
                ],
                EntityKind::Platform,
            ),
            (
                &[
                    "tool",
                    "command-line",
                    "command line",
                    "editor",
                    " ide",
                    "application",
                    "software",
                    "wallet",
                    "工具",
                ],
                EntityKind::Tool,
            ),
            (
                // Not "class" or "method" alone: "a class of models", "a
                // method for" describe concepts.
                &[
                    " api",
                    "endpoint",
                    "function in",
                    "function of",
                    "method of the",
                    "class in",
                    "接口",
                ],
                EntityKind::Api,
            ),
            (&["language"], EntityKind::Language),
        ];
        let mut best: Option<(usize, EntityKind)> = None;
        for (words, kind) in cues {
            for word in words {
                if let Some(position) = head.find(word)
                    && best.is_none_or(|(at, _)| position < at)
                {
                    best = Some((position, kind));
                }
            }
        }
        best.map_or(EntityKind::Concept, |(_, kind)| kind)
    }
}

impl fmt::Display for EntityKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for EntityKind {
    type Err = String;

    fn from_str(value: &str) -> Result<EntityKind, String> {
        EntityKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == value)
            .ok_or_else(|| {
                let names: Vec<&str> = EntityKind::ALL.iter().map(|kind| kind.as_str()).collect();
                format!("unknown entity kind `{value}`; one of {}", names.join(", "))
            })
    }
}

/// Where an entry came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// A community tag.
    Tag,
    /// A name the sequence tagger found in enough posts.
    Ner,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Tag => "tag",
            Source::Ner => "ner",
        }
    }
}

/// One entry of the vocabulary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub key: String,
    pub name: String,
    pub kind: EntityKind,
    pub source: Source,
    pub tag: Option<String>,
    /// Other surface forms (synonyms, plural forms, spellings seen in text).
    pub aliases: Vec<String>,
    pub description: Option<String>,
    /// Posts the tag is on, or the tagger found the name in.
    pub support: u64,
}

/// A `version_of` link the vocabulary itself implies (`python-3.x` → `python`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionLink {
    pub version: String,
    pub base: String,
}

/// The entries, by key; aliases resolve to their entry.
#[derive(Debug, Clone, Default)]
pub struct Vocabulary {
    entries: Vec<Entry>,
    by_key: HashMap<String, usize>,
    /// Alias key and compact key → entry.
    by_alias: HashMap<String, usize>,
}

impl Vocabulary {
    /// The vocabulary of a community's tags.
    pub fn from_tags(tags: &[Tag]) -> Vocabulary {
        let mut vocabulary = Vocabulary::default();
        let mut sorted: Vec<&Tag> = tags.iter().collect();
        // The most used tag wins a contested alias.
        sorted.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.name.cmp(&b.name)));
        for tag in sorted {
            let key = normalize::key(&tag.name);
            if key.is_empty() {
                continue;
            }
            let description = tag.excerpt.clone().filter(|text| !text.trim().is_empty());
            let kind = EntityKind::of_tag(&key, description.as_deref());
            let mut aliases: Vec<String> = tag
                .synonyms
                .iter()
                .map(|synonym| normalize::key(synonym))
                .filter(|alias| !alias.is_empty() && *alias != key)
                .collect();
            aliases.extend(normalize::singular(&key));
            vocabulary.insert(Entry {
                key,
                name: tag.name.clone(),
                kind,
                source: Source::Tag,
                tag: Some(tag.name.clone()),
                aliases,
                description,
                support: u64::try_from(tag.count.max(0)).unwrap_or(0),
            });
        }
        vocabulary
    }

    /// Adds an entry, or folds it into the one it resolves to (same key,
    /// alias or compact spelling): the aliases join, the first entry's name,
    /// kind and tag stay. Returns the index of the entry that holds it.
    pub fn insert(&mut self, entry: Entry) -> usize {
        if let Some(index) = self.resolve(&entry.key) {
            let kept = &mut self.entries[index];
            kept.support += entry.support;
            for alias in std::iter::once(entry.key).chain(entry.aliases) {
                if alias != kept.key && !kept.aliases.contains(&alias) {
                    kept.aliases.push(alias.clone());
                    self.by_alias.entry(alias).or_insert(index);
                }
            }
            return index;
        }
        let index = self.entries.len();
        self.by_key.insert(entry.key.clone(), index);
        self.by_alias
            .entry(normalize::compact(&entry.key))
            .or_insert(index);
        for alias in &entry.aliases {
            self.by_alias.entry(alias.clone()).or_insert(index);
            self.by_alias
                .entry(normalize::compact(alias))
                .or_insert(index);
        }
        self.entries.push(entry);
        index
    }

    /// The entry a surface form or key names: by key, by alias, by plural
    /// or compact spelling (`nodejs` for `node.js`).
    pub fn resolve(&self, surface: &str) -> Option<usize> {
        let key = normalize::key(surface);
        if key.is_empty() {
            return None;
        }
        if let Some(&index) = self.by_key.get(&key).or_else(|| self.by_alias.get(&key)) {
            return Some(index);
        }
        if let Some(singular) = normalize::singular(&key)
            && let Some(&index) = self.by_key.get(&singular)
        {
            return Some(index);
        }
        self.by_alias.get(&normalize::compact(&key)).copied()
    }

    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    pub fn entry(&self, index: usize) -> &Entry {
        &self.entries[index]
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entry with this exact key.
    pub fn by_key(&self, key: &str) -> Option<usize> {
        self.by_key.get(key).copied()
    }

    /// `version_of` links: each version entry whose base is an entry too.
    pub fn version_links(&self) -> Vec<VersionLink> {
        self.entries
            .iter()
            .filter_map(|entry| {
                let (base, _) = normalize::split_version(&entry.key)?;
                let base = self.resolve(base)?;
                Some(VersionLink {
                    version: entry.key.clone(),
                    base: self.entries[base].key.clone(),
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag(name: &str, count: i64, excerpt: Option<&str>, synonyms: &[&str]) -> Tag {
        Tag {
            name: name.to_string(),
            count,
            excerpt: excerpt.map(str::to_string),
            wiki: None,
            synonyms: synonyms.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn tag_excerpts_say_what_a_thing_is() {
        let kind = |key: &str, excerpt: &str| EntityKind::of_tag(key, Some(excerpt));
        assert_eq!(
            kind("python", "Python is a multi-paradigm programming language."),
            EntityKind::Language
        );
        assert_eq!(
            kind(
                "tensorflow",
                "TensorFlow is an open-source library for machine learning, written in Python."
            ),
            EntityKind::Library
        );
        assert_eq!(
            kind(
                "keras",
                "Keras is a high-level neural networks API and framework"
            ),
            EntityKind::Api
        );
        assert_eq!(
            kind("pytorch", "PyTorch is a deep learning framework, a library"),
            EntityKind::Framework
        );
        assert_eq!(
            kind("daedalus", "Daedalus is the full-node wallet for Cardano."),
            EntityKind::Tool
        );
        assert_eq!(
            kind(
                "reinforcement-learning",
                "For questions about learning from rewards."
            ),
            EntityKind::Concept
        );
        assert_eq!(
            kind(
                "neural-networks",
                "For questions about an artificial neural network, which are used to approximate functions."
            ),
            EntityKind::Concept
        );
        assert_eq!(
            kind(
                "genetic-algorithms",
                "A method for solving optimization problems based on natural selection."
            ),
            EntityKind::Concept
        );
        assert_eq!(
            kind(
                "react",
                "A JavaScript library for building user interfaces."
            ),
            EntityKind::Library
        );
        assert_eq!(EntityKind::of_tag("python-3.x", None), EntityKind::Version);
        assert_eq!(EntityKind::of_tag("memory-error", None), EntityKind::Error);
        assert_eq!("api".parse::<EntityKind>(), Ok(EntityKind::Api));
        assert!(
            "thing"
                .parse::<EntityKind>()
                .expect_err("unknown")
                .contains("language")
        );
    }

    #[test]
    fn synonyms_plurals_and_spellings_resolve_to_their_tag() {
        let vocabulary = Vocabulary::from_tags(&[
            tag("neural-networks", 90, None, &["nn", "neural-nets"]),
            tag("node.js", 40, Some("Node.js is a platform"), &[]),
            tag("python-3.x", 5, None, &[]),
            tag("python", 100, Some("Python is a programming language"), &[]),
        ]);
        let key_of = |surface: &str| {
            vocabulary
                .resolve(surface)
                .map(|i| vocabulary.entry(i).key.as_str())
        };
        assert_eq!(key_of("Neural Networks"), Some("neural-networks"));
        assert_eq!(key_of("neural network"), Some("neural-networks"));
        assert_eq!(key_of("NN"), Some("neural-networks"));
        assert_eq!(key_of("neural nets"), Some("neural-networks"));
        assert_eq!(key_of("NodeJS"), Some("node.js"));
        assert_eq!(key_of("Python"), Some("python"));
        assert_eq!(key_of("ruby"), None);
        assert_eq!(
            vocabulary.version_links(),
            [VersionLink {
                version: "python-3.x".into(),
                base: "python".into()
            }]
        );
    }

    #[test]
    fn a_found_name_folds_into_the_entry_it_spells() {
        let mut vocabulary = Vocabulary::from_tags(&[tag("tensorflow", 10, None, &[])]);
        let found = |name: &str| Entry {
            key: normalize::key(name),
            name: name.to_string(),
            kind: EntityKind::Library,
            source: Source::Ner,
            tag: None,
            aliases: Vec::new(),
            description: None,
            support: 3,
        };
        let index = vocabulary.insert(found("Tensor Flow"));
        assert_eq!(vocabulary.len(), 1);
        assert_eq!(vocabulary.entry(index).support, 13);
        assert!(
            vocabulary
                .entry(index)
                .aliases
                .contains(&"tensor-flow".to_string())
        );
        vocabulary.insert(found("PyTorch"));
        assert_eq!(vocabulary.len(), 2);
    }
}
