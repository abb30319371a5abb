//! Which `Host` a server answers, for `serve` and `exporter` (the dashboard has its own,
//! stricter guard). A page on any web site can make the browser fetch
//! `http://attacker.example:PORT/` after pointing that name at 127.0.0.1 (DNS rebinding),
//! and read the reply: a server on loopback that answers any Host hands the page what it
//! serves. Rebinding needs a name, so an address (`127.0.0.1:P`, `[::1]:P`, the machine's
//! LAN address for `serve --bind 0.0.0.0`) and `localhost` are answered, and other names only
//! when the user allows them (`--allow-host NAME`, for a server reached by a name, as
//! Prometheus reaches a fleet's exporters; `*` answers any). The port must be the server's.
//! Anything else gets 403.

use std::net::{IpAddr, Ipv6Addr};
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// The Host values a server answers.
#[derive(Debug, Clone)]
pub struct Hosts {
    port: u16,
    /// Names allowed besides addresses and `localhost`, lower case.
    names: Vec<String>,
    any: bool,
}

impl Hosts {
    /// Addresses and `localhost` on `bound`'s port, and `extra` names (`*` for any Host).
    #[must_use]
    pub fn new(bound: std::net::SocketAddr, extra: &[String]) -> Hosts {
        Hosts {
            port: bound.port(),
            names: extra
                .iter()
                .map(|n| n.trim().trim_end_matches('.').to_ascii_lowercase())
                .filter(|n| !n.is_empty() && n != "*")
                .collect(),
            any: extra.iter().any(|n| n.trim() == "*"),
        }
    }

    /// Whether a request with this `Host` is answered.
    #[must_use]
    pub fn allows(&self, host: &str) -> bool {
        if self.any {
            return true;
        }
        let Some((name, port)) = split_host(host.trim()) else {
            return false;
        };
        if port.unwrap_or(80) != self.port {
            return false;
        }
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        name == "localhost" || is_address(&name) || self.names.contains(&name)
    }
}

/// `name[:port]` or `[v6][:port]`: the name and the port, if any.
fn split_host(host: &str) -> Option<(&str, Option<u16>)> {
    if host.is_empty() {
        return None;
    }
    let (name, port) = if host.starts_with('[') {
        let end = host.find(']')?;
        let rest = &host[end + 1..];
        let port = match rest.strip_prefix(':') {
            Some(p) => Some(p),
            None if rest.is_empty() => None,
            None => return None,
        };
        (&host[..=end], port)
    } else {
        match host.rsplit_once(':') {
            Some((n, p)) => (n, Some(p)),
            None => (host, None),
        }
    };
    let port = match port {
        Some(p) => Some(p.parse().ok()?),
        None => None,
    };
    Some((name, port))
}

/// An address written as a browser writes one in a URL: dotted IPv4 or `[IPv6]`.
fn is_address(name: &str) -> bool {
    match name.strip_prefix('[').and_then(|n| n.strip_suffix(']')) {
        Some(v6) => v6.parse::<Ipv6Addr>().is_ok(),
        None => name.parse::<IpAddr>().is_ok_and(|a| a.is_ipv4()),
    }
}

/// The middleware: 400 for more than one Host, 403 for one this server does not answer.
pub(crate) async fn guard(State(hosts): State<Arc<Hosts>>, req: Request, next: Next) -> Response {
    let mut all = req.headers().get_all(header::HOST).iter();
    let host = all.next().and_then(|v| v.to_str().ok()).unwrap_or("");
    if all.next().is_some() {
        return plain(
            StatusCode::BAD_REQUEST,
            "bad request: more than one Host header",
        );
    }
    if !hosts.allows(host) {
        return plain(
            StatusCode::FORBIDDEN,
            "forbidden: this server answers requests for localhost, an address, or a name given with --allow-host",
        );
    }
    next.run(req).await
}

fn plain(code: StatusCode, msg: &str) -> Response {
    (
        code,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("{msg}\n"),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::Hosts;

    #[test]
    fn addresses_localhost_and_allowed_names_on_its_port() {
        let h = Hosts::new("127.0.0.1:9970".parse().expect("addr"), &[]);
        for ok in [
            "localhost:9970",
            "127.0.0.1:9970",
            "[::1]:9970",
            "LOCALHOST:9970",
            "192.168.1.20:9970",
            "localhost.:9970",
        ] {
            assert!(h.allows(ok), "{ok}");
        }
        for bad in [
            "",
            "localhost",
            "attacker.example:9970",
            "127.0.0.1:80",
            "localhost:99700",
            "[::1]x:9970",
            "127.0.0.1.nip.io:9970",
            "[not-v6]:9970",
        ] {
            assert!(!h.allows(bad), "{bad:?}");
        }
        let h = Hosts::new(
            "0.0.0.0:9970".parse().expect("addr"),
            &["Metrics.Example".into()],
        );
        assert!(h.allows("metrics.example:9970"));
        assert!(!h.allows("metrics.example:9971"));
        assert!(!h.allows("other.example:9970"));
        let h = Hosts::new("[::1]:80".parse().expect("addr"), &[]);
        assert!(h.allows("[::1]") && h.allows("localhost") && h.allows("[::1]:80"));
        let h = Hosts::new("127.0.0.1:1".parse().expect("addr"), &["*".into()]);
        assert!(h.allows("anything.example:5"));
    }
}
