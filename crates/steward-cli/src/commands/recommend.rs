//! `steward train`, `steward recommend USER` and `steward experts QUESTION`:
//! the recommender trained as a recorded job, then asked for one member's
//! recommendations (with why) or one question's likely answerers.

use anyhow::Context as _;
use steward_domain::{PostId, UserId};
use steward_recsys::model::ModelKind;
use steward_recsys::service::RecsysService;
use steward_runtime::build;
use steward_runtime::jobs::{JobOutput, JobSpec};

use crate::Context;

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  \
    steward train\n  \
    steward train --force --json")]
pub struct TrainArgs {
    /// Promote the new version even when it does not beat the promoted one
    /// on validation nDCG@10.
    #[arg(long)]
    force: bool,

    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  \
    steward recommend 42\n  \
    steward recommend 42 --model als --n 5 --explain\n  \
    steward recommend 42 --json")]
pub struct RecommendArgs {
    /// The member's user id.
    user: i64,

    /// How many threads.
    #[arg(long, default_value_t = 10)]
    n: usize,

    /// popularity, item_knn, als, bpr, content, hybrid or ease; default: the
    /// model that won validation when the recommender was trained.
    #[arg(long)]
    model: Option<ModelKind>,

    /// Say why each thread is recommended.
    #[arg(long)]
    explain: bool,

    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  \
    steward experts 1234\n  \
    steward experts 1234 --n 5 --json")]
pub struct ExpertsArgs {
    /// The question's post id.
    question: i64,

    /// How many members.
    #[arg(long, default_value_t = 10)]
    n: usize,

    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

pub async fn train(args: TrainArgs, context: &Context) -> anyhow::Result<()> {
    let store = build::open_store(&context.config).await?;
    let spec = JobSpec::TrainRecsys { force: args.force };
    let outcome = super::jobs::run_recorded(context, &store, spec).await;
    store.close().await;
    let output = outcome?.context("training the recommender")?;
    if args.json {
        println!("{}", output.summary());
        return Ok(());
    }
    let JobOutput::TrainRecsys { report, warning } = output else {
        anyhow::bail!("a training job returned something else than its report");
    };
    if let Some(warning) = warning {
        eprintln!("warning: {warning}");
    }
    println!(
        "{} v{}{}: {} members × {} threads, {} interactions; default model {}",
        report.name,
        report.version,
        if report.promoted {
            " (promoted)"
        } else {
            " (kept unpromoted: it does not beat the promoted version; --force promotes it)"
        },
        report.users,
        report.items,
        report.interactions,
        report.default_model
    );
    if let Some((version, score)) = report.previous {
        println!(
            "previously promoted: v{version}{}",
            score
                .map(|score| format!(", validation nDCG@10 {score:.4}"))
                .unwrap_or_default()
        );
    }
    println!("validation (latest acts held out):");
    super::eval_recsys::print_table(&report.validation);
    println!("in {:.1} s", report.elapsed_seconds);
    Ok(())
}

async fn service(context: &Context) -> anyhow::Result<(steward_store::Store, RecsysService)> {
    let store = build::open_store(&context.config).await?;
    let service = RecsysService::new(store.clone());
    service
        .reload()
        .await
        .context("loading the promoted recommender")?;
    Ok((store, service))
}

pub async fn recommend(args: RecommendArgs, context: &Context) -> anyhow::Result<()> {
    anyhow::ensure!(
        (1..=100).contains(&args.n),
        "--n {}: it must be 1 to 100",
        args.n
    );
    let (store, service) = service(context).await?;
    let outcome = service
        .recommend(UserId(args.user), args.n, args.model, args.explain)
        .await;
    let titles = match &outcome {
        Ok((_, recommendations)) => {
            let ids: Vec<PostId> = recommendations
                .items
                .iter()
                .map(|item| item.post_id)
                .collect();
            store.posts_by_ids(&ids).await.unwrap_or_default()
        }
        Err(_) => Vec::new(),
    };
    store.close().await;
    let (version, recommendations) = outcome?;
    if args.json {
        let mut value = serde_json::to_value(&recommendations)?;
        value["version"] = serde_json::json!(version);
        println!("{value}");
        return Ok(());
    }
    println!(
        "member {} · model {}{}{} · recsys v{version}",
        args.user,
        recommendations.model.as_str(),
        if recommendations.folded_in {
            " · new activity folded in"
        } else {
            ""
        },
        if recommendations.cold_start {
            " · cold start (tags and popularity)"
        } else {
            ""
        },
    );
    if recommendations.items.is_empty() {
        println!("nothing to recommend");
    }
    for (index, item) in recommendations.items.iter().enumerate() {
        let title = titles
            .iter()
            .find(|post| post.id == item.post_id)
            .and_then(|post| post.title.clone())
            .unwrap_or_else(|| "(untitled)".into());
        println!(
            "{:>2}. {} [#{}] {:.3}",
            index + 1,
            title,
            item.post_id.0,
            item.score
        );
        if let Some(explanation) = &item.explanation {
            println!("    {}", explanation.text);
        }
    }
    Ok(())
}

pub async fn experts(args: ExpertsArgs, context: &Context) -> anyhow::Result<()> {
    anyhow::ensure!(
        (1..=100).contains(&args.n),
        "--n {}: it must be 1 to 100",
        args.n
    );
    let (store, service) = service(context).await?;
    let outcome = service.experts(PostId(args.question), args.n).await;
    store.close().await;
    let experts = outcome?;
    if args.json {
        println!("{}", serde_json::to_string(&experts)?);
        return Ok(());
    }
    if experts.experts.is_empty() {
        println!("no member has answered anything yet");
    }
    for (index, expert) in experts.experts.iter().enumerate() {
        println!(
            "{:>2}. user {} p={:.3} · {} answers in its tags ({} accepted){}{}",
            index + 1,
            expert.user_id.0,
            expert.probability,
            expert.tag_answers,
            expert.tag_accepted,
            expert
                .answer_similarity
                .map(|similarity| format!(" · similarity {similarity:.2}"))
                .unwrap_or_default(),
            expert
                .days_since_last_answer
                .map(|days| format!(" · last answer {days:.0} days ago"))
                .unwrap_or_default(),
        );
    }
    Ok(())
}
