//! `proxy-env`: for http(s) targets, a proxy variable is set and NO_PROXY does not cover
//! the name or address, so curl, Python and many other clients send the request to the
//! proxy instead of the local server.

use super::cause;
use crate::diagnose::{Cause, Facts, Severity};

/// Whether a NO_PROXY list covers `host` the way curl reads it: `*`, the exact name, or a
/// domain suffix; `127.0.0.1` is not covered by `localhost`.
#[must_use]
pub(crate) fn no_proxy_covers(list: &str, host: &str) -> bool {
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_ascii_lowercase();
    list.split(',')
        .map(|e| e.trim().to_ascii_lowercase())
        .filter(|e| !e.is_empty())
        .any(|e| {
            let e = e.trim_start_matches('.');
            e == "*" || host == e || host.ends_with(&format!(".{e}"))
        })
}

pub(super) fn check(f: &Facts) -> Option<Cause> {
    let scheme = f.target.scheme.as_deref()?;
    let keys: &[&str] = match scheme {
        "http" | "ws" => &["http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"],
        "https" | "wss" => &["https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"],
        _ => return None,
    };
    let get = |k: &str| {
        f.proxy_env
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
    };
    let (var, proxy) = keys
        .iter()
        .find_map(|k| get(k).filter(|v| !v.is_empty()).map(|v| (*k, v)))?;
    let no_proxy = get("no_proxy").or_else(|| get("NO_PROXY")).unwrap_or("");
    let host = &f.target.host;
    if no_proxy_covers(no_proxy, host) {
        return None;
    }
    cause(
        "proxy-env",
        Severity::Warning,
        format!(
            "{var} is set and NO_PROXY does not cover {host}: curl, Python and others send this request to {proxy}"
        ),
        vec![
            format!("{var}={proxy}"),
            if no_proxy.is_empty() {
                "NO_PROXY is not set".into()
            } else {
                format!("NO_PROXY={no_proxy}")
            },
        ],
        "export NO_PROXY=localhost,127.0.0.1,::1,.localhost (and no_proxy, for tools that read the lower-case one), or curl --noproxy '*'",
    )
}

#[cfg(test)]
mod tests {
    use super::super::fixture::facts;
    use super::*;
    use crate::diagnose::Mode;

    #[test]
    fn no_proxy_matching_like_curl() {
        assert!(no_proxy_covers("localhost,127.0.0.1", "localhost"));
        assert!(!no_proxy_covers("localhost", "127.0.0.1"));
        assert!(no_proxy_covers("*", "anything"));
        assert!(no_proxy_covers(".localhost", "app.localhost"));
        assert!(no_proxy_covers("::1", "[::1]"));
    }

    #[test]
    fn a_proxy_without_an_exception() {
        let mut f = facts("127.0.0.1", 3000, Mode::Connect);
        f.target.scheme = Some("http".into());
        f.proxy_env = vec![
            ("http_proxy".into(), "http://proxy:3128".into()),
            ("NO_PROXY".into(), "localhost".into()),
        ];
        assert_eq!(check(&f).map(|c| c.id), Some("proxy-env"));
        f.proxy_env.push(("no_proxy".into(), "127.0.0.1".into()));
        assert!(check(&f).is_none());
    }
}
