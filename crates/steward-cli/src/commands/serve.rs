//! `steward serve`.

use crate::Context;

#[derive(Debug, clap::Args)]
pub struct ServeArgs {}

pub async fn run(_args: ServeArgs, _context: &Context) -> anyhow::Result<()> {
    anyhow::bail!("`steward serve` is not built yet")
}
