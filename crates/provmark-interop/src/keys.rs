//! Reading imported keys: vLLM's integer key and SynthID-Text's key list. The inputs are
//! secrets, so errors describe what is wrong without ever quoting the input.

use std::io::Read;
use std::path::Path;

use zeroize::Zeroizing;

use crate::error::{InteropError, Result};

/// Parses vLLM's watermark key as its config holds it: one integer in 0 ..= 2^64 − 1, decimal or
/// `0x` hexadecimal, with surrounding whitespace (a trailing newline) allowed. A JSON/YAML-style
/// `key: 42` or `{"key": 42}` is not accepted: put the bare integer in the file.
///
/// ```
/// use provmark_interop::keys::parse_vllm_key;
/// assert_eq!(parse_vllm_key("42\n").unwrap(), 42);
/// assert_eq!(parse_vllm_key("0xFFFFFFFFFFFFFFFF").unwrap(), u64::MAX);
/// assert!(parse_vllm_key("-1").is_err());
/// ```
pub fn parse_vllm_key(text: &str) -> Result<u64> {
    let t = text.trim();
    if t.is_empty() {
        return Err(InteropError::param("key", "the key file is empty"));
    }
    let parsed = if let Some(hex) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        u64::from_str_radix(hex, 16)
    } else {
        t.parse::<u64>()
    };
    parsed.map_err(|_| {
        InteropError::param(
            "key",
            format!(
                "not an integer in 0..=18446744073709551615 ({} characters; expected decimal or 0x hex)",
                t.chars().count()
            ),
        )
    })
}

/// Parses a SynthID-Text key list: a JSON array of integers (`[654, 400, …]`) or integers
/// separated by whitespace and/or commas. 1 to 64 keys, each a signed 64-bit integer (the
/// reference converts them with `torch.tensor(keys).to(long)`).
///
/// ```
/// use provmark_interop::keys::parse_synthid_keys;
/// assert_eq!(*parse_synthid_keys("[654, 400, 836]").unwrap(), vec![654, 400, 836]);
/// assert_eq!(*parse_synthid_keys("654 400\n836").unwrap(), vec![654, 400, 836]);
/// ```
pub fn parse_synthid_keys(text: &str) -> Result<Zeroizing<Vec<i64>>> {
    let t = text.trim();
    let body = t
        .strip_prefix('[')
        .and_then(|s| s.strip_suffix(']'))
        .unwrap_or(t);
    let mut keys = Zeroizing::new(Vec::new());
    for (i, item) in body
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|s| !s.is_empty())
        .enumerate()
    {
        let k = item.parse::<i64>().map_err(|_| {
            InteropError::param(
                "keys",
                format!("entry {} is not a 64-bit signed integer", i + 1),
            )
        })?;
        keys.push(k);
    }
    if keys.is_empty() || keys.len() > 64 {
        return Err(InteropError::param(
            "keys",
            format!(
                "a SynthID key list needs 1 to 64 keys, found {}",
                keys.len()
            ),
        ));
    }
    Ok(keys)
}

/// Largest key file read (a vLLM key is ≤ 20 digits; 64 SynthID keys ≤ 1.3 kB).
const MAX_KEY_FILE: u64 = 64 << 10;

/// Reads a key file into memory that is zeroized on drop; `-` reads standard input (so the key
/// never has to appear on a command line). Errors name the path, never the content.
pub fn read_key_source(path: &Path) -> Result<Zeroizing<String>> {
    let name = if path == Path::new("-") {
        "<stdin>".to_string()
    } else {
        path.display().to_string()
    };
    let io = |source: std::io::Error| InteropError::Io {
        path: name.clone(),
        source,
    };
    let mut bytes = Zeroizing::new(Vec::with_capacity(256));
    if path == Path::new("-") {
        std::io::stdin()
            .lock()
            .take(MAX_KEY_FILE + 1)
            .read_to_end(&mut bytes)
            .map_err(io)?;
    } else {
        std::fs::File::open(path)
            .and_then(|f| f.take(MAX_KEY_FILE + 1).read_to_end(&mut bytes))
            .map_err(io)?;
    }
    if bytes.len() as u64 > MAX_KEY_FILE {
        return Err(InteropError::param(
            "key-file",
            format!("{name} is larger than {MAX_KEY_FILE} bytes; not a key file"),
        ));
    }
    match std::str::from_utf8(&bytes) {
        Ok(s) => Ok(Zeroizing::new(s.to_string())),
        Err(_) => Err(InteropError::param(
            "key-file",
            format!("{name} is not UTF-8 text"),
        )),
    }
}

/// [`read_key_source`] then [`parse_vllm_key`].
pub fn read_vllm_key(path: &Path) -> Result<u64> {
    parse_vllm_key(&read_key_source(path)?)
}

/// [`read_key_source`] then [`parse_synthid_keys`].
pub fn read_synthid_keys(path: &Path) -> Result<Zeroizing<Vec<i64>>> {
    parse_synthid_keys(&read_key_source(path)?)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn errors_never_quote_the_secret() {
        for bad in [
            "12345678901234567890123",
            "0x1234567890abcdefg",
            "sekrit-98765",
        ] {
            let e = parse_vllm_key(bad).unwrap_err().to_string();
            assert!(
                !e.contains(bad) && !e.contains("98765") && !e.contains("1234567890"),
                "{e}"
            );
        }
        let e = parse_synthid_keys("[1, 2, 99999999999999999999]")
            .unwrap_err()
            .to_string();
        assert!(!e.contains("9999999"), "{e}");
        assert!(e.contains("entry 3"));
    }

    #[test]
    fn bounds() {
        assert_eq!(parse_vllm_key(" 18446744073709551615 ").unwrap(), u64::MAX);
        assert!(parse_vllm_key("18446744073709551616").is_err());
        assert!(parse_vllm_key("").is_err());
        assert_eq!(*parse_synthid_keys("-5,7").unwrap(), vec![-5, 7]);
        assert!(parse_synthid_keys("[]").is_err());
        let many: Vec<String> = (0..65).map(|i| i.to_string()).collect();
        assert!(parse_synthid_keys(&many.join(" ")).is_err());
    }
}
