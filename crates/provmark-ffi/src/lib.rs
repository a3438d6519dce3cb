//! C ABI for provmark: per-token watermarking for C/C++ serving stacks (llama.cpp-style custom
//! samplers) and the `check` verb, over opaque handles.
//!
//! Conventions (see `include/provmark.h`, generated from this file by cbindgen):
//! * every function returns a [`ProvmarkStatus`] (`PROVMARK_OK` = 0) and writes results through
//!   out-pointers; on failure [`provmark_last_error`] gives a one-line message (per thread,
//!   valid until the next provmark call on that thread). Messages never contain key material.
//! * no panic crosses the boundary: each entry point runs under `catch_unwind`, and a panic
//!   becomes `PROVMARK_ERR_INTERNAL`.
//! * handles are created by `*_new` / `*_load` and released by the matching `*_free` (NULL is
//!   accepted and ignored). A sampler is one sequence's state: use one per sequence and per
//!   thread (it is not synchronised); a profile may be shared by threads.
//! * the sampler's random numbers come from ChaCha8 seeded with the caller's `seed` (rand_chacha's
//!   `seed_from_u64`), so the Rust call with the same seed gives the same tokens bit for bit.
//!
//! This is the only crate of the workspace that uses `unsafe`: every block carries a
//! `SAFETY:` comment, enforced by `clippy::undocumented_unsafe_blocks`.

use std::cell::RefCell;
use std::ffi::{c_char, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

use provmark_core::Profile;
use provmark_embed::{Dist, Embedder, Scratch, SequenceState};
use provmark_scan::check::{self, CheckInput, CheckRequest};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// Result code of every provmark C function.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(non_camel_case_types)] // C constant names, as they appear in the header
pub enum ProvmarkStatus {
    /// Success.
    PROVMARK_OK = 0,
    /// A required pointer argument was NULL.
    PROVMARK_ERR_NULL = 1,
    /// An argument is invalid (not UTF-8, wrong length, a logit that is NaN, …).
    PROVMARK_ERR_INVALID = 2,
    /// The profile could not be loaded (missing file, malformed, newer format).
    PROVMARK_ERR_PROFILE = 3,
    /// The serving library refused the call (scheme, context too short, all masked, …).
    PROVMARK_ERR_EMBED = 4,
    /// The check could not run (tokenizer, empty input, accounts on an imported profile, …).
    PROVMARK_ERR_CHECK = 5,
    /// A bug inside provmark (a caught panic); the handle involved should be freed.
    PROVMARK_ERR_INTERNAL = 99,
}

use ProvmarkStatus::*;

thread_local! {
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

fn set_last_error(msg: &str) {
    // Interior NUL bytes cannot occur in a C string: replace them.
    let c = CString::new(msg.replace('\0', " ")).unwrap_or_default();
    LAST_ERROR.with(|e| *e.borrow_mut() = c);
}

/// An error on its way to the caller: a status code and its message.
struct Failure(ProvmarkStatus, String);

fn fail<E: std::fmt::Display>(code: ProvmarkStatus) -> impl FnOnce(E) -> Failure {
    move |e| Failure(code, e.to_string())
}

/// Runs an entry point's body: clears the last error, catches panics, records failures.
fn guard(name: &str, body: impl FnOnce() -> Result<(), Failure>) -> ProvmarkStatus {
    set_last_error("");
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => PROVMARK_OK,
        Ok(Err(Failure(code, msg))) => {
            set_last_error(&msg);
            code
        }
        Err(_) => {
            set_last_error(&format!("internal error in {name} (a bug in provmark)"));
            PROVMARK_ERR_INTERNAL
        }
    }
}

/// Borrows a NUL-terminated UTF-8 string argument.
///
/// # Safety
/// `p` is NULL or points to a NUL-terminated string that stays valid for `'a`.
unsafe fn c_str<'a>(p: *const c_char, what: &str) -> Result<&'a str, Failure> {
    if p.is_null() {
        return Err(Failure(PROVMARK_ERR_NULL, format!("{what} is NULL")));
    }
    // SAFETY: non-NULL, and the caller guarantees a NUL-terminated string valid for 'a.
    let s = unsafe { CStr::from_ptr(p) };
    s.to_str()
        .map_err(|_| Failure(PROVMARK_ERR_INVALID, format!("{what} is not valid UTF-8")))
}

/// Borrows an array argument (`len` may be 0 with any pointer, NULL included).
///
/// # Safety
/// When `len > 0`, `p` points to `len` initialised, properly aligned `T` valid for `'a`.
unsafe fn c_slice<'a, T>(p: *const T, len: usize, what: &str) -> Result<&'a [T], Failure> {
    if len == 0 {
        return Ok(&[]);
    }
    if p.is_null() {
        return Err(Failure(PROVMARK_ERR_NULL, format!("{what} is NULL")));
    }
    // SAFETY: non-NULL, and the caller guarantees `len` valid, aligned elements for 'a.
    Ok(unsafe { std::slice::from_raw_parts(p, len) })
}

/// Mutable form of [`c_slice`].
///
/// # Safety
/// When `len > 0`, `p` points to `len` initialised, aligned `T`, valid and not aliased for `'a`.
unsafe fn c_slice_mut<'a, T>(p: *mut T, len: usize, what: &str) -> Result<&'a mut [T], Failure> {
    if len == 0 {
        return Ok(&mut []);
    }
    if p.is_null() {
        return Err(Failure(PROVMARK_ERR_NULL, format!("{what} is NULL")));
    }
    // SAFETY: non-NULL, and the caller guarantees `len` valid, aligned, unaliased elements.
    Ok(unsafe { std::slice::from_raw_parts_mut(p, len) })
}

/// Writes a result through an out-pointer.
///
/// # Safety
/// `out` is NULL (an error) or valid for a write of `T`.
unsafe fn put<T>(out: *mut T, value: T, what: &str) -> Result<(), Failure> {
    if out.is_null() {
        return Err(Failure(PROVMARK_ERR_NULL, format!("{what} is NULL")));
    }
    // SAFETY: non-NULL and, by the caller's contract, valid for writes; `write` drops nothing.
    unsafe { out.write(value) };
    Ok(())
}

/// A loaded watermark profile (holds the secret key). Opaque.
pub struct ProvmarkProfile {
    profile: Profile,
}

/// One sequence's watermarking state: the stream key (master or account), the repeated-context
/// memory, working memory and the seeded RNG. Opaque.
pub struct ProvmarkSampler {
    embedder: Embedder,
    seq: SequenceState,
    scratch: Scratch,
    rng: ChaCha8Rng,
}

/// The message of the last failed provmark call on this thread ("" after a success). The
/// pointer stays valid until the next provmark call on this thread; do not free it.
#[no_mangle]
pub extern "C" fn provmark_last_error() -> *const c_char {
    LAST_ERROR.with(|e| e.borrow().as_ptr())
}

/// Loads a profile from a JSON file. On success `*out` holds a handle to release with
/// [`provmark_profile_free`]. Warnings (e.g. the file is readable by other users) are not
/// reported here.
///
/// # Safety
/// `path` is a NUL-terminated UTF-8 string; `out` is valid for writing a pointer.
#[no_mangle]
pub unsafe extern "C" fn provmark_profile_load(
    path: *const c_char,
    out: *mut *mut ProvmarkProfile,
) -> ProvmarkStatus {
    guard("provmark_profile_load", || {
        // SAFETY: forwarded caller contract for `path`.
        let path = unsafe { c_str(path, "path") }?;
        let (profile, _warnings) =
            Profile::load(Path::new(path)).map_err(fail(PROVMARK_ERR_PROFILE))?;
        let handle = Box::into_raw(Box::new(ProvmarkProfile { profile }));
        // SAFETY: forwarded caller contract for `out`.
        unsafe { put(out, handle, "out") }.inspect_err(|_| {
            // SAFETY: `handle` came from Box::into_raw just above and was not handed out.
            drop(unsafe { Box::from_raw(handle) });
        })
    })
}

/// Releases a profile (NULL is ignored). Samplers made from it stay valid.
///
/// # Safety
/// `profile` is NULL or a handle from [`provmark_profile_load`] not yet freed.
#[no_mangle]
pub unsafe extern "C" fn provmark_profile_free(profile: *mut ProvmarkProfile) {
    let _ = guard("provmark_profile_free", || {
        if !profile.is_null() {
            // SAFETY: the caller passes a live handle from Box::into_raw, freed only here.
            drop(unsafe { Box::from_raw(profile) });
        }
        Ok(())
    });
}

/// The profile's context width h (how many previous tokens key each step).
///
/// # Safety
/// `profile` is a live profile handle; `out` is valid for writing a `size_t`.
#[no_mangle]
pub unsafe extern "C" fn provmark_profile_context_width(
    profile: *const ProvmarkProfile,
    out: *mut usize,
) -> ProvmarkStatus {
    guard("provmark_profile_context_width", || {
        // SAFETY: the caller passes NULL or a live handle.
        let p = unsafe { profile.as_ref() }
            .ok_or_else(|| Failure(PROVMARK_ERR_NULL, "profile is NULL".into()))?;
        // SAFETY: forwarded caller contract for `out`.
        unsafe { put(out, p.profile.context_width, "out") }
    })
}

/// Creates a sampler for one sequence over a vocabulary of `vocab_size` tokens, keyed by the
/// master key (`account` NULL) or by one account's subkey, its RNG seeded with `seed`.
///
/// # Safety
/// `profile` is a live profile handle; `account` is NULL or a NUL-terminated UTF-8 string;
/// `out` is valid for writing a pointer.
#[no_mangle]
pub unsafe extern "C" fn provmark_sampler_new(
    profile: *const ProvmarkProfile,
    account: *const c_char,
    vocab_size: usize,
    seed: u64,
    out: *mut *mut ProvmarkSampler,
) -> ProvmarkStatus {
    guard("provmark_sampler_new", || {
        // SAFETY: the caller passes NULL or a live handle.
        let p = unsafe { profile.as_ref() }
            .ok_or_else(|| Failure(PROVMARK_ERR_NULL, "profile is NULL".into()))?;
        let account = if account.is_null() {
            None
        } else {
            // SAFETY: non-NULL, so by contract a NUL-terminated string.
            Some(unsafe { c_str(account, "account") }?)
        };
        let sampler = new_sampler(&p.profile, account, vocab_size, seed)?;
        let handle = Box::into_raw(Box::new(sampler));
        // SAFETY: forwarded caller contract for `out`.
        unsafe { put(out, handle, "out") }.inspect_err(|_| {
            // SAFETY: `handle` came from Box::into_raw just above and was not handed out.
            drop(unsafe { Box::from_raw(handle) });
        })
    })
}

fn new_sampler(
    profile: &Profile,
    account: Option<&str>,
    vocab_size: usize,
    seed: u64,
) -> Result<ProvmarkSampler, Failure> {
    if account.is_some() && !profile.supports_accounts() {
        return Err(Failure(
            PROVMARK_ERR_INVALID,
            format!(
                "profile {} holds an imported key: it has no per-account keys",
                profile.key_id()
            ),
        ));
    }
    let embedder =
        Embedder::from_profile(profile, account, vocab_size).map_err(fail(PROVMARK_ERR_EMBED))?;
    Ok(ProvmarkSampler {
        seq: embedder.new_sequence(1024),
        scratch: Scratch::with_capacity(vocab_size),
        rng: ChaCha8Rng::seed_from_u64(seed),
        embedder,
    })
}

/// Releases a sampler (NULL is ignored).
///
/// # Safety
/// `sampler` is NULL or a handle from [`provmark_sampler_new`] not yet freed.
#[no_mangle]
pub unsafe extern "C" fn provmark_sampler_free(sampler: *mut ProvmarkSampler) {
    let _ = guard("provmark_sampler_free", || {
        if !sampler.is_null() {
            // SAFETY: the caller passes a live handle from Box::into_raw, freed only here.
            drop(unsafe { Box::from_raw(sampler) });
        }
        Ok(())
    });
}

/// Starts a new sequence: forgets the contexts seen so far (the RNG continues).
///
/// # Safety
/// `sampler` is a live sampler handle.
#[no_mangle]
pub unsafe extern "C" fn provmark_sampler_reset(sampler: *mut ProvmarkSampler) -> ProvmarkStatus {
    guard("provmark_sampler_reset", || {
        // SAFETY: the caller passes NULL or a live, unaliased handle.
        let s = unsafe { sampler.as_mut() }
            .ok_or_else(|| Failure(PROVMARK_ERR_NULL, "sampler is NULL".into()))?;
        s.seq.reset();
        Ok(())
    })
}

/// Green list: adds δ in place to the logit of every green token after `context` (its last h
/// ids; `n_context` ≥ h). `*biased` is false when the context repeats in this sequence (logits
/// untouched). `n_logits` must equal the sampler's vocabulary size.
///
/// # Safety
/// `sampler` is a live sampler handle; `context` points to `n_context` ids; `logits` to
/// `n_logits` floats (not aliased); `biased` is NULL or valid for writing a bool.
#[no_mangle]
pub unsafe extern "C" fn provmark_sampler_bias(
    sampler: *mut ProvmarkSampler,
    context: *const u32,
    n_context: usize,
    logits: *mut f32,
    n_logits: usize,
    biased: *mut bool,
) -> ProvmarkStatus {
    guard("provmark_sampler_bias", || {
        // SAFETY: the caller passes NULL or a live, unaliased handle.
        let s = unsafe { sampler.as_mut() }
            .ok_or_else(|| Failure(PROVMARK_ERR_NULL, "sampler is NULL".into()))?;
        // SAFETY: forwarded caller contract for `context`.
        let ctx = unsafe { c_slice(context, n_context, "context") }?;
        // SAFETY: forwarded caller contract for `logits`.
        let logits = unsafe { c_slice_mut(logits, n_logits, "logits") }?;
        let done = s
            .embedder
            .bias_logits(&mut s.seq, ctx, logits)
            .map_err(fail(PROVMARK_ERR_EMBED))?;
        if !biased.is_null() {
            // SAFETY: non-NULL, so by contract valid for writing a bool.
            unsafe { put(biased, done, "biased") }?;
        }
        Ok(())
    })
}

/// Chooses the next token after `context` (its last h ids) from full-vocabulary `logits`: green
/// list — an exact sample from the biased distribution; Gumbel — the keyed selection. A context
/// that repeats in this sequence is sampled plainly and `*watermarked` is false.
///
/// # Safety
/// `sampler` is a live sampler handle; `context` points to `n_context` ids; `logits` to
/// `n_logits` floats; `token` is valid for writing a `uint32_t`; `watermarked` is NULL or valid
/// for writing a bool.
#[no_mangle]
pub unsafe extern "C" fn provmark_sampler_choose(
    sampler: *mut ProvmarkSampler,
    context: *const u32,
    n_context: usize,
    logits: *const f32,
    n_logits: usize,
    token: *mut u32,
    watermarked: *mut bool,
) -> ProvmarkStatus {
    guard("provmark_sampler_choose", || {
        // SAFETY: the caller passes NULL or a live, unaliased handle.
        let s = unsafe { sampler.as_mut() }
            .ok_or_else(|| Failure(PROVMARK_ERR_NULL, "sampler is NULL".into()))?;
        // SAFETY: forwarded caller contract for `context`.
        let ctx = unsafe { c_slice(context, n_context, "context") }?;
        // SAFETY: forwarded caller contract for `logits`.
        let logits = unsafe { c_slice(logits, n_logits, "logits") }?;
        let choice = s
            .embedder
            .choose(
                &mut s.seq,
                ctx,
                Dist::Logits(logits),
                &mut s.scratch,
                &mut s.rng,
            )
            .map_err(fail(PROVMARK_ERR_EMBED))?;
        // SAFETY: forwarded caller contract for `token`.
        unsafe { put(token, choice.token, "token") }?;
        if !watermarked.is_null() {
            // SAFETY: non-NULL, so by contract valid for writing a bool.
            unsafe { put(watermarked, choice.watermarked, "watermarked") }?;
        }
        Ok(())
    })
}

/// Checks a text (`text` non-NULL) or token ids (`text` NULL: `ids[0..n_ids]`) for the
/// watermark, testing `n_accounts` accounts, at significance `alpha` (0 means the default
/// 1e-6). On success `*json` holds exactly `provmark check --json`'s object (release it with
/// [`provmark_string_free`]) and `*watermarked` the verdict. Text is tokenized with the
/// profile's tokenizer.
///
/// # Safety
/// `profile` is a live profile handle; `text` is NULL or a NUL-terminated UTF-8 string; `ids`
/// points to `n_ids` ids when `text` is NULL; `accounts` points to `n_accounts` NUL-terminated
/// UTF-8 strings; `json` is valid for writing a pointer; `watermarked` is NULL or valid for
/// writing a bool.
#[no_mangle]
pub unsafe extern "C" fn provmark_check(
    profile: *const ProvmarkProfile,
    text: *const c_char,
    ids: *const u32,
    n_ids: usize,
    accounts: *const *const c_char,
    n_accounts: usize,
    alpha: f64,
    json: *mut *mut c_char,
    watermarked: *mut bool,
) -> ProvmarkStatus {
    guard("provmark_check", || {
        // SAFETY: the caller passes NULL or a live handle.
        let p = unsafe { profile.as_ref() }
            .ok_or_else(|| Failure(PROVMARK_ERR_NULL, "profile is NULL".into()))?;
        if json.is_null() {
            return Err(Failure(PROVMARK_ERR_NULL, "json is NULL".into()));
        }
        let input = if text.is_null() {
            // SAFETY: forwarded caller contract for `ids`.
            CheckInput::TokenIds(unsafe { c_slice(ids, n_ids, "ids") }?)
        } else {
            // SAFETY: non-NULL, so by contract a NUL-terminated string.
            CheckInput::Text(unsafe { c_str(text, "text") }?)
        };
        // SAFETY: forwarded caller contract for `accounts`.
        let account_ptrs = unsafe { c_slice(accounts, n_accounts, "accounts") }?;
        let accounts = account_ptrs
            .iter()
            // SAFETY: each entry is by contract a NUL-terminated string.
            .map(|&a| unsafe { c_str(a, "account") }.map(String::from))
            .collect::<Result<Vec<String>, Failure>>()?;
        let mut req = CheckRequest::new(input);
        req.accounts = &accounts;
        if alpha != 0.0 {
            req.alpha = alpha;
        }
        req.validate(&p.profile).map_err(fail(PROVMARK_ERR_CHECK))?;
        let (tok, _warning) =
            check::load_tokenizer(&p.profile, None, &req).map_err(fail(PROVMARK_ERR_CHECK))?;
        let report =
            check::check(&p.profile, tok.as_ref(), &req).map_err(fail(PROVMARK_ERR_CHECK))?;
        let s = serde_json::to_string(&report).map_err(fail(PROVMARK_ERR_INTERNAL))?;
        let c = CString::new(s).map_err(fail(PROVMARK_ERR_INTERNAL))?;
        if !watermarked.is_null() {
            // SAFETY: non-NULL, so by contract valid for writing a bool.
            unsafe { put(watermarked, report.is_watermarked(), "watermarked") }?;
        }
        // SAFETY: forwarded caller contract for `json`.
        unsafe { put(json, c.into_raw(), "json") }
    })
}

/// Releases a string returned by provmark (NULL is ignored).
///
/// # Safety
/// `s` is NULL or a string from a provmark function, not yet freed.
#[no_mangle]
pub unsafe extern "C" fn provmark_string_free(s: *mut c_char) {
    let _ = guard("provmark_string_free", || {
        if !s.is_null() {
            // SAFETY: the caller passes a string from CString::into_raw, freed only here.
            drop(unsafe { CString::from_raw(s) });
        }
        Ok(())
    });
}
