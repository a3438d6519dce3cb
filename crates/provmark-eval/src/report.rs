//! Renders [`Tables`] as the markdown of `docs/EVALUATION.md` (the JSON is `serde_json` of
//! the same value). Every number in the document comes from the tables; the prose around them
//! is fixed text, and the goal verdicts are computed here from the numbers.

use std::fmt::Write;

use crate::tables::{Tables, ALPHA};

fn opt(v: Option<usize>, max: usize) -> String {
    v.map_or(format!("> {max}"), |x| x.to_string())
}

fn lp(x: f64) -> String {
    if x == f64::NEG_INFINITY {
        "−∞".into()
    } else if x > -0.005 {
        "0.00".into()
    } else {
        format!("{x:.2}")
    }
}

fn pct(x: f64) -> String {
    format!("{:.1}%", 100.0 * x)
}

/// One goal of the issue and whether the tables meet it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Goal {
    /// The goal.
    pub goal: String,
    /// What was measured.
    pub measured: String,
    /// Met?
    pub met: Option<bool>,
}

/// The four goals of the evaluation issue, judged from the tables.
pub fn goals(t: &Tables) -> Vec<Goal> {
    use crate::tables::{LmProfile, PowerRow};
    let mut g = Vec::new();
    let find = |lm: LmProfile, scheme: &str, attack: &str| -> Option<&PowerRow> {
        t.power.iter().find(|r| {
            r.lm == lm
                && r.scheme == scheme
                && r.h == 2
                && r.temperature == 1.0
                && r.attack == attack
        })
    };
    let fmt = |r: Option<&PowerRow>| {
        r.map_or("not run".to_string(), |r| {
            format!(
                "{} (median of {})",
                opt(r.median_tokens, r.max_tokens),
                r.runs
            )
        })
    };
    let ok =
        |r: Option<&PowerRow>, lim: usize| r.map(|r| r.median_tokens.is_some_and(|m| m <= lim));
    for (goal, attack, lim) in [
        ("≤ 40 tokens to p ≤ 1e-6 at default settings (γ=0.25, δ=2, h = 2, T = 1; either scheme)", "none", 40usize),
        ("≤ 80 tokens to p ≤ 1e-6 after 20% substitution (h = 2, T = 1; either scheme)", "substitute 20%", 80),
    ] {
        let mut parts = Vec::new();
        let mut met = None;
        for lm in [LmProfile::Chat, LmProfile::Open] {
            let gr = find(lm, "green γ=0.25 δ=2", attack);
            let gu = find(lm, "gumbel", attack);
            parts.push(format!("{} LM: green {}, gumbel {}", lm.label(), fmt(gr), fmt(gu)));
            if lm == LmProfile::Chat {
                met = ok(gr, lim).zip(ok(gu, lim)).map(|(a, b)| a || b);
            }
        }
        g.push(Goal {
            goal: format!("{goal} — judged on the default (chat) simulated LM"),
            measured: parts.join("; "),
            met,
        });
    }
    let d5: Vec<_> = t
        .distillation
        .iter()
        .filter(|r| r.fraction == 0.05 && r.h == 2 && r.student_tokenizer == "o200k_base")
        .collect();
    let controls: Vec<f64> = t.distillation.iter().map(|r| r.control_log10_p).collect();
    let min_control = controls.iter().copied().fold(0.0f64, f64::min);
    // Strongest evidence reached with at most 100,000 scored pairs: any curve point within that
    // budget, or the first-100k-scored figure.
    let within = |r: &crate::tables::DistillRow| -> Option<(u64, f64)> {
        r.curve
            .iter()
            .filter(|c| c.1 <= 100_000)
            .map(|c| (c.1, c.2))
            .chain(r.log10_p_at_100k_scored.map(|x| (100_000, x)))
            .min_by(|a, b| a.1.total_cmp(&b.1))
    };
    let m = d5
        .iter()
        .map(|r| {
            format!(
                "filter {}: {} (control over its full scan: log10 p = {} on {} scored)",
                if r.filter { "on" } else { "off" },
                within(r).map_or("no point within 100k scored".into(), |(n, x)| format!(
                    "log10 p = {} at {n} scored",
                    lp(x)
                )),
                lp(r.control_log10_p),
                r.control_scored
            )
        })
        .collect::<Vec<_>>()
        .join("; ");
    let met5 = d5
        .iter()
        .find(|r| !r.filter)
        .and_then(|r| within(r))
        .map(|(_, x)| x <= -12.0);
    let control_ok = d5.iter().all(|r| r.control_log10_p > -2.0);
    g.push(Goal {
        goal:
            "5% watermarked fraction → p ≤ 1e-12 within 100k scored tokens, control uniform (h = 2; judged without the filter)"
                .into(),
        measured: format!(
            "{m}; smallest control p over all {} cells (independent keys) = 10^{}",
            controls.len(),
            lp(min_control)
        ),
        met: met5.map(|x| x && control_ok),
    });
    let a = t
        .attribution
        .iter()
        .find(|r| r.scenario == "one" && r.accounts == 10_000);
    g.push(Goal {
        goal: "source account named among 10,000 in ≥ 99% of runs".into(),
        measured: a.map_or(
            "not run (quick budget stops at fewer accounts)".into(),
            |r| {
                format!(
                    "top-1 correct in {} of {} runs",
                    pct(r.top1_correct),
                    r.runs
                )
            },
        ),
        met: a.map(|r| r.top1_correct >= 0.99),
    });
    g
}

/// The markdown document.
pub fn markdown(t: &Tables, command: &str) -> String {
    let mut s = String::new();
    let b = &t.budget;
    let _ = writeln!(s, "# Evaluation: does the evidence hold up?\n");
    let _ = writeln!(
        s,
        "Generated by `{command}` (release build; every number below comes from that run, from fixed seeds). \
         The same numbers are in `docs/evaluation.json`. Everything here runs on **simulations**: a simulated \
         language model, never a real one; see \"What the simulation shows and does not\" below.\n"
    );
    let _ = writeln!(s, "## Goals\n\n| goal | measured | met |\n|---|---|---|");
    for g in goals(t) {
        let met = match g.met {
            Some(true) => "**yes**",
            Some(false) => "**no**",
            None => "not measured",
        };
        let _ = writeln!(s, "| {} | {} | {} |", g.goal, g.measured, met);
    }
    let _ = writeln!(
        s,
        "\n## Set-up\n\n\
         * **Serving tables (a)–(c)** use the project's simulated LM (`provmark-sim`, seed 42, top-50 candidates, \
         order 3) with two entropy profiles: **chat** — `provmark-sim`'s default, calibrated to aligned chat models \
         (median step entropy 0.01 nats; see its docs) — and **open**, a higher-entropy profile we assume for \
         open-ended text (base-model-like; Yang & Holtzman 2025 put base models near 2.5 nats per token). Measured \
         mean step entropy: {}. The watermark is applied through the serving library (`provmark-embed`) with a fresh \
         evaluation key per run, and scored by the detector (`provmark-detect::score_ids`: each unique (context, token) pair \
         once, positions without a full context skipped). p-values are exact (binomial / gamma tails).\n\
         * **Distillation tables (d)–(e)** need a teacher whose distribution a small student can learn, so they use \
         a simulated *Markov language* (`provmark-eval::lang`): {} whole-word `o200k_base` tokens (each decodes to \
         \" word\" and re-encodes to the same id), 32 successors per word with Zipf-distributed popularity. The \
         **teacher** is one model of it (per-word peakedness, mean next-word entropy {:.2} nats at T = 1) serving \
         watermarked 200-token responses; the **clean source** is a *different* simulated model of the same language \
         (same successor graph, logits perturbed by N(0, 1) noise from another seed; entropy {:.2} nats), never \
         watermarked. The **student** is an interpolated (Witten–Bell) n-gram model with context h (order h + 1) \
         trained on {} tokens: a fraction F of watermarked teacher responses, the rest clean-source responses. The \
         **control** is the same student trained with F = 0. Each student generates 200-token responses; the scan is \
         one pooled test over all of them with global dedup (`provmark-eval::pooled`, the same rules as the \
         detector), optionally **supervised** (only contexts that occur in our served responses).\n",
        t.sim
            .serving_entropy_nats
            .iter()
            .map(|(p, temp, e)| format!("{} T = {temp}: {e:.3} nats", p.label()))
            .collect::<Vec<_>>()
            .join(", "),
        t.sim.language_words,
        t.sim.teacher_entropy_nats,
        t.sim.clean_entropy_nats,
        b.train_tokens
    );
    let _ = writeln!(
        s,
        "## What the simulation shows and does not\n\n\
         *Why an n-gram student is a fair proxy.* Distillation transfers a green-list watermark because the student \
         learns the teacher's conditional next-token distribution, and the watermark *is* a shift of that distribution \
         at each h-token context. An n-gram model of order > h estimates exactly those conditionals from counts, so \
         it inherits the shift in proportion to the watermarked share of the data at each context — the same \
         mechanism (and dilution) that the published measurements on fine-tuned neural students show (Sander et al., \
         NeurIPS 2024: mean green share 0.2588 against 0.25 for 5% watermarked data; Gu et al., ICLR 2024: \
         students learn small-h watermarks). Our 5% student's green share (table d) can be compared with that figure. \
         It makes the experiment cheap, exact and reproducible from a seed.\n\n\
         *Where it is not.* n-gram students **memorise**: with sparse counts (large h, small data) they replay \
         training sequences verbatim, which carries the watermark through more faithfully than a neural student \
         would (favouring detection), while neural students **generalise**: they smooth the shift across similar \
         contexts, learn it from fewer examples at frequent contexts but may wash it out at rare ones, and they are \
         trained with their own objectives, temperature and decoding. Our language is a first-order Markov chain, so \
         the clean source and the teacher share contexts exactly as the model says; real corpora overlap less and \
         the supervised filter's gain depends on that overlap. The numbers below are evidence that the *statistics* \
         are valid and sensitive under a transparent threat model, not a prediction of the p-value a given real \
         student will produce.\n"
    );

    let _ = writeln!(
        s,
        "## (a) Power: tokens to p ≤ 1e-6\n\n\
         Median (and 90th percentile) number of tokens of one watermarked response after which the exact p-value first \
         reaches {ALPHA:e}; {} runs per cell, each with its own key; \"> N\" means not reached within N tokens in that \
         share of runs. Rows with an edit apply it to the whole response first (20% of positions replaced by tokens of \
         clean text from the same LM).\n\n\
         | LM | scheme | h | T | edit | median tokens | p90 tokens | reached |\n|---|---|---|---|---|---|---|---|",
        b.power_runs
    );
    for r in &t.power {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            r.lm.label(),
            r.scheme,
            r.h,
            r.temperature,
            r.attack,
            opt(r.median_tokens, r.max_tokens),
            opt(r.p90_tokens, r.max_tokens),
            pct(r.reached)
        );
    }
    let _ = writeln!(
        s,
        "\n## (b) Robustness at 200 tokens\n\n\
         Share of 200-token watermarked responses detected at p ≤ 1e-6 after each edit ({} runs per row, T = 1, \
         h = 2). Substitution replaces distinct random positions by tokens of clean text from the same LM; insertion \
         adds clean tokens at random positions; deletion removes random positions. \"mix\" keeps 200 tokens of which \
         the given share is one clean passage spliced in at a random point; \"embed\" keeps all 200 watermarked \
         tokens and splices them into clean text so that they are the given share of it.\n\n\
         | LM | scheme | edit | detected | median log10 p | median tokens |\n|---|---|---|---|---|---|",
        b.robust_runs
    );
    for r in &t.robustness {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} |",
            r.lm.label(),
            r.scheme,
            r.label,
            pct(r.detected),
            lp(r.median_log10_p),
            r.median_tokens
        );
    }
    let _ = writeln!(
        s,
        "\n## (c) Calibration: false-positive rate on clean text\n\n\
         Each sample is one clean text scored under one evaluation key (simulated LM: a fresh key per 1,000 samples; \
         real text: every chunk under each of the keys). The bound is the central 99.9% interval of \
         Binomial(samples, α); a count at or below its upper end is valid (below its lower end means conservative — \
         expected for the green list on short texts, whose binomial p-values are discrete). Real text is read from \
         `../shared/corpora/*.jsonl` when present (every string field of every record, cut into chunks of at most \
         200 `o200k_base` tokens); the rows are absent when it is not.\n\n\
         | source | scheme | samples | keys | median scored | α | false positives | FPR | 99.9% bound | valid |\n\
         |---|---|---|---|---|---|---|---|---|---|"
    );
    for r in &t.calibration {
        for l in &r.levels {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | {:e} | {} | {:.2e} | [{}, {}] | {} |",
                r.source,
                r.scheme,
                r.samples,
                r.keys,
                r.median_scored,
                l.alpha,
                l.false_positives,
                l.fpr,
                l.bound_lo,
                l.bound_hi,
                if l.valid { "yes" } else { "**NO**" }
            );
        }
    }
    let cps: Vec<u64> = t
        .distillation
        .first()
        .map(|r| r.curve.iter().map(|c| c.0).collect())
        .unwrap_or_default();
    let _ = writeln!(
        s,
        "\n## (d) Distillation: the student's pooled scan\n\n\
         log10 p of the pooled scan of the suspect student's outputs after N student tokens scanned (scored unique \
         pairs in brackets), and over its first 100,000 scored pairs; the control student (F = 0, same scan) beside \
         it. Green γ = 0.25, δ = 2, teacher and clean source at T = 1. The last rows use a student with another \
         tokenizer (`cl100k_base`, context 2h + 1 of its own tokens) trained on the teacher's text re-tokenized; its \
         outputs are decoded to text and re-tokenized with `o200k_base` for the scan.\n"
    );
    let mut head = String::from("| student | h | F | filter | green share |");
    let mut sep = String::from("|---|---|---|---|---|");
    for c in &cps {
        let _ = write!(head, " {}k tokens |", c / 1000);
        sep.push_str("---|");
    }
    head.push_str(" at 100k scored | control (full) | control at 100k scored |");
    sep.push_str("---|---|---|");
    let _ = writeln!(s, "{head}\n{sep}");
    for r in &t.distillation {
        let mut line = format!(
            "| {} (ctx {}) | {} | {}% | {} | {:.4} |",
            r.student_tokenizer,
            r.student_context,
            r.h,
            r.fraction * 100.0,
            if r.filter { "on" } else { "off" },
            r.suspect_mean_score
        );
        for c in &r.curve {
            let _ = write!(line, " {} [{}] |", lp(c.2), c.1);
        }
        for _ in r.curve.len()..cps.len() {
            line.push_str(" |");
        }
        let _ = write!(
            line,
            " {} | {} [{}] | {} |",
            r.log10_p_at_100k_scored.map_or("n/a".into(), lp),
            lp(r.control_log10_p),
            r.control_scored,
            r.control_log10_p_at_100k_scored.map_or("n/a".into(), lp)
        );
        let _ = writeln!(s, "{line}");
    }
    let _ = writeln!(
        s,
        "\n## (e) Attribution\n\n\
         The teacher serves each account under its own derived key. The student (h = 2, F = 10%, {} training \
         tokens) learned from one account's responses (\"one\") or from two accounts' responses, half each (\"two\"); \
         {} student tokens are scanned and every listed account is tested on the same pooled pairs, ranked by raw \
         p-value; the reported p-value is Bonferroni-adjusted for the number of accounts. The true sources are \
         always in the list; the other accounts are decoys with keys of the same master secret.\n\n\
         | scenario | accounts | top-1 is a source | both sources top-2 | named at adjusted p ≤ 1e-6 | median adjusted log10 p | runs |\n\
         |---|---|---|---|---|---|---|",
        b.train_tokens, b.attr_student_tokens
    );
    for r in &t.attribution {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} |",
            r.scenario,
            r.accounts,
            pct(r.top1_correct),
            r.top2_both.map_or("—".into(), pct),
            pct(r.named_at_1e6),
            lp(r.median_adjusted_log10_p),
            r.runs
        );
    }
    let _ = writeln!(
        s,
        "\n## Reproduce\n\n```\ncargo run --release -p provmark-cli -- eval tables --out docs/EVALUATION.md\n```\n\n\
         `--quick` runs the same tables with far fewer runs (a smoke test; its numbers are not the ones above). One \
         distillation run: `provmark eval distill --fraction 0.05 --student-tokens 300000 --json`. Budget of this run: \
         `{}`. Wall time of this run: {}.",
        serde_json::to_string(&t.budget).unwrap_or_default(),
        t.wall_seconds.map_or("not recorded".to_string(), |w| format!(
            "{w:.0} s on the 2-core development machine, shared with other builds while it ran"
        ))
    );
    s
}
