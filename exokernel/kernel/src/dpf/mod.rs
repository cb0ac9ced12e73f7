//! DPF in the kernel (thesis §3.2, §6.1): environments install filters; every
//! received packet is classified by the merged trie's compiled code (or its
//! interpreter, `exo.dpf=interp`) and copied once, from the device's buffer
//! into the owning environment's packet ring. Unclaimed packets are counted.
//! Transmission is allowed to environments with filters, through an
//! optional per-environment filter that every outgoing frame must match.

pub mod calls;
mod ring;

use crate::env::Kernel;
use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;
use exo_abi::boot::cmdline;
use exo_abi::syscall::Error;
use exo_abi::trace::{class, event};
use exo_dpf::{Dpf, Filter, Limits};
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
pub fn init(cmdline_text: &str) {
    let interp = cmdline::value(cmdline_text, cmdline::DPF) == Some("interp");
    *STATE.lock() = Some(State {
        engine: Dpf::new(limits()),
        rings: BTreeMap::new(),
        tx: BTreeMap::new(),
        interp,
    });
    if crate::drivers::virtio_net::NET.lock().is_some() {
        crate::kinfo!("exo: dpf: packets classified by the {}", classifier());
    }
}

/// Filters one environment may hold: no one takes the whole engine.
pub const FILTERS_PER_ENV: usize = 64;

/// Filters all environments together may hold (the first one's budget,
/// shared out from there): about what a quarter of the kernel heap holds
/// with the merged trie and its compiled code (a 16-atom filter costs up to
/// 24 KiB of heap while the code is rebuilt), so that budgets, not the heap
/// guard, refuse first.
pub fn filters_in_all() -> u64 {
    (crate::mem::heap::size() as u64 / (24 << 10)).max(FILTERS_PER_ENV as u64)
}

/// DPF's share of the kernel heap: the trie (whose size the engine only
/// estimates, low by up to 3x) and the code each get an eighth, so that
/// together they stay well under half of it.
fn limits() -> Limits {
    let heap = crate::mem::heap::size();
    Limits {
        max_filters: 1024,
        max_trie_bytes: heap / 8,
        max_code_bytes: heap / 8,
    }
}

/// Whether the heap has room for one more filter: a new trie path and a
/// recompiled code buffer beside the old one. The real guard behind the
/// estimates, so that no insert can exhaust the heap and panic the kernel.
pub fn heap_has_room() -> bool {
    let heap = crate::mem::heap::size();
    crate::mem::heap::free() >= heap / 4
}

fn with<R>(f: impl FnOnce(&mut State) -> Result<R, Error>) -> Result<R, Error> {
    f(STATE.lock().as_mut().ok_or(Error::NoEnv)?)
}

/// Whether the caller may send `frame` without the device capability: it
/// takes part in DPF (holds a filter), has set its transmit filter, and the
/// frame passes it.
pub fn may_send(k: &Kernel, frame: &[u8]) -> bool {
    let me = k.current_id();
    STATE.lock().as_ref().is_some_and(|s| {
        s.engine
            .filters()
            .any(|(id, _)| s.engine.owner(id) == Some(me))
            && s.tx.get(&me).is_some_and(|f| f.matches(frame))
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
pub fn poll(k: &mut Kernel) -> u64 {
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
    let sys = k.sys_mut();
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
