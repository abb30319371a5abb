//! Opening files inside a directory without ever leaving it, for `lport serve`.
//!
//! Every path is resolved by the kernel relative to a descriptor of the served directory,
//! and no symlink is followed on the way: a served subdirectory swapped for a symlink while
//! a request is under way (`renameat2(RENAME_EXCHANGE)`) cannot lead the open outside. On
//! Linux that is `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)`, with a component-by-
//! component `openat(O_NOFOLLOW)` where the kernel lacks it (before 5.6) and on macOS;
//! on Windows the opened handle's final path must lie inside the root. What is served is
//! what was opened: the caller reads (and stats) the returned file, never the path again.
//!
//! Only regular files and directories are handed out for reading; a FIFO, a device node
//! or a socket is reported as what it is (opened without blocking, never read).

use std::fs::File;
use std::path::Path;
use std::time::SystemTime;

/// What an opened name is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A regular file: it may be read, up to its size.
    File,
    /// A directory: it may be listed.
    Dir,
    /// A FIFO.
    Fifo,
    /// A character or block device.
    Device,
    /// A unix socket.
    Socket,
    /// Something else.
    Other,
}

impl Kind {
    /// "a FIFO", "a device node": what a refusal names.
    #[must_use]
    pub fn words(self) -> &'static str {
        match self {
            Kind::File => "a regular file",
            Kind::Dir => "a directory",
            Kind::Fifo => "a FIFO",
            Kind::Device => "a device node",
            Kind::Socket => "a socket",
            Kind::Other => "not a regular file",
        }
    }
}

/// Why a name was not opened.
#[derive(Debug)]
pub enum Refused {
    /// Nothing by that name.
    NotFound,
    /// A symlink on the way, or a path that would leave the directory.
    Outside,
    /// The OS said no (permissions), or another error.
    Io(std::io::Error),
}

impl From<std::io::Error> for Refused {
    fn from(e: std::io::Error) -> Self {
        match e.kind() {
            std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory => Refused::NotFound,
            _ => Refused::Io(e),
        }
    }
}

/// One opened name: the descriptor, what it is, and its size and modification time as
/// `fstat` on that descriptor gave them.
#[derive(Debug)]
pub struct Opened {
    /// The open file (or directory).
    pub file: File,
    /// What it is.
    pub kind: Kind,
    /// Its size in bytes (0 for anything but a regular file).
    pub len: u64,
    /// When it last changed.
    pub modified: SystemTime,
}

/// One directory entry, as a listing shows it (symlinks are not followed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The name (lossily UTF-8).
    pub name: String,
    /// It is a directory.
    pub is_dir: bool,
    /// It is a regular file (so a link to it is served).
    pub is_file: bool,
    /// Size in bytes.
    pub len: u64,
    /// When it last changed, if known.
    pub modified: Option<SystemTime>,
}

/// A directory that names are opened beneath.
#[derive(Debug)]
pub struct Root {
    dir: File,
}

impl Root {
    /// Opens the directory at `path`.
    ///
    /// # Errors
    /// When it cannot be opened or is not a directory.
    pub fn open(path: &Path) -> std::io::Result<Root> {
        Ok(Root {
            dir: crate::sys::open_dir(path)?,
        })
    }

    /// Opens `parts` (names, none empty, `.` or `..`, none holding a separator or NUL)
    /// beneath the root, following no symlink; no parts opens the root itself.
    ///
    /// # Errors
    /// [`Refused::Outside`] for a symlink on the way or a path that leaves the root,
    /// [`Refused::NotFound`] when nothing is there, [`Refused::Io`] otherwise.
    pub fn open_beneath(&self, parts: &[&str]) -> Result<Opened, Refused> {
        if parts
            .iter()
            .any(|p| p.is_empty() || *p == "." || *p == ".." || p.contains(['/', '\\', '\0']))
        {
            return Err(Refused::Outside);
        }
        let (file, kind) = crate::sys::open_beneath(&self.dir, parts)?;
        let meta = file.metadata().map_err(Refused::Io)?;
        Ok(Opened {
            len: if kind == Kind::File { meta.len() } else { 0 },
            modified: meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
            file,
            kind,
        })
    }

    /// The entries of an opened directory, read through its descriptor (not its path), at
    /// most `limit` of them; the second value says whether there were more.
    ///
    /// # Errors
    /// When the directory cannot be read.
    pub fn list(dir: &Opened, limit: usize) -> std::io::Result<(Vec<Entry>, bool)> {
        crate::sys::list_dir(&dir.file, limit)
    }
}
