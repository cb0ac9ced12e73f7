//! Events inside XN for an observer (the kernel's tracer): registry inserts
//! and evictions, taint changes and the verdict of every UDF check. One
//! process-wide hook, set once by the kernel; nothing is recorded without it.

use crate::Db;
use core::sync::atomic::{AtomicPtr, Ordering};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// Block `db` entered the buffer-cache registry with type `ty`.
    RegistryInsert { db: Db, ty: u16 },
    /// Block `db` left the registry.
    RegistryEvict { db: Db },
    /// Block `db` became tainted (points at uninitialized metadata) or clean.
    Taint { db: Db, tainted: bool },
    /// The UDF check of a change to metadata block `db`: 0 if it passed,
    /// else XN's error code.
    Udf { db: Db, verdict: u32 },
}

static HOOK: AtomicPtr<()> = AtomicPtr::new(core::ptr::null_mut());

/// Sends every later event to `f`.
pub fn set_hook(f: fn(Event)) {
    HOOK.store(f as *mut (), Ordering::Release);
}

pub(crate) fn emit(e: Event) {
    let p = HOOK.load(Ordering::Acquire);
    if !p.is_null() {
        // SAFETY: only `set_hook` stores here, and it stores a `fn(Event)`.
        let f: fn(Event) = unsafe { core::mem::transmute::<*mut (), fn(Event)>(p) };
        f(e);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::Direct;
    use crate::{sample, Cred, MemDisk, VecPageStore, Xn};
    use std::sync::Mutex;
    use std::vec::Vec;

    static SEEN: Mutex<Vec<Event>> = Mutex::new(Vec::new());

    fn record(e: Event) {
        SEEN.lock().unwrap().push(e);
    }

    #[test]
    fn registry_taint_and_udf_verdicts_are_reported() {
        set_hook(record);
        let cred = Cred { env: 1, cap: 7 };
        let mut xn = Xn::format(MemDisk::new(512), VecPageStore::new()).unwrap();
        let t = sample::install_types(&mut xn, cred).unwrap();
        let root = sample::make_root(&mut xn, cred, t, "r", false).unwrap();
        let ino = sample::create(&mut xn, cred, t, root, "f", b"data", 1).unwrap();
        sample::sync_via(&mut Direct { xn: &mut xn, cred }).unwrap();
        let seen = SEEN.lock().unwrap().clone();
        // Other tests run XN concurrently: look for this run's blocks only.
        assert!(seen.contains(&Event::RegistryInsert {
            db: ino,
            ty: t.inode.0
        }));
        assert!(seen.contains(&Event::Udf {
            db: root,
            verdict: 0
        }));
        assert!(seen.contains(&Event::Taint {
            db: root,
            tainted: true
        }));
        assert!(seen.contains(&Event::Taint {
            db: root,
            tainted: false
        }));
    }
}
