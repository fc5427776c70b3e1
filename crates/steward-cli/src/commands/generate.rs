//! `steward generate`.

use crate::Context;

#[derive(Debug, clap::Args)]
pub struct GenerateArgs {}

pub async fn run(_args: GenerateArgs, _context: &Context) -> anyhow::Result<()> {
    anyhow::bail!("`steward generate` is not built yet")
}
