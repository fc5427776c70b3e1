//! `steward bench`.

use crate::Context;

#[derive(Debug, clap::Subcommand)]
pub enum BenchCommand {}

pub async fn run(command: BenchCommand, _context: &Context) -> anyhow::Result<()> {
    match command {}
}
