//! The simulated model's support: which tokens it may emit and in what order of frequency.
//!
//! The model only emits tokens that survive decode → encode unchanged in context, so that its
//! text re-tokenizes to the same ids (measured by [`crate::stats::retokenization`]):
//!
//! * **words**: a space followed by ASCII letters (`" the"`, `" Paris"`). tiktoken's
//!   pre-tokenizer starts a new piece at every such space, so a word never merges with its
//!   neighbours. One- and two-letter tokens are kept only when they are common English words (the
//!   list below), which keeps BPE fragments like `" th"` out of the text.
//! * **punctuation** `,` `.` `?` `!` `:` and the paragraph break `.\n\n`: always followed by a
//!   word (a run of punctuation would merge into one piece, e.g. `.,`).
//! * **paragraph openers**: a capital letter then lowercase letters with no leading space
//!   (`"The"`), emitted only at the start of a text or after `.\n\n`.
//!
//! Frequency order: the tokenizer's id order (BPE vocabularies are built by merge frequency, so
//! low ids are frequent strings), with the punctuation inserted at fixed ranks (an assumption
//! modelled on English, where the comma and the period are among the three most frequent
//! tokens).

use provmark_tokenize::Tokenizer;

use crate::error::SimError;

/// Class of a token for the model's transition rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Class {
    /// Anything outside the support (may occur in prompts).
    Other = 0,
    /// Space + letters.
    Word = 1,
    /// `,` `.` `?` `!` `:`.
    Punct = 2,
    /// `.\n\n`.
    Para = 3,
    /// Capital + lowercase letters, no leading space.
    Opener = 4,
}

/// Which pool the next candidates come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PoolKind {
    /// Words and punctuation (after a word or an opener).
    WordsPunct = 0,
    /// Words only (after punctuation or an unknown token).
    Words = 1,
    /// Paragraph openers (at the start and after `.\n\n`).
    Openers = 2,
}

/// Common English words of one or two letters (facts of the language, not data from a project).
const SHORT_WORDS: &[&str] = &[
    "a", "I", "A", "O", "of", "to", "in", "is", "it", "on", "be", "as", "at", "by", "we", "he",
    "or", "an", "my", "do", "if", "so", "up", "no", "me", "us", "go", "am", "In", "It", "On", "As",
    "At", "By", "We", "He", "Or", "An", "My", "Do", "If", "So", "No", "Up", "To", "Is", "Be", "Go",
    "Me", "Us",
];

/// Punctuation tokens and the frequency rank (0-based, in the words-and-punctuation pool) at
/// which each is inserted. Assumption modelled on English text.
const PUNCT_RANKS: &[(&str, usize)] = &[
    (",", 1),
    (".", 2),
    (".\n\n", 40),
    (":", 150),
    ("?", 160),
    ("!", 400),
];

/// Offset q of the Zipf–Mandelbrot law P(rank r) ∝ 1/(r + q) that draws candidate ids from a
/// pool (exponent 1: Zipf's law for word frequencies).
const ZIPF_Q: f64 = 1.5;

/// One frequency-ordered pool with an O(1) Zipf–Mandelbrot inverse CDF.
#[derive(Clone, Debug)]
pub(crate) struct Pool {
    pub(crate) ids: Vec<u32>,
    log_span: f64,
}

impl Pool {
    fn new(ids: Vec<u32>) -> Self {
        let n = ids.len() as f64;
        Pool {
            log_span: ((n + ZIPF_Q) / ZIPF_Q).ln(),
            ids,
        }
    }

    /// Rank drawn from the continuous Zipf–Mandelbrot law with uniform `u`.
    #[inline]
    pub(crate) fn rank(&self, u: f64) -> usize {
        let r = ZIPF_Q * (u * self.log_span).exp() - ZIPF_Q;
        (r as usize).min(self.ids.len() - 1)
    }
}

/// The support of the simulation over one tokenizer.
#[derive(Clone, Debug)]
pub(crate) struct Support {
    class: Vec<u8>,
    pools: [Pool; 3],
}

fn is_letters(b: &[u8]) -> bool {
    !b.is_empty() && b.iter().all(u8::is_ascii_alphabetic)
}

impl Support {
    pub(crate) fn new(tok: &Tokenizer) -> Result<Self, SimError> {
        let n = tok.vocab_size();
        let mut class = vec![Class::Other as u8; n];
        let mut words = Vec::new();
        let mut openers = Vec::new();
        for id in 0..n as u32 {
            if tok.is_special(id) {
                continue;
            }
            let Some(b) = tok.token_bytes(id) else {
                continue;
            };
            if b.len() >= 2 && b[0] == b' ' && is_letters(&b[1..]) {
                let w = &b[1..];
                let keep = w.len() > 2 || SHORT_WORDS.iter().any(|s| s.as_bytes() == w);
                if keep {
                    class[id as usize] = Class::Word as u8;
                    words.push(id);
                }
            } else if b.len() >= 3
                && b[0].is_ascii_uppercase()
                && b[1..].iter().all(u8::is_ascii_lowercase)
            {
                class[id as usize] = Class::Opener as u8;
                openers.push(id);
            }
        }
        let mut words_punct = words.clone();
        for &(text, rank) in PUNCT_RANKS {
            let ids = tok.encode(text);
            if let [id] = ids[..] {
                if (id as usize) < n && class[id as usize] == Class::Other as u8 {
                    class[id as usize] = if text == ".\n\n" {
                        Class::Para as u8
                    } else {
                        Class::Punct as u8
                    };
                    let at = rank.min(words_punct.len());
                    words_punct.insert(at, id);
                }
            }
        }
        if words.len() < 1000 || openers.is_empty() {
            return Err(SimError::Support {
                words: words.len(),
                openers: openers.len(),
            });
        }
        Ok(Support {
            class,
            pools: [Pool::new(words_punct), Pool::new(words), Pool::new(openers)],
        })
    }

    #[inline]
    pub(crate) fn class(&self, id: u32) -> Class {
        match self.class.get(id as usize).copied() {
            Some(1) => Class::Word,
            Some(2) => Class::Punct,
            Some(3) => Class::Para,
            Some(4) => Class::Opener,
            _ => Class::Other,
        }
    }

    /// Pool for the step after `last` (`None`: start of text).
    #[inline]
    pub(crate) fn pool_after(&self, last: Option<u32>) -> PoolKind {
        match last.map(|id| self.class(id)) {
            None | Some(Class::Para) => PoolKind::Openers,
            Some(Class::Word) | Some(Class::Opener) => PoolKind::WordsPunct,
            Some(Class::Punct) | Some(Class::Other) => PoolKind::Words,
        }
    }

    #[inline]
    pub(crate) fn pool(&self, kind: PoolKind) -> &Pool {
        &self.pools[kind as usize]
    }

    /// Whether the model can emit `id`.
    pub(crate) fn contains(&self, id: u32) -> bool {
        self.class(id) != Class::Other
    }

    /// Sizes of the pools (words + punctuation, words, openers).
    pub(crate) fn sizes(&self) -> [usize; 3] {
        [
            self.pools[0].ids.len(),
            self.pools[1].ids.len(),
            self.pools[2].ids.len(),
        ]
    }

    pub(crate) fn largest_pool(&self) -> usize {
        self.sizes().into_iter().max().unwrap_or(0)
    }

    pub(crate) fn smallest_pool(&self) -> usize {
        self.sizes().into_iter().min().unwrap_or(0)
    }
}
