//! `steward import`.

use crate::Context;

#[derive(Debug, clap::Subcommand)]
pub enum ImportCommand {}

pub async fn run(command: ImportCommand, _context: &Context) -> anyhow::Result<()> {
    match command {}
}
