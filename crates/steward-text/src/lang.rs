//! Language detection per post: the writing system decides Chinese, Japanese and Korean,
//! trigram statistics (whatlang) decide among alphabetic languages.

/// Share of letters that must be CJK ideographs for a post to count as Chinese. Chinese tech
/// posts carry English identifiers and product names, and one Han character holds about as much
/// as a short English word, so a share well below one half already means Chinese prose.
const MIN_HAN_SHARE: f64 = 0.25;

/// Share of letters (Han + kana) that must be kana for Japanese: Japanese prose is about half
/// kana, while Chinese posts now and then borrow a single `の`.
const MIN_KANA_SHARE_OF_JAPANESE: f64 = 0.1;

/// Share of letters that must be Hangul for Korean.
const MIN_HANGUL_SHARE: f64 = 0.25;

/// Below this many letters trigram statistics guess; such texts get `None` unless the script
/// alone decides.
const MIN_LETTERS_FOR_TRIGRAMS: usize = 12;

/// Trigram detection reads at most this many bytes: a post's first half kilobyte decides its
/// language about as well as the whole, and whatlang costs ~0.3 ms per call on longer input.
const MAX_TRIGRAM_BYTES: usize = 512;

/// The languages trigram statistics choose among: the ones technical communities
/// write in most. whatlang's cost grows with every candidate of the text's script,
/// and weighing all ~40 Latin-script languages made detection the slowest step of
/// importing short comments (~0.3 ms each).
const TRIGRAM_LANGUAGES: [whatlang::Lang; 24] = [
    whatlang::Lang::Eng,
    whatlang::Lang::Spa,
    whatlang::Lang::Por,
    whatlang::Lang::Fra,
    whatlang::Lang::Deu,
    whatlang::Lang::Ita,
    whatlang::Lang::Nld,
    whatlang::Lang::Pol,
    whatlang::Lang::Tur,
    whatlang::Lang::Vie,
    whatlang::Lang::Ind,
    whatlang::Lang::Swe,
    whatlang::Lang::Ces,
    whatlang::Lang::Ron,
    whatlang::Lang::Hun,
    whatlang::Lang::Rus,
    whatlang::Lang::Ukr,
    whatlang::Lang::Ara,
    whatlang::Lang::Pes,
    whatlang::Lang::Hin,
    whatlang::Lang::Heb,
    whatlang::Lang::Ell,
    whatlang::Lang::Tha,
    whatlang::Lang::Ben,
];

/// Built once: an immutable detector restricted to [`TRIGRAM_LANGUAGES`].
static TRIGRAM_DETECTOR: std::sync::LazyLock<whatlang::Detector> =
    std::sync::LazyLock::new(|| whatlang::Detector::with_allowlist(TRIGRAM_LANGUAGES.to_vec()));

/// English function words that no other language detected here writes as a word of its own
/// (`is`, `of`, `to`, `for`, `my`, `will`, `was`, `an`, `on`, `we` are left out: Dutch, German,
/// Danish, Polish or French use them too).
/// Tech posts are mostly English, so counting these settles most posts without trigrams.
const ENGLISH_MARKER_SHARE: f64 = 0.08;
const MIN_ENGLISH_MARKERS: usize = 3;

/// ISO 639-1 code of the main language of `text`, or `None` when it cannot be told reliably
/// (empty, very short, or a mix that trigram statistics cannot call).
///
/// Chinese with English identifiers (`如何在 Rust 中使用 tokio::select!`) is `"zh"`.
pub fn detect(text: &str) -> Option<&'static str> {
    let counts = ScriptCounts::of(text);
    if counts.letters == 0 {
        return None;
    }
    let letters = counts.letters as f64;
    if counts.hangul as f64 / letters >= MIN_HANGUL_SHARE {
        return Some("ko");
    }
    let japanese_letters = counts.han + counts.kana;
    if counts.kana > 0
        && japanese_letters as f64 / letters >= MIN_HAN_SHARE
        && counts.kana as f64 / japanese_letters as f64 >= MIN_KANA_SHARE_OF_JAPANESE
    {
        return Some("ja");
    }
    if counts.han as f64 / letters >= MIN_HAN_SHARE {
        return Some("zh");
    }
    if counts.letters < MIN_LETTERS_FOR_TRIGRAMS {
        return None;
    }
    if counts.ascii_words >= MIN_LETTERS_FOR_TRIGRAMS / 2
        && counts.english_markers >= MIN_ENGLISH_MARKERS
        && counts.english_markers as f64 / counts.ascii_words as f64 >= ENGLISH_MARKER_SHARE
        && counts.letters - counts.ascii_letters <= counts.ascii_letters / 10
    {
        return Some("en");
    }
    let sample = &text[..floor_char_boundary(text, MAX_TRIGRAM_BYTES)];
    let info = TRIGRAM_DETECTOR.detect(sample)?;
    if !info.is_reliable() {
        return None;
    }
    iso_639_1(info.lang())
}

/// Letter counts by writing system, in one pass.
#[derive(Debug, Default)]
struct ScriptCounts {
    letters: usize,
    ascii_letters: usize,
    /// Runs of ASCII letters.
    ascii_words: usize,
    /// ASCII words that are English function words.
    english_markers: usize,
    han: usize,
    kana: usize,
    hangul: usize,
}

impl ScriptCounts {
    fn of(text: &str) -> ScriptCounts {
        let mut counts = ScriptCounts::default();
        let mut word_start: Option<usize> = None;
        for (offset, character) in text.char_indices() {
            if character.is_ascii_alphabetic() {
                counts.letters += 1;
                counts.ascii_letters += 1;
                word_start.get_or_insert(offset);
                continue;
            }
            if let Some(start) = word_start.take() {
                counts.count_ascii_word(&text[start..offset]);
            }
            if character.is_ascii() {
                continue;
            }
            if is_han(character) {
                counts.han += 1;
                counts.letters += 1;
            } else if is_kana(character) {
                counts.kana += 1;
                counts.letters += 1;
            } else if is_hangul(character) {
                counts.hangul += 1;
                counts.letters += 1;
            } else if character.is_alphabetic() {
                counts.letters += 1;
            }
        }
        if let Some(start) = word_start {
            counts.count_ascii_word(&text[start..]);
        }
        counts
    }

    fn count_ascii_word(&mut self, word: &str) {
        self.ascii_words += 1;
        if word.len() > 5 {
            return;
        }
        let mut lowercase = [0u8; 5];
        for (target, source) in lowercase.iter_mut().zip(word.bytes()) {
            *target = source.to_ascii_lowercase();
        }
        let is_marker = matches!(
            &lowercase[..word.len()],
            b"the"
                | b"and"
                | b"that"
                | b"with"
                | b"this"
                | b"you"
                | b"your"
                | b"have"
                | b"has"
                | b"what"
                | b"how"
                | b"which"
                | b"does"
                | b"would"
                | b"there"
                | b"are"
                | b"from"
                | b"it"
                | b"its"
                | b"if"
                | b"can"
                | b"be"
                | b"not"
        );
        self.english_markers += usize::from(is_marker);
    }
}

/// CJK ideographs (Chinese characters, Japanese kanji, Korean hanja).
pub(crate) fn is_han(character: char) -> bool {
    matches!(character,
        '\u{4e00}'..='\u{9fff}'
        | '\u{3400}'..='\u{4dbf}'
        | '\u{f900}'..='\u{faff}'
        | '\u{20000}'..='\u{2ebef}'
        | '\u{30000}'..='\u{323af}'
        | '\u{3007}')
}

fn is_kana(character: char) -> bool {
    matches!(character,
        '\u{3041}'..='\u{309f}' | '\u{30a0}'..='\u{30ff}' | '\u{31f0}'..='\u{31ff}' | '\u{ff66}'..='\u{ff9d}')
        // The prolonged sound mark and middle dot are shared with Chinese typography.
        && !matches!(character, '\u{30fb}' | '\u{30fc}')
}

fn is_hangul(character: char) -> bool {
    matches!(character,
        '\u{ac00}'..='\u{d7af}' | '\u{1100}'..='\u{11ff}' | '\u{3130}'..='\u{318f}')
}

fn floor_char_boundary(text: &str, max_bytes: usize) -> usize {
    if max_bytes >= text.len() {
        return text.len();
    }
    (0..=max_bytes)
        .rev()
        .find(|&index| text.is_char_boundary(index))
        .unwrap_or(0)
}

/// Maps whatlang's ISO 639-3 languages to the two-letter codes the rest of Steward uses.
fn iso_639_1(language: whatlang::Lang) -> Option<&'static str> {
    use whatlang::Lang;
    let code = match language {
        Lang::Epo => "eo",
        Lang::Eng => "en",
        Lang::Rus => "ru",
        Lang::Cmn => "zh",
        Lang::Spa => "es",
        Lang::Por => "pt",
        Lang::Ita => "it",
        Lang::Ben => "bn",
        Lang::Fra => "fr",
        Lang::Deu => "de",
        Lang::Ukr => "uk",
        Lang::Kat => "ka",
        Lang::Ara => "ar",
        Lang::Hin => "hi",
        Lang::Jpn => "ja",
        Lang::Heb => "he",
        Lang::Yid => "yi",
        Lang::Pol => "pl",
        Lang::Amh => "am",
        Lang::Jav => "jv",
        Lang::Kor => "ko",
        Lang::Nob => "nb",
        Lang::Dan => "da",
        Lang::Swe => "sv",
        Lang::Fin => "fi",
        Lang::Tur => "tr",
        Lang::Nld => "nl",
        Lang::Hun => "hu",
        Lang::Ces => "cs",
        Lang::Ell => "el",
        Lang::Bul => "bg",
        Lang::Bel => "be",
        Lang::Mar => "mr",
        Lang::Kan => "kn",
        Lang::Ron => "ro",
        Lang::Slv => "sl",
        Lang::Hrv => "hr",
        Lang::Srp => "sr",
        Lang::Mkd => "mk",
        Lang::Lit => "lt",
        Lang::Lav => "lv",
        Lang::Est => "et",
        Lang::Tam => "ta",
        Lang::Vie => "vi",
        Lang::Urd => "ur",
        Lang::Tha => "th",
        Lang::Guj => "gu",
        Lang::Uzb => "uz",
        Lang::Pan => "pa",
        Lang::Aze => "az",
        Lang::Ind => "id",
        Lang::Tel => "te",
        Lang::Pes => "fa",
        Lang::Mal => "ml",
        Lang::Ori => "or",
        Lang::Mya => "my",
        Lang::Nep => "ne",
        Lang::Sin => "si",
        Lang::Khm => "km",
        Lang::Tuk => "tk",
        Lang::Aka => "ak",
        Lang::Zul => "zu",
        Lang::Sna => "sn",
        Lang::Afr => "af",
        Lang::Lat => "la",
        Lang::Slk => "sk",
        Lang::Cat => "ca",
        Lang::Tgl => "tl",
        Lang::Hye => "hy",
        Lang::Cym => "cy",
    };
    Some(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str, expected: Option<&str>) {
        assert_eq!(detect(text), expected, "language of {text:?}");
    }

    #[test]
    fn chinese_tech_posts_with_english_identifiers_are_chinese() {
        check(
            "如何在 Rust 中使用 tokio::select! 处理多个 future？",
            Some("zh"),
        );
        check(
            "我在用 PyTorch 训练一个 ResNet50 模型的时候，loss 一直不下降，learning rate 设置为 0.001，请问是什么原因？",
            Some("zh"),
        );
        check("你好", Some("zh"));
        check("神经网络的反向传播算法是怎样工作的？", Some("zh"));
    }

    #[test]
    fn japanese_and_korean_are_told_by_script() {
        check(
            "ニューラルネットワークの学習率はどう決めればいいですか",
            Some("ja"),
        );
        check("機械学習について質問があります", Some("ja"));
        check("신경망의 학습률은 어떻게 정하나요?", Some("ko"));
    }

    #[test]
    fn alphabetic_languages_use_trigrams() {
        check(
            "What does backprop mean? Is the backprop term basically the same as backpropagation or does it have a different meaning?",
            Some("en"),
        );
        check(
            "Wie kann ich die Lernrate eines neuronalen Netzes bestimmen, wenn das Training nicht konvergiert?",
            Some("de"),
        );
        check(
            "Comment choisir le taux d'apprentissage d'un réseau de neurones quand l'entraînement ne converge pas ?",
            Some("fr"),
        );
        check(
            "¿Cómo puedo elegir la tasa de aprendizaje de una red neuronal cuando el entrenamiento no converge y la pérdida sigue subiendo después de muchas épocas?",
            Some("es"),
        );
        check(
            "Как выбрать скорость обучения нейронной сети, если обучение не сходится?",
            Some("ru"),
        );
    }

    #[test]
    fn dutch_sharing_function_words_with_english_is_not_called_english() {
        let dutch = "Hoe kies ik de leersnelheid van een neuraal netwerk als de training niet convergeert? Is dat een probleem?";
        assert_ne!(detect(dutch), Some("en"));
    }

    #[test]
    fn english_post_quoting_a_little_chinese_stays_english() {
        check(
            "In Chinese the word for artificial intelligence is 人工智能, and people use it all the time in the news.",
            Some("en"),
        );
    }

    #[test]
    fn empty_or_very_short_text_is_undecided() {
        check("", None);
        check("   123 !!! ", None);
        check("Hello", None);
    }
}
