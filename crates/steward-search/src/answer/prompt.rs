//! The prompt of a generated answer: numbered passages (title, post id,
//! text), an instruction to answer from them only and cite them as `[n]`,
//! in the question's language. Greedy decoding, so the same question over
//! the same passages gives the same draft.

use steward_ml::llm::{ChatMessage, ChatRequest, GenerationParams, Role};

use super::passages::Passage;

/// The chat request for `question` over `passages`.
pub fn chat_request(
    question: &str,
    language: &str,
    passages: &[Passage],
    max_tokens: u32,
) -> ChatRequest {
    let chinese = language == "zh";
    let system = if chinese {
        "你是一个技术问答社区的助手。只根据下面编号的资料回答问题，不要编造。\
         每句话后面用 [n] 标出它来自哪条资料。如果资料不能回答这个问题，就说不知道。\
         请用中文简短回答。"
    } else {
        "You answer questions for a technical Q&A community. Use only the numbered \
         sources below; do not add anything they do not say. After each sentence, cite \
         the source it comes from as [n]. If the sources do not answer the question, say \
         you do not know. Answer in English, in a few sentences."
    };
    let mut user = String::from(if chinese { "资料：\n" } else { "Sources:\n" });
    for passage in passages {
        let title = passage.thread_title.as_deref().unwrap_or("(untitled)");
        let kind = match (passage.kind.as_str(), passage.accepted) {
            ("answer", true) => "accepted answer",
            (kind, _) => kind,
        };
        user.push_str(&format!(
            "\n[{}] {title} (post {}, {kind})\n{}\n",
            passage.n, passage.post_id.0, passage.text
        ));
    }
    user.push_str(if chinese {
        "\n问题："
    } else {
        "\nQuestion: "
    });
    user.push_str(question);
    ChatRequest {
        messages: vec![
            ChatMessage {
                role: Role::System,
                content: system.to_string(),
            },
            ChatMessage {
                role: Role::User,
                content: user,
            },
        ],
        params: GenerationParams {
            max_tokens,
            temperature: 0.0,
            ..GenerationParams::default()
        },
    }
}
