//! The evidence report: its JSON form, the plain-language verdict, and the MAC that seals it.
//!
//! # Sealing
//!
//! The JSON report is the evidence; the HTML page is a rendering of it (it embeds the JSON and
//! its MAC, and can be regenerated from the JSON alone). The MAC is
//! `HMAC-SHA256(derive(master, "report-mac"), canonical)` where `canonical` is the report
//! *without* its `mac` member, serialised compactly with object keys in byte order, numbers as
//! `serde_json` prints them (shortest round-trip form) and no insignificant whitespace.
//!
//! The file itself is written in a canonical *pretty* form (sorted keys, two-space indent, `\n`
//! line ends) that includes the `mac`. [`verify_report`] accepts a file only if its MAC verifies
//! (constant-time) **and** its bytes are exactly that canonical form, so a one-byte edit
//! anywhere — even in whitespace — reports the file as altered.

use std::collections::BTreeMap;
use std::path::Path;

use provmark_core::{Profile, Scheme, TokenizerSpec};
use provmark_detect::tail::{bonferroni, TailProb};
use provmark_detect::Statistic;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::engine::{AccountResult, CurvePoint, InputSummary, RecordPValues};
use crate::error::{Result, ScanError};

/// `format` tag of every scan report.
pub const REPORT_FORMAT: &str = "provmark-scan-report";
/// Version of the report layout.
pub const REPORT_VERSION: u32 = 1;
/// Purpose label of the report MAC key (`secret().mac(MAC_LABEL, …)`).
pub const MAC_LABEL: &str = "report-mac";

/// The pooled test over one corpus.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CorpusResult {
    /// `"watermarked"` when `p ≤ alpha`, else `"not_watermarked"`.
    pub verdict: String,
    /// The p-value (0 once below the f64 range; `log10_p` stays exact).
    pub p_value: f64,
    /// log10 of the exact p-value.
    pub log10_p: f64,
    /// Significance level.
    pub alpha: f64,
    /// Distinct (context, token) pairs scored across the corpus.
    pub scored_tokens: u64,
    /// Tokens produced by the tokenizer over all records.
    pub total_tokens: u64,
    /// Records read.
    pub records_total: u64,
    /// Records scored.
    pub records_scored: u64,
    /// Records skipped (see `skipped_reasons`).
    pub records_skipped: u64,
    /// The raw statistic and its null, enough to recompute the p-value.
    pub statistic: Statistic,
}

/// The control corpus, scanned with the same settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ControlResult {
    /// Its pooled test.
    pub corpus: CorpusResult,
    /// Its skipped records by reason.
    pub skipped_reasons: BTreeMap<String, u64>,
    /// Its input files.
    pub inputs: Vec<InputSummary>,
    /// Its evidence curve.
    pub curve: Vec<CurvePoint>,
}

/// Best account after the family-wise correction.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Attribution {
    /// Accounts tested.
    pub accounts_tested: u64,
    /// `"bonferroni"`: adjusted p = min(1, accounts_tested · p).
    pub correction: String,
    /// The top-ranked account.
    pub best_account: String,
    /// Its adjusted p-value.
    pub adjusted_p_value: f64,
    /// Its adjusted log10 p.
    pub adjusted_log10_p: f64,
    /// Whether the adjusted p is ≤ alpha.
    pub significant: bool,
}

/// The overall decision: the master key and every account key were tested; the smallest
/// p-value is adjusted for all of them (Bonferroni over `keys_tested`). Without accounts this is
/// the master-key test itself. `scan` exits 0 exactly when this verdict is `"watermarked"`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    /// `"watermarked"` or `"not_watermarked"` at alpha.
    pub verdict: String,
    /// Keys tested: 1 (master) + accounts.
    pub keys_tested: u64,
    /// The strongest key: `"master"` or `"account:<id>"`.
    pub strongest_key: String,
    /// Its p-value adjusted for `keys_tested` tests.
    pub p_value: f64,
    /// log10 of the adjusted p-value.
    pub log10_p: f64,
}

/// The supervised-mode filter (`--filter-from`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FilterInfo {
    /// The provider's own outputs that define the scored contexts.
    pub inputs: Vec<InputSummary>,
    /// Records read from them.
    pub records: u64,
    /// Distinct contexts found.
    pub contexts: u64,
}

/// Every setting that influences the result.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Parameters {
    /// Significance level.
    pub alpha: f64,
    /// JSONL/Parquet text field.
    pub field: String,
    /// Prompt field (contexts occurring in a record's prompt are not scored).
    pub prompt_field: Option<String>,
    /// Record id field.
    pub id_field: Option<String>,
    /// Minimum tokens per record (shorter records are skipped as `too_few_tokens`).
    pub min_tokens: usize,
    /// Context width h of the profile.
    pub context_width: usize,
    /// PRF identifier.
    pub prf: String,
    /// Dedup rule of the pooled test.
    pub dedup: String,
    /// Whether special tokens are skipped.
    pub skip_special_tokens: bool,
    /// Whether positions whose context occurs in the record's prompt are skipped.
    pub skip_prompt_contexts: bool,
    /// Supervised mode, when used.
    pub filter: Option<FilterInfo>,
    /// Points of the evidence curve (input-order bins).
    pub curve_bins: usize,
}

/// How the scan ran (does not influence the result).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunInfo {
    /// Worker threads.
    pub threads: usize,
    /// Memory budget of the dedup set, bytes.
    pub memory_budget_bytes: u64,
    /// Sorted runs spilled to disk.
    pub spilled_runs: usize,
    /// Wall-clock seconds.
    pub elapsed_seconds: f64,
}

/// A corpus scan's evidence report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Always [`REPORT_FORMAT`].
    pub format: String,
    /// Always [`REPORT_VERSION`].
    pub report_version: u32,
    /// The verdict in plain words.
    pub summary: String,
    /// The overall decision over every key tested (decides the exit status).
    pub evidence: Evidence,
    /// The pooled test over the suspect corpus.
    pub corpus: CorpusResult,
    /// Skipped records by reason (every reason listed, zeros included).
    pub skipped_reasons: BTreeMap<String, u64>,
    /// Per-account pooled tests, ranked (empty without `--accounts`).
    pub accounts: Vec<AccountResult>,
    /// The best account, adjusted for the number tested.
    pub attribution: Option<Attribution>,
    /// The control corpus, when given.
    pub control: Option<ControlResult>,
    /// SHA-256 and record count of every input file.
    pub inputs: Vec<InputSummary>,
    /// Folder entries that were not read (links to folders, dangling links), with the reason.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped_inputs: Vec<crate::input::SkippedInput>,
    /// Cumulative evidence curve in input order.
    pub curve: Vec<CurvePoint>,
    /// Per-record p-values (histogram on −log10 p).
    pub record_p_values: RecordPValues,
    /// Every parameter.
    pub parameters: Parameters,
    /// Public key id of the profile (never the key).
    pub key_id: String,
    /// Scheme and its parameters.
    pub scheme: Scheme,
    /// Tokenizer identity.
    pub tokenizer: TokenizerSpec,
    /// provmark version that wrote the report.
    pub version: String,
    /// UTC time the report was written (RFC 3339).
    pub created: String,
    /// How the scan ran.
    pub run: RunInfo,
    /// Hex HMAC-SHA256 over the canonical report without this field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac: Option<String>,
}

/// `"watermarked"` / `"not_watermarked"` for a log10 p at `alpha`.
pub fn verdict_word(log10_p: f64, alpha: f64) -> &'static str {
    if alpha > 0.0 && log10_p <= alpha.log10() {
        "watermarked"
    } else {
        "not_watermarked"
    }
}

/// A p-value for people (one format in every verb and report): see
/// [`provmark_detect::tail::format_p`].
pub use provmark_detect::tail::format_p;

fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The overall decision from the master-key test and the best account.
pub fn overall_evidence(
    corpus: &CorpusResult,
    best_account: Option<&AccountResult>,
    accounts: u64,
) -> Evidence {
    let keys = 1 + accounts;
    let (key, raw) = match best_account {
        Some(b) if b.log10_p < corpus.log10_p => (format!("account:{}", b.account), b.log10_p),
        _ => ("master".to_string(), corpus.log10_p),
    };
    let adj = bonferroni(TailProb { log10_p: raw }, keys);
    Evidence {
        verdict: verdict_word(adj.log10_p, corpus.alpha).into(),
        keys_tested: keys,
        strongest_key: key,
        p_value: adj.p_value(),
        log10_p: crate::engine::finite(adj.log10_p),
    }
}

/// The verdict in sentences a non-specialist can read.
pub fn summary_sentence(
    corpus: &CorpusResult,
    evidence: &Evidence,
    attribution: Option<&Attribution>,
    control: Option<&CorpusResult>,
) -> String {
    let scope = format!(
        "across {} distinct token pairs from {} records",
        thousands(corpus.scored_tokens),
        thousands(corpus.records_scored)
    );
    let correction = if evidence.keys_tested > 1 {
        format!(
            " after correcting for the {} keys tested (ours and one per account)",
            evidence.keys_tested
        )
    } else {
        String::new()
    };
    let mut s = if evidence.verdict == "watermarked" {
        let whose = match evidence.strongest_key.strip_prefix("account:") {
            Some(a) => format!("the watermark we gave account \"{a}\""),
            None => "our watermark".to_string(),
        };
        format!(
            "The suspect corpus carries {whose}: {scope}, a result at least this strong would arise by chance \
             with probability {}{correction}, below the agreed threshold of {}.",
            format_p(evidence.log10_p),
            corpus.alpha
        )
    } else {
        format!(
            "The scan found no evidence of our watermark: {scope}, a result at least this strong would arise \
             by chance with probability {}{correction}, which is not below the agreed threshold of {}. This \
             does not prove the corpus is free of watermarked text.",
            format_p(evidence.log10_p),
            corpus.alpha
        )
    };
    if let Some(a) = attribution {
        if a.significant && !evidence.strongest_key.starts_with("account:") {
            s.push_str(&format!(
                " Among the {} accounts tested, it points to account \"{}\" (probability {} after correcting for \
                 the number of accounts).",
                a.accounts_tested,
                a.best_account,
                format_p(a.adjusted_log10_p)
            ));
        } else if !a.significant {
            s.push_str(&format!(
                " None of the {} accounts tested stands out after correcting for the number of accounts.",
                a.accounts_tested
            ));
        }
    }
    if let Some(c) = control {
        if c.verdict == "watermarked" {
            s.push_str(&format!(
                " Caution: the clean control corpus also tested positive (probability {}), which casts doubt \
                 on this scan.",
                format_p(c.log10_p)
            ));
        } else {
            s.push_str(&format!(
                " The clean control corpus, scanned the same way, shows no such signal (probability {}).",
                format_p(c.log10_p)
            ));
        }
    }
    s
}

/// Writes `v` canonically: object keys in byte order, `serde_json` scalars; compact or pretty.
pub fn canonical_json(v: &Value, pretty: bool) -> Vec<u8> {
    let mut out = Vec::new();
    write_canonical(v, pretty, 0, &mut out);
    if pretty {
        out.push(b'\n');
    }
    out
}

fn write_canonical(v: &Value, pretty: bool, depth: usize, out: &mut Vec<u8>) {
    let newline = |out: &mut Vec<u8>, d: usize| {
        if pretty {
            out.push(b'\n');
            out.extend(std::iter::repeat_n(b' ', 2 * d));
        }
    };
    match v {
        Value::Object(m) => {
            if m.is_empty() {
                out.extend_from_slice(b"{}");
                return;
            }
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            out.push(b'{');
            for (i, k) in keys.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                newline(out, depth + 1);
                out.extend_from_slice(serde_json::to_string(k).unwrap_or_default().as_bytes());
                out.push(b':');
                if pretty {
                    out.push(b' ');
                }
                write_canonical(&m[*k], pretty, depth + 1, out);
            }
            newline(out, depth);
            out.push(b'}');
        }
        Value::Array(a) => {
            if a.is_empty() {
                out.extend_from_slice(b"[]");
                return;
            }
            out.push(b'[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                newline(out, depth + 1);
                write_canonical(x, pretty, depth + 1, out);
            }
            newline(out, depth);
            out.push(b']');
        }
        scalar => {
            out.extend_from_slice(serde_json::to_string(scalar).unwrap_or_default().as_bytes())
        }
    }
}

impl Report {
    /// Computes the MAC under the profile's report key and returns the file bytes (canonical
    /// pretty JSON with the `mac` member). `self.mac` is set too.
    pub fn seal(&mut self, profile: &Profile) -> Result<Vec<u8>> {
        self.mac = None;
        let value = serde_json::to_value(&*self)
            .map_err(|e| ScanError::Internal(format!("report serialisation: {e}")))?;
        let tag = profile
            .secret()
            .mac(MAC_LABEL, &canonical_json(&value, false));
        self.mac = Some(hex::encode(tag));
        let full = serde_json::to_value(&*self)
            .map_err(|e| ScanError::Internal(format!("report serialisation: {e}")))?;
        Ok(canonical_json(&full, true))
    }
}

/// The outcome of [`verify_report`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verification {
    /// MAC valid and bytes canonical: the file is exactly as written.
    Intact,
    /// The file was changed after it was written; the reason says how it was detected.
    Altered(String),
}

/// Checks a report file against a profile: the MAC in constant time, then the canonical form.
/// Errors (exit 2 in the CLI) when the file is not a report at all or was made with another key.
pub fn verify_report(path: &Path, profile: &Profile) -> Result<Verification> {
    let bytes = std::fs::read(path).map_err(|e| ScanError::io(path, e))?;
    verify_report_bytes(&bytes, path, profile)
}

/// [`verify_report`] on bytes already read; `path` names the source in errors.
pub fn verify_report_bytes(bytes: &[u8], path: &Path, profile: &Profile) -> Result<Verification> {
    let bad = |reason: &str| ScanError::Report {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    };
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace()).copied();
    let names_format = bytes
        .windows(REPORT_FORMAT.len())
        .any(|w| w == REPORT_FORMAT.as_bytes());
    let mut value: Value = match serde_json::from_slice(bytes) {
        Ok(v) => v,
        // The HTML page embeds the JSON report, so it names the format too; it is not the file
        // the MAC covers.
        Err(_) if first == Some(b'<') => return Err(bad(
            "an HTML (or XML) page, not the JSON report: verify the file written by `scan --out`",
        )),
        // A report whose JSON no longer parses was altered (or truncated) — if it still looks
        // like one of ours.
        Err(_) if first == Some(b'{') && names_format => {
            return Ok(Verification::Altered(
                "the file is no longer valid JSON".into(),
            ));
        }
        Err(_) => return Err(bad("not JSON")),
    };
    let obj = value
        .as_object_mut()
        .ok_or_else(|| bad("not a JSON object"))?;
    if obj.get("format").and_then(Value::as_str) != Some(REPORT_FORMAT) {
        if names_format {
            return Ok(Verification::Altered(
                "the `format` member was changed".into(),
            ));
        }
        return Err(bad("missing \"format\": \"provmark-scan-report\""));
    }
    let mac = obj.remove("mac");
    let Some(tag_hex) = mac.as_ref().and_then(Value::as_str) else {
        return Ok(Verification::Altered("the `mac` member is missing".into()));
    };
    // The MAC is written as lowercase hex: any other spelling of it is a change to the bytes
    // (found by the report_json fuzz target: an uppercased digit verified, yet the report no
    // longer re-sealed to its own bytes).
    if tag_hex.bytes().any(|b| b.is_ascii_uppercase()) {
        return Ok(Verification::Altered(
            "the `mac` member is not lowercase hex as provmark writes it".into(),
        ));
    }
    let Ok(tag) = hex::decode(tag_hex) else {
        return Ok(Verification::Altered("the `mac` member is not hex".into()));
    };
    let key_id = obj
        .get("key_id")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    if !key_id.is_empty() && key_id != profile.key_id().0 {
        // Another key sealed it (or its key_id was edited): this profile cannot tell whether
        // the report is intact. That is a usage error, not evidence of alteration.
        return Err(ScanError::WrongProfile {
            path: path.to_path_buf(),
            report_key: key_id,
            profile_key: profile.key_id().0.clone(),
        });
    }
    let mac_ok = profile
        .secret()
        .verify_mac(MAC_LABEL, &canonical_json(&value, false), &tag);
    if !mac_ok {
        return Ok(Verification::Altered(
            "MAC does not verify: the report content was changed".into(),
        ));
    }
    if let (Some(obj), Some(m)) = (value.as_object_mut(), mac) {
        obj.insert("mac".into(), m);
    }
    if canonical_json(&value, true) != bytes {
        return Ok(Verification::Altered(
            "content and MAC are intact but the bytes differ from the canonical form (reformatted or edited whitespace)".into(),
        ));
    }
    Ok(Verification::Intact)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn formats_p_values() {
        assert_eq!(format_p(0.0), "1");
        assert_eq!(format_p((0.43f64).log10()), "0.43");
        assert_eq!(format_p(-6.0), "1.0e-6");
        assert_eq!(format_p(-23.585), "2.6e-24");
        assert_eq!(format_p(-411.9999999), "1.0e-412");
    }

    #[test]
    fn canonical_sorts_keys_and_round_trips() {
        let v: Value =
            serde_json::from_str(r#"{"b": [1, 2.5, {"z": null, "a": "x"}], "a": 1e-300}"#).unwrap();
        let c = canonical_json(&v, false);
        assert_eq!(
            std::str::from_utf8(&c).unwrap(),
            r#"{"a":1e-300,"b":[1,2.5,{"a":"x","z":null}]}"#
        );
        let pretty = canonical_json(&v, true);
        let back: Value = serde_json::from_slice(&pretty).unwrap();
        assert_eq!(canonical_json(&back, true), pretty);
    }
}
