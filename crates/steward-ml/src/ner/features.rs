//! The sparse features of each token, as 64-bit hashes: the word, its shape and affixes, the
//! author's code markup, a ±2 window, word bigrams and the lexicon. Hashing keeps extraction
//! allocation-light and lets a stored tagger keep only the features it has weights for.

use super::NerToken;
use super::lexicon::Lexicon;

/// FNV-1a over a template id and the feature's text parts, with a separator between parts so that
/// `("ab", "c")` and `("a", "bc")` differ.
fn key(template: u8, parts: &[&str]) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut hash = OFFSET ^ u64::from(template);
    hash = hash.wrapping_mul(PRIME);
    for part in parts {
        for byte in part.bytes() {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(PRIME);
        }
        hash ^= 0xff;
        hash = hash.wrapping_mul(PRIME);
    }
    hash
}

/// `Xxxx.xx()` for `String.valueOf()`: upper `X`, lower `x`, digit `d`, Han `C`, anything else as
/// itself; at most 16 chars, so long identifiers share a shape.
fn shape(word: &str) -> String {
    word.chars().take(16).map(shape_char).collect()
}

/// The shape with runs collapsed: `Xx.x()` for `String.valueOf()`.
fn short_shape(word: &str) -> String {
    let mut out = String::new();
    let mut last = None;
    for class in word.chars().map(shape_char) {
        if last != Some(class) {
            out.push(class);
            last = Some(class);
        }
    }
    out
}

fn shape_char(character: char) -> char {
    if super::tokenize::is_han(character) {
        'C'
    } else if character.is_uppercase() {
        'X'
    } else if character.is_lowercase() {
        'x'
    } else if character.is_numeric() {
        'd'
    } else {
        character
    }
}

/// Yes/no properties of a code-ish word, one feature each.
fn flags(word: &str) -> Vec<&'static str> {
    let mut flags = Vec::new();
    let chars: Vec<char> = word.chars().collect();
    let inner = |needle: char| chars.len() > 2 && chars[1..chars.len() - 1].contains(&needle);
    if word.ends_with(')') && word.contains('(') {
        flags.push("call");
    }
    if word.contains("::") {
        flags.push("path::");
    }
    if inner('_') {
        flags.push("snake");
    }
    if inner('.') {
        flags.push("dotted");
    }
    if inner('-') {
        flags.push("hyphen");
    }
    if word.contains('/') || word.contains('\\') {
        flags.push("slash");
    }
    if chars
        .windows(2)
        .any(|pair| pair[0].is_lowercase() && pair[1].is_uppercase())
    {
        flags.push("camel");
    }
    let letters = chars.iter().filter(|c| c.is_alphabetic()).count();
    if letters >= 2 && chars.iter().all(|c| !c.is_lowercase()) {
        flags.push("allcaps");
    }
    if chars.first().is_some_and(|c| c.is_uppercase())
        && chars[1..].iter().any(|c| c.is_lowercase())
    {
        flags.push("title");
    }
    if chars.iter().any(|c| c.is_ascii_digit()) {
        flags.push("digit");
        if letters == 0 {
            flags.push("number");
        }
    }
    if word.starts_with("http") || word.starts_with("www.") {
        flags.push("url");
    }
    if word.starts_with('.') && chars.len() > 1 {
        flags.push("leading-dot");
    }
    if word.starts_with('@') {
        flags.push("at");
    }
    if word.starts_with('$') {
        flags.push("dollar");
    }
    if word.starts_with('<') && word.len() > 1 {
        flags.push("angle");
    }
    if word.contains('#') || word.ends_with('+') {
        flags.push("sharp-plus");
    }
    if word.contains('=') {
        flags.push("equals");
    }
    flags.push(match chars.len() {
        1 => "len1",
        2 => "len2",
        3 => "len3",
        4..=6 => "len4-6",
        7..=10 => "len7-10",
        _ => "len11+",
    });
    flags
}

/// `py` for `models.py`: what follows the last dot, when it is 1 to 5 letters after a name.
fn extension(lowered: &str) -> Option<&str> {
    let (stem, extension) = lowered.rsplit_once('.')?;
    let plausible = !stem.is_empty()
        && (1..=5).contains(&extension.len())
        && extension.chars().all(|c| c.is_ascii_alphanumeric());
    plausible.then_some(extension)
}

/// The feature hashes of every token of a sentence, `out[i]` for token `i`. `lexicon` is the one
/// built without this sentence while training (so the model learns how far to trust it), the
/// full one when tagging.
pub(super) fn sentence_features(tokens: &[NerToken], lexicon: &Lexicon) -> Vec<Vec<u64>> {
    let lowered: Vec<String> = tokens
        .iter()
        .map(|token| token.text.to_lowercase())
        .collect();
    let short_shapes: Vec<String> = tokens
        .iter()
        .map(|token| short_shape(&token.text))
        .collect();
    let hits = lexicon.hits(&lowered);
    let n_tokens = tokens.len();
    let word_at = |index: isize| -> &str {
        if index < 0 {
            "<s>"
        } else {
            lowered
                .get(index.unsigned_abs())
                .map_or("</s>", String::as_str)
        }
    };
    let shape_at = |index: isize| -> &str {
        if index < 0 {
            "<s>"
        } else {
            short_shapes
                .get(index.unsigned_abs())
                .map_or("</s>", String::as_str)
        }
    };
    let code_at = |index: isize| -> &str {
        let in_code = index >= 0
            && tokens
                .get(index.unsigned_abs())
                .is_some_and(|token| token.in_code);
        if in_code { "1" } else { "0" }
    };
    // The length of the inline-code run each token is in (0 outside code): a lone code token is
    // usually a name (`Class`, `Function`), a long run a `Code_Block`.
    let mut code_run = vec![0usize; n_tokens];
    let mut run_start = 0;
    for index in 0..=n_tokens {
        let in_code = index < n_tokens && tokens[index].in_code;
        if !in_code {
            for length in &mut code_run[run_start..index] {
                *length = index - run_start;
            }
            run_start = index + 1;
        }
    }
    let mut out = Vec::with_capacity(n_tokens);
    for (index, token) in tokens.iter().enumerate() {
        let at = isize::try_from(index).expect("a sentence is shorter than isize::MAX");
        let word = &token.text;
        let lower = &lowered[index];
        let mut features = Vec::with_capacity(64);
        features.push(key(0, &[]));
        features.push(key(1, &[lower]));
        if word != lower {
            features.push(key(2, &[word]));
        }
        features.push(key(3, &[&shape(word)]));
        features.push(key(4, &[&short_shapes[index]]));
        // Affixes and char trigrams as slices of the lower-cased word, cut at char boundaries.
        let bounds: Vec<usize> = lower
            .char_indices()
            .map(|(at, _)| at)
            .chain([lower.len()])
            .collect();
        let n_chars = bounds.len() - 1;
        for (length, length_text) in ["1", "2", "3", "4"]
            .iter()
            .enumerate()
            .map(|(i, t)| (i + 1, t))
        {
            if n_chars > length {
                features.push(key(5, &[length_text, &lower[..bounds[length]]]));
                features.push(key(6, &[length_text, &lower[bounds[n_chars - length]..]]));
            }
        }
        if n_chars >= 4 {
            for start in 0..=n_chars - 3 {
                features.push(key(25, &[&lower[bounds[start]..bounds[start + 3]]]));
            }
        }
        for flag in flags(word) {
            features.push(key(7, &[flag]));
            if token.in_code {
                features.push(key(8, &[flag]));
            }
        }
        if let Some(extension) = extension(lower) {
            features.push(key(9, &[extension]));
        }
        let code = code_at(at);
        features.push(key(10, &[code]));
        features.push(key(11, &[code, &short_shapes[index]]));
        features.push(key(12, &[code_at(at - 1), code, code_at(at + 1)]));
        if token.in_code {
            features.push(key(13, &[lower]));
            let run = match code_run[index] {
                1 => "1",
                2 => "2",
                3 | 4 => "3-4",
                _ => "5+",
            };
            let place = match (code_at(at - 1), code_at(at + 1)) {
                ("0", "0") => "alone",
                ("0", _) => "first",
                (_, "0") => "last",
                _ => "inner",
            };
            features.push(key(26, &[run, place]));
            features.push(key(27, &[run, &short_shapes[index]]));
        }
        for (offset, offset_text) in [(-2isize, "-2"), (-1, "-1"), (1, "1"), (2, "2")] {
            features.push(key(14, &[offset_text, word_at(at + offset)]));
            features.push(key(15, &[offset_text, shape_at(at + offset)]));
        }
        features.push(key(16, &[word_at(at - 1), lower]));
        features.push(key(17, &[lower, word_at(at + 1)]));
        features.push(key(18, &[word_at(at - 1), word_at(at + 1)]));
        features.push(key(
            19,
            &[shape_at(at - 1), &short_shapes[index], shape_at(at + 1)],
        ));
        if index == 0 {
            features.push(key(20, &["first"]));
        }
        if index + 1 == n_tokens {
            features.push(key(20, &["last"]));
        }
        if let Some(hit) = hits[index] {
            let kind = hit.entry.kind.to_string();
            let bucket = hit.entry.bucket.to_string();
            let place = if hit.begins { "B" } else { "I" };
            features.push(key(21, &[place, &kind, &bucket]));
            features.push(key(22, &[&kind]));
            features.push(key(23, &[&bucket, code]));
        }
        for offset in [-1isize, 1] {
            let neighbour = at + offset;
            let hit = (neighbour >= 0)
                .then(|| hits.get(neighbour.unsigned_abs()).copied().flatten())
                .flatten();
            if let Some(hit) = hit {
                features.push(key(24, &[&offset.to_string(), &hit.entry.kind.to_string()]));
            }
        }
        out.push(features);
    }
    out
}
