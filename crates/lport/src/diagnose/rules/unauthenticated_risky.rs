//! `unauthenticated-risky`: a service that gives control of the machine answers without
//! authentication (Redis without a password, so far).

use super::cause;
use crate::diagnose::{Cause, Facts, Severity};

pub(super) fn check(f: &Facts) -> Option<Cause> {
    let s = f.service.as_ref()?;
    let port = f.target.port;
    let risky = match s.name.as_str() {
        "devtools" => Some((
            format!(
                "a debugger (Node inspector / Chrome DevTools) listens on port {port}: whoever reaches it runs code in that process"
            ),
            "/json/version answers without authentication",
            format!(
                "run the debugger only while you use it, on 127.0.0.1 (--inspect=127.0.0.1:{port}), never on 0.0.0.0"
            ),
        )),
        "docker" => Some((
            format!(
                "the Docker Engine API answers on port {port} without authentication: whoever reaches it is root on this machine"
            ),
            "GET /_ping -> 200 with Api-Version",
            "use the unix socket, or TLS with client certificates (dockerd --tlsverify) on 2376"
                .to_owned(),
        )),
        "jupyter" if s.detail["auth_required"] == false => Some((
            format!("Jupyter on port {port} runs code without a token"),
            "/api/kernels answers without a token",
            "start it with a token or password (the default); never with --NotebookApp.token=''"
                .to_owned(),
        )),
        "jdwp" => Some((
            format!(
                "a Java debugger (JDWP) listens on port {port}: whoever reaches it runs code in the JVM"
            ),
            "JDWP-Handshake is echoed",
            format!(
                "bind the agent to 127.0.0.1 (address=127.0.0.1:{port}) and only while debugging"
            ),
        )),
        _ => None,
    };
    if let Some((summary, evidence, fix)) = risky {
        return cause(
            "unauthenticated-risky",
            Severity::Warning,
            summary,
            vec![evidence.to_owned()],
            fix,
        );
    }
    if s.name == "redis" && s.detail["auth_required"] == false {
        return cause(
            "unauthenticated-risky",
            Severity::Warning,
            format!("Redis on port {} answers without a password", f.target.port),
            vec!["PING got +PONG without AUTH".into()],
            "set requirepass (or ACL users) and keep it bound to 127.0.0.1; with protected-mode off, anything that reaches it can write files as the redis user",
        );
    }
    None
}

#[cfg(test)]
mod tests {
    use super::super::fixture::facts;
    use super::*;
    use crate::diagnose::Mode;
    use crate::probe::Service;

    #[test]
    fn redis_without_auth() {
        let mut f = facts("localhost", 6379, Mode::Connect);
        let mut s = Service {
            name: "redis".into(),
            product: None,
            version: None,
            detail: serde_json::json!({"auth_required": false}),
            tls: None,
        };
        f.service = Some(s.clone());
        assert_eq!(check(&f).map(|c| c.id), Some("unauthenticated-risky"));
        s.detail = serde_json::json!({"auth_required": true});
        f.service = Some(s);
        assert!(check(&f).is_none());
    }
}
