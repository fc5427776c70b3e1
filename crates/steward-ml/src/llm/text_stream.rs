//! Token bytes to streamed text: emits only whole UTF-8 characters (a byte-level
//! token may end in the middle of one) and never emits text that could turn out
//! to be the start of a stop string, so a stop string never leaks to a client.

/// What the generation loop should do after a token's text was pushed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flow {
    Continue,
    /// A stop string appeared; the text now ends right before it.
    Stop,
}

/// The completion text as it grows, with how much of it was already emitted.
#[derive(Debug)]
pub(crate) struct TextStream<'a> {
    stop: &'a [String],
    /// Bytes of a character whose remaining bytes are in the next token(s).
    pending: Vec<u8>,
    text: String,
    emitted: usize,
}

impl<'a> TextStream<'a> {
    pub(crate) fn new(stop: &'a [String]) -> TextStream<'a> {
        TextStream {
            stop,
            pending: Vec::with_capacity(8),
            text: String::new(),
            emitted: 0,
        }
    }

    /// Appends a token's bytes; calls `emit` with the text that became safe to show.
    pub(crate) fn push(&mut self, bytes: &[u8], emit: &mut impl FnMut(&str)) -> Flow {
        self.pending.extend_from_slice(bytes);
        let mut consumed = 0;
        loop {
            match std::str::from_utf8(&self.pending[consumed..]) {
                Ok(valid) => {
                    self.text.push_str(valid);
                    consumed = self.pending.len();
                    break;
                }
                Err(error) => {
                    let valid_end = consumed + error.valid_up_to();
                    let valid = std::str::from_utf8(&self.pending[consumed..valid_end])
                        .expect("valid_up_to marks a valid prefix");
                    self.text.push_str(valid);
                    match error.error_len() {
                        // Bytes that can never become a character: show U+FFFD, as a lossy decode would.
                        Some(invalid) => {
                            self.text.push(char::REPLACEMENT_CHARACTER);
                            consumed = valid_end + invalid;
                        }
                        // An incomplete character: wait for the next token.
                        None => {
                            consumed = valid_end;
                            break;
                        }
                    }
                }
            }
        }
        self.pending.drain(..consumed);
        self.release(emit)
    }

    /// Emits what is safe; cuts the text at the first stop string.
    fn release(&mut self, emit: &mut impl FnMut(&str)) -> Flow {
        let unsent = &self.text[self.emitted..];
        // No stop string starts before `emitted`: text that could begin one is held back.
        let first_stop = self
            .stop
            .iter()
            .filter(|stop| !stop.is_empty())
            .filter_map(|stop| unsent.find(stop.as_str()))
            .min();
        if let Some(offset) = first_stop {
            let stop_at = self.emitted + offset;
            if stop_at > self.emitted {
                emit(&self.text[self.emitted..stop_at]);
            }
            self.text.truncate(stop_at);
            self.emitted = stop_at;
            self.pending.clear();
            return Flow::Stop;
        }
        let held_back = self
            .stop
            .iter()
            .map(|stop| partial_stop_len(unsent, stop))
            .max()
            .unwrap_or(0);
        let safe_end = self.text.len() - held_back;
        if safe_end > self.emitted {
            emit(&self.text[self.emitted..safe_end]);
            self.emitted = safe_end;
        }
        Flow::Continue
    }

    /// Ends the stream: emits held-back text (no stop string completed it) and
    /// any dangling bytes, lossily. Returns the whole text.
    pub(crate) fn finish(mut self, emit: &mut impl FnMut(&str)) -> String {
        if !self.pending.is_empty() {
            let tail = String::from_utf8_lossy(&self.pending).into_owned();
            self.text.push_str(&tail);
        }
        if self.text.len() > self.emitted {
            emit(&self.text[self.emitted..]);
        }
        self.text
    }

    /// The text so far, up to a stop string if one was hit.
    pub(crate) fn finish_stopped(self) -> String {
        self.text
    }
}

/// Length of the longest suffix of `text` that is a proper prefix of `stop`
/// (and starts on a character boundary).
fn partial_stop_len(text: &str, stop: &str) -> usize {
    let longest = text.len().min(stop.len().saturating_sub(1));
    (1..=longest)
        .rev()
        .find(|&len| {
            let start = text.len() - len;
            text.is_char_boundary(start) && stop.as_bytes().starts_with(&text.as_bytes()[start..])
        })
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pushes `chunks` (raw bytes) and returns (emitted pieces, final text, stopped).
    fn run(chunks: &[&[u8]], stop: &[&str]) -> (Vec<String>, String, bool) {
        let stop: Vec<String> = stop.iter().map(|s| s.to_string()).collect();
        let mut stream = TextStream::new(&stop);
        let mut pieces = Vec::new();
        let mut emit = |piece: &str| pieces.push(piece.to_string());
        for chunk in chunks {
            if stream.push(chunk, &mut emit) == Flow::Stop {
                let text = stream.finish_stopped();
                return (pieces, text, true);
            }
        }
        let text = stream.finish(&mut emit);
        (pieces, text, false)
    }

    #[test]
    fn split_character_is_emitted_whole() {
        let bytes = "巴黎".as_bytes();
        let (pieces, text, _) = run(&[&bytes[..2], &bytes[2..4], &bytes[4..]], &[]);
        assert_eq!(pieces, ["巴", "黎"]);
        assert_eq!(text, "巴黎");
    }

    #[test]
    fn stop_string_never_leaks_even_across_tokens() {
        let (pieces, text, stopped) = run(&[b"Paris.", b"\nUs", b"er: more"], &["\nUser:"]);
        assert!(stopped);
        assert_eq!(text, "Paris.");
        assert_eq!(pieces.concat(), "Paris.");
    }

    #[test]
    fn held_back_text_is_released_when_it_is_not_a_stop() {
        let (pieces, text, stopped) = run(&[b"a\nU", b"sually"], &["\nUser:"]);
        assert!(!stopped);
        assert_eq!(text, "a\nUsually");
        assert_eq!(pieces, ["a", "\nUsually"]);
    }

    #[test]
    fn held_back_text_is_released_at_the_end() {
        let (pieces, text, _) = run(&[b"done\nUse"], &["\nUser:"]);
        assert_eq!(text, "done\nUse");
        assert_eq!(pieces.concat(), text);
    }

    #[test]
    fn invalid_bytes_become_replacement_characters() {
        let (_, text, _) = run(&[b"a\xffb"], &[]);
        assert_eq!(text, "a\u{fffd}b");
    }
}
