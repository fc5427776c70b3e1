//! Server-sent events as OpenAI-compatible servers stream chat completions:
//! an incremental reader (bytes in, `data` payloads out) and the reading of
//! one payload into a stream event.

use serde::Deserialize;

use super::{ChatCompletionChunk, ErrorResponse};

/// What one `data:` payload of a chat stream says.
#[derive(Debug)]
pub(crate) enum StreamEvent {
    /// `[DONE]`: the server has nothing more to send.
    Done,
    Chunk(ChatCompletionChunk),
    /// An error body sent mid-stream, after the 200 status was already out.
    Error(ErrorResponse),
}

/// The JSON shapes a payload can take.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Payload {
    /// Tried first: a chunk with every field defaulted would match any object.
    Error(ErrorResponse),
    Chunk(ChatCompletionChunk),
}

impl StreamEvent {
    /// Reads one `data` payload; the error is serde's, for the caller to place.
    pub(crate) fn parse(payload: &str) -> Result<StreamEvent, serde_json::Error> {
        if payload.trim() == "[DONE]" {
            return Ok(StreamEvent::Done);
        }
        Ok(match serde_json::from_str::<Payload>(payload)? {
            Payload::Error(error) => StreamEvent::Error(error),
            Payload::Chunk(chunk) => StreamEvent::Chunk(chunk),
        })
    }
}

/// Incremental server-sent-events reader: bytes in, `data` payloads out.
///
/// Follows the SSE spec (lines end in `\n`, `\r\n` or `\r`; an event ends at a
/// blank line; several `data:` lines join with `\n`; `:` lines are comments)
/// and forgives servers that omit the blank line between events: a `data:` line
/// that arrives while a complete JSON value or `[DONE]` is pending dispatches
/// the pending one first.
#[derive(Debug, Default)]
pub(crate) struct SseParser {
    line: Vec<u8>,
    data: Option<String>,
    /// The last byte was `\r`: a following `\n` belongs to the same line end.
    after_cr: bool,
}

impl SseParser {
    pub(crate) fn push(&mut self, bytes: &[u8]) -> Vec<String> {
        let mut payloads = Vec::new();
        for &byte in bytes {
            match byte {
                b'\n' if self.after_cr => self.after_cr = false,
                b'\n' | b'\r' => {
                    self.after_cr = byte == b'\r';
                    let line = std::mem::take(&mut self.line);
                    self.line(&String::from_utf8_lossy(&line), &mut payloads);
                }
                _ => {
                    self.after_cr = false;
                    self.line.push(byte);
                }
            }
        }
        payloads
    }

    /// Whatever is pending when the connection closes.
    pub(crate) fn finish(mut self) -> Vec<String> {
        let mut payloads = Vec::new();
        if !self.line.is_empty() {
            let line = std::mem::take(&mut self.line);
            self.line(&String::from_utf8_lossy(&line), &mut payloads);
        }
        payloads.extend(self.data.take());
        payloads
    }

    fn line(&mut self, line: &str, payloads: &mut Vec<String>) {
        if line.is_empty() {
            payloads.extend(self.data.take());
            return;
        }
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line, ""),
        };
        if field != "data" {
            // Comments (`: keep-alive`), `event:`, `id:`, `retry:`.
            return;
        }
        match self.data.take() {
            Some(pending) if is_complete_payload(&pending) => {
                payloads.push(pending);
                self.data = Some(value.to_string());
            }
            Some(mut pending) => {
                pending.push('\n');
                pending.push_str(value);
                self.data = Some(pending);
            }
            None => self.data = Some(value.to_string()),
        }
    }
}

fn is_complete_payload(payload: &str) -> bool {
    payload.trim() == "[DONE]" || serde_json::from_str::<serde::de::IgnoredAny>(payload).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parses `stream` fed in pieces of every size from 1 byte to all of it:
    /// a server may split its writes anywhere, even inside a UTF-8 character.
    fn check_sse(stream: &str, expected: &[&str]) {
        for piece_len in 1..=stream.len() {
            let mut parser = SseParser::default();
            let mut payloads = Vec::new();
            for piece in stream.as_bytes().chunks(piece_len) {
                payloads.extend(parser.push(piece));
            }
            payloads.extend(parser.finish());
            assert_eq!(payloads, expected, "{stream:?} in pieces of {piece_len}");
        }
    }

    #[test]
    fn sse_payloads_come_out_whole_however_the_bytes_are_split() {
        check_sse(
            "data: {\"a\":1}\n\ndata: [DONE]\n\n",
            &["{\"a\":1}", "[DONE]"],
        );
        check_sse(
            "data:{\"a\":1}\r\n\r\ndata:[DONE]\r\n\r\n",
            &["{\"a\":1}", "[DONE]"],
        );
        check_sse(
            "data: {\"a\":1}\r\rdata: [DONE]\r\r",
            &["{\"a\":1}", "[DONE]"],
        );
        check_sse(
            ": keep-alive\n\nevent: message\nid: 7\ndata: {\"é\":\"ü\"}\n\n",
            &["{\"é\":\"ü\"}"],
        );
        // Multi-line data joins with a newline.
        check_sse("data: {\"a\":\ndata: 1}\n\n", &["{\"a\":\n1}"]);
        // No blank lines between events, and no final newline.
        check_sse(
            "data: {\"a\":1}\ndata: {\"b\":2}\ndata: [DONE]",
            &["{\"a\":1}", "{\"b\":2}", "[DONE]"],
        );
        check_sse("", &[]);
    }

    #[test]
    fn payloads_read_as_done_chunks_or_errors() {
        assert!(matches!(
            StreamEvent::parse(" [DONE] "),
            Ok(StreamEvent::Done)
        ));
        assert!(matches!(
            StreamEvent::parse(r#"{"error":{"message":"overloaded"}}"#),
            Ok(StreamEvent::Error(error)) if error.error.message == "overloaded"
        ));
        assert!(matches!(
            StreamEvent::parse(r#"{"choices":[{"delta":{"content":"hi"}}]}"#),
            Ok(StreamEvent::Chunk(chunk)) if chunk.choices[0].delta.content.as_deref() == Some("hi")
        ));
        assert!(StreamEvent::parse("not json").is_err());
    }
}
