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
pub(crate) fn unix_connect(path: &std::path::Path) -> std::io::Result<()> {
    std::os::unix::net::UnixStream::connect(path).map(drop)
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
