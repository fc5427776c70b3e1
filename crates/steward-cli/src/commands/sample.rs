//! `steward sample`: writes a synthetic community in Stack Exchange dump format.

use std::path::PathBuf;

use anyhow::Context as _;
use steward_sample::{SampleConfig, generate};

use crate::Context;

#[derive(Debug, clap::Args)]
pub struct SampleArgs {
    /// Folder to write Users.xml, Posts.xml, ... into (created if missing).
    #[arg(long)]
    pub out: PathBuf,
    /// Number of users.
    #[arg(long, default_value_t = 1_000)]
    pub users: u32,
    /// Random seed: the same seed gives byte-identical files.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Number of questions (default: 3 per 5 users).
    #[arg(long)]
    pub questions: Option<u64>,
    /// Keep writing questions until Posts.xml reaches this many megabytes.
    #[arg(long)]
    pub target_posts_mb: Option<u64>,
    /// Share of questions written in Chinese.
    #[arg(long, default_value_t = 0.1)]
    pub chinese_share: f64,
    /// Print the summary as one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
}

impl SampleArgs {
    /// What `steward sample --out OUT --users USERS --seed SEED` gets, for
    /// commands that write a sample themselves (`demo`).
    pub fn new(out: PathBuf, users: u32, seed: u64) -> SampleArgs {
        let defaults = SampleConfig::new(users, seed);
        SampleArgs {
            out,
            users,
            seed,
            questions: defaults.questions,
            target_posts_mb: None,
            chinese_share: defaults.chinese_share,
            json: false,
        }
    }
}

pub async fn run(args: SampleArgs, _context: &Context) -> anyhow::Result<()> {
    let config = SampleConfig {
        users: args.users,
        seed: args.seed,
        questions: args.questions,
        target_posts_bytes: args.target_posts_mb.map(|megabytes| megabytes * 1_000_000),
        chinese_share: args.chinese_share,
    };
    let out = args.out.clone();
    let summary = tokio::task::spawn_blocking(move || generate(&out, &config))
        .await
        .context("the sample generator stopped unexpectedly")?
        .with_context(|| format!("writing the sample community to {}", args.out.display()))?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string(&summary).context("serializing the summary")?
        );
        return Ok(());
    }
    println!(
        "Wrote a sample community to {}: {} users, {} questions ({} in Chinese), {} answers ({} accepted), {} comments, {} votes ({} favorites), {} links ({} duplicates), {} badges, {} tags",
        summary.out_dir.display(),
        summary.users,
        summary.questions,
        summary.chinese_questions,
        summary.answers,
        summary.accepted_answers,
        summary.comments,
        summary.votes,
        summary.favorites,
        summary.post_links,
        summary.duplicate_links,
        summary.badges,
        summary.tags,
    );
    for file in &summary.files {
        println!(
            "  {:<16} {:>10} rows {:>10.1} MB",
            file.name,
            file.rows,
            file.bytes as f64 / 1e6
        );
    }
    println!(
        "Import it with: steward import stackexchange {}",
        summary.out_dir.display()
    );
    Ok(())
}
