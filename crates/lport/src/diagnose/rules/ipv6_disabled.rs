//! `ipv6-disabled`: the name resolves to an IPv6 address but IPv6 is off on loopback.

use super::cause;
use crate::diagnose::{Cause, Facts, Mode, Outcome, Severity};

pub(super) fn check(f: &Facts) -> Option<Cause> {
    if f.target.mode != Mode::Connect || !f.ipv6_lo_disabled {
        return None;
    }
    let a = f.attempts.iter().find(|a| {
        a.addr.is_ipv6()
            && matches!(
                a.outcome,
                Outcome::Unreachable | Outcome::AddrUnavailable | Outcome::Error
            )
    })?;
    cause(
        "ipv6-disabled",
        if f.connected() {
            Severity::Warning
        } else {
            Severity::Error
        },
        format!(
            "IPv6 is disabled on loopback, so {} cannot be reached",
            a.addr
        ),
        vec![
            "net.ipv6.conf.lo.disable_ipv6 = 1 (or IPv6 is off entirely)".into(),
            format!("connect to [{}]:{} -> {:?}", a.addr, a.port, a.outcome).to_lowercase(),
        ],
        "use 127.0.0.1, or re-enable IPv6 on lo: sysctl -w net.ipv6.conf.lo.disable_ipv6=0",
    )
}

#[cfg(test)]
mod tests {
    use super::super::fixture::{attempt, facts};
    use super::*;

    #[test]
    fn unreachable_v6_with_ipv6_off() {
        let mut f = facts("localhost", 80, Mode::Connect);
        attempt(&mut f, "::1", Outcome::Unreachable);
        assert!(check(&f).is_none());
        f.ipv6_lo_disabled = true;
        assert_eq!(check(&f).map(|c| c.id), Some("ipv6-disabled"));
    }
}
