//! `address-not-local` (--listen): the address is on no interface of this machine.

use super::cause;
use crate::diagnose::{Cause, Facts, Mode, Severity};

pub(super) fn check(f: &Facts) -> Option<Cause> {
    if f.target.mode != Mode::Listen {
        return None;
    }
    let b = f.binds.iter().find(|b| {
        b.error
            .as_ref()
            .is_some_and(|(k, _)| *k == std::io::ErrorKind::AddrNotAvailable)
    })?;
    cause(
        "address-not-local",
        Severity::Error,
        format!(
            "{} is not an address of this machine, so nothing can listen on it",
            b.addr.ip()
        ),
        vec![format!(
            "bind {} -> cannot assign requested address",
            b.addr
        )],
        "listen on an address this machine has (ip -br addr), on 127.0.0.1, or on 0.0.0.0; an address that appears later (a VPN) needs IP_FREEBIND or net.ipv4.ip_nonlocal_bind=1",
    )
}

#[cfg(test)]
mod tests {
    use super::super::fixture::facts;
    use super::*;
    use crate::diagnose::facts::BindTry;

    #[test]
    fn a_foreign_address() {
        let mut f = facts("192.0.2.1", 3000, Mode::Listen);
        f.binds.push(BindTry {
            addr: "192.0.2.1:3000".parse().expect("addr"),
            error: Some((std::io::ErrorKind::AddrNotAvailable, "x".into())),
        });
        assert_eq!(check(&f).map(|c| c.id), Some("address-not-local"));
    }
}
