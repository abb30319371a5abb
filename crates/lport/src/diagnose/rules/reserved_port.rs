//! `reserved-port` (--listen): the port is in an excluded range nobody may bind (Windows:
//! Hyper-V, WSL, Docker), in `ip_local_reserved_ports`, or inside the ephemeral range where
//! an outgoing connection may take it first.

use super::cause;
use crate::diagnose::{Cause, Facts, Mode, Severity};

pub(super) fn check(f: &Facts) -> Option<Cause> {
    if f.target.mode != Mode::Listen {
        return None;
    }
    let port = f.target.port;
    let eph = &f.policy.ephemeral;
    let words = &f.policy.words;
    if let Some(r) = f.policy.excluded_range(port) {
        let (a, b) = (r.start(), r.end());
        return cause(
            "reserved-port",
            Severity::Error,
            format!(
                "port {port} is in the excluded port range {a}-{b}: nobody can bind it, though no socket holds it (bind fails with WSAEACCES, error 10013)"
            ),
            vec![format!("{a}-{b} is listed by {}", words.reserved_setting)],
            format!(
                "pick a port outside {a}-{b} (lport free does). Hyper-V, WSL and Docker reserve such ranges through WinNAT: as administrator, `net stop winnat` then `net start winnat` releases the dynamic ones; to keep a port for yourself afterwards: {}",
                words
                    .reserve(port)
                    .unwrap_or_else(|| "reserve it before they start".into())
            ),
        );
    }
    if f.policy.is_reserved(port) {
        return cause(
            "reserved-port",
            Severity::Info,
            format!(
                "port {port} is reserved: the kernel never hands it out as a source port, so it stays free for a server"
            ),
            vec![format!("{port} is in {}", words.reserved_setting)],
            "nothing to do: this is what you want for a server port",
        );
    }
    if !eph.contains(&port) {
        return None;
    }
    let (a, b) = (eph.start(), eph.end());
    cause(
        "reserved-port",
        Severity::Warning,
        format!(
            "port {port} is inside the ephemeral range {a}-{b}: an outgoing connection can take it and make the server's bind fail"
        ),
        vec![format!("{} = {a} {b}", words.ephemeral_setting)],
        match words.reserve(port) {
            Some(cmd) => {
                format!("pick a port outside {a}-{b} (lport free does), or reserve it: {cmd}")
            }
            None => format!("pick a port outside {a}-{b} (lport free does)"),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::super::fixture::facts;
    use super::*;

    #[test]
    fn ephemeral_and_reserved() {
        let mut f = facts("0.0.0.0", 40000, Mode::Listen);
        assert_eq!(check(&f).map(|c| c.severity), Some(Severity::Warning));
        f.policy.reserved = vec![40000..=40000];
        assert_eq!(check(&f).map(|c| c.severity), Some(Severity::Info));
        let f = facts("0.0.0.0", 3000, Mode::Listen);
        assert!(check(&f).is_none());
    }

    #[test]
    fn windows_excluded_ranges_and_wording() {
        let mut f = facts("127.0.0.1", 50010, Mode::Listen);
        f.policy.ephemeral = 49152..=65535;
        f.policy.excluded = vec![50000..=50059];
        f.policy.words = crate::ports::PolicyWords::WINDOWS;
        let c = check(&f).expect("a cause");
        assert_eq!(c.severity, Severity::Error);
        assert!(
            c.summary.contains("50000-50059") && c.summary.contains("10013"),
            "{c:?}"
        );
        assert!(c.evidence[0].contains("excludedportrange"), "{c:?}");
        assert!(
            c.fix.contains("winnat") && c.fix.contains("startport=50010"),
            "{c:?}"
        );
        // Outside the excluded range but in the dynamic range: Windows words.
        f.target.port = 50100;
        let c = check(&f).expect("a cause");
        assert_eq!(c.severity, Severity::Warning);
        assert!(
            c.evidence[0].starts_with("netsh int ipv4 show dynamicport tcp = 49152 65535"),
            "{c:?}"
        );
        assert!(c.fix.contains("startport=50100"), "{c:?}");
        // macOS has no command to reserve one.
        f.policy.words = crate::ports::PolicyWords::MACOS;
        f.policy.excluded.clear();
        let c = check(&f).expect("a cause");
        assert!(!c.fix.contains("reserve it"), "{c:?}");
    }
}
