//! Software-entity recognition in Stack Overflow prose: a BIO sequence tagger for the 20 entity
//! types of the Stack Overflow NER corpus (Tabassum et al., ACL 2020), trained here, in pure Rust.
//!
//! The model ([`Tagger`]) is a first-order linear chain over hashed sparse features (word, shape,
//! affixes, the author's inline-code markup, a window of neighbours, a lexicon of training entity
//! strings), trained as an averaged structured perceptron and decoded by Viterbi restricted to
//! valid BIO. [`conll`] reads the corpus under a [`Protocol`]; [`evaluate`] scores entity spans the
//! way `conlleval` does; [`tokenize`] cuts raw post text into tokens shaped like the corpus's.
//!
//! # How good it is
//!
//! On the corpus's dev split, under the paper's protocol ([`Protocol::default`]: merged types,
//! 20 types, placeholder and header sentences dropped), trained on the train split with
//! [`NerTrainOptions::default`] (10 epochs, picked on a held-out fifth of train): micro precision
//! 65.63, recall 56.00, **F1 60.44** (entity-level exact span and type, percent); per type from
//! 91.4 (`Operating_System`) and 88.0 (`Language`) down to 41.7 (`Variable`). Training takes about
//! 10 s of one core and 300 MB. The protocol keeps 9,263 train and 2,936 dev sentences, the
//! paper's counts; like the paper's loader it scores `Value` as `O` (its kept-type list omits
//! it). `steward eval ner` reproduces the figures. For scale: the paper's SoftNER (BERTOverflow)
//! reports 79.1 F1 on the test split; a feature-based linear model is expected well below it,
//! mostly on the code-like types (`Variable`, `Class`, `Function`, `Code_Block`) that need
//! context a ±2 window does not see.

pub mod conll;
mod eval;
mod features;
mod lexicon;
mod model;
mod tokenize;

#[cfg(test)]
mod tests;

pub use eval::{NerReport, Prf, evaluate, score};
pub use model::{MAX_SENTENCE_TOKENS, NerTrainOptions, Tagger, sentence_ranges};
pub use tokenize::tokenize;

/// One token of prose, as the tagger sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NerToken {
    /// The token's text, as written.
    pub text: String,
    /// The author marked it as code (the corpus's 4th column; `<code>` in a post). Code markup is
    /// the strongest single hint that a token names a class, a function or a variable.
    pub in_code: bool,
}

impl NerToken {
    /// A prose token (not marked as code).
    pub fn prose(text: &str) -> NerToken {
        NerToken {
            text: text.to_string(),
            in_code: false,
        }
    }
}

/// A sentence with its gold tags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sentence {
    /// The tokens, in order.
    pub tokens: Vec<NerToken>,
    /// One BIO tag per token (`O`, `B-Class`, `I-Class`, ...), after the [`Protocol`]'s merges; always a
    /// valid BIO sequence (an `I-` that follows neither `B-` nor `I-` of its type is read as `B-`,
    /// as `conlleval` reads it).
    pub tags: Vec<String>,
}

/// A recognised entity: tokens `start..end` of the input.
#[derive(Debug, Clone, PartialEq)]
pub struct EntitySpan {
    /// Index of the first token.
    pub start: usize,
    /// Index just after the last token.
    pub end: usize,
    /// The entity type (`Class`, `Function`, `Library`, ...).
    pub kind: String,
    /// How sure the tagger is, 0 to 1: the smallest posterior probability of the span's tags
    /// (forward-backward over the model's scores), so a span is as sure as its weakest token.
    pub confidence: f32,
}

/// How the corpus is read, so that figures are comparable with the paper's.
///
/// The default is the paper's protocol (jeniyat/StackOverflowNER, `loader_so.py`): both on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Protocol {
    /// Merge and prune types to the paper's 20 evaluated ones: `Library_Function` and
    /// `Function_Name` become `Function`, `Class_Name` and `Library_Class` become `Class`,
    /// `Library_Variable` and `Variable_Name` become `Variable`, `Organization` becomes `Website`,
    /// and `Value`, `Error_Name`, `Keyboard_IP` and `Licence` become `O` (the paper's
    /// `replace_low_freq_tags`, whose kept-type list leaves `Value` out). Off: the 28 annotated
    /// types as they are.
    pub merge_types: bool,
    /// Drop sentences that are only a code or output block placeholder (`CODE_BLOCK : Q_123 (code
    /// omitted for annotation)`, `OP_BLOCK : ...`) and the post header sentences (`Question_ID :`,
    /// `Question_URL :`, `Answer_to_Question_ID :`, `Answer_URL :`). They are trivially tagged and
    /// would inflate `Code_Block` and `Output_Block` figures.
    pub skip_placeholders: bool,
}

impl Default for Protocol {
    fn default() -> Protocol {
        Protocol {
            merge_types: true,
            skip_placeholders: true,
        }
    }
}

/// What can go wrong reading a corpus or a stored tagger.
#[derive(Debug, thiserror::Error)]
pub enum NerError {
    /// A corpus file could not be read.
    #[error("reading {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// A corpus line is not `word \t tag [\t word \t markdown-tag]`.
    #[error("{origin}:{line}: {reason}")]
    Malformed {
        /// The file (or other origin) of the text.
        origin: String,
        /// 1-based line number.
        line: usize,
        /// What is wrong with the line.
        reason: String,
    },
    /// Bytes that are not a tagger this version can read: another file, a newer format, or
    /// a truncated or corrupted copy.
    #[error("not a usable NER model: {0}")]
    BadModel(String),
}

/// The NER result type.
pub type Result<T, E = NerError> = std::result::Result<T, E>;

/// The entity spans of a BIO tag sequence, `conlleval`-style: a span starts at `B-X`, or at an
/// `I-X` that does not continue an `X` span, and runs over the `I-X` tags that follow.
pub fn tag_spans(tags: &[String]) -> Vec<(usize, usize, String)> {
    let mut spans = Vec::new();
    let mut open: Option<(usize, &str)> = None;
    for (index, tag) in tags.iter().enumerate() {
        let (prefix, kind) = split_tag(tag);
        let continues = prefix == 'I' && open.is_some_and(|(_, open_kind)| open_kind == kind);
        if continues {
            continue;
        }
        if let Some((start, open_kind)) = open.take() {
            spans.push((start, index, open_kind.to_string()));
        }
        if prefix != 'O' {
            open = Some((index, kind));
        }
    }
    if let Some((start, open_kind)) = open {
        spans.push((start, tags.len(), open_kind.to_string()));
    }
    spans
}

/// `('B', "Class")` for `B-Class`, `('O', "")` for `O` or anything that is not `B-`/`I-`.
fn split_tag(tag: &str) -> (char, &str) {
    match tag.split_once('-') {
        Some(("B", kind)) if !kind.is_empty() => ('B', kind),
        Some(("I", kind)) if !kind.is_empty() => ('I', kind),
        _ => ('O', ""),
    }
}
