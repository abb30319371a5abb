//! `tls-version`: the server speaks TLS, but no version or cipher suite a modern client
//! offers: TLS 1.0/1.1 only, or suites browsers and curl refuse. Learnt with a second,
//! read-only ClientHello that offers the old ones too.

use super::cause;
use crate::diagnose::{Cause, Facts, Severity};

pub(super) fn check(f: &Facts) -> Option<Cause> {
    let s = f.service.as_ref()?;
    let legacy = s.detail.get("legacy")?;
    let port = f.target.port;
    let str_of = |k: &str| legacy.get(k).and_then(serde_json::Value::as_str);
    let (summary, evidence) = match (str_of("version"), str_of("cipher")) {
        (Some(version), Some(cipher)) => {
            if legacy.get("modern").and_then(serde_json::Value::as_bool) == Some(true) {
                return None;
            }
            (
                format!(
                    "port {port} speaks TLS, but only {version} with {cipher}: browsers, curl and lport refuse it"
                ),
                vec![
                    "a modern handshake (TLS 1.2 and 1.3, current suites) is refused".to_owned(),
                    format!(
                        "offered TLS 1.0 to 1.2 and older suites, it chose {version} and {cipher}"
                    ),
                ],
            )
        }
        _ => (
            format!("port {port} speaks TLS but refuses every version and cipher suite offered"),
            vec![format!(
                "a modern handshake is refused, and one offering TLS 1.0 to 1.2 and old suites gets alert {}",
                legacy
                    .get("alert")
                    .and_then(serde_json::Value::as_u64)
                    .unwrap_or(0)
            )],
        ),
    };
    cause(
        "tls-version",
        Severity::Error,
        summary,
        evidence,
        "enable TLS 1.2 and 1.3 with current suites on the server (nginx: ssl_protocols TLSv1.2 TLSv1.3; and its default ssl_ciphers; OpenSSL-based servers: their MinProtocol / cipher settings), or, to reach it meanwhile, a client that still allows the old ones (curl --tlsv1.0 --ciphers DEFAULT@SECLEVEL=0)",
    )
}

/// The server speaks only old TLS: other rules about a silent server leave it to this one.
pub(super) fn applies(f: &Facts) -> bool {
    check(f).is_some()
}

#[cfg(test)]
mod tests {
    use super::super::fixture::facts;
    use super::*;
    use crate::diagnose::Mode;
    use crate::probe::Service;

    #[test]
    fn old_versions_and_suites() {
        let mut f = facts("127.0.0.1", 8443, Mode::Connect);
        let mut s = Service {
            name: "tls".into(),
            product: None,
            version: None,
            detail: serde_json::json!({"legacy": {"version": "TLSv1.0", "cipher": "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA", "modern": false}}),
            tls: None,
        };
        f.service = Some(s.clone());
        let c = check(&f).expect("cause");
        assert!(
            c.summary
                .contains("only TLSv1.0 with TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA"),
            "{c:?}"
        );
        s.detail = serde_json::json!({"legacy": {"alert": 40}});
        f.service = Some(s);
        assert!(check(&f).expect("alert").evidence[0].contains("alert 40"));
    }
}
