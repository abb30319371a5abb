//! Stand-in for operating systems lport does not support yet: every call reports
//! `Error::Unsupported`, so the crate compiles (and fails clearly) everywhere.

pub(crate) use super::notrace::Tracer;
// No unix sockets of lport's own to read here.
pub(crate) use super::nounix::{errno_name, is_abstract, unix_bound, unix_http, unix_listeners};

use super::Raw;
use crate::error::{Error, Result};
use crate::inventory::Query;
use crate::model::Process;
use crate::ports::PortPolicy;

pub(crate) fn listener_at(_addr: std::net::IpAddr, _port: u16) -> Option<bool> {
    None
}

pub(crate) fn parent_pid() -> Option<u32> {
    None
}

pub(crate) fn terminal_size() -> Option<(usize, usize)> {
    None
}

pub(crate) fn refused_connect_is_slow() -> bool {
    false
}

pub(crate) fn signal_available(_signal: crate::kill::Signal) -> bool {
    false
}

pub(crate) fn send_signal(
    _pid: u32,
    _ticks: Option<u64>,
    _signal: crate::kill::Signal,
) -> std::io::Result<()> {
    Err(std::io::Error::from(std::io::ErrorKind::Unsupported))
}

pub(crate) fn is_alive(_pid: u32) -> bool {
    false
}

pub(crate) fn is_kernel_thread(_pid: u32) -> bool {
    false
}

pub(crate) fn start_ticks(_pid: u32) -> Option<u64> {
    None
}

pub(crate) fn current_uid() -> Option<u32> {
    None
}

pub(crate) fn is_privileged() -> bool {
    false
}

pub(crate) fn port_policy() -> Option<PortPolicy> {
    None
}

pub(crate) fn collect(_query: &Query) -> Result<Raw> {
    Err(Error::Unsupported)
}

pub(crate) fn processes(_pids: &[u32]) -> Vec<Process> {
    Vec::new()
}

pub(crate) fn resolve_cgroup(_id: u64) -> Option<String> {
    None
}

pub(crate) fn firewall_dump() -> Option<crate::diagnose::firewall::Dump> {
    None
}

pub(crate) fn firewall_notes(_port: u16) -> Vec<String> {
    Vec::new()
}

pub(crate) fn exec_with_socket(
    _addr: std::net::SocketAddr,
    _udp: bool,
    _command: &[String],
) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::Unsupported,
        "free --exec hands the socket over as fd 3 (systemd socket activation), which this platform does not have",
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

pub(crate) fn enable_ansi() -> bool {
    false
}

pub(crate) const SERVICES_STOP_THROUGH_MANAGER: bool = false;

/// Nothing is sent here at all.
pub(crate) const NO_SIGNALS: bool = false;

/// lport starts no helper copy of itself here.
pub(crate) fn helper() -> Option<i32> {
    None
}

pub(crate) fn stop_service(_name: &str) -> std::io::Result<()> {
    Err(std::io::Error::new(
        std::io::ErrorKind::Unsupported,
        "not supported on this platform",
    ))
}

/// Forwarding the OS itself configures for a port (Windows' portproxy): none here.
pub(crate) fn port_forwards(_port: u16) -> Vec<String> {
    Vec::new()
}

/// The service a socket belongs to, where the OS tells per socket (Windows): not here.
pub(crate) fn socket_service(_s: &crate::model::Socket) -> Option<String> {
    None
}

/// Clients kept from loopback by the OS itself: none here.
pub(crate) fn loopback_client_notes(_port: u16) -> Vec<String> {
    Vec::new()
}

/// Whether the loopback interface is up: not read here.
pub(crate) fn loopback_up() -> Option<bool> {
    None
}

/// Closing normally: SO_LINGER is not set here.
pub(crate) fn reset_on_close(_tcp: &std::net::TcpStream, _on: bool) {}

/// No trust store is read here: issuers are not judged.
#[cfg(feature = "tls")]
pub(crate) fn trust_roots() -> super::TrustRoots {
    super::TrustRoots::default()
}

/// IPv6 on loopback is always there.
pub(crate) fn ipv6_loopback_disabled() -> bool {
    false
}

pub(crate) fn hosts_file() -> Option<std::path::PathBuf> {
    None
}

/// Unix sockets are not inspected here.
pub(crate) fn file_info(_path: &std::path::Path) -> Option<super::FileInfo> {
    None
}

/// Interface names are not looked up here: a zone is given as a number.
pub(crate) fn interface_index(_name: &str) -> Option<u32> {
    None
}

/// Interface names are not looked up here.
pub(crate) fn interface_name(_index: u32) -> Option<String> {
    None
}

pub(crate) fn who_am_i() -> String {
    String::new()
}

pub(crate) fn open_dir(_path: &std::path::Path) -> std::io::Result<std::fs::File> {
    Err(std::io::ErrorKind::Unsupported.into())
}

pub(crate) fn open_beneath(
    _root: &std::fs::File,
    _parts: &[&str],
) -> Result<(std::fs::File, crate::beneath::Kind), crate::beneath::Refused> {
    Err(crate::beneath::Refused::Io(
        std::io::ErrorKind::Unsupported.into(),
    ))
}

pub(crate) fn list_dir(
    _dir: &std::fs::File,
    _limit: usize,
) -> std::io::Result<(Vec<crate::beneath::Entry>, bool)> {
    Err(std::io::ErrorKind::Unsupported.into())
}

pub(crate) fn process_cwd(_pid: u32) -> Option<String> {
    None
}

pub(crate) fn state_dir() -> std::path::PathBuf {
    std::env::temp_dir().join("lport")
}

pub(crate) fn kernel_log_kills() -> Vec<(i64, String)> {
    Vec::new()
}

/// A process's descriptors against its limit: not read here (no per-process limits to read).
pub(crate) fn fd_usage(_pid: u32) -> Option<super::FdUsage> {
    None
}
