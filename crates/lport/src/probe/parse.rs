//! Pure parsers for probe replies: banners, HTTP status lines and headers, Redis, the
//! PostgreSQL SSLRequest answer, memcached.

use super::Service;

fn svc(name: &str, product: Option<&str>, version: Option<&str>) -> Service {
    let mut s = Service::new(name);
    s.product = product.map(str::to_owned);
    s.version = version.map(str::to_owned);
    s
}

/// Recognises what a server-speaks-first protocol says on connect.
#[must_use]
pub fn classify_banner(b: &[u8]) -> Option<Service> {
    let text = String::from_utf8_lossy(b);
    let line = text.lines().next().unwrap_or("").trim_end();
    if let Some(rest) = line.strip_prefix("SSH-") {
        // SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u10
        let software = rest.split_once('-').map_or("", |(_, s)| s);
        let first = software.split_whitespace().next().unwrap_or(software);
        let (product, version) = first
            .split_once('_')
            .map_or((first, None), |(p, v)| (p, Some(v)));
        return Some(svc("ssh", Some(product), version));
    }
    // MySQL/MariaDB: 3-byte length, sequence 0, protocol 10, NUL-terminated version.
    if b.len() > 5 && b[3] == 0 && b[4] == 10 {
        let end = b[5..]
            .iter()
            .position(|&c| c == 0)
            .map_or(b.len(), |p| p + 5);
        let version = String::from_utf8_lossy(&b[5..end]).into_owned();
        let product = if version.contains("MariaDB") {
            "MariaDB"
        } else {
            "MySQL"
        };
        let version = version
            .strip_prefix("5.5.5-")
            .unwrap_or(&version)
            .to_owned();
        return Some(svc("mysql", Some(product), Some(&version)));
    }
    if b.len() > 5 && b[3] == 0 && b[4] == 0xff {
        // An error packet instead of the handshake: 0xff, a 2-byte code, the message.
        let mut s = svc("mysql", None, None);
        let code = b.get(5..7).map(|c| u16::from_le_bytes([c[0], c[1]]));
        let message = String::from_utf8_lossy(b.get(7..).unwrap_or_default())
            .trim_start_matches('#')
            .trim()
            .to_owned();
        s.detail = serde_json::json!({
            "error": message,
            "error_code": code,
            // ER_CON_COUNT_ERROR: max_connections reached.
            "server_full": code == Some(1040),
        });
        return Some(s);
    }
    // Redis refuses a connection over maxclients with an error before any command.
    if line.starts_with("-ERR max number of clients reached") {
        return parse_redis(b);
    }
    if line.starts_with("220") {
        let lower = line.to_ascii_lowercase();
        let name = if lower.contains("ftp") { "ftp" } else { "smtp" };
        // `220 (vsFTPd 3.0.3)`, `220 ProFTPD 1.3.8 Server`, `220 mail ESMTP Postfix`.
        let (product, version) = banner_product(line);
        return Some(svc(name, product.as_deref(), version.as_deref()));
    }
    // vsftpd's own error banner: `500 OOPS: vsftpd: refusing to run with writable root`.
    if let Some(rest) = line.strip_prefix("500 OOPS: ") {
        let product = rest.split(':').next().filter(|p| !p.contains(' '));
        let mut s = svc("ftp", product.or(Some("vsftpd")), None);
        s.detail = serde_json::json!({"error": line});
        return Some(s);
    }
    if line.starts_with("* OK") {
        return Some(svc("imap", None, None));
    }
    if line.starts_with("+OK") {
        return Some(svc("pop3", None, None));
    }
    if line.starts_with("RFB ") {
        return Some(svc("vnc", None, None));
    }
    if text.starts_with("Content-Length:") && text.contains("\"event\"") {
        return Some(svc("dap", None, None));
    }
    // An HTTP/2 server preface: a SETTINGS frame (type 4) on stream 0.
    if is_h2_settings(b) {
        let mut s = svc("grpc", None, None);
        s.detail = serde_json::json!({"http2": true, "speaks_first": true});
        return Some(s);
    }
    None
}

/// The product and version a text banner names: `(vsFTPd 3.0.3)`, `ProFTPD 1.3.8`,
/// `ESMTP Postfix`: the first word that is a known server's name, and its version when
/// the next word starts with a digit.
fn banner_product(line: &str) -> (Option<String>, Option<String>) {
    const KNOWN: &[&str] = &[
        "vsftpd",
        "proftpd",
        "pure-ftpd",
        "filezilla",
        "postfix",
        "exim",
        "sendmail",
        "opensmtpd",
    ];
    let words: Vec<&str> = line
        .split(|c: char| c.is_whitespace() || c == '(' || c == ')')
        .filter(|w| !w.is_empty())
        .skip(1)
        .collect();
    let at = words.iter().position(|w| {
        let l = w.to_ascii_lowercase();
        KNOWN.iter().any(|k| l.starts_with(k))
    });
    let Some(at) = at else {
        return (None, None);
    };
    let product = words[at].trim_matches(|c: char| !c.is_alphanumeric() && c != '-');
    let version = words
        .get(at + 1)
        .filter(|v| v.starts_with(|c: char| c.is_ascii_digit()))
        .map(|v| {
            v.trim_end_matches(|c: char| !c.is_alphanumeric())
                .to_owned()
        });
    (Some(product.to_owned()), version)
}

/// True when bytes start with an HTTP/2 SETTINGS frame on stream 0: what an h2c
/// (prior-knowledge HTTP/2) server sends, even in reply to an HTTP/1.1 request.
#[must_use]
pub fn is_h2_settings(b: &[u8]) -> bool {
    b.len() >= 9 && b[3] == 4 && b[5..9] == [0, 0, 0, 0]
}

/// What an HTTP reply says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpReply {
    /// Status code.
    pub status: u16,
    /// `Server` header.
    pub server: Option<String>,
    /// `Upgrade` header.
    pub upgrade: Option<String>,
    /// `<title>` of an HTML body.
    pub title: Option<String>,
    /// `Api-Version` header (the Docker Engine API sends it).
    pub api_version: Option<String>,
    /// The body's first bytes (for protocol-specific follow-ups).
    pub body_start: String,
}

/// Parses an HTTP/1.x reply head (and the title, when the body has one).
#[must_use]
pub fn parse_http(b: &[u8]) -> Option<HttpReply> {
    let status = crate::wait::parse_status(b)?;
    let text = String::from_utf8_lossy(b);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let header = |name: &str| {
        head.lines().skip(1).find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_owned())
        })
    };
    let lower = body.to_ascii_lowercase();
    let title = lower.find("<title").and_then(|i| {
        let open = body[i..].find('>')? + i + 1;
        let close = lower[open..].find("</title")? + open;
        Some(body[open..close].trim().to_owned())
    });
    Some(HttpReply {
        status,
        server: header("server"),
        upgrade: header("upgrade"),
        api_version: header("api-version"),
        title: title.filter(|t| !t.is_empty()),
        body_start: body.chars().take(200).collect(),
    })
}

/// The `redis_version` line of an `INFO server` reply.
#[must_use]
pub(super) fn redis_version(info: &[u8]) -> Option<String> {
    String::from_utf8_lossy(info)
        .lines()
        .find_map(|l| l.strip_prefix("redis_version:"))
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

/// The `Browser` of a DevTools `/json/version` document: `node.js/v18.19.0` gives
/// (`node.js`, `v18.19.0`), `Chrome/120.0.6099.71` (`Chrome`, `120.0.6099.71`).
#[must_use]
pub(super) fn devtools_browser(json: &str) -> Option<(String, Option<String>)> {
    let v: serde_json::Value = serde_json::from_str(json.trim()).ok()?;
    let browser = v.get("Browser")?.as_str()?;
    Some(match browser.split_once('/') {
        Some((p, ver)) => (p.to_owned(), Some(ver.to_owned())),
        None => (browser.to_owned(), None),
    })
}

/// Recognises a reply to `PING`: `+PONG`, or an auth / protected-mode error.
#[must_use]
pub fn parse_redis(b: &[u8]) -> Option<Service> {
    let line = String::from_utf8_lossy(b);
    let line = line.lines().next()?.trim();
    if line.starts_with("-ERR max number of clients reached") {
        let mut s = svc("redis", None, None);
        s.detail = serde_json::json!({"server_full": true, "error": &line[1..], "reply": line});
        return Some(s);
    }
    let auth = if line == "+PONG" {
        false
    } else if line.starts_with("-NOAUTH")
        || line.starts_with("-DENIED")
        || line.starts_with("-WRONGPASS")
    {
        true
    } else {
        return None;
    };
    let mut s = svc("redis", None, None);
    s.detail = serde_json::json!({"auth_required": auth, "reply": line});
    Some(s)
}

/// The one-byte answer to PostgreSQL's SSLRequest: `S` (TLS offered) or `N`.
#[must_use]
pub fn parse_pg_ssl(b: &[u8]) -> Option<Service> {
    match b {
        [b'S' | b'N'] => {
            let mut s = svc("postgresql", Some("PostgreSQL"), None);
            s.detail = serde_json::json!({"tls_offered": b[0] == b'S'});
            Some(s)
        }
        // An ErrorResponse also comes only from PostgreSQL (and servers that speak its
        // protocol): its own error, such as "sorry, too many clients already".
        [b'E', ..] => {
            let fields = pg_error_fields(b)?;
            let field = |code: u8| fields.iter().find(|(c, _)| *c == code).map(|(_, v)| v);
            let mut s = svc("postgresql", Some("PostgreSQL"), None);
            s.detail = serde_json::json!({
                "error": field(b'M'),
                "sqlstate": field(b'C'),
                // 53300: too_many_connections.
                "server_full": field(b'C').is_some_and(|c| c == "53300"),
            });
            Some(s)
        }
        _ => None,
    }
}

/// The fields of a PostgreSQL ErrorResponse: `E`, a length, then (code byte, C string)
/// pairs up to a zero byte. `None` unless the message is whole and well formed, with a
/// severity.
#[must_use]
pub(crate) fn pg_error_fields(b: &[u8]) -> Option<Vec<(u8, String)>> {
    let (&kind, rest) = b.split_first()?;
    let len = u32::from_be_bytes(rest.get(..4)?.try_into().ok()?) as usize;
    if kind != b'E' || !(5..=4096).contains(&len) {
        return None;
    }
    let mut body = rest.get(4..len)?;
    let mut fields = Vec::new();
    loop {
        let (&code, tail) = body.split_first()?;
        if code == 0 {
            break;
        }
        let end = tail.iter().position(|&c| c == 0)?;
        fields.push((code, String::from_utf8_lossy(&tail[..end]).into_owned()));
        body = &tail[end + 1..];
    }
    fields.iter().any(|(c, _)| *c == b'S').then_some(fields)
}

/// PostgreSQL's answer to a startup packet of protocol 4.0, which no release speaks: an
/// error naming the versions it does (`server supports 3.0 to 3.0`) and the source file
/// that refused it, which together give the major release: 3.0 to 3.2 is 18 or later;
/// 3.0 to 3.0 from `backend_startup.c` is 17, from `postmaster.c` 14 to 16 (14 dropped
/// protocol 2); 1.0 or 2.0 to 3.0 is 13 or earlier. Fills `version`, and the fields as
/// detail.
pub(crate) fn add_pg_protocol_error(s: &mut Service, b: &[u8]) {
    let Some(fields) = pg_error_fields(b) else {
        return;
    };
    let field = |code: u8| {
        fields
            .iter()
            .find(|(c, _)| *c == code)
            .map(|(_, v)| v.as_str())
    };
    let Some(range) = field(b'M').and_then(|m| m.split_once("server supports ")) else {
        return;
    };
    let range = range.1.trim();
    let file = field(b'F').unwrap_or_default();
    let from_startup = field(b'R') == Some("ProcessStartupPacket");
    s.version = match (range.split_once(" to "), file) {
        _ if !from_startup => None,
        (Some(("3.0", latest)), _) if latest != "3.0" => Some(">=18"),
        (Some(("3.0", "3.0")), "backend_startup.c") => Some("17"),
        (Some(("3.0", "3.0")), "postmaster.c") => Some("14-16"),
        (Some(("1.0" | "2.0", "3.0")), _) => Some("<=13"),
        _ => None,
    }
    .map(str::to_owned);
    if let Some(detail) = s.detail.as_object_mut() {
        detail.insert("protocols".into(), range.into());
        detail.insert(
            "source".into(),
            format!(
                "{file}:{} {}",
                field(b'L').unwrap_or("?"),
                field(b'R').unwrap_or("?")
            )
            .into(),
        );
    }
}

/// A MongoDB reply: a message header whose opCode is OP_MSG (2013) answering request 1.
#[must_use]
pub fn parse_mongodb(b: &[u8]) -> Option<Service> {
    (b.len() >= 16 && b[8..12] == [1, 0, 0, 0] && b[12..16] == [0xdd, 7, 0, 0])
        .then(|| svc("mongodb", Some("MongoDB"), None))
}

/// A Kafka ApiVersions reply: a size, then our correlation id 1.
#[must_use]
pub fn parse_kafka(b: &[u8]) -> Option<Service> {
    let size = u32::from_be_bytes(b.get(..4)?.try_into().ok()?) as usize;
    (b.len() >= 8 && b[4..8] == [0, 0, 0, 1] && (4..1 << 20).contains(&size))
        .then(|| svc("kafka", Some("Kafka"), None))
}

/// AMQP: a Connection.Start method frame (class 10, method 10), or the protocol header a
/// broker sends back when it wants another version.
#[must_use]
pub fn parse_amqp(b: &[u8]) -> Option<Service> {
    let start = b.len() >= 11 && b[0] == 1 && b[7..11] == [0, 10, 0, 10];
    let header = b.starts_with(b"AMQP");
    if !start && !header {
        return None;
    }
    let text = String::from_utf8_lossy(b);
    let product = text.contains("RabbitMQ").then_some("RabbitMQ");
    Some(svc("amqp", product, None))
}

/// A DNS reply over TCP to query id 6: length prefix, the id, the QR bit set.
#[must_use]
pub fn parse_dns(b: &[u8]) -> Option<Service> {
    if b.len() < 14 || b[2..4] != [0, 6] || b[4] & 0x80 == 0 {
        return None;
    }
    let text = String::from_utf8_lossy(&b[14..]);
    let product = ["dnsmasq", "BIND", "unbound", "PowerDNS", "Knot"]
        .into_iter()
        .find(|p| text.contains(p));
    let mut s = svc("dns", product, None);
    if let Some(i) = text.find("dnsmasq-") {
        s.version = Some(
            text[i + 8..]
                .chars()
                .take_while(|c| c.is_ascii_digit() || *c == '.')
                .collect(),
        );
    }
    Some(s)
}

/// `VERSION 1.6.18`.
#[must_use]
pub fn parse_memcached(b: &[u8]) -> Option<Service> {
    let text = String::from_utf8_lossy(b);
    let v = text.lines().next()?.strip_prefix("VERSION ")?;
    Some(svc("memcached", Some("memcached"), Some(v.trim())))
}

/// A JDWP reply to VirtualMachine.Version (id 1): header (length, id, flags 0x80, error
/// code 0), then description, JDWP major and minor, the VM's version and its name.
#[must_use]
pub(super) fn jdwp_version_reply(b: &[u8]) -> Option<Service> {
    let len = u32::from_be_bytes(b.get(0..4)?.try_into().ok()?) as usize;
    let id = u32::from_be_bytes(b.get(4..8)?.try_into().ok()?);
    if len < 11 || len > b.len() || id != 1 || *b.get(8)? != 0x80 {
        return None;
    }
    let mut s = Service::new("jdwp");
    if b.get(9..11)? != [0, 0] {
        // An error reply is still the agent's.
        return Some(s);
    }
    let body = &b[11..len];
    let string = |at: usize| -> Option<(String, usize)> {
        let n = u32::from_be_bytes(body.get(at..at + 4)?.try_into().ok()?) as usize;
        let text = body.get(at + 4..at + 4 + n)?;
        Some((String::from_utf8_lossy(text).into_owned(), at + 4 + n))
    };
    let parsed = (|| {
        let (_description, at) = string(0)?;
        let (version, at) = string(at + 8)?;
        let (name, _) = string(at)?;
        Some((version, name))
    })();
    if let Some((version, name)) = parsed {
        s.product = Some(name).filter(|n| !n.is_empty());
        s.version = Some(version).filter(|v| !v.is_empty());
    }
    Some(s)
}

#[cfg(feature = "tls")]
/// Cipher suites a legacy ClientHello offers (old and new), with their names.
const LEGACY_SUITES: &[(u16, &str)] = &[
    (0xc02f, "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"),
    (0xc030, "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"),
    (0xc02b, "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"),
    (0xc02c, "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"),
    (0xc013, "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA"),
    (0xc014, "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA"),
    (0xc009, "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA"),
    (0xc00a, "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA"),
    (0x009c, "TLS_RSA_WITH_AES_128_GCM_SHA256"),
    (0x009d, "TLS_RSA_WITH_AES_256_GCM_SHA384"),
    (0x0033, "TLS_DHE_RSA_WITH_AES_128_CBC_SHA"),
    (0x0039, "TLS_DHE_RSA_WITH_AES_256_CBC_SHA"),
    (0x002f, "TLS_RSA_WITH_AES_128_CBC_SHA"),
    (0x0035, "TLS_RSA_WITH_AES_256_CBC_SHA"),
    (0x000a, "TLS_RSA_WITH_3DES_EDE_CBC_SHA"),
    (0x0005, "TLS_RSA_WITH_RC4_128_SHA"),
    (0x0004, "TLS_RSA_WITH_RC4_128_MD5"),
];

#[cfg(feature = "tls")]
/// Suites modern clients (browsers, curl with OpenSSL 3, rustls) still take, in TLS 1.2.
const MODERN_SUITES: &[u16] = &[0xc02f, 0xc030, 0xc02b, 0xc02c];

#[cfg(feature = "tls")]
/// A TLS 1.2 ClientHello that also offers TLS 1.0 and 1.1 and old cipher suites, to learn
/// what a server that refused a modern handshake does speak. Read-only: the handshake is
/// never finished.
#[must_use]
pub(super) fn legacy_client_hello() -> Vec<u8> {
    let mut ext = Vec::new();
    let mut push_ext = |ty: u16, body: &[u8]| {
        ext.extend_from_slice(&ty.to_be_bytes());
        ext.extend_from_slice(&(body.len() as u16).to_be_bytes());
        ext.extend_from_slice(body);
    };
    // server_name: localhost.
    let name = b"localhost";
    let mut sni = ((name.len() + 3) as u16).to_be_bytes().to_vec();
    sni.push(0);
    sni.extend_from_slice(&(name.len() as u16).to_be_bytes());
    sni.extend_from_slice(name);
    push_ext(0x0000, &sni);
    // supported_groups: x25519, secp256r1, secp384r1.
    push_ext(0x000a, &[0, 6, 0x00, 0x1d, 0x00, 0x17, 0x00, 0x18]);
    // ec_point_formats: uncompressed.
    push_ext(0x000b, &[1, 0]);
    // signature_algorithms: RSA and ECDSA with SHA-256/384/512/1, RSA-PSS.
    let algs: [u16; 10] = [
        0x0401, 0x0501, 0x0601, 0x0201, 0x0403, 0x0503, 0x0203, 0x0804, 0x0805, 0x0806,
    ];
    let mut sig = ((algs.len() * 2) as u16).to_be_bytes().to_vec();
    for a in algs {
        sig.extend_from_slice(&a.to_be_bytes());
    }
    push_ext(0x000d, &sig);
    // renegotiation_info, empty.
    push_ext(0xff01, &[0]);
    let mut hello = vec![0x03, 0x03];
    hello.extend((0u8..32).map(|i| i.wrapping_mul(37).wrapping_add(11)));
    hello.push(0); // no session id
    hello.extend_from_slice(&((LEGACY_SUITES.len() * 2) as u16).to_be_bytes());
    for (id, _) in LEGACY_SUITES {
        hello.extend_from_slice(&id.to_be_bytes());
    }
    hello.extend_from_slice(&[1, 0]); // compression: null
    hello.extend_from_slice(&(ext.len() as u16).to_be_bytes());
    hello.extend_from_slice(&ext);
    let mut hs = vec![1];
    hs.extend_from_slice(&(hello.len() as u32).to_be_bytes()[1..]);
    hs.extend_from_slice(&hello);
    let mut record = vec![0x16, 0x03, 0x01];
    record.extend_from_slice(&(hs.len() as u16).to_be_bytes());
    record.extend_from_slice(&hs);
    record
}

#[cfg(feature = "tls")]
/// What a server answered [`legacy_client_hello`]: the version and suite it chose, or the
/// alert it sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum LegacyAnswer {
    /// A ServerHello.
    Hello {
        /// `TLSv1.0`, `TLSv1.1`, `TLSv1.2`.
        version: String,
        /// The suite's name (or its number).
        cipher: String,
        /// A suite modern clients refuse (or a version they refuse).
        modern: bool,
    },
    /// A TLS alert instead: its description.
    Alert(u8),
}

#[cfg(feature = "tls")]
/// Reads the first record of a reply to [`legacy_client_hello`].
#[must_use]
pub(super) fn parse_legacy_answer(b: &[u8]) -> Option<LegacyAnswer> {
    match *b.first()? {
        0x15 => Some(LegacyAnswer::Alert(*b.get(6)?)),
        0x16 if *b.get(5)? == 2 => {
            let version = u16::from_be_bytes([*b.get(9)?, *b.get(10)?]);
            let sid = usize::from(*b.get(43)?);
            let at = 44 + sid;
            let cipher = u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]);
            let name = LEGACY_SUITES
                .iter()
                .find(|(id, _)| *id == cipher)
                .map_or_else(|| format!("0x{cipher:04x}"), |(_, n)| (*n).to_owned());
            let version_name = match version {
                0x0301 => "TLSv1.0".to_owned(),
                0x0302 => "TLSv1.1".to_owned(),
                0x0303 => "TLSv1.2".to_owned(),
                0x0300 => "SSLv3".to_owned(),
                v => format!("0x{v:04x}"),
            };
            Some(LegacyAnswer::Hello {
                version: version_name,
                cipher: name,
                modern: version == 0x0303 && MODERN_SUITES.contains(&cipher),
            })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {

    /// A PostgreSQL ErrorResponse made of `fields`.
    fn pg_error(fields: &[(u8, &str)]) -> Vec<u8> {
        let mut body = Vec::new();
        for (code, value) in fields {
            body.push(*code);
            body.extend_from_slice(value.as_bytes());
            body.push(0);
        }
        body.push(0);
        let mut msg = vec![b'E'];
        msg.extend_from_slice(&(body.len() as u32 + 4).to_be_bytes());
        msg.extend(body);
        msg
    }

    #[test]
    fn postgresql_error_fields_name_the_release() {
        // What PostgreSQL 15.18 answered here to a startup packet of protocol 4.0.
        let pg15: &[u8] = b"E\x00\x00\x00\x83SFATAL\x00VFATAL\x00C0A000\x00Munsupported frontend protocol 4.0: server supports 3.0 to 3.0\x00Fpostmaster.c\x00L2222\x00RProcessStartupPacket\x00\x00";
        let mut s = parse_pg_ssl(b"N").expect("pg");
        add_pg_protocol_error(&mut s, pg15);
        assert_eq!(s.version.as_deref(), Some("14-16"));
        assert_eq!(s.detail["protocols"], "3.0 to 3.0");
        assert_eq!(s.detail["source"], "postmaster.c:2222 ProcessStartupPacket");
        assert_eq!(s.detail["tls_offered"], false);
        let version = |msg: &str, file: &str| {
            let mut s = parse_pg_ssl(b"S").expect("pg");
            add_pg_protocol_error(
                &mut s,
                &pg_error(&[
                    (b'S', "FATAL"),
                    (b'C', "0A000"),
                    (b'M', msg),
                    (b'F', file),
                    (b'L', "2100"),
                    (b'R', "ProcessStartupPacket"),
                ]),
            );
            s.version
        };
        let refused = "unsupported frontend protocol 4.0: server supports";
        assert_eq!(
            version(&format!("{refused} 3.0 to 3.0"), "backend_startup.c").as_deref(),
            Some("17")
        );
        assert_eq!(
            version(&format!("{refused} 3.0 to 3.2"), "backend_startup.c").as_deref(),
            Some(">=18")
        );
        assert_eq!(
            version(&format!("{refused} 1.0 to 3.0"), "postmaster.c").as_deref(),
            Some("<=13")
        );
        assert_eq!(version("something else", "postmaster.c"), None);
        // Not PostgreSQL's own routine (a pooler speaking its protocol): no release.
        let mut s = parse_pg_ssl(b"N").expect("pg");
        add_pg_protocol_error(
            &mut s,
            &pg_error(&[(b'S', "FATAL"), (b'M', &format!("{refused} 3.0 to 3.0"))]),
        );
        assert_eq!(s.version, None);
        // Cut anywhere, or without a severity: not an error message.
        for cut in 0..pg15.len() {
            assert!(pg_error_fields(&pg15[..cut]).is_none(), "cut at {cut}");
        }
        assert!(pg_error_fields(&pg_error(&[(b'M', "no severity")])).is_none());
        // Its own error in reply to the SSLRequest: a full server is `server-full`'s.
        let full = pg_error(&[
            (b'S', "FATAL"),
            (b'V', "FATAL"),
            (b'C', "53300"),
            (b'M', "sorry, too many clients already"),
        ]);
        let s = parse_pg_ssl(&full).expect("pg");
        assert_eq!(s.detail["server_full"], true);
        assert_eq!(s.detail["error"], "sorry, too many clients already");
        assert_eq!(s.detail["sqlstate"], "53300");
    }

    #[test]
    fn versions_from_redis_info_and_devtools() {
        let info = b"$120\r\n# Server\r\nredis_version:7.0.15\r\nredis_git_sha1:00000000\r\n";
        assert_eq!(redis_version(info).as_deref(), Some("7.0.15"));
        assert_eq!(redis_version(b"-NOAUTH Authentication required.\r\n"), None);
        assert_eq!(
            devtools_browser(r#"{"Browser": "node.js/v18.19.0", "Protocol-Version": "1.1"}"#),
            Some(("node.js".into(), Some("v18.19.0".into())))
        );
        assert_eq!(devtools_browser("not json"), None);
    }

    #[test]
    fn ftp_and_smtp_banners_name_their_product() {
        let v = classify_banner(b"220 (vsFTPd 3.0.3)\r\n").expect("ftp");
        assert_eq!(
            (v.name.as_str(), v.product.as_deref(), v.version.as_deref()),
            ("ftp", Some("vsFTPd"), Some("3.0.3"))
        );
        let p = classify_banner(b"220 ProFTPD 1.3.8 Server (Debian) [::ffff:127.0.0.1]\r\n")
            .expect("ftp");
        assert_eq!(
            (p.product.as_deref(), p.version.as_deref()),
            (Some("ProFTPD"), Some("1.3.8"))
        );
        let m = classify_banner(b"220 mail.example ESMTP Postfix (Debian/GNU)\r\n").expect("smtp");
        assert_eq!(
            (m.name.as_str(), m.product.as_deref()),
            ("smtp", Some("Postfix"))
        );
        let plain = classify_banner(b"220 Welcome\r\n").expect("smtp");
        assert_eq!(plain.product, None);
        let oops = classify_banner(
            b"500 OOPS: vsftpd: refusing to run with writable root inside chroot()\r\n",
        )
        .expect("an error banner is still ftp");
        assert_eq!(
            (oops.name.as_str(), oops.product.as_deref()),
            ("ftp", Some("vsftpd"))
        );
        assert!(
            oops.detail["error"]
                .as_str()
                .is_some_and(|e| e.contains("writable root"))
        );
    }

    #[test]
    fn full_servers_are_recognised_with_their_error() {
        let r = parse_redis(b"-ERR max number of clients reached\r\n").expect("redis");
        assert_eq!(
            (r.name.as_str(), &r.detail["server_full"]),
            ("redis", &serde_json::json!(true))
        );
        let r = classify_banner(b"-ERR max number of clients reached\r\n").expect("banner");
        assert_eq!(r.name, "redis");
        // MySQL's error packet: length 0x17, sequence 0, 0xff, code 1040 (0x0410), message.
        let mut pkt = vec![0x17, 0, 0, 0, 0xff, 0x10, 0x04];
        pkt.extend_from_slice(b"Too many connections");
        let m = classify_banner(&pkt).expect("mysql");
        assert_eq!(m.name, "mysql");
        assert_eq!(m.detail["server_full"], true);
        assert_eq!(m.detail["error"], "Too many connections");
        let mut other = pkt.clone();
        other[5] = 0x15; // 1045: access denied
        assert_eq!(
            classify_banner(&other).expect("mysql").detail["server_full"],
            false
        );
    }

    use super::*;

    #[test]
    fn banners() {
        let s = classify_banner(b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u10\r\n").expect("ssh");
        assert_eq!(
            (s.name.as_str(), s.product.as_deref(), s.version.as_deref()),
            ("ssh", Some("OpenSSH"), Some("9.2p1"))
        );
        // MariaDB greeting: length 0x5b0000, seq 0, protocol 10, version, NUL.
        let mut m = vec![0x5b, 0, 0, 0, 10];
        m.extend_from_slice(b"5.5.5-10.11.19-MariaDB-0+deb12u1\0rest");
        let s = classify_banner(&m).expect("mysql");
        assert_eq!(
            (s.name.as_str(), s.product.as_deref()),
            ("mysql", Some("MariaDB"))
        );
        assert_eq!(s.version.as_deref(), Some("10.11.19-MariaDB-0+deb12u1"));
        assert_eq!(
            classify_banner(b"220 (vsFTPd 3.0.3)\r\n").map(|s| s.name),
            Some("ftp".into())
        );
        assert_eq!(
            classify_banner(b"220 mx ESMTP Postfix\r\n").map(|s| s.name),
            Some("smtp".into())
        );
        assert_eq!(
            classify_banner(b"* OK IMAP4rev1\r\n").map(|s| s.name),
            Some("imap".into())
        );
        assert_eq!(
            classify_banner(&[0, 0, 6, 4, 0, 0, 0, 0, 0, 0, 5]).map(|s| s.name),
            Some("grpc".into())
        );
        assert_eq!(classify_banner(b"hello there\n"), None);
    }

    #[test]
    fn http_replies() {
        let r = parse_http(b"HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nContent-Type: text/html\r\n\r\n<html><head><TITLE>Hello Dev</TITLE>").expect("http");
        assert_eq!(
            (r.status, r.server.as_deref(), r.title.as_deref()),
            (200, Some("nginx/1.22.1"), Some("Hello Dev"))
        );
        let r =
            parse_http(b"HTTP/1.1 426 Upgrade Required\r\nUpgrade: websocket\r\n\r\n").expect("ws");
        assert_eq!(r.upgrade.as_deref(), Some("websocket"));
        assert_eq!(parse_http(b"SSH-2.0-x\r\n"), None);
        let s = super::super::http_service(
            &parse_http(b"HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\n\r\n").expect("http"),
        );
        assert_eq!(
            (s.product.as_deref(), s.version.as_deref()),
            (Some("nginx"), Some("1.22.1"))
        );
    }

    #[test]
    fn more_binary_replies() {
        // MongoDB: length, requestID, responseTo 1, opCode 2013.
        let mongo = [0x40, 0, 0, 0, 9, 0, 0, 0, 1, 0, 0, 0, 0xdd, 7, 0, 0, 0];
        assert_eq!(
            parse_mongodb(&mongo).map(|s| s.name),
            Some("mongodb".into())
        );
        assert!(parse_mongodb(&mongo[..10]).is_none());
        // Kafka: size 10, correlation id 1, error 35, ...
        let kafka = [0, 0, 0, 10, 0, 0, 0, 1, 0, 35, 0, 0, 0, 0];
        assert_eq!(parse_kafka(&kafka).map(|s| s.name), Some("kafka".into()));
        assert!(parse_kafka(&[0, 0, 0, 10, 0, 0, 0, 2]).is_none());
        // RabbitMQ Connection.Start: frame type 1, channel 0, size, class 10, method 10.
        let mut amqp = vec![1, 0, 0, 0, 0, 1, 0xfc, 0, 10, 0, 10, 0, 9];
        amqp.extend_from_slice(b"\x07productS\x00\x00\x00\x08RabbitMQ");
        let s = parse_amqp(&amqp).expect("amqp");
        assert_eq!(s.product.as_deref(), Some("RabbitMQ"));
        assert!(parse_amqp(b"AMQP\0\0\x09\x01").is_some());
        assert!(parse_amqp(b"HTTP/1.1 200").is_none());
        // DNS over TCP: length, id 6, flags 0x8580, ..., TXT "dnsmasq-2.90".
        let mut dns = vec![0, 60, 0, 6, 0x85, 0x80, 0, 1, 0, 1, 0, 0, 0, 0];
        dns.extend_from_slice(
            b"\x07version\x04bind\0\0\x10\0\x03\xc0\x0c\0\x10\0\x03\0\0\0\0\0\x0d\x0cdnsmasq-2.90",
        );
        let s = parse_dns(&dns).expect("dns");
        assert_eq!(
            (s.product.as_deref(), s.version.as_deref()),
            (Some("dnsmasq"), Some("2.90"))
        );
        assert!(parse_dns(&dns[..10]).is_none());
    }

    #[test]
    fn binary_replies() {
        assert_eq!(
            parse_redis(b"+PONG\r\n").map(|s| s.detail["auth_required"].clone()),
            Some(false.into())
        );
        assert_eq!(
            parse_redis(b"-NOAUTH Authentication required.\r\n")
                .map(|s| s.detail["auth_required"].clone()),
            Some(true.into())
        );
        assert!(parse_redis(b"HTTP/1.1 400\r\n").is_none());
        assert_eq!(
            parse_pg_ssl(b"S").map(|s| s.name),
            Some("postgresql".into())
        );
        assert!(parse_pg_ssl(b"SS").is_none());
        assert_eq!(
            parse_memcached(b"VERSION 1.6.18\r\n").and_then(|s| s.version),
            Some("1.6.18".into())
        );
        assert!(parse_memcached(b"ERROR\r\n").is_none());
    }

    /// Bytes a hostile server may send: anything, and near-misses of each protocol's
    /// framing, so parsing gets deep. No parser may panic, and what it extracts is never
    /// longer than what it was given.
    mod props {
        use proptest::prelude::*;

        use super::super::*;

        fn service_len(s: &Service) -> usize {
            s.name.len()
                + s.product.as_ref().map_or(0, String::len)
                + s.version.as_ref().map_or(0, String::len)
        }

        fn near_misses() -> impl Strategy<Value = Vec<u8>> {
            let prefix = prop_oneof![
                Just(b"SSH-2.0-".to_vec()),
                Just(b"HTTP/1.1 ".to_vec()),
                Just(vec![0x4a, 0, 0, 0, 10]),
                Just(vec![0x10, 0, 0, 0, 0xff]),
                Just(b"+".to_vec()),
                Just(b"-NOAUTH".to_vec()),
                Just(b"E".to_vec()),
                Just(b"VERSION ".to_vec()),
                Just(vec![0, 0, 0, 6, 0, 0, 0, 0, 0]),
                Just(b"AMQP".to_vec()),
                Just(vec![0, 30, 0, 6, 0x81, 0x80]),
                Just(vec![0x34, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0xdd, 7, 0, 0]),
                Just(Vec::new()),
            ];
            (prefix, proptest::collection::vec(any::<u8>(), 0..600)).prop_map(|(mut p, rest)| {
                p.extend(rest);
                p
            })
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(2000))]

            #[test]
            fn replies_never_panic(b in near_misses()) {
                for s in [
                    classify_banner(&b),
                    parse_redis(&b),
                    parse_pg_ssl(&b),
                    parse_mongodb(&b),
                    parse_kafka(&b),
                    parse_amqp(&b),
                    parse_dns(&b),
                    parse_memcached(&b),
                ]
                .into_iter()
                .flatten()
                {
                    // Lossy decoding turns a bad byte into three: bound by that.
                    prop_assert!(service_len(&s) <= 3 * b.len() + 32);
                }
                let _ = is_h2_settings(&b);
                let _ = crate::wait::parse_status(&b);
                if let Some(r) = parse_http(&b) {
                    prop_assert!((100..1000).contains(&r.status));
                    prop_assert!(r.title.as_ref().map_or(0, String::len) <= 3 * b.len());
                    prop_assert!(r.body_start.chars().count() <= 200);
                }
            }

            #[test]
            fn any_http_status_line_parses(code in 100u16..600, rest in "[ -~]{0,40}") {
                let reply = format!("HTTP/1.1 {code} {rest}\r\nServer: x\r\n\r\n");
                prop_assert_eq!(parse_http(reply.as_bytes()).map(|r| r.status), Some(code));
            }

            #[test]
            fn ssh_banners_keep_their_product(product in "[A-Za-z]{1,12}", version in "[0-9.p]{1,8}") {
                let b = format!("SSH-2.0-{product}_{version} extra\r\n");
                let s = classify_banner(b.as_bytes()).expect("ssh");
                prop_assert_eq!(s.name.as_str(), "ssh");
                prop_assert_eq!(s.product.as_deref(), Some(product.as_str()));
                prop_assert_eq!(s.version.as_deref(), Some(version.as_str()));
            }
        }

        #[cfg(feature = "tls")]
        proptest! {
            #![proptest_config(ProptestConfig::with_cases(500))]

            #[test]
            fn certificates_never_panic(der in proptest::collection::vec(any::<u8>(), 0..1200)) {
                let mut info = crate::probe::TlsInfo::default();
                crate::probe::describe_certificate(&der, &mut info);
            }
        }
    }

    #[test]
    fn jdwp_version_replies_and_echoes() {
        let string = |t: &str| {
            let mut v = (t.len() as u32).to_be_bytes().to_vec();
            v.extend_from_slice(t.as_bytes());
            v
        };
        let mut body = string("Java Debug Wire Protocol");
        body.extend_from_slice(&[0, 0, 0, 17, 0, 0, 0, 0]);
        body.extend(string("17.0.13"));
        body.extend(string("OpenJDK 64-Bit Server VM"));
        let mut reply = ((11 + body.len()) as u32).to_be_bytes().to_vec();
        reply.extend_from_slice(&[0, 0, 0, 1, 0x80, 0, 0]);
        reply.extend(body);
        let s = jdwp_version_reply(&reply).expect("jdwp");
        assert_eq!(s.product.as_deref(), Some("OpenJDK 64-Bit Server VM"));
        assert_eq!(s.version.as_deref(), Some("17.0.13"));
        // An echo of the command packet (flags 0) is no reply.
        assert!(jdwp_version_reply(&[0, 0, 0, 11, 0, 0, 0, 1, 0, 1, 1]).is_none());
        assert!(jdwp_version_reply(&reply[..10]).is_none());
    }

    #[test]
    #[cfg(feature = "tls")]
    fn legacy_hello_and_answers() {
        let h = legacy_client_hello();
        assert_eq!(&h[..3], &[0x16, 0x03, 0x01]);
        assert_eq!(usize::from(u16::from_be_bytes([h[3], h[4]])), h.len() - 5);
        assert_eq!(h[5], 1, "ClientHello");
        // A ServerHello: TLS 1.0, no session id, TLS_RSA_WITH_AES_128_CBC_SHA.
        let mut sh = vec![0x16, 0x03, 0x01, 0, 42, 2, 0, 0, 38, 0x03, 0x01];
        sh.extend([7u8; 32]);
        sh.extend([0, 0x00, 0x2f, 0]);
        assert_eq!(
            parse_legacy_answer(&sh),
            Some(LegacyAnswer::Hello {
                version: "TLSv1.0".into(),
                cipher: "TLS_RSA_WITH_AES_128_CBC_SHA".into(),
                modern: false,
            })
        );
        assert_eq!(
            parse_legacy_answer(&[0x15, 0x03, 0x01, 0, 2, 2, 70]),
            Some(LegacyAnswer::Alert(70))
        );
        assert_eq!(parse_legacy_answer(&sh[..20]), None);
    }
}
