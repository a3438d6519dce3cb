//! The model worker: one thread owns the model and answers queued requests one at a time, each
//! token through the serving library under the caller's account key, and appends every answer
//! to the served log before it counts as served.

use std::collections::HashMap;
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use provmark_core::Profile;
use provmark_detect::PairFingerprinter;
use provmark_embed::Embedder;
use provmark_model::{ChatTemplate, Llama, Sampling, StreamFinish};
use provmark_tokenize::Tokenizer;
use tokio::sync::mpsc;

use crate::api::{ApiError, Usage};
use crate::served_log::{context_fingerprints, ServedLog, ServedRecord, FORMAT};

/// A per-account budget of generated tokens per time window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quota {
    /// Tokens an account may be served per window.
    pub tokens: u64,
    /// The window (fixed, starting at the account's first request in it).
    pub window: Duration,
}

/// Token use per account (in memory: a restart starts every window afresh).
#[derive(Debug, Default)]
pub struct QuotaBook {
    used: Mutex<HashMap<String, (Instant, u64)>>,
}

impl QuotaBook {
    /// Tokens `account` may still be served now.
    pub fn remaining(&self, quota: &Quota, account: &str) -> u64 {
        let mut used = self.used.lock().unwrap_or_else(|p| p.into_inner());
        match used.get_mut(account) {
            Some((start, n)) => {
                if start.elapsed() >= quota.window {
                    *start = Instant::now();
                    *n = 0;
                }
                quota.tokens.saturating_sub(*n)
            }
            None => quota.tokens,
        }
    }

    /// Records `tokens` served to `account`.
    pub fn charge(&self, quota: &Quota, account: &str, tokens: u64) {
        let mut used = self.used.lock().unwrap_or_else(|p| p.into_inner());
        let e = used
            .entry(account.to_string())
            .or_insert((Instant::now(), 0));
        if e.0.elapsed() >= quota.window {
            *e = (Instant::now(), 0);
        }
        e.1 += tokens;
    }
}

/// What the worker tells a request's handler.
#[derive(Debug)]
pub enum Event {
    /// The request left the queue; text follows.
    Started,
    /// The next piece of the answer's text.
    Text(String),
    /// The answer is complete (and logged).
    Done {
        /// Why it ended.
        finish: StreamFinish,
        /// Token counts.
        usage: Usage,
    },
    /// The request failed (before or during generation).
    Failed(ApiError),
}

/// One queued request.
#[derive(Debug)]
pub struct Job {
    /// The account it is served to.
    pub account: String,
    /// `chatcmpl-…`.
    pub request_id: String,
    /// The conversation in the chat template.
    pub prompt_ids: Vec<u32>,
    /// Sampling (`max_tokens` is cut to the account's remaining quota).
    pub sampling: Sampling,
    /// Stop sequences.
    pub stop: Vec<String>,
    /// Where events go; closed when the client went away.
    pub events: mpsc::UnboundedSender<Event>,
}

/// Everything the worker owns.
pub struct Worker {
    pub(crate) model: Llama,
    pub(crate) tok: Arc<Tokenizer>,
    pub(crate) template: ChatTemplate,
    pub(crate) profile: Profile,
    pub(crate) watermark: bool,
    pub(crate) log: ServedLog,
    pub(crate) log_text: bool,
    pub(crate) quota: Option<Quota>,
    pub(crate) book: Arc<QuotaBook>,
    pub(crate) draining: Arc<AtomicBool>,
    /// True while an answer is being generated (`GET /health` shows it).
    pub(crate) generating: Arc<AtomicBool>,
}

fn internal(message: String) -> ApiError {
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "server_error",
        None,
        message,
    )
}

impl Worker {
    /// Answers jobs until every sender is gone.
    pub fn run(mut self, mut jobs: mpsc::Receiver<Job>) {
        let vocab = self.model.config().vocab_size;
        let fingerprinter = PairFingerprinter::for_profile(&self.profile);
        let key_id = self.profile.key_id().0.clone();
        let h = self.profile.context_width;
        // Key derivation once per account, never per token.
        let mut embedders: HashMap<String, Embedder> = HashMap::new();
        while let Some(mut job) = jobs.blocking_recv() {
            if job.events.is_closed() {
                continue; // the client left while queued: nothing was served
            }
            if self.draining.load(Ordering::SeqCst) {
                let _ = job.events.send(Event::Failed(ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "server_error",
                    Some("shutting_down"),
                    "the server is shutting down; retry on another instance",
                )));
                continue;
            }
            if let Some(q) = &self.quota {
                let left = self.book.remaining(q, &job.account);
                if left == 0 {
                    let _ = job.events.send(Event::Failed(quota_error()));
                    continue;
                }
                job.sampling.max_tokens = job.sampling.max_tokens.min(left as usize);
            }
            let embedder = if self.watermark {
                if !embedders.contains_key(&job.account) {
                    match Embedder::from_profile(&self.profile, Some(&job.account), vocab) {
                        Ok(e) => {
                            let e =
                                e.with_skip_repeated_contexts(self.profile.skip_repeated_contexts);
                            embedders.insert(job.account.clone(), e);
                        }
                        Err(e) => {
                            let _ = job
                                .events
                                .send(Event::Failed(internal(format!("watermark key: {e}"))));
                            continue;
                        }
                    }
                }
                embedders.get(&job.account)
            } else {
                None
            };
            let _ = job.events.send(Event::Started);
            self.generating.store(true, Ordering::SeqCst);
            let events = job.events.clone();
            let answer = provmark_model::stream_answer(
                &self.model,
                &self.tok,
                &self.template,
                embedder,
                provmark_model::StreamRequest {
                    prompt_ids: &job.prompt_ids,
                    sampling: &job.sampling,
                    stop: &job.stop,
                },
                &mut |piece| match events.send(Event::Text(piece.to_string())) {
                    Ok(()) => ControlFlow::Continue(()),
                    Err(_) => ControlFlow::Break(()),
                },
            );
            self.generating.store(false, Ordering::SeqCst);
            let answer = match answer {
                Ok(a) => a,
                Err(e) => {
                    eprintln!("provmark serve: {} failed: {e}", job.request_id);
                    let _ = job
                        .events
                        .send(Event::Failed(internal(format!("generation failed: {e}"))));
                    continue;
                }
            };
            if let Some(q) = &self.quota {
                self.book.charge(q, &job.account, answer.ids.len() as u64);
            }
            let finish = crate::api::finish_reason(answer.finish);
            let record = ServedRecord {
                format: FORMAT,
                time: humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string(),
                request_id: &job.request_id,
                account: &job.account,
                key_id: &key_id,
                context_width: h,
                watermarked: embedder.is_some(),
                prompt_tokens: job.prompt_ids.len(),
                completion_tokens: answer.ids.len(),
                finish,
                context_fingerprints: context_fingerprints(&fingerprinter, &answer.ids, h),
                text: self.log_text.then_some(answer.text.as_str()),
            };
            if let Err(e) = self.log.append(&record) {
                // An answer that cannot be recorded is not handed out (non-streaming) and the
                // stream ends with an error: the log must hold everything served.
                eprintln!("provmark serve: cannot write the served log: {e}");
                let _ = job.events.send(Event::Failed(internal(
                    "the served log cannot be written".into(),
                )));
                continue;
            }
            eprintln!(
                "provmark serve: {} account={} tokens={} finish={finish}",
                job.request_id,
                job.account,
                answer.ids.len()
            );
            let _ = job.events.send(Event::Done {
                finish: answer.finish,
                usage: Usage {
                    prompt_tokens: job.prompt_ids.len(),
                    completion_tokens: answer.ids.len(),
                    total_tokens: job.prompt_ids.len() + answer.ids.len(),
                },
            });
        }
    }
}

/// 429 for an account over its token quota.
pub fn quota_error() -> ApiError {
    ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "insufficient_quota",
        Some("insufficient_quota"),
        "this account has used its token quota for the current window",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotas_count_per_account_and_reset_with_the_window() {
        let q = Quota {
            tokens: 10,
            window: Duration::from_secs(3600),
        };
        let book = QuotaBook::default();
        assert_eq!(book.remaining(&q, "a"), 10);
        book.charge(&q, "a", 7);
        assert_eq!(book.remaining(&q, "a"), 3);
        assert_eq!(book.remaining(&q, "b"), 10);
        book.charge(&q, "a", 7);
        assert_eq!(book.remaining(&q, "a"), 0);
        let instant = Quota {
            tokens: 10,
            window: Duration::ZERO,
        };
        assert_eq!(
            book.remaining(&instant, "a"),
            10,
            "a new window starts afresh"
        );
    }
}
