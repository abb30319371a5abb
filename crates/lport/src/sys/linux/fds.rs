//! Socket inode -> (pid, fd) by scanning every `/proc/<pid>/fd`, the way `ss -p` does but
//! cheaper: paths are resolved relative to directory fds (`openat`/`readlinkat`, no
//! `/proc/PID/...` walk per fd), no SELinux xattr calls, large `getdents64` buffers, and the
//! processes are spread over the cores. The same pass reads each process's network
//! namespace, so other namespaces cost nothing extra to discover.

use std::mem::MaybeUninit;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::{AtomicUsize, Ordering};

use rustix::fs::{AtFlags, CWD, Mode, OFlags, RawDir, openat, readlinkat_raw, statat};
use rustix::io::Errno;

use crate::model::Owner;

/// How a process's network namespace was identified.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum NsKey {
    /// The inode of `/proc/<pid>/ns/net`.
    Inode(u64),
    /// The inode of `/proc/<pid>/net/tcp`, which differs per namespace and can be read
    /// without the ptrace access the `ns/net` link needs.
    ProcNet(u64),
}

/// What the scan found.
#[derive(Debug, Default)]
pub(crate) struct Scan {
    /// (socket inode, holder) for every socket fd seen.
    pub(crate) holders: Vec<(u64, Owner)>,
    /// Each scanned process's network namespace, when asked for.
    pub(crate) netns: Vec<(u32, NsKey)>,
    /// Processes whose fd table could not be read (another user's, without root).
    pub(crate) unreadable: usize,
}

/// Lists the numeric entries of `/proc`.
pub(crate) fn pids() -> Vec<u32> {
    let mut out = Vec::with_capacity(512);
    let Ok(dir) = openat(
        CWD,
        c"/proc",
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    ) else {
        return out;
    };
    let mut buf = vec![MaybeUninit::<u8>::uninit(); 64 * 1024];
    let mut it = RawDir::new(&dir, &mut buf);
    while let Some(Ok(e)) = it.next() {
        if let Some(pid) = parse_u32(e.file_name().to_bytes()) {
            out.push(pid);
        }
    }
    out
}

/// Processes are handed out a few at a time so one huge fd table does not hold up a core.
const CHUNK: usize = 4;

/// Scans every process; `with_netns` also records each one's network namespace.
pub(crate) fn scan(with_netns: bool) -> Scan {
    let pids = pids();
    let threads = std::thread::available_parallelism()
        .map_or(1, std::num::NonZero::get)
        .clamp(1, 8)
        .min(pids.len().div_ceil(16).max(1));
    let next = AtomicUsize::new(0);
    let work = || {
        let mut local = Scan::default();
        let mut dirbuf = vec![MaybeUninit::<u8>::uninit(); 32 * 1024];
        loop {
            let start = next.fetch_add(CHUNK, Ordering::Relaxed);
            if start >= pids.len() {
                break;
            }
            for &pid in &pids[start..(start + CHUNK).min(pids.len())] {
                scan_pid(pid, with_netns, &mut dirbuf, &mut local);
            }
        }
        local
    };
    if threads == 1 {
        return work();
    }
    std::thread::scope(|s| {
        let handles: Vec<_> = (1..threads).map(|_| s.spawn(work)).collect();
        let mut all = work();
        for h in handles {
            // A panicking worker would be a bug; its share is then missing, not fatal.
            if let Ok(part) = h.join() {
                all.holders.extend(part.holders);
                all.netns.extend(part.netns);
                all.unreadable += part.unreadable;
            }
        }
        all
    })
}

fn scan_pid(pid: u32, with_netns: bool, dirbuf: &mut [MaybeUninit<u8>], out: &mut Scan) {
    let mut path = itoa_path(pid);
    let Ok(dir) = openat(
        CWD,
        path.as_str(),
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    ) else {
        // Exited since /proc was listed.
        return;
    };
    path.clear();
    let mut link = [0u8; 64];
    if with_netns {
        match readlinkat_raw(&dir, c"ns/net", &mut link[..]) {
            Ok(n) => {
                if let Some(ino) = parse_bracketed(&link[..n], b"net:[") {
                    out.netns.push((pid, NsKey::Inode(ino)));
                }
            }
            Err(Errno::ACCESS | Errno::PERM) => {
                if let Ok(st) = statat(&dir, c"net/tcp", AtFlags::empty()) {
                    out.netns.push((pid, NsKey::ProcNet(st.st_ino)));
                }
            }
            Err(_) => {}
        }
    }
    let fddir: OwnedFd = match openat(
        &dir,
        c"fd",
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    ) {
        Ok(fd) => fd,
        Err(Errno::ACCESS | Errno::PERM) => {
            out.unreadable += 1;
            return;
        }
        Err(_) => return,
    };
    read_fd_dir(&fddir, pid, dirbuf, &mut out.holders);
}

/// Adds (inode, holder) for every socket in an open `fd` directory of `pid`.
fn read_fd_dir(
    fddir: &OwnedFd,
    pid: u32,
    dirbuf: &mut [MaybeUninit<u8>],
    out: &mut Vec<(u64, Owner)>,
) {
    let mut link = [0u8; 64];
    let mut it = RawDir::new(fddir.as_fd(), dirbuf);
    while let Some(entry) = it.next() {
        let Ok(e) = entry else { break };
        let name = e.file_name();
        let Some(fd) = parse_u32(name.to_bytes()) else {
            continue;
        };
        let Ok(n) = readlinkat_raw(fddir, name, &mut link[..]) else {
            continue;
        };
        if let Some(inode) = parse_bracketed(&link[..n], b"socket:[") {
            out.push((inode, Owner { pid, fd: Some(fd) }));
        }
    }
}

/// Looks again, in these processes only, for holders of the `wanted` sockets: each
/// process's fd table as it is now (a socket made after the first scan passed it), and the
/// tables of its threads that have one of their own (`unshare(CLONE_FILES)`), which
/// `/proc/PID/fd` does not show.
pub(crate) fn look_again(
    pids: &[u32],
    wanted: &std::collections::HashSet<u64>,
) -> Vec<(u64, Owner)> {
    let mut found = Vec::new();
    let mut dirbuf = vec![MaybeUninit::<u8>::uninit(); 32 * 1024];
    let mut tids = vec![MaybeUninit::<u8>::uninit(); 16 * 1024];
    let mut all = Vec::new();
    for &pid in pids {
        let Ok(task) = openat(
            CWD,
            format!("/proc/{pid}/task").as_str(),
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        ) else {
            continue;
        };
        let mut it = RawDir::new(task.as_fd(), &mut tids);
        let mut threads = Vec::new();
        while let Some(Ok(e)) = it.next() {
            if let Some(tid) = parse_u32(e.file_name().to_bytes()) {
                threads.push(tid);
            }
        }
        for tid in threads {
            // Threads that share the process's fd table (nearly all) were seen in it.
            if tid != pid && shares_files(pid, tid) {
                continue;
            }
            let Ok(fddir) = openat(
                &task,
                format!("{tid}/fd").as_str(),
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
                Mode::empty(),
            ) else {
                continue;
            };
            all.clear();
            read_fd_dir(&fddir, pid, &mut dirbuf, &mut all);
            found.extend(all.iter().filter(|(ino, _)| wanted.contains(ino)));
        }
    }
    found.sort_unstable();
    found.dedup();
    found
}

/// Whether thread `tid` uses the same fd table as process `pid` (`kcmp(KCMP_FILES)`). When
/// the kernel will not say (EPERM for a protected process, no kcmp in this kernel) the
/// thread is taken as sharing it: reading every thread's table of such a process costs
/// thousands of reads (40 threads of a busy pid 1: 16 ms) on every listing.
fn shares_files(pid: u32, tid: u32) -> bool {
    const KCMP_FILES: libc::c_int = 2;
    let (Ok(a), Ok(b)) = (libc::pid_t::try_from(pid), libc::pid_t::try_from(tid)) else {
        return true;
    };
    // SAFETY: kcmp reads two tasks' kernel objects and compares them; no memory is passed.
    let r = unsafe { libc::syscall(libc::SYS_kcmp, a, b, KCMP_FILES, 0usize, 0usize) };
    r != 1 && r != 2
}

fn itoa_path(pid: u32) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(16);
    let _ = write!(s, "/proc/{pid}");
    s
}

/// Parses `prefix` + digits + `]`, such as `socket:[12345]` or `net:[4026531840]`.
pub(crate) fn parse_bracketed(link: &[u8], prefix: &[u8]) -> Option<u64> {
    let rest = link.strip_prefix(prefix)?.strip_suffix(b"]")?;
    if rest.is_empty() || rest.len() > 20 {
        return None;
    }
    rest.iter().try_fold(0u64, |acc, &b| {
        b.is_ascii_digit()
            .then(|| acc.checked_mul(10)?.checked_add(u64::from(b - b'0')))
            .flatten()
    })
}

fn parse_u32(s: &[u8]) -> Option<u32> {
    if s.is_empty() || s.len() > 10 {
        return None;
    }
    s.iter().try_fold(0u32, |acc, &b| {
        b.is_ascii_digit()
            .then(|| acc.checked_mul(10)?.checked_add(u32::from(b - b'0')))
            .flatten()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_links_and_names() {
        assert_eq!(parse_bracketed(b"socket:[12345]", b"socket:["), Some(12345));
        assert_eq!(
            parse_bracketed(b"net:[4026531840]", b"net:["),
            Some(4_026_531_840)
        );
        assert_eq!(parse_bracketed(b"/dev/null", b"socket:["), None);
        assert_eq!(parse_bracketed(b"socket:[]", b"socket:["), None);
        assert_eq!(parse_bracketed(b"socket:[12a]", b"socket:["), None);
        assert_eq!(
            parse_bracketed(b"socket:[99999999999999999999999]", b"socket:["),
            None
        );
        assert_eq!(parse_u32(b"4242"), Some(4242));
        assert_eq!(parse_u32(b"."), None);
        assert_eq!(parse_u32(b"self"), None);
        assert_eq!(parse_u32(b"99999999999"), None);
    }

    #[test]
    fn finds_a_socket_this_process_holds() {
        use std::os::unix::fs::MetadataExt;
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let fd = std::os::fd::AsRawFd::as_raw_fd(&l) as u32;
        let ino = std::fs::metadata(format!("/proc/self/fd/{fd}"))
            .expect("stat")
            .ino();
        let me = std::process::id();
        let scan = scan(true);
        assert!(
            scan.holders.contains(&(
                ino,
                Owner {
                    pid: me,
                    fd: Some(fd)
                }
            )),
            "the listener's inode {ino} should be held by pid {me} fd {fd}"
        );
        assert!(scan.netns.iter().any(|(p, _)| *p == me));
    }
}
