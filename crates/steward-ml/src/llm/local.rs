//! In-process GGUF models on candle (quantized llama and qwen2).

/// STUB (being written by the LLM work).
#[derive(Debug, Clone)]
pub struct LocalLlm {}
