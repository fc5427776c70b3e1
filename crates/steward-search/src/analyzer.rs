//! The `steward` analyzer: steward-text's tokenizer (English, Chinese through
//! jieba, code identifiers kept whole and split into parts) as a tantivy
//! tokenizer, so that documents and queries are cut into the same terms.
//!
//! Offsets are byte offsets into the input, which is what tantivy's snippets
//! slice by. The whole of an identifier and its parts overlap (`tokio::select!`,
//! `tokio`, `select`), and so do jieba's words and sub-words; they share one
//! position, like synonyms. Highlighting needs tokens that do not overlap, so
//! it gets a variant of its own ([`HighlightTokenizer`]).

use std::collections::HashSet;
use std::sync::Arc;

use steward_text::tokenize::{Token, Tokenizer, TokenizerConfig};
use tantivy::Index;
use tantivy::tokenizer::{TextAnalyzer, Token as TantivyToken, TokenStream};

/// The name the analyzer is registered under on every index; the schema's
/// text fields name it.
pub const ANALYZER_NAME: &str = "steward";

/// Bumped whenever the analyzer cuts text differently: an index written with
/// another version holds terms that queries no longer produce, so opening it
/// asks for a rebuild (see [`crate::lexical::LexicalIndex::open`]).
pub const ANALYZER_VERSION: u32 = 1;

/// Terms longer than this many bytes are dropped, from documents and queries
/// alike: base64 blobs and minified lines in code blocks would only bloat the
/// term dictionary, and nobody searches for them.
pub const MAX_TERM_BYTES: usize = 80;

/// The `steward` tokenizer for tantivy. Stopwords are kept: BM25's IDF already
/// weighs them down, and `C` or `it` may be what a question is about.
#[derive(Debug, Clone)]
pub struct StewardTokenizer {
    tokenizer: Tokenizer,
}

impl Default for StewardTokenizer {
    fn default() -> StewardTokenizer {
        StewardTokenizer {
            tokenizer: Tokenizer::new(TokenizerConfig::default()),
        }
    }
}

impl StewardTokenizer {
    /// The tokens of `text` in offset order (longest first at one offset), with
    /// over-long terms dropped.
    fn tokens(&self, text: &str) -> Vec<Token> {
        let mut tokens = self.tokenizer.tokenize(text);
        tokens.retain(|token| token.text.len() <= MAX_TERM_BYTES);
        // Stable: an identifier's whole already precedes its parts; jieba gives
        // sub-words before the word they belong to.
        tokens.sort_by_key(|token| (token.start, std::cmp::Reverse(token.end)));
        tokens
    }
}

/// Registers the `steward` analyzer on `index`; every index opened or created
/// needs it before it is written or searched.
pub fn register(index: &Index) {
    index.tokenizers().register(
        ANALYZER_NAME,
        TextAnalyzer::from(StewardTokenizer::default()),
    );
}

/// Every term of `text` in offset order, repeats and overlapping parts
/// kept: what a sequence of words (a tag synonym) is matched on.
pub fn ordered_terms(text: &str) -> Vec<String> {
    StewardTokenizer::default()
        .tokens(text)
        .into_iter()
        .map(|token| token.text)
        .collect()
}

/// The distinct terms of a query, in the order the analyzer gives them.
pub fn query_terms(text: &str) -> Vec<String> {
    let mut seen = HashSet::new();
    StewardTokenizer::default()
        .tokens(text)
        .into_iter()
        .map(|token| token.text)
        .filter(|term| seen.insert(term.clone()))
        .collect()
}

impl tantivy::tokenizer::Tokenizer for StewardTokenizer {
    type TokenStream<'a> = VecTokenStream;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> VecTokenStream {
        VecTokenStream::new(self.tokens(text))
    }
}

/// A token stream over tokens cut up front (steward-text's tokenizer works
/// in one pass over the whole text).
#[derive(Debug)]
pub struct VecTokenStream {
    tokens: std::vec::IntoIter<Token>,
    current: TantivyToken,
    /// End of the furthest-reaching token so far: a token that starts before
    /// it overlaps a previous one and takes its position.
    reach: usize,
    started: bool,
}

impl VecTokenStream {
    fn new(tokens: Vec<Token>) -> VecTokenStream {
        VecTokenStream {
            tokens: tokens.into_iter(),
            current: TantivyToken::default(),
            reach: 0,
            started: false,
        }
    }
}

impl TokenStream for VecTokenStream {
    fn advance(&mut self) -> bool {
        let Some(token) = self.tokens.next() else {
            return false;
        };
        let position = if !self.started {
            0
        } else if token.start >= self.reach {
            self.current.position + 1
        } else {
            self.current.position
        };
        self.started = true;
        self.reach = self.reach.max(token.end);
        self.current = TantivyToken {
            offset_from: token.start,
            offset_to: token.end,
            position,
            text: token.text,
            position_length: 1,
        };
        true
    }

    fn token(&self) -> &TantivyToken {
        &self.current
    }

    fn token_mut(&mut self) -> &mut TantivyToken {
        &mut self.current
    }
}

/// The analyzer a snippet is cut with, for one query's terms.
///
/// tantivy's snippet generator assumes tokens that follow each other without
/// overlapping: it ends a fragment at the last token's end, so a whole
/// `tokio::select!` followed by its part `select` would leave the whole's
/// highlight past the fragment's end. Here each run of overlapping tokens
/// gives the query's terms in it (longest first, none overlapping), or its
/// first token when it holds none.
#[derive(Debug, Clone)]
pub struct HighlightTokenizer {
    tokenizer: StewardTokenizer,
    terms: Arc<HashSet<String>>,
}

impl HighlightTokenizer {
    pub fn new(terms: impl IntoIterator<Item = String>) -> HighlightTokenizer {
        HighlightTokenizer {
            tokenizer: StewardTokenizer::default(),
            terms: Arc::new(terms.into_iter().collect()),
        }
    }

    fn tokens(&self, text: &str) -> Vec<Token> {
        let tokens = self.tokenizer.tokens(text);
        let mut chosen = Vec::with_capacity(tokens.len());
        let mut run_start = 0;
        while run_start < tokens.len() {
            let mut run_end = run_start + 1;
            let mut reach = tokens[run_start].end;
            while run_end < tokens.len() && tokens[run_end].start < reach {
                reach = reach.max(tokens[run_end].end);
                run_end += 1;
            }
            let run = &tokens[run_start..run_end];
            let mut last_end = 0;
            let mut any_term = false;
            for token in run {
                if token.start >= last_end && self.terms.contains(&token.text) {
                    chosen.push(token.clone());
                    last_end = token.end;
                    any_term = true;
                }
            }
            if !any_term {
                chosen.push(run[0].clone());
            }
            run_start = run_end;
        }
        chosen
    }
}

impl tantivy::tokenizer::Tokenizer for HighlightTokenizer {
    type TokenStream<'a> = VecTokenStream;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> VecTokenStream {
        VecTokenStream::new(self.tokens(text))
    }
}

#[cfg(test)]
mod tests {
    use tantivy::tokenizer::Tokenizer as _;

    use super::*;

    fn analyzed(text: &str) -> Vec<(String, usize, usize, usize)> {
        let mut tokenizer = StewardTokenizer::default();
        let mut stream = tokenizer.token_stream(text);
        let mut tokens = Vec::new();
        while let Some(token) = stream.next() {
            tokens.push((
                token.text.clone(),
                token.offset_from,
                token.offset_to,
                token.position,
            ));
        }
        tokens
    }

    /// Every term a query for `query` asks for is among the terms of `document`,
    /// and each term's offsets slice the document to its source text.
    fn check_query_finds(query: &str, document: &str) {
        let document_tokens = analyzed(document);
        for (term, start, end, _) in &document_tokens {
            let source = &document[*start..*end];
            assert_eq!(
                source.to_lowercase().replace('\u{2019}', "'"),
                *term,
                "offsets of {term:?} in {document:?}"
            );
        }
        let query_terms = query_terms(query);
        assert!(!query_terms.is_empty(), "{query:?} gives no terms");
        for term in &query_terms {
            assert!(
                document_tokens.iter().any(|(text, ..)| text == term),
                "query {query:?} asks for {term:?}, missing from {document:?}: {document_tokens:?}"
            );
        }
    }

    fn check_terms(query: &str, expected: &[&str]) {
        assert_eq!(query_terms(query), expected, "terms of {query:?}");
    }

    #[test]
    fn english_queries_find_english_text() {
        check_terms("Reading Files", &["reading", "files"]);
        check_query_finds("read file", "How do I READ a whole file into a string?");
    }

    #[test]
    fn chinese_queries_find_chinese_text() {
        check_query_finds("反向传播", "神经网络的反向传播算法是如何工作的？");
        check_query_finds("神经网络", "我想训练一个神经网络。");
    }

    #[test]
    fn code_identifiers_are_found_whole_and_by_their_parts() {
        check_terms("tokio::select!", &["tokio::select!", "tokio", "select"]);
        check_query_finds("tokio::select!", "loop { tokio::select! { _ = a => {} } }");
        check_query_finds("tokio select", "use tokio::select!(...) here");
        check_terms("std::vector<int>", &["std::vector", "std", "vector", "int"]);
        check_query_finds("std::vector<int>", "std::vector<int> v; v.push_back(1);");
        check_query_finds("vector", "std::vector<int> v;");
    }

    #[test]
    fn technology_names_are_single_terms() {
        check_terms(".NET", &[".net"]);
        check_query_finds(".NET", "Is .NET 8 faster than .NET 6?");
        check_query_finds("C++17", "Compile it as C++17 with -std=c++17.");
        check_query_finds("c#", "I write C# every day.");
        assert!(!query_terms("C++17").is_empty(), "C++17 must give a term");
    }

    #[test]
    fn punctuation_alone_gives_no_terms() {
        check_terms(" ... ?! ", &[]);
        check_terms("", &[]);
    }

    #[test]
    fn overlapping_tokens_share_a_position() {
        let tokens = analyzed("use tokio::select! now");
        let positions: Vec<(&str, usize)> = tokens
            .iter()
            .map(|(text, _, _, position)| (text.as_str(), *position))
            .collect();
        assert_eq!(
            positions,
            [
                ("use", 0),
                ("tokio::select!", 1),
                ("tokio", 1),
                ("select", 1),
                ("now", 2)
            ]
        );
    }

    #[test]
    fn over_long_terms_are_dropped() {
        let blob = "a".repeat(MAX_TERM_BYTES + 1);
        check_terms(&format!("base64 {blob}"), &["base64"]);
    }

    #[test]
    fn highlight_tokens_never_overlap() {
        let highlight = |terms: &[&str], text: &str| -> Vec<String> {
            let mut tokenizer = HighlightTokenizer::new(terms.iter().map(|term| term.to_string()));
            let mut stream = tokenizer.token_stream(text);
            let mut tokens = Vec::new();
            let mut last_end = 0;
            while let Some(token) = stream.next() {
                assert!(
                    token.offset_from >= last_end,
                    "{token:?} overlaps in {text:?}"
                );
                last_end = token.offset_to;
                tokens.push(token.text.clone());
            }
            tokens
        };
        assert_eq!(
            highlight(&["select"], "use tokio::select! now"),
            ["use", "select", "now"]
        );
        assert_eq!(
            highlight(&["tokio::select!", "tokio"], "use tokio::select! now"),
            ["use", "tokio::select!", "now"]
        );
        assert_eq!(
            highlight(&[], "use tokio::select! now"),
            ["use", "tokio::select!", "now"]
        );
        let chinese = highlight(&["传播"], "神经网络的反向传播");
        assert!(chinese.contains(&"传播".to_string()), "{chinese:?}");
    }
}
