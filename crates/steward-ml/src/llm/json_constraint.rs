//! Constrained decoding to one JSON object: a pushdown automaton over bytes
//! ([`JsonState`]) that says whether a text is a prefix of a JSON object, and
//! the vocabulary mask built from it ([`JsonMask`]): at each sampling step only
//! the tokens whose bytes keep the text such a prefix stay possible, and the
//! end of the turn only once the object is closed.
//!
//! The state is `Copy` (the container stack is a bit set), so trying every
//! token of a 49k vocabulary costs a few hundred thousand byte steps per
//! generated token, small beside the forward pass.
//!
//! What it accepts is RFC 8259 JSON with an object at the top, with two
//! limits that keep a small model from wandering: at most
//! [`MAX_WHITESPACE_RUN`] whitespace bytes in a row between tokens, and
//! nesting at most [`MAX_DEPTH`] deep. Inside strings any valid UTF-8 is
//! accepted; control characters must be escaped, as JSON requires.

/// Longest run of whitespace between two JSON tokens (enough for a newline
/// and some indentation).
pub const MAX_WHITESPACE_RUN: u8 = 8;
/// Deepest nesting of objects and arrays.
pub const MAX_DEPTH: u8 = 64;

/// Where in the grammar the text so far has left off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Nothing yet: only `{` may come.
    Start,
    /// Right after `{`: a key or `}`.
    ObjectOpen,
    /// After `,` in an object: a key.
    ObjectKey,
    /// After a key: `:`.
    Colon,
    /// After `:` or `,` in an array: a value.
    Value,
    /// Right after `[`: a value or `]`.
    ArrayOpen,
    /// After a value: `,` or the closing bracket.
    AfterValue,
    /// Inside a string (`key`: an object key, followed by `:`).
    String {
        key: bool,
        escape: Escape,
        utf8_left: u8,
    },
    Number(Number),
    /// Inside `true`, `false` or `null`: the bytes still to come.
    Literal {
        rest: &'static [u8],
    },
    /// The top-level object is closed: nothing more may come.
    Done,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Escape {
    None,
    /// After a backslash.
    Backslash,
    /// Inside `\uXXXX`: hex digits still to come.
    Unicode(u8),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Number {
    Minus,
    Zero,
    Integer,
    Dot,
    Fraction,
    Exponent,
    ExponentSign,
    ExponentDigits,
}

impl Number {
    /// Whether the number may end here.
    fn complete(self) -> bool {
        matches!(
            self,
            Number::Zero | Number::Integer | Number::Fraction | Number::ExponentDigits
        )
    }

    fn step(self, byte: u8) -> Option<Number> {
        Some(match (self, byte) {
            (Number::Minus, b'0') => Number::Zero,
            (Number::Minus, b'1'..=b'9') => Number::Integer,
            (Number::Integer, b'0'..=b'9') => Number::Integer,
            (Number::Zero | Number::Integer, b'.') => Number::Dot,
            (Number::Dot | Number::Fraction, b'0'..=b'9') => Number::Fraction,
            (Number::Zero | Number::Integer | Number::Fraction, b'e' | b'E') => Number::Exponent,
            (Number::Exponent, b'+' | b'-') => Number::ExponentSign,
            (Number::Exponent | Number::ExponentSign | Number::ExponentDigits, b'0'..=b'9') => {
                Number::ExponentDigits
            }
            _ => return None,
        })
    }
}

/// How far a text has come through one JSON object; feed it bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JsonState {
    mode: Mode,
    /// Open containers, innermost at bit `depth - 1`: 1 an object, 0 an array.
    stack: u64,
    depth: u8,
    whitespace_run: u8,
}

impl Default for JsonState {
    fn default() -> JsonState {
        JsonState::new()
    }
}

impl JsonState {
    pub fn new() -> JsonState {
        JsonState {
            mode: Mode::Start,
            stack: 0,
            depth: 0,
            whitespace_run: 0,
        }
    }

    /// Whether the text is one whole JSON object (nothing may follow).
    pub fn is_complete(&self) -> bool {
        self.mode == Mode::Done
    }

    /// Feeds `bytes`; `false` (and the state unspecified) when the text would
    /// no longer be the prefix of a JSON object.
    pub fn feed(&mut self, bytes: &[u8]) -> bool {
        bytes.iter().all(|&byte| self.step(byte))
    }

    /// The state after `bytes`, or `None` when they break the grammar.
    pub fn after(&self, bytes: &[u8]) -> Option<JsonState> {
        let mut next = *self;
        next.feed(bytes).then_some(next)
    }

    fn in_object(&self) -> bool {
        self.depth > 0 && self.stack & (1 << (self.depth - 1)) != 0
    }

    fn push(&mut self, object: bool) -> bool {
        if self.depth >= MAX_DEPTH {
            return false;
        }
        if object {
            self.stack |= 1 << self.depth;
        } else {
            self.stack &= !(1 << self.depth);
        }
        self.depth += 1;
        self.mode = if object {
            Mode::ObjectOpen
        } else {
            Mode::ArrayOpen
        };
        true
    }

    /// Closes the innermost container with `byte` (`}` or `]`).
    fn close(&mut self, byte: u8) -> bool {
        let expected = if self.in_object() { b'}' } else { b']' };
        if self.depth == 0 || byte != expected {
            return false;
        }
        self.depth -= 1;
        self.end_value();
        true
    }

    fn end_value(&mut self) {
        self.mode = if self.depth == 0 {
            Mode::Done
        } else {
            Mode::AfterValue
        };
    }

    /// The start of a value (after `:`, `,` in an array, or `[`).
    fn start_value(&mut self, byte: u8) -> bool {
        self.mode = match byte {
            b'{' => return self.push(true),
            b'[' => return self.push(false),
            b'"' => Mode::String {
                key: false,
                escape: Escape::None,
                utf8_left: 0,
            },
            b'-' => Mode::Number(Number::Minus),
            b'0' => Mode::Number(Number::Zero),
            b'1'..=b'9' => Mode::Number(Number::Integer),
            b't' => Mode::Literal { rest: b"rue" },
            b'f' => Mode::Literal { rest: b"alse" },
            b'n' => Mode::Literal { rest: b"ull" },
            _ => return false,
        };
        true
    }

    fn step(&mut self, byte: u8) -> bool {
        let whitespace = matches!(byte, b' ' | b'\t' | b'\n' | b'\r');
        let between_tokens = matches!(
            self.mode,
            Mode::ObjectOpen
                | Mode::ObjectKey
                | Mode::Colon
                | Mode::Value
                | Mode::ArrayOpen
                | Mode::AfterValue
        );
        if between_tokens {
            if whitespace {
                self.whitespace_run += 1;
                return self.whitespace_run <= MAX_WHITESPACE_RUN;
            }
            self.whitespace_run = 0;
        }
        match self.mode {
            Mode::Start => byte == b'{' && self.push(true),
            Mode::ObjectOpen | Mode::ObjectKey => match byte {
                b'"' => {
                    self.mode = Mode::String {
                        key: true,
                        escape: Escape::None,
                        utf8_left: 0,
                    };
                    true
                }
                b'}' if self.mode == Mode::ObjectOpen => self.close(byte),
                _ => false,
            },
            Mode::Colon => {
                let ok = byte == b':';
                self.mode = Mode::Value;
                ok
            }
            Mode::Value => self.start_value(byte),
            Mode::ArrayOpen => match byte {
                b']' => self.close(byte),
                _ => self.start_value(byte),
            },
            Mode::AfterValue => match byte {
                b',' => {
                    self.mode = if self.in_object() {
                        Mode::ObjectKey
                    } else {
                        Mode::Value
                    };
                    true
                }
                b'}' | b']' => self.close(byte),
                _ => false,
            },
            Mode::String {
                key,
                escape,
                utf8_left,
            } => self.string_step(key, escape, utf8_left, byte),
            Mode::Number(number) => match number.step(byte) {
                Some(next) => {
                    self.mode = Mode::Number(next);
                    true
                }
                // The number ends here; the byte belongs to what follows it.
                None if number.complete() => {
                    self.mode = Mode::AfterValue;
                    self.step(byte)
                }
                None => false,
            },
            Mode::Literal { rest } => {
                if rest.first() != Some(&byte) {
                    return false;
                }
                if rest.len() == 1 {
                    self.end_value();
                } else {
                    self.mode = Mode::Literal { rest: &rest[1..] };
                }
                true
            }
            Mode::Done => false,
        }
    }

    fn string_step(&mut self, key: bool, escape: Escape, utf8_left: u8, byte: u8) -> bool {
        let string = |escape, utf8_left| Mode::String {
            key,
            escape,
            utf8_left,
        };
        if utf8_left > 0 {
            if !(0x80..=0xBF).contains(&byte) {
                return false;
            }
            self.mode = string(escape, utf8_left - 1);
            return true;
        }
        match escape {
            Escape::Backslash => {
                self.mode = match byte {
                    b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => {
                        string(Escape::None, 0)
                    }
                    b'u' => string(Escape::Unicode(4), 0),
                    _ => return false,
                };
                true
            }
            Escape::Unicode(left) => {
                if !byte.is_ascii_hexdigit() {
                    return false;
                }
                let escape = if left > 1 {
                    Escape::Unicode(left - 1)
                } else {
                    Escape::None
                };
                self.mode = string(escape, 0);
                true
            }
            Escape::None => {
                self.mode = match byte {
                    b'"' if key => Mode::Colon,
                    b'"' => {
                        self.end_value();
                        return true;
                    }
                    b'\\' => string(Escape::Backslash, 0),
                    // Control characters must be escaped.
                    0x00..=0x1F => return false,
                    0x20..=0x7F => string(Escape::None, 0),
                    0xC2..=0xDF => string(Escape::None, 1),
                    0xE0..=0xEF => string(Escape::None, 2),
                    0xF0..=0xF4 => string(Escape::None, 3),
                    // A stray continuation byte, or one that starts no character.
                    _ => return false,
                };
                true
            }
        }
    }
}

/// The vocabulary as the mask sees it: each token's bytes, and which tokens
/// may end the turn.
#[derive(Debug, Clone)]
pub struct JsonMask {
    /// Bytes of each token id; empty for control tokens (never allowed inside
    /// the object).
    token_bytes: Vec<Vec<u8>>,
    end_of_turn: Vec<u32>,
}

impl JsonMask {
    /// `token_bytes[id]`: the raw bytes of each id (empty for control tokens);
    /// `end_of_turn`: the ids that end the assistant's turn.
    pub fn new(token_bytes: Vec<Vec<u8>>, end_of_turn: Vec<u32>) -> JsonMask {
        JsonMask {
            token_bytes,
            end_of_turn,
        }
    }

    /// Sets the logits of every token that `state` does not allow to minus
    /// infinity. Once the object is complete, only the end of the turn is
    /// allowed. Returns how many tokens remain allowed.
    pub fn apply(&self, state: &JsonState, logits: &mut [f32]) -> usize {
        let mut allowed = 0;
        for (id, logit) in logits.iter_mut().enumerate() {
            let ok = if state.is_complete() {
                self.end_of_turn.contains(&(id as u32))
            } else {
                self.token_bytes
                    .get(id)
                    .is_some_and(|bytes| !bytes.is_empty() && state.after(bytes).is_some())
            };
            if ok {
                allowed += 1;
            } else {
                *logit = f32::NEG_INFINITY;
            }
        }
        allowed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accepts(text: &str) -> Option<JsonState> {
        JsonState::new().after(text.as_bytes())
    }

    #[test]
    fn whole_objects_are_complete_and_every_prefix_is_accepted() {
        for text in [
            "{}",
            r#"{"a":1}"#,
            r#"{ "name" : "Ada", "tags": ["x", "y"], "n": -0.5e+3, "ok": true, "none": null }"#,
            "{\"nested\": {\"deep\": [[], {}, [1, [2, {\"z\": false}]]]}}",
            r#"{"escapes": "quote \" slash \\ \/ \b\f\n\r\t \u00e9 \uD83E\uDD80"}"#,
            "{\"utf8\": \"巴黎 🦀 é\"}",
            "{\n  \"pretty\": [\n    1,\n    2\n  ]\n}",
            r#"{"numbers": [0, 10, 1.25, 3e7, 2E-2, -7]}"#,
        ] {
            let state = accepts(text).unwrap_or_else(|| panic!("rejected {text:?}"));
            assert!(state.is_complete(), "not complete: {text:?}");
            for end in 0..text.len() {
                if !text.is_char_boundary(end) {
                    continue;
                }
                let prefix = accepts(&text[..end]).unwrap_or_else(|| panic!("prefix {end}"));
                assert!(!prefix.is_complete(), "complete early: {:?}", &text[..end]);
            }
            // Nothing may follow the object.
            assert!(accepts(&format!("{text} ")).is_none());
            assert!(accepts(&format!("{text}{{}}")).is_none());
        }
    }

    #[test]
    fn what_is_not_json_or_not_an_object_is_refused() {
        for text in [
            "[1]",
            "\"text\"",
            " {}",
            "```json",
            "{a:1}",
            "{'a':1}",
            r#"{"a" 1}"#,
            r#"{"a":1,}"#,
            r#"{"a":[1,]}"#,
            r#"{"a":01}"#,
            r#"{"a":1.}"#,
            r#"{"a":.5}"#,
            r#"{"a":+1}"#,
            r#"{"a":1e}"#,
            r#"{"a":tru}"#,
            r#"{"a":True}"#,
            r#"{"a":"\x"}"#,
            r#"{"a":"\u12G4"}"#,
            "{\"a\":\"line\nbreak\"}",
            r#"{"a":1]"#,
            r#"{"a":[1}"#,
            r#"{"a":NaN}"#,
        ] {
            assert!(accepts(text).is_none(), "accepted {text:?}");
        }
        // Invalid UTF-8 in a string.
        assert!(JsonState::new().after(b"{\"a\":\"\xff").is_none());
        assert!(JsonState::new().after(b"{\"a\":\"\x80").is_none());
        assert!(JsonState::new().after(b"{\"a\":\"\xc3\"").is_none());
    }

    #[test]
    fn whitespace_runs_and_nesting_are_bounded() {
        let spaces = " ".repeat(usize::from(MAX_WHITESPACE_RUN));
        assert!(accepts(&format!("{{{spaces}}}")).is_some());
        assert!(accepts(&format!("{{{spaces} }}")).is_none());
        // Inside a string whitespace is text: no limit.
        assert!(accepts(&format!("{{\"a\":\"{spaces}{spaces}\"}}")).is_some());
        let deep = format!("{{\"a\":{}", "[".repeat(usize::from(MAX_DEPTH) - 1));
        assert!(accepts(&deep).is_some());
        assert!(accepts(&format!("{deep}[")).is_none());
    }

    #[test]
    fn the_mask_keeps_only_tokens_that_continue_the_object() {
        let vocabulary: Vec<&[u8]> = vec![
            b"{",        // 0
            b"{\"",      // 1
            b"\"",       // 2
            b"}",        // 3
            b"hello",    // 4
            b"\":",      // 5
            b" 12",      // 6
            b"```",      // 7
            b"",         // 8: a control token
            b"}\n",      // 9
            b"\xe5\xb7", // 10: half of a CJK character
        ];
        let mask = JsonMask::new(
            vocabulary.iter().map(|bytes| bytes.to_vec()).collect(),
            vec![8],
        );
        let allowed = |text: &[u8]| {
            let state = JsonState::new().after(text).expect("a valid prefix");
            let mut logits = vec![0.0f32; vocabulary.len()];
            mask.apply(&state, &mut logits);
            (0..vocabulary.len())
                .filter(|&id| logits[id].is_finite())
                .collect::<Vec<_>>()
        };
        assert_eq!(allowed(b""), [0, 1]);
        assert_eq!(allowed(b"{"), [2, 3, 5], "a key may start with a colon");
        assert_eq!(
            allowed(b"{\""),
            [0, 1, 2, 3, 4, 5, 6, 7, 10],
            "inside a key"
        );
        assert_eq!(allowed(b"{\"a\":"), [0, 1, 2, 5, 6]);
        assert_eq!(allowed(b"{\"a\":12"), [3]);
        assert_eq!(allowed(b"{}"), [8], "only the end of the turn");
    }
}
