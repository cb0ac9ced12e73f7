//! Tracepoints: fixed-size records into a ring the VMM drains without VM
//! exits (it finds `EXO_TRACE_ANCHOR` in this ELF's symbols). When the ring
//! is full a record is counted as dropped, never written over unread ones.

use crate::arch::cpu::rdtsc;
use crate::mem::{frames, phys_to_virt, PAGE_SIZE};
use core::sync::atomic::{fence, Ordering};
use exo_abi::trace::{class_by_name, Anchor, Record, ANCHOR_MAGIC};

/// Records in the ring (128 KiB).
const NREC: u64 = 4096;

#[no_mangle]
#[used]
pub static mut EXO_TRACE_ANCHOR: Anchor = Anchor {
    magic: 0,
    ring_pa: 0,
    nrec: 0,
    head: 0,
    tail: 0,
    dropped: 0,
    mask: 0,
    tsc_per_ms: 0,
};

fn anchor() -> *mut Anchor {
    core::ptr::addr_of_mut!(EXO_TRACE_ANCHOR)
}

/// Turns tracing on for the classes named in `exo.trace=a,b,...` (at boot,
/// while contiguous memory can still be had).
pub fn init(spec: &str) -> Result<u64, &'static str> {
    let mut mask = 0;
    for name in spec.split(',') {
        mask |= class_by_name(name)
            .ok_or("unknown trace class (known: sched, pct, fault, syscall, mem, dpf, xn, all)")?;
    }
    let pages = (NREC * core::mem::size_of::<Record>() as u64).div_ceil(PAGE_SIZE);
    let ring = frames::alloc_contiguous(pages).ok_or("no memory for the trace ring")?;
    // SAFETY: boot, one CPU, nothing traces yet.
    unsafe {
        let a = &mut *anchor();
        a.ring_pa = ring;
        a.nrec = NREC;
        a.mask = mask;
        fence(Ordering::SeqCst);
        core::ptr::write_volatile(&mut a.magic, ANCHOR_MAGIC);
    }
    Ok(mask)
}

/// Records the TSC rate for the reader.
pub fn set_tsc_rate(tsc_per_ms: u64) {
    // SAFETY: a plain store to our own static.
    unsafe { core::ptr::write_volatile(&mut (*anchor()).tsc_per_ms, tsc_per_ms) };
}

/// Emits one record if its class is on.
#[inline]
pub fn emit(class: u64, event: u16, env: usize, a0: u64, a1: u64) {
    // SAFETY: the anchor is only written by the kernel (one CPU, under the
    // kernel's locks or in boot code) except `tail`, which the VMM advances
    // and we only read.
    unsafe {
        let a = &mut *anchor();
        if a.mask & class == 0 {
            return;
        }
        let tail = core::ptr::read_volatile(&a.tail);
        if a.head.wrapping_sub(tail) >= a.nrec {
            a.dropped += 1;
            return;
        }
        let slot = (phys_to_virt(a.ring_pa) as *mut Record).add((a.head % a.nrec) as usize);
        slot.write_volatile(Record {
            tsc: rdtsc(),
            event,
            env: env as u16,
            _pad: 0,
            a0,
            a1,
        });
        fence(Ordering::SeqCst);
        core::ptr::write_volatile(&mut a.head, a.head + 1);
    }
}

/// `trace_note`: a library OS's own event, under the caller's name.
pub fn sys_trace_note(
    cx: &mut crate::syscalls::Cx<'_>,
    a: exo_abi::syscall::args::TraceNote,
) -> crate::syscalls::SysResult {
    if !exo_abi::trace::is_libos_event(a.event) {
        return Err(exo_abi::syscall::Error::Invalid);
    }
    emit(
        exo_abi::trace::class::LIBOS,
        a.event as u16,
        cx.k.current,
        a.a0,
        a.a1,
    );
    crate::syscalls::done()
}
