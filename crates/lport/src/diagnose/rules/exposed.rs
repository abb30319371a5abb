//! `exposed`: a listener on the port is reachable beyond loopback (also when the connection
//! works: that is often a surprise, for databases and dev servers alike).

use super::cause;
use crate::diagnose::{Cause, Facts, Severity};
use crate::model::Exposure;

pub(super) fn check(f: &Facts) -> Option<Cause> {
    let s = f
        .host_listeners()
        .find(|s| matches!(s.exposure, Exposure::AllInterfaces | Exposure::Specific))?;
    let how = if s.exposure == Exposure::AllInterfaces {
        "every interface"
    } else {
        "a non-loopback address"
    };
    cause(
        "exposed",
        Severity::Warning,
        format!(
            "{} listens on {} ({how}): other machines can reach it",
            f.owner_text(s),
            s.local
        ),
        std::iter::once(format!("{} is bound to {}", s.local, s.local.addr))
            .chain(f.firewall_notes.iter().cloned())
            .collect(),
        "if only this machine should use it, bind 127.0.0.1 (and ::1); otherwise make sure it requires authentication and a firewall limits who can reach it",
    )
}

#[cfg(test)]
mod tests {
    use super::super::fixture::{facts, listener};
    use super::*;
    use crate::diagnose::Mode;

    #[test]
    fn wildcard_listeners() {
        let mut f = facts("localhost", 5432, Mode::Connect);
        listener(&mut f, "127.0.0.1", 5432, 3, true);
        assert!(check(&f).is_none());
        listener(&mut f, "0.0.0.0", 5432, 3, true);
        assert_eq!(check(&f).map(|c| c.id), Some("exposed"));
    }
}
