//! Argument types of the system-call table. Each says how many registers it
//! takes and decodes itself from them with the validation that belongs to
//! the type, so a handler never sees a length that can overflow, a slot out
//! of range or an unknown flag. Pointers stay plain addresses: the kernel
//! still checks every byte against the caller's page tables when it copies.

use super::Error;
use crate::cap::{NCAPS, PERM_ALL};
use crate::layout::USER_TOP;
use core::marker::PhantomData;

/// The argument registers of one call: `rdi, rsi, rdx, r10, r8`.
pub type Regs = [u64; NREGS];
/// Argument registers a call may use (`r9` and the rest carry PCT messages).
pub const NREGS: usize = 5;

/// Reads a call's registers in order.
pub struct RegReader<'a> {
    regs: &'a Regs,
    next: usize,
}

impl<'a> RegReader<'a> {
    #[inline]
    pub fn new(regs: &'a Regs) -> Self {
        RegReader { regs, next: 0 }
    }

    /// The next register (0 past the last: the table's compile-time check
    /// keeps every call within [`NREGS`]).
    #[inline]
    pub fn take(&mut self) -> u64 {
        let v = self.regs.get(self.next).copied().unwrap_or(0);
        self.next += 1;
        v
    }
}

/// Writes a call's registers in order.
#[derive(Default)]
pub struct RegWriter {
    regs: Regs,
    next: usize,
}

impl RegWriter {
    #[inline]
    pub fn put(&mut self, v: u64) {
        if let Some(r) = self.regs.get_mut(self.next) {
            *r = v;
        }
        self.next += 1;
    }

    #[inline]
    pub fn finish(self) -> Regs {
        self.regs
    }
}

/// One argument of a system call.
pub trait Arg: Sized {
    /// Registers it occupies.
    const REGS: usize;
    fn decode(r: &mut RegReader<'_>) -> Result<Self, Error>;
    fn encode(&self, w: &mut RegWriter);
}

/// A call's result in `rax`, as the caller sees it.
pub trait Ret: Sized {
    fn from_raw(v: u64) -> Self;
}

impl Ret for () {
    #[inline]
    fn from_raw(_: u64) {}
}

impl Ret for u64 {
    #[inline]
    fn from_raw(v: u64) -> u64 {
        v
    }
}

impl Ret for usize {
    #[inline]
    fn from_raw(v: u64) -> usize {
        v as usize
    }
}

impl Ret for u32 {
    #[inline]
    fn from_raw(v: u64) -> u32 {
        v as u32
    }
}

impl Arg for u64 {
    const REGS: usize = 1;
    #[inline]
    fn decode(r: &mut RegReader<'_>) -> Result<u64, Error> {
        Ok(r.take())
    }
    #[inline]
    fn encode(&self, w: &mut RegWriter) {
        w.put(*self)
    }
}

/// Narrow integers refuse values that do not fit rather than truncating.
macro_rules! narrow_arg {
    ($($t:ty),*) => {$(
        impl Arg for $t {
            const REGS: usize = 1;
            #[inline]
            fn decode(r: &mut RegReader<'_>) -> Result<$t, Error> {
                <$t>::try_from(r.take()).map_err(|_| Error::Invalid)
            }
            #[inline]
            fn encode(&self, w: &mut RegWriter) {
                w.put(*self as u64)
            }
        }
    )*};
}
narrow_arg!(u8, u32);

/// An environment id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EnvId(pub u32);

impl Arg for EnvId {
    const REGS: usize = 1;
    #[inline]
    fn decode(r: &mut RegReader<'_>) -> Result<EnvId, Error> {
        // An id that does not fit names no environment.
        u32::try_from(r.take()).map(EnvId).map_err(|_| Error::NoEnv)
    }
    #[inline]
    fn encode(&self, w: &mut RegWriter) {
        w.put(self.0 as u64)
    }
}

impl Ret for EnvId {
    #[inline]
    fn from_raw(v: u64) -> EnvId {
        EnvId(v as u32)
    }
}

/// An environment or none; 0 (never a valid id: slot 0 is unused) is none.
impl Arg for Option<EnvId> {
    const REGS: usize = 1;
    #[inline]
    fn decode(r: &mut RegReader<'_>) -> Result<Option<EnvId>, Error> {
        match r.take() {
            0 => Ok(None),
            v => u32::try_from(v)
                .map(|id| Some(EnvId(id)))
                .map_err(|_| Error::NoEnv),
        }
    }
    #[inline]
    fn encode(&self, w: &mut RegWriter) {
        w.put(self.map_or(0, |e| e.0 as u64))
    }
}

/// An integer in `MIN..=MAX` (e.g. a slice position or a page count).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bounded<const MIN: u64, const MAX: u64>(u64);

impl<const MIN: u64, const MAX: u64> Bounded<MIN, MAX> {
    pub const fn new(v: u64) -> Option<Self> {
        if v >= MIN && v <= MAX {
            Some(Bounded(v))
        } else {
            None
        }
    }
    pub const fn get(self) -> u64 {
        self.0
    }
    pub const fn index(self) -> usize {
        self.0 as usize
    }
}

impl<const MIN: u64, const MAX: u64> Arg for Bounded<MIN, MAX> {
    const REGS: usize = 1;
    #[inline]
    fn decode(r: &mut RegReader<'_>) -> Result<Self, Error> {
        Bounded::new(r.take()).ok_or(Error::Invalid)
    }
    #[inline]
    fn encode(&self, w: &mut RegWriter) {
        w.put(self.0)
    }
}

/// A slot of the caller's capability list.
pub type CapSlot = Bounded<0, { NCAPS as u64 - 1 }>;

impl CapSlot {
    /// For callers holding a `usize` slot; out of range becomes an invalid
    /// slot the kernel refuses (so wrappers need no error path of their own).
    pub const fn of(slot: usize) -> CapSlot {
        Bounded(slot as u64)
    }
}

/// Highest physical page number x86-64 can name (52-bit addresses).
pub const MAX_PPN: u64 = (1 << 40) - 1;
/// A physical page number.
pub type Ppn = Bounded<0, MAX_PPN>;

impl Ppn {
    pub const fn of(ppn: u64) -> Ppn {
        Bounded(ppn)
    }
}

/// An address in user space (below `USER_TOP`), e.g. a TLS base.
pub type UserAddr = Bounded<0, { crate::layout::USER_TOP - 1 }>;

impl UserAddr {
    pub const fn of(addr: u64) -> UserAddr {
        Bounded(addr)
    }
}

/// A permission mask (`cap::PERM_*`), no unknown bits.
pub type Perm = Bounded<0, { PERM_ALL as u64 }>;

impl Perm {
    pub const fn of(perm: u8) -> Perm {
        Bounded(perm as u64)
    }
}

/// Whether `[ptr, ptr + len)` lies in user space without wrapping.
const fn user_range(ptr: u64, len: u64) -> bool {
    match ptr.checked_add(len) {
        Some(end) => end <= USER_TOP,
        None => false,
    }
}

/// `len` bytes of the caller's memory at `ptr`, `MIN..=MAX` of them; two
/// registers. Out of range: Invalid; a range leaving user space: Fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UserBytes<const MIN: u64, const MAX: u64> {
    pub ptr: u64,
    pub len: u64,
}

impl<const MIN: u64, const MAX: u64> UserBytes<MIN, MAX> {
    #[inline]
    pub fn of(b: &[u8]) -> Self {
        UserBytes {
            ptr: b.as_ptr() as u64,
            len: b.len() as u64,
        }
    }
    #[inline]
    pub fn of_mut(b: &mut [u8]) -> Self {
        UserBytes {
            ptr: b.as_mut_ptr() as u64,
            len: b.len() as u64,
        }
    }
    pub const fn len(&self) -> usize {
        self.len as usize
    }
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }
    /// Checks a pair of numbers as this type would decode them.
    #[inline]
    pub fn check(ptr: u64, len: u64) -> Result<Self, Error> {
        if len < MIN || len > MAX {
            return Err(Error::Invalid);
        }
        if !user_range(ptr, len) {
            return Err(Error::Fault);
        }
        Ok(UserBytes { ptr, len })
    }
}

impl<const MIN: u64, const MAX: u64> Arg for UserBytes<MIN, MAX> {
    const REGS: usize = 2;
    #[inline]
    fn decode(r: &mut RegReader<'_>) -> Result<Self, Error> {
        let (ptr, len) = (r.take(), r.take());
        Self::check(ptr, len)
    }
    #[inline]
    fn encode(&self, w: &mut RegWriter) {
        w.put(self.ptr);
        w.put(self.len);
    }
}

/// One `T` in the caller's memory; one register. Leaving user space: Fault.
#[derive(Debug)]
pub struct UserRef<T> {
    pub ptr: u64,
    _t: PhantomData<fn() -> T>,
}

// By hand: the derives would ask `T` for traits an address does not need.
impl<T> Clone for UserRef<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for UserRef<T> {}
impl<T> PartialEq for UserRef<T> {
    fn eq(&self, o: &Self) -> bool {
        self.ptr == o.ptr
    }
}
impl<T> Eq for UserRef<T> {}

impl<T> UserRef<T> {
    #[inline]
    pub fn of(v: &T) -> Self {
        UserRef {
            ptr: v as *const T as u64,
            _t: PhantomData,
        }
    }
    #[inline]
    pub fn of_mut(v: &mut T) -> Self {
        UserRef {
            ptr: v as *mut T as u64,
            _t: PhantomData,
        }
    }
    #[inline]
    pub fn check(ptr: u64) -> Result<Self, Error> {
        if user_range(ptr, core::mem::size_of::<T>() as u64) {
            Ok(UserRef {
                ptr,
                _t: PhantomData,
            })
        } else {
            Err(Error::Fault)
        }
    }
}

impl<T> Arg for UserRef<T> {
    const REGS: usize = 1;
    #[inline]
    fn decode(r: &mut RegReader<'_>) -> Result<Self, Error> {
        Self::check(r.take())
    }
    #[inline]
    fn encode(&self, w: &mut RegWriter) {
        w.put(self.ptr)
    }
}

/// `n` consecutive `T`s in the caller's memory, `MIN..=MAX` of them; two
/// registers (pointer, count). Count out of range: Invalid; leaving user
/// space: Fault.
#[derive(Debug)]
pub struct UserArray<T, const MIN: u64, const MAX: u64> {
    pub ptr: u64,
    pub n: u64,
    _t: PhantomData<fn() -> T>,
}

impl<T, const MIN: u64, const MAX: u64> Clone for UserArray<T, MIN, MAX> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T, const MIN: u64, const MAX: u64> Copy for UserArray<T, MIN, MAX> {}
impl<T, const MIN: u64, const MAX: u64> PartialEq for UserArray<T, MIN, MAX> {
    fn eq(&self, o: &Self) -> bool {
        (self.ptr, self.n) == (o.ptr, o.n)
    }
}
impl<T, const MIN: u64, const MAX: u64> Eq for UserArray<T, MIN, MAX> {}

impl<T, const MIN: u64, const MAX: u64> UserArray<T, MIN, MAX> {
    #[inline]
    pub fn of(s: &[T]) -> Self {
        UserArray {
            ptr: s.as_ptr() as u64,
            n: s.len() as u64,
            _t: PhantomData,
        }
    }
    #[inline]
    pub fn of_mut(s: &mut [T]) -> Self {
        UserArray {
            ptr: s.as_mut_ptr() as u64,
            n: s.len() as u64,
            _t: PhantomData,
        }
    }
    pub const fn len(&self) -> usize {
        self.n as usize
    }
    pub const fn is_empty(&self) -> bool {
        self.n == 0
    }
    /// The address of element `i` (`i < len()`; cannot overflow once checked).
    pub const fn addr(&self, i: usize) -> u64 {
        self.ptr + (i * core::mem::size_of::<T>()) as u64
    }
    #[inline]
    pub fn check(ptr: u64, n: u64) -> Result<Self, Error> {
        if n < MIN || n > MAX {
            return Err(Error::Invalid);
        }
        let bytes = n
            .checked_mul(core::mem::size_of::<T>() as u64)
            .ok_or(Error::Invalid)?;
        if !user_range(ptr, bytes) {
            return Err(Error::Fault);
        }
        Ok(UserArray {
            ptr,
            n,
            _t: PhantomData,
        })
    }
}

impl<T, const MIN: u64, const MAX: u64> Arg for UserArray<T, MIN, MAX> {
    const REGS: usize = 2;
    #[inline]
    fn decode(r: &mut RegReader<'_>) -> Result<Self, Error> {
        let (ptr, n) = (r.take(), r.take());
        Self::check(ptr, n)
    }
    #[inline]
    fn encode(&self, w: &mut RegWriter) {
        w.put(self.ptr);
        w.put(self.n);
    }
}

/// Declares a `u64`-coded enum argument: unknown values are Invalid.
#[macro_export]
macro_rules! enum_arg {
    ($(#[$m:meta])* pub enum $name:ident { $($(#[$vm:meta])* $v:ident = $n:literal,)* }) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum $name { $($(#[$vm])* $v = $n,)* }
        impl $crate::syscall::arg::Arg for $name {
            const REGS: usize = 1;
            #[inline]
            fn decode(r: &mut $crate::syscall::arg::RegReader<'_>) -> Result<Self, $crate::syscall::Error> {
                match r.take() {
                    $($n => Ok($name::$v),)*
                    _ => Err($crate::syscall::Error::Invalid),
                }
            }
            #[inline]
            fn encode(&self, w: &mut $crate::syscall::arg::RegWriter) {
                w.put(*self as u64)
            }
        }
    };
}
