//! macOS kernel records, decoded from bytes. Compiled and tested on every platform, so the
//! parsing of what macOS hands over is checked here (on Linux, in CI) from fixtures built
//! field by field from the documented layouts; `sys::macos` only fetches the bytes.
//!
//! The layouts are xnu's (`bsd/netinet/in_pcb.h`, `bsd/sys/socketvar.h`,
//! `bsd/netinet/tcp_var.h`: `#pragma pack(4)`; `bsd/sys/proc_info.h`, `bsd/sys/sysctl.h`:
//! natural alignment), on the two macOS targets, both 64-bit little-endian. Every offset
//! used below is a `const` checked against a `#[repr(C)]` mirror of the struct at compile
//! time, so a wrong offset fails the build, not a user.
//!
//! Records are read by their kind and length, never past the length the kernel gave: a
//! shorter record from an older kernel yields the fields it has, and a truncated buffer
//! yields the complete records before the cut.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::model::{Endpoint, Exposure, NetNs, Owner, Process, Proto, Socket, State};

/// `xgn_kind` values (`socketvar.h`).
pub(crate) const XSO_SOCKET: u32 = 0x001;
/// The PCB record that starts each socket's group.
pub(crate) const XSO_INPCB: u32 = 0x010;
/// The TCP control block, with the state.
pub(crate) const XSO_TCPCB: u32 = 0x020;
/// Socket buffers (`xsockbuf_n`, 32 bytes; `sb_cc` at 8).
pub(crate) const XSO_RCVBUF: u32 = 0x002;
pub(crate) const XSO_SNDBUF: u32 = 0x004;
const SB_CC: usize = 8;

/// `inp_vflag` bits (`in_pcb.h`).
pub(crate) const INP_IPV4: u8 = 0x1;
pub(crate) const INP_IPV6: u8 = 0x2;
/// `inp_flags`: `IN6P_IPV6_V6ONLY`.
pub(crate) const IN6P_IPV6_V6ONLY: u32 = 0x8000;

/// `soi_kind` values (`proc_info.h`).
pub(crate) const SOCKINFO_IN: i32 = 1;
pub(crate) const SOCKINFO_TCP: i32 = 2;

/// TCP states (`tcp_fsm.h`; `TSI_S_*` in `proc_info.h` are the same numbers).
pub(crate) mod tcps {
    pub(crate) const CLOSED: i32 = 0;
    pub(crate) const LISTEN: i32 = 1;
    pub(crate) const SYN_SENT: i32 = 2;
    pub(crate) const SYN_RECEIVED: i32 = 3;
    pub(crate) const ESTABLISHED: i32 = 4;
    pub(crate) const CLOSE_WAIT: i32 = 5;
    pub(crate) const FIN_WAIT_1: i32 = 6;
    pub(crate) const CLOSING: i32 = 7;
    pub(crate) const LAST_ACK: i32 = 8;
    pub(crate) const FIN_WAIT_2: i32 = 9;
    pub(crate) const TIME_WAIT: i32 = 10;
}

/// `p_stat`: stopped (`proc.h` `SSTOP`), and a zombie (`SZOMB`).
pub(crate) const SSTOP: u8 = 4;
pub(crate) const SZOMB: u8 = 5;

/// `struct xinpgen`: the header and trailer of a pcblist buffer.
pub(crate) mod xinpgen {
    pub(crate) const SIZE: usize = 24;
    pub(crate) const LEN: usize = 0;
    pub(crate) const COUNT: usize = 4;
    pub(crate) const GEN: usize = 8;
}

/// `struct xinpcb_n` (104 bytes).
pub(crate) mod xinpcb_n {
    pub(crate) const SIZE: usize = 104;
    pub(crate) const FPORT: usize = 16;
    pub(crate) const LPORT: usize = 18;
    pub(crate) const GENCNT: usize = 28;
    pub(crate) const FLAGS: usize = 36;
    pub(crate) const VFLAG: usize = 44;
    pub(crate) const FADDR: usize = 48;
    pub(crate) const LADDR: usize = 64;
}

/// `struct xsocket_n` (104 bytes; older kernels end before `xso_filter_flags`).
pub(crate) mod xsocket_n {
    pub(crate) const SIZE: usize = 104;
    pub(crate) const FAMILY: usize = 40;
    pub(crate) const QLEN: usize = 44;
    pub(crate) const INCQLEN: usize = 46;
    pub(crate) const QLIMIT: usize = 48;
    pub(crate) const UID: usize = 64;
    pub(crate) const LAST_PID: usize = 68;
    pub(crate) const E_PID: usize = 72;
    pub(crate) const FILTER_FLAGS: usize = 100;
}

/// `struct xtcpcb_n` (204 bytes).
pub(crate) mod xtcpcb_n {
    pub(crate) const SIZE: usize = 204;
    pub(crate) const STATE: usize = 36;
}

/// `struct socket_fdinfo` (792 bytes): `proc_fileinfo` (24), then `socket_info`.
pub(crate) mod socket_fdinfo {
    pub(crate) const SIZE: usize = 792;
    const PSI: usize = 24;
    pub(crate) const PROTOCOL: usize = PSI + 156;
    pub(crate) const FAMILY: usize = PSI + 160;
    pub(crate) const KIND: usize = PSI + 232;
    /// `soi_proto`: an `in_sockinfo`, or a `tcp_sockinfo` that starts with one.
    pub(crate) const PROTO: usize = PSI + 240;
    pub(crate) const IN_LPORT: usize = PROTO + 4;
    pub(crate) const IN_GENCNT: usize = PROTO + 8;
    pub(crate) const TCP_STATE: usize = PROTO + 80;
}

/// `struct kinfo_proc` (648 bytes): `extern_proc` (296), then `eproc`.
pub(crate) mod kinfo_proc {
    pub(crate) const SIZE: usize = 648;
    pub(crate) const START_SEC: usize = 0;
    pub(crate) const START_USEC: usize = 8;
    pub(crate) const STAT: usize = 36;
    pub(crate) const PID: usize = 40;
    pub(crate) const COMM: usize = 243;
    pub(crate) const COMM_LEN: usize = 17;
    /// `kp_eproc.e_pcred.p_ruid`.
    pub(crate) const RUID: usize = 296 + 16 + 80;
    /// `kp_eproc.e_ucred.cr_uid`: the effective uid.
    pub(crate) const UID: usize = 296 + 120 + 4;
    pub(crate) const PPID: usize = 296 + 264;
}

/// `#[repr(C)]` mirrors of the structs, only to check the offsets above at compile time.
#[allow(dead_code, clippy::struct_field_names)]
mod layout {
    use std::mem::{offset_of, size_of};

    #[repr(C, packed(4))]
    struct XInpGen {
        xig_len: u32,
        xig_count: u32,
        xig_gen: u64,
        xig_sogen: u64,
    }

    #[repr(C, packed(4))]
    struct XInpcbN {
        xi_len: u32,
        xi_kind: u32,
        xi_inpp: u64,
        inp_fport: u16,
        inp_lport: u16,
        inp_ppcb: u64,
        inp_gencnt: u64,
        inp_flags: i32,
        inp_flow: u32,
        inp_vflag: u8,
        inp_ip_ttl: u8,
        inp_ip_p: u8,
        inp_dependfaddr: [u32; 4],
        inp_dependladdr: [u32; 4],
        inp4_ip_tos: u8,
        inp_depend6: Depend6Packed,
        inp_flowhash: u32,
        inp_flags2: u32,
    }

    /// `inp_depend6`: a struct of its own, so it starts 4-byte aligned.
    #[repr(C, packed(4))]
    struct Depend6Packed {
        inp6_hlim: u8,
        inp6_cksum: i32,
        inp6_ifindex: u16,
        inp6_hops: i16,
    }

    #[repr(C, packed(4))]
    struct XSocketN {
        xso_len: u32,
        xso_kind: u32,
        xso_so: u64,
        so_type: i16,
        so_options: u32,
        so_linger: i16,
        so_state: i16,
        so_pcb: u64,
        xso_protocol: i32,
        xso_family: i32,
        so_qlen: i16,
        so_incqlen: i16,
        so_qlimit: i16,
        so_timeo: i16,
        so_error: u16,
        so_pgid: i32,
        so_oobmark: u32,
        so_uid: u32,
        so_last_pid: i32,
        so_e_pid: i32,
        so_gencnt: u64,
        so_flags: u32,
        so_flags1: u32,
        so_usecount: i32,
        so_retaincnt: i32,
        xso_filter_flags: u32,
    }

    #[repr(C, packed(4))]
    struct XTcpcbN {
        xt_len: u32,
        xt_kind: u32,
        t_segq: u64,
        t_dupacks: i32,
        t_timer: [i32; 4],
        t_state: i32,
        // t_flags .. t_softerror: 31 four-byte fields.
        middle: [u32; 31],
        t_oobflags: i8,
        t_iobc: i8,
        scales: [u8; 4],
        // ts_recent .. snd_ssthresh_prev: 8 four-byte fields.
        tail: [u32; 8],
    }

    #[repr(C)]
    struct ProcFileinfo {
        fi_openflags: u32,
        fi_status: u32,
        fi_offset: i64,
        fi_type: i32,
        fi_guardflags: u32,
    }

    #[repr(C)]
    struct VinfoStat {
        vst_dev: u32,
        vst_mode: u16,
        vst_nlink: u16,
        vst_ino: u64,
        vst_uid: u32,
        vst_gid: u32,
        times: [i64; 8],
        vst_size: i64,
        vst_blocks: i64,
        vst_blksize: i32,
        vst_flags: u32,
        vst_gen: u32,
        vst_rdev: u32,
        vst_qspare: [i64; 2],
    }

    #[repr(C)]
    struct SockbufInfo {
        sbi_cc: u32,
        sbi_hiwat: u32,
        sbi_mbcnt: u32,
        sbi_mbmax: u32,
        sbi_lowat: u32,
        sbi_flags: i16,
        sbi_timeo: i16,
    }

    #[repr(C)]
    struct InSockinfo {
        insi_fport: i32,
        insi_lport: i32,
        insi_gencnt: u64,
        insi_flags: u32,
        insi_flow: u32,
        insi_vflag: u8,
        insi_ip_ttl: u8,
        rfu_1: u32,
        insi_faddr: [u32; 4],
        insi_laddr: [u32; 4],
        in4_tos: u8,
        insi_v6: InV6,
    }

    #[repr(C)]
    struct InV6 {
        in6_hlim: u8,
        in6_cksum: i32,
        in6_ifindex: u16,
        in6_hops: i16,
    }

    #[repr(C)]
    struct TcpSockinfo {
        tcpsi_ini: InSockinfo,
        tcpsi_state: i32,
        tcpsi_timer: [i32; 4],
        tcpsi_mss: i32,
        tcpsi_flags: u32,
        rfu_1: u32,
        tcpsi_tp: u64,
    }

    /// `un_sockinfo`, the largest member of `soi_proto`: two handles and two
    /// `SOCK_MAXADDRLEN` (255) address buffers.
    #[repr(C)]
    struct UnSockinfo {
        unsi_conn_so: u64,
        unsi_conn_pcb: u64,
        unsi_addr: [u8; 255],
        unsi_caddr: [u8; 255],
    }

    #[repr(C)]
    union SoiProto {
        pri_in: std::mem::ManuallyDrop<InSockinfo>,
        pri_tcp: std::mem::ManuallyDrop<TcpSockinfo>,
        pri_un: std::mem::ManuallyDrop<UnSockinfo>,
        // kern_ctl_info: six u32 and a 96-byte name.
        pri_kern_ctl: [u32; 30],
    }

    #[repr(C)]
    struct SocketInfo {
        soi_stat: VinfoStat,
        soi_so: u64,
        soi_pcb: u64,
        soi_type: i32,
        soi_protocol: i32,
        soi_family: i32,
        soi_options: i16,
        soi_linger: i16,
        soi_state: i16,
        soi_qlen: i16,
        soi_incqlen: i16,
        soi_qlimit: i16,
        soi_timeo: i16,
        soi_error: u16,
        soi_oobmark: u32,
        soi_rcv: SockbufInfo,
        soi_snd: SockbufInfo,
        soi_kind: i32,
        rfu_1: u32,
        soi_proto: SoiProto,
    }

    #[repr(C)]
    struct SocketFdinfo {
        pfi: ProcFileinfo,
        psi: SocketInfo,
    }

    #[repr(C)]
    struct Timeval {
        tv_sec: i64,
        tv_usec: i32,
    }

    #[repr(C)]
    struct ExternProc {
        p_starttime: [u64; 2],
        p_vmspace: u64,
        p_sigacts: u64,
        p_flag: i32,
        p_stat: i8,
        p_pid: i32,
        p_oppid: i32,
        p_dupfd: i32,
        user_stack: u64,
        exit_thread: u64,
        p_debugger: i32,
        sigwait: i32,
        p_estcpu: u32,
        p_cpticks: i32,
        p_pctcpu: u32,
        p_wchan: u64,
        p_wmesg: u64,
        p_swtime: u32,
        p_slptime: u32,
        p_realtimer: [Timeval; 2],
        p_rtime: Timeval,
        p_uticks: u64,
        p_sticks: u64,
        p_iticks: u64,
        p_traceflag: i32,
        p_tracep: u64,
        p_siglist: i32,
        p_textvp: u64,
        p_holdcnt: i32,
        p_sigmask: u32,
        p_sigignore: u32,
        p_sigcatch: u32,
        p_priority: u8,
        p_usrpri: u8,
        p_nice: i8,
        p_comm: [u8; 17],
        p_pgrp: u64,
        p_addr: u64,
        p_xstat: u16,
        p_acflag: u16,
        p_ru: u64,
    }

    #[repr(C)]
    struct Pcred {
        pc_lock: [u8; 72],
        pc_ucred: u64,
        p_ruid: u32,
        p_svuid: u32,
        p_rgid: u32,
        p_svgid: u32,
        p_refcnt: i32,
    }

    #[repr(C)]
    struct Ucred {
        cr_ref: i32,
        cr_uid: u32,
        cr_ngroups: i16,
        cr_groups: [u32; 16],
    }

    #[repr(C)]
    struct Vmspace {
        vm_refcnt: i32,
        vm_shm: u64,
        sizes: [i32; 5],
        addrs: [u64; 3],
    }

    #[repr(C)]
    struct Eproc {
        e_paddr: u64,
        e_sess: u64,
        e_pcred: Pcred,
        e_ucred: Ucred,
        e_vm: Vmspace,
        e_ppid: i32,
        e_pgid: i32,
        e_jobc: i16,
        e_tdev: i32,
        e_tpgid: i32,
        e_tsess: u64,
        e_wmesg: [u8; 8],
        e_xsize: i32,
        e_xrssize: i16,
        e_xccount: i16,
        e_xswrss: i16,
        e_flag: i32,
        e_login: [u8; 12],
        e_spare: [i32; 4],
    }

    #[repr(C)]
    struct KinfoProc {
        kp_proc: ExternProc,
        kp_eproc: Eproc,
    }

    use super::{kinfo_proc, socket_fdinfo, xinpcb_n, xinpgen, xsocket_n, xtcpcb_n};

    const _: () = {
        assert!(size_of::<XInpGen>() == xinpgen::SIZE);
        assert!(offset_of!(XInpGen, xig_count) == xinpgen::COUNT);
        assert!(offset_of!(XInpGen, xig_gen) == xinpgen::GEN);
        assert!(size_of::<XInpcbN>() == xinpcb_n::SIZE);
        assert!(offset_of!(XInpcbN, inp_fport) == xinpcb_n::FPORT);
        assert!(offset_of!(XInpcbN, inp_lport) == xinpcb_n::LPORT);
        assert!(offset_of!(XInpcbN, inp_gencnt) == xinpcb_n::GENCNT);
        assert!(offset_of!(XInpcbN, inp_flags) == xinpcb_n::FLAGS);
        assert!(offset_of!(XInpcbN, inp_vflag) == xinpcb_n::VFLAG);
        assert!(offset_of!(XInpcbN, inp_dependfaddr) == xinpcb_n::FADDR);
        assert!(offset_of!(XInpcbN, inp_dependladdr) == xinpcb_n::LADDR);
        assert!(size_of::<XSocketN>() == xsocket_n::SIZE);
        assert!(offset_of!(XSocketN, xso_family) == xsocket_n::FAMILY);
        assert!(offset_of!(XSocketN, so_qlen) == xsocket_n::QLEN);
        assert!(offset_of!(XSocketN, so_incqlen) == xsocket_n::INCQLEN);
        assert!(offset_of!(XSocketN, so_qlimit) == xsocket_n::QLIMIT);
        assert!(offset_of!(XSocketN, so_uid) == xsocket_n::UID);
        assert!(offset_of!(XSocketN, so_last_pid) == xsocket_n::LAST_PID);
        assert!(offset_of!(XSocketN, so_e_pid) == xsocket_n::E_PID);
        assert!(offset_of!(XSocketN, xso_filter_flags) == xsocket_n::FILTER_FLAGS);
        assert!(size_of::<XTcpcbN>() == xtcpcb_n::SIZE);
        assert!(offset_of!(XTcpcbN, t_state) == xtcpcb_n::STATE);
        assert!(size_of::<SocketFdinfo>() == socket_fdinfo::SIZE);
        assert!(
            offset_of!(SocketFdinfo, psi) + offset_of!(SocketInfo, soi_protocol)
                == socket_fdinfo::PROTOCOL
        );
        assert!(
            offset_of!(SocketFdinfo, psi) + offset_of!(SocketInfo, soi_family)
                == socket_fdinfo::FAMILY
        );
        assert!(
            offset_of!(SocketFdinfo, psi) + offset_of!(SocketInfo, soi_kind) == socket_fdinfo::KIND
        );
        assert!(
            offset_of!(SocketFdinfo, psi) + offset_of!(SocketInfo, soi_proto)
                == socket_fdinfo::PROTO
        );
        assert!(
            socket_fdinfo::PROTO + offset_of!(InSockinfo, insi_lport) == socket_fdinfo::IN_LPORT
        );
        assert!(
            socket_fdinfo::PROTO + offset_of!(InSockinfo, insi_gencnt) == socket_fdinfo::IN_GENCNT
        );
        assert!(
            socket_fdinfo::PROTO + offset_of!(TcpSockinfo, tcpsi_state) == socket_fdinfo::TCP_STATE
        );
        assert!(size_of::<KinfoProc>() == kinfo_proc::SIZE);
        assert!(size_of::<ExternProc>() == 296);
        assert!(offset_of!(ExternProc, p_stat) == kinfo_proc::STAT);
        assert!(offset_of!(ExternProc, p_pid) == kinfo_proc::PID);
        assert!(offset_of!(ExternProc, p_comm) == kinfo_proc::COMM);
        assert!(
            offset_of!(KinfoProc, kp_eproc)
                + offset_of!(Eproc, e_pcred)
                + offset_of!(Pcred, p_ruid)
                == kinfo_proc::RUID
        );
        assert!(
            offset_of!(KinfoProc, kp_eproc)
                + offset_of!(Eproc, e_ucred)
                + offset_of!(Ucred, cr_uid)
                == kinfo_proc::UID
        );
        assert!(offset_of!(KinfoProc, kp_eproc) + offset_of!(Eproc, e_ppid) == kinfo_proc::PPID);
    };
}

fn u16_le(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn i16_le(b: &[u8], at: usize) -> Option<i16> {
    Some(i16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32_le(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn i32_le(b: &[u8], at: usize) -> Option<i32> {
    Some(i32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn u64_le(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

/// A port as the kernel stores it: network byte order in memory.
fn port_be(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

const fn round8(n: usize) -> usize {
    (n + 7) & !7
}

/// One socket of a pcblist: the PCB, with what its socket and TCP records add.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pcb {
    /// The PCB's generation count: the key `socket_fdinfo` is joined on.
    pub(crate) gencnt: u64,
    pub(crate) local: IpAddr,
    pub(crate) lport: u16,
    pub(crate) remote: IpAddr,
    pub(crate) rport: u16,
    /// An IPv6 socket that also takes IPv4 (`[::]` without `IPV6_V6ONLY`), or `None` for
    /// IPv4 sockets.
    pub(crate) v6only: Option<bool>,
    /// The TCP state, for TCP.
    pub(crate) tcp_state: Option<i32>,
    /// From the socket record, when there was one.
    pub(crate) uid: Option<u32>,
    pub(crate) last_pid: Option<i32>,
    pub(crate) e_pid: Option<i32>,
    /// Completed connections waiting to be accepted, and the limit.
    pub(crate) qlen: Option<u16>,
    pub(crate) qlimit: Option<u16>,
    pub(crate) filter_flags: Option<u32>,
    /// Bytes in the receive and send buffers (`xsockbuf_n.sb_cc`).
    pub(crate) rcv_cc: u32,
    pub(crate) snd_cc: u32,
}

/// What one pcblist sysctl returned.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct PcbList {
    pub(crate) sockets: Vec<Pcb>,
    /// The generation in the header, and in the trailer when it was reached: they differ
    /// when the table changed during the read (read again).
    pub(crate) generation: u64,
    pub(crate) gen_after: Option<u64>,
    /// The buffer ended inside a record (or before the trailer).
    pub(crate) truncated: bool,
    /// Groups without a PCB, a socket or (TCP) a TCP record, left out.
    pub(crate) incomplete: usize,
}

impl PcbList {
    /// Whether the table changed while it was read.
    pub(crate) fn changed(&self) -> bool {
        self.gen_after.is_some_and(|g| g != self.generation)
    }
}

/// Why a pcblist buffer could not be read at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PcbError {
    /// Shorter than its header, or a header that is not one.
    BadHeader,
}

/// Address of a PCB slot: the IPv6 bytes, or the IPv4 address in the last four.
fn pcb_addr(rec: &[u8], at: usize, v6: bool) -> Option<IpAddr> {
    let raw: [u8; 16] = rec.get(at..at + 16)?.try_into().ok()?;
    Some(if v6 {
        IpAddr::V6(Ipv6Addr::from(raw))
    } else {
        IpAddr::V4(Ipv4Addr::new(raw[12], raw[13], raw[14], raw[15]))
    })
}

/// Decodes an `xinpcb_n` record (as long as the kernel said it is).
fn decode_inpcb(rec: &[u8]) -> Option<Pcb> {
    let vflag = *rec.get(xinpcb_n::VFLAG)?;
    let flags = u32_le(rec, xinpcb_n::FLAGS)?;
    let v6 = vflag & INP_IPV6 != 0;
    let mut local = pcb_addr(rec, xinpcb_n::LADDR, v6)?;
    let mut remote = pcb_addr(rec, xinpcb_n::FADDR, v6)?;
    if v6 && vflag & INP_IPV4 != 0 {
        // An IPv6 socket carrying IPv4: a dual-stack wildcard, or a connection made over
        // IPv4, whose addresses sit in the IPv4 slots. Show them IPv4-mapped, as Linux does.
        let mapped = |at| match pcb_addr(rec, at, false) {
            Some(IpAddr::V4(a)) if !a.is_unspecified() => Some(IpAddr::V6(a.to_ipv6_mapped())),
            _ => None,
        };
        if let Some(a) = mapped(xinpcb_n::LADDR) {
            local = a;
        }
        if let Some(a) = mapped(xinpcb_n::FADDR) {
            remote = a;
        }
    }
    Some(Pcb {
        gencnt: u64_le(rec, xinpcb_n::GENCNT)?,
        local,
        lport: port_be(rec, xinpcb_n::LPORT)?,
        remote,
        rport: port_be(rec, xinpcb_n::FPORT)?,
        v6only: v6.then_some(flags & IN6P_IPV6_V6ONLY != 0),
        tcp_state: None,
        uid: None,
        last_pid: None,
        e_pid: None,
        qlen: None,
        qlimit: None,
        filter_flags: None,
        rcv_cc: 0,
        snd_cc: 0,
    })
}

/// Adds what an `xsocket_n` record says; fields past its length stay `None`.
fn add_socket(p: &mut Pcb, rec: &[u8]) {
    p.uid = u32_le(rec, xsocket_n::UID);
    p.last_pid = i32_le(rec, xsocket_n::LAST_PID);
    p.e_pid = i32_le(rec, xsocket_n::E_PID);
    p.qlen = i16_le(rec, xsocket_n::QLEN).map(|q| q.max(0) as u16);
    p.qlimit = i16_le(rec, xsocket_n::QLIMIT).map(|q| q.max(0) as u16);
    p.filter_flags = u32_le(rec, xsocket_n::FILTER_FLAGS);
}

/// Walks the buffer of `net.inet.tcp.pcblist_n` (`tcp`) or `net.inet.udp.pcblist_n`: an
/// `xinpgen` header, then per socket a group of records (`xinpcb_n`, `xsocket_n`, two
/// `xsockbuf_n`, `xsockstat_n`, and for TCP `xtcpcb_n`), each 8-byte aligned, then an
/// `xinpgen` trailer.
pub(crate) fn pcblist(buf: &[u8], tcp: bool) -> Result<PcbList, PcbError> {
    let head_len = u32_le(buf, xinpgen::LEN).ok_or(PcbError::BadHeader)? as usize;
    if head_len < xinpgen::SIZE || buf.len() < xinpgen::SIZE {
        return Err(PcbError::BadHeader);
    }
    let mut out = PcbList {
        generation: u64_le(buf, xinpgen::GEN).ok_or(PcbError::BadHeader)?,
        ..PcbList::default()
    };
    // The group being read: its PCB, and whether its socket and TCP records came.
    let mut current: Option<(Pcb, bool, bool)> = None;
    let finish = |cur: Option<(Pcb, bool, bool)>, out: &mut PcbList| {
        if let Some((p, sock, tcpcb)) = cur {
            if sock && (tcpcb || !tcp) {
                out.sockets.push(p);
            } else {
                out.incomplete += 1;
            }
        }
    };
    let mut at = round8(head_len);
    loop {
        let (Some(len), Some(kind)) = (u32_le(buf, at), u32_le(buf, at + 4)) else {
            // The buffer ends without a trailer.
            out.truncated = true;
            break;
        };
        let len = len as usize;
        if len <= xinpgen::SIZE {
            // The trailer: its own generation count, if it is all there.
            out.truncated = buf.len() < at + xinpgen::SIZE;
            if !out.truncated {
                out.gen_after = u64_le(buf, at + xinpgen::GEN);
            }
            break;
        }
        let Some(rec) = buf.get(at..at + len) else {
            out.truncated = true;
            break;
        };
        match kind {
            XSO_INPCB => {
                finish(current.take(), &mut out);
                current = decode_inpcb(rec).map(|p| (p, false, false));
            }
            XSO_SOCKET => {
                if let Some((p, sock, _)) = &mut current {
                    add_socket(p, rec);
                    *sock = true;
                }
            }
            XSO_TCPCB => {
                if let Some((p, _, tcpcb)) = &mut current
                    && let Some(state) = i32_le(rec, xtcpcb_n::STATE)
                {
                    p.tcp_state = Some(state);
                    *tcpcb = true;
                }
            }
            XSO_RCVBUF | XSO_SNDBUF => {
                if let Some((p, ..)) = &mut current
                    && let Some(cc) = u32_le(rec, SB_CC)
                {
                    if kind == XSO_RCVBUF {
                        p.rcv_cc = cc;
                    } else {
                        p.snd_cc = cc;
                    }
                }
            }
            // Statistics: not used.
            _ => {}
        }
        at += round8(len);
    }
    finish(current.take(), &mut out);
    Ok(out)
}

/// A pcblist entry in lport's model. The PCB generation count stands in for Linux's inode:
/// it is what descriptors are joined on. TIME_WAIT and closed sockets, which no descriptor
/// holds, get 0, as on Linux.
pub(crate) fn to_socket(p: &Pcb, proto: Proto) -> Socket {
    let state = match (proto, p.tcp_state) {
        (Proto::Udp, _) if p.rport != 0 => State::Established,
        (Proto::Udp, _) => State::Unconn,
        (Proto::Tcp, Some(s)) => match s {
            tcps::LISTEN => State::Listen,
            tcps::SYN_SENT => State::SynSent,
            tcps::SYN_RECEIVED => State::SynRecv,
            tcps::ESTABLISHED => State::Established,
            tcps::CLOSE_WAIT => State::CloseWait,
            tcps::FIN_WAIT_1 => State::FinWait1,
            tcps::CLOSING => State::Closing,
            tcps::LAST_ACK => State::LastAck,
            tcps::FIN_WAIT_2 => State::FinWait2,
            tcps::TIME_WAIT => State::TimeWait,
            // A TCP socket in CLOSED with a local port is bound and not listening.
            tcps::CLOSED if p.lport != 0 => State::Bound,
            _ => State::Close,
        },
        (Proto::Tcp, None) => State::Close,
    };
    let listener = matches!(state, State::Listen);
    let remote = (!matches!(state, State::Listen | State::Unconn | State::Bound)
        && (!p.remote.is_unspecified() || p.rport != 0))
        .then(|| Endpoint::new(p.remote, p.rport));
    let held = !matches!(state, State::TimeWait | State::Close);
    Socket {
        proto,
        local: Endpoint::new(p.local, p.lport),
        remote,
        state,
        inode: if held { p.gencnt.max(1) } else { 0 },
        uid: p.uid,
        netns: NetNs {
            inode: None,
            host: true,
        },
        // For a listener, as on Linux: completed connections waiting, and the backlog.
        recv_q: if listener {
            u32::from(p.qlen.unwrap_or(0))
        } else {
            p.rcv_cc
        },
        send_q: if listener {
            u32::from(p.qlimit.unwrap_or(0))
        } else {
            p.snd_cc
        },
        v6only: p.v6only,
        exposure: Exposure::classify(p.local, true),
        owners: Vec::new(),
        owner_note: None,
        cgroup: None,
        device: None,
    }
}

/// Descriptors joined to sockets: (socket key, holder) pairs sorted by key, as the
/// inventory expects them.
pub(crate) fn join(holders: &[(u32, u32, FdSocket)]) -> Vec<(u64, Owner)> {
    let mut out: Vec<(u64, Owner)> = holders
        .iter()
        .filter_map(|&(pid, fd, s)| Some((s.gencnt?.max(1), Owner { pid, fd: Some(fd) })))
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// `xso_filter_flags`: a content filter (`XSOFF_CFIL`) or flow divert (`XSOFF_FLOW_DIV`)
/// sees the socket's traffic: a VPN client, a proxy or a security product.
const XSOFF_CFIL: u32 = 0x04;
const XSOFF_FLOW_DIV: u32 = 0x08;

/// A note for a listener whose traffic a content filter or flow divert sees.
pub(crate) fn filter_note(p: &Pcb, proto: Proto) -> Option<String> {
    let flags = p.filter_flags?;
    let what = match (flags & XSOFF_CFIL != 0, flags & XSOFF_FLOW_DIV != 0) {
        (false, false) => return None,
        (true, false) => "a content filter",
        (false, true) => "a flow divert",
        (true, true) => "a content filter and a flow divert",
    };
    Some(format!(
        "{proto} {}: {what} (a VPN client, proxy or security product) sees this socket's traffic and can hold or drop it",
        Endpoint::new(p.local, p.lport)
    ))
}

/// For a socket no visible descriptor holds: the kernel's record of the last process that
/// used it, which is nearly always its owner.
pub(crate) fn last_pid_hint(p: &Pcb) -> Option<String> {
    let pid = p
        .e_pid
        .filter(|&e| e > 0)
        .or(p.last_pid.filter(|&l| l > 0))?;
    Some(format!(
        "probably pid {pid} (the last process the kernel saw use it)"
    ))
}

/// The program name: `p_comm` holds 16 characters, so a longer executable name that starts
/// with it is the full one.
pub(crate) fn full_name(comm: &str, exe: Option<&str>) -> String {
    exe.and_then(|e| e.rsplit('/').next())
        .filter(|base| comm.len() >= 16 && base.starts_with(comm))
        .map_or_else(|| comm.to_owned(), str::to_owned)
}

/// What `proc_pidfdinfo(PROC_PIDFDSOCKETINFO)` says about one descriptor's socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FdSocket {
    pub(crate) family: i32,
    pub(crate) protocol: i32,
    /// The PCB generation count, for IPv4/IPv6 sockets: the join key with the pcblist.
    pub(crate) gencnt: Option<u64>,
    pub(crate) lport: Option<u16>,
    pub(crate) tcp_state: Option<i32>,
}

/// Decodes a `socket_fdinfo`; `None` unless it is whole (the kernel returns its size).
pub(crate) fn socket_fdinfo(b: &[u8]) -> Option<FdSocket> {
    if b.len() < socket_fdinfo::SIZE {
        return None;
    }
    let kind = i32_le(b, socket_fdinfo::KIND)?;
    let inet = kind == SOCKINFO_IN || kind == SOCKINFO_TCP;
    // insi_lport is an int holding the port's network-order bytes in its low half.
    let lport = u16_le(b, socket_fdinfo::IN_LPORT).map(u16::swap_bytes);
    Some(FdSocket {
        family: i32_le(b, socket_fdinfo::FAMILY)?,
        protocol: i32_le(b, socket_fdinfo::PROTOCOL)?,
        gencnt: if inet {
            u64_le(b, socket_fdinfo::IN_GENCNT)
        } else {
            None
        },
        lport: if inet { lport } else { None },
        tcp_state: if kind == SOCKINFO_TCP {
            i32_le(b, socket_fdinfo::TCP_STATE)
        } else {
            None
        },
    })
}

/// A process's arguments from `KERN_PROCARGS2`: `argc`, the executable path, NUL padding,
/// then `argc` NUL-terminated arguments (the environment follows and is not read).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ProcArgs {
    pub(crate) exe: String,
    pub(crate) argv: Vec<String>,
    /// The environment that follows the arguments (up to the first empty string).
    pub(crate) env: Vec<String>,
}

/// Decodes a `KERN_PROCARGS2` buffer; arguments are decoded lossily, and an `argc` larger
/// than what the buffer holds yields the arguments that are there.
pub(crate) fn procargs2(b: &[u8]) -> Option<ProcArgs> {
    let count = usize::try_from(i32_le(b, 0)?).ok()?;
    let rest = b.get(4..)?;
    let exe_end = rest.iter().position(|&c| c == 0).unwrap_or(rest.len());
    let exe = String::from_utf8_lossy(&rest[..exe_end]).into_owned();
    let mut at = exe_end;
    while rest.get(at) == Some(&0) {
        at += 1;
    }
    let mut argv = Vec::new();
    while argv.len() < count && at < rest.len() {
        let end = rest[at..]
            .iter()
            .position(|&c| c == 0)
            .map_or(rest.len(), |p| at + p);
        argv.push(String::from_utf8_lossy(&rest[at..end]).into_owned());
        at = end + 1;
    }
    let mut env = Vec::new();
    while at < rest.len() && env.len() < 4096 {
        let end = rest[at..]
            .iter()
            .position(|&c| c == 0)
            .map_or(rest.len(), |p| at + p);
        if end == at {
            break;
        }
        env.push(String::from_utf8_lossy(&rest[at..end]).into_owned());
        at = end + 1;
    }
    Some(ProcArgs { exe, argv, env })
}

/// What lport reads from a `kinfo_proc`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KinfoProc {
    pub(crate) pid: u32,
    pub(crate) ppid: u32,
    /// Effective uid.
    pub(crate) uid: u32,
    pub(crate) ruid: u32,
    /// `SIDL`..`SZOMB`.
    pub(crate) stat: u8,
    /// Seconds and microseconds since the epoch.
    pub(crate) start: (u64, u32),
    /// The 16-character `p_comm`.
    pub(crate) comm: String,
}

/// Decodes a `kinfo_proc` from `KERN_PROC_PID`; `None` unless it is whole.
pub(crate) fn kinfo_proc(b: &[u8]) -> Option<KinfoProc> {
    if b.len() < kinfo_proc::SIZE {
        return None;
    }
    let comm = b.get(kinfo_proc::COMM..kinfo_proc::COMM + kinfo_proc::COMM_LEN)?;
    let comm = &comm[..comm.iter().position(|&c| c == 0).unwrap_or(comm.len())];
    Some(KinfoProc {
        pid: i32_le(b, kinfo_proc::PID)?.max(0) as u32,
        ppid: i32_le(b, kinfo_proc::PPID)?.max(0) as u32,
        uid: u32_le(b, kinfo_proc::UID)?,
        ruid: u32_le(b, kinfo_proc::RUID)?,
        stat: *b.get(kinfo_proc::STAT)?,
        start: (
            u64_le(b, kinfo_proc::START_SEC)?,
            u32_le(b, kinfo_proc::START_USEC)?,
        ),
        comm: String::from_utf8_lossy(comm).into_owned(),
    })
}

/// A process in lport's model, from its `kinfo_proc`, its arguments (`None` when they
/// cannot be read: another user's process without root), its executable and user name.
pub(crate) fn process(
    k: &KinfoProc,
    args: Option<ProcArgs>,
    exe: Option<String>,
    user: Option<String>,
) -> Process {
    let exe = exe.or_else(|| {
        args.as_ref()
            .map(|a| a.exe.clone())
            .filter(|e| !e.is_empty())
    });
    let unit = args.as_ref().and_then(|a| launchd_label(&a.env));
    Process {
        pid: k.pid,
        name: full_name(&k.comm, exe.as_deref()),
        exe,
        cmdline: args.map(|a| a.argv).unwrap_or_default(),
        uid: Some(k.uid),
        user,
        state: state_letter(k.stat).to_string(),
        start_time: Some(crate::model::rfc3339(k.start.0)),
        ppid: k.ppid,
        unit,
        container: None,
        start_ticks: Some(k.start.0 * 1_000_000 + u64::from(k.start.1)),
        container_info: None,
    }
}

/// What the Application Firewall's `socketfilterfw --getglobalstate` (and
/// `--getblockall`) say, as notes for `why`: it filters connections from other machines
/// per application, never loopback.
pub(crate) fn alf_notes(state: &str, block_all: Option<&str>) -> Vec<String> {
    let on =
        state.contains("enabled") || state.contains("State = 1") || state.contains("State = 2");
    if !on || state.contains("disabled") {
        return vec!["macOS Application Firewall: off".into()];
    }
    let mut notes = vec![
        "macOS Application Firewall: on (it decides per application about connections from other machines; loopback is never filtered)"
            .to_owned(),
    ];
    if block_all.is_some_and(|b| b.contains("enabled") && !b.contains("disabled")) {
        notes.push(
            "macOS Application Firewall blocks all incoming connections from other machines".into(),
        );
    }
    notes
}

/// The launchd job a process runs as, from its environment: launchd sets
/// `XPC_SERVICE_NAME` to the job's label (`0` outside a job).
pub(crate) fn launchd_label(env: &[String]) -> Option<String> {
    env.iter()
        .find_map(|v| v.strip_prefix("XPC_SERVICE_NAME="))
        .filter(|l| !l.is_empty() && *l != "0")
        .map(str::to_owned)
}

/// The state letter `ps` shows for a `p_stat`.
pub(crate) fn state_letter(stat: u8) -> char {
    match stat {
        1 | 2 => 'R',
        3 => 'S',
        SSTOP => 'T',
        SZOMB => 'Z',
        _ => '?',
    }
}

#[cfg(test)]
pub(crate) mod fixtures {
    //! Buffers built field by field, as the kernel lays them out.

    use std::net::{IpAddr, Ipv4Addr};

    use super::{
        XSO_INPCB, XSO_SOCKET, XSO_TCPCB, kinfo_proc, socket_fdinfo, xinpcb_n, xinpgen, xsocket_n,
        xtcpcb_n,
    };

    fn put(b: &mut [u8], at: usize, v: &[u8]) {
        b[at..at + v.len()].copy_from_slice(v);
    }

    /// An `xinpgen` with a generation count.
    pub(crate) fn xinpgen(count: u32, generation: u64) -> Vec<u8> {
        let mut b = vec![0u8; xinpgen::SIZE];
        put(&mut b, xinpgen::LEN, &(xinpgen::SIZE as u32).to_le_bytes());
        put(&mut b, xinpgen::COUNT, &count.to_le_bytes());
        put(&mut b, xinpgen::GEN, &generation.to_le_bytes());
        b
    }

    /// One socket as the kernel describes it.
    #[derive(Clone)]
    pub(crate) struct Spec {
        pub(crate) gencnt: u64,
        pub(crate) vflag: u8,
        pub(crate) v6only: bool,
        /// 16 bytes each: an IPv6 address, or an IPv4 one in the last four.
        pub(crate) laddr: [u8; 16],
        pub(crate) faddr: [u8; 16],
        pub(crate) lport: u16,
        pub(crate) fport: u16,
        pub(crate) state: i32,
        pub(crate) uid: u32,
        pub(crate) last_pid: i32,
        pub(crate) qlen: i16,
        pub(crate) qlimit: i16,
        /// Length of the socket record: 104, or shorter for an older kernel.
        pub(crate) xsocket_len: usize,
        pub(crate) filter_flags: u32,
    }

    /// An IPv4 address in a PCB slot.
    pub(crate) fn v4(a: Ipv4Addr) -> [u8; 16] {
        let mut s = [0u8; 16];
        s[12..].copy_from_slice(&a.octets());
        s
    }

    impl Spec {
        pub(crate) fn v4(gencnt: u64, addr: Ipv4Addr, lport: u16, state: i32) -> Spec {
            Spec {
                gencnt,
                vflag: super::INP_IPV4,
                v6only: false,
                laddr: v4(addr),
                faddr: [0; 16],
                lport,
                fport: 0,
                state,
                uid: 501,
                last_pid: 0,
                qlen: 0,
                qlimit: 0,
                xsocket_len: xsocket_n::SIZE,
                filter_flags: 0,
            }
        }

        pub(crate) fn v6(gencnt: u64, addr: IpAddr, lport: u16, state: i32) -> Spec {
            let IpAddr::V6(a) = addr else {
                panic!("an IPv6 address")
            };
            Spec {
                vflag: super::INP_IPV6,
                laddr: a.octets(),
                ..Spec::v4(gencnt, Ipv4Addr::UNSPECIFIED, lport, state)
            }
        }
    }

    fn record(len: usize, kind: u32) -> Vec<u8> {
        let mut r = vec![0u8; len.div_ceil(8) * 8];
        put(&mut r, 0, &(len as u32).to_le_bytes());
        put(&mut r, 4, &kind.to_le_bytes());
        r
    }

    /// The records of one socket: PCB, socket, two socket buffers, statistics, and for TCP
    /// the TCP control block.
    pub(crate) fn group(s: &Spec, tcp: bool) -> Vec<u8> {
        let mut out = Vec::new();
        let mut inp = record(xinpcb_n::SIZE, XSO_INPCB);
        put(&mut inp, xinpcb_n::FPORT, &s.fport.to_be_bytes());
        put(&mut inp, xinpcb_n::LPORT, &s.lport.to_be_bytes());
        put(&mut inp, xinpcb_n::GENCNT, &s.gencnt.to_le_bytes());
        let flags: u32 = if s.v6only { super::IN6P_IPV6_V6ONLY } else { 0 };
        put(&mut inp, xinpcb_n::FLAGS, &flags.to_le_bytes());
        inp[xinpcb_n::VFLAG] = s.vflag;
        put(&mut inp, xinpcb_n::FADDR, &s.faddr);
        put(&mut inp, xinpcb_n::LADDR, &s.laddr);
        out.extend(inp);
        let mut so = record(s.xsocket_len, XSO_SOCKET);
        let family: i32 = if s.vflag & super::INP_IPV6 != 0 {
            30
        } else {
            2
        };
        put(&mut so, xsocket_n::FAMILY, &family.to_le_bytes());
        put(&mut so, xsocket_n::QLEN, &s.qlen.to_le_bytes());
        put(&mut so, xsocket_n::QLIMIT, &s.qlimit.to_le_bytes());
        put(&mut so, xsocket_n::UID, &s.uid.to_le_bytes());
        put(&mut so, xsocket_n::LAST_PID, &s.last_pid.to_le_bytes());
        if s.xsocket_len > xsocket_n::FILTER_FLAGS {
            put(
                &mut so,
                xsocket_n::FILTER_FLAGS,
                &s.filter_flags.to_le_bytes(),
            );
        }
        out.extend(so);
        // xsockbuf_n (32 bytes) twice, then xsockstat_n (its size does not matter here).
        out.extend(record(32, 0x002));
        out.extend(record(32, 0x004));
        out.extend(record(8 + 4 * 32, 0x008));
        if tcp {
            let mut t = record(xtcpcb_n::SIZE, XSO_TCPCB);
            put(&mut t, xtcpcb_n::STATE, &s.state.to_le_bytes());
            out.extend(t);
        }
        out
    }

    /// A whole pcblist buffer: header, groups, trailer.
    pub(crate) fn pcblist(specs: &[Spec], tcp: bool, generation: u64, after: u64) -> Vec<u8> {
        let mut b = xinpgen(specs.len() as u32, generation);
        for s in specs {
            b.extend(group(s, tcp));
        }
        b.extend(xinpgen(specs.len() as u32, after));
        b
    }

    /// A `socket_fdinfo` for a TCP or UDP socket.
    pub(crate) fn fdinfo(gencnt: u64, lport: u16, tcp_state: Option<i32>) -> Vec<u8> {
        let mut b = vec![0u8; socket_fdinfo::SIZE];
        let kind = if tcp_state.is_some() {
            super::SOCKINFO_TCP
        } else {
            super::SOCKINFO_IN
        };
        put(&mut b, socket_fdinfo::FAMILY, &2i32.to_le_bytes());
        put(
            &mut b,
            socket_fdinfo::PROTOCOL,
            &(if tcp_state.is_some() { 6i32 } else { 17 }).to_le_bytes(),
        );
        put(&mut b, socket_fdinfo::KIND, &kind.to_le_bytes());
        // insi_lport: an int whose low half holds the port's network-order bytes.
        put(&mut b, socket_fdinfo::IN_LPORT, &lport.to_be_bytes());
        put(&mut b, socket_fdinfo::IN_GENCNT, &gencnt.to_le_bytes());
        if let Some(st) = tcp_state {
            put(&mut b, socket_fdinfo::TCP_STATE, &st.to_le_bytes());
        }
        b
    }

    /// A `kinfo_proc`.
    pub(crate) fn kinfo(
        pid: i32,
        parent: i32,
        uid: u32,
        stat: u8,
        started: i64,
        comm: &[u8],
    ) -> Vec<u8> {
        let mut b = vec![0u8; kinfo_proc::SIZE];
        put(&mut b, kinfo_proc::START_SEC, &started.to_le_bytes());
        put(&mut b, kinfo_proc::START_USEC, &250_000i32.to_le_bytes());
        b[kinfo_proc::STAT] = stat;
        put(&mut b, kinfo_proc::PID, &pid.to_le_bytes());
        put(&mut b, kinfo_proc::COMM, &comm[..comm.len().min(16)]);
        put(&mut b, kinfo_proc::RUID, &uid.to_le_bytes());
        put(&mut b, kinfo_proc::UID, &uid.to_le_bytes());
        put(&mut b, kinfo_proc::PPID, &parent.to_le_bytes());
        b
    }
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

    use super::fixtures::{Spec, fdinfo, group, kinfo, pcblist as list, v4};
    use super::*;

    const LO: Ipv4Addr = Ipv4Addr::LOCALHOST;

    #[test]
    #[allow(clippy::many_single_char_names)] // one short name per socket kind reads best here
    fn a_tcp_table_with_every_kind_of_socket() {
        let mut listener = Spec::v4(11, LO, 62893, tcps::LISTEN);
        listener.qlen = 3;
        listener.qlimit = 128;
        listener.last_pid = 4579;
        let mut dual = Spec::v6(12, IpAddr::V6(Ipv6Addr::UNSPECIFIED), 3000, tcps::LISTEN);
        dual.vflag = INP_IPV4 | INP_IPV6;
        let mut v6only = Spec::v6(13, IpAddr::V6(Ipv6Addr::LOCALHOST), 5173, tcps::LISTEN);
        v6only.v6only = true;
        let bound = Spec::v4(14, Ipv4Addr::UNSPECIFIED, 8080, tcps::CLOSED);
        let mut tw = Spec::v4(15, LO, 40000, tcps::TIME_WAIT);
        tw.faddr = v4(LO);
        tw.fport = 62893;
        // An IPv6 socket connected over IPv4: the addresses sit in the IPv4 slots.
        let mut mapped = Spec::v6(
            16,
            IpAddr::V6(Ipv6Addr::UNSPECIFIED),
            50000,
            tcps::ESTABLISHED,
        );
        mapped.vflag = INP_IPV4 | INP_IPV6;
        mapped.laddr = v4(LO);
        mapped.faddr = v4(LO);
        mapped.fport = 3000;
        let buf = list(&[listener, dual, v6only, bound, tw, mapped], true, 7, 7);
        let t = pcblist(&buf, true).expect("decodes");
        assert!(!t.truncated && !t.changed() && t.incomplete == 0, "{t:?}");
        assert_eq!(t.sockets.len(), 6);
        let l = &t.sockets[0];
        assert_eq!(
            (l.local, l.lport, l.tcp_state),
            (IpAddr::V4(LO), 62893, Some(tcps::LISTEN))
        );
        assert_eq!(
            (l.qlen, l.qlimit, l.uid, l.last_pid),
            (Some(3), Some(128), Some(501), Some(4579))
        );
        assert_eq!(l.v6only, None, "IPv4 sockets have no v6only");
        let d = &t.sockets[1];
        assert_eq!(
            (d.local, d.lport, d.v6only),
            (IpAddr::V6(Ipv6Addr::UNSPECIFIED), 3000, Some(false))
        );
        assert_eq!(t.sockets[2].v6only, Some(true));
        assert_eq!(t.sockets[2].local, IpAddr::V6(Ipv6Addr::LOCALHOST));
        let b = &t.sockets[3];
        assert_eq!(
            (b.tcp_state, b.lport),
            (Some(tcps::CLOSED), 8080),
            "bound-only"
        );
        let w = &t.sockets[4];
        assert_eq!(
            (w.tcp_state, w.remote, w.rport),
            (Some(tcps::TIME_WAIT), IpAddr::V4(LO), 62893)
        );
        let m = &t.sockets[5];
        assert_eq!(m.local, IpAddr::V6(LO.to_ipv6_mapped()), "IPv4-mapped");
        assert_eq!((m.remote, m.rport), (IpAddr::V6(LO.to_ipv6_mapped()), 3000));
    }

    #[test]
    fn udp_tables_have_no_tcp_records() {
        let s = Spec::v4(21, LO, 5353, 0);
        let t = pcblist(&list(std::slice::from_ref(&s), false, 1, 1), false).expect("decodes");
        assert_eq!(t.sockets.len(), 1);
        assert_eq!(t.sockets[0].tcp_state, None);
        // The same group read as TCP lacks its TCP record: left out, and counted.
        let t = pcblist(&list(&[s], false, 1, 1), true).expect("decodes");
        assert_eq!((t.sockets.len(), t.incomplete), (0, 1));
    }

    #[test]
    fn a_changed_generation_asks_for_a_new_read() {
        let t = pcblist(
            &list(&[Spec::v4(1, LO, 80, tcps::LISTEN)], true, 7, 8),
            true,
        )
        .expect("decodes");
        assert!(t.changed());
    }

    #[test]
    fn truncated_buffers_keep_the_whole_records_before_the_cut() {
        let specs = [
            Spec::v4(1, LO, 1001, tcps::LISTEN),
            Spec::v4(2, LO, 1002, tcps::LISTEN),
        ];
        let full = list(&specs, true, 3, 3);
        let one = xinpgen::SIZE + group(&specs[0], true).len();
        for cut in [one, one + 5, one + 120, full.len() - 8] {
            let t = pcblist(&full[..cut], true).expect("decodes");
            assert!(t.truncated, "cut at {cut}");
            assert_eq!(
                t.sockets.first().map(|p| p.lport),
                Some(1001),
                "cut at {cut}"
            );
            assert!(t.sockets.len() <= 2);
        }
        assert_eq!(pcblist(&full[..10], true), Err(PcbError::BadHeader));
        assert_eq!(pcblist(&[], true), Err(PcbError::BadHeader));
        // Every prefix decodes or fails cleanly.
        for n in 0..full.len() {
            let _ = pcblist(&full[..n], true);
        }
    }

    #[test]
    fn an_older_shorter_socket_record_gives_what_it_has() {
        // Before xso_filter_flags (and with it so_e_pid's neighbours) the record was shorter.
        let mut s = Spec::v4(5, LO, 631, tcps::LISTEN);
        s.xsocket_len = xsocket_n::FILTER_FLAGS;
        s.last_pid = 77;
        let t = pcblist(&list(&[s], true, 1, 1), true).expect("decodes");
        let p = &t.sockets[0];
        assert_eq!(
            (p.uid, p.last_pid, p.filter_flags),
            (Some(501), Some(77), None)
        );
    }

    #[test]
    fn socket_fdinfo_joins_on_the_generation_count() {
        let b = fdinfo(11, 62893, Some(tcps::LISTEN));
        let s = socket_fdinfo(&b).expect("decodes");
        assert_eq!(
            (s.gencnt, s.lport, s.tcp_state, s.protocol),
            (Some(11), Some(62893), Some(tcps::LISTEN), 6)
        );
        let u = socket_fdinfo(&fdinfo(21, 5353, None)).expect("decodes");
        assert_eq!((u.gencnt, u.tcp_state, u.protocol), (Some(21), None, 17));
        assert_eq!(
            socket_fdinfo(&b[..socket_fdinfo::SIZE - 1]),
            None,
            "only whole records"
        );
        // A unix socket has no PCB to join.
        let mut un = b.clone();
        un[socket_fdinfo::KIND..socket_fdinfo::KIND + 4].copy_from_slice(&3i32.to_le_bytes());
        assert_eq!(socket_fdinfo(&un).and_then(|s| s.gencnt), None);
    }

    #[test]
    fn procargs2_gives_the_executable_and_argv() {
        let mut b = 3i32.to_le_bytes().to_vec();
        b.extend(b"/usr/local/bin/node\0\0\0\0node\0server.js\0--port=3000\0PATH=/usr/bin\0");
        let a = procargs2(&b).expect("decodes");
        assert_eq!(a.exe, "/usr/local/bin/node");
        assert_eq!(a.argv, ["node", "server.js", "--port=3000"]);
        assert_eq!(a.env, ["PATH=/usr/bin"]);
        assert_eq!(launchd_label(&a.env), None);
        let env = [
            "HOME=/var/root".to_owned(),
            "XPC_SERVICE_NAME=com.example.api".to_owned(),
        ];
        assert_eq!(launchd_label(&env).as_deref(), Some("com.example.api"));
        assert_eq!(launchd_label(&["XPC_SERVICE_NAME=0".to_owned()]), None);
        // argc larger than what is there; a name that is not UTF-8.
        let mut b = 9i32.to_le_bytes().to_vec();
        b.extend(b"/x\0a\xff\0");
        assert_eq!(procargs2(&b).expect("decodes").argv, ["a\u{fffd}"]);
        assert_eq!(procargs2(&[1, 0]), None);
        assert_eq!(procargs2(&(-1i32).to_le_bytes()), None);
    }

    #[test]
    fn content_filters_are_noted() {
        let mut s = Spec::v4(9, LO, 3000, tcps::LISTEN);
        s.filter_flags = 0x04;
        let t = pcblist(&list(&[s], true, 1, 1), true).expect("decodes");
        let n = filter_note(&t.sockets[0], Proto::Tcp).expect("a note");
        assert!(
            n.contains("127.0.0.1:3000") && n.contains("content filter"),
            "{n}"
        );
        let plain = pcblist(
            &list(&[Spec::v4(9, LO, 3001, tcps::LISTEN)], true, 1, 1),
            true,
        )
        .expect("decodes");
        assert_eq!(filter_note(&plain.sockets[0], Proto::Tcp), None);
    }

    #[test]
    fn application_firewall_states() {
        assert_eq!(
            alf_notes("Firewall is disabled. (State = 0)", None),
            ["macOS Application Firewall: off"]
        );
        let n = alf_notes(
            "Firewall is enabled. (State = 1)",
            Some("Firewall is set to block all non-essential incoming connections (enabled)"),
        );
        assert_eq!(n.len(), 2, "{n:?}");
        assert!(n[0].contains("loopback is never filtered"));
        let n = alf_notes(
            "Firewall is enabled. (State = 1)",
            Some("Block all (disabled)"),
        );
        assert_eq!(n.len(), 1);
    }

    #[test]
    fn kinfo_proc_fields() {
        let b = kinfo(4579, 1, 501, SSTOP, 1_764_146_000, b"python3.11-long-name");
        let k = kinfo_proc(&b).expect("decodes");
        assert_eq!((k.pid, k.ppid, k.uid, k.ruid), (4579, 1, 501, 501));
        assert_eq!(state_letter(k.stat), 'T');
        assert_eq!(k.start, (1_764_146_000, 250_000));
        assert_eq!(k.comm, "python3.11-long-", "p_comm holds 16 characters");
        assert_eq!(kinfo_proc(&b[..100]), None);
    }

    mod props {
        use proptest::prelude::*;

        use super::super::*;
        use super::{Spec, list};

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(2000))]

            /// Any bytes: decoded or refused, never a panic, never more sockets than the
            /// buffer could hold.
            #[test]
            fn any_buffer(b in proptest::collection::vec(any::<u8>(), 0..2000), tcp in any::<bool>()) {
                if let Ok(t) = pcblist(&b, tcp) {
                    prop_assert!(t.sockets.len() <= b.len() / xinpcb_n::SIZE + 1);
                }
                let _ = socket_fdinfo(&b);
                let _ = procargs2(&b);
                let _ = kinfo_proc(&b);
            }

            /// A real table with one byte changed: still no panic.
            #[test]
            fn damaged_tables(at in 0usize..2000, v in any::<u8>(), n in 1usize..4) {
                let specs: Vec<Spec> = (0..n)
                    .map(|i| Spec::v4(i as u64, std::net::Ipv4Addr::LOCALHOST, 1000 + i as u16, tcps::LISTEN))
                    .collect();
                let mut b = list(&specs, true, 1, 1);
                let at = at % b.len();
                b[at] = v;
                let _ = pcblist(&b, true);
            }
        }
    }

    /// The seam: a macOS table, decoded from fixtures, goes through the same inventory and
    /// `why` rules as Linux's, and comes out as the same answers.
    mod seam {
        use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

        use super::super::fixtures::{Spec, fdinfo, kinfo, pcblist as list};
        use super::super::*;
        use crate::diagnose::rules::fixture::{attempt, facts};
        use crate::diagnose::{Mode, Outcome};
        use crate::inventory::{Query, assemble_with};
        use crate::sys::Raw;
        use crate::users::Users;

        fn snapshot() -> crate::Snapshot {
            // A node server on [::1]:3000 only, a postgres on 127.0.0.1:5432 held by two
            // processes (a prefork), one listener of another user, a TIME_WAIT.
            let mut node = Spec::v6(31, IpAddr::V6(Ipv6Addr::LOCALHOST), 3000, tcps::LISTEN);
            node.v6only = true;
            let pg = Spec::v4(32, Ipv4Addr::LOCALHOST, 5432, tcps::LISTEN);
            let mut other = Spec::v4(33, Ipv4Addr::UNSPECIFIED, 8080, tcps::LISTEN);
            // Neither this test's user nor root: another user.
            other.uid = crate::sys::current_uid().unwrap_or(0).wrapping_add(7777);
            other.last_pid = 88;
            let tw = Spec::v4(34, Ipv4Addr::LOCALHOST, 51000, tcps::TIME_WAIT);
            let t =
                pcblist(&list(&[node, pg, other.clone(), tw], true, 1, 1), true).expect("decodes");
            let fds = [
                (700, 21, fdinfo(31, 3000, Some(tcps::LISTEN))),
                (801, 5, fdinfo(32, 5432, Some(tcps::LISTEN))),
                (802, 5, fdinfo(32, 5432, Some(tcps::LISTEN))),
            ];
            let holders: Vec<_> = fds
                .iter()
                .map(|(pid, fd, b)| (*pid, *fd, socket_fdinfo(b).expect("fdinfo")))
                .collect();
            let mut raw = Raw {
                sockets: t.sockets.iter().map(|p| to_socket(p, Proto::Tcp)).collect(),
                holders: join(&holders),
                ..Raw::default()
            };
            for s in &mut raw.sockets {
                if s.local.port == 8080 {
                    s.owner_note = last_pid_hint(&other_pcb(&t));
                }
            }
            let q = Query {
                states: crate::StateSet::all(),
                ..Query::listeners()
            };
            // The processes, from their kinfo_proc and KERN_PROCARGS2 records.
            let read = |pids: &[u32]| -> Vec<Process> {
                pids.iter()
                    .map(|&pid| {
                        let (comm, argv): (&[u8], &[u8]) = if pid == 700 {
                            (b"node", b"/usr/local/bin/node\0node\0server.js\0")
                        } else {
                            (b"postgres", b"/opt/pg/bin/postgres\0postgres\0-D\0/data\0")
                        };
                        let k = kinfo_proc(&kinfo(pid as i32, 1, 501, 2, 1_764_146_000, comm))
                            .expect("kinfo");
                        let count = argv.split(|&c| c == 0).count() as i32 - 2;
                        let mut pa = count.to_le_bytes().to_vec();
                        pa.extend_from_slice(argv);
                        process(&k, procargs2(&pa), None, Some("dev".into()))
                    })
                    .collect()
            };
            assemble_with(
                &q,
                raw,
                &Users::parse("root:x:0:0::/:/bin/sh\n"),
                false,
                read,
            )
        }

        fn other_pcb(t: &PcbList) -> Pcb {
            t.sockets
                .iter()
                .find(|p| p.lport == 8080)
                .cloned()
                .expect("8080")
        }

        #[test]
        fn the_inventory_reads_a_macos_table() {
            let snap = snapshot();
            let on = |port: u16| {
                snap.sockets
                    .iter()
                    .find(|s| s.local.port == port)
                    .unwrap_or_else(|| panic!("port {port}"))
            };
            let node = on(3000);
            assert_eq!(
                node.owners,
                vec![Owner {
                    pid: 700,
                    fd: Some(21)
                }]
            );
            let p = snap.process(700).expect("node's process");
            assert_eq!(
                (p.name.as_str(), p.ppid, p.state.as_str()),
                ("node", 1, "R")
            );
            assert_eq!(p.cmdline, ["node", "server.js"]);
            assert_eq!(p.exe.as_deref(), Some("/usr/local/bin/node"));
            assert_eq!(
                (node.v6only, node.exposure),
                (Some(true), Exposure::Loopback)
            );
            let pg = on(5432);
            assert_eq!(
                pg.owners.iter().map(|o| o.pid).collect::<Vec<_>>(),
                [801, 802],
                "every holder of a shared socket"
            );
            let other = on(8080);
            assert!(other.owners.is_empty());
            let hint = other.owner_note.as_deref().unwrap_or_default();
            assert!(
                hint.contains("owner hidden") && hint.contains("probably pid 88"),
                "{hint}"
            );
            assert_eq!(other.exposure, Exposure::AllInterfaces);
            let tw = on(51000);
            assert_eq!(tw.state, State::TimeWait);
            assert!(
                tw.owner_note
                    .as_deref()
                    .is_some_and(|n| n.starts_with("time-wait")),
                "{:?}",
                tw.owner_note
            );
        }

        #[test]
        fn why_explains_a_macos_family_mismatch() {
            let snap = snapshot();
            let mut f = facts("localhost", 3000, Mode::Connect);
            f.resolved = Ok(vec!["127.0.0.1".parse().expect("ip")]);
            attempt(&mut f, "127.0.0.1", Outcome::Refused);
            f.port_sockets = snap
                .sockets
                .iter()
                .filter(|s| s.local.port == 3000)
                .cloned()
                .collect();
            f.processes = snap.processes.clone();
            let causes = crate::diagnose::rules::run(&f);
            assert!(
                causes.iter().any(|c| c.id == "family-mismatch"),
                "{causes:?}"
            );
        }
    }
}
