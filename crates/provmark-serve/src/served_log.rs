//! The served log: one JSON line per answer, appended and synced before the answer counts as
//! served, rotated by size, read directly by `provmark scan --filter-from`.
//!
//! A line holds the time, account, request id, token counts, why the answer ended, and the keyed
//! context fingerprints of every (context, token) pair served — never the text unless the
//! operator asks for it (`--log-text`), never an API key. The fingerprints are SipHash-1-3 under a
//! key derived from the profile's secret (the key scan's dedup uses): without the profile they
//! reveal nothing about the tokens; with it, scan can restrict a test to our served contexts.
//!
//! Crash safety: each line is one `write` to a file opened for appending, followed by
//! `fdatasync`; a killed process therefore leaves whole lines, plus at most the answer it was
//! generating (never written). Should a power loss tear a line, reopening the log ends it with a
//! newline, and readers skip the torn line.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use provmark_detect::PairFingerprinter;
use serde::Serialize;

use crate::{Result, ServeError};

/// The `format` field of every line (`provmark_scan::SERVED_LOG_FORMAT`).
pub const FORMAT: &str = "provmark-served/v1";

/// One served answer.
#[derive(Debug, Serialize)]
pub struct ServedRecord<'a> {
    /// Always [`FORMAT`].
    pub format: &'static str,
    /// RFC 3339, UTC.
    pub time: String,
    /// The request id returned to the client (`chatcmpl-…`).
    pub request_id: &'a str,
    /// The account the answer went to.
    pub account: &'a str,
    /// The profile's key id (fingerprints are keyed by that profile).
    pub key_id: &'a str,
    /// The profile's context width h.
    pub context_width: usize,
    /// False when the server ran with `--no-watermark`.
    pub watermarked: bool,
    /// Tokens of the prompt (chat template applied).
    pub prompt_tokens: usize,
    /// Tokens generated.
    pub completion_tokens: usize,
    /// `stop`, `length` or `cancelled` (the client went away).
    pub finish: &'a str,
    /// Context fingerprints (16 hex digits) of every h-token window of the answer's tokens: the
    /// contexts of the (context, token) pairs served, as `scan`'s supervised filter keys them.
    pub context_fingerprints: Vec<String>,
    /// The answer's text, only with `--log-text`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<&'a str>,
}

/// The context fingerprints of every `h`-token window of `ids`.
pub fn context_fingerprints(fp: &PairFingerprinter, ids: &[u32], h: usize) -> Vec<String> {
    if h == 0 {
        return Vec::new();
    }
    ids.windows(h)
        .map(|w| format!("{:016x}", fp.context(w)))
        .collect()
}

/// An open served log.
#[derive(Debug)]
pub struct ServedLog {
    path: PathBuf,
    file: File,
    size: u64,
    rotate_bytes: u64,
}

fn open_append(path: &Path) -> Result<File> {
    let mut opts = OpenOptions::new();
    opts.append(true).create(true).read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts.open(path).map_err(|e| ServeError::io(path, e))
}

impl ServedLog {
    /// Opens (or creates) the log at `path`; a file over `rotate_bytes` moves aside to
    /// `NAME.N.EXT` (the next free N) before a line would take it past the limit.
    pub fn open(path: &Path, rotate_bytes: u64) -> Result<ServedLog> {
        let file = open_append(path)?;
        let io = |e| ServeError::io(path, e);
        let size = file.metadata().map_err(io)?.len();
        let mut log = ServedLog {
            path: path.to_path_buf(),
            file,
            size,
            rotate_bytes: rotate_bytes.max(1),
        };
        if size > 0 {
            // End a torn last line (power loss mid-write) so the next line starts clean.
            let mut last = [0u8; 1];
            log.file.seek(SeekFrom::End(-1)).map_err(io)?;
            log.file.read_exact(&mut last).map_err(io)?;
            if last[0] != b'\n' {
                log.write_line(b"\n")?;
            }
        }
        Ok(log)
    }

    /// The path lines are appended to.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one record and syncs it to disk.
    pub fn append(&mut self, record: &ServedRecord<'_>) -> Result<()> {
        let mut line = serde_json::to_vec(record)
            .map_err(|e| ServeError::Config(format!("cannot encode a served-log line: {e}")))?;
        line.push(b'\n');
        if self.size > 0 && self.size + line.len() as u64 > self.rotate_bytes {
            self.rotate()?;
        }
        self.write_line(&line)
    }

    fn write_line(&mut self, line: &[u8]) -> Result<()> {
        let io = |e| ServeError::io(&self.path, e);
        // One write call per line on an append-mode file: concurrent readers and a crash see
        // whole lines.
        self.file.write_all(line).map_err(io)?;
        self.file.sync_data().map_err(io)?;
        self.size += line.len() as u64;
        Ok(())
    }

    /// The name the current file moves to: `served.jsonl` → `served.N.jsonl`.
    fn rotated_name(&self, n: u64) -> PathBuf {
        let stem = self
            .path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let name = match self.path.extension() {
            Some(ext) => format!("{stem}.{n}.{}", ext.to_string_lossy()),
            None => format!("{stem}.{n}"),
        };
        self.path.with_file_name(name)
    }

    fn rotate(&mut self) -> Result<()> {
        let mut n = 1;
        while self.rotated_name(n).exists() {
            n += 1;
        }
        let to = self.rotated_name(n);
        std::fs::rename(&self.path, &to).map_err(|e| ServeError::io(&to, e))?;
        self.file = open_append(&self.path)?;
        self.size = 0;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record<'a>(id: &'a str, fps: Vec<String>) -> ServedRecord<'a> {
        ServedRecord {
            format: FORMAT,
            time: "2026-01-01T00:00:00Z".into(),
            request_id: id,
            account: "alice",
            key_id: "k",
            context_width: 2,
            watermarked: true,
            prompt_tokens: 3,
            completion_tokens: 4,
            finish: "stop",
            context_fingerprints: fps,
            text: None,
        }
    }

    #[test]
    fn lines_append_rotate_and_a_torn_tail_is_ended() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("served.jsonl");
        let mut log = ServedLog::open(&path, 400).expect("open");
        for i in 0..6 {
            log.append(&record(
                &format!("r{i}"),
                vec!["00000000000000aa".into(); 4],
            ))
            .expect("append");
        }
        drop(log);
        let rotated = dir.path().join("served.1.jsonl");
        assert!(rotated.exists(), "rotated by size");
        let mut all = Vec::new();
        let files: Vec<PathBuf> = std::fs::read_dir(dir.path())
            .expect("dir")
            .map(|e| e.expect("entry").path())
            .collect();
        assert!(files.len() >= 3, "{files:?}");
        for p in &files {
            let t = std::fs::read_to_string(p).expect("read");
            // A line never takes a file past the limit, unless it is the file's only line.
            assert!(t.len() <= 400 || t.lines().count() == 1, "{}", p.display());
            for l in t.lines() {
                let v: serde_json::Value = serde_json::from_str(l).expect("whole lines");
                all.push(v["request_id"].as_str().expect("id").to_string());
            }
        }
        all.sort();
        assert_eq!(all, ["r0", "r1", "r2", "r3", "r4", "r5"]);
        // A torn last line gets its newline on reopening; the next record is whole.
        std::fs::write(&path, b"{\"format\": \"provmark-served/v1\", \"acc").expect("write");
        let mut log = ServedLog::open(&path, 1 << 20).expect("reopen");
        log.append(&record("after", Vec::new())).expect("append");
        let t = std::fs::read_to_string(&path).expect("read");
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 2);
        let v: serde_json::Value = serde_json::from_str(lines[1]).expect("whole line");
        assert_eq!(v["request_id"], "after");
        assert!(v.get("text").is_none(), "no text unless asked for");
    }

    #[test]
    fn fingerprints_cover_every_window() {
        let profile = provmark_core::Profile::from_secret(
            provmark_core::SecretKey::from_bytes([3; 32]),
            provmark_core::Scheme::DEFAULT_GREEN,
            2,
            provmark_core::TokenizerSpec::default_openai(),
        )
        .expect("profile");
        let fp = PairFingerprinter::for_profile(&profile);
        let f = context_fingerprints(&fp, &[1, 2, 3, 4], 2);
        assert_eq!(f.len(), 3);
        assert_eq!(f[1], format!("{:016x}", fp.context(&[2, 3])));
        assert!(context_fingerprints(&fp, &[1], 2).is_empty());
    }
}
