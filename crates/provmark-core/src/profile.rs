//! The watermark profile: one JSON file binding the secret to every parameter detection needs.
//!
//! ```json
//! {
//!   "format": "provmark-profile",
//!   "version": 1,
//!   "key_id": "3f2a…",
//!   "secret": "<64 hex digits>",
//!   "prf": "provmark-aes128-v1",
//!   "scheme": {"kind": "green", "gamma": 0.25, "delta": 2.0},
//!   "context_width": 2,
//!   "skip_repeated_contexts": true,
//!   "tokenizer": {"kind": "tiktoken", "encoding": "o200k_base"}
//! }
//! ```

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::error::{CoreError, Result};
use crate::foreign::{self, ForeignKey, ForeignKeyFile};
use crate::keys::{KeyId, SecretKey};
use crate::prf::{Aes128Prf, AnyPrf, NATIVE_PRF_ID};
use crate::scheme::{validate_context_width, Scheme, Watermark};

/// The `format` tag of every profile file.
pub const PROFILE_FORMAT: &str = "provmark-profile";
/// The highest profile format version this build reads and the one it writes.
pub const PROFILE_VERSION: u32 = 1;

/// Which tokenizer the watermarked model used; detection refuses any other.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
pub enum TokenizerSpec {
    /// An OpenAI encoding bundled with provmark (`o200k_base`, `cl100k_base`).
    Tiktoken {
        /// Encoding name.
        encoding: String,
    },
    /// A Hugging Face `tokenizer.json`, identified by the SHA-256 of the file's bytes.
    HuggingFace {
        /// Lowercase hex SHA-256 of the file.
        sha256: String,
        /// Vocabulary size including added tokens.
        vocab_size: u32,
        /// Where keygen found the file: a hint for `check`/`scan`, which verify the hash.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        path: Option<String>,
    },
}

impl TokenizerSpec {
    /// The default: OpenAI `o200k_base`.
    pub fn default_openai() -> Self {
        TokenizerSpec::Tiktoken {
            encoding: "o200k_base".into(),
        }
    }
}

impl std::fmt::Display for TokenizerSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TokenizerSpec::Tiktoken { encoding } => write!(f, "{encoding}"),
            TokenizerSpec::HuggingFace {
                sha256, vocab_size, ..
            } => {
                write!(
                    f,
                    "tokenizer.json sha256:{} ({vocab_size} tokens)",
                    &sha256[..sha256.len().min(16)]
                )
            }
        }
    }
}

/// A loaded or freshly generated watermark profile.
#[derive(Clone, Debug)]
pub struct Profile {
    key_id: KeyId,
    secret: SecretKey,
    /// PRF identifier (`provmark-aes128-v1`).
    pub prf: String,
    /// Scheme and parameters.
    pub scheme: Scheme,
    /// Context width h.
    pub context_width: usize,
    /// Whether generation skips repeated contexts (first occurrence watermarked, repeats
    /// sampled normally).
    pub skip_repeated_contexts: bool,
    /// The tokenizer the watermarked model uses.
    pub tokenizer: TokenizerSpec,
    /// The imported key of another system's watermark (vLLM, SynthID-Text); `None` for
    /// provmark's own scheme. See [`crate::foreign`].
    foreign: Option<ForeignKey>,
}

/// Something the caller should tell the user about but that does not stop loading.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProfileWarning {
    /// The file can be read by users other than its owner.
    ReadableByOthers {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
}

impl std::fmt::Display for ProfileWarning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ProfileWarning::ReadableByOthers { path, mode } => write!(
                f,
                "{}: profile is readable by other users (mode {:o}); run chmod 600 on it",
                path.display(),
                mode & 0o777
            ),
        }
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProfileFile {
    format: String,
    version: u32,
    key_id: KeyId,
    secret: String,
    prf: String,
    scheme: Scheme,
    context_width: usize,
    skip_repeated_contexts: bool,
    tokenizer: TokenizerSpec,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    foreign: Option<ForeignKeyFile>,
}

#[derive(Deserialize)]
struct VersionProbe {
    format: Option<String>,
    version: Option<u32>,
}

impl Profile {
    /// Creates a profile with a fresh secret from the OS RNG.
    pub fn generate(
        scheme: Scheme,
        context_width: usize,
        tokenizer: TokenizerSpec,
    ) -> Result<Self> {
        Self::from_secret(SecretKey::generate()?, scheme, context_width, tokenizer)
    }

    /// Creates a profile around a known secret (tests, demos, imports).
    pub fn from_secret(
        secret: SecretKey,
        scheme: Scheme,
        context_width: usize,
        tokenizer: TokenizerSpec,
    ) -> Result<Self> {
        scheme.validate()?;
        validate_context_width(context_width)?;
        Ok(Profile {
            key_id: secret.key_id(),
            secret,
            prf: NATIVE_PRF_ID.to_string(),
            scheme,
            context_width,
            skip_repeated_contexts: true,
            tokenizer,
            foreign: None,
        })
    }

    /// Creates a profile for another system's watermark from its imported key. `secret` is a
    /// fresh provmark secret (use [`SecretKey::generate`]): it gives the key id, report MACs and
    /// dedup fingerprints, so the foreign key never reaches the public key id. `prf`, `scheme`
    /// and `context_width` must belong together (see [`crate::foreign`]).
    pub fn from_foreign(
        secret: SecretKey,
        foreign: ForeignKey,
        prf: &str,
        scheme: Scheme,
        context_width: usize,
        tokenizer: TokenizerSpec,
    ) -> Result<Self> {
        foreign::validate(prf, &scheme, context_width, &foreign)?;
        Ok(Profile {
            key_id: secret.key_id(),
            secret,
            prf: prf.to_string(),
            scheme,
            context_width,
            skip_repeated_contexts: true,
            tokenizer,
            foreign: Some(foreign),
        })
    }

    /// The imported foreign key, if this profile detects another system's watermark. A secret.
    pub fn foreign(&self) -> Option<&ForeignKey> {
        self.foreign.as_ref()
    }

    /// Whether per-account keys exist (provmark's own scheme only; a foreign watermark has one
    /// key).
    pub fn supports_accounts(&self) -> bool {
        self.foreign.is_none()
    }

    /// The public key id.
    pub fn key_id(&self) -> &KeyId {
        &self.key_id
    }

    /// The master secret. Never print or log it.
    pub fn secret(&self) -> &SecretKey {
        &self.secret
    }

    /// The stream key for detection or embedding: the master secret, or an account's subkey.
    pub fn stream_key(&self, account: Option<&str>) -> SecretKey {
        match account {
            None => self.secret.clone(),
            Some(a) => self.secret.account_key(a),
        }
    }

    /// The keyed scheme for the master key (`None`) or one account. Derivation runs once here;
    /// nothing is derived per token.
    ///
    /// Foreign profiles have no per-account keys: call [`Profile::try_watermark`] (or check
    /// [`Profile::supports_accounts`]) before passing an account; this method panics on an
    /// account for a foreign profile rather than silently testing the wrong key.
    pub fn watermark(&self, account: Option<&str>) -> Watermark<AnyPrf> {
        self.try_watermark(account)
            .expect("profile parameters were validated; accounts need supports_accounts()")
    }

    /// [`Profile::watermark`], with an error instead of a panic for an account on a foreign
    /// profile (or a profile whose public fields were changed into an invalid combination).
    pub fn try_watermark(&self, account: Option<&str>) -> Result<Watermark<AnyPrf>> {
        let prf = match &self.foreign {
            None => AnyPrf::Native(Aes128Prf::new(
                &self.stream_key(account),
                self.context_width,
            )),
            Some(f) => {
                if account.is_some() {
                    return Err(CoreError::param(
                        "account",
                        "imported (vLLM, SynthID) watermarks have a single key; per-account keys exist only for provmark's own scheme",
                    ));
                }
                foreign::validate(&self.prf, &self.scheme, self.context_width, f)?;
                foreign::build_prf(&self.prf, self.context_width, f)?
            }
        };
        Watermark::new(prf, self.scheme, self.context_width)
    }

    /// Serialises to pretty JSON (contains the secret).
    pub fn to_json(&self) -> Zeroizing<String> {
        let file = ProfileFile {
            format: PROFILE_FORMAT.into(),
            version: PROFILE_VERSION,
            key_id: self.key_id.clone(),
            secret: hex::encode(self.secret.expose_bytes()),
            prf: self.prf.clone(),
            scheme: self.scheme,
            context_width: self.context_width,
            skip_repeated_contexts: self.skip_repeated_contexts,
            tokenizer: self.tokenizer.clone(),
            foreign: self.foreign.as_ref().map(ForeignKey::to_file),
        };
        let mut s = serde_json::to_string_pretty(&file).expect("profile serialises");
        s.push('\n');
        Zeroizing::new(s)
    }

    /// Parses profile JSON. `origin` names the source in errors.
    pub fn from_json(text: &str, origin: &Path) -> Result<Self> {
        let malformed = |reason: String| CoreError::MalformedProfile {
            path: origin.to_path_buf(),
            reason,
        };
        // Probe format and version first so a future file gets a version error, not a field error.
        let probe: VersionProbe = serde_json::from_str(text).map_err(|e| malformed(redact(&e)))?;
        if probe.format.as_deref() != Some(PROFILE_FORMAT) {
            return Err(malformed(format!(
                "not a provmark profile (missing \"format\": \"{PROFILE_FORMAT}\")"
            )));
        }
        match probe.version {
            None => return Err(malformed("missing field `version`".into())),
            Some(v) if v > PROFILE_VERSION => {
                return Err(CoreError::FutureVersion {
                    path: origin.to_path_buf(),
                    found: v,
                    supported: PROFILE_VERSION,
                })
            }
            Some(0) => return Err(malformed("version 0 is not a valid profile version".into())),
            Some(_) => {}
        }
        let file: ProfileFile = serde_json::from_str(text).map_err(|e| malformed(redact(&e)))?;
        let raw = Zeroizing::new(
            hex::decode(file.secret.trim()).map_err(|_| malformed("`secret` is not hex".into()))?,
        );
        let bytes: [u8; 32] = raw
            .as_slice()
            .try_into()
            .map_err(|_| malformed(format!("`secret` must be 32 bytes, found {}", raw.len())))?;
        let secret = SecretKey::from_bytes(bytes);
        if secret.key_id() != file.key_id {
            return Err(malformed(
                "`key_id` does not match `secret` (file altered or truncated)".into(),
            ));
        }
        let foreign_key = match &file.foreign {
            None => None,
            Some(f) => Some(ForeignKey::from_file(f).map_err(malformed)?),
        };
        match &foreign_key {
            None if file.prf != NATIVE_PRF_ID => {
                if foreign::is_foreign_prf(&file.prf) {
                    return Err(malformed(format!(
                        "PRF `{}` needs an imported key (`foreign`)",
                        file.prf
                    )));
                }
                return Err(malformed(format!("unknown PRF `{}`", file.prf)));
            }
            // Parameter errors name the file like every other profile error.
            None => {
                file.scheme
                    .validate()
                    .map_err(|e| malformed(e.to_string()))?;
                validate_context_width(file.context_width).map_err(|e| malformed(e.to_string()))?;
            }
            Some(f) => foreign::validate(&file.prf, &file.scheme, file.context_width, f)
                .map_err(|e| malformed(e.to_string()))?,
        }
        Ok(Profile {
            key_id: file.key_id.clone(),
            secret,
            prf: file.prf.clone(),
            scheme: file.scheme,
            context_width: file.context_width,
            skip_repeated_contexts: file.skip_repeated_contexts,
            tokenizer: file.tokenizer.clone(),
            foreign: foreign_key,
        })
    }

    /// Loads a profile file; returns warnings (e.g. a file readable by others) beside it.
    pub fn load(path: &Path) -> Result<(Self, Vec<ProfileWarning>)> {
        let io = |source| CoreError::Io {
            path: path.to_path_buf(),
            source,
        };
        let text = Zeroizing::new(std::fs::read_to_string(path).map_err(io)?);
        let mut warnings = Vec::new();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(path).map_err(io)?.permissions().mode();
            if mode & 0o077 != 0 {
                warnings.push(ProfileWarning::ReadableByOthers {
                    path: path.to_path_buf(),
                    mode,
                });
            }
        }
        Ok((Self::from_json(&text, path)?, warnings))
    }

    /// Writes the profile to a new file with mode 0600; refuses to overwrite.
    pub fn save_new(&self, path: &Path) -> Result<()> {
        let io = |source| CoreError::Io {
            path: path.to_path_buf(),
            source,
        };
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        if path.is_dir() {
            // `create_new` would say "already exists", which reads as a file to replace.
            return Err(io(std::io::Error::new(
                std::io::ErrorKind::IsADirectory,
                "is a folder; give the path of the profile file to create (e.g. DIR/key.json)",
            )));
        }
        let mut f = opts.open(path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                CoreError::Exists(path.to_path_buf())
            } else {
                io(e)
            }
        })?;
        f.write_all(self.to_json().as_bytes()).map_err(io)?;
        f.sync_all().map_err(io)?;
        Ok(())
    }
}

/// serde_json errors may quote input fragments; keep only the category and position so a
/// secret can never leak through an error message.
fn redact(e: &serde_json::Error) -> String {
    use serde_json::error::Category;
    let what = match e.classify() {
        Category::Io => "I/O error",
        Category::Syntax => "invalid JSON",
        Category::Data => "unexpected or missing field",
        Category::Eof => "file is truncated",
    };
    let msg = e.to_string();
    // Data errors name fields ("missing field `x`", "unknown variant `y`"): keep those words
    // only when they do not quote string values.
    if matches!(e.classify(), Category::Data)
        && (msg.starts_with("missing field") || msg.starts_with("unknown field"))
    {
        let head = msg.split(" at line").next().unwrap_or(what);
        return format!("{head} (line {}, column {})", e.line(), e.column());
    }
    format!("{what} at line {}, column {}", e.line(), e.column())
}
