pub mod xn;
