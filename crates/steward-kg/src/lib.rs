//! The community's knowledge graph: the things its posts are about
//! (languages, libraries, tools, errors, concepts) and how they relate.
//!
//! Data flow: tags, tag synonyms and wiki excerpts seed the entity
//! vocabulary (`vocab`); each post's text is matched against it (a
//! gazetteer over normalised surface forms) and, for names the vocabulary
//! lacks, tagged by the learned sequence tagger (`steward_ml::ner`); the
//! mentions give co-occurrence edges (PMI-weighted) and, sentence by
//! sentence, typed relations (`patterns`), each with its provenance (post,
//! sentence, extractor, confidence), kept in the store. `view` loads the
//! graph into petgraph for queries and algorithms; `gnn` learns node
//! embeddings for link prediction and "related concepts".

pub mod build;
pub mod error;
pub mod extract;
pub mod gazetteer;
pub mod gnn;
pub mod linkpred;
pub mod normalize;
pub mod patterns;
pub mod relation;
pub mod service;
pub mod view;
pub mod vocab;

pub use error::{Error, Result};
