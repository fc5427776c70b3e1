//! Steward's AI runtime: sentence embedders and LLMs that run in-process on
//! candle, an OpenAI-compatible client for external inference servers, model
//! resolution (directory, cache, hub) and the per-call LLM audit with quotas.
//!
//! Providers are closed enums ([`embed::Embedder`], [`llm::Llm`]): the set is known
//! and each variant is a plain value. Search, Q&A, the knowledge graph,
//! recommendation and generation call this crate; it never calls them.

pub mod audit;
pub mod embed;
mod error;
mod http;
pub mod llm;
pub mod ner;
pub mod openai;
pub mod resolve;

pub use error::{Error, Result};
