//! `steward models`.

use crate::Context;

#[derive(Debug, clap::Subcommand)]
pub enum ModelsCommand {}

pub async fn run(command: ModelsCommand, _context: &Context) -> anyhow::Result<()> {
    match command {}
}
