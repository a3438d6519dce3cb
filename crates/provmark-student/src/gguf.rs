//! Students in and out of GGUF files: a fine-tuned student starts from the teacher's weights
//! (dequantized to f32), and every trained student is written back as a llama GGUF that
//! `provmark-model` runs and `provmark scan --suspect-model` reads.

use std::collections::BTreeMap;
use std::path::Path;

/// Storage types for [`export_gguf`] (candle's).
pub use candle_core::quantized::GgmlDType;
use candle_core::quantized::{gguf_file, QTensor};
use candle_core::{Device, Tensor};

use crate::model::{Student, StudentConfig};
use crate::{Result, StudentError};

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StudentError + '_ {
    move |source| StudentError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn read(path: &Path) -> Result<(std::fs::File, gguf_file::Content)> {
    let mut f = std::fs::File::open(path).map_err(io(path))?;
    let ct = gguf_file::Content::read(&mut f)
        .map_err(|e| StudentError::Format(format!("{}: {e}", path.display())))?;
    Ok((f, ct))
}

fn meta_usize(ct: &gguf_file::Content, key: &str) -> Result<usize> {
    ct.metadata
        .get(key)
        .ok_or_else(|| StudentError::Format(format!("missing metadata key {key}")))?
        .to_u32()
        .map(|x| x as usize)
        .map_err(|e| StudentError::Format(format!("metadata key {key}: {e}")))
}

fn meta_f32(ct: &gguf_file::Content, key: &str, default: f32) -> Result<f32> {
    match ct.metadata.get(key) {
        None => Ok(default),
        Some(v) => v
            .to_f32()
            .map_err(|e| StudentError::Format(format!("metadata key {key}: {e}"))),
    }
}

/// The architecture recorded in a llama GGUF file (`context_length` capped at `max_context`:
/// training never needs the full window, and the rotary tables are built for it).
pub fn config_from_gguf(path: &Path, max_context: usize) -> Result<StudentConfig> {
    let (_, ct) = read(path)?;
    let embd = ct
        .tensor_infos
        .get("token_embd.weight")
        .ok_or_else(|| StudentError::Format(format!("{}: no token_embd.weight", path.display())))?;
    let vocab_size = embd.shape.dims()[0];
    Ok(StudentConfig {
        layers: meta_usize(&ct, "llama.block_count")?,
        dim: meta_usize(&ct, "llama.embedding_length")?,
        heads: meta_usize(&ct, "llama.attention.head_count")?,
        kv_heads: meta_usize(&ct, "llama.attention.head_count_kv")?,
        ffn_dim: meta_usize(&ct, "llama.feed_forward_length")?,
        vocab_size,
        context_length: meta_usize(&ct, "llama.context_length")?.min(max_context),
        rope_theta: meta_f32(&ct, "llama.rope.freq_base", 10_000.0)?,
        rms_eps: f64::from(meta_f32(
            &ct,
            "llama.attention.layer_norm_rms_epsilon",
            1e-5,
        )?),
        tied_embeddings: !ct.tensor_infos.contains_key("output.weight"),
    })
}

/// A student holding a GGUF model's weights, dequantized to f32 (the fine-tuning start).
pub fn student_from_gguf(path: &Path, max_context: usize) -> Result<Student> {
    let cfg = config_from_gguf(path, max_context)?;
    let (mut f, ct) = read(path)?;
    let mut tensors = BTreeMap::new();
    for (name, _) in cfg.parameter_shapes() {
        let q = ct
            .tensor(&mut f, &name, &Device::Cpu)
            .map_err(|e| StudentError::Format(format!("{}: {name}: {e}", path.display())))?;
        tensors.insert(name, q.dequantize(&Device::Cpu)?);
    }
    Student::from_tensors(cfg, tensors)
}

/// Writes `student` as a llama GGUF at `out`, with the tokenizer and chat metadata of
/// `template` (the teacher's file) and the student's own shape keys. Matrices are stored as
/// `dtype` (Q8_0 for fast CPU decoding, or F32), norms as F32. Written to a temporary file and
/// renamed, so a killed export leaves no half file under the final name.
pub fn export_gguf(student: &Student, template: &Path, out: &Path, dtype: GgmlDType) -> Result<()> {
    let (_, ct) = read(template)?;
    let cfg = student.config();
    let mut meta: BTreeMap<String, gguf_file::Value> = ct
        .metadata
        .iter()
        .filter(|(k, _)| !k.starts_with("llama.") || k.starts_with("llama.vocab"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let u = |x: usize| gguf_file::Value::U32(x as u32);
    meta.insert(
        "general.architecture".into(),
        gguf_file::Value::String("llama".into()),
    );
    meta.insert(
        "general.name".into(),
        gguf_file::Value::String("provmark student".into()),
    );
    meta.insert("llama.block_count".into(), u(cfg.layers));
    meta.insert("llama.embedding_length".into(), u(cfg.dim));
    meta.insert("llama.attention.head_count".into(), u(cfg.heads));
    meta.insert("llama.attention.head_count_kv".into(), u(cfg.kv_heads));
    meta.insert("llama.feed_forward_length".into(), u(cfg.ffn_dim));
    meta.insert("llama.context_length".into(), u(cfg.context_length));
    meta.insert("llama.rope.dimension_count".into(), u(cfg.head_dim()));
    meta.insert(
        "llama.rope.freq_base".into(),
        gguf_file::Value::F32(cfg.rope_theta),
    );
    meta.insert(
        "llama.attention.layer_norm_rms_epsilon".into(),
        gguf_file::Value::F32(cfg.rms_eps as f32),
    );
    meta.insert("llama.vocab_size".into(), u(cfg.vocab_size));
    let file_type = if dtype == GgmlDType::Q8_0 { 7 } else { 0 };
    meta.insert("general.file_type".into(), gguf_file::Value::U32(file_type));
    let mut tensors: Vec<(String, QTensor)> = Vec::new();
    for (name, var) in student.named_vars() {
        let t: &Tensor = var.as_tensor();
        let q = if t.rank() == 2 && t.dims()[1] % 32 == 0 {
            QTensor::quantize(t, dtype)?
        } else {
            QTensor::quantize(t, GgmlDType::F32)?
        };
        tensors.push((name.clone(), q));
    }
    let meta_refs: Vec<(&str, &gguf_file::Value)> =
        meta.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let tensor_refs: Vec<(&str, &QTensor)> = tensors.iter().map(|(n, t)| (n.as_str(), t)).collect();
    let tmp = out.with_extension("gguf.partial");
    {
        let f = std::fs::File::create(&tmp).map_err(io(&tmp))?;
        let mut w = std::io::BufWriter::new(f);
        gguf_file::write(&mut w, &meta_refs, &tensor_refs)?;
        use std::io::Write;
        w.flush().map_err(io(&tmp))?;
    }
    std::fs::rename(&tmp, out).map_err(io(out))?;
    Ok(())
}
