//! OpenAI-compatible wire types (chat completions, embeddings, SSE chunks) and
//! the HTTP client that speaks them.

/// STUB (being written by the server/OpenAI work).
#[derive(Debug, Clone)]
pub struct OpenAiClient {}
