//! Streaming record readers shared by the importers: a line-oriented framer
//! for Stack Exchange XML (one `<row .../>` per line, rows spanning lines
//! accumulated up to a bound) and for JSONL; a streaming XML reader for dump
//! files that are not one row per line (valid XML written without line
//! breaks, or with several rows on a line), chosen by looking at the start of
//! the file; and a background thread that reads, parses and maps records in
//! chunks while the caller writes the previous chunk to the store.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use quick_xml::events::Event as XmlEvent;

use crate::report::{Location, SkipReason};
use crate::values::check_characters;
use crate::{Error, Result};

/// Longest record accepted (a row spanning lines or one JSON line); anything
/// longer is skipped so that a file without newlines cannot exhaust memory.
pub(crate) const MAX_RECORD_BYTES: usize = 64 << 20;

/// A record's text and the line it starts on, or why it could not be framed.
#[derive(Debug)]
pub(crate) enum Framed {
    Record { line: u64, text: String },
    Skip { line: u64, reason: SkipReason },
}

/// How records are delimited in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    /// Stack Exchange dump: wrapper lines, `<row .../>` records.
    XmlRows,
    /// One JSON object per line; blank lines are allowed.
    JsonLines,
}

/// Splits a file into records, line by line, in bounded memory.
pub(crate) struct Framer<R> {
    reader: R,
    framing: Framing,
    line_buffer: Vec<u8>,
    line_no: u64,
    bytes_read: u64,
    /// A row that started on `pending_row.0` and has not closed yet.
    pending_row: Option<(u64, String)>,
    /// Skipping the rest of an over-long row until the next row starts.
    discarding: bool,
    queue: VecDeque<Framed>,
    finished: bool,
}

impl<R: BufRead> Framer<R> {
    pub(crate) fn new(reader: R, framing: Framing) -> Framer<R> {
        Framer {
            reader,
            framing,
            line_buffer: Vec::with_capacity(64 * 1024),
            line_no: 0,
            bytes_read: 0,
            pending_row: None,
            discarding: false,
            queue: VecDeque::new(),
            finished: false,
        }
    }

    /// Bytes consumed so far.
    pub(crate) fn bytes_read(&self) -> u64 {
        self.bytes_read
    }

    /// The next record, or `None` at the end of the file.
    pub(crate) fn next_record(&mut self) -> std::io::Result<Option<Framed>> {
        loop {
            if let Some(framed) = self.queue.pop_front() {
                return Ok(Some(framed));
            }
            if self.finished {
                return Ok(None);
            }
            self.read_line()?;
        }
    }

    fn read_line(&mut self) -> std::io::Result<()> {
        self.line_buffer.clear();
        let n_bytes = std::io::Read::take(&mut self.reader, MAX_RECORD_BYTES as u64 + 1)
            .read_until(b'\n', &mut self.line_buffer)?;
        if n_bytes == 0 {
            self.finished = true;
            if let Some((line, _)) = self.pending_row.take() {
                self.queue.push_back(Framed::Skip {
                    line,
                    reason: SkipReason::Truncated,
                });
            }
            return Ok(());
        }
        self.bytes_read += n_bytes as u64;
        let ends_with_newline = self.line_buffer.last() == Some(&b'\n');
        if !ends_with_newline && n_bytes > MAX_RECORD_BYTES {
            // A line longer than the bound: skip it and the rest of it.
            self.line_no += 1;
            let line = self.line_no;
            let mut rest = Vec::new();
            loop {
                rest.clear();
                let more = std::io::Read::take(&mut self.reader, MAX_RECORD_BYTES as u64)
                    .read_until(b'\n', &mut rest)?;
                self.bytes_read += more as u64;
                if more == 0 || rest.last() == Some(&b'\n') {
                    break;
                }
            }
            self.queue.push_back(Framed::Skip {
                line,
                reason: SkipReason::TooLong {
                    bytes: MAX_RECORD_BYTES,
                },
            });
            return Ok(());
        }
        self.line_no += 1;
        let line_no = self.line_no;
        let line_buffer = std::mem::take(&mut self.line_buffer);
        self.frame_line(line_no, &line_buffer);
        self.line_buffer = line_buffer;
        Ok(())
    }

    fn frame_line(&mut self, line_no: u64, line_buffer: &[u8]) {
        let mut bytes: &[u8] = line_buffer;
        if line_no == 1 {
            bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        }
        let Ok(text) = std::str::from_utf8(bytes) else {
            self.queue.push_back(Framed::Skip {
                line: line_no,
                reason: SkipReason::InvalidUtf8,
            });
            return;
        };
        let text = text.trim();
        match self.framing {
            Framing::JsonLines => {
                if !text.is_empty() {
                    self.queue.push_back(Framed::Record {
                        line: line_no,
                        text: text.to_string(),
                    });
                }
            }
            Framing::XmlRows => self.frame_xml_line(line_no, text),
        }
    }

    fn frame_xml_line(&mut self, line_no: u64, text: &str) {
        let starts_row = text.starts_with("<row ") || text == "<row";
        let closes_row = text.ends_with("/>");
        if starts_row {
            self.discarding = false;
            if let Some((line, _)) = self.pending_row.take() {
                self.queue.push_back(Framed::Skip {
                    line,
                    reason: SkipReason::Malformed(
                        "row is not closed before the next row".to_string(),
                    ),
                });
            }
            if closes_row {
                self.queue.push_back(Framed::Record {
                    line: line_no,
                    text: text.to_string(),
                });
            } else {
                self.pending_row = Some((line_no, text.to_string()));
            }
            return;
        }
        if self.discarding {
            if closes_row {
                self.discarding = false;
            }
            return;
        }
        if let Some((start_line, mut row_text)) = self.pending_row.take() {
            if row_text.len() + text.len() + 1 > MAX_RECORD_BYTES {
                self.discarding = !closes_row;
                self.queue.push_back(Framed::Skip {
                    line: start_line,
                    reason: SkipReason::TooLong {
                        bytes: MAX_RECORD_BYTES,
                    },
                });
                return;
            }
            row_text.push('\n');
            row_text.push_str(text);
            if closes_row {
                self.queue.push_back(Framed::Record {
                    line: start_line,
                    text: row_text,
                });
            } else {
                self.pending_row = Some((start_line, row_text));
            }
            return;
        }
        if text.is_empty() || is_wrapper_line(text) {
            return;
        }
        self.queue.push_back(Framed::Skip {
            line: line_no,
            reason: SkipReason::NotARecord,
        });
    }
}

/// The `<?xml ...?>` declaration and the `<posts>` / `</posts>` wrapper.
fn is_wrapper_line(text: &str) -> bool {
    if text.starts_with("<?xml") && text.ends_with("?>") {
        return true;
    }
    let Some(inner) = text
        .strip_prefix('<')
        .and_then(|rest| rest.strip_suffix('>'))
    else {
        return false;
    };
    let name = inner.strip_prefix('/').unwrap_or(inner);
    !name.is_empty() && name.bytes().all(|byte| byte.is_ascii_alphanumeric())
}

/// The attributes of one `<row .../>`, unescaped.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Row {
    attributes: Vec<(String, String)>,
}

impl Row {
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// Takes the value out (to avoid copying a large body).
    pub(crate) fn take(&mut self, name: &str) -> Option<String> {
        self.attributes
            .iter_mut()
            .find(|(key, _)| key == name)
            .map(|(_, value)| std::mem::take(value))
    }
}

/// Parses one framed row with quick-xml: it must be a single self-closing
/// `<row>` element with well-formed, unique attributes.
pub(crate) fn parse_row(text: &str) -> Result<Row, SkipReason> {
    let mut reader = quick_xml::Reader::from_str(text);
    let mut row: Option<Row> = None;
    loop {
        let event = reader
            .read_event()
            .map_err(|error| SkipReason::Malformed(error.to_string()))?;
        match event {
            XmlEvent::Empty(element) if row.is_none() => {
                if element.name().as_ref() != "row" {
                    return Err(SkipReason::NotARecord);
                }
                let mut attributes = Vec::with_capacity(16);
                for attribute in element.attributes().with_checks(true) {
                    let attribute =
                        attribute.map_err(|error| SkipReason::Malformed(error.to_string()))?;
                    let key = attribute.key.as_ref().to_string();
                    let value = attribute
                        .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                        .map_err(|error| SkipReason::Malformed(error.to_string()))?
                        .into_owned();
                    check_characters(&key, &value)?;
                    attributes.push((key, value));
                }
                row = Some(Row { attributes });
            }
            XmlEvent::Text(text) if text.trim().is_empty() => {}
            XmlEvent::Eof => {
                return row.ok_or_else(|| SkipReason::Malformed("no <row/> element".to_string()));
            }
            _ => {
                return Err(SkipReason::Malformed(
                    "not a single self-closing <row/>".to_string(),
                ));
            }
        }
    }
}

/// One record after mapping: the value, or why it was skipped.
#[derive(Debug)]
pub(crate) struct Parsed<T> {
    pub(crate) line: Location,
    pub(crate) outcome: Result<T, SkipReason>,
}

/// A run of parsed records and the bytes they covered.
#[derive(Debug)]
pub(crate) struct Chunk<T> {
    pub(crate) records: Vec<Parsed<T>>,
    pub(crate) bytes: u64,
}

/// Reads `path` on a background thread, framing, parsing and mapping records
/// with `map`, and hands them over in chunks of `chunk_size`. The channel holds
/// two chunks, so memory stays bounded and reading overlaps writing. Dropping
/// the receiver stops the thread.
pub(crate) fn spawn_reader<T, F>(
    path: &Path,
    framing: Framing,
    chunk_size: usize,
    map: F,
) -> Result<tokio::sync::mpsc::Receiver<std::io::Result<Chunk<T>>>>
where
    T: Send + 'static,
    F: Fn(&str) -> Result<T, SkipReason> + Send + 'static,
{
    let file = File::open(path).map_err(|source| Error::io("opening", path, source))?;
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let streaming = framing == Framing::XmlRows
        && !is_one_row_per_line(
            reader
                .fill_buf()
                .map_err(|source| Error::io("reading", path, source))?,
        );
    let (sender, receiver) = tokio::sync::mpsc::channel(2);
    let thread_name = format!("read {}", path.display());
    let path_for_error: PathBuf = path.to_path_buf();
    std::thread::Builder::new()
        .name(thread_name)
        .spawn(move || {
            let mut records_source = if streaming {
                RecordSource::Stream(XmlStream::new(reader))
            } else {
                RecordSource::Lines(Framer::new(reader, framing))
            };
            let mut records = Vec::with_capacity(chunk_size);
            let mut bytes_sent = 0;
            loop {
                let framed = match records_source.next_record() {
                    Ok(framed) => framed,
                    Err(error) => {
                        let _ = sender.blocking_send(Err(error));
                        return;
                    }
                };
                let at_end = framed.is_none();
                if let Some((line, text)) = framed {
                    records.push(Parsed {
                        line,
                        outcome: text.and_then(|text| map(&text)),
                    });
                }
                if records.len() >= chunk_size || at_end {
                    let bytes_read = records_source.bytes_read();
                    let chunk = Chunk {
                        records: std::mem::replace(&mut records, Vec::with_capacity(chunk_size)),
                        bytes: bytes_read - bytes_sent,
                    };
                    bytes_sent = bytes_read;
                    if sender.blocking_send(Ok(chunk)).is_err() {
                        return;
                    }
                }
                if at_end {
                    return;
                }
            }
        })
        .map_err(|source| Error::io("starting a reader thread for", path_for_error, source))?;
    Ok(receiver)
}

/// Whether the start of a dump file is laid out one `<row>` per line, as the
/// dumps are: no line holds a row after other markup, nor two rows. A file
/// written otherwise (without line breaks, say) is read by [`XmlStream`].
fn is_one_row_per_line(start: &[u8]) -> bool {
    let start = start.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(start);
    start.split(|&byte| byte == b'\n').all(|line| {
        let line = line.trim_ascii();
        match memchr_row(line) {
            None => true,
            Some(0) => memchr_row(&line[4..]).is_none(),
            Some(_) => false,
        }
    })
}

/// The offset of the first `<row` in `bytes` that starts an element.
fn memchr_row(bytes: &[u8]) -> Option<usize> {
    bytes.windows(5).position(|window| {
        window.starts_with(b"<row") && matches!(window[4], b' ' | b'\t' | b'\r' | b'/' | b'>')
    })
}

/// Where a reader thread takes its records from.
enum RecordSource {
    Lines(Framer<BufReader<File>>),
    Stream(XmlStream),
}

impl RecordSource {
    /// The next record's location and text, or why it cannot be parsed.
    fn next_record(&mut self) -> std::io::Result<Option<(Location, Result<String, SkipReason>)>> {
        match self {
            RecordSource::Lines(framer) => Ok(framer.next_record()?.map(|framed| match framed {
                Framed::Record { line, text } => (Location::line(line), Ok(text)),
                Framed::Skip { line, reason } => (Location::line(line), Err(reason)),
            })),
            RecordSource::Stream(stream) => stream.next_record(),
        }
    }

    fn bytes_read(&self) -> u64 {
        match self {
            RecordSource::Lines(framer) => framer.bytes_read(),
            RecordSource::Stream(stream) => stream.reader.buffer_position(),
        }
    }
}

/// A buffered file reader that counts the lines it has handed out, so that a
/// streaming parser can tell the line and column of the element it is at.
struct LineCounting {
    inner: BufReader<File>,
    /// Newlines consumed so far.
    newlines: u64,
    /// Bytes consumed so far.
    consumed: u64,
    /// Offset just past the last newline consumed.
    line_start: u64,
}

impl std::io::Read for LineCounting {
    fn read(&mut self, buffer: &mut [u8]) -> std::io::Result<usize> {
        let available = self.fill_buf()?;
        let n_bytes = available.len().min(buffer.len());
        buffer[..n_bytes].copy_from_slice(&available[..n_bytes]);
        self.consume(n_bytes);
        Ok(n_bytes)
    }
}

impl BufRead for LineCounting {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        self.inner.fill_buf()
    }

    fn consume(&mut self, amount: usize) {
        let consumed = &self.inner.buffer()[..amount];
        for (offset, _) in consumed
            .iter()
            .enumerate()
            .filter(|(_, byte)| **byte == b'\n')
        {
            self.newlines += 1;
            self.line_start = self.consumed + offset as u64 + 1;
        }
        self.consumed += amount as u64;
        self.inner.consume(amount);
    }
}

/// Reads `<row/>` elements with quick-xml's streaming parser, wherever the
/// line breaks fall; each record is located by line and column.
struct XmlStream {
    reader: quick_xml::Reader<LineCounting>,
    buffer: Vec<u8>,
    finished: bool,
}

impl XmlStream {
    fn new(inner: BufReader<File>) -> XmlStream {
        let counting = LineCounting {
            inner,
            newlines: 0,
            consumed: 0,
            line_start: 0,
        };
        XmlStream {
            reader: quick_xml::Reader::from_reader(counting),
            buffer: Vec::with_capacity(64 * 1024),
            finished: false,
        }
    }

    /// Where the parser stands: the start of the next event.
    fn location(&self) -> Location {
        let counting = self.reader.get_ref();
        Location {
            line: counting.newlines + 1,
            column: Some(counting.consumed - counting.line_start + 1),
        }
    }

    fn next_record(&mut self) -> std::io::Result<Option<(Location, Result<String, SkipReason>)>> {
        loop {
            if self.finished {
                return Ok(None);
            }
            let at = self.location();
            self.buffer.clear();
            let event = match self.reader.read_event_into(&mut self.buffer) {
                Ok(event) => event,
                Err(quick_xml::Error::Io(error)) => {
                    return Err(std::io::Error::new(error.kind(), error.to_string()));
                }
                Err(error) => {
                    // quick-xml cannot find the next element after a syntax
                    // error with certainty: the rest of the file is one skip.
                    self.finished = true;
                    return Ok(Some((at, Err(SkipReason::Malformed(error.to_string())))));
                }
            };
            match event {
                XmlEvent::Empty(element) if element.name().as_ref() == "row" => {
                    if element.len() > MAX_RECORD_BYTES {
                        return Ok(Some((
                            at,
                            Err(SkipReason::TooLong {
                                bytes: MAX_RECORD_BYTES,
                            }),
                        )));
                    }
                    let text: &str = &element;
                    return Ok(Some((at, Ok(format!("<{text}/>")))));
                }
                XmlEvent::Start(element) if element.name().as_ref() == "row" => {
                    let end = element.to_end().into_owned();
                    let mut ignored = Vec::new();
                    if let Err(error) = self.reader.read_to_end_into(end.name(), &mut ignored) {
                        self.finished = true;
                        return Ok(Some((at, Err(SkipReason::Malformed(error.to_string())))));
                    }
                    return Ok(Some((
                        at,
                        Err(SkipReason::Malformed(
                            "not a single self-closing <row/>".to_string(),
                        )),
                    )));
                }
                XmlEvent::Text(text) if text.trim().is_empty() => {}
                XmlEvent::Text(_) | XmlEvent::CData(_) => {
                    return Ok(Some((at, Err(SkipReason::NotARecord))));
                }
                XmlEvent::Empty(_) => return Ok(Some((at, Err(SkipReason::NotARecord)))),
                XmlEvent::Eof => {
                    self.finished = true;
                    return Ok(None);
                }
                // The wrapper element, the declaration, comments.
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(input: &str) -> Vec<String> {
        let mut framer = Framer::new(input.as_bytes(), Framing::XmlRows);
        let mut out = Vec::new();
        while let Some(framed) = framer.next_record().expect("in-memory read") {
            out.push(match framed {
                Framed::Record { line, text } => format!("{line}: {text}"),
                Framed::Skip { line, reason } => format!("{line}: skip {}", reason.code()),
            });
        }
        out
    }

    #[test]
    fn framing_handles_bom_wrapper_garbage_multiline_and_truncation() {
        let check =
            |input: &str, expected: &[&str]| assert_eq!(frame(input), expected, "{input:?}");
        check(
            "\u{feff}<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<posts>\n  <row Id=\"1\" />\n</posts>\n",
            &["3: <row Id=\"1\" />"],
        );
        check(
            "<posts>\n  <row Id=\"1\"\n   Body=\"a\" />\ngarbage here\n  <row Id=\"2\" />\n</posts>",
            &[
                "2: <row Id=\"1\"\nBody=\"a\" />",
                "4: skip not_a_record",
                "5: <row Id=\"2\" />",
            ],
        );
        check(
            "<posts>\n  <row Id=\"1\" />\n  <row Id=\"2\" Bo",
            &["2: <row Id=\"1\" />", "3: skip truncated"],
        );
        check(
            "<posts>\n  <row Id=\"1\" Body=\"x\n  <row Id=\"2\" />\n",
            &["2: skip malformed", "3: <row Id=\"2\" />"],
        );
        check(
            "<posts>\r\n  <row Id=\"1\" />\r\n",
            &["2: <row Id=\"1\" />"],
        );
    }

    #[test]
    fn rows_unescape_attributes_and_keep_encoded_newlines() {
        let row = parse_row(r#"<row Id="7" Body="&lt;p&gt;a &amp; b&lt;/p&gt;&#xA;next" />"#)
            .expect("valid row");
        assert_eq!(row.get("Id"), Some("7"));
        assert_eq!(row.get("Body"), Some("<p>a & b</p>\nnext"));
        assert_eq!(row.get("Title"), None);
    }

    #[test]
    fn broken_rows_are_reported_not_parsed() {
        for broken in [
            r#"<row Id="1" Id="2" />"#,
            r#"<row Id=1 />"#,
            r#"<row Id="1" Body="&bogus;" />"#,
            r#"<row Id="1"></row>"#,
            r#"<user Id="1" />"#,
        ] {
            assert!(parse_row(broken).is_err(), "{broken}");
        }
    }
}
