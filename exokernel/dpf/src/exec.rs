//! Running the JIT's code on a host (tools, tests, benchmark): copy it into an anonymous
//! mapping and make that read+execute (never writable and executable at once).

use crate::{Dpf, FilterId};
use std::io;

/// Code mapped executable.
pub struct Exec {
    ptr: *mut u8,
    len: usize,
}

type Entry = unsafe extern "sysv64" fn(*const u8, usize) -> u32;

impl Exec {
    /// Map the current code of `dpf`.
    pub fn new(dpf: &Dpf) -> io::Result<Exec> {
        // SAFETY: the code comes from our JIT, whose functions read only `pkt[..len]`.
        unsafe { Exec::from_code(dpf.code()) }
    }

    /// # Safety
    /// `code` must be a function with the JIT's ABI that reads only `pkt[..len]`.
    pub unsafe fn from_code(code: &[u8]) -> io::Result<Exec> {
        let len = code.len().max(1);
        // SAFETY: a fresh private anonymous mapping; checked for failure.
        let ptr = unsafe {
            libc::mmap(
                core::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let ptr = ptr as *mut u8;
        // SAFETY: `ptr` maps at least `code.len()` writable bytes.
        unsafe { core::ptr::copy_nonoverlapping(code.as_ptr(), ptr, code.len()) };
        let exec = Exec { ptr, len };
        // SAFETY: `ptr..ptr+len` is our mapping.
        if unsafe { libc::mprotect(ptr.cast(), len, libc::PROT_READ | libc::PROT_EXEC) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(exec)
    }

    /// Run the code on `pkt`: the raw result (`u32::MAX` for no match).
    #[inline]
    pub fn run_raw(&self, pkt: &[u8]) -> u32 {
        // SAFETY: `from_code`'s contract: a function of this ABI that stays within `pkt`.
        unsafe {
            let f: Entry = core::mem::transmute::<*mut u8, Entry>(self.ptr);
            f(pkt.as_ptr(), pkt.len())
        }
    }

    /// The filter that takes `pkt`.
    #[inline]
    pub fn classify(&self, pkt: &[u8]) -> Option<FilterId> {
        Some(self.run_raw(pkt)).filter(|&id| id != u32::MAX)
    }
}

impl Drop for Exec {
    fn drop(&mut self) {
        // SAFETY: unmapping our own mapping once.
        unsafe { libc::munmap(self.ptr.cast(), self.len) };
    }
}
