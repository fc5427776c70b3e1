//! `steward llm`: what the LLM audit log says, per feature and model.

use anyhow::Context as _;
use steward_store::LlmUsage;

use crate::Context;

#[derive(Debug, clap::Subcommand)]
pub enum LlmCommand {
    /// Calls, refusals, errors, tokens and latency per feature and model.
    Usage(UsageArgs),
}

#[derive(Debug, clap::Args)]
pub struct UsageArgs {
    /// Print a JSON array on stdout instead of the table.
    #[arg(long)]
    json: bool,
}

pub async fn run(command: LlmCommand, context: &Context) -> anyhow::Result<()> {
    match command {
        LlmCommand::Usage(args) => usage(args, context).await,
    }
}

async fn usage(args: UsageArgs, context: &Context) -> anyhow::Result<()> {
    let store = steward_runtime::build::open_store(&context.config).await?;
    let usage = store
        .llm_usage()
        .await
        .context("reading the LLM audit log")?;
    if args.json {
        println!("{}", serde_json::to_string(&usage_json(&usage))?);
    } else {
        print!("{}", render(&usage));
    }
    Ok(())
}

/// The `--json` array: one object per (feature, model).
fn usage_json(usage: &[LlmUsage]) -> serde_json::Value {
    usage
        .iter()
        .map(|row| {
            serde_json::json!({
                "feature": row.feature,
                "model": row.model,
                "calls": row.calls,
                "refused": row.refused,
                "errors": row.errors,
                "prompt_tokens": row.prompt_tokens,
                "completion_tokens": row.completion_tokens,
                "total_tokens": row.prompt_tokens + row.completion_tokens,
                "total_latency_ms": row.total_latency_ms,
            })
        })
        .collect()
}

fn render(usage: &[LlmUsage]) -> String {
    if usage.is_empty() {
        return "no LLM calls recorded\n".to_string();
    }
    let header = [
        "feature",
        "model",
        "calls",
        "refused",
        "errors",
        "prompt",
        "completion",
        "avg ms",
    ];
    let rows: Vec<[String; 8]> = usage
        .iter()
        .map(|row| {
            // Refused calls never reach the model: they do not count in latency.
            let timed = (row.calls - row.refused).max(1);
            [
                row.feature.clone(),
                row.model.clone(),
                row.calls.to_string(),
                row.refused.to_string(),
                row.errors.to_string(),
                row.prompt_tokens.to_string(),
                row.completion_tokens.to_string(),
                (row.total_latency_ms / timed).to_string(),
            ]
        })
        .collect();
    let widths: Vec<usize> = (0..header.len())
        .map(|column| {
            rows.iter()
                .map(|row| row[column].chars().count())
                .chain([header[column].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: &[&str]| {
        let mut text = String::new();
        for (column, cell) in cells.iter().enumerate() {
            // Names left-aligned, numbers right-aligned.
            if column < 2 {
                text.push_str(&format!("{cell:<width$}  ", width = widths[column]));
            } else {
                text.push_str(&format!("{cell:>width$}  ", width = widths[column]));
            }
        }
        text.truncate(text.trim_end().len());
        text.push('\n');
        text
    };
    let mut out = line(&header);
    for row in &rows {
        out.push_str(&line(&row.each_ref().map(String::as_str)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_table_aligns_names_left_and_numbers_right() {
        let usage = vec![
            LlmUsage {
                feature: "openai_api".into(),
                model: "SmolLM2-135M-Instruct".into(),
                calls: 12,
                refused: 2,
                errors: 1,
                prompt_tokens: 3400,
                completion_tokens: 900,
                total_latency_ms: 5000,
            },
            LlmUsage {
                feature: "generate".into(),
                model: "openai:gpt-4o-mini".into(),
                calls: 1,
                refused: 0,
                errors: 0,
                prompt_tokens: 10,
                completion_tokens: 5,
                total_latency_ms: 250,
            },
        ];
        let expected = "\
feature     model                  calls  refused  errors  prompt  completion  avg ms
openai_api  SmolLM2-135M-Instruct     12        2       1    3400         900     500
generate    openai:gpt-4o-mini         1        0       0      10           5     250
";
        assert_eq!(render(&usage), expected);
        assert_eq!(render(&[]), "no LLM calls recorded\n");
        assert_eq!(usage_json(&usage)[0]["total_tokens"], 4300);
    }
}
