pub(crate) mod bounded;
pub mod dpf;
pub mod gdb;
pub mod xn;
mod xn_cffs;
