//! Writes into the kernel's region: the kernel must refuse with a page fault.
#![no_std]
#![no_main]

libos::entry!(main);

fn main() -> u8 {
    let target = (exo_abi::boot::KERNEL_BASE + 0x100000) as *mut u64;
    libos::println!("fault_kernel: writing to kernel memory at {target:p}");
    // SAFETY: deliberately invalid; the fault is the point of the program.
    unsafe { core::ptr::write_volatile(target, 0xdead) };
    libos::println!("fault_kernel: the write went through -- kernel memory is exposed");
    0
}
