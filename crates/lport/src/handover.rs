//! `lport free --exec`: bind a port and become a program that finds the bound socket as
//! fd 3, following systemd's socket-activation protocol, so no other process can take the
//! port between lport choosing it and the program listening. Unix only: Windows has no
//! descriptor numbers to hand over.

use std::net::SocketAddr;

/// The first descriptor of socket activation (`SD_LISTEN_FDS_START`).
pub const LISTEN_FDS_START: i32 = 3;

/// Binds `addr` (UDP when `udp`, else a TCP listener), makes the socket fd 3 and replaces
/// this process with `command`, with `LISTEN_FDS=1`, `LISTEN_PID` (this pid, which the
/// program keeps), `LISTEN_FDNAMES=lport` and `PORT`. Returns only on failure.
#[must_use]
pub fn exec_with_socket(addr: SocketAddr, udp: bool, command: &[String]) -> std::io::Error {
    if command.is_empty() {
        return std::io::Error::new(std::io::ErrorKind::InvalidInput, "no command to run");
    }
    crate::sys::exec_with_socket(addr, udp, command)
}

/// Runs `command` in place of this process where the OS can (Unix `exec`: this returns only
/// on failure), else runs it to completion and gives its exit code (Windows).
pub fn run_in_place(command: &[String]) -> std::io::Result<i32> {
    if command.is_empty() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "no command to run",
        ));
    }
    crate::sys::run_in_place(command)
}
