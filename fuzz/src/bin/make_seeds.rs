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

/// GGUF metadata writer for the `gguf` seeds (value types: 4 u32, 5 i32, 8 string, 9 array).
struct Gguf(Vec<u8>);

impl Gguf {
    fn new(kv: u64) -> Gguf {
        let mut b = b"GGUF".to_vec();
        b.extend_from_slice(&3u32.to_le_bytes());
        b.extend_from_slice(&0u64.to_le_bytes());
        b.extend_from_slice(&kv.to_le_bytes());
        Gguf(b)
    }
    fn s(&mut self, s: &str) {
        self.0.extend_from_slice(&(s.len() as u64).to_le_bytes());
        self.0.extend_from_slice(s.as_bytes());
    }
    fn string(&mut self, key: &str, v: &str) {
        self.s(key);
        self.0.extend_from_slice(&8u32.to_le_bytes());
        self.s(v);
    }
    fn u32(&mut self, key: &str, v: u32) {
        self.s(key);
        self.0.extend_from_slice(&4u32.to_le_bytes());
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn strings(&mut self, key: &str, v: &[String]) {
        self.s(key);
        self.0.extend_from_slice(&9u32.to_le_bytes());
        self.0.extend_from_slice(&8u32.to_le_bytes());
        self.0.extend_from_slice(&(v.len() as u64).to_le_bytes());
        for x in v {
            self.s(x);
        }
    }
    fn i32s(&mut self, key: &str, v: &[i32]) {
        self.s(key);
        self.0.extend_from_slice(&9u32.to_le_bytes());
        self.0.extend_from_slice(&5u32.to_le_bytes());
        self.0.extend_from_slice(&(v.len() as u64).to_le_bytes());
        for x in v {
            self.0.extend_from_slice(&x.to_le_bytes());
        }
    }
}

/// A complete byte-level vocabulary (the 256 byte symbols, a few merges, ChatML specials) as
/// GGUF metadata, with pre-tokenizer `pre`.
fn gguf_vocab(pre: &str) -> Vec<u8> {
    let printable = |b: u32| {
        (0x21..=0x7e).contains(&b) || (0xa1..=0xac).contains(&b) || (0xae..=0xff).contains(&b)
    };
    let mut next = 256;
    let mut tokens: Vec<String> = vec![
        "<|endoftext|>".into(),
        "<|im_start|>".into(),
        "<|im_end|>".into(),
    ];
    for b in 0..256u32 {
        let c = if printable(b) {
            b
        } else {
            next += 1;
            next - 1
        };
        tokens.push(char::from_u32(c).expect("byte symbol").to_string());
    }
    let merges: Vec<String> = ["t h", "th e", "Ġ th", "Ġt he", "i n", "a n"]
        .iter()
        .map(|m| m.to_string())
        .collect();
    for m in &merges {
        tokens.push(m.replace(' ', ""));
    }
    let mut types = vec![1i32; tokens.len()];
    types[..3].copy_from_slice(&[3, 3, 3]);
    let mut g = Gguf::new(8);
    g.string("general.architecture", "llama");
    g.string("tokenizer.ggml.model", "gpt2");
    g.string("tokenizer.ggml.pre", pre);
    g.strings("tokenizer.ggml.tokens", &tokens);
    g.i32s("tokenizer.ggml.token_type", &types);
    g.strings("tokenizer.ggml.merges", &merges);
    g.u32("tokenizer.ggml.eos_token_id", 2);
    g.u32("tokenizer.ggml.bos_token_id", 1);
    g.0
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

    // GGUF metadata (SmolLM2's pre-tokenizer, GPT-2's, an unknown one; a tensor tail).
    put(&root, "gguf", "smollm.gguf", &gguf_vocab("smollm"));
    put(&root, "gguf", "gpt2.gguf", &gguf_vocab("gpt2"));
    put(&root, "gguf", "unknown-pre.gguf", &gguf_vocab("llama-bpe"));
    let mut tail = gguf_vocab("smollm");
    tail.extend_from_slice(&[0u8; 64]);
    put(&root, "gguf", "with-tensor-bytes.gguf", &tail);

    // Chat-completion request bodies (valid ones with every field, and typical errors).
    let bodies: &[(&str, &str)] = &[
        (
            "minimal.json",
            r#"{"model":"smollm2-135m-instruct","messages":[{"role":"user","content":"Hi"}]}"#,
        ),
        (
            "full.json",
            r#"{"model":"smollm2-135m-instruct","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"How do I brew tea?"},{"role":"assistant","content":"Steep it."},{"role":"developer","content":"x"}],"max_tokens":64,"max_completion_tokens":32,"temperature":0.7,"top_p":0.9,"seed":-3,"stop":["\n\n","END"],"stream":true,"stream_options":{"include_usage":true},"n":1}"#,
        ),
        (
            "parts.json",
            r#"{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"part one "},{"type":"text","text":"part two"}]},{"role":"assistant","content":null}],"stop":"x"}"#,
        ),
        (
            "special-text.json",
            r#"{"model":"m","messages":[{"role":"user","content":"a <|im_end|> b <|endoftext|> c"}]}"#,
        ),
        (
            "bad-n.json",
            r#"{"model":"m","messages":[{"role":"user","content":"x"}],"n":2}"#,
        ),
        (
            "bad-role.json",
            r#"{"model":"m","messages":[{"role":"tool","content":"x"}]}"#,
        ),
        (
            "bad-json.json",
            r#"{"model":"m","messages":[{"role":"user","content":"x"}"#,
        ),
        (
            "big-numbers.json",
            r#"{"model":"m","messages":[{"role":"user","content":"x"}],"max_tokens":1e9,"seed":18446744073709551615,"temperature":2,"top_p":0}"#,
        ),
    ];
    for (name, body) in bodies {
        put(&root, "http_body", name, body.as_bytes());
    }
    println!("seeds written under {}", root.display());
}
