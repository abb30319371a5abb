//! What the hosts file says about a name: the lines that map it, so evidence can say which
//! line gave an address (`localhost` mapped to 127.0.1.1, or no `::1 localhost`).

use std::net::IpAddr;

/// A hosts-file line that maps a name: its 1-based number, the address, the line as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostsLine {
    /// 1-based line number.
    pub number: usize,
    /// The address the line gives.
    pub addr: IpAddr,
    /// The line, comments removed, whitespace collapsed.
    pub text: String,
}

/// The lines of a hosts file that map `name` (case-insensitive), in order.
#[must_use]
pub fn lines_for(text: &str, name: &str) -> Vec<HostsLine> {
    text.lines()
        .enumerate()
        .filter_map(|(i, line)| {
            let line = line.split('#').next().unwrap_or("");
            let mut words = line.split_whitespace();
            let addr: IpAddr = words.next()?.split('%').next()?.parse().ok()?;
            let names: Vec<&str> = words.collect();
            names
                .iter()
                .any(|n| n.eq_ignore_ascii_case(name))
                .then(|| HostsLine {
                    number: i + 1,
                    addr,
                    text: std::iter::once(addr.to_string())
                        .chain(names.iter().map(|n| (*n).to_owned()))
                        .collect::<Vec<_>>()
                        .join(" "),
                })
        })
        .collect()
}

/// Evidence lines for how `name` resolved through the hosts file at `path`: the lines that
/// gave its addresses, and which family it has no line for.
#[must_use]
pub fn evidence(path: &str, lines: &[HostsLine], name: &str) -> Vec<String> {
    if lines.is_empty() {
        return Vec::new();
    }
    let mut out: Vec<String> = lines
        .iter()
        .map(|l| format!("{path} line {}: {}", l.number, l.text))
        .collect();
    let has = |v6: bool| lines.iter().any(|l| l.addr.is_ipv6() == v6);
    if !has(true) {
        out.push(format!(
            "{path} has no IPv6 line for {name} (such as ::1 {name})"
        ));
    } else if !has(false) {
        out.push(format!(
            "{path} has no IPv4 line for {name} (such as 127.0.0.1 {name})"
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOSTS: &str = "127.0.0.1\tlocalhost\n127.0.1.1\tdev.local dev # my box\n# ::1 localhost\nff02::1 ip6-allnodes\nfe80::1%eth0 link-local\n";

    #[test]
    fn the_lines_that_map_a_name() {
        let l = lines_for(HOSTS, "localhost");
        assert_eq!(l.len(), 1);
        assert_eq!(
            (l[0].number, l[0].text.as_str()),
            (1, "127.0.0.1 localhost")
        );
        let d = lines_for(HOSTS, "DEV");
        assert_eq!(
            (d[0].number, d[0].addr.to_string().as_str()),
            (2, "127.0.1.1")
        );
        assert!(lines_for(HOSTS, "ip6-allnodes")[0].addr.is_ipv6());
        assert_eq!(
            lines_for(HOSTS, "link-local")[0].addr.to_string(),
            "fe80::1"
        );
        assert!(
            lines_for(HOSTS, "example").is_empty(),
            "a commented line maps nothing"
        );
        let e = evidence("/etc/hosts", &l, "localhost");
        assert_eq!(e[0], "/etc/hosts line 1: 127.0.0.1 localhost");
        assert!(e[1].contains("no IPv6 line for localhost"), "{e:?}");
        assert!(evidence("/etc/hosts", &[], "x").is_empty());
    }
}
