//! lport: what holds a local address and port, who owns it, and how it is exposed.
//!
//! The library is synchronous and has no opinions about output. The entry point is
//! [`snapshot`], which reads the kernel's socket tables once (netlink `sock_diag` on Linux,
//! `/proc/net` as a fallback), maps sockets to every process and file descriptor that holds
//! them, follows other network namespaces, and explains every socket whose owner it could
//! not see. [`Target`] parses what users type (`3000`, `:3000`, `[::1]:80`,
//! `http://localhost:5173/`), and [`ports`] knows port classes and the usual services.
//!
//! ```no_run
//! let snap = lport::snapshot(&lport::Query::listeners()).expect("snapshot");
//! for s in &snap.sockets {
//!     println!("{} {} {:?}", s.proto, s.local, s.owners);
//! }
//! ```

#![warn(missing_docs)]

pub mod beneath;
pub mod containers;
mod deadline;
pub mod diagnose;
pub mod error;
pub mod handover;
pub mod history;
pub mod inventory;
pub mod kill;
pub mod model;
pub mod ports;
pub mod probe;
mod sys;
pub mod target;
#[cfg(feature = "tls")]
mod tls;
#[cfg(not(feature = "tls"))]
mod tls {
    //! Without the `tls` feature only the stream trait remains.
    use std::io::{Read, Write};
    /// Anything a request can be written to and a reply read from.
    pub(crate) trait Stream: Read + Write {}
    impl<T: Read + Write> Stream for T {}
}
pub mod users;
pub mod wait;

pub use error::{Error, Result};
pub use inventory::{Query, Snapshot, StateSet, count_by_state, snapshot, unix_sockets};
pub use model::{Endpoint, Exposure, NetNs, Owner, Process, Proto, Socket, State};
pub use sys::{FileKind, UnixBound};
pub use target::{Host, Target, Zone};

/// The width of the terminal on stdout, in columns, when stdout is one.
#[must_use]
pub fn terminal_columns() -> Option<usize> {
    sys::terminal_size().map(|(c, _)| c).filter(|&w| w > 0)
}

/// The terminal's height in rows, when stdout or stderr is one.
#[must_use]
pub fn terminal_rows() -> Option<usize> {
    sys::terminal_size().map(|(_, r)| r).filter(|&h| h > 0)
}

/// Makes the terminal on stdout interpret ANSI colour codes, where that needs turning on
/// (a Windows console); false when it cannot, and colours should not be written.
#[must_use]
pub fn enable_ansi_colors() -> bool {
    sys::enable_ansi()
}

/// Whether this process runs with full privileges (root on Unix).
#[must_use]
pub fn is_privileged() -> bool {
    sys::is_privileged()
}
