pub mod dpf;
pub mod xn;
