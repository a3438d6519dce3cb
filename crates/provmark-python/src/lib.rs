//! Python bindings of provmark (`provmark._provmark`; the public API is the `provmark` package
//! in `python/provmark`, which wraps these classes).
//!
//! Everything keyed or statistical is the Rust libraries' own code: logits are biased by
//! [`Embedder::bias_logits`], tokens chosen by [`Embedder::choose`] with a ChaCha8 RNG seeded
//! from the caller's seed (the same convention as the C ABI), and `check` / `scan` return the
//! JSON of [`provmark_scan::check::check`] / the sealed [`provmark_scan::Report`]. Work on
//! arrays and detection runs with the GIL released.
#![deny(missing_docs)]

use std::path::PathBuf;
use std::sync::OnceLock;

use numpy::{
    PyArray1, PyReadonlyArray1, PyReadonlyArray2, PyReadwriteArray2, PyUntypedArrayMethods,
};
use provmark_core::Profile as CoreProfile;
use provmark_core::TokenizerSpec;
use provmark_embed::{Dist, Embedder as CoreEmbedder, Scratch, SequenceState};
use provmark_scan::check::{self, CheckInput, CheckRequest};
use provmark_tokenize::Tokenizer;
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

mod split;

fn value_err(e: impl std::fmt::Display) -> PyErr {
    PyValueError::new_err(e.to_string())
}

/// A watermark profile (holds the secret key; never printed).
#[pyclass(module = "provmark._provmark", frozen)]
pub struct Profile {
    inner: CoreProfile,
    tokenizer: OnceLock<Tokenizer>,
}

impl Profile {
    fn tokenizer(&self) -> PyResult<&Tokenizer> {
        if let Some(t) = self.tokenizer.get() {
            return Ok(t);
        }
        let t = Tokenizer::for_profile(&self.inner.tokenizer, None)
            .map_err(|e| value_err(format!("cannot load the profile's tokenizer: {e}")))?;
        Ok(self.tokenizer.get_or_init(|| t))
    }

    fn embedder(&self, account: Option<&str>, vocab: usize) -> PyResult<CoreEmbedder> {
        if account.is_some() && !self.inner.supports_accounts() {
            return Err(value_err(format!(
                "profile {} holds an imported key: it has no per-account keys",
                self.inner.key_id()
            )));
        }
        CoreEmbedder::from_profile(&self.inner, account, vocab).map_err(value_err)
    }
}

#[pymethods]
impl Profile {
    /// Loads a profile JSON file; returns the profile and its warnings (list of str).
    #[staticmethod]
    fn _load(path: PathBuf) -> PyResult<(Profile, Vec<String>)> {
        let (inner, warnings) = CoreProfile::load(&path).map_err(value_err)?;
        Ok((
            Profile {
                inner,
                tokenizer: OnceLock::new(),
            },
            warnings.iter().map(|w| w.to_string()).collect(),
        ))
    }

    /// Vocabulary size of the profile's tokenizer (including special tokens).
    #[getter]
    fn vocab_size(&self) -> PyResult<usize> {
        match &self.inner.tokenizer {
            TokenizerSpec::HuggingFace { vocab_size, .. } => Ok(*vocab_size as usize),
            _ => Ok(self.tokenizer()?.vocab_size()),
        }
    }

    /// Public key id.
    #[getter]
    fn key_id(&self) -> String {
        self.inner.key_id().to_string()
    }

    /// Scheme name (`green`, `gumbel`, …).
    #[getter]
    fn scheme(&self) -> String {
        self.inner.scheme.name().to_string()
    }

    /// Context width h.
    #[getter]
    fn context_width(&self) -> usize {
        self.inner.context_width
    }

    fn __repr__(&self) -> String {
        format!(
            "Profile(key_id={}, scheme={}, context_width={})",
            self.inner.key_id(),
            self.inner.scheme.name(),
            self.inner.context_width
        )
    }
}

/// One sequence's memory of the contexts it has seen (repeats are not re-keyed).
#[pyclass(module = "provmark._provmark")]
pub struct Sequence {
    inner: SequenceState,
}

#[pymethods]
impl Sequence {
    /// Forgets every context (a new generation).
    fn reset(&mut self) {
        self.inner.reset();
    }

    fn __len__(&self) -> usize {
        self.inner.len()
    }
}

/// The serving library for one stream key (master or account) over a fixed vocabulary.
#[pyclass(module = "provmark._provmark", frozen)]
pub struct Embedder {
    inner: CoreEmbedder,
}

#[pymethods]
impl Embedder {
    /// `Embedder(profile, account=None, vocab_size=None)`; the vocabulary defaults to the
    /// profile tokenizer's.
    #[new]
    #[pyo3(signature = (profile, account=None, vocab_size=None))]
    fn new(profile: &Profile, account: Option<&str>, vocab_size: Option<usize>) -> PyResult<Self> {
        let vocab = match vocab_size {
            Some(v) => v,
            None => profile.vocab_size()?,
        };
        Ok(Embedder {
            inner: profile.embedder(account, vocab)?,
        })
    }

    /// A fresh per-sequence state.
    #[pyo3(signature = (capacity=1024))]
    fn new_sequence(&self, capacity: usize) -> Sequence {
        Sequence {
            inner: self.inner.new_sequence(capacity),
        }
    }

    /// Vocabulary size.
    #[getter]
    fn vocab_size(&self) -> usize {
        self.inner.vocab_size()
    }

    /// Green list: returns a biased copy of `logits` (float32, length vocab) after `context`,
    /// and whether it was biased (False when the context repeats in `seq`).
    fn bias<'py>(
        &self,
        py: Python<'py>,
        seq: &mut Sequence,
        context: Vec<u32>,
        logits: PyReadonlyArray1<'py, f32>,
    ) -> PyResult<(Bound<'py, PyArray1<f32>>, bool)> {
        let mut out = logits.as_slice().map_err(value_err)?.to_vec();
        let seq = &mut seq.inner;
        let inner = &self.inner;
        let done = py
            .allow_threads(|| inner.bias_logits(seq, &context, &mut out))
            .map_err(value_err)?;
        Ok((PyArray1::from_vec(py, out), done))
    }

    /// Chooses the next token after `context` from `logits` (float32, length vocab) with a
    /// ChaCha8 RNG seeded by `seed`; returns `(token, watermarked)`.
    fn choose(
        &self,
        py: Python<'_>,
        seq: &mut Sequence,
        context: Vec<u32>,
        logits: PyReadonlyArray1<'_, f32>,
        seed: u64,
    ) -> PyResult<(u32, bool)> {
        let logits = logits.as_slice().map_err(value_err)?;
        let seq = &mut seq.inner;
        let inner = &self.inner;
        let c = py
            .allow_threads(|| {
                let mut scratch = Scratch::with_capacity(inner.vocab_size());
                let mut rng = ChaCha8Rng::seed_from_u64(seed);
                inner.choose(seq, &context, Dist::Logits(logits), &mut scratch, &mut rng)
            })
            .map_err(value_err)?;
        Ok((c.token, c.watermarked))
    }
}

/// Per-row state of a batch: one embedder per vocabulary width, one sequence per row, reset
/// when a new generation starts (another batch size, or rows no longer than last call's).
pub struct BatchState {
    account: Option<String>,
    embedder: Option<CoreEmbedder>,
    seqs: Vec<SequenceState>,
    last_len: usize,
    scratch: Scratch,
}

impl BatchState {
    fn new(account: Option<String>) -> Self {
        BatchState {
            account,
            embedder: None,
            seqs: Vec::new(),
            last_len: 0,
            scratch: Scratch::with_capacity(0),
        }
    }

    /// Prepares for a call on `rows` × `seq_len` ids and `vocab`-wide scores.
    fn prepare(
        &mut self,
        profile: &Profile,
        rows: usize,
        seq_len: usize,
        vocab: usize,
    ) -> PyResult<()> {
        if self.embedder.as_ref().map(|e| e.vocab_size()) != Some(vocab) {
            self.embedder = Some(profile.embedder(self.account.as_deref(), vocab)?);
            self.seqs.clear();
        }
        if self.seqs.len() != rows || seq_len <= self.last_len {
            let e = self.embedder.as_ref().ok_or_else(|| {
                PyRuntimeError::new_err("internal error: embedder missing (a bug in provmark)")
            })?;
            self.seqs = (0..rows).map(|_| e.new_sequence(1024)).collect();
        }
        self.last_len = seq_len;
        Ok(())
    }
}

/// The last `h` ids of each row of `[batch, seq]` ids (all of a shorter row, which the embedder
/// then rejects), as u32: only the context is read, however long the rows.
fn row_contexts(ids: &PyReadonlyArray2<'_, i64>, h: usize) -> PyResult<(Vec<u32>, usize, usize)> {
    let shape = ids.shape();
    let (rows, len) = (shape[0], shape[1]);
    let width = h.min(len);
    let view = ids.as_array();
    let mut out = Vec::with_capacity(rows * width);
    for row in view.rows() {
        for &v in row.iter().skip(len - width) {
            out.push(
                u32::try_from(v)
                    .map_err(|_| value_err(format!("token id {v} is not in 0..2^32")))?,
            );
        }
    }
    Ok((out, rows, len))
}

/// Hugging Face-style logits processor core: biases `[batch, vocab]` float32 scores in place
/// after each row's context (the last h ids of `[batch, seq]` input ids).
#[pyclass(module = "provmark._provmark")]
pub struct BatchBias {
    profile: Py<Profile>,
    state: BatchState,
}

#[pymethods]
impl BatchBias {
    /// `BatchBias(profile, account=None)`.
    #[new]
    #[pyo3(signature = (profile, account=None))]
    fn new(profile: Py<Profile>, account: Option<String>) -> Self {
        BatchBias {
            profile,
            state: BatchState::new(account),
        }
    }

    /// Biases `scores` in place; returns one bool per row (False: the context repeated).
    fn apply(
        &mut self,
        py: Python<'_>,
        input_ids: PyReadonlyArray2<'_, i64>,
        mut scores: PyReadwriteArray2<'_, f32>,
    ) -> PyResult<Vec<bool>> {
        let h = self.profile.get().inner.context_width;
        let (ids, rows, len) = row_contexts(&input_ids, h)?;
        let width = h.min(len);
        let vocab = scores.shape()[1];
        if scores.shape()[0] != rows {
            return Err(value_err(format!(
                "input_ids has {rows} rows but scores has {}",
                scores.shape()[0]
            )));
        }
        self.state.prepare(self.profile.get(), rows, len, vocab)?;
        let scores = scores
            .as_slice_mut()
            .map_err(|_| value_err("scores must be a C-contiguous float32 array"))?;
        let st = &mut self.state;
        py.allow_threads(|| {
            let e = st.embedder.as_ref().ok_or("embedder missing")?;
            let mut out = vec![false; rows];
            for (r, (seq, row)) in st.seqs.iter_mut().zip(scores.chunks_mut(vocab)).enumerate() {
                out[r] = e
                    .bias_logits(seq, &ids[r * width..(r + 1) * width], row)
                    .map_err(|err| format!("row {r}: {err}"))?;
            }
            Ok::<_, String>(out)
        })
        .map_err(value_err)
    }

    /// Starts a new generation.
    fn reset(&mut self) {
        self.state.seqs.clear();
        self.state.last_len = 0;
    }
}

/// Watermarked sampling of one token per row.
#[pyclass(module = "provmark._provmark")]
pub struct BatchSampler {
    profile: Py<Profile>,
    state: BatchState,
}

#[pymethods]
impl BatchSampler {
    /// `BatchSampler(profile, account=None)`.
    #[new]
    #[pyo3(signature = (profile, account=None))]
    fn new(profile: Py<Profile>, account: Option<String>) -> Self {
        BatchSampler {
            profile,
            state: BatchState::new(account),
        }
    }

    /// One token per row (rows in order, one ChaCha8 RNG seeded by `seed`); returns
    /// `(tokens, watermarked)`.
    fn choose(
        &mut self,
        py: Python<'_>,
        input_ids: PyReadonlyArray2<'_, i64>,
        logits: PyReadonlyArray2<'_, f32>,
        seed: u64,
    ) -> PyResult<(Vec<u32>, Vec<bool>)> {
        let h = self.profile.get().inner.context_width;
        let (ids, rows, len) = row_contexts(&input_ids, h)?;
        let width = h.min(len);
        let vocab = logits.shape()[1];
        if logits.shape()[0] != rows {
            return Err(value_err(format!(
                "input_ids has {rows} rows but logits has {}",
                logits.shape()[0]
            )));
        }
        self.state.prepare(self.profile.get(), rows, len, vocab)?;
        let logits = logits
            .as_slice()
            .map_err(|_| value_err("logits must be a C-contiguous float32 array"))?;
        let st = &mut self.state;
        py.allow_threads(|| {
            let e = st.embedder.as_ref().ok_or("embedder missing")?;
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let mut tokens = Vec::with_capacity(rows);
            let mut marked = Vec::with_capacity(rows);
            for (r, (seq, row)) in st.seqs.iter_mut().zip(logits.chunks(vocab)).enumerate() {
                let c = e
                    .choose(
                        seq,
                        &ids[r * width..(r + 1) * width],
                        Dist::Logits(row),
                        &mut st.scratch,
                        &mut rng,
                    )
                    .map_err(|err| format!("row {r}: {err}"))?;
                tokens.push(c.token);
                marked.push(c.watermarked);
            }
            Ok::<_, String>((tokens, marked))
        })
        .map_err(value_err)
    }

    /// Starts a new generation.
    fn reset(&mut self) {
        self.state.seqs.clear();
        self.state.last_len = 0;
    }
}

/// `provmark check` on text or token ids; returns `check --json`'s object as a JSON string.
#[pyfunction]
#[pyo3(signature = (profile, text=None, token_ids=None, accounts=None, alpha=1e-6, prompt=None, prompt_token_ids=None, dedup=None, score_special=false))]
#[allow(clippy::too_many_arguments)]
fn _check(
    py: Python<'_>,
    profile: &Profile,
    text: Option<String>,
    token_ids: Option<Vec<u32>>,
    accounts: Option<Vec<String>>,
    alpha: f64,
    prompt: Option<String>,
    prompt_token_ids: Option<Vec<u32>>,
    dedup: Option<String>,
    score_special: bool,
) -> PyResult<String> {
    let input = match (&text, &token_ids) {
        (Some(t), None) => CheckInput::Text(t),
        (None, Some(ids)) => CheckInput::TokenIds(ids),
        _ => return Err(value_err("give exactly one of text= and token_ids=")),
    };
    let accounts = accounts.unwrap_or_default();
    let mut req = CheckRequest::new(input);
    req.accounts = &accounts;
    req.alpha = alpha;
    req.prompt = match (&prompt, &prompt_token_ids) {
        (None, None) => None,
        (Some(t), None) => Some(CheckInput::Text(t)),
        (None, Some(ids)) => Some(CheckInput::TokenIds(ids)),
        _ => {
            return Err(value_err(
                "give at most one of prompt= and prompt_token_ids=",
            ))
        }
    };
    req.score_special = score_special;
    req.dedup = match dedup.as_deref() {
        None => None,
        Some("pair") => Some(provmark_detect::Dedup::Pair),
        Some("context") => Some(provmark_detect::Dedup::Context),
        Some("none") => Some(provmark_detect::Dedup::None),
        Some(other) => {
            return Err(value_err(format!(
                "dedup {other:?}: expected \"pair\", \"context\" or \"none\""
            )))
        }
    };
    req.validate(&profile.inner).map_err(value_err)?;
    let by_ids = token_ids.is_some();
    // Without the GIL from here on, the tokenizer's first load (a large table) included.
    py.allow_threads(|| {
        let tok = if req.needs_tokenizer() {
            match profile.tokenizer() {
                Ok(t) => Some(t),
                Err(_) if by_ids => None,
                Err(e) => return Err(e),
            }
        } else {
            None
        };
        let report = check::check(&profile.inner, tok, &req).map_err(value_err)?;
        serde_json::to_string(&report).map_err(value_err)
    })
}

/// `provmark scan`: the sealed JSON evidence report as a string.
#[pyfunction]
#[pyo3(signature = (paths, profile, control=None, accounts=None, field="text".to_string(), prompt_field=None, id_field=None, filter_from=None, alpha=provmark_scan::DEFAULT_ALPHA, threads=None, memory_mib=None, min_tokens=0))]
#[allow(clippy::too_many_arguments)]
fn _scan(
    py: Python<'_>,
    paths: Vec<PathBuf>,
    profile: &Profile,
    control: Option<Vec<PathBuf>>,
    accounts: Option<Vec<String>>,
    field: String,
    prompt_field: Option<String>,
    id_field: Option<String>,
    filter_from: Option<Vec<PathBuf>>,
    alpha: f64,
    threads: Option<usize>,
    memory_mib: Option<usize>,
    min_tokens: usize,
) -> PyResult<String> {
    let mut cfg = provmark_scan::ScanConfig::new(paths);
    cfg.field = field;
    cfg.prompt_field = prompt_field;
    cfg.id_field = id_field;
    cfg.accounts = accounts.unwrap_or_default();
    cfg.control = control.unwrap_or_default();
    cfg.filter_from = filter_from.unwrap_or_default();
    cfg.alpha = alpha;
    cfg.threads =
        threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    if let Some(m) = memory_mib {
        cfg.memory_budget = m.saturating_mul(1 << 20);
    }
    cfg.min_tokens = min_tokens;
    let inner = &profile.inner;
    py.allow_threads(|| {
        let mut report = provmark_scan::scan(inner, &cfg, &provmark_scan::Progress::default())
            .map_err(|e| e.to_string())?;
        let sealed = report.seal(inner).map_err(|e| e.to_string())?;
        String::from_utf8(sealed).map_err(|e| e.to_string())
    })
    .map_err(value_err)
}

/// The compiled part of the `provmark` package.
#[pymodule]
fn _provmark(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Profile>()?;
    m.add_class::<Embedder>()?;
    m.add_class::<Sequence>()?;
    m.add_class::<BatchBias>()?;
    m.add_class::<BatchSampler>()?;
    m.add_function(wrap_pyfunction!(_check, m)?)?;
    m.add_function(wrap_pyfunction!(_scan, m)?)?;
    split::register(m)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
