//! Every surface form of every entity, matched in one pass over a text
//! (Aho-Corasick, leftmost-longest, ASCII case-insensitive), kept only where
//! it stands as a whole word: `java` is not found in `javascript`, `c` not in
//! `c#`. Chinese has no spaces between words, so a form that starts or ends
//! with a Han character needs no boundary on that side.

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};

use crate::vocab::Vocabulary;

/// Forms shorter than this many characters are not matched: `r`, `c` and
/// `go` as words are mostly not the languages. (Two-letter forms such as
/// `ml`, `nn`, `ai` are kept; their link priors decide.)
const MIN_FORM_CHARS: usize = 2;

/// One match: which entry, where (byte offsets), and whether the form was
/// the entry's own key (rather than an alias).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Match {
    pub entry: usize,
    pub start: usize,
    pub end: usize,
}

/// The matcher over a vocabulary's surface forms.
#[derive(Debug, Clone)]
pub struct Gazetteer {
    automaton: Option<AhoCorasick>,
    /// Pattern index → entry index.
    entries: Vec<usize>,
}

impl Gazetteer {
    pub fn new(vocabulary: &Vocabulary) -> Gazetteer {
        let mut forms: Vec<(String, usize)> = Vec::new();
        for (index, entry) in vocabulary.entries().iter().enumerate() {
            for key in std::iter::once(&entry.key).chain(&entry.aliases) {
                for form in surface_forms(key) {
                    if form.chars().count() >= MIN_FORM_CHARS {
                        forms.push((form, index));
                    }
                }
            }
        }
        // One pattern per form: the first entry that claims it (the
        // vocabulary lists the most used tags first).
        let mut seen = std::collections::HashSet::new();
        forms.retain(|(form, _)| seen.insert(form.clone()));
        if forms.is_empty() {
            return Gazetteer {
                automaton: None,
                entries: Vec::new(),
            };
        }
        let automaton = AhoCorasickBuilder::new()
            .match_kind(MatchKind::LeftmostLongest)
            .ascii_case_insensitive(true)
            .build(forms.iter().map(|(form, _)| form.as_str()))
            .expect("surface forms are short literal strings");
        Gazetteer {
            automaton: Some(automaton),
            entries: forms.into_iter().map(|(_, entry)| entry).collect(),
        }
    }

    /// The whole-word matches in `text`, in order, not overlapping.
    pub fn find(&self, text: &str) -> Vec<Match> {
        let Some(automaton) = &self.automaton else {
            return Vec::new();
        };
        // Non-ASCII letters are not folded by the automaton: match on a
        // lower-cased copy when the text has upper-case non-ASCII letters and
        // lowering keeps every byte offset (same length).
        let lowered;
        let haystack = if text.chars().any(|c| !c.is_ascii() && c.is_uppercase()) {
            lowered = text.to_lowercase();
            if lowered.len() == text.len() {
                lowered.as_str()
            } else {
                text
            }
        } else {
            text
        };
        automaton
            .find_iter(haystack)
            .filter(|found| whole_word(text, found.start(), found.end()))
            .map(|found| Match {
                entry: self.entries[found.pattern().as_usize()],
                start: found.start(),
                end: found.end(),
            })
            .collect()
    }
}

/// The spellings a key is matched under: as written (`machine-learning`),
/// with spaces (`machine learning`) and run together for short compounds
/// (`tensorflow` for `tensor-flow`); Chinese keys as they are.
fn surface_forms(key: &str) -> Vec<String> {
    let mut forms = vec![key.to_string()];
    if key.contains('-') {
        forms.push(key.replace('-', " "));
        forms.push(key.replace('-', "_"));
    }
    forms
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

fn is_han(c: char) -> bool {
    matches!(c, '\u{4E00}'..='\u{9FFF}' | '\u{3400}'..='\u{4DBF}' | '\u{F900}'..='\u{FAFF}')
}

/// True when `text[start..end]` is not part of a longer word.
fn whole_word(text: &str, start: usize, end: usize) -> bool {
    let found = &text[start..end];
    let (Some(first), Some(last)) = (found.chars().next(), found.chars().next_back()) else {
        return false;
    };
    let before = text[..start].chars().next_back();
    let after = text[end..].chars().next();
    let left_ok = is_han(first)
        || !is_word_char(first)
        || before.is_none_or(|c| !is_word_char(c) && c != '.' || is_han(c) && !is_han(first));
    // `c#`, `c++` and `node.js` continue with `#`, `+`, `.js`: `c` or `node`
    // alone must not match there; a sentence's full stop may follow a name.
    let right_ok = is_han(last)
        || !is_word_char(last)
        || after.is_none_or(|c| {
            let continues_name = matches!(c, '#' | '+')
                || c == '.' && text[end + 1..].starts_with(|next: char| next.is_alphanumeric());
            !is_word_char(c) && !continues_name || is_han(c) && !is_han(last)
        });
    left_ok && right_ok
}

#[cfg(test)]
mod tests {
    use super::*;
    use steward_domain::Tag;

    fn vocabulary(names: &[(&str, &[&str])]) -> Vocabulary {
        let tags: Vec<Tag> = names
            .iter()
            .map(|(name, synonyms)| Tag {
                name: name.to_string(),
                count: 1,
                excerpt: None,
                wiki: None,
                synonyms: synonyms.iter().map(|s| s.to_string()).collect(),
            })
            .collect();
        Vocabulary::from_tags(&tags)
    }

    fn found<'t>(
        gazetteer: &Gazetteer,
        vocabulary: &Vocabulary,
        text: &'t str,
    ) -> Vec<(&'t str, String)> {
        gazetteer
            .find(text)
            .into_iter()
            .map(|m| (&text[m.start..m.end], vocabulary.entry(m.entry).key.clone()))
            .collect()
    }

    #[test]
    fn names_are_found_as_whole_words_in_mixed_text() {
        let vocabulary = vocabulary(&[
            ("java", &[]),
            ("javascript", &["js"]),
            ("c#", &[]),
            ("node.js", &[]),
            ("machine-learning", &["ml", "机器学习"]),
            ("tensorflow", &[]),
            ("强化学习", &[]),
        ]);
        let gazetteer = Gazetteer::new(&vocabulary);
        let text = "I moved from Java to JavaScript (JS) and C#; Node.js runs it. \
                    Machine Learning with TensorFlow, javanese no. 我在学习机器学习和强化学习。 nodejs";
        assert_eq!(
            found(&gazetteer, &vocabulary, text),
            [
                ("Java", "java".to_string()),
                ("JavaScript", "javascript".to_string()),
                ("JS", "javascript".to_string()),
                ("C#", "c#".to_string()),
                ("Node.js", "node.js".to_string()),
                ("Machine Learning", "machine-learning".to_string()),
                ("TensorFlow", "tensorflow".to_string()),
                ("机器学习", "machine-learning".to_string()),
                ("强化学习", "强化学习".to_string()),
            ]
        );
    }

    #[test]
    fn a_name_inside_a_longer_one_is_not_found() {
        let vocabulary = vocabulary(&[("c", &[]), ("node", &[]), ("go", &[])]);
        let gazetteer = Gazetteer::new(&vocabulary);
        assert!(
            found(&gazetteer, &vocabulary, "c# and c++ in node.js, golang")
                .iter()
                .all(|(s, _)| *s != "c" && *s != "node"),
        );
        assert_eq!(
            found(&gazetteer, &vocabulary, "Run node. Then go"),
            [("node", "node".to_string()), ("go", "go".to_string())]
        );
        assert!(
            Gazetteer::new(&Vocabulary::default())
                .find("anything")
                .is_empty()
        );
    }
}
