//! The self-contained HTML evidence page: no script, no network asset, plots as inline SVG.
//!
//! The page is a pure function of the sealed JSON report (it embeds that JSON verbatim and
//! shows its MAC), so anyone holding the JSON can regenerate it; the MAC protects the JSON.

use std::fmt::Write as _;

use crate::report::{format_p, Report};

/// The evidence curve a rendered report embeds (`{"key", "curve"}`: the key behind the verdict
/// and its plotted points), read back from the page; `None` when the page has none.
pub fn embedded_curve(page: &str) -> Option<serde_json::Value> {
    let open = r#"<pre hidden id="evidence-curve-data">"#;
    let start = page.find(open)? + open.len();
    let end = start + page[start..].find("</pre>")?;
    let json = page[start..end]
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&");
    serde_json::from_str(&json).ok()
}

/// Escapes text for HTML element content and attribute values.
pub fn escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

/// "Nice" axis ticks covering [lo, hi].
fn ticks(lo: f64, hi: f64, n: usize) -> Vec<f64> {
    let span = (hi - lo).max(1e-12);
    let raw = span / n.max(1) as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    let mut t = (lo / step).ceil() * step;
    let mut out = Vec::new();
    while t <= hi + step * 1e-9 && out.len() < 50 {
        out.push(t);
        t += step;
    }
    out
}

fn tick_label(v: f64) -> String {
    let a = v.abs();
    if a >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if a >= 1e3 {
        format!("{:.0}k", v / 1e3)
    } else if (v - v.round()).abs() < 1e-9 {
        format!("{}", v.round() as i64)
    } else {
        format!("{v:.1}")
    }
}

/// One plotted series.
struct Series<'a> {
    name: &'a str,
    color: &'a str,
    points: Vec<(f64, f64)>,
}

/// A line plot with axes, optional horizontal reference line and optional y = x diagonal.
fn line_plot(
    title: &str,
    xlabel: &str,
    ylabel: &str,
    series: &[Series<'_>],
    hline: Option<(f64, &str)>,
    diagonal: bool,
) -> String {
    let (w, h, ml, mr, mt, mb) = (900.0, 360.0, 64.0, 16.0, 34.0, 48.0);
    let pw = w - ml - mr;
    let ph = h - mt - mb;
    let mut xmax: f64 = 1.0;
    let mut ymax: f64 = 1.0;
    for s in series {
        for &(x, y) in &s.points {
            xmax = xmax.max(x);
            ymax = ymax.max(y);
        }
    }
    if let Some((y, _)) = hline {
        ymax = ymax.max(y * 1.1);
    }
    if diagonal {
        let m = xmax.max(ymax);
        xmax = m;
        ymax = m;
    }
    let sx = |x: f64| ml + x / xmax * pw;
    let sy = |y: f64| mt + ph - y / ymax * ph;
    let mut o = String::new();
    let _ = write!(
        o,
        r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" width="100%" role="img" aria-label="{t}"><title>{t}</title><rect x="{ml}" y="{mt}" width="{pw}" height="{ph}" fill="#fff" stroke="#999"/>"##,
        t = escape(title)
    );
    for t in ticks(0.0, xmax, 6) {
        let x = sx(t);
        let _ = write!(
            o,
            r##"<line x1="{x:.1}" y1="{a:.1}" x2="{x:.1}" y2="{b:.1}" stroke="#eee"/><text x="{x:.1}" y="{ty:.1}" font-size="11" text-anchor="middle">{l}</text>"##,
            a = mt,
            b = mt + ph,
            ty = mt + ph + 14.0,
            l = tick_label(t)
        );
    }
    for t in ticks(0.0, ymax, 5) {
        let y = sy(t);
        let _ = write!(
            o,
            r##"<line x1="{a:.1}" y1="{y:.1}" x2="{b:.1}" y2="{y:.1}" stroke="#eee"/><text x="{tx:.1}" y="{ty:.1}" font-size="11" text-anchor="end">{l}</text>"##,
            a = ml,
            b = ml + pw,
            tx = ml - 6.0,
            ty = y + 4.0,
            l = tick_label(t)
        );
    }
    if diagonal {
        let _ = write!(
            o,
            r##"<line x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="#888" stroke-dasharray="4 3"/>"##,
            sx(0.0),
            sy(0.0),
            sx(xmax),
            sy(xmax)
        );
    }
    if let Some((y, label)) = hline {
        let _ = write!(
            o,
            r##"<line x1="{a:.1}" y1="{yy:.1}" x2="{b:.1}" y2="{yy:.1}" stroke="#c00" stroke-dasharray="6 4"/><text x="{b:.1}" y="{ty:.1}" font-size="11" fill="#c00" text-anchor="end">{l}</text>"##,
            a = ml,
            b = ml + pw - 4.0,
            yy = sy(y),
            ty = sy(y) - 4.0,
            l = escape(label)
        );
    }
    let mut legend_x = ml;
    for s in series {
        if !s.points.is_empty() {
            let pts: Vec<String> = s
                .points
                .iter()
                .map(|&(x, y)| format!("{:.1},{:.1}", sx(x), sy(y)))
                .collect();
            let _ = write!(
                o,
                r##"<polyline fill="none" stroke="{c}" stroke-width="2" points="{p}"/>"##,
                c = s.color,
                p = pts.join(" ")
            );
            if s.points.len() < 40 || s.points.len() == 1 {
                for &(x, y) in &s.points {
                    let _ = write!(
                        o,
                        r##"<circle cx="{:.1}" cy="{:.1}" r="2.5" fill="{}"/>"##,
                        sx(x),
                        sy(y),
                        s.color
                    );
                }
            }
        }
        // Legend above the plot area, one entry after another: never over a line.
        let ly = 16.0;
        let _ = write!(
            o,
            r##"<rect x="{x:.1}" y="{y:.1}" width="12" height="4" fill="{c}"/><text x="{tx:.1}" y="{ty:.1}" font-size="11">{n}</text>"##,
            x = legend_x,
            y = ly - 4.0,
            c = s.color,
            tx = legend_x + 18.0,
            ty = ly + 1.0,
            n = escape(s.name)
        );
        legend_x += 18.0 + 6.5 * s.name.chars().count() as f64 + 24.0;
    }
    let _ = write!(
        o,
        r##"<text x="{x:.1}" y="{y:.1}" font-size="12" text-anchor="middle">{xl}</text><text transform="translate(14 {cy:.1}) rotate(-90)" font-size="12" text-anchor="middle">{yl}</text></svg>"##,
        x = ml + pw / 2.0,
        y = h - 8.0,
        cy = mt + ph / 2.0,
        xl = escape(xlabel),
        yl = escape(ylabel)
    );
    o
}

/// Horizontal bars: one per account, length −log10(adjusted p).
fn bar_plot(title: &str, rows: &[(String, f64)], threshold: f64) -> String {
    let n = rows.len().max(1);
    let (w, ml, mr, mt, row) = (900.0, 180.0, 24.0, 12.0, 20.0);
    let h = mt + row * n as f64 + 36.0;
    let pw = w - ml - mr;
    let xmax = rows
        .iter()
        .map(|r| r.1)
        .fold(threshold * 1.2, f64::max)
        .max(1.0);
    let sx = |x: f64| ml + x / xmax * pw;
    let mut o = String::new();
    let _ = write!(
        o,
        r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" width="100%" role="img" aria-label="{t}"><title>{t}</title>"##,
        t = escape(title)
    );
    for (i, (name, v)) in rows.iter().enumerate() {
        let y = mt + row * i as f64;
        let color = if *v >= threshold {
            "#b03a2e"
        } else {
            "#5d6d7e"
        };
        let label: String = name.chars().take(26).collect();
        let _ = write!(
            o,
            r##"<text x="{tx:.1}" y="{ty:.1}" font-size="11" text-anchor="end">{l}</text><rect x="{ml}" y="{y:.1}" width="{bw:.1}" height="{bh:.1}" fill="{color}"/><text x="{vx:.1}" y="{ty:.1}" font-size="10">{v:.1}</text>"##,
            tx = ml - 6.0,
            ty = y + 12.0,
            l = escape(&label),
            bw = (sx(*v) - ml).max(0.5),
            bh = row - 4.0,
            vx = sx(*v) + 4.0
        );
    }
    let base = mt + row * n as f64;
    let _ = write!(
        o,
        r##"<line x1="{x:.1}" y1="{a}" x2="{x:.1}" y2="{base:.1}" stroke="#c00" stroke-dasharray="6 4"/><text x="{x:.1}" y="{ty:.1}" font-size="11" fill="#c00" text-anchor="middle">alpha</text><text x="{cx:.1}" y="{ly:.1}" font-size="12" text-anchor="middle">−log10 adjusted p (longer = stronger evidence)</text></svg>"##,
        x = sx(threshold),
        a = mt,
        ty = base + 12.0,
        cx = ml + pw / 2.0,
        ly = base + 30.0
    );
    o
}

fn row(o: &mut String, k: &str, v: &str) {
    let _ = write!(o, "<tr><th>{}</th><td>{}</td></tr>", escape(k), v);
}

/// "watermarked" / "not_watermarked" as words.
fn verdict_words(v: &str) -> String {
    v.replace('_', " ")
}

fn yes_no(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

/// A byte count for people: `768 MiB`, `12.5 KiB`.
fn bytes_words(n: u64) -> String {
    const UNITS: [&str; 5] = ["bytes", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 || (v - v.round()).abs() < 0.05 {
        format!("{} {}", v.round(), UNITS[u])
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// The settings of the scan in plain words (the JSON report keeps the raw values).
fn parameter_rows(report: &Report) -> Vec<(String, String)> {
    let p = &report.parameters;
    let scheme = match serde_json::to_value(report.scheme) {
        Ok(serde_json::Value::Object(m)) => m
            .iter()
            .map(|(k, v)| match v {
                serde_json::Value::String(s) => format!("{k} {s}"),
                other => format!("{k} {other}"),
            })
            .collect::<Vec<_>>()
            .join(", "),
        Ok(other) => other.to_string(),
        Err(_) => String::new(),
    };
    let mut rows = vec![
        ("watermark scheme".to_string(), scheme),
        ("key id".into(), report.key_id.clone()),
        ("key function (PRF)".into(), p.prf.clone()),
        (
            "tokenizer".into(),
            serde_json::to_value(&report.tokenizer)
                .ok()
                .and_then(|v| v.get("name").and_then(|n| n.as_str()).map(String::from))
                .unwrap_or_else(|| serde_json::to_string(&report.tokenizer).unwrap_or_default()),
        ),
        (
            "context width".into(),
            format!("{} preceding tokens key each token", p.context_width),
        ),
        (
            "threshold (alpha)".into(),
            format!("p ≤ {} counts as watermarked", format_p(p.alpha.log10())),
        ),
        ("repeats".into(), p.dedup.clone()),
        ("text field".into(), p.field.clone()),
        (
            "prompt field".into(),
            p.prompt_field
                .clone()
                .unwrap_or_else(|| "none (no prompt given)".into()),
        ),
        (
            "record id field".into(),
            p.id_field
                .clone()
                .unwrap_or_else(|| "none (records named by file and line)".into()),
        ),
        (
            "shortest record scored".into(),
            format!("{} tokens", p.min_tokens),
        ),
        (
            "special tokens skipped".into(),
            yes_no(p.skip_special_tokens).into(),
        ),
        (
            "contexts found in the prompt skipped".into(),
            yes_no(p.skip_prompt_contexts).into(),
        ),
    ];
    rows.push((
        "supervised filter".into(),
        match &p.filter {
            None => "none: every context scored".into(),
            Some(f) => format!(
                "only contexts seen in {} records of the provider's own outputs ({} contexts)",
                f.records, f.contexts
            ),
        },
    ));
    rows.push(("evidence curve points".into(), p.curve_bins.to_string()));
    rows.push(("provmark version".into(), report.version.clone()));
    rows.push(("written".into(), report.created.clone()));
    let r = &report.run;
    rows.push((
        "run".into(),
        format!(
            "{} threads, memory budget {}, {} spilled runs, {:.1} s",
            r.threads,
            bytes_words(r.memory_budget_bytes),
            r.spilled_runs,
            r.elapsed_seconds
        ),
    ));
    rows
}

/// Renders the report page. `report_json` is the sealed JSON file's text, embedded verbatim.
pub fn render(report: &Report, report_json: &str) -> String {
    let c = &report.corpus;
    let threshold = -report.parameters.alpha.log10();
    let mut o = String::with_capacity(64 << 10);
    let ev = &report.evidence;
    // One verdict (the report's `evidence`, computed once in the scan) drives the colour, the
    // headline and the first row of the Result table.
    let verdict_class = if ev.verdict == "watermarked" {
        "pos"
    } else {
        "neg"
    };
    let _ = write!(
        o,
        r##"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>provmark evidence report — {key}</title>
<style>
body{{font-family:Georgia,"Times New Roman",serif;max-width:980px;margin:2em auto;padding:0 1em;color:#1b2631;line-height:1.45}}
h1{{font-size:1.6em;margin-bottom:.2em}} h2{{font-size:1.2em;border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:1.8em}}
.verdict{{font-size:1.15em;padding:1em 1.2em;border-radius:6px;border:2px solid}}
.pos{{background:#fdedec;border-color:#b03a2e}} .neg{{background:#eaf2f8;border-color:#2e86c1}}
table{{border-collapse:collapse;margin:.5em 0;font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.85em}}
th,td{{border:1px solid #ddd;padding:.25em .6em;text-align:left;vertical-align:top}} th{{background:#f4f6f7;font-weight:normal}}
td.num{{text-align:right}} .hash{{word-break:break-all}} .small{{font-size:.85em;color:#566573}}
svg{{max-width:100%;height:auto;font-family:Helvetica,Arial,sans-serif}}
details pre{{white-space:pre-wrap;word-break:break-all;font-size:.75em;background:#f8f9f9;padding:1em}}
</style></head><body>
<h1>Watermark evidence report</h1>
<p class="small">provmark {ver} · key id <code>{key}</code> · written {time}</p>
<p class="verdict {vc}" id="verdict">{summary}</p>
"##,
        key = escape(&report.key_id),
        ver = escape(&report.version),
        time = escape(&report.created),
        vc = verdict_class,
        summary = escape(&report.summary)
    );

    o.push_str("<h2>Result</h2><table>");
    let strongest = match ev.strongest_key.strip_prefix("account:") {
        Some(a) => format!("account {a}'s key"),
        None => "our master key".to_string(),
    };
    row(&mut o, "verdict", &escape(&verdict_words(&ev.verdict)));
    row(&mut o, "evidence from", &escape(&strongest));
    if ev.keys_tested > 1 {
        row(
            &mut o,
            "p-value",
            &escape(&format!(
                "{} (corrected for the {} keys tested: ours and one per account)",
                format_p(ev.log10_p),
                ev.keys_tested
            )),
        );
        row(
            &mut o,
            "master key alone",
            &escape(&format!(
                "{}, p = {}",
                verdict_words(&c.verdict),
                format_p(c.log10_p)
            )),
        );
    } else {
        row(&mut o, "p-value", &escape(&format_p(c.log10_p)));
        row(&mut o, "log10 p", &format!("{:.4}", c.log10_p));
    }
    row(
        &mut o,
        "threshold (alpha)",
        &escape(&format_p(c.alpha.log10())),
    );
    row(
        &mut o,
        "distinct token pairs scored",
        &c.scored_tokens.to_string(),
    );
    row(&mut o, "tokens scanned", &c.total_tokens.to_string());
    row(
        &mut o,
        "records (scored / skipped / total)",
        &format!(
            "{} / {} / {}",
            c.records_scored, c.records_skipped, c.records_total
        ),
    );
    row(
        &mut o,
        "statistic (recompute the p-value from this)",
        &escape(&serde_json::to_string(&c.statistic).unwrap_or_default()),
    );
    if let Some(ctl) = &report.control {
        row(
            &mut o,
            "control corpus",
            &escape(&format!(
                "{} — p = {} (log10 p = {:.4}) over {} distinct pairs from {} records",
                ctl.corpus.verdict,
                format_p(ctl.corpus.log10_p),
                ctl.corpus.log10_p,
                ctl.corpus.scored_tokens,
                ctl.corpus.records_scored
            )),
        );
    }
    o.push_str("</table>");

    // The curve of the key behind the verdict: an account's when its key carries the evidence
    // (reports since the per-account curve was recorded), else the master key's.
    let verdict_account = ev.strongest_key.strip_prefix("account:");
    let account_curve = report
        .accounts
        .first()
        .filter(|a| Some(a.account.as_str()) == verdict_account && !a.curve.is_empty());
    o.push_str("<h2>Evidence as the corpus is read</h2><p>Strength of evidence (−log10 p) of the pooled test over all distinct token pairs read so far, in input order, ");
    match (verdict_account, account_curve) {
        (Some(a), Some(_)) => {
            let _ = write!(
                o,
                "under account <b>{}</b>'s key, which carries the verdict (the master key's curve is drawn in grey for comparison).",
                escape(a)
            );
        }
        (Some(a), None) => {
            let _ = write!(
                o,
                "under our master key. The verdict rests on account <b>{}</b>'s key, not the master key: its final strength is the marked point (this report does not record the per-account curve).",
                escape(a)
            );
        }
        (None, _) => o.push_str("under our master key."),
    }
    o.push_str(
        " Text without the watermark stays near zero; the dashed line is the threshold.</p>",
    );
    let curve_points = |c: &[crate::engine::CurvePoint]| -> Vec<(f64, f64)> {
        std::iter::once((0.0, 0.0))
            .chain(c.iter().map(|p| (p.scored_tokens as f64, -p.log10_p)))
            .collect()
    };
    let account_name = verdict_account
        .map(|a| format!("suspect corpus (account {a}'s key)"))
        .unwrap_or_default();
    let (shown_key, shown_curve) = match account_curve {
        Some(a) => (ev.strongest_key.as_str(), &a.curve),
        None => ("master", &report.curve),
    };
    let mut series = match account_curve {
        Some(a) => vec![
            Series {
                name: &account_name,
                color: "#b03a2e",
                points: curve_points(&a.curve),
            },
            Series {
                name: "suspect corpus (master key)",
                color: "#999999",
                points: curve_points(&report.curve),
            },
        ],
        None => vec![Series {
            name: "suspect corpus (master key)",
            color: "#b03a2e",
            points: curve_points(&report.curve),
        }],
    };
    if let Some(ctl) = &report.control {
        series.push(Series {
            name: "control corpus",
            color: "#2e86c1",
            points: std::iter::once((0.0, 0.0))
                .chain(
                    ctl.curve
                        .iter()
                        .map(|p| (p.scored_tokens as f64, -p.log10_p)),
                )
                .collect(),
        });
    }
    if let (Some(a), None) = (report.accounts.first(), account_curve) {
        if verdict_account.is_some() {
            series.push(Series {
                name: "strongest account's key (final)",
                color: "#7d3c98",
                points: vec![(c.scored_tokens as f64, -a.log10_p)],
            });
        }
    }
    // The plotted curve of the verdict's key as data, for readers and tools: HTML-escaped JSON in
    // a hidden element (the page carries no script element at all, not even a data block).
    let data = serde_json::json!({"key": shown_key, "curve": shown_curve});
    let _ = write!(
        o,
        r#"<pre hidden id="evidence-curve-data">{}</pre>"#,
        escape(&data.to_string())
    );
    o.push_str(&line_plot(
        "Cumulative evidence",
        "distinct token pairs scored",
        "−log10 p",
        &series,
        Some((threshold, "alpha")),
        false,
    ));

    // QQ plot from the histogram: rank c(t) has observed −log10 p ≈ t.
    let rp = &report.record_p_values;
    let mut qq = Vec::new();
    let n = rp.count as f64;
    let mut above: u64 = rp.counts.iter().sum();
    for (i, &k) in rp.counts.iter().enumerate() {
        if above == 0 {
            break;
        }
        let t = i as f64 * rp.bin_width;
        qq.push((-(above as f64 / (n + 1.0)).log10(), t));
        above -= k;
    }
    o.push_str("<h2>Individual records</h2><p>Each record tested alone (own dedup). Without the watermark, per-record p-values are uniform and the curve follows the dashed diagonal; a curve above it means more small p-values than chance allows. ");
    let _ = write!(o, "{} records have a p-value.</p>", rp.count);
    o.push_str(&line_plot(
        "Per-record p-values against the uniform (QQ)",
        "expected −log10 p (uniform)",
        "observed −log10 p",
        &[Series {
            name: "records",
            color: "#7d3c98",
            points: qq,
        }],
        None,
        true,
    ));

    if !report.accounts.is_empty() {
        let a = report.attribution.as_ref();
        o.push_str("<h2>Accounts</h2>");
        if let Some(a) = a {
            let _ = write!(
                o,
                "<p>{} accounts tested, each over the same distinct pairs under its own key. Best: <b>{}</b>. The table's p-values are corrected for the {} accounts (Bonferroni: multiplied by the number of accounts); the verdict above corrects for all {} keys (ours and one per account): p = {}.</p>",
                a.accounts_tested,
                escape(&a.best_account),
                a.accounts_tested,
                ev.keys_tested,
                escape(&format_p(ev.log10_p))
            );
        }
        let top: Vec<(String, f64)> = report
            .accounts
            .iter()
            .take(20)
            .map(|r| (r.account.clone(), -r.adjusted_log10_p))
            .collect();
        o.push_str(&bar_plot("Account ranking", &top, threshold));
        o.push_str("<table><tr><th>rank</th><th>account</th><th>p corrected for the accounts</th><th>log10 p (uncorrected)</th><th>statistic</th></tr>");
        for r in report.accounts.iter().take(100) {
            let _ = write!(
                o,
                "<tr><td class=num>{}</td><td>{}</td><td>{}</td><td class=num>{:.4}</td><td>{}</td></tr>",
                r.rank,
                escape(&r.account),
                escape(&format_p(r.adjusted_log10_p)),
                r.log10_p,
                escape(&serde_json::to_string(&r.statistic).unwrap_or_default())
            );
        }
        o.push_str("</table>");
        if report.accounts.len() > 100 {
            let _ = write!(
                o,
                "<p class=small>{} more in the JSON report.</p>",
                report.accounts.len() - 100
            );
        }
    }

    o.push_str(
        "<h2>Every record accounted for</h2><table><tr><th>status</th><th>records</th></tr>",
    );
    let _ = write!(
        o,
        "<tr><td>scored</td><td class=num>{}</td></tr>",
        c.records_scored
    );
    for (k, v) in &report.skipped_reasons {
        let _ = write!(
            o,
            "<tr><td>skipped: {}</td><td class=num>{}</td></tr>",
            escape(k),
            v
        );
    }
    o.push_str("</table>");

    o.push_str("<h2>Input files</h2><table><tr><th>file</th><th>format</th><th>records</th><th>bytes</th><th>SHA-256</th></tr>");
    let mut inputs: Vec<(&str, &crate::InputSummary)> =
        report.inputs.iter().map(|i| ("suspect", i)).collect();
    if let Some(ctl) = &report.control {
        inputs.extend(ctl.inputs.iter().map(|i| ("control", i)));
    }
    for (role, i) in inputs {
        let _ = write!(
            o,
            "<tr><td>{} <span class=small>({})</span></td><td>{}</td><td class=num>{}</td><td class=num>{}</td><td class=hash>{}</td></tr>",
            escape(&i.path),
            role,
            escape(&format!("{:?}/{:?}", i.format, i.compression).to_lowercase()),
            i.records,
            i.bytes,
            escape(&i.sha256)
        );
    }
    o.push_str("</table>");

    o.push_str("<h2>Parameters</h2><table>");
    for (k, v) in parameter_rows(report) {
        row(&mut o, &k, &escape(&v));
    }
    o.push_str("</table>");

    let _ = write!(
        o,
        "<h2>Integrity</h2><p>The JSON report below is sealed with an HMAC-SHA256 under a key derived from the provider's secret; <code>provmark verify-report REPORT.json --profile PROFILE</code> confirms it is unaltered. This page is generated from that JSON.</p><table><tr><th>MAC</th><td class=hash>{}</td></tr></table><details><summary>The JSON report</summary><pre id=\"report-json\">{}</pre></details>\n</body></html>\n",
        escape(report.mac.as_deref().unwrap_or("(unsealed)")),
        escape(report_json)
    );
    o
}
