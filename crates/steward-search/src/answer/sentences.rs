//! Sentences of a generated answer or a passage, and the `[n]` citation
//! markers inside them: the units attribution checks one by one.
//!
//! English sentences end at `.`, `!` or `?` followed by a space (so `3.11`,
//! `e.g.` and `std::fs::read_to_string(path)?.len()` stay whole), Chinese ones
//! at `。`, `！` or `？`, and every line break ends one. Inline code in
//! backticks and fenced code blocks are never split: a fenced block is one
//! unit of its own.

/// One sentence, as it stands in the text (markers included).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sentence {
    pub text: String,
    /// A fenced code block rather than prose.
    pub code: bool,
}

/// Abbreviations whose dot ends no sentence.
const ABBREVIATIONS: &[&str] = &["e.g", "i.e", "vs", "cf"];

/// `text` cut into sentences, in order, trimmed, empty ones left out.
pub fn split(text: &str) -> Vec<Sentence> {
    let mut sentences = Vec::new();
    let mut fence: Option<String> = None;
    for line in text.lines() {
        if let Some(block) = &mut fence {
            block.push('\n');
            block.push_str(line);
            if line.trim_start().starts_with("```") {
                push(&mut sentences, block, true);
                fence = None;
            }
            continue;
        }
        if line.trim_start().starts_with("```") {
            fence = Some(line.to_string());
            continue;
        }
        split_line(line, &mut sentences);
    }
    if let Some(block) = fence {
        // An unclosed fence (an answer cut by max_tokens) is still code.
        push(&mut sentences, &block, true);
    }
    sentences
}

fn push(sentences: &mut Vec<Sentence>, text: &str, code: bool) {
    let text = text.trim();
    if !text.is_empty() {
        sentences.push(Sentence {
            text: text.to_string(),
            code,
        });
    }
}

/// Splits one line (no fences inside) at sentence ends outside inline code.
fn split_line(line: &str, sentences: &mut Vec<Sentence>) {
    let chars: Vec<(usize, char)> = line.char_indices().collect();
    let mut start = 0;
    let mut in_code = false;
    let mut index = 0;
    while index < chars.len() {
        let (offset, character) = chars[index];
        if character == '`' {
            in_code = !in_code;
            index += 1;
            continue;
        }
        if in_code {
            index += 1;
            continue;
        }
        let ends = match character {
            '。' | '！' | '？' => true,
            '.' | '!' | '?' => {
                let next = chars.get(index + 1).map(|(_, next)| *next);
                next.is_none_or(char::is_whitespace)
                    && !(character == '.' && is_abbreviation(&line[start..offset]))
            }
            _ => false,
        };
        if !ends {
            index += 1;
            continue;
        }
        // Markers right after the end (`... it. [2]`) belong to this sentence.
        let mut end = offset + character.len_utf8();
        let mut look = index + 1;
        loop {
            let mut probe = look;
            while probe < chars.len() && chars[probe].1 == ' ' {
                probe += 1;
            }
            match marker_at(line, chars.get(probe).map(|(at, _)| *at)) {
                Some(marker_end) => {
                    end = marker_end;
                    look = chars
                        .iter()
                        .position(|(at, _)| *at >= marker_end)
                        .unwrap_or(chars.len());
                }
                None => break,
            }
        }
        push(sentences, &line[start..end], false);
        start = end;
        index = look;
    }
    push(sentences, &line[start..], false);
}

/// Whether `before` (the sentence so far) ends with an abbreviation.
fn is_abbreviation(before: &str) -> bool {
    let word = before
        .rsplit(|c: char| c.is_whitespace() || c == '(')
        .next()
        .unwrap_or_default()
        .to_lowercase();
    ABBREVIATIONS.contains(&word.as_str())
}

/// The end of a `[n]` / `[n, m]` marker starting at byte `at` of `text`.
fn marker_at(text: &str, at: Option<usize>) -> Option<usize> {
    let rest = &text[at?..];
    let inner = rest.strip_prefix('[')?;
    let close = inner.find(']')?;
    let body = &inner[..close];
    let numbers = parse_numbers(body)?;
    (!numbers.is_empty()).then(|| at.unwrap_or_default() + 1 + close + 1)
}

fn parse_numbers(body: &str) -> Option<Vec<usize>> {
    body.split(',')
        .map(|part| {
            let part = part.trim();
            (!part.is_empty() && part.len() <= 3 && part.chars().all(|c| c.is_ascii_digit()))
                .then(|| part.parse::<usize>().ok())
                .flatten()
        })
        .collect()
}

/// The text without its `[n]` markers, and the numbers they held, in order
/// (repeats dropped).
pub fn strip_markers(text: &str) -> (String, Vec<usize>) {
    let mut out = String::with_capacity(text.len());
    let mut numbers = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find('[') {
        out.push_str(&rest[..open]);
        let tail = &rest[open..];
        match tail[1..]
            .find(']')
            .and_then(|close| parse_numbers(&tail[1..1 + close]).map(|found| (close, found)))
        {
            Some((close, found)) => {
                for number in found {
                    if !numbers.contains(&number) {
                        numbers.push(number);
                    }
                }
                rest = &tail[close + 2..];
            }
            None => {
                out.push('[');
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    // Markers leave a space before punctuation or a double space behind.
    let mut cleaned = String::with_capacity(out.len());
    for character in out.chars() {
        if matches!(
            character,
            '.' | ',' | '!' | '?' | ';' | ':' | '。' | '，' | '！' | '？'
        ) && cleaned.ends_with(' ')
        {
            cleaned.pop();
        }
        if character == ' ' && cleaned.ends_with(' ') {
            continue;
        }
        cleaned.push(character);
    }
    (cleaned.trim().to_string(), numbers)
}

/// Every `[n]` marker number in `text`, each occurrence (`[1, 2]` counts two).
pub fn marker_numbers(text: &str) -> Vec<usize> {
    let mut numbers = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find('[') {
        let tail = &rest[open + 1..];
        match tail
            .find(']')
            .and_then(|close| parse_numbers(&tail[..close]).map(|found| (close, found)))
        {
            Some((close, found)) => {
                numbers.extend(found);
                rest = &tail[close + 1..];
            }
            None => rest = tail,
        }
    }
    numbers
}

/// `sentence` (without markers) with `citations` as `[n]` markers, placed
/// before its closing punctuation: `Use git reset [1].`
pub fn with_markers(sentence: &str, citations: &[usize]) -> String {
    if citations.is_empty() {
        return sentence.to_string();
    }
    let markers: String = citations.iter().map(|n| format!("[{n}]")).collect();
    let trimmed = sentence.trim_end();
    match trimmed.chars().last() {
        Some(last @ ('.' | '!' | '?' | '。' | '！' | '？')) if !trimmed.ends_with("```") => {
            let body = &trimmed[..trimmed.len() - last.len_utf8()];
            let space = if last.is_ascii() { " " } else { "" };
            format!("{body}{space}{markers}{last}")
        }
        _ if trimmed.ends_with("```") => format!("{trimmed}\n{markers}"),
        _ => format!("{trimmed} {markers}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str, expected: &[&str]) {
        let found: Vec<String> = split(text).into_iter().map(|s| s.text).collect();
        assert_eq!(found, expected, "{text}");
    }

    #[test]
    fn english_sentences_end_at_stops_followed_by_space() {
        check(
            "Use git reset. It moves HEAD back! Does it keep files? Yes.",
            &[
                "Use git reset.",
                "It moves HEAD back!",
                "Does it keep files?",
                "Yes.",
            ],
        );
    }

    #[test]
    fn versions_abbreviations_and_inline_code_stay_whole() {
        check(
            "Python 3.11 is faster, e.g. for loops. Call `x.len(). y()` then stop.",
            &[
                "Python 3.11 is faster, e.g. for loops.",
                "Call `x.len(). y()` then stop.",
            ],
        );
    }

    #[test]
    fn chinese_sentences_end_at_full_width_stops() {
        check(
            "先创建索引。然后再查询！会变快吗？",
            &["先创建索引。", "然后再查询！", "会变快吗？"],
        );
    }

    #[test]
    fn line_breaks_end_sentences_and_fenced_code_is_one_unit() {
        let sentences = split("Run this:\n```\nfn main() {\n    a. b();\n}\n```\nDone");
        assert_eq!(sentences.len(), 3);
        assert_eq!(sentences[0].text, "Run this:");
        assert!(sentences[1].code);
        assert!(sentences[1].text.contains("a. b();"));
        assert_eq!(sentences[2].text, "Done");
    }

    #[test]
    fn markers_after_the_stop_stay_with_their_sentence() {
        check(
            "Use git reset. [1] Then push. [2][3] End",
            &["Use git reset. [1]", "Then push. [2][3]", "End"],
        );
    }

    #[test]
    fn markers_are_stripped_counted_and_placed_before_the_stop() {
        assert_eq!(
            strip_markers("Use git reset [1, 2]. See [note] [2]"),
            ("Use git reset. See [note]".to_string(), vec![1, 2])
        );
        assert_eq!(marker_numbers("a [1] b [2, 3] [x] [1]"), [1, 2, 3, 1]);
        assert_eq!(
            with_markers("Use git reset.", &[1, 3]),
            "Use git reset [1][3]."
        );
        assert_eq!(with_markers("创建索引。", &[2]), "创建索引[2]。");
        assert_eq!(with_markers("No stop", &[1]), "No stop [1]");
        assert_eq!(with_markers("No citation.", &[]), "No citation.");
    }
}
