//! Signals, carried by asynchronous protected control transfer: `kill`
//! sends a message the target's libOS turns into a call of its handler (or
//! the default action, ending the process), if the kernel-stated sender is
//! the target's parent or the target itself. SIGKILL is not a message: the
//! parent, which holds the capability over the child, destroys it.

use crate::cell::{AtomicFn, FnPtr};
use crate::process;
use crate::sys::{self, Error};
use crate::upcall::Message;

pub const SIGINT: u32 = 2;
pub const SIGKILL: u32 = 9;
pub const SIGUSR1: u32 = 10;
pub const SIGTERM: u32 = 15;
const NSIG: usize = 32;

/// Marks a PCT message as a signal.
const SIGNAL_TAG: u64 = 0x5349_474e_414c;

// SAFETY: a fn pointer type.
unsafe impl FnPtr for fn(u32) {}

/// Atomic, since the dispatcher runs in an upcall that may interrupt `signal`.
static HANDLERS: [AtomicFn<fn(u32)>; NSIG] = [const { AtomicFn::none() }; NSIG];

/// Installs `handler` for `sig` (None: the default action).
pub fn signal(sig: u32, handler: Option<fn(u32)>) -> Result<(), Error> {
    if sig as usize >= NSIG || sig == SIGKILL {
        return Err(Error::Invalid);
    }
    HANDLERS[sig as usize].store(handler);
    Ok(())
}

/// Sends `sig` to process `pid`.
pub fn kill(pid: u32, sig: u32) -> Result<(), Error> {
    if sig == SIGKILL {
        let slot = process::child_cap_slot(pid).ok_or(Error::Denied)?;
        return sys::env_destroy(pid, slot);
    }
    if sig as usize >= NSIG {
        return Err(Error::Invalid);
    }
    let mut m: Message = [0; 9];
    m[0] = SIGNAL_TAG;
    m[1] = sig as u64;
    crate::ipc::send(pid, &m)
}

/// Whether `from`, the sender's environment as the kernel states it with
/// every PCT (it cannot be forged), may signal this process: its parent,
/// or itself. Anyone else's signals are dropped.
fn may_signal(from: u32) -> bool {
    from == process::pinfo().ppid || from == sys::env_id()
}

/// The libOS's handler for asynchronous messages: signals from those who
/// may send them go to their handlers.
pub(crate) fn dispatch(from: u32, m: &Message) {
    if m[0] != SIGNAL_TAG || m[1] as usize >= NSIG || !may_signal(from) {
        return;
    }
    let sig = m[1] as u32;
    match HANDLERS[sig as usize].load() {
        None => process::exit_by_signal(sig as u8),
        Some(f) => f(sig),
    }
}
