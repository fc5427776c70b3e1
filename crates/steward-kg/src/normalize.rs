//! Surface forms to keys: one spelling per entity, whatever the writer typed.
//!
//! `Machine Learning`, `machine-learning` and `machine_learning` are one key
//! (`machine-learning`); full-width letters (`Ｐｙｔｈｏｎ`) are their ASCII
//! selves; the punctuation that is part of a name stays (`c#`, `c++`,
//! `.net`, `node.js`), the punctuation around it goes. Versions are split
//! off (`python-3.x` is a version of `python`) so that they link to their
//! base instead of standing alone.

/// The key of a surface form: lower-cased, full-width folded, words joined
/// by `-`, leading and trailing punctuation (other than a name's own `#`,
/// `+` or leading `.`) removed. Empty when nothing is left.
pub fn key(surface: &str) -> String {
    let mut out = String::with_capacity(surface.len());
    let mut pending_separator = false;
    for c in surface.chars().map(fold_width) {
        if c.is_whitespace() || c == '-' || c == '_' {
            pending_separator = !out.is_empty();
            continue;
        }
        if pending_separator {
            out.push('-');
            pending_separator = false;
        }
        out.extend(c.to_lowercase());
    }
    trim_punctuation(&out).to_string()
}

/// Full-width ASCII (U+FF01..U+FF5E, as Chinese input methods type it) and
/// the ideographic space to their ASCII forms.
fn fold_width(c: char) -> char {
    match c {
        '\u{FF01}'..='\u{FF5E}' => {
            char::from_u32(c as u32 - 0xFEE0).expect("the full-width block maps onto ASCII")
        }
        '\u{3000}' => ' ',
        _ => c,
    }
}

/// Strips punctuation a name does not end or start with: `python,` →
/// `python`, `(numpy)` → `numpy`, but `c#`, `c++`, `.net` and `f#` keep theirs.
fn trim_punctuation(key: &str) -> &str {
    let start = key
        .char_indices()
        .find(|&(index, c)| {
            c.is_alphanumeric()
                || c == '.' && key[index + 1..].starts_with(|next: char| next.is_alphanumeric())
                || c == '#' && index + 1 == key.len()
        })
        .map_or(key.len(), |(index, _)| index);
    let trimmed = &key[start..];
    let end = trimmed
        .char_indices()
        .rev()
        .find(|&(_, c)| c.is_alphanumeric() || c == '#' || c == '+')
        .map_or(0, |(index, c)| index + c.len_utf8());
    let trimmed = &trimmed[..end];
    trimmed.trim_matches('-')
}

/// Splits a trailing version off a key: `python-3.x` → (`python`, `3.x`),
/// `tensorflow2.0` → (`tensorflow`, `2.0`), `angular-2` → (`angular`, `2`),
/// `vue.js-3` → (`vue.js`, `3`). A key that is only a version, or whose
/// digits are part of its name (`web3`, `es6`, `log4j`, `python3` without a
/// separator and a dot), is left whole: `None`.
pub fn split_version(key: &str) -> Option<(&str, &str)> {
    let bytes = key.as_bytes();
    // The version: digits, dots and `x` at the end, starting with a digit,
    // an `x` only after a dot (`3.x`).
    let mut start = bytes.len();
    while start > 0
        && (bytes[start - 1].is_ascii_digit() || matches!(bytes[start - 1], b'.' | b'x'))
    {
        start -= 1;
    }
    while start < bytes.len() && !bytes[start].is_ascii_digit() {
        start += 1;
    }
    if start == 0 || start >= bytes.len() {
        return None;
    }
    if bytes[start..]
        .iter()
        .enumerate()
        .any(|(i, &c)| c == b'x' && bytes[start + i - 1] != b'.')
    {
        return None;
    }
    let version = &key[start..];
    let before = &key[..start];
    let (base, separated) = match before.strip_suffix('-') {
        Some(base) => (base, true),
        None => (before, false),
    };
    // Without a separator the digits are often part of the name (`web3`,
    // `es6`): only a dotted version (`tensorflow2.0`) splits.
    if !separated && !version.contains('.') {
        return None;
    }
    let base = base.trim_end_matches('-');
    if base.chars().filter(|c| c.is_alphabetic()).count() < 2 {
        return None;
    }
    Some((base, version))
}

/// A plural's singular for the last word of a key: `neural-networks` →
/// `neural-network`, `libraries` → `library`. Only for keys of several words
/// or an `-ies` ending: a single word ending in `s` is as often a name
/// (`keras`, `windows`, `pandas`) as a plural, and `window` must not link to
/// Windows. `None` when there is no such form.
pub fn singular(key: &str) -> Option<String> {
    let last_word = key.rsplit('-').next().unwrap_or(key);
    if last_word.len() < 4 || !last_word.is_ascii() {
        return None;
    }
    let stem_len = key.len() - last_word.len();
    if stem_len == 0 && !last_word.ends_with("ies") {
        return None;
    }
    let stem = &key[..stem_len];
    let singular = if let Some(base) = last_word.strip_suffix("ies") {
        format!("{base}y")
    } else if last_word.ends_with("sses") || last_word.ends_with("xes") {
        last_word[..last_word.len() - 2].to_string()
    } else if last_word.ends_with("ss") || last_word.ends_with("us") || last_word.ends_with("is") {
        return None;
    } else if let Some(base) = last_word.strip_suffix('s') {
        base.to_string()
    } else {
        return None;
    };
    Some(format!("{stem}{singular}"))
}

/// The key with its separators removed: `tensor-flow` and `tensorflow`,
/// `node.js` and `nodejs` meet here. Used to merge near-duplicate names.
pub fn compact(key: &str) -> String {
    key.chars().filter(|c| *c != '-' && *c != '.').collect()
}

/// True when the text is a version and nothing else (`3.6`, `2.x`, `v1.2.3`).
pub fn is_version(text: &str) -> bool {
    let text = text.strip_prefix(['v', 'V']).unwrap_or(text);
    !text.is_empty()
        && text.starts_with(|c: char| c.is_ascii_digit())
        && text
            .chars()
            .all(|c| c.is_ascii_digit() || c == '.' || c == 'x')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_of_one_name_share_a_key() {
        for surface in [
            "Machine Learning",
            "machine-learning",
            "machine_learning",
            " machine  learning. ",
        ] {
            assert_eq!(key(surface), "machine-learning", "{surface:?}");
        }
        assert_eq!(key("Ｐｙｔｈｏｎ"), "python");
        assert_eq!(key("C#"), "c#");
        assert_eq!(key("C++,"), "c++");
        assert_eq!(key(".NET"), ".net");
        assert_eq!(key("(Node.js)"), "node.js");
        assert_eq!(key("强化学习"), "强化学习");
        assert_eq!(key("TensorFlow 2.0"), "tensorflow-2.0");
        assert_eq!(key("..."), "");
    }

    #[test]
    fn versions_split_off_their_base() {
        assert_eq!(split_version("python-3.x"), Some(("python", "3.x")));
        assert_eq!(split_version("tensorflow2.0"), Some(("tensorflow", "2.0")));
        assert_eq!(split_version("angular-2"), Some(("angular", "2")));
        assert_eq!(split_version("vue.js-3"), Some(("vue.js", "3")));
        for whole in ["web3", "es6", "log4j", "python", "3.6", "x-2", "python3"] {
            assert_eq!(split_version(whole), None, "{whole}");
        }
    }

    #[test]
    fn plurals_have_singular_aliases() {
        assert_eq!(
            singular("neural-networks").as_deref(),
            Some("neural-network")
        );
        assert_eq!(singular("libraries").as_deref(), Some("library"));
        assert_eq!(
            singular("smart-contracts").as_deref(),
            Some("smart-contract")
        );
        assert_eq!(singular("tool-boxes").as_deref(), Some("tool-box"));
        assert_eq!(singular("keras"), None);
        assert_eq!(singular("windows"), None);
        assert_eq!(singular("class"), None);
        assert_eq!(singular("gpu"), None);
    }

    #[test]
    fn compact_keys_meet() {
        assert_eq!(compact("tensor-flow"), compact("tensorflow"));
        assert_eq!(compact("node.js"), compact("nodejs"));
        assert!(is_version("3.6") && is_version("v1.2.3") && is_version("2.x"));
        assert!(!is_version("python") && !is_version("x2"));
    }
}
