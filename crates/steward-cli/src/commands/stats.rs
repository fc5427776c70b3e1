//! `steward stats`.

use crate::Context;

#[derive(Debug, clap::Args)]
pub struct StatsArgs {}

pub async fn run(_args: StatsArgs, _context: &Context) -> anyhow::Result<()> {
    anyhow::bail!("`steward stats` is not built yet")
}
