//! Reads the Stack Overflow NER corpus: CoNLL lines `word \t entity-tag \t word \t markdown-tag`
//! (the last two optional), a blank line after each sentence, under a [`Protocol`].

use std::path::Path;

use super::{NerError, NerToken, Protocol, Result, Sentence, split_tag};

/// The sentences of a CoNLL file; a malformed line is an error naming `file:line`.
pub fn read(path: &Path, protocol: &Protocol) -> Result<Vec<Sentence>> {
    let text = std::fs::read_to_string(path).map_err(|source| NerError::Io {
        path: path.display().to_string(),
        source,
    })?;
    parse(&text, &path.display().to_string(), protocol)
}

/// The sentences of CoNLL `text`; `origin` names it in errors (`origin:line: reason`).
pub fn parse(text: &str, origin: &str, protocol: &Protocol) -> Result<Vec<Sentence>> {
    let mut sentences = Vec::new();
    let mut tokens = Vec::new();
    let mut tags = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.trim().is_empty() {
            finish(&mut tokens, &mut tags, protocol, &mut sentences);
            continue;
        }
        let malformed = |reason: String| NerError::Malformed {
            origin: origin.to_string(),
            line: index + 1,
            reason,
        };
        let fields: Vec<&str> = line.split('\t').collect();
        if fields.len() != 2 && fields.len() != 4 {
            return Err(malformed(format!(
                "expected `word<TAB>tag` or `word<TAB>tag<TAB>word<TAB>markdown-tag`, found {} column(s)",
                fields.len()
            )));
        }
        let word = fields[0].trim();
        if word.is_empty() {
            return Err(malformed("the word column is empty".to_string()));
        }
        let tag = fields[1].trim();
        check_tag(tag).map_err(|reason| malformed(format!("entity tag: {reason}")))?;
        let markdown = fields.get(3).map(|field| field.trim()).unwrap_or("O");
        check_tag(markdown).map_err(|reason| malformed(format!("markdown tag: {reason}")))?;
        let (_, markdown_kind) = split_tag(markdown);
        tokens.push(NerToken {
            // The corpus writes a space inside a token as `-----`.
            text: word.replace("-----", " "),
            in_code: matches!(markdown_kind, "Code_Block" | "Output_Block"),
        });
        tags.push(map_tag(tag, protocol));
    }
    finish(&mut tokens, &mut tags, protocol, &mut sentences);
    Ok(sentences)
}

fn check_tag(tag: &str) -> Result<(), String> {
    let (prefix, _) = split_tag(tag);
    if prefix == 'O' && tag != "O" {
        return Err(format!("`{tag}` is not O, B-TYPE or I-TYPE"));
    }
    Ok(())
}

/// The tag under the protocol's type merges.
fn map_tag(tag: &str, protocol: &Protocol) -> String {
    let (prefix, kind) = split_tag(tag);
    if prefix == 'O' {
        return "O".to_string();
    }
    let kind = if protocol.merge_types {
        match kind {
            "Library_Function" | "Function_Name" => "Function",
            "Class_Name" | "Library_Class" => "Class",
            "Library_Variable" | "Variable_Name" => "Variable",
            "Organization" => "Website",
            "Value" | "Error_Name" | "Keyboard_IP" | "Licence" => return "O".to_string(),
            other => other,
        }
    } else {
        kind
    };
    format!("{prefix}-{kind}")
}

/// Ends the sentence being read: kept unless the protocol drops it, with its tags made valid BIO.
fn finish(
    tokens: &mut Vec<NerToken>,
    tags: &mut Vec<String>,
    protocol: &Protocol,
    sentences: &mut Vec<Sentence>,
) {
    if tokens.is_empty() {
        return;
    }
    let tokens = std::mem::take(tokens);
    let mut tags = std::mem::take(tags);
    if protocol.skip_placeholders && is_placeholder(&tokens) {
        return;
    }
    repair_bio(&mut tags);
    sentences.push(Sentence { tokens, tags });
}

/// The paper's test (`loader_so.py`), on the sentence's words joined by spaces.
fn is_placeholder(tokens: &[NerToken]) -> bool {
    let joined = tokens
        .iter()
        .map(|token| token.text.as_str())
        .collect::<Vec<_>>()
        .join(" ");
    (joined.contains("code omitted for annotation") && joined.contains("CODE_BLOCK :"))
        || (joined.contains("omitted for annotation") && joined.contains("OP_BLOCK :"))
        || joined.contains("Question_URL :")
        || joined.contains("Question_ID :")
        || joined.contains("Answer_URL :")
}

/// An `I-X` that continues nothing becomes `B-X`, as `conlleval` reads it, so that gold and
/// predicted sequences are both valid BIO.
pub(crate) fn repair_bio(tags: &mut [String]) {
    let mut previous_kind = String::new();
    for tag in tags.iter_mut() {
        let (prefix, kind) = split_tag(tag);
        let kind = kind.to_string();
        if prefix == 'I' && kind != previous_kind {
            *tag = format!("B-{kind}");
        }
        previous_kind = kind;
    }
}
