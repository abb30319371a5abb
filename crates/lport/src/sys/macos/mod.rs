//! macOS: the kernel's PCB lists for sockets (`net.inet.{tcp,udp}.pcblist_n`, readable by
//! anyone, the records `netstat` reads), libproc for owners (every process's socket fds,
//! and the sockets launchd holds as fileports), `kinfo_proc` and `KERN_PROCARGS2` for
//! processes. This module only fetches bytes; `sys::decode::macos` decodes them, and is
//! tested from fixtures on every platform.
//!
//! Without root, the whole socket table is visible but only this user's descriptors: other
//! users' sockets keep an owner note, with the kernel's `so_last_pid` as a hint.

// What is the same on Linux and macOS.
pub(crate) use super::notrace::Tracer;
pub(crate) use super::unix::{
    NO_SIGNALS, SERVICES_STOP_THROUGH_MANAGER, enable_ansi, errno_name, file_info, helper,
    hosts_file, interface_index, interface_name, is_abstract, loopback_client_notes, run_in_place,
    socket_service, state_dir, stop_service, unix_connect, unix_http,
};

mod beneath;
pub(crate) use beneath::{list_dir, open_beneath, open_dir};

/// One non-blocking connect to a unix socket: `WouldBlock` when its accept queue is full.
pub(crate) fn unix_connect_once(path: &std::path::Path) -> std::io::Result<()> {
    use std::os::unix::ffi::OsStrExt as _;
    if super::unix::is_abstract(path) {
        return Err(std::io::Error::new(
            std::io::ErrorKind::Unsupported,
            "abstract socket names (@name) exist on Linux only; a path starting with @ is written ./@name",
        ));
    }
    let bytes = path.as_os_str().as_bytes();
    // SAFETY: an all-zero sockaddr_un is valid.
    let mut addr: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    if bytes.len() >= addr.sun_path.len() || bytes.contains(&0) {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "the path is too long for a unix socket",
        ));
    }
    addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
    for (d, s) in addr.sun_path.iter_mut().zip(bytes) {
        *d = *s as libc::c_char;
    }
    // SAFETY: plain socket creation.
    let fd = unsafe { libc::socket(libc::AF_UNIX, libc::SOCK_STREAM, 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: fd was just created and is owned here.
    let owned = unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) };
    // SAFETY: fd is open; F_SETFL with O_NONBLOCK and F_SETFD with FD_CLOEXEC.
    unsafe {
        libc::fcntl(fd, libc::F_SETFL, libc::O_NONBLOCK);
        libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC);
    }
    let len = std::mem::size_of::<libc::sockaddr_un>() as libc::socklen_t;
    // SAFETY: addr is a valid sockaddr_un of len bytes.
    let r = unsafe { libc::connect(fd, (&raw const addr).cast(), len) };
    drop(owned);
    if r == 0 {
        return Ok(());
    }
    let e = std::io::Error::last_os_error();
    match e.raw_os_error() {
        Some(libc::EAGAIN | libc::EINPROGRESS) => Err(std::io::ErrorKind::WouldBlock.into()),
        _ => Err(e),
    }
}

use std::ffi::CString;
use std::net::IpAddr;

use super::Raw;
use super::decode::macos::{self as dec, FdSocket, Pcb, PcbList};
use crate::error::{Error, Result};
use crate::inventory::Query;
use crate::model::{Process, Proto};
use crate::ports::PortPolicy;

/// `proc_info.h`: flavors libc does not name.
const PROC_PIDFDSOCKETINFO: libc::c_int = 3;
const PROC_PIDLISTFILEPORTS: libc::c_int = 14;
const PROC_PIDFILEPORTSOCKETINFO: libc::c_int = 3;

/// `struct proc_fileportinfo`.
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct ProcFileportinfo {
    proc_fileport: u32,
    proc_fdtype: u32,
}

const _: () = assert!(std::mem::size_of::<ProcFileportinfo>() == 8);

pub(crate) fn listener_at(_addr: IpAddr, _port: u16) -> Option<bool> {
    // No exact lookup without a connection: callers connect instead.
    None
}

pub(crate) fn parent_pid() -> Option<u32> {
    // SAFETY: getppid has no preconditions.
    let p = unsafe { libc::getppid() };
    u32::try_from(p).ok().filter(|&p| p > 0)
}

/// The width of the terminal on stdout, else on stderr (where live status lines go).
pub(crate) fn terminal_size() -> Option<(usize, usize)> {
    [libc::STDOUT_FILENO, libc::STDERR_FILENO]
        .into_iter()
        .find_map(|fd| {
            // SAFETY: winsize is plain data, filled by the ioctl.
            let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
            // SAFETY: TIOCGWINSZ writes one winsize to the pointer given.
            let rc = unsafe { libc::ioctl(fd, libc::TIOCGWINSZ, &raw mut ws) };
            (rc == 0).then_some((usize::from(ws.ws_col), usize::from(ws.ws_row)))
        })
}

pub(crate) fn refused_connect_is_slow() -> bool {
    false
}

pub(crate) fn signal_available(_signal: crate::kill::Signal) -> bool {
    true
}

pub(crate) fn send_signal(
    pid: u32,
    ticks: Option<u64>,
    signal: crate::kill::Signal,
) -> std::io::Result<()> {
    use crate::kill::Signal;
    // No pidfds here: the start time is checked just before the signal.
    if ticks.is_some_and(|t| start_ticks(pid) != Some(t)) {
        return Err(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "it exited (its pid is another process now)",
        ));
    }
    // macOS numbers USR1 and USR2 differently from Linux.
    let signal = match signal {
        Signal::Hup => libc::SIGHUP,
        Signal::Int => libc::SIGINT,
        Signal::Quit => libc::SIGQUIT,
        Signal::Kill => libc::SIGKILL,
        Signal::Usr1 => libc::SIGUSR1,
        Signal::Usr2 => libc::SIGUSR2,
        Signal::Term => libc::SIGTERM,
        Signal::Cont => libc::SIGCONT,
    };
    let pid = i32::try_from(pid).map_err(|_| std::io::ErrorKind::InvalidInput)?;
    // SAFETY: kill takes plain integers.
    if unsafe { libc::kill(pid, signal) } == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

pub(crate) fn is_alive(pid: u32) -> bool {
    kinfo(pid).is_some_and(|k| k.stat != dec::SZOMB)
}

pub(crate) fn is_kernel_thread(pid: u32) -> bool {
    // kernel_task.
    pid == 0
}

/// The start time in microseconds since the epoch: what tells a process from a later one
/// that got the same pid.
pub(crate) fn start_ticks(pid: u32) -> Option<u64> {
    kinfo(pid).map(|k| k.start.0 * 1_000_000 + u64::from(k.start.1))
}

/// Socket activation for `free --exec` (see `sys::unix`): fd 3 by `dup2`, or the socket
/// itself with close-on-exec cleared when it already is fd 3.
pub(crate) fn exec_with_socket(
    addr: std::net::SocketAddr,
    udp: bool,
    command: &[String],
) -> std::io::Error {
    use std::os::fd::AsRawFd;
    super::unix::exec_with_socket(addr, udp, command, |sock| {
        let start = crate::handover::LISTEN_FDS_START;
        let rc = if sock.as_raw_fd() == start {
            // SAFETY: clearing FD_CLOEXEC on a descriptor this closure owns.
            unsafe { libc::fcntl(start, libc::F_SETFD, 0) }
        } else {
            // SAFETY: dup2 onto fd 3, which the exec'd program takes over; dup2 leaves the
            // new descriptor without close-on-exec.
            unsafe { libc::dup2(sock.as_raw_fd(), start) }
        };
        if rc < 0 {
            return Err(std::io::Error::last_os_error());
        }
        std::mem::forget(sock);
        Ok(())
    })
}

#[allow(clippy::unnecessary_wraps)] // Windows has none
pub(crate) fn current_uid() -> Option<u32> {
    // SAFETY: getuid has no preconditions.
    Some(unsafe { libc::getuid() })
}

pub(crate) fn is_privileged() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

fn sysctl_int(name: &str) -> Option<i32> {
    let cname = CString::new(name).ok()?;
    let mut v: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>();
    // SAFETY: the buffer is an int and len says so; no new value is set.
    let rc = unsafe {
        libc::sysctlbyname(
            cname.as_ptr(),
            (&raw mut v).cast(),
            &raw mut len,
            std::ptr::null_mut(),
            0,
        )
    };
    (rc == 0).then_some(v)
}

pub(crate) fn port_policy() -> Option<PortPolicy> {
    let first = u16::try_from(sysctl_int("net.inet.ip.portrange.first")?).ok()?;
    let last = u16::try_from(sysctl_int("net.inet.ip.portrange.last")?).ok()?;
    Some(PortPolicy {
        ephemeral: first.min(last)..=last.max(first),
        reserved: Vec::new(),
        unprivileged_start: 1024,
        // macOS lets anyone bind a low port on the wildcard address (since 10.14).
        privileged_wildcard: false,
        excluded: Vec::new(),
        words: crate::ports::PolicyWords::MACOS,
    })
}

/// Reads a sysctl whose size is not known in advance, growing the buffer as it asks.
fn sysctl_bytes(name: &str) -> std::io::Result<Vec<u8>> {
    let cname = CString::new(name).map_err(|_| std::io::ErrorKind::InvalidInput)?;
    for _ in 0..5 {
        let mut len = 0usize;
        // SAFETY: a null buffer asks for the size only.
        let rc = unsafe {
            libc::sysctlbyname(
                cname.as_ptr(),
                std::ptr::null_mut(),
                &raw mut len,
                std::ptr::null_mut(),
                0,
            )
        };
        if rc != 0 {
            return Err(std::io::Error::last_os_error());
        }
        // Room for sockets that appear between the two calls.
        len += len / 8 + 4096;
        let mut buf = vec![0u8; len];
        // SAFETY: buf has len writable bytes; the kernel writes at most len and says how many.
        let rc = unsafe {
            libc::sysctlbyname(
                cname.as_ptr(),
                buf.as_mut_ptr().cast(),
                &raw mut len,
                std::ptr::null_mut(),
                0,
            )
        };
        if rc == 0 {
            buf.truncate(len);
            return Ok(buf);
        }
        let e = std::io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::ENOMEM) {
            return Err(e);
        }
    }
    Err(std::io::Error::from_raw_os_error(libc::ENOMEM))
}

/// One protocol's table, read again while the kernel says it changed during the read.
fn table(tcp: bool, notes: &mut Vec<String>) -> Result<PcbList> {
    let name = if tcp {
        "net.inet.tcp.pcblist_n"
    } else {
        "net.inet.udp.pcblist_n"
    };
    let mut last = None;
    for _ in 0..4 {
        let buf = sysctl_bytes(name).map_err(|e| Error::io(format!("sysctl {name}"), e))?;
        let decoded = dec::pcblist(&buf, tcp).map_err(|e| {
            Error::io(
                format!("sysctl {name}"),
                std::io::Error::new(std::io::ErrorKind::InvalidData, format!("{e:?}")),
            )
        })?;
        if !decoded.changed() && !decoded.truncated {
            return Ok(decoded);
        }
        last = Some(decoded);
    }
    notes.push(format!(
        "{name} kept changing while it was read; the listing may miss a socket that just opened or closed"
    ));
    Ok(last.unwrap_or_default())
}

pub(crate) fn collect(q: &Query) -> Result<Raw> {
    let mut raw = Raw::default();
    let mut pcbs: Vec<(Pcb, Proto)> = Vec::new();
    for (wanted, tcp, proto) in [(q.tcp, true, Proto::Tcp), (q.udp, false, Proto::Udp)] {
        if wanted {
            let list = table(tcp, &mut raw.notes)?;
            pcbs.extend(list.sockets.into_iter().map(|p| (p, proto)));
        }
    }
    raw.sockets = pcbs
        .iter()
        .map(|(p, proto)| dec::to_socket(p, *proto))
        .collect();
    raw.notes.extend(
        pcbs.iter()
            .filter(|(p, _)| p.tcp_state.is_none_or(|s| s == dec::tcps::LISTEN))
            .filter_map(|(p, proto)| dec::filter_note(p, *proto)),
    );
    if q.owners {
        let (holders, unreadable) = holders();
        raw.holders = dec::join(&holders);
        raw.unreadable_pids = unreadable;
        // Sockets nobody visible holds: the kernel's last user is a good guess.
        for (s, (p, _)) in raw.sockets.iter_mut().zip(&pcbs) {
            if s.inode != 0 && raw.holders.binary_search_by_key(&s.inode, |h| h.0).is_err() {
                s.owner_note = dec::last_pid_hint(p);
            }
        }
    }
    Ok(raw)
}

/// Every socket descriptor (and socket fileport) of every process this user may inspect:
/// (pid, fd, what the kernel says of it), and how many processes could not be read.
fn holders() -> (Vec<(u32, u32, FdSocket)>, usize) {
    let mut out = Vec::new();
    let mut unreadable = 0;
    for pid in all_pids() {
        match socket_fds(pid, &mut out) {
            Ok(()) => socket_fileports(pid, &mut out),
            Err(_) => unreadable += 1,
        }
    }
    (out, unreadable)
}

fn all_pids() -> Vec<u32> {
    // SAFETY: a null buffer asks for the count only.
    let n = unsafe { libc::proc_listallpids(std::ptr::null_mut(), 0) };
    let Ok(n) = usize::try_from(n) else {
        return Vec::new();
    };
    let mut pids = vec![0 as libc::pid_t; n + 64];
    let bytes = libc::c_int::try_from(pids.len() * std::mem::size_of::<libc::pid_t>())
        .unwrap_or(libc::c_int::MAX);
    // SAFETY: pids has room for `bytes` bytes.
    let got = unsafe { libc::proc_listallpids(pids.as_mut_ptr().cast(), bytes) };
    pids.truncate(usize::try_from(got).unwrap_or(0));
    pids.into_iter()
        .filter_map(|p| u32::try_from(p).ok())
        .collect()
}

/// A list libproc fills: asked for its size first, then read with room to spare.
fn pid_list<T: Copy + Default>(pid: u32, flavor: libc::c_int) -> std::io::Result<Vec<T>> {
    let p = i32::try_from(pid).map_err(|_| std::io::ErrorKind::InvalidInput)?;
    // SAFETY: a null buffer asks for the size only.
    let need = unsafe { libc::proc_pidinfo(p, flavor, 0, std::ptr::null_mut(), 0) };
    if need <= 0 {
        return Err(std::io::Error::last_os_error());
    }
    let size = std::mem::size_of::<T>();
    let mut v = vec![T::default(); usize::try_from(need).unwrap_or(0) / size + 16];
    let bytes = libc::c_int::try_from(v.len() * size).unwrap_or(libc::c_int::MAX);
    // SAFETY: v has room for `bytes` bytes of T.
    let got = unsafe { libc::proc_pidinfo(p, flavor, 0, v.as_mut_ptr().cast(), bytes) };
    if got <= 0 {
        return Err(std::io::Error::last_os_error());
    }
    v.truncate(usize::try_from(got).unwrap_or(0) / size);
    Ok(v)
}

/// `struct proc_fdinfo`.
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct ProcFdinfo {
    proc_fd: i32,
    proc_fdtype: u32,
}

const _: () = assert!(std::mem::size_of::<ProcFdinfo>() == 8);

/// Reads one `socket_fdinfo` with `call(buffer, size)` (a libproc call); only a whole record
/// counts: the kernel returns exactly its size.
fn read_fdinfo(
    call: impl FnOnce(*mut libc::c_void, libc::c_int) -> libc::c_int,
) -> Option<FdSocket> {
    let mut buf = vec![0u8; dec::socket_fdinfo::SIZE];
    let size = libc::c_int::try_from(buf.len()).ok()?;
    (call(buf.as_mut_ptr().cast(), size) == size).then(|| dec::socket_fdinfo(&buf))?
}

fn socket_fds(pid: u32, out: &mut Vec<(u32, u32, FdSocket)>) -> std::io::Result<()> {
    let fds: Vec<ProcFdinfo> = pid_list(pid, libc::PROC_PIDLISTFDS)?;
    let p = i32::try_from(pid).map_err(|_| std::io::ErrorKind::InvalidInput)?;
    for fd in fds {
        if fd.proc_fdtype != libc::PROX_FDTYPE_SOCKET as u32 {
            continue;
        }
        // SAFETY: read_fdinfo passes a buffer of `size` writable bytes.
        let info = read_fdinfo(|buf, size| unsafe {
            libc::proc_pidfdinfo(p, fd.proc_fd, PROC_PIDFDSOCKETINFO, buf, size)
        });
        if let (Some(s), Ok(n)) = (info, u32::try_from(fd.proc_fd)) {
            out.push((pid, n, s));
        }
    }
    Ok(())
}

/// Sockets a process holds as Mach fileports rather than descriptors: launchd keeps the
/// listening sockets of socket-activated services this way. They have no fd number;
/// lport lists them with the fileport's name number as the fd.
fn socket_fileports(pid: u32, out: &mut Vec<(u32, u32, FdSocket)>) {
    let Ok(ports) = pid_list::<ProcFileportinfo>(pid, PROC_PIDLISTFILEPORTS) else {
        return;
    };
    let Ok(p) = i32::try_from(pid) else {
        return;
    };
    for fp in ports {
        if fp.proc_fdtype != libc::PROX_FDTYPE_SOCKET as u32 {
            continue;
        }
        // SAFETY: read_fdinfo passes a buffer of `size` writable bytes.
        let info = read_fdinfo(|buf, size| unsafe {
            libc::proc_pidfileportinfo(p, fp.proc_fileport, PROC_PIDFILEPORTSOCKETINFO, buf, size)
        });
        if let Some(s) = info {
            out.push((pid, fp.proc_fileport, s));
        }
    }
}

/// `kinfo_proc` of one process, readable for any process.
fn kinfo(pid: u32) -> Option<dec::KinfoProc> {
    let mut mib = [
        libc::CTL_KERN,
        libc::KERN_PROC,
        libc::KERN_PROC_PID,
        i32::try_from(pid).ok()?,
    ];
    let mut buf = vec![0u8; dec::kinfo_proc::SIZE];
    let mut len = buf.len();
    // SAFETY: buf has len writable bytes; mib names four levels.
    let rc = unsafe {
        libc::sysctl(
            mib.as_mut_ptr(),
            4,
            buf.as_mut_ptr().cast(),
            &raw mut len,
            std::ptr::null_mut(),
            0,
        )
    };
    // A pid that does not exist gives success with nothing written.
    if rc != 0 || len < dec::kinfo_proc::SIZE {
        return None;
    }
    dec::kinfo_proc(&buf).filter(|k| k.pid == pid)
}

/// Arguments and executable, for this user's processes (any, as root).
fn procargs(pid: u32) -> Option<dec::ProcArgs> {
    let mut mib = [libc::CTL_KERN, libc::KERN_ARGMAX];
    let mut max: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>();
    // SAFETY: an int-sized buffer for KERN_ARGMAX.
    let rc = unsafe {
        libc::sysctl(
            mib.as_mut_ptr(),
            2,
            (&raw mut max).cast(),
            &raw mut len,
            std::ptr::null_mut(),
            0,
        )
    };
    if rc != 0 || max <= 0 {
        return None;
    }
    let mut mib = [
        libc::CTL_KERN,
        libc::KERN_PROCARGS2,
        i32::try_from(pid).ok()?,
    ];
    let mut buf = vec![0u8; usize::try_from(max).ok()?];
    let mut len = buf.len();
    // SAFETY: buf has len writable bytes.
    let rc = unsafe {
        libc::sysctl(
            mib.as_mut_ptr(),
            3,
            buf.as_mut_ptr().cast(),
            &raw mut len,
            std::ptr::null_mut(),
            0,
        )
    };
    if rc != 0 {
        return None;
    }
    buf.truncate(len);
    dec::procargs2(&buf)
}

fn exe_path(pid: u32) -> Option<String> {
    let mut buf = vec![0u8; libc::PROC_PIDPATHINFO_MAXSIZE as usize];
    let size = u32::try_from(buf.len()).ok()?;
    // SAFETY: buf has `size` writable bytes.
    let n = unsafe { libc::proc_pidpath(i32::try_from(pid).ok()?, buf.as_mut_ptr().cast(), size) };
    let n = usize::try_from(n).ok().filter(|&n| n > 0)?;
    Some(String::from_utf8_lossy(&buf[..n]).into_owned())
}

/// The account name of a uid from the directory service (most macOS users are not in
/// /etc/passwd).
fn user_name(uid: u32) -> Option<String> {
    let mut pw: libc::passwd = unsafe_zeroed_passwd();
    let mut buf = vec![0 as libc::c_char; 4096];
    let mut result: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: pw, buf and result are valid for the call; buf's length is passed.
    let rc = unsafe {
        libc::getpwuid_r(
            uid,
            &raw mut pw,
            buf.as_mut_ptr(),
            buf.len(),
            &raw mut result,
        )
    };
    if rc != 0 || result.is_null() || pw.pw_name.is_null() {
        return None;
    }
    // SAFETY: getpwuid_r succeeded, so pw_name points at a NUL-terminated string in buf.
    let name = unsafe { std::ffi::CStr::from_ptr(pw.pw_name) };
    Some(name.to_string_lossy().into_owned())
}

fn unsafe_zeroed_passwd() -> libc::passwd {
    // SAFETY: passwd is plain data (integers and pointers); all-zero is a valid value that
    // getpwuid_r overwrites.
    unsafe { std::mem::zeroed() }
}

pub(crate) fn processes(pids: &[u32]) -> Vec<Process> {
    pids.iter().filter_map(|&pid| process(pid)).collect()
}

fn process(pid: u32) -> Option<Process> {
    let k = kinfo(pid)?;
    let args = procargs(pid);
    let exe = exe_path(pid).or_else(|| args.as_ref().map(|a| a.exe.clone()));
    let user = user_name(k.uid);
    Some(dec::process(&k, args, exe, user))
}

/// Runs a system tool, giving its stdout when it succeeds.
fn tool_output(program: &str, args: &[&str]) -> Option<String> {
    let out = std::process::Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// pf's rules with their counters, every anchor included (`pfctl -vsr -a '*'`, as root),
/// when pf is enabled.
pub(crate) fn firewall_dump() -> Option<crate::diagnose::firewall::Dump> {
    let info = tool_output("/sbin/pfctl", &["-s", "info"])?;
    if !info.contains("Status: Enabled") {
        return None;
    }
    tool_output("/sbin/pfctl", &["-v", "-s", "rules", "-a", "*"])
        .map(crate::diagnose::firewall::Dump::Pf)
}

/// The Application Firewall's state: it filters incoming connections from other machines
/// per application (never loopback), so it matters for exposure.
pub(crate) fn firewall_notes(_port: u16) -> Vec<String> {
    const ALF: &str = "/usr/libexec/ApplicationFirewall/socketfilterfw";
    let mut out = Vec::new();
    if let Some(state) = tool_output(ALF, &["--getglobalstate"]) {
        out.extend(dec::alf_notes(
            &state,
            tool_output(ALF, &["--getblockall"]).as_deref(),
        ));
    }
    out
}

pub(crate) fn resolve_cgroup(_id: u64) -> Option<String> {
    None
}

/// Forwarding the OS itself configures for a port (Windows' portproxy): none here.
pub(crate) fn port_forwards(_port: u16) -> Vec<String> {
    Vec::new()
}

/// Whether the loopback interface is up: not read here.
pub(crate) fn loopback_up() -> Option<bool> {
    None
}

/// With `on`, makes closing `tcp` send a reset (SO_LINGER with no time) so the connection
/// leaves no TIME_WAIT behind, on either side: lport's probes must not hold the port they
/// probed. Without, closing is the normal FIN again.
pub(crate) fn reset_on_close(tcp: &std::net::TcpStream, on: bool) {
    use std::os::fd::AsRawFd;
    let linger = libc::linger {
        l_onoff: i32::from(on),
        l_linger: 0,
    };
    // SAFETY: a valid socket descriptor and a `linger` of the size passed.
    unsafe {
        libc::setsockopt(
            tcp.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&raw const linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        );
    }
}

/// The system roots (`/etc/ssl/cert.pem`, or `SSL_CERT_FILE`), and the CAs in the
/// keychains (`security find-certificate -a -p`): a CA added by hand (`mkcert -install`, a
/// company's) is only there. A certificate in a keychain counts as trusted; its trust
/// settings are not read.
#[cfg(feature = "tls")]
pub(crate) fn trust_roots() -> super::TrustRoots {
    let mut roots = super::unix::openssl_roots(&["/etc/ssl/cert.pem"]);
    let login = std::env::var_os("HOME").map(|h| {
        format!(
            "{}/Library/Keychains/login.keychain-db",
            h.to_string_lossy()
        )
    });
    let keychains = [
        Some("/Library/Keychains/System.keychain".to_owned()),
        Some("/System/Library/Keychains/SystemRootCertificates.keychain".to_owned()),
        login,
    ];
    for keychain in keychains.into_iter().flatten() {
        if let Some(pem) = tool_output(
            "/usr/bin/security",
            &["find-certificate", "-a", "-p", &keychain],
        )
        .filter(|t| t.contains("-----BEGIN CERTIFICATE-----"))
        {
            roots.from.push(format!("keychain {keychain}"));
            roots.pem.push(pem.into_bytes());
        }
    }
    roots
}

/// IPv6 on loopback is always there.
pub(crate) fn ipv6_loopback_disabled() -> bool {
    false
}

/// The unix sockets bound to a path: not read here (no /proc/net/unix).
pub(crate) fn unix_bound(_path: &std::path::Path, _holders: bool) -> Option<Vec<super::UnixBound>> {
    None
}

/// Named unix listeners: not read here.
pub(crate) fn unix_listeners(_programs: &[&str]) -> Option<Vec<(String, super::UnixBound)>> {
    None
}

/// Who lport runs as: user and groups.
pub(crate) fn who_am_i() -> String {
    // SAFETY: getuid/getgid have no preconditions.
    let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
    let mut buf = [0 as libc::gid_t; 64];
    // SAFETY: buf holds 64 gids and that length is passed.
    let n = unsafe { libc::getgroups(64, buf.as_mut_ptr()) };
    let mut gids = vec![gid];
    gids.extend(buf.iter().take(usize::try_from(n).unwrap_or(0)));
    gids.dedup();
    super::unix::describe_ids(uid, &gids)
}

pub(crate) fn process_cwd(_pid: u32) -> Option<String> {
    None
}

pub(crate) fn kernel_log_kills() -> Vec<(i64, String)> {
    Vec::new()
}

/// A process's descriptors against its limit: not read here (no per-process limits to read).
pub(crate) fn fd_usage(_pid: u32) -> Option<super::FdUsage> {
    None
}
