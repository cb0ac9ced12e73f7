//! A process's private information page: pid, parent, arguments and the
//! descriptors it starts with. The page is written whole before it is
//! mapped at PINFO_VA (by the parent, or by the first process for itself)
//! and never changes afterwards.

use crate::fd::{Fd, MAX_FDS};
use crate::layout::PINFO_VA;
use crate::vm::{self, PAGE_SIZE};

pub const ARGS_LEN: usize = 1024;
const PINFO_MAGIC: u64 = 0x6f66_6e69_5f6f_7865;

/// A process's information page.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct PInfo {
    pub magic: u64,
    pub pid: u32,
    pub ppid: u32,
    pub argc: u32,
    pub args_len: u32,
    /// NUL-separated arguments.
    pub args: [u8; ARGS_LEN],
    /// The descriptors it starts with (its table is `fd`'s from then on).
    pub fds: [Fd; MAX_FDS],
}

const _: () = assert!(core::mem::size_of::<PInfo>() <= PAGE_SIZE as usize);

impl PInfo {
    /// Process `pid`, child of `ppid`, with as many of `argv` as fit.
    pub(crate) fn new<'a>(
        pid: u32,
        ppid: u32,
        argv: impl IntoIterator<Item = &'a [u8]>,
        fds: &[Fd; MAX_FDS],
    ) -> Self {
        let mut p = PInfo {
            magic: PINFO_MAGIC,
            pid,
            ppid,
            argc: 0,
            args_len: 0,
            args: [0; ARGS_LEN],
            fds: *fds,
        };
        let mut len = 0;
        for a in argv {
            if len + a.len() + 1 > ARGS_LEN {
                break;
            }
            p.args[len..len + a.len()].copy_from_slice(a);
            len += a.len() + 1;
            p.argc += 1;
        }
        p.args_len = len as u32;
        p
    }

    pub fn args(&self) -> impl Iterator<Item = &str> {
        self.args[..self.args_len as usize]
            .split(|&b| b == 0)
            .take(self.argc as usize)
            .map(|a| core::str::from_utf8(a).unwrap_or(""))
    }

    /// Writes it at the start of `page`.
    pub(crate) fn write_to(&self, page: &mut [u8]) {
        assert!(page.len() >= core::mem::size_of::<PInfo>());
        // SAFETY: `page` has room (asserted); an unaligned write needs no
        // alignment, and PInfo is plain data.
        unsafe { page.as_mut_ptr().cast::<PInfo>().write_unaligned(*self) }
    }
}

/// Whether this environment is a process of this libOS (has its page).
pub(crate) fn has_pinfo() -> bool {
    vm::ppn_of(PINFO_VA).is_some() && pinfo().magic == PINFO_MAGIC
}

/// This process's information page.
///
/// # Panics
/// Where no page is mapped at PINFO_VA (an environment started by `spawn`).
pub fn pinfo() -> &'static PInfo {
    assert!(
        vm::ppn_of(PINFO_VA).is_some(),
        "no process information page"
    );
    // SAFETY: a page is mapped at PINFO_VA (checked above) and holds a
    // PInfo (asserted at compile time; any bytes are a valid PInfo); it was
    // written before it was mapped and is never written or unmapped after.
    unsafe { &*(PINFO_VA as *const PInfo) }
}
