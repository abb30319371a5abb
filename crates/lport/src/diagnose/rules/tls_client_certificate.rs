//! `tls-client-certificate`: mutual TLS. The server asks for a client certificate and,
//! without one, ends the handshake (a `certificate_required` or `handshake_failure`
//! alert) or completes it and answers HTTP 400 (nginx's `ssl_verify_client on`: "No
//! required SSL certificate was sent").

use super::cause;
use crate::diagnose::{Cause, Facts, Severity};

pub(super) fn check(f: &Facts) -> Option<Cause> {
    let s = f.service.as_ref()?;
    let cc = s.detail.get("client_certificate")?;
    if cc.get("required")?.as_bool() != Some(true) {
        return None;
    }
    let port = f.target.port;
    let cas: Vec<&str> = cc
        .get("ca_names")
        .and_then(serde_json::Value::as_array)
        .map(|a| a.iter().filter_map(serde_json::Value::as_str).collect())
        .unwrap_or_default();
    let mut evidence = vec![if cas.is_empty() {
        "the server asked for a client certificate (a CertificateRequest) and named no CA"
            .to_owned()
    } else {
        format!(
            "the server asked for a client certificate issued by: {}",
            cas.join("; ")
        )
    }];
    match cc.get("error").and_then(serde_json::Value::as_str) {
        Some(e) => evidence.push(format!("without one, the handshake ended: {e}")),
        None => evidence.push(format!(
            "without one, the handshake completes and every request gets HTTP {} (No required SSL certificate was sent)",
            s.detail.get("status").and_then(serde_json::Value::as_u64).unwrap_or(400)
        )),
    }
    cause(
        "tls-client-certificate",
        Severity::Error,
        format!("port {port} requires a client certificate (mutual TLS)"),
        evidence,
        "give the client a certificate from one of those CAs (curl --cert client.pem --key client.key; a browser imports it), or make it optional on the server (nginx: ssl_verify_client optional or off)",
    )
}

#[cfg(test)]
mod tests {
    use super::super::fixture::facts;
    use super::*;
    use crate::diagnose::Mode;
    use crate::probe::Service;

    #[test]
    fn required_and_optional() {
        let mut f = facts("localhost", 8443, Mode::Connect);
        let mut s = Service {
            name: "http".into(),
            product: Some("nginx".into()),
            version: None,
            detail: serde_json::json!({"status": 400, "client_certificate": {"required": true, "ca_names": ["CN=Dev CA"]}}),
            tls: None,
        };
        f.service = Some(s.clone());
        let c = check(&f).expect("cause");
        assert!(c.evidence[0].contains("CN=Dev CA"), "{c:?}");
        s.detail = serde_json::json!({"status": 200, "client_certificate": {"required": false, "ca_names": []}});
        f.service = Some(s);
        assert!(check(&f).is_none(), "optional");
    }
}
