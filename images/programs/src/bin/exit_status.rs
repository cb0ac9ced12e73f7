//! Exits with status 42, which `exo run` must return as its own.
#![no_std]
#![no_main]

libos::entry!(main);

fn main() -> u8 {
    libos::println!("exit_status: exiting with 42");
    42
}
