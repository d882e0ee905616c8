//! Key values interned to small integers, so that the window core counts `u32`s and a record's
//! key costs a hash lookup, not an allocation.

use std::collections::HashMap;

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

    /// The id of the key with these values (in the order of `names()`): a record's, or one
    /// restored from a checkpoint.
    pub fn intern<S: AsRef<str>>(&mut self, values: &[S]) -> u32 {
        debug_assert_eq!(values.len(), self.names.len());
        // Length-prefixed values: no separator can make two different keys look alike.
        self.buf.clear();
        for value in values {
            let value = value.as_ref();
            self.buf.extend_from_slice(&(value.len() as u32).to_le_bytes());
            self.buf.extend_from_slice(value.as_bytes());
        }
        match self.ids.get(&self.buf[..]) {
            Some(&id) => id,
            None => self.insert(values.iter().map(|v| v.as_ref().to_owned()).collect()),
        }
    }

    fn insert(&mut self, values: Box<[String]>) -> u32 {
        let id = u32::try_from(self.values.len()).expect("fewer than 4 billion distinct keys");
        self.ids.insert(self.buf.as_slice().into(), id);
        self.values.push(values);
        id
    }

    /// How many distinct keys there are (their ids are `0..len`).
    pub fn len(&self) -> usize {
        self.values.len()
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    pub fn values(&self, id: u32) -> &[String] {
        &self.values[id as usize]
    }
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use super::*;

    #[test]
    fn interns_by_value() {
        let mut t = KeyTable::new(&["a".into(), "b".into()]);
        let x = t.intern(&[Cow::Borrowed("1"), Cow::Owned("2".into())]);
        let y = t.intern(&["1", "2"]);
        let z = t.intern(&["12", ""]);
        assert_eq!(x, y);
        assert_ne!(x, z, "length prefixes keep (1,2) and (12,'') apart");
        assert_eq!(t.values(z), ["12", ""]);
        assert_eq!(t.intern(&["1".to_owned(), "2".to_owned()]), x);
    }
}
