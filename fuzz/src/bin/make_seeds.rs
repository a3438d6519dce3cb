//! Writes the seed corpora under `fuzz/corpus/TARGET/` (run once; the output is committed):
//! real-looking valid inputs of every surface, so the fuzzer starts inside each format.
#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use provmark_core::{Profile, Scheme, SecretKey, TokenizerSpec};

fn put(root: &Path, target: &str, name: &str, bytes: &[u8]) {
    let d = root.join(target);
    std::fs::create_dir_all(&d).expect("corpus dir");
    std::fs::write(d.join(name), bytes).expect("seed");
}

fn parquet_file(rows: &[Option<&str>]) -> Vec<u8> {
    use parquet::data_type::{ByteArray, ByteArrayType};
    use parquet::file::properties::WriterProperties;
    use parquet::file::writer::SerializedFileWriter;
    use parquet::schema::parser::parse_message_type;
    let schema = Arc::new(
        parse_message_type(
            "message doc { OPTIONAL BYTE_ARRAY text (UTF8); REQUIRED BYTE_ARRAY id (UTF8); }",
        )
        .expect("schema"),
    );
    let mut buf = Vec::new();
    {
        let mut w = SerializedFileWriter::new(
            &mut buf,
            schema,
            Arc::new(WriterProperties::builder().build()),
        )
        .expect("writer");
        let mut rg = w.next_row_group().expect("row group");
        let vals: Vec<ByteArray> = rows.iter().flatten().map(|s| ByteArray::from(*s)).collect();
        let defs: Vec<i16> = rows.iter().map(|r| i16::from(r.is_some())).collect();
        let mut col = rg.next_column().expect("col").expect("text col");
        col.typed::<ByteArrayType>()
            .write_batch(&vals, Some(&defs), None)
            .expect("write text");
        col.close().expect("close");
        let ids: Vec<ByteArray> = (0..rows.len())
            .map(|i| ByteArray::from(format!("row-{i}").as_str()))
            .collect();
        let mut col = rg.next_column().expect("col").expect("id col");
        col.typed::<ByteArrayType>()
            .write_batch(&ids, None, None)
            .expect("write ids");
        col.close().expect("close");
        rg.close().expect("close rg");
        w.close().expect("close file");
    }
    buf
}

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("corpus");
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");

    // Profiles: native green and Gumbel, and the imported-key profiles of the test data.
    let green = Profile::from_secret(
        SecretKey::from_bytes([3; 32]),
        Scheme::DEFAULT_GREEN,
        2,
        TokenizerSpec::default_openai(),
    )
    .expect("green");
    put(
        &root,
        "profile_json",
        "green.json",
        green.to_json().as_bytes(),
    );
    let gumbel = Profile::from_secret(
        SecretKey::from_bytes([4; 32]),
        Scheme::Gumbel,
        3,
        TokenizerSpec::default_openai(),
    )
    .expect("gumbel");
    put(
        &root,
        "profile_json",
        "gumbel.json",
        gumbel.to_json().as_bytes(),
    );
    if let Ok(demo) = std::fs::read(repo.join("testdata/demo/PUBLIC-DEMO-KEY.profile.json")) {
        put(&root, "profile_json", "demo.json", &demo);
    }
    for (i, p) in std::env::args().skip(1).enumerate() {
        // Extra profiles (e.g. imported vLLM / SynthID keys written by `provmark keygen --import`).
        if let Ok(b) = std::fs::read(&p) {
            put(&root, "profile_json", &format!("extra-{i}.json"), &b);
        }
    }

    // JSONL: demo lines and the edge cases of each skip reason.
    let mut jsonl = String::new();
    if let Ok(s) = std::fs::read_to_string(repo.join("testdata/demo/suspect.jsonl")) {
        for l in s.lines().take(3) {
            jsonl.push_str(l);
            jsonl.push('\n');
        }
    }
    put(&root, "jsonl", "demo.jsonl", jsonl.as_bytes());
    put(
        &root,
        "jsonl",
        "edges.jsonl",
        b"{\"text\": \"a b c d\", \"id\": 7, \"prompt\": \"q\"}\r\n\n{not json\n{\"text\": null}\n{\"text\": 3}\n{\"text\": \"  \"}\n{\"other\": \"x\"}\n[1,2]\n{\"text\": \"caf\\u00e9 \\ud83d\\ude00\"}\n{\"text\": \"\xff\"}\n{\"text\": \"x\"} trailing",
    );

    // Parquet.
    put(
        &root,
        "parquet",
        "rows.parquet",
        &parquet_file(&[
            Some("The quick brown fox."),
            None,
            Some(""),
            Some("Second row of text"),
        ]),
    );
    put(&root, "parquet", "empty.parquet", &parquet_file(&[]));

    // Text.
    put(
        &root,
        "text",
        "english.txt",
        b"The quick brown fox jumps over the lazy dog. It was the best of times.\n",
    );
    put(
        &root,
        "text",
        "mixed.txt",
        "Grüße, 世界! 123 456\t\n<|endoftext|> emoji 😀 code: fn main() {}".as_bytes(),
    );
    if let Ok(s) = std::fs::read_to_string(repo.join("testdata/demo/suspect.jsonl")) {
        if let Some(l) = s.lines().next() {
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(l) {
                if let Some(t) = v["text"].as_str() {
                    put(&root, "text", "demo.txt", t.as_bytes());
                }
            }
        }
    }

    // Token ids.
    put(
        &root,
        "token_ids",
        "short.json",
        b"[1, 2, 3, 4, 5, 6, 7, 8]",
    );
    put(
        &root,
        "token_ids",
        "repeats.json",
        b"[10, 20, 10, 20, 10, 20, 10, 20, 199999, 200018]",
    );
    put(&root, "token_ids", "big.json", b"[4294967295, 0]");

    // A sealed report of a small scan under the fuzz profile.
    let dir = tempfile::tempdir().expect("tmp");
    let corpus = dir.path().join("c.jsonl");
    std::fs::write(
        &corpus,
        "{\"text\": \"one two three four five six seven eight nine ten\"}\n{\"text\": \"alpha beta gamma delta epsilon zeta eta theta\"}\n{\"oops\": 1}\n",
    )
    .expect("corpus");
    let mut cfg = provmark_scan::ScanConfig::new(vec![corpus]);
    cfg.accounts = vec!["alice".into(), "bob".into()];
    let mut report = provmark_scan::scan(
        provmark_fuzz::profile(),
        &cfg,
        &provmark_scan::Progress::default(),
    )
    .expect("scan");
    let sealed = report.seal(provmark_fuzz::profile()).expect("seal");
    // The target's re-seal check only fires on intact reports: the seed must be one.
    assert_eq!(
        provmark_scan::report::verify_report_bytes(
            &sealed,
            Path::new("r.json"),
            provmark_fuzz::profile()
        )
        .expect("verify"),
        provmark_scan::Verification::Intact
    );
    put(&root, "report_json", "report.json", &sealed);

    // Accounts.
    put(
        &root,
        "accounts",
        "accounts.txt",
        b"# customers\nalice\n\n  bob  \r\n# gone\ncarol\n",
    );
    put(&root, "accounts", "dup.txt", b"x\nx\n");
    println!("seeds written under {}", root.display());
}
