//! The DPF calls: install, remove and share filters, register the packet
//! ring, demultiplex now, set the transmit filter, and classify a frame
//! without a device (to measure the classifier where it runs).

use super::{with, Ring};
use crate::mem::user;
use crate::syscalls::{done, val, Cx, SysResult};
use alloc::vec::Vec;
use exo_abi::dpf::{MAX_FILTER_TEXT, MAX_RING_PAGES, MIN_RING_PAGES};
use exo_abi::env::Resource;
use exo_abi::layout::USER_TOP;
use exo_abi::syscall::arg::UserBytes;
use exo_abi::syscall::{args, Error};
use exo_abi::trace::{class, event};
use exo_dpf::{Filter, Grantee, InsertError};

/// A filter from its text (`exo dpf` atom syntax).
fn filter_in<const MIN: u64>(
    text: UserBytes<MIN, { MAX_FILTER_TEXT as u64 }>,
) -> Result<Filter, Error> {
    let mut buf = [0u8; MAX_FILTER_TEXT];
    let buf = &mut buf[..text.len()];
    user::copy_in(text.ptr, buf).map_err(|_| Error::Fault)?;
    let text = core::str::from_utf8(buf).map_err(|_| Error::Invalid)?;
    let atoms = text
        .split_whitespace()
        .map(exo_dpf::text::parse_atom)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| Error::Invalid)?;
    Filter::new(&atoms).map_err(|_| Error::Invalid)
}

pub fn sys_insert(cx: &mut Cx<'_>, a: args::DpfInsert) -> SysResult {
    let f = filter_in(a.text)?;
    let natoms = f.atoms().len() as u64;
    let me = cx.k.current_id();
    let slot = cx.k.current;
    // Charged to the caller's budget of filters; and the heap's headroom.
    cx.k.charge(slot, Resource::Filters, 1)?;
    let r = with(|s| {
        let mine = s
            .engine
            .filters()
            .filter(|(id, _)| s.engine.owner(*id) == Some(me))
            .count();
        if mine >= super::FILTERS_PER_ENV || !super::heap_has_room() {
            return Err(Error::NoMem);
        }
        s.engine.insert(me, f).map_err(|e| match e {
            InsertError::Overlap { .. } => Error::Taken,
            _ => Error::NoMem,
        })
    });
    if r.is_err() {
        cx.k.uncharge(slot, Resource::Filters, 1);
    }
    let shown = match r {
        Ok(id) => (id as u64, natoms),
        Err(_) => (u64::MAX, u64::MAX),
    };
    crate::trace::emit(
        class::DPF,
        event::DPF_INSERT,
        cx.k.current,
        shown.0,
        shown.1,
    );
    val(r? as u64)
}

pub fn sys_remove(cx: &mut Cx<'_>, a: args::DpfRemove) -> SysResult {
    let me = cx.k.current_id();
    with(|s| s.engine.remove(me, a.id).map_err(|_| Error::Denied))?;
    let slot = cx.k.current;
    cx.k.uncharge(slot, Resource::Filters, 1);
    crate::trace::emit(class::DPF, event::DPF_REMOVE, cx.k.current, a.id as u64, 0);
    done()
}

pub fn sys_permit(cx: &mut Cx<'_>, a: args::DpfPermit) -> SysResult {
    let who = match a.to {
        None => Grantee::Anyone,
        Some(e) => Grantee::Env(e.0),
    };
    let me = cx.k.current_id();
    with(|s| s.engine.permit(me, a.id, who).map_err(|_| Error::Denied))?;
    done()
}

/// Registers (or with `npages` 0, drops) the caller's ring.
pub fn sys_ring(cx: &mut Cx<'_>, a: args::NetRing) -> SysResult {
    let me = cx.k.current_id();
    if a.npages == 0 {
        with(|s| Ok(s.rings.remove(&me)))?;
        return done();
    }
    if !a.va.is_multiple_of(4096)
        || !(MIN_RING_PAGES..=MAX_RING_PAGES).contains(&a.npages)
        || a.va
            .checked_add(a.npages * 4096)
            .is_none_or(|e| e > USER_TOP)
    {
        return Err(Error::Invalid);
    }
    let pml4 = cx.k.current_pml4()?;
    // Every page must be writable by the caller now (checked by writing).
    let zero = [0u8; 8];
    for p in 0..a.npages {
        user::copy_out_in(pml4, a.va + p * 4096, &zero).map_err(|_| Error::Fault)?;
    }
    let ring = Ring::new(a.va, a.npages);
    ring.publish(pml4).map_err(|_| Error::Fault)?;
    with(|s| Ok(s.rings.insert(me, ring)))?;
    done()
}

pub fn sys_poll(cx: &mut Cx<'_>, _: args::NetPoll) -> SysResult {
    val(super::poll(cx.k))
}

/// The caller's frames must pass `text` to be sent. Set once: an
/// environment can neither remove nor widen its own transmit filter (it
/// goes with the environment), so what it may send is fixed.
pub fn sys_tx_filter(cx: &mut Cx<'_>, a: args::DpfTxFilter) -> SysResult {
    let me = cx.k.current_id();
    if a.text.is_empty() {
        return Err(Error::Invalid);
    }
    let f = filter_in(a.text)?;
    with(|s| {
        if s.tx.contains_key(&me) {
            return Err(Error::Denied);
        }
        s.tx.insert(me, f);
        Ok(())
    })?;
    done()
}

/// Runs the classifier on a copy of `frame` `repeat` times, as `poll` does
/// for a received packet; says whose filter claims it only to its owner.
pub fn sys_classify(cx: &mut Cx<'_>, a: args::DpfClassify) -> SysResult {
    let mut buf = [0u8; exo_abi::syscall::NET_MAX_FRAME];
    let frame = &mut buf[..a.frame.len()];
    user::copy_in(a.frame.ptr, frame).map_err(|_| Error::Fault)?;
    let me = cx.k.current_id();
    let verdict = with(|s| {
        let mut v = None;
        for _ in 0..a.repeat.get() {
            v = core::hint::black_box(super::classify(s, core::hint::black_box(frame)));
        }
        Ok(v.map(|f| (f, s.engine.owner(f))))
    })?;
    match verdict {
        None => val(u32::MAX as u64),
        Some((f, Some(owner))) if owner == me => val(f as u64),
        Some(_) => Err(Error::Taken),
    }
}
