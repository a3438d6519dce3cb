//! The vocabulary of a GGUF model file (llama.cpp's format), turned into a Hugging Face
//! `tokenizer.json` so that one backend ([`crate::hf`]) and one identity rule serve both.
//!
//! Only the header and the metadata key–value section are read (the tensors that follow are never
//! touched), so a 100 MB model costs a few megabytes of reading. Every length in the file is
//! checked against what is left of it before anything is allocated: a truncated or hostile file is
//! a [`TokenizeError::InvalidGguf`], never a panic or a huge allocation.
//!
//! # What is supported
//! `tokenizer.ggml.model = "gpt2"` (byte-level BPE) with one of the pre-tokenizers whose rules we
//! know exactly:
//! * `smollm` (SmolLM / SmolLM2): each digit on its own, then the GPT-2 split — in Hugging Face
//!   terms `Sequence[Digits(individual_digits), ByteLevel(add_prefix_space = false)]`, which is
//!   what the model's own `tokenizer.json` says;
//! * `gpt2` / `default`: the GPT-2 split alone.
//!
//! Anything else is [`TokenizeError::UnsupportedGguf`] naming the value: guessing a split would
//! give ids the model never produced, and a silent non-detection. Tokens of type 3 (control) and
//! 4 (user-defined) become added tokens; control tokens are `special` (skipped by the detector).
//!
//! The generated JSON is canonical — the same GGUF vocabulary always gives the same bytes — so
//! its SHA-256 is the tokenizer's identity whether it is read from the model or from the small
//! extracted file shipped in `assets/` (`provmark tokenizer extract` writes it).

use std::path::Path;

use serde_json::{json, Map, Value};

use crate::{Result, TokenizeError};

/// The four bytes every GGUF file starts with.
pub const GGUF_MAGIC: &[u8; 4] = b"GGUF";

/// True when `bytes` starts like a GGUF file.
pub fn is_gguf(bytes: &[u8]) -> bool {
    bytes.len() >= 4 && &bytes[..4] == GGUF_MAGIC
}

/// The tokenizer metadata of a GGUF file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GgufVocab {
    /// `tokenizer.ggml.model` (e.g. `gpt2`).
    pub model: String,
    /// `tokenizer.ggml.pre` (e.g. `smollm`), if present.
    pub pre: Option<String>,
    /// `tokenizer.ggml.tokens`, in id order.
    pub tokens: Vec<String>,
    /// `tokenizer.ggml.token_type` (1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused,
    /// 6 byte), one per token; empty when absent.
    pub token_types: Vec<i32>,
    /// `tokenizer.ggml.merges`: `"left right"` strings in rank order.
    pub merges: Vec<String>,
    /// `tokenizer.ggml.eos_token_id`.
    pub eos_token_id: Option<u32>,
    /// `tokenizer.ggml.bos_token_id`.
    pub bos_token_id: Option<u32>,
    /// `tokenizer.chat_template`, if present.
    pub chat_template: Option<String>,
    /// `general.license`, if present.
    pub license: Option<String>,
    /// `general.architecture`, if present.
    pub architecture: Option<String>,
}

/// A bounded reader over the file's bytes.
struct Cursor<'a> {
    b: &'a [u8],
    pos: usize,
}

fn bad(what: impl Into<String>) -> TokenizeError {
    TokenizeError::InvalidGguf(what.into())
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.b.len())
            .ok_or_else(|| bad(format!("file ends inside a value at byte {}", self.pos)))?;
        let s = &self.b[self.pos..end];
        self.pos = end;
        Ok(s)
    }
    fn u32(&mut self) -> Result<u32> {
        let s = self.take(4)?;
        Ok(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
    }
    fn u64(&mut self) -> Result<u64> {
        let s = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(s);
        Ok(u64::from_le_bytes(a))
    }
    fn remaining(&self) -> usize {
        self.b.len() - self.pos
    }
    /// A count of items each at least `min_size` bytes long: rejected if the rest of the file
    /// cannot hold them (so no allocation is ever larger than the file).
    fn count(&mut self, min_size: usize) -> Result<usize> {
        let n = self.u64()?;
        let n = usize::try_from(n).map_err(|_| bad("count does not fit in memory"))?;
        if n.saturating_mul(min_size.max(1)) > self.remaining() {
            return Err(bad(format!(
                "count {n} at byte {} is larger than the rest of the file",
                self.pos
            )));
        }
        Ok(n)
    }
    fn string(&mut self) -> Result<String> {
        let n = self.count(1)?;
        let s = self.take(n)?;
        String::from_utf8(s.to_vec()).map_err(|_| bad("a string is not valid UTF-8"))
    }
}

/// GGUF value type codes.
const T_U8: u32 = 0;
const T_I8: u32 = 1;
const T_U16: u32 = 2;
const T_I16: u32 = 3;
const T_U32: u32 = 4;
const T_I32: u32 = 5;
const T_F32: u32 = 6;
const T_BOOL: u32 = 7;
const T_STRING: u32 = 8;
const T_ARRAY: u32 = 9;
const T_U64: u32 = 10;
const T_I64: u32 = 11;
const T_F64: u32 = 12;

fn fixed_size(t: u32) -> Option<usize> {
    match t {
        T_U8 | T_I8 | T_BOOL => Some(1),
        T_U16 | T_I16 => Some(2),
        T_U32 | T_I32 | T_F32 => Some(4),
        T_U64 | T_I64 | T_F64 => Some(8),
        _ => None,
    }
}

/// A metadata value, kept only for the types the tokenizer needs.
enum Val {
    Str(String),
    Int(i64),
    Strs(Vec<String>),
    Ints(Vec<i64>),
    Other,
}

fn read_scalar_int(c: &mut Cursor<'_>, t: u32) -> Result<i64> {
    Ok(match t {
        T_U8 => i64::from(c.take(1)?[0]),
        T_I8 => i64::from(c.take(1)?[0] as i8),
        T_BOOL => i64::from(c.take(1)?[0] != 0),
        T_U16 => {
            let s = c.take(2)?;
            i64::from(u16::from_le_bytes([s[0], s[1]]))
        }
        T_I16 => {
            let s = c.take(2)?;
            i64::from(i16::from_le_bytes([s[0], s[1]]))
        }
        T_U32 => i64::from(c.u32()?),
        T_I32 => i64::from(c.u32()? as i32),
        T_U64 => i64::try_from(c.u64()?).unwrap_or(i64::MAX),
        T_I64 => c.u64()? as i64,
        _ => return Err(bad(format!("value type {t} is not an integer"))),
    })
}

fn read_value(c: &mut Cursor<'_>, t: u32, depth: u32) -> Result<Val> {
    match t {
        T_STRING => Ok(Val::Str(c.string()?)),
        T_F32 => {
            c.take(4)?;
            Ok(Val::Other)
        }
        T_F64 => {
            c.take(8)?;
            Ok(Val::Other)
        }
        T_ARRAY => {
            if depth > 0 {
                return Err(bad("nested arrays are not used by tokenizer metadata"));
            }
            let et = c.u32()?;
            match et {
                T_STRING => {
                    // Each string costs at least its 8-byte length.
                    let n = c.count(8)?;
                    let mut v = Vec::with_capacity(n);
                    for _ in 0..n {
                        v.push(c.string()?);
                    }
                    Ok(Val::Strs(v))
                }
                T_F32 | T_F64 => {
                    let size = fixed_size(et).unwrap_or(1);
                    let n = c.count(size)?;
                    c.take(n * size)?;
                    Ok(Val::Other)
                }
                _ => {
                    let size = fixed_size(et)
                        .ok_or_else(|| bad(format!("unknown array element type {et}")))?;
                    let n = c.count(size)?;
                    let mut v = Vec::with_capacity(n);
                    for _ in 0..n {
                        v.push(read_scalar_int(c, et)?);
                    }
                    Ok(Val::Ints(v))
                }
            }
        }
        _ if fixed_size(t).is_some() => Ok(Val::Int(read_scalar_int(c, t)?)),
        _ => Err(bad(format!("unknown value type {t}"))),
    }
}

impl GgufVocab {
    /// Reads the tokenizer metadata of the GGUF file at `path` (only the metadata section).
    pub fn from_path(path: &Path) -> Result<GgufVocab> {
        let io = |source| TokenizeError::Io {
            path: path.to_path_buf(),
            source,
        };
        let bytes = read_metadata_prefix(path).map_err(io)?;
        GgufVocab::parse(&bytes).map_err(|e| match e {
            TokenizeError::InvalidGguf(m) => {
                TokenizeError::InvalidGguf(format!("{}: {m}", path.display()))
            }
            TokenizeError::UnsupportedGguf(m) => {
                TokenizeError::UnsupportedGguf(format!("{}: {m}", path.display()))
            }
            other => other,
        })
    }

    /// Parses the header and metadata of a GGUF file from its first bytes (the tensor data may be
    /// cut off; the metadata may not).
    pub fn parse(bytes: &[u8]) -> Result<GgufVocab> {
        let mut c = Cursor { b: bytes, pos: 0 };
        if !is_gguf(c.take(4).map_err(|_| bad("not a GGUF file (too short)"))?) {
            return Err(bad("not a GGUF file (no GGUF magic)"));
        }
        let version = c.u32()?;
        if !(2..=3).contains(&version) {
            return Err(TokenizeError::UnsupportedGguf(format!(
                "GGUF version {version} (supported: 2 and 3)"
            )));
        }
        let _tensors = c.u64()?;
        // A key–value pair takes at least 8 (key length) + 4 (type) + 1 bytes.
        let kv = c.count(13)?;
        let mut v = GgufVocab {
            model: String::new(),
            pre: None,
            tokens: Vec::new(),
            token_types: Vec::new(),
            merges: Vec::new(),
            eos_token_id: None,
            bos_token_id: None,
            chat_template: None,
            license: None,
            architecture: None,
        };
        let mut have_model = false;
        for _ in 0..kv {
            let key = c.string()?;
            let t = c.u32()?;
            let val = read_value(&mut c, t, 0)?;
            let as_id = |x: i64| u32::try_from(x).ok();
            match (key.as_str(), val) {
                ("tokenizer.ggml.model", Val::Str(s)) => {
                    v.model = s;
                    have_model = true;
                }
                ("tokenizer.ggml.pre", Val::Str(s)) => v.pre = Some(s),
                ("tokenizer.ggml.tokens", Val::Strs(s)) => v.tokens = s,
                ("tokenizer.ggml.token_type", Val::Ints(s)) => {
                    v.token_types = s
                        .into_iter()
                        .map(|x| i32::try_from(x).unwrap_or(0))
                        .collect()
                }
                ("tokenizer.ggml.merges", Val::Strs(s)) => v.merges = s,
                ("tokenizer.ggml.eos_token_id", Val::Int(x)) => v.eos_token_id = as_id(x),
                ("tokenizer.ggml.bos_token_id", Val::Int(x)) => v.bos_token_id = as_id(x),
                ("tokenizer.chat_template", Val::Str(s)) => v.chat_template = Some(s),
                ("general.license", Val::Str(s)) => v.license = Some(s),
                ("general.architecture", Val::Str(s)) => v.architecture = Some(s),
                _ => {}
            }
        }
        if !have_model {
            return Err(bad(
                "no tokenizer.ggml.model key: the file carries no tokenizer",
            ));
        }
        if v.tokens.is_empty() {
            return Err(bad("tokenizer.ggml.tokens is missing or empty"));
        }
        if !v.token_types.is_empty() && v.token_types.len() != v.tokens.len() {
            return Err(bad(format!(
                "{} token types for {} tokens",
                v.token_types.len(),
                v.tokens.len()
            )));
        }
        Ok(v)
    }

    /// The equivalent Hugging Face `tokenizer.json`, as canonical bytes (see the module docs).
    pub fn to_tokenizer_json(&self) -> Result<Vec<u8>> {
        if self.model != "gpt2" {
            return Err(TokenizeError::UnsupportedGguf(format!(
                "tokenizer model {:?} (supported: gpt2 byte-level BPE)",
                self.model
            )));
        }
        let pre_byte_level = json!({
            "type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true
        });
        let pre_tokenizer = match self.pre.as_deref() {
            Some("smollm") => json!({
                "type": "Sequence",
                "pretokenizers": [
                    {"type": "Digits", "individual_digits": true},
                    pre_byte_level,
                ]
            }),
            Some("gpt2") | Some("default") | None => pre_byte_level,
            Some(other) => {
                return Err(TokenizeError::UnsupportedGguf(format!(
                    "pre-tokenizer {other:?} (supported: smollm, gpt2, default)"
                )))
            }
        };
        let mut vocab = Map::new();
        let mut added = Vec::new();
        for (id, tok) in self.tokens.iter().enumerate() {
            if vocab.insert(tok.clone(), json!(id)).is_some() {
                return Err(bad(format!(
                    "token {tok:?} appears twice in the vocabulary"
                )));
            }
            let ty = self.token_types.get(id).copied().unwrap_or(1);
            if ty == 3 || ty == 4 {
                added.push(json!({
                    "id": id, "content": tok, "single_word": false, "lstrip": false,
                    "rstrip": false, "normalized": false, "special": ty == 3,
                }));
            }
        }
        let mut merges = Vec::with_capacity(self.merges.len());
        for m in &self.merges {
            let (a, b) = m
                .split_once(' ')
                .ok_or_else(|| bad(format!("merge {m:?} is not two tokens")))?;
            merges.push(json!([a, b]));
        }
        let doc = json!({
            "version": "1.0",
            "truncation": null,
            "padding": null,
            "added_tokens": added,
            "normalizer": null,
            "pre_tokenizer": pre_tokenizer,
            "post_processor": null,
            "decoder": {
                "type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true,
                "use_regex": true
            },
            "model": {
                "type": "BPE", "dropout": null, "unk_token": null,
                "continuing_subword_prefix": null, "end_of_word_suffix": null,
                "fuse_unk": false, "byte_fallback": false, "ignore_merges": false,
                "vocab": Value::Object(vocab), "merges": merges,
            }
        });
        let mut out = serde_json::to_vec(&doc).map_err(|e| bad(e.to_string()))?;
        out.push(b'\n');
        Ok(out)
    }
}

/// Reads the start of a GGUF file: enough for the header and metadata of any sane model (the
/// tokenizer of a 256k-token vocabulary is ≈ 10 MB), reading more only when the metadata is
/// larger.
fn read_metadata_prefix(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let f = std::fs::File::open(path)?;
    let mut out = Vec::new();
    // 64 MiB bounds the metadata we are willing to read; larger metadata is a broken file.
    f.take(64 << 20).read_to_end(&mut out)?;
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn put_str(b: &mut Vec<u8>, s: &str) {
        b.extend_from_slice(&(s.len() as u64).to_le_bytes());
        b.extend_from_slice(s.as_bytes());
    }

    /// A small GGUF file with a byte-level vocabulary.
    pub(crate) fn tiny_gguf(pre: &str) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(GGUF_MAGIC);
        b.extend_from_slice(&3u32.to_le_bytes());
        b.extend_from_slice(&0u64.to_le_bytes());
        b.extend_from_slice(&5u64.to_le_bytes());
        put_str(&mut b, "tokenizer.ggml.model");
        b.extend_from_slice(&T_STRING.to_le_bytes());
        put_str(&mut b, "gpt2");
        put_str(&mut b, "tokenizer.ggml.pre");
        b.extend_from_slice(&T_STRING.to_le_bytes());
        put_str(&mut b, pre);
        // Vocabulary: a special token, the bytes used below, and merges.
        let toks = ["<|end|>", "h", "i", "Ġ", "hi", "Ġhi", "1", "2"];
        put_str(&mut b, "tokenizer.ggml.tokens");
        b.extend_from_slice(&T_ARRAY.to_le_bytes());
        b.extend_from_slice(&T_STRING.to_le_bytes());
        b.extend_from_slice(&(toks.len() as u64).to_le_bytes());
        for t in toks {
            put_str(&mut b, t);
        }
        put_str(&mut b, "tokenizer.ggml.token_type");
        b.extend_from_slice(&T_ARRAY.to_le_bytes());
        b.extend_from_slice(&T_I32.to_le_bytes());
        b.extend_from_slice(&(toks.len() as u64).to_le_bytes());
        for i in 0..toks.len() {
            let ty: i32 = if i == 0 { 3 } else { 1 };
            b.extend_from_slice(&ty.to_le_bytes());
        }
        let merges = ["h i", "Ġ hi"];
        put_str(&mut b, "tokenizer.ggml.merges");
        b.extend_from_slice(&T_ARRAY.to_le_bytes());
        b.extend_from_slice(&T_STRING.to_le_bytes());
        b.extend_from_slice(&(merges.len() as u64).to_le_bytes());
        for m in merges {
            put_str(&mut b, m);
        }
        b
    }

    #[test]
    fn parses_a_small_vocabulary() {
        let v = GgufVocab::parse(&tiny_gguf("smollm")).unwrap();
        assert_eq!(v.model, "gpt2");
        assert_eq!(v.pre.as_deref(), Some("smollm"));
        assert_eq!(v.tokens.len(), 8);
        assert_eq!(v.token_types[0], 3);
        assert_eq!(v.merges, vec!["h i", "Ġ hi"]);
        let json = v.to_tokenizer_json().unwrap();
        // Canonical: the same vocabulary gives the same bytes.
        assert_eq!(json, v.to_tokenizer_json().unwrap());
    }

    #[test]
    fn every_truncation_is_an_error_not_a_panic() {
        let full = tiny_gguf("smollm");
        for n in 0..full.len() {
            assert!(GgufVocab::parse(&full[..n]).is_err(), "prefix {n}");
        }
    }

    #[test]
    fn huge_counts_are_rejected_before_allocating() {
        let mut b = Vec::new();
        b.extend_from_slice(GGUF_MAGIC);
        b.extend_from_slice(&3u32.to_le_bytes());
        b.extend_from_slice(&0u64.to_le_bytes());
        b.extend_from_slice(&u64::MAX.to_le_bytes());
        let e = GgufVocab::parse(&b).unwrap_err();
        assert!(e.to_string().contains("larger than the rest"), "{e}");
    }

    #[test]
    fn unknown_pre_tokenizer_is_refused() {
        let v = GgufVocab::parse(&tiny_gguf("qwen2")).unwrap();
        let e = v.to_tokenizer_json().unwrap_err();
        assert!(e.to_string().contains("qwen2"), "{e}");
    }
}
