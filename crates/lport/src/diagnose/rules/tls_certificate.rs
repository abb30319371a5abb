//! `tls-certificate` (https:// targets): the certificate is one a browser refuses: expired,
//! not yet valid, for another name than the one typed, self-signed, or from an issuer this
//! machine does not trust. The connection works, so this is a warning and the verdict stays
//! ok.

use super::cause;
use crate::diagnose::{Cause, Facts, Severity};

/// Whether a certificate name (`localhost`, `*.dev.test`) covers `host`.
fn name_matches(pattern: &str, host: &str) -> bool {
    let (p, h) = (pattern.to_ascii_lowercase(), host.to_ascii_lowercase());
    match p.strip_prefix("*.") {
        Some(rest) => h
            .split_once('.')
            .is_some_and(|(first, tail)| !first.is_empty() && tail == rest),
        None => p == h,
    }
}

/// Whether the certificate names `host`: a `DNS:` or `IP:` SAN, or the CN when there is
/// no SAN at all (what browsers no longer accept, but other clients do).
fn covers(tls: &crate::probe::TlsInfo, host: &str) -> bool {
    let ip = host.parse::<std::net::IpAddr>().ok();
    if tls.san.is_empty() {
        return tls
            .subject
            .as_deref()
            .and_then(|s| s.split(", ").find_map(|p| p.strip_prefix("CN=")))
            .is_some_and(|cn| name_matches(cn, host));
    }
    tls.san
        .iter()
        .any(|n| match (n.strip_prefix("DNS:"), n.strip_prefix("IP:")) {
            (Some(d), _) => ip.is_none() && name_matches(d, host),
            (_, Some(a)) => ip.is_some_and(|ip| a.parse() == Ok(ip)),
            _ => false,
        })
}

pub(super) fn check(f: &Facts) -> Option<Cause> {
    if f.target.scheme.as_deref() != Some("https") {
        return None;
    }
    let tls = f.service.as_ref()?.tls.as_ref()?;
    let host = f.target.host.as_str();
    let now = crate::model::rfc3339(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
    );
    let mut problems = Vec::new();
    let mut evidence = Vec::new();
    // RFC 3339 UTC timestamps of one format compare as text.
    if let Some(end) = tls.not_after.as_deref().filter(|e| *e < now.as_str()) {
        problems.push("it has expired".to_owned());
        evidence.push(format!("not valid after {end} (now {now})"));
    }
    if let Some(start) = tls.not_before.as_deref().filter(|s| *s > now.as_str()) {
        problems.push("it is not valid yet".to_owned());
        evidence.push(format!(
            "not valid before {start} (now {now}): a clock off, or issued ahead"
        ));
    }
    if !covers(tls, host) {
        problems.push(format!("it is not for {host}"));
        evidence.push(format!(
            "it names {}",
            if tls.san.is_empty() {
                tls.subject.clone().unwrap_or_else(|| "no name".into())
            } else {
                tls.san.join(", ")
            }
        ));
    }
    // A certificate the user added to the trust store is trusted, self-signed or not.
    let mut untrusted_issuer = false;
    if tls.self_signed == Some(true) && tls.trusted != Some(true) {
        problems.push("it is self-signed".to_owned());
        evidence.push(format!(
            "issued by itself ({})",
            tls.subject.as_deref().unwrap_or("no subject")
        ));
    } else if tls.self_signed != Some(true) && tls.trusted == Some(false) {
        untrusted_issuer = true;
        problems.push("its issuer is not trusted here".to_owned());
        evidence.push(format!(
            "issued by {}, which is none of the CAs this machine trusts: {}",
            tls.issuer.as_deref().unwrap_or("an unnamed issuer"),
            tls.trust_store.as_deref().unwrap_or("its trust store")
        ));
    }
    if problems.is_empty() {
        return None;
    }
    let trust_fix = if untrusted_issuer {
        "; for a CA of your own, add it to the trust store (Debian: copy it to /usr/local/share/ca-certificates/NAME.crt and run update-ca-certificates; for one client: SSL_CERT_FILE, NODE_EXTRA_CA_CERTS), and make the server send its intermediate certificates"
    } else {
        ""
    };
    cause(
        "tls-certificate",
        Severity::Warning,
        format!(
            "port {}'s certificate is one a browser refuses: {}",
            f.target.port,
            problems.join(", ")
        ),
        evidence,
        format!(
            "for local development, make a certificate for {host} from a local CA your browser trusts (mkcert -install; mkcert {host}); otherwise renew it (certbot renew) or fix the name the server is given{trust_fix}"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::super::fixture::facts;
    use super::*;
    use crate::diagnose::Mode;
    use crate::probe::{Service, TlsInfo};

    fn with_tls(f: &mut Facts, tls: TlsInfo) {
        f.service = Some(Service {
            name: "http".into(),
            product: None,
            version: None,
            detail: serde_json::json!({"status": 200}),
            tls: Some(tls),
        });
    }

    fn good() -> TlsInfo {
        TlsInfo {
            version: Some("TLSv1.3".into()),
            alpn: None,
            subject: Some("CN=localhost".into()),
            san: vec!["DNS:localhost".into(), "IP:127.0.0.1".into()],
            not_before: Some("2020-01-01T00:00:00Z".into()),
            not_after: Some("2999-01-01T00:00:00Z".into()),
            self_signed: Some(false),
            issuer: Some("CN=Dev CA".into()),
            trusted: Some(true),
            trust_store: Some("/etc/ssl/certs/ca-certificates.crt (140 CAs)".into()),
        }
    }

    #[test]
    fn what_a_browser_refuses() {
        let mut f = facts("localhost", 8443, Mode::Connect);
        f.target.scheme = Some("https".into());
        with_tls(&mut f, good());
        assert!(
            check(&f).is_none(),
            "a valid certificate for the name: no false alarm"
        );
        with_tls(
            &mut f,
            TlsInfo {
                not_after: Some("2001-01-01T00:00:00Z".into()),
                ..good()
            },
        );
        assert!(check(&f).expect("expired").summary.contains("expired"));
        with_tls(
            &mut f,
            TlsInfo {
                not_before: Some("2999-01-01T00:00:00Z".into()),
                ..good()
            },
        );
        assert!(check(&f).expect("early").summary.contains("not valid yet"));
        with_tls(
            &mut f,
            TlsInfo {
                self_signed: Some(true),
                ..good()
            },
        );
        assert!(
            check(&f).is_none(),
            "a self-signed certificate the machine trusts is fine"
        );
        with_tls(
            &mut f,
            TlsInfo {
                self_signed: Some(true),
                trusted: Some(false),
                ..good()
            },
        );
        let c = check(&f).expect("self");
        assert!(
            c.summary.contains("self-signed") && !c.summary.contains("issuer"),
            "said once: {c:?}"
        );
        with_tls(
            &mut f,
            TlsInfo {
                trusted: Some(false),
                ..good()
            },
        );
        let c = check(&f).expect("issuer");
        assert!(
            c.summary.contains("its issuer is not trusted here")
                && c.evidence[0].contains("CN=Dev CA")
                && c.evidence[0].contains("(140 CAs)")
                && c.fix.contains("update-ca-certificates"),
            "{c:?}"
        );
        with_tls(
            &mut f,
            TlsInfo {
                trusted: None,
                ..good()
            },
        );
        assert!(check(&f).is_none(), "no trust store read: not judged");
        with_tls(
            &mut f,
            TlsInfo {
                san: vec!["DNS:*.dev.test".into()],
                ..good()
            },
        );
        let c = check(&f).expect("name");
        assert!(
            c.summary.contains("not for localhost") && c.evidence[0].contains("*.dev.test"),
            "{c:?}"
        );
        assert!(
            name_matches("*.dev.test", "app.dev.test")
                && !name_matches("*.dev.test", "a.b.dev.test")
        );
        // The IP typed must be an IP SAN.
        f.target.host = "127.0.0.2".into();
        with_tls(&mut f, good());
        assert!(check(&f).expect("ip").summary.contains("not for 127.0.0.2"));
        // Only for https:// targets.
        f.target.scheme = None;
        with_tls(
            &mut f,
            TlsInfo {
                self_signed: Some(true),
                trusted: Some(false),
                ..good()
            },
        );
        assert!(check(&f).is_none());
    }
}
