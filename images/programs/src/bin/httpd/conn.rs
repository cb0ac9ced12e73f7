//! One HTTP connection: gathers a request head, answers it from the
//! documents, streams the answer into the TCP socket as room appears, and
//! keeps the connection for the next request when the client wants that.
//! The head and the start of the body go out together, so small documents
//! leave in one segment that also carries the ACK of the request.

use super::docs::Docs;
use alloc::rc::Rc;
use alloc::vec::Vec;
use libos::net::http::{self, Method, Refusal, MAX_HEAD};
use smoltcp::socket::tcp::Socket;

#[derive(Default)]
pub struct Conn {
    request: Vec<u8>,
    /// Head, then body (shared with the cache, not copied), and how much of
    /// the two has been sent.
    head: Vec<u8>,
    body: Option<Rc<Vec<u8>>>,
    sent: usize,
    close_after: bool,
    pub served: u64,
}

impl Conn {
    fn pending(&self) -> bool {
        !self.head.is_empty()
    }

    fn answer(&mut self, docs: &mut Docs) {
        let Some(end) = http::head_end(&self.request) else {
            if self.request.len() > MAX_HEAD {
                self.refuse(Refusal::TooLarge);
            }
            return;
        };
        let parsed = http::parse(&self.request[..end]);
        self.request.drain(..end);
        match parsed {
            Err(r) => self.refuse(r),
            Ok(req) => {
                let found = docs.get(&req.path);
                self.close_after = !req.keep_alive;
                match found {
                    Some(doc) => {
                        let h = http::head(
                            (200, "OK"),
                            http::content_type(&req.path),
                            doc.len(),
                            req.keep_alive,
                        );
                        self.head = h.into_bytes();
                        self.body = (req.method == Method::Get).then_some(doc);
                    }
                    None => {
                        let msg = b"not found\n";
                        let h =
                            http::head((404, "Not Found"), "text/plain", msg.len(), req.keep_alive);
                        self.head = h.into_bytes();
                        self.body = (req.method == Method::Get).then(|| Rc::new(msg.to_vec()));
                    }
                }
            }
        }
        self.sent = 0;
        self.served += 1;
    }

    fn refuse(&mut self, r: Refusal) {
        let msg = alloc::format!("{} {}\n", r.status().0, r.status().1);
        let mut h = http::head(r.status(), "text/plain", msg.len(), false);
        if r == Refusal::MethodNotAllowed {
            h = h.replacen("\r\n\r\n", "\r\nAllow: GET, HEAD\r\n\r\n", 1);
        }
        self.head = h.into_bytes();
        self.body = Some(Rc::new(msg.into_bytes()));
        self.sent = 0;
        self.close_after = true;
        self.request.clear();
    }

    /// Moves data between the socket and this connection; whether anything
    /// happened.
    pub fn serve(&mut self, s: &mut Socket, docs: &mut Docs) -> bool {
        let mut busy = false;
        if !self.pending() && s.can_recv() {
            let _ = s.recv(|d| {
                self.request.extend_from_slice(d);
                (d.len(), ())
            });
            busy = true;
            self.answer(docs);
        }
        while self.pending() && s.can_send() {
            let hl = self.head.len();
            let n = if self.sent < hl {
                s.send_slice(&self.head[self.sent..]).unwrap_or(0)
            } else {
                let body = self.body.as_deref().map_or(&[][..], |b| &b[..]);
                s.send_slice(&body[self.sent - hl..]).unwrap_or(0)
            };
            if n == 0 {
                break;
            }
            busy = true;
            self.sent += n;
            let total = hl + self.body.as_ref().map_or(0, |b| b.len());
            if self.sent >= total {
                self.head.clear();
                self.body = None;
                if self.close_after {
                    s.close();
                } else if !self.request.is_empty() {
                    self.answer(docs); // a pipelined request
                }
            }
        }
        busy
    }
}
