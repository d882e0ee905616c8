//! minutely's own records (`crate::record`): decoded borrowing from the line, written by
//! [`Event::encode`].

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

/// The event of one line.
pub(crate) fn event<'a>(roles: &Roles, line: &'a [u8]) -> Result<Fields<'a>, FieldError> {
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
