//! Reads address 0: the kernel must report a user page fault and end the program.
#![no_std]
#![no_main]

libos::entry!(main);

fn main() -> u8 {
    libos::println!("fault_null: reading address 0");
    // SAFETY: deliberately invalid; the fault is the point of the program.
    let v = unsafe { core::ptr::read_volatile(core::ptr::null::<u64>()) };
    libos::println!("fault_null: read {v} -- the kernel let a null read through");
    0
}
