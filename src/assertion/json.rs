//! A strict RFC 8259 JSON parser that decodes exactly what the PHP shim's
//! `json_decode($json, false, 64, JSON_BIGINT_AS_STRING)` decodes, into a [`serde_json::Value`]:
//!
//! - at most 63 nested arrays/objects (PHP's depth 64 counts the innermost value too);
//! - an object member name starting with U+0000 is an error (PHP cannot make it a property);
//! - an integer outside the `i64` range becomes a string (`JSON_BIGINT_AS_STRING`);
//! - a number whose float value is not finite (e.g. `1e400`, which PHP decodes to `INF`) becomes
//!   `null`: PHP's `INF` and `null` fail every check of the contract the same way;
//! - duplicate member names: the last one wins.
//!
//! serde_json alone differs on all four points, so the verifier parses with this instead. It never
//! panics and recurses at most [`MAX_NESTING`] levels.
use serde_json::{Map, Number, Value};

/// Deepest accepted nesting of arrays and objects.
const MAX_NESTING: usize = 63;

/// Parses `bytes` as one JSON value that must be an object.
pub(crate) fn parse_object(bytes: &[u8]) -> Option<Map<String, Value>> {
    let mut parser = Parser { bytes, pos: 0 };
    parser.skip_ws();
    let value = parser.value(0)?;
    parser.skip_ws();
    if parser.pos != bytes.len() {
        return None;
    }
    match value {
        Value::Object(map) => Some(map),
        _ => None,
    }
}

struct Parser<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let b = self.peek()?;
        self.pos += 1;
        Some(b)
    }

    fn eat(&mut self, b: u8) -> Option<()> {
        (self.next()? == b).then_some(())
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    fn literal(&mut self, word: &[u8], value: Value) -> Option<Value> {
        let end = self.pos.checked_add(word.len())?;
        if self.bytes.get(self.pos..end)? == word {
            self.pos = end;
            Some(value)
        } else {
            None
        }
    }

    /// One value; `depth` is the number of enclosing arrays/objects.
    fn value(&mut self, depth: usize) -> Option<Value> {
        match self.peek()? {
            b'{' => self.object(depth + 1),
            b'[' => self.array(depth + 1),
            b'"' => self.string().map(Value::String),
            b't' => self.literal(b"true", Value::Bool(true)),
            b'f' => self.literal(b"false", Value::Bool(false)),
            b'n' => self.literal(b"null", Value::Null),
            b'-' | b'0'..=b'9' => self.number(),
            _ => None,
        }
    }

    fn object(&mut self, depth: usize) -> Option<Value> {
        if depth > MAX_NESTING {
            return None;
        }
        self.eat(b'{')?;
        let mut map = Map::new();
        self.skip_ws();
        if self.peek()? == b'}' {
            self.pos += 1;
            return Some(Value::Object(map));
        }
        loop {
            self.skip_ws();
            let key = self.string()?;
            if key.starts_with('\0') {
                return None;
            }
            self.skip_ws();
            self.eat(b':')?;
            self.skip_ws();
            let value = self.value(depth)?;
            map.insert(key, value);
            self.skip_ws();
            match self.next()? {
                b',' => continue,
                b'}' => return Some(Value::Object(map)),
                _ => return None,
            }
        }
    }

    fn array(&mut self, depth: usize) -> Option<Value> {
        if depth > MAX_NESTING {
            return None;
        }
        self.eat(b'[')?;
        let mut items = Vec::new();
        self.skip_ws();
        if self.peek()? == b']' {
            self.pos += 1;
            return Some(Value::Array(items));
        }
        loop {
            self.skip_ws();
            items.push(self.value(depth)?);
            self.skip_ws();
            match self.next()? {
                b',' => continue,
                b']' => return Some(Value::Array(items)),
                _ => return None,
            }
        }
    }

    fn hex4(&mut self) -> Option<u32> {
        let mut n = 0u32;
        for _ in 0..4 {
            let digit = char::from(self.next()?).to_digit(16)?;
            n = n * 16 + digit;
        }
        Some(n)
    }

    fn string(&mut self) -> Option<String> {
        self.eat(b'"')?;
        let mut out: Vec<u8> = Vec::new();
        loop {
            match self.next()? {
                b'"' => break,
                b'\\' => {
                    let c = match self.next()? {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => self.unicode_escape()?,
                        _ => return None,
                    };
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
                b if b < 0x20 => return None,
                b => out.push(b),
            }
        }
        // Strict UTF-8: rejects overlong forms, surrogates and stray bytes, as PHP does.
        String::from_utf8(out).ok()
    }

    /// The character of a `\uXXXX` escape (the `\u` already read), joining a surrogate pair.
    fn unicode_escape(&mut self) -> Option<char> {
        let first = self.hex4()?;
        match first {
            0xD800..=0xDBFF => {
                self.eat(b'\\')?;
                self.eat(b'u')?;
                let second = self.hex4()?;
                if !(0xDC00..=0xDFFF).contains(&second) {
                    return None;
                }
                char::from_u32(0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00))
            }
            0xDC00..=0xDFFF => None,
            _ => char::from_u32(first),
        }
    }

    fn digits(&mut self) -> usize {
        let start = self.pos;
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.pos += 1;
        }
        self.pos - start
    }

    fn number(&mut self) -> Option<Value> {
        let start = self.pos;
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        match self.peek()? {
            b'0' => self.pos += 1,
            b'1'..=b'9' => {
                self.digits();
            }
            _ => return None,
        }
        let mut is_float = false;
        if self.peek() == Some(b'.') {
            self.pos += 1;
            if self.digits() == 0 {
                return None;
            }
            is_float = true;
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.pos += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            if self.digits() == 0 {
                return None;
            }
            is_float = true;
        }
        let text = std::str::from_utf8(self.bytes.get(start..self.pos)?).ok()?;
        if is_float {
            let f: f64 = text.parse().ok()?;
            return Some(Number::from_f64(f).map_or(Value::Null, Value::Number));
        }
        Some(match text.parse::<i64>() {
            Ok(i) => Value::Number(Number::from(i)),
            Err(_) => Value::String(text.to_owned()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nested(n: usize) -> String {
        format!("{{\"a\":{}1{}}}", "[".repeat(n - 1), "]".repeat(n - 1))
    }

    #[test]
    fn accepts_what_php_accepts() {
        let m = parse_object(
            b" {\"a\" : 1 , \"b\":[ ], \"c\":\"\\ud800\\udc00\\u00e9\\/\x7f\", \"a\":2}\n",
        )
        .unwrap();
        assert_eq!(m["a"], 2);
        assert_eq!(m["c"], "\u{10000}\u{e9}/\x7f");
        assert!(parse_object(b"{\"\":1,\"a\\u0000\":2}").is_some());
        assert_eq!(parse_object(b"{\"a\":-0}").unwrap()["a"].as_u64(), Some(0));
        assert!(parse_object(nested(63).as_bytes()).is_some());
    }

    #[test]
    fn php_quirks() {
        let m = parse_object(b"{\"a\":9223372036854775808,\"b\":-9223372036854775809,\"c\":1e400,\"d\":1E5,\"e\":9223372036854775807}").unwrap();
        assert_eq!(m["a"], "9223372036854775808");
        assert_eq!(m["b"], "-9223372036854775809");
        assert_eq!(m["c"], Value::Null);
        assert!(m["d"].is_f64());
        assert_eq!(m["e"].as_u64(), Some(i64::MAX as u64));
    }

    #[test]
    fn rejects_what_php_rejects() {
        for bad in [
            &b"{\"\\u0000a\":1}"[..],
            b"{\"x\":{\"\\u0000\":1}}",
            b"{\"a\":\"\\ud800\"}",
            b"{\"a\":\"\\udc00\"}",
            b"{\"a\":\"\xff\"}",
            b"{\"a\":\"\xc0\xaf\"}",
            b"{\"a\":\"\xed\xa0\x80\"}",
            b"{\"a\":\"\x1f\"}",
            b"{\"a\":-}",
            b"{\"a\":01}",
            b"{\"a\":1.}",
            b"{\"a\":.5}",
            b"{\"a\":1}\x00",
            b"\xef\xbb\xbf{}",
            b"{\"a\":tRue}",
            b"{\"a\":\"\\U00e9\"}",
            b"{\"a\":1,}",
            b"[1]",
            b"\"s\"",
            b"null",
            b"",
            b"{",
            b"{\"a\"}",
            b"{\"a\":[1,]}",
            b"{} {}",
        ] {
            assert!(
                parse_object(bad).is_none(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        assert!(parse_object(nested(64).as_bytes()).is_none());
        assert!(parse_object("[".repeat(100_000).as_bytes()).is_none());
    }
}
