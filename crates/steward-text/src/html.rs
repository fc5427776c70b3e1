//! HTML to plain text, with `<pre>` code blocks kept apart from prose.

/// A post body split into prose and code.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HtmlText {
    /// Prose with markup removed and entities decoded; inline `<code>` stays in.
    pub text: String,
    /// Contents of each `<pre>` block, in order, entities decoded.
    pub code_blocks: Vec<String>,
}

/// STUB (being written): converts `html` to [`HtmlText`].
pub fn html_to_text(html: &str) -> HtmlText {
    HtmlText {
        text: html.to_string(),
        code_blocks: Vec::new(),
    }
}
