//! `tls-mismatch`: `https://` to a plain-HTTP port, or `http://` to a TLS port.

use super::cause;
use crate::diagnose::{Cause, Facts, Severity};

pub(super) fn check(f: &Facts) -> Option<Cause> {
    let scheme = f.target.scheme.as_deref()?;
    let s = f.service.as_ref()?;
    let port = f.target.port;
    match (scheme, s.tls.is_some()) {
        ("https" | "wss", false) if s.name == "http" || s.name == "websocket" => cause(
            "tls-mismatch",
            Severity::Error,
            format!("https:// was asked for, but port {port} speaks plain HTTP"),
            vec![format!(
                "a TLS handshake fails; a plain HTTP request gets HTTP {}",
                s.detail["status"]
            )],
            format!(
                "use http://{}:{port}/ (or enable TLS on the server)",
                f.target.host
            ),
        ),
        ("http" | "ws", true) => cause(
            "tls-mismatch",
            Severity::Error,
            format!("http:// was asked for, but port {port} speaks TLS"),
            vec![format!(
                "the TLS handshake succeeds ({})",
                s.tls
                    .as_ref()
                    .and_then(|t| t.version.clone())
                    .unwrap_or_else(|| "TLS".into())
            )],
            format!("use https://{}:{port}/", f.target.host),
        ),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixture::facts;
    use super::*;
    use crate::diagnose::Mode;
    use crate::probe::{Service, TlsInfo};

    fn http(tls: bool) -> Service {
        Service {
            name: "http".into(),
            product: None,
            version: None,
            detail: serde_json::json!({"status": 200}),
            tls: tls.then(|| TlsInfo {
                version: Some("TLSv1.3".into()),
                ..TlsInfo::default()
            }),
        }
    }

    #[test]
    fn both_directions() {
        let mut f = facts("localhost", 8443, Mode::Connect);
        f.target.scheme = Some("https".into());
        f.service = Some(http(false));
        assert_eq!(check(&f).map(|c| c.id), Some("tls-mismatch"));
        f.service = Some(http(true));
        assert!(check(&f).is_none());
        f.target.scheme = Some("http".into());
        assert!(check(&f).expect("cause").fix.contains("https://"));
    }
}
