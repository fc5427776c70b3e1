//! `steward ask`: a cited answer to a question from the community's own
//! posts (the model's draft, kept only where passages support it, or the
//! passages' best sentences), or a refusal with the closest threads and who
//! could answer them.

use anyhow::Context as _;
use steward_ml::llm::CancellationToken;
use steward_runtime::build;
use steward_search::answer::{AskRequest, AskResponse, Asker};

use crate::Context;

#[derive(Debug, clap::Args)]
pub struct AskArgs {
    /// The question, in the community's language (English, Chinese, ...).
    question: String,

    /// Only threads with this tag (repeat, or separate with commas: all must match).
    #[arg(
        long = "tag",
        visible_alias = "tags",
        value_name = "TAG",
        value_delimiter = ','
    )]
    tags: Vec<String>,

    /// Answer extractively (the passages' own sentences), without loading the LLM.
    #[arg(long)]
    no_llm: bool,

    /// Role the ask is logged, audited and quota-checked under.
    #[arg(long, default_value = "admin")]
    role: String,

    /// Print one JSON object (the API's answer) instead of text.
    #[arg(long)]
    json: bool,
}

pub async fn run(args: AskArgs, context: &Context) -> anyhow::Result<()> {
    let question = args.question.trim();
    anyhow::ensure!(
        !question.is_empty(),
        "the question is empty: write it as the argument, e.g. steward ask \"How do I undo my last git commit?\""
    );
    let tags: Vec<String> = args
        .tags
        .iter()
        .map(|tag| tag.trim().to_lowercase())
        .filter(|tag| !tag.is_empty())
        .collect();
    let config = &context.config;
    let store = build::open_store(config).await?;
    let outcome = async {
        let (searcher, mut notice) =
            super::search::command_searcher(context, &store, true).await?;
        let gateway = if args.no_llm {
            None
        } else {
            match build::load_llm(config, &build::model_resolver(config)).await {
                Ok(llm) => Some(build::gateway(config, llm, store.clone())?),
                Err(error) => {
                    notice = Some(format!(
                        "no language model ({error}); answering extractively (--no-llm skips loading it)"
                    ));
                    None
                }
            }
        };
        let answerer = steward_runtime::ask::answerer(config, searcher, gateway);
        let request = AskRequest {
            question: question.to_string(),
            tags,
            use_llm: !args.no_llm,
        };
        let asker = Asker {
            role: args.role.clone(),
            key_id: None,
        };
        let mut response = answerer
            .ask(&request, &asker, None, &CancellationToken::new())
            .await
            .context("answering the question")?;
        if let Some(extra) = notice {
            response.notice = Some(match response.notice.take() {
                Some(own) => format!("{own}; {extra}"),
                None => extra,
            });
        }
        anyhow::Ok(response)
    }
    .await;
    store.close().await;
    let response = outcome?;
    if args.json {
        println!("{}", serde_json::to_string(&response)?);
        return Ok(());
    }
    print_response(&response);
    Ok(())
}

fn print_response(response: &AskResponse) {
    if let Some(notice) = &response.notice {
        eprintln!("note: {notice}");
    }
    if response.refused {
        println!(
            "{}",
            response.reason.as_deref().unwrap_or("no grounded answer")
        );
        if !response.closest_threads.is_empty() {
            println!("\nClosest threads:");
            for thread in &response.closest_threads {
                println!(
                    "  #{} {} ({} answers{})",
                    thread.post_id,
                    thread.title.as_deref().unwrap_or("(untitled)"),
                    thread.answer_count,
                    if thread.accepted_answer_id.is_some() {
                        ", accepted"
                    } else {
                        ""
                    }
                );
            }
        }
        if !response.could_answer.is_empty() {
            println!("\nWho could answer:");
            for expert in &response.could_answer {
                println!(
                    "  {} (user {}): {} answers there, score {}, {} accepted",
                    expert.name.as_deref().unwrap_or("(unknown)"),
                    expert.user_id,
                    expert.answers,
                    expert.answer_score,
                    expert.accepted
                );
            }
        }
        return;
    }
    println!("{}", response.answer);
    println!("\nSources:");
    for passage in &response.citations {
        println!(
            "  [{}] {} — {} #{}{} (score {})",
            passage.n,
            passage.thread_title.as_deref().unwrap_or("(untitled)"),
            passage.kind,
            passage.post_id,
            if passage.accepted { ", accepted" } else { "" },
            passage.score
        );
    }
    let made = match &response.model {
        Some(model) => format!("{} (model {model})", response.mode.as_str()),
        None => response.mode.as_str().to_string(),
    };
    eprintln!(
        "{made}, {} passages, {:.1} s",
        response.passages.len(),
        response.latency_ms as f64 / 1000.0
    );
}
