//! `provmark eval real-distill` end to end at toy size (a scratch student, a few steps): every
//! step runs, the arm lands in the JSON with the fields, a rerun resumes instead of
//! redoing, and `scan-model` reads the exported student.
//!
//! Needs `models/SmolLM2-135M-Instruct.Q8_0.gguf` (`tools/fetch-model.sh`); prints SKIPPED without
//! it, or fails when `PROVMARK_REQUIRE_MODEL=1`.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

mod common;
use common::{model, root};

#[test]
fn a_toy_arm_trains_answers_is_scanned_and_resumes() {
    let Some(model) = model() else { return };
    let d = std::env::temp_dir().join(format!("provmark-real-distill-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    let out = d.join("real-distillation.json");
    let args = |step: &str| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_provmark"));
        c.current_dir(root())
            .args(["eval", "real-distill", step, "--student", "scratch"])
            .args(["--fraction", "0.25", "--train-answers", "8", "--steps", "4"])
            .args(["--batch", "2", "--seq-len", "96", "--student-answers", "2"])
            .args(["--open-model-texts", "2", "--model"])
            .arg(&model)
            .arg("--dir")
            .arg(&d)
            .arg("--out")
            .arg(&out);
        c
    };
    let o = args("all").output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let arm = d.join("arms/scratch-green-f0.25");
    let train: Vec<serde_json::Value> = std::fs::read_to_string(arm.join("train.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(train.len(), 8);
    assert_eq!(train.iter().filter(|r| r["watermarked"] == true).count(), 2);
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let a = &doc["arms"][0];
    for f in [
        "student",
        "scheme",
        "watermarked_fraction",
        "training_tokens",
        "final_train_loss",
        "scored_tokens",
        "log10_p",
        "filtered_log10_p",
        "open_model_log10_p",
    ] {
        assert!(a.get(f).is_some(), "{f} missing: {a}");
    }
    assert_eq!(a["student"], "scratch");
    assert_eq!(a["loss_curve"].as_array().unwrap().len(), 4);
    let cmd = a["command"].as_str().unwrap();
    for part in [
        "all --student scratch",
        "--fraction 0.25",
        "--steps 4",
        "--seed 13",
    ] {
        assert!(cmd.contains(part), "{cmd}");
    }
    // The demo export needs the control arm's answers too, and says which step makes them.
    let o = args("export-demo")
        .arg("--demo-out")
        .arg(d.join("demo"))
        .output()
        .unwrap();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("scratch-control-f0") && err.contains("real-distill answer"),
        "{err}"
    );
    assert!(a["open_model_log10_p"].as_f64().unwrap() <= 0.0);
    // A rerun finds the work done: training does not restart, answers are not redone.
    let before = std::fs::read_to_string(arm.join("answers.jsonl")).unwrap();
    let o = args("all").output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        std::fs::read_to_string(arm.join("answers.jsonl")).unwrap(),
        before
    );
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(
        doc["arms"].as_array().unwrap().len(),
        1,
        "the arm is replaced, not added twice"
    );
    // The exported student is a model `scan-model` reads.
    let o = Command::new(env!("CARGO_BIN_EXE_provmark"))
        .current_dir(root())
        .args(["scan-model", "--json", "--prompt-field", ""])
        .arg("experiments/real-model/answers/clean-T1.0.jsonl")
        .args(["--profile"])
        .arg(write_profile(&d, &model))
        .arg("--suspect-model")
        .arg(arm.join("student.gguf"))
        .output()
        .unwrap();
    assert!(
        matches!(o.status.code(), Some(0 | 1)),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(v["evidence"]["scored_pairs"].as_u64().unwrap() > 0, "{v}");
    // The attribution arm: teacher answers served to two accounts (2 : 1), a student trained on
    // them, a scan that tests both accounts.
    let run = |step: &str, extra: &[&str]| {
        let o = Command::new(env!("CARGO_BIN_EXE_provmark"))
            .current_dir(root())
            .args([
                "eval",
                "real-distill",
                step,
                "--student",
                "scratch",
                "--accounts",
            ])
            .args(["--fraction", "0.25", "--train-answers", "8", "--steps", "2"])
            .args(["--batch", "2", "--seq-len", "96", "--student-answers", "2"])
            .args(["--open-model-texts", "1", "--teacher-answers", "3"])
            .args(["--teacher-max-tokens", "12", "--model"])
            .arg(&model)
            .arg("--dir")
            .arg(&d)
            .arg("--out")
            .arg(&out)
            .args(extra)
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "{step}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    };
    run("teacher-accounts", &[]);
    let served: Vec<serde_json::Value> =
        std::fs::read_to_string(d.join("teacher/accounts-green.jsonl"))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
    let mut accts: Vec<&str> = served
        .iter()
        .map(|r| r["account"].as_str().unwrap())
        .collect();
    accts.sort();
    assert_eq!(accts, ["acct-a", "acct-a", "acct-b"]);
    run("all", &[]);
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let arm = doc["arms"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["config"]["accounts"] == true)
        .unwrap();
    let tested: Vec<&str> = arm["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a[0].as_str().unwrap())
        .collect();
    assert_eq!(tested.len(), 2, "{arm}");
    std::fs::remove_dir_all(&d).unwrap();
}

fn write_profile(d: &Path, model: &Path) -> PathBuf {
    let p = d.join("key.json");
    let o = Command::new(env!("CARGO_BIN_EXE_provmark"))
        .current_dir(root())
        .args(["keygen", "--model"])
        .arg(model)
        .arg("--out")
        .arg(&p)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    p
}
