//! Windows socket tables and `netsh` output, decoded from bytes and text. Compiled and
//! tested on every platform (`cargo test -p lport -- windows`), so what the IP Helper API
//! hands over is checked from fixtures built field by field; the Windows backend only
//! fetches the buffers.
//!
//! Layouts from `tcpmib.h`, `udpmib.h` (x86_64 and aarch64, both little-endian): a table is
//! a `DWORD dwNumEntries` and then the rows, each 4-byte aligned. Ports are `DWORD`s whose
//! low 16 bits hold the port in network byte order (the high bits are not defined); IPv4
//! addresses are `DWORD`s in network byte order, IPv6 ones 16 bytes.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::ops::RangeInclusive;

use crate::model::{Endpoint, Exposure, NetNs, Owner, Proto, Socket, State};

/// `MIB_TCP_STATE` values.
pub(crate) mod tcp_state {
    pub(crate) const LISTEN: u32 = 2;
    pub(crate) const SYN_SENT: u32 = 3;
    pub(crate) const SYN_RCVD: u32 = 4;
    pub(crate) const ESTAB: u32 = 5;
    pub(crate) const FIN_WAIT1: u32 = 6;
    pub(crate) const FIN_WAIT2: u32 = 7;
    pub(crate) const CLOSE_WAIT: u32 = 8;
    pub(crate) const CLOSING: u32 = 9;
    pub(crate) const LAST_ACK: u32 = 10;
    pub(crate) const TIME_WAIT: u32 = 11;
    /// Bound, not listening: what the bound-endpoint tables report.
    pub(crate) const RESERVED: u32 = 100;
}

/// Row sizes and field offsets.
pub(crate) mod row {
    /// `MIB_TCPROW_OWNER_PID`: state, local addr, local port, remote addr, remote port, pid.
    pub(crate) const TCP4: usize = 24;
    /// `MIB_TCP6ROW_OWNER_PID`: local addr[16], scope, port, remote addr[16], scope, port,
    /// state, pid.
    pub(crate) const TCP6: usize = 56;
    /// `MIB_UDPROW_OWNER_PID`: local addr, local port, pid.
    pub(crate) const UDP4: usize = 12;
    /// `MIB_UDP6ROW_OWNER_PID`: local addr[16], scope, port, pid.
    pub(crate) const UDP6: usize = 28;
    /// `MIB_TCPROW2` (the bound-endpoint table): the `TCP4` row and an offload state.
    pub(crate) const BOUND4: usize = 28;
    /// `MIB_TCP6ROW2`: the `TCP6` row and an offload state.
    pub(crate) const BOUND6: usize = 60;
}

#[allow(dead_code)]
mod layout {
    //! `#[repr(C)]` mirrors of the rows, to check the sizes above at compile time.
    use std::mem::{offset_of, size_of};

    #[repr(C)]
    struct MibTcpRowOwnerPid {
        state: u32,
        local_addr: u32,
        local_port: u32,
        remote_addr: u32,
        remote_port: u32,
        owning_pid: u32,
    }

    #[repr(C)]
    struct MibTcp6RowOwnerPid {
        local_addr: [u8; 16],
        local_scope_id: u32,
        local_port: u32,
        remote_addr: [u8; 16],
        remote_scope_id: u32,
        remote_port: u32,
        state: u32,
        owning_pid: u32,
    }

    #[repr(C)]
    struct MibUdpRowOwnerPid {
        local_addr: u32,
        local_port: u32,
        owning_pid: u32,
    }

    #[repr(C)]
    struct MibUdp6RowOwnerPid {
        local_addr: [u8; 16],
        local_scope_id: u32,
        local_port: u32,
        owning_pid: u32,
    }

    #[repr(C)]
    struct MibTcpRow2 {
        state: u32,
        local_addr: u32,
        local_port: u32,
        remote_addr: u32,
        remote_port: u32,
        owning_pid: u32,
        offload_state: u32,
    }

    #[repr(C)]
    struct MibTcp6Row2 {
        local_addr: [u8; 16],
        local_scope_id: u32,
        local_port: u32,
        remote_addr: [u8; 16],
        remote_scope_id: u32,
        remote_port: u32,
        state: u32,
        owning_pid: u32,
        offload_state: u32,
    }

    /// `UNICODE_STRING` on 64-bit Windows: two lengths, padding, a pointer.
    #[repr(C)]
    struct UnicodeString {
        length: u16,
        maximum_length: u16,
        buffer: u64,
    }

    #[repr(C)]
    struct MibTcpRowOwnerModule {
        pid_row: MibTcpRowOwnerPid,
        create_timestamp: i64,
        owning_module_info: [u64; 16],
    }

    #[repr(C)]
    struct MibTcp6RowOwnerModule {
        pid_row: MibTcp6RowOwnerPid,
        create_timestamp: i64,
        owning_module_info: [u64; 16],
    }

    #[repr(C)]
    struct MibTcpTableOwnerModule {
        num_entries: u32,
        table: [MibTcpRowOwnerModule; 1],
    }

    const _: () = {
        assert!(size_of::<MibTcpRowOwnerModule>() == super::TCP4_MODULE_ROW);
        assert!(size_of::<MibTcp6RowOwnerModule>() == super::TCP6_MODULE_ROW);
        assert!(offset_of!(MibTcpTableOwnerModule, table) == super::MODULE_TABLE_ROWS_AT);
        assert!(size_of::<MibTcpRow2>() == super::row::BOUND4);
        assert!(offset_of!(MibTcpRow2, owning_pid) == 20);
        assert!(size_of::<MibTcp6Row2>() == super::row::BOUND6);
        assert!(offset_of!(MibTcp6Row2, state) == 48);
        assert!(offset_of!(MibTcp6Row2, owning_pid) == 52);
        assert!(size_of::<UnicodeString>() == super::UNICODE_STRING_SIZE);
        assert!(offset_of!(UnicodeString, buffer) == 8);
        assert!(size_of::<MibTcpRowOwnerPid>() == super::row::TCP4);
        assert!(size_of::<MibTcp6RowOwnerPid>() == super::row::TCP6);
        assert!(offset_of!(MibTcp6RowOwnerPid, local_port) == 20);
        assert!(offset_of!(MibTcp6RowOwnerPid, remote_addr) == 24);
        assert!(offset_of!(MibTcp6RowOwnerPid, remote_port) == 44);
        assert!(offset_of!(MibTcp6RowOwnerPid, state) == 48);
        assert!(offset_of!(MibTcp6RowOwnerPid, owning_pid) == 52);
        assert!(size_of::<MibUdpRowOwnerPid>() == super::row::UDP4);
        assert!(size_of::<MibUdp6RowOwnerPid>() == super::row::UDP6);
        assert!(offset_of!(MibUdp6RowOwnerPid, local_port) == 20);
        assert!(offset_of!(MibUdp6RowOwnerPid, owning_pid) == 24);
    };
}

/// One row of any of the four tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Row {
    pub(crate) local: IpAddr,
    pub(crate) lport: u16,
    /// `None` for UDP.
    pub(crate) remote: Option<(IpAddr, u16)>,
    /// `MIB_TCP_STATE`, `None` for UDP.
    pub(crate) state: Option<u32>,
    /// 0 for TIME_WAIT rows (and "System Idle"), 4 for the kernel (http.sys, SMB).
    pub(crate) pid: u32,
}

/// Which table a buffer holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Table {
    Tcp4,
    Tcp6,
    Udp4,
    Udp6,
    /// `InternalGetBoundTcpEndpointTable`: TCP sockets bound and not listening.
    Bound4,
    /// `InternalGetBoundTcp6EndpointTable`.
    Bound6,
}

impl Table {
    fn row_size(self) -> usize {
        match self {
            Table::Tcp4 => row::TCP4,
            Table::Tcp6 => row::TCP6,
            Table::Udp4 => row::UDP4,
            Table::Udp6 => row::UDP6,
            Table::Bound4 => row::BOUND4,
            Table::Bound6 => row::BOUND6,
        }
    }
}

fn dword(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// The port of a port `DWORD`: its low 16 bits, in network byte order.
fn port(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn v4(b: &[u8], at: usize) -> Option<IpAddr> {
    let a: [u8; 4] = b.get(at..at + 4)?.try_into().ok()?;
    Some(IpAddr::V4(Ipv4Addr::from(a)))
}

fn v6(b: &[u8], at: usize) -> Option<IpAddr> {
    let a: [u8; 16] = b.get(at..at + 16)?.try_into().ok()?;
    Some(IpAddr::V6(Ipv6Addr::from(a)))
}

fn decode_row(t: Table, r: &[u8]) -> Option<Row> {
    Some(match t {
        // The bound rows start as the owner-pid rows do; their offload state is not used.
        Table::Tcp4 | Table::Bound4 => Row {
            state: Some(dword(r, 0)?),
            local: v4(r, 4)?,
            lport: port(r, 8)?,
            remote: Some((v4(r, 12)?, port(r, 16)?)),
            pid: dword(r, 20)?,
        },
        Table::Tcp6 | Table::Bound6 => Row {
            local: v6(r, 0)?,
            lport: port(r, 20)?,
            remote: Some((v6(r, 24)?, port(r, 44)?)),
            state: Some(dword(r, 48)?),
            pid: dword(r, 52)?,
        },
        Table::Udp4 => Row {
            local: v4(r, 0)?,
            lport: port(r, 4)?,
            remote: None,
            state: None,
            pid: dword(r, 8)?,
        },
        Table::Udp6 => Row {
            local: v6(r, 0)?,
            lport: port(r, 20)?,
            remote: None,
            state: None,
            pid: dword(r, 24)?,
        },
    })
}

/// Decodes a `MIB_*TABLE_OWNER_PID` buffer. `dwNumEntries` is trusted only as far as the
/// buffer goes: a count larger than the rows present yields the rows present.
pub(crate) fn table(t: Table, buf: &[u8]) -> Vec<Row> {
    let Some(n) = dword(buf, 0) else {
        return Vec::new();
    };
    let size = t.row_size();
    buf.get(4..)
        .unwrap_or_default()
        .chunks_exact(size)
        .take(n as usize)
        .filter_map(|r| decode_row(t, r))
        .collect()
}

/// A table row in lport's model, with a key standing in for an inode (rows have no socket
/// identity: `key` is the row's position, unique within one read) and the owner when the
/// row names one. TIME_WAIT rows carry pid 0 and no owner, as on Linux.
pub(crate) fn to_socket(r: &Row, key: u64) -> (Socket, Option<Owner>) {
    let proto = if r.state.is_some() {
        Proto::Tcp
    } else {
        Proto::Udp
    };
    let state = match r.state {
        None => State::Unconn,
        Some(s) => match s {
            tcp_state::LISTEN => State::Listen,
            tcp_state::SYN_SENT => State::SynSent,
            tcp_state::SYN_RCVD => State::SynRecv,
            tcp_state::ESTAB => State::Established,
            tcp_state::FIN_WAIT1 => State::FinWait1,
            tcp_state::FIN_WAIT2 => State::FinWait2,
            tcp_state::CLOSE_WAIT => State::CloseWait,
            tcp_state::CLOSING => State::Closing,
            tcp_state::LAST_ACK => State::LastAck,
            tcp_state::TIME_WAIT => State::TimeWait,
            tcp_state::RESERVED => State::Bound,
            // CLOSED, DELETE_TCB, and anything newer.
            _ => State::Close,
        },
    };
    let remote = r
        .remote
        .filter(|_| !matches!(state, State::Listen | State::Bound))
        .filter(|(a, p)| !a.is_unspecified() || *p != 0)
        .map(|(a, p)| Endpoint::new(a, p));
    let held = r.pid != 0 && state != State::TimeWait;
    let socket = Socket {
        proto,
        local: Endpoint::new(r.local, r.lport),
        remote,
        state,
        inode: if held { key } else { 0 },
        uid: None,
        netns: NetNs {
            inode: None,
            host: true,
        },
        // Windows reports no queue lengths.
        recv_q: 0,
        send_q: 0,
        // A `[::]` row is listed once, whatever its IPV6_V6ONLY; the table does not say.
        v6only: None,
        exposure: Exposure::classify(r.local, true),
        owners: Vec::new(),
        owner_note: (r.pid == 4).then(|| system_note(r.lport)),
        cgroup: None,
        device: None,
    };
    let owner = held.then_some(Owner {
        pid: r.pid,
        fd: None,
    });
    (socket, owner)
}

/// `MIB_TCPROW_OWNER_MODULE` and `MIB_TCP6ROW_OWNER_MODULE`: the owner-pid row, a creation
/// timestamp and the owning module's opaque info; their tables put the rows at offset 8
/// (the rows hold 64-bit fields).
pub(crate) const TCP4_MODULE_ROW: usize = 160;
pub(crate) const TCP6_MODULE_ROW: usize = 192;
pub(crate) const MODULE_TABLE_ROWS_AT: usize = 8;

/// Decodes a `MIB_TCP(6)TABLE_OWNER_MODULE` buffer (`t` is `Tcp4` or `Tcp6`): each row with
/// its offset in `buf`, which `GetOwnerModuleFromTcp(6)Entry` takes back. The rows begin as
/// the owner-pid rows do.
pub(crate) fn module_table(t: Table, buf: &[u8]) -> Vec<(usize, Row)> {
    let size = match t {
        Table::Tcp4 => TCP4_MODULE_ROW,
        Table::Tcp6 => TCP6_MODULE_ROW,
        _ => return Vec::new(),
    };
    let Some(n) = dword(buf, 0) else {
        return Vec::new();
    };
    buf.get(MODULE_TABLE_ROWS_AT..)
        .unwrap_or_default()
        .chunks_exact(size)
        .take(n as usize)
        .enumerate()
        .filter_map(|(i, r)| Some((MODULE_TABLE_ROWS_AT + i * size, decode_row(t, r)?)))
        .collect()
}

/// `sizeof(UNICODE_STRING)` on 64-bit Windows.
pub(crate) const UNICODE_STRING_SIZE: usize = 16;

/// Offsets in a 64-bit process's memory (`winternl.h`, stable since Windows XP x64): the
/// PEB's `ProcessParameters` pointer, and the `CommandLine` `UNICODE_STRING` in
/// `RTL_USER_PROCESS_PARAMETERS`. For Windows and Wine builds that lack
/// `ProcessCommandLineInformation` (before 8.1; Wine).
pub(crate) const PEB_PROCESS_PARAMETERS: usize = 0x20;
pub(crate) const PARAMETERS_COMMAND_LINE: usize = 0x70;

/// The command line in a `ProcessCommandLineInformation` buffer: a `UNICODE_STRING` whose
/// pointer points into the same buffer, which sat at address `base` when the call filled it.
/// The pointer is only trusted as an offset that stays inside the buffer.
pub(crate) fn command_line(buf: &[u8], base: u64) -> Option<String> {
    let len = usize::from(u16::from_le_bytes(buf.get(0..2)?.try_into().ok()?));
    let ptr = u64::from_le_bytes(buf.get(8..16)?.try_into().ok()?);
    let at = usize::try_from(ptr.checked_sub(base)?).ok()?;
    let bytes = buf.get(at..at.checked_add(len)?)?;
    let units: Vec<u16> = bytes
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect();
    Some(String::from_utf16_lossy(&units))
}

/// Splits a command line into arguments as `CommandLineToArgvW` and the C runtime do: the
/// program name ends at the first space outside quotes (quotes in it are only removed);
/// after it, `2n` backslashes before a quote give `n` and toggle quoting, `2n+1` give `n`
/// and a literal quote, and `""` inside quotes is one literal quote.
pub(crate) fn split_command_line(line: &str) -> Vec<String> {
    let mut chars = line.chars().peekable();
    let mut name = String::new();
    let mut quoted = false;
    for c in chars.by_ref() {
        match c {
            '"' => quoted = !quoted,
            ' ' | '\t' if !quoted => break,
            c => name.push(c),
        }
    }
    let mut args = vec![name];
    loop {
        while chars.next_if(|c| *c == ' ' || *c == '\t').is_some() {}
        if chars.peek().is_none() {
            break;
        }
        let mut arg = String::new();
        let mut quoted = false;
        while let Some(&c) = chars.peek() {
            match c {
                ' ' | '\t' if !quoted => break,
                '\\' => {
                    let mut n = 0;
                    while chars.next_if_eq(&'\\').is_some() {
                        n += 1;
                    }
                    if chars.peek() == Some(&'"') {
                        arg.extend(std::iter::repeat_n('\\', n / 2));
                        if n % 2 == 1 {
                            arg.push('"');
                            chars.next();
                        }
                    } else {
                        arg.extend(std::iter::repeat_n('\\', n));
                    }
                }
                '"' => {
                    chars.next();
                    if quoted && chars.peek() == Some(&'"') {
                        arg.push('"');
                        chars.next();
                    } else {
                        quoted = !quoted;
                    }
                }
                c => {
                    arg.push(c);
                    chars.next();
                }
            }
        }
        args.push(arg);
    }
    args
}

/// The forwarding rules of `netsh interface portproxy show all`: (listen address, listen
/// port, connect address, connect port), as in
///
/// ```text
/// Listen on ipv4:             Connect to ipv4:
///
/// Address         Port        Address         Port
/// --------------- ----------  --------------- ----------
/// 0.0.0.0         3000        172.28.1.5      3000
/// ```
pub(crate) fn portproxy_rules(text: &str) -> Vec<(String, u16, String, u16)> {
    text.lines()
        .filter_map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            let [la, lp, ca, cp] = w.as_slice() else {
                return None;
            };
            Some((
                (*la).to_owned(),
                lp.parse().ok()?,
                (*ca).to_owned(),
                cp.parse().ok()?,
            ))
        })
        .collect()
}

/// One Windows Firewall rule, as `INetFwRule` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FwRuleInfo {
    pub(crate) name: String,
    pub(crate) enabled: bool,
    pub(crate) inbound: bool,
    pub(crate) block: bool,
    /// IANA protocol number; 256 for any.
    pub(crate) protocol: i32,
    /// `*`, or a list such as `80,443,5000-5010` (keywords like `RPC` match no port).
    pub(crate) local_ports: String,
    pub(crate) application: Option<String>,
}

/// True when a rule's `LocalPorts` covers `port`.
pub(crate) fn ports_cover(spec: &str, port: u16) -> bool {
    spec.split(',').map(str::trim).any(|p| {
        if p == "*" {
            return true;
        }
        match p.split_once('-') {
            Some((a, b)) => matches!(
                (a.trim().parse::<u16>(), b.trim().parse::<u16>()),
                (Ok(a), Ok(b)) if (a..=b).contains(&port)
            ),
            None => p.parse::<u16>() == Ok(port),
        }
    })
}

/// What the Windows Firewall says about inbound TCP to `port`: the enabled rules that name
/// it (block rules first: they win over allow rules), or that none does. Rules for every
/// port and a program are listed only when nothing names the port.
pub(crate) fn firewall_notes(rules: &[FwRuleInfo], port: u16) -> Vec<String> {
    let applies = |r: &&FwRuleInfo| {
        r.enabled && r.inbound && matches!(r.protocol, 6 | 256) && ports_cover(&r.local_ports, port)
    };
    let mut hits: Vec<&FwRuleInfo> = rules.iter().filter(applies).collect();
    hits.sort_by_key(|r| (!r.block, r.local_ports == "*"));
    let named: Vec<&&FwRuleInfo> = hits.iter().filter(|r| r.local_ports != "*").collect();
    let shown: Vec<&FwRuleInfo> = if named.is_empty() {
        hits.iter().take(5).copied().collect()
    } else {
        named.into_iter().take(5).copied().collect()
    };
    if shown.is_empty() {
        return vec![format!(
            "no Windows Firewall rule allows inbound TCP {port}: other machines are blocked unless the firewall is off for their network profile (Windows asks to allow a program the first time it listens)"
        )];
    }
    shown
        .iter()
        .map(|r| {
            format!(
                "Windows Firewall rule \"{}\" {} inbound TCP {}{}",
                r.name,
                if r.block { "blocks" } else { "allows" },
                if r.local_ports == "*" {
                    "on every port".to_owned()
                } else {
                    format!("to {}", r.local_ports)
                },
                r.application
                    .as_deref()
                    .map_or_else(String::new, |a| format!(" for {a}"))
            )
        })
        .collect()
}

/// For a socket whose process this user may not open (another user's, or protected): the
/// owner stays, its details are hidden.
pub(crate) fn access_denied_note(pid: u32) -> String {
    format!(
        "pid {pid} does not let this user read its details (another user's or a protected process): run lport as administrator to see its path, command line and account"
    )
}

/// The AppContainer loopback rule, for a client that fails where lport connects.
pub(crate) fn appcontainer_note(port: u16) -> String {
    format!(
        "if the client that fails is a Microsoft Store (UWP) app, Windows keeps it from loopback (AppContainer isolation) although port {port} answers: exempt it with `CheckNetIsolation LoopbackExempt -a -n=<package family name>` (as administrator; `-s` lists the exempted ones)"
    )
}

/// What the kernel holds when a row names pid 4 (System): http.sys serves HTTP for
/// programs that registered a URL with it (IIS, WinRM, SSRS, .NET HttpListener), and SMB
/// and NetBIOS use 445 and 139.
pub(crate) fn system_note(port: u16) -> String {
    match port {
        445 | 139 => "the Windows kernel (System, pid 4) holds it for SMB file sharing: stop the Server service (LanmanServer) to free it".to_owned(),
        _ => format!(
            "the Windows kernel (System, pid 4) holds it for http.sys, which serves HTTP for programs that registered a URL (IIS, WinRM, .NET HttpListener...): `netsh http show servicestate view=requestq` names the process behind port {port}"
        ),
    }
}

/// The excluded port ranges of `netsh int ipv4 show excludedportrange protocol=tcp`
/// (Hyper-V, WSL, Docker reserve them; binding one fails with WSAEACCES while no socket
/// holds it):
///
/// ```text
/// Start Port    End Port
/// ----------    --------
///      50000       50059     *
/// ```
pub(crate) fn excluded_ranges(text: &str) -> Vec<RangeInclusive<u16>> {
    text.lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            let a = w.next()?.parse::<u16>().ok()?;
            let b = w.next()?.parse::<u16>().ok()?;
            (a <= b).then_some(a..=b)
        })
        .collect()
}

/// The dynamic (ephemeral) range of `netsh int ipv4 show dynamicport tcp`:
/// `Start Port : 49152` and `Number of Ports : 16384`.
pub(crate) fn dynamic_range(text: &str) -> Option<RangeInclusive<u16>> {
    let value = |key: &str| {
        text.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(key)
                .then(|| v.trim().parse::<u32>().ok())
                .flatten()
        })
    };
    let start = value("Start Port")?;
    let count = value("Number of Ports")?;
    let end = start.checked_add(count)?.checked_sub(1)?;
    Some(u16::try_from(start).ok()?..=u16::try_from(end.min(65535)).ok()?)
}

#[cfg(test)]
pub(crate) mod fixtures {
    //! Table buffers built row by row, as the IP Helper API lays them out.

    use std::net::{Ipv4Addr, Ipv6Addr};

    /// The low 16 bits of a port `DWORD`: network byte order; the high bits are junk the
    /// decoder must ignore.
    fn port_dword(p: u16) -> [u8; 4] {
        let b = p.to_be_bytes();
        [b[0], b[1], 0xAB, 0xCD]
    }

    pub(crate) fn tcp4(rows: &[(u32, Ipv4Addr, u16, Ipv4Addr, u16, u32)]) -> Vec<u8> {
        let mut b = (rows.len() as u32).to_le_bytes().to_vec();
        for &(state, la, lp, ra, rp, pid) in rows {
            b.extend(state.to_le_bytes());
            b.extend(la.octets());
            b.extend(port_dword(lp));
            b.extend(ra.octets());
            b.extend(port_dword(rp));
            b.extend(pid.to_le_bytes());
        }
        b
    }

    pub(crate) fn tcp6(rows: &[(u32, Ipv6Addr, u16, Ipv6Addr, u16, u32)]) -> Vec<u8> {
        let mut b = (rows.len() as u32).to_le_bytes().to_vec();
        for &(state, la, lp, ra, rp, pid) in rows {
            b.extend(la.octets());
            b.extend(0u32.to_le_bytes());
            b.extend(port_dword(lp));
            b.extend(ra.octets());
            b.extend(0u32.to_le_bytes());
            b.extend(port_dword(rp));
            b.extend(state.to_le_bytes());
            b.extend(pid.to_le_bytes());
        }
        b
    }

    /// A `MIB_TCPTABLE2` (bound endpoints): `tcp4` rows with an offload state after each.
    pub(crate) fn bound4(rows: &[(Ipv4Addr, u16, u32)]) -> Vec<u8> {
        let mut b = (rows.len() as u32).to_le_bytes().to_vec();
        for &(la, lp, pid) in rows {
            b.extend(super::tcp_state::RESERVED.to_le_bytes());
            b.extend(la.octets());
            b.extend(port_dword(lp));
            b.extend([0; 4]);
            b.extend([0; 4]);
            b.extend(pid.to_le_bytes());
            b.extend(1u32.to_le_bytes());
        }
        b
    }

    /// A `MIB_TCP6TABLE2`.
    pub(crate) fn bound6(rows: &[(Ipv6Addr, u16, u32)]) -> Vec<u8> {
        let mut b = (rows.len() as u32).to_le_bytes().to_vec();
        for &(la, lp, pid) in rows {
            b.extend(la.octets());
            b.extend(0u32.to_le_bytes());
            b.extend(port_dword(lp));
            b.extend([0; 16]);
            b.extend(0u32.to_le_bytes());
            b.extend([0; 4]);
            b.extend(super::tcp_state::RESERVED.to_le_bytes());
            b.extend(pid.to_le_bytes());
            b.extend(1u32.to_le_bytes());
        }
        b
    }

    pub(crate) fn udp4(rows: &[(Ipv4Addr, u16, u32)]) -> Vec<u8> {
        let mut b = (rows.len() as u32).to_le_bytes().to_vec();
        for &(la, lp, pid) in rows {
            b.extend(la.octets());
            b.extend(port_dword(lp));
            b.extend(pid.to_le_bytes());
        }
        b
    }

    pub(crate) fn udp6(rows: &[(Ipv6Addr, u16, u32)]) -> Vec<u8> {
        let mut b = (rows.len() as u32).to_le_bytes().to_vec();
        for &(la, lp, pid) in rows {
            b.extend(la.octets());
            b.extend(0u32.to_le_bytes());
            b.extend(port_dword(lp));
            b.extend(pid.to_le_bytes());
        }
        b
    }
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use super::fixtures::{bound4, bound6, tcp4, tcp6, udp4, udp6};
    use super::*;

    const LO: Ipv4Addr = Ipv4Addr::LOCALHOST;
    const ANY: Ipv4Addr = Ipv4Addr::UNSPECIFIED;

    #[test]
    fn tcp_tables() {
        let b = tcp4(&[
            (tcp_state::LISTEN, LO, 62893, ANY, 0, 4579),
            (tcp_state::ESTAB, LO, 50123, LO, 62893, 4600),
            (tcp_state::TIME_WAIT, LO, 50124, LO, 62893, 0),
            (tcp_state::LISTEN, ANY, 445, ANY, 0, 4),
            (tcp_state::RESERVED, ANY, 8080, ANY, 0, 777),
        ]);
        let rows = table(Table::Tcp4, &b);
        assert_eq!(rows.len(), 5);
        assert_eq!(
            (rows[0].local, rows[0].lport, rows[0].state, rows[0].pid),
            (IpAddr::V4(LO), 62893, Some(tcp_state::LISTEN), 4579),
            "the port's high bits are ignored"
        );
        assert_eq!(rows[1].remote, Some((IpAddr::V4(LO), 62893)));
        assert_eq!(
            (rows[2].state, rows[2].pid),
            (Some(tcp_state::TIME_WAIT), 0)
        );
        assert_eq!(rows[3].pid, 4, "the kernel (SMB)");
        assert_eq!(
            rows[4].state,
            Some(tcp_state::RESERVED),
            "bound, not listening"
        );
        let b = tcp6(&[(
            tcp_state::LISTEN,
            Ipv6Addr::UNSPECIFIED,
            3000,
            Ipv6Addr::UNSPECIFIED,
            0,
            900,
        )]);
        let rows = table(Table::Tcp6, &b);
        assert_eq!(
            (rows[0].local, rows[0].lport, rows[0].pid),
            (IpAddr::V6(Ipv6Addr::UNSPECIFIED), 3000, 900)
        );
    }

    #[test]
    #[allow(clippy::many_single_char_names)] // a short name per row kind reads best here
    fn rows_in_the_model() {
        let b = tcp4(&[
            (tcp_state::LISTEN, LO, 62893, ANY, 0, 4579),
            (tcp_state::TIME_WAIT, LO, 50124, LO, 62893, 0),
            (tcp_state::RESERVED, ANY, 8080, ANY, 0, 777),
            (tcp_state::ESTAB, LO, 50123, LO, 62893, 4600),
        ]);
        let rows = table(Table::Tcp4, &b);
        let (l, o) = to_socket(&rows[0], 1);
        assert_eq!(
            (l.state, l.inode, l.remote, l.exposure),
            (State::Listen, 1, None, Exposure::Loopback)
        );
        assert_eq!(
            o,
            Some(Owner {
                pid: 4579,
                fd: None
            })
        );
        let (tw, o) = to_socket(&rows[1], 2);
        assert_eq!((tw.state, tw.inode, o), (State::TimeWait, 0, None));
        assert_eq!(to_socket(&rows[2], 3).0.state, State::Bound);
        let kernel = table(
            Table::Tcp4,
            &tcp4(&[(tcp_state::LISTEN, ANY, 80, ANY, 0, 4)]),
        );
        let (k, o) = to_socket(&kernel[0], 5);
        assert_eq!(o.map(|o| o.pid), Some(4), "the kernel is its owner");
        assert!(k.owner_note.is_some_and(|n| n.contains("http.sys")));
        let (c, _) = to_socket(&rows[3], 4);
        assert_eq!(c.remote.map(|r| r.port), Some(62893));
        let u = table(Table::Udp4, &udp4(&[(ANY, 53, 1200)]));
        let (s, o) = to_socket(&u[0], 5);
        assert_eq!(
            (s.proto, s.state, s.exposure),
            (Proto::Udp, State::Unconn, Exposure::AllInterfaces)
        );
        assert_eq!(o.map(|o| o.pid), Some(1200));
    }

    #[test]
    fn udp_tables() {
        let rows = table(Table::Udp4, &udp4(&[(LO, 5353, 12), (ANY, 53, 1200)]));
        assert_eq!(rows.len(), 2);
        assert_eq!(
            (rows[1].lport, rows[1].pid, rows[1].state),
            (53, 1200, None)
        );
        let rows = table(Table::Udp6, &udp6(&[(Ipv6Addr::LOCALHOST, 5353, 12)]));
        assert_eq!(
            (rows[0].local, rows[0].lport),
            (IpAddr::V6(Ipv6Addr::LOCALHOST), 5353)
        );
    }

    #[test]
    fn counts_are_trusted_only_as_far_as_the_buffer_goes() {
        let mut b = udp4(&[(LO, 1, 1), (LO, 2, 2)]);
        b[0] = 200;
        assert_eq!(table(Table::Udp4, &b).len(), 2);
        assert_eq!(
            table(Table::Udp4, &b[..4 + 12 + 5]).len(),
            1,
            "a cut row is dropped"
        );
        assert!(table(Table::Tcp4, &[1, 0]).is_empty());
        b[0] = 1;
        assert_eq!(
            table(Table::Udp4, &b).len(),
            1,
            "extra bytes past the count"
        );
    }

    #[test]
    fn bound_endpoint_tables() {
        let rows = table(Table::Bound4, &bound4(&[(LO, 8080, 777), (ANY, 9000, 778)]));
        assert_eq!(rows.len(), 2);
        assert_eq!(
            (rows[0].local, rows[0].lport, rows[0].pid, rows[0].state),
            (IpAddr::V4(LO), 8080, 777, Some(tcp_state::RESERVED))
        );
        let (s, o) = to_socket(&rows[1], 9);
        assert_eq!(
            (s.state, s.remote, s.local.port),
            (State::Bound, None, 9000)
        );
        assert_eq!(o.map(|o| o.pid), Some(778));
        let rows = table(Table::Bound6, &bound6(&[(Ipv6Addr::LOCALHOST, 5000, 12)]));
        assert_eq!(
            (rows[0].local, rows[0].lport, rows[0].pid, rows[0].state),
            (
                IpAddr::V6(Ipv6Addr::LOCALHOST),
                5000,
                12,
                Some(tcp_state::RESERVED)
            )
        );
    }

    #[test]
    fn command_lines() {
        // A UNICODE_STRING at 0x1000 whose text follows it.
        let text: Vec<u8> = "node server.js"
            .encode_utf16()
            .flat_map(u16::to_le_bytes)
            .collect();
        let mut buf = Vec::new();
        buf.extend((text.len() as u16).to_le_bytes());
        buf.extend((text.len() as u16 + 2).to_le_bytes());
        buf.extend([0; 4]);
        buf.extend((0x1000u64 + 16).to_le_bytes());
        buf.extend(&text);
        assert_eq!(
            command_line(&buf, 0x1000).as_deref(),
            Some("node server.js")
        );
        assert_eq!(
            command_line(&buf, 0x2000),
            None,
            "a pointer before the buffer"
        );
        assert_eq!(command_line(&buf[..20], 0x1000), None, "a cut buffer");
        assert_eq!(command_line(&[], 0), None);
        let split = |s: &str| split_command_line(s);
        assert_eq!(split("node server.js"), ["node", "server.js"]);
        assert_eq!(
            split(r#""C:\Program Files\nodejs\node.exe"  "my app.js" --port=3000"#),
            [
                r"C:\Program Files\nodejs\node.exe",
                "my app.js",
                "--port=3000"
            ]
        );
        assert_eq!(split(r#"a.exe "a\"b" c"#), ["a.exe", r#"a"b"#, "c"]);
        assert_eq!(split(r#"a.exe a\\"b c" d"#), ["a.exe", r"a\b c", "d"]);
        assert_eq!(split(r"a.exe C:\dir\ x"), ["a.exe", r"C:\dir\", "x"]);
        assert_eq!(split(r#"a.exe "say ""hi""""#), ["a.exe", r#"say "hi""#]);
        assert_eq!(split(r#"C:\a\"b".exe x"#), [r"C:\a\b.exe", "x"]);
        assert_eq!(split(r#"a.exe "" b"#), ["a.exe", "", "b"]);
        assert_eq!(split("a.exe \"\"\""), ["a.exe", "\""]);
        assert_eq!(split(""), [""]);
    }

    #[test]
    fn portproxy() {
        let text = "\r\nListen on ipv4:             Connect to ipv4:\r\n\r\nAddress         Port        Address         Port\r\n--------------- ----------  --------------- ----------\r\n0.0.0.0         3000        172.28.1.5      3000\r\n127.0.0.1       8080        localhost       80\r\n\r\n";
        assert_eq!(
            portproxy_rules(text),
            vec![
                ("0.0.0.0".to_owned(), 3000, "172.28.1.5".to_owned(), 3000),
                ("127.0.0.1".to_owned(), 8080, "localhost".to_owned(), 80),
            ]
        );
        assert!(portproxy_rules("").is_empty());
    }

    #[test]
    fn firewall_rules_for_a_port() {
        let rule = |name: &str, block: bool, ports: &str, app: Option<&str>| FwRuleInfo {
            name: name.into(),
            enabled: true,
            inbound: true,
            block,
            protocol: 6,
            local_ports: ports.into(),
            application: app.map(Into::into),
        };
        assert!(ports_cover("80,443,5000-5010", 5005));
        assert!(ports_cover("*", 1));
        assert!(!ports_cover("RPC,RPC-EPMap", 135));
        assert!(!ports_cover("5000-x", 5000));
        let rules = vec![
            rule("Node.js", false, "*", Some(r"C:\node\node.exe")),
            rule("Dev 3000", false, "3000", None),
            rule("Block 3000", true, "3000-3001", None),
            FwRuleInfo {
                enabled: false,
                ..rule("Off", true, "3000", None)
            },
            FwRuleInfo {
                inbound: false,
                ..rule("Out", true, "3000", None)
            },
            FwRuleInfo {
                protocol: 17,
                ..rule("Udp", true, "3000", None)
            },
        ];
        let notes = firewall_notes(&rules, 3000);
        assert_eq!(
            notes,
            [
                "Windows Firewall rule \"Block 3000\" blocks inbound TCP to 3000-3001",
                "Windows Firewall rule \"Dev 3000\" allows inbound TCP to 3000",
            ]
        );
        let notes = firewall_notes(&rules, 8080);
        assert_eq!(
            notes,
            [
                r#"Windows Firewall rule "Node.js" allows inbound TCP on every port for C:\node\node.exe"#
            ]
        );
        assert!(firewall_notes(&[], 8080)[0].starts_with("no Windows Firewall rule"));
        assert!(system_note(8080).contains("http.sys") && system_note(8080).contains("8080"));
        assert!(system_note(445).contains("SMB"));
        assert!(
            appcontainer_note(3000).contains("CheckNetIsolation")
                && appcontainer_note(3000).contains("3000")
        );
        assert!(
            access_denied_note(812).contains("pid 812")
                && access_denied_note(812).contains("administrator")
        );
    }

    #[test]
    fn owner_module_tables() {
        // Two owner-pid rows widened to module rows, after an 8-byte header.
        let pid_rows = tcp4(&[
            (tcp_state::LISTEN, ANY, 53, ANY, 0, 1200),
            (tcp_state::LISTEN, LO, 5357, ANY, 0, 1300),
        ]);
        let mut b = pid_rows[..4].to_vec();
        b.extend([0; 4]);
        for r in pid_rows[4..].chunks(row::TCP4) {
            b.extend(r);
            b.extend([0xEE; TCP4_MODULE_ROW - row::TCP4]);
        }
        let rows = module_table(Table::Tcp4, &b);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].0, 8);
        assert_eq!(rows[1].0, 8 + TCP4_MODULE_ROW);
        assert_eq!((rows[1].1.lport, rows[1].1.pid), (5357, 1300));
        assert!(module_table(Table::Udp4, &b).is_empty());
        assert!(module_table(Table::Tcp6, &b[..100]).is_empty());
    }

    #[test]
    fn netsh_output() {
        let excluded = "\r\nProtocol tcp Port Exclusion Ranges\r\n\r\nStart Port    End Port\r\n----------    --------\r\n      5357        5357\r\n     50000       50059     *\r\n\r\n* - Administered port exclusions.\r\n";
        assert_eq!(excluded_ranges(excluded), vec![5357..=5357, 50000..=50059]);
        assert!(excluded_ranges("").is_empty());
        let dynamic = "\r\nProtocol tcp Dynamic Port Range\r\n---------------------------------\r\nStart Port      : 49152\r\nNumber of Ports : 16384\r\n";
        assert_eq!(dynamic_range(dynamic), Some(49152..=65535));
        assert_eq!(
            dynamic_range("Start Port : 60000\nNumber of Ports : 9999"),
            Some(60000..=65535)
        );
        assert_eq!(dynamic_range("nothing"), None);
    }

    mod props {
        use proptest::prelude::*;

        use super::super::*;

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(2000))]

            #[test]
            fn any_buffer(b in proptest::collection::vec(any::<u8>(), 0..600)) {
                for t in [
                    Table::Tcp4,
                    Table::Tcp6,
                    Table::Udp4,
                    Table::Udp6,
                    Table::Bound4,
                    Table::Bound6,
                ] {
                    let rows = table(t, &b);
                    prop_assert!(rows.len() * t.row_size() <= b.len());
                }
                let text = String::from_utf8_lossy(&b);
                let _ = excluded_ranges(&text);
                let _ = dynamic_range(&text);
                let _ = portproxy_rules(&text);
                let _ = command_line(&b, 0);
                prop_assert!(!split_command_line(&text).is_empty());
            }
        }
    }
}
