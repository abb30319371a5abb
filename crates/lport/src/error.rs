//! The library's one error type. Messages are lowercase without a trailing period, so the
//! binary can chain them with `{:#}`; permission problems carry the hint the user needs.

use std::io;

/// Everything the library can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// What the user typed is not a target lport understands.
    #[error("invalid target {input:?}: {reason}")]
    InvalidTarget {
        /// The text as typed.
        input: String,
        /// What is wrong with it, and what would be right.
        reason: String,
    },
    /// The kernel refused to show something to this user.
    #[error("{what}: permission denied ({hint})")]
    Permission {
        /// What could not be read.
        what: String,
        /// What would help, such as running as root.
        hint: &'static str,
    },
    /// Reading a kernel interface failed.
    #[error("{what}")]
    Io {
        /// What was being read.
        what: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// A netlink reply could not be parsed or reported an error.
    #[error("netlink: {0}")]
    Netlink(String),
    /// Something this needs is not available here: privileges, a kernel facility, a file
    /// in the right format. The message says what is missing and what still works.
    #[error("{0}")]
    Unavailable(String),
    /// This platform has no implementation yet.
    #[error("not supported on this platform yet")]
    Unsupported,
    /// A worker thread of lport's own failed (a bug): what it was doing.
    #[error("internal error: {0}")]
    Internal(String),
}

/// The library's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Wraps an I/O error with what was being done, turning EACCES/EPERM into `Permission`.
    #[cfg_attr(not(any(target_os = "linux", target_os = "macos")), allow(dead_code))]
    pub(crate) fn io(what: impl Into<String>, source: io::Error) -> Self {
        let what = what.into();
        if source.kind() == io::ErrorKind::PermissionDenied {
            Error::Permission {
                what,
                hint: "run as root to see other users' sockets and processes",
            }
        } else {
            Error::Io { what, source }
        }
    }
}
