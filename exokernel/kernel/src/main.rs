//! The exo exokernel: boots from PVH, sets up the machine, and runs the first
//! program from the initrd in ring 3.
#![no_std]
#![no_main]

mod arch;
mod console;
mod machine;
mod mem;
mod program;
mod pvh;
mod syscalls;
mod traps;

use arch::trap_frame::TrapFrame;
use arch::{cpu, gdt, idt, lapic, syscall};
use exo_abi::boot::{exit, DEFAULT_INIT, KERNEL_BASE};
use mem::paging::AddressSpace;
use pvh::Range;

/// Default timer frequency (`exo.hz=` overrides).
const DEFAULT_HZ: u32 = 100;
/// The stack every entry from user mode (trap or system call) runs on.
const TRAP_STACK_SIZE: usize = 64 * 1024;

#[repr(align(16))]
struct Stack(#[allow(dead_code)] [u8; TRAP_STACK_SIZE]);
static mut TRAP_STACK: Stack = Stack([0; TRAP_STACK_SIZE]);

/// Name of the running program, for messages.
static mut PROGRAM: &str = "";

extern "C" {
    static __kernel_phys_start: u8;
    static __kernel_end: u8;
    fn trap_return() -> !;
}

#[no_mangle]
extern "C" fn kernel_main(start_info: u64) -> ! {
    console::init();
    kprintln!("exo: exokernel booting");
    let boot = pvh::parse(start_info);
    let trap_stack_top = core::ptr::addr_of!(TRAP_STACK) as u64 + TRAP_STACK_SIZE as u64;
    cpu::init();
    gdt::init(trap_stack_top);
    idt::init();
    syscall::init(trap_stack_top);

    // Linker-script symbols: only their addresses are used.
    let kernel = Range {
        start: core::ptr::addr_of!(__kernel_phys_start) as u64,
        end: core::ptr::addr_of!(__kernel_end) as u64 - KERNEL_BASE,
    };
    let usable = mem::frames::init(&boot, kernel);
    let ram_end = boot.ram[..boot.ram_count]
        .iter()
        .map(|r| r.end)
        .max()
        .unwrap_or(0);
    if usable == 0 {
        kprintln!("exo: no usable RAM in the boot memory map");
        machine::exit(exit::KERNEL_PANIC);
    }
    if let Err(e) = mem::paging::init_kernel(ram_end) {
        kprintln!("exo: cannot build kernel page tables: {e:?}");
        machine::exit(exit::KERNEL_PANIC);
    }
    mask_legacy_pic();

    let hz = pvh::cmdline_value(boot.cmdline, "exo.hz")
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_HZ);
    let clock = lapic::init(hz);
    kprintln!(
        "exo: {} MiB usable RAM, timer {} Hz, TSC {} MHz, cmdline \"{}\"",
        usable >> 20,
        hz,
        clock.tsc_per_ms / 1000,
        boot.cmdline
    );
    if pvh::cmdline_value(boot.cmdline, "exo.stop") == Some("boot") {
        kprintln!("exo: stopping after boot (exo.stop=boot)");
        machine::exit(0);
    }

    let path = pvh::cmdline_value(boot.cmdline, "exo.init").unwrap_or(DEFAULT_INIT);
    start_program(&boot, path)
}

/// Loads `path` from the initrd and enters it in ring 3.
fn start_program(boot: &pvh::BootInfo, path: &'static str) -> ! {
    let Some(rd) = boot.initrd else {
        kprintln!("exo: no initrd: nothing to run");
        machine::exit(exit::NO_INIT);
    };
    // SAFETY: the initrd is RAM kept out of the allocator, mapped in the kernel region.
    let archive = unsafe {
        core::slice::from_raw_parts(mem::phys_to_virt(rd.start), (rd.end - rd.start) as usize)
    };
    let Some(image) = exo_abi::initrd::find(archive, path) else {
        kprintln!("exo: {path} not found in the initrd");
        machine::exit(exit::NO_INIT);
    };
    let mut space = match AddressSpace::new() {
        Ok(s) => s,
        Err(e) => {
            kprintln!("exo: cannot create an address space: {e:?}");
            machine::exit(exit::NO_INIT);
        }
    };
    let entry = match program::load(&mut space, image) {
        Ok(entry) => entry,
        Err(e) => {
            kprintln!("exo: cannot load {path}: {e:?}");
            machine::exit(exit::NO_INIT);
        }
    };
    // SAFETY: single CPU, set before the program runs.
    unsafe { PROGRAM = path };
    space.activate();
    enter_user(program::initial_frame(entry))
}

/// Leaves the kernel for ring 3 with the given register state.
fn enter_user(frame: TrapFrame) -> ! {
    let top = core::ptr::addr_of!(TRAP_STACK) as u64 + TRAP_STACK_SIZE as u64;
    let slot = (top - core::mem::size_of::<TrapFrame>() as u64) as *mut TrapFrame;
    // SAFETY: we are on the boot stack, so the top of the (idle) trap stack is
    // free; trap_return pops exactly one TrapFrame and `iretq`s.
    unsafe {
        slot.write(frame);
        core::arch::asm!("mov rsp, {0}", "jmp {1}", in(reg) slot, sym trap_return, options(noreturn));
    }
}

/// Ends the running program; with no other program, the machine stops with its status.
pub fn program_exit(status: u8) -> ! {
    // SAFETY: read-only after start.
    let name = unsafe { PROGRAM };
    kprintln!("exo: {name} exited with status {status}");
    machine::exit(status)
}

/// The 8259 PICs stay masked: interrupts come through the (IO)APIC.
fn mask_legacy_pic() {
    use x86_64::instructions::port::Port;
    // SAFETY: masking all lines of both PICs has no other effect.
    unsafe {
        Port::<u8>::new(0x21).write(0xff);
        Port::<u8>::new(0xa1).write(0xff);
    }
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    x86_64::instructions::interrupts::disable();
    console::force_unlock();
    kprintln!("exo: KERNEL PANIC: {info}");
    machine::exit(exit::KERNEL_PANIC)
}
