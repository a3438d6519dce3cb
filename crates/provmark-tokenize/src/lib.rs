//! Tokenizers for provmark: bundled OpenAI encodings and Hugging Face tokenizer.json, bound to a profile's tokenizer identity
#![forbid(unsafe_code)]
#![deny(missing_docs)]
