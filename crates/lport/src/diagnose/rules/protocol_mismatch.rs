//! `protocol-mismatch`: an HTTP URL pointed at something that is not HTTP (PostgreSQL,
//! Redis, SSH, MySQL, ...).

use super::cause;
use crate::diagnose::{Cause, Facts, Severity};

pub(super) fn check(f: &Facts) -> Option<Cause> {
    let scheme = f.target.scheme.as_deref()?;
    if !matches!(scheme, "http" | "https" | "ws" | "wss") {
        return None;
    }
    let s = f.service.as_ref()?;
    if matches!(
        s.name.as_str(),
        "http" | "websocket" | "tls" | "unknown" | "grpc"
    ) {
        return None;
    }
    let what = match (&s.product, &s.version) {
        (Some(p), Some(v)) => format!("{} ({p} {v})", s.name),
        (Some(p), None) => format!("{} ({p})", s.name),
        _ => s.name.clone(),
    };
    cause(
        "protocol-mismatch",
        Severity::Error,
        format!(
            "{scheme}:// was asked for, but port {} is {what}",
            f.target.port
        ),
        vec![format!(
            "the service on port {} identifies as {what}",
            f.target.port
        )],
        format!(
            "use a {} client for this port, or find the HTTP service's real port",
            s.name
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::super::fixture::facts;
    use super::*;
    use crate::diagnose::Mode;
    use crate::probe::Service;

    #[test]
    fn http_to_postgres() {
        let mut f = facts("localhost", 5432, Mode::Connect);
        f.target.scheme = Some("http".into());
        f.service = Some(Service {
            name: "postgresql".into(),
            product: Some("PostgreSQL".into()),
            version: None,
            detail: serde_json::Value::Null,
            tls: None,
        });
        assert_eq!(check(&f).map(|c| c.id), Some("protocol-mismatch"));
        f.target.scheme = None;
        assert!(check(&f).is_none());
    }
}
