//! Attribution: which account's key, if any, explains the watermark.
//!
//! Every account's subkey is tested over the *same* scored positions as the master key: the
//! positions are chosen once from the ids (dedup uses the profile-wide fingerprint key), then each
//! key costs one `absorb` and one `word` per position — no re-tokenising, no re-deduplicating.
//! Subkeys are derived once per account (`Profile::watermark(Some(account))`).
//!
//! **Correction.** The best account's p-value is adjusted by Bonferroni: `min(1, N · p_min)` for N
//! distinct accounts tested. It is valid under any dependence between the tests (it follows
//! from the union bound), so it needs no assumption about how accounts' keys or texts relate.
//! The master-key test is reported beside it, unadjusted: it is a separate, pre-specified test.

use provmark_core::Profile;
use rayon::prelude::*;
use serde::Serialize;

use crate::error::{DetectError, Result};
use crate::options::Options;
use crate::score::{score_selection, select_positions, Evidence, Scratch, Selection};
use crate::statistic::Statistic;
use crate::tail::{self, TailProb};

/// One account's test.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[non_exhaustive]
pub struct AccountEvidence {
    /// The account id as given.
    pub account: String,
    /// Its raw statistic over the shared positions.
    pub statistic: Statistic,
    /// Unadjusted log10 p of this account alone.
    pub log10_p: f64,
    /// Bonferroni-adjusted log10 p: `min(0, log10_p + log10 N)`.
    pub adjusted_log10_p: f64,
}

impl AccountEvidence {
    /// The adjusted p-value.
    pub fn adjusted_p_value(&self) -> f64 {
        TailProb {
            log10_p: self.adjusted_log10_p,
        }
        .p_value()
    }
}

/// The master-key test and every account's test over the same positions.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Attribution {
    /// The master-key test (unadjusted).
    pub master: Evidence,
    /// Distinct accounts tested (N of the correction).
    pub accounts_tested: u64,
    /// Every account, most significant first (ties keep the input order).
    pub ranking: Vec<AccountEvidence>,
    /// The multiple-testing correction applied to account p-values: `"bonferroni"`.
    pub correction: &'static str,
}

impl Attribution {
    /// The most significant account (its `adjusted_log10_p` is the p to report).
    pub fn best(&self) -> Option<&AccountEvidence> {
        self.ranking.first()
    }
}

fn check_accounts<S: AsRef<str>>(accounts: &[S]) -> Result<Vec<&str>> {
    if accounts.is_empty() {
        return Err(DetectError::NoAccounts);
    }
    let mut seen = std::collections::HashSet::with_capacity(accounts.len());
    let mut unique = Vec::with_capacity(accounts.len());
    for (i, a) in accounts.iter().enumerate() {
        let a = a.as_ref();
        if a.is_empty() {
            return Err(DetectError::BadAccount {
                index: i + 1,
                reason: "empty account id",
            });
        }
        if a.chars().any(char::is_control) {
            return Err(DetectError::BadAccount {
                index: i + 1,
                reason: "account id contains a control character",
            });
        }
        // A repeated id is the same key: test it once and count it once.
        if seen.insert(a) {
            unique.push(a);
        }
    }
    Ok(unique)
}

/// Tests the master key and each account's key over the same positions of `ids`.
///
/// Repeated account ids are tested and counted once. Accounts are scored in parallel (rayon);
/// the result does not depend on the number of threads.
///
/// ```
/// use provmark_core::{Profile, Scheme, SecretKey, TokenizerSpec};
/// use provmark_detect::{attribute, Options};
/// let profile = Profile::from_secret(SecretKey::from_bytes([1; 32]), Scheme::Gumbel, 2,
///     TokenizerSpec::default_openai()).unwrap();
/// let ids: Vec<u32> = (0..300).map(|i| (i * 7919) % 5000).collect();
/// let accounts = ["alice", "bob", "carol"];
/// let att = attribute(&profile, &ids, &accounts, &Options::for_profile(&profile)).unwrap();
/// assert_eq!(att.accounts_tested, 3);
/// let best = att.best().unwrap();
/// assert!(best.adjusted_log10_p >= best.log10_p);
/// ```
pub fn attribute<S: AsRef<str>>(
    profile: &Profile,
    ids: &[u32],
    accounts: &[S],
    opts: &Options<'_>,
) -> Result<Attribution> {
    let accounts = check_accounts(accounts)?;
    let sel = select_positions(profile.context_width, ids, opts, &mut Scratch::new())?;
    attribute_selection(profile, ids, &sel, &accounts, opts.keep_positions)
}

/// [`attribute`] over a [`Selection`] already made (e.g. by a caller that also needs it for
/// other keys). `keep_positions` applies to the master test.
pub fn attribute_selection<S: AsRef<str> + Sync>(
    profile: &Profile,
    ids: &[u32],
    sel: &Selection,
    accounts: &[S],
    keep_positions: bool,
) -> Result<Attribution> {
    let accounts = check_accounts(accounts)?;
    if !profile.supports_accounts() {
        return Err(DetectError::param(
            "accounts",
            "this profile (an imported key) has no per-account keys",
        ));
    }
    let master = score_selection(&profile.watermark(None), ids, sel, keep_positions)?;
    let n = accounts.len() as u64;
    let results: Vec<Result<AccountEvidence>> = accounts
        .par_iter()
        .map(|&a| {
            let ev = score_selection(&profile.watermark(Some(a)), ids, sel, false)?;
            Ok(AccountEvidence {
                account: a.to_string(),
                statistic: ev.statistic,
                log10_p: ev.log10_p,
                adjusted_log10_p: tail::bonferroni(ev.tail(), n).log10_p,
            })
        })
        .collect();
    let mut ranking = results.into_iter().collect::<Result<Vec<_>>>()?;
    // Stable sort: ties keep the input order, so the ranking is deterministic.
    ranking.sort_by(|a, b| a.log10_p.total_cmp(&b.log10_p));
    Ok(Attribution {
        master,
        accounts_tested: n,
        ranking,
        correction: "bonferroni",
    })
}
