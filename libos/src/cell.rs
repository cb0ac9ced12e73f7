//! Global state of an environment, reached through borrows the compiler
//! checks. An environment runs one thread of control, but upcalls
//! (exceptions, time-slice ends, PCT, signals) interrupt it on that thread
//! at any instruction. A value that both may reach is an [`Exclusive`]:
//! borrowed only for the length of a closure, and refused, not waited for,
//! while already borrowed (waiting inside an upcall for the code it
//! interrupted would never end). Handlers the dispatcher calls are
//! [`AtomicFn`]s: replaced one at a time, read whole.

use core::cell::UnsafeCell;
use core::marker::PhantomData;
use core::sync::atomic::{AtomicBool, AtomicPtr, Ordering};

/// A value borrowed by one closure at a time.
pub struct Exclusive<T> {
    busy: AtomicBool,
    value: UnsafeCell<T>,
}

// SAFETY: a libOS environment is one thread of control, so a value never
// moves to or is seen from another thread (T need not be Send); the only
// other party is an upcall on the same thread, and `try_with` keeps it out
// while the interrupted code holds the borrow.
unsafe impl<T> Sync for Exclusive<T> {}

/// Ends a borrow, also when the closure unwinds (host tests).
struct Release<'a>(&'a AtomicBool);

impl Drop for Release<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

impl<T> Exclusive<T> {
    pub const fn new(value: T) -> Self {
        Exclusive {
            busy: AtomicBool::new(false),
            value: UnsafeCell::new(value),
        }
    }

    /// Runs `f` on the value; `None` if it is borrowed already (by the code
    /// an upcall interrupted, or by a caller further up).
    pub fn try_with<R>(&self, f: impl FnOnce(&mut T) -> R) -> Option<R> {
        if self.busy.swap(true, Ordering::Acquire) {
            return None;
        }
        let _release = Release(&self.busy);
        // SAFETY: `busy` was false and is ours until `_release` drops after
        // `f` returns, so this is the only reference to the value.
        Some(f(unsafe { &mut *self.value.get() }))
    }
}

/// A function pointer type, whose values may go through a pointer-sized
/// atomic and back.
///
/// # Safety
/// Implement only for `fn` pointer types.
pub unsafe trait FnPtr: Copy {}

/// An optional function pointer that an upcall may read while normal code
/// replaces it: every load sees a whole pointer, the old one or the new one.
pub struct AtomicFn<F: FnPtr> {
    ptr: AtomicPtr<()>,
    _f: PhantomData<F>,
}

impl<F: FnPtr> AtomicFn<F> {
    pub const fn none() -> Self {
        AtomicFn {
            ptr: AtomicPtr::new(core::ptr::null_mut()),
            _f: PhantomData,
        }
    }

    pub fn store(&self, f: Option<F>) {
        const { assert!(size_of::<F>() == size_of::<*mut ()>()) };
        // SAFETY: F is a fn pointer type (FnPtr's contract): pointer-sized
        // (checked above), without padding.
        let p = f.map_or(core::ptr::null_mut(), |f| unsafe {
            core::mem::transmute_copy::<F, *mut ()>(&f)
        });
        self.ptr.store(p, Ordering::Release);
    }

    pub fn load(&self) -> Option<F> {
        let p = self.ptr.load(Ordering::Acquire);
        // SAFETY: a non-null value was stored by `store` from an F, and a fn
        // pointer is never null.
        (!p.is_null()).then(|| unsafe { core::mem::transmute_copy::<*mut (), F>(&p) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_borrow_is_refused_until_the_first_ends() {
        let c = Exclusive::new(1);
        assert_eq!(c.try_with(|v| c.try_with(|w| *w + *v)), Some(None));
        assert_eq!(c.try_with(|v| *v + 1), Some(2));
    }

    // SAFETY: a fn pointer type.
    unsafe impl FnPtr for fn(u32) -> u32 {}

    #[test]
    fn fn_pointers_come_back_whole() {
        fn double(x: u32) -> u32 {
            2 * x
        }
        let a = AtomicFn::<fn(u32) -> u32>::none();
        assert!(a.load().is_none());
        a.store(Some(double));
        assert_eq!(a.load().map(|f| f(21)), Some(42));
        a.store(None);
        assert!(a.load().is_none());
    }
}
