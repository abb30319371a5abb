//! Windows: the IP Helper owner-pid tables for sockets (`GetExtendedTcpTable`,
//! `GetExtendedUdpTable`, IPv4 and IPv6, every state, no elevation needed), a Toolhelp
//! snapshot and process handles for processes, `TerminateProcess` for kill, and `netsh` for
//! the dynamic and excluded port ranges. This module only fetches; `sys::decode::windows`
//! decodes, and is tested from fixtures on every platform.
//!
//! A row names one pid and no descriptor, so owners have `fd: None`; pid 0 is TIME_WAIT and
//! pid 4 the kernel (http.sys, SMB). Processes this user may not open keep their name from
//! the snapshot and say what is hidden.

pub(crate) use super::notrace::Tracer;
// No unix sockets of lport's own to read here.
pub(crate) use super::nounix::{errno_name, is_abstract, unix_bound, unix_http, unix_listeners};

mod beneath;
mod stop;

pub(crate) use beneath::{list_dir, open_beneath, open_dir};
pub(crate) use stop::helper;

use std::net::{IpAddr, SocketAddr};

use windows_sys::Win32::Foundation::{
    CloseHandle, ERROR_INSUFFICIENT_BUFFER, FILETIME, HANDLE, INVALID_HANDLE_VALUE, NO_ERROR,
    STILL_ACTIVE,
};
use windows_sys::Win32::NetworkManagement::IpHelper::{
    GetExtendedTcpTable, GetExtendedUdpTable, TCP_TABLE_OWNER_PID_ALL, UDP_TABLE_OWNER_PID,
};
use windows_sys::Win32::Networking::WinSock::{AF_INET, AF_INET6};
use windows_sys::Win32::Security::{
    GetTokenInformation, LookupAccountSidW, SID_NAME_USE, TOKEN_QUERY, TOKEN_USER, TokenUser,
};
use windows_sys::Win32::System::Diagnostics::ToolHelp::{
    CreateToolhelp32Snapshot, PROCESSENTRY32W, Process32FirstW, Process32NextW, TH32CS_SNAPPROCESS,
};
use windows_sys::Win32::System::Threading::{
    GetCurrentProcessId, GetExitCodeProcess, GetProcessTimes, OpenProcess, OpenProcessToken,
    PROCESS_NAME_WIN32, PROCESS_QUERY_LIMITED_INFORMATION, PROCESS_TERMINATE,
    QueryFullProcessImageNameW, TerminateProcess,
};

use super::Raw;
use super::decode::windows::{self as dec, Table};
use crate::error::{Error, Result};
use crate::inventory::Query;
use crate::model::Process;
use crate::ports::PortPolicy;

/// A process handle, closed when dropped.
struct Handle(HANDLE);

impl Handle {
    fn open(pid: u32, access: u32) -> Option<Handle> {
        // SAFETY: OpenProcess takes plain values; a null result means failure.
        let h = unsafe { OpenProcess(access, 0, pid) };
        (!h.is_null()).then_some(Handle(h))
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        // SAFETY: the handle came from OpenProcess/OpenProcessToken and is closed once.
        unsafe {
            CloseHandle(self.0);
        }
    }
}

/// Whether a TCP listener would take a connection to `addr:port`, from the listener rows
/// of the TCP table: no packet is sent (a refused connect takes about 2 s on Windows, which
/// retries the SYN).
pub(crate) fn listener_at(addr: IpAddr, port: u16) -> Option<bool> {
    let table = if addr.is_ipv4() {
        Table::Tcp4
    } else {
        Table::Tcp6
    };
    let buf = read_table(table).ok()?;
    Some(dec::table(table, &buf).iter().any(|r| {
        r.state == Some(dec::tcp_state::LISTEN)
            && r.lport == port
            && (r.local == addr || r.local.is_unspecified())
    }))
}

/// The console window's width, when stdout is a console.
pub(crate) fn terminal_size() -> Option<(usize, usize)> {
    use windows_sys::Win32::System::Console::{
        CONSOLE_SCREEN_BUFFER_INFO, GetConsoleScreenBufferInfo, GetStdHandle, STD_OUTPUT_HANDLE,
    };
    // SAFETY: no preconditions; the handle is not owned.
    let out = unsafe { GetStdHandle(STD_OUTPUT_HANDLE) };
    // SAFETY: plain data.
    let mut info: CONSOLE_SCREEN_BUFFER_INFO = unsafe { std::mem::zeroed() };
    // SAFETY: info is a valid out pointer; a non-console handle makes the call fail.
    if unsafe { GetConsoleScreenBufferInfo(out, &raw mut info) } == 0 {
        return None;
    }
    let cols = i32::from(info.srWindow.Right) - i32::from(info.srWindow.Left) + 1;
    let rows = i32::from(info.srWindow.Bottom) - i32::from(info.srWindow.Top) + 1;
    Some((usize::try_from(cols).ok()?, usize::try_from(rows).ok()?))
}

/// Turns on ANSI escape handling in the console (Windows 10 and later); false when stdout
/// is not a console or the console cannot (then no colours are written).
pub(crate) fn enable_ansi() -> bool {
    use windows_sys::Win32::System::Console::{
        ENABLE_VIRTUAL_TERMINAL_PROCESSING, GetConsoleMode, GetStdHandle, STD_OUTPUT_HANDLE,
        SetConsoleMode,
    };
    // SAFETY: no preconditions; the handle is not owned.
    let out = unsafe { GetStdHandle(STD_OUTPUT_HANDLE) };
    let mut mode = 0;
    // SAFETY: mode is a valid out pointer; a non-console handle makes the call fail.
    if unsafe { GetConsoleMode(out, &raw mut mode) } == 0 {
        return false;
    }
    mode & ENABLE_VIRTUAL_TERMINAL_PROCESSING != 0
        // SAFETY: out is the console handle just queried.
        || unsafe { SetConsoleMode(out, mode | ENABLE_VIRTUAL_TERMINAL_PROCESSING) } != 0
}

/// Windows services are stopped through the service manager, not by ending their process.
pub(crate) const SERVICES_STOP_THROUGH_MANAGER: bool = true;

/// Windows has no signals: TERM asks a program to close (`WM_CLOSE` to its windows,
/// Ctrl-C to a console of its own) and KILL ends it (`TerminateProcess`).
pub(crate) const NO_SIGNALS: bool = true;

/// A refused connection costs seconds here, so callers ask the table first.
pub(crate) fn refused_connect_is_slow() -> bool {
    true
}

/// Every process: (pid, parent, image name), from one Toolhelp snapshot.
fn snapshot() -> Vec<(u32, u32, String)> {
    // SAFETY: a process snapshot of the whole system; the handle is closed below.
    let snap = unsafe { CreateToolhelp32Snapshot(TH32CS_SNAPPROCESS, 0) };
    if snap == INVALID_HANDLE_VALUE {
        return Vec::new();
    }
    let snap = Handle(snap);
    let mut out = Vec::new();
    // SAFETY: PROCESSENTRY32W is plain data; dwSize is set as the API requires.
    let mut e: PROCESSENTRY32W = unsafe { std::mem::zeroed() };
    e.dwSize = std::mem::size_of::<PROCESSENTRY32W>() as u32;
    // SAFETY: e is a valid, sized entry for the snapshot's walk.
    let mut more = unsafe { Process32FirstW(snap.0, &raw mut e) } != 0;
    while more {
        let len = e
            .szExeFile
            .iter()
            .position(|&c| c == 0)
            .unwrap_or(e.szExeFile.len());
        out.push((
            e.th32ProcessID,
            e.th32ParentProcessID,
            String::from_utf16_lossy(&e.szExeFile[..len]),
        ));
        // SAFETY: as above.
        more = unsafe { Process32NextW(snap.0, &raw mut e) } != 0;
    }
    out
}

pub(crate) fn parent_pid() -> Option<u32> {
    // SAFETY: no preconditions.
    let me = unsafe { GetCurrentProcessId() };
    snapshot()
        .into_iter()
        .find(|(pid, ..)| *pid == me)
        .map(|(_, ppid, _)| ppid)
}

/// Windows has no signals: TERM asks to close, KILL terminates (the CLI refuses other
/// signals on Windows).
pub(crate) fn signal_available(signal: crate::kill::Signal) -> bool {
    matches!(
        signal,
        crate::kill::Signal::Term | crate::kill::Signal::Kill
    )
}

pub(crate) fn send_signal(
    pid: u32,
    ticks: Option<u64>,
    signal: crate::kill::Signal,
) -> std::io::Result<()> {
    let h = Handle::open(pid, PROCESS_TERMINATE).ok_or_else(std::io::Error::last_os_error)?;
    // The handle holds the process: checked after opening, its creation time is that of
    // the process terminated.
    if ticks.is_some_and(|t| start_ticks(pid) != Some(t)) {
        return Err(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "it exited (its pid is another process now)",
        ));
    }
    // TERM: closed gently where Windows has a way; `kill` terminates it after --grace.
    if signal == crate::kill::Signal::Term && stop::ask_to_close(pid).is_some() {
        return Ok(());
    }
    // SAFETY: h is a process handle with PROCESS_TERMINATE.
    if unsafe { TerminateProcess(h.0, 1) } == 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

pub(crate) fn is_alive(pid: u32) -> bool {
    let Some(h) = Handle::open(pid, PROCESS_QUERY_LIMITED_INFORMATION) else {
        // Not openable: alive if the snapshot still lists it (another user's process).
        return snapshot().iter().any(|(p, ..)| *p == pid);
    };
    let mut code = 0u32;
    // SAFETY: h is a process handle with query rights; code is a valid out pointer.
    let ok = unsafe { GetExitCodeProcess(h.0, &raw mut code) } != 0;
    ok && code == STILL_ACTIVE as u32
}

pub(crate) fn is_kernel_thread(pid: u32) -> bool {
    // System Idle (0) and System (4).
    pid == 0 || pid == 4
}

/// The creation time as a FILETIME count: what tells a process from a later one with the
/// same pid.
pub(crate) fn start_ticks(pid: u32) -> Option<u64> {
    let h = Handle::open(pid, PROCESS_QUERY_LIMITED_INFORMATION)?;
    let zero = FILETIME {
        dwLowDateTime: 0,
        dwHighDateTime: 0,
    };
    let (mut created, mut exited, mut kernel, mut user) = (zero, zero, zero, zero);
    // SAFETY: h has query rights; the four out pointers are valid FILETIMEs.
    let ok = unsafe {
        GetProcessTimes(
            h.0,
            &raw mut created,
            &raw mut exited,
            &raw mut kernel,
            &raw mut user,
        )
    } != 0;
    ok.then(|| (u64::from(created.dwHighDateTime) << 32) | u64::from(created.dwLowDateTime))
}

/// Windows has no uids: accounts are SIDs, shown by name.
pub(crate) fn current_uid() -> Option<u32> {
    None
}

pub(crate) fn is_privileged() -> bool {
    // An elevated token can open every process; without elevation only the user's own.
    use windows_sys::Win32::Security::{TOKEN_ELEVATION, TokenElevation};
    // SAFETY: the pseudo-handle of this process needs no closing.
    let me = unsafe { windows_sys::Win32::System::Threading::GetCurrentProcess() };
    let mut token: HANDLE = std::ptr::null_mut();
    // SAFETY: token is a valid out pointer.
    if unsafe { OpenProcessToken(me, TOKEN_QUERY, &raw mut token) } == 0 {
        return false;
    }
    let token = Handle(token);
    let mut e = TOKEN_ELEVATION { TokenIsElevated: 0 };
    let mut len = 0u32;
    // SAFETY: e is a TOKEN_ELEVATION and its size is passed.
    let ok = unsafe {
        GetTokenInformation(
            token.0,
            TokenElevation,
            (&raw mut e).cast(),
            std::mem::size_of::<TOKEN_ELEVATION>() as u32,
            &raw mut len,
        )
    } != 0;
    ok && e.TokenIsElevated != 0
}

/// Runs `netsh` with `args`, giving its output.
fn netsh(args: &[&str]) -> Option<String> {
    let out = std::process::Command::new("netsh")
        .args(args)
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

// The signature is the seam's: other platforms can fail to read their policy.
#[allow(clippy::unnecessary_wraps)]
pub(crate) fn port_policy() -> Option<PortPolicy> {
    let dynamic = netsh(&["int", "ipv4", "show", "dynamicport", "tcp"])
        .and_then(|t| dec::dynamic_range(&t))
        .unwrap_or(49152..=65535);
    let excluded = netsh(&["int", "ipv4", "show", "excludedportrange", "protocol=tcp"])
        .map(|t| dec::excluded_ranges(&t))
        .unwrap_or_default();
    Some(PortPolicy {
        ephemeral: dynamic,
        reserved: Vec::new(),
        unprivileged_start: 0,
        privileged_wildcard: false,
        excluded,
        words: crate::ports::PolicyWords::WINDOWS,
    })
}

// The hand-declared bound rows match the SDK's.
const _: () = {
    use windows_sys::Win32::NetworkManagement::IpHelper::{MIB_TCP6ROW2, MIB_TCPROW2};
    assert!(std::mem::size_of::<MIB_TCPROW2>() == dec::row::BOUND4);
    assert!(std::mem::size_of::<MIB_TCP6ROW2>() == dec::row::BOUND6);
};

/// One owner-pid table, re-sized while the API asks for more room.
fn read_table(table: Table) -> std::io::Result<Vec<u8>> {
    fetch_table(table, false).map(|(buf, len)| {
        let bytes: Vec<u8> = buf.iter().flat_map(|w| w.to_le_bytes()).collect();
        bytes[..len.min(bytes.len())].to_vec()
    })
}

/// A table as the API left it, 8-byte aligned (the owner-module rows hold 64-bit fields
/// and are handed back to the API by address), and its length in bytes. `module` asks TCP
/// for the `*_OWNER_MODULE_ALL` class.
fn fetch_table(table: Table, module: bool) -> std::io::Result<(Vec<u64>, usize)> {
    use windows_sys::Win32::NetworkManagement::IpHelper::TCP_TABLE_OWNER_MODULE_ALL;
    let mut size = 16 * 1024u32;
    for _ in 0..8 {
        let mut buf = vec![0u64; (size as usize).div_ceil(8)];
        let mut len = size;
        // SAFETY: buf has `len` writable bytes; the API writes at most that and updates len.
        let rc = unsafe {
            match table {
                Table::Tcp4 | Table::Tcp6 => GetExtendedTcpTable(
                    buf.as_mut_ptr().cast(),
                    &raw mut len,
                    0,
                    u32::from(if table == Table::Tcp4 {
                        AF_INET
                    } else {
                        AF_INET6
                    }),
                    if module {
                        TCP_TABLE_OWNER_MODULE_ALL
                    } else {
                        TCP_TABLE_OWNER_PID_ALL
                    },
                    0,
                ),
                Table::Udp4 | Table::Udp6 => GetExtendedUdpTable(
                    buf.as_mut_ptr().cast(),
                    &raw mut len,
                    0,
                    u32::from(if table == Table::Udp4 {
                        AF_INET
                    } else {
                        AF_INET6
                    }),
                    UDP_TABLE_OWNER_PID,
                    0,
                ),
                // Read by read_bound_table.
                Table::Bound4 | Table::Bound6 => ERROR_INSUFFICIENT_BUFFER + 1,
            }
        };
        if rc == NO_ERROR {
            return Ok((buf, len as usize));
        }
        if rc != ERROR_INSUFFICIENT_BUFFER {
            return Err(std::io::Error::from_raw_os_error(rc as i32));
        }
        // Rows appear between calls: ask for a little more than the API said.
        size = len.saturating_add(len / 8 + 1024);
    }
    Err(std::io::Error::from_raw_os_error(
        ERROR_INSUFFICIENT_BUFFER as i32,
    ))
}

pub(crate) fn collect(q: &Query) -> Result<Raw> {
    let mut raw = Raw::default();
    let mut tables = Vec::new();
    if q.tcp {
        tables.extend([Table::Tcp4, Table::Tcp6]);
    }
    if q.udp {
        tables.extend([Table::Udp4, Table::Udp6]);
    }
    let mut key = 0u64;
    let mut rows = Vec::new();
    for t in tables {
        let buf = read_table(t).map_err(|e| Error::io(format!("reading the {t:?} table"), e))?;
        rows.extend(dec::table(t, &buf));
    }
    if q.tcp && q.states.contains(crate::model::State::Bound) {
        for t in [Table::Bound4, Table::Bound6] {
            match read_bound_table(t) {
                Some(Ok(buf)) => {
                    // A socket in both tables is listed once, as the main table has it.
                    let bound: Vec<_> = dec::table(t, &buf)
                        .into_iter()
                        .filter(|b| {
                            !rows.iter().any(|r| {
                                r.state.is_some()
                                    && (r.local, r.lport, r.pid) == (b.local, b.lport, b.pid)
                            })
                        })
                        .collect();
                    rows.extend(bound);
                }
                Some(Err(e)) => raw
                    .notes
                    .push(format!("TCP sockets bound without listening are not listed: {e}")),
                None if t == Table::Bound4 => raw.notes.push(
                    "TCP sockets bound without listening are not listed: this Windows has no InternalGetBoundTcpEndpointTable".to_owned(),
                ),
                None => {}
            }
        }
    }
    // Processes this user may not open keep their pid; their sockets say what is hidden.
    let mut denied: std::collections::HashMap<u32, bool> = std::collections::HashMap::new();
    for row in rows {
        key += 1;
        let (mut socket, owner) = dec::to_socket(&row, key);
        if let Some(o) = owner.filter(|o| q.owners && !is_kernel_thread(o.pid))
            && *denied
                .entry(o.pid)
                .or_insert_with(|| Handle::open(o.pid, PROCESS_QUERY_LIMITED_INFORMATION).is_none())
        {
            socket.owner_note = Some(dec::access_denied_note(o.pid));
        }
        if let Some(o) = owner.filter(|_| q.owners) {
            raw.holders.push((key, o));
        }
        raw.sockets.push(socket);
    }
    raw.holders.sort_unstable();
    Ok(raw)
}

/// The account a process runs as, `DOMAIN\name`.
fn user_of(h: &Handle) -> Option<String> {
    let mut token: HANDLE = std::ptr::null_mut();
    // SAFETY: h has query rights; token is a valid out pointer.
    if unsafe { OpenProcessToken(h.0, TOKEN_QUERY, &raw mut token) } == 0 {
        return None;
    }
    let token = Handle(token);
    let mut buf = vec![0u64; 64];
    let mut len = 0u32;
    // SAFETY: buf has 512 bytes, 8-byte aligned for TOKEN_USER.
    let ok = unsafe {
        GetTokenInformation(
            token.0,
            TokenUser,
            buf.as_mut_ptr().cast(),
            (buf.len() * 8) as u32,
            &raw mut len,
        )
    } != 0;
    if !ok {
        return None;
    }
    // SAFETY: GetTokenInformation filled buf with a TOKEN_USER.
    let user = unsafe { &*buf.as_ptr().cast::<TOKEN_USER>() };
    let (mut name, mut domain) = (vec![0u16; 256], vec![0u16; 256]);
    let (mut nl, mut dl) = (256u32, 256u32);
    let mut kind: SID_NAME_USE = 0;
    // SAFETY: the SID comes from the token; both buffers and their lengths are valid.
    let ok = unsafe {
        LookupAccountSidW(
            std::ptr::null(),
            user.User.Sid,
            name.as_mut_ptr(),
            &raw mut nl,
            domain.as_mut_ptr(),
            &raw mut dl,
            &raw mut kind,
        )
    } != 0;
    ok.then(|| {
        format!(
            "{}\\{}",
            String::from_utf16_lossy(&domain[..dl as usize]),
            String::from_utf16_lossy(&name[..nl as usize])
        )
    })
}

fn exe_of(h: &Handle) -> Option<String> {
    let mut buf = vec![0u16; 1024];
    let mut len = buf.len() as u32;
    // SAFETY: buf has `len` UTF-16 units; len is updated to what was written.
    let ok = unsafe {
        QueryFullProcessImageNameW(h.0, PROCESS_NAME_WIN32, buf.as_mut_ptr(), &raw mut len)
    } != 0;
    ok.then(|| String::from_utf16_lossy(&buf[..len as usize]))
}

/// RFC 3339 from a FILETIME (100 ns ticks since 1601).
fn filetime_to_rfc3339(ticks: u64) -> Option<String> {
    const EPOCH_DIFF_SECS: u64 = 11_644_473_600;
    let secs = (ticks / 10_000_000).checked_sub(EPOCH_DIFF_SECS)?;
    Some(crate::model::rfc3339(secs))
}

pub(crate) fn processes(pids: &[u32]) -> Vec<Process> {
    let all = snapshot();
    let services = services();
    pids.iter()
        .filter_map(|&pid| {
            let (_, ppid, image) = all.iter().find(|(p, ..)| *p == pid)?.clone();
            let name = image.strip_suffix(".exe").unwrap_or(&image).to_owned();
            let h = Handle::open(pid, PROCESS_QUERY_LIMITED_INFORMATION);
            Some(Process {
                pid,
                name: if pid == 4 { "System".to_owned() } else { name },
                exe: h.as_ref().and_then(exe_of),
                cmdline: h.as_ref().map(|h| cmdline_of(pid, h)).unwrap_or_default(),
                uid: None,
                user: h.as_ref().and_then(user_of),
                state: "R".to_owned(),
                start_time: start_ticks(pid).and_then(filetime_to_rfc3339),
                ppid,
                unit: services.get(&pid).map(|names| names.join(", ")),
                container: None,
                start_ticks: start_ticks(pid),
                container_info: None,
            })
        })
        .collect()
}

pub(crate) fn resolve_cgroup(_id: u64) -> Option<String> {
    None
}

pub(crate) fn firewall_dump() -> Option<crate::diagnose::firewall::Dump> {
    None
}

/// The Windows Firewall rules for an exposed port: which allow or block inbound TCP to it
/// (loopback is never filtered by them).
pub(crate) fn firewall_notes(port: u16) -> Vec<String> {
    match firewall_rules() {
        Ok(rules) => dec::firewall_notes(&rules, port),
        Err(why) => vec![format!(
            "the Windows Firewall's rules could not be read: {why}"
        )],
    }
}

pub(crate) fn exec_with_socket(
    _addr: SocketAddr,
    _udp: bool,
    _command: &[String],
) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::Unsupported,
        "free --exec hands the socket over as fd 3 (systemd socket activation), which Windows does not have",
    )
}

pub(crate) fn unix_connect(
    _path: &std::path::Path,
    _deadline: std::time::Instant,
) -> std::io::Result<()> {
    Err(std::io::Error::new(
        std::io::ErrorKind::Unsupported,
        "unix sockets are not supported on this platform",
    ))
}

/// No exec here: runs `command` and gives its exit code.
pub(crate) fn run_in_place(command: &[String]) -> std::io::Result<i32> {
    let status = std::process::Command::new(&command[0])
        .args(&command[1..])
        .status()?;
    Ok(status.code().unwrap_or(1))
}

/// The command line of a process, split into arguments: `ProcessCommandLineInformation`
/// (limited query rights suffice), else read from its PEB (needs `PROCESS_VM_READ`).
fn cmdline_of(pid: u32, h: &Handle) -> Vec<String> {
    cmdline_by_query(h)
        .or_else(|| cmdline_from_peb(pid))
        .map_or_else(Vec::new, |line| dec::split_command_line(&line))
}

/// The command line from the process's own memory: PEB -> `ProcessParameters` ->
/// `CommandLine`.
fn cmdline_from_peb(pid: u32) -> Option<String> {
    use windows_sys::Wdk::System::Threading::{NtQueryInformationProcess, ProcessBasicInformation};
    use windows_sys::Win32::System::Diagnostics::Debug::ReadProcessMemory;
    use windows_sys::Win32::System::Threading::PROCESS_VM_READ;
    let h = Handle::open(pid, PROCESS_QUERY_LIMITED_INFORMATION | PROCESS_VM_READ)?;
    let read = |at: u64, len: usize| -> Option<Vec<u8>> {
        let mut buf = vec![0u8; len];
        let mut got = 0usize;
        // SAFETY: buf has len writable bytes; the address is only read in the other process.
        let ok = unsafe {
            ReadProcessMemory(
                h.0,
                at as *const core::ffi::c_void,
                buf.as_mut_ptr().cast(),
                len,
                &raw mut got,
            )
        } != 0;
        (ok && got == len).then_some(buf)
    };
    // PROCESS_BASIC_INFORMATION: exit status, PEB address, affinity, priority, pid, parent.
    let mut pbi = [0u64; 6];
    let mut len = 0u32;
    // SAFETY: pbi is 48 writable bytes, the structure's size on 64-bit Windows.
    let status = unsafe {
        NtQueryInformationProcess(
            h.0,
            ProcessBasicInformation,
            pbi.as_mut_ptr().cast(),
            48,
            &raw mut len,
        )
    };
    if status < 0 || pbi[1] == 0 {
        return None;
    }
    let word = |b: Vec<u8>| b.try_into().ok().map(u64::from_le_bytes);
    let params = word(read(pbi[1] + dec::PEB_PROCESS_PARAMETERS as u64, 8)?)?;
    let ustr = read(
        params + dec::PARAMETERS_COMMAND_LINE as u64,
        dec::UNICODE_STRING_SIZE,
    )?;
    let n = usize::from(u16::from_le_bytes([ustr[0], ustr[1]]));
    let text_at = u64::from_le_bytes(ustr[8..16].try_into().ok()?);
    let text = read(text_at, n.min(1 << 16))?;
    let units: Vec<u16> = text
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect();
    Some(String::from_utf16_lossy(&units))
}

/// `NtQueryInformationProcess(ProcessCommandLineInformation)`: Windows 8.1 and later.
fn cmdline_by_query(h: &Handle) -> Option<String> {
    use windows_sys::Wdk::System::Threading::{
        NtQueryInformationProcess, ProcessCommandLineInformation,
    };
    let mut len = 0u32;
    // SAFETY: a zero-length query only reports the size needed in len.
    unsafe {
        NtQueryInformationProcess(
            h.0,
            ProcessCommandLineInformation,
            std::ptr::null_mut(),
            0,
            &raw mut len,
        );
    }
    if len == 0 || len > 1 << 20 {
        return None;
    }
    // u64 elements keep the UNICODE_STRING's pointer aligned.
    let mut buf = vec![0u64; (len as usize).div_ceil(8)];
    let base = buf.as_ptr() as u64;
    // SAFETY: buf has `len` writable bytes.
    let status = unsafe {
        NtQueryInformationProcess(
            h.0,
            ProcessCommandLineInformation,
            buf.as_mut_ptr().cast(),
            len,
            &raw mut len,
        )
    };
    if status < 0 {
        return None;
    }
    let bytes: Vec<u8> = buf.iter().flat_map(|w| w.to_le_bytes()).collect();
    dec::command_line(&bytes, base)
}

/// The running Win32 services and the process each runs in (`EnumServicesStatusExW`), by pid:
/// what fills `unit`. Several services can share one `svchost.exe`.
fn services() -> std::collections::HashMap<u32, Vec<String>> {
    use windows_sys::Win32::System::Services::{
        CloseServiceHandle, ENUM_SERVICE_STATUS_PROCESSW, EnumServicesStatusExW, OpenSCManagerW,
        SC_ENUM_PROCESS_INFO, SC_MANAGER_ENUMERATE_SERVICE, SERVICE_ACTIVE, SERVICE_WIN32,
    };
    let mut out: std::collections::HashMap<u32, Vec<String>> = std::collections::HashMap::new();
    // SAFETY: the local machine's active database; closed below.
    let scm = unsafe {
        OpenSCManagerW(
            std::ptr::null(),
            std::ptr::null(),
            SC_MANAGER_ENUMERATE_SERVICE,
        )
    };
    if scm.is_null() {
        return out;
    }
    let mut size = 64 * 1024u32;
    for _ in 0..4 {
        let mut buf = vec![0u64; (size as usize).div_ceil(8)];
        let (mut needed, mut count, mut resume) = (0u32, 0u32, 0u32);
        // SAFETY: buf has `size` writable bytes, 8-byte aligned for the entries' pointers.
        let ok = unsafe {
            EnumServicesStatusExW(
                scm,
                SC_ENUM_PROCESS_INFO,
                SERVICE_WIN32,
                SERVICE_ACTIVE,
                buf.as_mut_ptr().cast(),
                size,
                &raw mut needed,
                &raw mut count,
                &raw mut resume,
                std::ptr::null(),
            )
        } != 0;
        if !ok && needed > size && resume == 0 {
            size = needed + 4096;
            continue;
        }
        // SAFETY: the call wrote `count` entries at the start of buf; their strings point
        // into buf, which lives until the end of this block.
        let entries = unsafe {
            std::slice::from_raw_parts(
                buf.as_ptr().cast::<ENUM_SERVICE_STATUS_PROCESSW>(),
                count as usize,
            )
        };
        for e in entries {
            // SAFETY: lpServiceName is a NUL-terminated string inside buf.
            let name = unsafe { wide_str(e.lpServiceName) };
            out.entry(e.ServiceStatusProcess.dwProcessId)
                .or_default()
                .push(name);
        }
        break;
    }
    // SAFETY: scm came from OpenSCManagerW.
    unsafe { CloseServiceHandle(scm) };
    for names in out.values_mut() {
        names.sort();
    }
    out
}

/// A NUL-terminated UTF-16 string.
///
/// # Safety
/// `p` is null or points to a NUL-terminated UTF-16 string.
unsafe fn wide_str(p: *const u16) -> String {
    if p.is_null() {
        return String::new();
    }
    let mut n = 0;
    // SAFETY: the string is NUL-terminated, so every unit up to the NUL is readable.
    while unsafe { *p.add(n) } != 0 {
        n += 1;
    }
    // SAFETY: n units were just read.
    String::from_utf16_lossy(unsafe { std::slice::from_raw_parts(p, n) })
}

fn wide(s: &str) -> Vec<u16> {
    s.encode_utf16().chain(std::iter::once(0)).collect()
}

/// Asks the Service Control Manager to stop `name` (`ControlService(SERVICE_CONTROL_STOP)`):
/// how a service is freed on Windows, where killing its process only makes the SCM restart
/// or fail it.
pub(crate) fn stop_service(name: &str) -> std::io::Result<()> {
    use windows_sys::Win32::System::Services::{
        CloseServiceHandle, ControlService, OpenSCManagerW, OpenServiceW, SC_MANAGER_CONNECT,
        SERVICE_CONTROL_STOP, SERVICE_STATUS, SERVICE_STOP,
    };
    // SAFETY: the local machine's active database; closed below.
    let scm = unsafe { OpenSCManagerW(std::ptr::null(), std::ptr::null(), SC_MANAGER_CONNECT) };
    if scm.is_null() {
        return Err(std::io::Error::last_os_error());
    }
    let wname = wide(name);
    // SAFETY: scm is open; wname is NUL-terminated.
    let svc = unsafe { OpenServiceW(scm, wname.as_ptr(), SERVICE_STOP) };
    let result = if svc.is_null() {
        Err(std::io::Error::last_os_error())
    } else {
        // SAFETY: SERVICE_STATUS is plain data.
        let mut status: SERVICE_STATUS = unsafe { std::mem::zeroed() };
        // SAFETY: svc has SERVICE_STOP; status is a valid out pointer.
        let ok = unsafe { ControlService(svc, SERVICE_CONTROL_STOP, &raw mut status) } != 0;
        let r = if ok {
            Ok(())
        } else {
            Err(std::io::Error::last_os_error())
        };
        // SAFETY: svc came from OpenServiceW.
        unsafe { CloseServiceHandle(svc) };
        r
    };
    // SAFETY: scm came from OpenSCManagerW.
    unsafe { CloseServiceHandle(scm) };
    result
}

/// `InternalGetBoundTcpEndpointTable` / `InternalGetBoundTcp6EndpointTable`: undocumented
/// exports of `iphlpapi.dll` (System Informer and `netstat -q` use them) that list TCP
/// sockets bound and not listening. They allocate a `MIB_TCPTABLE2` from the heap passed.
/// `None` when this Windows does not have them.
fn read_bound_table(table: Table) -> Option<std::io::Result<Vec<u8>>> {
    use windows_sys::Win32::System::LibraryLoader::{GetModuleHandleW, GetProcAddress};
    use windows_sys::Win32::System::Memory::{GetProcessHeap, HeapFree};
    type BoundTableFn =
        unsafe extern "system" fn(*mut *mut core::ffi::c_void, *mut core::ffi::c_void, u32) -> u32;
    let name: &[u8] = if table == Table::Bound4 {
        b"InternalGetBoundTcpEndpointTable\0"
    } else {
        b"InternalGetBoundTcp6EndpointTable\0"
    };
    let module = wide("iphlpapi.dll");
    // SAFETY: iphlpapi.dll is loaded (lport imports GetExtendedTcpTable from it).
    let h = unsafe { GetModuleHandleW(module.as_ptr()) };
    if h.is_null() {
        return None;
    }
    // SAFETY: h is a loaded module; name is NUL-terminated.
    let f = unsafe { GetProcAddress(h, name.as_ptr()) }?;
    // SAFETY: the export has this signature (System Informer's phnt declares it so).
    let f: BoundTableFn = unsafe { std::mem::transmute(f) };
    // SAFETY: the process heap needs no closing.
    let heap = unsafe { GetProcessHeap() };
    let mut table_ptr: *mut core::ffi::c_void = std::ptr::null_mut();
    // SAFETY: table_ptr is a valid out pointer; heap is this process's heap.
    let rc = unsafe { f(&raw mut table_ptr, heap, 0) };
    if rc != NO_ERROR {
        return Some(Err(std::io::Error::from_raw_os_error(rc as i32)));
    }
    if table_ptr.is_null() {
        return Some(Ok(Vec::new()));
    }
    // SAFETY: the table starts with its row count; rows follow.
    let n = unsafe { table_ptr.cast::<u32>().read() } as usize;
    let size = if table == Table::Bound4 {
        dec::row::BOUND4
    } else {
        dec::row::BOUND6
    };
    let len = 4 + n.min(1 << 20) * size;
    // SAFETY: the API allocated the count and n rows of `size` bytes.
    let bytes = unsafe { std::slice::from_raw_parts(table_ptr.cast::<u8>(), len) }.to_vec();
    // SAFETY: allocated from this heap by the call above; freed once.
    unsafe { HeapFree(heap, 0, table_ptr) };
    Some(Ok(bytes))
}

/// The Windows Firewall's rules (`INetFwPolicy2` over COM; reading needs no elevation),
/// as plain data for `dec::firewall_notes`, or what failed.
fn firewall_rules() -> Result<Vec<dec::FwRuleInfo>, String> {
    use windows::Win32::Foundation::VARIANT_FALSE;
    use windows::Win32::NetworkManagement::WindowsFirewall::{
        INetFwPolicy2, INetFwRule, NET_FW_ACTION_BLOCK, NET_FW_RULE_DIR_IN, NetFwPolicy2,
    };
    use windows::Win32::System::Com::{
        CLSCTX_INPROC_SERVER, COINIT_MULTITHREADED, CoCreateInstance, CoInitializeEx, IDispatch,
    };
    use windows::Win32::System::Ole::IEnumVARIANT;
    use windows::Win32::System::Variant::{VARIANT, VT_DISPATCH};
    use windows::core::Interface;
    // SAFETY: COM calls on this thread after CoInitializeEx; every interface is
    // reference-counted by the windows crate, and each VARIANT is cleared when dropped.
    unsafe {
        // S_FALSE (already initialised) and a different apartment are both fine here.
        let _ = CoInitializeEx(None, COINIT_MULTITHREADED);
        let policy: INetFwPolicy2 = CoCreateInstance(&NetFwPolicy2, None, CLSCTX_INPROC_SERVER)
            .map_err(|e| format!("no firewall policy object ({})", e.message()))?;
        let rules = policy
            .Rules()
            .map_err(|e| format!("no rule list ({})", e.message()))?;
        let items: IEnumVARIANT = rules
            ._NewEnum()
            .and_then(|u| u.cast())
            .map_err(|e| format!("the rules cannot be enumerated ({})", e.message()))?;
        let mut out = Vec::new();
        loop {
            let mut v = [VARIANT::default()];
            let mut got = 0u32;
            let _ = items.Next(&mut v, &raw mut got);
            if got == 0 || out.len() > 100_000 {
                break;
            }
            let inner = &v[0].Anonymous.Anonymous;
            if inner.vt != VT_DISPATCH {
                continue;
            }
            let Some(disp): Option<IDispatch> = (*inner.Anonymous.pdispVal).clone() else {
                continue;
            };
            let Ok(rule) = disp.cast::<INetFwRule>() else {
                continue;
            };
            let text = |b: windows::core::Result<windows::core::BSTR>| {
                b.ok().map(|s| s.to_string()).filter(|s| !s.is_empty())
            };
            out.push(dec::FwRuleInfo {
                name: text(rule.Name()).unwrap_or_default(),
                enabled: rule.Enabled().is_ok_and(|e| e != VARIANT_FALSE),
                inbound: rule.Direction().is_ok_and(|d| d == NET_FW_RULE_DIR_IN),
                block: rule.Action().is_ok_and(|a| a == NET_FW_ACTION_BLOCK),
                protocol: rule.Protocol().unwrap_or(256),
                local_ports: text(rule.LocalPorts()).unwrap_or_else(|| "*".into()),
                application: text(rule.ApplicationName()),
            });
        }
        Ok(out)
    }
}

/// `netsh interface portproxy` rules for `port`: the IP Helper service (iphlpsvc, in an
/// svchost) listens and forwards each connection elsewhere.
pub(crate) fn port_forwards(port: u16) -> Vec<String> {
    netsh(&["interface", "portproxy", "show", "all"])
        .map(|t| dec::portproxy_rules(&t))
        .unwrap_or_default()
        .into_iter()
        .filter(|(_, lp, ..)| *lp == port)
        .map(|(la, lp, ca, cp)| {
            format!("netsh interface portproxy forwards {la}:{lp} to {ca}:{cp}")
        })
        .collect()
}

/// The service a TCP socket belongs to, when its process hosts services: the owner-module
/// table's row for it, given back to `GetOwnerModuleFromTcp(6)Entry`, whose module name is
/// the service's name for svchost-hosted services.
pub(crate) fn socket_service(s: &crate::model::Socket) -> Option<String> {
    use windows_sys::Win32::NetworkManagement::IpHelper::{
        GetOwnerModuleFromTcp6Entry, GetOwnerModuleFromTcpEntry, MIB_TCP6ROW_OWNER_MODULE,
        MIB_TCPROW_OWNER_MODULE, TCPIP_OWNER_MODULE_BASIC_INFO, TCPIP_OWNER_MODULE_INFO_BASIC,
    };
    if s.proto != crate::model::Proto::Tcp {
        return None;
    }
    let pid = s.owners.first()?.pid;
    let table = if s.local.addr.is_ipv4() {
        Table::Tcp4
    } else {
        Table::Tcp6
    };
    let (buf, len) = fetch_table(table, true).ok()?;
    // SAFETY: the vector's storage, viewed as the bytes the API wrote.
    let bytes = unsafe { std::slice::from_raw_parts(buf.as_ptr().cast::<u8>(), len) };
    let (offset, _) = dec::module_table(table, bytes)
        .into_iter()
        .find(|(_, r)| r.lport == s.local.port && r.local == s.local.addr && r.pid == pid)?;
    let mut info = vec![0u64; 512];
    let mut size = (info.len() * 8) as u32;
    // SAFETY: offset is the start of a whole row inside buf (module_table checked it), 8-byte
    // aligned as the row type needs; info has `size` writable bytes.
    let rc = unsafe {
        // Rows sit at multiples of 8 bytes (an 8-byte header, 160- or 192-byte rows).
        let row = buf.as_ptr().add(offset / 8);
        if table == Table::Tcp4 {
            GetOwnerModuleFromTcpEntry(
                row.cast::<MIB_TCPROW_OWNER_MODULE>(),
                TCPIP_OWNER_MODULE_INFO_BASIC,
                info.as_mut_ptr().cast(),
                &raw mut size,
            )
        } else {
            GetOwnerModuleFromTcp6Entry(
                row.cast::<MIB_TCP6ROW_OWNER_MODULE>(),
                TCPIP_OWNER_MODULE_INFO_BASIC,
                info.as_mut_ptr().cast(),
                &raw mut size,
            )
        }
    };
    if rc != NO_ERROR {
        return None;
    }
    // SAFETY: the call filled info with a TCPIP_OWNER_MODULE_BASIC_INFO whose strings point
    // into info.
    let name = unsafe {
        wide_str(
            info.as_ptr()
                .cast::<TCPIP_OWNER_MODULE_BASIC_INFO>()
                .read()
                .pModuleName,
        )
    };
    (!name.is_empty()).then_some(name)
}

// The hand-declared owner-module layout matches the SDK's.
const _: () = {
    use windows_sys::Win32::NetworkManagement::IpHelper::{
        MIB_TCP6ROW_OWNER_MODULE, MIB_TCPROW_OWNER_MODULE, MIB_TCPTABLE_OWNER_MODULE,
    };
    assert!(std::mem::size_of::<MIB_TCPROW_OWNER_MODULE>() == dec::TCP4_MODULE_ROW);
    assert!(std::mem::size_of::<MIB_TCP6ROW_OWNER_MODULE>() == dec::TCP6_MODULE_ROW);
    assert!(std::mem::offset_of!(MIB_TCPTABLE_OWNER_MODULE, table) == dec::MODULE_TABLE_ROWS_AT);
};

/// Microsoft Store (UWP) apps run in an AppContainer, which Windows keeps from loopback
/// unless the app is exempted: such a client fails while lport, a desktop program, connects.
pub(crate) fn loopback_client_notes(port: u16) -> Vec<String> {
    vec![dec::appcontainer_note(port)]
}

/// Whether the loopback interface is up: not read here.
pub(crate) fn loopback_up() -> Option<bool> {
    None
}

/// With `on`, makes closing `tcp` send a reset (SO_LINGER with no time) so the connection
/// leaves no TIME_WAIT behind, on either side: lport's probes must not hold the port they
/// probed. Without, closing is the normal FIN again.
pub(crate) fn reset_on_close(tcp: &std::net::TcpStream, on: bool) {
    use std::os::windows::io::AsRawSocket;
    use windows_sys::Win32::Networking::WinSock::{LINGER, SO_LINGER, SOL_SOCKET, setsockopt};
    let linger = LINGER {
        l_onoff: u16::from(on),
        l_linger: 0,
    };
    // SAFETY: a valid socket handle and a `LINGER` of the size passed.
    unsafe {
        setsockopt(
            tcp.as_raw_socket() as usize,
            SOL_SOCKET,
            SO_LINGER,
            (&raw const linger).cast(),
            std::mem::size_of::<LINGER>() as i32,
        );
    }
}

/// The certificates of the "Trusted Root Certification Authorities" store of the machine
/// and this user (`CertOpenSystemStoreW(ROOT)`, what `certmgr.msc` shows), which browsers
/// on Windows trust.
#[cfg(feature = "tls")]
pub(crate) fn trust_roots() -> super::TrustRoots {
    use windows_sys::Win32::Security::Cryptography::{
        CertCloseStore, CertEnumCertificatesInStore, CertOpenSystemStoreW,
    };
    let mut roots = super::TrustRoots::default();
    let name = wide("ROOT");
    // SAFETY: a NUL-terminated store name; the store is closed below.
    let store = unsafe { CertOpenSystemStoreW(0, name.as_ptr()) };
    if store.is_null() {
        return roots;
    }
    let mut cert = std::ptr::null();
    loop {
        // SAFETY: `store` is open; the previous context is passed back (and freed by the
        // call), as the enumeration requires.
        cert = unsafe { CertEnumCertificatesInStore(store, cert) };
        if cert.is_null() {
            break;
        }
        // SAFETY: a context the store returned: its encoded bytes live as long as it does.
        let der = unsafe {
            let c = &*cert;
            std::slice::from_raw_parts(c.pbCertEncoded, c.cbCertEncoded as usize).to_vec()
        };
        roots.der.push(der);
    }
    // SAFETY: the store opened above; the enumeration ended, so no context is held.
    unsafe { CertCloseStore(store, 0) };
    if !roots.der.is_empty() {
        roots.from.push("the Windows ROOT certificate store".into());
    }
    roots
}

/// IPv6 on loopback is always there.
pub(crate) fn ipv6_loopback_disabled() -> bool {
    false
}

/// `%SystemRoot%\System32\drivers\etc\hosts`.
pub(crate) fn hosts_file() -> Option<std::path::PathBuf> {
    let root = std::env::var_os("SystemRoot")?;
    Some(std::path::PathBuf::from(root).join(r"System32\drivers\etc\hosts"))
}

/// Unix sockets are not inspected here.
pub(crate) fn file_info(_path: &std::path::Path) -> Option<super::FileInfo> {
    None
}

/// The index of the network interface `name` (its alias, as `netsh interface ipv6 show
/// interfaces` lists them), for an IPv6 zone.
pub(crate) fn interface_index(name: &str) -> Option<u32> {
    let c = std::ffi::CString::new(name).ok()?;
    // SAFETY: `c` is a valid NUL-terminated string for the call's duration.
    let index = unsafe {
        windows_sys::Win32::NetworkManagement::IpHelper::if_nametoindex(c.as_ptr().cast())
    };
    (index != 0).then_some(index)
}

/// The alias of the network interface with this index.
pub(crate) fn interface_name(index: u32) -> Option<String> {
    let mut buf = [0u8; 256];
    // SAFETY: `buf` is larger than IF_NAMESIZE bytes, what the call writes at most.
    let p = unsafe {
        windows_sys::Win32::NetworkManagement::IpHelper::if_indextoname(index, buf.as_mut_ptr())
    };
    if p.is_null() {
        return None;
    }
    let end = buf.iter().position(|&b| b == 0)?;
    Some(String::from_utf8_lossy(&buf[..end]).into_owned())
}

pub(crate) fn who_am_i() -> String {
    String::new()
}

pub(crate) fn process_cwd(_pid: u32) -> Option<String> {
    None
}

/// Where lport keeps state: `%LOCALAPPDATA%\\lport`.
pub(crate) fn state_dir() -> std::path::PathBuf {
    std::env::var_os("LOCALAPPDATA")
        .map_or_else(std::env::temp_dir, std::path::PathBuf::from)
        .join("lport")
}

pub(crate) fn kernel_log_kills() -> Vec<(i64, String)> {
    Vec::new()
}

/// A process's descriptors against its limit: not read here (no per-process limits to read).
pub(crate) fn fd_usage(_pid: u32) -> Option<super::FdUsage> {
    None
}

#[cfg(test)]
mod tests {
    /// Runs under Wine in CI: Wine fills its ROOT store from the host's CA bundle.
    #[cfg(feature = "tls")]
    #[test]
    fn the_root_store_holds_certificates() {
        let roots = super::trust_roots();
        assert!(!roots.der.is_empty(), "no certificate in the ROOT store");
        assert_eq!(roots.from, ["the Windows ROOT certificate store"]);
        for der in &roots.der {
            assert!(x509_parser::parse_x509_certificate(der).is_ok());
        }
    }
}
