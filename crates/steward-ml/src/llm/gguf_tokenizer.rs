//! The tokenizer of a GGUF model, rebuilt from the file's metadata: a GGUF carries
//! no `tokenizer.json`, only the vocabulary, merges, token types and special ids.
//!
//! Encoding goes through a `tokenizers::Tokenizer` (byte-level BPE, the same
//! pre-tokenizer split as the model's Hugging Face tokenizer). Decoding does not:
//! each id maps to its raw bytes once at load, so streaming can append bytes and
//! emit only complete UTF-8 characters (a token may hold half a character).

use std::collections::HashMap;

use candle_core::quantized::gguf_file::{Content, Value};
use tokenizers::models::bpe::{BPE, Vocab};
use tokenizers::pre_tokenizers::PreTokenizerWrapper;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::digits::Digits;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::{AddedToken, SplitDelimiterBehavior, Tokenizer};

use crate::{Error, Result};

/// llama.cpp's token types (`tokenizer.ggml.token_type`).
const TOKEN_TYPE_CONTROL: u32 = 3;
const TOKEN_TYPE_USER_DEFINED: u32 = 4;

/// Qwen2's split (llama.cpp `LLAMA_VOCAB_PRE_TYPE_QWEN2`): single digits, letters
/// with one leading non-letter, punctuation runs, newlines apart.
const REGEX_QWEN2: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
/// Llama 3's split: as Qwen2 but digits in groups of up to three.
const REGEX_LLAMA3: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// A byte-level BPE tokenizer with its special ids and a byte table for decoding.
#[derive(Debug, Clone)]
pub struct GgufTokenizer {
    tokenizer: Tokenizer,
    /// Raw bytes of every id; special tokens hold their literal text.
    token_bytes: Vec<Vec<u8>>,
    /// Control tokens (`<|im_start|>`, ...): never part of the visible text.
    is_control: Vec<bool>,
    bos_id: Option<u32>,
    eos_id: Option<u32>,
    /// Ids that end an assistant turn: EOS, `<|im_end|>`, `<|eot_id|>`, `<|endoftext|>`.
    end_of_turn_ids: Vec<u32>,
}

impl GgufTokenizer {
    /// Builds the tokenizer from `tokenizer.ggml.*` metadata. Only `gpt2`
    /// (byte-level BPE) vocabularies are supported: that covers SmolLM, Qwen2 and Llama 3.
    pub fn from_gguf(content: &Content) -> Result<GgufTokenizer> {
        let model_kind = metadata_string(content, "tokenizer.ggml.model")?;
        if model_kind != "gpt2" {
            return Err(Error::Tokenizer(format!(
                "unsupported tokenizer model `{model_kind}` (only byte-level BPE, `gpt2`, is supported)"
            )));
        }
        let tokens = string_array(content, "tokenizer.ggml.tokens")?;
        let token_types: Vec<u32> = match content.metadata.get("tokenizer.ggml.token_type") {
            Some(value) => value
                .to_vec()?
                .iter()
                .map(value_to_u32)
                .collect::<Result<_>>()?,
            None => vec![1; tokens.len()],
        };
        let merges = string_array(content, "tokenizer.ggml.merges")?
            .into_iter()
            .map(|merge| {
                merge
                    .split_once(' ')
                    .map(|(left, right)| (left.to_string(), right.to_string()))
                    .ok_or_else(|| Error::Tokenizer(format!("invalid merge `{merge}`")))
            })
            .collect::<Result<Vec<_>>>()?;
        let vocab: Vocab = tokens
            .iter()
            .enumerate()
            .map(|(id, token)| (token.clone(), id as u32))
            .collect();
        let bpe = BPE::builder()
            .vocab_and_merges(vocab, merges)
            .build()
            .map_err(|error| Error::Tokenizer(error.to_string()))?;
        let mut tokenizer = Tokenizer::new(bpe);
        let pre = metadata_string(content, "tokenizer.ggml.pre").unwrap_or_else(|_| "gpt2".into());
        tokenizer.with_pre_tokenizer(Some(pre_tokenizer(&pre)?));
        tokenizer.with_decoder(Some(ByteLevel::default()));

        let bos_id = optional_u32(content, "tokenizer.ggml.bos_token_id")?;
        let eos_id = optional_u32(content, "tokenizer.ggml.eos_token_id")?;
        let is_control: Vec<bool> = (0..tokens.len())
            .map(|id| token_types.get(id) == Some(&TOKEN_TYPE_CONTROL))
            .collect();
        // Control and user-defined tokens match as whole strings before BPE runs,
        // so `<|im_start|>` is one id, never `<`, `|`, `im`, ...
        let specials: Vec<AddedToken> = tokens
            .iter()
            .zip(&token_types)
            .filter(|(_, kind)| matches!(**kind, TOKEN_TYPE_CONTROL | TOKEN_TYPE_USER_DEFINED))
            .map(|(token, _)| AddedToken::from(token.clone(), true))
            .collect();
        tokenizer
            .add_special_tokens(specials)
            .map_err(|error| Error::Tokenizer(error.to_string()))?;

        let unicode_to_byte = unicode_to_byte();
        let token_bytes = tokens
            .iter()
            .zip(&token_types)
            .map(|(token, kind)| match *kind {
                TOKEN_TYPE_CONTROL | TOKEN_TYPE_USER_DEFINED => token.as_bytes().to_vec(),
                _ => token
                    .chars()
                    .map(|c| unicode_to_byte.get(&c).copied())
                    .collect::<Option<Vec<u8>>>()
                    // Not byte-level text (should not happen in a gpt2 vocabulary): keep it literal.
                    .unwrap_or_else(|| token.as_bytes().to_vec()),
            })
            .collect();

        let mut end_of_turn_ids: Vec<u32> = eos_id.into_iter().collect();
        for name in ["<|im_end|>", "<|eot_id|>", "<|endoftext|>", "<|end|>"] {
            if let Some(id) = tokens.iter().position(|token| token == name) {
                let id = id as u32;
                if is_control[id as usize] && !end_of_turn_ids.contains(&id) {
                    end_of_turn_ids.push(id);
                }
            }
        }
        Ok(GgufTokenizer {
            tokenizer,
            token_bytes,
            is_control,
            bos_id,
            eos_id,
            end_of_turn_ids,
        })
    }

    /// Token ids of `text`. Special tokens written in the text (as a chat
    /// template writes them) become their single ids.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        let encoding = self
            .tokenizer
            .encode_fast(text, false)
            .map_err(|error| Error::Tokenizer(error.to_string()))?;
        Ok(encoding.get_ids().to_vec())
    }

    /// The text of `ids`, control tokens included as their literal text.
    pub fn decode(&self, ids: &[u32]) -> String {
        let mut bytes = Vec::new();
        for &id in ids {
            bytes.extend_from_slice(self.token_bytes(id));
        }
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// Raw bytes of one id; empty for an id outside the vocabulary.
    pub fn token_bytes(&self, id: u32) -> &[u8] {
        self.token_bytes.get(id as usize).map_or(&[], Vec::as_slice)
    }

    /// Whether `id` is a control token (never shown as text).
    pub fn is_control(&self, id: u32) -> bool {
        self.is_control.get(id as usize).copied().unwrap_or(false)
    }

    /// Whether `id` ends the assistant's turn.
    pub fn is_end_of_turn(&self, id: u32) -> bool {
        self.end_of_turn_ids.contains(&id)
    }

    /// The ids that end the assistant's turn.
    pub fn end_of_turn_ids(&self) -> &[u32] {
        &self.end_of_turn_ids
    }

    pub fn token_to_id(&self, token: &str) -> Option<u32> {
        self.tokenizer.token_to_id(token)
    }

    pub fn bos_token(&self) -> Option<String> {
        self.bos_id.map(|id| self.decode(&[id]))
    }

    pub fn eos_token(&self) -> Option<String> {
        self.eos_id.map(|id| self.decode(&[id]))
    }

    pub fn vocab_size(&self) -> usize {
        self.token_bytes.len()
    }

    /// The underlying `tokenizers` tokenizer (for callers that want offsets).
    pub fn inner(&self) -> &Tokenizer {
        &self.tokenizer
    }
}

/// The pre-tokenizer that matches llama.cpp's `tokenizer.ggml.pre` name (and so
/// the model's original `tokenizer.json`); unknown names get GPT-2's split.
fn pre_tokenizer(pre: &str) -> Result<PreTokenizerWrapper> {
    let split = |regex: &str| -> Result<PreTokenizerWrapper> {
        let split = Split::new(
            SplitPattern::Regex(regex.to_string()),
            SplitDelimiterBehavior::Isolated,
            false,
        )
        .map_err(|error| Error::Tokenizer(error.to_string()))?;
        Ok(Sequence::new(vec![
            split.into(),
            ByteLevel::new(false, false, false).into(),
        ])
        .into())
    };
    Ok(match pre {
        "qwen2" | "deepseek-r1-qwen" => split(REGEX_QWEN2)?,
        "llama3" | "llama-bpe" | "smaug-bpe" => split(REGEX_LLAMA3)?,
        // SmolLM (StarCoder-style): every digit alone, then GPT-2's split.
        "smollm" | "starcoder" | "refact" => Sequence::new(vec![
            Digits::new(true).into(),
            ByteLevel::new(false, false, true).into(),
        ])
        .into(),
        _ => ByteLevel::new(false, false, true).into(),
    })
}

/// GPT-2's byte-to-unicode table, inverted: printable bytes stand for themselves,
/// the others were shifted to U+0100 and up so that no token holds a space or a control byte.
fn unicode_to_byte() -> HashMap<char, u8> {
    let mut printable: Vec<u8> = (b'!'..=b'~').collect();
    printable.extend(0xA1..=0xAC);
    printable.extend(0xAE..=0xFF);
    let mut table = HashMap::with_capacity(256);
    let mut shifted = 0u32;
    for byte in 0..=255u8 {
        let c = if printable.contains(&byte) {
            char::from(byte)
        } else {
            shifted += 1;
            char::from_u32(255 + shifted).expect("U+0100..U+0144 are valid chars")
        };
        table.insert(c, byte);
    }
    table
}

fn metadata_string(content: &Content, key: &str) -> Result<String> {
    match content.metadata.get(key) {
        Some(value) => Ok(value.to_string()?.clone()),
        None => Err(Error::Tokenizer(format!("GGUF metadata has no `{key}`"))),
    }
}

fn string_array(content: &Content, key: &str) -> Result<Vec<String>> {
    let Some(value) = content.metadata.get(key) else {
        return Err(Error::Tokenizer(format!("GGUF metadata has no `{key}`")));
    };
    value
        .to_vec()?
        .iter()
        .map(|item| Ok(item.to_string()?.clone()))
        .collect()
}

fn optional_u32(content: &Content, key: &str) -> Result<Option<u32>> {
    content.metadata.get(key).map(value_to_u32).transpose()
}

fn value_to_u32(value: &Value) -> Result<u32> {
    Ok(match value {
        Value::U8(v) => u32::from(*v),
        Value::I8(v) => *v as u32,
        Value::U16(v) => u32::from(*v),
        Value::I16(v) => *v as u32,
        Value::U32(v) => *v,
        Value::I32(v) => *v as u32,
        Value::U64(v) => *v as u32,
        Value::I64(v) => *v as u32,
        other => {
            return Err(Error::Tokenizer(format!(
                "expected an integer in GGUF metadata, found {other:?}"
            )));
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_table_covers_every_byte_once() {
        let table = unicode_to_byte();
        assert_eq!(table.len(), 256);
        // GPT-2 writes a space as `Ġ` and a newline as `Ċ`.
        assert_eq!(table[&'Ġ'], b' ');
        assert_eq!(table[&'Ċ'], b'\n');
        assert_eq!(table[&'a'], b'a');
    }
}
