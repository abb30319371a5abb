//! `no-response`: the connection is accepted but nothing ever comes back — not on its
//! own, not to an HTTP request.

use super::cause;
use crate::diagnose::{Cause, Facts, Severity};
use crate::probe::Greeting;

pub(super) fn check(f: &Facts) -> Option<Cause> {
    if !f.connected() || f.greeting != Some(Greeting::Silent) || f.http_answered != Some(false) {
        return None;
    }
    if f.service.as_ref().is_some_and(|s| s.name != "unknown")
        || super::listener_stopped(f)
        || super::server_out_of_fds::applies(f)
        || super::tls_version::applies(f)
    {
        // A stopped listener is silent for a reason `process-stopped` gives.
        return None;
    }
    let http = matches!(f.target.scheme.as_deref(), Some("http" | "https"));
    cause(
        "no-response",
        if http {
            Severity::Error
        } else {
            Severity::Warning
        },
        format!(
            "port {} accepts connections but never answers",
            f.target.port
        ),
        vec!["silent after connecting, and no reply to an HTTP request within the wait".into()],
        "the server is hung or busy (look at its threads, a deadlock, a blocked event loop), or it speaks a protocol that waits for a specific first message",
    )
}

#[cfg(test)]
mod tests {
    use super::super::fixture::{attempt, facts};
    use super::*;
    use crate::diagnose::{Mode, Outcome};

    #[test]
    fn silent_to_everything() {
        let mut f = facts("localhost", 3000, Mode::Connect);
        attempt(&mut f, "127.0.0.1", Outcome::Connected);
        f.greeting = Some(Greeting::Silent);
        f.http_answered = Some(false);
        assert_eq!(check(&f).map(|c| c.id), Some("no-response"));
        f.http_answered = Some(true);
        assert!(check(&f).is_none());
    }
}
