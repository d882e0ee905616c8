//! A counting job's output, read as its output schema says, into counts per (window, key).
//!
//! Formats: `minutely` (the layout `minutely consume` writes: JSON lines `{"minute":
//! "YYYYMMDDHHMM", "key": [...], "count": N}` under `minutes/`, objects that add up), `jsonl`
//! (one row object per line), `json` (one document per object: an array of row objects, or an
//! object with one array of them, as `{"counts": [...]}`) and `csv` (a header row naming the
//! fields). A row names its window by the `window` field (any time format `minutely consume`
//! reads, or `time_format`), its key by the `key` fields and its count by the `count` field.
//! `combine = "sum"`: every object adds to the counts; `"last"`: per (window, key), the object
//! written last wins (a job that rewrites a window's object).
//!
//! A row that cannot be read is an [`OutputError`] naming the object and the line: the check
//! stops there (a verdict on half an output would mislead).

use std::collections::BTreeMap;
use std::time::Duration;

use minutely_event::TimeFormat;
use serde::Deserialize;
use serde_json::Value;

use crate::counts::{Counts, WindowKey};

/// How an output is laid out.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OutputSchema {
    pub format: OutputFormat,
    /// The field holding the window's start (default: `minute`).
    pub window: String,
    /// How the window is written (default: auto; `yyyymmddhhmm` for minutely's layout).
    pub time_format: Option<TimeFormat>,
    /// The window's length, as humantime (`1m`, `5m`, `1h`); default one minute.
    pub window_length: String,
    /// The key fields, in the model's key order (default: `key`, one array field, as minutely
    /// writes it).
    pub key: Vec<String>,
    /// The count field (default: `count`).
    pub count: String,
    pub combine: Combine,
}

impl Default for OutputSchema {
    fn default() -> Self {
        OutputSchema {
            format: OutputFormat::Minutely,
            window: "minute".into(),
            time_format: None,
            window_length: "1m".into(),
            key: vec!["key".into()],
            count: "count".into(),
            combine: Combine::Sum,
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutputFormat {
    #[default]
    Minutely,
    Jsonl,
    Json,
    Csv,
}

impl std::str::FromStr for OutputFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<OutputFormat, String> {
        match s {
            "minutely" => Ok(OutputFormat::Minutely),
            "jsonl" => Ok(OutputFormat::Jsonl),
            "json" => Ok(OutputFormat::Json),
            "csv" => Ok(OutputFormat::Csv),
            _ => Err(format!("{s:?}: use minutely, jsonl, json or csv")),
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Combine {
    /// Objects add up (several objects per window, as minutely writes them).
    #[default]
    Sum,
    /// Per (window, key), the object written last wins.
    Last,
}

impl std::str::FromStr for Combine {
    type Err = String;

    fn from_str(s: &str) -> Result<Combine, String> {
        match s {
            "sum" => Ok(Combine::Sum),
            "last" => Ok(Combine::Last),
            _ => Err(format!("{s:?}: use sum or last")),
        }
    }
}

/// Why an object of the output cannot be read: the object, the line (0: the object as a whole)
/// and what.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{object}{}: {message}", if *line > 0 { format!(":{line}") } else { String::new() })]
pub struct OutputError {
    pub object: String,
    pub line: u64,
    pub message: String,
}

impl OutputSchema {
    /// The window's length in ms; an error names the value.
    pub fn window_ms(&self) -> Result<i64, String> {
        let d: Duration = humantime::parse_duration(&self.window_length)
            .map_err(|e| format!("window_length {:?}: {e}", self.window_length))?;
        match d.as_millis() {
            0 => Err("window_length is zero".into()),
            ms => Ok(ms as i64),
        }
    }

    /// Whether the object at `path` (relative to the output's location) holds counts:
    /// minutely's layout keeps them under `minutes/`, beside checkpoints and leases.
    pub fn holds_counts(&self, path: &str) -> bool {
        match self.format {
            OutputFormat::Minutely => path.starts_with("minutes/") || path.contains("/minutes/"),
            _ => !path.ends_with('/'),
        }
    }
}

/// The output's counts, made of its objects one by one.
#[derive(Debug)]
pub struct Found {
    schema: OutputSchema,
    window_ms: i64,
    /// Per (window, key): the count, and with `last` the write time of the object it came from.
    counts: BTreeMap<WindowKey, (u64, i64)>,
    pub objects: u64,
    pub rows: u64,
}

impl Found {
    pub fn new(schema: OutputSchema) -> Result<Found, String> {
        let window_ms = schema.window_ms()?;
        if schema.count.trim().is_empty() {
            return Err("the output schema names no count field".into());
        }
        Ok(Found { schema, window_ms, counts: BTreeMap::new(), objects: 0, rows: 0 })
    }

    /// One object: its name (for errors), when it was written (ms; for `last`) and its bytes.
    pub fn object(&mut self, name: &str, written_ms: i64, bytes: &[u8]) -> Result<(), OutputError> {
        let err = |line: u64, message: String| OutputError { object: name.to_owned(), line, message };
        let rows = match self.schema.format {
            OutputFormat::Minutely | OutputFormat::Jsonl => json_lines(bytes).map_err(|(l, m)| err(l, m))?,
            OutputFormat::Json => json_document(bytes).map_err(|m| err(0, m))?,
            OutputFormat::Csv => csv_rows(bytes).map_err(|(l, m)| err(l, m))?,
        };
        self.objects += 1;
        for (line, row) in rows {
            let (key, count) = self.row(&row).map_err(|m| err(line, m))?;
            self.rows += 1;
            let entry = self.counts.entry(key).or_insert((0, i64::MIN));
            match self.schema.combine {
                Combine::Sum => entry.0 += count,
                Combine::Last if written_ms >= entry.1 => *entry = (count, written_ms),
                Combine::Last => {}
            }
        }
        Ok(())
    }

    /// The counts per (window, key).
    pub fn counts(self) -> Counts {
        self.counts.into_iter().map(|(k, (n, _))| (k, n)).collect()
    }

    fn row(&self, row: &BTreeMap<String, Value>) -> Result<(WindowKey, u64), String> {
        let s = &self.schema;
        let field = |name: &str| row.get(name).ok_or_else(|| format!("no field {name:?} in this row"));
        let window = field(&s.window)?;
        let text = match window {
            Value::String(t) => t.clone(),
            Value::Number(n) => n.to_string(),
            other => return Err(format!("the window field {:?} is {other}, not a time", s.window)),
        };
        let format = match (s.time_format, s.format) {
            (Some(f), _) => f,
            (None, OutputFormat::Minutely) => TimeFormat::Compact12,
            (None, _) => TimeFormat::Auto,
        };
        let t =
            format.parse(text.as_bytes()).map_err(|e| format!("the window field {:?} ({text:?}): {e}", s.window))?;
        let start = t.0.div_euclid(self.window_ms) * self.window_ms;
        let mut key = Vec::new();
        for name in &s.key {
            match field(name)? {
                Value::Array(values) => {
                    for v in values {
                        key.push(value_text(v).ok_or_else(|| format!("the key field {name:?} holds {v}"))?);
                    }
                }
                v => key.push(value_text(v).ok_or_else(|| format!("the key field {name:?} is {v}"))?),
            }
        }
        let count = match field(&s.count)? {
            Value::Number(n) => n.as_u64(),
            Value::String(t) => t.trim().parse().ok(),
            _ => None,
        };
        let count = count.ok_or_else(|| format!("the count field {:?} is not a whole number ≥ 0", s.count))?;
        Ok(((start, key), count))
    }
}

/// A key value as text: strings as they are, numbers and booleans as written.
fn value_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

type Row = BTreeMap<String, Value>;

fn json_lines(bytes: &[u8]) -> Result<Vec<(u64, Row)>, (u64, String)> {
    let mut rows = Vec::new();
    for (i, line) in bytes.split(|b| *b == b'\n').enumerate() {
        if line.trim_ascii().is_empty() {
            continue;
        }
        let n = i as u64 + 1;
        let row: Row = serde_json::from_slice(line).map_err(|e| (n, format!("not a JSON object: {e}")))?;
        rows.push((n, row));
    }
    Ok(rows)
}

fn json_document(bytes: &[u8]) -> Result<Vec<(u64, Row)>, String> {
    let doc: Value = serde_json::from_slice(bytes).map_err(|e| format!("not JSON: {e}"))?;
    let array = match doc {
        Value::Array(a) => a,
        Value::Object(o) => {
            let mut arrays = o.into_iter().filter_map(|(_, v)| if let Value::Array(a) = v { Some(a) } else { None });
            match (arrays.next(), arrays.next()) {
                (Some(a), None) => a,
                _ => return Err("an object without exactly one array of rows in it".into()),
            }
        }
        _ => return Err("neither an array of rows nor an object holding one".into()),
    };
    array
        .into_iter()
        .enumerate()
        .map(|(i, v)| match v {
            Value::Object(o) => Ok((i as u64 + 1, o.into_iter().collect())),
            other => Err(format!("row {} is {other}, not an object", i + 1)),
        })
        .collect()
}

fn csv_rows(bytes: &[u8]) -> Result<Vec<(u64, Row)>, (u64, String)> {
    let mut reader = csv::ReaderBuilder::new().has_headers(true).from_reader(bytes);
    let header: Vec<String> =
        reader.headers().map_err(|e| (1, format!("the header row: {e}")))?.iter().map(str::to_owned).collect();
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| (e.position().map_or(0, |p| p.line()), e.to_string()))?;
        let line = record.position().map_or(0, |p| p.line());
        let row = header.iter().cloned().zip(record.iter().map(|v| Value::String(v.to_owned()))).collect();
        rows.push((line, row));
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_471_798_800_000; // 2016-08-21T17:00:00Z

    fn found(schema: OutputSchema, objects: &[(&str, i64, &str)]) -> Result<Counts, OutputError> {
        let mut f = Found::new(schema).unwrap();
        for (name, at, body) in objects {
            f.object(name, *at, body.as_bytes())?;
        }
        Ok(f.counts())
    }

    fn k(t: i64, key: &[&str]) -> WindowKey {
        (t, key.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn minutelys_layout_adds_up_late_objects_too() {
        let on_time = "{\"minute\":\"201608211700\",\"key\":[\"usa\"],\"count\":3}\n{\"minute\":\"201608211701\",\"key\":[\"usa\"],\"count\":1}\n";
        let late = "{\"minute\":\"201608211700\",\"key\":[\"usa\"],\"count\":2,\"late\":true}\n";
        let c = found(OutputSchema::default(), &[("a.jsonl", 0, on_time), ("a.late-000001.jsonl", 0, late)]).unwrap();
        assert_eq!(c, Counts::from([(k(T0, &["usa"]), 5), (k(T0 + 60_000, &["usa"]), 1)]));
        assert!(OutputSchema::default().holds_counts("runs/1/minutes/dt=2016-08-21/minute=201608211700/s.jsonl"));
        assert!(!OutputSchema::default().holds_counts("runs/1/checkpoints/s/shard.json"));
    }

    #[test]
    fn a_json_document_per_run_where_the_last_write_wins() {
        let schema = OutputSchema {
            format: OutputFormat::Json,
            window: "ts".into(),
            key: vec!["country".into()],
            combine: Combine::Last,
            ..OutputSchema::default()
        };
        let first = r#"{"counts": [{"ts": "2016-08-21T17:00:00Z", "country": "usa", "count": 3}]}"#;
        let again = r#"[{"ts": 1471798800000, "country": "usa", "count": 4}, {"ts": "2016-08-21T17:05:30Z", "country": 7, "count": "2"}]"#;
        let c = found(schema, &[("b.json", 20, again), ("a.json", 10, first)]).unwrap();
        assert_eq!(c, Counts::from([(k(T0, &["usa"]), 4), (k(T0 + 300_000, &["7"]), 2)]));
    }

    #[test]
    fn csv_with_five_minute_windows() {
        let schema = OutputSchema {
            format: OutputFormat::Csv,
            window: "window".into(),
            window_length: "5m".into(),
            key: vec!["country".into(), "device".into()],
            count: "n".into(),
            ..OutputSchema::default()
        };
        let body = "window,country,device,n\n2016-08-21T17:03:00Z,usa,d1,5\n2016-08-21T17:04:59Z,usa,d1,1\n";
        assert_eq!(found(schema, &[("c.csv", 0, body)]).unwrap(), Counts::from([(k(T0, &["usa", "d1"]), 6)]));
    }

    #[test]
    fn bad_objects_are_named_with_their_line() {
        let e = found(
            OutputSchema::default(),
            &[("x.jsonl", 0, "{\"minute\":\"201608211700\",\"key\":[],\"count\":1}\nnot json\n")],
        );
        assert_eq!(
            e.unwrap_err().to_string().split(": ").take(2).collect::<Vec<_>>(),
            ["x.jsonl:2", "not a JSON object"]
        );
        let e = found(OutputSchema::default(), &[("y.jsonl", 0, "{\"minute\":\"201608211700\",\"key\":[]}\n")]);
        assert_eq!(e.unwrap_err().to_string(), "y.jsonl:1: no field \"count\" in this row");
        let e = found(
            OutputSchema { format: OutputFormat::Json, ..OutputSchema::default() },
            &[("z.json", 0, "{\"a\":1}")],
        );
        assert_eq!(e.unwrap_err().to_string(), "z.json: an object without exactly one array of rows in it");
        let e = found(OutputSchema::default(), &[("w.jsonl", 0, "{\"minute\":\"17:00\",\"key\":[],\"count\":1}\n")]);
        assert!(e.unwrap_err().to_string().starts_with("w.jsonl:1: the window field \"minute\" (\"17:00\")"));
        assert!(
            Found::new(OutputSchema { count: " ".into(), ..OutputSchema::default() })
                .unwrap_err()
                .contains("no count field")
        );
        assert!(Found::new(OutputSchema { window_length: "0s".into(), ..OutputSchema::default() }).is_err());
    }
}
