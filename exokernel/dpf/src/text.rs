//! The text syntax of filter files (documented in the crate README):
//!
//! ```text
//! # comment
//! dns env=2 share: 12:2=0x0800 23:1=17 ip_hl 2:2=53
//! ```
//!
//! One filter per line: a name, options (`env=N`, owner, default 1; `share`, anyone may
//! overlap it), a colon, then atoms: `OFF:W=VAL`, `OFF:W&MASK=VAL`, `@OFF&MASK*SCALE+ADD`
//! (indirection; `&MASK`, `*SCALE`, `+ADD` optional), and `ip_hl` for `@14&0xf*4+14`.

use crate::atom::{full_mask, Atom, Field, Shift};
use crate::verify::{Filter, FilterError};
use crate::EnvId;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

/// The owner of filters whose line names none.
pub const DEFAULT_ENV: EnvId = 1;

/// One parsed and verified line.
#[derive(Clone, Debug)]
pub struct Spec {
    pub line: usize,
    pub name: String,
    pub env: EnvId,
    pub share: bool,
    pub filter: Filter,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SyntaxError {
    MissingColon,
    BadName(String),
    BadOption(String),
    BadAtom(String),
    BadNumber(String),
    DuplicateName(String),
    Filter(FilterError),
}

/// A [`SyntaxError`] at a 1-based line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    pub line: usize,
    pub error: SyntaxError,
}

impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SyntaxError::MissingColon => write!(f, "expected `NAME [env=N] [share]: ATOMS`"),
            SyntaxError::BadName(s) => write!(f, "bad filter name `{s}`"),
            SyntaxError::BadOption(s) => {
                write!(f, "unknown option `{s}` (known: env=N, share)")
            }
            SyntaxError::BadAtom(s) => write!(
                f,
                "bad atom `{s}` (expected OFF:W=VAL, OFF:W&MASK=VAL, @OFF&MASK*SCALE+ADD or ip_hl)"
            ),
            SyntaxError::BadNumber(s) => write!(f, "bad number `{s}`"),
            SyntaxError::DuplicateName(s) => write!(f, "filter `{s}` defined twice"),
            SyntaxError::Filter(e) => write!(f, "{e}"),
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.error)
    }
}

/// Parse and verify a filter file.
pub fn parse(text: &str) -> Result<Vec<Spec>, ParseError> {
    let mut out: Vec<Spec> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let spec = parse_line(i + 1, line).map_err(|error| ParseError { line: i + 1, error })?;
        if out.iter().any(|s| s.name == spec.name) {
            return Err(ParseError {
                line: i + 1,
                error: SyntaxError::DuplicateName(spec.name),
            });
        }
        out.push(spec);
    }
    Ok(out)
}

fn parse_line(line: usize, text: &str) -> Result<Spec, SyntaxError> {
    let (head, body) = text.split_once(':').ok_or(SyntaxError::MissingColon)?;
    let mut words = head.split_whitespace();
    let name = words.next().ok_or(SyntaxError::MissingColon)?;
    let name_ok = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c))
        && name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_');
    if !name_ok {
        return Err(SyntaxError::BadName(name.to_string()));
    }
    let (mut env, mut share) = (DEFAULT_ENV, false);
    for w in words {
        match w.split_once('=') {
            Some(("env", n)) => env = number(n)?,
            None if w == "share" => share = true,
            // An atom before the first colon: the name's colon is missing.
            _ if w.starts_with(|c: char| c.is_ascii_digit() || c == '@') || w == "ip_hl" => {
                return Err(SyntaxError::MissingColon)
            }
            _ => return Err(SyntaxError::BadOption(w.to_string())),
        }
    }
    let atoms = body
        .split_whitespace()
        .map(parse_atom)
        .collect::<Result<Vec<_>, _>>()?;
    let filter = Filter::new(&atoms).map_err(SyntaxError::Filter)?;
    Ok(Spec {
        line,
        name: name.to_string(),
        env,
        share,
        filter,
    })
}

/// A decimal or `0x` hexadecimal `u32`.
fn number(s: &str) -> Result<u32, SyntaxError> {
    let r = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(h) => u32::from_str_radix(h, 16),
        None => s.parse(),
    };
    r.map_err(|_| SyntaxError::BadNumber(s.to_string()))
}

/// One atom in the file syntax.
pub fn parse_atom(s: &str) -> Result<Atom, SyntaxError> {
    if s == "ip_hl" {
        return Ok(Atom::Shift(Shift::IP_HL));
    }
    let bad = || SyntaxError::BadAtom(s.to_string());
    if let Some(rest) = s.strip_prefix('@') {
        return parse_shift(rest, s);
    }
    let (off, rest) = s.split_once(':').ok_or_else(bad)?;
    let (lhs, value) = rest.split_once('=').ok_or_else(bad)?;
    let (width, mask) = match lhs.split_once('&') {
        Some((w, m)) => (number(w)?, Some(number(m)?)),
        None => (number(lhs)?, None),
    };
    let field = Field {
        offset: number(off)?,
        width,
        mask: mask.unwrap_or(full_mask(width)),
    };
    Ok(Atom::Eq {
        field,
        value: number(value)?,
    })
}

/// `OFF[&MASK][*SCALE][+ADD]` (after the `@` of `whole`).
fn parse_shift(s: &str, whole: &str) -> Result<Atom, SyntaxError> {
    let end = |t: &str| t.find(['&', '*', '+']).unwrap_or(t.len());
    let (off, mut rest) = s.split_at(end(s));
    let mut sh = Shift {
        offset: number(off)?,
        mask: 0xff,
        scale: 1,
        add: 0,
    };
    for op in ['&', '*', '+'] {
        if let Some(r) = rest.strip_prefix(op) {
            let (n, r) = r.split_at(end(r));
            let v = number(n)?;
            match op {
                '&' => sh.mask = v,
                '*' => sh.scale = v,
                _ => sh.add = v,
            }
            rest = r;
        }
    }
    if !rest.is_empty() {
        return Err(SyntaxError::BadAtom(whole.to_string()));
    }
    Ok(Atom::Shift(sh))
}
