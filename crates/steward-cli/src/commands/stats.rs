//! `steward stats`: counts, date range, top tags and answer rate of the
//! community in the database.

use anyhow::Context as _;
use steward_store::Stats;

use crate::Context;

#[derive(Debug, clap::Args)]
pub struct StatsArgs {
    /// Print one JSON object on stdout instead of the human summary.
    #[arg(long)]
    json: bool,
}

pub async fn run(args: StatsArgs, context: &Context) -> anyhow::Result<()> {
    let store = steward_runtime::build::open_store(&context.config).await?;
    let stats = store.stats().await.context("computing statistics")?;
    if args.json {
        // The same object as `GET /api/v1/stats` (docs/cli.md, docs/api.md).
        println!("{}", serde_json::to_string(&stats)?);
    } else {
        print!("{}", render(&stats));
    }
    Ok(())
}

fn render(stats: &Stats) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let range = match (stats.first_post_at, stats.last_post_at) {
        (Some(first), Some(last)) => format!(
            "{} .. {}",
            first.format("%Y-%m-%d"),
            last.format("%Y-%m-%d")
        ),
        _ => "no posts".to_string(),
    };
    let _ = writeln!(out, "posts       {:>9}  ({range})", stats.posts);
    let _ = writeln!(out, "  questions {:>9}", stats.questions);
    let _ = writeln!(out, "  answers   {:>9}", stats.answers);
    let _ = writeln!(out, "  articles  {:>9}", stats.articles);
    let _ = writeln!(out, "  wikis     {:>9}", stats.wikis);
    let _ = writeln!(out, "comments    {:>9}", stats.comments);
    let _ = writeln!(out, "users       {:>9}", stats.users);
    let _ = writeln!(out, "tags        {:>9}", stats.tags);
    let _ = writeln!(
        out,
        "post links  {:>9}  ({} duplicates)",
        stats.post_links, stats.duplicate_links
    );
    let _ = writeln!(out, "badges      {:>9}", stats.badges);
    let _ = writeln!(out, "events      {:>9}", stats.events);
    for (kind, count) in &stats.events_by_kind {
        let _ = writeln!(out, "  {kind:<10}{count:>9}");
    }
    let _ = writeln!(out, "anonymous votes {:>5}", stats.anonymous_votes);
    let _ = writeln!(
        out,
        "answer rate {:>8.1}%  (accepted {:.1}%)",
        100.0 * stats.answer_rate(),
        100.0 * stats.accepted_rate()
    );
    if !stats.top_tags.is_empty() {
        let tags: Vec<String> = stats
            .top_tags
            .iter()
            .map(|(tag, count)| format!("{tag} ({count})"))
            .collect();
        let _ = writeln!(out, "top tags    {}", tags.join(", "));
    }
    out
}
