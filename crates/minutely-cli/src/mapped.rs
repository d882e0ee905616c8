//! Input that is a regular file, mapped into memory to be read where it lies (the page cache),
//! without a copy into buffers: about a quarter of a count's time when read. Stdin is mapped
//! too when it is a regular file (`< file`). A pipe, a terminal, an empty file or a file that
//! cannot be mapped is read as before.

use std::fs::File;
use std::io::{self, Seek, SeekFrom};
use std::sync::Arc;

use minutely_consumer::lines::Input;

/// `file` (`None`: stdin), mapped when it is a regular file that is not empty.
pub fn file(file: Option<&File>) -> Option<memmap2::Mmap> {
    match file {
        Some(file) => regular(file, 0),
        None => stdin_map(),
    }
}

/// Stdin for `consume`: its whole content when it is a regular file (then the lines are what
/// the file holds when the count starts), else the stream.
pub fn stdin() -> Input {
    match stdin_map() {
        Some(map) => Input::Whole(Arc::new(map)),
        None => Input::Stream(Box::new(io::stdin())),
    }
}

/// Stdin mapped from where its reading stands (a `head` before may have taken lines) to its
/// end, which it is then moved to, as reading it all would.
fn stdin_map() -> Option<memmap2::Mmap> {
    let mut file = stdin_file()?;
    let from = file.stream_position().ok()?;
    let map = regular(&file, from)?;
    file.seek(SeekFrom::End(0)).ok()?;
    Some(map)
}

/// Stdin's file descriptor as a file (a duplicate: closing it leaves stdin open).
#[cfg(unix)]
fn stdin_file() -> Option<File> {
    use std::os::fd::AsFd;
    io::stdin().as_fd().try_clone_to_owned().ok().map(File::from)
}

#[cfg(not(unix))]
fn stdin_file() -> Option<File> {
    None
}

/// `file` from byte `from` to its end, mapped, when it is a regular file with bytes there and
/// can be mapped.
fn regular(file: &File, from: u64) -> Option<memmap2::Mmap> {
    if !file.metadata().is_ok_and(|m| m.is_file() && m.len() > from) {
        return None;
    }
    map(file, from).ok()
}

#[allow(unsafe_code)]
fn map(file: &File, from: u64) -> io::Result<memmap2::Mmap> {
    // SAFETY: the map is read-only and only read while the count runs, as bytes (nothing in it
    // is trusted beyond its length). What no map can rule out is another process truncating the
    // file meanwhile: this process then ends with SIGBUS, as ripgrep does in that case.
    unsafe { memmap2::MmapOptions::new().offset(from).map(file) }
}
