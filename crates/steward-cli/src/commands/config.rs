//! `steward config`: the effective configuration with each value's origin,
//! and a check that exits non-zero (naming the key) when it is invalid.

use crate::Context;

#[derive(Debug, clap::Subcommand)]
pub enum ConfigCommand {
    /// Print every key's effective value and where it came from (default, file,
    /// env or flag); secrets are masked.
    Show(ShowArgs),
    /// Validate the configuration (file, environment and flags) and say which
    /// file was read.
    Check,
}

#[derive(Debug, clap::Args)]
pub struct ShowArgs {
    /// Print one JSON object: {"file", "values": {KEY: {"value", "origin"}}}.
    #[arg(long)]
    json: bool,
}

/// The configuration was loaded and checked before any command runs, so both
/// subcommands only report it.
pub fn run(command: ConfigCommand, context: &Context) -> anyhow::Result<()> {
    let config = &context.config;
    match command {
        ConfigCommand::Show(args) if args.json => println!("{}", config.show_json()),
        ConfigCommand::Show(_) => print!("{}", config.show()),
        ConfigCommand::Check => match config.file() {
            Some(file) => println!("configuration is valid (file {})", file.display()),
            None => println!(
                "configuration is valid (no config file: built-in defaults, environment and flags)"
            ),
        },
    }
    Ok(())
}
