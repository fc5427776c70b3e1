//! Property tests: arbitrary input (malformed HTML, mixed scripts, stray punctuation) never
//! panics, and every token points at a real, char-aligned slice of its input.

use proptest::prelude::*;
use steward_text::html::html_to_text;
use steward_text::lang::detect;
use steward_text::tokenize::{Tokenizer, TokenizerConfig};

/// Strings biased towards the characters the scanners treat specially.
fn tricky_text() -> impl Strategy<Value = String> {
    let pieces = prop::sample::select(vec![
        "<",
        ">",
        "&",
        ";",
        "#",
        "x",
        "</",
        "<p>",
        "<pre>",
        "</pre>",
        "<code>",
        "<br/>",
        "<img alt=\"",
        "\"",
        "'",
        "<script>",
        "</script>",
        "<!--",
        "-->",
        "&lt;",
        "&#x",
        "&#",
        "1",
        "F",
        "::",
        ".",
        "-",
        "+",
        "!",
        "_",
        "’",
        "中文",
        "网络",
        "の",
        "한",
        "é",
        " ",
        "\n",
        "？",
        "，",
        "camelCase",
        "HTTP",
        "C#",
        ".NET",
        "1e-5",
        "0x",
        "v1.2",
    ]);
    prop::collection::vec(pieces, 0..40).prop_map(|pieces| pieces.concat())
}

fn check_tokens(tokenizer: &Tokenizer, text: &str) {
    for token in tokenizer.tokenize(text) {
        assert!(token.start < token.end, "{token:?}");
        assert!(token.end <= text.len(), "{token:?}");
        assert!(
            text.is_char_boundary(token.start) && text.is_char_boundary(token.end),
            "{token:?}"
        );
        assert!(!token.text.is_empty(), "{token:?}");
    }
}

proptest! {
    #[test]
    fn html_to_text_never_panics_and_trims(input in any::<String>()) {
        let converted = html_to_text(&input);
        prop_assert_eq!(converted.text.trim(), converted.text.as_str());
    }

    #[test]
    fn html_to_text_never_panics_on_tricky_markup(input in tricky_text()) {
        let converted = html_to_text(&input);
        prop_assert_eq!(converted.text.trim(), converted.text.as_str());
        for code in &converted.code_blocks {
            prop_assert!(!code.is_empty());
        }
    }

    #[test]
    fn token_offsets_are_char_boundaries(input in any::<String>()) {
        check_tokens(&Tokenizer::new(TokenizerConfig::default()), &input);
        check_tokens(&Tokenizer::new(TokenizerConfig { stopwords: true }), &input);
        let _ = detect(&input);
    }

    #[test]
    fn token_offsets_are_char_boundaries_on_tricky_text(input in tricky_text()) {
        check_tokens(&Tokenizer::new(TokenizerConfig::default()), &input);
        let _ = detect(&input);
    }
}
