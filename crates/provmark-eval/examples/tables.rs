//! Runs the evaluation tables without the CLI (development aid):
//! `cargo run --release -p provmark-eval --example tables -- [quick|tiny|full] OUT.md`.
use provmark_eval::tables::{run_all, Budget};
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let b = match args.get(1).map(String::as_str) {
        Some("tiny") => Budget::tiny(),
        Some("full") => Budget::full(),
        _ => Budget::quick(),
    };
    let out = args
        .get(2)
        .cloned()
        .unwrap_or_else(|| "/tmp/eval.md".into());
    let t0 = std::time::Instant::now();
    let t = run_all(&b, &mut |n| {
        eprintln!("{n} at {:.1}s", t0.elapsed().as_secs_f64())
    })
    .expect("tables");
    eprintln!("done at {:.1}s", t0.elapsed().as_secs_f64());
    std::fs::write(&out, provmark_eval::report::markdown(&t, "example tables")).expect("write");
    std::fs::write(
        format!("{out}.json"),
        serde_json::to_string_pretty(&t).expect("json"),
    )
    .expect("write");
}
