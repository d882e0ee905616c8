//! Key values interned to small integers, so that the window core counts `u32`s and a record's
//! key costs a hash lookup, not an allocation.

use std::collections::HashMap;

use minutely_event::record::RecordRef;

/// The key columns of a consumer and every key value seen, each with a dense id.
#[derive(Debug, Default)]
pub struct KeyTable {
    names: Vec<String>,
    ids: HashMap<Box<[u8]>, u32, foldhash::fast::FixedState>,
    values: Vec<Box<[String]>>,
    buf: Vec<u8>,
}

impl KeyTable {
    pub fn new(names: &[String]) -> KeyTable {
        KeyTable { names: names.to_vec(), ..KeyTable::default() }
    }

    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// The id of the record's key. `Err(i)`: the record lacks the key dimension `names()[i]`.
    pub fn intern(&mut self, record: &RecordRef<'_>) -> Result<u32, usize> {
        // Length-prefixed values: no separator can make two different keys look alike.
        self.buf.clear();
        for (i, name) in self.names.iter().enumerate() {
            let value = record.dims.get(name).ok_or(i)?;
            self.buf.extend_from_slice(&(value.len() as u32).to_le_bytes());
            self.buf.extend_from_slice(value.as_bytes());
        }
        if let Some(&id) = self.ids.get(&self.buf[..]) {
            return Ok(id);
        }
        let values = self.names.iter().map(|n| record.dims.get(n).unwrap_or_default().to_owned()).collect();
        Ok(self.insert(values))
    }

    /// The id of a key given by its values (restoring a checkpoint).
    pub fn intern_values(&mut self, values: &[String]) -> u32 {
        self.buf.clear();
        for value in values {
            self.buf.extend_from_slice(&(value.len() as u32).to_le_bytes());
            self.buf.extend_from_slice(value.as_bytes());
        }
        match self.ids.get(&self.buf[..]) {
            Some(&id) => id,
            None => self.insert(values.into()),
        }
    }

    fn insert(&mut self, values: Box<[String]>) -> u32 {
        let id = u32::try_from(self.values.len()).expect("fewer than 4 billion distinct keys");
        self.ids.insert(self.buf.as_slice().into(), id);
        self.values.push(values);
        id
    }

    pub fn values(&self, id: u32) -> &[String] {
        &self.values[id as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interns_by_value_and_reports_missing_dimensions() {
        let mut t = KeyTable::new(&["a".into(), "b".into()]);
        let r = |s: &'static str| RecordRef::decode(s.as_bytes()).unwrap();
        let x = t.intern(&r(r#"{"id":"1","time_ms":0,"dims":{"b":"2","a":"1"}}"#)).unwrap();
        let y = t.intern(&r(r#"{"id":"2","time_ms":0,"dims":{"a":"1","b":"2","c":"9"}}"#)).unwrap();
        let z = t.intern(&r(r#"{"id":"3","time_ms":0,"dims":{"a":"12","b":""}}"#)).unwrap();
        assert_eq!(x, y);
        assert_ne!(x, z, "length prefixes keep (1,2) and (12,'') apart");
        assert_eq!(t.values(z), ["12", ""]);
        assert_eq!(t.intern(&r(r#"{"id":"4","time_ms":0,"dims":{"a":"1"}}"#)), Err(1));
        assert_eq!(t.intern_values(&["1".into(), "2".into()]), x);
    }
}
