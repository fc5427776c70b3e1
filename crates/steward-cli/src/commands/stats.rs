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
        println!("{}", serde_json::to_string(&stats_json(&stats))?);
    } else {
        print!("{}", render(&stats));
    }
    Ok(())
}

/// The `--json` object; its keys are documented in docs/cli.md.
pub fn stats_json(stats: &Stats) -> serde_json::Value {
    let answer_rate = ratio(stats.answered_questions, stats.questions);
    let accepted_rate = ratio(stats.accepted_questions, stats.questions);
    serde_json::json!({
        "posts": stats.posts,
        "questions": stats.questions,
        "answers": stats.answers,
        "articles": stats.articles,
        "wikis": stats.wikis,
        "comments": stats.comments,
        "users": stats.users,
        "tags": stats.tags,
        "post_links": stats.post_links,
        "duplicate_links": stats.duplicate_links,
        "badges": stats.badges,
        "events": stats.events,
        "events_by_kind": stats.events_by_kind.iter().map(|(kind, count)| (kind.clone(), serde_json::json!(count))).collect::<serde_json::Map<_, _>>(),
        "anonymous_votes": stats.anonymous_votes,
        "answered_questions": stats.answered_questions,
        "accepted_questions": stats.accepted_questions,
        "answer_rate": answer_rate,
        "accepted_rate": accepted_rate,
        "first_post_at": stats.first_post_at.map(|at| at.to_rfc3339()),
        "last_post_at": stats.last_post_at.map(|at| at.to_rfc3339()),
        "top_tags": stats.top_tags.iter().map(|(tag, count)| serde_json::json!({"tag": tag, "questions": count})).collect::<Vec<_>>(),
    })
}

fn ratio(part: i64, whole: i64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
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
        100.0 * ratio(stats.answered_questions, stats.questions),
        100.0 * ratio(stats.accepted_questions, stats.questions)
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
