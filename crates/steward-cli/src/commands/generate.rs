//! `steward generate`: one chat completion from the configured LLM (`[llm]`),
//! streamed to stdout as it is decoded, with a one-line timing summary on stderr.

use std::io::Write;

use anyhow::Context as _;
use steward_ml::audit::CallContext;
use steward_ml::llm::{ChatMessage, ChatRequest, GenerationParams, Role};
use steward_runtime::build;
use steward_runtime::config::Flags;

use crate::Context;

#[derive(Debug, clap::Args)]
pub struct GenerateArgs {
    /// The user message.
    #[arg(long)]
    prompt: String,

    /// A system message before it (models with a default one use theirs otherwise).
    #[arg(long)]
    system: Option<String>,

    /// A model name (looked up in models.dir, the cache, then the hub) or a .gguf
    /// path; with llm.provider = "openai_compatible", the server's model name
    /// [config: llm.model].
    #[arg(long)]
    model: Option<String>,

    #[arg(long, default_value_t = 256)]
    max_tokens: u32,

    /// 0 is greedy decoding.
    #[arg(long, default_value_t = 0.0)]
    temperature: f64,

    #[arg(long)]
    top_p: Option<f64>,

    #[arg(long)]
    top_k: Option<usize>,

    /// 1.0 turns the penalty off.
    #[arg(long, default_value_t = 1.1)]
    repeat_penalty: f32,

    /// Same prompt, settings and seed give the same text.
    #[arg(long, default_value_t = GenerationParams::default().seed)]
    seed: u64,

    /// Stop before this text (repeatable).
    #[arg(long = "stop", value_name = "TEXT")]
    stop: Vec<String>,

    /// Role the call is audited (and quota-checked) under.
    #[arg(long, default_value = "admin")]
    role: String,
}

impl GenerateArgs {
    /// The config keys these flags set.
    pub fn flags(&self, flags: &mut Flags) {
        flags.set("--model", "llm.model", self.model.as_ref());
    }
}

pub async fn run(args: GenerateArgs, context: &Context) -> anyhow::Result<()> {
    let config = &context.config;
    // The store keeps the LLM audit log.
    let store = build::open_store(config).await?;
    let llm = build::load_llm(config, &build::model_resolver(config)).await?;
    let model_id = llm.model_id().to_string();
    // Every LLM call goes through the gateway, so this one is audited (and
    // quota-checked) too.
    let gateway = build::gateway(config, llm, store)?;
    let call = CallContext {
        feature: "generate".to_string(),
        role: args.role.clone(),
        key_id: None,
        object_ids: Vec::new(),
    };
    let mut messages = Vec::new();
    if let Some(system) = args.system {
        messages.push(ChatMessage {
            role: Role::System,
            content: system,
        });
    }
    messages.push(ChatMessage {
        role: Role::User,
        content: args.prompt,
    });
    let request = ChatRequest {
        messages,
        params: GenerationParams {
            max_tokens: args.max_tokens,
            temperature: args.temperature,
            top_p: args.top_p,
            top_k: args.top_k,
            repeat_penalty: args.repeat_penalty,
            seed: args.seed,
            stop: args.stop,
            ..GenerationParams::default()
        },
    };
    let (sender, mut receiver) = tokio::sync::mpsc::unbounded_channel::<String>();
    let printer = tokio::spawn(async move {
        let mut stdout = std::io::stdout();
        while let Some(piece) = receiver.recv().await {
            stdout.write_all(piece.as_bytes())?;
            stdout.flush()?;
        }
        writeln!(stdout)?;
        stdout.flush()
    });
    let completion = gateway
        .chat(&call, &request, Some(sender))
        .await
        .context("generating")?;
    printer
        .await
        .context("printing the completion")?
        .context("writing to stdout")?;
    let decode_tokens = completion.completion_tokens.saturating_sub(1);
    eprintln!(
        "{}: {} prompt tokens in {:.0} ms ({:.1} tok/s), {} tokens in {:.0} ms ({:.1} tok/s), finish: {:?}",
        model_id,
        completion.prompt_tokens,
        completion.prompt_ms,
        rate(completion.prompt_tokens, completion.prompt_ms),
        completion.completion_tokens,
        completion.decode_ms,
        rate(decode_tokens, completion.decode_ms),
        completion.finish_reason,
    );
    Ok(())
}

/// Tokens per second; 0 when nothing was timed.
pub fn rate(tokens: u32, ms: f64) -> f64 {
    if ms > 0.0 {
        f64::from(tokens) * 1e3 / ms
    } else {
        0.0
    }
}
