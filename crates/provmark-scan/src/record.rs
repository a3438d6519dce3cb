//! Record parsing: pulling the text, prompt and id out of a raw record, and the reasons a record
//! is skipped.

use std::borrow::Cow;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Serialize};

use crate::input::{Fields, RawKind};

/// Why a record was not scored. Every input record is either scored or skipped with one of these.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SkipReason {
    /// The line is not one JSON object.
    MalformedJson,
    /// The text field is absent or null.
    MissingField,
    /// The text field is present but not a string (a number, an array, …).
    NotText,
    /// The text is empty or whitespace only.
    EmptyText,
    /// The record's bytes are not valid UTF-8 (records are never decoded lossily: a
    /// replacement character would change the tokens and could fake or hide evidence).
    InvalidUtf8,
    /// Fewer tokens than `--min-tokens` (at least context width + 1, the first scorable position).
    TooFewTokens,
}

impl SkipReason {
    /// All reasons, in report order.
    pub const ALL: [SkipReason; 6] = [
        SkipReason::MalformedJson,
        SkipReason::MissingField,
        SkipReason::NotText,
        SkipReason::EmptyText,
        SkipReason::InvalidUtf8,
        SkipReason::TooFewTokens,
    ];

    /// The snake_case name used in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            SkipReason::MalformedJson => "malformed_json",
            SkipReason::MissingField => "missing_field",
            SkipReason::NotText => "not_text",
            SkipReason::EmptyText => "empty_text",
            SkipReason::InvalidUtf8 => "invalid_utf8",
            SkipReason::TooFewTokens => "too_few_tokens",
        }
    }
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A string field's value in a JSON record.
#[derive(Debug, PartialEq)]
pub(crate) enum FieldValue<'a> {
    Absent,
    Str(Cow<'a, str>),
    NotText,
}

/// The parts of a JSON record a scan uses.
#[derive(Debug)]
pub(crate) struct Parsed<'a> {
    pub text: FieldValue<'a>,
    pub prompt: Option<Cow<'a, str>>,
    pub id: Option<String>,
}

struct Extract<'f> {
    text: &'f str,
    prompt: Option<&'f str>,
    id: Option<&'f str>,
}

/// Parses one JSONL line: `Err(reason)` when it is not valid UTF-8 or not one JSON object.
pub(crate) fn parse_json_line<'a>(
    line: &'a [u8],
    text: &str,
    prompt: Option<&str>,
    id: Option<&str>,
) -> Result<Parsed<'a>, SkipReason> {
    let s = std::str::from_utf8(line).map_err(|_| SkipReason::InvalidUtf8)?;
    let mut de = serde_json::Deserializer::from_str(s);
    let parsed = Extract { text, prompt, id }
        .deserialize(&mut de)
        .map_err(|_| SkipReason::MalformedJson)?;
    de.end().map_err(|_| SkipReason::MalformedJson)?;
    Ok(parsed)
}

/// A record's parts once it is known to carry text.
#[derive(Debug)]
pub(crate) struct Extracted<'a> {
    pub text: Cow<'a, str>,
    pub prompt: Option<Cow<'a, str>>,
    /// The id found inside the record (JSONL); `None` keeps the reader's id.
    pub id: Option<String>,
}

/// Pulls text, prompt and id out of a raw record, or says why it is skipped before
/// tokenization (with the id, when the record had one). `bytes` is the record's text range (the
/// whole line for JSONL); `prompt` the prompt range of Parquet rows.
pub(crate) fn extract<'a>(
    kind: &RawKind,
    bytes: &'a [u8],
    prompt: Option<&'a [u8]>,
    names: &Fields,
) -> Result<Extracted<'a>, (SkipReason, Option<String>)> {
    let x = match kind {
        RawKind::JsonLine => {
            let p = parse_json_line(
                bytes,
                &names.text,
                names.prompt.as_deref(),
                names.id.as_deref(),
            )
            .map_err(|r| (r, None))?;
            match p.text {
                FieldValue::Absent => return Err((SkipReason::MissingField, p.id)),
                FieldValue::NotText => return Err((SkipReason::NotText, p.id)),
                FieldValue::Str(text) => Extracted {
                    text,
                    prompt: p.prompt,
                    id: p.id,
                },
            }
        }
        RawKind::PlainText | RawKind::Row => match std::str::from_utf8(bytes) {
            Ok(s) => Extracted {
                text: s.into(),
                prompt: prompt.map(String::from_utf8_lossy),
                id: None,
            },
            Err(_) => return Err((SkipReason::InvalidUtf8, None)),
        },
        RawKind::RowMissing => return Err((SkipReason::MissingField, None)),
        RawKind::RowNotText => return Err((SkipReason::NotText, None)),
    };
    if x.text.trim().is_empty() {
        return Err((SkipReason::EmptyText, x.id));
    }
    Ok(x)
}

/// The top-level field names of a JSON object line, in order (empty when it is not one). Used
/// only to explain why records lack the text field, so it may allocate.
pub(crate) fn top_level_keys(line: &[u8]) -> Vec<String> {
    let Ok(s) = std::str::from_utf8(line) else {
        return Vec::new();
    };
    serde_json::from_str::<std::collections::BTreeMap<String, IgnoredAny>>(s)
        .map(|m| m.into_keys().collect())
        .unwrap_or_default()
}

impl<'de> DeserializeSeed<'de> for Extract<'_> {
    type Value = Parsed<'de>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Extract<'_> {
    type Value = Parsed<'de>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut out = Parsed {
            text: FieldValue::Absent,
            prompt: None,
            id: None,
        };
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            let key: &str = &key;
            if key == self.text {
                out.text = map.next_value::<Loose<'de>>()?.into_field();
            } else if Some(key) == self.prompt {
                out.prompt = match map.next_value::<Loose<'de>>()? {
                    Loose::Str(s) => Some(s),
                    _ => None,
                };
            } else if Some(key) == self.id {
                out.id = match map.next_value::<Loose<'de>>()? {
                    Loose::Str(s) => Some(s.into_owned()),
                    Loose::Scalar(s) => Some(s),
                    _ => None,
                };
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(out)
    }
}

/// Any JSON value, keeping only strings and the text of scalars.
enum Loose<'a> {
    Null,
    Str(Cow<'a, str>),
    Scalar(String),
    Other,
}

impl<'a> Loose<'a> {
    fn into_field(self) -> FieldValue<'a> {
        match self {
            Loose::Null => FieldValue::Absent,
            Loose::Str(s) => FieldValue::Str(s),
            Loose::Scalar(_) | Loose::Other => FieldValue::NotText,
        }
    }
}

impl<'de> Deserialize<'de> for Loose<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Loose<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Loose::Str(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Loose::Str(Cow::Owned(v.to_string())))
            }
            fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
                Ok(Loose::Str(Cow::Owned(v)))
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(Loose::Null)
            }
            fn visit_none<E>(self) -> Result<Self::Value, E> {
                Ok(Loose::Null)
            }
            fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
                Ok(Loose::Scalar(v.to_string()))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
                Ok(Loose::Scalar(v.to_string()))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
                Ok(Loose::Scalar(v.to_string()))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
                Ok(Loose::Scalar(v.to_string()))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut a: A,
            ) -> Result<Self::Value, A::Error> {
                while a.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Loose::Other)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Self::Value, A::Error> {
                while a.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Loose::Other)
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn p(line: &str) -> Result<Parsed<'_>, SkipReason> {
        parse_json_line(line.as_bytes(), "text", Some("prompt"), Some("id"))
    }

    #[test]
    fn extracts_fields_and_ignores_others() {
        let r = p(r#"{"id": 7, "meta": {"a": [1, 2]}, "prompt": "q", "text": "a\nb"}"#).unwrap();
        assert_eq!(r.text, FieldValue::Str(Cow::Owned("a\nb".into())));
        assert_eq!(r.prompt.as_deref(), Some("q"));
        assert_eq!(r.id.as_deref(), Some("7"));
    }

    #[test]
    fn classifies_bad_lines() {
        assert_eq!(p("{not json").unwrap_err(), SkipReason::MalformedJson);
        assert_eq!(p("[1, 2]").unwrap_err(), SkipReason::MalformedJson);
        assert_eq!(
            p(r#"{"text": "a"} trailing"#).unwrap_err(),
            SkipReason::MalformedJson
        );
        assert_eq!(
            parse_json_line(b"{\"text\": \"\xff\"}", "text", None, None).unwrap_err(),
            SkipReason::InvalidUtf8
        );
        assert_eq!(p(r#"{"other": "a"}"#).unwrap().text, FieldValue::Absent);
        assert_eq!(p(r#"{"text": null}"#).unwrap().text, FieldValue::Absent);
        assert_eq!(p(r#"{"text": 3}"#).unwrap().text, FieldValue::NotText);
        assert_eq!(
            p(r#"{"text": {"x": 1}}"#).unwrap().text,
            FieldValue::NotText
        );
    }
}
