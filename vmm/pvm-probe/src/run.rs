//! Running the vCPU: until it is done or stuck, with a watchdog, logging
//! every exit and what state it ended in.

use crate::layout::*;
use crate::vm::Vm;
use kvm_ioctls::VcpuExit;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A watchdog that kicks the vCPU thread out of KVM_RUN with a signal.
pub struct Watchdog {
    done: Arc<AtomicBool>,
    fired: Arc<AtomicBool>,
}

extern "C" fn on_kick(_: libc::c_int) {}

impl Watchdog {
    fn start(timeout: Duration) -> Watchdog {
        // SAFETY: all zeros is a valid sigaction before we fill it in; the
        // handler does nothing, so it is async-signal-safe. (No SA_RESTART: a
        // blocked KVM_RUN returns EINTR.)
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_kick as *const () as usize;
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(libc::SIGUSR1, &sa, std::ptr::null_mut());
        }
        // SAFETY: pthread_self has no preconditions.
        let me = unsafe { libc::pthread_self() };
        let done = Arc::new(AtomicBool::new(false));
        let fired = Arc::new(AtomicBool::new(false));
        let (d, f) = (done.clone(), fired.clone());
        std::thread::spawn(move || {
            let start = Instant::now();
            while !d.load(Ordering::SeqCst) {
                if start.elapsed() > timeout {
                    f.store(true, Ordering::SeqCst);
                    // SAFETY: `me` is the probe's main thread, which lives
                    // until the process exits; the handler is a no-op.
                    unsafe { libc::pthread_kill(me, libc::SIGUSR1) };
                    std::thread::sleep(Duration::from_millis(50));
                } else {
                    std::thread::sleep(Duration::from_millis(5));
                }
            }
        });
        Watchdog { done, fired }
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.done.store(true, Ordering::SeqCst);
    }
}

/// One stop of the vCPU; its fields are for the Debug output.
#[derive(Debug)]
#[allow(dead_code)]
pub enum Stop {
    Io { port: u16, val: u64, out: bool },
    Mmio { addr: u64, write: bool },
    Hlt,
    Shutdown,
    Internal { suberror: u32, data: Vec<u64> },
    FailEntry(u64),
    Other(String),
    Timeout,
}

/// Runs the vCPU until it stops for something other than port I/O that is
/// not PORT_DONE; logs every exit into `out`. `on_io` may act on a phase mark.
pub fn run(
    vm: &mut Vm,
    out: &mut String,
    timeout: Duration,
    mut on_io: impl FnMut(&Vm, u16),
) -> Stop {
    let dog = Watchdog::start(timeout);
    let t0 = Instant::now();
    let mut exits = 0u32;
    let stop = loop {
        exits += 1;
        let stop = match vm.vcpu.run() {
            Ok(VcpuExit::IoOut(port, data)) => {
                let mut v = [0u8; 8];
                v[..data.len()].copy_from_slice(data);
                Stop::Io {
                    port,
                    val: u64::from_le_bytes(v),
                    out: true,
                }
            }
            Ok(VcpuExit::IoIn(port, data)) => {
                data.fill(0);
                Stop::Io {
                    port,
                    val: 0,
                    out: false,
                }
            }
            Ok(VcpuExit::MmioRead(addr, data)) => {
                data.fill(0);
                Stop::Mmio { addr, write: false }
            }
            Ok(VcpuExit::MmioWrite(addr, _)) => Stop::Mmio { addr, write: true },
            Ok(VcpuExit::Hlt) => Stop::Hlt,
            Ok(VcpuExit::Shutdown) => Stop::Shutdown,
            Ok(VcpuExit::InternalError) => {
                let r = vm.vcpu.get_kvm_run();
                // SAFETY: the exit reason is KVM_EXIT_INTERNAL_ERROR, so the
                // `internal` member of the union is the one KVM filled in.
                let i = unsafe { r.__bindgen_anon_1.internal };
                Stop::Internal {
                    suberror: i.suberror,
                    data: i.data[..(i.ndata as usize).min(16)].to_vec(),
                }
            }
            Ok(VcpuExit::FailEntry(reason, _)) => Stop::FailEntry(reason),
            Ok(other) => Stop::Other(format!("{other:?}")),
            Err(e) if e.errno() == libc::EINTR && dog.fired.load(Ordering::SeqCst) => Stop::Timeout,
            Err(e) if e.errno() == libc::EINTR || e.errno() == libc::EAGAIN => continue,
            Err(e) => Stop::Other(format!("KVM_RUN error {e}")),
        };
        match stop {
            Stop::Io { port, .. } if port != PORT_DONE && exits < 100_000 => {
                if exits <= 40 {
                    let _ = writeln!(out, "    exit: {stop:?}");
                }
                on_io(vm, port);
            }
            Stop::Mmio { .. } if exits < 20 => {
                let _ = writeln!(out, "    exit: {stop:?}");
            }
            _ => break stop,
        }
    };
    let _ = writeln!(
        out,
        "    stopped after {exits} exits, {:?}: {stop:?}",
        t0.elapsed()
    );
    describe_vcpu(vm, out);
    stop
}

pub fn describe_vcpu(vm: &Vm, out: &mut String) {
    if let (Ok(r), Ok(s)) = (vm.vcpu.get_regs(), vm.vcpu.get_sregs()) {
        let _ = writeln!(
            out,
            "    vcpu: rip={:#x} rsp={:#x} rflags={:#x} rax={:#x} rcx={:#x} rdx={:#x} r11={:#x}",
            r.rip, r.rsp, r.rflags, r.rax, r.rcx, r.rdx, r.r11
        );
        let _ = writeln!(
            out,
            "          cs={:#x}(dpl{} l{} db{}) ss={:#x}(dpl{}) ds={:#x} cr0={:#x} cr3={:#x} cr4={:#x} efer={:#x}",
            s.cs.selector, s.cs.dpl, s.cs.l, s.cs.db, s.ss.selector, s.ss.dpl, s.ds.selector,
            s.cr0, s.cr3, s.cr4, s.efer
        );
    }
    if let Ok(e) = vm.vcpu.get_vcpu_events() {
        if e.exception.injected != 0 || e.exception.pending != 0 || e.triple_fault.pending != 0 {
            let _ = writeln!(
                out,
                "          pending event: exception nr={} injected={} pending={} err={:#x} triple_fault={}",
                e.exception.nr,
                e.exception.injected,
                e.exception.pending,
                e.exception.error_code,
                e.triple_fault.pending
            );
        }
    }
}

pub fn cpuid_str(regs: &[u64]) -> String {
    let mut s = String::new();
    for r in regs {
        for b in (*r as u32).to_le_bytes() {
            s.push(if b.is_ascii_graphic() { b as char } else { '.' });
        }
    }
    s
}

pub fn inject_irq(vm: &Vm, vector: u8) -> String {
    match vm.vcpu.get_vcpu_events() {
        Ok(mut e) => {
            e.interrupt.injected = 1;
            e.interrupt.nr = vector;
            e.interrupt.soft = 0;
            e.flags = 0;
            match vm.vcpu.set_vcpu_events(&e) {
                Ok(()) => "injected".into(),
                Err(e) => format!("SET_VCPU_EVENTS failed: {e}"),
            }
        }
        Err(e) => format!("GET_VCPU_EVENTS failed: {e}"),
    }
}
