//! Ending the virtual machine through the debug-exit port.

use exo_abi::boot::DEBUG_EXIT_PORT;
use x86_64::instructions::port::Port;

/// Stops the VM; `status` becomes the exit status of `exo run`.
pub fn exit(status: u8) -> ! {
    // SAFETY: the debug-exit port only ends the VM.
    unsafe { Port::<u8>::new(DEBUG_EXIT_PORT).write(status) };
    // Without a debug-exit device (another VMM), stop here for good.
    loop {
        x86_64::instructions::interrupts::disable();
        x86_64::instructions::hlt();
    }
}
