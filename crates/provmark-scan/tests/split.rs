//! The map / shuffle / fold / finish split gives the single-process scan's report, bit for bit
//! in its content, however the records are spread over mappers and the pairs over reducers.
#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use provmark_core::{Profile, Scheme, SecretKey, TokenizerSpec};
use provmark_scan::report::RunInfo;
use provmark_scan::split::{
    finish, is_blank_line, CorpusPieces, Folder, MapPairs, MapRecord, Mapper, Piece, RecordResults,
    SplitSettings,
};
use provmark_scan::{scan, Progress, Report, ScanConfig, ScanError, RECORD_COUNTERS};

fn content(r: &Report) -> serde_json::Value {
    let mut v = serde_json::to_value(r).unwrap();
    let o = v.as_object_mut().unwrap();
    for k in ["created", "run", "mac"] {
        o.remove(k);
    }
    v
}

fn demo(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/demo")
        .join(name)
}

/// The non-blank lines of a JSONL file (the records, in input order).
fn lines(path: &Path) -> Vec<Vec<u8>> {
    std::fs::read(path)
        .unwrap()
        .split(|&b| b == b'\n')
        .filter(|l| !is_blank_line(l))
        .map(<[u8]>::to_vec)
        .collect()
}

/// Runs the split the way an engine would: `mappers` map tasks over interleaved records (each
/// with its global ordinal), a dedup keeping the smallest ordinal per fingerprint, `reducers`
/// folds by fingerprint hash, and the record counters carried as plain integers.
fn split_pass(
    profile: &Profile,
    s: &SplitSettings,
    records: &[Vec<u8>],
    mappers: usize,
    reducers: usize,
) -> CorpusPieces {
    let mut best: HashMap<u64, (u64, f64, Vec<u32>)> = HashMap::new();
    let mut counters = Vec::new();
    for m in 0..mappers {
        let mut mapper = Mapper::new(profile, s).unwrap();
        let stride = mapper.stride();
        let mut pairs = MapPairs::default();
        let mut results = RecordResults::default();
        for (ord, line) in records.iter().enumerate().skip(m).step_by(mappers) {
            mapper
                .map(
                    MapRecord::JsonLine(line),
                    ord as u64,
                    &mut pairs,
                    &mut results,
                )
                .unwrap();
        }
        let mapped = records.iter().skip(m).step_by(mappers).count();
        assert_eq!(results.status.len(), mapped);
        assert_eq!(results.log10_p.len(), mapped);
        for i in 0..pairs.fp.len() {
            let ids = pairs.ids[i * stride..(i + 1) * stride].to_vec();
            let e = best
                .entry(pairs.fp[i])
                .or_insert((u64::MAX, 0.0, Vec::new()));
            if pairs.ord[i] < e.0 {
                *e = (pairs.ord[i], pairs.score[i], ids);
            }
        }
        counters.extend(mapper.take_counts().counters());
    }
    let total = records.len() as u64;
    let mut folders: Vec<Folder> = (0..reducers)
        .map(|_| Folder::new(profile, s, total).unwrap())
        .collect();
    for (fp, (ord, score, ids)) in &best {
        folders[(*fp % reducers as u64) as usize]
            .add_pair(*ord, *score, ids)
            .unwrap();
    }
    for (k, (index, value)) in counters.into_iter().enumerate() {
        assert!((index as usize) < RECORD_COUNTERS);
        folders[k % reducers].add_counter(index, value).unwrap();
    }
    CorpusPieces {
        records_total: total,
        inputs: Vec::new(),
        // Through bytes, as an engine carries them to the driver.
        pieces: folders
            .iter()
            .map(|f| Piece::from_bytes(&f.piece().unwrap().to_bytes().unwrap()).unwrap())
            .collect(),
    }
}

fn run_info() -> RunInfo {
    RunInfo {
        threads: 1,
        memory_budget_bytes: 0,
        spilled_runs: 0,
        elapsed_seconds: 0.0,
    }
}

fn check_identity(profile: &Profile, suspect: &Path, control: Option<&Path>, accounts: &[&str]) {
    let mut cfg = ScanConfig::new(vec![suspect.to_path_buf()]);
    cfg.threads = 2;
    cfg.accounts = accounts.iter().map(|a| a.to_string()).collect();
    cfg.control = control.map(|c| vec![c.to_path_buf()]).unwrap_or_default();
    let want = scan(profile, &cfg, &Progress::default()).unwrap();
    let s = SplitSettings {
        accounts: cfg.accounts.clone(),
        ..SplitSettings::default()
    };
    for (mappers, reducers) in [(1, 1), (3, 4), (7, 2)] {
        let mut main = split_pass(profile, &s, &lines(suspect), mappers, reducers);
        main.inputs = want.inputs.clone();
        let control = control.map(|c| {
            let cs = SplitSettings {
                accounts: Vec::new(),
                ..s.clone()
            };
            let mut p = split_pass(profile, &cs, &lines(c), mappers, reducers);
            p.inputs = want.control.as_ref().unwrap().inputs.clone();
            p
        });
        let got = finish(profile, &s, main, control, run_info()).unwrap();
        assert_eq!(
            content(&got),
            content(&want),
            "{mappers} mappers, {reducers} reducers"
        );
    }
}

fn demo_profile() -> Profile {
    Profile::load(&demo("PUBLIC-DEMO-KEY.profile.json"))
        .unwrap()
        .0
}

#[test]
fn split_report_equals_scan_on_the_demo_corpus_with_control_and_accounts() {
    let profile = demo_profile();
    check_identity(
        &profile,
        &demo("suspect.jsonl"),
        Some(&demo("control.jsonl")),
        &["acct-1", "acct-2", "acct-3"],
    );
}

#[test]
fn split_report_equals_scan_with_skipped_records_prompts_and_gumbel() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mixed.jsonl");
    let mut f = std::fs::File::create(&path).unwrap();
    let words = [
        "river", "model", "seven", "garden", "policy", "light", "carry", "silver",
    ];
    for i in 0..300usize {
        let text: Vec<&str> = (0..(i % 40)).map(|k| words[(i * 7 + k * k) % 8]).collect();
        match i % 11 {
            0 => writeln!(f, "{{not json").unwrap(),
            1 => writeln!(f, "{{\"other\": 1}}").unwrap(),
            2 => writeln!(f, "{{\"text\": 5}}").unwrap(),
            3 => writeln!(f, "   ").unwrap(),
            _ => writeln!(
                f,
                "{}\r",
                serde_json::json!({"text": text.join(" "), "prompt": words[i % 8]})
            )
            .unwrap(),
        }
    }
    drop(f);
    let profile = Profile::from_secret(
        SecretKey::from_bytes([9; 32]),
        Scheme::Gumbel,
        2,
        TokenizerSpec::default_openai(),
    )
    .unwrap();
    let mut cfg = ScanConfig::new(vec![path.clone()]);
    cfg.prompt_field = Some("prompt".into());
    cfg.accounts = vec!["x".into(), "y".into()];
    let want = scan(&profile, &cfg, &Progress::default()).unwrap();
    assert!(want.skipped_reasons.values().sum::<u64>() > 0);
    let s = SplitSettings {
        prompt_field: Some("prompt".into()),
        accounts: cfg.accounts.clone(),
        ..SplitSettings::default()
    };
    let mut main = split_pass(&profile, &s, &lines(&path), 5, 3);
    main.inputs = want.inputs.clone();
    let got = finish(&profile, &s, main, None, run_info()).unwrap();
    assert_eq!(content(&got), content(&want));
}

#[test]
fn split_report_carries_the_winning_accounts_curve_as_scan_does() {
    // On the (unwatermarked) demo control corpus, with three accounts, an account key gives the
    // smallest p under some of these keys: its evidence curve must come out of the pieces
    // exactly as the scan computes it.
    let control = demo("control.jsonl");
    let mut with_curve = 0;
    for seed in 1..=8u8 {
        let profile = Profile::from_secret(
            SecretKey::from_bytes([seed; 32]),
            Scheme::DEFAULT_GREEN,
            2,
            TokenizerSpec::default_openai(),
        )
        .unwrap();
        let mut cfg = ScanConfig::new(vec![control.clone()]);
        cfg.accounts = vec!["a".into(), "b".into(), "c".into()];
        let want = scan(&profile, &cfg, &Progress::default()).unwrap();
        let s = SplitSettings {
            accounts: cfg.accounts.clone(),
            ..SplitSettings::default()
        };
        let mut main = split_pass(&profile, &s, &lines(&control), 3, 2);
        main.inputs = want.inputs.clone();
        let got = finish(&profile, &s, main, None, run_info()).unwrap();
        assert_eq!(content(&got), content(&want), "key {seed}");
        if !got.accounts[0].curve.is_empty() {
            with_curve += 1;
            assert_eq!(
                got.accounts[0].curve.last().unwrap().log10_p,
                got.accounts[0].log10_p
            );
        }
    }
    assert!(
        with_curve > 0,
        "no account carried the evidence under 8 keys"
    );
}

#[test]
fn split_refuses_blank_lines_changed_inputs_and_out_of_range_ordinals() {
    let profile = demo_profile();
    let s = SplitSettings::default();
    let mut m = Mapper::new(&profile, &s).unwrap();
    let (mut p, mut r) = (MapPairs::default(), RecordResults::default());
    assert!(matches!(
        m.map(MapRecord::JsonLine(b" \t\r"), 0, &mut p, &mut r),
        Err(ScanError::Config { .. })
    ));
    let mut f = Folder::new(&profile, &s, 10).unwrap();
    assert!(f.add_pair(10, 1.0, &[]).is_err());
    assert!(f.add_counter(RECORD_COUNTERS as u32, 1).is_err());
    // Records mapped ≠ records counted before the map: an error, not a report.
    let records = lines(&demo("suspect.jsonl"));
    let mut pieces = split_pass(&profile, &s, &records, 2, 2);
    pieces.records_total += 1;
    let err = finish(&profile, &s, pieces, None, run_info()).unwrap_err();
    assert!(err.to_string().contains("counted before the map"), "{err}");
}
