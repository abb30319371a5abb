//! `lport::beneath` on Windows, which has no `openat`: the joined path is opened without
//! following a reparse point at its end (`FILE_FLAG_OPEN_REPARSE_POINT`), a symlink or
//! junction there is refused, and the opened handle's final path
//! (`GetFinalPathNameByHandleW`) must lie inside the root's, so a junction swapped in on
//! the way cannot lead outside. What is served is read from that handle.

use std::fs::{File, OpenOptions};
use std::os::windows::ffi::OsStringExt as _;
use std::os::windows::fs::{MetadataExt as _, OpenOptionsExt as _};
use std::os::windows::io::AsRawHandle as _;
use std::path::{Path, PathBuf};

use windows_sys::Win32::Storage::FileSystem::{
    FILE_ATTRIBUTE_REPARSE_POINT, FILE_FLAG_BACKUP_SEMANTICS, FILE_FLAG_OPEN_REPARSE_POINT,
    GetFinalPathNameByHandleW,
};

use crate::beneath::{Entry, Kind, Refused};

fn open(path: &Path) -> std::io::Result<File> {
    // Backup semantics: directories open too.
    OpenOptions::new()
        .read(true)
        .custom_flags(FILE_FLAG_BACKUP_SEMANTICS | FILE_FLAG_OPEN_REPARSE_POINT)
        .open(path)
}

/// The path the handle refers to, with every junction and symlink resolved.
fn final_path(f: &File) -> std::io::Result<PathBuf> {
    let mut buf = vec![0u16; 1024];
    loop {
        let cap = u32::try_from(buf.len()).unwrap_or(u32::MAX);
        // SAFETY: the handle is open; buf has cap u16s.
        let n = unsafe { GetFinalPathNameByHandleW(f.as_raw_handle(), buf.as_mut_ptr(), cap, 0) };
        if n == 0 {
            return Err(std::io::Error::last_os_error());
        }
        let n = n as usize;
        if n < buf.len() {
            return Ok(PathBuf::from(std::ffi::OsString::from_wide(&buf[..n])));
        }
        buf.resize(n + 1, 0);
    }
}

pub(crate) fn open_dir(path: &Path) -> std::io::Result<File> {
    let f = OpenOptions::new()
        .read(true)
        .custom_flags(FILE_FLAG_BACKUP_SEMANTICS)
        .open(path)?;
    if !f.metadata()?.is_dir() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::NotADirectory,
            "not a directory",
        ));
    }
    Ok(f)
}

pub(crate) fn open_beneath(root: &File, parts: &[&str]) -> Result<(File, Kind), Refused> {
    let base = final_path(root).map_err(Refused::Io)?;
    let mut path = base.clone();
    path.extend(parts);
    let f = open(&path)?;
    let meta = f.metadata().map_err(Refused::Io)?;
    if meta.file_attributes() & FILE_ATTRIBUTE_REPARSE_POINT != 0 {
        return Err(Refused::Outside);
    }
    if !final_path(&f).map_err(Refused::Io)?.starts_with(&base) {
        return Err(Refused::Outside);
    }
    let kind = if meta.is_dir() {
        Kind::Dir
    } else if meta.is_file() {
        Kind::File
    } else {
        Kind::Other
    };
    Ok((f, kind))
}

pub(crate) fn list_dir(dir: &File, limit: usize) -> std::io::Result<(Vec<Entry>, bool)> {
    let mut entries = Vec::new();
    for e in std::fs::read_dir(final_path(dir)?)? {
        let e = e?;
        if entries.len() == limit {
            return Ok((entries, true));
        }
        let meta = e.metadata().ok();
        let link = meta
            .as_ref()
            .is_some_and(|m| m.file_attributes() & FILE_ATTRIBUTE_REPARSE_POINT != 0);
        let is_dir = !link && meta.as_ref().is_some_and(std::fs::Metadata::is_dir);
        let is_file = !link && meta.as_ref().is_some_and(std::fs::Metadata::is_file);
        entries.push(Entry {
            name: e.file_name().to_string_lossy().into_owned(),
            is_dir,
            is_file,
            len: if is_file {
                meta.as_ref().map_or(0, std::fs::Metadata::len)
            } else {
                0
            },
            modified: meta.and_then(|m| m.modified().ok()),
        });
    }
    Ok((entries, false))
}
