pub mod dpf;
pub mod xn;
mod xn_cffs;
