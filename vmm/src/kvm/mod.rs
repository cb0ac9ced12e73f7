//! Our VMM on KVM: guest memory, PVH boot, one vCPU, the in-kernel irqchip
//! and PIT, the serial console and the debug-exit port. The guest is
//! untrusted: every exit it causes is answered or turned into an error,
//! never a panic.

mod acpi;
pub(crate) mod boot;
mod console;
mod cpu;
mod device_thread;
mod error;
mod gdb;
mod layout;
mod linux_boot;
mod mptable;
mod virtio;

pub use console::restore as restore_terminal;
pub use error::Error;

use crate::config::RunConfig;
use exo_abi::boot::{COM1_IRQ, COM1_PORT, DEBUG_EXIT_PORT};
use exo_devices::debug_exit::DebugExit;
use exo_devices::pio::{BusAction, PioBus};
use exo_devices::serial::{new_serial, SerialPort};
use kvm_bindings::{kvm_pit_config, kvm_userspace_memory_region, KVM_PIT_SPEAKER_DUMMY};
use kvm_ioctls::{Kvm, VcpuExit};
use std::io::Write;
use vm_memory::{GuestAddress, GuestMemoryBackend, GuestMemoryMmap, GuestMemoryRegion};
use vmm_sys_util::eventfd::{EventFd, EFD_NONBLOCK};

/// Checks that /dev/kvm can be opened.
pub fn kvm_available() -> Result<(), Error> {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
        .map(drop)
        .map_err(Error::NoKvm)
}

/// Boots `cfg` with the console on this terminal; returns the guest's exit status.
pub fn run(cfg: &RunConfig) -> Result<u8, Error> {
    console::enter_raw();
    let r = run_with(cfg, Box::new(std::io::stdout()), true);
    console::restore();
    r
}

/// Boots `cfg` with serial output to `out`, and stdin as input if `input`.
pub fn run_with(cfg: &RunConfig, out: Box<dyn Write + Send>, input: bool) -> Result<u8, Error> {
    kvm_available()?;
    let kvm = Kvm::new().map_err(|e| Error::NoKvm(std::io::Error::from_raw_os_error(e.errno())))?;
    // Declared before the VM, so dropped after it: KVM never sees it unmapped.
    let mem = GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(0), cfg.mem_bytes as usize)])
        .map_err(|e| Error::Memory(e.to_string()))?;
    let vm = kvm.create_vm().map_err(|e| Error::Kvm("CREATE_VM", e))?;
    vm.set_tss_address(0xfffb_d000)
        .map_err(|e| Error::Kvm("SET_TSS_ADDR", e))?;
    vm.create_irq_chip()
        .map_err(|e| Error::Kvm("CREATE_IRQCHIP", e))?;
    let pit = kvm_pit_config {
        flags: KVM_PIT_SPEAKER_DUMMY,
        ..Default::default()
    };
    vm.create_pit2(pit)
        .map_err(|e| Error::Kvm("CREATE_PIT2", e))?;

    for (slot, region) in mem.iter().enumerate() {
        let host = region.as_ptr() as u64;
        let r = kvm_userspace_memory_region {
            slot: slot as u32,
            flags: 0,
            guest_phys_addr: region.start_addr().0,
            memory_size: region.len(),
            userspace_addr: host,
        };
        // SAFETY: `host..host + len` is `mem`'s mapping, which is dropped
        // after `vm` and every vCPU (declared before them).
        unsafe { vm.set_user_memory_region(r) }
            .map_err(|e| Error::Kvm("SET_USER_MEMORY_REGION", e))?;
    }
    let mut mmio = virtio::attach(&vm, &mem, cfg)?;
    let entry = boot::load(&mem, cfg, &virtio::devices(&mmio))?;
    let mut vcpu = vm
        .create_vcpu(0)
        .map_err(|e| Error::Kvm("CREATE_VCPU", e))?;
    cpu::setup(&kvm, &vcpu, entry)?;

    let irq = EventFd::new(EFD_NONBLOCK).map_err(|e| Error::Memory(e.to_string()))?;
    vm.register_irqfd(&irq, COM1_IRQ)
        .map_err(|e| Error::Kvm("IRQFD", e))?;
    let serial = new_serial(irq, out);
    let mut bus = PioBus::new();
    let placed = bus
        .insert(COM1_PORT, 8, Box::new(SerialPort(serial.clone())))
        .is_ok()
        && bus.insert(DEBUG_EXIT_PORT, 1, Box::new(DebugExit)).is_ok();
    debug_assert!(placed, "fixed device ports overlap");
    if input {
        console::spawn_input(serial);
    }
    let collector = match &cfg.trace {
        Some(out) => {
            let anchor = crate::trace::anchor_address(&cfg.kernel).map_err(Error::Guest)?;
            let region = mem
                .iter()
                .next()
                .ok_or_else(|| Error::Memory("no guest RAM".into()))?;
            let ram = crate::trace::collector::GuestRam {
                base: region.as_ptr(),
                len: region.len(),
            };
            // SAFETY: `ram` is `mem`'s mapping. The collector is declared
            // after `mem`, so it is finished or dropped (joined) first.
            let c = unsafe { crate::trace::collector::Collector::start(ram, anchor, out) }
                .map_err(|e| Error::File(out.clone(), e))?;
            Some((c, out.clone()))
        }
        None => None,
    };
    let result = match cfg.gdb {
        Some(addr) => gdb::debug(addr, &mut vcpu, &mem, &mut bus, &mut mmio),
        None => run_vcpu(&mut vcpu, &mut bus, &mut mmio),
    };
    for (_, dev) in &mmio {
        if let Some(line) = virtio::with(dev, |d| d.report()) {
            eprintln!("exo: {line}");
        }
    }
    if let Some((c, out)) = collector {
        match c.finish() {
            Ok(h) => eprintln!(
                "exo: trace: {} records, {} dropped, in {}",
                h.records,
                h.dropped,
                out.display()
            ),
            Err(e) => eprintln!("exo: trace: {}: {e}", out.display()),
        }
    }
    result
}

/// Why the vCPU stopped running.
pub(crate) enum Stop {
    /// The guest wrote its exit status to the debug-exit port.
    Exit(u8),
    /// A debug event (breakpoint, watchpoint, single step); `dr6` says
    /// which debug register fired.
    Debug { dr6: u64 },
    /// KVM_RUN was interrupted by a signal (a debugger wants the vCPU).
    Interrupted,
}

/// Runs the vCPU, serving port I/O and MMIO, until it stops.
pub(crate) fn run_until_stop(
    vcpu: &mut kvm_ioctls::VcpuFd,
    bus: &mut PioBus,
    mmio: &mut virtio::MmioBus,
) -> Result<Stop, Error> {
    loop {
        match vcpu.run() {
            Ok(VcpuExit::IoOut(port, data)) => {
                if let Some(BusAction::Exit(status)) = bus.write(port, data) {
                    return Ok(Stop::Exit(status));
                }
            }
            Ok(VcpuExit::IoIn(port, data)) => bus.read(port, data),
            Ok(VcpuExit::MmioRead(addr, data)) => match virtio::find(mmio, addr) {
                Some((dev, off)) => virtio::with(dev, |d| d.read(off, data)),
                None => data.fill(0xff),
            },
            Ok(VcpuExit::MmioWrite(addr, data)) => {
                if let Some((dev, off)) = virtio::find(mmio, addr) {
                    virtio::with(dev, |d| d.write(off, data));
                }
            }
            Ok(VcpuExit::Debug(d)) => return Ok(Stop::Debug { dr6: d.dr6 }),
            Ok(VcpuExit::Intr) | Ok(VcpuExit::IrqWindowOpen) => {}
            Ok(VcpuExit::Hlt) => {
                return Err(Error::Guest("halted with no way to wake (HLT exit)".into()))
            }
            Ok(VcpuExit::Shutdown) => {
                let rip = vcpu.get_regs().map(|r| r.rip).unwrap_or(0);
                return Err(Error::Guest(format!(
                    "shut down (triple fault?) near rip={rip:#x}"
                )));
            }
            Ok(VcpuExit::FailEntry(reason, cpu)) => {
                return Err(Error::Guest(format!(
                    "KVM could not enter the vCPU {cpu}: hardware reason {reason:#x}"
                )))
            }
            Ok(VcpuExit::InternalError) => {
                let rip = vcpu.get_regs().map(|r| r.rip).unwrap_or(0);
                return Err(Error::Guest(format!(
                    "KVM internal error near rip={rip:#x}"
                )));
            }
            Ok(VcpuExit::SystemEvent(kind, _)) => {
                return Err(Error::Guest(format!(
                    "system event {kind} (reset or power-off)"
                )))
            }
            Ok(other) => return Err(Error::Guest(format!("unexpected VM exit {other:?}"))),
            Err(e) if e.errno() == libc::EINTR => return Ok(Stop::Interrupted),
            Err(e) if e.errno() == libc::EAGAIN => {}
            Err(e) => return Err(Error::Kvm("RUN", e)),
        }
    }
}

/// Runs the vCPU until the guest exits through the debug port or fails.
fn run_vcpu(
    vcpu: &mut kvm_ioctls::VcpuFd,
    bus: &mut PioBus,
    mmio: &mut virtio::MmioBus,
) -> Result<u8, Error> {
    loop {
        if let Stop::Exit(status) = run_until_stop(vcpu, bus, mmio)? {
            return Ok(status);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>);
    impl Write for Sink {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// A hand-assembled 32-bit guest: prints "K" on COM1, exits with 42.
    const TINY: &[u8] = &[
        0x66, 0xba, 0xf8, 0x03, // mov dx, 0x3f8
        0xb0, b'K', // mov al, 'K'
        0xee, // out dx, al
        0x66, 0xba, 0xf4, 0x00, // mov dx, 0xf4
        0xb0, 42,   // mov al, 42
        0xee, // out dx, al
        0xf4, // hlt
    ];

    #[test]
    fn tiny_guest_prints_and_exits_through_the_debug_port() {
        if let Err(e) = kvm_available() {
            eprintln!("skipped: {e}");
            return;
        }
        let k = boot::tests::temp("tiny", &boot::tests::pvh_elf(TINY));
        let cfg = RunConfig {
            kernel: k,
            initrd: None,
            mem_bytes: 16 << 20,
            cmdline: String::new(),
            disks: vec![],
            nets: vec![],
            gdb: None,
            trace: None,
            icount: false,
        };
        let sink = Sink::default();
        let status = run_with(&cfg, Box::new(sink.clone()), false).expect("tiny guest runs");
        boot::tests::cleanup(&["tiny"]);
        assert_eq!(status, 42);
        assert_eq!(&*sink.0.lock().unwrap(), b"K");
    }
}
