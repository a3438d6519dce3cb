//! `provmark eval`: the simulated distillation threat and the evaluation tables.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand, ValueEnum};
use provmark_core::Scheme;
use provmark_eval::tables::{run_all, Budget};
use provmark_eval::{run_distill, DistillConfig, StudentTokenizer, World};

/// Arguments of `provmark eval`.
#[derive(Args, Debug)]
pub struct EvalArgs {
    #[command(subcommand)]
    command: EvalCommand,
}

#[derive(Subcommand, Debug)]
enum EvalCommand {
    /// One simulated distillation run: teacher → student → pooled scan, with a clean control.
    Distill(DistillArgs),
    /// Regenerate every evaluation table (markdown + JSON).
    Tables(TablesArgs),
    /// Write the bundled demo corpus (suspect, control, served outputs, public demo profile).
    Demo(DemoArgs),
    /// The real-model experiment (SmolLM2): generate answers (resumable), then analyse them into
    /// docs/real-model.json.
    RealModel(RealModelArgs),
    /// The real distillation experiment: neural students trained on SmolLM2's watermarked
    /// answers (one arm per call; every step resumable), scanned closed- and open-model.
    RealDistill(RealDistillArgs),
}

/// Arguments of `provmark eval real-distill`.
#[derive(Args, Debug)]
struct RealDistillArgs {
    /// `teacher-accounts` (teacher answers served to two accounts, 2 : 1, resumable), `train`
    /// (data + training in pieces + export), `answer` (student answers to held-out prompts),
    /// `detect` (scans; merges the arm into --out), or `all` (train, answer, detect).
    /// `export-demo` writes the arm's student answers, the control's, the served answers and
    /// the public experiment profile to --demo-out (the README's main job).
    #[arg(value_parser = ["teacher-accounts", "train", "answer", "detect", "all", "export-demo"])]
    step: String,
    /// Where `export-demo` writes the demo corpus.
    #[arg(long, default_value = "testdata/real-distill")]
    demo_out: PathBuf,
    /// The watermarked share comes from the two-account teacher answers (attribution arm).
    #[arg(long)]
    accounts: bool,
    /// `K/N` with `answer`: this process makes the student answers whose index is K mod N into
    /// its own file, so N single-threaded processes can run side by side; a later plain `answer`
    /// folds their files into `answers.jsonl` (see `tools/real-distill.sh`).
    #[arg(long, default_value = "0/1", value_parser = parse_worker)]
    worker: (usize, usize),
    /// Teacher answers to make with `teacher-accounts`.
    #[arg(long, default_value_t = 300)]
    teacher_answers: usize,
    /// Most tokens per teacher answer with `teacher-accounts` (as in the real-model cells).
    #[arg(long, default_value_t = 400)]
    teacher_max_tokens: usize,
    /// `finetune` (from the teacher's weights) or `scratch` (a 4-block student).
    #[arg(long, default_value = "finetune", value_parser = ["finetune", "scratch"])]
    student: String,
    /// Scheme of the watermarked training answers.
    #[arg(long, default_value = "green", value_parser = ["green", "gumbel"])]
    scheme: String,
    /// Share of the training answers that are watermarked.
    #[arg(long, default_value_t = 1.0)]
    fraction: f64,
    /// Training answers (teacher answers from the real-model experiment).
    #[arg(long, default_value_t = 400)]
    train_answers: usize,
    /// Optimiser steps (the default: two epochs of 400 answers at batch 2).
    #[arg(long, default_value_t = 400)]
    steps: usize,
    /// Sequences per step (fine-tuning at batch 2 × 512 tokens needs about 10 GB of memory).
    #[arg(long, default_value_t = 2)]
    batch: usize,
    /// Longest training sequence (tokens).
    #[arg(long, default_value_t = 512)]
    seq_len: usize,
    /// Peak learning rate (default: 5e-5 fine-tuning, 1e-3 from scratch).
    #[arg(long)]
    lr: Option<f64>,
    /// Student answers to held-out prompts.
    #[arg(long, default_value_t = 240)]
    student_answers: usize,
    /// Seed of the data draw, the scratch initialisation and the student's answers.
    #[arg(long, default_value_t = 13)]
    seed: u64,
    /// Stop training after this many minutes (checkpointed; rerun to continue).
    #[arg(long)]
    minutes: Option<f64>,
    /// Experiment folder.
    #[arg(long, default_value = "experiments/real-distill")]
    dir: PathBuf,
    /// The real-model experiment folder (its answers are the teacher data).
    #[arg(long, default_value = "experiments/real-model")]
    teacher_dir: PathBuf,
    /// The teacher GGUF.
    #[arg(long, default_value = "models/SmolLM2-135M-Instruct.Q8_0.gguf")]
    model: PathBuf,
    /// Prompt file.
    #[arg(long, default_value = "experiments/prompts/everyday.jsonl")]
    prompts: PathBuf,
    /// Clean teacher answers the student reads in the open-model test.
    #[arg(long, default_value_t = 100)]
    open_model_texts: usize,
    /// Where detect merges the arm's result.
    #[arg(long, default_value = "docs/real-distillation.json")]
    out: PathBuf,
}

/// Arguments of `provmark eval real-model`.
#[derive(Args, Debug)]
struct RealModelArgs {
    /// `generate` (append missing answers, resumable), `analyze` (figures from what is there),
    /// or `both`.
    #[arg(value_parser = ["generate", "analyze", "both"])]
    step: String,
    /// Experiment folder (answers/ inside).
    #[arg(long, default_value = "experiments/real-model")]
    dir: PathBuf,
    /// The GGUF model.
    #[arg(long, default_value = "models/SmolLM2-135M-Instruct.Q8_0.gguf")]
    model: PathBuf,
    /// Prompt file.
    #[arg(long, default_value = "experiments/prompts/everyday.jsonl")]
    prompts: PathBuf,
    /// Answers per cell.
    #[arg(long, default_value_t = 300)]
    answers: usize,
    /// Clean T = 1.0 answers to make (at least --answers; more only add calibration answers).
    #[arg(long, default_value_t = 300)]
    calibration_answers: usize,
    /// Independent keys per scheme under which every answer is tested in the calibration
    /// (clean answers, and watermarked ones under keys they were not made with).
    #[arg(long, default_value_t = 12)]
    calibration_keys: usize,
    /// Most tokens per answer.
    #[arg(long, default_value_t = 400)]
    max_tokens: usize,
    /// Rows decoded together.
    #[arg(long, default_value_t = 16)]
    batch: usize,
    /// Answers per cell per round.
    #[arg(long, default_value_t = 25)]
    round: usize,
    /// Stop starting new rounds after this many minutes.
    #[arg(long)]
    minutes: Option<f64>,
    /// `K/N`: this process makes the answers whose index is K mod N, into its own files, so N
    /// processes (each with `CANDLE_NUM_THREADS=1`) can run side by side; see
    /// `tools/real-model-generate.sh`.
    #[arg(long, default_value = "0/1", value_parser = parse_worker)]
    worker: (usize, usize),
    /// Where analyze writes the JSON (fields other than the measured ones are kept).
    #[arg(long, default_value = "docs/real-model.json")]
    out: PathBuf,
}

fn parse_worker(s: &str) -> Result<(usize, usize), String> {
    let bad = || format!("expected K/N with K < N (e.g. 0/2), not {s:?}");
    let (k, n) = s.split_once('/').ok_or_else(bad)?;
    let k: usize = k.trim().parse().map_err(|_| bad())?;
    let n: usize = n.trim().parse().map_err(|_| bad())?;
    if n == 0 || k >= n {
        return Err(bad());
    }
    Ok((k, n))
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum SchemeArg {
    Green,
    Gumbel,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum StudentTokArg {
    /// The teacher's tokenizer (o200k_base).
    Same,
    /// cl100k_base: the student trains on the teacher's text re-tokenized.
    Cl100k,
}

#[derive(Args, Debug)]
struct DistillArgs {
    /// Watermarked share of the student's training tokens, in [0, 1].
    #[arg(long)]
    fraction: f64,
    /// Tokens the student generates and the scan reads.
    #[arg(long, default_value_t = 100_000)]
    student_tokens: usize,
    /// Watermark scheme.
    #[arg(long, value_enum, default_value_t = SchemeArg::Green)]
    scheme: SchemeArg,
    /// Green-list fraction γ.
    #[arg(long, default_value_t = 0.25)]
    gamma: f64,
    /// Green-list bias δ.
    #[arg(long, default_value_t = 2.0)]
    delta: f64,
    /// Watermark context width h.
    #[arg(long, default_value_t = 2)]
    context_width: usize,
    /// Score only contexts that occur in our served (watermarked) responses.
    #[arg(long)]
    filter: bool,
    /// Seed of everything random.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Student training tokens (watermarked + clean).
    #[arg(long, default_value_t = 1_000_000)]
    train_tokens: usize,
    /// Teacher and clean-source temperature.
    #[arg(long, default_value_t = 1.0)]
    temperature: f64,
    /// The student's tokenizer.
    #[arg(long, value_enum, default_value_t = StudentTokArg::Same)]
    student_tokenizer: StudentTokArg,
    /// Student n-gram context (its own tokens); default h, or 2h + 1 with another tokenizer.
    #[arg(long)]
    student_context: Option<usize>,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

#[derive(Args, Debug)]
struct TablesArgs {
    /// Far fewer runs (a smoke test; not the published numbers).
    #[arg(long)]
    quick: bool,
    /// Markdown output (the JSON goes next to it with extension .json, lowercase name).
    #[arg(long, default_value = "docs/EVALUATION.md")]
    out: PathBuf,
    /// JSON output (default: `evaluation.json` next to --out).
    #[arg(long)]
    json_out: Option<PathBuf>,
}

#[derive(Args, Debug)]
struct DemoArgs {
    /// Output folder.
    #[arg(long, default_value = "testdata/demo")]
    out: PathBuf,
    /// Watermarked share of the suspect student's training mix.
    #[arg(long, default_value_t = 0.10)]
    fraction: f64,
    /// Tokens each student writes.
    #[arg(long, default_value_t = 60_000)]
    student_tokens: usize,
    /// Student training tokens.
    #[arg(long, default_value_t = 500_000)]
    train_tokens: usize,
    /// Seed.
    #[arg(long, default_value_t = 2024)]
    seed: u64,
}

/// Runs `provmark eval`.
pub fn run(args: EvalArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        EvalCommand::Distill(a) => distill(a),
        EvalCommand::Tables(a) => tables(a),
        EvalCommand::Demo(a) => demo(a),
        EvalCommand::RealModel(a) => real_model(a),
        EvalCommand::RealDistill(a) => real_distill(a),
    }
}

fn real_distill(a: RealDistillArgs) -> anyhow::Result<ExitCode> {
    use provmark_eval::real_distill as rd;
    let student = if a.student == "scratch" {
        rd::StudentKind::Scratch
    } else {
        rd::StudentKind::Finetune
    };
    if !(0.0..=1.0).contains(&a.fraction) {
        anyhow::bail!("--fraction must be in [0, 1], not {}", a.fraction);
    }
    let arm = rd::ArmConfig {
        student,
        scheme: a.scheme.clone(),
        watermarked_fraction: a.fraction,
        train_answers: a.train_answers,
        train: provmark_student::TrainConfig {
            steps: a.steps,
            batch: a.batch,
            seq_len: a.seq_len,
            lr: a.lr.unwrap_or(match student {
                rd::StudentKind::Finetune => 5e-5,
                rd::StudentKind::Scratch => 1e-3,
            }),
            warmup_steps: 10,
            weight_decay: 0.0,
            seed: a.seed,
        },
        student_answers: a.student_answers,
        max_tokens: 256,
        temperature: 1.0,
        seed: a.seed,
        accounts: a.accounts,
    };
    let paths = rd::Paths {
        dir: a.dir.clone(),
        teacher_dir: a.teacher_dir.clone(),
        model: a.model.clone(),
        prompts: a.prompts.clone(),
    };
    let mut log = |m: &str| eprintln!("{m}");
    if a.step == "teacher-accounts" {
        rd::account_data(
            &paths,
            &a.scheme,
            a.teacher_answers,
            a.teacher_max_tokens,
            8,
            &mut log,
        )?;
        return Ok(ExitCode::SUCCESS);
    }
    if a.step == "export-demo" {
        let spec = provmark_model::profile_tokenizer_spec(&a.model)
            .with_context(|| format!("cannot read the tokenizer of {}", a.model.display()))?;
        let e = rd::export_demo(&arm, &paths, &a.demo_out, spec)?;
        println!("{}", serde_json::to_string(&e)?);
        return Ok(ExitCode::SUCCESS);
    }
    let all = a.step == "all";
    if a.step == "train" || all {
        let done = rd::train(&arm, &paths, a.minutes.map(|m| m * 60.0), 20, &mut log)?;
        if !done {
            eprintln!("training not finished; rerun the same command to continue");
            return Ok(ExitCode::from(1));
        }
    }
    if a.step == "answer" || all {
        rd::answer(&arm, &paths, 8, a.worker, &mut log)?;
    }
    if a.step == "detect" || all {
        let r = rd::detect(&arm, &paths, a.open_model_texts)?;
        let mut doc: serde_json::Value = std::fs::read_to_string(&a.out)
            .ok()
            .and_then(|s| serde_json::from_str(&s).ok())
            .unwrap_or_else(|| serde_json::json!({"arms": []}));
        let arms = doc["arms"].as_array_mut().context("arms is not a list")?;
        arms.retain(|x| x["config"] != serde_json::to_value(&r.config).unwrap_or_default());
        let mut v = serde_json::to_value(&r)?;
        // The one command that reproduces this arm from the teacher answers (every step resumes).
        v["command"] = serde_json::Value::String(format!(
            "{}provmark eval real-distill all --student {} --scheme {} --fraction {}{} \
             --train-answers {} --steps {} --batch {} --seq-len {} --lr {} --student-answers {} \
             --seed {}",
            if a.accounts {
                format!(
                    "provmark eval real-distill teacher-accounts --scheme {} && ",
                    a.scheme
                )
            } else {
                String::new()
            },
            a.student,
            a.scheme,
            a.fraction,
            if a.accounts { " --accounts" } else { "" },
            a.train_answers,
            a.steps,
            a.batch,
            a.seq_len,
            arm.train.lr,
            a.student_answers,
            a.seed
        ));
        arms.push(v);
        std::fs::write(&a.out, serde_json::to_string_pretty(&doc)? + "\n")
            .with_context(|| format!("cannot write {}", a.out.display()))?;
        println!(
            "{}: closed model log10 p {:.2} over {} pairs; filtered {:?}; open model {:?}",
            arm.name(),
            r.log10_p,
            r.scored_tokens,
            r.filtered_log10_p,
            r.open_model_log10_p
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn distill(a: DistillArgs) -> anyhow::Result<ExitCode> {
    let mut cfg = DistillConfig::new(a.fraction, a.student_tokens);
    cfg.scheme = match a.scheme {
        SchemeArg::Green => Scheme::Green {
            gamma: a.gamma,
            delta: a.delta,
        },
        SchemeArg::Gumbel => Scheme::Gumbel,
    };
    cfg.context_width = a.context_width;
    cfg.filter = a.filter;
    cfg.seed = a.seed;
    cfg.train_tokens = a.train_tokens;
    cfg.temperature = a.temperature;
    cfg.student_tokenizer = match a.student_tokenizer {
        StudentTokArg::Same => StudentTokenizer::Same,
        StudentTokArg::Cl100k => StudentTokenizer::Cl100k,
    };
    cfg.student_context = a.student_context.unwrap_or(match cfg.student_tokenizer {
        StudentTokenizer::Same => a.context_width,
        StudentTokenizer::Cl100k => 2 * a.context_width + 1,
    });
    cfg.checkpoints = provmark_eval::tables::distill_checkpoints(a.student_tokens);
    cfg.validate()?;
    let world = World::standard().context("cannot set up the simulation")?;
    let out = run_distill(&world, &cfg)?;
    if a.json {
        println!("{}", serde_json::to_string(&out.summary_json())?);
    } else {
        println!(
            "simulated distillation: F = {}%, {} student tokens, {} h = {}{}",
            cfg.fraction * 100.0,
            cfg.student_tokens,
            cfg.scheme.name(),
            cfg.context_width,
            if cfg.filter {
                ", supervised filter"
            } else {
                ""
            }
        );
        println!(
            "suspect student: log10 p = {:.2} over {} scored tokens (mean score {:.4})",
            out.suspect.log10_p, out.suspect.scored_tokens, out.suspect.mean_score
        );
        println!(
            "control student: log10 p = {:.2} over {} scored tokens (mean score {:.4})",
            out.control.log10_p, out.control.scored_tokens, out.control.mean_score
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn tables(a: TablesArgs) -> anyhow::Result<ExitCode> {
    let budget = if a.quick {
        Budget::quick()
    } else {
        Budget::full()
    };
    let start = std::time::Instant::now();
    let mut t = run_all(&budget, &mut |name| {
        eprintln!(
            "provmark eval: {name} ({:.0} s)",
            start.elapsed().as_secs_f64()
        );
    })?;
    t.wall_seconds = Some(start.elapsed().as_secs_f64());
    let command = format!(
        "provmark eval tables{}",
        if a.quick { " --quick" } else { "" }
    );
    let md = provmark_eval::report::markdown(&t, &command);
    let json_out = a
        .json_out
        .unwrap_or_else(|| a.out.with_file_name("evaluation.json"));
    if let Some(dir) = a.out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    std::fs::write(&a.out, md).with_context(|| format!("cannot write {}", a.out.display()))?;
    let mut v = serde_json::to_value(&t)?;
    v["goals"] = serde_json::to_value(provmark_eval::report::goals(&t))?;
    std::fs::write(&json_out, serde_json::to_string_pretty(&v)? + "\n")
        .with_context(|| format!("cannot write {}", json_out.display()))?;
    eprintln!(
        "provmark eval: wrote {} and {} ({:.0} s)",
        a.out.display(),
        json_out.display(),
        start.elapsed().as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}

fn demo(a: DemoArgs) -> anyhow::Result<ExitCode> {
    let s = provmark_eval::demo::write_demo(
        &a.out,
        a.fraction,
        a.student_tokens,
        a.train_tokens,
        a.seed,
    )?;
    println!("{}", serde_json::to_string(&s)?);
    Ok(ExitCode::SUCCESS)
}

fn real_model(a: RealModelArgs) -> anyhow::Result<ExitCode> {
    use provmark_eval::real;
    if a.step == "generate" || a.step == "both" {
        let cfg = real::RealConfig {
            dir: a.dir.clone(),
            model: a.model.clone(),
            prompts: a.prompts.clone(),
            answers_per_cell: a.answers,
            calibration_answers: a.calibration_answers,
            max_tokens: a.max_tokens,
            batch: a.batch,
            round: a.round.max(1),
            budget_secs: a.minutes.map(|m| m * 60.0),
            worker: a.worker,
        };
        let n = real::generate(&cfg, &mut |m| eprintln!("{m}"))?;
        eprintln!("generate: {n} answers written");
    }
    if a.step == "analyze" || a.step == "both" {
        let tok = provmark_tokenize::Tokenizer::from_file(&a.model)
            .or_else(|_| {
                provmark_tokenize::Tokenizer::smollm2(provmark_tokenize::SMOLLM2_PATH.as_ref())
            })
            .context("cannot load the SmolLM2 tokenizer")?;
        let report = real::analyze(&a.dir, &tok, a.calibration_keys)?;
        let mut value = serde_json::to_value(&report)?;
        // Keep figures other steps wrote (serving, batching) when this run has none.
        if let Ok(old) = std::fs::read_to_string(&a.out) {
            if let Ok(old) = serde_json::from_str::<serde_json::Value>(&old) {
                for k in ["serving", "batching"] {
                    if value[k].is_null() && !old[k].is_null() {
                        value[k] = old[k].clone();
                    }
                }
            }
        }
        let text = serde_json::to_string_pretty(&value)? + "\n";
        std::fs::write(&a.out, text)
            .with_context(|| format!("cannot write {}", a.out.display()))?;
        println!("{}", serde_json::to_string_pretty(&value)?);
    }
    Ok(ExitCode::SUCCESS)
}
