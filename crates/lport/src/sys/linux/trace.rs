//! Kernel events through `perf_event_open` on tracepoints: no eBPF, so nothing to compile
//! for the kernel and nothing but stable Rust to build (see docs/history.md for the choice).
//!
//! One perf event per tracepoint and CPU, all of a CPU's events writing into one mmap'd ring
//! (`PERF_EVENT_IOC_SET_OUTPUT`), with an ftrace filter set in the kernel
//! (`PERF_EVENT_IOC_SET_FILTER`) so that only the TCP transitions lport cares about, the
//! fatal signals and process endings reach user space. Field offsets come from each
//! tracepoint's `format` file, never from a hard-coded layout. The kernel counts what it had
//! to drop (`PERF_RECORD_LOST`); those counts are reported, never swallowed.

use std::fs;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{Ordering, fence};
use std::time::Duration;

use crate::error::{Error, Result};
use crate::history::KernelEvent;

const PERF_TYPE_TRACEPOINT: u32 = 2;
const PERF_SAMPLE_TID: u64 = 1 << 1;
const PERF_SAMPLE_TIME: u64 = 1 << 2;
const PERF_SAMPLE_RAW: u64 = 1 << 10;
const PERF_FLAG_FD_CLOEXEC: libc::c_ulong = 1 << 3;
const FLAG_DISABLED: u64 = 1 << 0;
const FLAG_USE_CLOCKID: u64 = 1 << 25;
const PERF_EVENT_IOC_ENABLE: libc::c_ulong = 0x2400;
const PERF_EVENT_IOC_SET_OUTPUT: libc::c_ulong = 0x2405;
const PERF_EVENT_IOC_SET_FILTER: libc::c_ulong = 0x4008_2406;
const PERF_RECORD_LOST: u32 = 2;
const PERF_RECORD_SAMPLE: u32 = 9;
/// Pages of ring buffer per CPU (a power of two): 1 MiB holds about 10,000 events.
const RING_PAGES: usize = 256;

/// `struct perf_event_attr` up to `PERF_ATTR_SIZE_VER5` (112 bytes).
#[repr(C)]
#[derive(Default)]
struct PerfEventAttr {
    kind: u32,
    size: u32,
    config: u64,
    sample_period: u64,
    sample_type: u64,
    read_format: u64,
    flags: u64,
    wakeup_events: u32,
    bp_type: u32,
    config1: u64,
    config2: u64,
    branch_sample_type: u64,
    sample_regs_user: u64,
    sample_stack_user: u32,
    clockid: i32,
    sample_regs_intr: u64,
    aux_watermark: u32,
    sample_max_stack: u16,
    reserved: u16,
}

/// Where a field lies in a tracepoint's record.
#[derive(Debug, Clone, Copy, Default)]
struct Field {
    offset: usize,
    size: usize,
}

/// A tracepoint's id and the fields lport reads, from its `format` file.
#[derive(Debug, Default)]
struct Format {
    id: u16,
    fields: Vec<(String, Field)>,
}

impl Format {
    fn field(&self, name: &str) -> Option<Field> {
        self.fields.iter().find(|(n, _)| n == name).map(|(_, f)| *f)
    }
}

/// Parses a tracepoint `format` file: `field:TYPE NAME[N];\toffset:O;\tsize:S;\tsigned:B;`.
pub(crate) fn parse_format(text: &str) -> Vec<(String, (usize, usize))> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        let Some(rest) = line.strip_prefix("field:") else {
            continue;
        };
        let mut parts = rest.split(';').map(str::trim);
        let Some(decl) = parts.next() else { continue };
        let name = decl
            .rsplit(|c: char| c.is_whitespace() || c == '*')
            .next()
            .unwrap_or("")
            .split('[')
            .next()
            .unwrap_or("")
            .to_owned();
        let mut offset = None;
        let mut size = None;
        for p in parts {
            if let Some(v) = p.strip_prefix("offset:") {
                offset = v.parse().ok();
            } else if let Some(v) = p.strip_prefix("size:") {
                size = v.parse().ok();
            }
        }
        if let (Some(o), Some(s)) = (offset, size)
            && !name.is_empty()
        {
            out.push((name, (o, s)));
        }
    }
    out
}

/// The tracefs mount: `/sys/kernel/tracing`, the older debugfs path, or (as root) mounted
/// at `/sys/kernel/tracing` now.
fn tracefs() -> Result<String> {
    for dir in ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"] {
        match fs::metadata(format!("{dir}/events")) {
            Ok(_) => return Ok(dir.to_owned()),
            Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
                return Err(Error::Unavailable(
                    "kernel events need root or CAP_PERFMON (tracefs: permission denied)"
                        .to_owned(),
                ));
            }
            Err(_) => {}
        }
    }
    if !rustix::process::geteuid().is_root() {
        return Err(Error::Unavailable(
            "kernel events need root or CAP_PERFMON (and tracefs mounted at /sys/kernel/tracing)"
                .to_owned(),
        ));
    }
    {
        let _ = rustix::mount::mount(
            "nodev",
            "/sys/kernel/tracing",
            "tracefs",
            rustix::mount::MountFlags::empty(),
            None,
        );
        if fs::metadata("/sys/kernel/tracing/events").is_ok() {
            return Ok("/sys/kernel/tracing".to_owned());
        }
    }
    Err(Error::Unavailable(
        "tracefs is not mounted (mount -t tracefs nodev /sys/kernel/tracing, as root)".to_owned(),
    ))
}

fn read_format(root: &str, event: &str) -> Result<Format> {
    let dir = format!("{root}/events/{event}");
    let id = fs::read_to_string(format!("{dir}/id")).map_err(|e| match e.kind() {
        io::ErrorKind::PermissionDenied => Error::Unavailable(format!(
            "{dir}: permission denied (kernel events need root or CAP_PERFMON)"
        )),
        _ => Error::Unavailable(format!("the tracepoint {event} is not available: {e}")),
    })?;
    let text = fs::read_to_string(format!("{dir}/format"))
        .map_err(|e| Error::Unavailable(format!("{dir}/format: {e}")))?;
    Ok(Format {
        id: id.trim().parse().unwrap_or(0),
        fields: parse_format(&text)
            .into_iter()
            .map(|(n, (offset, size))| (n, Field { offset, size }))
            .collect(),
    })
}

/// The tracepoints read, in the order of [`Kind`].
const EVENTS: [&str; 6] = [
    "sock/inet_sock_set_state",
    "tcp/tcp_receive_reset",
    "syscalls/sys_enter_exit_group",
    "sched/sched_process_exit",
    "signal/signal_generate",
    "oom/mark_victim",
];

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    State,
    Reset,
    ExitGroup,
    Exit,
    Signal,
    Oom,
}
const KINDS: [Kind; 6] = [
    Kind::State,
    Kind::Reset,
    Kind::ExitGroup,
    Kind::Exit,
    Kind::Signal,
    Kind::Oom,
];

/// Signals whose default action ends a process (SIGHUP, INT, QUIT, ILL, ABRT, BUS, FPE,
/// KILL, USR1, SEGV, USR2, PIPE, ALRM, TERM, XCPU, XFSZ, SYS).
const FATAL_SIGNALS: [i32; 17] = [1, 2, 3, 4, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 31];

/// The in-kernel filter for each tracepoint; `ports` narrows TCP events to those ports.
fn filter(kind: Kind, ports: &[u16]) -> Option<String> {
    let port_clause = |a: &str, b: &str| {
        (!ports.is_empty()).then(|| {
            let terms: Vec<String> = ports
                .iter()
                .flat_map(|p| [format!("{a} == {p}"), format!("{b} == {p}")])
                .collect();
            format!(" && ({})", terms.join(" || "))
        })
    };
    match kind {
        // SYN_SENT (2) in or out: attempts and their outcome; into LISTEN (10) and from
        // LISTEN to CLOSE (7): listeners (LISTEN -> SYN_RECV is a child socket, not wanted).
        Kind::State => Some(format!(
            "protocol == 6 && (oldstate == 2 || newstate == 2 || newstate == 10 || (oldstate == 10 && newstate == 7)){}",
            port_clause("sport", "dport").unwrap_or_default()
        )),
        Kind::Reset => {
            port_clause("sport", "dport").map(|c| c.trim_start_matches(" && ").to_owned())
        }
        Kind::Exit => Some("group_dead == 1".to_owned()),
        Kind::Signal => Some(format!(
            "result != 1 && ({})",
            FATAL_SIGNALS
                .iter()
                .map(|s| format!("sig == {s}"))
                .collect::<Vec<_>>()
                .join(" || ")
        )),
        Kind::ExitGroup | Kind::Oom => None,
    }
}

/// One CPU's ring buffer.
struct Ring {
    fd: OwnedFd,
    base: *mut u8,
    len: usize,
    page: usize,
}

// SAFETY: the mapping is owned by this value and only touched through `&mut self`.
unsafe impl Send for Ring {}

impl Drop for Ring {
    fn drop(&mut self) {
        // SAFETY: base/len are exactly what mmap returned.
        unsafe {
            libc::munmap(self.base.cast(), self.len);
        }
    }
}

/// Live kernel events: open with [`Tracer::open`], then [`Tracer::wait`] and
/// [`Tracer::drain`] in a loop.
pub(crate) struct Tracer {
    rings: Vec<Ring>,
    /// Event fds that write into another's ring; kept open for as long as the tracer lives.
    _others: Vec<OwnedFd>,
    formats: Vec<(Kind, Format)>,
    /// CLOCK_REALTIME minus CLOCK_MONOTONIC, in ns, at open.
    epoch_offset: i128,
    buf: Vec<u8>,
}

fn perf_open(attr: &PerfEventAttr, cpu: i32) -> io::Result<OwnedFd> {
    // SAFETY: attr is a valid perf_event_attr of the size it states; the kernel copies it.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_perf_event_open,
            std::ptr::from_ref(attr),
            -1 as libc::pid_t,
            cpu,
            -1 as libc::c_int,
            PERF_FLAG_FD_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the syscall returned a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

fn ioctl(fd: &OwnedFd, req: libc::c_ulong, arg: libc::c_ulong) -> io::Result<()> {
    // SAFETY: a perf ioctl on our own descriptor; pointer arguments outlive the call.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), req, arg) };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

fn online_cpus() -> Vec<i32> {
    let text = fs::read_to_string("/sys/devices/system/cpu/online").unwrap_or_else(|_| "0".into());
    let mut cpus = Vec::new();
    for part in text.trim().split(',') {
        let mut ends = part.split('-').filter_map(|n| n.trim().parse::<i32>().ok());
        match (ends.next(), ends.next()) {
            (Some(a), Some(b)) => cpus.extend(a..=b),
            (Some(a), None) => cpus.push(a),
            _ => {}
        }
    }
    if cpus.is_empty() {
        cpus.push(0);
    }
    cpus
}

fn clock_ns(id: libc::clockid_t) -> i128 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: ts is a valid timespec to write into.
    unsafe { libc::clock_gettime(id, &raw mut ts) };
    i128::from(ts.tv_sec) * 1_000_000_000 + i128::from(ts.tv_nsec)
}

impl Tracer {
    /// Opens every tracepoint on every CPU; `ports`, when not empty, narrows TCP events to
    /// those ports in the kernel.
    pub(crate) fn open(ports: &[u16]) -> Result<Tracer> {
        let root = tracefs()?;
        let mut formats = Vec::new();
        for (kind, event) in KINDS.iter().zip(EVENTS) {
            formats.push((*kind, read_format(&root, event)?));
        }
        let page = rustix::param::page_size();
        let mut rings = Vec::new();
        let mut others = Vec::new();
        for cpu in online_cpus() {
            let mut leader: Option<Ring> = None;
            for (kind, fmt) in &formats {
                let attr = PerfEventAttr {
                    kind: PERF_TYPE_TRACEPOINT,
                    size: std::mem::size_of::<PerfEventAttr>() as u32,
                    config: u64::from(fmt.id),
                    sample_period: 1,
                    sample_type: PERF_SAMPLE_TID | PERF_SAMPLE_TIME | PERF_SAMPLE_RAW,
                    flags: FLAG_DISABLED | FLAG_USE_CLOCKID,
                    wakeup_events: 1,
                    clockid: libc::CLOCK_MONOTONIC,
                    ..PerfEventAttr::default()
                };
                let fd = perf_open(&attr, cpu).map_err(|e| match e.raw_os_error() {
                    Some(libc::EACCES | libc::EPERM) => Error::Unavailable(
                        "kernel events need root or CAP_PERFMON (perf_event_open: permission denied)".to_owned(),
                    ),
                    _ => Error::Unavailable(format!("perf_event_open on {}: {e}", EVENTS[*kind as usize])),
                })?;
                if let Some(f) = filter(*kind, ports) {
                    let c = std::ffi::CString::new(f).unwrap_or_default();
                    ioctl(&fd, PERF_EVENT_IOC_SET_FILTER, c.as_ptr() as libc::c_ulong).map_err(
                        |e| {
                            Error::Unavailable(format!(
                                "setting the filter on {}: {e}",
                                EVENTS[*kind as usize]
                            ))
                        },
                    )?;
                }
                match &leader {
                    None => {
                        let len = (RING_PAGES + 1) * page;
                        // SAFETY: a shared read-write mapping of the perf fd, as perf requires.
                        let base = unsafe {
                            libc::mmap(
                                std::ptr::null_mut(),
                                len,
                                libc::PROT_READ | libc::PROT_WRITE,
                                libc::MAP_SHARED,
                                fd.as_raw_fd(),
                                0,
                            )
                        };
                        if base == libc::MAP_FAILED {
                            return Err(Error::Unavailable(format!(
                                "mapping the perf ring buffer: {}",
                                io::Error::last_os_error()
                            )));
                        }
                        leader = Some(Ring {
                            fd,
                            base: base.cast(),
                            len,
                            page,
                        });
                    }
                    Some(l) => {
                        ioctl(
                            &fd,
                            PERF_EVENT_IOC_SET_OUTPUT,
                            l.fd.as_raw_fd() as libc::c_ulong,
                        )
                        .map_err(|e| Error::Unavailable(format!("perf SET_OUTPUT: {e}")))?;
                        others.push(fd);
                    }
                }
            }
            if let Some(l) = leader {
                rings.push(l);
            }
        }
        for fd in rings.iter().map(|r| &r.fd).chain(others.iter()) {
            ioctl(fd, PERF_EVENT_IOC_ENABLE, 0)
                .map_err(|e| Error::Unavailable(format!("enabling a perf event: {e}")))?;
        }
        let epoch_offset = clock_ns(libc::CLOCK_REALTIME) - clock_ns(libc::CLOCK_MONOTONIC);
        Ok(Tracer {
            rings,
            _others: others,
            formats,
            epoch_offset,
            buf: Vec::new(),
        })
    }

    /// Waits until some ring has data or `timeout` passes; true when there is data.
    pub(crate) fn wait(&mut self, timeout: Duration) -> bool {
        let mut fds: Vec<libc::pollfd> = self
            .rings
            .iter()
            .map(|r| libc::pollfd {
                fd: r.fd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            })
            .collect();
        let ms = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
        // SAFETY: fds is a valid array of pollfd for the duration of the call.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) };
        n > 0
    }

    /// Moves every pending event into `out`, oldest first within each CPU, then sorted by
    /// time across CPUs.
    pub(crate) fn drain(&mut self, out: &mut Vec<KernelEvent>) {
        let start = out.len();
        for i in 0..self.rings.len() {
            self.drain_ring(i, out);
        }
        out[start..].sort_by_key(KernelEvent::time_ns);
    }

    fn drain_ring(&mut self, i: usize, out: &mut Vec<KernelEvent>) {
        let ring = &self.rings[i];
        let data_size = (RING_PAGES * ring.page) as u64;
        // SAFETY: the first page is the kernel's perf_event_mmap_page; data_head is at 1024
        // and data_tail at 1032, both naturally aligned u64s (the mapping is page-aligned).
        #[allow(clippy::cast_ptr_alignment)]
        let (head_ptr, tail_ptr) = unsafe {
            (
                ring.base.add(1024).cast::<u64>(),
                ring.base.add(1032).cast::<u64>(),
            )
        };
        // SAFETY: see above; volatile because the kernel writes it concurrently.
        let head = unsafe { std::ptr::read_volatile(head_ptr) };
        fence(Ordering::Acquire);
        // SAFETY: only we write data_tail.
        let mut tail = unsafe { std::ptr::read_volatile(tail_ptr) };
        // SAFETY: the data area follows the first page and is data_size long.
        let data =
            unsafe { std::slice::from_raw_parts(ring.base.add(ring.page), data_size as usize) };
        while tail + 8 <= head {
            let at = (tail % data_size) as usize;
            let mut hdr = [0u8; 8];
            copy_wrapped(data, at, &mut hdr);
            let kind = u32::from_ne_bytes([hdr[0], hdr[1], hdr[2], hdr[3]]);
            let size = u16::from_ne_bytes([hdr[6], hdr[7]]) as usize;
            if size < 8 || tail + size as u64 > head {
                break;
            }
            self.buf.resize(size, 0);
            copy_wrapped(data, at, &mut self.buf);
            let rec = std::mem::take(&mut self.buf);
            match kind {
                PERF_RECORD_SAMPLE => {
                    if let Some(ev) = self.decode_sample(&rec[8..]) {
                        out.push(ev);
                    }
                }
                PERF_RECORD_LOST if rec.len() >= 24 => {
                    let count = u64::from_ne_bytes(rec[16..24].try_into().unwrap_or([0; 8]));
                    out.push(KernelEvent::Lost { count });
                }
                _ => {}
            }
            self.buf = rec;
            tail += size as u64;
        }
        fence(Ordering::Release);
        // SAFETY: tells the kernel how far we read.
        unsafe { std::ptr::write_volatile(tail_ptr, tail) };
    }

    fn decode_sample(&self, s: &[u8]) -> Option<KernelEvent> {
        // TID (pid u32, tid u32), TIME u64, RAW (u32 size, bytes).
        let pid = u32_at(s, 0)?;
        let mono = u64_at(s, 8)?;
        let raw_len = u32_at(s, 16)? as usize;
        let raw = s.get(20..20 + raw_len)?;
        let time_ns = u64::try_from(i128::from(mono) + self.epoch_offset).unwrap_or(0);
        let common_type = u16::from_ne_bytes([*raw.first()?, *raw.get(1)?]);
        let (kind, fmt) = self.formats.iter().find(|(_, f)| f.id == common_type)?;
        decode_raw(*kind, fmt, raw, pid, time_ns)
    }
}

fn copy_wrapped(data: &[u8], at: usize, out: &mut [u8]) {
    let first = out.len().min(data.len() - at);
    out[..first].copy_from_slice(&data[at..at + first]);
    let rest = out.len() - first;
    out[first..].copy_from_slice(&data[..rest]);
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_ne_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

fn int(raw: &[u8], f: Field) -> Option<i64> {
    let b = raw.get(f.offset..f.offset + f.size)?;
    Some(match f.size {
        1 => i64::from(b[0]),
        2 => i64::from(u16::from_ne_bytes(b.try_into().ok()?)),
        4 => i64::from(i32::from_ne_bytes(b.try_into().ok()?)),
        8 => i64::from_ne_bytes(b.try_into().ok()?),
        _ => return None,
    })
}

fn get(fmt: &Format, raw: &[u8], name: &str) -> Option<i64> {
    int(raw, fmt.field(name)?)
}

fn addr(
    fmt: &Format,
    raw: &[u8],
    family: i64,
    v4: &str,
    v6: &str,
    port: i64,
) -> Option<SocketAddr> {
    let port = u16::try_from(port).ok()?;
    let ip = if family == 10 {
        let f = fmt.field(v6)?;
        let b: [u8; 16] = raw.get(f.offset..f.offset + 16)?.try_into().ok()?;
        IpAddr::V6(Ipv6Addr::from(b))
    } else {
        let f = fmt.field(v4)?;
        let b: [u8; 4] = raw.get(f.offset..f.offset + 4)?.try_into().ok()?;
        IpAddr::V4(Ipv4Addr::from(b))
    };
    Some(SocketAddr::new(ip, port))
}

/// Decodes one tracepoint record (the `RAW` part of a sample) of a known kind.
fn decode_raw(kind: Kind, fmt: &Format, raw: &[u8], pid: u32, time_ns: u64) -> Option<KernelEvent> {
    Some(match kind {
        Kind::State => {
            let family = get(fmt, raw, "family")?;
            KernelEvent::TcpState {
                time_ns,
                pid,
                sk: get(fmt, raw, "skaddr")? as u64,
                old: get(fmt, raw, "oldstate")? as u8,
                new: get(fmt, raw, "newstate")? as u8,
                src: addr(
                    fmt,
                    raw,
                    family,
                    "saddr",
                    "saddr_v6",
                    get(fmt, raw, "sport")?,
                )?,
                dst: addr(
                    fmt,
                    raw,
                    family,
                    "daddr",
                    "daddr_v6",
                    get(fmt, raw, "dport")?,
                )?,
            }
        }
        Kind::Reset => KernelEvent::TcpReset {
            time_ns,
            sk: get(fmt, raw, "skaddr")? as u64,
        },
        Kind::ExitGroup => KernelEvent::ExitGroup {
            time_ns,
            pid,
            code: get(fmt, raw, "error_code")? as i32,
        },
        Kind::Exit => {
            let f = fmt.field("comm")?;
            let b = raw.get(f.offset..f.offset + f.size)?;
            let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
            KernelEvent::ProcessExit {
                time_ns,
                pid,
                comm: String::from_utf8_lossy(&b[..end]).into_owned(),
            }
        }
        Kind::Signal => KernelEvent::Signal {
            time_ns,
            sender: pid,
            target: get(fmt, raw, "pid")? as u32,
            sig: get(fmt, raw, "sig")? as i32,
        },
        Kind::Oom => KernelEvent::OomVictim {
            time_ns,
            pid: get(fmt, raw, "pid")? as u32,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATE_FORMAT: &str = "name: inet_sock_set_state\nID: 1500\nformat:\n\
\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;\n\
\tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;\n\n\
\tfield:const void * skaddr;\toffset:8;\tsize:8;\tsigned:0;\n\
\tfield:int oldstate;\toffset:16;\tsize:4;\tsigned:1;\n\
\tfield:int newstate;\toffset:20;\tsize:4;\tsigned:1;\n\
\tfield:__u16 sport;\toffset:24;\tsize:2;\tsigned:0;\n\
\tfield:__u16 dport;\toffset:26;\tsize:2;\tsigned:0;\n\
\tfield:__u16 family;\toffset:28;\tsize:2;\tsigned:0;\n\
\tfield:__u16 protocol;\toffset:30;\tsize:2;\tsigned:0;\n\
\tfield:__u8 saddr[4];\toffset:32;\tsize:4;\tsigned:0;\n\
\tfield:__u8 daddr[4];\toffset:36;\tsize:4;\tsigned:0;\n\
\tfield:__u8 saddr_v6[16];\toffset:40;\tsize:16;\tsigned:0;\n\
\tfield:__u8 daddr_v6[16];\toffset:56;\tsize:16;\tsigned:0;\n\nprint fmt: \"...\"\n";

    #[test]
    fn format_files_give_names_offsets_and_sizes() {
        let f = parse_format(STATE_FORMAT);
        let get = |n: &str| f.iter().find(|(name, _)| name == n).map(|(_, v)| *v);
        assert_eq!(get("skaddr"), Some((8, 8)));
        assert_eq!(get("saddr_v6"), Some((40, 16)));
        assert_eq!(get("common_pid"), Some((4, 4)));
        assert_eq!(get("sport"), Some((24, 2)));
    }

    #[test]
    fn a_refused_connect_record_decodes() {
        let fmt = Format {
            id: 1500,
            fields: parse_format(STATE_FORMAT)
                .into_iter()
                .map(|(n, (offset, size))| (n, Field { offset, size }))
                .collect(),
        };
        let mut raw = vec![0u8; 72];
        raw[0..2].copy_from_slice(&1500u16.to_ne_bytes());
        raw[8..16].copy_from_slice(&0xffff_8880_1234_5678u64.to_ne_bytes());
        raw[16..20].copy_from_slice(&2i32.to_ne_bytes());
        raw[20..24].copy_from_slice(&7i32.to_ne_bytes());
        raw[24..26].copy_from_slice(&51000u16.to_ne_bytes());
        raw[26..28].copy_from_slice(&3000u16.to_ne_bytes());
        raw[28..30].copy_from_slice(&2u16.to_ne_bytes());
        raw[30..32].copy_from_slice(&6u16.to_ne_bytes());
        raw[32..36].copy_from_slice(&[127, 0, 0, 1]);
        raw[36..40].copy_from_slice(&[127, 0, 0, 2]);
        let ev = decode_raw(Kind::State, &fmt, &raw, 42, 7).expect("decodes");
        assert_eq!(
            ev,
            KernelEvent::TcpState {
                time_ns: 7,
                pid: 42,
                sk: 0xffff_8880_1234_5678,
                old: 2,
                new: 7,
                src: "127.0.0.1:51000".parse().expect("addr"),
                dst: "127.0.0.2:3000".parse().expect("addr"),
            }
        );
        // A record cut short decodes to nothing rather than to garbage.
        assert_eq!(decode_raw(Kind::State, &fmt, &raw[..30], 42, 7), None);
    }

    #[test]
    fn filters_are_what_the_kernel_parses() {
        let f = filter(Kind::State, &[3000]).expect("state filter");
        assert!(f.starts_with("protocol == 6 && ("), "{f}");
        assert!(f.ends_with("&& (sport == 3000 || dport == 3000)"), "{f}");
        assert_eq!(filter(Kind::Reset, &[]), None);
        assert_eq!(
            filter(Kind::Reset, &[80]).as_deref(),
            Some("(sport == 80 || dport == 80)")
        );
        assert!(
            filter(Kind::Signal, &[])
                .expect("signals")
                .contains("sig == 9")
        );
    }

    #[test]
    fn reads_across_the_end_of_the_ring() {
        let data = [1u8, 2, 3, 4, 5, 6];
        let mut out = [0u8; 4];
        copy_wrapped(&data, 4, &mut out);
        assert_eq!(out, [5, 6, 1, 2]);
    }
}
