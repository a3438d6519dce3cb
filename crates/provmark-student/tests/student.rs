//! Students learn, resume, and leave as GGUF files that the inference code runs.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use candle_core::quantized::{gguf_file, GgmlDType};
use candle_core::{Device, Tensor};
use provmark_student::train::{batch_indices, learning_rate};
use provmark_student::{
    export_gguf, student_from_gguf, Example, Student, StudentConfig, TrainConfig, Trainer,
};

fn tiny() -> StudentConfig {
    StudentConfig {
        layers: 2,
        dim: 32,
        heads: 4,
        kv_heads: 2,
        ffn_dim: 64,
        vocab_size: 40,
        context_length: 64,
        rope_theta: 10_000.0,
        rms_eps: 1e-5,
        tied_embeddings: false,
    }
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("provmark-student-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Sequences of a simple language: a prompt token, then counting up by the prompt's step.
fn examples() -> Vec<Example> {
    (0..24)
        .map(|i| {
            let step = 1 + (i % 3) as u32;
            let start = (i * 7 % 40) as u32;
            let mut tokens = vec![step];
            tokens.extend((0..20).map(|j| (start + j * step) % 40));
            Example {
                tokens,
                loss_from: 2,
            }
        })
        .collect()
}

fn recipe(steps: usize) -> TrainConfig {
    TrainConfig {
        steps,
        batch: 6,
        seq_len: 32,
        lr: 3e-3,
        warmup_steps: 5,
        weight_decay: 0.0,
        seed: 7,
    }
}

#[test]
fn a_student_learns_and_a_resumed_run_sees_the_same_batches() {
    let data = examples();
    let d = tmp("learn");
    let mut t = Trainer::open(Student::init(tiny(), 1).unwrap(), recipe(80), &d).unwrap();
    let first = t.step(&data).unwrap();
    while t.state().step < 40 {
        t.step(&data).unwrap();
    }
    t.checkpoint().unwrap();
    drop(t);
    // Resume from disk: the weights and the step come back.
    let mut t = Trainer::open(Student::init(tiny(), 999).unwrap(), recipe(80), &d).unwrap();
    assert_eq!(t.state().step, 40);
    assert_eq!(t.state().resumed_at, vec![40]);
    while !t.finished() {
        t.step(&data).unwrap();
    }
    let losses = &t.state().losses;
    let last: f32 = losses[losses.len() - 5..].iter().map(|x| x.1).sum::<f32>() / 5.0;
    assert!(
        last < 0.5 * first,
        "loss went from {first} to {last}: the student did not learn"
    );
    // Batches are a function of (seed, step) alone.
    let cfg = recipe(80);
    assert_eq!(batch_indices(&cfg, 24, 41), batch_indices(&cfg, 24, 41));
    let epoch: std::collections::BTreeSet<usize> =
        (0..4).flat_map(|s| batch_indices(&cfg, 24, s)).collect();
    assert_eq!(epoch.len(), 24, "one epoch visits every example once");
    assert!(learning_rate(&cfg, 0, 0) < learning_rate(&cfg, 4, 0));
    assert!(learning_rate(&cfg, 79, 0) < learning_rate(&cfg, 10, 0));
}

fn template(dir: &Path) -> PathBuf {
    let p = dir.join("template.gguf");
    let arch = gguf_file::Value::String("llama".into());
    let mut f = std::fs::File::create(&p).unwrap();
    gguf_file::write(&mut f, &[("general.architecture", &arch)], &[]).unwrap();
    p
}

#[test]
fn an_exported_student_runs_in_the_inference_code_with_the_same_logits() {
    let d = tmp("export");
    let s = Student::init(tiny(), 3).unwrap();
    let out = d.join("student.gguf");
    export_gguf(&s, &template(&d), &out, GgmlDType::F32).unwrap();
    // Back into a student: the same weights.
    let back = student_from_gguf(&out, 64).unwrap();
    for (name, v) in s.named_vars() {
        let a: Vec<f32> = v.as_tensor().flatten_all().unwrap().to_vec1().unwrap();
        let b: Vec<f32> = back.named_vars()[name]
            .as_tensor()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        assert_eq!(a, b, "{name}");
    }
    // The inference model's logits after a prompt equal the student's at that position.
    let llama = provmark_model::Llama::load(&out).unwrap();
    let ids = [3u32, 17, 5, 9, 30, 2, 2, 11];
    let mut cache = llama.new_cache();
    let got = llama.prefill(&mut cache, &ids).unwrap();
    let logits = s
        .forward(&Tensor::new(&[ids], &Device::Cpu).unwrap())
        .unwrap()
        .squeeze(0)
        .unwrap()
        .narrow(0, ids.len() - 1, 1)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    let diff = got
        .iter()
        .zip(&logits)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    assert!(diff < 1e-4, "max |logit difference| {diff}");
    // Q8_0 export: same argmax at every step of a greedy continuation is too strong for random
    // weights; the logits stay close.
    let q = d.join("student-q8.gguf");
    export_gguf(&s, &template(&d), &q, GgmlDType::Q8_0).unwrap();
    let llama = provmark_model::Llama::load(&q).unwrap();
    let mut cache = llama.new_cache();
    let got = llama.prefill(&mut cache, &ids).unwrap();
    let diff = got
        .iter()
        .zip(&logits)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    assert!(diff < 0.05, "Q8_0: max |logit difference| {diff}");
}

#[test]
fn the_fine_tuning_start_is_the_teacher() {
    let model =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/SmolLM2-135M-Instruct.Q8_0.gguf");
    if !model.is_file() {
        if std::env::var("PROVMARK_REQUIRE_MODEL").is_ok_and(|v| v == "1") {
            panic!(
                "PROVMARK_REQUIRE_MODEL=1 but {} is missing",
                model.display()
            );
        }
        eprintln!(
            "SKIPPED: {} is missing (run tools/fetch-model.sh)",
            model.display()
        );
        return;
    }
    let s = student_from_gguf(&model, 256).unwrap();
    assert_eq!(s.config().parameter_count(), 134_515_008);
    let llama = provmark_model::Llama::load(&model).unwrap();
    // A short ChatML-shaped sequence of SmolLM2 ids (1 = <|im_start|>, 2 = <|im_end|>).
    let tok = provmark_tokenize_ids();
    let mut cache = llama.new_cache();
    let want = llama.prefill(&mut cache, &tok).unwrap();
    let got = s
        .forward(
            &Tensor::new(tok.as_slice(), &Device::Cpu)
                .unwrap()
                .unsqueeze(0)
                .unwrap(),
        )
        .unwrap()
        .squeeze(0)
        .unwrap()
        .narrow(0, tok.len() - 1, 1)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    let argmax = |v: &[f32]| {
        v.iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .unwrap()
            .0
    };
    let diff = want
        .iter()
        .zip(&got)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    // KL(teacher ‖ student) of the next-token distributions.
    let lsm = |v: &[f32]| {
        let m = v.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
        let z = v.iter().map(|&x| (x as f64 - m).exp()).sum::<f64>().ln() + m;
        v.iter().map(|&x| x as f64 - z).collect::<Vec<f64>>()
    };
    let (p, q) = (lsm(&want), lsm(&got));
    let kl: f64 = p.iter().zip(&q).map(|(a, b)| a.exp() * (a - b)).sum();
    eprintln!(
        "teacher (Q8_0 activations) vs student (f32): max |logit difference| {diff}, KL {kl:.2e} nats"
    );
    assert_eq!(argmax(&want), argmax(&got));
    assert!(kl < 0.02, "KL {kl} nats, max |logit difference| {diff}");
}

fn provmark_tokenize_ids() -> Vec<u32> {
    vec![
        1, 4093, 198, 2020, 638, 339, 919, 5341, 47, 2, 198, 1, 520, 9531, 198,
    ]
}

#[test]
fn a_batch_without_target_tokens_is_an_error_not_a_nan_loss() {
    use provmark_student::train::batch_tensors;
    let long_prompt = Example {
        tokens: (0..30).collect(),
        loss_from: 25,
    };
    assert!(!Trainer::trainable(&long_prompt, 16));
    assert!(Trainer::trainable(&long_prompt, 26));
    assert!(batch_tensors(&[&long_prompt], 16).is_err());
    assert!(batch_tensors(&[&long_prompt], 26).is_ok());
}
