//! One answer, token by token, for a server: every step goes through the serving library's call
//! ([`Embedder::choose_batch_per_row`]), the text is handed out as it grows (holding back bytes
//! of an unfinished UTF-8 character and anything that could still become a stop sequence), and
//! the caller can end the answer after any token (a client that went away, a shutdown).
//!
//! [`crate::Generator`] answers whole prompt files in batches; this is its one-conversation,
//! streaming counterpart with OpenAI's `stop` sequences.

use std::ops::ControlFlow;

use provmark_embed::{Choice, Dist, Embedder, Scratch, SequenceState};
use provmark_tokenize::Tokenizer;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use serde::Serialize;

use crate::chat::ChatTemplate;
use crate::generate::{shape_in_place, Sampling};
use crate::llama::Llama;
use crate::{ModelError, Result};

/// Why a streamed answer ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StreamFinish {
    /// The model ended its turn, or a stop sequence appeared.
    Stop,
    /// `max_tokens` (or the model's context length) was reached.
    Length,
    /// The caller ended it (its callback returned `Break`).
    Cancelled,
}

/// A streamed answer.
#[derive(Clone, Debug, PartialEq)]
pub struct StreamedAnswer {
    /// Every token generated (without the end-of-turn token; with the tokens of a stop sequence,
    /// which were generated but not handed out).
    pub ids: Vec<u32>,
    /// The text handed out (cut before a stop sequence).
    pub text: String,
    /// Why it ended.
    pub finish: StreamFinish,
    /// Steps that carried the watermark (a repeated context is sampled plainly).
    pub watermarked_steps: usize,
}

/// One conversation to answer.
#[derive(Clone, Copy, Debug)]
pub struct StreamRequest<'a> {
    /// The conversation, already in the chat template.
    pub prompt_ids: &'a [u32],
    /// How to sample; the answer draws from the ChaCha20 stream (`seed`, 0).
    pub sampling: &'a Sampling,
    /// Strings that end the answer where they first appear (they are not part of the text).
    pub stop: &'a [String],
}

/// Decodes one answer, calling `on_text` with each new piece of text. `embedder: None` samples
/// plainly. Returning `Break` from `on_text` ends the answer as [`StreamFinish::Cancelled`] (no
/// forward pass follows).
pub fn stream_answer(
    model: &Llama,
    tok: &Tokenizer,
    template: &ChatTemplate,
    embedder: Option<&Embedder>,
    request: StreamRequest<'_>,
    on_text: &mut dyn FnMut(&str) -> ControlFlow<()>,
) -> Result<StreamedAnswer> {
    let StreamRequest {
        prompt_ids,
        sampling,
        stop,
    } = request;
    sampling.validate()?;
    let vocab = model.config().vocab_size;
    let limit = model.config().context_length;
    if prompt_ids.is_empty() {
        return Err(ModelError::Input("empty prompt".into()));
    }
    if prompt_ids.len() >= limit {
        return Err(ModelError::ContextFull { limit });
    }
    if let Some(e) = embedder {
        if e.vocab_size() != vocab {
            return Err(ModelError::Input(format!(
                "the embedder was built for {} tokens, the model has {vocab}",
                e.vocab_size()
            )));
        }
    }
    let max_tokens = sampling.max_tokens.min(limit - prompt_ids.len());
    let h = embedder.map_or(0, |e| e.context_width());
    let mut seq = embedder.map_or_else(
        || SequenceState::new(0, 0, false),
        |e| e.new_sequence(max_tokens),
    );
    let mut rng = ChaCha20Rng::seed_from_u64(sampling.seed);
    rng.set_stream(0);
    let mut scratch = Scratch::with_capacity(vocab);
    let mut masked = Vec::with_capacity(vocab);
    let mut order = Vec::new();
    let mut cache = model.new_cache();
    let mut logits = model.prefill(&mut cache, prompt_ids)?;
    let mut out = TextOut::new(stop);
    let mut ids: Vec<u32> = Vec::new();
    let mut watermarked_steps = 0;
    let finish = loop {
        masked.clear();
        masked.extend(logits.iter().map(|&l| l / sampling.temperature));
        shape_in_place(&mut masked, sampling.top_k, sampling.top_p, &mut order);
        let token = match embedder {
            Some(e) => {
                let ctx = last_context(prompt_ids, &ids, h);
                let mut choice = [Choice {
                    token: 0,
                    watermarked: false,
                }];
                e.choose_batch_per_row(
                    std::slice::from_mut(&mut seq),
                    &ctx,
                    Dist::Logits(&masked),
                    &mut scratch,
                    std::slice::from_mut(&mut rng),
                    &mut choice,
                )?;
                watermarked_steps += usize::from(choice[0].watermarked);
                choice[0].token
            }
            None => {
                provmark_embed::sample_plain(vocab, Dist::Logits(&masked), &mut scratch, &mut rng)?
            }
        };
        if template.is_end(token) {
            break StreamFinish::Stop;
        }
        ids.push(token);
        match out.advance(&tok.decode_lossy(&ids), on_text) {
            Advance::Stopped => break StreamFinish::Stop,
            Advance::Cancelled => break StreamFinish::Cancelled,
            Advance::Going => {}
        }
        if ids.len() >= max_tokens {
            break StreamFinish::Length;
        }
        logits = model.decode(std::slice::from_mut(&mut cache), &[token])?;
    };
    let finish = match finish {
        StreamFinish::Cancelled => StreamFinish::Cancelled,
        f => match out.flush(on_text) {
            ControlFlow::Continue(()) => f,
            ControlFlow::Break(()) => StreamFinish::Cancelled,
        },
    };
    Ok(StreamedAnswer {
        ids,
        text: out.text,
        finish,
        watermarked_steps,
    })
}

/// The watermark's context before the next token: the last `h` ids of prompt + answer.
fn last_context(prompt: &[u32], ids: &[u32], h: usize) -> Vec<u32> {
    if ids.len() >= h {
        return ids[ids.len() - h..].to_vec();
    }
    let need = h - ids.len();
    let mut ctx: Vec<u32> = prompt[prompt.len().saturating_sub(need)..].to_vec();
    ctx.extend_from_slice(ids);
    ctx
}

enum Advance {
    Going,
    Stopped,
    Cancelled,
}

/// The text handed out so far, and the rule for how much more may go.
struct TextOut<'a> {
    stop: &'a [String],
    /// Text handed out (always a prefix of the answer's text, cut before any stop sequence).
    text: String,
    /// The full decoded text at the last step (possibly with a held-back tail).
    pending: String,
}

impl<'a> TextOut<'a> {
    fn new(stop: &'a [String]) -> Self {
        TextOut {
            stop,
            text: String::new(),
            pending: String::new(),
        }
    }

    /// `full` is the whole answer decoded so far.
    fn advance(&mut self, full: &str, on_text: &mut dyn FnMut(&str) -> ControlFlow<()>) -> Advance {
        self.pending.clear();
        self.pending.push_str(full);
        // A stop sequence that has appeared ends the answer before it.
        let search_from = self.text.len().saturating_sub(self.longest_stop());
        let first_stop = self
            .stop
            .iter()
            .filter(|s| !s.is_empty())
            .filter_map(|s| {
                floor_char(full, search_from)
                    .and_then(|from| full[from..].find(s.as_str()).map(|i| from + i))
            })
            .min();
        if let Some(at) = first_stop {
            let at = at.max(self.text.len());
            let piece = full[self.text.len()..at].to_string();
            self.pending.truncate(at);
            return match self.emit(&piece, on_text) {
                ControlFlow::Continue(()) => Advance::Stopped,
                ControlFlow::Break(()) => Advance::Cancelled,
            };
        }
        // Hold back an unfinished character (U+FFFD at the end) and any tail that could still
        // grow into a stop sequence.
        let base = full.trim_end_matches('\u{FFFD}').len();
        let mut safe = base;
        for s in self.stop {
            // The longest proper prefix of `s` that ends the text.
            let longest = s
                .char_indices()
                .map(|(k, _)| k)
                .filter(|&k| k > 0 && full[..base].ends_with(&s[..k]))
                .max();
            if let Some(k) = longest {
                safe = safe.min(base - k);
            }
        }
        if safe <= self.text.len() {
            return Advance::Going;
        }
        let piece = full[self.text.len()..safe].to_string();
        match self.emit(&piece, on_text) {
            ControlFlow::Continue(()) => Advance::Going,
            ControlFlow::Break(()) => Advance::Cancelled,
        }
    }

    /// Hands out whatever was held back (the answer has ended without a stop sequence).
    fn flush(&mut self, on_text: &mut dyn FnMut(&str) -> ControlFlow<()>) -> ControlFlow<()> {
        if self.pending.len() > self.text.len() && self.pending.starts_with(self.text.as_str()) {
            let piece = self.pending[self.text.len()..].to_string();
            return self.emit(&piece, on_text);
        }
        ControlFlow::Continue(())
    }

    fn emit(
        &mut self,
        piece: &str,
        on_text: &mut dyn FnMut(&str) -> ControlFlow<()>,
    ) -> ControlFlow<()> {
        if piece.is_empty() {
            return ControlFlow::Continue(());
        }
        self.text.push_str(piece);
        on_text(piece)
    }

    fn longest_stop(&self) -> usize {
        self.stop.iter().map(String::len).max().unwrap_or(0)
    }
}

/// The largest char boundary ≤ `i` (None past the end).
fn floor_char(s: &str, mut i: usize) -> Option<usize> {
    if i > s.len() {
        return None;
    }
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    Some(i)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds successive full texts and collects what is handed out.
    fn run(stop: &[&str], steps: &[&str]) -> (Vec<String>, String, bool) {
        let stop: Vec<String> = stop.iter().map(|s| s.to_string()).collect();
        let mut out = TextOut::new(&stop);
        let mut pieces = Vec::new();
        let mut stopped = false;
        for s in steps {
            let r = out.advance(s, &mut |p| {
                pieces.push(p.to_string());
                ControlFlow::Continue(())
            });
            if matches!(r, Advance::Stopped) {
                stopped = true;
                break;
            }
        }
        if !stopped {
            let _ = out.flush(&mut |p| {
                pieces.push(p.to_string());
                ControlFlow::Continue(())
            });
        }
        (pieces, out.text, stopped)
    }

    #[test]
    fn text_goes_out_as_it_grows() {
        let (pieces, text, stopped) = run(&[], &["He", "Hello", "Hello world"]);
        assert_eq!(pieces, ["He", "llo", " world"]);
        assert_eq!(text, "Hello world");
        assert!(!stopped);
    }

    #[test]
    fn unfinished_characters_are_held_back() {
        let (pieces, text, _) = run(&[], &["a\u{FFFD}", "aé", "aéb"]);
        assert_eq!(pieces, ["a", "é", "b"]);
        assert_eq!(text, "aéb");
    }

    #[test]
    fn stop_sequences_cut_the_text_even_across_tokens() {
        let (pieces, text, stopped) = run(&["END"], &["one E", "one EN", "one ENDtwo"]);
        assert_eq!(pieces, ["one "]);
        assert_eq!(text, "one ");
        assert!(stopped);
        // A held-back prefix that does not become the stop sequence goes out later.
        let (pieces, text, stopped) = run(&["END"], &["one E", "one EX", "one EXIT"]);
        assert_eq!(pieces.concat(), "one EXIT");
        assert_eq!(text, "one EXIT");
        assert!(!stopped);
        // The earliest of several stop sequences wins.
        let (_, text, stopped) = run(&["b", "xyz"], &["axyzb"]);
        assert_eq!(text, "a");
        assert!(stopped);
    }

    #[test]
    fn held_back_tail_is_flushed_at_the_end() {
        let (pieces, text, stopped) = run(&["\n\n"], &["hi\n"]);
        assert_eq!(pieces, ["hi", "\n"]);
        assert_eq!(text, "hi\n");
        assert!(!stopped);
    }

    #[test]
    fn context_reaches_into_the_prompt() {
        assert_eq!(last_context(&[1, 2, 3], &[], 2), vec![2, 3]);
        assert_eq!(last_context(&[1, 2, 3], &[9], 2), vec![3, 9]);
        assert_eq!(last_context(&[1, 2, 3], &[7, 8, 9], 2), vec![8, 9]);
        assert_eq!(last_context(&[1], &[], 2), vec![1]);
    }
}
