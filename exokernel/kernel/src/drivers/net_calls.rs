//! The network calls: the MAC address, transmission (whole frames copied,
//! or gathered with the payload read in place), and raw receive for the
//! root capability. Who may send what is DPF's: the device's capability
//! sends anything, anyone else only what its transmit filter (set once,
//! never removed) accepts, and then only a copy of what the filter saw.

use super::device_cap;
use super::virtio_net::{NetError, MAX_FRAME, NET};
use crate::mem::frames::{pin, unpin};
use crate::mem::{paging, user, PAGE_SIZE};
use crate::syscalls::{done, val, Cx, SysResult};
use exo_abi::cap::{PERM_READ, PERM_WRITE};
use exo_abi::syscall::{args, Error, NET_MAX_GATHER_HEAD};

fn send_error(e: NetError) -> Error {
    match e {
        NetError::Size => Error::Invalid,
        NetError::Full => Error::Busy,
    }
}

pub fn sys_info(_: &mut Cx<'_>, _: args::NetInfo) -> SysResult {
    let guard = NET.lock();
    let net = guard.as_ref().ok_or(Error::NoEnv)?;
    let mut b = [0u8; 8];
    b[..6].copy_from_slice(&net.mac);
    val(u64::from_le_bytes(b))
}

pub fn sys_send(cx: &mut Cx<'_>, a: args::NetSend) -> SysResult {
    let mut buf = [0u8; MAX_FRAME];
    let buf = &mut buf[..a.frame.len()];
    user::copy_in(a.frame.ptr, buf).map_err(|_| Error::Fault)?;
    if device_cap(cx.k, a.cap, PERM_WRITE).is_err() && !crate::dpf::may_send(cx.k, buf) {
        return Err(Error::Denied);
    }
    let mut guard = NET.lock();
    guard
        .as_mut()
        .ok_or(Error::NoEnv)?
        .send(buf)
        .map_err(send_error)?;
    done()
}

/// A frame whose payload the device reads from the caller's own pages.
pub fn sys_send_gather(cx: &mut Cx<'_>, a: args::NetSendGather) -> SysResult {
    // Both lengths are bounded by their types, so the sum cannot wrap.
    let total = a.head.len() + a.data.len();
    if total > MAX_FRAME {
        return Err(Error::Invalid);
    }
    let mut hbuf = [0u8; NET_MAX_GATHER_HEAD];
    let hbuf = &mut hbuf[..a.head.len()];
    user::copy_in(a.head.ptr, hbuf).map_err(|_| Error::Fault)?;
    if device_cap(cx.k, a.cap, PERM_WRITE).is_err() {
        // The transmit filter sees the whole frame, as for net_send, and the
        // device sends exactly what it saw: the copy, never the caller's
        // pages, which it could rewrite after the check.
        let mut whole = [0u8; MAX_FRAME];
        whole[..hbuf.len()].copy_from_slice(hbuf);
        user::copy_in(a.data.ptr, &mut whole[hbuf.len()..total]).map_err(|_| Error::Fault)?;
        if !crate::dpf::may_send(cx.k, &whole[..total]) {
            return Err(Error::Denied);
        }
        let mut guard = NET.lock();
        let net = guard.as_mut().ok_or(Error::NoEnv)?;
        net.send(&whole[..total]).map_err(send_error)?;
        return done();
    }
    // The payload's physical pieces, each checked readable by the caller.
    let pml4 = cx.k.current_pml4()?;
    let mut frags = [(0u64, 0u32); 2];
    let mut n = 0;
    let (mut va, end) = (a.data.ptr, a.data.ptr + a.data.len);
    while va < end {
        let take = (PAGE_SIZE - va % PAGE_SIZE).min(end - va);
        let pa = paging::translate_in(pml4, va, false).ok_or(Error::Fault)?;
        let frag = frags.get_mut(n).ok_or(Error::Invalid)?;
        *frag = (pa, take as u32);
        n += 1;
        va += take;
    }
    // Pinned until the device has read them: the caller may unmap or free
    // them after we return, but they stay out of anyone else's hands.
    let mut pins = [u64::MAX; 2];
    for (i, f) in frags[..n].iter().enumerate() {
        if !pin(f.0 / PAGE_SIZE) {
            pins[..i].iter().for_each(|p| unpin(*p));
            return Err(Error::Fault);
        }
        pins[i] = f.0 / PAGE_SIZE;
    }
    let mut guard = NET.lock();
    let r = match guard.as_mut() {
        Some(net) => net.send_gather(hbuf, &frags[..n], pins).map_err(send_error),
        None => Err(Error::NoEnv),
    };
    if r.is_err() {
        pins[..n].iter().for_each(|p| unpin(*p));
    }
    r?;
    done()
}

pub fn sys_recv(cx: &mut Cx<'_>, a: args::NetRecv) -> SysResult {
    device_cap(cx.k, a.cap, PERM_READ)?;
    let mut guard = NET.lock();
    let net = guard.as_mut().ok_or(Error::NoEnv)?;
    let taken = net.recv(|frame| {
        if frame.len() > a.buf.len() {
            return Err(Error::Invalid);
        }
        // A bad pointer leaves the frame queued.
        user::copy_out(a.buf.ptr, frame).map_err(|_| Error::Fault)?;
        Ok(frame.len() as u64)
    });
    match taken {
        None => val(0),
        Some(r) => val(r?),
    }
}
