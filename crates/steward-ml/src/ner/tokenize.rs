//! Cuts raw post prose into tokens shaped like the corpus's, so the tagger sees at run time what
//! it saw in training: words and punctuation apart, contractions split (`do` `n't`), identifiers
//! (`foo.bar()`, `std::vec`, `C#`, `.NET`, `node.js`), urls and versions whole, and each run of
//! Han characters as one token.

use super::NerToken;

/// Han characters (CJK unified ideographs and their extensions).
pub(super) fn is_han(character: char) -> bool {
    matches!(character,
        '\u{3400}'..='\u{4DBF}'
        | '\u{4E00}'..='\u{9FFF}'
        | '\u{F900}'..='\u{FAFF}'
        | '\u{20000}'..='\u{2A6DF}'
        | '\u{2A700}'..='\u{2EBEF}'
        | '\u{30000}'..='\u{3134F}')
}

/// Characters an identifier or word is made of.
fn is_core(character: char) -> bool {
    (character.is_alphanumeric() && !is_han(character)) || matches!(character, '_' | '$' | '@')
}

/// Contractions the corpus splits off as their own token (`'s`, `'ll`, ...), besides `n't`.
const CLITICS: [&str; 6] = ["s", "m", "d", "ll", "re", "ve"];

/// Tokens of `text` with their byte offsets `start..end`; a token that overlaps any of
/// `code_spans` (byte ranges `start..end`, e.g. the `<code>` elements of a post) is `in_code`.
pub fn tokenize(text: &str, code_spans: &[(usize, usize)]) -> Vec<(NerToken, usize, usize)> {
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let offset = |index: usize| chars.get(index).map_or(text.len(), |(byte, _)| *byte);
    let char_at = |index: usize| chars.get(index).map(|(_, character)| *character);
    let mut cuts: Vec<(usize, usize)> = Vec::new();
    let mut index = 0;
    while index < chars.len() {
        let character = chars[index].1;
        if character.is_whitespace() {
            index += 1;
            continue;
        }
        let start = index;
        if is_han(character) {
            while char_at(index).is_some_and(is_han) {
                index += 1;
            }
            cuts.push((start, index));
            continue;
        }
        let rest = &text[offset(index)..];
        if rest.starts_with("http://") || rest.starts_with("https://") || rest.starts_with("www.") {
            while char_at(index).is_some_and(|c| !c.is_whitespace()) {
                index += 1;
            }
            index = trim_url_end(&chars, start, index);
            cuts.push((start, index));
            continue;
        }
        let leading_dot = character == '.'
            && char_at(index + 1).is_some_and(char::is_alphabetic)
            && (index == 0 || char_at(index - 1).is_some_and(|c| c.is_whitespace() || c == '('));
        if !is_core(character) && !leading_dot {
            // Punctuation: a run of one repeated char (`...`, `==`) is one token.
            while char_at(index) == Some(character) {
                index += 1;
            }
            cuts.push((start, index));
            continue;
        }
        index = word_end(&chars, index + 1);
        // `don't` → `do` `n't`; `it's` → `it` `'s`.
        let apostrophe = |c: char| c == '\'' || c == '’';
        if char_at(index).is_some_and(apostrophe) {
            let after: String = chars[index + 1..]
                .iter()
                .map(|(_, c)| *c)
                .take_while(|c| is_core(*c))
                .collect();
            let clitic_end = index + 1 + after.chars().count();
            let lower = after.to_lowercase();
            if lower == "t" && index - start >= 2 && matches!(char_at(index - 1), Some('n' | 'N')) {
                cuts.push((start, index - 1));
                cuts.push((index - 1, clitic_end));
                index = clitic_end;
                continue;
            }
            if CLITICS.contains(&lower.as_str()) {
                cuts.push((start, index));
                cuts.push((index, clitic_end));
                index = clitic_end;
                continue;
            }
        }
        cuts.push((start, index));
    }
    cuts.into_iter()
        .map(|(start, end)| {
            let (start, end) = (offset(start), offset(end));
            let in_code = code_spans
                .iter()
                .any(|&(code_start, code_end)| start < code_end && end > code_start);
            let token = NerToken {
                text: text[start..end].to_string(),
                in_code,
            };
            (token, start, end)
        })
        .collect()
}

/// Where an identifier-like word that started before `index` ends: core chars, joined by `.`,
/// `-`, `/`, `\` or `::` when more core chars follow; a `#` or `++` suffix (`C#`, `C++`); and
/// argument lists without spaces (`foo()`, `onEdit(e)`, `super().test()`).
fn word_end(chars: &[(usize, char)], mut index: usize) -> usize {
    let char_at = |index: usize| chars.get(index).map(|(_, character)| *character);
    let core_at = |index: usize| char_at(index).is_some_and(is_core);
    loop {
        match char_at(index) {
            Some(c) if is_core(c) => index += 1,
            Some('.' | '-' | '/' | '\\') if core_at(index + 1) => index += 2,
            Some(':') if char_at(index + 1) == Some(':') && core_at(index + 2) => index += 3,
            Some('#') if !core_at(index + 1) => return index + 1,
            Some('+') if char_at(index + 1) == Some('+') && !core_at(index + 2) => {
                return index + 2;
            }
            Some('(') => match closing_paren(chars, index) {
                Some(close) => {
                    index = close + 1;
                    let chained = matches!(char_at(index), Some('.')) && core_at(index + 1);
                    if !chained {
                        return index;
                    }
                    index += 2;
                }
                None => return index,
            },
            _ => return index,
        }
    }
}

/// The `)` that closes the `(` at `open`, if it comes within 40 chars with no space between.
fn closing_paren(chars: &[(usize, char)], open: usize) -> Option<usize> {
    let mut depth = 0usize;
    for (index, (_, character)) in chars.iter().enumerate().skip(open).take(40) {
        match character {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    return Some(index);
                }
            }
            c if c.is_whitespace() => return None,
            _ => {}
        }
    }
    None
}

/// A url's end without the sentence punctuation after it (`see http://x.org/a.` ends before the
/// dot); a closing bracket stays when the url opened one.
fn trim_url_end(chars: &[(usize, char)], start: usize, mut end: usize) -> usize {
    while end > start + 1 {
        let last = chars[end - 1].1;
        let strip = match last {
            '.' | ',' | ';' | ':' | '!' | '?' | '\'' | '"' => true,
            ')' | ']' => {
                let opener = if last == ')' { '(' } else { '[' };
                let opened = chars[start..end]
                    .iter()
                    .filter(|(_, c)| *c == opener)
                    .count();
                let closed = chars[start..end].iter().filter(|(_, c)| *c == last).count();
                closed > opened
            }
            _ => false,
        };
        if !strip {
            break;
        }
        end -= 1;
    }
    end
}
