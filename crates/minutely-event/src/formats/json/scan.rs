//! The one-pass reader of JSON records: the object's bytes walked once along the schema's
//! paths, the fields on them captured, everything else skipped, nothing built.
//!
//! It takes what apps write (no escape in a string it reads, integers on the paths), and
//! leaves the rest to serde: [`fill`] returns `None` for anything it is not sure of (an escape
//! or a control character in a string, a fraction or an exponent on a path, an array on a
//! path, nesting deeper than [`MAX_DEPTH`], bytes that are not JSON), and serde then reads the
//! line, or rejects it with its own message. For every line it takes it captures what serde
//! would: a property test in `json.rs` checks it.

use std::borrow::Cow;

use super::{Node, Scalar};

/// How deep the reader skips nested values (serde's own limit is 128).
const MAX_DEPTH: u32 = 64;

/// Fills `found` from the object `line` along `root`, as serde's walk would; `None`: not
/// taken (serde reads it).
pub(super) fn fill<'a>(root: &Node, line: &'a [u8], found: &mut [Option<Scalar<'a>>]) -> Option<()> {
    let mut r = Scan { b: line, at: 0 };
    r.ws();
    r.object(root, found)?;
    r.ws();
    (r.at == line.len()).then_some(())
}

struct Scan<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Scan<'a> {
    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.b.get(self.at) {
            self.at += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.at).copied()
    }

    fn eat(&mut self, c: u8) -> bool {
        let yes = self.peek() == Some(c);
        self.at += usize::from(yes);
        yes
    }

    /// An object (at its `{`) along `node`.
    fn object(&mut self, node: &Node, found: &mut [Option<Scalar<'a>>]) -> Option<()> {
        if !self.eat(b'{') {
            return None;
        }
        self.ws();
        if self.eat(b'}') {
            return Some(());
        }
        loop {
            if !self.eat(b'"') {
                return None;
            }
            let name = self.string()?;
            // serde reads a member's name as text: it must be UTF-8.
            if !name.is_ascii() {
                std::str::from_utf8(name).ok()?;
            }
            self.ws();
            if !self.eat(b':') {
                return None;
            }
            self.ws();
            match node.children.iter().find(|(n, _, _)| n.as_bytes() == name) {
                Some((_, _, child)) if !child.slots.is_empty() => {
                    let value = self.scalar()?;
                    if let Some((&last, rest)) = child.slots.split_last() {
                        for &slot in rest {
                            found[slot] = Some(value.clone());
                        }
                        found[last] = Some(value);
                    }
                }
                Some((_, _, child)) if self.peek() == Some(b'{') => self.object(child, found)?,
                // An array on a path (an index) is serde's. A value where the path goes on
                // leaves the fields below it missing, as serde's walk does; serde reads that
                // value, so it must read (a string as UTF-8).
                Some(_) if self.peek() == Some(b'[') => return None,
                Some(_) => drop(self.scalar()?),
                None => self.skip(0)?,
            }
            self.ws();
            if self.eat(b'}') {
                return Some(());
            }
            if !self.eat(b',') {
                return None;
            }
            self.ws();
        }
    }

    /// A string's bytes (after its opening quote) up to its closing quote, taken: no escape
    /// and no control character.
    fn string(&mut self) -> Option<&'a [u8]> {
        let rest = &self.b[self.at..];
        let end = rest.iter().position(|&c| c == b'"' || c == b'\\' || c < 0x20)?;
        if rest[end] != b'"' {
            return None;
        }
        self.at += end + 1;
        Some(&rest[..end])
    }

    /// A value on a path, as serde's walk captures it. An integer is kept as its text, which
    /// is the text a key or a time makes of it (at most 18 digits, so it is an `i64` and a
    /// `u64` alike, and JSON allows no leading zero).
    fn scalar(&mut self) -> Option<Scalar<'a>> {
        match self.peek()? {
            b'"' => {
                self.at += 1;
                let text = std::str::from_utf8(self.string()?).ok()?;
                Some(Scalar::Str(Cow::Borrowed(text)))
            }
            b'-' | b'0'..=b'9' => {
                let start = self.at;
                let integral = self.number()?;
                let text = &self.b[start..self.at];
                let digits = text.len() - usize::from(text[0] == b'-');
                if !integral || digits > 18 || text.starts_with(b"-0") {
                    return None;
                }
                Some(Scalar::Str(Cow::Borrowed(std::str::from_utf8(text).ok()?)))
            }
            b't' => self.literal(b"true").map(|()| Scalar::Bool(true)),
            b'f' => self.literal(b"false").map(|()| Scalar::Bool(false)),
            b'n' => self.literal(b"null").map(|()| Scalar::Null),
            _ => None,
        }
    }

    /// `true`, `false` or `null`, taken.
    fn literal(&mut self, word: &[u8]) -> Option<()> {
        self.b[self.at..].starts_with(word).then(|| self.at += word.len())
    }

    /// A number in JSON's grammar (serde's), taken; whether it is an integer.
    fn number(&mut self) -> Option<bool> {
        self.eat(b'-');
        let digits = |s: &mut Self| {
            let n = s.b[s.at..].iter().take_while(|c| c.is_ascii_digit()).count();
            s.at += n;
            n
        };
        let first = self.peek()?;
        let n = digits(self);
        if n == 0 || (first == b'0' && n > 1) {
            return None;
        }
        let mut integral = true;
        if self.eat(b'.') {
            integral = false;
            if digits(self) == 0 {
                return None;
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.at += 1;
            integral = false;
            if !self.eat(b'+') {
                self.eat(b'-');
            }
            if digits(self) == 0 {
                return None;
            }
        }
        Some(integral)
    }

    /// Any value, taken without being built.
    fn skip(&mut self, depth: u32) -> Option<()> {
        match self.peek()? {
            b'"' => {
                self.at += 1;
                self.string().map(drop)
            }
            b'-' | b'0'..=b'9' => self.number().map(drop),
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            open @ (b'{' | b'[') if depth < MAX_DEPTH => {
                let close = if open == b'{' { b'}' } else { b']' };
                self.at += 1;
                self.ws();
                if self.eat(close) {
                    return Some(());
                }
                loop {
                    if open == b'{' {
                        if !self.eat(b'"') {
                            return None;
                        }
                        self.string()?;
                        self.ws();
                        if !self.eat(b':') {
                            return None;
                        }
                        self.ws();
                    }
                    self.skip(depth + 1)?;
                    self.ws();
                    if self.eat(close) {
                        return Some(());
                    }
                    if !self.eat(b',') {
                        return None;
                    }
                    self.ws();
                }
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde::de::DeserializeSeed;

    use super::super::{Decoder, Walk};
    use super::*;
    use crate::schema::Schema;

    fn decoder() -> Decoder {
        let schema = Schema::from_toml(
            "format = \"json\"\ntime = \"/ts\"\nid = \"event_id\"\nkey = [\"/geo/country\", \"device.os\", \"/a/0\"]",
        )
        .unwrap();
        Decoder::new(&schema, schema.key.as_deref().unwrap()).unwrap()
    }

    /// What a slot holds, as the event's fields see it.
    fn seen(found: &[Option<Scalar<'_>>]) -> Vec<Option<Result<String, &'static str>>> {
        found.iter().map(|s| s.clone().map(|s| s.canonical().map(|c| c.into_owned()))).collect()
    }

    /// serde's walk of `line`: its slots, or `None` where serde rejects it.
    fn serde_walk(root: &Node, line: &[u8]) -> Option<Vec<Option<Result<String, &'static str>>>> {
        let mut found = vec![None; 5];
        let mut de = serde_json::Deserializer::from_slice(line);
        Walk { node: root, found: &mut found }.deserialize(&mut de).ok()?;
        de.end().ok()?;
        Some(seen(&found))
    }

    /// A JSON value over the schema's names, with what apps write and what they should not.
    fn value() -> impl Strategy<Value = String> {
        let leaf = prop_oneof![
            3 => "[a-z0-9é-]{0,6}".prop_map(|s| format!("\"{s}\"")),
            1 => "[a\"\\\\\t\u{1}/u0]{0,4}".prop_map(|s| format!("\"{s}\"")),
            3 => prop_oneof![Just("0".to_owned()), Just("-0".into()), Just("007".into()), Just("1.5".into()),
                Just("1e3".into()), Just("-2E-1".into()), Just("1.".into()), Just("18446744073709551616".into()),
                Just("1471798812345".into()), Just("-12".into()), Just("123456789012345678".into())],
            1 => prop_oneof![Just("true".to_owned()), Just("false".into()), Just("null".into()), Just("nul".into())],
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            let name = prop::sample::select(vec!["ts", "event_id", "geo", "country", "device", "os", "a", "x", "é"]);
            prop_oneof![
                prop::collection::vec((name, inner.clone(), " ?"), 0..4).prop_map(|members| {
                    let m: Vec<String> = members.iter().map(|(k, v, s)| format!("\"{k}\"{s}:{s}{v}")).collect();
                    format!("{{{}}}", m.join(","))
                }),
                prop::collection::vec(inner, 0..3).prop_map(|items| format!("[{}]", items.join(", "))),
            ]
        })
    }

    #[test]
    fn an_app_line_is_taken_and_read_as_serde_reads_it() {
        let d = decoder();
        let line = br#"{"event_id":"g7-0","geo":{"country":"c37","city":{"n":[1,2.5e3,true]}},"ts":1471798800000,"device":{"os":-3}}"#;
        let mut found = vec![None; 5];
        assert_eq!(fill(&d.root, line, &mut found), Some(()));
        assert_eq!(Some(seen(&found)), serde_walk(&d.root, line));
        assert_eq!(
            seen(&found)[..4],
            [Some(Ok("1471798800000".into())), Some(Ok("g7-0".into())), Some(Ok("c37".into())), Some(Ok("-3".into()))]
        );
        for serdes in [&br#"{"ts":1.5}"#[..], br#"{"ts":"a\"b"}"#, br#"{"a":[1]}"#, br#"{"ts":1} x"#, br#"{"ts":-0}"#] {
            assert_eq!(fill(&d.root, serdes, &mut vec![None; 5]), None, "{}", String::from_utf8_lossy(serdes));
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4000))]
        /// On app-like objects, and on those one edit away, the one-pass reader takes only
        /// lines serde reads, and captures what serde captures.
        #[test]
        fn the_one_pass_reader_agrees_with_serde(
            members in prop::collection::vec((prop::sample::select(vec!["ts", "event_id", "geo", "device", "a", "x"]), value()), 0..6),
            edit in proptest::option::of((any::<prop::sample::Index>(), 0..3u8, prop::sample::select(b" \"\\,:{}[]0-1a\xc3".to_vec()))),
        ) {
            let d = decoder();
            let inner: Vec<String> = members.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
            let mut bytes = format!("{{{}}}", inner.join(",")).into_bytes();
            crate::formats::edit(&mut bytes, edit);
            let mut found = vec![None; 5];
            if fill(&d.root, &bytes, &mut found).is_some() {
                prop_assert_eq!(Some(seen(&found)), serde_walk(&d.root, &bytes), "{}", String::from_utf8_lossy(&bytes));
            }
        }
    }
}
