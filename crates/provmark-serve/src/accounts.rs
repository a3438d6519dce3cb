//! The accounts file: API keys → account ids, storing only keyed hashes of the keys.
//!
//! ```json
//! {"format": "provmark-accounts/v1", "secret": "<64 hex>",
//!  "accounts": [{"name": "alice", "key_hash": "<64 hex>", "created": "2026-01-01T00:00:00Z"}]}
//! ```
//! `key_hash` = HMAC-SHA256(secret, api key). A new key is 32 random bytes from the operating
//! system, shown once (`pmk-` + 64 hex digits) and never stored. Lookup hashes the presented key
//! and compares it with *every* stored hash in constant time ([`subtle`]), so neither the time
//! taken nor an early exit tells which account (or how much of a hash) matched. The file is
//! written mode 0600 through a temporary file and a rename (never half-written).

use std::path::{Path, PathBuf};

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::{Result, ServeError};

const FORMAT: &str = "provmark-accounts/v1";
/// Every API key starts with this (so it is recognisable in a secret scanner).
pub const KEY_PREFIX: &str = "pmk-";

#[derive(Serialize, Deserialize)]
struct FileRepr {
    format: String,
    secret: String,
    accounts: Vec<Entry>,
}

#[derive(Clone, Serialize, Deserialize)]
struct Entry {
    name: String,
    key_hash: String,
    created: String,
}

/// The accounts of a server (names and keyed hashes of their API keys).
pub struct Accounts {
    path: PathBuf,
    secret: Zeroizing<[u8; 32]>,
    entries: Vec<Entry>,
    hashes: Vec<[u8; 32]>,
}

impl std::fmt::Debug for Accounts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Accounts")
            .field("path", &self.path)
            .field("accounts", &self.names().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// A valid account name: 1–128 of `A–Z a–z 0–9 . _ @ -` (it becomes the watermark's account id and
/// a line of `scan --accounts`).
pub fn check_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 128
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'@' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(ServeError::Account {
            name: name.to_string(),
            reason: "names are 1 to 128 of the characters A-Z a-z 0-9 . _ @ -".into(),
        })
    }
}

fn random32() -> Result<Zeroizing<[u8; 32]>> {
    let mut b = Zeroizing::new([0u8; 32]);
    getrandom::getrandom(b.as_mut()).map_err(|e| {
        ServeError::Config(format!("the operating system gave no random bytes: {e}"))
    })?;
    Ok(b)
}

fn decode32(hex_text: &str) -> Option<[u8; 32]> {
    let v = hex::decode(hex_text).ok()?;
    v.try_into().ok()
}

impl Accounts {
    /// Reads an accounts file.
    pub fn load(path: &Path) -> Result<Accounts> {
        let text =
            Zeroizing::new(std::fs::read_to_string(path).map_err(|e| ServeError::io(path, e))?);
        let bad = |reason: String| ServeError::AccountsFile {
            path: path.to_path_buf(),
            reason,
        };
        let repr: FileRepr =
            serde_json::from_str(&text).map_err(|e| bad(format!("not an accounts file: {e}")))?;
        if repr.format != FORMAT {
            return Err(bad(format!(
                "format {:?}, expected {FORMAT:?}",
                repr.format
            )));
        }
        let secret = Zeroizing::new(
            decode32(&repr.secret).ok_or_else(|| bad("secret is not 64 hex digits".into()))?,
        );
        let mut hashes = Vec::with_capacity(repr.accounts.len());
        let mut seen = std::collections::HashSet::new();
        for e in &repr.accounts {
            check_name(&e.name)?;
            if !seen.insert(e.name.as_str()) {
                return Err(bad(format!("account {:?} appears twice", e.name)));
            }
            hashes.push(decode32(&e.key_hash).ok_or_else(|| {
                bad(format!(
                    "account {:?}: key_hash is not 64 hex digits",
                    e.name
                ))
            })?);
        }
        Ok(Accounts {
            path: path.to_path_buf(),
            secret,
            entries: repr.accounts,
            hashes,
        })
    }

    /// Reads `path`, or starts an empty set of accounts (with a fresh secret) if it does not exist.
    pub fn load_or_new(path: &Path) -> Result<Accounts> {
        if path.exists() {
            return Accounts::load(path);
        }
        Ok(Accounts {
            path: path.to_path_buf(),
            secret: random32()?,
            entries: Vec::new(),
            hashes: Vec::new(),
        })
    }

    /// The account names, in the order they were added.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|e| e.name.as_str())
    }

    /// Number of accounts.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when there are no accounts.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn hash(&self, api_key: &[u8]) -> [u8; 32] {
        // HMAC accepts keys of any length; this cannot fail.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(self.secret.as_ref())
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        mac.update(api_key);
        mac.finalize().into_bytes().into()
    }

    /// Adds an account and returns its new API key (the only time it exists outside the
    /// caller's hands). Call [`Accounts::save`] afterwards.
    pub fn add(&mut self, name: &str) -> Result<Zeroizing<String>> {
        check_name(name)?;
        if self.entries.iter().any(|e| e.name == name) {
            return Err(ServeError::Account {
                name: name.to_string(),
                reason: "exists already in this accounts file".into(),
            });
        }
        let raw = random32()?;
        let key = Zeroizing::new(format!("{KEY_PREFIX}{}", hex::encode(raw.as_ref())));
        let h = self.hash(key.as_bytes());
        self.entries.push(Entry {
            name: name.to_string(),
            key_hash: hex::encode(h),
            created: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
        });
        self.hashes.push(h);
        Ok(key)
    }

    /// Writes the file (mode 0600 on Unix) through a temporary file and a rename.
    pub fn save(&self) -> Result<()> {
        let repr = FileRepr {
            format: FORMAT.into(),
            secret: hex::encode(self.secret.as_ref()),
            accounts: self.entries.clone(),
        };
        let text = Zeroizing::new(
            serde_json::to_string_pretty(&repr)
                .map_err(|e| ServeError::Config(format!("cannot encode the accounts file: {e}")))?
                + "\n",
        );
        let dir = match self.path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let name = self
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "accounts".into());
        let tmp = dir.join(format!(".{name}.tmp{}", std::process::id()));
        let io = |e| ServeError::io(&tmp, e);
        {
            use std::io::Write;
            let mut opts = std::fs::OpenOptions::new();
            opts.write(true).create_new(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                opts.mode(0o600);
            }
            let mut f = opts.open(&tmp).map_err(io)?;
            f.write_all(text.as_bytes()).map_err(io)?;
            f.sync_all().map_err(io)?;
        }
        std::fs::rename(&tmp, &self.path).map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            ServeError::io(&self.path, e)
        })
    }

    /// The account an API key belongs to. Every stored hash is compared, in constant time.
    pub fn lookup(&self, api_key: &str) -> Option<&str> {
        let h = self.hash(api_key.as_bytes());
        let mut found = usize::MAX;
        for (i, stored) in self.hashes.iter().enumerate() {
            let hit: bool = stored.ct_eq(&h).into();
            // Names are unique and hashes of distinct random keys differ: at most one hit.
            found = if hit { i } else { found };
        }
        self.entries.get(found).map(|e| e.name.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_map_to_their_accounts_and_only_hashes_are_stored() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("accounts.json");
        let mut a = Accounts::load_or_new(&path).expect("new");
        let k1 = a.add("alice").expect("add");
        let k2 = a.add("bob").expect("add");
        assert!(k1.starts_with(KEY_PREFIX) && k1.len() == KEY_PREFIX.len() + 64);
        assert!(a.add("alice").is_err(), "duplicate name");
        assert!(a.add("no spaces").is_err());
        a.save().expect("save");
        let text = std::fs::read_to_string(&path).expect("read");
        assert!(!text.contains(k1.as_str()) && !text.contains(&k1[KEY_PREFIX.len()..]));
        assert!(!text.contains(&k2[KEY_PREFIX.len()..]));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let b = Accounts::load(&path).expect("load");
        assert_eq!(b.lookup(&k1), Some("alice"));
        assert_eq!(b.lookup(&k2), Some("bob"));
        assert_eq!(b.lookup("pmk-00"), None);
        // One changed character is another key.
        let mut wrong = k1.to_string();
        let last = if wrong.ends_with('0') { "1" } else { "0" };
        wrong.replace_range(wrong.len() - 1.., last);
        assert_eq!(b.lookup(&wrong), None);
        assert_eq!(b.names().collect::<Vec<_>>(), ["alice", "bob"]);
        // A second file has its own secret: the same key hashes differently.
        let mut c = Accounts::load_or_new(&dir.path().join("other.json")).expect("new");
        c.add("alice").expect("add");
        assert_eq!(c.lookup(&k1), None);
    }

    #[test]
    fn a_damaged_file_is_one_clear_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("a.json");
        std::fs::write(
            &path,
            "{\"format\": \"other\", \"secret\": \"00\", \"accounts\": []}",
        )
        .expect("write");
        let e = Accounts::load(&path).expect_err("bad format").to_string();
        assert!(e.contains("a.json") && e.contains("format"), "{e}");
    }
}
