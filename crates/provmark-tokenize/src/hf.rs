//! Hugging Face `tokenizer.json`, on the `tokenizers` crate (no hub access).
//!
//! Text is encoded without the post-processor's template tokens (`add_special_tokens = false`):
//! a suspect text is model output, which carries no BOS the model did not generate. Added tokens
//! spelled in the text are recognised, as `tokenizers` always does.

use std::collections::HashSet;
use std::ops::Range;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use tokenizers::DecoderWrapper;

use crate::{Result, TokenizeError, TokenizerSpec};

pub(crate) struct Hf {
    tok: tokenizers::Tokenizer,
    sha256: String,
    vocab_size: usize,
    path: PathBuf,
    /// Added tokens (their id → content); their bytes are their text.
    added: std::collections::HashMap<u32, String>,
    /// Added tokens marked `special`.
    special: HashSet<u32>,
    /// Inverse of the GPT-2 byte→char table when the decoder is byte-level.
    byte_level: Option<Vec<Option<u8>>>,
}

impl Hf {
    /// Loads a `tokenizer.json`, or the vocabulary of a GGUF model file (recognised by its magic
    /// bytes; see [`crate::gguf`]): either way the identity is the SHA-256 of the JSON bytes.
    pub(crate) fn load(path: &Path) -> Result<Hf> {
        let mut head = [0u8; 4];
        let is_gguf = {
            use std::io::Read;
            let mut f = std::fs::File::open(path).map_err(|source| TokenizeError::Io {
                path: path.to_path_buf(),
                source,
            })?;
            f.read(&mut head).map_err(|source| TokenizeError::Io {
                path: path.to_path_buf(),
                source,
            })? == 4
                && crate::gguf::is_gguf(&head)
        };
        let bytes = if is_gguf {
            crate::gguf::GgufVocab::from_path(path)?.to_tokenizer_json()?
        } else {
            std::fs::read(path).map_err(|source| TokenizeError::Io {
                path: path.to_path_buf(),
                source,
            })?
        };
        Hf::from_bytes(&bytes, path)
    }

    /// A `tokenizer.json` given as bytes; `path` is where it came from (the profile's hint).
    pub(crate) fn from_bytes(bytes: &[u8], path: &Path) -> Result<Hf> {
        let sha256 = hex::encode(Sha256::digest(bytes));
        let mut tok =
            tokenizers::Tokenizer::from_bytes(bytes).map_err(|e| TokenizeError::InvalidFile {
                path: path.to_path_buf(),
                message: e.to_string(),
            })?;
        // Scoring sees every token of the text: never truncate or pad.
        tok.with_truncation(None)
            .map_err(|e| TokenizeError::InvalidFile {
                path: path.to_path_buf(),
                message: e.to_string(),
            })?;
        tok.with_padding(None);
        let vocab_size = tok.get_vocab_size(true);
        let mut added = std::collections::HashMap::new();
        let mut special = HashSet::new();
        for (id, t) in tok.get_added_tokens_decoder() {
            if t.special {
                special.insert(id);
            }
            added.insert(id, t.content);
        }
        let byte_level =
            matches!(tok.get_decoder(), Some(DecoderWrapper::ByteLevel(_))).then(gpt2_char_to_byte);
        Ok(Hf {
            tok,
            sha256,
            vocab_size,
            path: path.to_path_buf(),
            added,
            special,
            byte_level,
        })
    }

    pub(crate) fn spec(&self) -> TokenizerSpec {
        TokenizerSpec::HuggingFace {
            sha256: self.sha256.clone(),
            vocab_size: u32::try_from(self.vocab_size).unwrap_or(u32::MAX),
            path: Some(self.path.display().to_string()),
        }
    }

    pub(crate) fn vocab_size(&self) -> usize {
        self.vocab_size
    }

    pub(crate) fn encode_into(&self, text: &str, out: &mut Vec<u32>) -> Result<()> {
        let enc = self
            .tok
            .encode_fast(text, false)
            .map_err(|e| TokenizeError::Backend(e.to_string()))?;
        out.extend_from_slice(enc.get_ids());
        Ok(())
    }

    pub(crate) fn encode_with_offsets(&self, text: &str) -> Result<(Vec<u32>, Vec<Range<usize>>)> {
        let enc = self
            .tok
            .encode(text, false)
            .map_err(|e| TokenizeError::Backend(e.to_string()))?;
        let ranges = enc.get_offsets().iter().map(|&(s, e)| s..e).collect();
        Ok((enc.get_ids().to_vec(), ranges))
    }

    pub(crate) fn is_special(&self, id: u32) -> bool {
        self.special.contains(&id)
    }

    pub(crate) fn token_bytes(&self, id: u32) -> Option<Vec<u8>> {
        if let Some(content) = self.added.get(&id) {
            return Some(content.as_bytes().to_vec());
        }
        let token = self.tok.id_to_token(id)?;
        match &self.byte_level {
            Some(table) => token
                .chars()
                .map(|c| table.get(c as usize).copied().flatten())
                .collect(),
            // Not byte-level: let the tokenizer's own decoder render the single token.
            None => self.tok.decode(&[id], false).ok().map(String::into_bytes),
        }
    }

    fn check_ids(&self, ids: &[u32]) -> Result<()> {
        match ids.iter().find(|&&id| self.tok.id_to_token(id).is_none()) {
            Some(&id) => Err(TokenizeError::UnknownTokenId(id)),
            None => Ok(()),
        }
    }

    pub(crate) fn decode(&self, ids: &[u32]) -> Result<String> {
        self.check_ids(ids)?;
        if self.byte_level.is_some() {
            // Byte-level: concatenate the exact bytes so invalid UTF-8 is reported, not replaced.
            let mut bytes = Vec::new();
            for &id in ids {
                bytes.extend(
                    self.token_bytes(id)
                        .ok_or(TokenizeError::UnknownTokenId(id))?,
                );
            }
            return String::from_utf8(bytes).map_err(|e| TokenizeError::InvalidUtf8 {
                valid_up_to: e.utf8_error().valid_up_to(),
            });
        }
        self.tok
            .decode(ids, false)
            .map_err(|e| TokenizeError::Backend(e.to_string()))
    }

    pub(crate) fn decode_lossy(&self, ids: &[u32]) -> String {
        if self.byte_level.is_some() {
            let mut bytes = Vec::new();
            for &id in ids {
                match self.token_bytes(id) {
                    Some(b) => bytes.extend(b),
                    None => bytes.extend_from_slice("\u{FFFD}".as_bytes()),
                }
            }
            return String::from_utf8_lossy(&bytes).into_owned();
        }
        let mut out = String::new();
        let mut run: Vec<u32> = Vec::new();
        let flush = |run: &mut Vec<u32>, out: &mut String| {
            if !run.is_empty() {
                match self.tok.decode(run, false) {
                    Ok(s) => out.push_str(&s),
                    Err(_) => out.push('\u{FFFD}'),
                }
                run.clear();
            }
        };
        for &id in ids {
            if self.tok.id_to_token(id).is_some() {
                run.push(id);
            } else {
                flush(&mut run, &mut out);
                out.push('\u{FFFD}');
            }
        }
        flush(&mut run, &mut out);
        out
    }
}

/// The inverse of GPT-2's byte→char table (the byte-level alphabet): printable bytes stand for
/// themselves, the other 68 bytes are shifted to U+0100.. in byte order.
fn gpt2_char_to_byte() -> Vec<Option<u8>> {
    let mut table = vec![None; 256 + 68];
    let mut shifted = 0usize;
    for b in 0u8..=255 {
        let printable = matches!(b, b'!'..=b'~' | 0xA1..=0xAC | 0xAE..=0xFF);
        let c = if printable {
            b as usize
        } else {
            shifted += 1;
            255 + shifted
        };
        table[c] = Some(b);
    }
    table
}
