//! Linux signals on the libOS's signals (asynchronous PCT from the parent,
//! see `crate::signal`): dispositions set by rt_sigaction, a blocked mask,
//! and delivery to the program's handler on its own stack with a Linux
//! `ucontext` that rt_sigreturn restores. A signal that arrives while the
//! program runs is made pending and delivered when it next makes a system
//! call (blocking calls return EINTR); one it raises itself is delivered
//! as the call returns.

use super::nr::*;
use super::user::{input, output, put};
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use exo_abi::trap::UTrapFrame;

pub const SIGINT: u32 = 2;
pub const SIGPIPE: u32 = 13;
const SIGCHLD: u32 = 17;
const SIGCONT: u32 = 18;
const SIGURG: u32 = 23;
const SIGWINCH: u32 = 28;
/// The signals the libOS can carry (1..NSIG).
const NSIG: u32 = 32;

const SIG_DFL: u64 = 0;
const SIG_IGN: u64 = 1;
const SA_SIGINFO: u64 = 4;
const SA_RESTORER: u64 = 0x0400_0000;
const SA_NODEFER: u64 = 0x4000_0000;
const SA_RESETHAND: u64 = 0x8000_0000;

/// One signal's `struct sigaction`: handler, flags, restorer, mask.
struct Action {
    handler: AtomicU64,
    flags: AtomicU64,
    restorer: AtomicU64,
    mask: AtomicU64,
}

static ACTIONS: [Action; NSIG as usize] = [const {
    Action {
        handler: AtomicU64::new(SIG_DFL),
        flags: AtomicU64::new(0),
        restorer: AtomicU64::new(0),
        mask: AtomicU64::new(0),
    }
}; NSIG as usize];
static BLOCKED: AtomicU64 = AtomicU64::new(0);
static PENDING: AtomicU64 = AtomicU64::new(0);

fn bit(sig: u32) -> u64 {
    1 << (sig - 1)
}

/// Whether the default action of `sig` is to do nothing.
fn ignored_by_default(sig: u32) -> bool {
    matches!(sig, SIGCHLD | SIGCONT | SIGURG | SIGWINCH)
}

/// The libOS's handler for signals the program catches or ignores: the
/// signal waits for the program's next system call.
fn arrived(sig: u32) {
    PENDING.fetch_or(bit(sig), Ordering::AcqRel);
}

/// Tells the libOS what to do with `sig` as the disposition now says.
fn route(sig: u32) {
    let h = ACTIONS[sig as usize].handler.load(Ordering::Relaxed);
    let to: Option<fn(u32)> = if h == SIG_DFL && !ignored_by_default(sig) {
        None // the libOS's default: end the process
    } else {
        Some(arrived)
    };
    let _ = crate::signal::signal(sig, to);
}

pub fn rt_sigaction(sig: u64, act: u64, old: u64, size: u64) -> i64 {
    if sig == 0 || sig >= NSIG as u64 || size != 8 || sig == 9 || sig == 19 && act != 0 {
        return if (NSIG as u64..65).contains(&sig) && size == 8 {
            0 // real-time signals: accepted, never sent
        } else {
            -EINVAL
        };
    }
    let a = &ACTIONS[sig as usize];
    if old != 0 {
        let words = [
            a.handler.load(Ordering::Relaxed),
            a.flags.load(Ordering::Relaxed),
            a.restorer.load(Ordering::Relaxed),
            a.mask.load(Ordering::Relaxed),
        ];
        if !put(old, &words.map(u64::to_le_bytes).concat()) {
            return -EFAULT;
        }
    }
    if act != 0 {
        let Some(b) = input(act, 32) else {
            return -EFAULT;
        };
        let w = |i: usize| u64::from_le_bytes(b[i * 8..i * 8 + 8].try_into().unwrap_or([0; 8]));
        a.handler.store(w(0), Ordering::Relaxed);
        a.flags.store(w(1), Ordering::Relaxed);
        a.restorer.store(w(2), Ordering::Relaxed);
        a.mask.store(w(3), Ordering::Relaxed);
        route(sig as u32);
    }
    0
}

const SIG_BLOCK: u64 = 0;
const SIG_UNBLOCK: u64 = 1;
const SIG_SETMASK: u64 = 2;
const UNBLOCKABLE: u64 = 1 << 8 | 1 << 18; // SIGKILL, SIGSTOP

pub fn rt_sigprocmask(how: u64, set: u64, old: u64) -> i64 {
    let now = BLOCKED.load(Ordering::Relaxed);
    if old != 0 && !put(old, &now.to_le_bytes()) {
        return -EFAULT;
    }
    if set != 0 {
        let Some(s) = super::user::word(set) else {
            return -EFAULT;
        };
        let new = match how {
            SIG_BLOCK => now | s,
            SIG_UNBLOCK => now & !s,
            SIG_SETMASK => s,
            _ => return -EINVAL,
        };
        BLOCKED.store(new & !UNBLOCKABLE, Ordering::Relaxed);
    }
    0
}

/// A signal the process sends itself (kill, raise): delivered as the call
/// returns, or its default action taken now.
pub fn raise(sig: u32) -> i64 {
    if sig == 0 {
        return 0;
    }
    if sig >= NSIG {
        return -EINVAL;
    }
    let h = ACTIONS[sig as usize].handler.load(Ordering::Relaxed);
    if sig == 9 || h == SIG_DFL && !ignored_by_default(sig) {
        super::exit_by_signal(sig as u8);
    }
    if h != SIG_IGN && h != SIG_DFL {
        arrived(sig);
    }
    0
}

/// A fault turned into signal `sig`: delivered now to the program's
/// handler, whose return retries the instruction (or the process ends as
/// the signal's default action has it, as it does when the signal is
/// blocked or ignored: Linux cannot go on past the fault either).
pub fn fault(f: &mut UTrapFrame, sig: u32) {
    let h = ACTIONS[sig as usize].handler.load(Ordering::Relaxed);
    if h == SIG_DFL || h == SIG_IGN || BLOCKED.load(Ordering::Relaxed) & bit(sig) != 0 {
        super::exit_by_signal(sig as u8);
    }
    arrived(sig);
    // Only this signal now: others wait for the next system call.
    let others = PENDING.swap(bit(sig), Ordering::AcqRel) & !bit(sig);
    deliver(f);
    PENDING.fetch_or(others, Ordering::AcqRel);
}

/// A child was reaped by wait4: a parent catching SIGCHLD gets it, if it
/// was not told of this child already.
pub fn child_reaped(pid: u32) {
    let h = ACTIONS[SIGCHLD as usize].handler.load(Ordering::Relaxed);
    if h != SIG_DFL && h != SIG_IGN && announce(pid) {
        arrived(SIGCHLD);
    }
    forget(pid);
}

/// A write to a pipe no one reads: SIGPIPE, then EPIPE if it returns.
pub fn broken_pipe() -> i64 {
    match raise(SIGPIPE) {
        0 => -EPIPE,
        e => e,
    }
}

/// Whether a signal waits to be delivered (a blocking call stops: EINTR).
pub fn interrupted() -> bool {
    children_ended();
    super::tty::check_interrupt();
    PENDING.load(Ordering::Acquire) & !BLOCKED.load(Ordering::Relaxed) != 0
}

/// Children whose end was announced with SIGCHLD and who are not reaped
/// yet, by pid (0: a free cell). A child that ended unreaped keeps its pid
/// while its environment slot goes to a new child, so two unreaped children
/// may share a slot: keyed by slot, each would make the other look new, and
/// SIGCHLD would never stop coming. Room for a child in every slot and one
/// parked from every slot.
static ANNOUNCED: [AtomicU32; 2 * exo_abi::env::NENV] =
    [const { AtomicU32::new(0) }; 2 * exo_abi::env::NENV];

/// Records that `pid`'s end was announced; true if it was not before.
fn announce(pid: u32) -> bool {
    if ANNOUNCED.iter().any(|a| a.load(Ordering::Relaxed) == pid) {
        return false;
    }
    let free = || ANNOUNCED.iter().find(|a| a.load(Ordering::Relaxed) == 0);
    if free().is_none() {
        // Only children not reaped by wait4 (ended some other way) can
        // fill it: those no longer our children go.
        for a in &ANNOUNCED {
            let p = a.load(Ordering::Relaxed);
            if !crate::process::children().any(|c| c == p) {
                a.store(0, Ordering::Relaxed);
            }
        }
    }
    if let Some(a) = free() {
        a.store(pid, Ordering::Relaxed);
    }
    true
}

/// Forgets `pid`'s announcement once it is reaped (pids come back).
fn forget(pid: u32) {
    for a in ANNOUNCED
        .iter()
        .filter(|a| a.load(Ordering::Relaxed) == pid)
    {
        a.store(0, Ordering::Relaxed);
    }
}

/// SIGCHLD, made pending when a child has ended since we last looked (the
/// libOS sends no message when a process ends; a parent that catches
/// SIGCHLD looks here at its blocking calls and system calls).
fn children_ended() {
    let h = ACTIONS[SIGCHLD as usize].handler.load(Ordering::Relaxed);
    if h == SIG_DFL || h == SIG_IGN {
        return;
    }
    let mut new = false;
    for c in crate::process::children() {
        if crate::process::has_ended(c) && announce(c) {
            new = true;
        }
    }
    if new {
        arrived(SIGCHLD);
    }
}

/// pause: waits until a signal is delivered (then EINTR).
pub fn pause(f: &mut UTrapFrame) {
    while !interrupted() {
        crate::time::sleep_ticks(1);
    }
    f.rax = -EINTR as u64;
}

/// rt_sigsuspend: waits with `mask` blocked until a signal is delivered;
/// the old mask comes back when its handler returns.
pub fn sigsuspend(f: &mut UTrapFrame, mask: u64) {
    let Some(m) = super::user::word(mask) else {
        f.rax = -EFAULT as u64;
        return;
    };
    let old = BLOCKED.swap(m & !UNBLOCKABLE, Ordering::Relaxed);
    while !interrupted() {
        crate::time::sleep_ticks(1);
    }
    f.rax = -EINTR as u64;
    if !deliver_with_mask(f, old) {
        BLOCKED.store(old, Ordering::Relaxed);
    }
}

/// An exec keeps ignored signals ignored and makes caught ones default.
pub fn reset_on_exec() {
    for sig in 1..NSIG {
        let a = &ACTIONS[sig as usize];
        if a.handler.load(Ordering::Relaxed) != SIG_IGN {
            a.handler.store(SIG_DFL, Ordering::Relaxed);
            route(sig);
        }
    }
    PENDING.store(0, Ordering::Relaxed);
}

/// How a child ended as wait4 reports it: an exit (status in bits 8..16)
/// or the signal that ended it (bits 0..7).
pub fn wait_status(s: crate::process::Status) -> u32 {
    match s.signal {
        Some(sig) => sig as u32 & 0x7f,
        None => (s.code as u32) << 8,
    }
}

/// The Linux `ucontext` this personality writes: flags, link, the signal
/// stack (3 words), 23 general registers, the FPU pointer, 8 reserved
/// words, then the signal mask.
const UC_GREGS: usize = 5;
const UC_SIGMASK: usize = UC_GREGS + 23 + 1 + 8;
const UC_WORDS: usize = UC_SIGMASK + 1;
const SIGINFO_BYTES: u64 = 128;

/// Register `f`'s fields in the order of `gregs` (REG_R8 .. REG_RIP,
/// REG_EFL); the rest of the 23 (segments, err, trapno, ...) are zero.
fn gregs(f: &mut UTrapFrame) -> [&mut u64; 18] {
    [
        &mut f.r8,
        &mut f.r9,
        &mut f.r10,
        &mut f.r11,
        &mut f.r12,
        &mut f.r13,
        &mut f.r14,
        &mut f.r15,
        &mut f.rdi,
        &mut f.rsi,
        &mut f.rbp,
        &mut f.rbx,
        &mut f.rdx,
        &mut f.rax,
        &mut f.rcx,
        &mut f.rsp,
        &mut f.rip,
        &mut f.rflags,
    ]
}

/// Delivers one pending, unblocked signal (if any) to the program's
/// handler: the frame then resumes in the handler, which returns through
/// its restorer to rt_sigreturn.
pub fn deliver(f: &mut UTrapFrame) {
    deliver_with_mask(f, BLOCKED.load(Ordering::Relaxed));
}

/// `deliver`, the handler's return restoring `restore` as the mask; true
/// if a handler will run.
fn deliver_with_mask(f: &mut UTrapFrame, restore: u64) -> bool {
    if ACTIONS[SIGCHLD as usize].handler.load(Ordering::Relaxed) > SIG_IGN {
        children_ended();
    }
    let ready = PENDING.load(Ordering::Acquire) & !BLOCKED.load(Ordering::Relaxed);
    if ready == 0 {
        return false;
    }
    let sig = ready.trailing_zeros() + 1;
    PENDING.fetch_and(!bit(sig), Ordering::AcqRel);
    let a = &ACTIONS[sig as usize];
    let (handler, flags) = (
        a.handler.load(Ordering::Relaxed),
        a.flags.load(Ordering::Relaxed),
    );
    if handler == SIG_IGN || handler == SIG_DFL {
        return false; // ignored (by choice or by default)
    }
    let restorer = a.restorer.load(Ordering::Relaxed);
    if flags & SA_RESTORER == 0 || restorer == 0 {
        super::exit(128 + sig as u8); // it could never return
    }
    let mut uc = [0u64; UC_WORDS];
    let mut copy = *f;
    for (i, r) in gregs(&mut copy).into_iter().enumerate() {
        uc[UC_GREGS + i] = *r;
    }
    let blocked = BLOCKED.load(Ordering::Relaxed);
    uc[UC_SIGMASK] = restore;
    // Below the red zone: return address, ucontext, siginfo; the handler
    // starts with rsp + 8 16-byte aligned, as after a call.
    let size = 8 + UC_WORDS as u64 * 8 + SIGINFO_BYTES;
    let sp = ((f.rsp - 128 - size) & !15) - 8;
    let (ucp, info) = (sp + 8, sp + 8 + UC_WORDS as u64 * 8);
    let mut si = [0u8; SIGINFO_BYTES as usize];
    si[..4].copy_from_slice(&sig.to_le_bytes());
    let words: alloc::vec::Vec<u8> = core::iter::once(restorer)
        .chain(uc)
        .flat_map(u64::to_le_bytes)
        .chain(si)
        .collect();
    if !put(sp, &words) {
        super::exit(128 + sig as u8); // no stack to run it on
    }
    let mut mask = blocked | a.mask.load(Ordering::Relaxed);
    if flags & SA_NODEFER == 0 {
        mask |= bit(sig);
    }
    BLOCKED.store(mask & !UNBLOCKABLE, Ordering::Relaxed);
    if flags & SA_RESETHAND != 0 {
        a.handler.store(SIG_DFL, Ordering::Relaxed);
        route(sig);
    }
    f.rip = handler;
    f.rsp = sp;
    f.rdi = sig as u64;
    f.rsi = if flags & SA_SIGINFO != 0 { info } else { 0 };
    f.rdx = if flags & SA_SIGINFO != 0 { ucp } else { 0 };
    f.rax = 0;
    true
}

/// rt_sigreturn: the handler returned to its restorer, which made this
/// call with rsp at the ucontext; the frame resumes what the signal
/// interrupted, with the mask it had.
pub fn sigreturn(f: &mut UTrapFrame) {
    let Some(b) = output(f.rsp, UC_WORDS as u64 * 8) else {
        super::exit(128 + 11); // a bad frame: as Linux, SIGSEGV
    };
    let w = |i: usize| u64::from_le_bytes(b[i * 8..i * 8 + 8].try_into().unwrap_or([0; 8]));
    let mut next = *f;
    for (i, r) in gregs(&mut next).into_iter().enumerate() {
        *r = w(UC_GREGS + i);
    }
    // Only the flags a program may change (CF PF AF ZF SF TF DF OF), with
    // interrupts on.
    next.rflags = next.rflags & 0xdd5 | 0x202;
    BLOCKED.store(w(UC_SIGMASK) & !UNBLOCKABLE, Ordering::Relaxed);
    *f = next;
}
