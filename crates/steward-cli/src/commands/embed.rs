//! `steward embed`.

use crate::Context;

#[derive(Debug, clap::Args)]
pub struct EmbedArgs {}

pub async fn run(_args: EmbedArgs, _context: &Context) -> anyhow::Result<()> {
    anyhow::bail!("`steward embed` is not built yet")
}
