//! Language detection per post.

/// STUB (being written): ISO 639-1 code of the main language of `text`.
pub fn detect(_text: &str) -> Option<&'static str> {
    None
}
