//! Typed relations read off single sentences by lexical cues ("X is built on
//! Y", "X 和 Y 的区别"), and the sentence splitter that feeds them.
//!
//! Precision over recall: a cue fires only when the text *between* two
//! adjacent mentions is exactly one of its phrasings (after lower-casing,
//! dropping hedges such as "actually" and a leading ", which"), and, for
//! some cues, when the few words just before the first mention or just after
//! the second are the cue's own ("difference between X and Y", "X and Y
//! together"). A sentence that says more than that between the two names
//! yields nothing: a missed relation costs less than a wrong edge that
//! every later query repeats. Each cue has a name, kept as provenance, and a
//! confidence of its own.

use std::collections::HashMap;
use std::sync::LazyLock;

use crate::relation::Relation;

/// One entity mention inside a sentence, as the gazetteer or tagger found it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SentenceMention {
    /// Byte offset of the first byte of the mention in the sentence.
    pub start: usize,
    /// Byte offset just past the mention.
    pub end: usize,
    /// The entity the mention was linked to.
    pub entity: u32,
}

/// A typed relation found in a sentence.
///
/// For symmetric relations (`alternative_to`, `used_with`) `source` is the
/// entity mentioned first; the graph normalises the pair when it loads it.
#[derive(Debug, Clone, PartialEq)]
pub struct Found {
    /// The entity the relation goes from (the cause for `causes`, the fix
    /// for `solves`, the part for `part_of`).
    pub source: u32,
    /// The entity the relation goes to.
    pub target: u32,
    /// What the cue says the relation is.
    pub relation: Relation,
    /// How often the cue is right on forum text, by our reading; in (0, 1].
    pub confidence: f32,
    /// The cue's name (`built_on`, `zh_difference`, ...), kept as provenance.
    pub cue: &'static str,
}

/// The typed relations the cues find between adjacent mentions of
/// `sentence`. `mentions` must be sorted by `start` and not overlap; a pair
/// whose offsets are out of order or off a character boundary is skipped.
/// Mentions of the same entity never relate to each other, and a pair found
/// by several cues is returned once, with the most confident cue.
pub fn extract(sentence: &str, mentions: &[SentenceMention]) -> Vec<Found> {
    let mut found: Vec<Found> = Vec::new();
    let asks = is_question(sentence);
    for (pair_idx, pair) in mentions.windows(2).enumerate() {
        let (first, second) = (pair[0], pair[1]);
        if first.entity == second.entity {
            continue;
        }
        let before_start = if pair_idx == 0 {
            0
        } else {
            mentions[pair_idx - 1].end
        };
        let after_end = mentions
            .get(pair_idx + 2)
            .map_or(sentence.len(), |next| next.start);
        let (Some(before), Some(between), Some(after)) = (
            sentence.get(before_start..first.start),
            sentence.get(first.end..second.start),
            sentence.get(second.end..after_end),
        ) else {
            continue;
        };
        let Some(best) = best_cue(before, between, after, asks) else {
            continue;
        };
        let (source, target) = match best.direction {
            Direction::Forward => (first.entity, second.entity),
            Direction::Backward => (second.entity, first.entity),
        };
        let candidate = Found {
            source,
            target,
            relation: best.relation,
            confidence: best.confidence,
            cue: best.name,
        };
        match found.iter_mut().find(|known| {
            known.source == source && known.target == target && known.relation == best.relation
        }) {
            Some(known) if known.confidence < candidate.confidence => *known = candidate,
            Some(_) => {}
            None => found.push(candidate),
        }
    }
    found
}

/// The names, relations and confidences of every cue, for documentation and
/// for reports that count relations by cue.
pub fn cue_catalog() -> Vec<(&'static str, Relation, f32)> {
    let mut catalog: Vec<(&'static str, Relation, f32)> = Vec::new();
    for cue in &CUES.cues {
        if !catalog.iter().any(|(name, _, _)| *name == cue.name) {
            catalog.push((cue.name, cue.relation, cue.confidence));
        }
    }
    catalog
}

/// Byte ranges of the sentences of `text`, whitespace trimmed, empty ones
/// left out.
///
/// A sentence ends at every line break, at `。！？；`, and at `.`, `!` or `?`
/// when what follows (past closing quotes and brackets) is the end of the
/// text or white space and then an upper-case letter or a caseless script.
/// So `node.js`, `v1.2.3`, `foo.bar()` and URLs never split (no space
/// follows the dot), nor does "e.g. Python" (a known abbreviation) or the
/// "1." of a numbered list item.
pub fn split_sentences(text: &str) -> Vec<(usize, usize)> {
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let byte_at = |idx: usize| chars.get(idx).map_or(text.len(), |&(pos, _)| pos);
    let mut ranges = Vec::new();
    let mut start = 0;
    let mut idx = 0;
    while idx < chars.len() {
        let (pos, ch) = chars[idx];
        if ch == '\n' {
            push_trimmed(text, start, pos, &mut ranges);
            start = pos + 1;
            idx += 1;
            continue;
        }
        if matches!(ch, '。' | '！' | '？' | '；') {
            let mut next = idx + 1;
            while next < chars.len()
                && (matches!(chars[next].1, '。' | '！' | '？' | '；' | '!' | '?')
                    || is_closing(chars[next].1))
            {
                next += 1;
            }
            let end = byte_at(next);
            push_trimmed(text, start, end, &mut ranges);
            start = end;
            idx = next;
            continue;
        }
        if matches!(ch, '.' | '!' | '?') {
            let mut next = idx + 1;
            while next < chars.len() && matches!(chars[next].1, '.' | '!' | '?') {
                next += 1;
            }
            while next < chars.len() && is_closing(chars[next].1) {
                next += 1;
            }
            let ends_here = match chars.get(next) {
                None => true,
                Some(&(_, following)) if following.is_whitespace() => {
                    let mut look = next;
                    while look < chars.len()
                        && chars[look].1.is_whitespace()
                        && chars[look].1 != '\n'
                    {
                        look += 1;
                    }
                    let lone_dot = ch == '.' && next == idx + 1;
                    look >= chars.len()
                        || chars[look].1 == '\n'
                        || (starts_sentence(&chars[look..])
                            && !(lone_dot && abbreviation_or_list_marker(text, start, pos)))
                }
                Some(_) => false,
            };
            if ends_here {
                let end = byte_at(next);
                push_trimmed(text, start, end, &mut ranges);
                start = end;
            }
            idx = next;
            continue;
        }
        idx += 1;
    }
    push_trimmed(text, start, text.len(), &mut ranges);
    ranges
}

fn push_trimmed(text: &str, start: usize, end: usize, ranges: &mut Vec<(usize, usize)>) {
    let Some(piece) = text.get(start..end) else {
        return;
    };
    let trimmed_start = start + (piece.len() - piece.trim_start().len());
    let trimmed_end = end - (piece.len() - piece.trim_end().len());
    if trimmed_start < trimmed_end {
        ranges.push((trimmed_start, trimmed_end));
    }
}

fn is_closing(ch: char) -> bool {
    matches!(
        ch,
        '"' | '\'' | ')' | ']' | '}' | '”' | '’' | '」' | '』' | '）' | '》' | '`' | '*'
    )
}

/// Whether the characters start a new sentence: an upper-case letter, a
/// letter of a caseless script (Chinese), possibly behind opening quotes.
fn starts_sentence(rest: &[(usize, char)]) -> bool {
    for &(_, ch) in rest {
        if matches!(
            ch,
            '"' | '\'' | '(' | '[' | '“' | '‘' | '「' | '『' | '（' | '《' | '`' | '*'
        ) {
            continue;
        }
        return ch.is_uppercase() || (ch.is_alphabetic() && !ch.is_lowercase());
    }
    false
}

/// Whether the dot at `dot` closes an abbreviation that never ends a
/// sentence ("e.g.", "vs.") or a list number at the start of the sentence.
fn abbreviation_or_list_marker(text: &str, sentence_start: usize, dot: usize) -> bool {
    const ABBREVIATIONS: &[&str] = &[
        "e.g", "i.e", "eg", "ie", "vs", "v.s", "cf", "approx", "incl", "viz", "mr", "mrs", "ms",
        "dr", "prof", "fig", "resp",
    ];
    let head = &text[sentence_start..dot];
    let word_start = head
        .rfind(|ch: char| ch.is_whitespace() || matches!(ch, '(' | '[' | '"' | '\'' | '`'))
        .map_or(0, |found| found + 1);
    let word = &head[word_start..];
    if ABBREVIATIONS
        .iter()
        .any(|abbreviation| word.eq_ignore_ascii_case(abbreviation))
    {
        return true;
    }
    let is_number = !word.is_empty() && word.len() <= 3 && word.bytes().all(|b| b.is_ascii_digit());
    is_number && head[..word_start].trim().is_empty()
}

fn is_question(sentence: &str) -> bool {
    let trimmed = sentence.trim_end_matches(|ch: char| ch.is_whitespace() || is_closing(ch));
    trimmed.ends_with('?') || trimmed.ends_with('？')
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    /// The first mention is the source.
    Forward,
    /// The second mention is the source.
    Backward,
}

/// A cue as written in the table below. Phrasings are templates: `{a|b|}`
/// is a choice, an empty alternative makes it optional.
#[derive(Debug)]
struct CueSpec {
    name: &'static str,
    relation: Relation,
    confidence: f32,
    direction: Direction,
    between: &'static [&'static str],
    /// The text before the first mention must end with one of these.
    before: &'static [&'static str],
    /// The text after the second mention must start with one of these.
    after: &'static [&'static str],
    /// The first mention must not open the sentence or a clause right
    /// after one of these ("In Python, a list is ..."): the text before it
    /// is not exactly the phrase, nor ends with ", " and the phrase.
    not_opening: &'static [&'static str],
    /// The second mention must end its noun phrase ("Django is a Python web
    /// framework" is not `django is_a python`).
    head: bool,
    /// The sentence must be a question ("X or Y?").
    question: bool,
}

#[derive(Debug)]
struct Cue {
    name: &'static str,
    relation: Relation,
    confidence: f32,
    direction: Direction,
    before: Vec<String>,
    after: Vec<String>,
    not_opening: Vec<String>,
    head: bool,
    question: bool,
}

#[derive(Debug)]
struct CueTable {
    cues: Vec<Cue>,
    /// Normalised between-phrasing → the cues that accept it.
    by_between: HashMap<String, Vec<usize>>,
}

static CUES: LazyLock<CueTable> = LazyLock::new(|| {
    let mut cues = Vec::new();
    let mut by_between: HashMap<String, Vec<usize>> = HashMap::new();
    for spec in cue_specs() {
        let cue_idx = cues.len();
        for template in spec.between {
            for phrasing in expand(template) {
                let entry = by_between.entry(phrasing).or_default();
                if !entry.contains(&cue_idx) {
                    entry.push(cue_idx);
                }
            }
        }
        cues.push(Cue {
            name: spec.name,
            relation: spec.relation,
            confidence: spec.confidence,
            direction: spec.direction,
            before: spec.before.iter().flat_map(|t| expand(t)).collect(),
            after: spec.after.iter().flat_map(|t| expand(t)).collect(),
            not_opening: spec.not_opening.iter().flat_map(|t| expand(t)).collect(),
            head: spec.head,
            question: spec.question,
        });
    }
    CueTable { cues, by_between }
});

fn best_cue(before: &str, between: &str, after: &str, asks: bool) -> Option<&'static Cue> {
    let table = &*CUES;
    let between = strip_lead(&drop_fillers(&normalise(between)));
    if has_negation(&between) {
        return None;
    }
    let before = normalise(before);
    let after = normalise(after);
    let before_negated = {
        let tail: Vec<&str> = before.split(' ').rev().take(3).collect();
        tail.iter().any(|word| has_negation(word))
    };
    let before_bare = strip_trailing_determiner(&before);
    let between_bare = strip_trailing_determiner(&between);

    let mut best: Option<&'static Cue> = None;
    let mut consider = |phrasing: &str, bare: bool| {
        let Some(cue_ids) = table.by_between.get(phrasing) else {
            return;
        };
        for &cue_idx in cue_ids {
            let cue = &table.cues[cue_idx];
            // "X is a the Y" means nothing; the article is the is_a cue itself.
            if bare && cue.relation == Relation::IsA {
                continue;
            }
            if cue.question && !asks {
                continue;
            }
            if !cue.before.is_empty()
                && (before_negated
                    || !cue.before.iter().any(|phrase| {
                        ends_with_phrase(&before, phrase) || ends_with_phrase(before_bare, phrase)
                    }))
            {
                continue;
            }
            if !cue.after.is_empty()
                && !cue
                    .after
                    .iter()
                    .any(|phrase| starts_with_phrase(&after, phrase))
            {
                continue;
            }
            if cue.not_opening.iter().any(|phrase| {
                before == *phrase
                    || before
                        .strip_suffix(phrase.as_str())
                        .is_some_and(|rest| rest.ends_with(", ") || rest.ends_with(","))
            }) {
                continue;
            }
            if cue.head && !ends_noun_phrase(&after) {
                continue;
            }
            if best.is_none_or(|known| known.confidence < cue.confidence) {
                best = Some(cue);
            }
        }
    };
    consider(&between, false);
    if between_bare != between {
        consider(between_bare, true);
    }
    best
}

/// Lower-cases, maps full-width punctuation and curly quotes to ASCII,
/// drops markup quotes (backticks, `*`, `"`, stray `'`), collapses white
/// space and removes the spaces next to Chinese characters, so "X 是 一种"
/// and "X是一种" read alike.
fn normalise(text: &str) -> String {
    let mapped: Vec<char> =
        text.chars()
            .flat_map(char::to_lowercase)
            .map(|ch| match ch {
                '，' => ',',
                '：' => ':',
                '（' => '(',
                '）' => ')',
                '？' => '?',
                '！' => '!',
                '；' => ';',
                '‘' | '’' => '\'',
                '`' | '*' | '"' | '“' | '”' | '«' | '»' | '「' | '」' | '『' | '』' | '《'
                | '》' => ' ',
                other if other.is_whitespace() => ' ',
                other => other,
            })
            .collect();
    let mut out = String::with_capacity(text.len());
    for (idx, &ch) in mapped.iter().enumerate() {
        if ch == '\'' {
            // Keep the apostrophe of "isn't" and "Django's", drop quotes.
            let prev = idx.checked_sub(1).map(|p| mapped[p]);
            let next = mapped.get(idx + 1).copied();
            let next_alnum = next.is_some_and(char::is_alphanumeric);
            let prev_ok = prev.is_none_or(char::is_alphanumeric);
            if !(next_alnum && prev_ok) {
                out.push(' ');
                continue;
            }
        }
        out.push(ch);
    }
    let mut collapsed = String::with_capacity(out.len());
    let words: Vec<&str> = out.split(' ').filter(|word| !word.is_empty()).collect();
    for (idx, word) in words.iter().enumerate() {
        if idx > 0 {
            let prev_last = words[idx - 1].chars().last();
            let next_first = word.chars().next();
            if !(prev_last.is_some_and(is_cjk) || next_first.is_some_and(is_cjk)) {
                collapsed.push(' ');
            }
        }
        collapsed.push_str(word);
    }
    collapsed
}

fn is_cjk(ch: char) -> bool {
    matches!(ch as u32,
        0x3000..=0x303F | 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0xFF00..=0xFFEF
        | 0x20000..=0x2FA1F)
}

fn is_word_char(ch: char) -> bool {
    ch.is_alphanumeric() && !is_cjk(ch)
}

/// Hedges that change nothing about the relation ("X actually depends on Y").
const FILLERS: &[&str] = &[
    "also",
    "actually",
    "basically",
    "just",
    "really",
    "simply",
    "essentially",
    "still",
    "now",
    "already",
    "currently",
    "definitely",
    "probably",
    "certainly",
    "usually",
    "typically",
    "often",
    "generally",
    "mostly",
    "merely",
    "literally",
    "obviously",
];

fn drop_fillers(text: &str) -> String {
    text.split(' ')
        .filter(|word| !FILLERS.contains(word))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Drops a leading relative pronoun: "X, which is built on Y" reads as "X
/// is built on Y".
fn strip_lead(text: &str) -> String {
    for lead in [", which ", ", that ", ", who ", "which ", "that "] {
        if let Some(rest) = text.strip_prefix(lead) {
            return rest.to_owned();
        }
    }
    text.to_owned()
}

/// "depends on the JVM" and "use the X with Y": the determiner belongs to
/// the mention, not the cue.
fn strip_trailing_determiner(text: &str) -> &str {
    for determiner in [
        "the", "a", "an", "this", "that", "your", "my", "its", "their", "our", "some",
    ] {
        if let Some(rest) = text.strip_suffix(determiner)
            && (rest.is_empty() || rest.ends_with(' '))
        {
            return rest.trim_end();
        }
    }
    text
}

fn has_negation(text: &str) -> bool {
    const NEGATIONS: &[&str] = &[
        "not", "never", "no", "neither", "nor", "without", "cannot", "hardly",
    ];
    let english = text.split(' ').any(|word| {
        let word = word.trim_matches(|ch: char| !ch.is_alphanumeric() && ch != '\'');
        NEGATIONS.contains(&word) || word.ends_with("n't")
    });
    english
        || text
            .chars()
            .any(|ch| matches!(ch, '不' | '没' | '非' | '别' | '无'))
}

fn ends_with_phrase(haystack: &str, phrase: &str) -> bool {
    if phrase.is_empty() || !haystack.ends_with(phrase) {
        return false;
    }
    let before = haystack[..haystack.len() - phrase.len()].chars().last();
    let first = phrase.chars().next();
    !(before.is_some_and(is_word_char) && first.is_some_and(is_word_char))
}

fn starts_with_phrase(haystack: &str, phrase: &str) -> bool {
    if phrase.is_empty() || !haystack.starts_with(phrase) {
        return false;
    }
    let after = haystack[phrase.len()..].chars().next();
    let last = phrase.chars().last();
    !(after.is_some_and(is_word_char) && last.is_some_and(is_word_char))
}

/// Whether the text after a mention shows the mention ended its noun
/// phrase: nothing, punctuation, or a word that cannot continue a noun
/// phrase ("Flask is a microframework for Python", but not "Django is a
/// Python web framework").
fn ends_noun_phrase(after: &str) -> bool {
    const FOLLOWERS: &[&str] = &[
        "that",
        "which",
        "who",
        "for",
        "in",
        "with",
        "used",
        "written",
        "from",
        "to",
        "and",
        "or",
        "designed",
        "built",
        "developed",
        "where",
        "when",
        "by",
        "on",
        "is",
        "was",
        "are",
        "of",
        "like",
        "but",
        "so",
        "because",
        "since",
        "as",
        "at",
        "implemented",
        "made",
        "created",
        "maintained",
        "provided",
        "i",
        "you",
        "we",
        "it",
        "they",
        "if",
        "then",
        "than",
        "based",
        "focused",
        "aimed",
        "intended",
        "meant",
        "similar",
        "rather",
        "too",
        "itself",
        "here",
        "there",
        "again",
        "sometimes",
        "always",
        "randomly",
        "immediately",
        "every",
        "each",
        "only",
        "even",
        "after",
        "before",
        "during",
        "while",
        "whenever",
        "until",
        "unless",
        "instead",
    ];
    const ZH_FOLLOWERS: &[&str] = &[
        "之一", "用于", "可以", "它", "而", "但", "也", "并", "能", "主要",
    ];
    let Some(first) = after.chars().next() else {
        return true;
    };
    if is_cjk(first) {
        return ZH_FOLLOWERS.iter().any(|word| after.starts_with(word)) || !first.is_alphanumeric();
    }
    if !first.is_alphanumeric() {
        return true;
    }
    let word = after
        .split(|ch: char| !is_word_char(ch))
        .next()
        .unwrap_or_default();
    FOLLOWERS.contains(&word)
}

/// Expands a template (`is {a|an} {kind|type} of`) into its normalised
/// phrasings.
fn expand(template: &str) -> Vec<String> {
    let template = template.replace("ADJ", ADJECTIVES);
    let mut phrasings = vec![String::new()];
    let mut rest = template.as_str();
    while !rest.is_empty() {
        let (choices, remainder): (Vec<&str>, &str) = match rest.find('{') {
            Some(0) => {
                let close = rest.find('}').unwrap_or(rest.len());
                (
                    rest[1..close].split('|').collect(),
                    rest.get(close + 1..).unwrap_or_default(),
                )
            }
            Some(open) => (vec![&rest[..open]], &rest[open..]),
            None => (vec![rest], ""),
        };
        phrasings = phrasings
            .iter()
            .flat_map(|prefix| {
                choices
                    .iter()
                    .map(move |choice| format!("{prefix}{choice}"))
            })
            .collect();
        rest = remainder;
    }
    let mut normalised: Vec<String> = phrasings.iter().map(|p| normalise(p)).collect();
    normalised.sort();
    normalised.dedup();
    normalised
}

const PREPOSITIONS: &str = "{in|on|with|for|from|to|at|by|of|using|after|before|since|unlike|like|into|inside|within|without|about|under|over|via|through|across|than|as}";

const ADJECTIVES: &str = "{popular|lightweight|light-weight|modern|small|fast|free|simple|powerful|high-level|low-level|general-purpose|cross-platform|statically typed|dynamically typed|functional|minimal|new|relational|distributed|object-oriented|compiled|interpreted|open-source|open source|standalone|third-party|built-in|widely used|common|well-known|mature|declarative|full-featured|full-stack|minimalist|micro|}";

fn spec(
    name: &'static str,
    relation: Relation,
    confidence: f32,
    direction: Direction,
    between: &'static [&'static str],
) -> CueSpec {
    CueSpec {
        name,
        relation,
        confidence,
        direction,
        between,
        before: &[],
        after: &[],
        not_opening: &[],
        head: false,
        question: false,
    }
}

impl CueSpec {
    fn before(mut self, before: &'static [&'static str]) -> CueSpec {
        self.before = before;
        self
    }
    fn after(mut self, after: &'static [&'static str]) -> CueSpec {
        self.after = after;
        self
    }
    fn not_opening(mut self, not_opening: &'static [&'static str]) -> CueSpec {
        self.not_opening = not_opening;
        self
    }
    fn head(mut self) -> CueSpec {
        self.head = true;
        self
    }
    fn question(mut self) -> CueSpec {
        self.question = true;
        self
    }
}

/// The cue table. `ADJ` in a template stands for the common adjectives
/// ("is a lightweight Y"), spelled out by [`expand`].
fn cue_specs() -> Vec<CueSpec> {
    use Direction::{Backward, Forward};
    use Relation::{AlternativeTo, Causes, DependsOn, IsA, PartOf, Solves, UsedWith};
    vec![
        // ---- is_a ----
        spec(
            "is_a",
            IsA,
            0.75,
            Forward,
            &[
                "is {a|an} ADJ",
                "{is|are} {a|an|one} ADJ {kind|type|sort|form|variety|flavor|flavour} of {a|an|}",
            ],
        )
        .head(),
        spec(
            "appositive",
            IsA,
            0.6,
            Forward,
            &[", {a|an} ADJ", "({a|an} ADJ", "- {a|an} ADJ", "— {a|an} ADJ"],
        )
        // "In Python, a list is ...": the comma closes a phrase, not a name.
        .not_opening(&[PREPOSITIONS])
        .head(),
        spec(
            "such_as",
            IsA,
            0.7,
            Backward,
            &["{,|} such as", "{,|(} e.g.{,|}", "{,|(} for example{,|}"],
        ),
        spec("and_other", IsA, 0.7, Forward, &["{,|} {and|or} other"]).head(),
        spec(
            "zh_is_a",
            IsA,
            0.8,
            Forward,
            &["{就|其实|本身|本质上|也|}是{一种|一个|一款|一门|一类|个|一套|一项}"],
        )
        .head(),
        spec("zh_is", IsA, 0.6, Forward, &["{就|}是"]).head(),
        spec("zh_is_kind_of", IsA, 0.8, Forward, &["{是|属于}"]).after(&["的{一种|一类}"]),
        spec("zh_belongs_to", IsA, 0.7, Forward, &["属于"]).head(),
        // ---- part_of ----
        spec(
            "part_of",
            PartOf,
            0.75,
            Forward,
            &["{is|are|,} {a|an|} part of", "{is|,} {a|an|one} {core|main|} component of"],
        ),
        spec(
            "module_of",
            PartOf,
            0.7,
            Forward,
            &[
                "{is|,|} {a|an|one|the|} {standard library|built-in|core|standard|main|} {module|package|submodule|subpackage|namespace|class|function|method|crate|subcommand|command} {of|in|from}",
            ],
        ),
        spec(
            "possessive_part",
            PartOf,
            0.7,
            Backward,
            &["'s {standard library|built-in|core|standard|stdlib|}"],
        )
        .after(&[
            "{module|modules|package|submodule|subpackage|component|class|function|method|hook|api|command|subcommand|namespace|crate|keyword|decorator|directive}",
        ]),
        spec("zh_part_of", PartOf, 0.8, Forward, &["是"]).after(&[
            "的{一部分|组成部分|一个组件|组件|一个模块|模块|子模块|内置模块|标准库}",
        ]),
        spec(
            "zh_possessive_part",
            PartOf,
            0.7,
            Backward,
            &["{的|中的|里的|里面的|自带的|内置的|标准库中的|标准库的}"],
        )
        .after(&["{模块|组件|子模块|包|函数|类|方法|命令}"]),
        // ---- alternative_to ----
        spec("versus", AlternativeTo, 0.8, Forward, &["{vs|vs.|versus|v.s.|v/s}"]),
        spec("or_question", AlternativeTo, 0.6, Forward, &["{,|} or"]).question(),
        spec(
            "compared_to",
            AlternativeTo,
            0.75,
            Forward,
            &["{,|} compared {to|with}", "{,|} in comparison {to|with}"],
        ),
        spec(
            "comparative",
            AlternativeTo,
            0.6,
            Forward,
            &["{is|are|seems|feels|was} {much|way|a lot|far|a bit|slightly|} {better|worse|faster|slower|easier|harder|simpler|lighter|heavier|more popular|more mature|more powerful|more flexible|less verbose|more verbose|more modern|smaller|bigger} than"],
        ),
        spec("difference_between", AlternativeTo, 0.85, Forward, &["{and|&}"]).before(&[
            "{difference|differences|diff|distinction|choose|choosing|decide|deciding|pick|picking} between",
            "difference btw",
        ]),
        spec(
            "comparing",
            AlternativeTo,
            0.75,
            Forward,
            &["{and|with|to|vs|vs.|&}"],
        )
        .before(&["{compare|comparing|comparison of|comparison between|benchmarking}"]),
        spec(
            "instead_of",
            AlternativeTo,
            0.75,
            Forward,
            &["{,|} {instead of|rather than|in place of}"],
        ),
        spec("prefer_over", AlternativeTo, 0.7, Forward, &["over"]).before(&[
            "{use|using|prefer|preferring|choose|choosing|pick|picking|recommend|chose|picked}",
        ]),
        spec(
            "alternative_to",
            AlternativeTo,
            0.8,
            Forward,
            &[
                "{is|,|as|are} {a|an|} {good|great|popular|lightweight|modern|faster|simpler|drop-in|open source|open-source|free|newer|better|viable|common|} {alternative|replacement|substitute} {to|for}",
            ],
        ),
        spec(
            "alternative_question",
            AlternativeTo,
            0.75,
            Forward,
            &["{a|an} {good|great|popular|lightweight|modern|faster|simpler|drop-in|viable|better|} {alternative|replacement|substitute} {to|for}"],
        )
        .before(&["{is|are}"]),
        spec(
            "alternatives_like",
            AlternativeTo,
            0.75,
            Forward,
            &["{,|} {such as|like|e.g.|including}", "{are|include}"],
        )
        .before(&["alternatives {to|for}", "alternative {to|for}"]),
        spec(
            "alternatives_named",
            AlternativeTo,
            0.7,
            Forward,
            &["{alternatives|alternative} {,|} {like|such as|including|e.g.}"],
        ),
        spec(
            "successor",
            AlternativeTo,
            0.75,
            Forward,
            &[
                "{is|was} the {successor|replacement} {of|to|for}",
                "{replaced|replaces|superseded|supersedes|succeeded|succeeds}",
                "{has|have} {replaced|superseded}",
                "{is|was|has been|have been|got|are|were} {replaced|superseded|deprecated} {by|in favor of|in favour of}",
                "{,|} deprecated in {favor|favour} of",
            ],
        ),
        spec("migrate_from_to", AlternativeTo, 0.75, Forward, &["to"]).before(&[
            "{migrate|migrating|migrated|migration|switch|switching|switched|move|moving|moved|port|porting|ported|transition|transitioning|convert|converting} from",
        ]),
        spec("zh_difference", AlternativeTo, 0.85, Forward, &["{和|与|跟|同|及}"]).after(&[
            "{的|之间的|之间|}{区别|不同|差异|差别|异同|对比|比较}",
            "有{什么|何|啥|哪些}{区别|不同|差异|差别}",
            "哪个{好|更好|更快|更合适}",
            "{相比|比较|对比}",
        ]),
        spec("zh_or", AlternativeTo, 0.7, Forward, &["还是"]).question(),
        spec(
            "zh_versus",
            AlternativeTo,
            0.8,
            Forward,
            &["{对比|比较|相比|相较于|相比于|对比一下}"],
        ),
        spec(
            "zh_replace_with",
            AlternativeTo,
            0.75,
            Forward,
            &["{来|}{代替|替代|替换|取代}"],
        )
        .before(&["{用|使用|改用|换成}"]),
        spec(
            "zh_replaces",
            AlternativeTo,
            0.7,
            Forward,
            &["{已经|}{代替|替代|取代}了", "{可以|}{代替|替代|取代}"],
        ),
        spec("zh_alternative", AlternativeTo, 0.8, Forward, &["是"])
            .after(&["的{替代品|替代方案|替代者|继任者|继承者|替代}"]),
        spec(
            "zh_migrate",
            AlternativeTo,
            0.75,
            Forward,
            &["{迁移到|切换到|换到|转到|迁移至}"],
        )
        .before(&["从"]),
        // ---- depends_on ----
        spec(
            "built_on",
            DependsOn,
            0.85,
            Forward,
            &["{is|are|was|,|} {built|developed|implemented} {on|upon|on top of|atop|with}"],
        ),
        spec(
            "depends_on",
            DependsOn,
            0.8,
            Forward,
            &[
                "{depends|relies|depend|rely|is dependent|are dependent|is reliant} {heavily|entirely|directly|} on",
                "{has|have} {a|} dependency on",
            ],
        ),
        spec(
            "requires",
            DependsOn,
            0.75,
            Forward,
            &["{requires|require|needs}"],
        ),
        spec(
            "dependency_of",
            DependsOn,
            0.8,
            Backward,
            &[
                "{is|are} {a|an|} {dependency|requirement|prerequisite} {of|for}",
                "{is|are} required by",
            ],
        ),
        spec(
            "uses_under_the_hood",
            DependsOn,
            0.8,
            Forward,
            &["{uses|is using|use}"],
        )
        .after(&[
            "{under the hood|internally|behind the scenes}",
            "as {a|its|the} {backend|back-end|engine|runtime}",
        ]),
        spec(
            "under_the_hood_uses",
            DependsOn,
            0.8,
            Forward,
            &["{,|} {under the hood|internally|behind the scenes} {,|} {uses|relies on|calls}"],
        ),
        spec(
            "based_on",
            DependsOn,
            0.8,
            Forward,
            &["{is|are|was|,|} based on", "{is|,} built around"],
        ),
        spec(
            "wrapper_around",
            DependsOn,
            0.75,
            Forward,
            &[
                "{is|,|are} {a|an|} {thin|simple|lightweight|high-level|small|pythonic|} {wrapper|binding|bindings|interface|frontend|front-end} {around|for|over|to|of}",
                "wraps",
            ],
        ),
        spec(
            "runs_on",
            DependsOn,
            0.7,
            Forward,
            &["{runs|run|is running|are running} on {top of|}", "targets"],
        ),
        spec(
            "written_in",
            DependsOn,
            0.7,
            Forward,
            &["{is|are|was|,|} {written|implemented|coded} {in|using}"],
        ),
        spec(
            "plugin_for",
            DependsOn,
            0.7,
            Forward,
            &["{is|,|are|} {a|an|} {plugin|extension|add-on|addon|module|middleware|binding|bindings|driver|adapter|connector|loader|preset} for"],
        ),
        spec(
            "zh_based_on_prefix",
            DependsOn,
            0.8,
            Backward,
            &["{的|开发的|实现的|构建的|编写的}"],
        )
        .before(&["基于"]),
        spec(
            "zh_depends_on",
            DependsOn,
            0.8,
            Forward,
            &[
                "{是|}基于{的是|}",
                "{需要|}依赖{于|了|}",
                "{底层|内部}{使用|调用|依赖|用的是|是|基于}{了|}",
            ],
        ),
        spec(
            "zh_built_on",
            DependsOn,
            0.85,
            Forward,
            &["{是|}{建立|构建|搭建|运行}在"],
        )
        .after(&["{之上|上|的基础上|基础上}"]),
        spec("zh_written_in", DependsOn, 0.75, Forward, &["{是用|用|使用|是使用}"])
            .after(&["{写|编写|开发|实现|构建}{的|成的|}"]),
        spec("zh_wrapper", DependsOn, 0.75, Forward, &["是"])
            .after(&["的{一个|}{封装|包装|插件|扩展|绑定}"]),
        spec("zh_plugin_of", DependsOn, 0.7, Backward, &["的"])
            .after(&["{插件|扩展|驱动}"]),
        // ---- used_with ----
        spec(
            "use_with",
            UsedWith,
            0.75,
            Forward,
            &["{with|together with|alongside|in combination with|in conjunction with}"],
        )
        .before(&[
            "{use|using|used|uses|combine|combining|combined|pair|pairing|integrate|integrating|integrated}",
        ]),
        spec(
            "together_with",
            UsedWith,
            0.7,
            Forward,
            &["{,|} {together with|alongside|in combination with|in conjunction with|combined with|paired with|in tandem with}"],
        ),
        spec("and_together", UsedWith, 0.75, Forward, &["{and|&|with|+}"]).after(&[
            "{together|in combination|in conjunction|side by side|in the same project|at the same time}",
        ]),
        spec("plus", UsedWith, 0.7, Forward, &["+"]),
        spec(
            "works_with",
            UsedWith,
            0.65,
            Forward,
            &[
                "{works|work|plays|integrates|integrate|interoperates|pairs} {well|nicely|fine|great|seamlessly|} with",
                "{is|are} {fully|} compatible with",
            ],
        ),
        spec(
            "zh_used_with",
            UsedWith,
            0.75,
            Forward,
            &["{配合|搭配|结合|联合|搭配着|配合着}{使用|}"],
        ),
        spec("zh_together", UsedWith, 0.75, Forward, &["{和|与|跟|同}"])
            .after(&["{一起|配合|搭配|结合}{使用|用}", "一起"]),
        // ---- causes (source = cause, target = effect) ----
        spec(
            "causes",
            Causes,
            0.85,
            Forward,
            &["{causes|caused|cause|is causing|was causing|can cause|may cause|might cause|will cause|could cause|leads to|led to|lead to|can lead to|results in|resulted in|result in|triggers|triggered|trigger|can trigger}"],
        )
        .head(),
        spec(
            "throws",
            Causes,
            0.65,
            Forward,
            &["{throws|threw|raises|raised|is throwing|is raising|gives|gave|gives me|produces}"],
        )
        .head(),
        spec(
            "caused_by",
            Causes,
            0.85,
            Backward,
            &["{is|was|are|were|can be|may be|might be|gets|got|} {caused|triggered|produced|thrown|raised} by"],
        )
        .head(),
        spec(
            "due_to",
            Causes,
            0.65,
            Backward,
            &["{is|was|are|were|,|} {due to|because of|the result of|a result of|a consequence of}"],
        )
        .head(),
        spec(
            "zh_causes",
            Causes,
            0.85,
            Forward,
            &["{会|可能会|可能|就会|容易|}{导致|引起|造成|引发}{了|}"],
        )
        .head(),
        spec("zh_caused_by", Causes, 0.85, Backward, &["{是|}{由|由于|因为}"])
            .after(&["{引起|导致|造成|引发}"]),
        spec(
            "zh_because",
            Causes,
            0.65,
            Backward,
            &["{是因为|是由于}", "{的|}{根本|}原因是"],
        )
        .head(),
        // ---- solves (source = fix, target = problem) ----
        spec(
            "solves",
            Solves,
            0.8,
            Forward,
            &["{solves|solved|fixes|fixed|resolves|resolved|addresses|addressed|eliminates|eliminated|gets rid of|got rid of|will fix|should fix|can fix|would fix|might fix|may fix|will solve|should solve|can solve|will resolve|should resolve}"],
        )
        .head(),
        spec(
            "prevents",
            Solves,
            0.7,
            Forward,
            &["{avoids|avoided|prevents|prevented|works around|worked around|can avoid|will prevent}"],
        )
        .head(),
        spec(
            "use_to_fix",
            Solves,
            0.8,
            Forward,
            &["to {fix|solve|resolve|get rid of|avoid|work around|prevent|address|deal with|handle|suppress|silence}"],
        )
        .before(&[
            "{use|using|used|try|tried|install|installing|installed|upgrade|upgrading|upgraded|add|adding|added|switch to|switching to|switched to|set|setting|enable|enabling|downgrade|downgrading|update|updating|updated}",
        ])
        .head(),
        spec(
            "fixed_by",
            Solves,
            0.8,
            Backward,
            &[
                "{is|was|are|were|can be|could be|should be|will be|gets|got|has been|have been|} {fixed|solved|resolved|addressed|avoided|prevented|eliminated|worked around} {by|with|using|through|via|after} {using|installing|upgrading|adding|switching to|updating|downgrading|setting|enabling|}",
                "{went away|disappeared|was gone|is gone|stopped} after {using|installing|upgrading|adding|switching to|updating|downgrading|setting|enabling|}",
            ],
        )
        .head(),
        spec(
            "solved_by",
            Solves,
            0.8,
            Backward,
            &[
                "by {using|installing|upgrading|adding|switching to|updating|downgrading|setting|enabling|}",
                "{with|using|through|via}",
            ],
        )
        .before(&["{solved|fixed|resolved|solve|fix|resolve|got rid of|get rid of|avoid|avoided|work around|worked around}"])
        .head(),
        spec(
            "fix_for",
            Solves,
            0.8,
            Forward,
            &["{is|was|,|} {the|a|an|one} {fix|solution|workaround|cure|remedy} {for|to}"],
        )
        .head(),
        spec(
            "to_fix_use",
            Solves,
            0.8,
            Backward,
            &["{,|} {you|you can|you should|you need to|we can|i|just|} {use|try|install|upgrade|add|set|enable|switch to|update|downgrade}"],
        )
        .before(&["{to fix|to solve|to resolve|to get rid of|to avoid|to work around|to prevent}"])
        .head(),
        spec(
            "zh_use_to_solve",
            Solves,
            0.85,
            Forward,
            &["{来|就|就能|可以|就可以|能|}{解决|修复|处理|避免}{了|}"],
        )
        .before(&["{用|使用|通过|利用|可以用|可以使用|试试|改用|换成|安装|升级}"])
        .head(),
        spec(
            "zh_solves",
            Solves,
            0.8,
            Forward,
            &["{可以|能|能够|就能|会|}{解决|修复|修好|搞定}{了|}"],
        )
        .head(),
        spec(
            "zh_solved_by",
            Solves,
            0.8,
            Backward,
            &["{可以|能|}{通过|用|使用|借助}", "被"],
        )
        .after(&["{来|}{解决|修复|搞定|处理}"]),
        spec("zh_fix_for", Solves, 0.8, Forward, &["是"])
            .after(&["的{解决方案|解决办法|解决方法|修复方法|修复方案}"]),
        spec(
            "zh_solution_is",
            Solves,
            0.8,
            Backward,
            &["的{方法|办法|方案}是{用|使用|}"],
        )
        .before(&["{解决|修复}"]),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs the extractor on `sentence` with `names` as its mentions (found
    /// left to right; a repeated name is the same entity) and returns
    /// `(source, relation, target, cue)` by name.
    fn relations(sentence: &str, names: &[&str]) -> Vec<(String, Relation, String, &'static str)> {
        let lower = sentence.to_lowercase();
        let mut mentions = Vec::new();
        let mut from = 0;
        for name in names {
            let start = from
                + lower[from..]
                    .find(&name.to_lowercase())
                    .expect("name in sentence");
            let entity = names
                .iter()
                .position(|other| other == name)
                .expect("listed") as u32;
            mentions.push(SentenceMention {
                start,
                end: start + name.len(),
                entity,
            });
            from = start + name.len();
        }
        extract(sentence, &mentions)
            .into_iter()
            .map(|found| {
                (
                    names[found.source as usize].to_owned(),
                    found.relation,
                    names[found.target as usize].to_owned(),
                    found.cue,
                )
            })
            .collect()
    }

    /// `expected` is `(source, relation, target, cue)`; `None` means nothing
    /// may be found.
    fn check(sentence: &str, names: &[&str], expected: Option<(&str, Relation, &str, &str)>) {
        let got = relations(sentence, names);
        let expected: Vec<(String, Relation, String, &str)> = expected
            .into_iter()
            .map(|(source, relation, target, cue)| {
                (source.to_owned(), relation, target.to_owned(), cue)
            })
            .collect();
        assert_eq!(got, expected, "sentence: {sentence}");
    }

    use Relation::*;

    #[test]
    fn is_a_needs_the_article_and_the_head_noun() {
        check(
            "Flask is a microframework for Python.",
            &["Flask", "microframework", "Python"],
            Some(("Flask", IsA, "microframework", "is_a")),
        );
        check(
            "SQLAlchemy is actually a popular ORM.",
            &["SQLAlchemy", "ORM"],
            Some(("SQLAlchemy", IsA, "ORM", "is_a")),
        );
        check(
            "Redis is a kind of key-value store",
            &["Redis", "key-value store"],
            Some(("Redis", IsA, "key-value store", "is_a")),
        );
        check(
            "Django, which is a web framework, ships an admin.",
            &["Django", "web framework"],
            Some(("Django", IsA, "web framework", "is_a")),
        );
        // "Python" modifies "web framework": Django is not a Python.
        check(
            "Django is a Python web framework.",
            &["Django", "Python"],
            None,
        );
        check(
            "Mongo is not a relational database",
            &["Mongo", "relational database"],
            None,
        );
        check("NumPy isn't a database.", &["NumPy", "database"], None);
        check(
            "My pandas code is slower than a plain loop",
            &["pandas", "loop"],
            None,
        );
    }

    #[test]
    fn appositive_and_hearst_patterns_read_is_a() {
        check(
            "I tried FastAPI, a modern framework for building APIs.",
            &["FastAPI", "framework"],
            Some(("FastAPI", IsA, "framework", "appositive")),
        );
        check(
            "Use a web framework such as Django.",
            &["web framework", "Django"],
            Some(("Django", IsA, "web framework", "such_as")),
        );
        check(
            "It works for Python and other scripting languages?",
            &["Python", "scripting languages"],
            Some(("Python", IsA, "scripting languages", "and_other")),
        );
        check(
            "I tried FastAPI, a Python library for APIs.",
            &["FastAPI", "Python"],
            None,
        );
    }

    #[test]
    fn a_comma_after_a_prepositional_phrase_is_not_an_appositive() {
        let got = relations(
            "In Python, a list is a mutable sequence.",
            &["Python", "list", "mutable sequence"],
        );
        assert_eq!(
            got,
            [(
                "list".to_owned(),
                IsA,
                "mutable sequence".to_owned(),
                "is_a"
            )]
        );
    }

    #[test]
    fn causes_and_solves_need_the_whole_name_not_a_modifier() {
        check("这个 bug 导致 Chrome 崩溃", &["bug", "Chrome"], None);
        check(
            "Upgrading pip fixes Python errors.",
            &["pip", "Python"],
            None,
        );
        check(
            "Is Kotlin a replacement for Java?",
            &["Kotlin", "Java"],
            Some(("Kotlin", AlternativeTo, "Java", "alternative_question")),
        );
    }

    #[test]
    fn part_of_needs_a_cue_word() {
        check(
            "asyncio is part of Python's standard library.",
            &["asyncio", "Python"],
            Some(("asyncio", PartOf, "Python", "part_of")),
        );
        check(
            "The collections module in Python has a Counter.",
            &["collections", "Python"],
            Some(("collections", PartOf, "Python", "module_of")),
        );
        check(
            "Python's asyncio module is single threaded.",
            &["Python", "asyncio"],
            Some(("asyncio", PartOf, "Python", "possessive_part")),
        );
        check("Django's ORM is slow here.", &["Django", "ORM"], None);
        check("I run asyncio in Python 3.11", &["asyncio", "Python"], None);
    }

    #[test]
    fn alternatives_come_from_comparisons_and_choices() {
        check(
            "React vs. Vue for a small dashboard",
            &["React", "Vue"],
            Some(("React", AlternativeTo, "Vue", "versus")),
        );
        check(
            "Should I use Yarn or npm?",
            &["Yarn", "npm"],
            Some(("Yarn", AlternativeTo, "npm", "or_question")),
        );
        check("You can use Yarn or npm.", &["Yarn", "npm"], None);
        check(
            "What is the difference between list and tuple?",
            &["list", "tuple"],
            Some(("list", AlternativeTo, "tuple", "difference_between")),
        );
        check(
            "I store the list and tuple in a dict.",
            &["list", "tuple"],
            None,
        );
        check(
            "I ended up using Poetry instead of pipenv.",
            &["Poetry", "pipenv"],
            Some(("Poetry", AlternativeTo, "pipenv", "instead_of")),
        );
        check(
            "Podman is a drop-in alternative to Docker.",
            &["Podman", "Docker"],
            Some(("Podman", AlternativeTo, "Docker", "alternative_to")),
        );
        check(
            "Vite compared to webpack is much faster.",
            &["Vite", "webpack"],
            Some(("Vite", AlternativeTo, "webpack", "compared_to")),
        );
        check(
            "We migrated from Travis to GitHub Actions last year.",
            &["Travis", "GitHub Actions"],
            Some(("Travis", AlternativeTo, "GitHub Actions", "migrate_from_to")),
        );
        check(
            "pathlib replaced os.path in my code.",
            &["pathlib", "os.path"],
            Some(("pathlib", AlternativeTo, "os.path", "successor")),
        );
        check(
            "There are alternatives to Selenium such as Playwright.",
            &["Selenium", "Playwright"],
            Some(("Selenium", AlternativeTo, "Playwright", "alternatives_like")),
        );
    }

    #[test]
    fn depends_on_reads_built_on_and_wrappers() {
        check(
            "Keras is built on top of TensorFlow.",
            &["Keras", "TensorFlow"],
            Some(("Keras", DependsOn, "TensorFlow", "built_on")),
        );
        check(
            "Kotlin runs on the JVM.",
            &["Kotlin", "JVM"],
            Some(("Kotlin", DependsOn, "JVM", "runs_on")),
        );
        check(
            "requests depends on urllib3.",
            &["requests", "urllib3"],
            Some(("requests", DependsOn, "urllib3", "depends_on")),
        );
        check(
            "requests does not depend on urllib3.",
            &["requests", "urllib3"],
            None,
        );
        check(
            "httpx uses httpcore under the hood.",
            &["httpx", "httpcore"],
            Some(("httpx", DependsOn, "httpcore", "uses_under_the_hood")),
        );
        check("httpx uses httpcore.", &["httpx", "httpcore"], None);
        check(
            "Seaborn, a wrapper around matplotlib, makes plots nicer.",
            &["Seaborn", "matplotlib"],
            Some(("Seaborn", DependsOn, "matplotlib", "wrapper_around")),
        );
        check(
            "Electron is based on Chromium.",
            &["Electron", "Chromium"],
            Some(("Electron", DependsOn, "Chromium", "based_on")),
        );
        check(
            "urllib3 is a dependency of requests.",
            &["urllib3", "requests"],
            Some(("requests", DependsOn, "urllib3", "dependency_of")),
        );
    }

    #[test]
    fn used_with_needs_a_use_verb_or_together() {
        check(
            "How do I use Flask with SQLAlchemy?",
            &["Flask", "SQLAlchemy"],
            Some(("Flask", UsedWith, "SQLAlchemy", "use_with")),
        );
        check(
            "I have a problem with Flask with SQLAlchemy.",
            &["Flask", "SQLAlchemy"],
            None,
        );
        check(
            "You can run Celery and Redis together.",
            &["Celery", "Redis"],
            Some(("Celery", UsedWith, "Redis", "and_together")),
        );
        check("I use Celery and Redis.", &["Celery", "Redis"], None);
        check(
            "A Django + React setup",
            &["Django", "React"],
            Some(("Django", UsedWith, "React", "plus")),
        );
        check(
            "pytest works well with tox.",
            &["pytest", "tox"],
            Some(("pytest", UsedWith, "tox", "works_with")),
        );
        check(
            "Don't use Flask with SQLAlchemy for this.",
            &["Flask", "SQLAlchemy"],
            None,
        );
    }

    #[test]
    fn causes_points_from_cause_to_error() {
        check(
            "A circular import causes ImportError.",
            &["circular import", "ImportError"],
            Some(("circular import", Causes, "ImportError", "causes")),
        );
        check(
            "The ImportError is caused by a circular import.",
            &["ImportError", "circular import"],
            Some(("circular import", Causes, "ImportError", "caused_by")),
        );
        check(
            "I get a MemoryError due to pandas when merging.",
            &["MemoryError", "pandas"],
            Some(("pandas", Causes, "MemoryError", "due_to")),
        );
        check(
            "The ImportError is not caused by a circular import.",
            &["ImportError", "circular import"],
            None,
        );
        check(
            "A circular import and ImportError.",
            &["circular import", "ImportError"],
            None,
        );
    }

    #[test]
    fn solves_points_from_fix_to_problem() {
        check(
            "Upgrading pip fixed the SSLError.",
            &["pip", "SSLError"],
            Some(("pip", Solves, "SSLError", "solves")),
        );
        check(
            "Use a virtualenv to fix the PermissionError.",
            &["virtualenv", "PermissionError"],
            Some(("virtualenv", Solves, "PermissionError", "use_to_fix")),
        );
        check(
            "The SSLError was fixed by upgrading certifi.",
            &["SSLError", "certifi"],
            Some(("certifi", Solves, "SSLError", "fixed_by")),
        );
        check(
            "I solved the SSLError by installing certifi.",
            &["SSLError", "certifi"],
            Some(("certifi", Solves, "SSLError", "solved_by")),
        );
        check(
            "To fix the CORS error, use django-cors-headers.",
            &["CORS error", "django-cors-headers"],
            Some(("django-cors-headers", Solves, "CORS error", "to_fix_use")),
        );
        check(
            "Upgrading pip never fixed the SSLError.",
            &["pip", "SSLError"],
            None,
        );
        check(
            "I saw pip and the SSLError again.",
            &["pip", "SSLError"],
            None,
        );
    }

    #[test]
    fn chinese_cues() {
        check(
            "Rust 是一种编程语言",
            &["Rust", "编程语言"],
            Some(("Rust", IsA, "编程语言", "zh_is_a")),
        );
        check("Rust 不是一种脚本语言", &["Rust", "脚本语言"], None);
        check("Django 是一个 Python Web 框架", &["Django", "Python"], None);
        check(
            "list 和 tuple 的区别是什么？",
            &["list", "tuple"],
            Some(("list", AlternativeTo, "tuple", "zh_difference")),
        );
        check("我把 list 和 tuple 放在一起", &["list", "tuple"], None);
        check(
            "用 Vue 还是 React？",
            &["Vue", "React"],
            Some(("Vue", AlternativeTo, "React", "zh_or")),
        );
        check(
            "基于 Flask 的 Web 框架很多",
            &["Flask", "Web 框架"],
            Some(("Web 框架", DependsOn, "Flask", "zh_based_on_prefix")),
        );
        check(
            "Keras 依赖 TensorFlow",
            &["Keras", "TensorFlow"],
            Some(("Keras", DependsOn, "TensorFlow", "zh_depends_on")),
        );
        check("Keras 不依赖 TensorFlow", &["Keras", "TensorFlow"], None);
        check(
            "Keras 建立在 TensorFlow 之上",
            &["Keras", "TensorFlow"],
            Some(("Keras", DependsOn, "TensorFlow", "zh_built_on")),
        );
        check(
            "Celery 配合 Redis 使用效果很好",
            &["Celery", "Redis"],
            Some(("Celery", UsedWith, "Redis", "zh_used_with")),
        );
        check(
            "循环导入导致 ImportError",
            &["循环导入", "ImportError"],
            Some(("循环导入", Causes, "ImportError", "zh_causes")),
        );
        check(
            "ImportError 是由循环导入引起的",
            &["ImportError", "循环导入"],
            Some(("循环导入", Causes, "ImportError", "zh_caused_by")),
        );
        check(
            "用 virtualenv 解决 PermissionError",
            &["virtualenv", "PermissionError"],
            Some(("virtualenv", Solves, "PermissionError", "zh_use_to_solve")),
        );
        check(
            "新版 certifi 解决了 SSLError",
            &["certifi", "SSLError"],
            Some(("certifi", Solves, "SSLError", "zh_solves")),
        );
        check(
            "Python 的 asyncio 模块",
            &["Python", "asyncio"],
            Some(("asyncio", PartOf, "Python", "zh_possessive_part")),
        );
    }

    type CueExample = (
        &'static str,
        &'static str,
        &'static [&'static str],
        (&'static str, &'static str),
        &'static str,
    );

    /// One positive and one near-miss negative per cue:
    /// `(cue, positive, names, (source, target), negative with the same names)`.
    const CUE_EXAMPLES: &[CueExample] = &[
        (
            "is_a",
            "SQLite is a lightweight database.",
            &["SQLite", "database"],
            ("SQLite", "database"),
            "SQLite is a database file format.",
        ),
        (
            "appositive",
            "I switched to Poetry, a dependency manager for Python.",
            &["Poetry", "dependency manager"],
            ("Poetry", "dependency manager"),
            "Unlike Poetry, a dependency manager is heavy.",
        ),
        (
            "such_as",
            "Use a linter such as ESLint.",
            &["linter", "ESLint"],
            ("ESLint", "linter"),
            "Use a linter as well as ESLint.",
        ),
        (
            "and_other",
            "Install Git and other tools.",
            &["Git", "tools"],
            ("Git", "tools"),
            "Install Git and the tools.",
        ),
        (
            "zh_is_a",
            "Redis 是一种内存数据库",
            &["Redis", "内存数据库"],
            ("Redis", "内存数据库"),
            "Redis 不是一种内存数据库",
        ),
        (
            "zh_is",
            "Python 是解释型语言",
            &["Python", "解释型语言"],
            ("Python", "解释型语言"),
            "Python 是解释型语言写的",
        ),
        (
            "zh_is_kind_of",
            "列表推导式是语法糖的一种",
            &["列表推导式", "语法糖"],
            ("列表推导式", "语法糖"),
            "列表推导式是语法糖的原因",
        ),
        (
            "zh_belongs_to",
            "Flask 属于 Web 框架",
            &["Flask", "Web 框架"],
            ("Flask", "Web 框架"),
            "Flask 不属于 Web 框架",
        ),
        (
            "part_of",
            "The Fetch API is part of the browser platform.",
            &["Fetch API", "browser platform"],
            ("Fetch API", "browser platform"),
            "The Fetch API is not part of the browser platform.",
        ),
        (
            "module_of",
            "The collections module in Python has Counter.",
            &["collections", "Python"],
            ("collections", "Python"),
            "I imported collections from Python code.",
        ),
        (
            "possessive_part",
            "Python's asyncio module is single threaded.",
            &["Python", "asyncio"],
            ("asyncio", "Python"),
            "Python's asyncio tutorial is long.",
        ),
        (
            "zh_part_of",
            "asyncio 是 Python 的一部分",
            &["asyncio", "Python"],
            ("asyncio", "Python"),
            "asyncio 是 Python 的库",
        ),
        (
            "zh_possessive_part",
            "Python 的 asyncio 模块",
            &["Python", "asyncio"],
            ("asyncio", "Python"),
            "Python 的 asyncio 教程",
        ),
        (
            "versus",
            "React vs. Vue for a small dashboard",
            &["React", "Vue"],
            ("React", "Vue"),
            "React and Vue for a small dashboard",
        ),
        (
            "or_question",
            "Should I use Yarn or npm?",
            &["Yarn", "npm"],
            ("Yarn", "npm"),
            "You can use Yarn or npm.",
        ),
        (
            "compared_to",
            "Vite compared to webpack is much faster.",
            &["Vite", "webpack"],
            ("Vite", "webpack"),
            "Vite was added to webpack projects.",
        ),
        (
            "comparative",
            "Python is slower than C++ in most benchmarks.",
            &["Python", "C++"],
            ("Python", "C++"),
            "Python is not slower than C++.",
        ),
        (
            "difference_between",
            "What is the difference between list and tuple?",
            &["list", "tuple"],
            ("list", "tuple"),
            "I store the list and tuple in a dict.",
        ),
        (
            "comparing",
            "I am comparing Jest and Vitest for our tests.",
            &["Jest", "Vitest"],
            ("Jest", "Vitest"),
            "I am running Jest and Vitest for our tests.",
        ),
        (
            "instead_of",
            "I ended up using Poetry instead of pipenv.",
            &["Poetry", "pipenv"],
            ("Poetry", "pipenv"),
            "I ended up using Poetry and pipenv.",
        ),
        (
            "prefer_over",
            "I prefer Postgres over MySQL.",
            &["Postgres", "MySQL"],
            ("Postgres", "MySQL"),
            "Postgres over MySQL is my setup.",
        ),
        (
            "alternative_to",
            "Podman is a drop-in alternative to Docker.",
            &["Podman", "Docker"],
            ("Podman", "Docker"),
            "Podman is not an alternative to Docker.",
        ),
        (
            "alternative_question",
            "Is Kotlin a replacement for Java?",
            &["Kotlin", "Java"],
            ("Kotlin", "Java"),
            "Isn't Kotlin a replacement for Java?",
        ),
        (
            "alternatives_like",
            "There are alternatives to Selenium such as Playwright.",
            &["Selenium", "Playwright"],
            ("Selenium", "Playwright"),
            "There are plugins for Selenium and Playwright.",
        ),
        (
            "alternatives_named",
            "Look at Selenium alternatives like Playwright.",
            &["Selenium", "Playwright"],
            ("Selenium", "Playwright"),
            "Look at Selenium plugins like Playwright.",
        ),
        (
            "successor",
            "pathlib replaced os.path in my code.",
            &["pathlib", "os.path"],
            ("pathlib", "os.path"),
            "pathlib wrapped os.path in my code.",
        ),
        (
            "migrate_from_to",
            "We migrated from Travis to GitHub Actions.",
            &["Travis", "GitHub Actions"],
            ("Travis", "GitHub Actions"),
            "We copied from Travis to GitHub Actions.",
        ),
        (
            "zh_difference",
            "list 和 tuple 的区别是什么？",
            &["list", "tuple"],
            ("list", "tuple"),
            "我把 list 和 tuple 放在一起",
        ),
        (
            "zh_or",
            "用 Vue 还是 React？",
            &["Vue", "React"],
            ("Vue", "React"),
            "Vue 还是 React 都可以",
        ),
        (
            "zh_versus",
            "Vue 对比 React",
            &["Vue", "React"],
            ("Vue", "React"),
            "Vue 不比 React 差",
        ),
        (
            "zh_replace_with",
            "用 pnpm 代替 npm",
            &["pnpm", "npm"],
            ("pnpm", "npm"),
            "pnpm 和 npm 都可以",
        ),
        (
            "zh_replaces",
            "Vite 已经取代了 webpack",
            &["Vite", "webpack"],
            ("Vite", "webpack"),
            "Vite 没有取代 webpack",
        ),
        (
            "zh_alternative",
            "Podman 是 Docker 的替代品",
            &["Podman", "Docker"],
            ("Podman", "Docker"),
            "Podman 是 Docker 的竞品",
        ),
        (
            "zh_migrate",
            "从 Travis 迁移到 GitHub Actions",
            &["Travis", "GitHub Actions"],
            ("Travis", "GitHub Actions"),
            "Travis 迁移到 GitHub Actions",
        ),
        (
            "built_on",
            "Keras is built on top of TensorFlow.",
            &["Keras", "TensorFlow"],
            ("Keras", "TensorFlow"),
            "Keras is not built on top of TensorFlow.",
        ),
        (
            "depends_on",
            "requests depends on urllib3.",
            &["requests", "urllib3"],
            ("requests", "urllib3"),
            "requests does not depend on urllib3.",
        ),
        (
            "requires",
            "Docker Desktop requires WSL2 on Windows.",
            &["Docker Desktop", "WSL2"],
            ("Docker Desktop", "WSL2"),
            "Docker Desktop no longer requires WSL2.",
        ),
        (
            "dependency_of",
            "urllib3 is a dependency of requests.",
            &["urllib3", "requests"],
            ("requests", "urllib3"),
            "urllib3 is a competitor of requests.",
        ),
        (
            "uses_under_the_hood",
            "httpx uses httpcore under the hood.",
            &["httpx", "httpcore"],
            ("httpx", "httpcore"),
            "httpx uses httpcore.",
        ),
        (
            "under_the_hood_uses",
            "Seaborn under the hood uses matplotlib.",
            &["Seaborn", "matplotlib"],
            ("Seaborn", "matplotlib"),
            "Seaborn, under the hood, never uses matplotlib.",
        ),
        (
            "based_on",
            "Electron is based on Chromium.",
            &["Electron", "Chromium"],
            ("Electron", "Chromium"),
            "Electron is no longer based on Chromium.",
        ),
        (
            "wrapper_around",
            "Seaborn, a wrapper around matplotlib, makes plots nicer.",
            &["Seaborn", "matplotlib"],
            ("Seaborn", "matplotlib"),
            "Seaborn, a rival of matplotlib, makes plots nicer.",
        ),
        (
            "runs_on",
            "Kotlin runs on the JVM.",
            &["Kotlin", "JVM"],
            ("Kotlin", "JVM"),
            "Kotlin never runs on the JVM.",
        ),
        (
            "written_in",
            "ripgrep is written in Rust.",
            &["ripgrep", "Rust"],
            ("ripgrep", "Rust"),
            "ripgrep is not written in Rust.",
        ),
        (
            "plugin_for",
            "eslint-plugin-react is a plugin for ESLint.",
            &["eslint-plugin-react", "ESLint"],
            ("eslint-plugin-react", "ESLint"),
            "eslint-plugin-react is a rule for ESLint.",
        ),
        (
            "zh_based_on_prefix",
            "基于 Flask 的 Web 框架很多",
            &["Flask", "Web 框架"],
            ("Web 框架", "Flask"),
            "关于 Flask 的 Web 框架很多",
        ),
        (
            "zh_depends_on",
            "Keras 依赖 TensorFlow",
            &["Keras", "TensorFlow"],
            ("Keras", "TensorFlow"),
            "Keras 不依赖 TensorFlow",
        ),
        (
            "zh_built_on",
            "Keras 建立在 TensorFlow 之上",
            &["Keras", "TensorFlow"],
            ("Keras", "TensorFlow"),
            "Keras 建立在 TensorFlow 的旁边",
        ),
        (
            "zh_written_in",
            "ripgrep 是用 Rust 写的",
            &["ripgrep", "Rust"],
            ("ripgrep", "Rust"),
            "ripgrep 是用 Rust 的人推荐的",
        ),
        (
            "zh_wrapper",
            "Seaborn 是 matplotlib 的封装",
            &["Seaborn", "matplotlib"],
            ("Seaborn", "matplotlib"),
            "Seaborn 是 matplotlib 的竞争对手",
        ),
        (
            "zh_plugin_of",
            "ESLint 的 React 插件",
            &["ESLint", "React"],
            ("React", "ESLint"),
            "ESLint 的 React 教程",
        ),
        (
            "use_with",
            "How do I use Flask with SQLAlchemy?",
            &["Flask", "SQLAlchemy"],
            ("Flask", "SQLAlchemy"),
            "I have a problem with Flask with SQLAlchemy.",
        ),
        (
            "together_with",
            "I run Celery together with Redis.",
            &["Celery", "Redis"],
            ("Celery", "Redis"),
            "I run Celery, not Redis.",
        ),
        (
            "and_together",
            "You can run Celery and Redis together.",
            &["Celery", "Redis"],
            ("Celery", "Redis"),
            "I use Celery and Redis.",
        ),
        (
            "plus",
            "A Django + React setup",
            &["Django", "React"],
            ("Django", "React"),
            "A Django - React setup",
        ),
        (
            "works_with",
            "pytest works well with tox.",
            &["pytest", "tox"],
            ("pytest", "tox"),
            "pytest doesn't work with tox.",
        ),
        (
            "zh_used_with",
            "Celery 配合 Redis 使用效果很好",
            &["Celery", "Redis"],
            ("Celery", "Redis"),
            "Celery 不配合 Redis",
        ),
        (
            "zh_together",
            "Celery 和 Redis 一起使用",
            &["Celery", "Redis"],
            ("Celery", "Redis"),
            "Celery 和 Redis 都是工具",
        ),
        (
            "causes",
            "A circular import causes ImportError.",
            &["circular import", "ImportError"],
            ("circular import", "ImportError"),
            "A circular import and ImportError.",
        ),
        (
            "throws",
            "pandas throws SettingWithCopyWarning when I slice.",
            &["pandas", "SettingWithCopyWarning"],
            ("pandas", "SettingWithCopyWarning"),
            "pandas throws no SettingWithCopyWarning.",
        ),
        (
            "caused_by",
            "The ImportError is caused by a circular import.",
            &["ImportError", "circular import"],
            ("circular import", "ImportError"),
            "The ImportError is not caused by a circular import.",
        ),
        (
            "due_to",
            "I get a MemoryError due to pandas when merging.",
            &["MemoryError", "pandas"],
            ("pandas", "MemoryError"),
            "The MemoryError is due to pandas merges.",
        ),
        (
            "zh_causes",
            "循环导入导致 ImportError",
            &["循环导入", "ImportError"],
            ("循环导入", "ImportError"),
            "循环导入不会导致 ImportError",
        ),
        (
            "zh_caused_by",
            "ImportError 是由循环导入引起的",
            &["ImportError", "循环导入"],
            ("循环导入", "ImportError"),
            "ImportError 是由循环导入解决的",
        ),
        (
            "zh_because",
            "ImportError 是因为循环导入",
            &["ImportError", "循环导入"],
            ("循环导入", "ImportError"),
            "ImportError 不是因为循环导入",
        ),
        (
            "solves",
            "Upgrading pip fixed the SSLError.",
            &["pip", "SSLError"],
            ("pip", "SSLError"),
            "Upgrading pip never fixed the SSLError.",
        ),
        (
            "prevents",
            "A lock file prevents dependency drift.",
            &["lock file", "dependency drift"],
            ("lock file", "dependency drift"),
            "A lock file causes no dependency drift.",
        ),
        (
            "use_to_fix",
            "Use a virtualenv to fix the PermissionError.",
            &["virtualenv", "PermissionError"],
            ("virtualenv", "PermissionError"),
            "Don't use a virtualenv to fix the PermissionError.",
        ),
        (
            "fixed_by",
            "The SSLError was fixed by upgrading certifi.",
            &["SSLError", "certifi"],
            ("certifi", "SSLError"),
            "The SSLError was not fixed by upgrading certifi.",
        ),
        (
            "solved_by",
            "I solved the SSLError by installing certifi.",
            &["SSLError", "certifi"],
            ("certifi", "SSLError"),
            "I saw the SSLError by installing certifi.",
        ),
        (
            "fix_for",
            "certifi is the fix for SSLError.",
            &["certifi", "SSLError"],
            ("certifi", "SSLError"),
            "certifi is the reason for SSLError.",
        ),
        (
            "to_fix_use",
            "To fix the CORS error, use django-cors-headers.",
            &["CORS error", "django-cors-headers"],
            ("django-cors-headers", "CORS error"),
            "To see the CORS error, use django-cors-headers.",
        ),
        (
            "zh_use_to_solve",
            "用 virtualenv 解决 PermissionError",
            &["virtualenv", "PermissionError"],
            ("virtualenv", "PermissionError"),
            "用 virtualenv 无法解决 PermissionError",
        ),
        (
            "zh_solves",
            "新版 certifi 解决了 SSLError",
            &["certifi", "SSLError"],
            ("certifi", "SSLError"),
            "新版 certifi 没有解决 SSLError",
        ),
        (
            "zh_solved_by",
            "SSLError 可以通过 certifi 解决",
            &["SSLError", "certifi"],
            ("certifi", "SSLError"),
            "SSLError 可以通过 certifi 复现",
        ),
        (
            "zh_fix_for",
            "certifi 是 SSLError 的解决方案",
            &["certifi", "SSLError"],
            ("certifi", "SSLError"),
            "certifi 是 SSLError 的来源",
        ),
        (
            "zh_solution_is",
            "解决 SSLError 的方法是用 certifi",
            &["SSLError", "certifi"],
            ("certifi", "SSLError"),
            "引起 SSLError 的方法是用 certifi",
        ),
    ];

    #[test]
    fn every_cue_fires_on_its_example_and_not_on_a_near_miss() {
        let catalog = cue_catalog();
        let mut failures = Vec::new();
        for &(cue, positive, names, (source, target), negative) in CUE_EXAMPLES {
            let relation = catalog
                .iter()
                .find(|(name, _, _)| *name == cue)
                .map(|(_, relation, _)| *relation)
                .expect("the example names a cue in the table");
            let expected = vec![(source.to_owned(), relation, target.to_owned(), cue)];
            let got = relations(positive, names);
            if got != expected {
                failures.push(format!("{cue}: {positive:?} gave {got:?}"));
            }
            let got = relations(negative, names);
            if !got.is_empty() {
                failures.push(format!("{cue} near miss: {negative:?} gave {got:?}"));
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    #[test]
    fn every_cue_has_an_example() {
        let missing: Vec<&str> = cue_catalog()
            .into_iter()
            .map(|(name, _, _)| name)
            .filter(|name| !CUE_EXAMPLES.iter().any(|example| example.0 == *name))
            .collect();
        assert!(missing.is_empty(), "cues without an example: {missing:?}");
    }

    #[test]
    fn matching_ignores_case_and_markup_around_names() {
        check(
            "`Keras` IS BUILT ON `TensorFlow`.",
            &["Keras", "TensorFlow"],
            Some(("Keras", DependsOn, "TensorFlow", "built_on")),
        );
        check(
            "\"Yarn\" vs \"npm\"",
            &["Yarn", "npm"],
            Some(("Yarn", AlternativeTo, "npm", "versus")),
        );
    }

    #[test]
    fn a_mention_never_relates_to_itself_and_only_neighbours_relate() {
        check("Python is a Python.", &["Python", "Python"], None);
        // Flask and Python are not adjacent: the microframework sits between.
        let got = relations(
            "Flask is a microframework for Python.",
            &["Flask", "microframework", "Python"],
        );
        assert!(
            got.iter()
                .all(|(source, _, target, _)| !(source == "Flask" && target == "Python"))
        );
    }

    #[test]
    fn bad_offsets_are_skipped_not_a_panic() {
        let mentions = [
            SentenceMention {
                start: 0,
                end: 3,
                entity: 0,
            },
            SentenceMention {
                start: 1,
                end: 200,
                entity: 1,
            },
        ];
        assert!(extract("Rust 是一种语言", &mentions).is_empty());
        let inside_a_char = [
            SentenceMention {
                start: 0,
                end: 4,
                entity: 0,
            },
            SentenceMention {
                start: 6,
                end: 9,
                entity: 1,
            },
        ];
        assert!(extract("Rust 是一种语言", &inside_a_char).is_empty());
    }

    #[test]
    fn every_cue_has_a_unique_name_and_a_confidence_in_range() {
        let catalog = cue_catalog();
        assert!(catalog.len() > 60, "{}", catalog.len());
        for (name, _, confidence) in &catalog {
            assert!(*confidence > 0.0 && *confidence <= 1.0, "{name}");
        }
        let table = &*CUES;
        assert_eq!(catalog.len(), table.cues.len(), "names repeat");
    }

    fn sentences(text: &str) -> Vec<&str> {
        split_sentences(text)
            .into_iter()
            .map(|(start, end)| &text[start..end])
            .collect()
    }

    #[test]
    fn sentences_split_on_terminators_before_capitals() {
        assert_eq!(
            sentences("I use node.js daily. It works!  Why? Because."),
            ["I use node.js daily.", "It works!", "Why?", "Because."]
        );
    }

    #[test]
    fn sentences_do_not_split_inside_names_versions_calls_urls_or_abbreviations() {
        let text = "Use a framework, e.g. Django or Flask vs. FastAPI, i.e. Python tools. \
                    Upgrade to v1.2.3 and call foo.bar() from https://example.com/a.b?c=d now.";
        assert_eq!(
            sentences(text),
            [
                "Use a framework, e.g. Django or Flask vs. FastAPI, i.e. Python tools.",
                "Upgrade to v1.2.3 and call foo.bar() from https://example.com/a.b?c=d now."
            ]
        );
    }

    #[test]
    fn sentences_split_on_newlines_and_chinese_terminators_and_keep_list_numbers() {
        let text = "第一句。第二句！第三句？\n\n1. Install numpy\nthen run it; done";
        assert_eq!(
            sentences(text),
            [
                "第一句。",
                "第二句！",
                "第三句？",
                "1. Install numpy",
                "then run it; done"
            ]
        );
    }

    #[test]
    fn sentences_keep_lower_case_continuations_and_ranges_are_trimmed() {
        let text = "  Is it fast? maybe not.  ";
        assert_eq!(split_sentences(text), [(2, 24)]);
        assert_eq!(
            sentences("He said \"Stop.\" Then left."),
            ["He said \"Stop.\"", "Then left."]
        );
        assert!(split_sentences("   \n\n ").is_empty());
    }
}
