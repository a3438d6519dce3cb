//! Training by gradient descent: candle's autograd (`backward`) and its AdamW optimiser, the same
//! recipe for every arm, in resumable pieces.
//!
//! Batches are a pure function of (seed, step): epoch e visits the examples in a permutation
//! drawn from ChaCha20(seed, e), so a run resumed at step k sees exactly the batches an
//! uninterrupted run would. candle's AdamW keeps its moment estimates private, so a resumed run
//! starts them afresh and re-warms the learning rate over `warmup_steps` from the resume point
//! (stated in the run's record; the weights and the data order are exact).

use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use candle_nn::optim::{AdamW, Optimizer, ParamsAdamW};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use serde::{Deserialize, Serialize};

use crate::model::Student;
use crate::{Result, StudentError};

/// One training sequence: the tokens (prompt then answer), and the first position whose token
/// is a training target (the answer's first token): the loss covers `tokens[loss_from..]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Example {
    /// Token ids.
    pub tokens: Vec<u32>,
    /// Index of the first target token (≥ 1).
    pub loss_from: usize,
}

/// The recipe.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    /// Optimiser steps in all.
    pub steps: usize,
    /// Sequences per step.
    pub batch: usize,
    /// Longest sequence (longer examples are cut).
    pub seq_len: usize,
    /// Peak learning rate.
    pub lr: f64,
    /// Linear warm-up steps (also after a resume); then cosine decay to 10% of the peak.
    pub warmup_steps: usize,
    /// AdamW weight decay.
    pub weight_decay: f64,
    /// Seed of the data order.
    pub seed: u64,
}

/// The learning rate at `step` (0-based), counting warm-up from `warm_from`.
pub fn learning_rate(cfg: &TrainConfig, step: usize, warm_from: usize) -> f64 {
    let decay = {
        let p = step as f64 / cfg.steps.max(1) as f64;
        0.1 + 0.9 * 0.5 * (1.0 + (std::f64::consts::PI * p.min(1.0)).cos())
    };
    let since = step.saturating_sub(warm_from) + 1;
    let warm = if cfg.warmup_steps == 0 {
        1.0
    } else {
        (since as f64 / cfg.warmup_steps as f64).min(1.0)
    };
    cfg.lr * decay * warm
}

/// The example indices of `step`'s batch.
pub fn batch_indices(cfg: &TrainConfig, n_examples: usize, step: usize) -> Vec<usize> {
    let mut out = Vec::with_capacity(cfg.batch);
    let mut pos = step * cfg.batch;
    let mut epoch = usize::MAX;
    let mut perm: Vec<usize> = Vec::new();
    while out.len() < cfg.batch && n_examples > 0 {
        let e = pos / n_examples;
        if e != epoch {
            epoch = e;
            perm = (0..n_examples).collect();
            let mut rng = ChaCha20Rng::seed_from_u64(cfg.seed);
            rng.set_stream(e as u64);
            perm.shuffle(&mut rng);
        }
        out.push(perm[pos % n_examples]);
        pos += 1;
    }
    out
}

/// (ids, targets, mask) tensors for a batch, right-padded to its longest sequence.
pub fn batch_tensors(examples: &[&Example], seq_len: usize) -> Result<(Tensor, Tensor, Tensor)> {
    let lens: Vec<usize> = examples
        .iter()
        .map(|e| e.tokens.len().min(seq_len + 1).saturating_sub(1))
        .collect();
    let t = lens.iter().copied().max().unwrap_or(0);
    let targets: usize = examples
        .iter()
        .zip(&lens)
        .map(|(e, &n)| n.saturating_sub(e.loss_from.max(1).saturating_sub(1)))
        .sum();
    if t == 0 || targets == 0 {
        return Err(StudentError::Input(
            "a batch with no target tokens (every answer starts beyond seq_len)".into(),
        ));
    }
    let b = examples.len();
    let mut ids = vec![0u32; b * t];
    let mut tg = vec![0u32; b * t];
    let mut mask = vec![0f32; b * t];
    for (r, (e, &n)) in examples.iter().zip(&lens).enumerate() {
        for j in 0..n {
            ids[r * t + j] = e.tokens[j];
            tg[r * t + j] = e.tokens[j + 1];
            mask[r * t + j] = f32::from(u8::from(j + 1 >= e.loss_from.max(1)));
        }
    }
    let dev = Device::Cpu;
    Ok((
        Tensor::from_vec(ids, (b, t), &dev)?,
        Tensor::from_vec(tg, (b, t), &dev)?,
        Tensor::from_vec(mask, (b, t), &dev)?,
    ))
}

/// Progress of a run, kept beside its checkpoint.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct RunState {
    /// Optimiser steps done.
    pub step: usize,
    /// (step, training loss) of every step.
    pub losses: Vec<(usize, f32)>,
    /// Steps at which the run resumed (optimiser moments restarted there).
    pub resumed_at: Vec<usize>,
    /// Training tokens (targets) seen.
    pub tokens: u64,
}

/// A training run with its checkpoint folder (`state.json` and the `weights-<step>.safetensors`
/// it names).
pub struct Trainer {
    student: Student,
    cfg: TrainConfig,
    opt: AdamW,
    state: RunState,
    warm_from: usize,
    dir: PathBuf,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StudentError + '_ {
    move |source| StudentError::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl Trainer {
    /// Starts a run in `dir`, or resumes the one there (its weights replace `student`'s).
    pub fn open(mut student: Student, cfg: TrainConfig, dir: &Path) -> Result<Trainer> {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let state_path = dir.join("state.json");
        let mut state = RunState::default();
        if state_path.is_file() {
            let s = std::fs::read_to_string(&state_path).map_err(io(&state_path))?;
            state = serde_json::from_str(&s)
                .map_err(|e| StudentError::Format(format!("{}: {e}", state_path.display())))?;
            let weights = dir.join(format!("weights-{}.safetensors", state.step));
            let loaded = candle_core::safetensors::load(&weights, &Device::Cpu)?;
            let cfg_s = student.config().clone();
            student = Student::from_tensors(cfg_s, loaded.into_iter().collect())?;
            if state.step > 0 && state.step < cfg.steps {
                state.resumed_at.push(state.step);
            }
        }
        let opt = AdamW::new(
            student.vars(),
            ParamsAdamW {
                lr: cfg.lr,
                weight_decay: cfg.weight_decay,
                ..ParamsAdamW::default()
            },
        )?;
        let warm_from = state.step;
        Ok(Trainer {
            student,
            cfg,
            opt,
            state,
            warm_from,
            dir: dir.to_path_buf(),
        })
    }

    /// The run so far.
    pub fn state(&self) -> &RunState {
        &self.state
    }

    /// The student being trained.
    pub fn student(&self) -> &Student {
        &self.student
    }

    /// True when every step is done.
    pub fn finished(&self) -> bool {
        self.state.step >= self.cfg.steps
    }

    /// Whether an example has a target token within `seq_len` (others cannot train anything).
    pub fn trainable(example: &Example, seq_len: usize) -> bool {
        let n = example.tokens.len().min(seq_len + 1).saturating_sub(1);
        example.loss_from.max(1) <= n
    }

    /// One optimiser step on the next batch; returns its loss.
    pub fn step(&mut self, examples: &[Example]) -> Result<f32> {
        if examples.is_empty() {
            return Err(StudentError::Input("no training examples".into()));
        }
        let idx = batch_indices(&self.cfg, examples.len(), self.state.step);
        let batch: Vec<&Example> = idx.iter().map(|&i| &examples[i]).collect();
        let (ids, tg, mask) = batch_tensors(&batch, self.cfg.seq_len)?;
        let lr = learning_rate(&self.cfg, self.state.step, self.warm_from);
        self.opt.set_learning_rate(lr);
        let loss = self.student.loss(&ids, &tg, &mask)?;
        self.opt.backward_step(&loss)?;
        let l = loss.to_dtype(DType::F32)?.to_scalar::<f32>()?;
        if !l.is_finite() {
            return Err(StudentError::Input(format!(
                "the training loss became {l} at step {}",
                self.state.step
            )));
        }
        self.state.tokens += mask.sum_all()?.to_scalar::<f32>()? as u64;
        self.state.losses.push((self.state.step, l));
        self.state.step += 1;
        Ok(l)
    }

    /// Writes the weights (`weights-<step>.safetensors`), then the state naming them (through a
    /// temporary file and a rename), then removes older weights: a kill at any point leaves a
    /// state whose weights exist.
    pub fn checkpoint(&self) -> Result<()> {
        let name = format!("weights-{}.safetensors", self.state.step);
        let weights = self.dir.join(&name);
        let tmp = self.dir.join(format!("{name}.partial"));
        let tensors: std::collections::HashMap<String, Tensor> = self
            .student
            .named_vars()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_tensor().clone()))
            .collect();
        candle_core::safetensors::save(&tensors, &tmp)?;
        std::fs::rename(&tmp, &weights).map_err(io(&weights))?;
        let state = self.dir.join("state.json");
        let tmp = self.dir.join("state.json.partial");
        let s = serde_json::to_string(&self.state)
            .map_err(|e| StudentError::Format(format!("cannot serialise the run state: {e}")))?;
        std::fs::write(&tmp, s).map_err(io(&tmp))?;
        std::fs::rename(&tmp, &state).map_err(io(&state))?;
        for e in std::fs::read_dir(&self.dir).map_err(io(&self.dir))? {
            let e = e.map_err(io(&self.dir))?;
            let f = e.file_name().to_string_lossy().into_owned();
            if f.starts_with("weights-") && f != name {
                std::fs::remove_file(e.path()).map_err(io(&e.path()))?;
            }
        }
        Ok(())
    }
}
