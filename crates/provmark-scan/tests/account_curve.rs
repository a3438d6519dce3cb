//! Issue 15, defect 6: when an account key, not the master key, carries the evidence, the
//! report records that key's own evidence curve and the HTML page plots it (and embeds it as
//! data) as the curve behind the verdict; otherwise the page shows the master key's curve.
#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use provmark_core::{Profile, Scheme, SecretKey, TokenizerSpec};
use provmark_scan::{scan, Progress, Report, ScanConfig};

const WORDS: &[&str] = &[
    "the", "model", "answer", "river", "quickly", "because", "seven", "garden", "policy", "under",
    "light", "market", "simple", "winter", "carry", "number", "across", "silver", "planet",
];

/// A corpus of 120 records of pseudo-random words.
fn corpus(dir: &std::path::Path) -> std::path::PathBuf {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut lines = Vec::new();
    for _ in 0..120 {
        let mut words = Vec::new();
        for _ in 0..40 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            words.push(WORDS[(x % WORDS.len() as u64) as usize]);
        }
        lines.push(serde_json::json!({ "text": words.join(" ") }).to_string());
    }
    let p = dir.join("c.jsonl");
    std::fs::write(&p, lines.join("\n")).unwrap();
    p
}

fn embedded_curve(html: &str) -> serde_json::Value {
    assert!(
        !html.contains("<script"),
        "the page carries no script element"
    );
    provmark_scan::html::embedded_curve(html).expect("the page embeds its curve")
}

fn check_report(r: &Report) -> bool {
    let html = provmark_scan::html::render(r, &serde_json::to_string(r).unwrap());
    let data = embedded_curve(&html);
    let best = r.accounts.first().unwrap();
    let account_wins = best.log10_p < r.corpus.log10_p;
    assert_eq!(
        r.evidence.strongest_key,
        if account_wins {
            format!("account:{}", best.account)
        } else {
            "master".into()
        }
    );
    // Only the top account can carry a curve, and only when it carries the evidence.
    assert!(r.accounts[1..].iter().all(|a| a.curve.is_empty()));
    if account_wins {
        let c = &best.curve;
        // At most 50 points, each on a point of the master curve (same records read, same
        // pairs scored), ending where it ends; its end is the account's own test.
        assert!(!c.is_empty() && c.len() <= 50 && c.len() <= r.curve.len());
        for a in c {
            let m = r.curve.iter().find(|m| m.records == a.records).unwrap();
            assert_eq!(a.scored_tokens, m.scored_tokens);
        }
        assert_eq!(c.last().unwrap().records, r.curve.last().unwrap().records);
        assert!(c.windows(2).all(|w| w[0].records < w[1].records));
        assert_eq!(c.last().unwrap().log10_p, best.log10_p);
        assert_ne!(c.last().unwrap().log10_p, r.curve.last().unwrap().log10_p);
        assert_eq!(data["key"], format!("account:{}", best.account));
        assert_eq!(data["curve"], serde_json::to_value(c).unwrap());
        assert!(
            html.contains(&format!(
                "suspect corpus (account {}&#39;s key)",
                best.account
            )) || html.contains(&format!("suspect corpus (account {}'s key)", best.account))
        );
        assert!(html.contains("which carries the verdict"));
    } else {
        assert!(best.curve.is_empty());
        assert_eq!(data["key"], "master");
        assert_eq!(data["curve"], serde_json::to_value(&r.curve).unwrap());
    }
    account_wins
}

#[test]
fn the_curve_shown_is_the_key_behind_the_verdict() {
    let dir = tempfile::tempdir().unwrap();
    let input = corpus(dir.path());
    let (mut account_won, mut master_won) = (0, 0);
    // Unwatermarked text: whichever key has the smallest p carries the (non-)evidence. With
    // two accounts per scan an account wins about two times in three, the master key otherwise;
    // these fixed keys give both cases (asserted below), for both schemes.
    for seed in 0..10u8 {
        let scheme = if seed % 2 == 0 {
            Scheme::DEFAULT_GREEN
        } else {
            Scheme::Gumbel
        };
        let profile = Profile::from_secret(
            SecretKey::from_bytes([seed + 1; 32]),
            scheme,
            2,
            TokenizerSpec::default_openai(),
        )
        .unwrap();
        let mut cfg = ScanConfig::new(vec![input.clone()]);
        cfg.threads = 2;
        cfg.accounts = vec!["acct-0".into(), "acct-1".into()];
        let r = scan(&profile, &cfg, &Progress::default()).unwrap();
        if check_report(&r) {
            account_won += 1;
        } else {
            master_won += 1;
        }
        // The curve travels in the sealed JSON and survives a round trip.
        let again: Report = serde_json::from_str(&serde_json::to_string(&r).unwrap()).unwrap();
        assert_eq!(again.accounts, r.accounts);
    }
    assert!(
        account_won > 0 && master_won > 0,
        "{account_won} / {master_won}"
    );
}

#[test]
fn a_report_without_the_account_curve_still_renders() {
    // Reports written before the per-account curve was recorded: the page says so and marks
    // the account's final strength instead.
    let dir = tempfile::tempdir().unwrap();
    let input = corpus(dir.path());
    for seed in 0..6u8 {
        let profile = Profile::from_secret(
            SecretKey::from_bytes([seed + 1; 32]),
            Scheme::DEFAULT_GREEN,
            2,
            TokenizerSpec::default_openai(),
        )
        .unwrap();
        let mut cfg = ScanConfig::new(vec![input.clone()]);
        cfg.accounts = (0..9).map(|i| format!("acct-{i}")).collect();
        let mut r = scan(&profile, &cfg, &Progress::default()).unwrap();
        if r.accounts[0].curve.is_empty() {
            continue;
        }
        r.accounts[0].curve.clear();
        let html = provmark_scan::html::render(&r, &serde_json::to_string(&r).unwrap());
        assert!(html.contains("does not record the per-account curve"));
        assert_eq!(embedded_curve(&html)["key"], "master");
        return;
    }
    panic!("no account carried the evidence under any of the keys");
}
