//! DPF in the kernel (thesis §3.2, §6.1): environments install filters; every
//! received packet is classified by the merged trie's compiled code (or its
//! interpreter, `exo.dpf=interp`) and copied once, from the device's buffer
//! into the owning environment's packet ring. Unclaimed packets are counted.
//! Transmission is allowed to environments with filters, through an
//! optional per-environment filter that every outgoing frame must match.

mod ring;

use crate::env::Kernel;
use crate::mem::user;
use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;
use exo_abi::dpf::{MAX_RING_PAGES, MIN_RING_PAGES};
use exo_abi::syscall::Error;
use exo_abi::trace::{class, event};
use exo_dpf::{Dpf, Filter, Grantee, InsertError};
use ring::Ring;
use spin::Mutex;

struct State {
    engine: Dpf,
    /// Packet rings by environment id.
    rings: BTreeMap<u32, Ring>,
    /// Anti-spoofing filters by environment id.
    tx: BTreeMap<u32, Filter>,
    /// Classify with the trie interpreter instead of the JIT's code.
    interp: bool,
}

static STATE: Mutex<Option<State>> = Mutex::new(None);

/// Chooses the classifier (`exo.dpf=interp` for the interpreter).
pub fn init(cmdline: &str) {
    let interp = crate::pvh::cmdline_value(cmdline, "exo.dpf") == Some("interp");
    *STATE.lock() = Some(State {
        engine: Dpf::default(),
        rings: BTreeMap::new(),
        tx: BTreeMap::new(),
        interp,
    });
    if crate::drivers::virtio_net::NET.lock().is_some() {
        crate::kprintln!("exo: dpf: packets classified by the {}", classifier());
    }
}

fn with<R>(f: impl FnOnce(&mut State) -> Result<R, Error>) -> Result<R, Error> {
    f(STATE.lock().as_mut().ok_or(Error::NoEnv)?)
}

/// A filter from its text (`exo dpf` atom syntax), at most 512 bytes.
fn filter_in(ptr: u64, len: u64) -> Result<Filter, Error> {
    if len == 0 || len > 512 {
        return Err(Error::Invalid);
    }
    let mut buf = [0u8; 512];
    user::copy_in(ptr, &mut buf[..len as usize]).map_err(|_| Error::Fault)?;
    let text = core::str::from_utf8(&buf[..len as usize]).map_err(|_| Error::Invalid)?;
    let atoms = text
        .split_whitespace()
        .map(exo_dpf::text::parse_atom)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| Error::Invalid)?;
    Filter::new(&atoms).map_err(|_| Error::Invalid)
}

pub fn insert(k: &Kernel, ptr: u64, len: u64) -> Result<u64, Error> {
    let f = filter_in(ptr, len)?;
    let natoms = f.atoms().len() as u64;
    let me = k.current_id();
    let r = with(|s| {
        s.engine.insert(me, f).map_err(|e| match e {
            InsertError::Overlap { .. } => Error::Taken,
            _ => Error::NoMem,
        })
    });
    let shown = match r {
        Ok(id) => (id as u64, natoms),
        Err(_) => (u64::MAX, u64::MAX),
    };
    crate::trace::emit(class::DPF, event::DPF_INSERT, k.current, shown.0, shown.1);
    r.map(u64::from)
}

pub fn remove(k: &Kernel, id: u64) -> Result<u64, Error> {
    let id = u32::try_from(id).map_err(|_| Error::Invalid)?;
    with(|s| {
        s.engine
            .remove(k.current_id(), id)
            .map_err(|_| Error::Denied)
    })?;
    crate::trace::emit(class::DPF, event::DPF_REMOVE, k.current, id as u64, 0);
    Ok(0)
}

pub fn permit(k: &Kernel, id: u64, env: u64) -> Result<u64, Error> {
    let id = u32::try_from(id).map_err(|_| Error::Invalid)?;
    let who = match env {
        0 => Grantee::Anyone,
        e => Grantee::Env(u32::try_from(e).map_err(|_| Error::Invalid)?),
    };
    with(|s| {
        s.engine
            .permit(k.current_id(), id, who)
            .map_err(|_| Error::Denied)
    })?;
    Ok(0)
}

/// Registers (or with `npages` 0, drops) the caller's ring.
pub fn set_ring(k: &Kernel, va: u64, npages: u64) -> Result<u64, Error> {
    let me = k.current_id();
    if npages == 0 {
        with(|s| Ok(s.rings.remove(&me)))?;
        return Ok(0);
    }
    if !va.is_multiple_of(4096)
        || !(MIN_RING_PAGES..=MAX_RING_PAGES).contains(&npages)
        || va
            .checked_add(npages * 4096)
            .is_none_or(|e| e > exo_abi::layout::USER_TOP)
    {
        return Err(Error::Invalid);
    }
    let pml4 = k.envs[k.current].space.as_ref().ok_or(Error::NoEnv)?.pml4;
    // Every page must be writable by the caller now (checked by writing).
    let zero = [0u8; 8];
    for p in 0..npages {
        user::copy_out_in(pml4, va + p * 4096, &zero).map_err(|_| Error::Fault)?;
    }
    let ring = Ring::new(va, npages);
    ring.publish(pml4).map_err(|_| Error::Fault)?;
    with(|s| Ok(s.rings.insert(me, ring)))?;
    Ok(0)
}

pub fn set_tx_filter(k: &Kernel, ptr: u64, len: u64) -> Result<u64, Error> {
    let me = k.current_id();
    if len == 0 {
        with(|s| Ok(s.tx.remove(&me)))?;
        return Ok(0);
    }
    let f = filter_in(ptr, len)?;
    with(|s| Ok(s.tx.insert(me, f)))?;
    Ok(0)
}

/// Whether the caller may send `frame` without the device capability: it
/// takes part in DPF (holds a filter), and the frame passes its tx filter.
pub fn may_send(k: &Kernel, frame: &[u8]) -> bool {
    let me = k.current_id();
    STATE.lock().as_ref().is_some_and(|s| {
        s.engine
            .filters()
            .any(|(id, _)| s.engine.owner(id) == Some(me))
            && s.tx.get(&me).is_none_or(|f| f.matches(frame))
    })
}

/// Forgets everything of environment `id` (it is gone).
pub fn env_gone(id: u32) {
    if let Some(s) = STATE.lock().as_mut() {
        s.rings.remove(&id);
        s.tx.remove(&id);
        let mine: Vec<u32> = s
            .engine
            .filters()
            .filter(|(f, _)| s.engine.owner(*f) == Some(id))
            .map(|(f, _)| f)
            .collect();
        for f in mine {
            let _ = s.engine.remove(id, f);
        }
    }
}

/// Classifies with the compiled trie.
fn classify(s: &State, pkt: &[u8]) -> Option<u32> {
    if s.interp {
        return s.engine.classify(pkt);
    }
    let code = s.engine.code();
    // SAFETY: the JIT emits one position-independent sysv64 function that
    // reads only `pkt[..len]`; its bytes live in the kernel heap, which the
    // kernel's direct map leaves executable. `code` is not changed while we
    // hold the state lock.
    let f: extern "sysv64" fn(*const u8, usize) -> u32 =
        unsafe { core::mem::transmute(code.as_ptr()) };
    match f(pkt.as_ptr(), pkt.len()) {
        u32::MAX => None,
        id => Some(id),
    }
}

/// Moves every packet the device holds into its owner's ring; returns how
/// many were taken. Does nothing while no ring is registered (the raw
/// calls then serve the device).
pub fn poll(k: &Kernel) -> u64 {
    let mut guard = STATE.lock();
    let Some(s) = guard.as_mut() else {
        return 0;
    };
    if s.rings.is_empty() {
        return 0;
    }
    let mut net = crate::drivers::virtio_net::NET.lock();
    let Some(dev) = net.as_mut() else {
        return 0;
    };
    let (mut n, mut delivered, mut unclaimed, mut dropped) = (0u64, 0u64, 0u64, 0u64);
    while let Some(Ok(())) = dev.recv(|frame| {
        let t0 = crate::arch::cpu::rdtsc();
        let verdict = classify(s, frame);
        let cycles = crate::arch::cpu::rdtsc() - t0;
        let owner = verdict.and_then(|f| s.engine.owner(f));
        let slot = owner.map_or(0, exo_abi::env::env_slot);
        crate::trace::emit(
            class::DPF,
            event::DPF_VERDICT,
            slot,
            verdict.unwrap_or(u32::MAX) as u64,
            cycles,
        );
        match (verdict, owner) {
            (Some(f), Some(o)) => {
                let pml4 = k
                    .slot_of(o)
                    .ok()
                    .and_then(|sl| k.envs[sl].space.as_ref())
                    .map(|sp| sp.pml4);
                let ok = match (s.rings.get_mut(&o), pml4) {
                    (Some(r), Some(pml4)) => r.deliver(pml4, f, frame),
                    _ => false,
                };
                if ok {
                    delivered += 1;
                } else {
                    dropped += 1;
                }
            }
            _ => unclaimed += 1,
        }
        Ok::<(), ()>(())
    }) {
        n += 1;
    }
    let sys = k.sys();
    sys.net_delivered += delivered;
    sys.net_unclaimed += unclaimed;
    sys.net_dropped += dropped;
    n
}

/// The name of the classifier in use, for the boot message.
pub fn classifier() -> String {
    match STATE.lock().as_ref() {
        Some(s) if s.interp => "trie interpreter".into(),
        _ => "x86-64 JIT".into(),
    }
}
