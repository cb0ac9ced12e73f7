//! System-call numbers and calling convention.
//!
//! `syscall` with the number in `rax` and arguments in `rdi, rsi, rdx, r10,
//! r8, r9`; the result comes back in `rax`: a value `>= 0` on success, or a
//! negated [`Error`] code.

/// `console_write(ptr, len) -> len`: write bytes to the serial console.
pub const CONSOLE_WRITE: u64 = 0;
/// `exit(status) -> !`: end the calling program.
pub const EXIT: u64 = 1;
/// `ticks() -> n`: timer interrupts since boot.
pub const TICKS: u64 = 2;
/// `console_read(ptr, len) -> n`: read available console input (0 if none).
pub const CONSOLE_READ: u64 = 3;

/// Error codes, returned negated in `rax`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(i64)]
pub enum Error {
    /// No such system call.
    NoSys = 1,
    /// A pointer argument does not name mapped user memory.
    Fault = 2,
    /// An argument is out of range.
    Invalid = 3,
}

impl Error {
    /// Decodes a negative system-call result.
    pub fn from_result(r: i64) -> Option<Error> {
        match -r {
            1 => Some(Error::NoSys),
            2 => Some(Error::Fault),
            3 => Some(Error::Invalid),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_round_trip() {
        for e in [Error::NoSys, Error::Fault, Error::Invalid] {
            assert_eq!(Error::from_result(-(e as i64)), Some(e));
        }
        assert_eq!(Error::from_result(5), None);
    }
}
