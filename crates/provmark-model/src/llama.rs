//! The llama forward pass over GGUF weights, written for serving: one KV cache per sequence, so
//! that a batch step computes each row exactly as a batch of one would.
//!
//! The projections and the output layer run as one matrix product over all rows (that is where
//! batching pays); attention runs per row on that row's own cache (cheap at these lengths), so no
//! row ever sees padding or another row's positions. The quantized matrix products compute each
//! output row from its input row alone, so a row's logits do not depend on its neighbours
//! (`tests/model.rs` checks this bit for bit).
//!
//! GGUF stores the Q and K projections of llama models permuted for llama.cpp's rotary embedding,
//! which rotates *adjacent* pairs of each head's dimensions; [`candle_nn::rotary_emb::rope_i`] is
//! that rotation.

use std::path::Path;

use candle_core::quantized::{gguf_file, QMatMul, QTensor};
use candle_core::{DType, Device, Module, Tensor};

use crate::{ModelError, Result};

/// The architecture numbers read from the GGUF metadata.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// Transformer blocks.
    pub layers: usize,
    /// Model width.
    pub dim: usize,
    /// Query heads.
    pub heads: usize,
    /// Key/value heads (grouped-query attention).
    pub kv_heads: usize,
    /// Feed-forward width.
    pub ffn_dim: usize,
    /// Vocabulary size (rows of the embedding).
    pub vocab_size: usize,
    /// Longest context the model was trained for.
    pub context_length: usize,
    /// RoPE base frequency.
    pub rope_theta: f32,
    /// RMSNorm epsilon.
    pub rms_eps: f64,
}

impl Config {
    /// Dimensions per head.
    pub fn head_dim(&self) -> usize {
        self.dim / self.heads
    }
}

struct Layer {
    attn_norm: Tensor,
    q: QMatMul,
    k: QMatMul,
    v: QMatMul,
    o: QMatMul,
    ffn_norm: Tensor,
    gate: QMatMul,
    up: QMatMul,
    down: QMatMul,
}

/// A llama model with quantized weights, on the CPU. `Send + Sync`: share one across threads;
/// the per-sequence state is the [`KvCache`].
pub struct Llama {
    cfg: Config,
    embed: Tensor,
    layers: Vec<Layer>,
    norm: Tensor,
    output: QMatMul,
    cos: Tensor,
    sin: Tensor,
}

/// The keys and values of one sequence, per layer. Create with [`Llama::new_cache`].
#[derive(Clone)]
pub struct KvCache {
    layers: Vec<Option<(Tensor, Tensor)>>,
    len: usize,
}

impl KvCache {
    /// Tokens already in the cache (the position of the next token).
    pub fn len(&self) -> usize {
        self.len
    }

    /// True before the first token.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// A placeholder holding nothing (for moving caches in and out of a batch).
    pub(crate) fn empty() -> KvCache {
        KvCache {
            layers: Vec::new(),
            len: 0,
        }
    }
}

fn metadata_u32(ct: &gguf_file::Content, key: &str) -> Result<usize> {
    let v = ct
        .metadata
        .get(key)
        .ok_or_else(|| ModelError::Format(format!("missing metadata key {key}")))?;
    v.to_u32()
        .map(|x| x as usize)
        .map_err(|e| ModelError::Format(format!("metadata key {key}: {e}")))
}

fn metadata_f32(ct: &gguf_file::Content, key: &str) -> Result<Option<f32>> {
    match ct.metadata.get(key) {
        None => Ok(None),
        Some(v) => v
            .to_f32()
            .map(Some)
            .map_err(|e| ModelError::Format(format!("metadata key {key}: {e}"))),
    }
}

impl Llama {
    /// Loads a llama-architecture GGUF file.
    pub fn load(path: &Path) -> Result<Llama> {
        let mut file = std::fs::File::open(path).map_err(|source| ModelError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let ct = gguf_file::Content::read(&mut file)
            .map_err(|e| ModelError::Format(format!("{}: {e}", path.display())))?;
        let arch = ct
            .metadata
            .get("general.architecture")
            .and_then(|v| v.to_string().ok())
            .cloned()
            .unwrap_or_default();
        if arch != "llama" {
            return Err(ModelError::Format(format!(
                "{}: architecture {arch:?} is not supported (llama only)",
                path.display()
            )));
        }
        let cfg = Config {
            layers: metadata_u32(&ct, "llama.block_count")?,
            dim: metadata_u32(&ct, "llama.embedding_length")?,
            heads: metadata_u32(&ct, "llama.attention.head_count")?,
            kv_heads: metadata_u32(&ct, "llama.attention.head_count_kv")?,
            ffn_dim: metadata_u32(&ct, "llama.feed_forward_length")?,
            vocab_size: 0,
            context_length: metadata_u32(&ct, "llama.context_length")?,
            rope_theta: metadata_f32(&ct, "llama.rope.freq_base")?.unwrap_or(10_000.0),
            rms_eps: f64::from(
                metadata_f32(&ct, "llama.attention.layer_norm_rms_epsilon")?.unwrap_or(1e-5),
            ),
        };
        if cfg.heads == 0
            || cfg.kv_heads == 0
            || cfg.dim % cfg.heads != 0
            || cfg.heads % cfg.kv_heads != 0
            || cfg.head_dim() % 2 != 0
        {
            return Err(ModelError::Format(format!(
                "{}: inconsistent attention shape {cfg:?}",
                path.display()
            )));
        }
        let dev = Device::Cpu;
        let mut tensor = |name: &str| -> Result<QTensor> {
            ct.tensor(&mut file, name, &dev)
                .map_err(|e| ModelError::Format(format!("{}: tensor {name}: {e}", path.display())))
        };
        let embed_q = tensor("token_embd.weight")?;
        let embed = embed_q.dequantize(&dev)?;
        let (vocab_size, _) = embed.dims2()?;
        // Tied embeddings when the file has no separate output matrix (SmolLM2).
        let output = match tensor("output.weight") {
            Ok(t) => QMatMul::from_qtensor(t)?,
            Err(_) => QMatMul::from_qtensor(embed_q)?,
        };
        let norm = tensor("output_norm.weight")?.dequantize(&dev)?;
        let mut layers = Vec::with_capacity(cfg.layers);
        for i in 0..cfg.layers {
            let mut q = |s: &str| -> Result<QMatMul> {
                Ok(QMatMul::from_qtensor(tensor(&format!(
                    "blk.{i}.{s}.weight"
                ))?)?)
            };
            layers.push(Layer {
                q: q("attn_q")?,
                k: q("attn_k")?,
                v: q("attn_v")?,
                o: q("attn_output")?,
                gate: q("ffn_gate")?,
                up: q("ffn_up")?,
                down: q("ffn_down")?,
                attn_norm: tensor(&format!("blk.{i}.attn_norm.weight"))?.dequantize(&dev)?,
                ffn_norm: tensor(&format!("blk.{i}.ffn_norm.weight"))?.dequantize(&dev)?,
            });
        }
        let cfg = Config { vocab_size, ..cfg };
        let (cos, sin) = rope_tables(&cfg)?;
        Ok(Llama {
            cfg,
            embed,
            layers,
            norm,
            output,
            cos,
            sin,
        })
    }

    /// The architecture.
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// An empty cache for a new sequence.
    pub fn new_cache(&self) -> KvCache {
        KvCache {
            layers: vec![None; self.cfg.layers],
            len: 0,
        }
    }

    /// Feeds `tokens` to one sequence and returns the logits after its last token
    /// (`vocab_size` values).
    pub fn prefill(&self, cache: &mut KvCache, tokens: &[u32]) -> Result<Vec<f32>> {
        if tokens.is_empty() {
            return Err(ModelError::Input("no tokens to feed".into()));
        }
        let logits = self.forward(std::slice::from_mut(cache), tokens, tokens.len(), false)?;
        Ok(logits)
    }

    /// The model's top-1 prediction after every prefix of `tokens` (teacher forcing): element t
    /// is the argmax of the logits after `tokens[..=t]`, i.e. the prediction for position t + 1
    /// (ties to the lowest id). Runs in chunks of `chunk` tokens on one fresh cache.
    pub fn predict_top1(&self, tokens: &[u32], chunk: usize) -> Result<Vec<u32>> {
        let mut cache = self.new_cache();
        let mut out = Vec::with_capacity(tokens.len());
        let v = self.cfg.vocab_size;
        for piece in tokens.chunks(chunk.max(1)) {
            let logits =
                self.forward(std::slice::from_mut(&mut cache), piece, piece.len(), true)?;
            for row in logits.chunks(v) {
                let mut best = 0usize;
                for (i, &x) in row.iter().enumerate() {
                    if x > row[best] {
                        best = i;
                    }
                }
                out.push(best as u32);
            }
        }
        Ok(out)
    }

    /// One decoding step for a batch: row r feeds `tokens[r]` to `caches[r]`. Returns
    /// `caches.len() × vocab_size` logits, row-major; row r equals what a batch of one would give.
    pub fn decode(&self, caches: &mut [KvCache], tokens: &[u32]) -> Result<Vec<f32>> {
        if caches.len() != tokens.len() || caches.is_empty() {
            return Err(ModelError::Input(format!(
                "{} caches for {} tokens",
                caches.len(),
                tokens.len()
            )));
        }
        self.forward(caches, tokens, 1, false)
    }

    /// `tokens` holds `caches.len() × t` ids (t new tokens per row); returns the logits at each
    /// row's last new position, or (`all`) at every new position, row-major.
    fn forward(
        &self,
        caches: &mut [KvCache],
        tokens: &[u32],
        t: usize,
        all: bool,
    ) -> Result<Vec<f32>> {
        let rows = caches.len();
        let cfg = &self.cfg;
        if let Some(&bad) = tokens.iter().find(|&&id| id as usize >= cfg.vocab_size) {
            return Err(ModelError::Input(format!(
                "token id {bad} is outside the vocabulary ({})",
                cfg.vocab_size
            )));
        }
        for c in caches.iter() {
            if c.len + t > cfg.context_length.min(self.cos.dim(0)?) {
                return Err(ModelError::ContextFull {
                    limit: cfg.context_length,
                });
            }
        }
        let dev = Device::Cpu;
        let ids = Tensor::new(tokens, &dev)?;
        let mut x = self
            .embed
            .index_select(&ids, 0)?
            .reshape((rows, t, cfg.dim))?;
        let (hd, nh, nkv) = (cfg.head_dim(), cfg.heads, cfg.kv_heads);
        let scale = 1.0 / (hd as f64).sqrt();
        let mask = if t > 1 {
            Some(causal_mask(t, &dev)?)
        } else {
            None
        };
        for (li, layer) in self.layers.iter().enumerate() {
            let h = candle_nn::ops::rms_norm(&x, &layer.attn_norm, cfg.rms_eps as f32)?;
            let q = layer.q.forward(&h)?;
            let k = layer.k.forward(&h)?;
            let v = layer.v.forward(&h)?;
            let mut outs = Vec::with_capacity(rows);
            for (r, cache) in caches.iter_mut().enumerate() {
                let pos = cache.len;
                let cos = self.cos.narrow(0, pos, t)?;
                let sin = self.sin.narrow(0, pos, t)?;
                let qr = q
                    .narrow(0, r, 1)?
                    .reshape((1, t, nh, hd))?
                    .transpose(1, 2)?
                    .contiguous()?;
                let kr = k
                    .narrow(0, r, 1)?
                    .reshape((1, t, nkv, hd))?
                    .transpose(1, 2)?
                    .contiguous()?;
                let vr = v
                    .narrow(0, r, 1)?
                    .reshape((1, t, nkv, hd))?
                    .transpose(1, 2)?
                    .contiguous()?;
                let qr = candle_nn::rotary_emb::rope_i(&qr, &cos, &sin)?;
                let kr = candle_nn::rotary_emb::rope_i(&kr, &cos, &sin)?;
                let (kr, vr) = match &cache.layers[li] {
                    None => (kr, vr),
                    Some((kc, vc)) => (Tensor::cat(&[kc, &kr], 2)?, Tensor::cat(&[vc, &vr], 2)?),
                };
                cache.layers[li] = Some((kr.clone(), vr.clone()));
                let kr = repeat_kv(&kr, nh / nkv)?;
                let vr = repeat_kv(&vr, nh / nkv)?;
                let att = (qr.matmul(&kr.t()?)? * scale)?;
                let att = match &mask {
                    None => att,
                    Some(m) => {
                        // New positions see the cached prefix and the causal part of themselves.
                        let kv_len = kr.dim(2)?;
                        let prefix = Tensor::zeros((t, kv_len - t), DType::F32, &dev)?;
                        let full = Tensor::cat(&[&prefix, m], 1)?;
                        att.broadcast_add(&full)?
                    }
                };
                let att = candle_nn::ops::softmax_last_dim(&att)?;
                let y = att.matmul(&vr.contiguous()?)?;
                outs.push(y.transpose(1, 2)?.reshape((1, t, cfg.dim))?);
            }
            let y = Tensor::cat(&outs, 0)?;
            x = (x + layer.o.forward(&y)?)?;
            let h = candle_nn::ops::rms_norm(&x, &layer.ffn_norm, cfg.rms_eps as f32)?;
            let g = candle_nn::ops::silu(&layer.gate.forward(&h)?)?;
            let u = layer.up.forward(&h)?;
            x = (x + layer.down.forward(&(g * u)?)?)?;
        }
        for c in caches.iter_mut() {
            c.len += t;
        }
        let last = if all {
            x.reshape((rows * t, cfg.dim))?.contiguous()?
        } else {
            x.narrow(1, t - 1, 1)?
                .reshape((rows, cfg.dim))?
                .contiguous()?
        };
        let last = candle_nn::ops::rms_norm(&last, &self.norm, cfg.rms_eps as f32)?;
        let logits = self.output.forward(&last)?;
        Ok(logits.flatten_all()?.to_vec1::<f32>()?)
    }
}

/// `-inf` above the diagonal of a `t × t` matrix, 0 elsewhere.
fn causal_mask(t: usize, dev: &Device) -> Result<Tensor> {
    let m: Vec<f32> = (0..t)
        .flat_map(|i| (0..t).map(move |j| if j > i { f32::NEG_INFINITY } else { 0.0 }))
        .collect();
    Ok(Tensor::from_vec(m, (t, t), dev)?)
}

/// Each key/value head repeated for the `n_rep` query heads that share it (query head i uses
/// key/value head i / n_rep).
fn repeat_kv(x: &Tensor, n_rep: usize) -> Result<Tensor> {
    if n_rep == 1 {
        return Ok(x.clone());
    }
    let (b, h, l, d) = x.dims4()?;
    Ok(x.unsqueeze(2)?
        .broadcast_as((b, h, n_rep, l, d))?
        .contiguous()?
        .reshape((b, h * n_rep, l, d))?)
}

/// cos and sin of position × frequency for every position up to the context length.
fn rope_tables(cfg: &Config) -> Result<(Tensor, Tensor)> {
    let hd = cfg.head_dim();
    let positions = cfg.context_length.clamp(1, 1 << 15);
    let inv: Vec<f32> = (0..hd)
        .step_by(2)
        .map(|i| 1.0 / cfg.rope_theta.powf(i as f32 / hd as f32))
        .collect();
    let dev = Device::Cpu;
    let inv = Tensor::from_vec(inv, (1, hd / 2), &dev)?;
    let pos = Tensor::arange(0u32, positions as u32, &dev)?
        .to_dtype(DType::F32)?
        .reshape((positions, 1))?;
    let angles = pos.matmul(&inv)?;
    Ok((angles.cos()?, angles.sin()?))
}

/// Shannon entropy (nats) of the distribution with these logits (`-inf` = masked), in one pass
/// after the maximum and without allocating: with m = max, s = Σ e^(l−m), t = Σ e^(l−m)·(l−m),
/// H = ln s − t / s.
pub fn entropy(logits: &[f32]) -> f64 {
    let m = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
    let (mut s, mut t) = (0.0f64, 0.0f64);
    for &l in logits {
        if l.is_finite() {
            let x = l as f64 - m;
            let e = x.exp();
            s += e;
            t += e * x;
        }
    }
    s.ln() - t / s
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::entropy;

    #[test]
    fn entropy_matches_the_definition() {
        let l = [1.0f32, 2.0, 0.5, f32::NEG_INFINITY, -3.0];
        let z: f64 = l.iter().map(|&x| (x as f64).exp()).sum();
        let direct: f64 = l
            .iter()
            .map(|&x| (x as f64).exp() / z)
            .filter(|&p| p > 0.0)
            .map(|p| -p * p.ln())
            .sum();
        assert!(
            (entropy(&l) - direct).abs() < 1e-12,
            "{} {direct}",
            entropy(&l)
        );
        assert!(entropy(&[0.0f32; 8]) - 8f64.ln() < 1e-12);
        assert_eq!(entropy(&[5.0f32, f32::NEG_INFINITY]), 0.0);
    }
}
