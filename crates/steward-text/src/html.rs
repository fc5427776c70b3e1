//! HTML to plain text, with `<pre>` code blocks kept apart from prose.
//! A hand-rolled single pass over the bytes: the importer's throughput budget has no room for a DOM.

/// A post body split into prose and code.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HtmlText {
    /// Prose with markup removed and entities decoded; inline `<code>` stays in.
    pub text: String,
    /// Contents of each `<pre>` block, in order, entities decoded.
    pub code_blocks: Vec<String>,
}

/// Stack Exchange's editor fills in this alt text when the author gives none; it says nothing
/// about the post and would make "image" and "description" match every post with a picture.
const PLACEHOLDER_IMAGE_ALT: &str = "enter image description here";

/// Longest entity name we try to resolve; anything longer is left verbatim without a lookup.
const MAX_ENTITY_NAME_BYTES: usize = 32;

/// Converts a post body to prose and code blocks.
///
/// Markup is removed; block elements separate text by line breaks (`br`, `li`, `tr`, `div`) or
/// blank lines (`p`, headings, lists, tables, `blockquote`, `pre`, `hr`); whitespace inside a
/// paragraph collapses to one space. `<pre>` content goes to [`HtmlText::code_blocks`] only, with
/// its newlines and indentation intact, because code in an index or a language model's prompt
/// needs different treatment from prose. Malformed input never panics and loses no text: a `<`
/// that does not open a known element (as in `a < b`) and an unterminated tag are kept as text.
pub fn html_to_text(html: &str) -> HtmlText {
    let mut converter = Converter {
        html,
        bytes: html.as_bytes(),
        position: 0,
        prose: ProseWriter::with_capacity(html.len()),
        code: String::new(),
        code_blocks: Vec::new(),
        pre_depth: 0,
    };
    converter.run();
    converter.finish()
}

/// Byte classes for the scanning loop: everything that is not special is copied in runs.
const CLASS_PLAIN: u8 = 0;
const CLASS_TAG_OPEN: u8 = 1;
const CLASS_AMPERSAND: u8 = 2;
const CLASS_WHITESPACE: u8 = 3;

static BYTE_CLASS: [u8; 256] = {
    let mut table = [CLASS_PLAIN; 256];
    table[b'<' as usize] = CLASS_TAG_OPEN;
    table[b'&' as usize] = CLASS_AMPERSAND;
    table[b' ' as usize] = CLASS_WHITESPACE;
    table[b'\t' as usize] = CLASS_WHITESPACE;
    table[b'\n' as usize] = CLASS_WHITESPACE;
    table[b'\r' as usize] = CLASS_WHITESPACE;
    table[0x0c] = CLASS_WHITESPACE;
    table
};

/// How far apart a block element pushes the text around it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Separation {
    None,
    Space,
    LineBreak,
    BlankLine,
}

/// What an element means to the converter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ElementRole {
    /// Markup only (`b`, `a`, `code`, `span`, ...): its text flows on.
    Inline,
    /// Starts and ends a block separated from its neighbours.
    Block(Separation),
    /// Preformatted code: goes to the code blocks.
    Pre,
    /// Content is not text (`script`, `style`): skipped up to the end tag.
    RawSkip,
    /// `<img>`: contributes its alt text.
    Image,
    /// `<br>`: a line break, also inside `<pre>`.
    LineBreak,
}

/// Looks an element name up (already lower-cased). `None` means "not HTML": the `<` is then text,
/// so prose such as `x<y and y>z` survives.
fn element_role(lowercase_name: &[u8]) -> Option<ElementRole> {
    use ElementRole::{Block, Image, Inline, LineBreak, Pre, RawSkip};
    use Separation::{BlankLine, LineBreak as Line, Space};
    let role = match lowercase_name {
        b"p" | b"h1" | b"h2" | b"h3" | b"h4" | b"h5" | b"h6" | b"blockquote" | b"ul" | b"ol"
        | b"table" | b"hr" | b"section" | b"article" | b"header" | b"footer" | b"nav"
        | b"aside" | b"main" | b"figure" | b"dl" | b"details" | b"fieldset" | b"form"
        | b"address" | b"center" | b"thead" | b"tbody" | b"tfoot" | b"caption" | b"menu"
        | b"hgroup" | b"body" | b"html" | b"head" | b"title" | b"noscript" | b"legend"
        | b"listing" | b"plaintext" | b"xmp" => Block(BlankLine),
        b"li" | b"tr" | b"div" | b"dt" | b"dd" | b"figcaption" | b"summary" | b"option"
        | b"textarea" | b"select" | b"iframe" | b"video" | b"audio" | b"object" | b"canvas"
        | b"svg" | b"math" => Block(Line),
        b"td" | b"th" | b"input" | b"button" | b"label" | b"wbr" => Block(Space),
        b"pre" => Pre,
        b"script" | b"style" | b"template" => RawSkip,
        b"img" => Image,
        b"br" => LineBreak,
        b"a" | b"abbr" | b"acronym" | b"b" | b"bdi" | b"bdo" | b"big" | b"blink" | b"cite"
        | b"code" | b"data" | b"del" | b"dfn" | b"em" | b"font" | b"i" | b"ins" | b"kbd"
        | b"mark" | b"meter" | b"nobr" | b"output" | b"progress" | b"q" | b"rp" | b"rt"
        | b"ruby" | b"s" | b"samp" | b"small" | b"span" | b"strike" | b"strong" | b"sub"
        | b"sup" | b"time" | b"tt" | b"u" | b"var" | b"area" | b"map" | b"source" | b"track"
        | b"embed" | b"param" | b"col" | b"colgroup" | b"link" | b"meta" | b"base" | b"picture"
        | b"optgroup" | b"datalist" | b"dialog" | b"slot" | b"marquee" => Inline,
        _ => return None,
    };
    Some(role)
}

/// Prose output: defers spaces and breaks until the next visible character, which collapses runs
/// and trims both ends without a second pass.
#[derive(Debug)]
struct ProseWriter {
    text: String,
    pending: Separation,
}

impl ProseWriter {
    fn with_capacity(capacity: usize) -> ProseWriter {
        ProseWriter {
            text: String::with_capacity(capacity),
            pending: Separation::None,
        }
    }

    fn separate(&mut self, separation: Separation) {
        self.pending = self.pending.max(separation);
    }

    /// Appends visible text (no collapsible whitespace inside).
    fn push_visible(&mut self, visible: &str) {
        if visible.is_empty() {
            return;
        }
        if !self.text.is_empty() {
            match self.pending {
                Separation::None => {}
                Separation::Space => self.text.push(' '),
                Separation::LineBreak => self.text.push('\n'),
                Separation::BlankLine => self.text.push_str("\n\n"),
            }
        }
        self.pending = Separation::None;
        self.text.push_str(visible);
    }

    /// Appends text that may hold whitespace, collapsing it.
    fn push_collapsing(&mut self, text: &str) {
        for (word_index, word) in text.split(is_collapsible).enumerate() {
            if word_index > 0 {
                self.separate(Separation::Space);
            }
            self.push_visible(word);
        }
    }
}

fn is_collapsible(character: char) -> bool {
    matches!(character, ' ' | '\t' | '\n' | '\r' | '\u{0c}' | '\u{a0}')
}

#[derive(Debug)]
struct Converter<'a> {
    html: &'a str,
    bytes: &'a [u8],
    position: usize,
    prose: ProseWriter,
    /// The `<pre>` block being collected.
    code: String,
    code_blocks: Vec<String>,
    /// Nesting depth of `<pre>`; text goes to `code` while it is above zero.
    pre_depth: usize,
}

/// A start or end tag, scanned up to and including its `>`.
#[derive(Debug)]
struct ScannedTag<'a> {
    role: ElementRole,
    is_end: bool,
    /// Where the element name sits in the input, to find a raw-text element's end tag.
    name_start: usize,
    name_end: usize,
    /// The raw (not yet entity-decoded) `alt` attribute value, for `<img>`.
    alt_value: Option<&'a str>,
    /// Position just after the tag's `>`.
    end: usize,
}

impl<'a> Converter<'a> {
    fn run(&mut self) {
        let length = self.bytes.len();
        let mut run_start = self.position;
        while self.position < length {
            let class = BYTE_CLASS[self.bytes[self.position] as usize];
            if class == CLASS_PLAIN || (class == CLASS_WHITESPACE && self.pre_depth > 0) {
                self.position += 1;
                continue;
            }
            // A single space between two visible chars needs no collapsing: copying it with the
            // run saves a flush per word, the bulk of prose.
            let is_single_inner_space = self.bytes[self.position] == b' '
                && self.position > run_start
                && self
                    .bytes
                    .get(self.position + 1)
                    .is_some_and(|&next| BYTE_CLASS[next as usize] == CLASS_PLAIN);
            if is_single_inner_space {
                self.position += 2;
                continue;
            }
            self.flush_run(run_start, self.position);
            match class {
                CLASS_WHITESPACE => {
                    self.prose.separate(Separation::Space);
                    self.position += 1;
                }
                CLASS_AMPERSAND => self.handle_ampersand(),
                _ => self.handle_angle_bracket(),
            }
            run_start = self.position;
        }
        self.flush_run(run_start, length);
    }

    /// Copies `html[start..end]`, which holds no special bytes (whitespace only inside `<pre>`).
    fn flush_run(&mut self, start: usize, end: usize) {
        if start >= end {
            return;
        }
        // Special bytes are ASCII, so run boundaries fall on char boundaries.
        let run = &self.html[start..end];
        if self.pre_depth > 0 {
            self.code.push_str(run);
        } else {
            self.prose.push_visible(run);
        }
    }

    /// Emits text that came from an entity or an attribute.
    fn emit_decoded(&mut self, text: &str) {
        if self.pre_depth > 0 {
            self.code.push_str(text);
        } else {
            self.prose.push_collapsing(text);
        }
    }

    fn emit_literal(&mut self, start: usize, end: usize) {
        let literal = &self.html[start..end];
        self.emit_decoded(literal);
    }

    fn handle_ampersand(&mut self) {
        let start = self.position;
        match decode_entity(&self.bytes[start..]) {
            Some((decoded, consumed)) => {
                let mut buffer = [0u8; 4];
                let decoded_text = decoded.encode_utf8(&mut buffer);
                self.emit_decoded(decoded_text);
                self.position = start + consumed;
            }
            None => {
                self.emit_literal(start, start + 1);
                self.position = start + 1;
            }
        }
    }

    fn handle_angle_bracket(&mut self) {
        let start = self.position;
        let rest = &self.bytes[start..];
        if rest.starts_with(b"<!--") {
            if let Some(close) = find_subslice(&rest[4..], b"-->") {
                self.position = start + 4 + close + 3;
                return;
            }
        } else if rest.len() > 1 && matches!(rest[1], b'!' | b'?') {
            // Doctype, CDATA marker or processing instruction: markup, not text.
            if let Some(close) = rest.iter().position(|&byte| byte == b'>') {
                self.position = start + close + 1;
                return;
            }
        } else if let Some(tag) = scan_tag(self.html, start) {
            self.position = tag.end;
            self.apply_tag(&tag);
            return;
        }
        // Not markup: the `<` is text.
        self.emit_literal(start, start + 1);
        self.position = start + 1;
    }

    fn apply_tag(&mut self, tag: &ScannedTag<'a>) {
        match tag.role {
            ElementRole::Inline => {}
            ElementRole::Block(separation) => {
                if self.pre_depth == 0 {
                    self.prose.separate(separation);
                } else if separation >= Separation::LineBreak {
                    self.code.push('\n');
                }
            }
            ElementRole::LineBreak => {
                if self.pre_depth == 0 {
                    self.prose.separate(Separation::LineBreak);
                } else {
                    self.code.push('\n');
                }
            }
            ElementRole::Pre => {
                if tag.is_end {
                    if self.pre_depth > 0 {
                        self.pre_depth -= 1;
                        if self.pre_depth == 0 {
                            self.finish_code_block();
                        }
                    }
                } else {
                    self.pre_depth += 1;
                }
                self.prose.separate(Separation::BlankLine);
            }
            ElementRole::RawSkip => {
                if !tag.is_end {
                    self.skip_raw_text(tag);
                }
            }
            ElementRole::Image => {
                if let Some(alt) = tag.alt_value {
                    self.emit_image_alt(alt);
                }
            }
        }
    }

    fn emit_image_alt(&mut self, raw_alt: &str) {
        let alt = decode_entities(raw_alt);
        let alt = alt.trim();
        if alt.is_empty() || alt.eq_ignore_ascii_case(PLACEHOLDER_IMAGE_ALT) {
            return;
        }
        if self.pre_depth > 0 {
            self.code.push_str(alt);
        } else {
            self.prose.separate(Separation::Space);
            self.prose.push_collapsing(alt);
            self.prose.separate(Separation::Space);
        }
    }

    /// Skips a `<script>` or `<style>` body up to its end tag (or the end of input, as a browser does).
    fn skip_raw_text(&mut self, tag: &ScannedTag<'a>) {
        let opening_name = &self.bytes[tag.name_start..tag.name_end];
        let mut search_from = self.position;
        while let Some(offset) = find_subslice(&self.bytes[search_from..], b"</") {
            let name_start = search_from + offset + 2;
            let name_end = name_start + opening_name.len();
            if name_end <= self.bytes.len()
                && self.bytes[name_start..name_end].eq_ignore_ascii_case(opening_name)
                && self
                    .bytes
                    .get(name_end)
                    .is_none_or(|&byte| !byte.is_ascii_alphanumeric())
            {
                self.position = match self.bytes[name_end..].iter().position(|&byte| byte == b'>') {
                    Some(close) => name_end + close + 1,
                    None => self.bytes.len(),
                };
                return;
            }
            search_from = name_start;
        }
        self.position = self.bytes.len();
    }

    /// Ends a `<pre>` block: drops leading blank lines and trailing whitespace but keeps the
    /// indentation of the first line, which is part of the code.
    fn finish_code_block(&mut self) {
        let mut code = std::mem::take(&mut self.code);
        let trimmed_end = code.trim_end().len();
        code.truncate(trimmed_end);
        let leading_whitespace = code.len() - code.trim_start().len();
        if let Some(last_newline) = code[..leading_whitespace].rfind('\n') {
            code.drain(..=last_newline);
        }
        if !code.is_empty() {
            self.code_blocks.push(code);
        }
    }

    fn finish(mut self) -> HtmlText {
        if self.pre_depth > 0 {
            // Truncated input: the open `<pre>` still holds code worth keeping.
            self.finish_code_block();
        }
        let mut text = self.prose.text;
        // Only ASCII whitespace is deferred while scanning; other Unicode spaces at the ends
        // (an `&emsp;`-free `\u{2003}`, say) are trimmed here.
        let trimmed = text.trim();
        if trimmed.len() != text.len() {
            text = trimmed.to_owned();
        }
        HtmlText {
            text,
            code_blocks: self.code_blocks,
        }
    }
}

fn find_subslice(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

/// Scans a start or end tag at `start` (which holds `<`). Returns `None` when the bytes are not
/// a tag of a known element or never reach their closing `>`, so the caller keeps them as text.
fn scan_tag(html: &str, start: usize) -> Option<ScannedTag<'_>> {
    let bytes = html.as_bytes();
    let mut cursor = start + 1;
    let is_end = bytes.get(cursor) == Some(&b'/');
    if is_end {
        cursor += 1;
    }
    let name_start = cursor;
    while cursor < bytes.len() && bytes[cursor].is_ascii_alphanumeric() {
        cursor += 1;
    }
    let name_end = cursor;
    let name = &bytes[name_start..name_end];
    if name.is_empty() || !name[0].is_ascii_alphabetic() || name.len() > 16 {
        return None;
    }
    let mut lowercase_name = [0u8; 16];
    for (target, source) in lowercase_name.iter_mut().zip(name) {
        *target = source.to_ascii_lowercase();
    }
    let role = element_role(&lowercase_name[..name.len()])?;
    // The name must end at a delimiter, or `<bold>` would read as `<b>` + "old>".
    match bytes.get(cursor) {
        None => return None,
        Some(byte) if !(byte.is_ascii_whitespace() || *byte == b'>' || *byte == b'/') => {
            return None;
        }
        Some(_) => {}
    }
    let (end, alt_value) = match scan_attributes(html, cursor, role == ElementRole::Image) {
        Some(found) => found,
        None => {
            // An unbalanced quote: fall back to the first `>`, as a forgiving reader would.
            let close = bytes[cursor..].iter().position(|&byte| byte == b'>')?;
            (cursor + close + 1, None)
        }
    };
    Some(ScannedTag {
        role,
        is_end,
        name_start,
        name_end,
        alt_value,
        end,
    })
}

/// Walks attributes from `cursor` to the tag's `>`, honouring quotes (so `title="a>b"` does not
/// end the tag). Returns the position after `>` and, if asked, the raw `alt` value.
fn scan_attributes(
    html: &str,
    mut cursor: usize,
    wants_alt: bool,
) -> Option<(usize, Option<&str>)> {
    let bytes = html.as_bytes();
    let mut alt_value = None;
    loop {
        while cursor < bytes.len() && (bytes[cursor].is_ascii_whitespace() || bytes[cursor] == b'/')
        {
            cursor += 1;
        }
        match bytes.get(cursor) {
            None => return None,
            Some(b'>') => return Some((cursor + 1, alt_value)),
            Some(_) => {}
        }
        let attribute_name_start = cursor;
        while cursor < bytes.len()
            && !matches!(bytes[cursor], b'=' | b'>' | b'/')
            && !bytes[cursor].is_ascii_whitespace()
        {
            cursor += 1;
        }
        let attribute_name = &bytes[attribute_name_start..cursor];
        while cursor < bytes.len() && bytes[cursor].is_ascii_whitespace() {
            cursor += 1;
        }
        if bytes.get(cursor) != Some(&b'=') {
            continue;
        }
        cursor += 1;
        while cursor < bytes.len() && bytes[cursor].is_ascii_whitespace() {
            cursor += 1;
        }
        let (value_start, value_end) = match bytes.get(cursor) {
            None => return None,
            Some(&quote @ (b'"' | b'\'')) => {
                let value_start = cursor + 1;
                let close = bytes[value_start..]
                    .iter()
                    .position(|&byte| byte == quote)?;
                cursor = value_start + close + 1;
                (value_start, value_start + close)
            }
            Some(_) => {
                let value_start = cursor;
                while cursor < bytes.len()
                    && bytes[cursor] != b'>'
                    && !bytes[cursor].is_ascii_whitespace()
                {
                    cursor += 1;
                }
                (value_start, cursor)
            }
        };
        if wants_alt && attribute_name.eq_ignore_ascii_case(b"alt") {
            // Quotes and delimiters are ASCII, so these are char boundaries.
            alt_value = Some(&html[value_start..value_end]);
        }
    }
}

/// Decodes every entity in `text` (used for attribute values).
fn decode_entities(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.contains('&') {
        return std::borrow::Cow::Borrowed(text);
    }
    let bytes = text.as_bytes();
    let mut decoded = String::with_capacity(text.len());
    let mut position = 0;
    let mut copied_up_to = 0;
    while let Some(offset) = bytes[position..].iter().position(|&byte| byte == b'&') {
        let ampersand = position + offset;
        match decode_entity(&bytes[ampersand..]) {
            Some((character, consumed)) => {
                decoded.push_str(&text[copied_up_to..ampersand]);
                decoded.push(character);
                position = ampersand + consumed;
                copied_up_to = position;
            }
            None => position = ampersand + 1,
        }
    }
    decoded.push_str(&text[copied_up_to..]);
    std::borrow::Cow::Owned(decoded)
}

/// Decodes the entity at the start of `bytes` (which holds `&`): returns the character and the
/// bytes consumed, or `None` for an unknown or malformed entity, which stays verbatim.
fn decode_entity(bytes: &[u8]) -> Option<(char, usize)> {
    if bytes.get(1) == Some(&b'#') {
        return decode_numeric_entity(bytes);
    }
    let name_length = bytes[1..]
        .iter()
        .take(MAX_ENTITY_NAME_BYTES + 1)
        .take_while(|byte| byte.is_ascii_alphanumeric())
        .count();
    if name_length == 0 || name_length > MAX_ENTITY_NAME_BYTES {
        return None;
    }
    let name = &bytes[1..1 + name_length];
    if bytes.get(1 + name_length) == Some(&b';') {
        return named_entity(name).map(|character| (character, name_length + 2));
    }
    // HTML still honours a few entities without the semicolon; user-written HTML relies on it.
    let next = bytes.get(1 + name_length);
    if next.is_none_or(|byte| *byte != b'=') {
        let legacy = match name {
            b"amp" | b"AMP" => Some('&'),
            b"lt" | b"LT" => Some('<'),
            b"gt" | b"GT" => Some('>'),
            b"quot" | b"QUOT" => Some('"'),
            b"nbsp" => Some(' '),
            _ => None,
        };
        return legacy.map(|character| (character, name_length + 1));
    }
    None
}

fn decode_numeric_entity(bytes: &[u8]) -> Option<(char, usize)> {
    let is_hex = matches!(bytes.get(2), Some(b'x' | b'X'));
    let digits_start = if is_hex { 3 } else { 2 };
    let radix = if is_hex { 16 } else { 10 };
    let digit_count = bytes[digits_start..]
        .iter()
        .take_while(|byte| {
            if is_hex {
                byte.is_ascii_hexdigit()
            } else {
                byte.is_ascii_digit()
            }
        })
        .count();
    if digit_count == 0 {
        return None;
    }
    let mut value: u32 = 0;
    for &digit in &bytes[digits_start..digits_start + digit_count] {
        let digit_value = (digit as char).to_digit(radix).unwrap_or(0);
        value = value.saturating_mul(radix).saturating_add(digit_value);
    }
    let mut consumed = digits_start + digit_count;
    if bytes.get(consumed) == Some(&b';') {
        consumed += 1;
    }
    let character = match value {
        0 => '\u{fffd}',
        // Browsers read these C1 code points as Windows-1252, which is what authors meant.
        0x80..=0x9f => windows_1252_c1(value),
        _ => char::from_u32(value).unwrap_or('\u{fffd}'),
    };
    Some((character, consumed))
}

fn windows_1252_c1(value: u32) -> char {
    match value {
        0x80 => '€',
        0x82 => '‚',
        0x83 => 'ƒ',
        0x84 => '„',
        0x85 => '…',
        0x86 => '†',
        0x87 => '‡',
        0x88 => 'ˆ',
        0x89 => '‰',
        0x8a => 'Š',
        0x8b => '‹',
        0x8c => 'Œ',
        0x8e => 'Ž',
        0x91 => '‘',
        0x92 => '’',
        0x93 => '“',
        0x94 => '”',
        0x95 => '•',
        0x96 => '–',
        0x97 => '—',
        0x98 => '˜',
        0x99 => '™',
        0x9a => 'š',
        0x9b => '›',
        0x9c => 'œ',
        0x9e => 'ž',
        0x9f => 'Ÿ',
        _ => '\u{fffd}',
    }
}

/// The named entities that appear in real posts: markup escapes, typography, currency, arrows,
/// maths and the Greek alphabet. `&nbsp;` becomes a plain space so it collapses like one.
fn named_entity(name: &[u8]) -> Option<char> {
    let character = match name {
        b"amp" | b"AMP" => '&',
        b"lt" | b"LT" => '<',
        b"gt" | b"GT" => '>',
        b"quot" | b"QUOT" => '"',
        b"apos" => '\'',
        b"nbsp" => ' ',
        b"ensp" | b"emsp" | b"thinsp" => ' ',
        b"zwnj" => '\u{200c}',
        b"zwj" => '\u{200d}',
        b"shy" => '\u{ad}',
        b"copy" | b"COPY" => '©',
        b"reg" | b"REG" => '®',
        b"trade" => '™',
        b"hellip" => '…',
        b"mdash" => '—',
        b"ndash" => '–',
        b"lsquo" => '‘',
        b"rsquo" => '’',
        b"ldquo" => '“',
        b"rdquo" => '”',
        b"sbquo" => '‚',
        b"bdquo" => '„',
        b"laquo" => '«',
        b"raquo" => '»',
        b"lsaquo" => '‹',
        b"rsaquo" => '›',
        b"dagger" => '†',
        b"Dagger" => '‡',
        b"permil" => '‰',
        b"prime" => '′',
        b"Prime" => '″',
        b"bull" => '•',
        b"middot" => '·',
        b"sect" => '§',
        b"para" => '¶',
        b"iexcl" => '¡',
        b"iquest" => '¿',
        b"brvbar" => '¦',
        b"uml" => '¨',
        b"macr" => '¯',
        b"acute" => '´',
        b"cedil" => '¸',
        b"ordf" => 'ª',
        b"ordm" => 'º',
        b"not" => '¬',
        b"euro" => '€',
        b"pound" => '£',
        b"yen" => '¥',
        b"cent" => '¢',
        b"curren" => '¤',
        b"times" => '×',
        b"divide" => '÷',
        b"deg" => '°',
        b"plusmn" => '±',
        b"sup1" => '¹',
        b"sup2" => '²',
        b"sup3" => '³',
        b"frac14" => '¼',
        b"frac12" => '½',
        b"frac34" => '¾',
        b"micro" => 'µ',
        b"larr" => '←',
        b"rarr" => '→',
        b"uarr" => '↑',
        b"darr" => '↓',
        b"harr" => '↔',
        b"lArr" => '⇐',
        b"rArr" => '⇒',
        b"uArr" => '⇑',
        b"dArr" => '⇓',
        b"hArr" => '⇔',
        b"crarr" => '↵',
        b"le" => '≤',
        b"ge" => '≥',
        b"ne" => '≠',
        b"asymp" => '≈',
        b"equiv" => '≡',
        b"infin" => '∞',
        b"sum" => '∑',
        b"prod" => '∏',
        b"radic" => '√',
        b"minus" => '−',
        b"lowast" => '∗',
        b"prop" => '∝',
        b"part" => '∂',
        b"nabla" => '∇',
        b"forall" => '∀',
        b"exist" => '∃',
        b"empty" => '∅',
        b"isin" => '∈',
        b"notin" => '∉',
        b"ni" => '∋',
        b"and" => '∧',
        b"or" => '∨',
        b"cap" => '∩',
        b"cup" => '∪',
        b"int" => '∫',
        b"there4" => '∴',
        b"sim" => '∼',
        b"cong" => '≅',
        b"sub" => '⊂',
        b"sup" => '⊃',
        b"nsub" => '⊄',
        b"sube" => '⊆',
        b"supe" => '⊇',
        b"oplus" => '⊕',
        b"otimes" => '⊗',
        b"perp" => '⊥',
        b"sdot" => '⋅',
        b"lceil" => '⌈',
        b"rceil" => '⌉',
        b"lfloor" => '⌊',
        b"rfloor" => '⌋',
        b"lang" => '⟨',
        b"rang" => '⟩',
        b"loz" => '◊',
        b"spades" => '♠',
        b"clubs" => '♣',
        b"hearts" => '♥',
        b"diams" => '♦',
        b"fnof" => 'ƒ',
        b"circ" => 'ˆ',
        b"tilde" => '˜',
        b"oline" => '‾',
        b"frasl" => '⁄',
        b"weierp" => '℘',
        b"image" => 'ℑ',
        b"real" => 'ℜ',
        b"alefsym" => 'ℵ',
        b"Alpha" => 'Α',
        b"Beta" => 'Β',
        b"Gamma" => 'Γ',
        b"Delta" => 'Δ',
        b"Epsilon" => 'Ε',
        b"Zeta" => 'Ζ',
        b"Eta" => 'Η',
        b"Theta" => 'Θ',
        b"Iota" => 'Ι',
        b"Kappa" => 'Κ',
        b"Lambda" => 'Λ',
        b"Mu" => 'Μ',
        b"Nu" => 'Ν',
        b"Xi" => 'Ξ',
        b"Omicron" => 'Ο',
        b"Pi" => 'Π',
        b"Rho" => 'Ρ',
        b"Sigma" => 'Σ',
        b"Tau" => 'Τ',
        b"Upsilon" => 'Υ',
        b"Phi" => 'Φ',
        b"Chi" => 'Χ',
        b"Psi" => 'Ψ',
        b"Omega" => 'Ω',
        b"alpha" => 'α',
        b"beta" => 'β',
        b"gamma" => 'γ',
        b"delta" => 'δ',
        b"epsilon" => 'ε',
        b"zeta" => 'ζ',
        b"eta" => 'η',
        b"theta" => 'θ',
        b"iota" => 'ι',
        b"kappa" => 'κ',
        b"lambda" => 'λ',
        b"mu" => 'μ',
        b"nu" => 'ν',
        b"xi" => 'ξ',
        b"omicron" => 'ο',
        b"pi" => 'π',
        b"rho" => 'ρ',
        b"sigmaf" => 'ς',
        b"sigma" => 'σ',
        b"tau" => 'τ',
        b"upsilon" => 'υ',
        b"phi" => 'φ',
        b"chi" => 'χ',
        b"psi" => 'ψ',
        b"omega" => 'ω',
        b"thetasym" => 'ϑ',
        b"upsih" => 'ϒ',
        b"piv" => 'ϖ',
        b"Agrave" => 'À',
        b"Aacute" => 'Á',
        b"Acirc" => 'Â',
        b"Atilde" => 'Ã',
        b"Auml" => 'Ä',
        b"Aring" => 'Å',
        b"AElig" => 'Æ',
        b"Ccedil" => 'Ç',
        b"Egrave" => 'È',
        b"Eacute" => 'É',
        b"Ecirc" => 'Ê',
        b"Euml" => 'Ë',
        b"Igrave" => 'Ì',
        b"Iacute" => 'Í',
        b"Icirc" => 'Î',
        b"Iuml" => 'Ï',
        b"ETH" => 'Ð',
        b"Ntilde" => 'Ñ',
        b"Ograve" => 'Ò',
        b"Oacute" => 'Ó',
        b"Ocirc" => 'Ô',
        b"Otilde" => 'Õ',
        b"Ouml" => 'Ö',
        b"Oslash" => 'Ø',
        b"Ugrave" => 'Ù',
        b"Uacute" => 'Ú',
        b"Ucirc" => 'Û',
        b"Uuml" => 'Ü',
        b"Yacute" => 'Ý',
        b"THORN" => 'Þ',
        b"szlig" => 'ß',
        b"agrave" => 'à',
        b"aacute" => 'á',
        b"acirc" => 'â',
        b"atilde" => 'ã',
        b"auml" => 'ä',
        b"aring" => 'å',
        b"aelig" => 'æ',
        b"ccedil" => 'ç',
        b"egrave" => 'è',
        b"eacute" => 'é',
        b"ecirc" => 'ê',
        b"euml" => 'ë',
        b"igrave" => 'ì',
        b"iacute" => 'í',
        b"icirc" => 'î',
        b"iuml" => 'ï',
        b"eth" => 'ð',
        b"ntilde" => 'ñ',
        b"ograve" => 'ò',
        b"oacute" => 'ó',
        b"ocirc" => 'ô',
        b"otilde" => 'õ',
        b"ouml" => 'ö',
        b"oslash" => 'ø',
        b"ugrave" => 'ù',
        b"uacute" => 'ú',
        b"ucirc" => 'û',
        b"uuml" => 'ü',
        b"yacute" => 'ý',
        b"thorn" => 'þ',
        b"yuml" => 'ÿ',
        b"Yuml" => 'Ÿ',
        b"OElig" => 'Œ',
        b"oelig" => 'œ',
        b"Scaron" => 'Š',
        b"scaron" => 'š',
        _ => return None,
    };
    Some(character)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(html: &str, expected_text: &str, expected_code: &[&str]) {
        let converted = html_to_text(html);
        assert_eq!(converted.text, expected_text, "text of {html:?}");
        assert_eq!(
            converted.code_blocks, expected_code,
            "code blocks of {html:?}"
        );
    }

    #[test]
    fn paragraphs_and_line_breaks() {
        check("<p>One</p><p>Two</p>", "One\n\nTwo", &[]);
        check("<p>a<br>b<br/>c</p>", "a\nb\nc", &[]);
        check(
            "<ul><li>x</li><li>y</li></ul><p>after</p>",
            "x\ny\n\nafter",
            &[],
        );
        check("<h2>Title</h2>body", "Title\n\nbody", &[]);
        check(
            "<blockquote><p>quoted</p></blockquote>reply",
            "quoted\n\nreply",
            &[],
        );
        check("<div>a</div><div>b</div>", "a\nb", &[]);
        check(
            "<table><tr><td>1</td><td>2</td></tr><tr><td>3</td></tr></table>",
            "1 2\n3",
            &[],
        );
        check("<p>above</p><hr><p>below</p>", "above\n\nbelow", &[]);
    }

    #[test]
    fn whitespace_collapses_and_ends_are_trimmed() {
        check(
            "  <p>  many \n\t spaces   here </p>\n\n",
            "many spaces here",
            &[],
        );
        check("a&nbsp;&nbsp;b", "a b", &[]);
        check("<p>\n</p>", "", &[]);
        check("", "", &[]);
        check("\u{2003}wide\u{3000}", "wide", &[]);
    }

    #[test]
    fn inline_markup_keeps_its_text() {
        check(
            "<p>Use <code>Vec::new()</code> here</p>",
            "Use Vec::new() here",
            &[],
        );
        check(
            r#"see <a href="https://x.org/?a=1&amp;b=2">the docs</a>."#,
            "see the docs.",
            &[],
        );
        check("<b>bold</b><i>italic</i>", "bolditalic", &[]);
        check(
            "<strong>Note:</strong> <em>read</em> <kbd>Ctrl</kbd>+<kbd>C</kbd>",
            "Note: read Ctrl+C",
            &[],
        );
    }

    #[test]
    fn pre_goes_to_code_blocks_with_indentation() {
        check(
            "<p>Try:</p>\n<pre><code>fn main() {\n    let x = a &lt; b &amp;&amp; c;\n}\n</code></pre>\n<p>Done.</p>",
            "Try:\n\nDone.",
            &["fn main() {\n    let x = a < b && c;\n}"],
        );
        check(
            "<pre>\n    indented first\n  second\n\n</pre>",
            "",
            &["    indented first\n  second"],
        );
        check("<pre>one</pre><pre>two</pre>", "", &["one", "two"]);
        check("<pre><code>a<br>b</code></pre>", "", &["a\nb"]);
        check("<pre>   </pre>text", "text", &[]);
    }

    #[test]
    fn entities_decode() {
        check(
            "&lt;div&gt; &amp; &quot;q&quot; &apos;s&apos;",
            "<div> & \"q\" 's'",
            &[],
        );
        check(
            "&copy; &reg; &trade; &hellip; &mdash; &ndash;",
            "© ® ™ … — –",
            &[],
        );
        check(
            "&lsquo;a&rsquo; &ldquo;b&rdquo; &laquo;c&raquo;",
            "‘a’ “b” «c»",
            &[],
        );
        check(
            "&euro;5 &pound;4 &yen;3 &cent;2 &deg; &plusmn; &times; &divide;",
            "€5 £4 ¥3 ¢2 ° ± × ÷",
            &[],
        );
        check(
            "&larr; &rarr; &le; &ge; &ne; &asymp; &infin; &sum; &radic; &micro;",
            "← → ≤ ≥ ≠ ≈ ∞ ∑ √ µ",
            &[],
        );
        check("&alpha;&beta;&Gamma;&omega;&Omega;", "αβΓωΩ", &[]);
        check("&#65;&#x42;&#X43; &#20013;&#x6587;", "ABC 中文", &[]);
        check(
            "&#0; &#xD800; &#x110000; &#99999999999;",
            "\u{fffd} \u{fffd} \u{fffd} \u{fffd}",
            &[],
        );
        check("&#150;", "–", &[]);
    }

    #[test]
    fn unknown_or_malformed_entities_stay_verbatim() {
        check(
            "&bogus; & &; &#; &#x; AT&T",
            "&bogus; & &; &#; &#x; AT&T",
            &[],
        );
        check("fish &amp chips &ltx", "fish & chips &ltx", &[]);
    }

    #[test]
    fn images_give_alt_text() {
        check(
            r#"see <img src="a.png" alt="the loss curve"> above"#,
            "see the loss curve above",
            &[],
        );
        check(r#"<img alt='a &gt; b' src=x>"#, "a > b", &[]);
        check(
            r#"<a href="x"><img src="i.png" alt="enter image description here"></a>"#,
            "",
            &[],
        );
        check("<img src=x.png>", "", &[]);
    }

    #[test]
    fn script_and_style_are_dropped() {
        check("a<script>var x = '<p>';</script>b", "ab", &[]);
        check("a<STYLE type=\"text/css\">p { x: 1 }</Style >b", "ab", &[]);
        check("a<script>never closed", "a", &[]);
        check("<!-- note --><p>kept</p><!DOCTYPE html>", "kept", &[]);
    }

    #[test]
    fn malformed_html_loses_no_text() {
        check("a < b and c > d", "a < b and c > d", &[]);
        check("if x<y then", "if x<y then", &[]);
        check("std::vector<int> v;", "std::vector<int> v;", &[]);
        check("truncated <p", "truncated <p", &[]);
        check("<p>unclosed paragraph", "unclosed paragraph", &[]);
        check(r##"<a title="x > y" href="#">link</a>"##, "link", &[]);
        check(r#"<a title="unbalanced>text</a>"#, "text", &[]);
        check("<pre>unclosed code", "", &["unclosed code"]);
        check("<bold>not a tag</bold>", "<bold>not a tag</bold>", &[]);
        check("</p>stray end", "stray end", &[]);
        check("<!-- open comment", "<!-- open comment", &[]);
        check("<", "<", &[]);
        check("&", "&", &[]);
        check("中文<p>段落</p>", "中文\n\n段落", &[]);
    }
}
