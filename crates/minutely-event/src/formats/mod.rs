//! One file per record format, each with its decoder and its encoder side by side; `decode.rs`
//! and `encode.rs` choose among them by the schema's format.

pub(crate) mod delimited;
pub(crate) mod json;
pub(crate) mod minutely;

/// One edit of a line, for the property tests that hold a one-pass reader to serde on lines one
/// edit away from good ones: `(where, how, byte)`, how 0 inserting the byte, 1 removing one,
/// 2 replacing one.
#[cfg(test)]
pub(crate) fn edit(bytes: &mut Vec<u8>, edit: Option<(proptest::sample::Index, u8, u8)>) {
    let Some((at, how, byte)) = edit else { return };
    let i = at.index(bytes.len() + 1);
    match how {
        0 => bytes.insert(i, byte),
        1 if i < bytes.len() => {
            bytes.remove(i);
        }
        _ if i < bytes.len() => bytes[i] = byte,
        _ => {}
    }
}
