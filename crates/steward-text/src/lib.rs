//! Bilingual text processing: HTML to text with code kept apart, tokenization
//! of English, Chinese and code identifiers, and language detection.

pub mod html;
pub mod lang;
pub mod tokenize;
