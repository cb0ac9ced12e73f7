//! The macro that turns the system-call table into the `Sysnum` enum, one
//! argument struct per call with its register encoding and decoding, and the
//! names used by traces and errors.

/// A call of the table: its number, argument struct and result type.
pub trait SysCall: Sized {
    const NR: super::Sysnum;
    /// What `rax` holds on success, as the caller sees it.
    type Ret: super::arg::Ret;
    fn decode(regs: &super::arg::Regs) -> Result<Self, super::Error>;
    fn encode(&self) -> super::arg::Regs;
}

macro_rules! syscall_table {
    ($(
        $(#[doc = $doc:literal])*
        $num:literal $name:ident $snake:literal { $($field:ident : $ty:ty),* $(,)? } -> $ret:ty;
    )*) => {
        /// Every system call, by number.
        #[repr(u64)]
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
        pub enum Sysnum {
            $($(#[doc = $doc])* $name = $num,)*
        }

        impl Sysnum {
            /// The whole table, in number order.
            pub const ALL: &'static [Sysnum] = &[$(Sysnum::$name),*];

            pub const fn from_u64(n: u64) -> Option<Sysnum> {
                match n {
                    $($num => Some(Sysnum::$name),)*
                    _ => None,
                }
            }

            /// The call's name in traces, errors and the libOS.
            pub const fn name(self) -> &'static str {
                match self {
                    $(Sysnum::$name => $snake,)*
                }
            }

            /// Registers the call's arguments occupy.
            pub const fn nregs(self) -> usize {
                match self {
                    $(Sysnum::$name => 0 $(+ <$ty as $crate::syscall::arg::Arg>::REGS)*,)*
                }
            }
        }

        /// One argument struct per call, decoded from (and encoded into) the
        /// argument registers in field order.
        pub mod args {
            #[allow(unused_imports)]
            use super::*;
            $(
                $(#[doc = $doc])*
                #[derive(Clone, Copy, Debug, PartialEq, Eq)]
                pub struct $name { $(pub $field: $ty,)* }

                // Every call fits the argument registers.
                #[allow(unused_comparisons)]
                const _: () = assert!(
                    0 $(+ <$ty as $crate::syscall::arg::Arg>::REGS)* <= $crate::syscall::arg::NREGS
                );

                impl $crate::syscall::SysCall for $name {
                    const NR: super::Sysnum = super::Sysnum::$name;
                    type Ret = $ret;
                    #[inline]
                    #[allow(unused_variables, unused_mut)]
                    fn decode(regs: &$crate::syscall::arg::Regs) -> Result<Self, $crate::syscall::Error> {
                        let mut r = $crate::syscall::arg::RegReader::new(regs);
                        Ok($name { $($field: <$ty as $crate::syscall::arg::Arg>::decode(&mut r)?,)* })
                    }
                    #[allow(unused_mut)]
                    #[inline]
                    fn encode(&self) -> $crate::syscall::arg::Regs {
                        let mut w = $crate::syscall::arg::RegWriter::default();
                        $($crate::syscall::arg::Arg::encode(&self.$field, &mut w);)*
                        w.finish()
                    }
                }
            )*
        }
    };
}
