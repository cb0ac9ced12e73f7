//! The frame the kernel pushes on an environment's exception stack for every
//! upcall (exception, slice start/end, revocation). The libOS handler gets a
//! pointer to it and resumes the interrupted code from it without a call.

/// `vector` values for upcalls that are not CPU exceptions.
pub const UPCALL_SLICE_END: u64 = 0x100;
pub const UPCALL_SLICE_START: u64 = 0x101;
pub const UPCALL_REVOKE: u64 = 0x102;
pub const UPCALL_PCT: u64 = 0x103;
/// A `syscall` in the environment's reflected range (`Entries::syscall_lo`
/// ..`syscall_hi`): the frame holds the caller's registers (`rax` the call
/// number, `rip` after the instruction, `rcx` and `r11` clobbered as the
/// instruction does); the handler sets `rax` and resumes.
pub const UPCALL_SYSCALL: u64 = 0x104;

/// Byte offsets the libOS resume code relies on.
pub const UTF_RIP: usize = 18 * 8;
pub const UTF_RSP: usize = 20 * 8;
pub const UTF_REGS: usize = 3 * 8;
/// Bytes under the interrupted rsp that resuming from an upcall leaves
/// alone (the System V x86-64 red zone): the libOS writes the return
/// address below them, and a nested upcall's frame goes below that.
pub const RED_ZONE: u64 = 128;

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UTrapFrame {
    pub vector: u64,
    pub error_code: u64,
    /// Faulting address for page faults; an argument for other upcalls.
    pub cr2: u64,
    pub r15: u64,
    pub r14: u64,
    pub r13: u64,
    pub r12: u64,
    pub r11: u64,
    pub r10: u64,
    pub r9: u64,
    pub r8: u64,
    pub rbp: u64,
    pub rdi: u64,
    pub rsi: u64,
    pub rdx: u64,
    pub rcx: u64,
    pub rbx: u64,
    pub rax: u64,
    pub rip: u64,
    pub rflags: u64,
    pub rsp: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_match_the_layout() {
        let f = UTrapFrame::default();
        let base = &f as *const _ as usize;
        assert_eq!(&f.rip as *const _ as usize - base, UTF_RIP);
        assert_eq!(&f.rsp as *const _ as usize - base, UTF_RSP);
        assert_eq!(&f.r15 as *const _ as usize - base, UTF_REGS);
        assert_eq!(core::mem::size_of::<UTrapFrame>(), 21 * 8);
    }
}
