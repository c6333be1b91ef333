//! Request JSON read strictly, once for every body and every token: a key given twice in
//! one object is refused (serde_json would keep the last value silently), and so is a
//! number that would not come back as the number sent.
//!
//! The number rule: a number is kept exactly when it is an integer from -2^63 to 2^64-1,
//! or when the shortest decimal that the 64-bit float it becomes prints back is the same
//! decimal value as was sent (`0.1`, `1e300`, `2.50`). `123456789012345678901234567890`
//! would come back as `1.2345678901234568e29`, and `0.10000000000000000001` as `0.1`:
//! both are refused rather than silently changed.

use std::cell::RefCell;
use std::fmt;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

use crate::error::Detail;
use crate::vtid::printable;

/// Longest number text quoted back in a message.
const MAX_QUOTED_NUMBER: usize = 40;

/// Why a text is not acceptable JSON.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StrictError {
    /// Not JSON at all: the line and column of the first problem.
    Syntax { line: usize, column: usize },
    /// JSON, but a key repeats or a number would change: names the field.
    Refused(Detail),
}

impl fmt::Display for StrictError {
    /// One phrase: where the text stops being JSON, or the field and why it is refused.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StrictError::Syntax { line, column } => {
                write!(f, "not valid JSON at line {line}, column {column}")
            }
            StrictError::Refused(d) => write!(f, "{} {}", d.field, d.message),
        }
    }
}

/// `bytes` as one JSON value, or why not.
pub fn parse(bytes: &[u8]) -> Result<Value, StrictError> {
    let inexact = first_inexact_number(bytes);
    let state = RefCell::new(State {
        numbers_seen: 0,
        inexact,
        refused: None,
    });
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = Seed {
        state: &state,
        path: &Path::Root,
    }
    .deserialize(&mut de)
    .and_then(|v| de.end().map(|()| v));
    match (value, state.into_inner().refused) {
        (_, Some(detail)) => Err(StrictError::Refused(detail)),
        (Ok(v), None) => Ok(v),
        (Err(e), None) => Err(StrictError::Syntax {
            line: e.line(),
            column: e.column(),
        }),
    }
}

struct State {
    /// Numbers visited so far, in document order.
    numbers_seen: usize,
    /// The first number that would not round-trip: its index in document order and text.
    inexact: Option<(usize, String)>,
    refused: Option<Detail>,
}

/// Where a value sits, for naming it: `metadata.n`, `items[2].tenant`.
enum Path<'a> {
    Root,
    Key(&'a Path<'a>, &'a str),
    Index(&'a Path<'a>, usize),
}

impl fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Path::Root => Ok(()),
            Path::Key(Path::Root, k) => write!(f, "{}", printable(k)),
            Path::Key(parent, k) => write!(f, "{parent}.{}", printable(k)),
            Path::Index(parent, i) => write!(f, "{parent}[{i}]"),
        }
    }
}

impl Path<'_> {
    fn name(&self) -> String {
        match self {
            Path::Root => "body".to_owned(),
            other => other.to_string(),
        }
    }
}

#[derive(Clone, Copy)]
struct Seed<'s, 'p> {
    state: &'s RefCell<State>,
    path: &'p Path<'p>,
}

impl Seed<'_, '_> {
    fn refuse<E: de::Error>(&self, detail: Detail) -> E {
        let mut state = self.state.borrow_mut();
        if state.refused.is_none() {
            state.refused = Some(detail);
        }
        E::custom("refused")
    }

    fn number<E: de::Error>(&self, n: Number) -> Result<Value, E> {
        let index = {
            let mut state = self.state.borrow_mut();
            state.numbers_seen += 1;
            state.numbers_seen - 1
        };
        let text = match &self.state.borrow().inexact {
            Some((i, text)) if *i == index => Some(text.clone()),
            _ => None,
        };
        match text {
            Some(text) => Err(self.refuse(Detail::new(
                self.path.name(),
                format!(
                    "is the number {}, which cannot be stored exactly (it would come back as {}): \
                     send at most 17 significant digits, an integer from -2^63 to 2^64-1, or a string",
                    quoted(&text),
                    n
                ),
            ))),
            None => Ok(Value::Number(n)),
        }
    }
}

impl<'de> DeserializeSeed<'de> for Seed<'_, '_> {
    type Value = Value;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Seed<'_, '_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        self.number(v.into())
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        self.number(v.into())
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        match Number::from_f64(v) {
            Some(n) => self.number(n),
            None => Err(E::custom("not a finite number")),
        }
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        self.deserialize(d)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        loop {
            let path = Path::Index(self.path, items.len());
            let seed = Seed {
                state: self.state,
                path: &path,
            };
            match seq.next_element_seed(seed)? {
                Some(v) => items.push(v),
                None => return Ok(Value::Array(items)),
            }
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if out.contains_key(&key) {
                let path = Path::Key(self.path, &key);
                return Err(self.refuse(Detail::new(
                    path.name(),
                    "is given more than once in one object; give each key once",
                )));
            }
            let value = {
                let path = Path::Key(self.path, &key);
                map.next_value_seed(Seed {
                    state: self.state,
                    path: &path,
                })?
            };
            out.insert(key, value);
        }
        Ok(Value::Object(out))
    }
}

fn quoted(text: &str) -> String {
    match text.char_indices().nth(MAX_QUOTED_NUMBER) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_owned(),
    }
}

/// The first number token of `bytes` (in document order, counting every number) that
/// would not come back as sent. Strings are skipped; the text need not be valid JSON
/// (then the parse fails anyway).
fn first_inexact_number(bytes: &[u8]) -> Option<(usize, String)> {
    let mut index = 0;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
            }
            b'-' | b'0'..=b'9' => {
                let start = i;
                while i < bytes.len()
                    && matches!(bytes[i], b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9')
                {
                    i += 1;
                }
                let token = String::from_utf8_lossy(&bytes[start..i]);
                if !round_trips(&token) {
                    return Some((index, token.into_owned()));
                }
                index += 1;
            }
            _ => i += 1,
        }
    }
    None
}

/// Whether the JSON number `token` comes back from serde_json as the same number.
pub fn round_trips(token: &str) -> bool {
    let integer = !token.contains(['.', 'e', 'E']);
    if integer && (token.parse::<i64>().is_ok() || token.parse::<u64>().is_ok()) {
        return true;
    }
    let Ok(f) = token.parse::<f64>() else {
        return false;
    };
    if !f.is_finite() {
        return false;
    }
    match (Decimal::parse(token), Decimal::parse(&format!("{f:e}"))) {
        (Some(sent), Some(kept)) => sent == kept,
        _ => false,
    }
}

/// A decimal number as sign, significant digits and exponent: `-1.50e3` is
/// (true, "15", 2). Zero is (false, "", 0) whatever its sign.
#[derive(Debug, PartialEq, Eq)]
struct Decimal {
    negative: bool,
    digits: String,
    exponent: i64,
}

impl Decimal {
    fn parse(text: &str) -> Option<Decimal> {
        let (negative, rest) = match text.strip_prefix('-') {
            Some(r) => (true, r),
            None => (false, text),
        };
        let (mantissa, exp) = match rest.find(['e', 'E']) {
            Some(i) => (&rest[..i], rest[i + 1..].trim_start_matches('+')),
            None => (rest, "0"),
        };
        // A huge exponent saturates: its number is not a float's anyway.
        let exp: i64 = match exp.parse() {
            Ok(e) => e,
            Err(_)
                if exp
                    .trim_start_matches('-')
                    .bytes()
                    .all(|b| b.is_ascii_digit()) =>
            {
                if exp.starts_with('-') {
                    i64::MIN / 2
                } else {
                    i64::MAX / 2
                }
            }
            Err(_) => return None,
        };
        let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        if !(int.bytes().chain(frac.bytes())).all(|b| b.is_ascii_digit()) {
            return None;
        }
        let all = format!("{int}{frac}");
        let mut exponent = exp.saturating_sub(frac.len() as i64);
        let trimmed = all.trim_start_matches('0');
        let digits = trimmed.trim_end_matches('0');
        if digits.is_empty() {
            return Some(Decimal {
                negative: false,
                digits: String::new(),
                exponent: 0,
            });
        }
        exponent = exponent.saturating_add((trimmed.len() - digits.len()) as i64);
        Some(Decimal {
            negative,
            digits: digits.to_owned(),
            exponent,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn refused(text: &str) -> Detail {
        match parse(text.as_bytes()) {
            Err(StrictError::Refused(d)) => d,
            other => panic!("{text} was not refused: {other:?}"),
        }
    }

    #[test]
    fn duplicate_keys_are_named_with_their_path() {
        let d = refused(r#"{"tenant":"acme","tenant":"globex"}"#);
        assert_eq!(d.field, "tenant");
        let d = refused(r#"{"items":[{"a":1},{"metadata":{"k":1,"k":2}}]}"#);
        assert_eq!(d.field, "items[1].metadata.k");
        // The same key in different objects is fine; escapes are decoded before comparing.
        assert!(parse(br#"{"a":{"k":1},"b":{"k":1}}"#).is_ok());
        assert_eq!(refused(r#"{"a":1,"\u0061":2}"#).field, "a");
    }

    #[test]
    fn numbers_are_kept_exactly_or_refused() {
        for ok in [
            "0",
            "-0",
            "1",
            "-1",
            "9223372036854775807",
            "-9223372036854775808",
            "18446744073709551615",
            "0.1",
            "2.50",
            "1e300",
            "1E-5",
            "-1.5e+3",
            "100000000000000000000000",
            "1.7976931348623157e308",
            "5e-324",
            "0.30000000000000004",
            "0.0",
            "-0.0",
        ] {
            assert!(round_trips(ok), "{ok} should round-trip");
            let v = parse(format!("{{\"n\":{ok}}}").as_bytes()).unwrap();
            let back: f64 = v["n"].to_string().parse().unwrap();
            assert_eq!(back, ok.parse::<f64>().unwrap(), "{ok}");
        }
        for bad in [
            "123456789012345678901234567890",
            "18446744073709551616",
            "-9223372036854775809",
            "0.10000000000000000001",
            "1.00000000000000000001",
            "1e-400",
            "4.9e-325",
            "3.14159265358979323846",
        ] {
            assert!(!round_trips(bad), "{bad} should be refused");
        }
        let d = refused(r#"{"metadata":{"a":[1,2],"n":123456789012345678901234567890}}"#);
        assert_eq!(d.field, "metadata.n");
        assert!(
            d.message.contains("123456789012345678901234567890"),
            "{}",
            d.message
        );
        // Digits inside strings are not numbers.
        assert!(parse(br#"{"s":"123456789012345678901234567890\"1e-400"}"#).is_ok());
    }

    #[test]
    fn syntax_errors_say_where() {
        assert_eq!(
            parse(b"{\n\"a\": }"),
            Err(StrictError::Syntax { line: 2, column: 6 })
        );
        assert!(matches!(parse(b"{} {}"), Err(StrictError::Syntax { .. })));
        assert_eq!(
            parse(b"[1, {\"a\": null}]").unwrap(),
            json!([1, {"a": null}])
        );
    }
}
