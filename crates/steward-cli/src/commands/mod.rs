//! One module per subcommand: its clap arguments (and the config keys its
//! flags set) and a `run` that calls the library crates, built from the
//! config by `steward_runtime::build`, and prints the outcome.

pub mod artifacts;
pub mod ask;
pub mod bench;
mod bench_embed;
mod bench_generate;
mod bench_import;
mod bench_recsys;
mod bench_search;
mod bench_serve;
pub mod config;
pub mod demo;
pub mod dupes;
pub mod embed;
pub mod eval;
pub mod eval_kg;
pub mod eval_ner;
pub mod eval_recsys;
pub mod generate;
pub mod import;
pub mod jobs;
pub mod keys;
pub mod kg;
pub mod llm;
pub mod models;
pub mod recommend;
pub mod sample;
pub mod search;
pub mod serve;
pub mod stats;
pub mod worker;
