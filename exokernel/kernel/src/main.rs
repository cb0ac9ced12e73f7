//! The exo exokernel: boots from PVH, sets up the machine, and runs the first
//! program from the initrd in ring 3.
#![no_std]
#![no_main]

extern crate alloc;

use exo_abi::env::Resource;

mod arch;
mod console;
mod dpf;
mod drivers;
mod env;
mod machine;
mod mem;
mod program;
mod pvh;
mod syscalls;
mod trace;
mod traps;
mod xn;

use arch::trap_frame::TrapFrame;
use arch::{cpu, gdt, idt, lapic, syscall};
use env::KERNEL;
use exo_abi::boot::{cmdline, exit, DEFAULT_INIT, KERNEL_BASE};
use exo_abi::cap::Cap;
use exo_abi::env::{EnvInfo, SysInfo, NENV};
use exo_abi::layout::{UENVS, UINITRD, UPAGES, USER_STACK_TOP, USYSINFO};
use pvh::Range;

/// Default timer frequency (`exo.hz=` overrides).
const DEFAULT_HZ: u32 = 100;
/// Pages kept out of every environment's budget for the kernel itself.
const KERNEL_MARGIN: u64 = 64;
/// The stack every entry from user mode (trap or system call) runs on.
pub const TRAP_STACK_SIZE: usize = 128 * 1024;

/// A stack with a guard page below it (unmapped at boot).
#[repr(C, align(4096))]
struct Stack {
    guard: [u8; 4096],
    stack: [u8; TRAP_STACK_SIZE],
}
static mut TRAP_STACK: Stack = Stack {
    guard: [0; 4096],
    stack: [0; TRAP_STACK_SIZE],
};

/// The top of the trap stack.
fn trap_stack_top() -> u64 {
    // SAFETY: only the address is taken.
    unsafe { core::ptr::addr_of!(TRAP_STACK.stack) as u64 + TRAP_STACK_SIZE as u64 }
}

/// Name of the first program, for messages.
static mut PROGRAM: &str = "";

extern "C" {
    static __kernel_phys_start: u8;
    static __kernel_end: u8;
    fn trap_return() -> !;
}

#[no_mangle]
extern "C" fn kernel_main(start_info: u64) -> ! {
    console::init();
    let boot = pvh::parse(start_info);
    if cmdline::value(boot.cmdline, cmdline::QUIET) == Some("1") {
        console::QUIET.store(true, core::sync::atomic::Ordering::Relaxed);
    }
    kinfo!("exo: exokernel booting");
    let trap_stack_top = trap_stack_top();
    cpu::init();
    let user_state = arch::ustate::init();
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
    guard_stacks();
    paint_trap_stack();
    if cmdline::value(boot.cmdline, cmdline::CRASH) == Some("stack") {
        overflow(0);
    }
    if let Err(e) = mem::heap::init(usable) {
        kprintln!("exo: {e}");
        machine::exit(exit::KERNEL_PANIC);
    }
    mem::paging::seal_direct_map(ram_end, &[(kernel.start, kernel.end), mem::heap::range()]);
    expose_tables(&boot, ram_end);
    xn::set_cache_limit(mem::frames::free_pages());
    mask_legacy_pic();

    let hz = cmdline::value(boot.cmdline, cmdline::HZ)
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_HZ);
    let clock = lapic::init(hz);
    {
        let mut k = KERNEL.lock();
        k.sys_mut().hz = hz as u64;
        // The first program's arguments, for its library OS to find.
        let args = cmdline::value(boot.cmdline, cmdline::ARGS).unwrap_or("");
        let n = args.len().min(exo_abi::env::INIT_ARGS_LEN - 1);
        k.sys_mut().init_args[..n].copy_from_slice(&args.as_bytes()[..n]);
        k.sys_mut().tsc_per_ms = clock.tsc_per_ms;
        k.sys_mut().console_terminal =
            (cmdline::value(boot.cmdline, cmdline::TTY) == Some("1")) as u64;
        trace::set_tsc_rate(clock.tsc_per_ms);
    }
    kinfo!(
        "exo: {} MiB usable RAM, timer {} Hz (LAPIC {}/ms), TSC {} MHz, cmdline \"{}\"",
        usable >> 20,
        hz,
        clock.lapic_per_ms,
        clock.tsc_per_ms / 1000,
        boot.cmdline
    );
    kinfo!(
        "exo: ring 0: write protection, {}, {}; RAM not executable outside the kernel image and heap",
        if arch::cpu::has_nx() { "NX" } else { "no NX" },
        arch::cpu::protections()
    );
    kinfo!("exo: each environment has its own FPU state and FS/GS bases, by {user_state}");
    drivers::probe_all(boot.cmdline);
    dpf::init(boot.cmdline);
    xn::attach_at_boot(boot.cmdline);
    if cmdline::value(boot.cmdline, cmdline::STOP) == Some("boot") {
        kprintln!("exo: stopping after boot (exo.stop=boot)");
        machine::exit(0);
    }

    let path = cmdline::value(boot.cmdline, cmdline::INIT).unwrap_or(DEFAULT_INIT);
    // SAFETY: single CPU, set before any environment runs.
    unsafe { PROGRAM = path };
    let mut frame = TrapFrame::ZERO;
    start_init(&boot, path, &mut frame);
    enter_user(frame)
}

/// Creates the first environment, holding the root capability, running
/// `path` from the initrd.
fn start_init(boot: &pvh::BootInfo, path: &'static str, frame: &mut TrapFrame) {
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
    let mut k = KERNEL.lock();
    // Everything free now is the first environment's to share out, except
    // what XN's cache may still take and a margin for the kernel's tables.
    k.root_pages = mem::frames::free_pages().saturating_sub(xn::cache_room() + KERNEL_MARGIN);
    let slot = match k.create(0, Cap::ROOT) {
        Ok(s) => s,
        Err(e) => {
            kprintln!("exo: cannot create the first environment: {e:?}");
            machine::exit(exit::NO_INIT);
        }
    };
    let id = k.info(slot).id;
    k.init_id = id;
    k.info_mut(slot).caps[0] = Cap::ROOT;
    let space = k.envs[slot].space.as_mut().expect("new env");
    let entry = match program::load(space, id, image) {
        Ok(entry) => entry,
        Err(e) => {
            kprintln!("exo: cannot load {path}: {e:?}");
            machine::exit(exit::NO_INIT);
        }
    };
    // Its program's pages and tables are its own.
    let tables = k.envs[slot].space.as_ref().map_or(0, |s| s.tables());
    k.force_charge(
        slot,
        Resource::Pages,
        mem::frames::owned_by(id) + tables - 1,
    );
    k.force_charge(slot, Resource::Slices, 1);
    k.sys_mut().init_env = id;
    let ctx = &mut k.envs[slot].ctx;
    ctx.rip = entry;
    ctx.rsp = USER_STACK_TOP;
    k.info_mut(slot).status = exo_abi::env::status::RUNNABLE;
    let _ = k.slices.alloc(0, id);
    k.publish_slices();
    k.switch_to(slot, frame, false);
}

/// Unmaps the page below each kernel stack (the boot stack this code runs
/// on, the trap stack): an overflow then faults, and the double fault,
/// on a stack of its own, is reported.
fn guard_stacks() {
    for va in stack_guards() {
        if let Err(e) = mem::paging::guard(va) {
            kprintln!("exo: no guard page below a kernel stack: {e:?}");
        }
    }
}

const STACK_PAINT: u8 = 0xa5;

/// Fills the (not yet used) trap stack with a pattern, so that how deep it
/// was ever used can be told at the end.
fn paint_trap_stack() {
    // SAFETY: the trap stack is not in use before the first environment
    // runs (this code runs on the boot stack); bytes of any value are valid.
    unsafe {
        core::ptr::addr_of_mut!(TRAP_STACK.stack)
            .cast::<u8>()
            .write_bytes(STACK_PAINT, TRAP_STACK_SIZE)
    };
}

/// The most of the trap stack ever used, in bytes.
pub fn trap_stack_used() -> usize {
    // SAFETY: reads the trap stack's bytes (plain integers); it is not
    // being written by anyone else (one CPU, this is kernel code).
    let stack = unsafe { &*core::ptr::addr_of!(TRAP_STACK.stack) };
    TRAP_STACK_SIZE - stack.iter().take_while(|&&b| b == STACK_PAINT).count()
}

/// The guard pages below the kernel stacks.
fn stack_guards() -> [u64; 2] {
    extern "C" {
        static boot_stack_guard: u8;
    }
    // SAFETY: only the addresses are taken; neither guard page is ever
    // read or written.
    unsafe {
        [
            core::ptr::addr_of!(boot_stack_guard) as u64,
            core::ptr::addr_of!(TRAP_STACK.guard) as u64,
        ]
    }
}

/// Whether `va` lies in a kernel stack's guard page.
pub fn in_stack_guard(va: u64) -> bool {
    stack_guards().iter().any(|&g| (g..g + 4096).contains(&va))
}

/// Recurses until the stack runs out (`exo.crash=stack`).
fn overflow(depth: u64) -> u64 {
    let pad = core::hint::black_box([depth; 64]);
    if core::hint::black_box(true) {
        overflow(depth + 1) + pad[0]
    } else {
        pad[0]
    }
}

/// Name of the first program, for messages.
pub fn program_name() -> &'static str {
    // SAFETY: written once before any environment runs.
    unsafe { PROGRAM }
}

/// Leaves the kernel for ring 3 with the given register state.
fn enter_user(frame: TrapFrame) -> ! {
    let top = trap_stack_top();
    let slot = (top - core::mem::size_of::<TrapFrame>() as u64) as *mut TrapFrame;
    // SAFETY: we are on the boot stack, so the top of the (idle) trap stack is
    // free; trap_return pops exactly one TrapFrame and `iretq`s.
    unsafe {
        slot.write(frame);
        core::arch::asm!("mov rsp, {0}", "jmp {1}", in(reg) slot, sym trap_return, options(noreturn));
    }
}

/// Allocates the environment table, the system page and the page records,
/// and maps them read-only for every environment.
fn expose_tables(boot: &pvh::BootInfo, ram_end: u64) {
    let fail = |what: &str| -> ! {
        kprintln!("exo: cannot set up {what}");
        machine::exit(exit::KERNEL_PANIC)
    };
    let env_bytes = (NENV * core::mem::size_of::<EnvInfo>()) as u64;
    let env_pages = env_bytes.div_ceil(mem::PAGE_SIZE);
    let envs =
        mem::frames::alloc_contiguous(env_pages).unwrap_or_else(|| fail("the environment table"));
    let sys = mem::frames::alloc_contiguous(1).unwrap_or_else(|| fail("the system page"));
    let xnreg = mem::frames::alloc_contiguous(exo_abi::layout::UXNREG_PAGES)
        .unwrap_or_else(|| fail("the XN registry window"));
    xn::set_registry_window(xnreg);
    if let Some(spec) = cmdline::value(boot.cmdline, cmdline::TRACE) {
        match trace::init(spec) {
            Ok(mask) => kinfo!("exo: tracing classes {mask:#x}"),
            Err(e) => kprintln!("exo: exo.trace={spec}: {e}; tracing stays off"),
        }
    }
    // From here on every page has a record.
    let recs = mem::frames::build_records(ram_end, &boot.ram[..boot.ram_count], boot.initrd)
        .unwrap_or_else(|| fail("page records"));
    let initrd_ok = boot.initrd.is_none_or(|rd| {
        let start = rd.start & !(mem::PAGE_SIZE - 1);
        mem::paging::map_info_window(UINITRD, start, rd.end - start).is_ok()
    });
    let ok = initrd_ok
        && mem::paging::map_info_window(UPAGES, recs.start, recs.end - recs.start).is_ok()
        && mem::paging::map_info_window(UENVS, envs, env_pages * mem::PAGE_SIZE).is_ok()
        && mem::paging::map_info_window(USYSINFO, sys, mem::PAGE_SIZE).is_ok()
        && mem::paging::map_info_window(
            exo_abi::layout::UXNREG,
            xnreg,
            exo_abi::layout::UXNREG_PAGES * mem::PAGE_SIZE,
        )
        .is_ok();
    if !ok {
        fail("the read-only windows");
    }
    let mut k = KERNEL.lock();
    let info = mem::phys_to_virt(envs) as *mut [EnvInfo; NENV];
    let sysinfo = mem::phys_to_virt(sys) as *mut SysInfo;
    // SAFETY: both are fresh kernel pages reserved at boot for these tables
    // (sized above), mapped in the kernel region and aligned to a page; they
    // are initialized here, and the `&'static mut` made from each is the
    // only Rust reference to them ever (environments see them only through
    // their own read-only mappings).
    let tables = unsafe {
        // One record at a time: the whole table (about a kilobyte per
        // environment) would not fit on the boot stack as a temporary.
        for e in 0..NENV {
            info.cast::<EnvInfo>().add(e).write(EnvInfo::default());
        }
        // All of SysInfo's fields are integers: zero is a valid value.
        sysinfo.write_bytes(0, 1);
        env::Exposed {
            info: &mut *info,
            sys: &mut *sysinfo,
        }
    };
    k.set_tables(tables);
    k.sys_mut().npages = ram_end.div_ceil(mem::PAGE_SIZE);
    k.sys_mut().initrd_size = boot.initrd.map_or(0, |rd| rd.end - rd.start);
    k.sys_mut().initrd_offset = boot.initrd.map_or(0, |rd| rd.start & (mem::PAGE_SIZE - 1));
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
