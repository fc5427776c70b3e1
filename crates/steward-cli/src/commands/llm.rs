//! `steward llm`.

use crate::Context;

#[derive(Debug, clap::Subcommand)]
pub enum LlmCommand {}

pub async fn run(command: LlmCommand, _context: &Context) -> anyhow::Result<()> {
    match command {}
}
