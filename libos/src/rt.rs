//! Program start-up and panics. A program names its main function with
//! [`entry!`](crate::entry); `_start` sets up the process (heap, signals,
//! and for the first environment the process table), calls it, and exits
//! with its status.

/// Declares the program's main function (`fn() -> u8`, the exit status).
#[macro_export]
macro_rules! entry {
    ($main:path) => {
        #[no_mangle]
        extern "C" fn exo_main() -> u8 {
            $main()
        }
    };
}

#[cfg(target_os = "none")]
#[global_allocator]
pub(crate) static HEAP: crate::heap::ExoHeap = crate::heap::ExoHeap::new();

#[cfg(not(target_os = "none"))]
pub(crate) static HEAP: crate::heap::ExoHeap = crate::heap::ExoHeap::new();

// The note that marks this program as exo's own (see
// `exo_abi::program`): anything without it is run as a Linux program.
#[cfg(target_os = "none")]
core::arch::global_asm!(
    ".pushsection .note.exo, \"a\", @note",
    ".balign 4",
    ".long 4",
    ".long 4",
    ".long {kind}",
    ".asciz \"exo\"",
    ".long 1",
    ".popsection",
    kind = const exo_abi::program::NOTE_TYPE,
);

#[cfg(target_os = "none")]
mod start {
    extern "C" {
        fn exo_main() -> u8;
    }

    // The kernel enters with RSP at the top of the stack: keep it 16-byte
    // aligned for the call, and end frame-pointer chains here.
    core::arch::global_asm!(
        ".global _start",
        "_start:",
        "xor ebp, ebp",
        "and rsp, -16",
        "call {start}",
        "ud2",
        start = sym exo_start,
    );

    extern "C" fn exo_start() -> ! {
        if !crate::process::has_pinfo() {
            // The first environment: it founds the process table.
            let _ = crate::process::init_first(crate::program_name());
        }
        crate::fd::inherit();
        let _ = crate::upcall::register(crate::upcall::Handlers::default());
        // SAFETY: provided by the program through `entry!`.
        let status = unsafe { exo_main() };
        crate::process::exit(status)
    }

    /// Exit status of a program that panicked.
    const PANIC_STATUS: u8 = 101;

    #[panic_handler]
    fn panic(info: &core::panic::PanicInfo) -> ! {
        crate::println!("panic: {info}");
        crate::process::exit(PANIC_STATUS)
    }
}
