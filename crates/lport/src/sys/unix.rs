//! What Linux and macOS share: unix-socket connects, running a command in place, and the
//! socket handover of `free --exec`.

use std::net::SocketAddr;
use std::os::fd::OwnedFd;
use std::os::unix::process::CommandExt;

/// Binds `addr`, lets `to_fd3` make the socket descriptor 3 (each OS has its own calls),
/// and replaces this process with `command` under systemd's socket-activation variables.
/// Returns only on failure.
pub(crate) fn exec_with_socket(
    addr: SocketAddr,
    udp: bool,
    command: &[String],
    to_fd3: impl FnOnce(OwnedFd) -> std::io::Result<()>,
) -> std::io::Error {
    let sock = if udp {
        std::net::UdpSocket::bind(addr).map(OwnedFd::from)
    } else {
        std::net::TcpListener::bind(addr).map(OwnedFd::from)
    };
    if let Err(e) = sock.and_then(to_fd3) {
        return e;
    }
    std::process::Command::new(&command[0])
        .args(&command[1..])
        .env("LISTEN_FDS", "1")
        .env("LISTEN_PID", std::process::id().to_string())
        .env("LISTEN_FDNAMES", "lport")
        .env("PORT", addr.port().to_string())
        .exec()
}

/// Connects to a unix socket (and lets go at once).
/// Connects to the unix socket at `path`, giving up at `deadline`. A blocking connect
/// waits as long as the listener's accept queue is full (it may never end); a
/// non-blocking one says EAGAIN at once, so it is tried again until the deadline, and a
/// queue that stays full is a timeout ("the listener's backlog is full").
pub(crate) fn unix_connect(
    path: &std::path::Path,
    deadline: std::time::Instant,
) -> std::io::Result<()> {
    use std::time::{Duration, Instant};
    loop {
        match super::unix_connect_once(path) {
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                let now = Instant::now();
                if now >= deadline {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        "the listener's backlog is full: the connection waited past the timeout",
                    ));
                }
                std::thread::sleep((deadline - now).min(Duration::from_millis(10)));
            }
            r => return r,
        }
    }
}

/// The index of the network interface `name` (`lo`, `eth0`), for an IPv6 zone.
pub(crate) fn interface_index(name: &str) -> Option<u32> {
    let c = std::ffi::CString::new(name).ok()?;
    // SAFETY: `c` is a valid NUL-terminated string for the call's duration.
    let index = unsafe { libc::if_nametoindex(c.as_ptr()) };
    (index != 0).then_some(index)
}

/// The name of the network interface with this index.
pub(crate) fn interface_name(index: u32) -> Option<String> {
    let mut buf = [0 as libc::c_char; libc::IF_NAMESIZE];
    // SAFETY: `buf` has the IF_NAMESIZE bytes if_indextoname writes at most.
    let p = unsafe { libc::if_indextoname(index, buf.as_mut_ptr()) };
    if p.is_null() {
        return None;
    }
    // SAFETY: on success `buf` holds a NUL-terminated name.
    let name = unsafe { std::ffi::CStr::from_ptr(buf.as_ptr()) };
    Some(name.to_string_lossy().into_owned())
}

/// One HTTP/1.0 request without a body (`GET`, `POST`) over a unix socket (a container
/// engine's API), all of it by `deadline`: the reply, head and body.
pub(crate) fn unix_http(
    socket: &std::path::Path,
    method: &str,
    path: &str,
    deadline: std::time::Instant,
) -> std::io::Result<Vec<u8>> {
    use std::io::{Read, Write};
    let left = || {
        deadline
            .checked_duration_since(std::time::Instant::now())
            .filter(|d| !d.is_zero())
            .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::TimedOut))
    };
    unix_connect(socket, deadline)?;
    let mut s = std::os::unix::net::UnixStream::connect(socket)?;
    s.set_write_timeout(Some(left()?))?;
    write!(
        s,
        "{method} {path} HTTP/1.0\r\nHost: engine\r\nContent-Length: 0\r\n\r\n"
    )?;
    let mut out = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        s.set_read_timeout(Some(left()?))?;
        match s.read(&mut chunk)? {
            0 => return Ok(out),
            n => out.extend_from_slice(&chunk[..n]),
        }
        if out.len() > 16 << 20 {
            return Err(std::io::Error::other("the engine's reply is over 16 MiB"));
        }
    }
}

/// `@name`: a name in Linux's abstract socket namespace, not a file.
pub(crate) fn is_abstract(path: &std::path::Path) -> bool {
    use std::os::unix::ffi::OsStrExt as _;
    path.as_os_str().as_bytes().first() == Some(&b'@')
}

/// The POSIX name of a connect error that needs words of its own: a symlink loop, a socket
/// of another type (a datagram socket for a stream client), a path through a non-directory.
pub(crate) fn errno_name(e: &std::io::Error) -> Option<&'static str> {
    let code = e.raw_os_error()?;
    [
        (libc::ELOOP, "ELOOP"),
        (libc::EPROTOTYPE, "EPROTOTYPE"),
        (libc::ENOTDIR, "ENOTDIR"),
        (libc::ENAMETOOLONG, "ENAMETOOLONG"),
    ]
    .iter()
    .find_map(|&(c, n)| (c == code).then_some(n))
}

/// Replaces this process with `command`; returns only on failure.
pub(crate) fn run_in_place(command: &[String]) -> std::io::Result<i32> {
    Err(std::process::Command::new(&command[0])
        .args(&command[1..])
        .exec())
}

/// Unix terminals take ANSI colour codes as they are.
pub(crate) fn enable_ansi() -> bool {
    true
}

/// A systemd unit or launchd job is stopped by ending its process (the manager then
/// restarts it or not); only Windows stops services through its manager.
pub(crate) const SERVICES_STOP_THROUGH_MANAGER: bool = false;

/// Signals are signals: SIGTERM can be caught, SIGKILL cannot.
pub(crate) const NO_SIGNALS: bool = false;

/// lport starts no helper copy of itself here.
pub(crate) fn helper() -> Option<i32> {
    None
}

pub(crate) fn stop_service(_name: &str) -> std::io::Result<()> {
    Err(std::io::Error::new(
        std::io::ErrorKind::Unsupported,
        "services are stopped by their manager's own command here",
    ))
}

/// The service a socket belongs to, where the OS tells per socket (Windows): not here.
pub(crate) fn socket_service(_s: &crate::model::Socket) -> Option<String> {
    None
}

/// Clients kept from loopback by the OS itself: none here.
pub(crate) fn loopback_client_notes(_port: u16) -> Vec<String> {
    Vec::new()
}

/// Where names are mapped to addresses before DNS.
#[allow(clippy::unnecessary_wraps)] // Windows finds it under its system root
pub(crate) fn hosts_file() -> Option<std::path::PathBuf> {
    Some(std::path::PathBuf::from("/etc/hosts"))
}

/// The file at `path` (a symlink followed, as a connect does; a link that leads nowhere is
/// the link itself): its kind, mode, owner, group and age. `@name` (Linux's abstract
/// namespace) is no file.
pub(crate) fn file_info(path: &std::path::Path) -> Option<super::FileInfo> {
    use super::FileKind;
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    if is_abstract(path) {
        return None;
    }
    let m = std::fs::metadata(path)
        .or_else(|_| std::fs::symlink_metadata(path))
        .ok()?;
    let t = m.file_type();
    let kind = if t.is_socket() {
        FileKind::Socket
    } else if t.is_dir() {
        FileKind::Directory
    } else if t.is_fifo() {
        FileKind::Fifo
    } else if t.is_char_device() {
        FileKind::CharDevice
    } else if t.is_block_device() {
        FileKind::BlockDevice
    } else if t.is_symlink() {
        FileKind::Symlink
    } else {
        FileKind::Regular
    };
    let users = crate::users::Users::load();
    let name = |id: u32, n: Option<&str>| n.map_or_else(|| id.to_string(), str::to_owned);
    let age_secs = m
        .modified()
        .ok()
        .and_then(|t| t.elapsed().ok())
        .map_or(0, |d| d.as_secs());
    Some(super::FileInfo {
        kind,
        mode: m.mode() & 0o7777,
        owner: name(m.uid(), users.name(m.uid())),
        group: name(m.gid(), group_name(m.gid()).as_deref()),
        age_secs,
    })
}

/// A group's name from /etc/group.
pub(crate) fn group_name(gid: u32) -> Option<String> {
    let text = std::fs::read_to_string("/etc/group").ok()?;
    text.lines().find_map(|l| {
        let mut f = l.split(':');
        let name = f.next()?;
        let _ = f.next();
        (f.next()?.parse::<u32>().ok()? == gid).then(|| name.to_owned())
    })
}

/// `user nobody (uid 65534), groups nogroup (65534)`: who lport runs as, from its ids.
pub(crate) fn describe_ids(uid: u32, gids: &[u32]) -> String {
    let users = crate::users::Users::load();
    let groups: Vec<String> = gids
        .iter()
        .map(|g| group_name(*g).map_or_else(|| g.to_string(), |n| format!("{n} ({g})")))
        .collect();
    format!(
        "user {} (uid {uid}), groups {}",
        users.name(uid).unwrap_or("?"),
        groups.join(", ")
    )
}

/// The CAs OpenSSL-based clients (curl, Python, Go, Node) trust: `SSL_CERT_FILE` in place of
/// the first of `bundles` that exists, and every file of `SSL_CERT_DIR` when it is set.
#[cfg(feature = "tls")]
pub(crate) fn openssl_roots(bundles: &[&str]) -> super::TrustRoots {
    /// Enough for any CA directory; a stray huge directory is not read whole.
    const MAX_FILES: usize = 4096;
    /// A CA bundle is a few hundred KiB.
    const MAX_BYTES: u64 = 16 << 20;
    let read = |p: &std::path::Path| {
        std::fs::metadata(p)
            .ok()
            .filter(|m| m.is_file() && m.len() <= MAX_BYTES)
            .and_then(|_| std::fs::read(p).ok())
    };
    let mut roots = super::TrustRoots::default();
    let file = std::env::var_os("SSL_CERT_FILE")
        .map(std::path::PathBuf::from)
        .or_else(|| {
            bundles
                .iter()
                .map(std::path::PathBuf::from)
                .find(|p| p.is_file())
        });
    if let Some(file) = file
        && let Some(bytes) = read(&file)
    {
        roots.from.push(file.display().to_string());
        roots.pem.push(bytes);
    }
    if let Some(dirs) = std::env::var_os("SSL_CERT_DIR") {
        for dir in std::env::split_paths(&dirs) {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            let before = roots.pem.len();
            roots.pem.extend(
                entries
                    .flatten()
                    .take(MAX_FILES)
                    .filter_map(|e| read(&e.path())),
            );
            if roots.pem.len() > before {
                roots.from.push(format!("{}/", dir.display()));
            }
        }
    }
    roots
}

/// Where lport keeps state: `/var/lib/lport` for root, else `$XDG_STATE_HOME/lport`
/// (`~/.local/state/lport`).
pub(crate) fn state_dir() -> std::path::PathBuf {
    use std::path::PathBuf;
    if super::is_privileged() {
        return PathBuf::from("/var/lib/lport");
    }
    if let Some(x) = std::env::var_os("XDG_STATE_HOME").filter(|x| !x.is_empty()) {
        return PathBuf::from(x).join("lport");
    }
    let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("/tmp"), PathBuf::from);
    home.join(".local/state/lport")
}
