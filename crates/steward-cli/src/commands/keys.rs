//! `steward keys`: make, list and revoke the API keys clients send as
//! `Authorization: Bearer KEY`. A key is printed once, when it is made.

use std::time::Duration;

use anyhow::Context as _;
use steward_auth::{Permission, Role, ServerSecret, auth_secret, create_key};
use steward_server::dto::{CreatedKey, KeyDto, KeyList};
use steward_store::Store;

use crate::Context;

/// Longest lifetime `--expires-in-days` takes (a hundred years).
const MAX_EXPIRES_IN_DAYS: u32 = 36_500;

#[derive(Debug, clap::Subcommand)]
pub enum KeysCommand {
    /// Make a key and print it (once: it cannot be shown again).
    Create(CreateArgs),
    /// List the keys: id, role, state, dates. Never secrets.
    List(ListArgs),
    /// Revoke a key: servers refuse it within seconds.
    Revoke(RevokeArgs),
}

#[derive(Debug, clap::Args)]
pub struct CreateArgs {
    /// admin, moderator, analyst, member or service.
    #[arg(long, value_parser = parse_role)]
    role: Role,

    /// What the key is for (default: "<role> key").
    #[arg(long)]
    name: Option<String>,

    /// Limit the key to this permission (repeatable): read_community,
    /// write_events, use_llm, read_llm_usage, manage_keys, read_jobs, run_jobs.
    /// Default: all its role allows.
    #[arg(long = "scope", value_name = "PERMISSION", value_parser = parse_scope)]
    scopes: Vec<Permission>,

    /// Days until the key expires (default: never).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_EXPIRES_IN_DAYS)))]
    expires_in_days: Option<u32>,

    /// Print one JSON object (with the key in `key`) instead of the key alone.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
pub struct ListArgs {
    /// Print one JSON object (`{"items": [...]}`) instead of the table.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
pub struct RevokeArgs {
    /// The key's id (the part after `stw_`, as `keys list` shows it).
    id: String,

    /// Print the revoked key as one JSON object.
    #[arg(long)]
    json: bool,
}

fn parse_role(text: &str) -> Result<Role, String> {
    text.parse()
        .map_err(|error: steward_auth::Error| error.to_string())
}

fn parse_scope(text: &str) -> Result<Permission, String> {
    text.parse()
        .map_err(|error: steward_auth::Error| error.to_string())
}

pub async fn run(command: KeysCommand, context: &Context) -> anyhow::Result<()> {
    match command {
        KeysCommand::Create(args) => {
            // Before the store is opened (and perhaps migrated): a missing
            // secret is the operator's first thing to fix.
            let secret = server_secret(context)?;
            create(args, &secret, &open(context).await?).await
        }
        KeysCommand::List(args) => list(args, &open(context).await?).await,
        KeysCommand::Revoke(args) => revoke(args, &open(context).await?).await,
    }
}

/// The secret API keys are hashed with: `auth.secret` (a config file,
/// `STEWARD_AUTH__SECRET` or `STEWARD_AUTH_SECRET`), else the file beside a
/// SQLite database. The one place commands get it.
pub(crate) fn server_secret(context: &Context) -> anyhow::Result<ServerSecret> {
    let config = &context.config;
    let configured = config.auth.secret.as_ref().map(|secret| secret.expose());
    auth_secret(configured, &config.database.url)
        .context("finding the server secret that API keys are hashed with (auth.secret)")
}

async fn open(context: &Context) -> anyhow::Result<Store> {
    Ok(steward_runtime::build::open_store(&context.config).await?)
}

async fn create(args: CreateArgs, secret: &ServerSecret, store: &Store) -> anyhow::Result<()> {
    let name = args
        .name
        .filter(|name| !name.trim().is_empty())
        .unwrap_or_else(|| format!("{} key", args.role));
    let expires_in = args
        .expires_in_days
        .map(|days| Duration::from_secs(u64::from(days) * 86_400));
    let (key, record) = create_key(store, secret, &name, args.role, &args.scopes, expires_in)
        .await
        .context("storing the new key")?;
    let created = CreatedKey {
        key,
        info: KeyDto::of(&record, chrono::Utc::now()),
    };
    if args.json {
        println!("{}", serde_json::to_string(&created)?);
        return Ok(());
    }
    let expiry = created
        .info
        .expires_at
        .as_deref()
        .map_or("never expires".to_string(), |at| format!("expires {at}"));
    eprintln!(
        "Created {} key {} ({}, {expiry}). It is shown once; keep it now.",
        created.info.role, created.info.id, created.info.name
    );
    println!("{}", created.key);
    eprintln!("Clients send it as: Authorization: Bearer <key>");
    Ok(())
}

async fn list(args: ListArgs, store: &Store) -> anyhow::Result<()> {
    let now = chrono::Utc::now();
    let records = store.api_keys().await.context("listing API keys")?;
    let keys = KeyList {
        items: records
            .iter()
            .map(|record| KeyDto::of(record, now))
            .collect(),
    };
    if args.json {
        println!("{}", serde_json::to_string(&keys)?);
    } else {
        print!("{}", render(&keys.items));
    }
    Ok(())
}

async fn revoke(args: RevokeArgs, store: &Store) -> anyhow::Result<()> {
    let newly = store
        .revoke_api_key(&args.id)
        .await
        .context("revoking the key")?;
    let record = store
        .api_key(&args.id)
        .await
        .context("reading the key")?
        .with_context(|| format!("no API key `{}` (see `steward keys list`)", args.id))?;
    let key = KeyDto::of(&record, chrono::Utc::now());
    if args.json {
        println!("{}", serde_json::to_string(&key)?);
    } else if newly {
        println!(
            "Revoked key {}; running servers refuse it within {} s.",
            key.id,
            steward_auth::DEFAULT_CACHE_TTL.as_secs()
        );
    } else {
        println!(
            "Key {} was already revoked (at {}).",
            key.id,
            key.revoked_at.as_deref().unwrap_or("?")
        );
    }
    Ok(())
}

fn render(keys: &[KeyDto]) -> String {
    if keys.is_empty() {
        return "No API keys. Make one with `steward keys create --role admin`.\n".to_string();
    }
    let rows: Vec<[String; 7]> = keys
        .iter()
        .map(|key| {
            [
                key.id.clone(),
                key.role.clone(),
                key.state.to_string(),
                key.name.clone(),
                key.created_at.clone(),
                key.expires_at.clone().unwrap_or_else(|| "never".into()),
                key.last_used_at.clone().unwrap_or_else(|| "never".into()),
            ]
        })
        .collect();
    let header = [
        "ID",
        "ROLE",
        "STATE",
        "NAME",
        "CREATED",
        "EXPIRES",
        "LAST USED",
    ]
    .map(str::to_string);
    let mut widths = header.clone().map(|cell| cell.chars().count());
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in std::iter::once(&header).chain(&rows) {
        let cells: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_lines_up_and_shows_no_secret() {
        let key = KeyDto {
            id: "abcdefghijkl".into(),
            name: "ingest bot".into(),
            role: "service".into(),
            scopes: Vec::new(),
            state: "active",
            created_at: "2024-01-01T00:00:00Z".into(),
            expires_at: None,
            revoked_at: None,
            last_used_at: None,
        };
        let table = render(&[key]);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 2, "{table}");
        assert!(
            lines[0].starts_with("ID            ROLE     STATE"),
            "{table}"
        );
        assert!(
            lines[1].starts_with("abcdefghijkl  service  active"),
            "{table}"
        );
        assert!(render(&[]).contains("steward keys create"));
    }
}
