//! HTTP/1.1 requests and response headers, as pure functions on bytes so
//! the host tests them; the server loop lives in the `httpd` program.

use alloc::format;
use alloc::string::String;

/// Longest request head we accept.
pub const MAX_HEAD: usize = 8192;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    pub method: Method,
    /// The document path without the leading '/', "index.html" for "/".
    pub path: String,
    pub keep_alive: bool,
}

/// A refused request, answered with this status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    BadRequest,
    MethodNotAllowed,
    TooLarge,
    VersionNotSupported,
}

impl Refusal {
    pub fn status(self) -> (u16, &'static str) {
        match self {
            Refusal::BadRequest => (400, "Bad Request"),
            Refusal::MethodNotAllowed => (405, "Method Not Allowed"),
            Refusal::TooLarge => (431, "Request Header Fields Too Large"),
            Refusal::VersionNotSupported => (505, "HTTP Version Not Supported"),
        }
    }
}

/// Where the head of the request in `buf` ends (after the blank line), if
/// it is complete.
pub fn head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4)
}

/// Parses a complete request head.
pub fn parse(head: &[u8]) -> Result<Request, Refusal> {
    if head.len() > MAX_HEAD {
        return Err(Refusal::TooLarge);
    }
    let text = core::str::from_utf8(head).map_err(|_| Refusal::BadRequest)?;
    let mut lines = text.split("\r\n");
    let line = lines.next().ok_or(Refusal::BadRequest)?;
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Refusal::BadRequest);
    };
    let http11 = match version {
        "HTTP/1.1" => true,
        "HTTP/1.0" => false,
        v if v.starts_with("HTTP/") => return Err(Refusal::VersionNotSupported),
        _ => return Err(Refusal::BadRequest),
    };
    let method = match method {
        "GET" => Method::Get,
        "HEAD" => Method::Head,
        m if !m.is_empty() && m.bytes().all(|b| b.is_ascii_uppercase()) => {
            return Err(Refusal::MethodNotAllowed)
        }
        _ => return Err(Refusal::BadRequest),
    };
    let path = target.strip_prefix('/').ok_or(Refusal::BadRequest)?;
    let path = path.split(['?', '#']).next().unwrap_or("");
    if path.split('/').any(|seg| seg == "..") || path.bytes().any(|b| b < 0x21 || b == b'\\') {
        return Err(Refusal::BadRequest);
    }
    let mut keep_alive = http11;
    let mut host = false;
    for h in lines.filter(|l| !l.is_empty()) {
        let (name, value) = h.split_once(':').ok_or(Refusal::BadRequest)?;
        let value = value.trim();
        if name.eq_ignore_ascii_case("connection") {
            if value.eq_ignore_ascii_case("close") {
                keep_alive = false;
            } else if value.eq_ignore_ascii_case("keep-alive") {
                keep_alive = true;
            }
        } else if name.eq_ignore_ascii_case("host") {
            host = true;
        }
    }
    if http11 && !host {
        return Err(Refusal::BadRequest); // RFC 9112: Host is required
    }
    let path = if path.is_empty() { "index.html" } else { path };
    Ok(Request {
        method,
        path: path.into(),
        keep_alive,
    })
}

/// A document's media type, from its name.
pub fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, e)| e) {
        Some("html") | Some("htm") => "text/html",
        Some("txt") => "text/plain",
        Some("css") => "text/css",
        Some("js") => "text/javascript",
        Some("json") => "application/json",
        Some("png") => "image/png",
        _ => "application/octet-stream",
    }
}

/// The status line and headers of a response with a body of `len` bytes.
pub fn head(status: (u16, &str), ctype: &str, len: usize, keep_alive: bool) -> String {
    format!(
        "HTTP/1.1 {} {}\r\nServer: exo-httpd\r\nContent-Type: {ctype}\r\nContent-Length: {len}\r\nConnection: {}\r\n\r\n",
        status.0,
        status.1,
        if keep_alive { "keep-alive" } else { "close" }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_gets_and_heads() {
        let r = parse(b"GET /a/b.txt?x=1 HTTP/1.1\r\nHost: h\r\n\r\n").unwrap();
        assert_eq!(
            r,
            Request {
                method: Method::Get,
                path: "a/b.txt".into(),
                keep_alive: true
            }
        );
        let r = parse(b"HEAD / HTTP/1.0\r\n\r\n").unwrap();
        assert_eq!(
            (r.method, r.path.as_str(), r.keep_alive),
            (Method::Head, "index.html", false)
        );
        let r = parse(b"GET /x HTTP/1.1\r\nhost: h\r\nConnection: close\r\n\r\n").unwrap();
        assert!(!r.keep_alive);
    }

    #[test]
    fn refuses_bad_requests_with_the_right_status() {
        for (req, want) in [
            (&b"GARBAGE\r\n\r\n"[..], Refusal::BadRequest),
            (b"GET /x HTTP/1.1\r\n\r\n", Refusal::BadRequest), // no Host
            (b"GET x HTTP/1.1\r\nHost: h\r\n\r\n", Refusal::BadRequest),
            (
                b"GET /../etc/passwd HTTP/1.1\r\nHost: h\r\n\r\n",
                Refusal::BadRequest,
            ),
            (
                b"POST /x HTTP/1.1\r\nHost: h\r\n\r\n",
                Refusal::MethodNotAllowed,
            ),
            (
                b"GET /x HTTP/2.0\r\nHost: h\r\n\r\n",
                Refusal::VersionNotSupported,
            ),
            (
                b"GET /x HTTP/1.1\r\nbroken header\r\n\r\n",
                Refusal::BadRequest,
            ),
            (
                b"GET /\xff HTTP/1.1\r\nHost: h\r\n\r\n",
                Refusal::BadRequest,
            ),
        ] {
            assert_eq!(parse(req), Err(want), "{}", String::from_utf8_lossy(req));
        }
        let mut big = b"GET / HTTP/1.1\r\nHost: h\r\nX: ".to_vec();
        big.resize(MAX_HEAD + 10, b'a');
        assert_eq!(parse(&big), Err(Refusal::TooLarge));
    }

    #[test]
    fn heads_and_types() {
        assert_eq!(head_end(b"GET / HTTP/1.1\r\n\r\nrest"), Some(18));
        assert_eq!(head_end(b"GET / HTTP/1.1\r\n"), None);
        assert_eq!(content_type("a.html"), "text/html");
        assert_eq!(content_type("noext"), "application/octet-stream");
        let h = head((200, "OK"), "text/plain", 5, true);
        assert!(h.starts_with("HTTP/1.1 200 OK\r\n") && h.contains("Content-Length: 5\r\n"));
        assert!(h.ends_with("Connection: keep-alive\r\n\r\n"));
    }
}
