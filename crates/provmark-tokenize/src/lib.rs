//! Tokenizers for provmark: bundled OpenAI encodings and Hugging Face `tokenizer.json`, bound to a
//! profile's tokenizer identity.
//!
//! A watermark lives on token ids, so detection must split text exactly as the watermarked model did.
//! [`Tokenizer`] is the one type the rest of provmark uses:
//!
//! * [`Tokenizer::openai`] — `o200k_base` or `cl100k_base`, bundled in the binary (no file, no network).
//!   Backed by the `bpe-openai` crate, the fastest implementation we measured whose ids are identical to
//!   OpenAI's tiktoken (`tests/equivalence.rs` compares it with `tiktoken-rs` on real corpora and
//!   adversarial strings).
//! * [`Tokenizer::from_file`] — any Hugging Face `tokenizer.json` (the `tokenizers` crate, no hub
//!   access). Identified by the SHA-256 of the file's bytes and its vocabulary size.
//! * [`Tokenizer::for_profile`] — loads what a profile names and **verifies** the identity: a
//!   different file is an error naming both identities, never a silent non-detection.
//!
//! # Special-token text in the input
//!
//! Text that spells a special token (`<|endoftext|>`, `<|endofprompt|>`, …; for Hugging Face every
//! added token) is encoded as that special id — tiktoken's `allowed_special="all"` behaviour, and
//! what `tokenizers` does for added tokens anyway. Reasons: (1) such text is a format artefact of
//! the serving stack (a rendered end-of-text marker), not model-chosen content, and mapping it to
//! the special id lets the detector skip it (see [`Tokenizer::is_special`]) instead of scoring
//! `<|`, `endoftext`, `|>` as if the model had generated them; (2) both backends then behave alike;
//! (3) a chat transcript pasted with its markers tokenizes as the model saw it. The cost: a text
//! that *discusses* the marker literally loses those few tokens from scoring, which can only make a
//! test more conservative.
//!
//! # Example
//!
//! ```
//! use provmark_tokenize::Tokenizer;
//!
//! let tok = Tokenizer::openai("o200k_base")?;
//! let ids = tok.encode("Hello, world!<|endoftext|>");
//! assert!(tok.is_special(*ids.last().unwrap()));
//! assert_eq!(tok.decode(&ids)?, "Hello, world!<|endoftext|>");
//! # Ok::<(), provmark_tokenize::TokenizeError>(())
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod gguf;
mod hf;
mod openai;

use std::ops::Range;
use std::path::{Path, PathBuf};

pub use provmark_core::TokenizerSpec;

/// Names of the bundled OpenAI encodings.
pub const OPENAI_ENCODINGS: &[&str] = &["o200k_base", "cl100k_base"];

/// SmolLM2-135M-Instruct's tokenizer (the extract in `assets/smollm2/tokenizer.json`), built in so
/// that a profile bound to it works from any directory (see [`Tokenizer::for_profile`]).
const SMOLLM2_TOKENIZER_JSON: &[u8] = include_bytes!("../../../assets/smollm2/tokenizer.json");
/// SHA-256 of [`Tokenizer::smollm2`]'s bytes: the identity profiles record for it.
pub const SMOLLM2_SHA256: &str = "055d85f8333aa40465b0400248de18130e7f826a7cb7a368b2499a7672d28105";
/// The path hint profiles record for the built-in SmolLM2 tokenizer (relative to the repository root).
pub const SMOLLM2_PATH: &str = "assets/smollm2/tokenizer.json";

/// Everything that can go wrong loading a tokenizer or decoding ids.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TokenizeError {
    /// The name is not a bundled OpenAI encoding.
    #[error("unknown tokenizer encoding {0:?} (bundled: o200k_base, cl100k_base)")]
    UnknownEncoding(String),
    /// `from_arg` got something that is neither an encoding name nor an existing file.
    #[error("tokenizer {0:?} is neither a bundled encoding (o200k_base, cl100k_base) nor an existing tokenizer.json file")]
    UnknownTokenizerArg(String),
    /// The tokenizer file could not be read.
    #[error("cannot read tokenizer file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The file is not a valid Hugging Face `tokenizer.json`.
    #[error("{path} is not a valid Hugging Face tokenizer.json: {message}")]
    InvalidFile {
        /// The file.
        path: PathBuf,
        /// What the parser said.
        message: String,
    },
    /// The loaded tokenizer is not the one the profile names.
    #[error("tokenizer mismatch: the profile was made with {expected}, but {found} was given")]
    Mismatch {
        /// Identity recorded in the profile.
        expected: String,
        /// Identity of the tokenizer that was loaded.
        found: String,
    },
    /// The profile names a Hugging Face tokenizer but no file is known.
    #[error("the profile uses {expected}; give the tokenizer.json file (no path is recorded in the profile)")]
    MissingFile {
        /// Identity recorded in the profile.
        expected: String,
    },
    /// Token ids given as input (e.g. `check --token-ids`) include one the tokenizer cannot
    /// produce: wrong tokenizer, or not token ids at all.
    #[error("token id {id} at position {position} is outside the vocabulary of {vocab_size} ids (wrong tokenizer, or not token ids?)")]
    IdOutOfVocabulary {
        /// The id.
        id: u32,
        /// Its 0-based position in the input.
        position: usize,
        /// The tokenizer's id space.
        vocab_size: usize,
    },
    /// A token id outside the vocabulary was given to `decode`.
    #[error("token id {0} is not in the tokenizer's vocabulary")]
    UnknownTokenId(u32),
    /// The decoded bytes are not valid UTF-8 (use `decode_lossy`).
    #[error("decoded tokens are not valid UTF-8 (at byte {valid_up_to})")]
    InvalidUtf8 {
        /// Length of the longest valid prefix.
        valid_up_to: usize,
    },
    /// A GGUF model file whose header or tokenizer metadata is malformed.
    #[error("invalid GGUF file: {0}")]
    InvalidGguf(String),
    /// A GGUF model file whose tokenizer we cannot reproduce exactly (an unknown pre-tokenizer).
    #[error("unsupported GGUF tokenizer: {0}")]
    UnsupportedGguf(String),
    /// The Hugging Face tokenizer failed while encoding or decoding.
    #[error("tokenizer failed: {0}")]
    Backend(String),
}

/// Result alias for this crate.
pub type Result<T, E = TokenizeError> = std::result::Result<T, E>;

enum Backend {
    OpenAi(openai::OpenAi),
    Hf(Box<hf::Hf>),
}

/// A loaded tokenizer. `Send + Sync`; share it by reference or `Arc` across threads.
pub struct Tokenizer {
    backend: Backend,
}

/// Runs `f` on `text[cuts[i]..cuts[i + 1]]` for every i, each on its own thread, in order.
fn in_parts<T: Send>(text: &str, cuts: &[usize], f: impl Fn(&str) -> T + Sync) -> Vec<T> {
    std::thread::scope(|scope| {
        let f = &f;
        let handles: Vec<_> = cuts
            .windows(2)
            .map(|w| {
                let part = &text[w[0]..w[1]];
                scope.spawn(move || f(part))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    })
}

/// Cut points `0 = c_0 < c_1 < … < c_k = text.len()` for at most `parts` parts of about equal
/// size, each inner cut just after a `\n` that is followed by an ASCII letter or digit (see
/// [`Tokenizer::encode_with_offsets_parallel`]).
fn safe_cuts(text: &str, parts: usize) -> Vec<usize> {
    let b = text.as_bytes();
    let mut cuts = vec![0];
    for k in 1..parts {
        let from = (b.len() * k / parts).max(cuts[cuts.len() - 1] + 1);
        let found = (from..b.len()).find(|&i| b[i - 1] == b'\n' && b[i].is_ascii_alphanumeric());
        match found {
            Some(i) => cuts.push(i),
            None => break,
        }
    }
    cuts.push(b.len());
    cuts.dedup();
    cuts
}

impl std::fmt::Debug for Tokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokenizer")
            .field("spec", &self.spec())
            .finish()
    }
}

impl Tokenizer {
    /// A bundled OpenAI encoding: `"o200k_base"` or `"cl100k_base"`. Offline; the first call per
    /// encoding in a process pays the load (tens of milliseconds), later calls are free.
    pub fn openai(encoding: &str) -> Result<Tokenizer> {
        Ok(Tokenizer {
            backend: Backend::OpenAi(openai::OpenAi::load(encoding)?),
        })
    }

    /// A Hugging Face `tokenizer.json`, or a GGUF model file (recognised by its magic bytes), whose
    /// vocabulary is turned into the equivalent canonical `tokenizer.json` ([`gguf`]). The identity
    /// is the SHA-256 of the JSON bytes: a profile made from the model file and one made from the
    /// extracted `tokenizer.json` are the same tokenizer.
    pub fn from_file(path: &Path) -> Result<Tokenizer> {
        Ok(Tokenizer {
            backend: Backend::Hf(Box::new(hf::Hf::load(path)?)),
        })
    }

    /// SmolLM2-135M-Instruct's tokenizer, built into the library (the extract shipped as
    /// `assets/smollm2/tokenizer.json`, Apache-2.0; SHA-256 [`SMOLLM2_SHA256`]). `path` is only
    /// the hint the tokenizer's spec records.
    pub fn smollm2(path: &Path) -> Result<Tokenizer> {
        Ok(Tokenizer {
            backend: Backend::Hf(Box::new(hf::Hf::from_bytes(SMOLLM2_TOKENIZER_JSON, path)?)),
        })
    }

    /// An encoding name (`o200k_base`, `cl100k_base`), a path to a `tokenizer.json`, or a folder
    /// holding one (a downloaded model) — the form of `keygen --tokenizer`.
    pub fn from_arg(arg: &str) -> Result<Tokenizer> {
        if OPENAI_ENCODINGS.contains(&arg) {
            return Tokenizer::openai(arg);
        }
        let path = Path::new(arg);
        if path.is_file() {
            return Tokenizer::from_file(path);
        }
        // A model folder: its tokenizer.json.
        let inner = path.join("tokenizer.json");
        if path.is_dir() && inner.is_file() {
            return Tokenizer::from_file(&inner);
        }
        Err(TokenizeError::UnknownTokenizerArg(arg.to_string()))
    }

    /// Loads the tokenizer a profile names and verifies it is the same one.
    ///
    /// For a Hugging Face profile the file is `path_override` if given, else the path recorded in
    /// the profile; its SHA-256 and vocabulary size must equal the profile's, or this returns
    /// [`TokenizeError::Mismatch`] naming both identities. A `path_override` for a profile that uses a
    /// bundled encoding is a mismatch too (the file would be ignored otherwise).
    pub fn for_profile(spec: &TokenizerSpec, path_override: Option<&Path>) -> Result<Tokenizer> {
        match spec {
            TokenizerSpec::Tiktoken { encoding } => {
                if let Some(p) = path_override {
                    let found = Tokenizer::from_file(p)?;
                    return Err(TokenizeError::Mismatch {
                        expected: describe(spec),
                        found: describe(&found.spec()),
                    });
                }
                Tokenizer::openai(encoding)
            }
            TokenizerSpec::HuggingFace {
                sha256,
                vocab_size,
                path,
            } => {
                // The recorded path is a hint relative to where the profile was made (the
                // repository root for the shipped extract). When it is absent or not there and
                // the profile names the built-in SmolLM2 tokenizer, use the built-in bytes: same
                // identity, so the profile works from any directory. A file given explicitly is
                // always the one loaded.
                if path_override.is_none()
                    && sha256.eq_ignore_ascii_case(SMOLLM2_SHA256)
                    && path.as_deref().is_none_or(|p| !Path::new(p).exists())
                {
                    return Tokenizer::smollm2(Path::new(path.as_deref().unwrap_or(SMOLLM2_PATH)));
                }
                let file: PathBuf = match (path_override, path) {
                    (Some(p), _) => p.to_path_buf(),
                    (None, Some(p)) => PathBuf::from(p),
                    (None, None) => {
                        return Err(TokenizeError::MissingFile {
                            expected: describe(spec),
                        })
                    }
                };
                let tok = Tokenizer::from_file(&file)?;
                let found = tok.spec();
                let ok = match &found {
                    TokenizerSpec::HuggingFace {
                        sha256: s,
                        vocab_size: v,
                        ..
                    } => s.eq_ignore_ascii_case(sha256) && v == vocab_size,
                    _ => false,
                };
                if !ok {
                    return Err(TokenizeError::Mismatch {
                        expected: describe(spec),
                        found: describe(&found),
                    });
                }
                Ok(tok)
            }
            // TokenizerSpec is non_exhaustive: a future kind this build does not know.
            #[allow(unreachable_patterns)]
            other => Err(TokenizeError::UnknownEncoding(other.to_string())),
        }
    }

    /// The identity to store in a profile (HF: SHA-256 of the file bytes, vocab size, path hint).
    pub fn spec(&self) -> TokenizerSpec {
        match &self.backend {
            Backend::OpenAi(o) => TokenizerSpec::Tiktoken {
                encoding: o.name().to_string(),
            },
            Backend::Hf(h) => h.spec(),
        }
    }

    /// Size of the id space: every id the tokenizer can produce is `< vocab_size()` (for the OpenAI
    /// encodings this is tiktoken's `n_vocab`, max id + 1: 200,019 and 100,277). Not every id below
    /// it is assigned (`o200k_base` has no 199,998 or 200,000–200,017): [`Tokenizer::token_bytes`]
    /// is `None` for those.
    pub fn vocab_size(&self) -> usize {
        match &self.backend {
            Backend::OpenAi(o) => o.vocab_size(),
            Backend::Hf(h) => h.vocab_size(),
        }
    }

    /// Checks that every id could have come from this tokenizer (`id < vocab_size()`); the first
    /// one that could not is the error.
    pub fn check_ids(&self, ids: &[u32]) -> Result<(), TokenizeError> {
        let vocab_size = self.vocab_size();
        match ids.iter().position(|&id| id as usize >= vocab_size) {
            None => Ok(()),
            Some(position) => Err(TokenizeError::IdOutOfVocabulary {
                id: ids[position],
                position,
                vocab_size,
            }),
        }
    }

    /// Builds now the lookup tables that only pay off over large inputs (a scan calls this once;
    /// otherwise they are built after the first few megabytes). Results are identical either way.
    pub fn warm_up(&self) {
        if let Backend::OpenAi(o) = &self.backend {
            o.warm_up();
        }
    }

    /// Encodes `text` (special-token text becomes the special id; see the crate docs).
    pub fn encode(&self, text: &str) -> Vec<u32> {
        let mut out = Vec::new();
        self.encode_into(text, &mut out);
        out
    }

    /// Appends the ids of `text` to `out`; reuse `out` across calls in scans.
    ///
    /// Never fails for the bundled encodings. A Hugging Face tokenizer can in principle fail (for
    /// example a model without an unknown token meeting an unknown character); then nothing is
    /// appended for that text — use [`Tokenizer::try_encode_into`] to see the error.
    pub fn encode_into(&self, text: &str, out: &mut Vec<u32>) {
        let len = out.len();
        if self.try_encode_into(text, out).is_err() {
            out.truncate(len);
        }
    }

    /// Like [`Tokenizer::encode_into`] but reports a Hugging Face tokenizer's failure.
    pub fn try_encode_into(&self, text: &str, out: &mut Vec<u32>) -> Result<()> {
        match &self.backend {
            Backend::OpenAi(o) => {
                o.encode_into(text, out);
                Ok(())
            }
            Backend::Hf(h) => h.encode_into(text, out),
        }
    }

    /// Ids with the byte range of `text` each covers. For byte-level encodings a token can end
    /// inside a multi-byte character, so a range need not lie on `char` boundaries; consecutive
    /// ranges of the OpenAI encodings tile the text exactly. Hugging Face ranges are the
    /// tokenizer's own offsets (a special token with `lstrip`/`rstrip` covers the spaces it
    /// absorbed); if a Hugging Face tokenizer fails on the text, both vectors are empty.
    pub fn encode_with_offsets(&self, text: &str) -> (Vec<u32>, Vec<Range<usize>>) {
        match &self.backend {
            Backend::OpenAi(o) => o.encode_with_offsets(text),
            Backend::Hf(h) => h.encode_with_offsets(text).unwrap_or_default(),
        }
    }

    /// [`Tokenizer::encode_with_offsets`] on up to `threads` threads: the same ids and ranges.
    ///
    /// A bundled OpenAI encoding cuts the text at *safe boundaries* — after a `\n` that is
    /// followed by an ASCII letter or digit. No pre-tokenizer piece of `o200k_base` or
    /// `cl100k_base` and no special token contains a newline followed by a letter or digit, and
    /// the pieces starting there do not depend on what came before, so encoding the parts on
    /// their own gives exactly the ids of the whole (the equivalence tests compare both on every
    /// shared corpus). Texts under 1 MiB, texts without such boundaries and Hugging Face
    /// tokenizers (whose normalizers and pre-tokenizers vary) are encoded on the calling thread.
    ///
    /// ```
    /// use provmark_tokenize::Tokenizer;
    /// let tok = Tokenizer::openai("o200k_base").unwrap();
    /// let text = "First line of text.\nSecond line, 42 words.\n".repeat(50_000);
    /// assert_eq!(tok.encode_with_offsets_parallel(&text, 4), tok.encode_with_offsets(&text));
    /// ```
    pub fn encode_with_offsets_parallel(
        &self,
        text: &str,
        threads: usize,
    ) -> (Vec<u32>, Vec<Range<usize>>) {
        let Some((o, cuts)) = self.parallel_cuts(text, threads) else {
            return self.encode_with_offsets(text);
        };
        let parts = in_parts(text, &cuts, |part| o.encode_with_offsets(part));
        let total = parts.iter().map(|(ids, _)| ids.len()).sum();
        let mut ids = Vec::with_capacity(total);
        let mut ranges = Vec::with_capacity(total);
        for ((part_ids, part_ranges), &base) in parts.into_iter().zip(&cuts) {
            ids.extend_from_slice(&part_ids);
            ranges.extend(
                part_ranges
                    .into_iter()
                    .map(|r| r.start + base..r.end + base),
            );
        }
        (ids, ranges)
    }

    /// [`Tokenizer::encode`] on up to `threads` threads: the same ids (see
    /// [`Tokenizer::encode_with_offsets_parallel`] for when and how the text is cut).
    ///
    /// ```
    /// use provmark_tokenize::Tokenizer;
    /// let tok = Tokenizer::openai("cl100k_base").unwrap();
    /// let text = "One line.\nAnother line.\n".repeat(100_000);
    /// assert_eq!(tok.encode_parallel(&text, 2), tok.encode(&text));
    /// ```
    pub fn encode_parallel(&self, text: &str, threads: usize) -> Vec<u32> {
        let Some((o, cuts)) = self.parallel_cuts(text, threads) else {
            return self.encode(text);
        };
        in_parts(text, &cuts, |part| {
            let mut ids = Vec::new();
            o.encode_into(part, &mut ids);
            ids
        })
        .concat()
    }

    /// The backend and cut points when `text` is encoded in parallel.
    fn parallel_cuts(&self, text: &str, threads: usize) -> Option<(&openai::OpenAi, Vec<usize>)> {
        const MIN_PARALLEL: usize = 1 << 20;
        match &self.backend {
            Backend::OpenAi(o) if threads > 1 && text.len() >= MIN_PARALLEL => {
                let cuts = safe_cuts(text, threads);
                (cuts.len() > 2).then_some((o, cuts))
            }
            _ => None,
        }
    }

    /// Whether the byte ranges of consecutive ids tile the text exactly (the bundled OpenAI
    /// encodings): then the byte offset of a token is the sum of [`Tokenizer::token_len`] over
    /// the ids before it, and a caller need not keep a range per token.
    pub fn ranges_tile_text(&self) -> bool {
        matches!(self.backend, Backend::OpenAi(_))
    }

    /// Byte length of an id's text (a special token's: its text), `None` outside the
    /// vocabulary. For Hugging Face tokenizers this is the length of the token's bytes, which
    /// need not equal the span it covered in the text (normalizers); see
    /// [`Tokenizer::ranges_tile_text`].
    pub fn token_len(&self, id: u32) -> Option<usize> {
        match &self.backend {
            Backend::OpenAi(o) => o.token_bytes(id).map(<[u8]>::len),
            Backend::Hf(h) => h.token_bytes(id).map(|b| b.len()),
        }
    }

    /// Decodes ids to text: an error (never a panic) on an id outside the vocabulary or when the
    /// bytes are not valid UTF-8 (e.g. a slice that cuts a character in two).
    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        match &self.backend {
            Backend::OpenAi(o) => o.decode(ids),
            Backend::Hf(h) => h.decode(ids),
        }
    }

    /// Decodes ids to text, replacing invalid UTF-8 and unknown ids with U+FFFD.
    pub fn decode_lossy(&self, ids: &[u32]) -> String {
        match &self.backend {
            Backend::OpenAi(o) => o.decode_lossy(ids),
            Backend::Hf(h) => h.decode_lossy(ids),
        }
    }

    /// The raw bytes of one token (special tokens: their text), or `None` for an unknown id.
    pub fn token_bytes(&self, id: u32) -> Option<Vec<u8>> {
        match &self.backend {
            Backend::OpenAi(o) => o.token_bytes(id).map(<[u8]>::to_vec),
            Backend::Hf(h) => h.token_bytes(id),
        }
    }

    /// Whether `id` is a special token (end-of-text and the like; HF: added tokens marked special).
    /// The detector skips these.
    pub fn is_special(&self, id: u32) -> bool {
        match &self.backend {
            Backend::OpenAi(o) => o.is_special(id),
            Backend::Hf(h) => h.is_special(id),
        }
    }
}

/// A full, human-readable identity for error messages (the whole hash, unlike `Display`).
fn describe(spec: &TokenizerSpec) -> String {
    match spec {
        TokenizerSpec::Tiktoken { encoding } => format!("the bundled encoding {encoding}"),
        TokenizerSpec::HuggingFace {
            sha256,
            vocab_size,
            path,
        } => {
            let mut s = format!("tokenizer.json sha256:{sha256} ({vocab_size} tokens)");
            if let Some(p) = path {
                s.push_str(&format!(" at {p}"));
            }
            s
        }
        #[allow(unreachable_patterns)]
        other => other.to_string(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn smollm2_spec(path: Option<&str>, sha256: &str) -> TokenizerSpec {
        TokenizerSpec::HuggingFace {
            sha256: sha256.to_string(),
            vocab_size: 49152,
            path: path.map(str::to_string),
        }
    }

    #[test]
    fn built_in_smollm2_tokenizer_has_the_recorded_identity() {
        use sha2::Digest;
        assert_eq!(
            hex::encode(sha2::Sha256::digest(SMOLLM2_TOKENIZER_JSON)),
            SMOLLM2_SHA256
        );
        let t = Tokenizer::smollm2(Path::new(SMOLLM2_PATH)).unwrap();
        assert_eq!(t.spec(), smollm2_spec(Some(SMOLLM2_PATH), SMOLLM2_SHA256));
    }

    #[test]
    fn a_profile_naming_smollm2_loads_from_any_directory() {
        // The recorded path does not exist from here (the crate's directory): the built-in bytes.
        let missing = "no/such/dir/tokenizer.json";
        let t = Tokenizer::for_profile(&smollm2_spec(Some(missing), SMOLLM2_SHA256), None).unwrap();
        assert_eq!(t.vocab_size(), 49152);
        let ids = t.encode("Hello, world!");
        assert_eq!(t.decode(&ids).unwrap(), "Hello, world!");
        // No path recorded at all: the same.
        assert!(Tokenizer::for_profile(&smollm2_spec(None, SMOLLM2_SHA256), None).is_ok());
        // Another tokenizer whose file is missing is still an error naming the file.
        let other = "0".repeat(64);
        let e = Tokenizer::for_profile(&smollm2_spec(Some(missing), &other), None)
            .err()
            .unwrap();
        assert!(e.to_string().contains(missing), "{e}");
        assert!(matches!(
            Tokenizer::for_profile(&smollm2_spec(None, &other), None),
            Err(TokenizeError::MissingFile { .. })
        ));
        // An explicit file is never replaced by the built-in one.
        let e = Tokenizer::for_profile(
            &smollm2_spec(None, SMOLLM2_SHA256),
            Some(Path::new(missing)),
        )
        .err()
        .unwrap();
        assert!(e.to_string().contains(missing), "{e}");
    }

    #[test]
    fn tokenizer_is_send_sync() {
        fn check<T: Send + Sync>() {}
        check::<Tokenizer>();
    }
}
