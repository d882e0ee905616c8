//! The two TSV readers agree on every line: the file reader (`tsv::TsvReader`, what
//! `minutely aggregate` and `produce --source file:` use, fast and block-wise) and the record
//! decoder (`RecordDecoder` with `format = "tsv"`, what `consume` uses on Kinesis records and
//! stdin). Generated lines mix good rows, wrong column counts, bad times, empty and odd values,
//! `\r\n` endings, blank lines and bytes that are not UTF-8. The same lines must be accepted
//! with the same time, key and id, and the same lines rejected.

use std::collections::BTreeMap;

use minutely_event::{Item, RecordDecoder, Schema, TsvReader};
use proptest::prelude::*;

const SCHEMA: &str = r#"
format = "tsv"
header = false
columns = ["ts", "country", "id", "device"]
time = "ts"
time_format = "epoch_millis"
key = ["country"]
id = "id"
"#;

/// (time ms, key, id) of an accepted line, or `None` for a rejected one; by line number.
type Seen = BTreeMap<u64, Option<(i64, String, Option<String>)>>;

fn value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => "[a-z]{1,6}".prop_map(String::into_bytes),
        1 => Just(Vec::new()),
        1 => Just(" usa ".as_bytes().to_vec()),
        1 => Just("\"quoted\"".as_bytes().to_vec()),
        1 => Just("a,b".as_bytes().to_vec()),
        1 => Just("é".as_bytes().to_vec()),
        1 => Just(vec![0xff, b'x']),
    ]
}

fn time() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        6 => (1_400_000_000_000i64..1_500_000_000_000).prop_map(|t| t.to_string().into_bytes()),
        1 => Just(b"soon".to_vec()),
        1 => Just(Vec::new()),
    ]
}

fn line() -> impl Strategy<Value = Vec<u8>> {
    let row = (time(), prop::collection::vec(value(), 0..5), any::<bool>()).prop_map(|(t, rest, crlf)| {
        let mut fields = vec![t];
        fields.extend(rest);
        let mut line = fields.join(&b'\t');
        if crlf {
            line.push(b'\r');
        }
        line
    });
    prop_oneof![8 => row, 1 => Just(Vec::new())]
}

fn by_file(text: &[u8], schema: &Schema) -> Seen {
    let reader = TsvReader::open(text, schema).expect("the schema opens");
    let mut seen = Seen::new();
    for item in reader {
        match item.expect("no IO error") {
            Item::Row(r) => {
                let country = r.event.dims.get("country").cloned().unwrap_or_default();
                seen.insert(r.line, Some((r.event.time.0, country, r.event.id)));
            }
            Item::Rejected(r) => {
                seen.insert(r.line, None);
            }
        }
    }
    seen
}

fn by_record(text: &[u8], schema: &Schema) -> Seen {
    let decoder = RecordDecoder::new(schema).expect("the schema decodes");
    let mut seen = Seen::new();
    decoder.each(text, &mut |line, _, fields| {
        let got = fields.ok().map(|f| (f.time.0, f.key[0].to_string(), f.id.map(|id| id.into_owned())));
        seen.insert(line, got);
    });
    seen
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn the_file_reader_and_the_record_decoder_agree_on_every_line(lines in prop::collection::vec(line(), 1..40)) {
        let text = lines.join(&b'\n');
        let schema = Schema::from_toml(SCHEMA).unwrap();
        prop_assert_eq!(by_file(&text, &schema), by_record(&text, &schema));
    }
}

#[test]
fn a_known_mix_reads_the_same_both_ways() {
    let text = b"1400000000000\tusa\tx\tios\nsoon\tusa\ty\tios\n\n1400000000001\tdeu\n1400000000002\tfra\t\t\xff\r\n";
    let schema = Schema::from_toml(SCHEMA).unwrap();
    let expected: Seen =
        [(1, Some((1_400_000_000_000, "usa".to_owned(), Some("x".to_owned())))), (2, None), (4, None), (5, None)]
            .into();
    assert_eq!(by_file(text, &schema), expected);
    assert_eq!(by_record(text, &schema), expected);
}
