//! HTML to text and tokenization over every real post body of the ai.stackexchange.com dump:
//! what a reader of the search index would notice if conversion went wrong.

use steward_testkit::dumps::post_bodies;
use steward_testkit::shared_data_dir;
use steward_text::html::html_to_text;
use steward_text::lang::detect;
use steward_text::tokenize::{Tokenizer, TokenizerConfig};

/// Bodies of `se-ai-2017/Posts.xml`, or `None` (after saying why) when the shared data is
/// absent outside CI.
fn ai_stack_exchange_bodies() -> Option<Vec<String>> {
    let posts_xml = shared_data_dir("se-ai-2017")?.join("Posts.xml");
    let bodies = post_bodies(&posts_xml).expect("Posts.xml parses");
    assert!(bodies.len() > 1000, "only {} bodies read", bodies.len());
    Some(bodies)
}

#[test]
fn real_bodies_come_out_as_clean_text_with_code_apart() {
    let Some(bodies) = ai_stack_exchange_bodies() else {
        return;
    };
    let mut total_code_blocks = 0;
    for body in &bodies {
        let converted = html_to_text(body);
        for leftover in [
            "<p>", "</p>", "<pre", "<code>", "<a href", "<br", "<li>", "<strong>",
        ] {
            assert!(
                !converted.text.contains(leftover),
                "{leftover:?} left in text of {body:?}"
            );
        }
        // An escaped entity may only survive where the author wrote one literally (`&amp;lt;`).
        for entity in ["&lt;", "&gt;", "&quot;", "&amp;", "&#"] {
            let written_literally = body.contains(&format!("&amp;{}", &entity[1..]));
            assert!(
                written_literally || !converted.text.contains(entity),
                "{entity:?} left in text of {body:?}"
            );
        }
        assert_eq!(
            converted.text,
            converted.text.trim(),
            "untrimmed text of {body:?}"
        );
        let pre_count = body.matches("<pre").count();
        assert_eq!(
            converted.code_blocks.len(),
            pre_count,
            "code blocks of {body:?}"
        );
        for code in &converted.code_blocks {
            assert!(
                !code.contains("<code>") && !code.contains("&lt;"),
                "markup in code {code:?}"
            );
            assert!(
                !converted.text.contains(code.as_str()),
                "code {code:?} also in prose"
            );
        }
        total_code_blocks += pre_count;
    }
    assert!(
        total_code_blocks > 10,
        "the dump has code; found {total_code_blocks} blocks"
    );
}

#[test]
fn real_bodies_tokenize_into_terms_with_valid_offsets() {
    let Some(bodies) = ai_stack_exchange_bodies() else {
        return;
    };
    let tokenizer = Tokenizer::new(TokenizerConfig::default());
    let mut vocabulary = std::collections::HashSet::new();
    for body in &bodies {
        let text = html_to_text(body).text;
        let tokens = tokenizer.tokenize(&text);
        if text.chars().any(char::is_alphanumeric) {
            assert!(!tokens.is_empty(), "no tokens for {text:?}");
        }
        for token in &tokens {
            assert!(
                token.start < token.end && token.end <= text.len(),
                "{token:?}"
            );
            assert!(text.is_char_boundary(token.start) && text.is_char_boundary(token.end));
            assert!(
                !token.text.is_empty() && token.text == token.text.to_lowercase(),
                "{token:?}"
            );
        }
        vocabulary.extend(tokens.into_iter().map(|token| token.text));
    }
    // Terms a reader of an AI Q&A site would search for.
    for term in [
        "backpropagation",
        "neural",
        "tensorflow",
        "python",
        "gradient",
    ] {
        assert!(
            vocabulary.contains(term),
            "{term:?} is not a term of the dump"
        );
    }
}

#[test]
fn real_english_posts_are_detected_as_english() {
    let Some(bodies) = ai_stack_exchange_bodies() else {
        return;
    };
    let mut long_posts = 0;
    let mut english = 0;
    for body in &bodies {
        let text = html_to_text(body).text;
        if text.chars().filter(char::is_ascii_alphabetic).count() < 200 {
            continue;
        }
        long_posts += 1;
        let language = detect(&text);
        assert_ne!(language, Some("zh"), "{text:?}");
        english += usize::from(language == Some("en"));
    }
    assert!(
        english * 100 >= long_posts * 98,
        "{english} of {long_posts} long posts detected as English"
    );
}
