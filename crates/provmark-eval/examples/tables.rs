//! Runs the evaluation without the CLI (development aid):
//! `cargo run --release -p provmark-eval --example tables -- [quick|tiny|full] OUT.md`, or
//! `... -- demo DIR` for the demo corpus. The CLI equivalents are `provmark eval tables` and
//! `provmark eval demo`.
use provmark_eval::tables::{run_all, Budget};
fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("demo") {
        let dir = args
            .get(2)
            .cloned()
            .unwrap_or_else(|| "testdata/demo".into());
        match provmark_eval::demo::write_demo(
            std::path::Path::new(&dir),
            0.10,
            60_000,
            500_000,
            2024,
        ) {
            Ok(s) => println!("{}", serde_json::to_string(&s).unwrap_or_default()),
            Err(e) => eprintln!("demo: {e}"),
        }
        return;
    }
    if args.get(1).map(String::as_str) == Some("render") {
        // Re-render markdown from a JSON written by a previous run: render IN.json OUT.md
        let (Some(inp), Some(out)) = (args.get(2), args.get(3)) else {
            return;
        };
        let text = std::fs::read_to_string(inp).unwrap_or_default();
        match serde_json::from_str::<provmark_eval::tables::Tables>(&text) {
            Ok(t) => {
                let _ = std::fs::write(
                    out,
                    provmark_eval::report::markdown(&t, "provmark eval tables"),
                );
                let mut v = serde_json::to_value(&t).unwrap_or_default();
                v["goals"] =
                    serde_json::to_value(provmark_eval::report::goals(&t)).unwrap_or_default();
                let json = serde_json::to_string_pretty(&v).unwrap_or_default() + "\n";
                let _ = std::fs::write(format!("{out}.json"), json);
            }
            Err(e) => eprintln!("render: {e}"),
        }
        return;
    }
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
    let mut t = match run_all(&b, &mut |n| {
        eprintln!("{n} at {:.1}s", t0.elapsed().as_secs_f64())
    }) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("tables: {e}");
            return;
        }
    };
    eprintln!("done at {:.1}s", t0.elapsed().as_secs_f64());
    t.wall_seconds = Some(t0.elapsed().as_secs_f64());
    let cmd = "provmark eval tables";
    let _ = std::fs::write(&out, provmark_eval::report::markdown(&t, cmd));
    let mut v = serde_json::to_value(&t).unwrap_or_default();
    v["goals"] = serde_json::to_value(provmark_eval::report::goals(&t)).unwrap_or_default();
    let _ = std::fs::write(
        format!("{out}.json"),
        serde_json::to_string_pretty(&v).unwrap_or_default() + "\n",
    );
}
