//! A llama-architecture transformer built from differentiable candle operations only.
//!
//! candle's fused kernels (`softmax_last_dim`, `rms_norm`, `layer_norm`, `rope`/`rope_i`, sdpa)
//! return values but pass no gradient, so a model that uses them trains silently wrong. Every
//! operation here is a composition of elementwise ops, reductions, matmuls, `index_select`,
//! `narrow`/`cat` and broadcasts — all of which candle differentiates — and
//! `tests/gradients.rs` checks every parameter's gradient against finite differences.
//!
//! The layout is GGUF's (tensor names `blk.{i}.attn_q.weight`, …; Q and K rows permuted for
//! rotary embedding of *adjacent* dimension pairs), so weights go in and out of GGUF files
//! unchanged and the exported student runs in `provmark-model`'s inference code.

use std::collections::BTreeMap;

use candle_core::{DType, Device, Tensor, Var, D};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use serde::{Deserialize, Serialize};

use crate::{Result, StudentError};

/// The architecture of a student.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StudentConfig {
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
    /// Vocabulary size.
    pub vocab_size: usize,
    /// Longest sequence (rotary tables are built for this many positions).
    pub context_length: usize,
    /// RoPE base frequency.
    pub rope_theta: f32,
    /// RMSNorm epsilon.
    pub rms_eps: f64,
    /// Output layer shares the embedding matrix.
    pub tied_embeddings: bool,
}

impl StudentConfig {
    /// Dimensions per head.
    pub fn head_dim(&self) -> usize {
        self.dim / self.heads.max(1)
    }

    /// Rejects shapes the forward pass cannot run.
    pub fn validate(&self) -> Result<()> {
        let ok = self.layers > 0
            && self.heads > 0
            && self.kv_heads > 0
            && self.dim % self.heads == 0
            && self.heads % self.kv_heads == 0
            && self.head_dim() % 2 == 0
            && self.ffn_dim > 0
            && self.vocab_size > 0
            && self.context_length > 0;
        if ok {
            Ok(())
        } else {
            Err(StudentError::Input(format!(
                "inconsistent student shape {self:?}"
            )))
        }
    }

    /// Parameter names and shapes, in a fixed order (GGUF names, (rows, columns)).
    pub fn parameter_shapes(&self) -> Vec<(String, Vec<usize>)> {
        let (d, hd) = (self.dim, self.head_dim());
        let mut v = vec![("token_embd.weight".to_string(), vec![self.vocab_size, d])];
        for i in 0..self.layers {
            let b = |s: &str| format!("blk.{i}.{s}.weight");
            v.push((b("attn_norm"), vec![d]));
            v.push((b("attn_q"), vec![self.heads * hd, d]));
            v.push((b("attn_k"), vec![self.kv_heads * hd, d]));
            v.push((b("attn_v"), vec![self.kv_heads * hd, d]));
            v.push((b("attn_output"), vec![d, self.heads * hd]));
            v.push((b("ffn_norm"), vec![d]));
            v.push((b("ffn_gate"), vec![self.ffn_dim, d]));
            v.push((b("ffn_up"), vec![self.ffn_dim, d]));
            v.push((b("ffn_down"), vec![d, self.ffn_dim]));
        }
        v.push(("output_norm.weight".to_string(), vec![d]));
        if !self.tied_embeddings {
            v.push(("output.weight".to_string(), vec![self.vocab_size, d]));
        }
        v
    }

    /// Number of trainable values.
    pub fn parameter_count(&self) -> usize {
        self.parameter_shapes()
            .iter()
            .map(|(_, s)| s.iter().product::<usize>())
            .sum()
    }
}

/// A trainable student: its configuration and one [`Var`] per parameter.
pub struct Student {
    cfg: StudentConfig,
    params: BTreeMap<String, Var>,
    cos: Tensor,
    sin: Tensor,
}

/// Standard normal draws from a seeded stream (Box–Muller), so initialisation is reproducible.
fn normal(rng: &mut ChaCha20Rng, n: usize, std: f32) -> Vec<f32> {
    use rand::Rng;
    let mut out = Vec::with_capacity(n + 1);
    while out.len() < n {
        let u1: f64 = rng.random::<f64>().max(f64::MIN_POSITIVE);
        let u2: f64 = rng.random::<f64>();
        let r = (-2.0 * u1.ln()).sqrt();
        let a = std::f64::consts::TAU * u2;
        out.push((r * a.cos()) as f32 * std);
        out.push((r * a.sin()) as f32 * std);
    }
    out.truncate(n);
    out
}

impl Student {
    /// A student with fresh weights: matrices N(0, 0.02²) (output projections scaled by
    /// 1/√(2·layers)), norms 1 — from a ChaCha20 stream seeded with `seed`.
    pub fn init(cfg: StudentConfig, seed: u64) -> Result<Student> {
        cfg.validate()?;
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let mut tensors = BTreeMap::new();
        let resid = 0.02 / (2.0 * cfg.layers as f32).sqrt();
        for (name, shape) in cfg.parameter_shapes() {
            let n: usize = shape.iter().product();
            let t = if shape.len() == 1 {
                Tensor::ones(n, DType::F32, &Device::Cpu)?
            } else {
                let std =
                    if name.ends_with("attn_output.weight") || name.ends_with("ffn_down.weight") {
                        resid
                    } else {
                        0.02
                    };
                Tensor::from_vec(normal(&mut rng, n, std), shape.as_slice(), &Device::Cpu)?
            };
            tensors.insert(name, t);
        }
        Student::from_tensors(cfg, tensors)
    }

    /// A student with the given weights (names and shapes as [`StudentConfig::parameter_shapes`];
    /// extra tensors are refused, missing ones are an error).
    pub fn from_tensors(
        cfg: StudentConfig,
        mut tensors: BTreeMap<String, Tensor>,
    ) -> Result<Student> {
        cfg.validate()?;
        let mut params = BTreeMap::new();
        for (name, shape) in cfg.parameter_shapes() {
            let t = tensors
                .remove(&name)
                .ok_or_else(|| StudentError::Format(format!("missing tensor {name}")))?;
            if t.dims() != shape.as_slice() {
                return Err(StudentError::Format(format!(
                    "tensor {name} has shape {:?}, expected {shape:?}",
                    t.dims()
                )));
            }
            let t = t.to_dtype(DType::F32)?.contiguous()?;
            params.insert(name, Var::from_tensor(&t)?);
        }
        if let Some(extra) = tensors.keys().next() {
            return Err(StudentError::Format(format!(
                "unexpected tensor {extra} for this configuration"
            )));
        }
        let (cos, sin) = rope_tables(&cfg)?;
        Ok(Student {
            cfg,
            params,
            cos,
            sin,
        })
    }

    /// The architecture.
    pub fn config(&self) -> &StudentConfig {
        &self.cfg
    }

    /// The trainable variables, in name order.
    pub fn vars(&self) -> Vec<Var> {
        self.params.values().cloned().collect()
    }

    /// Parameters by name.
    pub fn named_vars(&self) -> &BTreeMap<String, Var> {
        &self.params
    }

    fn w(&self, name: &str) -> Result<&Tensor> {
        self.params
            .get(name)
            .map(|v| v.as_tensor())
            .ok_or_else(|| StudentError::Format(format!("missing tensor {name}")))
    }

    /// Logits for every position: `ids` is (batch, t) u32; returns (batch, t, vocab).
    pub fn forward(&self, ids: &Tensor) -> Result<Tensor> {
        let cfg = &self.cfg;
        let (b, t) = ids.dims2()?;
        if t > cfg.context_length {
            return Err(StudentError::Input(format!(
                "sequence of {t} tokens is longer than the context ({})",
                cfg.context_length
            )));
        }
        let (hd, nh, nkv) = (cfg.head_dim(), cfg.heads, cfg.kv_heads);
        let embed = self.w("token_embd.weight")?;
        let mut x = embed
            .index_select(&ids.flatten_all()?, 0)?
            .reshape((b, t, cfg.dim))?;
        let cos = self.cos.narrow(0, 0, t)?;
        let sin = self.sin.narrow(0, 0, t)?;
        let mask = causal_mask(t)?;
        let scale = 1.0 / (hd as f64).sqrt();
        for i in 0..cfg.layers {
            let n = |s: &str| format!("blk.{i}.{s}.weight");
            let h = rms_norm(&x, self.w(&n("attn_norm"))?, cfg.rms_eps)?;
            let q = linear(&h, self.w(&n("attn_q"))?)?
                .reshape((b, t, nh, hd))?
                .transpose(1, 2)?;
            let k = linear(&h, self.w(&n("attn_k"))?)?
                .reshape((b, t, nkv, hd))?
                .transpose(1, 2)?;
            let v = linear(&h, self.w(&n("attn_v"))?)?
                .reshape((b, t, nkv, hd))?
                .transpose(1, 2)?;
            let q = rope_adjacent_pairs(&q, &cos, &sin)?;
            let k = rope_adjacent_pairs(&k, &cos, &sin)?;
            let k = repeat_kv(&k, nh / nkv)?;
            let v = repeat_kv(&v, nh / nkv)?.contiguous()?;
            let att = (q.contiguous()?.matmul(&k.t()?.contiguous()?)? * scale)?;
            let att = att.broadcast_add(&mask)?;
            let att = candle_nn::ops::softmax(&att, D::Minus1)?;
            let y = att.matmul(&v)?.transpose(1, 2)?.reshape((b, t, nh * hd))?;
            x = (x + linear(&y, self.w(&n("attn_output"))?)?)?;
            let h = rms_norm(&x, self.w(&n("ffn_norm"))?, cfg.rms_eps)?;
            let g = linear(&h, self.w(&n("ffn_gate"))?)?;
            let g = (&g * (g.neg()?.exp()? + 1.0)?.recip()?)?;
            let u = linear(&h, self.w(&n("ffn_up"))?)?;
            x = (x + linear(&(g * u)?, self.w(&n("ffn_down"))?)?)?;
        }
        let x = rms_norm(&x, self.w("output_norm.weight")?, cfg.rms_eps)?;
        let out = if cfg.tied_embeddings {
            embed
        } else {
            self.w("output.weight")?
        };
        linear(&x, out)
    }

    /// Mean next-token cross-entropy (nats) over the positions where `mask` is 1: `ids`,
    /// `targets` (batch, t) u32, `mask` (batch, t) f32.
    pub fn loss(&self, ids: &Tensor, targets: &Tensor, mask: &Tensor) -> Result<Tensor> {
        let logits = self.forward(ids)?;
        let lsm = candle_nn::ops::log_softmax(&logits, D::Minus1)?;
        let picked = lsm.gather(&targets.unsqueeze(2)?, 2)?.squeeze(2)?;
        let total = mask.sum_all()?;
        Ok((picked.mul(mask)?.sum_all()?.neg()? / total)?)
    }
}

/// x · wᵀ over the last dimension (w is (out, in)).
fn linear(x: &Tensor, w: &Tensor) -> Result<Tensor> {
    let dims = x.dims().to_vec();
    let (out, inp) = w.dims2()?;
    let rows: usize = dims[..dims.len() - 1].iter().product();
    let y = x.reshape((rows, inp))?.matmul(&w.t()?)?;
    let mut shape = dims;
    if let Some(last) = shape.last_mut() {
        *last = out;
    }
    Ok(y.reshape(shape)?)
}

/// RMSNorm written with elementwise ops and a mean (differentiable).
fn rms_norm(x: &Tensor, w: &Tensor, eps: f64) -> Result<Tensor> {
    let ms = x.sqr()?.mean_keepdim(D::Minus1)?;
    let inv = (ms + eps)?.sqrt()?.recip()?;
    Ok(x.broadcast_mul(&inv)?.broadcast_mul(w)?)
}

/// Rotary embedding of adjacent pairs (2i, 2i+1) of each head's dimensions — the rotation
/// llama.cpp's GGUF layout expects — from narrow/cat and elementwise ops.
fn rope_adjacent_pairs(x: &Tensor, cos: &Tensor, sin: &Tensor) -> Result<Tensor> {
    let (b, h, t, hd) = x.dims4()?;
    let x = x.contiguous()?.reshape((b, h, t, hd / 2, 2))?;
    let x0 = x.narrow(4, 0, 1)?;
    let x1 = x.narrow(4, 1, 1)?;
    let cos = cos.reshape((1, 1, t, hd / 2, 1))?;
    let sin = sin.reshape((1, 1, t, hd / 2, 1))?;
    let r0 = (x0.broadcast_mul(&cos)? - x1.broadcast_mul(&sin)?)?;
    let r1 = (x0.broadcast_mul(&sin)? + x1.broadcast_mul(&cos)?)?;
    Ok(Tensor::cat(&[r0, r1], 4)?.reshape((b, h, t, hd))?)
}

/// Each key/value head repeated for the query heads that share it.
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

/// `-inf` above the diagonal, 0 elsewhere.
fn causal_mask(t: usize) -> Result<Tensor> {
    let m: Vec<f32> = (0..t)
        .flat_map(|i| (0..t).map(move |j| if j > i { f32::NEG_INFINITY } else { 0.0 }))
        .collect();
    Ok(Tensor::from_vec(m, (t, t), &Device::Cpu)?)
}

fn rope_tables(cfg: &StudentConfig) -> Result<(Tensor, Tensor)> {
    let hd = cfg.head_dim();
    let inv: Vec<f32> = (0..hd)
        .step_by(2)
        .map(|i| 1.0 / cfg.rope_theta.powf(i as f32 / hd as f32))
        .collect();
    let inv = Tensor::from_vec(inv, (1, hd / 2), &Device::Cpu)?;
    let pos = Tensor::arange(0u32, cfg.context_length as u32, &Device::Cpu)?
        .to_dtype(DType::F32)?
        .reshape((cfg.context_length, 1))?;
    let angles = pos.matmul(&inv)?;
    Ok((angles.cos()?, angles.sin()?))
}
