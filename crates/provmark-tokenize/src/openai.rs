//! The bundled OpenAI encodings, on the `bpe-openai` backend.
//!
//! `bpe-openai` gives the ordinary (non-special) encoding; special tokens are handled here: the
//! text is cut at every occurrence of a special token's text (leftmost first, as tiktoken's
//! special regex does), the pieces between are encoded ordinarily and the special id is emitted
//! for each occurrence. Special ids and texts are tiktoken's (`tiktoken_ext/openai_public.py`).

use std::cell::RefCell;
use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::LazyLock;

use regex_automata::meta::{Cache as RegexCache, Regex};
use regex_automata::{hybrid, Anchored, Input};
use rustc_hash::FxHashMap;

use crate::{Result, TokenizeError};

/// Special tokens of `o200k_base` (tiktoken's `o200k_base()`).
const O200K_SPECIALS: &[(&str, u32)] = &[("<|endoftext|>", 199_999), ("<|endofprompt|>", 200_018)];

/// Special tokens of `cl100k_base` (tiktoken's `cl100k_base()`).
const CL100K_SPECIALS: &[(&str, u32)] = &[
    ("<|endoftext|>", 100_257),
    ("<|fim_prefix|>", 100_258),
    ("<|fim_middle|>", 100_259),
    ("<|fim_suffix|>", 100_260),
    ("<|endofprompt|>", 100_276),
];

/// Every special token's text starts with this; it is what the scan for specials looks for.
const SPECIAL_PREFIX: &str = "<|";

/// Packed token bytes (see [`pack`]) → id for every ordinary token of at most [`PACK_MAX`] bytes,
/// built once per process. Packing keeps a lookup to one cache line: no pointer to chase, no
/// `memcmp`.
type PieceMap = FxHashMap<u128, u32>;

/// Input volume after which the whole-piece table pays for its build (about 40 ms of CPU against
/// roughly 5 ns saved per token, measured with `examples/tok_speed.rs`): 4 MB is ~1 M tokens.
const WARM_AFTER_BYTES: usize = 4 << 20;

/// Longest piece the whole-piece lookup handles; longer pieces (rare) take the BPE encoder.
const PACK_MAX: usize = 15;

/// `bytes` zero-padded to 15 bytes with its length in the 16th, as one integer.
#[inline]
fn pack(bytes: &[u8]) -> Option<u128> {
    if bytes.len() > PACK_MAX {
        return None;
    }
    let mut k = [0u8; 16];
    k[..bytes.len()].copy_from_slice(bytes);
    k[15] = bytes.len() as u8;
    Some(u128::from_le_bytes(k))
}

/// Most pieces a thread's miss cache holds before it starts over.
const MISS_CACHE_ENTRIES: usize = 1 << 15;

/// Per-thread memo of the BPE encoding of pieces that are not one token (at most [`PACK_MAX`]
/// bytes). Natural text repeats its multi-token words constantly; encoding one again costs a
/// hash lookup instead of a run of the backtracking encoder (and its two allocations). A piece's
/// encoding is a pure function of its bytes, so the memo cannot change any id (the equivalence
/// tests in `tests/equivalence.rs` run through it).
#[derive(Default)]
struct MissCache {
    /// Packed piece → (start, len) in `ids`.
    map: FxHashMap<u128, (u32, u32)>,
    ids: Vec<u32>,
}

impl MissCache {
    #[inline]
    fn encode(&mut self, tok: &bpe_openai::Tokenizer, key: u128, piece: &[u8], out: &mut Vec<u32>) {
        if let Some(&(start, len)) = self.map.get(&key) {
            out.extend_from_slice(&self.ids[start as usize..(start + len) as usize]);
            return;
        }
        if self.map.len() >= MISS_CACHE_ENTRIES {
            self.map.clear();
            self.ids.clear();
        }
        let start = self.ids.len();
        self.ids.extend(tok.bpe.encode_via_backtracking(piece));
        out.extend_from_slice(&self.ids[start..]);
        self.map
            .insert(key, (start as u32, (self.ids.len() - start) as u32));
    }
}

/// The pre-tokenizer of an encoding: tiktoken's split pattern, with its one negative
/// look-ahead `\s+(?!\S)` (which `regex-automata` cannot express) replaced by `\s+\s` whose
/// last character is given back — the same rewrite `bpe-openai` uses, so pieces are identical.
/// `bpe-openai` keeps its regex private and searches it through a shared cache pool, which
/// every thread but the first reaches through a mutex, once per piece; here each thread has
/// its own search cache ([`ThreadState`]).
struct Splitter {
    /// The forward lazy DFA: every search is anchored at the start of the next piece, so its
    /// end (and which pattern matched) is all a search needs — no reverse search, none of the
    /// meta engine's per-call strategy work.
    dfa: hybrid::dfa::DFA,
    /// The same patterns for the rare search the lazy DFA gives up on (cache thrashing),
    /// built on first use.
    re: std::sync::OnceLock<Regex>,
    patterns: [&'static str; 3],
    /// Per pattern: whether its last character is a look-ahead to give back.
    lookahead: [bool; 3],
}

/// A thread's search caches for one [`Splitter`].
struct SplitCache {
    dfa: hybrid::dfa::Cache,
    re: Option<RegexCache>,
}

impl Splitter {
    fn new(words: &'static str) -> Splitter {
        Self::with_dfa_config(words, hybrid::dfa::Config::new())
    }

    fn with_dfa_config(words: &'static str, config: hybrid::dfa::Config) -> Splitter {
        let patterns = [words, r"\s+\s", r"\s+"];
        let dfa = hybrid::dfa::DFA::builder()
            .configure(config)
            .build_many(&patterns)
            .expect("the bundled split patterns compile");
        Splitter {
            dfa,
            re: std::sync::OnceLock::new(),
            patterns,
            lookahead: [false, true, false],
        }
    }

    fn cache(&self) -> SplitCache {
        SplitCache {
            dfa: self.dfa.create_cache(),
            re: None,
        }
    }

    /// End and pattern of the piece that starts `text` (`None`: no pattern matches).
    #[inline]
    fn next_piece(&self, cache: &mut SplitCache, text: &str) -> Option<(usize, usize)> {
        let input = Input::new(text).anchored(Anchored::Yes);
        match self.dfa.try_search_fwd(&mut cache.dfa, &input) {
            Ok(m) => m.map(|m| (m.offset(), m.pattern().as_usize())),
            Err(_) => {
                let re = self.re.get_or_init(|| {
                    Regex::new_many(&self.patterns).expect("the bundled split patterns compile")
                });
                re.search_with(cache.re.get_or_insert_with(|| re.create_cache()), &input)
                    .map(|m| (m.end(), m.pattern().as_usize()))
            }
        }
    }

    /// Calls `f` with each piece of `text`, in order.
    #[inline]
    fn split<'t>(&self, cache: &mut SplitCache, text: &'t str, mut f: impl FnMut(&'t str)) {
        let mut last = 0;
        while last < text.len() {
            let Some((len, pattern)) = self.next_piece(cache, &text[last..]) else {
                // Every character matches some pattern; kept total anyway.
                f(&text[last..]);
                return;
            };
            let mut end = last + len;
            if self.lookahead[pattern] {
                let back = text[last..end]
                    .chars()
                    .next_back()
                    .map_or(0, char::len_utf8);
                // `\s+\s` matched at least two characters, so one is left.
                end -= back;
            }
            if end == last {
                // Cannot happen with these patterns (see above); never loop forever.
                end = last + text[last..].chars().next().map_or(1, char::len_utf8);
            }
            f(&text[last..end]);
            last = end;
        }
    }
}

/// tiktoken's `o200k_base` pattern without its `\s+(?!\S)|\s+` tail (see [`Splitter`]).
const O200K_WORDS: &str = concat!(
    r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?",
    r"|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?",
    r"|\p{N}{1,3}",
    r"| ?[^\s\p{L}\p{N}]+[\r\n/]*",
    r"|\s*[\r\n]+",
    r"|\s+$",
);

/// tiktoken's `cl100k_base` pattern without its `\s+(?!\S)|\s+` tail (see [`Splitter`]).
const CL100K_WORDS: &str = concat!(
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)",
    r"|[^\r\n\p{L}\p{N}]?\p{L}+",
    r"|\p{N}{1,3}",
    r"| ?[^\s\p{L}\p{N}]+[\r\n]*",
    r"|\s*[\r\n]+",
    r"|\s+$",
);

static O200K_SPLIT: LazyLock<Splitter> = LazyLock::new(|| Splitter::new(O200K_WORDS));
static CL100K_SPLIT: LazyLock<Splitter> = LazyLock::new(|| Splitter::new(CL100K_WORDS));

/// Slots of a thread's hot-piece cache (direct-mapped; 8192 × 24 bytes = 192 KiB).
const HOT_SLOTS: usize = 1 << 13;
/// `HotSlot::val` of a piece that is not one token (its ids are in the [`MissCache`]).
const HOT_MULTI: u32 = u32::MAX;

/// One slot of the hot-piece cache: a packed piece (as two words; 0 = empty, since a packed
/// piece has its non-zero length in the top byte) and its id or [`HOT_MULTI`].
#[derive(Clone, Copy, Default)]
struct HotSlot {
    lo: u64,
    hi: u64,
    val: u32,
}

/// A thread's state for one encoding: its regex search cache, a small direct-mapped cache of
/// recent pieces in front of the whole-piece table (a lookup there is a cache miss on a
/// multi-megabyte table — the largest single cost of a warm tokenizer under `perf`; natural
/// text repeats a few thousand pieces most of the time), and its memo of multi-token pieces.
/// Every cached value is a pure function of the piece's bytes, so no id can change.
#[derive(Default)]
struct ThreadState {
    regex: Option<SplitCache>,
    hot: Vec<HotSlot>,
    miss: MissCache,
}

thread_local! {
    /// One state per bundled encoding (index [`OpenAi::slot`]) and thread.
    static THREAD_STATES: RefCell<[ThreadState; 2]> = RefCell::default();
}

static O200K_PIECES: LazyLock<PieceMap> = LazyLock::new(|| piece_map(bpe_openai::o200k_base()));
static CL100K_PIECES: LazyLock<PieceMap> = LazyLock::new(|| piece_map(bpe_openai::cl100k_base()));

fn piece_map(tok: &'static bpe_openai::Tokenizer) -> PieceMap {
    let n = tok.bpe.num_tokens();
    let mut map = PieceMap::with_capacity_and_hasher(n, Default::default());
    for id in 0..n as u32 {
        if let Some(k) = pack(tok.bpe.token_bytes(id)) {
            map.insert(k, id);
        }
    }
    map
}

pub(crate) struct OpenAi {
    name: &'static str,
    tok: &'static bpe_openai::Tokenizer,
    split: &'static LazyLock<Splitter>,
    /// Whole-piece lookup: a pre-tokenized piece that is itself a token encodes to that token
    /// (BPE merges can only end in the piece itself), which skips the backtracking encoder for
    /// most pieces — tiktoken takes the same shortcut. Building the table costs about as much as
    /// loading the encoding, so it is built only once this tokenizer has encoded
    /// [`WARM_AFTER_BYTES`] (a short `check` never pays for it), or on [`OpenAi::warm_up`].
    pieces: &'static LazyLock<PieceMap>,
    /// Set once `pieces` is built.
    warm: AtomicBool,
    /// Bytes encoded so far while cold.
    cold_bytes: AtomicUsize,
    specials: &'static [(&'static str, u32)],
    /// Number of ordinary (mergeable) tokens: ids `0..ordinary`.
    ordinary: u32,
    vocab_size: usize,
}

impl OpenAi {
    pub(crate) fn load(encoding: &str) -> Result<OpenAi> {
        let (name, tok, split, specials, pieces): (&'static str, _, _, _, _) = match encoding {
            "o200k_base" => (
                "o200k_base",
                bpe_openai::o200k_base(),
                &O200K_SPLIT,
                O200K_SPECIALS,
                &O200K_PIECES,
            ),
            "cl100k_base" => (
                "cl100k_base",
                bpe_openai::cl100k_base(),
                &CL100K_SPLIT,
                CL100K_SPECIALS,
                &CL100K_PIECES,
            ),
            other => return Err(TokenizeError::UnknownEncoding(other.to_string())),
        };
        // Forces the lazy deserialisation and the regex build now, so the load cost is paid here.
        LazyLock::force(split);
        let ordinary = u32::try_from(tok.bpe.num_tokens()).unwrap_or(u32::MAX);
        let max_special = specials.iter().map(|&(_, id)| id).max().unwrap_or(0);
        let vocab_size = (ordinary.max(max_special + 1)) as usize;
        Ok(OpenAi {
            name,
            tok,
            split,
            pieces,
            warm: AtomicBool::new(false),
            cold_bytes: AtomicUsize::new(0),
            specials,
            ordinary,
            vocab_size,
        })
    }

    pub(crate) fn name(&self) -> &'static str {
        self.name
    }

    pub(crate) fn vocab_size(&self) -> usize {
        self.vocab_size
    }

    /// The next special token at or after byte `from`: (start, end, id).
    fn next_special(&self, text: &str, mut from: usize) -> Option<(usize, usize, u32)> {
        while let Some(rel) = text.get(from..)?.find(SPECIAL_PREFIX) {
            let start = from + rel;
            let rest = &text[start..];
            if let Some(&(s, id)) = self.specials.iter().find(|(s, _)| rest.starts_with(s)) {
                return Some((start, start + s.len(), id));
            }
            // `<` is ASCII, so start + 1 is a char boundary.
            from = start + 1;
        }
        None
    }

    /// Builds the whole-piece table now (idempotent; shared by all tokenizers of the encoding).
    pub(crate) fn warm_up(&self) {
        LazyLock::force(self.pieces);
        self.warm.store(true, Ordering::Release);
    }

    /// The whole-piece table once warm; counts cold bytes and warms up past the threshold.
    #[inline]
    fn pieces(&self, len: usize) -> Option<&'static PieceMap> {
        if self.warm.load(Ordering::Acquire) {
            return Some(LazyLock::force(self.pieces));
        }
        if self.cold_bytes.fetch_add(len, Ordering::Relaxed) + len >= WARM_AFTER_BYTES {
            self.warm_up();
            return Some(LazyLock::force(self.pieces));
        }
        None
    }

    /// Which of the thread's miss caches this encoding uses.
    fn slot(&self) -> usize {
        usize::from(self.name != "o200k_base")
    }

    /// Encodes text that contains no special token.
    fn encode_ordinary_into(&self, text: &str, out: &mut Vec<u32>) {
        let pieces = self.pieces(text.len());
        let split: &Splitter = self.split;
        THREAD_STATES.with_borrow_mut(|states| {
            let state = &mut states[self.slot()];
            let regex = state.regex.get_or_insert_with(|| split.cache());
            let miss = &mut state.miss;
            if pieces.is_some() && state.hot.is_empty() {
                state.hot = vec![HotSlot::default(); HOT_SLOTS];
            }
            let hot = &mut state.hot;
            let tok = self.tok;
            split.split(regex, text, |piece| {
                let piece = piece.as_bytes();
                let Some((m, k)) = pieces.and_then(|m| pack(piece).map(|k| (m, k))) else {
                    out.extend(tok.bpe.encode_via_backtracking(piece));
                    return;
                };
                let (lo, hi) = (k as u64, (k >> 64) as u64);
                let at =
                    ((lo ^ hi.rotate_left(29)).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 51) as usize;
                let slot = &mut hot[at];
                if slot.lo == lo && slot.hi == hi {
                    match slot.val {
                        HOT_MULTI => miss.encode(tok, k, piece, out),
                        id => out.push(id),
                    }
                    return;
                }
                let val = match m.get(&k) {
                    Some(&id) => {
                        out.push(id);
                        id
                    }
                    None => {
                        miss.encode(tok, k, piece, out);
                        HOT_MULTI
                    }
                };
                *slot = HotSlot { lo, hi, val };
            });
        });
    }

    pub(crate) fn encode_into(&self, text: &str, out: &mut Vec<u32>) {
        let mut pos = 0;
        while let Some((start, end, id)) = self.next_special(text, pos) {
            self.encode_ordinary_into(&text[pos..start], out);
            out.push(id);
            pos = end;
        }
        self.encode_ordinary_into(&text[pos..], out);
    }

    pub(crate) fn encode_with_offsets(&self, text: &str) -> (Vec<u32>, Vec<Range<usize>>) {
        let mut ids = Vec::new();
        let mut ranges = Vec::new();
        let mut pos = 0;
        loop {
            let next = self.next_special(text, pos);
            let seg_end = next.map_or(text.len(), |(s, _, _)| s);
            let first = ids.len();
            self.encode_ordinary_into(&text[pos..seg_end], &mut ids);
            let mut at = pos;
            for &id in &ids[first..] {
                let len = self.tok.bpe.token_len(id);
                ranges.push(at..at + len);
                at += len;
            }
            debug_assert_eq!(at, seg_end);
            match next {
                Some((s, e, id)) => {
                    ids.push(id);
                    ranges.push(s..e);
                    pos = e;
                }
                None => break,
            }
        }
        (ids, ranges)
    }

    pub(crate) fn token_bytes(&self, id: u32) -> Option<&[u8]> {
        if id < self.ordinary {
            Some(self.tok.bpe.token_bytes(id))
        } else {
            self.specials
                .iter()
                .find(|&&(_, s)| s == id)
                .map(|(s, _)| s.as_bytes())
        }
    }

    pub(crate) fn is_special(&self, id: u32) -> bool {
        id >= self.ordinary && self.specials.iter().any(|&(_, s)| s == id)
    }

    fn decode_bytes(&self, ids: &[u32]) -> Result<Vec<u8>> {
        let mut bytes = Vec::with_capacity(ids.len() * 4);
        for &id in ids {
            bytes.extend_from_slice(
                self.token_bytes(id)
                    .ok_or(TokenizeError::UnknownTokenId(id))?,
            );
        }
        Ok(bytes)
    }

    pub(crate) fn decode(&self, ids: &[u32]) -> Result<String> {
        String::from_utf8(self.decode_bytes(ids)?).map_err(|e| TokenizeError::InvalidUtf8 {
            valid_up_to: e.utf8_error().valid_up_to(),
        })
    }

    pub(crate) fn decode_lossy(&self, ids: &[u32]) -> String {
        let mut bytes = Vec::with_capacity(ids.len() * 4);
        for &id in ids {
            match self.token_bytes(id) {
                Some(b) => bytes.extend_from_slice(b),
                None => bytes.extend_from_slice("\u{FFFD}".as_bytes()),
            }
        }
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// When the lazy DFA gives up (forced here: a minimal cache that may not be cleared), the
    /// meta-regex fallback cuts the same pieces.
    #[test]
    fn fallback_when_the_lazy_dfa_gives_up_cuts_the_same_pieces() {
        let text = "Hello, world!  It's 2026 — ünïcödé ДОБРЫЙ день 你好。\n\n  \tcode: fn f(x) { x+1 }\r\n\
                    'S 'LL don't WE'VE 12345678 ...!!! ///\n  ";
        for words in [O200K_WORDS, CL100K_WORDS] {
            let normal = Splitter::new(words);
            let starved = Splitter::with_dfa_config(
                words,
                hybrid::dfa::Config::new()
                    .skip_cache_capacity_check(true)
                    .cache_capacity(0)
                    .minimum_cache_clear_count(Some(0)),
            );
            let (mut a, mut b) = (Vec::new(), Vec::new());
            normal.split(&mut normal.cache(), text, |p| a.push(p));
            let mut cache = starved.cache();
            starved.split(&mut cache, text, |p| b.push(p));
            assert!(cache.re.is_some(), "the fallback was not used");
            assert_eq!(a, b);
            assert_eq!(a.concat(), text);
        }
    }
}
