//! Accounts files, and the rule that a test over nothing is no verdict.
//!
//! One reader serves every verb (`check --accounts-file`, `scan --accounts-file`), so a file
//! means the same thing everywhere: one account id per line, surrounding whitespace trimmed,
//! blank lines and lines whose first non-blank character is `#` ignored.

use std::path::Path;

use crate::error::{DetectError, Result};
use crate::score::Evidence;

/// Parses the text of an accounts file (see the module documentation). `path` names the file in
/// errors. An id listed twice, or a file without any id, is an error: attribution would pay
/// twice for one key, and an empty list is almost always the wrong file.
pub fn parse_accounts(text: &str, path: &Path) -> Result<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (n, line) in text.lines().enumerate() {
        let id = line.trim();
        if id.is_empty() || id.starts_with('#') {
            continue;
        }
        if id.chars().any(char::is_control) {
            return Err(DetectError::AccountsFile {
                path: path.to_path_buf(),
                reason: format!("line {}: the id contains a control character", n + 1),
            });
        }
        if !seen.insert(id) {
            return Err(DetectError::AccountsFile {
                path: path.to_path_buf(),
                reason: format!("line {}: account id listed twice", n + 1),
            });
        }
        out.push(id.to_string());
    }
    if out.is_empty() {
        return Err(DetectError::AccountsFile {
            path: path.to_path_buf(),
            reason: "no account ids (only blank or # comment lines)".into(),
        });
    }
    Ok(out)
}

/// Reads and parses an accounts file ([`parse_accounts`]). Invalid UTF-8 is an error naming
/// the file.
pub fn read_accounts_file(path: &Path) -> Result<Vec<String>> {
    let bytes = std::fs::read(path).map_err(|e| DetectError::AccountsFile {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    let text = String::from_utf8(bytes).map_err(|e| DetectError::AccountsFile {
        path: path.to_path_buf(),
        reason: format!("invalid UTF-8 at byte {}", e.utf8_error().valid_up_to()),
    })?;
    parse_accounts(&text, path)
}

/// Refuses evidence that scored no position ([`DetectError::NothingScored`]): an empty test
/// has p = 1, which a pipeline would read as "clean" although nothing was tested.
pub fn ensure_scored(evidence: &Evidence, context_width: usize) -> Result<()> {
    if evidence.scored_tokens == 0 {
        return Err(DetectError::NothingScored {
            total_tokens: evidence.total_tokens,
            context_width,
        });
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn comments_blanks_and_whitespace_are_not_accounts() {
        let p = Path::new("a.txt");
        let got = parse_accounts("# customers\n\n  alice \n\t# bob\nbob\r\n", p).unwrap();
        assert_eq!(got, vec!["alice", "bob"]);
        let e = parse_accounts("# only\n\n", p).unwrap_err();
        assert!(e.to_string().contains("a.txt"), "{e}");
        let e = parse_accounts("x\ny\nx\n", p).unwrap_err();
        assert!(e.to_string().contains("line 3"), "{e}");
    }

    #[test]
    fn unreadable_and_non_utf8_files_name_the_file() {
        let dir = std::env::temp_dir().join(format!("provmark-acct-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("bad.txt");
        std::fs::write(&f, b"alice\n\xff\n").unwrap();
        let e = read_accounts_file(&f).unwrap_err().to_string();
        assert!(e.contains("bad.txt") && e.contains("UTF-8"), "{e}");
        let e = read_accounts_file(&dir.join("none.txt"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("none.txt"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
