//! `lport::beneath` on macOS: one `openat(O_NOFOLLOW)` per component relative to the
//! directory opened before it (macOS has no `openat2`); listings through `fdopendir` on a
//! duplicate of the directory's descriptor and `fstatat(AT_SYMLINK_NOFOLLOW)`.

use std::ffi::{CStr, CString};
use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;
use std::time::{Duration, SystemTime};

use crate::beneath::{Entry, Kind, Refused};

fn read_flags() -> libc::c_int {
    libc::O_RDONLY | libc::O_CLOEXEC | libc::O_NONBLOCK | libc::O_NOCTTY | libc::O_NOFOLLOW
}

fn openat(dir: RawFd, name: &str, flags: libc::c_int) -> Result<OwnedFd, Refused> {
    let c = CString::new(name).map_err(|_| Refused::Outside)?;
    // SAFETY: dir is an open descriptor; c is NUL-terminated.
    let fd = unsafe { libc::openat(dir, c.as_ptr(), flags) };
    if fd < 0 {
        let e = std::io::Error::last_os_error();
        return Err(match e.raw_os_error() {
            Some(libc::ELOOP) => Refused::Outside,
            Some(libc::ENOENT | libc::ENOTDIR) => Refused::NotFound,
            _ => Refused::Io(e),
        });
    }
    // SAFETY: fd was just opened and is owned by nothing else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

pub(crate) fn open_dir(path: &Path) -> std::io::Result<File> {
    let f = std::fs::File::open(path)?;
    if !f.metadata()?.is_dir() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::NotADirectory,
            "not a directory",
        ));
    }
    Ok(f)
}

fn kind_of(mode: libc::mode_t) -> Kind {
    match mode & libc::S_IFMT {
        libc::S_IFREG => Kind::File,
        libc::S_IFDIR => Kind::Dir,
        libc::S_IFIFO => Kind::Fifo,
        libc::S_IFCHR | libc::S_IFBLK => Kind::Device,
        libc::S_IFSOCK => Kind::Socket,
        _ => Kind::Other,
    }
}

pub(crate) fn open_beneath(root: &File, parts: &[&str]) -> Result<(File, Kind), Refused> {
    let mut cur = openat(root.as_raw_fd(), ".", read_flags() | libc::O_DIRECTORY)?;
    for (i, part) in parts.iter().enumerate() {
        let flags = if i + 1 == parts.len() {
            read_flags()
        } else {
            read_flags() | libc::O_DIRECTORY
        };
        cur = openat(cur.as_raw_fd(), part, flags)?;
    }
    // SAFETY: an all-zero stat is a valid out buffer.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: cur is open; st is a valid out pointer.
    if unsafe { libc::fstat(cur.as_raw_fd(), &raw mut st) } != 0 {
        return Err(Refused::Io(std::io::Error::last_os_error()));
    }
    Ok((File::from(cur), kind_of(st.st_mode)))
}

pub(crate) fn list_dir(dir: &File, limit: usize) -> std::io::Result<(Vec<Entry>, bool)> {
    // SAFETY: dup of an open descriptor; fdopendir takes ownership of the duplicate.
    let fd = unsafe { libc::dup(dir.as_raw_fd()) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: fd is a directory descriptor this function owns.
    let d = unsafe { libc::fdopendir(fd) };
    if d.is_null() {
        let e = std::io::Error::last_os_error();
        // SAFETY: fdopendir failed, so fd is still ours to close.
        unsafe { libc::close(fd) };
        return Err(e);
    }
    // SAFETY: d is an open DIR; rewinding makes the listing start at the first entry
    // whatever the shared offset was.
    unsafe { libc::rewinddir(d) };
    let mut entries = Vec::new();
    let mut more = false;
    loop {
        // SAFETY: d is an open DIR.
        let e = unsafe { libc::readdir(d) };
        if e.is_null() {
            break;
        }
        // SAFETY: readdir returned a valid entry whose d_name is NUL-terminated.
        let name = unsafe { CStr::from_ptr((*e).d_name.as_ptr()) };
        if name.to_bytes() == b"." || name.to_bytes() == b".." {
            continue;
        }
        if entries.len() == limit {
            more = true;
            break;
        }
        // SAFETY: an all-zero stat is a valid out buffer.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: dirfd(d) is open; name is NUL-terminated; st is a valid out pointer.
        let ok = unsafe {
            libc::fstatat(
                libc::dirfd(d),
                name.as_ptr(),
                &raw mut st,
                libc::AT_SYMLINK_NOFOLLOW,
            )
        } == 0;
        let kind = if ok { kind_of(st.st_mode) } else { Kind::Other };
        let modified = ok
            .then(|| {
                let secs = u64::try_from(st.st_mtime).ok()?;
                let nanos = u32::try_from(st.st_mtime_nsec).ok()?;
                SystemTime::UNIX_EPOCH.checked_add(Duration::new(secs, nanos))
            })
            .flatten();
        entries.push(Entry {
            name: name.to_string_lossy().into_owned(),
            is_dir: kind == Kind::Dir,
            is_file: kind == Kind::File,
            len: if kind == Kind::File {
                u64::try_from(st.st_size).unwrap_or(0)
            } else {
                0
            },
            modified,
        });
    }
    // SAFETY: d is open and closed once; it closes the duplicate descriptor.
    unsafe { libc::closedir(d) };
    Ok((entries, more))
}
