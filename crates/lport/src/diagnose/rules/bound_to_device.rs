//! `bound-to-device`: the listener is bound to one interface with `SO_BINDTODEVICE` (`ss`
//! shows `%dev`), and connections from this machine arrive on the loopback interface, so
//! they are refused although a wildcard listener is there.

use super::cause;
use crate::diagnose::{Cause, Facts, Mode, Outcome, Severity};

pub(super) fn check(f: &Facts) -> Option<Cause> {
    if f.target.mode != Mode::Connect || f.connected() {
        return None;
    }
    let refused: Vec<_> = f
        .attempts
        .iter()
        .filter(|a| a.outcome == Outcome::Refused)
        .collect();
    let lo = crate::sys::interface_index("lo").or_else(|| crate::sys::interface_index("lo0"));
    let (s, a) = f.host_listeners().find_map(|s| {
        let dev = s.device?;
        if Some(dev) == lo {
            return None;
        }
        let a = refused.iter().find(|a| s.accepts_addr(a.addr))?;
        Some((s, a))
    })?;
    let dev = s.device?;
    let name = crate::sys::interface_name(dev).unwrap_or_else(|| format!("interface {dev}"));
    cause(
        "bound-to-device",
        Severity::Error,
        format!(
            "{} listens on {} only on interface {name} (SO_BINDTODEVICE): connections from this machine arrive on the loopback interface and are refused",
            f.owner_text(s),
            s.local
        ),
        vec![
            format!(
                "{} is bound to device {name} (ss shows {}%{name})",
                s.local, s.local
            ),
            a.evidence(),
        ],
        format!(
            "reach it through {name} (an address of that interface, from the network it is on), or start it without binding to the device (nginx, HAProxy: the bind's interface option; systemd sockets: BindToDevice=; an app: its SO_BINDTODEVICE / --interface setting)"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::super::fixture::{attempt, facts, listener};
    use super::*;

    #[test]
    fn a_listener_bound_to_another_interface() {
        let mut f = facts("127.0.0.1", 8080, Mode::Connect);
        attempt(&mut f, "127.0.0.1", Outcome::Refused);
        let i = listener(&mut f, "0.0.0.0", 8080, 42, true);
        assert!(check(&f).is_none(), "no device");
        f.port_sockets[i].device = Some(9999);
        let c = check(&f).expect("cause");
        assert!(c.summary.contains("interface 9999"), "{c:?}");
        assert!(c.fix.contains("BindToDevice"), "{c:?}");
    }
}
