//! `steward demo`.

use crate::Context;

#[derive(Debug, clap::Args)]
pub struct DemoArgs {}

pub async fn run(_args: DemoArgs, _context: &Context) -> anyhow::Result<()> {
    anyhow::bail!("`steward demo` is not built yet")
}
