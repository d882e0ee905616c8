//! JSON records: any object, with the time, the id and the key found by path (see
//! `crate::decode`'s documentation for paths, canonical key values and times). Decoding walks
//! the object once, capturing the fields on a path and skipping every other value without
//! building it; encoding puts each field at its path.

use std::borrow::Cow;
use std::fmt;

use minutely_aggregate::EventTime;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use smallvec::SmallVec;

use crate::event::Event;
use crate::fields::{FieldError, Fields, Roles, field_name};
use crate::record::Str;
use crate::schema::{ColumnRef, Schema, SchemaError};

mod scan;

/// A slot of the values captured from a JSON object: the time, the id, then the keys.
const TIME: usize = 0;
const ID: usize = 1;
const KEYS: usize = 2;

/// Reads JSON records: the schema's paths as a tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Decoder {
    root: Node,
}

impl Decoder {
    /// The time's path is required; `columns` is refused (it names CSV and TSV columns).
    pub fn new(schema: &Schema, key: &[ColumnRef]) -> Result<Decoder, SchemaError> {
        let time = time_path(schema)?;
        if schema.columns.is_some() {
            return Err(SchemaError::Invalid("`columns` names CSV and TSV columns; json records use paths".into()));
        }
        let mut root = Node::default();
        root.insert(&path(time)?, TIME, field_name(time))?;
        if let Some(id) = &schema.id {
            root.insert(&path(id)?, ID, field_name(id))?;
        }
        for (i, k) in key.iter().enumerate() {
            root.insert(&path(k)?, KEYS + i, field_name(k))?;
        }
        Ok(Decoder { root })
    }

    /// The event of one line.
    pub fn event<'a>(&self, roles: &Roles, line: &'a [u8]) -> Result<Fields<'a>, FieldError> {
        if line.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
            return match serde_json::from_slice::<IgnoredAny>(line) {
                Err(e) => Err(FieldError::Json(e.to_string())),
                Ok(_) => Err(FieldError::NotAnObject),
            };
        }
        // Made where it lies: `from_elem` returns it, a copy of some 200 bytes per line.
        let mut found: SmallVec<[Option<Scalar<'a>>; 6]> = SmallVec::new();
        found.resize(KEYS + roles.key_names.len(), None);
        if scan::fill(&self.root, line, &mut found).is_none() {
            found.fill(None);
            let mut de = serde_json::Deserializer::from_slice(line);
            Walk { node: &self.root, found: &mut found }
                .deserialize(&mut de)
                .map_err(|e| FieldError::Json(e.to_string()))?;
            de.end().map_err(|e| FieldError::Json(e.to_string()))?;
        }
        let time = match found[TIME].take() {
            None | Some(Scalar::Null) => {
                return Err(FieldError::Missing { role: "time", field: roles.time_name.clone() });
            }
            Some(v) => time(roles, v)?,
        };
        let id = match found[ID].take() {
            None | Some(Scalar::Null) => None,
            Some(v) => Some(v.canonical().map_err(|what| FieldError::NotAValue {
                role: "id",
                field: roles.id_name.clone().unwrap_or_default(),
                what,
            })?),
        };
        let mut key = SmallVec::with_capacity(roles.key_names.len());
        for (i, name) in roles.key_names.iter().enumerate() {
            match found[KEYS + i].take() {
                None | Some(Scalar::Null) => key.push(roles.absent_key(name.clone())?),
                Some(v) => key.push(v.canonical().map_err(|what| FieldError::NotAValue {
                    role: "key",
                    field: name.clone(),
                    what,
                })?),
            }
        }
        Ok(Fields { time, id, key })
    }
}

/// A time value: a string as it is, a number as its digits would be (without allocating).
fn time(roles: &Roles, v: Scalar<'_>) -> Result<EventTime, FieldError> {
    match v {
        Scalar::Str(s) => roles.parse_time(s.as_bytes()),
        Scalar::U64(n) => roles.parse_time(itoa::Buffer::new().format(n).as_bytes()),
        Scalar::I64(n) => roles.parse_time(itoa::Buffer::new().format(n).as_bytes()),
        other => {
            let text = other.canonical().map_err(|what| FieldError::NotAValue {
                role: "time",
                field: roles.time_name.clone(),
                what,
            })?;
            roles.parse_time(text.as_bytes())
        }
    }
}

/// Writes JSON records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Encoder {
    time: Vec<String>,
    id: Option<Vec<String>>,
    /// Each key dimension's name (its path's last segment) and path.
    nested: Vec<(String, Vec<String>)>,
}

impl Encoder {
    pub fn new(schema: &Schema) -> Result<Encoder, SchemaError> {
        let time = path(time_path(schema)?)?;
        let nested = schema
            .key
            .iter()
            .flatten()
            .map(|k| path(k).map(|p| (p.last().cloned().unwrap_or_default(), p)))
            .collect::<Result<_, _>>()?;
        Ok(Encoder { time, id: schema.id.as_ref().map(path).transpose()?, nested })
    }

    /// Appends `event` as one object, its time written as `time`.
    pub fn encode(&self, event: &Event, time: Value, out: &mut Vec<u8>) {
        let mut root = Value::Object(Map::new());
        insert(&mut root, &self.time, time);
        if let (Some(path), Some(value)) = (&self.id, &event.id) {
            insert(&mut root, path, Value::String(value.clone()));
        }
        for (name, value) in &event.dims {
            let single = [name.clone()];
            let path = self.nested.iter().find(|(last, _)| last == name).map_or(&single[..], |(_, p)| p);
            insert(&mut root, path, json_value(value));
        }
        serde_json::to_writer(&mut *out, &root).expect("writing JSON to a Vec cannot fail");
    }
}

/// The time field, which JSON records need.
fn time_path(schema: &Schema) -> Result<&ColumnRef, SchemaError> {
    schema.time.as_ref().ok_or_else(|| {
        SchemaError::Invalid("json records need the time field's path (time = \"/ts\", or --time)".into())
    })
}

/// The segments of a JSON path: a pointer (`/a/b`, RFC 6901 escapes) or dotted (`a.b`).
pub(crate) fn path(r: &ColumnRef) -> Result<Vec<String>, SchemaError> {
    let text = field_name(r);
    let bad = |why: &str| SchemaError::Invalid(format!("the JSON path {text:?} {why}"));
    let segments: Vec<String> = if let Some(pointer) = text.strip_prefix('/') {
        pointer.split('/').map(|s| s.replace("~1", "/").replace("~0", "~")).collect()
    } else {
        text.split('.').map(str::to_owned).collect()
    };
    if text.is_empty() || segments.iter().any(String::is_empty) {
        return Err(bad("has an empty segment; use /a/b or a.b"));
    }
    Ok(segments)
}

/// A dimension's value in JSON: an integer written canonically (`7`, `-12`; not `007`, `+7`)
/// is a number, as apps write counts and versions; anything else a string. Read back, a number
/// is written canonically ([`crate::decode`]), so the value comes back the same.
fn json_value(value: &str) -> Value {
    match value.parse::<i64>() {
        Ok(n) if n.to_string() == value => Value::from(n),
        _ => Value::String(value.to_owned()),
    }
}

/// Puts `value` at `path` in `root`, making the objects on the way.
fn insert(root: &mut Value, path: &[String], value: Value) {
    let mut node = root;
    for (i, seg) in path.iter().enumerate() {
        let Value::Object(map) = node else { return };
        if i + 1 == path.len() {
            map.insert(seg.clone(), value);
            return;
        }
        node = map.entry(seg.clone()).or_insert_with(|| Value::Object(Map::new()));
    }
}

/// The paths of a JSON schema as a tree: each node a field name, the leaves the slots to fill.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Node {
    /// The slots this node's value fills (the same field may be, say, the id and a key).
    slots: SmallVec<[usize; 2]>,
    /// The path so far, for errors.
    name: String,
    children: Vec<(String, Option<usize>, Node)>,
}

impl Node {
    fn insert(&mut self, segments: &[String], slot: usize, name: String) -> Result<(), SchemaError> {
        let mut node = self;
        for seg in segments {
            if !node.slots.is_empty() {
                return Err(SchemaError::Invalid(format!(
                    "the JSON path {name:?} is inside the field {:?}",
                    node.name
                )));
            }
            let i = match node.children.iter().position(|(n, _, _)| n == seg) {
                Some(i) => i,
                None => {
                    let child = Node { name: name.clone(), ..Node::default() };
                    node.children.push((seg.clone(), seg.parse().ok(), child));
                    node.children.len() - 1
                }
            };
            node = &mut node.children[i].2;
        }
        if !node.children.is_empty() {
            return Err(SchemaError::Invalid(format!(
                "the JSON path {:?} is inside the field {name:?}",
                node.children[0].2.name
            )));
        }
        node.name = name;
        node.slots.push(slot);
        Ok(())
    }
}

/// A value captured from a JSON object.
#[derive(Debug, Clone)]
enum Scalar<'a> {
    Str(Cow<'a, str>),
    U64(u64),
    I64(i64),
    F64(f64),
    Bool(bool),
    Null,
    /// An object or an array where a value was wanted.
    Composite(&'static str),
}

impl<'a> Scalar<'a> {
    /// The value as a key: see the module documentation. `Err`: what it is instead.
    fn canonical(self) -> Result<Cow<'a, str>, &'static str> {
        Ok(match self {
            Scalar::Str(s) => s,
            Scalar::U64(n) => Cow::Owned(itoa::Buffer::new().format(n).to_owned()),
            Scalar::I64(n) => Cow::Owned(itoa::Buffer::new().format(n).to_owned()),
            Scalar::F64(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => {
                Cow::Owned(itoa::Buffer::new().format(f as i64).to_owned())
            }
            Scalar::F64(f) => Cow::Owned(ryu::Buffer::new().format_finite(f).to_owned()),
            Scalar::Bool(b) => Cow::Borrowed(if b { "true" } else { "false" }),
            Scalar::Null => return Err("null"),
            Scalar::Composite(what) => return Err(what),
        })
    }
}

/// Walks a JSON value along a [`Node`], filling the slots of the fields it finds.
struct Walk<'n, 'f, 'a> {
    node: &'n Node,
    found: &'f mut [Option<Scalar<'a>>],
}

impl<'de: 'a, 'a> DeserializeSeed<'de> for Walk<'_, '_, 'a> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        if let Some((&last, rest)) = self.node.slots.split_last() {
            let value = d.deserialize_any(ScalarVisitor)?;
            for &slot in rest {
                self.found[slot] = Some(value.clone());
            }
            self.found[last] = Some(value);
            Ok(())
        } else {
            d.deserialize_any(self)
        }
    }
}

impl<'de: 'a, 'a> Visitor<'de> for Walk<'_, '_, 'a> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<(), M::Error> {
        while let Some(Str(k)) = map.next_key::<Str<'de>>()? {
            match self.node.children.iter().find(|(n, _, _)| *n == k) {
                Some((_, _, child)) => map.next_value_seed(Walk { node: child, found: &mut *self.found })?,
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }

    fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<(), S::Error> {
        let mut i = 0usize;
        loop {
            let more = match self.node.children.iter().find(|(_, index, _)| *index == Some(i)) {
                Some((_, _, child)) => seq.next_element_seed(Walk { node: child, found: &mut *self.found })?.is_some(),
                None => seq.next_element::<IgnoredAny>()?.is_some(),
            };
            if !more {
                return Ok(());
            }
            i += 1;
        }
    }

    // A value where the path goes on: the fields below it are missing.
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
}

struct ScalarVisitor;

impl<'de> Visitor<'de> for ScalarVisitor {
    type Value = Scalar<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Scalar<'de>, E> {
        Ok(Scalar::Str(Cow::Borrowed(v)))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Scalar<'de>, E> {
        Ok(Scalar::Str(Cow::Owned(v.to_owned())))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Scalar<'de>, E> {
        Ok(Scalar::Str(Cow::Owned(v)))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Scalar<'de>, E> {
        Ok(Scalar::U64(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Scalar<'de>, E> {
        Ok(Scalar::I64(v))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Scalar<'de>, E> {
        Ok(Scalar::F64(v))
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Scalar<'de>, E> {
        Ok(Scalar::Bool(v))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Scalar<'de>, E> {
        Ok(Scalar::Null)
    }
    fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Scalar<'de>, M::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Scalar::Composite("an object"))
    }
    fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<Scalar<'de>, S::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Scalar::Composite("an array"))
    }
}
