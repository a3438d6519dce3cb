//! Input formats through the library: JSONL plain/gzip/zstd, plain text, Parquet, directories;
//! prompt exclusion and supervised mode.
#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use provmark_core::{Profile, Scheme, SecretKey, TokenizerSpec};
use provmark_scan::{scan, Progress, Report, ScanConfig};

fn profile() -> Profile {
    Profile::from_secret(
        SecretKey::from_bytes([42; 32]),
        Scheme::Gumbel,
        2,
        TokenizerSpec::default_openai(),
    )
    .unwrap()
}

/// Deterministic varied English-like text.
fn texts(n: usize, seed: u64) -> Vec<String> {
    const WORDS: &[&str] = &[
        "the", "model", "answer", "river", "quickly", "because", "seven", "garden", "policy",
        "under", "light", "market", "simple", "winter", "carry", "number", "across", "silver",
        "planet", "fold", "honest", "table",
    ];
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..n)
        .map(|_| {
            let mut s = String::new();
            for _ in 0..40 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                s.push_str(WORDS[(x % WORDS.len() as u64) as usize]);
                s.push(' ');
            }
            s
        })
        .collect()
}

fn jsonl(texts: &[String]) -> Vec<u8> {
    let mut out = Vec::new();
    for t in texts {
        serde_json::to_writer(&mut out, &serde_json::json!({ "text": t })).unwrap();
        out.push(b'\n');
    }
    out
}

fn run(inputs: Vec<PathBuf>, f: impl FnOnce(&mut ScanConfig)) -> Report {
    let mut cfg = ScanConfig::new(inputs);
    f(&mut cfg);
    scan(&profile(), &cfg, &Progress::default()).unwrap()
}

fn write_parquet(path: &Path, rows: &[Option<String>]) {
    use parquet::data_type::{ByteArray, ByteArrayType};
    use parquet::file::properties::WriterProperties;
    use parquet::file::writer::SerializedFileWriter;
    use parquet::schema::parser::parse_message_type;
    let schema = Arc::new(
        parse_message_type(
            "message doc { OPTIONAL BYTE_ARRAY text (UTF8); REQUIRED BYTE_ARRAY id (UTF8); }",
        )
        .unwrap(),
    );
    let file = std::fs::File::create(path).unwrap();
    let mut w =
        SerializedFileWriter::new(file, schema, Arc::new(WriterProperties::builder().build()))
            .unwrap();
    let mut rg = w.next_row_group().unwrap();
    // text column: nulls via definition levels.
    let vals: Vec<ByteArray> = rows
        .iter()
        .flatten()
        .map(|s| ByteArray::from(s.as_str()))
        .collect();
    let defs: Vec<i16> = rows.iter().map(|r| i16::from(r.is_some())).collect();
    let mut col = rg.next_column().unwrap().unwrap();
    col.typed::<ByteArrayType>()
        .write_batch(&vals, Some(&defs), None)
        .unwrap();
    col.close().unwrap();
    let ids: Vec<ByteArray> = (0..rows.len())
        .map(|i| ByteArray::from(format!("row-{i}").as_str()))
        .collect();
    let mut col = rg.next_column().unwrap().unwrap();
    col.typed::<ByteArrayType>()
        .write_batch(&ids, None, None)
        .unwrap();
    col.close().unwrap();
    rg.close().unwrap();
    w.close().unwrap();
}

/// The same records in every container give the same statistic; files are hashed as stored.
#[test]
fn formats_agree() {
    let dir = tempfile::tempdir().unwrap();
    let t = texts(30, 1);
    let plain = dir.path().join("a.jsonl");
    std::fs::write(&plain, jsonl(&t)).unwrap();
    let gz = dir.path().join("a.jsonl.gz");
    let mut e = flate2::write::GzEncoder::new(
        std::fs::File::create(&gz).unwrap(),
        flate2::Compression::default(),
    );
    e.write_all(&jsonl(&t)).unwrap();
    e.finish().unwrap();
    let zst = dir.path().join("a.jsonl.zst");
    std::fs::write(&zst, zstd::encode_all(&jsonl(&t)[..], 3).unwrap()).unwrap();
    let pq = dir.path().join("a.parquet");
    write_parquet(&pq, &t.iter().cloned().map(Some).collect::<Vec<_>>());
    let txt_dir = dir.path().join("texts");
    std::fs::create_dir(&txt_dir).unwrap();
    for (i, s) in t.iter().enumerate() {
        std::fs::write(txt_dir.join(format!("{i:03}.txt")), s).unwrap();
    }
    std::fs::write(txt_dir.join(".hidden.txt"), "ignored").unwrap();
    std::fs::write(txt_dir.join("notes.bin"), "ignored").unwrap();

    let reports: Vec<Report> = [
        plain.clone(),
        gz.clone(),
        zst.clone(),
        pq.clone(),
        txt_dir.clone(),
    ]
    .into_iter()
    .map(|p| run(vec![p], |_| {}))
    .collect();
    for r in &reports {
        assert_eq!(r.corpus.records_total, 30);
        assert_eq!(r.corpus.statistic, reports[0].corpus.statistic);
        assert_eq!(r.corpus.scored_tokens, reports[0].corpus.scored_tokens);
    }
    assert_eq!(
        reports[4].inputs.len(),
        30,
        "hidden and unknown files are not read"
    );
    use sha2::Digest;
    assert_eq!(
        reports[1].inputs[0].sha256,
        hex::encode(sha2::Sha256::digest(std::fs::read(&gz).unwrap()))
    );
    assert_eq!(
        reports[1].inputs[0].bytes,
        std::fs::metadata(&gz).unwrap().len()
    );
}

/// Parquet nulls are `missing_field`; ids come from --id-field.
#[test]
fn parquet_nulls_and_ids() {
    let dir = tempfile::tempdir().unwrap();
    let pq = dir.path().join("b.parquet");
    let mut rows: Vec<Option<String>> = texts(5, 2).into_iter().map(Some).collect();
    rows.insert(2, None);
    write_parquet(&pq, &rows);
    let records = dir.path().join("rec.jsonl");
    let r = run(vec![pq.clone()], |c| {
        c.id_field = Some("id".into());
        c.records_out = Some(records.clone());
    });
    assert_eq!(r.corpus.records_total, 6);
    assert_eq!(r.skipped_reasons["missing_field"], 1);
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&records)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines[2]["id"], "row-2");
    assert_eq!(lines[2]["reason"], "missing_field");
    assert_eq!(lines[3]["status"], "scored");
    // A missing column is an error naming the file, not six skipped records.
    let mut cfg = ScanConfig::new(vec![pq]);
    cfg.field = "body".into();
    let e = scan(&profile(), &cfg, &Progress::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("b.parquet") && e.contains("body"), "{e}");
}

/// Contexts that occur in a record's prompt are not scored.
#[test]
fn prompt_contexts_are_excluded() {
    let dir = tempfile::tempdir().unwrap();
    let t = texts(10, 3);
    let mut body = Vec::new();
    for s in &t {
        // The prompt is the text itself: every context of the answer occurs in the prompt.
        serde_json::to_writer(&mut body, &serde_json::json!({ "text": s, "prompt": s })).unwrap();
        body.push(b'\n');
    }
    let p = dir.path().join("p.jsonl");
    std::fs::write(&p, body).unwrap();
    let without = run(vec![p.clone()], |_| {});
    let with = run(vec![p], |c| c.prompt_field = Some("prompt".into()));
    assert!(without.corpus.scored_tokens > 0);
    // Only the seam can be scored: the response's first positions take their context from the
    // prompt's end, and with h = 2 one of them (last prompt token, first answer token) need not
    // occur in the prompt. Every other context does.
    assert!(
        with.corpus.scored_tokens <= 10,
        "{}",
        with.corpus.scored_tokens
    );
    assert!(with.corpus.scored_tokens * 20 < without.corpus.scored_tokens);
}

/// Supervised mode scores only contexts found in the filter files; a control is reported.
#[test]
fn filter_and_control() {
    let dir = tempfile::tempdir().unwrap();
    let t = texts(20, 4);
    let suspect = dir.path().join("s.jsonl");
    std::fs::write(&suspect, jsonl(&t)).unwrap();
    let served = dir.path().join("served.jsonl");
    std::fs::write(&served, jsonl(&t[..3])).unwrap();
    let control = dir.path().join("c.jsonl");
    std::fs::write(&control, jsonl(&texts(20, 5))).unwrap();
    let plain = run(vec![suspect.clone()], |_| {});
    let filtered = run(vec![suspect], |c| {
        c.filter_from = vec![served.clone()];
        c.control = vec![control.clone()];
    });
    assert!(filtered.corpus.scored_tokens < plain.corpus.scored_tokens);
    assert!(filtered.corpus.scored_tokens > 0);
    let f = filtered.parameters.filter.as_ref().unwrap();
    assert_eq!(f.records, 3);
    assert!(f.contexts > 0);
    let c = filtered.control.as_ref().unwrap();
    assert_eq!(c.corpus.records_total, 20);
    assert!(filtered.summary.contains("control"));
}

/// The sealed report verifies; any edit does not.
#[test]
fn seal_and_verify() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("s.jsonl");
    std::fs::write(&p, jsonl(&texts(5, 6))).unwrap();
    let prof = profile();
    let mut r = run(vec![p], |_| {});
    let bytes = r.seal(&prof).unwrap();
    let path = dir.path().join("r.json");
    use provmark_scan::report::verify_report_bytes;
    assert_eq!(
        verify_report_bytes(&bytes, &path, &prof).unwrap(),
        provmark_scan::Verification::Intact
    );
    let back: Report = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(back, r);
    for i in (0..bytes.len()).step_by(97) {
        let mut e = bytes.clone();
        e[i] ^= 0x01;
        let v = verify_report_bytes(&e, &path, &prof);
        assert!(
            matches!(v, Ok(provmark_scan::Verification::Altered(_)) | Err(_)),
            "flip at {i} not detected"
        );
    }
    // The MAC's hex in another case is a change too (fuzz finding: it used to verify).
    let text = String::from_utf8(bytes.clone()).unwrap();
    let mac = back.mac.clone().unwrap();
    let upper = text.replace(&mac, &mac.to_uppercase());
    assert_ne!(upper, text, "the MAC has a letter digit");
    assert!(matches!(
        verify_report_bytes(upper.as_bytes(), &path, &prof),
        Ok(provmark_scan::Verification::Altered(_))
    ));
}
