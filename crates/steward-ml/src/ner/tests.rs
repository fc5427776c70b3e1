//! The tagger end to end: reading the corpus, valid output, storage, quality on the real corpus,
//! and tokenizing raw posts.

use super::*;

/// A corpus line in the four-column format.
fn line(word: &str, tag: &str, markdown: &str) -> String {
    format!("{word}\t{tag}\t{word}\t{markdown}\n")
}

const SAMPLE: &str = "Question_ID\tO\tQuestion_ID\tO\n:\tO\t:\tO\n123\tO\t123\tO\n\t\n\
CODE_BLOCK\tB-Code_Block\tCODE_BLOCK\tB-Code_Block\n:\tI-Code_Block\t:\tI-Code_Block\n\
Q_1\tI-Code_Block\tQ_1\tI-Code_Block\n(\tI-Code_Block\t(\tI-Code_Block\n\
code\tI-Code_Block\tcode\tI-Code_Block\nomitted\tI-Code_Block\tomitted\tI-Code_Block\n\
for\tI-Code_Block\tfor\tI-Code_Block\nannotation\tI-Code_Block\tannotation\tI-Code_Block\n\
)\tI-Code_Block\t)\tI-Code_Block\n\t\n\
Call\tO\tCall\tO\nsetTimeout()\tB-Library_Function\tsetTimeout()\tB-Code_Block\n\
from\tO\tfrom\tO\nthe\tO\tthe\tO\nSQL-----Server\tI-Application\tSQL-----Server\tO\n\
Management\tI-Application\tManagement\tO\n\t\n\
jQuery\tB-Organization\tjQuery\tO\nfails\tO\tfails\tO\n";

fn tags_of(sentence: &Sentence) -> Vec<&str> {
    sentence.tags.iter().map(String::as_str).collect()
}

#[test]
fn the_papers_protocol_merges_types_and_drops_placeholders_and_headers() {
    let sentences = conll::parse(SAMPLE, "sample.txt", &Protocol::default()).expect("well-formed");
    assert_eq!(sentences.len(), 2, "{sentences:?}");
    let words: Vec<&str> = sentences[0]
        .tokens
        .iter()
        .map(|token| token.text.as_str())
        .collect();
    assert_eq!(
        words,
        [
            "Call",
            "setTimeout()",
            "from",
            "the",
            "SQL Server",
            "Management"
        ]
    );
    assert_eq!(
        tags_of(&sentences[0]),
        [
            "O",
            "B-Function",
            "O",
            "O",
            "B-Application",
            "I-Application"
        ],
        "merged, and an I- after O read as B-"
    );
    assert!(sentences[0].tokens[1].in_code && !sentences[0].tokens[0].in_code);
    assert_eq!(tags_of(&sentences[1]), ["B-Website", "O"]);
}

#[test]
fn without_the_protocol_every_sentence_and_type_is_kept() {
    let raw = Protocol {
        merge_types: false,
        skip_placeholders: false,
    };
    let sentences = conll::parse(SAMPLE, "sample.txt", &raw).expect("well-formed");
    assert_eq!(sentences.len(), 4);
    assert_eq!(tags_of(&sentences[2])[1], "B-Library_Function");
    assert_eq!(tags_of(&sentences[3])[0], "B-Organization");
}

#[test]
fn a_malformed_line_is_an_error_naming_the_file_and_line() {
    let check = |text: &str, line_number: usize, needle: &str| {
        let error = conll::parse(text, "bad.txt", &Protocol::default()).expect_err(text);
        let message = error.to_string();
        assert!(
            message.starts_with(&format!("bad.txt:{line_number}:")),
            "{message}"
        );
        assert!(message.contains(needle), "{message}");
    };
    let good = line("Use", "O", "O");
    check(&format!("{good}lonely\n"), 2, "1 column");
    check(&format!("{good}{good}a\tO\tb\n"), 3, "3 column");
    check(&format!("{good}x\tS-Class\tx\tO\n"), 2, "`S-Class`");
    check(&format!("{good}x\tO\tx\tcode\n"), 2, "markdown tag");
    check("\t\n\tO\tx\tO\n", 2, "word column is empty");
}

#[test]
fn a_two_column_file_reads_as_prose() {
    let sentences = conll::parse(
        "numpy\tB-Library\narrays\tO\n",
        "two.txt",
        &Protocol::default(),
    )
    .expect("ok");
    assert_eq!(tags_of(&sentences[0]), ["B-Library", "O"]);
    assert!(!sentences[0].tokens[0].in_code);
}

#[test]
fn scoring_counts_only_exact_spans_of_the_right_type() {
    let gold = conll::parse(
        &[
            line("the", "O", "O"),
            line("SQL", "B-Application", "O"),
            line("Server", "I-Application", "O"),
            line("numpy", "B-Library", "O"),
            line("list", "B-Data_Structure", "O"),
        ]
        .concat(),
        "gold",
        &Protocol::default(),
    )
    .expect("ok");
    let predicted: Vec<Vec<String>> = vec![
        ["O", "B-Application", "O", "B-Library", "B-Data_Type"]
            .map(String::from)
            .to_vec(),
    ];
    let report = score(&gold, &predicted);
    // Only `numpy` is right: `SQL` alone is a partial span, `list` the wrong type.
    assert_eq!(report.micro.support, 3);
    assert!((report.micro.precision - 100.0 / 3.0).abs() < 1e-9);
    assert!((report.micro.recall - 100.0 / 3.0).abs() < 1e-9);
    assert_eq!(report.per_type["Library"].f1, 100.0);
    assert_eq!(report.per_type["Data_Type"].support, 0);
    let json = serde_json::to_value(&report).expect("serialises");
    assert_eq!(json["micro_f1"], 33.33);
    assert_eq!(json["per_type"]["Application"]["support"], 1);
    assert_eq!(json["tokens"], 5);
}

/// A small made-up corpus: enough for a tagger to learn something in milliseconds.
fn toy_corpus() -> Vec<Sentence> {
    let templates: [&[(&str, &str, bool)]; 4] = [
        &[
            ("I", "O", false),
            ("use", "O", false),
            ("jQuery", "B-Library", false),
            ("here", "O", false),
        ],
        &[
            ("call", "O", false),
            ("getId()", "B-Function", true),
            ("on", "O", false),
            ("the", "O", false),
            ("List", "B-Data_Structure", true),
        ],
        &[
            ("open", "O", false),
            ("Visual", "B-Application", false),
            ("Studio", "I-Application", false),
            ("now", "O", false),
        ],
        &[
            ("in", "O", false),
            ("Python", "B-Language", false),
            ("3.6", "B-Version", false),
            ("it", "O", false),
            ("works", "O", false),
        ],
    ];
    (0..20)
        .flat_map(|_| templates.iter())
        .map(|template| Sentence {
            tokens: template
                .iter()
                .map(|(text, _, in_code)| NerToken {
                    text: text.to_string(),
                    in_code: *in_code,
                })
                .collect(),
            tags: template.iter().map(|(_, tag, _)| tag.to_string()).collect(),
        })
        .collect()
}

fn toy_tagger() -> Tagger {
    let options = NerTrainOptions {
        epochs: 4,
        // The default temperature suits the full corpus's weight scale, not 80 toy sentences'.
        confidence_temperature: 1.0,
        ..NerTrainOptions::default()
    };
    let mut epochs_seen = Vec::new();
    let tagger = Tagger::train(&toy_corpus(), &options, &mut |epoch, epochs| {
        epochs_seen.push((epoch, epochs))
    });
    assert_eq!(epochs_seen, [(1, 4), (2, 4), (3, 4), (4, 4)]);
    tagger
}

fn is_valid_bio(tags: &[String]) -> bool {
    let mut previous = "O".to_string();
    for tag in tags {
        if let Some(kind) = tag.strip_prefix("I-") {
            if previous != format!("B-{kind}") && previous != format!("I-{kind}") {
                return false;
            }
        } else if tag != "O" && !tag.starts_with("B-") {
            return false;
        }
        previous = tag.clone();
    }
    true
}

fn prose(text: &str) -> Vec<NerToken> {
    text.split_whitespace().map(NerToken::prose).collect()
}

#[test]
fn the_tagger_learns_the_toy_corpus_and_always_emits_valid_bio() {
    let tagger = toy_tagger();
    assert_eq!(
        tagger.types(),
        [
            "Application",
            "Data_Structure",
            "Function",
            "Language",
            "Library",
            "Version"
        ]
    );
    assert_eq!(
        tagger.tag(&prose("open Visual Studio now")),
        ["O", "B-Application", "I-Application", "O"]
    );
    let inputs = [
        "",
        "Studio",
        "Studio Studio Studio Visual",
        "now Studio Visual Visual Studio jQuery",
        "I use jQuery here in Python 3.6 with Visual Studio",
        "完全 不同 的 句子 ( ) ... ::",
    ];
    for input in inputs {
        let tokens = prose(input);
        let tags = tagger.tag(&tokens);
        assert_eq!(tags.len(), tokens.len());
        assert!(is_valid_bio(&tags), "{input}: {tags:?}");
    }
}

#[test]
fn spans_match_the_tags_and_carry_a_confidence_between_0_and_1() {
    let tagger = toy_tagger();
    let tokens = prose("I use jQuery here in Python 3.6 with Visual Studio");
    let spans = tagger.spans(&tokens);
    let from_tags: Vec<(usize, usize, String)> = tag_spans(&tagger.tag(&tokens));
    let from_spans: Vec<(usize, usize, String)> = spans
        .iter()
        .map(|span| (span.start, span.end, span.kind.clone()))
        .collect();
    assert_eq!(from_spans, from_tags);
    assert!(
        from_spans.contains(&(2, 3, "Library".to_string())),
        "{spans:?}"
    );
    for span in &spans {
        assert!((0.0..=1.0).contains(&span.confidence), "{span:?}");
    }
    let seen = spans
        .iter()
        .find(|span| span.kind == "Library")
        .expect("jQuery");
    assert!(
        seen.confidence > 0.5,
        "a phrase seen 20 times is a sure thing: {seen:?}"
    );
}

#[test]
fn a_stored_tagger_tags_exactly_as_the_original() {
    let tagger = toy_tagger();
    let bytes = tagger.to_bytes();
    let restored = Tagger::from_bytes(&bytes).expect("round trip");
    assert_eq!(restored.types(), tagger.types());
    for sentence in toy_corpus().iter().take(4) {
        assert_eq!(restored.tag(&sentence.tokens), tagger.tag(&sentence.tokens));
        assert_eq!(
            restored.spans(&sentence.tokens),
            tagger.spans(&sentence.tokens)
        );
    }
    assert_eq!(restored.to_bytes(), bytes, "storing is deterministic");
}

#[test]
fn corrupt_or_foreign_bytes_are_refused_without_panicking() {
    let bytes = toy_tagger().to_bytes();
    let check = |bytes: &[u8], needle: &str| match Tagger::from_bytes(bytes) {
        Err(error) => assert!(error.to_string().contains(needle), "{error}"),
        Ok(_) => panic!("accepted corrupt bytes ({needle})"),
    };
    check(b"", "header");
    check(b"{\"weights\": []}", "header");
    check(&bytes[..bytes.len() - 1], "checksum");
    check(&bytes[..30], "checksum");
    let mut flipped = bytes.clone();
    let middle = flipped.len() / 2;
    flipped[middle] ^= 0x40;
    check(&flipped, "checksum");
    let mut newer = bytes.clone();
    newer[12] = 99;
    check(&newer, "format version 99");
}

#[test]
fn the_same_seed_trains_the_same_tagger() {
    assert_eq!(toy_tagger().to_bytes(), toy_tagger().to_bytes());
}

/// Quality on the real corpus, on slices small enough for a debug build: a regression below
/// the floor means a feature or the decoder broke, not noise (this slice scores about 50 F1).
#[test]
fn trained_on_a_slice_of_the_corpus_it_finds_entities_in_dev() {
    let dir = steward_testkit::require_shared!(data "stackoverflow-ner");
    let protocol = Protocol::default();
    let train = conll::read(&dir.join("train.txt"), &protocol).expect("train.txt reads");
    let dev = conll::read(&dir.join("dev.txt"), &protocol).expect("dev.txt reads");
    let options = NerTrainOptions {
        epochs: 3,
        ..NerTrainOptions::default()
    };
    let tagger = Tagger::train(&train[..1500], &options, &mut |_, _| {});
    let report = evaluate(&tagger, &dev[..500]);
    eprintln!(
        "slice: micro F1 {:.2} (P {:.2}, R {:.2})",
        report.micro.f1, report.micro.precision, report.micro.recall
    );
    assert!(report.micro.f1 > 40.0, "{report:#?}");
    assert!(report.per_type["Language"].f1 > 50.0, "{report:#?}");
    let restored = Tagger::from_bytes(&tagger.to_bytes()).expect("round trip");
    assert_eq!(evaluate(&restored, &dev[..500]), report);

    // Confidence means something: the surer half of the spans is the more often right.
    let mut spans: Vec<(f32, bool)> = dev[..500]
        .iter()
        .flat_map(|sentence| {
            let gold = tag_spans(&sentence.tags);
            tagger.spans(&sentence.tokens).into_iter().map(move |span| {
                let right = gold.contains(&(span.start, span.end, span.kind.clone()));
                (span.confidence, right)
            })
        })
        .collect();
    spans.sort_by(|a, b| a.0.total_cmp(&b.0));
    let precision = |half: &[(f32, bool)]| {
        half.iter().filter(|(_, right)| *right).count() as f64 / half.len().max(1) as f64
    };
    let (unsure, sure) = spans.split_at(spans.len() / 2);
    eprintln!(
        "precision of the surer half {:.2}, of the other {:.2}",
        precision(sure),
        precision(unsure)
    );
    assert!(
        precision(sure) > precision(unsure) + 0.1,
        "sure {:.2}, unsure {:.2}",
        precision(sure),
        precision(unsure)
    );
}

fn check_tokens(text: &str, code: &[(usize, usize)], expected: &[(&str, bool)]) {
    let tokens = tokenize(text, code);
    for (token, start, end) in &tokens {
        assert_eq!(&text[*start..*end], token.text, "offsets of {token:?}");
    }
    let got: Vec<(&str, bool)> = tokens
        .iter()
        .map(|(token, _, _)| (token.text.as_str(), token.in_code))
        .collect();
    assert_eq!(got, expected, "{text}");
}

#[test]
fn tokenize_keeps_identifiers_whole_and_splits_prose_like_the_corpus() {
    check_tokens(
        "I don't think foo.bar() works in C# or .NET 4.5, see std::vec and node.js.",
        &[],
        &[
            ("I", false),
            ("do", false),
            ("n't", false),
            ("think", false),
            ("foo.bar()", false),
            ("works", false),
            ("in", false),
            ("C#", false),
            ("or", false),
            (".NET", false),
            ("4.5", false),
            (",", false),
            ("see", false),
            ("std::vec", false),
            ("and", false),
            ("node.js", false),
            (".", false),
        ],
    );
    check_tokens(
        "It's C++ (see https://en.cppreference.com/w/cpp/container). Use onEdit(e)...",
        &[],
        &[
            ("It", false),
            ("'s", false),
            ("C++", false),
            ("(", false),
            ("see", false),
            ("https://en.cppreference.com/w/cpp/container", false),
            (")", false),
            (".", false),
            ("Use", false),
            ("onEdit(e)", false),
            ("...", false),
        ],
    );
}

#[test]
fn tokenize_gives_byte_offsets_in_mixed_chinese_english_and_code() {
    let text = "我用 `numpy.array()` 创建数组，然后 call len(x) 就好";
    let code_start = text.find('`').expect("backtick");
    let code_end = text.rfind('`').expect("backtick") + 1;
    check_tokens(
        text,
        &[(code_start, code_end)],
        &[
            ("我用", false),
            ("`", true),
            ("numpy.array()", true),
            ("`", true),
            ("创建数组", false),
            ("，", false),
            ("然后", false),
            ("call", false),
            ("len(x)", false),
            ("就好", false),
        ],
    );
    let tokens = tokenize(text, &[]);
    let (_, start, end) = &tokens[4];
    assert_eq!((&text[*start..*end], *start), ("创建数组", code_end + 1));
}

#[test]
fn a_whole_post_is_tagged_sentence_by_sentence() {
    let tagger = toy_tagger();
    let first = prose("I use jQuery here .");
    let second = prose("open Visual Studio now");
    let post: Vec<NerToken> = first.iter().chain(&second).cloned().collect();
    let mut apart = tagger.tag(&first);
    apart.extend(tagger.tag(&second));
    assert_eq!(tagger.tag(&post), apart);
    let spans = tagger.spans(&post);
    assert!(
        spans.iter().any(|span| (span.start, span.end) == (6, 8)),
        "offsets are the post's: {spans:?}"
    );

    let long: Vec<NerToken> = (0..450)
        .map(|index| NerToken::prose(if index % 3 == 0 { "jQuery" } else { "x" }))
        .collect();
    let ranges = sentence_ranges(&long);
    assert_eq!(ranges, [0..200, 200..400, 400..450]);
    let tags = tagger.tag(&long);
    assert_eq!(tags.len(), long.len());
    assert!(is_valid_bio(&tags));
    let code_dot = [
        NerToken {
            text: ".".into(),
            in_code: true,
        },
        NerToken::prose("x"),
    ];
    assert_eq!(
        sentence_ranges(&code_dot),
        vec![std::ops::Range { start: 0, end: 2 }],
        "a dot in code ends no sentence"
    );
}
