//! Tokenization of mixed English, Chinese and code into index terms: one pass over the chars,
//! jieba only on runs of Han characters, identifiers kept whole and split into their parts.

use std::sync::LazyLock;

use jieba_rs::Jieba;
use serde::{Deserialize, Serialize};

use crate::lang::is_han;

/// jieba's dictionary is embedded in the binary (its `default-dict` feature) and takes a few
/// hundred milliseconds to load, so it is loaded once, on the first Chinese text, and shared.
static JIEBA: LazyLock<Jieba> = LazyLock::new(Jieba::new);

/// One index term with where it came from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Token {
    /// The normalised term: lower-cased, `’` written as `'`. May differ from `input[start..end]`.
    pub text: String,
    pub kind: TokenKind,
    /// Byte offset of the token's first char in the input.
    pub start: usize,
    /// Byte offset just after the token's last char in the input.
    pub end: usize,
}

/// What a token is, so that callers can weigh code and prose differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenKind {
    /// A word of an alphabetic language, or a part of an identifier.
    Word,
    /// A Chinese word or sub-word from jieba.
    Cjk,
    /// An identifier or technology name kept whole: `tokio::select!`, `snake_case`, `c#`, `.net`.
    Code,
    /// A number or version: `42`, `3.11`, `1e-5`, `0x1f`, `v1.2.3`.
    Number,
}

/// Tokenizer options; the default keeps every term.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TokenizerConfig {
    /// Drop English stopwords (`the`, `is`, `of`, ...) and Chinese function words (`的`, `了`,
    /// `是`, ...): they carry no topic, so TF-IDF and keyword extraction want them gone, while
    /// phrase search wants them kept.
    pub stopwords: bool,
}

/// Turns text into index terms. Build once and share by reference; it holds no per-call state.
#[derive(Debug, Clone)]
pub struct Tokenizer {
    config: TokenizerConfig,
}

impl Tokenizer {
    pub fn new(config: TokenizerConfig) -> Tokenizer {
        Tokenizer { config }
    }

    /// Tokens in input order; an identifier's whole form comes before its parts, and jieba's
    /// sub-words overlap the word they come from.
    pub fn tokenize(&self, text: &str) -> Vec<Token> {
        let mut tokens = Vec::with_capacity(text.len() / 5);
        self.visit(text, |kind, start, end, normalized| {
            tokens.push(Token {
                text: normalized,
                kind,
                start,
                end,
            });
        });
        tokens
    }

    /// The normalised terms only, in the order [`Tokenizer::tokenize`] gives them (repeats kept,
    /// since term frequency matters to ranking).
    pub fn terms(&self, text: &str) -> Vec<String> {
        let mut terms = Vec::with_capacity(text.len() / 5);
        self.visit(text, |_, _, _, normalized| terms.push(normalized));
        terms
    }

    fn visit(&self, text: &str, emit: impl FnMut(TokenKind, usize, usize, String)) {
        let mut emitter = Emitter {
            text,
            drop_stopwords: self.config.stopwords,
            segments: Vec::new(),
            parts: Vec::new(),
            emit,
        };
        let bytes = text.as_bytes();
        let mut chunk_start: Option<usize> = None;
        // Whether the chunk so far is a plain word (`a`-`z`, `0`-`9`, maybe a capital first):
        // most of prose, and it needs none of the identifier analysis.
        let mut chunk_is_plain = true;
        let mut index = 0;
        while index < bytes.len() {
            let byte = bytes[index];
            if byte < 0x80 {
                let class = ASCII_CLASS[byte as usize];
                if class == ASCII_SEPARATOR {
                    if let Some(start) = chunk_start.take() {
                        emitter.chunk_or_plain_word(start, index, chunk_is_plain);
                    }
                } else if chunk_start.is_none() {
                    chunk_start = Some(index);
                    chunk_is_plain = class == ASCII_LOWER_OR_DIGIT || byte.is_ascii_uppercase();
                } else if class != ASCII_LOWER_OR_DIGIT {
                    chunk_is_plain = false;
                }
                index += 1;
                continue;
            }
            let character = text[index..]
                .chars()
                .next()
                .expect("index is a char boundary below the text's length");
            if is_han(character) {
                if let Some(start) = chunk_start.take() {
                    emitter.chunk_or_plain_word(start, index, chunk_is_plain);
                }
                let run_start = index;
                let run_end = text[run_start..]
                    .char_indices()
                    .find(|&(_, following)| !is_han(following))
                    .map_or(text.len(), |(offset, _)| run_start + offset);
                emitter.han_run(run_start, run_end);
                index = run_end;
                continue;
            }
            if character.is_alphanumeric() || character == TYPOGRAPHIC_APOSTROPHE {
                if chunk_start.is_none() {
                    chunk_start = Some(index);
                }
                chunk_is_plain = false;
            } else if let Some(start) = chunk_start.take() {
                emitter.chunk_or_plain_word(start, index, chunk_is_plain);
            }
            index += character.len_utf8();
        }
        if let Some(start) = chunk_start {
            emitter.chunk_or_plain_word(start, bytes.len(), chunk_is_plain);
        }
    }
}

const TYPOGRAPHIC_APOSTROPHE: char = '\u{2019}';

const ASCII_SEPARATOR: u8 = 0;
/// `a`-`z` and `0`-`9`: a chunk of only these (bar a capital first letter) is a plain word.
const ASCII_LOWER_OR_DIGIT: u8 = 1;
/// `A`-`Z` and `_`: may start a case or underscore split.
const ASCII_WORD: u8 = 3;
/// Chars that may join or end an identifier (`::`, `.`, `-`, `'`, `c#`, `c++`, `select!`).
const ASCII_JOINER: u8 = 2;

static ASCII_CLASS: [u8; 128] = {
    let mut table = [ASCII_SEPARATOR; 128];
    let mut byte = 0;
    while byte < 128 {
        let character = byte as u8;
        if character.is_ascii_lowercase() || character.is_ascii_digit() {
            table[byte] = ASCII_LOWER_OR_DIGIT;
        } else if character.is_ascii_uppercase() || character == b'_' {
            table[byte] = ASCII_WORD;
        }
        byte += 1;
    }
    table[b'.' as usize] = ASCII_JOINER;
    table[b':' as usize] = ASCII_JOINER;
    table[b'-' as usize] = ASCII_JOINER;
    table[b'#' as usize] = ASCII_JOINER;
    table[b'+' as usize] = ASCII_JOINER;
    table[b'!' as usize] = ASCII_JOINER;
    table[b'\'' as usize] = ASCII_JOINER;
    table
};

fn is_joiner(character: char) -> bool {
    character == TYPOGRAPHIC_APOSTROPHE
        || (character.is_ascii() && ASCII_CLASS[character as usize] == ASCII_JOINER)
}

fn char_at(text: &str, index: usize) -> Option<char> {
    text.get(index..).and_then(|rest| rest.chars().next())
}

fn char_before(text: &str, index: usize) -> Option<char> {
    text.get(..index)
        .and_then(|before| before.chars().next_back())
}

/// Per-call state: reusable scratch space and the caller's sink.
struct Emitter<'t, F> {
    text: &'t str,
    drop_stopwords: bool,
    /// Segments of the identifier being split (`tokio`, `select`).
    segments: Vec<(usize, usize)>,
    /// Sub-parts of one segment (`snake`, `case`).
    parts: Vec<(usize, usize)>,
    emit: F,
}

impl<F: FnMut(TokenKind, usize, usize, String)> Emitter<'_, F> {
    fn emit_range(&mut self, kind: TokenKind, start: usize, end: usize) {
        let slice = &self.text[start..end];
        if self.drop_stopwords
            && ((kind == TokenKind::Word && is_english_stopword(slice))
                || (kind == TokenKind::Cjk && is_chinese_stopword(slice)))
        {
            return;
        }
        (self.emit)(kind, start, end, normalize(slice));
    }

    /// Emits a part of an identifier, unless it is noise: a lone char or a bare number
    /// (the `2` of `getHTTPResponse2`, the `08` of a date).
    fn emit_part(&mut self, start: usize, end: usize) {
        let part = &self.text[start..end];
        let mut characters = part.chars();
        if characters.next().is_none() || characters.next().is_none() {
            return;
        }
        if part.chars().all(|character| character.is_ascii_digit()) {
            return;
        }
        self.emit_range(TokenKind::Word, start, end);
    }

    fn han_run(&mut self, start: usize, end: usize) {
        let run = &self.text[start..end];
        for word in JIEBA.cut_for_search(run, true) {
            if word.byte_start < word.byte_end {
                self.emit_range(
                    TokenKind::Cjk,
                    start + word.byte_start,
                    start + word.byte_end,
                );
            }
        }
    }

    fn chunk_or_plain_word(&mut self, start: usize, end: usize, is_plain: bool) {
        if !is_plain {
            self.chunk(start, end);
        } else if self.text.as_bytes()[start].is_ascii_digit() && is_number(&self.text[start..end])
        {
            self.emit_range(TokenKind::Number, start, end);
        } else {
            self.emit_range(TokenKind::Word, start, end);
        }
    }

    /// A run of word and joiner chars between separators: trims punctuation at the ends, keeps
    /// the few marks that belong to names (`.net`, `c#`, `c++`, `select!`) and splits at joiner
    /// runs that cannot be inside an identifier.
    fn chunk(&mut self, start: usize, end: usize) {
        let text = self.text;
        let mut core_start = start;
        while let Some(character) = char_at(text, core_start).filter(|_| core_start < end) {
            if !is_joiner(character) {
                break;
            }
            let keeps_leading_dot = character == '.'
                && core_start == start
                && char_at(text, core_start + 1).is_some_and(char::is_alphabetic)
                && core_start + 1 < end;
            if keeps_leading_dot {
                break;
            }
            core_start += character.len_utf8();
        }
        let mut core_end = end;
        while core_end > core_start {
            let Some(last) = char_before(text, core_end) else {
                break;
            };
            match last {
                '#' | '+' => {
                    let run_length = text[core_start..core_end]
                        .bytes()
                        .rev()
                        .take_while(|&byte| byte == last as u8)
                        .count();
                    let run_start = core_end - run_length;
                    let follows_letter = run_start > core_start
                        && char_before(text, run_start).is_some_and(char::is_alphabetic);
                    if run_length <= 2 && follows_letter {
                        break;
                    }
                    core_end -= 1;
                }
                '!' => {
                    // `select!` is a Rust macro, `Thanks!` is not: keep the bang only on a path
                    // or right before the macro's arguments.
                    let is_macro = text[core_start..core_end].contains("::")
                        || matches!(text.as_bytes().get(core_end), Some(b'(' | b'[' | b'{'));
                    let follows_identifier = char_before(text, core_end - 1)
                        .is_some_and(|character| character.is_alphanumeric() || character == '_');
                    if is_macro && follows_identifier && core_end - 1 > core_start {
                        break;
                    }
                    core_end -= 1;
                }
                character if is_joiner(character) => core_end -= character.len_utf8(),
                _ => break,
            }
        }
        if core_start >= core_end {
            return;
        }
        let core = &text[core_start..core_end];
        if is_number(core) {
            self.emit_range(TokenKind::Number, core_start, core_end);
            return;
        }
        self.split_at_foreign_joiners(core_start, core_end);
    }

    /// Splits where joiners do not join an identifier (`a+b`, `x--y`, `key:value`, `..`).
    fn split_at_foreign_joiners(&mut self, core_start: usize, core_end: usize) {
        let text = self.text;
        let mut piece_start = core_start;
        let mut index = core_start;
        while index < core_end {
            let character = char_at(text, index).expect("index is inside the core");
            if !is_joiner(character) {
                index += character.len_utf8();
                continue;
            }
            let run_start = index;
            let mut run_end = index;
            while let Some(joiner) =
                char_at(text, run_end).filter(|&next| run_end < core_end && is_joiner(next))
            {
                run_end += joiner.len_utf8();
            }
            index = run_end;
            if run_start == core_start || run_end == core_end {
                // A kept leading dot or trailing mark, not a join.
                continue;
            }
            let run = &text[run_start..run_end];
            let is_identifier_join = match run {
                "::" | "." | "-" => true,
                "'" | "\u{2019}" => {
                    char_before(text, run_start).is_some_and(char::is_alphabetic)
                        && char_at(text, run_end).is_some_and(char::is_alphabetic)
                }
                _ => false,
            };
            if !is_identifier_join {
                self.piece(piece_start, run_start);
                piece_start = run_end;
            }
        }
        self.piece(piece_start, core_end);
    }

    /// One identifier-like piece whose joiners are all valid.
    fn piece(&mut self, start: usize, end: usize) {
        let text = self.text;
        let end = strip_possessive(text, start, end);
        if start >= end || !text[start..end].chars().any(char::is_alphanumeric) {
            return;
        }
        if is_number(&text[start..end]) {
            self.emit_range(TokenKind::Number, start, end);
            return;
        }
        let has_prefix_dot = text.as_bytes()[start] == b'.';
        let body_start = if has_prefix_dot { start + 1 } else { start };
        let mut body_end = end;
        while body_end > body_start && matches!(text.as_bytes()[body_end - 1], b'#' | b'+' | b'!') {
            body_end -= 1;
        }
        let suffix = &text[body_end..end];

        let mut segments = std::mem::take(&mut self.segments);
        segments.clear();
        let (mut has_path, mut has_dot, mut has_hyphen, mut has_apostrophe) =
            (false, false, false, false);
        let mut segment_start = body_start;
        for (offset, character) in text[body_start..body_end].char_indices() {
            if !is_joiner(character) {
                continue;
            }
            let joiner_start = body_start + offset;
            if segment_start < joiner_start {
                segments.push((segment_start, joiner_start));
            }
            match character {
                ':' => has_path = true,
                '.' => has_dot = true,
                '-' => has_hyphen = true,
                _ => has_apostrophe = true,
            }
            segment_start = joiner_start + character.len_utf8();
        }
        if segment_start < body_end {
            segments.push((segment_start, body_end));
        }

        let is_plain_segment = segments.len() == 1 && !has_prefix_dot && suffix.is_empty();
        if is_plain_segment {
            let (segment_start, segment_end) = segments[0];
            self.identifier(segment_start, segment_end);
        } else if has_apostrophe && !has_path && !has_dot && !has_hyphen && suffix.is_empty() {
            // A contraction (`don't`): one word; its pieces mean nothing alone.
            self.emit_range(TokenKind::Word, start, end);
        } else {
            let kind = if has_path || has_dot || has_prefix_dot || !suffix.is_empty() {
                TokenKind::Code
            } else if text[start..end].chars().any(char::is_alphabetic) {
                TokenKind::Word
            } else {
                TokenKind::Number
            };
            self.emit_range(kind, start, end);
            // `.net`, `c#` and `c++` are names of their own; their letters alone would match
            // the wrong documents.
            let is_single_name = segments.len() == 1 && !suffix.contains('!');
            if !is_single_name {
                for &(segment_start, segment_end) in &segments {
                    self.segment_of_compound(segment_start, segment_end);
                }
            }
        }
        self.segments = segments;
    }

    /// A single identifier segment (no joiners): `camelCase` and `snake_case` give the whole
    /// (as [`TokenKind::Code`]) and their parts; a plain word gives itself.
    fn identifier(&mut self, start: usize, end: usize) {
        let mut parts = std::mem::take(&mut self.parts);
        identifier_parts(self.text, start, end, &mut parts);
        match parts.as_slice() {
            [] => {}
            [(part_start, part_end)] if (*part_start, *part_end) == (start, end) => {
                let kind = if self.text[start..end]
                    .bytes()
                    .all(|byte| byte.is_ascii_digit())
                {
                    TokenKind::Number
                } else {
                    TokenKind::Word
                };
                self.emit_range(kind, start, end);
            }
            _ => {
                self.emit_range(TokenKind::Code, start, end);
                for &(part_start, part_end) in &parts {
                    self.emit_part(part_start, part_end);
                }
            }
        }
        self.parts = parts;
    }

    /// A segment of `a::b`, `a.b` or `a-b`: itself, and its parts when it splits further.
    fn segment_of_compound(&mut self, start: usize, end: usize) {
        let mut parts = std::mem::take(&mut self.parts);
        identifier_parts(self.text, start, end, &mut parts);
        if parts.len() > 1 || parts.first().is_some_and(|&part| part != (start, end)) {
            self.emit_range(TokenKind::Code, start, end);
            for &(part_start, part_end) in &parts {
                self.emit_part(part_start, part_end);
            }
        } else {
            self.emit_part(start, end);
        }
        self.parts = parts;
    }
}

/// `Google's` → `Google`: the possessive would otherwise make a second term for every name.
fn strip_possessive(text: &str, start: usize, end: usize) -> usize {
    let piece = &text[start..end];
    for apostrophe in ["'", "\u{2019}"] {
        for letter in ["s", "S"] {
            let suffix_length = apostrophe.len() + letter.len();
            if piece.len() > suffix_length
                && piece.ends_with(letter)
                && piece[..piece.len() - letter.len()].ends_with(apostrophe)
            {
                return end - suffix_length;
            }
        }
    }
    end
}

/// Splits an identifier segment at underscores and case changes (`getHTTPResponse2` →
/// `get`, `HTTP`, `Response`, `2`). Digits split off only in identifiers that also change
/// case, so `utf8` and `python3` stay whole.
fn identifier_parts(text: &str, start: usize, end: usize, parts: &mut Vec<(usize, usize)>) {
    parts.clear();
    let mut piece_start = start;
    for (offset, character) in text[start..end].char_indices() {
        if character == '_' {
            let underscore = start + offset;
            if piece_start < underscore {
                split_case(text, piece_start, underscore, parts);
            }
            piece_start = underscore + 1;
        }
    }
    if piece_start < end {
        split_case(text, piece_start, end, parts);
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CharCase {
    Lower,
    Upper,
    Digit,
    Other,
}

fn char_case(character: char) -> CharCase {
    if character.is_lowercase() {
        CharCase::Lower
    } else if character.is_uppercase() {
        CharCase::Upper
    } else if character.is_numeric() {
        CharCase::Digit
    } else {
        CharCase::Other
    }
}

fn split_case(text: &str, start: usize, end: usize, parts: &mut Vec<(usize, usize)>) {
    let word = &text[start..end];
    let boundary_count_before = parts.len();
    // First pass: case boundaries only.
    let has_case_boundary = case_boundaries(word, false).next().is_some();
    let mut part_start = start;
    if has_case_boundary {
        for boundary in case_boundaries(word, true) {
            parts.push((part_start, start + boundary));
            part_start = start + boundary;
        }
    }
    parts.push((part_start, end));
    debug_assert!(parts.len() > boundary_count_before);
}

/// Byte offsets in `word` where a new part starts: `camelCase` at `C`, `HTTPServer` at `S`
/// (but not `APIs` at `I`: a plural), and with `with_digits` also where letters meet digits.
fn case_boundaries(word: &str, with_digits: bool) -> impl Iterator<Item = usize> + '_ {
    let mut characters = word.char_indices().peekable();
    let mut previous: Option<CharCase> = None;
    std::iter::from_fn(move || {
        while let Some((offset, character)) = characters.next() {
            let case = char_case(character);
            let next = characters.peek().map(|&(next_offset, next_character)| {
                let is_last = next_offset + next_character.len_utf8() == word.len();
                (char_case(next_character), next_character, is_last)
            });
            let before = previous.replace(case);
            let Some(before) = before else { continue };
            let is_boundary = match (before, case) {
                (CharCase::Lower, CharCase::Upper) => true,
                (CharCase::Upper, CharCase::Upper) => {
                    next.is_some_and(|(next_case, next_character, is_last)| {
                        next_case == CharCase::Lower && !(next_character == 's' && is_last)
                    })
                }
                (CharCase::Lower | CharCase::Upper, CharCase::Digit)
                | (CharCase::Digit, CharCase::Lower | CharCase::Upper) => with_digits,
                _ => false,
            };
            if is_boundary {
                return Some(offset);
            }
        }
        None
    })
}

/// Numbers and versions: `42`, `3.11`, `1_000`, `1e-5`, `2.5E+10`, `0x1F`, `192.168.0.1`, `v1.2.3`.
fn is_number(candidate: &str) -> bool {
    let bytes = candidate.as_bytes();
    if bytes.len() > 2 && bytes[0] == b'0' && matches!(bytes[1], b'x' | b'X') {
        return bytes[2..]
            .iter()
            .all(|byte| byte.is_ascii_hexdigit() || *byte == b'_');
    }
    let (digits, is_version) = match bytes {
        [b'v' | b'V', second, ..] if second.is_ascii_digit() => (&bytes[1..], true),
        _ => (bytes, false),
    };
    let mut index = 0;
    let mut dot_count = 0;
    let count_digits = |from: usize| {
        digits[from..]
            .iter()
            .take_while(|byte| byte.is_ascii_digit() || **byte == b'_')
            .count()
    };
    let leading = count_digits(0);
    if leading == 0 || !digits[0].is_ascii_digit() {
        return false;
    }
    index += leading;
    while index + 1 < digits.len() && digits[index] == b'.' && digits[index + 1].is_ascii_digit() {
        dot_count += 1;
        index += 1 + count_digits(index + 1);
    }
    if is_version {
        return dot_count > 0 && index == digits.len();
    }
    if index < digits.len() && matches!(digits[index], b'e' | b'E') && dot_count <= 1 {
        let mut exponent = index + 1;
        if matches!(digits.get(exponent), Some(b'+' | b'-')) {
            exponent += 1;
        }
        let exponent_digits = count_digits(exponent);
        if exponent_digits == 0 {
            return false;
        }
        index = exponent + exponent_digits;
    }
    index == digits.len()
}

fn normalize(slice: &str) -> String {
    if slice.is_ascii() {
        slice.to_ascii_lowercase()
    } else {
        slice.to_lowercase().replace(TYPOGRAPHIC_APOSTROPHE, "'")
    }
}

fn is_english_stopword(word: &str) -> bool {
    if word.len() > 10 || !word.is_ascii() {
        return false;
    }
    let mut lowercase = [0u8; 10];
    for (target, source) in lowercase.iter_mut().zip(word.bytes()) {
        *target = source.to_ascii_lowercase();
    }
    matches!(
        &lowercase[..word.len()],
        b"a" | b"about"
            | b"above"
            | b"after"
            | b"again"
            | b"against"
            | b"all"
            | b"am"
            | b"an"
            | b"and"
            | b"any"
            | b"are"
            | b"as"
            | b"at"
            | b"be"
            | b"because"
            | b"been"
            | b"before"
            | b"being"
            | b"below"
            | b"between"
            | b"both"
            | b"but"
            | b"by"
            | b"can"
            | b"could"
            | b"did"
            | b"do"
            | b"does"
            | b"doing"
            | b"don't"
            | b"down"
            | b"during"
            | b"each"
            | b"few"
            | b"for"
            | b"from"
            | b"further"
            | b"had"
            | b"has"
            | b"have"
            | b"having"
            | b"he"
            | b"her"
            | b"here"
            | b"hers"
            | b"herself"
            | b"him"
            | b"himself"
            | b"his"
            | b"how"
            | b"i"
            | b"if"
            | b"in"
            | b"into"
            | b"is"
            | b"it"
            | b"its"
            | b"itself"
            | b"just"
            | b"me"
            | b"more"
            | b"most"
            | b"my"
            | b"myself"
            | b"no"
            | b"nor"
            | b"not"
            | b"now"
            | b"of"
            | b"off"
            | b"on"
            | b"once"
            | b"only"
            | b"or"
            | b"other"
            | b"our"
            | b"ours"
            | b"ourselves"
            | b"out"
            | b"over"
            | b"own"
            | b"same"
            | b"she"
            | b"should"
            | b"so"
            | b"some"
            | b"such"
            | b"than"
            | b"that"
            | b"the"
            | b"their"
            | b"theirs"
            | b"them"
            | b"themselves"
            | b"then"
            | b"there"
            | b"these"
            | b"they"
            | b"this"
            | b"those"
            | b"through"
            | b"to"
            | b"too"
            | b"under"
            | b"until"
            | b"up"
            | b"very"
            | b"was"
            | b"we"
            | b"were"
            | b"what"
            | b"when"
            | b"where"
            | b"which"
            | b"while"
            | b"who"
            | b"whom"
            | b"why"
            | b"will"
            | b"with"
            | b"would"
            | b"you"
            | b"your"
            | b"yours"
            | b"yourself"
            | b"yourselves"
    )
}

fn is_chinese_stopword(word: &str) -> bool {
    matches!(
        word,
        "的" | "了"
            | "是"
            | "在"
            | "和"
            | "与"
            | "及"
            | "或"
            | "也"
            | "就"
            | "都"
            | "而"
            | "被"
            | "把"
            | "对"
            | "从"
            | "之"
            | "其"
            | "着"
            | "过"
            | "吗"
            | "呢"
            | "吧"
            | "啊"
            | "呀"
            | "嘛"
            | "个"
            | "这"
            | "那"
            | "我"
            | "你"
            | "他"
            | "她"
            | "它"
            | "我们"
            | "你们"
            | "他们"
            | "这个"
            | "那个"
            | "这些"
            | "那些"
            | "一个"
            | "并"
            | "但"
            | "但是"
            | "因为"
            | "所以"
            | "如果"
            | "还"
            | "又"
            | "很"
            | "得"
            | "地"
            | "于"
            | "以"
            | "为"
            | "给"
            | "让"
            | "向"
            | "等"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokenizer() -> Tokenizer {
        Tokenizer::new(TokenizerConfig::default())
    }

    /// `expected` lists (kind, term) pairs in order.
    fn check(input: &str, expected: &[(TokenKind, &str)]) {
        let tokens = tokenizer().tokenize(input);
        let actual: Vec<(TokenKind, &str)> = tokens
            .iter()
            .map(|token| (token.kind, token.text.as_str()))
            .collect();
        assert_eq!(actual, expected, "tokens of {input:?}");
    }

    fn check_terms_include(input: &str, expected_terms: &[&str]) {
        let terms = tokenizer().terms(input);
        for expected in expected_terms {
            assert!(
                terms.iter().any(|term| term == expected),
                "{expected:?} missing from terms of {input:?}: {terms:?}"
            );
        }
    }

    fn check_terms_exclude(input: &str, unexpected_terms: &[&str]) {
        let terms = tokenizer().terms(input);
        for unexpected in unexpected_terms {
            assert!(
                !terms.iter().any(|term| term == unexpected),
                "{unexpected:?} in terms of {input:?}: {terms:?}"
            );
        }
    }

    use TokenKind::{Cjk, Code, Number, Word};

    #[test]
    fn english_words_are_lower_cased_without_stemming() {
        check(
            "Neural Networks learn!",
            &[(Word, "neural"), (Word, "networks"), (Word, "learn")],
        );
        check(
            "Don't use Google's APIs.",
            &[
                (Word, "don't"),
                (Word, "use"),
                (Word, "google"),
                (Word, "apis"),
            ],
        );
        check("it’s “quoted”", &[(Word, "it"), (Word, "quoted")]);
        check("l’apprentissage", &[(Word, "l'apprentissage")]);
        check("", &[]);
        check(" ... --- ", &[]);
    }

    #[test]
    fn rust_paths_and_macros() {
        check(
            "tokio::select!",
            &[(Code, "tokio::select!"), (Word, "tokio"), (Word, "select")],
        );
        check(
            "println!(\"hi\")",
            &[(Code, "println!"), (Word, "println"), (Word, "hi")],
        );
        check(
            "Thanks! It works",
            &[(Word, "thanks"), (Word, "it"), (Word, "works")],
        );
        check(
            "::std::io",
            &[(Code, "std::io"), (Word, "std"), (Word, "io")],
        );
    }

    #[test]
    fn cpp_templates_split_at_angle_brackets() {
        check(
            "std::vector<int>",
            &[
                (Code, "std::vector"),
                (Word, "std"),
                (Word, "vector"),
                (Word, "int"),
            ],
        );
        check("a<b", &[(Word, "a"), (Word, "b")]);
    }

    #[test]
    fn snake_and_camel_case_identifiers_keep_whole_and_parts() {
        check(
            "snake_case_name",
            &[
                (Code, "snake_case_name"),
                (Word, "snake"),
                (Word, "case"),
                (Word, "name"),
            ],
        );
        check(
            "camelCase",
            &[(Code, "camelcase"), (Word, "camel"), (Word, "case")],
        );
        check(
            "HTTPServer",
            &[(Code, "httpserver"), (Word, "http"), (Word, "server")],
        );
        check(
            "getHTTPResponse2",
            &[
                (Code, "gethttpresponse2"),
                (Word, "get"),
                (Word, "http"),
                (Word, "response"),
            ],
        );
        check("__init__", &[(Code, "__init__"), (Word, "init")]);
        check(
            "utf8 python3 APIs URLs",
            &[
                (Word, "utf8"),
                (Word, "python3"),
                (Word, "apis"),
                (Word, "urls"),
            ],
        );
    }

    #[test]
    fn dotted_and_hyphenated_names() {
        check(
            "node.js",
            &[(Code, "node.js"), (Word, "node"), (Word, "js")],
        );
        check(
            "System.IO.File",
            &[
                (Code, "system.io.file"),
                (Word, "system"),
                (Word, "io"),
                (Word, "file"),
            ],
        );
        check("Objective-C", &[(Word, "objective-c"), (Word, "objective")]);
        check(
            "state-of-the-art",
            &[
                (Word, "state-of-the-art"),
                (Word, "state"),
                (Word, "of"),
                (Word, "the"),
                (Word, "art"),
            ],
        );
        check("I use Rust.", &[(Word, "i"), (Word, "use"), (Word, "rust")]);
        check(
            "torch.nn.Conv2d",
            &[
                (Code, "torch.nn.conv2d"),
                (Word, "torch"),
                (Word, "nn"),
                (Word, "conv2d"),
            ],
        );
    }

    #[test]
    fn technology_names_stay_single_terms() {
        check(
            "C# F# C++ .NET ASP.NET",
            &[
                (Code, "c#"),
                (Code, "f#"),
                (Code, "c++"),
                (Code, ".net"),
                (Code, "asp.net"),
                (Word, "asp"),
                (Word, "net"),
            ],
        );
        check("I like C#.", &[(Word, "i"), (Word, "like"), (Code, "c#")]);
        check("C#/.NET", &[(Code, "c#"), (Code, ".net")]);
        check("a+b", &[(Word, "a"), (Word, "b")]);
        check("#include", &[(Word, "include")]);
    }

    #[test]
    fn numbers_and_versions() {
        check("Python 3.11", &[(Word, "python"), (Number, "3.11")]);
        check(
            "lr=1e-5, 2.5E+10",
            &[(Word, "lr"), (Number, "1e-5"), (Number, "2.5e+10")],
        );
        check(
            "0x1F 42 1_000 v1.2.3",
            &[
                (Number, "0x1f"),
                (Number, "42"),
                (Number, "1_000"),
                (Number, "v1.2.3"),
            ],
        );
        check("192.168.0.1.", &[(Number, "192.168.0.1")]);
        check("2016-08-02", &[(Number, "2016-08-02")]);
        check("64bit 3D", &[(Word, "64bit"), (Word, "3d")]);
    }

    #[test]
    fn chinese_runs_are_segmented_for_search() {
        check_terms_include(
            "神经网络的反向传播",
            &["神经", "网络", "神经网络", "反向", "传播"],
        );
        let tokens = tokenizer().tokenize("处理多个");
        assert!(tokens.iter().all(|token| token.kind == Cjk));
    }

    #[test]
    fn mixed_chinese_english_code_post() {
        let post = "如何在 Rust 中使用 tokio::select! 处理多个 future？我试过 std::vector<int>，在 C# 和 .NET 里也一样";
        check_terms_include(
            post,
            &[
                "如何",
                "rust",
                "tokio::select!",
                "tokio",
                "select",
                "处理",
                "多个",
                "future",
                "std::vector",
                "vector",
                "c#",
                ".net",
            ],
        );
        check_terms_exclude(post, &["？", "，", "future？", "<int>", "std::vector<int>"]);
        check_terms_include("用Rust写", &["rust"]);
    }

    #[test]
    fn full_width_punctuation_separates() {
        check(
            "模型（model）：训练",
            &[(Cjk, "模型"), (Word, "model"), (Cjk, "训练")],
        );
    }

    #[test]
    fn stopwords_are_dropped_when_asked() {
        let tokenizer = Tokenizer::new(TokenizerConfig { stopwords: true });
        assert_eq!(
            tokenizer.terms("What is the state-of-the-art in C# for this?"),
            ["state-of-the-art", "state", "art", "c#"]
        );
        assert_eq!(tokenizer.terms("我的模型是好的"), ["模型", "好"]);
    }

    #[test]
    fn offsets_point_into_the_input() {
        let input = "Ünïcode 中文 tokio::select! café";
        for token in tokenizer().tokenize(input) {
            let source = &input[token.start..token.end];
            assert_eq!(source.to_lowercase(), token.text, "token {token:?}");
        }
    }

    #[test]
    fn tokenizer_is_shareable_across_threads() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Tokenizer>();
    }
}
