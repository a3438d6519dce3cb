//! provmark-sim: a **simulated** language model for provmark's demos, tests, benchmarks and
//! evaluation. It is a simulation — hashed, calibrated random distributions — and not a real
//! model; its text is word salad with realistic token statistics, not language.
//!
//! # What it simulates
//!
//! * **Vocabulary.** Next-token candidates over a real tokenizer's ids (default OpenAI
//!   `o200k_base`, bundled offline through `provmark-tokenize`), restricted to tokens whose text
//!   re-tokenizes to the same ids (measured by [`stats::retokenization`]): space + letter words,
//!   a few punctuation marks (always followed by a word, so they never merge), paragraph breaks
//!   followed by a capitalised word.
//! * **Distributions.** At each step the last `order` ids (default 3) are hashed with the seed; the
//!   hash draws a target entropy from [`EntropyProfile`] (calibrated to published per-token
//!   entropy statistics of chat models at temperature 1), the candidate ids (distinct draws from
//!   a Zipf law over the frequency-ordered vocabulary) and the logit shape that has exactly that
//!   entropy (a gap between the top candidate and a power-law tail). Temperature divides the
//!   logits, so temperature 0.7 lowers the entropy.
//! * **Determinism.** Same configuration + same context ⇒ same candidates, on every platform.
//!   Generation draws from a caller-supplied RNG; [`sample_rng`] derives a portable ChaCha8 RNG
//!   per (seed, sample index).
//! * **Sources.** `seed` is the simulated language, `style` a model within it (see
//!   [`SimConfig`]): the evaluation's teacher and its "different source" of clean text.
//!
//! # Example
//!
//! ```
//! use provmark_sim::{generate, sample_rng, SimConfig, SimLm};
//! use provmark_tokenize::Tokenizer;
//! let tok = Tokenizer::openai("o200k_base")?;
//! let lm = SimLm::new(SimConfig::new(42), &tok)?;
//! let ids = generate(&lm, None, &[], 30, &mut sample_rng(1, 0))?;
//! let text = tok.decode(&ids)?;
//! assert_eq!(tok.encode(&text), ids); // re-tokenizes to the same ids
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod entropy;
mod error;
mod generate;
mod hash;
mod model;
pub mod stats;
mod support;

pub use entropy::{entropy_of_logits, EntropyProfile};
pub use error::SimError;
pub use generate::{generate, generate_text, sample_rng, Generator, Sample, SAMPLE_PROMPT_TOKENS};
pub use model::{Candidates, SimConfig, SimLm, MAX_ORDER, MAX_TOP_K};
