//! What the kernel reports, decoded but not yet interpreted: one value per tracepoint hit.
//! The platform layer produces these (Linux: `sys/linux/trace.rs`); [`super::correlate`]
//! turns them into attempts, listener changes and process endings.

use std::net::SocketAddr;

/// One tracepoint hit. `time_ns` is nanoseconds since the Unix epoch; `pid` is the
/// process (thread group) in whose context the kernel fired the event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KernelEvent {
    /// A TCP socket changed state (`sock:inet_sock_set_state`).
    TcpState {
        /// When.
        time_ns: u64,
        /// The process in whose context it happened (meaningful for SYN_SENT and LISTEN).
        pid: u32,
        /// The kernel's address of the socket: the key that ties one socket's events.
        sk: u64,
        /// The state before (kernel numbering: 1 ESTABLISHED, 2 SYN_SENT, 7 CLOSE, 10 LISTEN).
        old: u8,
        /// The state after.
        new: u8,
        /// The socket's own address.
        src: SocketAddr,
        /// The peer's address (unspecified for a listener).
        dst: SocketAddr,
    },
    /// A TCP socket received a reset (`tcp:tcp_receive_reset`): in SYN_SENT, a refusal.
    TcpReset {
        /// When.
        time_ns: u64,
        /// The socket.
        sk: u64,
    },
    /// A process called `exit_group` with this status (`syscalls:sys_enter_exit_group`).
    ExitGroup {
        /// When.
        time_ns: u64,
        /// The process.
        pid: u32,
        /// The status it passed (the low 8 bits are what its parent sees).
        code: i32,
    },
    /// The last thread of a process ended (`sched:sched_process_exit`, group_dead).
    ProcessExit {
        /// When.
        time_ns: u64,
        /// The process.
        pid: u32,
        /// Its kernel name (15 characters at most).
        comm: String,
    },
    /// A signal that ends a process by default was sent (`signal:signal_generate`).
    Signal {
        /// When.
        time_ns: u64,
        /// Who sent it (0 for the kernel itself, such as a fault).
        sender: u32,
        /// The task it was sent to.
        target: u32,
        /// The signal number.
        sig: i32,
    },
    /// The OOM killer chose this process (`oom:mark_victim`).
    OomVictim {
        /// When.
        time_ns: u64,
        /// The process.
        pid: u32,
    },
    /// The kernel dropped this many events because lport did not read fast enough.
    Lost {
        /// How many.
        count: u64,
    },
}

impl KernelEvent {
    /// When it happened (0 for a loss report).
    #[must_use]
    pub fn time_ns(&self) -> u64 {
        match self {
            KernelEvent::TcpState { time_ns, .. }
            | KernelEvent::TcpReset { time_ns, .. }
            | KernelEvent::ExitGroup { time_ns, .. }
            | KernelEvent::ProcessExit { time_ns, .. }
            | KernelEvent::Signal { time_ns, .. }
            | KernelEvent::OomVictim { time_ns, .. } => *time_ns,
            KernelEvent::Lost { .. } => 0,
        }
    }
}

/// Kernel TCP state numbers, as the tracepoint reports them.
pub(crate) mod tcp {
    pub(crate) const ESTABLISHED: u8 = 1;
    pub(crate) const SYN_SENT: u8 = 2;
    pub(crate) const CLOSE: u8 = 7;
    pub(crate) const LISTEN: u8 = 10;
}
