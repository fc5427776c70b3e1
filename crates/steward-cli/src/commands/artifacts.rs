//! `steward artifacts`: the registry of trained models and indices: what is
//! stored, which version is served, and promoting or rolling back a version.

use anyhow::{Context as _, bail};
use steward_store::{ArtifactLocation, ArtifactVersion, Store};

use crate::Context;

#[derive(Debug, clap::Subcommand)]
pub enum ArtifactsCommand {
    /// One line per artifact: its promoted version (else the newest), how many
    /// versions it has, and the change-feed position it was built from.
    List(ListArgs),
    /// Every version of one artifact: metadata, metrics, checksum, location.
    Show(ShowArgs),
    /// Serve VERSION of NAME from now on.
    Promote(PromoteArgs),
    /// Serve again the version of NAME promoted before the current one.
    Rollback(RollbackArgs),
}

#[derive(Debug, clap::Args)]
pub struct ListArgs {
    /// Print one JSON object instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
pub struct ShowArgs {
    /// The artifact's name (see `steward artifacts list`).
    name: String,
    /// Only this version.
    #[arg(long)]
    version: Option<i64>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
pub struct PromoteArgs {
    name: String,
    version: i64,
}

#[derive(Debug, clap::Args)]
pub struct RollbackArgs {
    name: String,
}

pub async fn run(command: ArtifactsCommand, context: &Context) -> anyhow::Result<()> {
    let store = steward_runtime::build::open_store(&context.config).await?;
    let outcome = match command {
        ArtifactsCommand::List(args) => list(&store, args.json).await,
        ArtifactsCommand::Show(args) => show(&store, &args).await,
        ArtifactsCommand::Promote(args) => promote(&store, &args.name, args.version).await,
        ArtifactsCommand::Rollback(args) => rollback(&store, &args.name).await,
    };
    store.close().await;
    outcome
}

async fn list(store: &Store, json: bool) -> anyhow::Result<()> {
    let head = store
        .latest_change_seq()
        .await
        .context("reading the change feed")?;
    let names = store.artifact_names().await.context("listing artifacts")?;
    let mut rows = Vec::with_capacity(names.len());
    for shown in names {
        let versions = store
            .artifact_versions(&shown.name)
            .await
            .with_context(|| format!("listing the versions of {}", shown.name))?
            .len();
        rows.push((shown, versions));
    }
    if json {
        let artifacts: Vec<serde_json::Value> = rows
            .iter()
            .map(|(shown, versions)| {
                serde_json::json!({
                    "name": shown.name,
                    "kind": shown.kind,
                    "promoted_version": shown.promoted.then_some(shown.version),
                    "version": shown.version,
                    "versions": versions,
                    "size_bytes": shown.size_bytes,
                    "created_at": shown.created_at.to_rfc3339(),
                    "feed_seq": shown.feed_seq,
                    "sha256": shown.sha256,
                })
            })
            .collect();
        let report = serde_json::json!({ "feed_seq": head, "artifacts": artifacts });
        println!("{report}");
        return Ok(());
    }
    if rows.is_empty() {
        println!("no artifacts yet: `steward embed --all --model lsa` trains the LSA model");
        return Ok(());
    }
    println!(
        "{:<24} {:<16} {:>8} {:>8} {:>10}  {:<20} built at",
        "name", "kind", "promoted", "versions", "size", "created"
    );
    for (shown, versions) in &rows {
        let promoted = if shown.promoted {
            format!("v{}", shown.version)
        } else {
            "none".to_string()
        };
        println!(
            "{:<24} {:<16} {:>8} {:>8} {:>10}  {:<20} {}",
            shown.name,
            shown.kind,
            promoted,
            versions,
            size(shown.size_bytes),
            shown.created_at.format("%Y-%m-%d %H:%M:%S"),
            built_at(shown.feed_seq, head),
        );
    }
    Ok(())
}

async fn show(store: &Store, args: &ShowArgs) -> anyhow::Result<()> {
    let mut versions = known_versions(store, &args.name).await?;
    if let Some(version) = args.version {
        versions.retain(|stored| stored.version == version);
        if versions.is_empty() {
            bail!("{}", unknown_version(store, &args.name, version).await?);
        }
    }
    let head = store
        .latest_change_seq()
        .await
        .context("reading the change feed")?;
    if args.json {
        let report = serde_json::json!({
            "name": args.name,
            "feed_seq": head,
            "versions": versions.iter().map(version_json).collect::<Vec<_>>(),
        });
        println!("{report}");
        return Ok(());
    }
    for (index, stored) in versions.iter().enumerate() {
        if index > 0 {
            println!();
        }
        println!(
            "{} v{}{}",
            stored.name,
            stored.version,
            if stored.promoted { " (promoted)" } else { "" }
        );
        println!("  kind      {}", stored.kind);
        println!(
            "  created   {}",
            stored.created_at.format("%Y-%m-%d %H:%M:%S UTC")
        );
        println!("  built at  {}", built_at(stored.feed_seq, head));
        println!(
            "  size      {} ({} bytes)",
            size(stored.size_bytes),
            stored.size_bytes
        );
        println!("  sha256    {}", stored.sha256);
        println!("  location  {}", location(&stored.location));
        println!("  metadata  {}", stored.metadata);
        println!("  metrics   {}", stored.metrics);
    }
    Ok(())
}

async fn promote(store: &Store, name: &str, version: i64) -> anyhow::Result<()> {
    let versions = known_versions(store, name).await?;
    let before = versions.iter().find(|stored| stored.promoted);
    if !versions.iter().any(|stored| stored.version == version) {
        bail!("{}", unknown_version(store, name, version).await?);
    }
    let promoted = store
        .promote_artifact(name, version)
        .await
        .with_context(|| format!("promoting {name} v{version}"))?;
    match before {
        Some(before) if before.version == promoted.version => {
            println!("{name} v{version} was already promoted");
        }
        Some(before) => println!(
            "{name} v{} promoted (was v{}); `steward artifacts rollback {name}` undoes it",
            promoted.version, before.version
        ),
        None => println!("{name} v{} promoted", promoted.version),
    }
    Ok(())
}

async fn rollback(store: &Store, name: &str) -> anyhow::Result<()> {
    let versions = known_versions(store, name).await?;
    let before = versions.iter().find(|stored| stored.promoted);
    let promoted = match store.rollback_artifact(name).await {
        Ok(promoted) => promoted,
        Err(steward_store::Error::NothingToRollBack { .. }) => bail!(
            "{name} has no earlier promotion to return to; `steward artifacts show {name}` lists \
             its versions and `steward artifacts promote {name} VERSION` serves one"
        ),
        Err(error) => return Err(error).with_context(|| format!("rolling back {name}")),
    };
    match before {
        Some(before) => println!(
            "{name} v{} promoted again (was v{})",
            promoted.version, before.version
        ),
        None => println!("{name} v{} promoted again", promoted.version),
    }
    Ok(())
}

/// The versions of `name`, newest first; an error naming the known artifacts
/// when there are none.
async fn known_versions(store: &Store, name: &str) -> anyhow::Result<Vec<ArtifactVersion>> {
    let versions = store
        .artifact_versions(name)
        .await
        .with_context(|| format!("listing the versions of {name}"))?;
    if !versions.is_empty() {
        return Ok(versions);
    }
    let known: Vec<String> = store
        .artifact_names()
        .await
        .context("listing artifacts")?
        .into_iter()
        .map(|stored| stored.name)
        .collect();
    if known.is_empty() {
        bail!(
            "no artifact named `{name}`: there are no artifacts yet (`steward embed --all --model \
             lsa` trains the LSA model)"
        );
    }
    bail!(
        "no artifact named `{name}`; known: {} (see `steward artifacts list`)",
        known.join(", ")
    )
}

async fn unknown_version(store: &Store, name: &str, version: i64) -> anyhow::Result<String> {
    let versions: Vec<String> = store
        .artifact_versions(name)
        .await
        .with_context(|| format!("listing the versions of {name}"))?
        .iter()
        .rev()
        .map(|stored| format!("v{}", stored.version))
        .collect();
    Ok(format!(
        "{name} has no version {version}; it has {} (see `steward artifacts show {name}`)",
        versions.join(", ")
    ))
}

/// One version as `artifacts show --json` prints it (keys in docs/cli.md).
fn version_json(stored: &ArtifactVersion) -> serde_json::Value {
    serde_json::json!({
        "version": stored.version,
        "kind": stored.kind,
        "promoted": stored.promoted,
        "created_at": stored.created_at.to_rfc3339(),
        "feed_seq": stored.feed_seq,
        "size_bytes": stored.size_bytes,
        "sha256": stored.sha256,
        "location": location(&stored.location),
        "metadata": stored.metadata,
        "metrics": stored.metrics,
    })
}

fn location(location: &ArtifactLocation) -> String {
    match location {
        ArtifactLocation::Inline => "inline".to_string(),
        ArtifactLocation::File(path) => path.display().to_string(),
    }
}

/// The change-feed position an artifact reflects, and where the feed is now
/// (the artifact knows nothing of the changes in between).
fn built_at(feed_seq: Option<i64>, head: i64) -> String {
    match feed_seq {
        Some(seq) if seq >= head => format!("seq {seq} (current)"),
        Some(seq) => format!("seq {seq} (feed now at {head})"),
        None => "unknown".to_string(),
    }
}

fn size(bytes: i64) -> String {
    let bytes = bytes as f64;
    if bytes >= 1e6 {
        format!("{:.1} MB", bytes / 1e6)
    } else if bytes >= 1e3 {
        format!("{:.1} kB", bytes / 1e3)
    } else {
        format!("{bytes} B")
    }
}
