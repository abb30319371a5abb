//! `lport::beneath` on Linux: `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)` relative to
//! the root's descriptor; before Linux 5.6 (ENOSYS) or under a seccomp filter that refuses
//! it (EPERM), one `openat(O_NOFOLLOW)` per component. Listings read the directory's
//! descriptor with `getdents64` and `fstatat(AT_SYMLINK_NOFOLLOW)`.

use std::fs::File;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;
use std::time::{Duration, SystemTime};

use rustix::fs::{AtFlags, Dir, FileType, Mode, OFlags, ResolveFlags};
use rustix::io::Errno;

use crate::beneath::{Entry, Kind, Refused};

/// Opened without blocking (a FIFO would wait for a writer), without becoming the
/// controlling terminal (a tty), never inherited.
fn read_flags() -> OFlags {
    OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NONBLOCK | OFlags::NOCTTY
}

pub(crate) fn open_dir(path: &Path) -> std::io::Result<File> {
    let fd = rustix::fs::open(
        path,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    Ok(File::from(fd))
}

pub(crate) fn open_beneath(root: &File, parts: &[&str]) -> Result<(File, Kind), Refused> {
    let rel = if parts.is_empty() {
        ".".to_owned()
    } else {
        parts.join("/")
    };
    let how = ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS;
    let fd = match rustix::fs::openat2(root.as_fd(), rel.as_str(), read_flags(), Mode::empty(), how)
    {
        Ok(fd) => fd,
        Err(Errno::NOSYS | Errno::PERM) => step_by_step(root.as_fd(), parts)?,
        Err(e) => return Err(refusal(e)),
    };
    let kind = kind_of(
        rustix::fs::fstat(&fd)
            .map_err(|e| Refused::Io(e.into()))?
            .st_mode,
    );
    Ok((File::from(fd), kind))
}

/// ELOOP: a symlink where none may be (RESOLVE_NO_SYMLINKS, O_NOFOLLOW); EXDEV: the path
/// would leave the root (RESOLVE_BENEATH).
fn refusal(e: Errno) -> Refused {
    match e {
        Errno::LOOP | Errno::XDEV => Refused::Outside,
        Errno::NOENT | Errno::NOTDIR => Refused::NotFound,
        e => Refused::Io(e.into()),
    }
}

/// One `openat(O_NOFOLLOW)` per component, each relative to the directory opened before.
fn step_by_step(root: BorrowedFd<'_>, parts: &[&str]) -> Result<OwnedFd, Refused> {
    let mut cur = rustix::fs::openat(root, ".", read_flags() | OFlags::DIRECTORY, Mode::empty())
        .map_err(refusal)?;
    for (i, part) in parts.iter().enumerate() {
        let last = i + 1 == parts.len();
        let flags = if last {
            read_flags() | OFlags::NOFOLLOW
        } else {
            read_flags() | OFlags::NOFOLLOW | OFlags::DIRECTORY
        };
        cur = match rustix::fs::openat(&cur, *part, flags, Mode::empty()) {
            Ok(fd) => fd,
            // O_DIRECTORY | O_NOFOLLOW on a symlink says ENOTDIR: it is a symlink all the same.
            Err(Errno::NOTDIR)
                if rustix::fs::statat(&cur, *part, AtFlags::SYMLINK_NOFOLLOW)
                    .is_ok_and(|st| FileType::from_raw_mode(st.st_mode) == FileType::Symlink) =>
            {
                return Err(Refused::Outside);
            }
            Err(e) => return Err(refusal(e)),
        };
    }
    Ok(cur)
}

fn kind_of(mode: u32) -> Kind {
    match FileType::from_raw_mode(mode) {
        FileType::RegularFile => Kind::File,
        FileType::Directory => Kind::Dir,
        FileType::Fifo => Kind::Fifo,
        FileType::CharacterDevice | FileType::BlockDevice => Kind::Device,
        FileType::Socket => Kind::Socket,
        _ => Kind::Other,
    }
}

pub(crate) fn list_dir(dir: &File, limit: usize) -> std::io::Result<(Vec<Entry>, bool)> {
    let mut entries = Vec::new();
    let mut more = false;
    let mut d = Dir::read_from(dir.as_fd())?;
    while let Some(e) = d.read() {
        let e = e?;
        let name = e.file_name();
        if name.to_bytes() == b"." || name.to_bytes() == b".." {
            continue;
        }
        if entries.len() == limit {
            more = true;
            break;
        }
        let st = rustix::fs::statat(dir.as_fd(), name, AtFlags::SYMLINK_NOFOLLOW).ok();
        let kind = st.as_ref().map_or(Kind::Other, |s| kind_of(s.st_mode));
        let modified = st.as_ref().and_then(|s| {
            let secs = u64::try_from(s.st_mtime).ok()?;
            let nanos = u32::try_from(s.st_mtime_nsec).ok()?;
            SystemTime::UNIX_EPOCH.checked_add(Duration::new(secs, nanos))
        });
        entries.push(Entry {
            name: name.to_string_lossy().into_owned(),
            is_dir: kind == Kind::Dir,
            is_file: kind == Kind::File,
            len: st
                .as_ref()
                .filter(|_| kind == Kind::File)
                .map_or(0, |s| u64::try_from(s.st_size).unwrap_or(0)),
            modified,
        });
    }
    Ok((entries, more))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fallback_refuses_symlinks_like_openat2() {
        let dir = std::env::temp_dir().join(format!("lport-beneath-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("sub")).expect("mkdir");
        std::fs::write(dir.join("sub/a.txt"), "a").expect("write");
        std::os::unix::fs::symlink("/etc", dir.join("out")).expect("symlink");
        std::os::unix::fs::symlink("sub", dir.join("in")).expect("symlink");
        let root = open_dir(&dir).expect("root");
        let fd = step_by_step(root.as_fd(), &["sub", "a.txt"]).expect("a file inside");
        assert_eq!(
            kind_of(rustix::fs::fstat(&fd).expect("stat").st_mode),
            Kind::File
        );
        for parts in [&["out", "passwd"][..], &["in", "a.txt"], &["out"]] {
            assert!(
                matches!(step_by_step(root.as_fd(), parts), Err(Refused::Outside)),
                "{parts:?}"
            );
            let r = open_beneath(&root, parts);
            assert!(matches!(r, Err(Refused::Outside)), "{parts:?}: {r:?}");
        }
        assert!(matches!(
            open_beneath(&root, &["nope"]),
            Err(Refused::NotFound)
        ));
        let (entries, more) = list_dir(&open_dir(&dir).expect("dir"), 10).expect("list");
        assert!(!more);
        let mut names: Vec<_> = entries
            .iter()
            .map(|e| (e.name.as_str(), e.is_dir))
            .collect();
        names.sort_unstable();
        assert_eq!(names, [("in", false), ("out", false), ("sub", true)]);
        let (entries, more) = list_dir(&open_dir(&dir).expect("dir"), 2).expect("list");
        assert!(more && entries.len() == 2);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
