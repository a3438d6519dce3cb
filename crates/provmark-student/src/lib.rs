//! Neural students for provmark's distillation experiment (issue 13).
//!
//! A student is a llama-architecture transformer trained by gradient descent with candle's
//! autograd and AdamW: either fine-tuned from the teacher's GGUF weights (the radioactivity
//! paper's setting) or trained from scratch at a smaller size with the same tokenizer. Every
//! operation is differentiable (see [`model`]), training runs in resumable pieces ([`train`]),
//! and a trained student is written back as a llama GGUF ([`gguf`]) that `provmark-model` runs.

mod error;
pub mod gguf;
pub mod model;
pub mod train;

pub use error::{Result, StudentError};
pub use gguf::{config_from_gguf, export_gguf, student_from_gguf};
pub use model::{Student, StudentConfig};
pub use train::{Example, RunState, TrainConfig, Trainer};
