//! Query expansion through the community's tag synonyms: a query that says
//! `js` also searches for `javascript`, one that says `k8s` for
//! `kubernetes`, so a thread is found by the name its tag has even when the
//! asker used another.
//!
//! A synonym is matched on the analyzer's terms, in order, so a synonym of
//! several words (`neural nets`, `机器 学习`) matches those words in a row and
//! case or punctuation do not matter (`JS`, `js.`). The tag itself is then
//! searched for: its name as a tag, and the words of its name in the text.

use std::collections::HashMap;

use serde::Serialize;
use steward_domain::Tag;

use crate::analyzer;

/// One synonym found in a query, and the tag it stands for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Expansion {
    /// The synonym as the query wrote it (its terms, space-separated).
    pub from: String,
    /// The tag it is a synonym of.
    pub tag: String,
    /// The tag name's terms, searched in the text besides the tag itself.
    #[serde(skip)]
    pub terms: Vec<String>,
}

/// The synonyms of every tag, keyed by their terms.
#[derive(Debug, Clone, Default)]
pub struct TagSynonyms {
    /// Synonym terms (in order) -> tag name. A synonym two tags claim keeps
    /// the first tag by name: tags are read sorted.
    by_terms: HashMap<Vec<String>, String>,
    /// The most terms any synonym has: how far a match is looked for.
    longest: usize,
}

impl TagSynonyms {
    /// The synonyms of `tags`; a synonym whose terms are the tag's own (`C#`
    /// for `c#`) or that the analyzer cuts to nothing is left out.
    pub fn new(tags: &[Tag]) -> TagSynonyms {
        let mut by_terms = HashMap::new();
        let mut longest = 0;
        for tag in tags {
            let own = analyzer::ordered_terms(&tag.name);
            for synonym in &tag.synonyms {
                let terms = analyzer::ordered_terms(synonym);
                if terms.is_empty() || terms == own {
                    continue;
                }
                longest = longest.max(terms.len());
                by_terms.entry(terms).or_insert_with(|| tag.name.clone());
            }
        }
        TagSynonyms { by_terms, longest }
    }

    /// How many synonyms there are.
    pub fn len(&self) -> usize {
        self.by_terms.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_terms.is_empty()
    }

    /// The synonyms `query` holds, longest match first at each place, each
    /// tag once, in query order.
    pub fn expand(&self, query: &str) -> Vec<Expansion> {
        if self.by_terms.is_empty() {
            return Vec::new();
        }
        let terms = analyzer::ordered_terms(query);
        let mut expansions: Vec<Expansion> = Vec::new();
        let mut start = 0;
        while start < terms.len() {
            let mut matched = 0;
            for length in (1..=self.longest.min(terms.len() - start)).rev() {
                let window = &terms[start..start + length];
                if let Some(tag) = self.by_terms.get(window) {
                    if !expansions.iter().any(|expansion| expansion.tag == *tag) {
                        expansions.push(Expansion {
                            from: window.join(" "),
                            tag: tag.clone(),
                            terms: analyzer::ordered_terms(tag),
                        });
                    }
                    matched = length;
                    break;
                }
            }
            start += matched.max(1);
        }
        expansions
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag(name: &str, synonyms: &[&str]) -> Tag {
        Tag {
            name: name.to_string(),
            count: 1,
            excerpt: None,
            wiki: None,
            synonyms: synonyms.iter().map(|synonym| synonym.to_string()).collect(),
        }
    }

    #[test]
    fn a_synonym_in_a_query_names_its_tag() {
        let synonyms = TagSynonyms::new(&[
            tag("javascript", &["js", "ecmascript"]),
            tag("kubernetes", &["k8s"]),
        ]);
        let found = synonyms.expand("How do JS closures capture loop variables?");
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].from, "js");
        assert_eq!(found[0].tag, "javascript");
        assert_eq!(found[0].terms, vec!["javascript"]);
        assert!(synonyms.expand("closures in javascript").is_empty());
        let tags: Vec<String> = synonyms
            .expand("deploy k8s with js and more js")
            .into_iter()
            .map(|expansion| expansion.tag)
            .collect();
        assert_eq!(tags, vec!["kubernetes", "javascript"]);
    }

    #[test]
    fn synonyms_of_several_words_match_in_a_row_longest_first() {
        let synonyms = TagSynonyms::new(&[
            tag("neural-networks", &["neural nets", "ann"]),
            tag("nets", &["net"]),
            tag("machine-learning", &["机器学习"]),
        ]);
        let found = synonyms.expand("training neural nets quickly");
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].tag, "neural-networks");
        // The hyphenated name whole, and its words.
        for term in ["neural", "networks"] {
            assert!(found[0].terms.iter().any(|own| own == term), "{found:?}");
        }
        // Words apart do not make the synonym.
        assert!(
            synonyms
                .expand("neural models and fishing nets")
                .iter()
                .all(|expansion| expansion.tag != "neural-networks")
        );
        let chinese = synonyms.expand("如何入门机器学习");
        assert_eq!(chinese.len(), 1, "{chinese:?}");
        assert_eq!(chinese[0].tag, "machine-learning");
    }

    #[test]
    fn a_synonym_equal_to_its_tag_or_empty_is_ignored() {
        let synonyms = TagSynonyms::new(&[tag("c#", &["C#", "!!", "csharp"])]);
        assert_eq!(synonyms.len(), 1);
        assert_eq!(synonyms.expand("csharp generics")[0].tag, "c#");
    }
}
