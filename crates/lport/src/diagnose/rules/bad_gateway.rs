//! `bad-gateway`: an HTTP reverse proxy (nginx, Caddy, Traefik, a dev server's proxy)
//! answers, but with 502, 503 or 504: the proxy is up and its upstream is not.

use super::cause;
use crate::diagnose::{Cause, Facts, Outcome, Severity};

pub(super) fn check(f: &Facts) -> Option<Cause> {
    let s = f.service.as_ref()?;
    let status = s.detail.get("status")?.as_u64()?;
    let meaning = match status {
        502 => "Bad Gateway: the proxy's upstream refused or broke the connection",
        503 => "Service Unavailable: the proxy has no healthy upstream (or the app is overloaded)",
        504 => "Gateway Timeout: the proxy's upstream did not answer in time",
        _ => return None,
    };
    let port = f.target.port;
    let proxy = match (&s.product, &s.version) {
        (Some(p), Some(v)) => format!("{p} {v}"),
        (Some(p), None) => p.clone(),
        _ => "the HTTP server".to_owned(),
    };
    let path = s
        .detail
        .get("path")
        .and_then(serde_json::Value::as_str)
        .unwrap_or("/");
    let mut evidence = vec![format!(
        "GET {path} on port {port} -> HTTP {status} {}",
        meaning.split(':').next().unwrap_or_default()
    )];
    let connected = f.attempts.iter().find(|a| a.outcome == Outcome::Connected);
    if let Some(l) = connected.and_then(|a| f.host_listeners().find(|l| l.accepts_addr(a.addr))) {
        evidence.push(format!("{} listens on {}", f.owner_text(l), l.local));
    }
    if let Some(title) = s.detail.get("title").and_then(serde_json::Value::as_str) {
        evidence.push(format!("its page says: {title}"));
    }
    cause(
        "bad-gateway",
        Severity::Error,
        format!("{proxy} on port {port} answers HTTP {status} {meaning}"),
        evidence,
        "start the upstream the proxy points at, or fix its address (nginx: proxy_pass; Caddy: reverse_proxy; Traefik: the service's url; Vite: server.proxy); the proxy's error log names the upstream and the error",
    )
}

#[cfg(test)]
mod tests {
    use super::super::fixture::facts;
    use super::*;
    use crate::diagnose::Mode;
    use crate::probe::Service;

    #[test]
    fn a_proxy_without_its_upstream() {
        let mut f = facts("127.0.0.1", 8080, Mode::Connect);
        let mut s = Service {
            name: "http".into(),
            product: Some("nginx".into()),
            version: Some("1.22.1".into()),
            detail: serde_json::json!({"status": 502, "title": "502 Bad Gateway"}),
            tls: None,
        };
        f.service = Some(s.clone());
        let c = check(&f).expect("cause");
        assert!(
            c.summary
                .starts_with("nginx 1.22.1 on port 8080 answers HTTP 502"),
            "{c:?}"
        );
        assert!(c.fix.contains("proxy_pass"), "{c:?}");
        for (status, hit) in [
            (503, true),
            (504, true),
            (500, false),
            (200, false),
            (404, false),
        ] {
            s.detail["status"] = status.into();
            f.service = Some(s.clone());
            assert_eq!(check(&f).is_some(), hit, "{status}");
        }
    }
}
