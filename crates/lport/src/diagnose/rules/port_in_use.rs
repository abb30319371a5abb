//! `port-in-use` (--listen): binding fails because another socket holds the port — a
//! listener, a socket bound without listening, or a connection using it as source port.

use super::cause;
use crate::diagnose::{Cause, Facts, Severity};

pub(super) fn check(f: &Facts) -> Option<Cause> {
    let failed = super::bind_in_use(f)?;
    // Held only as the source port of outgoing connections: `source-port-collision`.
    if super::source_port_collision::clients_only(f, failed) {
        return None;
    }
    let holders: Vec<String> = super::bind_holders(f, failed)
        .map(|s| {
            if s.state == crate::model::State::TimeWait {
                return format!(
                    "a connection in TIME_WAIT (no process holds it) on {}",
                    s.local
                );
            }
            let how = match s.state {
                crate::model::State::Listen => "listens on".to_owned(),
                crate::model::State::Bound => "is bound (not listening) to".to_owned(),
                crate::model::State::Unconn => "has a UDP socket on".to_owned(),
                st => format!("has a {st} connection from"),
            };
            format!("{} {how} {}", f.owner_text(s), s.local)
        })
        .collect();
    let first = holders
        .first()
        .cloned()
        .unwrap_or_else(|| "another socket".into());
    let mut evidence = vec![format!("bind {} -> address already in use", failed.addr)];
    evidence.extend(holders);
    cause(
        "port-in-use",
        Severity::Error,
        format!("port {} is taken: {first}", f.target.port),
        evidence,
        format!(
            "stop that process (lport kill {p} shows it first), pick another port (lport free), or, for TIME_WAIT only, set SO_REUSEADDR",
            p = f.target.port
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::super::fixture::{facts, listener};
    use super::*;
    use crate::diagnose::Mode;
    use crate::diagnose::facts::BindTry;

    #[test]
    fn names_the_holder() {
        let mut f = facts("0.0.0.0", 3000, Mode::Listen);
        listener(&mut f, "127.0.0.1", 3000, 77, true);
        assert!(check(&f).is_none(), "no failed bind, no finding");
        f.binds.push(BindTry {
            addr: "0.0.0.0:3000".parse().expect("addr"),
            error: Some((std::io::ErrorKind::AddrInUse, "in use".into())),
        });
        let c = check(&f).expect("cause");
        assert!(
            c.summary
                .contains("node (pid 77) listens on 127.0.0.1:3000"),
            "{}",
            c.summary
        );
    }
}
