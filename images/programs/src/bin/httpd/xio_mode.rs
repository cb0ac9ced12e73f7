//! httpd on XIO (`httpd --xio ...`): Cheetah's way. Whole responses (head
//! and body) are cached with their checksums precomputed per segment, sent
//! by the device straight from the cache and retransmitted from it.

use super::docs::Docs;
use alloc::collections::BTreeMap;
use alloc::rc::Rc;
use alloc::string::String;
use alloc::vec::Vec;
use libos::net::http::{self, Method, Refusal, Request};
use libos::net::xio::{Response, Server};
use libos::println;

fn image(
    status: (u16, &str),
    ctype: &str,
    body: &[u8],
    with_body: bool,
    keep_alive: bool,
) -> Vec<u8> {
    let mut v = http::head(status, ctype, body.len(), keep_alive).into_bytes();
    if with_body {
        v.extend_from_slice(body);
    }
    v
}

pub fn run(ip: [u8; 4], port: u16, root: &str, mut docs: Docs) -> u8 {
    let mut server = match Server::new(ip, port) {
        Ok(s) => s,
        Err(e) => {
            println!("httpd: no network: {e:?}");
            return 3;
        }
    };
    // (path, GET?, keep-alive?) -> the response as it goes on the wire.
    let mut cache: BTreeMap<(String, bool, bool), Rc<Response>> = BTreeMap::new();
    let mut serve = |r: Result<&Request, Refusal>| -> Rc<Response> {
        match r {
            Err(refusal) => {
                let msg = alloc::format!("{} {}\n", refusal.status().0, refusal.status().1);
                Rc::new(Response::new(image(
                    refusal.status(),
                    "text/plain",
                    msg.as_bytes(),
                    true,
                    false,
                )))
            }
            Ok(req) => {
                let get = req.method == Method::Get;
                let key = (req.path.clone(), get, req.keep_alive);
                if let Some(r) = cache.get(&key) {
                    return r.clone();
                }
                let resp = match docs.get(&req.path) {
                    Some(doc) => Rc::new(Response::new(image(
                        (200, "OK"),
                        http::content_type(&req.path),
                        &doc,
                        get,
                        req.keep_alive,
                    ))),
                    None => {
                        return Rc::new(Response::new(image(
                            (404, "Not Found"),
                            "text/plain",
                            b"not found\n",
                            get,
                            req.keep_alive,
                        )))
                    }
                };
                cache.insert(key, resp.clone());
                resp
            }
        }
    };
    println!("httpd: serving '{root}' on XIO, port {port}");
    let mut reported = 4;
    loop {
        let busy = server.poll(&mut serve);
        let s = server.stats;
        if s.responses >= reported {
            println!(
                "httpd: xio: {} responses, {} segments ({} with precomputed checksums, {} retransmitted)",
                s.responses, s.segments, s.precomputed, s.retransmits
            );
            reported *= 4;
        }
        if !busy {
            server.wait();
        }
    }
}
