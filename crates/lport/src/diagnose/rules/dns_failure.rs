//! `dns-failure`: the name does not resolve.

use super::cause;
use crate::diagnose::{Cause, Facts, Severity};

pub(super) fn check(f: &Facts) -> Option<Cause> {
    let err = f.resolved.as_ref().err()?;
    cause(
        "dns-failure",
        Severity::Error,
        format!("{} does not resolve to an address", f.target.host),
        vec![err.clone()],
        format!(
            "check the name; for a local service use 127.0.0.1 or ::1, or add {} to /etc/hosts",
            f.target.host
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::super::fixture::facts;
    use super::*;
    use crate::diagnose::Mode;

    #[test]
    fn names_the_resolution_error() {
        let mut f = facts("nosuch.invalid", 80, Mode::Connect);
        assert!(check(&f).is_none());
        f.resolved = Err("nosuch.invalid does not resolve: failed to lookup".into());
        assert_eq!(check(&f).map(|c| c.id), Some("dns-failure"));
    }
}
