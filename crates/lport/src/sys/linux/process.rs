//! Process details from `/proc/<pid>`: full name, exe, cmdline, uid, state, start time,
//! parent, and the systemd unit or container from the cgroup. Only processes that hold a
//! listed socket are read, so this is never the hot path.
//!
//! Every file is read as bytes and decoded lossily: any user can give a process a name
//! that is not UTF-8, and a strict read would make that process vanish from every listing.

use std::sync::OnceLock;

use crate::inventory::cgroup_names;
use crate::model::Process;

/// Reads many processes, spread over the cores; those that exited are left out.
pub(crate) fn processes(pids: &[u32]) -> Vec<Process> {
    let threads = std::thread::available_parallelism()
        .map_or(1, std::num::NonZero::get)
        .clamp(1, 8)
        .min(pids.len().div_ceil(32).max(1));
    if threads == 1 {
        return pids.iter().filter_map(|&p| process(p)).collect();
    }
    let per = pids.len().div_ceil(threads);
    std::thread::scope(|s| {
        let handles: Vec<_> = pids
            .chunks(per)
            .map(|chunk| {
                s.spawn(move || chunk.iter().filter_map(|&p| process(p)).collect::<Vec<_>>())
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect()
    })
}

/// Reads one process; `None` when it exited or `/proc/<pid>/stat` is unreadable.
pub(crate) fn process(pid: u32) -> Option<Process> {
    let base = format!("/proc/{pid}");
    let stat = super::read_text(&format!("{base}/stat"))?;
    let st = parse_stat(&stat)?;
    // The owner of /proc/<pid> is the process's effective uid; it costs one stat, where
    // /proc/<pid>/status makes the kernel gather memory statistics first.
    let uid = std::fs::metadata(&base).map_or(0, |m| std::os::unix::fs::MetadataExt::uid(&m));
    let cmdline = std::fs::read(format!("{base}/cmdline"))
        .map(|b| parse_cmdline(&b))
        .unwrap_or_default();
    let exe = std::fs::read_link(format!("{base}/exe")).ok().map(|p| {
        p.to_string_lossy()
            .trim_end_matches(" (deleted)")
            .to_owned()
    });
    let cg = super::read_text(&format!("{base}/cgroup")).unwrap_or_default();
    let (unit, container) = super::cgroup::process_cgroup(&cg).map_or((None, None), cgroup_names);
    let start_time = boot_time().map(|boot| {
        let ticks = rustix::param::clock_ticks_per_second().max(1);
        crate::model::rfc3339(boot + st.start_ticks / ticks)
    });
    Some(Process {
        pid,
        name: full_name(&st.comm, &cmdline, exe.as_deref()),
        exe,
        cmdline,
        uid: Some(uid),
        user: None,
        state: st.state.to_string(),
        start_time,
        ppid: st.ppid,
        unit,
        container,
        start_ticks: Some(st.start_ticks),
        container_info: None,
    })
}

/// The start time of a process in clock ticks since boot, or `None` when it is gone.
pub(crate) fn start_ticks(pid: u32) -> Option<u64> {
    let stat = super::read_text(&format!("/proc/{pid}/stat"))?;
    parse_stat(&stat).map(|s| s.start_ticks)
}

/// True while the process exists and is not a zombie.
pub(crate) fn is_alive(pid: u32) -> bool {
    super::read_text(&format!("/proc/{pid}/stat"))
        .and_then(|s| parse_stat(&s))
        .is_some_and(|s| s.state != 'Z' && s.state != 'X')
}

/// True for kernel threads (`PF_KTHREAD` in the flags field of `/proc/<pid>/stat`).
pub(crate) fn is_kernel_thread(pid: u32) -> bool {
    const PF_KTHREAD: u64 = 0x0020_0000;
    let Some(stat) = super::read_text(&format!("/proc/{pid}/stat")) else {
        return false;
    };
    let Some(close) = stat.rfind(')') else {
        return false;
    };
    // After the name: state, ppid, pgrp, session, tty_nr, tpgid, flags.
    stat[close + 1..]
        .split_whitespace()
        .nth(6)
        .and_then(|f| f.parse::<u64>().ok())
        .is_some_and(|flags| flags & PF_KTHREAD != 0)
}

/// The fields of `/proc/<pid>/stat` lport uses.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Stat {
    pub(crate) comm: String,
    pub(crate) state: char,
    pub(crate) ppid: u32,
    pub(crate) start_ticks: u64,
}

/// Parses `/proc/<pid>/stat`. The name sits in parentheses and may itself hold spaces and
/// `)`, so fields are counted from the last `)`.
pub(crate) fn parse_stat(s: &str) -> Option<Stat> {
    let open = s.find('(')?;
    let close = s.rfind(')')?;
    let comm = s.get(open + 1..close)?.to_owned();
    let mut f = s.get(close + 1..)?.split_whitespace();
    let state = f.next()?.chars().next()?;
    let ppid = f.next()?.parse().ok()?;
    // Fields 5..=21 (pgrp .. itrealvalue) come before starttime, field 22.
    let start_ticks = f.nth(17)?.parse().ok()?;
    Some(Stat {
        comm,
        state,
        ppid,
        start_ticks,
    })
}

/// NUL-separated arguments; a trailing NUL ends the last one. A process that rewrote its
/// title (nginx's `nginx: worker process`, setproctitle) leaves the rest of the old argv
/// area as NULs: they are no arguments (`ps` shows the title alone too).
pub(crate) fn parse_cmdline(b: &[u8]) -> Vec<String> {
    let end = b.iter().rposition(|&c| c != 0).map_or(0, |i| i + 1);
    let b = &b[..end];
    if b.is_empty() {
        return Vec::new();
    }
    b.split(|&c| c == 0)
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect()
}

/// The program name without `comm`'s 15-character cut: when `comm` looks truncated, the
/// basename of argv\[0\] or of the executable that starts with it.
pub(crate) fn full_name(comm: &str, cmdline: &[String], exe: Option<&str>) -> String {
    if comm.len() < 15 {
        return comm.to_owned();
    }
    let base = |p: &str| p.rsplit('/').next().unwrap_or(p).to_owned();
    let argv0 = cmdline
        .first()
        .map(|a| base(a.split(' ').next().unwrap_or(a)));
    [argv0, exe.map(base)]
        .into_iter()
        .flatten()
        .find(|n| n.starts_with(comm))
        .unwrap_or_else(|| comm.to_owned())
}

fn boot_time() -> Option<u64> {
    static BOOT: OnceLock<Option<u64>> = OnceLock::new();
    *BOOT.get_or_init(|| {
        let s = super::read_text("/proc/stat")?;
        s.lines()
            .find_map(|l| l.strip_prefix("btime "))
            .and_then(|v| v.trim().parse().ok())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_with_awkward_names() {
        let s = "4579 (my (weird) app) S 4379 4579 4379 0 -1 4194304 100 0 0 0 1 2 0 0 20 0 1 0 98765 1000 10 18446744073709551615\n";
        let st = parse_stat(s).expect("stat");
        assert_eq!(st.comm, "my (weird) app");
        assert_eq!((st.state, st.ppid, st.start_ticks), ('S', 4379, 98765));
        assert_eq!(parse_stat("garbage"), None);
    }

    #[test]
    fn status_cmdline_and_names() {
        assert_eq!(
            parse_cmdline(b"python3\0app.py\0"),
            vec!["python3", "app.py"]
        );
        assert_eq!(parse_cmdline(b""), Vec::<String>::new());
        assert_eq!(
            parse_cmdline(b"nginx: worker process\0\0\0\0\0\0"),
            vec!["nginx: worker process"]
        );
        assert_eq!(parse_cmdline(b"a\0\0b\0"), vec!["a", "", "b"]);
        let args = vec!["/usr/lib/jvm/bin/java-with-long-name".to_owned()];
        assert_eq!(
            full_name("java-with-long-", &args, None),
            "java-with-long-name"
        );
        assert_eq!(full_name("short", &args, None), "short");
        assert_eq!(
            full_name(
                "systemd-resolve",
                &[],
                Some("/usr/lib/systemd/systemd-resolved")
            ),
            "systemd-resolved"
        );
    }

    #[test]
    fn reads_this_process() {
        let me = process(std::process::id()).expect("self");
        assert_eq!(me.pid, std::process::id());
        assert!(!me.cmdline.is_empty());
        assert!(me.start_time.is_some());
    }
}
