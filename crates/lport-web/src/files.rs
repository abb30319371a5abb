//! The pure parts of static file serving: a URL path as the names it walks through (refusing
//! `..`, encoded separators and NUL; the opener, `lport::beneath`, refuses symlinks), MIME
//! types, byte ranges, validators and directory listings. Everything here is synchronous
//! and tested without a server.

use std::fmt::Write as _;
use std::path::Path;
use std::time::SystemTime;

use percent_encoding::percent_decode_str;

/// Why a URL path is not served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reject {
    /// Malformed, or trying to climb out of the directory (`..`, encoded slashes, NUL).
    BadPath,
}

/// The names a URL path walks through inside the served directory, decoded: `/a/./b%20c`
/// is `["a", "b c"]`, `/` none. `..`, encoded separators and NUL are refused, so no name
/// climbs out; symlinks are the opener's to refuse ([`lport::beneath`]).
pub fn segments(url_path: &str) -> Result<Vec<String>, Reject> {
    let raw = url_path.split(['?', '#']).next().unwrap_or("");
    if !raw.starts_with('/') {
        return Err(Reject::BadPath);
    }
    let mut out = Vec::new();
    for seg in raw.split('/').filter(|s| !s.is_empty()) {
        let seg = percent_decode_str(seg)
            .decode_utf8()
            .map_err(|_| Reject::BadPath)?;
        if seg == "." {
            continue;
        }
        if seg == ".." || seg.contains(['/', '\\', '\0']) {
            return Err(Reject::BadPath);
        }
        out.push(seg.into_owned());
    }
    Ok(out)
}

/// The MIME type for a file name, by extension.
#[must_use]
pub fn mime_for(path: &Path) -> &'static str {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match ext.as_deref() {
        Some("html" | "htm") => "text/html; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("json" | "map") => "application/json",
        Some("txt" | "log") => "text/plain; charset=utf-8",
        Some("md") => "text/markdown; charset=utf-8",
        Some("csv") => "text/csv; charset=utf-8",
        Some("xml") => "application/xml",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("gif") => "image/gif",
        Some("webp") => "image/webp",
        Some("avif") => "image/avif",
        Some("ico") => "image/x-icon",
        Some("wasm") => "application/wasm",
        Some("pdf") => "application/pdf",
        Some("zip") => "application/zip",
        Some("gz") => "application/gzip",
        Some("tar") => "application/x-tar",
        Some("woff") => "font/woff",
        Some("woff2") => "font/woff2",
        Some("ttf") => "font/ttf",
        Some("otf") => "font/otf",
        Some("mp4") => "video/mp4",
        Some("webm") => "video/webm",
        Some("mp3") => "audio/mpeg",
        Some("ogg") => "audio/ogg",
        Some("wav") => "audio/wav",
        _ => "application/octet-stream",
    }
}

/// What a `Range` header asks of a body of `len` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeAsk {
    /// No usable range: send everything.
    Full,
    /// Bytes `start..=end`.
    Part(u64, u64),
    /// Cannot be satisfied (416).
    Unsatisfiable,
}

/// Parses a single-range `Range` header (`bytes=0-99`, `bytes=100-`, `bytes=-50`).
/// Several ranges are answered with the full body, which RFC 9110 allows.
#[must_use]
pub fn parse_range(header: Option<&str>, len: u64) -> RangeAsk {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return RangeAsk::Full;
    };
    if spec.contains(',') {
        return RangeAsk::Full;
    }
    let Some((a, b)) = spec.trim().split_once('-') else {
        return RangeAsk::Full;
    };
    let (a, b) = (a.trim(), b.trim());
    let parse = |s: &str| s.parse::<u64>().ok();
    let range = match (a.is_empty(), b.is_empty()) {
        (true, false) => match parse(b) {
            Some(0) | None => return RangeAsk::Unsatisfiable,
            Some(n) => (len.saturating_sub(n), len.saturating_sub(1)),
        },
        (false, true) => match parse(a) {
            Some(s) => (s, len.saturating_sub(1)),
            None => return RangeAsk::Full,
        },
        (false, false) => match (parse(a), parse(b)) {
            (Some(s), Some(e)) if s <= e => (s, e.min(len.saturating_sub(1))),
            (Some(_), Some(_)) => return RangeAsk::Unsatisfiable,
            _ => return RangeAsk::Full,
        },
        (true, true) => return RangeAsk::Full,
    };
    if len == 0 || range.0 >= len {
        return RangeAsk::Unsatisfiable;
    }
    RangeAsk::Part(range.0, range.1)
}

/// A strong validator from size and modification time.
#[must_use]
pub fn etag(len: u64, modified: SystemTime) -> String {
    let nanos = modified
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("\"{len:x}-{nanos:x}\"")
}

/// Escapes text for HTML.
#[must_use]
pub fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// What a file name keeps unescaped in a link: letters, digits and `-._~`.
const HREF: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// An HTML listing of a directory's entries, folders first; `url_path` ends with `/`.
/// `more` says the listing was cut at its cap, and says so on the page.
#[must_use]
pub fn listing(entries: &mut [lport::beneath::Entry], more: bool, url_path: &str) -> String {
    entries.sort_by(|a, b| b.is_dir.cmp(&a.is_dir).then_with(|| a.name.cmp(&b.name)));
    let title = html_escape(url_path);
    let mut html = format!(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>Index of {title}</title></head>\n<body><h1>Index of {title}</h1>\n<ul>\n"
    );
    if url_path != "/" {
        html.push_str("<li><a href=\"../\">../</a></li>\n");
    }
    for e in entries.iter() {
        let slash = if e.is_dir { "/" } else { "" };
        let href: String = percent_encoding::utf8_percent_encode(&e.name, HREF).to_string();
        let _ = writeln!(
            html,
            "<li><a href=\"{href}{slash}\">{}{slash}</a>{}</li>",
            html_escape(&e.name),
            if e.is_file {
                format!(" ({} bytes)", e.len)
            } else {
                String::new()
            }
        );
    }
    html.push_str("</ul>\n");
    if more {
        let _ = writeln!(
            html,
            "<p>The first {} entries are listed; the directory has more.</p>",
            entries.len()
        );
    }
    html.push_str("</body></html>\n");
    html
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(parse_range(None, 100), RangeAsk::Full);
        assert_eq!(parse_range(Some("bytes=0-9"), 100), RangeAsk::Part(0, 9));
        assert_eq!(parse_range(Some("bytes=90-"), 100), RangeAsk::Part(90, 99));
        assert_eq!(parse_range(Some("bytes=-10"), 100), RangeAsk::Part(90, 99));
        assert_eq!(
            parse_range(Some("bytes=50-500"), 100),
            RangeAsk::Part(50, 99)
        );
        assert_eq!(
            parse_range(Some("bytes=100-"), 100),
            RangeAsk::Unsatisfiable
        );
        assert_eq!(parse_range(Some("bytes=9-1"), 100), RangeAsk::Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=-0"), 100), RangeAsk::Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=0-1,5-6"), 100), RangeAsk::Full);
        assert_eq!(parse_range(Some("items=0-1"), 100), RangeAsk::Full);
        assert_eq!(parse_range(Some("bytes=x-y"), 100), RangeAsk::Full);
    }

    #[test]
    fn url_paths_become_names_that_cannot_climb_out() {
        let ok = |p: &str| segments(p).expect(p);
        assert_eq!(ok("/sub/a.txt"), ["sub", "a.txt"]);
        assert_eq!(ok("/sub/%61.txt"), ["sub", "a.txt"]);
        assert_eq!(ok("//sub/./a.txt?x=1#y"), ["sub", "a.txt"]);
        assert!(ok("/").is_empty());
        for bad in [
            "/../secret.txt",
            "/sub/%2e%2e/%2e%2e/secret.txt",
            "/sub%2f..%2f..%2fsecret.txt",
            "/a%5cb",
            "/a%00b",
            "/%ff",
            "relative",
        ] {
            assert_eq!(segments(bad), Err(Reject::BadPath), "{bad}");
        }
    }

    #[test]
    fn mime_types_etags_and_escaping() {
        assert_eq!(
            mime_for(Path::new("a/index.HTML")),
            "text/html; charset=utf-8"
        );
        assert_eq!(
            mime_for(Path::new("app.mjs")),
            "text/javascript; charset=utf-8"
        );
        assert_eq!(mime_for(Path::new("x.wasm")), "application/wasm");
        assert_eq!(mime_for(Path::new("noext")), "application/octet-stream");
        let t = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1);
        assert_eq!(etag(255, t), "\"ff-3b9aca00\"");
        assert_eq!(
            html_escape("<a href='x'>&"),
            "&lt;a href=&#39;x&#39;&gt;&amp;"
        );
    }

    #[test]
    fn listings_escape_names() {
        let entry = |name: &str, is_dir: bool| lport::beneath::Entry {
            name: name.into(),
            is_dir,
            is_file: !is_dir,
            len: 5,
            modified: None,
        };
        let mut entries = vec![entry("a <b>.txt", false), entry("z-dir", true)];
        let html = listing(&mut entries, false, "/x/");
        assert!(html.contains("<a href=\"z-dir/\">z-dir/</a>"), "{html}");
        assert!(html.contains("<a href=\"a%20%3Cb%3E.txt\">"), "{html}");
        assert!(html.contains("a &lt;b&gt;.txt</a> (5 bytes)"), "{html}");
        assert!(html.find("z-dir").expect("dir") < html.find("a &lt;b").expect("file"));
        assert!(!html.contains("entries are listed"));
        let html = listing(&mut entries, true, "/x/");
        assert!(html.contains("The first 2 entries are listed"), "{html}");
    }

    mod props {
        use proptest::prelude::*;

        use super::super::*;

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(3000))]

            /// A range is always inside the file, or refused.
            #[test]
            fn ranges_stay_inside_the_file(
                h in "bytes=[0-9 ,-]{0,30}|\\PC{0,30}",
                len in prop_oneof![Just(0u64), 1u64..10, any::<u64>()],
            ) {
                if let RangeAsk::Part(s, e) = parse_range(Some(&h), len) {
                    prop_assert!(s <= e && e < len, "{h:?} over {len}: {s}-{e}");
                }
            }

            #[test]
            fn numeric_ranges(s in any::<u64>(), e in any::<u64>(), len in 1u64..1_000_000) {
                match parse_range(Some(&format!("bytes={s}-{e}")), len) {
                    RangeAsk::Part(a, b) => prop_assert!(a == s && b == e.min(len - 1)),
                    RangeAsk::Unsatisfiable => prop_assert!(s > e || s >= len),
                    RangeAsk::Full => prop_assert!(false, "a plain range is never ignored"),
                }
            }
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(500))]

            /// No URL path, however spelled or encoded, names a way out of the root.
            #[test]
            fn paths_never_escape_the_root(p in "(/|\\.|\\.\\.|%2e|%2f|%5c|%00|a|b|\\\\){0,12}") {
                if let Ok(names) = segments(&format!("/{p}")) {
                    for n in &names {
                        prop_assert!(n != ".." && n != "." && !n.is_empty(), "{p:?} -> {names:?}");
                        prop_assert!(!n.contains(['/', '\\', '\0']), "{p:?} -> {names:?}");
                    }
                }
            }
        }
    }
}
