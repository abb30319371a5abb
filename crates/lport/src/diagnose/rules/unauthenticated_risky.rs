//! `unauthenticated-risky`: a service that gives control of the machine answers without
//! authentication (Redis without a password, so far).

use super::cause;
use crate::diagnose::{Cause, Facts, Severity};

pub(super) fn check(f: &Facts) -> Option<Cause> {
    let s = f.service.as_ref()?;
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
