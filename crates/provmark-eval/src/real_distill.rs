//! The real distillation experiment (issue 13): neural students trained on SmolLM2's
//! watermarked answers, and the scans that catch them.
//!
//! One arm = (student kind, scheme, watermarked fraction). Its steps, each resumable and each a
//! pure function of the arm's settings and seed:
//!
//! 1. **data** — `train.jsonl`: N teacher answers from the real-model experiment
//!    (`experiments/real-model/answers`: the scheme's cells for the watermarked share, the clean
//!    cells for the rest; T = 1.0 and 0.7 pooled), drawn with the arm's seed; and
//!    `teacher-watermarked.jsonl`, the watermarked ones (what the provider served: the scan's
//!    `--filter-from`).
//! 2. **train** — gradient descent (provmark-student: candle autograd + AdamW) in pieces of at
//!    most `--minutes`, checkpointed; the fine-tuned student starts from the teacher's weights,
//!    the scratch student from a seeded initialisation.
//! 3. **export** — `student.gguf` (Q8_0), runnable by `provmark generate` / `scan-model`.
//! 4. **answer** — the student answers held-out prompts (never in any training set), appended to
//!    `answers.jsonl` one per line (resumable).
//! 5. **detect** — `provmark scan`'s library call on the student's answers alone (closed model),
//!    again with `--filter-from` the teacher's watermarked answers, and the open-model test
//!    (`scan-model`) of `student.gguf` reading clean teacher answers it was not trained on.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};

use provmark_core::Scheme;
use provmark_model::{ChatTemplate, Generator, OurText, Sampling};
use provmark_student::{Example, Student, StudentConfig, TrainConfig, Trainer};
use provmark_tokenize::Tokenizer;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use serde::{Deserialize, Serialize};

use crate::error::{EvalError, Result};
use crate::real::{experiment_profile, load_cell, read_prompts, StoredAnswer, CELLS};

/// How a student starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StudentKind {
    /// Fine-tuned from the teacher's weights (the radioactivity paper's setting).
    Finetune,
    /// A smaller transformer trained from a seeded initialisation, same tokenizer.
    Scratch,
}

impl StudentKind {
    /// `finetune` / `scratch`.
    pub fn name(self) -> &'static str {
        match self {
            StudentKind::Finetune => "finetune",
            StudentKind::Scratch => "scratch",
        }
    }
}

/// Settings of one arm.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ArmConfig {
    /// Student kind.
    pub student: StudentKind,
    /// `green` or `gumbel`.
    pub scheme: String,
    /// Share of the training answers that are watermarked (0, 0.05, 0.25, 1).
    pub watermarked_fraction: f64,
    /// Training answers.
    pub train_answers: usize,
    /// The training recipe (the same for every arm of a student kind).
    pub train: TrainConfig,
    /// Student answers to held-out prompts.
    pub student_answers: usize,
    /// Most tokens per student answer.
    pub max_tokens: usize,
    /// Sampling temperature of the student's answers.
    pub temperature: f32,
    /// Seed of the data draw and of the student's answers.
    pub seed: u64,
    /// Take the watermarked share from the two-account teacher answers ([`account_data`]:
    /// [`ACCOUNTS`] in shares 2:1) instead of the master-key cells, and attribute in detect.
    pub accounts: bool,
}

/// The two accounts of the attribution arm and their shares of the served answers (2 : 1).
pub const ACCOUNTS: [(&str, usize); 2] = [("acct-a", 2), ("acct-b", 1)];

/// Which account answer `i` of the two-account teacher data was served to.
pub fn account_for(i: usize) -> &'static str {
    let total: usize = ACCOUNTS.iter().map(|a| a.1).sum();
    let mut r = i % total;
    for (name, share) in ACCOUNTS {
        if r < share {
            return name;
        }
        r -= share;
    }
    ACCOUNTS[0].0
}

impl ArmConfig {
    /// Folder name, e.g. `finetune-green-f0.05`. The control (fraction 0, no accounts) trains
    /// on clean answers only, the same draw whatever the scheme (both schemes' cells hold the
    /// same number of answers, so the seeded shuffles match): one student, `finetune-control-f0`,
    /// serves as the control of both schemes (detection differs: each scheme's key).
    pub fn name(&self) -> String {
        if self.watermarked_fraction == 0.0 && !self.accounts {
            return format!("{}-control-f0", self.student.name());
        }
        format!(
            "{}-{}-f{}{}",
            self.student.name(),
            self.scheme,
            self.watermarked_fraction,
            if self.accounts { "-accounts" } else { "" }
        )
    }
}

/// Where things are.
#[derive(Clone, Debug)]
pub struct Paths {
    /// Experiment folder (`arms/<name>/` inside).
    pub dir: PathBuf,
    /// The real-model experiment's folder (its `answers/` are the teacher data).
    pub teacher_dir: PathBuf,
    /// The teacher GGUF.
    pub model: PathBuf,
    /// The prompt file.
    pub prompts: PathBuf,
}

/// The scratch student's shape: 4 blocks of width 256 over SmolLM2's vocabulary (≈ 16 M
/// parameters, most in the tied embedding).
pub fn scratch_config(vocab_size: usize) -> StudentConfig {
    StudentConfig {
        layers: 4,
        dim: 256,
        heads: 4,
        kv_heads: 4,
        ffn_dim: 768,
        vocab_size,
        context_length: 1024,
        rope_theta: 10_000.0,
        rms_eps: 1e-5,
        tied_embeddings: true,
    }
}

/// Held-out prompts for the students: those no teacher answer used. The teacher's cells answer
/// prompts p0061.. in order (`real::prompt_for`); with n answers per cell they use
/// p0061..p(60+n); everything else is held out.
pub fn held_out_prompts(
    prompts: &[(String, String)],
    used: &BTreeSet<String>,
) -> Vec<(String, String)> {
    prompts
        .iter()
        .filter(|(id, _)| !used.contains(id))
        .cloned()
        .collect()
}

fn write_jsonl<T: Serialize>(path: &Path, rows: &[T]) -> Result<()> {
    let tmp = path.with_extension("jsonl.partial");
    let mut out = Vec::new();
    for r in rows {
        serde_json::to_writer(&mut out, r).map_err(|e| EvalError::Input(e.to_string()))?;
        out.push(b'\n');
    }
    std::fs::write(&tmp, out).map_err(|e| EvalError::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| EvalError::io(path, e))
}

/// One teacher answer served to an account (the two-account data).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AccountAnswer {
    /// Answer index (its RNG stream; the account is [`account_for`] of it).
    pub i: usize,
    /// The account it was served to.
    pub account: String,
    /// Prompt id.
    pub prompt_id: String,
    /// The answer.
    pub text: String,
}

/// Teacher answers watermarked with the account subkeys of the scheme's experiment key, served
/// to [`ACCOUNTS`] in shares 2 : 1, for the training prompts (p0061.., the prompts the
/// real-model cells answer), at T = 1.0; appended to `teacher/accounts-<scheme>.jsonl`
/// (resumable). Returns the answers written.
pub fn account_data(
    paths: &Paths,
    scheme_name: &str,
    answers: usize,
    max_tokens: usize,
    batch: usize,
    log: &mut dyn FnMut(&str),
) -> Result<usize> {
    let dir = paths.dir.join("teacher");
    std::fs::create_dir_all(&dir).map_err(|e| EvalError::io(&dir, e))?;
    let path = dir.join(format!("accounts-{scheme_name}.jsonl"));
    let have: BTreeSet<usize> = load_appended::<AccountAnswer>(&path)?
        .iter()
        .map(|a| a.i)
        .collect();
    let prompts = read_prompts(&paths.prompts)?;
    let train_prompts: Vec<&(String, String)> = prompts
        .iter()
        .skip(crate::real::HELD_OUT_FROM)
        .take(300)
        .collect();
    if train_prompts.is_empty() {
        return Err(EvalError::Input(
            "the prompt file has no training prompts".into(),
        ));
    }
    let model = provmark_model::load(&paths.model)?;
    let tok = Tokenizer::from_file(&paths.model)?;
    let profile = experiment_profile(scheme_name, scheme_of(scheme_name)?, tok.spec())?;
    let vocab = model.config().vocab_size;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(|e| EvalError::io(&path, e))?;
    let mut written = 0;
    for (account, _) in ACCOUNTS {
        let todo: Vec<(usize, String)> = (0..answers)
            .filter(|&i| account_for(i) == account && !have.contains(&i))
            .map(|i| (i, train_prompts[i % train_prompts.len()].1.clone()))
            .collect();
        if todo.is_empty() {
            continue;
        }
        let embedder = provmark_embed::Embedder::from_profile(&profile, Some(account), vocab)?
            .with_skip_repeated_contexts(true);
        let gen = Generator::new(
            &model,
            &tok,
            Some(&embedder),
            Sampling {
                max_tokens,
                temperature: 1.0,
                top_p: 1.0,
                top_k: 0,
                seed: 4242,
            },
        )?;
        gen.run_indexed(todo, batch, &mut |a| {
            let rec = AccountAnswer {
                i: a.index,
                account: account.to_string(),
                prompt_id: train_prompts[a.index % train_prompts.len()].0.clone(),
                text: a.text,
            };
            let mut line = serde_json::to_vec(&rec)
                .map_err(|e| provmark_model::ModelError::Input(e.to_string()))?;
            line.push(b'\n');
            f.write_all(&line).and_then(|_| f.flush()).map_err(|e| {
                provmark_model::ModelError::Io {
                    path: path.clone(),
                    source: e,
                }
            })?;
            written += 1;
            Ok(())
        })?;
    }
    log(&format!(
        "accounts-{scheme_name}: {written} teacher answers written"
    ));
    Ok(written)
}

fn scheme_of(name: &str) -> Result<Scheme> {
    match name {
        "green" => Ok(Scheme::DEFAULT_GREEN),
        "gumbel" => Ok(Scheme::Gumbel),
        s => Err(EvalError::Input(format!("unknown scheme {s}"))),
    }
}

/// A training record: the prompt, the teacher's answer, and whether it was watermarked.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TrainRecord {
    /// Prompt id.
    pub prompt_id: String,
    /// Prompt text.
    pub prompt: String,
    /// The teacher's answer.
    pub text: String,
    /// Watermarked under the scheme's experiment key.
    pub watermarked: bool,
    /// The teacher cell it came from.
    pub cell: String,
}

/// Step 1: the arm's training set (written once; later runs read it back).
pub fn data(arm: &ArmConfig, paths: &Paths) -> Result<Vec<TrainRecord>> {
    let dir = paths.dir.join("arms").join(arm.name());
    std::fs::create_dir_all(&dir).map_err(|e| EvalError::io(&dir, e))?;
    let path = dir.join("train.jsonl");
    if path.is_file() {
        return read_records(&path);
    }
    let prompts = read_prompts(&paths.prompts)?;
    let prompt_text = |id: &str| {
        prompts
            .iter()
            .find(|(p, _)| p == id)
            .map(|(_, t)| t.clone())
            .ok_or_else(|| EvalError::Input(format!("prompt {id} is not in the prompt file")))
    };
    let answers_dir = paths.teacher_dir.join("answers");
    let mut wm: Vec<(String, StoredAnswer)> = Vec::new();
    let mut clean: Vec<(String, StoredAnswer)> = Vec::new();
    for c in CELLS {
        let rows = load_cell(&answers_dir, &c)?;
        if c.scheme == arm.scheme && !arm.accounts {
            wm.extend(rows.into_iter().map(|a| (c.name(), a)));
        } else if c.scheme == "clean" {
            clean.extend(rows.into_iter().map(|a| (c.name(), a)));
        }
    }
    if arm.accounts {
        let p = paths
            .dir
            .join("teacher")
            .join(format!("accounts-{}.jsonl", arm.scheme));
        let rows: Vec<AccountAnswer> = if p.is_file() {
            read_records(&p)?
        } else {
            Vec::new()
        };
        wm.extend(rows.into_iter().map(|a| {
            (
                format!("account:{}", a.account),
                StoredAnswer {
                    i: a.i,
                    prompt_id: a.prompt_id,
                    text: a.text,
                    ids: Vec::new(),
                    lp: Vec::new(),
                    ent: Vec::new(),
                    finish: String::new(),
                },
            )
        }));
    }
    let n_wm = (arm.watermarked_fraction * arm.train_answers as f64).round() as usize;
    let n_clean = arm.train_answers - n_wm.min(arm.train_answers);
    if wm.len() < n_wm || clean.len() < n_clean {
        return Err(EvalError::Input(format!(
            "arm {} needs {n_wm} watermarked and {n_clean} clean teacher answers; the real-model experiment has {} and {} (run `provmark eval real-model generate` first)",
            arm.name(),
            wm.len(),
            clean.len()
        )));
    }
    let mut rng = ChaCha20Rng::seed_from_u64(arm.seed);
    wm.shuffle(&mut rng);
    clean.shuffle(&mut rng);
    let mut records = Vec::new();
    for (cell, a) in wm.into_iter().take(n_wm) {
        records.push(TrainRecord {
            prompt: prompt_text(&a.prompt_id)?,
            prompt_id: a.prompt_id,
            text: a.text,
            watermarked: true,
            cell,
        });
    }
    for (cell, a) in clean.into_iter().take(n_clean) {
        records.push(TrainRecord {
            prompt: prompt_text(&a.prompt_id)?,
            prompt_id: a.prompt_id,
            text: a.text,
            watermarked: false,
            cell,
        });
    }
    records.shuffle(&mut rng);
    let served: Vec<&TrainRecord> = records.iter().filter(|r| r.watermarked).collect();
    write_jsonl(&dir.join("teacher-watermarked.jsonl"), &served)?;
    write_jsonl(&path, &records)?;
    Ok(records)
}

/// The records of a file this process appends to, one JSON object per line. A torn last line (a
/// run killed mid-write) is cut off the file so the run can resume; a bad line elsewhere is an
/// error. A missing file holds nothing.
fn load_appended<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<Vec<T>> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(EvalError::io(path, e)),
    };
    let mut out = Vec::new();
    let mut good = 0usize;
    let lines: Vec<&[u8]> = bytes.split(|&b| b == b'\n').collect();
    for (k, line) in lines.iter().enumerate() {
        if line.is_empty() {
            good += 1;
            continue;
        }
        match serde_json::from_slice::<T>(line) {
            Ok(r) => {
                out.push(r);
                good += line.len() + 1;
            }
            // Only the last line can be torn.
            Err(_) if k + 1 == lines.len() => {
                let f = std::fs::OpenOptions::new()
                    .write(true)
                    .open(path)
                    .map_err(|e| EvalError::io(path, e))?;
                f.set_len(good.min(bytes.len()) as u64)
                    .map_err(|e| EvalError::io(path, e))?;
            }
            Err(e) => {
                return Err(EvalError::Input(format!(
                    "{} line {}: {e}",
                    path.display(),
                    k + 1
                )))
            }
        }
    }
    Ok(out)
}

fn read_records<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<Vec<T>> {
    let text = std::fs::read_to_string(path).map_err(|e| EvalError::io(path, e))?;
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            serde_json::from_str(l)
                .map_err(|e| EvalError::Input(format!("{}: {e}", path.display())))
        })
        .collect()
}

/// Training examples: ChatML conversation, the answer and `<|im_end|>` as targets.
pub fn examples(records: &[TrainRecord], tok: &Tokenizer) -> Result<Vec<Example>> {
    let template = ChatTemplate::for_tokenizer(tok)?;
    let end = tok
        .encode("<|im_end|>")
        .first()
        .copied()
        .ok_or_else(|| EvalError::Input("the tokenizer has no <|im_end|>".into()))?;
    Ok(records
        .iter()
        .map(|r| {
            let mut tokens = template.user_turn(tok, &r.prompt);
            let loss_from = tokens.len();
            tokens.extend(tok.encode(&r.text));
            tokens.push(end);
            Example { tokens, loss_from }
        })
        .collect())
}

/// Step 2: trains until the recipe's steps are done or `budget_secs` pass; returns whether the
/// training is finished. Checkpoints every `checkpoint_every` steps and when it stops.
pub fn train(
    arm: &ArmConfig,
    paths: &Paths,
    budget_secs: Option<f64>,
    checkpoint_every: usize,
    log: &mut dyn FnMut(&str),
) -> Result<bool> {
    let start = std::time::Instant::now();
    let dir = paths.dir.join("arms").join(arm.name());
    let records = data(arm, paths)?;
    let tok = Tokenizer::from_file(&paths.model)?;
    let mut ex = examples(&records, &tok)?;
    let before = ex.len();
    ex.retain(|e| Trainer::trainable(e, arm.train.seq_len));
    if ex.is_empty() {
        return Err(EvalError::Input(format!(
            "{}: no training answer starts within seq_len {} (the prompts are longer)",
            arm.name(),
            arm.train.seq_len
        )));
    }
    if ex.len() < before {
        log(&format!(
            "{}: {} of {before} examples have no answer token within seq_len {}; left out",
            arm.name(),
            before - ex.len(),
            arm.train.seq_len
        ));
    }
    let student = match arm.student {
        StudentKind::Finetune => {
            provmark_student::student_from_gguf(&paths.model, arm.train.seq_len + 1)?
        }
        StudentKind::Scratch => Student::init(scratch_config(tok.vocab_size()), arm.seed)?,
    };
    let mut t = Trainer::open(student, arm.train.clone(), &dir.join("train"))?;
    let mut since = 0;
    while !t.finished() {
        if budget_secs.is_some_and(|b| start.elapsed().as_secs_f64() > b) {
            t.checkpoint()?;
            log(&format!(
                "{}: time budget reached at step {} of {}",
                arm.name(),
                t.state().step,
                arm.train.steps
            ));
            return Ok(false);
        }
        let l = t.step(&ex)?;
        since += 1;
        let s = t.state().step;
        if s % 10 == 0 || s == arm.train.steps {
            log(&format!("{}: step {s} loss {l:.4}", arm.name()));
        }
        if since >= checkpoint_every.max(1) {
            t.checkpoint()?;
            since = 0;
        }
    }
    t.checkpoint()?;
    let out = dir.join("student.gguf");
    if !out.is_file() {
        provmark_student::export_gguf(
            t.student(),
            &paths.model,
            &out,
            provmark_student::gguf::GgmlDType::Q8_0,
        )?;
    }
    Ok(true)
}

/// A student's answer.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StudentAnswer {
    /// Answer index (its RNG stream).
    pub i: usize,
    /// Prompt id.
    pub prompt_id: String,
    /// Prompt text.
    pub prompt: String,
    /// The answer.
    pub text: String,
}

/// The student answers a worker appends to: `answers.jsonl` for the only worker, else
/// `answers.w<k>.jsonl`.
fn answers_file(dir: &Path, (k, n): (usize, usize)) -> PathBuf {
    if n <= 1 {
        dir.join("answers.jsonl")
    } else {
        dir.join(format!("answers.w{k}.jsonl"))
    }
}

/// The file this worker appends to; the single worker first folds the workers' files in.
fn answers_files_for(dir: &Path, worker: (usize, usize)) -> Result<PathBuf> {
    if worker.1 <= 1 {
        merge_worker_answers(dir)?;
    }
    Ok(answers_file(dir, worker))
}

/// Folds the workers' `answers.w<k>.jsonl` into `answers.jsonl` (every answer once, by index;
/// written atomically, then the worker files are removed). Returns the answers now there.
fn merge_worker_answers(dir: &Path) -> Result<Vec<StudentAnswer>> {
    let main = dir.join("answers.jsonl");
    let mut workers: Vec<PathBuf> = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries {
            let e = e.map_err(|e| EvalError::io(dir, e))?;
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with("answers.w") && name.ends_with(".jsonl") {
                workers.push(e.path());
            }
        }
    }
    workers.sort();
    let mut by_index = std::collections::BTreeMap::new();
    for a in load_appended::<StudentAnswer>(&main)? {
        by_index.entry(a.i).or_insert(a);
    }
    if workers.is_empty() {
        return Ok(by_index.into_values().collect());
    }
    for w in &workers {
        for a in load_appended::<StudentAnswer>(w)? {
            by_index.entry(a.i).or_insert(a);
        }
    }
    let all: Vec<StudentAnswer> = by_index.into_values().collect();
    write_jsonl(&main, &all)?;
    for w in &workers {
        std::fs::remove_file(w).map_err(|e| EvalError::io(w, e))?;
    }
    Ok(all)
}

/// Step 4: the student answers held-out prompts (resumable). Worker `k` of `n` makes the
/// answers whose index is `k` mod `n` into its own file (answers do not depend on the split:
/// answer `i` draws from its own seeded stream); the single-worker call first folds the
/// workers' files into `answers.jsonl`, so run it once after them.
pub fn answer(
    arm: &ArmConfig,
    paths: &Paths,
    batch: usize,
    worker: (usize, usize),
    log: &mut dyn FnMut(&str),
) -> Result<usize> {
    let (k, n_workers) = worker;
    if n_workers == 0 || k >= n_workers {
        return Err(EvalError::Input(format!(
            "worker {k} of {n_workers}: k must be below n"
        )));
    }
    let dir = paths.dir.join("arms").join(arm.name());
    let gguf = dir.join("student.gguf");
    if !gguf.is_file() {
        return Err(EvalError::Input(format!(
            "{} has no student.gguf yet: train it first",
            arm.name()
        )));
    }
    let prompts = read_prompts(&paths.prompts)?;
    let mut used = BTreeSet::new();
    for c in CELLS {
        for a in load_cell(&paths.teacher_dir.join("answers"), &c)? {
            used.insert(a.prompt_id);
        }
    }
    let held = held_out_prompts(&prompts, &used);
    if held.is_empty() {
        return Err(EvalError::Input("no held-out prompts are left".into()));
    }
    let path = answers_files_for(&dir, worker)?;
    let mut have: BTreeSet<usize> = BTreeSet::new();
    for p in [dir.join("answers.jsonl"), path.clone()] {
        have.extend(load_appended::<StudentAnswer>(&p)?.iter().map(|a| a.i));
    }
    let todo: Vec<(usize, String)> = (0..arm.student_answers)
        .filter(|i| i % n_workers == k && !have.contains(i))
        .map(|i| (i, held[i % held.len()].1.clone()))
        .collect();
    if todo.is_empty() {
        return Ok(0);
    }
    log(&format!(
        "{}: worker {k}/{n_workers} makes {} student answers",
        arm.name(),
        todo.len()
    ));
    let model = provmark_model::load(&gguf)?;
    let tok = Tokenizer::from_file(&gguf)?;
    let gen = Generator::new(
        &model,
        &tok,
        None,
        Sampling {
            max_tokens: arm.max_tokens,
            temperature: arm.temperature,
            top_p: 1.0,
            top_k: 0,
            seed: arm.seed,
        },
    )?;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(|e| EvalError::io(&path, e))?;
    let mut n = 0;
    gen.run_indexed(todo, batch, &mut |a| {
        let (id, p) = &held[a.index % held.len()];
        let rec = StudentAnswer {
            i: a.index,
            prompt_id: id.clone(),
            prompt: p.clone(),
            text: a.text,
        };
        let mut line = serde_json::to_vec(&rec)
            .map_err(|e| provmark_model::ModelError::Input(e.to_string()))?;
        line.push(b'\n');
        f.write_all(&line)
            .and_then(|_| f.flush())
            .map_err(|e| provmark_model::ModelError::Io {
                path: path.clone(),
                source: e,
            })?;
        n += 1;
        Ok(())
    })?;
    log(&format!("{}: {n} student answers written", arm.name()));
    Ok(n)
}

/// What the detection step found for one arm (the fields of `docs/real-distillation.json`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ArmResult {
    /// `finetune` / `scratch`.
    pub student: String,
    /// Scheme of the watermarked training answers.
    pub scheme: String,
    /// Their share of the training answers.
    pub watermarked_fraction: f64,
    /// Target tokens the student was trained on.
    pub training_tokens: u64,
    /// Mean loss over the last 10 steps.
    pub final_train_loss: f64,
    /// (step, loss) every step.
    pub loss_curve: Vec<(usize, f32)>,
    /// Student answers scanned.
    pub student_answers: usize,
    /// Distinct pairs scored (closed model).
    pub scored_tokens: u64,
    /// log10 p, closed model (the student's text alone).
    pub log10_p: f64,
    /// log10 p with `--filter-from` the teacher's watermarked answers (None when there were none).
    pub filtered_log10_p: Option<f64>,
    /// Distinct pairs scored with the filter.
    pub filtered_scored_tokens: Option<u64>,
    /// Evidence curve (scored pairs, log10 p), closed model.
    pub curve: Vec<(u64, f64)>,
    /// log10 p of the open-model test (student.gguf reading clean teacher answers).
    pub open_model_log10_p: Option<f64>,
    /// Green share of the student's predictions in the open-model test (green scheme).
    pub open_model_green_share: Option<f64>,
    /// Per account (attribution arm): (account, share of the watermarked training answers,
    /// log10 p, Bonferroni-adjusted log10 p), closed model.
    pub accounts: Vec<(String, f64, f64, f64)>,
    /// The arm's settings (seeds included).
    pub config: ArmConfig,
}

/// Step 5: scans and the open-model test.
pub fn detect(arm: &ArmConfig, paths: &Paths, open_model_texts: usize) -> Result<ArmResult> {
    let dir = paths.dir.join("arms").join(arm.name());
    let tok = Tokenizer::from_file(&paths.model)?;
    let scheme = scheme_of(&arm.scheme)?;
    let profile = experiment_profile(&arm.scheme, scheme, tok.spec())?;
    let answers = dir.join("answers.jsonl");
    let n_answers = read_records::<StudentAnswer>(&answers)?.len();
    let run_scan = |filter: Option<PathBuf>| -> Result<provmark_scan::Report> {
        let mut cfg = provmark_scan::ScanConfig::new(vec![answers.clone()]);
        cfg.field = "text".into();
        cfg.prompt_field = Some("prompt".into());
        cfg.tokenizer_path = Some(paths.model.clone());
        cfg.threads = 1;
        cfg.curve_bins = 20;
        if arm.accounts {
            cfg.accounts = ACCOUNTS.iter().map(|a| a.0.to_string()).collect();
        }
        if let Some(f) = filter {
            cfg.filter_from = vec![f];
        }
        Ok(provmark_scan::scan(
            &profile,
            &cfg,
            &provmark_scan::Progress::default(),
        )?)
    };
    let closed = run_scan(None)?;
    let served = dir.join("teacher-watermarked.jsonl");
    let has_served = std::fs::metadata(&served).is_ok_and(|m| m.len() > 0);
    // With the filter, a student whose text shares no context with the served answers scores
    // nothing: that is a result (no filtered evidence), not a failure.
    let filtered = if has_served {
        match run_scan(Some(served)) {
            Ok(r) => Some(r),
            Err(EvalError::Scan(provmark_scan::ScanError::NothingScored { .. })) => None,
            Err(e) => return Err(e),
        }
    } else {
        None
    };
    // Open model: the student reads clean teacher answers (the tested key chose none of their
    // tokens), excluding those in its own training set, each after its prompt in the chat
    // template (the setting the student was trained in; the prompt's positions are not scored).
    let records = data(arm, paths)?;
    let trained: BTreeSet<&str> = records.iter().map(|r| r.text.as_str()).collect();
    let prompts = read_prompts(&paths.prompts)?;
    let mut texts = Vec::new();
    for c in CELLS.iter().filter(|c| c.scheme == "clean") {
        for a in load_cell(&paths.teacher_dir.join("answers"), c)? {
            if !trained.contains(a.text.as_str()) && texts.len() < open_model_texts {
                let prompt = prompts
                    .iter()
                    .find(|(id, _)| *id == a.prompt_id)
                    .map(|(_, t)| t.clone());
                texts.push(OurText {
                    prompt,
                    text: a.text,
                });
            }
        }
    }
    let gguf = dir.join("student.gguf");
    let open = if texts.is_empty() || !gguf.is_file() {
        None
    } else {
        let m = provmark_model::load(&gguf)?;
        Some(provmark_model::scan_model(
            &m, &tok, &profile, None, &texts,
        )?)
    };
    let state: provmark_student::RunState = {
        let p = dir.join("train").join("state.json");
        let s = std::fs::read_to_string(&p).map_err(|e| EvalError::io(&p, e))?;
        serde_json::from_str(&s).map_err(|e| EvalError::Input(format!("{}: {e}", p.display())))?
    };
    let tail = &state.losses[state.losses.len().saturating_sub(10)..];
    let final_loss = tail.iter().map(|x| f64::from(x.1)).sum::<f64>() / tail.len().max(1) as f64;
    Ok(ArmResult {
        student: arm.student.name().into(),
        scheme: arm.scheme.clone(),
        watermarked_fraction: arm.watermarked_fraction,
        training_tokens: state.tokens,
        final_train_loss: final_loss,
        loss_curve: state.losses.clone(),
        student_answers: n_answers,
        scored_tokens: closed.corpus.scored_tokens,
        log10_p: closed.corpus.log10_p,
        filtered_log10_p: filtered.as_ref().map(|r| r.corpus.log10_p),
        filtered_scored_tokens: filtered.as_ref().map(|r| r.corpus.scored_tokens),
        curve: closed
            .curve
            .iter()
            .map(|c| (c.scored_tokens, c.log10_p))
            .collect(),
        open_model_log10_p: open.as_ref().map(|o| o.evidence.log10_p),
        open_model_green_share: open.as_ref().and_then(|o| o.evidence.green_share),
        accounts: closed
            .accounts
            .iter()
            .map(|r| {
                let n = records.iter().filter(|t| t.watermarked).count().max(1) as f64;
                let share = records
                    .iter()
                    .filter(|t| t.cell == format!("account:{}", r.account))
                    .count() as f64
                    / n;
                (r.account.clone(), share, r.log10_p, r.adjusted_log10_p)
            })
            .collect(),
        config: arm.clone(),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_control_student_is_shared_by_both_schemes() {
        let arm = |scheme: &str, f: f64, accounts: bool| ArmConfig {
            student: StudentKind::Finetune,
            scheme: scheme.into(),
            watermarked_fraction: f,
            train_answers: 10,
            train: TrainConfig {
                steps: 1,
                batch: 1,
                seq_len: 8,
                lr: 1e-4,
                warmup_steps: 0,
                weight_decay: 0.0,
                seed: 1,
            },
            student_answers: 1,
            max_tokens: 1,
            temperature: 1.0,
            seed: 1,
            accounts,
        };
        assert_eq!(arm("green", 0.0, false).name(), "finetune-control-f0");
        assert_eq!(arm("gumbel", 0.0, false).name(), "finetune-control-f0");
        assert_eq!(arm("gumbel", 0.05, false).name(), "finetune-gumbel-f0.05");
        assert_eq!(arm("green", 0.0, true).name(), "finetune-green-f0-accounts");
    }

    #[test]
    fn workers_answer_files_fold_into_one_by_index() {
        let d = std::env::temp_dir().join(format!("provmark-rd-merge-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        let rec = |i: usize, text: &str| StudentAnswer {
            i,
            prompt_id: format!("p{i}"),
            prompt: "q".into(),
            text: text.into(),
        };
        // A single earlier run made 0 and 2; worker 1 of 2 made 1 and 3 (and a torn line);
        // worker 0 made 4 and a second copy of 2 (the first copy is kept).
        write_jsonl(&d.join("answers.jsonl"), &[rec(0, "a"), rec(2, "c")]).unwrap();
        write_jsonl(&answers_file(&d, (1, 2)), &[rec(3, "d"), rec(1, "b")]).unwrap();
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(answers_file(&d, (1, 2)))
            .unwrap();
        f.write_all(b"{\"i\": 5, \"pro").unwrap();
        write_jsonl(&answers_file(&d, (0, 2)), &[rec(4, "e"), rec(2, "other")]).unwrap();
        let got = merge_worker_answers(&d).unwrap();
        let seen: Vec<(usize, String)> = got.iter().map(|a| (a.i, a.text.clone())).collect();
        let want: Vec<(usize, String)> = ["a", "b", "c", "d", "e"]
            .iter()
            .enumerate()
            .map(|(i, t)| (i, t.to_string()))
            .collect();
        assert_eq!(seen, want);
        assert!(!answers_file(&d, (0, 2)).exists() && !answers_file(&d, (1, 2)).exists());
        let back: Vec<usize> = read_records::<StudentAnswer>(&d.join("answers.jsonl"))
            .unwrap()
            .iter()
            .map(|a| a.i)
            .collect();
        assert_eq!(back, vec![0, 1, 2, 3, 4]);
        // Nothing to fold: the file is left as it is.
        assert_eq!(merge_worker_answers(&d).unwrap().len(), 5);
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_torn_last_line_is_cut_and_the_rest_kept() {
        let d = std::env::temp_dir().join(format!("provmark-rd-append-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        let p = d.join("answers.jsonl");
        let rec = |i: usize| {
            serde_json::to_string(&StudentAnswer {
                i,
                prompt_id: "p1".into(),
                prompt: "q".into(),
                text: "a".into(),
            })
            .unwrap()
                + "\n"
        };
        let whole = rec(0) + &rec(1);
        std::fs::write(&p, whole.clone() + &rec(2)[..7]).unwrap();
        let got: Vec<usize> = load_appended::<StudentAnswer>(&p)
            .unwrap()
            .iter()
            .map(|a| a.i)
            .collect();
        assert_eq!(got, vec![0, 1]);
        assert_eq!(std::fs::read_to_string(&p).unwrap(), whole);
        // A bad line that is not the last is an error, not a silent restart.
        std::fs::write(&p, rec(0) + "garbage\n" + &rec(1)).unwrap();
        assert!(load_appended::<StudentAnswer>(&p).is_err());
        assert!(load_appended::<StudentAnswer>(&d.join("absent.jsonl"))
            .unwrap()
            .is_empty());
        std::fs::remove_dir_all(&d).unwrap();
    }
}

/// What [`export_demo`] wrote.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DemoExport {
    /// The arm the suspect corpus comes from.
    pub arm: String,
    /// Student answers in `suspect.jsonl`.
    pub suspect: usize,
    /// Control student answers in `control.jsonl`.
    pub control: usize,
    /// Teacher answers in `served.jsonl`.
    pub served: usize,
    /// The profile's file name.
    pub profile: String,
}

/// The profile file name of an experiment key in an exported demo.
pub fn demo_profile_name(scheme: &str) -> String {
    format!("PUBLIC-EXPERIMENT-KEY.{scheme}.profile.json")
}

/// The README's main job: a small corpus from one arm, written to `out` — the arm's student
/// answers (`suspect.jsonl`), the control student's (`control.jsonl`), the teacher's watermarked
/// answers in the arm's training set (`served.jsonl`, for `--filter-from`) and the scheme's
/// experiment profile bound to `spec` (the shipped tokenizer extract). Records are
/// `{"id", "prompt", "text"}`. The experiment key is derived from a public label, so the
/// profile is public; it is written only when absent.
pub fn export_demo(
    arm: &ArmConfig,
    paths: &Paths,
    out: &Path,
    spec: provmark_core::TokenizerSpec,
) -> Result<DemoExport> {
    let control = ArmConfig {
        watermarked_fraction: 0.0,
        accounts: false,
        ..arm.clone()
    };
    let arm_dir = paths.dir.join("arms").join(arm.name());
    let control_dir = paths.dir.join("arms").join(control.name());
    std::fs::create_dir_all(out).map_err(|e| EvalError::io(out, e))?;
    let write = |name: &str, rows: Vec<(String, String, String)>| -> Result<usize> {
        let path = out.join(name);
        let mut text = String::new();
        for (id, prompt, t) in &rows {
            text.push_str(
                &serde_json::json!({ "id": id, "prompt": prompt, "text": t }).to_string(),
            );
            text.push('\n');
        }
        std::fs::write(&path, text).map_err(|e| EvalError::io(&path, e))?;
        Ok(rows.len())
    };
    let student_rows = |dir: &Path, tag: &str| -> Result<Vec<(String, String, String)>> {
        let file = dir.join("answers.jsonl");
        let mut a = if file.is_file() {
            read_records::<StudentAnswer>(&file)?
        } else {
            Vec::new()
        };
        a.sort_by_key(|a| a.i);
        if a.is_empty() {
            return Err(EvalError::Setup(format!(
                "{} has no student answers: run `provmark eval real-distill answer` first",
                dir.display()
            )));
        }
        Ok(a.into_iter()
            .map(|a| (format!("{tag}-{:03}", a.i), a.prompt, a.text))
            .collect())
    };
    let suspect = write("suspect.jsonl", student_rows(&arm_dir, "suspect")?)?;
    let control = write("control.jsonl", student_rows(&control_dir, "control")?)?;
    let served_rows = read_records::<TrainRecord>(&arm_dir.join("teacher-watermarked.jsonl"))?
        .into_iter()
        .enumerate()
        .map(|(i, r)| (format!("served-{i:03}"), r.prompt, r.text))
        .collect();
    let served = write("served.jsonl", served_rows)?;
    let name = demo_profile_name(&arm.scheme);
    let pp = out.join(&name);
    if !pp.exists() {
        experiment_profile(&arm.scheme, scheme_of(&arm.scheme)?, spec)?.save_new(&pp)?;
    }
    Ok(DemoExport {
        arm: arm.name(),
        suspect,
        control,
        served,
        profile: name,
    })
}
