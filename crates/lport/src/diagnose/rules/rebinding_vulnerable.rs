//! `rebinding-vulnerable`: an HTTP service answers a request for a foreign host name as it
//! answers `localhost`, so a web page can reach it through DNS rebinding. A warning where
//! that exposes something (debuggers, admin APIs, stores without authentication); for a
//! plain dev server, where a page could at most read its pages, a note.

use super::cause;
use crate::diagnose::{Cause, Facts, Severity};

/// Services a page must never reach: they run code, administer the machine or hand out
/// data without a password.
const SENSITIVE: &[&str] = &["devtools", "docker", "jupyter", "elasticsearch"];

pub(super) fn check(f: &Facts) -> Option<Cause> {
    let s = f.service.as_ref()?;
    let foreign = s.detail.get("foreign_host_status")?.as_u64()?;
    // A bare redirect or an empty reply is no leak: only content a page could read is.
    let content = s.detail.get("foreign_host_content")?.as_bool()?;
    if !content {
        return None;
    }
    let severity = if SENSITIVE.contains(&s.name.as_str()) {
        Severity::Warning
    } else {
        Severity::Info
    };
    cause(
        "rebinding-vulnerable",
        severity,
        format!(
            "port {} answers any Host name: DNS rebinding lets web pages read it",
            f.target.port
        ),
        vec![
            format!(
                "GET / with Host: localhost:{} -> HTTP {}",
                f.target.port, s.detail["status"]
            ),
            format!(
                "GET / with Host: rebind-check.invalid:{} -> HTTP {foreign}",
                f.target.port
            ),
        ],
        "make the server check the Host header (allow only localhost, 127.0.0.1, [::1]; Vite: server.allowedHosts, webpack-dev-server: allowedHosts) and require a token for anything sensitive",
    )
}

#[cfg(test)]
mod tests {
    use super::super::fixture::facts;
    use super::*;
    use crate::diagnose::Mode;
    use crate::probe::Service;

    #[test]
    fn foreign_host_answered() {
        let mut f = facts("localhost", 8000, Mode::Connect);
        let mut s = Service {
            name: "http".into(),
            product: None,
            version: None,
            detail: serde_json::json!({"status": 200, "foreign_host_status": 200,
                "foreign_host_content": true}),
            tls: None,
        };
        f.service = Some(s.clone());
        let c = check(&f).expect("cause");
        assert_eq!(c.id, "rebinding-vulnerable");
        assert_eq!(c.severity, Severity::Info, "a plain dev server: a note");
        s.name = "jupyter".into();
        f.service = Some(s.clone());
        assert_eq!(check(&f).map(|c| c.severity), Some(Severity::Warning));
        s.name = "http".into();
        s.detail["foreign_host_status"] = 403.into();
        s.detail["foreign_host_content"] = false.into();
        f.service = Some(s.clone());
        assert!(check(&f).is_none());
        // Regression: a 302 with an empty body was flagged as readable through rebinding.
        s.detail["foreign_host_status"] = 302.into();
        f.service = Some(s);
        assert!(check(&f).is_none());
    }
}
