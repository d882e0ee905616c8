//! Input that is a regular file, mapped into memory to be read where it lies (the page cache),
//! without a copy into buffers: about a quarter of a count's time when read. Stdin is mapped
//! too when it is a regular file (`< file`). A pipe, a terminal, an empty file or a file that
//! cannot be mapped is read as before.

use std::fs::File;
use std::io;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use minutely_consumer::lines::Input;

/// The file at `path` (`-`: stdin), mapped when it is a regular file that is not empty.
pub fn file(path: &Path) -> anyhow::Result<Option<memmap2::Mmap>> {
    if path.as_os_str() == "-" {
        return Ok(stdin_file().as_ref().and_then(regular));
    }
    let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    Ok(regular(&file))
}

/// Stdin for `consume`: its whole content when it is a regular file (then the lines are what
/// the file holds when the count starts), else the stream.
pub fn stdin() -> Input {
    match stdin_file().as_ref().and_then(regular) {
        Some(map) => Input::Whole(Arc::new(map)),
        None => Input::Stream(Box::new(io::stdin())),
    }
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

/// `file` mapped, when it is a regular file that is not empty and can be mapped.
fn regular(file: &File) -> Option<memmap2::Mmap> {
    if !file.metadata().is_ok_and(|m| m.is_file() && m.len() > 0) {
        return None;
    }
    map(file).ok()
}

#[allow(unsafe_code)]
fn map(file: &File) -> io::Result<memmap2::Mmap> {
    // SAFETY: the map is read-only and only read while the count runs, as bytes (nothing in it
    // is trusted beyond its length). What no map can rule out is another process truncating the
    // file meanwhile: this process then ends with SIGBUS, as ripgrep does in that case.
    unsafe { memmap2::Mmap::map(file) }
}
