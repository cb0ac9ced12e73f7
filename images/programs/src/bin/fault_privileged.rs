//! Tries to stop the machine itself through the debug-exit port from ring 3:
//! the kernel must report a general-protection fault instead.
#![no_std]
#![no_main]

libos::entry!(main);

fn main() -> u8 {
    libos::println!("fault_privileged: writing to the debug-exit port from ring 3");
    // SAFETY: deliberately privileged; the #GP is the point of the program.
    unsafe {
        core::arch::asm!("out dx, al", in("dx") exo_abi::boot::DEBUG_EXIT_PORT, in("al") 0u8);
    }
    libos::println!("fault_privileged: the port write went through");
    0
}
