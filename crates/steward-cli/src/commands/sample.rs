//! `steward sample`.

use crate::Context;

#[derive(Debug, clap::Args)]
pub struct SampleArgs {}

pub async fn run(_args: SampleArgs, _context: &Context) -> anyhow::Result<()> {
    anyhow::bail!("`steward sample` is not built yet")
}
