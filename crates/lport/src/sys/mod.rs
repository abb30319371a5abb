//! The only platform-specific code. Each OS module exposes the same functions; one `cfg`
//! picks it. Everything above this module is portable.

pub(crate) mod decode;

// One backend per OS. Each exposes the same items (the list below is the contract):
// Linux and macOS share what is the same on both through `unix`, and the platforms
// without kernel events share `notrace`'s `Tracer`.
#[cfg(not(target_os = "linux"))]
mod notrace;
#[cfg(not(any(target_os = "linux", target_os = "macos")))]
mod nounix;
#[cfg(any(target_os = "linux", target_os = "macos"))]
mod unix;

#[cfg(target_os = "linux")]
mod linux;
#[cfg(target_os = "linux")]
use linux as imp;
#[cfg(target_os = "macos")]
mod macos;
#[cfg(target_os = "macos")]
use macos as imp;
#[cfg(windows)]
mod windows;
#[cfg(windows)]
use windows as imp;
#[cfg(not(any(target_os = "linux", target_os = "macos", windows)))]
mod unsupported;
#[cfg(not(any(target_os = "linux", target_os = "macos", windows)))]
use unsupported as imp;

/// The contract: what every backend provides.
pub(crate) use imp::{
    NO_SIGNALS, SERVICES_STOP_THROUGH_MANAGER, Tracer, collect, current_uid, enable_ansi,
    errno_name, exec_with_socket, fd_usage, file_info, firewall_dump, firewall_notes, helper,
    hosts_file, interface_index, interface_name, ipv6_loopback_disabled, is_abstract, is_alive,
    is_kernel_thread, is_privileged, kernel_log_kills, list_dir, listener_at,
    loopback_client_notes, loopback_up, open_beneath, open_dir, parent_pid, port_forwards,
    port_policy, process_cwd, processes, refused_connect_is_slow, reset_on_close, resolve_cgroup,
    run_in_place, send_signal, signal_available, socket_service, start_ticks, state_dir,
    stop_service, terminal_size, unix_bound, unix_connect, unix_http, unix_listeners, who_am_i,
};

// The CAs this machine trusts: only TLS certificates are judged against them.
#[cfg(feature = "tls")]
pub(crate) use imp::trust_roots;

// What `unix` asks of the Linux and macOS backends.
#[cfg(any(target_os = "linux", target_os = "macos"))]
use imp::unix_connect_once;

use crate::model::{Owner, Socket};

/// What one pass over the kernel's tables gives, before owners are attached.
#[derive(Debug, Default)]
pub(crate) struct Raw {
    /// Sockets of every namespace read, with `owners` still empty.
    pub(crate) sockets: Vec<Socket>,
    /// (socket inode, holder) pairs sorted by inode, when owners were asked for.
    pub(crate) holders: Vec<(u64, Owner)>,
    /// Processes whose fd table this user may not read.
    pub(crate) unreadable_pids: usize,
    /// Things the user should know about how the data was read.
    pub(crate) notes: Vec<String>,
    /// Sockets (by inode) found without a holder that had closed by the time lport looked
    /// again: made and closed while it read.
    pub(crate) gone: Vec<u64>,
    /// Every process on the machine was scanned (lport runs in the outermost PID namespace
    /// with the right to read them): a socket no process holds is then not a container's.
    pub(crate) saw_every_process: bool,
}

/// The certificates of the CAs this machine trusts, as its clients find them.
#[cfg(feature = "tls")]
#[derive(Debug, Default)]
pub(crate) struct TrustRoots {
    /// Where they came from: files, directories, keychains, a system store.
    pub(crate) from: Vec<String>,
    /// PEM text, any number of certificates in each.
    pub(crate) pem: Vec<Vec<u8>>,
    /// DER certificates, one in each.
    pub(crate) der: Vec<Vec<u8>>,
}

/// What kind of file is at a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs)] // each is what its name says
pub enum FileKind {
    Socket,
    Regular,
    Directory,
    Fifo,
    CharDevice,
    BlockDevice,
    Symlink,
}

impl FileKind {
    /// `a directory`, as a sentence says it.
    #[must_use]
    pub fn words(self) -> &'static str {
        match self {
            FileKind::Socket => "a socket",
            FileKind::Regular => "a regular file",
            FileKind::Directory => "a directory",
            FileKind::Fifo => "a FIFO (named pipe)",
            FileKind::CharDevice => "a character device",
            FileKind::BlockDevice => "a block device",
            FileKind::Symlink => "a symbolic link",
        }
    }

    /// The letter `ls -l` shows.
    #[must_use]
    pub fn letter(self) -> char {
        match self {
            FileKind::Socket => 's',
            FileKind::Regular => '-',
            FileKind::Directory => 'd',
            FileKind::Fifo => 'p',
            FileKind::CharDevice => 'c',
            FileKind::BlockDevice => 'b',
            FileKind::Symlink => 'l',
        }
    }
}

/// A unix socket bound to a name (`/run/x.sock`, or `@name` in Linux's abstract
/// namespace), and the processes holding it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnixBound {
    /// The socket's inode number.
    pub inode: u64,
    /// `stream`, `dgram` or `seqpacket`.
    pub kind: &'static str,
    /// It listens.
    pub listening: bool,
    /// It is connected (a connection the listener accepted shares its name); neither this
    /// nor `listening`: bound only (a datagram socket).
    pub connected: bool,
    /// Processes with it in a descriptor table (those this user may read).
    pub pids: Vec<u32>,
}

/// A process's open descriptors against its limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FdUsage {
    /// The soft `RLIMIT_NOFILE`.
    pub limit: u64,
    /// Descriptors open now.
    pub open: u64,
    /// How many of them are sockets, pipes, other anonymous kinds, and files.
    pub kinds: Vec<(&'static str, u64)>,
}

/// What lport shows of a file (a unix socket's): type, mode, owner, age.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileInfo {
    /// What it is (a socket, or something else left at that path).
    pub kind: FileKind,
    /// Permission bits, as `ls -l` counts them (`0o660`).
    pub mode: u32,
    /// Owner and group, by name where known.
    pub owner: String,
    /// Group.
    pub group: String,
    /// Seconds since it last changed.
    pub age_secs: u64,
}
