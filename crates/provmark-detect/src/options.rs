//! What counts as a scored position: deduplication, missing context, special tokens, prompt.

use provmark_core::Profile;

use crate::fingerprint::PairFingerprinter;

/// Which repeats are dropped before scoring.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Dedup {
    /// **Default.** Score each (context, token) pair once per test. Repeats carry no new
    /// evidence; scoring them would count one keyed value many times and break the null
    /// distribution (three_bricks "v2" dedup).
    #[default]
    Pair,
    /// Score a position only if its context was not seen before in this test (vLLM's rule:
    /// the first occurrence of a context is scored, later ones are skipped even with a new
    /// token). Valid too, but scores fewer positions than `Pair` on text whose contexts repeat.
    Context,
    /// Score every position. **Not valid** on text with repeated pairs (false positives grow
    /// with repetition); offered only to reproduce other detectors.
    None,
}

/// What to do at the first `h` positions, whose context is incomplete.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ContextPolicy {
    /// **Default.** Skip positions without `h` preceding tokens.
    #[default]
    SkipPartial,
    /// Pad the missing context on the left with this id and score (vLLM pads with
    /// 0xFFFFFFFF, i.e. −1 as a 32-bit integer).
    PadWith(u32),
}

/// Options for [`score_ids`](crate::score_ids) and friends.
///
/// Build with [`Options::for_profile`]; every default is the valid, conservative choice:
/// pair dedup, partial contexts skipped, special tokens skipped (when a predicate is given),
/// prompt contexts skipped (when a prompt is given), no per-position record.
///
/// ```
/// use provmark_core::{Profile, Scheme, SecretKey, TokenizerSpec};
/// use provmark_detect::{ContextPolicy, Dedup, Options};
/// let profile = Profile::from_secret(SecretKey::from_bytes([1; 32]), Scheme::Gumbel, 2,
///     TokenizerSpec::default_openai()).unwrap();
/// let prompt = [5u32, 6, 7];
/// let is_special = |id: u32| id >= 199_998;
/// let opts = Options::for_profile(&profile)
///     .dedup(Dedup::Context)
///     .context_policy(ContextPolicy::PadWith(u32::MAX))
///     .special_tokens(&is_special)
///     .prompt(&prompt)
///     .keep_positions(true);
/// assert_eq!(opts.dedup, Dedup::Context);
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub struct Options<'a> {
    /// Dedup rule (default [`Dedup::Pair`]).
    pub dedup: Dedup,
    /// Missing-context rule (default [`ContextPolicy::SkipPartial`]).
    pub context_policy: ContextPolicy,
    /// Skip positions whose token is special (default `true`; effective when
    /// [`Options::special`] is set).
    pub skip_special: bool,
    /// Which ids are special tokens (e.g. `|id| tokenizer.is_special(id)`).
    pub special: Option<&'a (dyn Fn(u32) -> bool + Sync)>,
    /// Prompt ids. The prompt's last ids serve as the context of the response's first
    /// positions (generation used them so; spec §4), and with
    /// [`Options::skip_prompt_contexts`] a position is skipped when its context occurs (as `h`
    /// consecutive ids) anywhere in the prompt: such a context says nothing about the model,
    /// only that it continued the prompt.
    pub prompt: Option<&'a [u32]>,
    /// Skip contexts that occur in the prompt (default `true`; effective when a prompt is
    /// given).
    pub skip_prompt_contexts: bool,
    /// Record every scored position and its score in the [`Evidence`](crate::Evidence) (needed
    /// for spans; default `false`, in which case the scoring loop records nothing).
    pub keep_positions: bool,
    /// The dedup fingerprint key (from the profile's master secret).
    pub fingerprinter: PairFingerprinter,
}

impl std::fmt::Debug for Options<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Options")
            .field("dedup", &self.dedup)
            .field("context_policy", &self.context_policy)
            .field("skip_special", &self.skip_special)
            .field("special", &self.special.map(|_| "<predicate>"))
            .field("prompt_len", &self.prompt.map(<[u32]>::len))
            .field("skip_prompt_contexts", &self.skip_prompt_contexts)
            .field("keep_positions", &self.keep_positions)
            .finish_non_exhaustive()
    }
}

impl<'a> Options<'a> {
    /// Defaults for a profile (the dedup key comes from its master secret). This is the one
    /// place per-profile defaults live, so every verb that builds its options here scores a
    /// profile the same way:
    ///
    /// * native and SynthID-Text profiles: pair dedup, partial contexts skipped (SynthID's
    ///   reference also scores only full n-grams);
    /// * imported vLLM profiles (`prf` starting with `vllm-`): pair dedup with missing context
    ///   padded by `0xFFFFFFFF`, as vLLM pads it ([`ContextPolicy::PadWith`]`(u32::MAX)`), so the
    ///   first tokens of a response are scored as vLLM generated them. vLLM's own detector
    ///   dedups by context alone ([`Dedup::Context`]); pair dedup is valid too and scores more
    ///   positions on repetitive text. Pair dedup also deduplicates on the PRF's keyed input
    ///   (needed for SBW selfhash, whose seed ignores the oldest context token).
    pub fn for_profile(profile: &Profile) -> Options<'static> {
        let opts = Options::with_fingerprinter(PairFingerprinter::for_profile(profile));
        if profile.foreign().is_some() && profile.prf.starts_with("vllm-") {
            opts.context_policy(ContextPolicy::PadWith(u32::MAX))
        } else {
            opts
        }
    }

    /// Defaults with an explicit fingerprinter.
    pub fn with_fingerprinter(fingerprinter: PairFingerprinter) -> Options<'static> {
        Options {
            dedup: Dedup::Pair,
            context_policy: ContextPolicy::SkipPartial,
            skip_special: true,
            special: None,
            prompt: None,
            skip_prompt_contexts: true,
            keep_positions: false,
            fingerprinter,
        }
    }

    /// Sets the dedup rule.
    pub fn dedup(mut self, dedup: Dedup) -> Self {
        self.dedup = dedup;
        self
    }

    /// Sets the missing-context rule.
    pub fn context_policy(mut self, policy: ContextPolicy) -> Self {
        self.context_policy = policy;
        self
    }

    /// Sets the special-token predicate (skipping stays on unless [`Options::skip_special`] is
    /// set to `false`).
    pub fn special_tokens<'b>(self, is_special: &'b (dyn Fn(u32) -> bool + Sync)) -> Options<'b>
    where
        'a: 'b,
    {
        Options {
            special: Some(is_special),
            ..self
        }
    }

    /// Turns special-token skipping on or off.
    pub fn skip_special(mut self, on: bool) -> Self {
        self.skip_special = on;
        self
    }

    /// Sets the prompt ids.
    pub fn prompt<'b>(self, prompt: &'b [u32]) -> Options<'b>
    where
        'a: 'b,
    {
        Options {
            prompt: Some(prompt),
            ..self
        }
    }

    /// Turns prompt-context skipping on or off.
    pub fn skip_prompt_contexts(mut self, on: bool) -> Self {
        self.skip_prompt_contexts = on;
        self
    }

    /// Records every scored position and its score (for spans).
    pub fn keep_positions(mut self, on: bool) -> Self {
        self.keep_positions = on;
        self
    }
}
