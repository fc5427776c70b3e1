//! Turns chat messages into the prompt text a model was trained on, by rendering
//! the Jinja template the model ships (`tokenizer.chat_template` in a GGUF).
//!
//! Rendered the way Hugging Face `transformers` renders it (trim_blocks,
//! lstrip_blocks, `raise_exception`, a few Python string methods) so a prompt
//! matches the one the model saw in training; ChatML when a model has none.

use minijinja::value::{Serde, Value, ValueKind};
use minijinja::{Environment, Error as JinjaError, ErrorKind, State};

use super::ChatMessage;
use crate::{Error, Result};

/// ChatML, the format of SmolLM2 and Qwen2.5; used when a model carries no template.
pub const CHATML_TEMPLATE: &str = "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

/// A model's chat template with the special tokens it may refer to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatTemplate {
    source: String,
    bos_token: String,
    eos_token: String,
}

impl ChatTemplate {
    /// Checks that `source` compiles, so a broken template fails at load, not per request.
    pub fn new(
        source: impl Into<String>,
        bos_token: impl Into<String>,
        eos_token: impl Into<String>,
    ) -> Result<ChatTemplate> {
        let template = ChatTemplate {
            source: source.into(),
            bos_token: bos_token.into(),
            eos_token: eos_token.into(),
        };
        environment()
            .template_from_str(&template.source)
            .map_err(|error| Error::Template(error.to_string()))?;
        Ok(template)
    }

    /// ChatML with `<|im_start|>` / `<|im_end|>`.
    pub fn chatml() -> ChatTemplate {
        ChatTemplate {
            source: CHATML_TEMPLATE.to_string(),
            bos_token: String::new(),
            eos_token: "<|im_end|>".to_string(),
        }
    }

    /// The Jinja source.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The prompt for `messages`; with `add_generation_prompt` it ends where the
    /// assistant's answer starts.
    pub fn render(&self, messages: &[ChatMessage], add_generation_prompt: bool) -> Result<String> {
        let environment = environment();
        let template = environment
            .template_from_str(&self.source)
            .map_err(|error| Error::Template(error.to_string()))?;
        template
            .render(minijinja::context! {
                messages => Value::from(Serde(messages)),
                add_generation_prompt => add_generation_prompt,
                bos_token => self.bos_token.as_str(),
                eos_token => self.eos_token.as_str(),
            })
            .map_err(|error| Error::Template(error.to_string()))
    }
}

/// An environment configured like `transformers`' chat template renderer.
fn environment() -> Environment<'static> {
    let mut environment = Environment::new();
    let syntax = minijinja::syntax::SyntaxConfig::builder()
        .trim_blocks(true)
        .lstrip_blocks(true)
        .build()
        .expect("the default delimiters are valid");
    environment.set_syntax(syntax);
    environment.add_function(
        "raise_exception",
        |message: String| -> Result<Value, JinjaError> {
            Err(JinjaError::new(ErrorKind::InvalidOperation, message))
        },
    );
    environment.set_unknown_method_callback(python_method);
    environment
}

/// The Python string and dict methods that Hugging Face templates call
/// (`content.strip()`, `message.get('x')`, `tools.items()`), which Jinja lacks.
fn python_method(
    state: &mut State,
    value: &Value,
    method: &str,
    args: &[Value],
) -> Result<Value, JinjaError> {
    let unknown = || Err(JinjaError::from(ErrorKind::UnknownMethod));
    match (value.kind(), method) {
        (ValueKind::String, _) => {
            let text = value.as_str().unwrap_or_default();
            let arg = |idx: usize| args.get(idx).and_then(Value::as_str);
            match method {
                "strip" => Ok(Value::from(match arg(0) {
                    Some(chars) => text.trim_matches(|c| chars.contains(c)),
                    None => text.trim(),
                })),
                "lstrip" => Ok(Value::from(match arg(0) {
                    Some(chars) => text.trim_start_matches(|c| chars.contains(c)),
                    None => text.trim_start(),
                })),
                "rstrip" => Ok(Value::from(match arg(0) {
                    Some(chars) => text.trim_end_matches(|c| chars.contains(c)),
                    None => text.trim_end(),
                })),
                "startswith" => Ok(Value::from(arg(0).is_some_and(|p| text.starts_with(p)))),
                "endswith" => Ok(Value::from(arg(0).is_some_and(|p| text.ends_with(p)))),
                "upper" => Ok(Value::from(text.to_uppercase())),
                "lower" => Ok(Value::from(text.to_lowercase())),
                "replace" => match (arg(0), arg(1)) {
                    (Some(from), Some(to)) => Ok(Value::from(text.replace(from, to))),
                    _ => unknown(),
                },
                "split" => Ok(Value::from(match arg(0) {
                    Some(separator) => text.split(separator).map(Value::from).collect::<Vec<_>>(),
                    None => text.split_whitespace().map(Value::from).collect::<Vec<_>>(),
                })),
                _ => unknown(),
            }
        }
        (ValueKind::Map, "get") => {
            let key = args.first().cloned().unwrap_or_default();
            let found = value.get_item(&key)?;
            if found.is_undefined() || found.is_none() {
                Ok(args.get(1).cloned().unwrap_or(Value::from(())))
            } else {
                Ok(found)
            }
        }
        (ValueKind::Map, "items") => state.apply_filter("items", std::slice::from_ref(value)),
        _ => unknown(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::Role;

    fn message(role: Role, content: &str) -> ChatMessage {
        ChatMessage {
            role,
            content: content.to_string(),
        }
    }

    fn check(source: &str, messages: &[ChatMessage], expected: &str) {
        let template = ChatTemplate::new(source, "", "<|im_end|>").expect("template compiles");
        let prompt = template.render(messages, true).expect("template renders");
        assert_eq!(prompt, expected);
    }

    #[test]
    fn chatml_prompt_ends_at_the_assistant_turn() {
        check(
            CHATML_TEMPLATE,
            &[
                message(Role::System, "Be brief."),
                message(Role::User, "Hi"),
            ],
            "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n",
        );
    }

    #[test]
    fn python_string_methods_work_in_templates() {
        check(
            "{% for m in messages %}{{ m['content'].strip() | upper }}{{ m.get('name', '?') }}{% endfor %}",
            &[message(Role::User, "  hello  ")],
            "HELLO?",
        );
    }

    #[test]
    fn raise_exception_is_an_error_not_a_panic() {
        let template = ChatTemplate::new("{{ raise_exception('no system role') }}", "", "")
            .expect("template compiles");
        let error = template
            .render(&[message(Role::User, "x")], true)
            .expect_err("the template raises");
        assert!(error.to_string().contains("no system role"), "{error}");
    }
}
