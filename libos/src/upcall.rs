//! Upcalls from the kernel (exceptions, slice start/end, revocation, PCT,
//! reflected system calls)
//! arrive at one entry stub on this environment's exception stack, are
//! dispatched to the handlers the program registered, and resume the
//! interrupted code straight from the saved frame, without a system call.
//!
//! Handlers run on the thread they interrupt, anywhere in it, also inside
//! the libOS. State both may reach is borrowed through `cell::Exclusive`,
//! so a handler that calls into the libOS while the interrupted code holds
//! the same state is refused instead of getting a second reference: file
//! descriptor and file calls fail with `Busy`, allocation returns null, and
//! printing goes straight to the console. A signal's default action, exit,
//! then leaves what is busy as it is (no file-system sync of a half-made
//! change). The copy-on-write fault handler touches no such state: it has
//! its own scratch window. The handlers themselves are atomics, so that
//! `register` may replace them under a running upcall.

use crate::cell::{AtomicFn, FnPtr};
use crate::sys;
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicU64, Ordering};
use exo_abi::env::Entries;
use exo_abi::trap::{
    UTrapFrame, UPCALL_PCT, UPCALL_REVOKE, UPCALL_SLICE_END, UPCALL_SLICE_START, UPCALL_SYSCALL,
};
use exo_abi::trap::{UTF_REGS, UTF_RIP, UTF_RSP};

/// Bytes of the exception stack every upcall runs on.
pub const XSTACK_SIZE: usize = 32 * 1024;

/// The exception stack. Rust code never reads or writes it: only its
/// address goes to the kernel, which starts every upcall on it.
#[repr(align(16))]
struct XStack(UnsafeCell<[u8; XSTACK_SIZE]>);

// SAFETY: no reference to the contents is ever made (see `XStack`); the
// upcalls running on it are on this environment's one thread.
unsafe impl Sync for XStack {}

static XSTACK: XStack = XStack(UnsafeCell::new([0; XSTACK_SIZE]));

/// A PCT message: `rdx, r10, r8, r9, rbx, r12, r13, r14, r15`.
pub type Message = [u64; 9];

/// What an exception handler decided.
pub enum Resume {
    /// Resume the interrupted code (with whatever the handler changed in the frame).
    Continue,
    /// The fault is fatal: end the environment like the kernel would.
    Fatal,
}

/// The handlers a program registers; `None` entries are not registered with the kernel.
#[derive(Clone, Copy, Default)]
pub struct Handlers {
    pub exception: Option<fn(&mut UTrapFrame) -> Resume>,
    pub slice_start: Option<fn()>,
    /// Runs at the end of each slice; the library then yields.
    pub slice_end: Option<fn()>,
    /// `(npages, deadline_tick)`: give pages back by `p_free`.
    pub revoke: Option<fn(u32, u64)>,
    /// Synchronous PCT: `(caller, message)`, the message becomes the reply.
    pub pct_sync: Option<fn(u32, &mut Message)>,
    pub pct_async: Option<fn(u32, &Message)>,
    /// A `syscall` executed in `syscall_range`: the frame holds the
    /// caller's registers; the handler sets `rax` (the result) and the
    /// caller resumes after the instruction.
    pub syscall: Option<fn(&mut UTrapFrame)>,
    /// Where the foreign code whose calls are reflected lives (empty: none).
    pub syscall_range: (u64, u64),
}

// SAFETY: a fn pointer type.
unsafe impl FnPtr for fn(&mut UTrapFrame) -> Resume {}
// SAFETY: a fn pointer type.
unsafe impl FnPtr for fn(&mut UTrapFrame) {}
// SAFETY: a fn pointer type.
unsafe impl FnPtr for fn() {}
// SAFETY: a fn pointer type.
unsafe impl FnPtr for fn(u32, u64) {}
// SAFETY: a fn pointer type.
unsafe impl FnPtr for fn(u32, &mut Message) {}
// SAFETY: a fn pointer type.
unsafe impl FnPtr for fn(u32, &Message) {}

/// The registered handlers, one atomic each: an upcall that interrupts
/// `register` finds every handler either old or new, never half written.
struct Registered {
    exception: AtomicFn<fn(&mut UTrapFrame) -> Resume>,
    slice_start: AtomicFn<fn()>,
    slice_end: AtomicFn<fn()>,
    revoke: AtomicFn<fn(u32, u64)>,
    pct_sync: AtomicFn<fn(u32, &mut Message)>,
    pct_async: AtomicFn<fn(u32, &Message)>,
    syscall: AtomicFn<fn(&mut UTrapFrame)>,
    syscall_lo: AtomicU64,
    syscall_hi: AtomicU64,
}

static HANDLERS: Registered = Registered {
    exception: AtomicFn::none(),
    slice_start: AtomicFn::none(),
    slice_end: AtomicFn::none(),
    revoke: AtomicFn::none(),
    pct_sync: AtomicFn::none(),
    pct_async: AtomicFn::none(),
    syscall: AtomicFn::none(),
    syscall_lo: AtomicU64::new(0),
    syscall_hi: AtomicU64::new(0),
};

fn handlers() -> Handlers {
    let r = &HANDLERS;
    Handlers {
        exception: r.exception.load(),
        slice_start: r.slice_start.load(),
        slice_end: r.slice_end.load(),
        revoke: r.revoke.load(),
        pct_sync: r.pct_sync.load(),
        pct_async: r.pct_async.load(),
        syscall: r.syscall.load(),
        syscall_range: (
            r.syscall_lo.load(Ordering::Relaxed),
            r.syscall_hi.load(Ordering::Relaxed),
        ),
    }
}

extern "C" {
    fn exo_upcall_entry();
}

/// The exception stack's address range (copied, never shared, by fork),
/// rounded out to pages (which may hold other data beside it).
pub fn xstack_range() -> (u64, u64) {
    let (lo, hi) = xstack_bytes();
    (lo & !0xfff, hi.div_ceil(4096) * 4096)
}

/// The exception stack's own bytes.
pub fn xstack_bytes() -> (u64, u64) {
    let lo = XSTACK.0.get() as u64;
    (lo, lo + XSTACK_SIZE as u64)
}

/// The kernel entries for `h`: the stub for each registered handler.
pub fn entries_for(h: &Handlers) -> Entries {
    let stub = exo_upcall_entry as *const () as u64;
    let on = |b: bool| if b { stub } else { 0 };
    let top = XSTACK.0.get() as u64 + XSTACK_SIZE as u64;
    Entries {
        exception: on(h.exception.is_some() || h.syscall.is_some()),
        slice_start: on(h.slice_start.is_some()),
        slice_end: on(h.slice_end.is_some()),
        pct_sync: on(h.pct_sync.is_some()),
        pct_async: on(h.pct_async.is_some()),
        revoke: on(h.revoke.is_some()),
        xstack_top: top,
        xstack_size: XSTACK_SIZE as u64,
        syscall_lo: if h.syscall.is_some() {
            h.syscall_range.0
        } else {
            0
        },
        syscall_hi: if h.syscall.is_some() {
            h.syscall_range.1
        } else {
            0
        },
    }
}

/// Registers `h` for this environment (slot 0 must control it, the libOS
/// convention); spawned environments inherit the same handlers.
pub fn register(mut h: Handlers) -> Result<(), sys::Error> {
    // Asynchronous messages carry signals unless the program takes them itself.
    if h.pct_async.is_none() {
        h.pct_async = Some(crate::signal::dispatch);
    }
    let r = &HANDLERS;
    r.exception.store(h.exception);
    r.slice_start.store(h.slice_start);
    r.slice_end.store(h.slice_end);
    r.revoke.store(h.revoke);
    r.pct_sync.store(h.pct_sync);
    r.pct_async.store(h.pct_async);
    r.syscall.store(h.syscall);
    r.syscall_lo.store(h.syscall_range.0, Ordering::Relaxed);
    r.syscall_hi.store(h.syscall_range.1, Ordering::Relaxed);
    sys::env_set_entries(sys::env_id(), 0, &entries_for(&h))
}

/// Registers `h` for another environment this one controls through `slot`
/// (it runs the same program image, so the same stub and handlers).
pub fn register_for(env: u32, slot: usize, h: &Handlers) -> Result<(), sys::Error> {
    sys::env_set_entries(env, slot, &entries_for(h))
}

/// The handlers registered now.
pub fn current() -> Handlers {
    handlers()
}

/// The registers the entry stub saves for the dispatcher (PCT message).
#[repr(C)]
struct UpcallRegs {
    rsi: u64,
    msg: Message,
}

#[no_mangle]
extern "C" fn exo_upcall_dispatch(f: &mut UTrapFrame, regs: &mut UpcallRegs) {
    let h = handlers();
    match f.vector {
        v if v < 32 && crate::fork::handle_cow(f) => {}
        v if v < 32 => match h.exception.map(|handler| handler(f)) {
            Some(Resume::Continue) => {}
            _ => {
                crate::println!(
                    "libos: fatal exception {} at rip={:#x} cr2={:#x} err={:#x}",
                    f.vector,
                    f.rip,
                    f.cr2,
                    f.error_code
                );
                sys::exit(exo_abi::boot::exit::FAULT_BASE + v as u8);
            }
        },
        UPCALL_SLICE_START => {
            if let Some(hook) = h.slice_start {
                hook();
            }
        }
        UPCALL_SLICE_END => {
            if let Some(hook) = h.slice_end {
                hook();
            }
            let _ = sys::yield_to(None);
        }
        UPCALL_REVOKE => {
            if let Some(hook) = h.revoke {
                hook(f.error_code as u32, f.cr2);
            }
        }
        UPCALL_SYSCALL => match h.syscall {
            Some(handler) => handler(f),
            None => sys::exit(exo_abi::boot::exit::FAULT_BASE + 6),
        },
        UPCALL_PCT => {
            let caller = regs.rsi as u32;
            if f.error_code == 0 {
                let mut msg = regs.msg;
                if let Some(hook) = h.pct_sync {
                    hook(caller, &mut msg);
                }
                let _ = crate::ipc::reply(caller, &msg);
            } else if let Some(hook) = h.pct_async {
                hook(caller, &regs.msg);
            }
        }
        _ => {}
    }
}

// The kernel enters with rsp = rdi = the frame (16-byte aligned), PCT
// callers' id in rsi and message in rdx, r10, r8, r9, rbx, r12..r15.
// Resuming: put the interrupted rip on the interrupted stack below its red
// zone (the 128 bytes under rsp that x86-64 code may use without moving
// rsp, live across a `syscall`), restore every register from the frame,
// switch stacks and `ret` past the red zone.
core::arch::global_asm!(
    ".global exo_upcall_entry",
    "exo_upcall_entry:",
    "push r15", "push r14", "push r13", "push r12", "push rbx",
    "push r9", "push r8", "push r10", "push rdx", "push rsi",
    "mov rsi, rsp",
    "call {dispatch}",
    "add rsp, 80",
    ".global exo_resume_frame",
    "exo_resume_frame:",
    "mov rax, [rsp + {rip}]",
    "mov rbx, [rsp + {rsp_off}]",
    "sub rbx, {below}",
    "mov [rbx], rax",
    "mov [rsp + {rsp_off}], rbx",
    "add rsp, {regs}",
    "pop r15", "pop r14", "pop r13", "pop r12", "pop r11", "pop r10", "pop r9", "pop r8",
    "pop rbp", "pop rdi", "pop rsi", "pop rdx", "pop rcx", "pop rbx", "pop rax",
    "add rsp, 8",
    "popfq",
    "pop rsp",
    "ret {red_zone}",
    dispatch = sym exo_upcall_dispatch,
    rip = const UTF_RIP,
    rsp_off = const UTF_RSP,
    regs = const UTF_REGS,
    below = const RED_ZONE + 8,
    red_zone = const RED_ZONE,
);

/// The System V x86-64 red zone; the kernel leaves room for it and the
/// return address when it nests an upcall under a running one.
const RED_ZONE: u64 = exo_abi::trap::RED_ZONE;
