//! `http-status`: the user asked for an http(s):// URL with a path and the server answers
//! it with an error status (an error: the URL fails) (4xx, or 5xx other than the proxy statuses `bad-gateway` explains): it is
//! reachable, and that URL still fails, as a browser or `curl` would find.

use super::cause;
use crate::diagnose::{Cause, Facts, Severity};

pub(super) fn check(f: &Facts) -> Option<Cause> {
    if !matches!(f.target.scheme.as_deref(), Some("http" | "https")) {
        return None;
    }
    let s = f.service.as_ref()?;
    let status = s.detail.get("status")?.as_u64()?;
    if status < 400 || (502..=504).contains(&status) {
        return None;
    }
    // Only a path the user named: `/` (or none) asks about the server, and many answer
    // their root with 404 or 403 (an API, nginx without an index) while working.
    let path = s.detail.get("path").and_then(serde_json::Value::as_str)?;
    let port = f.target.port;
    let (meaning, fix) = match status {
        400 => (
            "Bad Request",
            "the server rejected the request itself; its log says what it expected",
        ),
        401 => (
            "Unauthorized",
            "it needs credentials: send them (curl -u USER or an Authorization header)",
        ),
        403 => (
            "Forbidden",
            "the server refuses this path to this client: its access rules (or the file's permissions under its root) decide",
        ),
        404 => (
            "Not Found",
            "the server runs but has nothing at this path: check the path against its routes (or the files under its root)",
        ),
        405 => (
            "Method Not Allowed",
            "the path exists but not for GET: the API's documentation names the method",
        ),
        402 | 406..=499 => (
            "a client error",
            "the server refuses this request; its reply body and log say why",
        ),
        _ => (
            "a server error",
            "the server failed while answering: its log has the error (a stack trace, a failed query)",
        ),
    };
    let mut evidence = vec![format!("GET {path} on port {port} -> HTTP {status}")];
    if let Some(title) = s.detail.get("title").and_then(serde_json::Value::as_str) {
        evidence.push(format!("its page says: {title}"));
    }
    // The URL asked for fails, as `curl -f` or a browser would find: a problem, whatever
    // the reason.
    cause(
        "http-status",
        Severity::Error,
        format!("port {port} answers {path} with HTTP {status} ({meaning})"),
        evidence,
        fix,
    )
}

#[cfg(test)]
mod tests {
    use super::super::fixture::facts;
    use super::*;
    use crate::diagnose::Mode;
    use crate::probe::Service;

    #[test]
    fn an_error_status_on_the_url_asked_for() {
        let mut f = facts("127.0.0.1", 8123, Mode::Connect);
        let mut s = Service {
            name: "http".into(),
            product: None,
            version: None,
            detail: serde_json::json!({"status": 404, "path": "/missing", "title": null}),
            tls: None,
        };
        f.service = Some(s.clone());
        assert!(check(&f).is_none(), "no URL was asked for");
        f.target.scheme = Some("http".into());
        let c = check(&f).expect("cause");
        assert_eq!(c.severity, Severity::Error);
        assert!(
            c.summary.contains("/missing with HTTP 404 (Not Found)"),
            "{c:?}"
        );
        s.detail = serde_json::json!({"status": 500, "path": "/api"});
        f.service = Some(s.clone());
        assert!(check(&f).expect("500").summary.contains("a server error"));
        s.detail = serde_json::json!({"status": 404});
        f.service = Some(s.clone());
        assert!(
            check(&f).is_none(),
            "the root, which many servers answer with 404"
        );
        s.detail = serde_json::json!({"status": 502});
        f.service = Some(s.clone());
        assert!(check(&f).is_none(), "bad-gateway's");
        s.detail = serde_json::json!({"status": 200});
        f.service = Some(s);
        assert!(check(&f).is_none());
    }
}
