//! The decoder-only transformer of llama- and qwen2-architecture GGUF files, as
//! immutable weights plus an explicit per-sequence [`KvCache`].
//!
//! candle-transformers' `quantized_llama` / `quantized_qwen2` keep the KV cache
//! inside the weights (and `quantized_qwen2` cannot even be cloned), so two HTTP
//! requests could not share one loaded model. Here the weights are read once
//! (`Arc`-shared tensors) and every sequence owns its cache, which also makes a
//! processed prompt prefix a cheap value to keep and reuse. The maths is the same
//! as those modules (RMSNorm, RoPE, grouped-query attention, SwiGLU).

use candle_core::quantized::gguf_file::Content;
use candle_core::quantized::{GgmlDType, QMatMul, QTensor};
use candle_core::{DType, Device, Module, Tensor};
use rayon::prelude::*;

use crate::{Error, Result};

/// Shape and numerics of one model, read from `{architecture}.*` metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub architecture: Architecture,
    pub n_layer: usize,
    pub n_embd: usize,
    pub n_head: usize,
    pub n_kv_head: usize,
    pub head_dim: usize,
    pub rms_norm_eps: f32,
    pub rope_freq_base: f32,
    pub context_length: usize,
    pub vocab_size: usize,
}

/// The architectures this module runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Architecture {
    /// Llama, SmolLM, Mistral: interleaved RoPE (llama.cpp permutes q/k at conversion).
    Llama,
    /// Qwen2 / Qwen2.5: biases on q, k, v and NeoX (half-split) RoPE.
    Qwen2,
}

impl Architecture {
    fn from_name(name: &str) -> Option<Architecture> {
        match name {
            "llama" => Some(Architecture::Llama),
            "qwen2" => Some(Architecture::Qwen2),
            _ => None,
        }
    }
}

/// Quantization types without a fast (or, for Q4_1 on AVX2, correct) candle
/// CPU kernel; their weights are converted to Q8_0 at load.
const REQUANTIZE: [GgmlDType; 3] = [GgmlDType::Q4_1, GgmlDType::Q5_0, GgmlDType::Q5_1];

/// Attention keys and values of the tokens seen so far, one pair per layer.
/// Cloning is cheap (tensors are reference-counted and never written in place),
/// so a cache can be kept as a snapshot and continued by several requests.
#[derive(Debug, Clone)]
pub struct KvCache {
    layers: Vec<Option<(Tensor, Tensor)>>,
    len: usize,
}

impl KvCache {
    /// Number of positions cached.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Forgets every position from `len` on, so that a shared prefix can be continued differently.
    pub fn truncate(&mut self, len: usize) -> Result<()> {
        if len >= self.len {
            return Ok(());
        }
        for layer in &mut self.layers {
            if len == 0 {
                *layer = None;
            } else if let Some((keys, values)) = layer {
                *keys = keys.narrow(2, 0, len)?;
                *values = values.narrow(2, 0, len)?;
            }
        }
        self.len = len;
        Ok(())
    }
}

/// One block. Q, K and V are one matrix (their rows stacked), as are the MLP's
/// gate and up projections: in decoding every matmul is a pass over the thread
/// pool, so 4 instead of 7 per layer is a measurable share of a small model's time.
#[derive(Debug, Clone)]
struct Layer {
    attn_norm: Tensor,
    /// Rows: n_head * head_dim queries, then n_kv_head * head_dim keys, then values.
    wqkv: QMatMul,
    /// Qwen2 only, stacked like `wqkv`.
    bqkv: Option<Tensor>,
    wo: QMatMul,
    ffn_norm: Tensor,
    /// Rows: feed_forward_length gate rows, then as many up rows.
    gate_up: QMatMul,
    feed_forward_length: usize,
    down: QMatMul,
}

/// Immutable model weights; `forward` takes the sequence state as `&mut KvCache`.
#[derive(Debug, Clone)]
pub struct Transformer {
    config: Config,
    embeddings: Tensor,
    layers: Vec<Layer>,
    norm: Tensor,
    output: QMatMul,
    cos: Tensor,
    sin: Tensor,
    device: Device,
}

impl Transformer {
    /// Reads the weights of `content` from `reader`, converting Q4_1/Q5_0/Q5_1
    /// tensors to Q8_0 (in parallel, about a second for a 135M model).
    pub fn from_gguf<R: std::io::Read + std::io::Seek>(
        content: &Content,
        reader: &mut R,
        max_context: Option<usize>,
    ) -> Result<Transformer> {
        let device = Device::Cpu;
        let architecture_name = metadata(content, "general.architecture")?
            .to_string()?
            .clone();
        let architecture = Architecture::from_name(&architecture_name).ok_or_else(|| {
            bad_model(format!(
                "architecture `{architecture_name}` is not supported (llama and qwen2 are)"
            ))
        })?;
        let key = |suffix: &str| format!("{architecture_name}.{suffix}");
        let get_u32 = |suffix: &str| -> Result<usize> {
            Ok(metadata(content, &key(suffix))?.to_u32()? as usize)
        };
        if content
            .metadata
            .get(&key("expert_count"))
            .and_then(|v| v.to_u32().ok())
            .is_some_and(|n| n > 1)
        {
            return Err(bad_model("mixture-of-experts models are not supported"));
        }
        let n_layer = get_u32("block_count")?;
        let n_embd = get_u32("embedding_length")?;
        let n_head = get_u32("attention.head_count")?;
        let n_kv_head = get_u32("attention.head_count_kv").unwrap_or(n_head);
        let head_dim = n_embd / n_head;
        let rope_dim = get_u32("rope.dimension_count").unwrap_or(head_dim);
        if rope_dim != head_dim || n_head % n_kv_head != 0 {
            return Err(bad_model(format!(
                "unsupported attention shape: {n_head} heads, {n_kv_head} kv heads, rope over {rope_dim} of {head_dim} dims"
            )));
        }
        let rms_norm_eps = metadata(content, &key("attention.layer_norm_rms_epsilon"))?.to_f32()?;
        let rope_freq_base = content
            .metadata
            .get(&key("rope.freq_base"))
            .and_then(|v| v.to_f32().ok())
            .unwrap_or(10_000.0);
        let trained_context = get_u32("context_length").unwrap_or(4096);
        let context_length = max_context.map_or(trained_context, |max| max.min(trained_context));

        // Read every tensor first (the reader is sequential), convert in parallel.
        let mut names: Vec<&String> = content.tensor_infos.keys().collect();
        names.sort();
        let raw = names
            .iter()
            .map(|name| Ok(((*name).clone(), content.tensor(reader, name, &device)?)))
            .collect::<Result<Vec<_>>>()?;
        let mut tensors: std::collections::HashMap<String, QTensor> = raw
            .into_par_iter()
            .map(|(name, tensor)| Ok((name, requantize(tensor)?)))
            .collect::<Result<_>>()?;
        let mut take = |name: &str| {
            tensors
                .remove(name)
                .ok_or_else(|| bad_model(format!("tensor `{name}` is missing")))
        };
        let dense = |tensor: QTensor| tensor.dequantize(&Device::Cpu);

        let token_embd = take("token_embd.weight")?;
        let embeddings = token_embd.dequantize(&device)?;
        let vocab_size = embeddings.dim(0)?;
        let norm = dense(take("output_norm.weight")?)?;
        // Tied embeddings (SmolLM2, small Qwen2.5) have no `output.weight`.
        let output = match take("output.weight") {
            Ok(output) => QMatMul::from_qtensor(output)?,
            Err(_) => QMatMul::from_qtensor(token_embd)?,
        };
        let mut layers = Vec::with_capacity(n_layer);
        for idx in 0..n_layer {
            let mut weight = |name: &str| take(&format!("blk.{idx}.{name}.weight"));
            let matmul = |tensor: QTensor| QMatMul::from_qtensor(tensor);
            let wqkv = matmul(stack_rows(&[
                weight("attn_q")?,
                weight("attn_k")?,
                weight("attn_v")?,
            ])?)?;
            let wo = matmul(weight("attn_output")?)?;
            let gate = weight("ffn_gate")?;
            let feed_forward_length = gate.shape().dims()[0];
            let gate_up = matmul(stack_rows(&[gate, weight("ffn_up")?])?)?;
            let down = matmul(weight("ffn_down")?)?;
            let attn_norm = dense(weight("attn_norm")?)?;
            let ffn_norm = dense(weight("ffn_norm")?)?;
            let bqkv = match architecture {
                Architecture::Llama => None,
                Architecture::Qwen2 => {
                    let mut bias = |name: &str| take(&format!("blk.{idx}.{name}.bias"));
                    Some(Tensor::cat(
                        &[
                            dense(bias("attn_q")?)?,
                            dense(bias("attn_k")?)?,
                            dense(bias("attn_v")?)?,
                        ],
                        0,
                    )?)
                }
            };
            layers.push(Layer {
                attn_norm,
                wqkv,
                bqkv,
                wo,
                ffn_norm,
                gate_up,
                feed_forward_length,
                down,
            });
        }
        let (cos, sin) = rope_tables(head_dim, rope_freq_base, context_length, &device)?;
        Ok(Transformer {
            config: Config {
                architecture,
                n_layer,
                n_embd,
                n_head,
                n_kv_head,
                head_dim,
                rms_norm_eps,
                rope_freq_base,
                context_length,
                vocab_size,
            },
            embeddings,
            layers,
            norm,
            output,
            cos,
            sin,
            device,
        })
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// An empty cache for a new sequence.
    pub fn new_cache(&self) -> KvCache {
        KvCache {
            layers: vec![None; self.config.n_layer],
            len: 0,
        }
    }

    /// Runs `tokens` (the next positions after those in `cache`) in one pass and
    /// returns the logits of the last one, shape `(vocab_size,)`.
    pub fn forward(&self, tokens: &[u32], cache: &mut KvCache) -> Result<Tensor> {
        let seq_len = tokens.len();
        let start = cache.len;
        if seq_len == 0 {
            return Err(Error::Candle(candle_core::Error::Msg(
                "forward needs at least one token".into(),
            )));
        }
        if start + seq_len > self.config.context_length {
            return Err(Error::PromptTooLong {
                prompt_tokens: start + seq_len,
                context_length: self.config.context_length,
            });
        }
        let ids = Tensor::new(tokens, &self.device)?;
        let mut hidden =
            self.embeddings
                .index_select(&ids, 0)?
                .reshape((1, seq_len, self.config.n_embd))?;
        let mask = if seq_len > 1 {
            Some(causal_mask(seq_len, start, &self.device)?)
        } else {
            None
        };
        let cos = self.cos.narrow(0, start, seq_len)?;
        let sin = self.sin.narrow(0, start, seq_len)?;
        let eps = self.config.rms_norm_eps;
        for (layer, layer_cache) in self.layers.iter().zip(cache.layers.iter_mut()) {
            let normed = candle_nn::ops::rms_norm(&hidden, &layer.attn_norm, eps)?;
            let attention =
                self.attention(layer, &normed, layer_cache, &cos, &sin, mask.as_ref())?;
            hidden = (hidden + attention)?;
            let normed = candle_nn::ops::rms_norm(&hidden, &layer.ffn_norm, eps)?;
            let gate_up = layer.gate_up.forward(&normed)?;
            let ff = layer.feed_forward_length;
            let gate = gate_up.narrow(2, 0, ff)?;
            let up = gate_up.narrow(2, ff, ff)?;
            let mlp = layer.down.forward(&(candle_nn::ops::silu(&gate)? * up)?)?;
            hidden = (hidden + mlp)?;
        }
        cache.len = start + seq_len;
        let last = hidden.narrow(1, seq_len - 1, 1)?;
        let last = candle_nn::ops::rms_norm(&last, &self.norm, eps)?;
        Ok(self.output.forward(&last)?.flatten_all()?)
    }

    fn attention(
        &self,
        layer: &Layer,
        x: &Tensor,
        cache: &mut Option<(Tensor, Tensor)>,
        cos: &Tensor,
        sin: &Tensor,
        mask: Option<&Tensor>,
    ) -> Result<Tensor> {
        let Config {
            n_head,
            n_kv_head,
            head_dim,
            ..
        } = self.config;
        let (batch, seq_len, _) = x.dims3()?;
        let mut qkv = layer.wqkv.forward(x)?;
        if let Some(bias) = &layer.bqkv {
            qkv = qkv.broadcast_add(bias)?;
        }
        let (q_width, kv_width) = (n_head * head_dim, n_kv_head * head_dim);
        let heads = |offset: usize, n: usize| -> Result<Tensor> {
            Ok(qkv
                .narrow(2, offset, n * head_dim)?
                .reshape((batch, seq_len, n, head_dim))?
                .transpose(1, 2)?
                .contiguous()?)
        };
        let q = heads(0, n_head)?;
        let k = heads(q_width, n_kv_head)?;
        let v = heads(q_width + kv_width, n_kv_head)?;
        let (q, k) = match self.config.architecture {
            Architecture::Llama => (
                candle_nn::rotary_emb::rope_i(&q, cos, sin)?,
                candle_nn::rotary_emb::rope_i(&k, cos, sin)?,
            ),
            Architecture::Qwen2 => (
                candle_nn::rotary_emb::rope(&q, cos, sin)?,
                candle_nn::rotary_emb::rope(&k, cos, sin)?,
            ),
        };
        let (k, v) = match cache.take() {
            None => (k, v),
            Some((past_k, past_v)) => (
                Tensor::cat(&[&past_k, &k], 2)?,
                Tensor::cat(&[&past_v, &v], 2)?,
            ),
        };
        *cache = Some((k.clone(), v.clone()));
        let kv_len = k.dim(2)?;
        // Grouped-query attention without copying K/V per query head: the query
        // heads sharing kv head `h` (h * n_rep .. (h + 1) * n_rep) become rows of one matmul.
        let n_rep = n_head / n_kv_head;
        let q = q.reshape((batch, n_kv_head, n_rep * seq_len, head_dim))?;
        let scale = 1.0 / (head_dim as f64).sqrt();
        let mut scores = (q.matmul(&k.t()?)? * scale)?;
        if let Some(mask) = mask {
            scores = scores
                .reshape((batch, n_kv_head, n_rep, seq_len, kv_len))?
                .broadcast_add(mask)?
                .reshape((batch, n_kv_head, n_rep * seq_len, kv_len))?;
        }
        let weights = candle_nn::ops::softmax_last_dim(&scores)?;
        let y = weights.matmul(&v)?;
        let y = y
            .reshape((batch, n_head, seq_len, head_dim))?
            .transpose(1, 2)?
            .reshape((batch, seq_len, n_head * head_dim))?;
        Ok(layer.wo.forward(&y)?)
    }
}

/// Stacks the rows of matrices with the same width into one matrix. Block bytes
/// are copied as they are (lossless) when all parts share a type; mixed types
/// (Q4_K_M files keep V in Q6_K) are first converted to Q8_0.
fn stack_rows(parts: &[QTensor]) -> Result<QTensor> {
    let Some(first) = parts.first() else {
        return Err(bad_model("nothing to stack"));
    };
    if parts.iter().any(|part| part.dtype() != first.dtype()) {
        let converted = parts
            .iter()
            .map(|part| {
                Ok(QTensor::quantize(
                    &part.dequantize(&Device::Cpu)?,
                    GgmlDType::Q8_0,
                )?)
            })
            .collect::<Result<Vec<_>>>()?;
        return stack_rows(&converted);
    }
    let (_, width) = first.shape().dims2()?;
    let mut rows = 0;
    let mut bytes = Vec::new();
    for part in parts {
        let (part_rows, part_width) = part.shape().dims2()?;
        if part_width != width {
            return Err(bad_model(format!(
                "cannot stack a {:?} matrix onto a {:?} one",
                part.shape(),
                first.shape()
            )));
        }
        rows += part_rows;
        bytes.extend_from_slice(&part.data()?);
    }
    Ok(candle_core::quantized::ggml_file::qtensor_from_ggml(
        first.dtype(),
        &bytes,
        vec![rows, width],
        &Device::Cpu,
    )?)
}

/// Converts a tensor without a good CPU kernel to Q8_0 (8 bits keep the 4/5-bit values almost exactly).
fn requantize(tensor: QTensor) -> Result<QTensor> {
    if !REQUANTIZE.contains(&tensor.dtype()) {
        return Ok(tensor);
    }
    let dense = tensor.dequantize(&Device::Cpu)?;
    Ok(QTensor::quantize(&dense, GgmlDType::Q8_0)?)
}

/// Additive mask `(seq_len, start + seq_len)`: position `start + i` sees keys `0..=start + i`.
fn causal_mask(seq_len: usize, start: usize, device: &Device) -> Result<Tensor> {
    let kv_len = start + seq_len;
    let values: Vec<f32> = (0..seq_len)
        .flat_map(|i| {
            (0..kv_len).map(move |j| {
                if j <= start + i {
                    0.0
                } else {
                    f32::NEG_INFINITY
                }
            })
        })
        .collect();
    Ok(Tensor::from_vec(values, (seq_len, kv_len), device)?)
}

/// RoPE cos/sin for every position, shape `(context_length, head_dim / 2)`.
fn rope_tables(
    head_dim: usize,
    freq_base: f32,
    context_length: usize,
    device: &Device,
) -> Result<(Tensor, Tensor)> {
    let inverse_freq: Vec<f32> = (0..head_dim)
        .step_by(2)
        .map(|i| 1.0 / freq_base.powf(i as f32 / head_dim as f32))
        .collect();
    let inverse_freq = Tensor::new(inverse_freq.as_slice(), device)?;
    let positions = Tensor::arange(0, context_length as u32, device)?
        .to_dtype(DType::F32)?
        .reshape((context_length, 1))?;
    let angles = positions.broadcast_mul(&inverse_freq.reshape((1, head_dim / 2))?)?;
    Ok((angles.cos()?, angles.sin()?))
}

fn metadata<'a>(
    content: &'a Content,
    key: &str,
) -> Result<&'a candle_core::quantized::gguf_file::Value> {
    content
        .metadata
        .get(key)
        .ok_or_else(|| bad_model(format!("GGUF metadata has no `{key}`")))
}

/// `BadModel` without a path; the loader fills it in.
fn bad_model(message: impl Into<String>) -> Error {
    Error::BadModel {
        path: String::new(),
        message: message.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn causal_mask_lets_each_position_see_its_past_only() {
        let mask = causal_mask(2, 1, &Device::Cpu).expect("mask");
        let rows: Vec<Vec<f32>> = mask.to_vec2().expect("2d");
        assert_eq!(rows[0], [0.0, 0.0, f32::NEG_INFINITY]);
        assert_eq!(rows[1], [0.0, 0.0, 0.0]);
    }

    #[test]
    fn rope_tables_start_at_angle_zero() {
        let (cos, sin) = rope_tables(4, 10_000.0, 3, &Device::Cpu).expect("tables");
        assert_eq!(cos.dims(), [3, 2]);
        let first: Vec<f32> = sin.get(0).and_then(|row| row.to_vec1()).expect("row");
        assert_eq!(first, [0.0, 0.0]);
    }
}
