//! Re-quantization of a GGUF model to Q8_0 (candle's own `QTensor::quantize`).

use std::path::Path;

use candle_core::quantized::{gguf_file, GgmlDType, QTensor};
use candle_core::Device;

use crate::{ModelError, Result};

/// Writes `out`: the model at `input` with every quantized tensor other than Q8_0 dequantized and
/// quantized again as Q8_0 (f32/f16 tensors and Q8_0 tensors are copied as they are). Metadata and
/// tensors are written in sorted order, so the output is a pure function of the input.
pub fn convert_to_q8_0(input: &Path, out: &Path) -> Result<()> {
    let io = |p: &Path| {
        let p = p.to_path_buf();
        move |source| ModelError::Io { path: p, source }
    };
    let mut file = std::fs::File::open(input).map_err(io(input))?;
    let ct = gguf_file::Content::read(&mut file)
        .map_err(|e| ModelError::Format(format!("{}: {e}", input.display())))?;
    let dev = Device::Cpu;
    let mut names: Vec<&String> = ct.tensor_infos.keys().collect();
    names.sort();
    let mut tensors: Vec<(String, QTensor)> = Vec::with_capacity(names.len());
    for name in names {
        let t = ct.tensor(&mut file, name, &dev)?;
        let t = match t.dtype() {
            GgmlDType::F32 | GgmlDType::F16 | GgmlDType::BF16 | GgmlDType::Q8_0 => t,
            _ => QTensor::quantize(&t.dequantize(&dev)?, GgmlDType::Q8_0)?,
        };
        tensors.push((name.clone(), t));
    }
    let mut keys: Vec<&String> = ct.metadata.keys().collect();
    keys.sort();
    // general.file_type 7 = "mostly Q8_0" in llama.cpp's numbering.
    let file_type = gguf_file::Value::U32(7);
    let metadata: Vec<(&str, &gguf_file::Value)> = keys
        .iter()
        .map(|k| {
            let v = if k.as_str() == "general.file_type" {
                &file_type
            } else {
                &ct.metadata[*k]
            };
            (k.as_str(), v)
        })
        .collect();
    let tensor_refs: Vec<(&str, &QTensor)> = tensors.iter().map(|(n, t)| (n.as_str(), t)).collect();
    let tmp = out.with_extension("gguf.partial");
    {
        let f = std::fs::File::create(&tmp).map_err(io(&tmp))?;
        let mut w = std::io::BufWriter::new(f);
        gguf_file::write(&mut w, &metadata, &tensor_refs)?;
        use std::io::Write;
        w.flush().map_err(io(&tmp))?;
    }
    std::fs::rename(&tmp, out).map_err(io(out))?;
    Ok(())
}
