//! minutely's own records (`crate::record`): decoded borrowing from the line, written by
//! [`Event::encode`].

use std::borrow::Cow;

use minutely_aggregate::EventTime;
use smallvec::SmallVec;

use crate::event::Event;
use crate::fields::{FieldError, Fields, Roles};
use crate::record::RecordRef;
use crate::schema::{Schema, SchemaError};

/// The schema may name only the key (and what a missing key value is): the format has its own
/// time and id fields.
pub(crate) fn check(schema: &Schema) -> Result<(), SchemaError> {
    let own = [
        ("time", schema.time.is_some()),
        ("time_format", schema.time_format.is_some()),
        ("id", schema.id.is_some()),
        ("columns", schema.columns.is_some()),
    ];
    match own.iter().find(|(_, set)| *set) {
        Some((field, _)) => Err(SchemaError::Invalid(format!(
            "the minutely format has its own time and id fields; `{field}` applies to json, csv and tsv (set format)"
        ))),
        None => Ok(()),
    }
}

/// The event of one line: read in one pass when it is written as minutely writes it, else by
/// serde (escapes, spaces, another member order, and every error).
pub(crate) fn event<'a>(roles: &Roles, line: &'a [u8]) -> Result<Fields<'a>, FieldError> {
    if let Some(fields) = canonical(roles, line) {
        return Ok(fields);
    }
    parsed(roles, line)
}

/// The most dimensions the one-pass reader takes (more go to serde).
const MAX_DIMS: usize = 16;

/// The event of a line exactly as [`Event::encode`] writes it: `{"id":"…","time_ms":N,"dims":
/// {"k":"v",…}}` with no escape, space or control character in a string, an integer time
/// without leading zeros, dimensions all different. `None` for anything else, which
/// [`parsed`] reads (or rejects) as JSON: both give the same fields for every line this one
/// takes (a property test checks it).
fn canonical<'a>(roles: &Roles, line: &'a [u8]) -> Option<Fields<'a>> {
    // UTF-8 checked once for the line (the JSON around the strings is ASCII).
    let mut r = Cursor { text: std::str::from_utf8(line).ok()?, b: line, at: 0 };
    r.expect(br#"{"id":""#)?;
    let id = r.string()?;
    r.expect(br#","time_ms":"#)?;
    let time = r.integer()?;
    r.expect(br#","dims":{"#)?;
    let mut dims: SmallVec<[(&str, &str); MAX_DIMS]> = SmallVec::new();
    if !r.eat(b'}') {
        loop {
            r.expect(b"\"")?;
            let k = r.string()?;
            r.expect(b":\"")?;
            let v = r.string()?;
            if dims.len() == MAX_DIMS || dims.iter().any(|(seen, _)| *seen == k) {
                return None;
            }
            dims.push((k, v));
            if r.eat(b'}') {
                break;
            }
            r.expect(b",")?;
        }
    }
    r.expect(b"}")?;
    if r.at != line.len() || id.is_empty() {
        return None;
    }
    let mut key = SmallVec::new();
    for name in &roles.key_names {
        let value = dims.iter().find(|(k, _)| k == name).map(|(_, v)| *v);
        key.push(Cow::Borrowed(value?));
    }
    Some(Fields { time: EventTime(time), id: Some(Cow::Borrowed(id)), key })
}

/// A reader of the canonical form's bytes.
struct Cursor<'a> {
    text: &'a str,
    b: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn expect(&mut self, s: &[u8]) -> Option<()> {
        self.b[self.at..].starts_with(s).then(|| self.at += s.len())
    }

    fn eat(&mut self, c: u8) -> bool {
        let yes = self.b.get(self.at) == Some(&c);
        self.at += usize::from(yes);
        yes
    }

    /// A string's text up to its closing quote (taken): no escape or control character.
    fn string(&mut self) -> Option<&'a str> {
        let end = self.b[self.at..].iter().position(|&c| c == b'"' || c == b'\\' || c < 0x20)?;
        let text = self.text.get(self.at..self.at + end).filter(|_| self.b[self.at + end] == b'"')?;
        self.at += end + 1;
        Some(text)
    }

    /// An integer without leading zeros that fits in an `i64` with room (at most 18 digits).
    fn integer(&mut self) -> Option<i64> {
        let negative = self.eat(b'-');
        let digits = self.b[self.at..].iter().take_while(|c| c.is_ascii_digit()).count();
        let text = &self.b[self.at..self.at + digits];
        if digits == 0 || digits > 18 || (digits > 1 && text[0] == b'0') {
            return None;
        }
        self.at += digits;
        let n = text.iter().fold(0i64, |n, &d| n * 10 + i64::from(d - b'0'));
        Some(if negative { -n } else { n })
    }
}

/// The event of one line, read as JSON by serde.
fn parsed<'a>(roles: &Roles, line: &'a [u8]) -> Result<Fields<'a>, FieldError> {
    let r = RecordRef::decode(line)
        .map_err(|e| FieldError::Minutely(e.to_string().replace("not a minutely record: ", "")))?;
    let mut key = SmallVec::new();
    for name in &roles.key_names {
        match r.dims.0.iter().position(|(k, _)| k == name) {
            Some(i) => key.push(r.dims.0[i].1.clone()),
            None => key.push(roles.absent_key(format!("dims.{name}"))?),
        }
    }
    Ok(Fields { time: r.time(), id: Some(r.id), key })
}

/// Appends `event` as a record. `Err`: it has no id, which the format needs.
pub(crate) fn encode(event: &Event, out: &mut Vec<u8>) -> Result<(), String> {
    if event.id.is_none() {
        return Err("minutely records need an event id".into());
    }
    event.encode(out);
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;
    use crate::schema::Missing;
    use crate::timefmt::TimeFormat;

    fn roles(key: &[&str], missing: Missing) -> Roles {
        Roles {
            key_names: key.iter().map(|k| k.to_string()).collect(),
            missing,
            time_format: TimeFormat::EpochMillis,
            time_name: "time_ms".into(),
            id_name: Some("id".into()),
        }
    }

    fn line(id: &str, time: i64, dims: &BTreeMap<String, String>) -> Vec<u8> {
        let mut out = Vec::new();
        Event { time: EventTime(time), id: Some(id.into()), dims: dims.clone() }.encode(&mut out);
        out
    }

    #[test]
    fn the_canonical_form_is_read_in_one_pass_and_the_rest_by_serde() {
        let r = roles(&["country", "device"], Missing::Reject);
        let plain = br#"{"id":"a-1","time_ms":1471798801089,"dims":{"country":"usa","device":"and"}}"#;
        let fields = canonical(&r, plain).expect("minutely's own form");
        assert_eq!(fields, parsed(&r, plain).unwrap());
        assert!(matches!(fields.id, Some(Cow::Borrowed("a-1"))));
        for other in [
            &br#"{"id":"a\"1","time_ms":1,"dims":{"country":"usa","device":"and"}}"#[..],
            br#"{ "id":"a","time_ms":1,"dims":{"country":"usa","device":"and"}}"#,
            br#"{"time_ms":1,"id":"a","dims":{"country":"usa","device":"and"}}"#,
            br#"{"id":"a","time_ms":01,"dims":{"country":"usa","device":"and"}}"#,
            br#"{"id":"a","time_ms":1.0,"dims":{"country":"usa","device":"and"}}"#,
            br#"{"id":"","time_ms":1,"dims":{"country":"usa","device":"and"}}"#,
            br#"{"id":"a","time_ms":1,"dims":{"country":"usa","country":"and"}}"#,
            br#"{"id":"a","time_ms":1,"dims":{"country":"usa"}}"#,
            br#"{"id":"a","time_ms":1,"dims":{"country":"usa","device":"and"}} "#,
            br#"{"id":"a","time_ms":1234567890123456789,"dims":{"country":"usa","device":"and"}}"#,
        ] {
            assert!(canonical(&r, other).is_none(), "{}", String::from_utf8_lossy(other));
        }
        // Those serde reads, it reads as ever; those it rejects stay rejected.
        let missing = parsed(&r, br#"{"id":"a","time_ms":1,"dims":{"country":"usa"}}"#).unwrap_err();
        assert_eq!(
            missing.to_string(),
            event(&r, br#"{"id":"a","time_ms":1,"dims":{"country":"usa"}}"#).unwrap_err().to_string()
        );
        assert!(event(&r, br#"{"id":"a","time_ms":01,"dims":{}}"#).is_err());
    }

    fn text() -> impl Strategy<Value = String> {
        prop_oneof![4 => "[a-z0-9:-]{0,8}", 1 => "[a-zé\"\\\\\t\u{1F600} ]{0,6}"]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4000))]
        /// On every line minutely writes, and every line one edit away from one, the one-pass
        /// reader takes only what serde reads, and gives the same fields.
        #[test]
        fn the_one_pass_reader_agrees_with_serde(
            id in text(),
            time in prop_oneof![any::<i64>(), -10i64.pow(17)..10i64.pow(17)],
            dims in proptest::collection::btree_map("[a-c\"]{1,2}", text(), 0..5),
            key in proptest::collection::vec("[a-c]{1,2}", 0..3),
            empty in any::<bool>(),
            edit in proptest::option::of((any::<prop::sample::Index>(), 0..3u8, prop::sample::select(b" \"\\,:{}0-1a".to_vec()))),
        ) {
            let key: Vec<&str> = key.iter().map(String::as_str).collect();
            let r = roles(&key, if empty { Missing::Empty } else { Missing::Reject });
            let mut bytes = line(&id, time, &dims);
            let plain = |s: &str| s.bytes().all(|c| c >= 0x20 && c != b'"' && c != b'\\');
            let expect_fast = edit.is_none()
                && !id.is_empty()
                && plain(&id)
                && dims.iter().all(|(k, v)| plain(k) && plain(v))
                && time.unsigned_abs() < 10u64.pow(18)
                && key.iter().all(|k| dims.contains_key(*k));
            crate::formats::edit(&mut bytes, edit);
            let fast = canonical(&r, &bytes);
            prop_assert_eq!(fast.is_some() || !expect_fast, true, "minutely's own line took the slow path");
            if let Some(fast) = fast {
                prop_assert_eq!(Ok(fast), parsed(&r, &bytes));
            }
        }
    }
}
