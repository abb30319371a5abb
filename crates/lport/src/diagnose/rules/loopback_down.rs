//! `loopback-down`: the loopback interface is down (a fresh network namespace, a container
//! started oddly), so connections to 127.0.0.1 and ::1 fail with "network unreachable".

use super::cause;
use crate::diagnose::{Cause, Facts, Mode, Outcome, Severity};

pub(super) fn check(f: &Facts) -> Option<Cause> {
    if f.target.mode != Mode::Connect || !f.loopback_down {
        return None;
    }
    let failed: Vec<_> = f
        .attempts
        .iter()
        .filter(|a| a.addr.is_loopback() && a.outcome != Outcome::Connected)
        .collect();
    let first = failed.first()?;
    let mut evidence = vec!["lo is down in this network namespace (its flags lack UP)".to_owned()];
    evidence.extend(failed.iter().map(|a| a.evidence()));
    cause(
        "loopback-down",
        Severity::Error,
        format!(
            "the loopback interface is down: nothing on this machine can reach {}",
            first.addr
        ),
        evidence,
        "bring it up: ip link set lo up (in a container or network namespace: ip netns exec NAME ip link set lo up, or start the container with its default network setup)",
    )
}

#[cfg(test)]
mod tests {
    use super::super::fixture::{attempt, facts};
    use super::*;

    #[test]
    fn unreachable_loopback() {
        let mut f = facts("127.0.0.1", 8080, Mode::Connect);
        attempt(&mut f, "127.0.0.1", Outcome::Unreachable);
        assert!(check(&f).is_none(), "lo is up");
        f.loopback_down = true;
        let c = check(&f).expect("cause");
        assert!(c.fix.contains("ip link set lo up"), "{c:?}");
        assert!(
            c.evidence
                .iter()
                .any(|e| e.contains("127.0.0.1:8080 -> unreachable")),
            "{c:?}"
        );
    }
}
