//! Sockets of other network namespaces. As root: a short-lived thread enters the namespace
//! (`setns`), opens a `sock_diag` socket there (a socket stays in the namespace it was
//! created in) and hands it back, so the full netlink data is available. Without root:
//! `/proc/<pid>/net/*` of one member process, which anyone may read.

use std::os::fd::OwnedFd;

use rustix::fs::{Mode, OFlags, open};
use rustix::thread::{LinkNameSpaceType, move_into_link_name_space};

use super::read_proc_net_tables;
use super::sock_diag::{self, DiagRequest, DiagSocket};
use crate::error::{Error, Result};

/// A `sock_diag` socket inside the network namespace of `pid`.
fn diag_socket_in(pid: u32) -> Result<OwnedFd> {
    let path = format!("/proc/{pid}/ns/net");
    std::thread::scope(|s| {
        s.spawn(|| {
            let ns = open(
                path.as_str(),
                OFlags::RDONLY | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .map_err(|e| Error::io(format!("open {path}"), e.into()))?;
            // Only this short-lived thread changes namespace; lport's other threads stay.
            move_into_link_name_space(
                std::os::fd::AsFd::as_fd(&ns),
                Some(LinkNameSpaceType::Network),
            )
            .map_err(|e| Error::io(format!("setns {path}"), e.into()))?;
            sock_diag::open()
        })
        .join()
        .unwrap_or_else(|_| Err(Error::Internal("the namespace thread panicked".into())))
    })
}

/// Reads the sockets of the namespace `pid` lives in. Returns whether netlink was used.
pub(crate) fn read(pid: u32, reqs: &[DiagRequest], out: &mut Vec<DiagSocket>) -> bool {
    if let Ok(fd) = diag_socket_in(pid) {
        let mut tmp = Vec::new();
        if reqs
            .iter()
            .all(|r| sock_diag::dump(&fd, r, &mut tmp).is_ok())
        {
            out.append(&mut tmp);
            return true;
        }
    }
    read_proc_net_tables(&format!("/proc/{pid}/net"), reqs, out);
    false
}
