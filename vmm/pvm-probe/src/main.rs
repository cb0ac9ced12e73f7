//! Probes the guest ABI of the host's `kvm_pvm` (PVM, the pagetable-based
//! virtual machine) by experiment, and prints what answers.
//!
//! Each experiment builds a fresh VM with hand-written guest code (assembled
//! at run time with binutils `as` and `ld`, which must be installed), runs
//! it, and reports what the vCPU did: the exit reasons, the values the guest
//! stored in its result page, and rdtsc cycle counts measured inside the
//! guest. The findings are written up in this crate's README.
//!
//! Usage: `cargo run -p exo-pvm-probe [-- EXPERIMENT...]`; with no argument
//! every experiment runs. `list` prints their names.

use kvm_bindings::{
    kvm_msr_entry, kvm_segment, kvm_sregs, kvm_userspace_memory_region, Msrs, KVM_MAX_CPUID_ENTRIES,
};
use kvm_ioctls::{Cap, Kvm, VcpuExit, VcpuFd, VmFd};
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use vm_memory::{Bytes, GuestAddress, GuestMemoryBackend, GuestMemoryMmap};

type Res<T> = Result<T, String>;

/// Guest RAM: 32 MiB from GPA 0, identity-mapped.
const MEM: u64 = 32 << 20;
/// The page tables: PML4, PDPT, PD (2 MiB pages).
const PML4: u64 = 0x1000;
const PDPT: u64 = 0x2000;
const PD: u64 = 0x3000;
const PDPT_HIGH: u64 = 0x4000;
/// The top-2-GiB alias of guest-physical 0.
const HIGH_ALIAS: u64 = 0xffff_ffff_8000_0000;
/// A GDT in the Linux layout (the host's selectors).
const GDT_ADDR: u64 = 0x5000;
/// The PVM vCPU struct (PVCS) page.
const PVCS: u64 = 0x6000;
/// Supervisor code (in a U=0 2 MiB page) and its stack top.
const SUP_CODE: u64 = 0x10_0000;
const SUP_STACK: u64 = 0x9_0000;
/// User code, user stack top and the result page (U=1 pages).
const USER_CODE: u64 = 0x20_0000;
const USER_STACK: u64 = 0x28_0000;
const RES: u64 = 0x30_0000;
/// 2 MiB pages [USER_FIRST, USER_LAST] are mapped with U=1.
const USER_PAGES: std::ops::RangeInclusive<u64> = 1..=1;

/// Linux's GDT layout, which is the host's: the selectors PVM requires.
const KERNEL32_CS: u16 = 0x08;
const KERNEL_CS: u16 = 0x10;
const KERNEL_DS: u16 = 0x18;
const USER32_CS: u16 = 0x23;
const USER_DS: u16 = 0x2b;
const USER_CS: u16 = 0x33;
const GDT: [u64; 7] = [
    0,
    0x00cf_9b00_0000_ffff, // 0x08 kernel 32-bit code
    0x00af_9b00_0000_ffff, // 0x10 kernel 64-bit code
    0x00cf_9300_0000_ffff, // 0x18 kernel data
    0x00cf_fb00_0000_ffff, // 0x20 user 32-bit code, DPL 3
    0x00cf_f300_0000_ffff, // 0x28 user data, DPL 3
    0x00af_fb00_0000_ffff, // 0x30 user 64-bit code, DPL 3
];

const MSR_STAR: u32 = 0xc000_0081;
const MSR_LSTAR: u32 = 0xc000_0082;
const MSR_SYSCALL_MASK: u32 = 0xc000_0084;
const MSR_KVM_SYSTEM_TIME_NEW: u32 = 0x4b56_4d01;
/// STAR as Linux sets it: kernel CS 0x10 in 47:32, user32 CS 0x23 in 63:48.
const STAR_VALUE: u64 = ((USER32_CS as u64) << 48) | ((KERNEL_CS as u64) << 32);

/// The PVM virtual MSRs of the two public revisions of the spec.
const PVM_MSRS_V1: [(u32, &str); 7] = [
    (0x4b56_4df0, "LINEAR_ADDRESS_RANGE(v1)"),
    (0x4b56_4df1, "VCPU_STRUCT(v1)"),
    (0x4b56_4df2, "SWITCH_CR3(v1)"),
    (0x4b56_4df3, "SUPERVISOR_RSP(v1)"),
    (0x4b56_4df4, "EVENT_ENTRY(v1)"),
    (0x4b56_4df5, "RETU_RIP(v1)"),
    (0x4b56_4df6, "RETS_RIP(v1)"),
];
const PVM_MSRS_V2: [(u32, &str); 4] = [
    (0x4b56_4d20, "VCPU_STRUCT(v2)"),
    (0x4b56_4d21, "EVENT_ENTRY(v2)"),
    (0x4b56_4d22, "RETU_RIP(v2)"),
    (0x4b56_4d23, "FEATURES_ENABLED(v2)"),
];

/// The port the guest writes to say it is done; other ports are phase marks.
const PORT_DONE: u16 = 0xf4;
/// The port at which the VMM injects an interrupt (vector 0x40).
const PORT_INJECT: u16 = 0x82;

// ---------------------------------------------------------------------------
// Assembling guest code.

fn tmpdir() -> PathBuf {
    let d = std::env::temp_dir().join(format!("pvm-probe-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&d);
    d
}

/// Assembles AT&T-syntax `src` into a flat binary loaded at `base`.
fn assemble(name: &str, base: u64, src: &str) -> Res<Vec<u8>> {
    let dir = tmpdir();
    let s = dir.join(format!("{name}.s"));
    let o = dir.join(format!("{name}.o"));
    let b = dir.join(format!("{name}.bin"));
    let prelude = format!(
        ".set RES, {RES:#x}\n.set PVCS, {PVCS:#x}\n.set SUP_STACK, {SUP_STACK:#x}\n\
         .set USER_STACK, {USER_STACK:#x}\n.set USER_CODE, {USER_CODE:#x}\n\
         .set SUP_CODE, {SUP_CODE:#x}\n.text\n.globl _start\n_start:\n"
    );
    std::fs::write(&s, prelude + src).map_err(|e| e.to_string())?;
    let run = |cmd: &mut Command| -> Res<()> {
        let out = cmd.output().map_err(|e| format!("{cmd:?}: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "{cmd:?} failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    };
    run(Command::new("as").arg("--64").arg("-o").arg(&o).arg(&s))?;
    run(Command::new("ld")
        .arg("-N")
        .arg(format!("-Ttext={base:#x}"))
        .arg("--oformat=binary")
        .arg("-o")
        .arg(&b)
        .arg(&o))?;
    std::fs::read(&b).map_err(|e| e.to_string())
}

// ---------------------------------------------------------------------------
// A VM with one vCPU and identity-mapped RAM.

struct Vm {
    _vm: VmFd,
    vcpu: VcpuFd,
    mem: GuestMemoryMmap,
}

fn kvm_err(what: &'static str) -> impl Fn(kvm_ioctls::Error) -> String {
    move |e| format!("{what}: {e}")
}

impl Vm {
    fn new(kvm: &Kvm) -> Res<Vm> {
        let vm = kvm.create_vm().map_err(kvm_err("CREATE_VM"))?;
        let mem = GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(0), MEM as usize)])
            .map_err(|e| e.to_string())?;
        let host = mem
            .iter()
            .next()
            .map(|r| r.as_ptr() as u64)
            .ok_or("no memory region")?;
        let region = kvm_userspace_memory_region {
            slot: 0,
            guest_phys_addr: 0,
            memory_size: MEM,
            userspace_addr: host,
            flags: 0,
        };
        // SAFETY: `mem` maps MEM bytes at `host` and lives as long as the VM
        // (both are fields of the returned Vm, and the VM fd is dropped first).
        unsafe { vm.set_user_memory_region(region) }.map_err(kvm_err("SET_USER_MEMORY_REGION"))?;
        let vcpu = vm.create_vcpu(0).map_err(kvm_err("CREATE_VCPU"))?;
        let mut cpuid = kvm
            .get_supported_cpuid(KVM_MAX_CPUID_ENTRIES)
            .map_err(kvm_err("GET_SUPPORTED_CPUID"))?;
        for e in cpuid.as_mut_slice() {
            if e.function == 1 {
                e.ebx &= 0x00ff_ffff;
                e.ecx |= 1 << 31;
            }
        }
        vcpu.set_cpuid2(&cpuid).map_err(kvm_err("SET_CPUID2"))?;
        let v = Vm { _vm: vm, vcpu, mem };
        v.write_tables()?;
        Ok(v)
    }

    fn w64(&self, addr: u64, v: u64) -> Res<()> {
        self.mem
            .write_obj(v, GuestAddress(addr))
            .map_err(|e| e.to_string())
    }

    fn r64(&self, addr: u64) -> u64 {
        self.mem.read_obj(GuestAddress(addr)).unwrap_or(u64::MAX)
    }

    fn load(&self, addr: u64, code: &[u8]) -> Res<()> {
        self.mem
            .write_slice(code, GuestAddress(addr))
            .map_err(|e| e.to_string())
    }

    /// Identity map of the first 32 MiB with 2 MiB pages: U=0 except the
    /// pages in USER_PAGES; every upper level has U=1 (as x86 requires for
    /// user access).
    fn write_tables(&self) -> Res<()> {
        const P: u64 = 1;
        const RW: u64 = 2;
        const US: u64 = 4;
        const PS: u64 = 0x80;
        self.w64(PML4, PDPT | P | RW | US)?;
        // The same 1 GiB again at the top: PML4[511] -> PDPT_HIGH[510] ->
        // PD, so HIGH_ALIAS + x is GPA x (where Linux keeps its kernel).
        self.w64(PML4 + 8 * 511, PDPT_HIGH | P | RW | US)?;
        self.w64(PDPT_HIGH + 8 * 510, PD | P | RW | US)?;
        self.w64(PDPT, PD | P | RW | US)?;
        for i in 0..MEM >> 21 {
            let u = if USER_PAGES.contains(&i) { US } else { 0 };
            self.w64(PD + 8 * i, (i << 21) | P | RW | PS | u)?;
        }
        for (i, d) in GDT.iter().enumerate() {
            self.w64(GDT_ADDR + 8 * i as u64, *d)?;
        }
        Ok(())
    }

    fn results(&self, n: usize) -> Vec<u64> {
        (0..n as u64).map(|i| self.r64(RES + 8 * i)).collect()
    }
}

fn seg(selector: u16, type_: u8, dpl: u8, l: u8, db: u8) -> kvm_segment {
    kvm_segment {
        base: 0,
        limit: 0xffff_ffff,
        selector,
        type_,
        present: 1,
        dpl,
        db,
        s: 1,
        l,
        g: 1,
        avl: 0,
        unusable: 0,
        padding: 0,
    }
}

fn null_seg() -> kvm_segment {
    kvm_segment {
        unusable: 1,
        present: 0,
        ..seg(0, 0, 0, 0, 0)
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Mode {
    /// 64-bit supervisor: long mode, paging on, CS = 0x10 with L=1, DPL 0.
    Long64,
    /// 32-bit protected mode, paging off, as at the PVH entry.
    Prot32,
}

/// Puts the vCPU in `mode` at `rip` with stack `rsp`.
fn set_mode(vm: &Vm, mode: Mode, rip: u64, rsp: u64) -> Res<()> {
    let mut s: kvm_sregs = vm.vcpu.get_sregs().map_err(kvm_err("GET_SREGS"))?;
    s.gdt.base = GDT_ADDR;
    s.gdt.limit = (GDT.len() * 8 - 1) as u16;
    s.idt.base = 0;
    s.idt.limit = 0;
    s.tr = kvm_segment {
        type_: 0xb,
        s: 0,
        limit: 0x67,
        g: 0,
        db: 0,
        ..seg(0, 0xb, 0, 0, 0)
    };
    s.ldt = null_seg();
    match mode {
        Mode::Long64 => {
            s.cs = seg(KERNEL_CS, 0xb, 0, 1, 0);
            s.ss = seg(KERNEL_DS, 0x3, 0, 0, 1);
            (s.ds, s.es, s.fs, s.gs) = (null_seg(), null_seg(), null_seg(), null_seg());
            s.cr0 = 0x8005_0033; // PG WP AM NE ET MP PE
            s.cr3 = PML4;
            s.cr4 = 0x620; // PAE OSFXSR OSXMMEXCPT
            s.efer = 0xd01; // SCE LME LMA NXE
        }
        Mode::Prot32 => {
            s.cs = seg(KERNEL32_CS, 0xb, 0, 0, 1);
            let d = seg(KERNEL_DS, 0x3, 0, 0, 1);
            (s.ds, s.es, s.fs, s.gs, s.ss) = (d, d, d, d, d);
            s.cr0 = 0x11;
            s.cr3 = 0;
            s.cr4 = 0;
            s.efer = 0;
        }
    }
    vm.vcpu.set_sregs(&s).map_err(kvm_err("SET_SREGS"))?;
    let regs = kvm_bindings::kvm_regs {
        rip,
        rsp,
        rflags: 2,
        ..Default::default()
    };
    vm.vcpu.set_regs(&regs).map_err(kvm_err("SET_REGS"))?;
    Ok(())
}

// ---------------------------------------------------------------------------
// MSRs through the KVM API.

fn get_msr(vcpu: &VcpuFd, index: u32) -> Result<u64, String> {
    let mut m = Msrs::from_entries(&[kvm_msr_entry {
        index,
        ..Default::default()
    }])
    .map_err(|e| format!("{e:?}"))?;
    match vcpu.get_msrs(&mut m) {
        Ok(1) => Ok(m.as_slice()[0].data),
        Ok(n) => Err(format!("refused ({n} of 1 read)")),
        Err(e) => Err(format!("error {e}")),
    }
}

fn set_msr(vcpu: &VcpuFd, index: u32, data: u64) -> Result<(), String> {
    let m = Msrs::from_entries(&[kvm_msr_entry {
        index,
        data,
        ..Default::default()
    }])
    .map_err(|e| format!("{e:?}"))?;
    match vcpu.set_msrs(&m) {
        Ok(1) => Ok(()),
        Ok(n) => Err(format!("refused ({n} of 1 written)")),
        Err(e) => Err(format!("error {e}")),
    }
}

fn show<T: std::fmt::LowerHex, E: std::fmt::Display>(r: &Result<T, E>) -> String {
    match r {
        Ok(v) => format!("ok {v:#x}"),
        Err(e) => format!("FAIL {e}"),
    }
}

/// A plausible value to write to each probed MSR.
fn probe_value(index: u32) -> u64 {
    match index {
        0x4b56_4df1 | 0x4b56_4d20 => PVCS,
        0x4b56_4df4 | 0x4b56_4d21 => SUP_CODE + 0x1000,
        0x4b56_4df5 | 0x4b56_4d22 => SUP_CODE + 0x2000,
        0x4b56_4df6 => SUP_CODE + 0x2100,
        0x4b56_4df3 => SUP_STACK,
        0x4b56_4df2 => PML4,
        0x4b56_4df0 => 0xffff_ffff_ffff_ffff,
        MSR_STAR => STAR_VALUE,
        MSR_LSTAR => SUP_CODE + 0x3000,
        _ => 0,
    }
}

fn all_probed_msrs() -> Vec<(u32, &'static str)> {
    let mut v: Vec<(u32, &str)> = PVM_MSRS_V1.to_vec();
    v.extend_from_slice(&PVM_MSRS_V2);
    v.push((MSR_STAR, "STAR"));
    v.push((MSR_LSTAR, "LSTAR"));
    v.push((MSR_SYSCALL_MASK, "SYSCALL_MASK"));
    v.push((MSR_KVM_SYSTEM_TIME_NEW, "KVM_SYSTEM_TIME_NEW"));
    v
}

fn msr_table(vm: &Vm, out: &mut String) {
    for (index, name) in all_probed_msrs() {
        let before = get_msr(&vm.vcpu, index);
        let set = set_msr(&vm.vcpu, index, probe_value(index));
        let after = get_msr(&vm.vcpu, index);
        let _ = writeln!(
            out,
            "    {index:#010x} {name:<26} get {:<22} set({:#x}) {:<22} get {}",
            show(&before),
            probe_value(index),
            match &set {
                Ok(()) => "ok".to_string(),
                Err(e) => format!("FAIL {e}"),
            },
            show(&after)
        );
    }
}

// ---------------------------------------------------------------------------
// Running the vCPU.

/// A watchdog that kicks the vCPU thread out of KVM_RUN with a signal.
struct Watchdog {
    done: Arc<AtomicBool>,
    fired: Arc<AtomicBool>,
}

extern "C" fn on_kick(_: libc::c_int) {}

impl Watchdog {
    fn start(timeout: Duration) -> Watchdog {
        // SAFETY: installs a handler that does nothing, without SA_RESTART,
        // so that a blocked KVM_RUN returns EINTR.
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
enum Stop {
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
fn run(vm: &mut Vm, out: &mut String, timeout: Duration, mut on_io: impl FnMut(&Vm, u16)) -> Stop {
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

fn describe_vcpu(vm: &Vm, out: &mut String) {
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

fn cpuid_str(regs: &[u64]) -> String {
    let mut s = String::new();
    for r in regs {
        for b in (*r as u32).to_le_bytes() {
            s.push(if b.is_ascii_graphic() { b as char } else { '.' });
        }
    }
    s
}

fn inject_irq(vm: &Vm, vector: u8) -> String {
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

// ---------------------------------------------------------------------------
// Experiments.

fn exp_host(kvm: &Kvm, out: &mut String) -> Res<()> {
    out.push_str("== host: module parameters\n");
    let dir = std::path::Path::new("/sys/module/kvm_pvm/parameters");
    match std::fs::read_dir(dir) {
        Ok(rd) => {
            let mut names: Vec<_> = rd.flatten().map(|e| e.path()).collect();
            names.sort();
            for p in names {
                let v = std::fs::read_to_string(&p).unwrap_or_default();
                let _ = writeln!(
                    out,
                    "    {} = {}",
                    p.file_name().unwrap_or_default().to_string_lossy(),
                    v.trim()
                );
            }
        }
        Err(e) => {
            let _ = writeln!(out, "    {}: {e}", dir.display());
        }
    }
    let _ = writeln!(out, "== host: KVM API version {}", kvm.get_api_version());

    out.push_str("== host: KVM_GET_SUPPORTED_CPUID, hypervisor leaves and leaf 1/7\n");
    let cpuid = kvm
        .get_supported_cpuid(KVM_MAX_CPUID_ENTRIES)
        .map_err(kvm_err("GET_SUPPORTED_CPUID"))?;
    for e in cpuid.as_slice() {
        if e.function >= 0x4000_0000 && e.function < 0x5000_0000
            || e.function == 1
            || e.function == 7
        {
            let _ = writeln!(
                out,
                "    leaf {:#010x}.{} eax={:#010x} ebx={:#010x} ecx={:#010x} edx={:#010x} {}",
                e.function,
                e.index,
                e.eax,
                e.ebx,
                e.ecx,
                e.edx,
                if e.function >= 0x4000_0000 {
                    cpuid_str(&[e.ebx as u64, e.ecx as u64, e.edx as u64])
                } else {
                    String::new()
                }
            );
        }
    }
    out.push_str("== host: KVM_GET_EMULATED_CPUID hypervisor leaves\n");
    match kvm.get_emulated_cpuid(KVM_MAX_CPUID_ENTRIES) {
        Ok(c) => {
            for e in c.as_slice() {
                if e.function >= 0x4000_0000 && e.function < 0x5000_0000 {
                    let _ = writeln!(out, "    leaf {:#010x} {:?}", e.function, e);
                }
            }
            let _ = writeln!(out, "    ({} entries)", c.as_slice().len());
        }
        Err(e) => {
            let _ = writeln!(out, "    error {e}");
        }
    }

    out.push_str("== host: KVM_GET_MSR_INDEX_LIST (0x4b564dxx and all non-architectural)\n");
    match kvm.get_msr_index_list() {
        Ok(l) => {
            let all = l.as_slice();
            let kvmish: Vec<String> = all
                .iter()
                .filter(|m| **m >> 8 == 0x004b_564d)
                .map(|m| format!("{m:#x}"))
                .collect();
            let _ = writeln!(out, "    {} MSRs; 0x4b564dxx: {:?}", all.len(), kvmish);
            let list: Vec<String> = all.iter().map(|m| format!("{m:x}")).collect();
            let _ = writeln!(out, "    all: {}", list.join(" "));
        }
        Err(e) => {
            let _ = writeln!(out, "    error {e}");
        }
    }
    out.push_str("== host: KVM_GET_MSR_FEATURE_INDEX_LIST\n");
    match kvm.get_msr_feature_index_list() {
        Ok(l) => {
            let list: Vec<String> = l.as_slice().iter().map(|m| format!("{m:x}")).collect();
            let _ = writeln!(out, "    {} MSRs: {}", list.len(), list.join(" "));
            let mut msrs = Msrs::from_entries(
                &l.as_slice()
                    .iter()
                    .map(|&index| kvm_msr_entry {
                        index,
                        ..Default::default()
                    })
                    .collect::<Vec<_>>(),
            )
            .map_err(|e| format!("{e:?}"))?;
            match kvm.get_msrs(&mut msrs) {
                Ok(n) => {
                    for m in &msrs.as_slice()[..n] {
                        let _ = writeln!(out, "    feature MSR {:#x} = {:#x}", m.index, m.data);
                    }
                }
                Err(e) => {
                    let _ = writeln!(out, "    system KVM_GET_MSRS error {e}");
                }
            }
        }
        Err(e) => {
            let _ = writeln!(out, "    error {e}");
        }
    }
    out.push_str("== host: system-scope KVM_GET_MSRS of the PVM MSRs (feature-MSR path)\n");
    for (index, name) in PVM_MSRS_V1.iter().chain(PVM_MSRS_V2.iter()) {
        let mut m = Msrs::from_entries(&[kvm_msr_entry {
            index: *index,
            ..Default::default()
        }])
        .map_err(|e| format!("{e:?}"))?;
        let r = kvm.get_msrs(&mut m);
        let _ = writeln!(out, "    {index:#x} {name}: {r:?}");
    }

    out.push_str("== host: KVM_CHECK_EXTENSION\n");
    let caps: [(&str, Cap); 24] = [
        ("IRQCHIP", Cap::Irqchip),
        ("HLT", Cap::Hlt),
        ("USER_MEMORY", Cap::UserMemory),
        ("SET_TSS_ADDR", Cap::SetTssAddr),
        ("EXT_CPUID", Cap::ExtCpuid),
        ("CLOCKSOURCE", Cap::Clocksource),
        ("NR_VCPUS", Cap::NrVcpus),
        ("MAX_VCPUS", Cap::MaxVcpus),
        ("PIT2", Cap::Pit2),
        ("IRQFD", Cap::Irqfd),
        ("IOEVENTFD", Cap::Ioeventfd),
        ("SET_GUEST_DEBUG", Cap::SetGuestDebug),
        ("VCPU_EVENTS", Cap::VcpuEvents),
        ("XSAVE", Cap::Xsave),
        ("XCRS", Cap::Xcrs),
        ("TSC_CONTROL", Cap::TscControl),
        ("GET_TSC_KHZ", Cap::GetTscKhz),
        ("TSC_DEADLINE_TIMER", Cap::TscDeadlineTimer),
        ("IMMEDIATE_EXIT", Cap::ImmediateExit),
        ("SPLIT_IRQCHIP", Cap::SplitIrqchip),
        ("X86_USER_SPACE_MSR", Cap::X86UserSpaceMsr),
        ("X86_MSR_FILTER", Cap::X86MsrFilter),
        ("EXIT_HYPERCALL", Cap::ExitHypercall),
        ("X2APIC_API", Cap::X2ApicApi),
    ];
    let mut line = String::from("   ");
    for (name, c) in caps {
        let _ = write!(line, " {name}={}", kvm.check_extension_int(c));
    }
    out.push_str(&line);
    out.push('\n');
    let mut line = String::from("    raw:");
    // A few capabilities by number: KVM_CAP_VM_TYPES(235), KVM_CAP_PMU_CAPABILITY(225),
    // KVM_CAP_X86_DISABLE_EXITS(143), KVM_CAP_NESTED_STATE(157), KVM_CAP_SYNC_REGS(74),
    // KVM_CAP_MP_STATE(14), KVM_CAP_DIRTY_LOG_RING(192), KVM_CAP_MEMORY_FAULT_INFO(232).
    for n in [235u64, 225, 143, 157, 74, 14, 192, 232] {
        let _ = write!(line, " cap{n}={}", kvm.check_extension_raw(n));
    }
    out.push_str(&line);
    out.push('\n');
    Ok(())
}

fn exp_ioctl_msrs(kvm: &Kvm, out: &mut String) -> Res<()> {
    out.push_str("== ioctl-msrs: KVM_GET/SET_MSRS in the reset state (before any KVM_RUN)\n");
    let vm = Vm::new(kvm)?;
    msr_table(&vm, out);

    out.push_str("== ioctl-msrs: the same after SET_SREGS to 64-bit supervisor state (CS 0x10 L=1 DPL0, EFER LME|LMA|SCE)\n");
    let mut vm = Vm::new(kvm)?;
    let code = assemble(
        "msr-first-run",
        SUP_CODE,
        "out %al, $0x80\nout %al, $0xf4\n",
    )?;
    vm.load(SUP_CODE, &code)?;
    set_mode(&vm, Mode::Long64, SUP_CODE, SUP_STACK)?;
    msr_table(&vm, out);
    out.push_str("    first KVM_RUN (guest: out 0x80; out 0xf4):\n");
    run(&mut vm, out, Duration::from_secs(5), |_, _| {});
    out.push_str("  after the first KVM_RUN:\n");
    msr_table(&vm, out);

    out.push_str("== ioctl-msrs: after one KVM_RUN in 32-bit protected mode (non-PVM mode)\n");
    let mut vm = Vm::new(kvm)?;
    let code = assemble(
        "msr-prot32",
        SUP_CODE,
        ".code32\nout %al, $0x80\nout %al, $0xf4\n",
    )?;
    vm.load(SUP_CODE, &code)?;
    set_mode(&vm, Mode::Prot32, SUP_CODE, SUP_STACK)?;
    run(&mut vm, out, Duration::from_secs(5), |_, _| {});
    msr_table(&vm, out);
    Ok(())
}

/// Scans MSR ranges with KVM_GET_MSRS (and KVM_SET_MSRS of the value read)
/// on a vCPU in 64-bit supervisor state, before any KVM_RUN, and lists the
/// indices that answer and are not in KVM_GET_MSR_INDEX_LIST.
fn exp_msr_scan(kvm: &Kvm, out: &mut String) -> Res<()> {
    out.push_str(
        "== msr-scan: KVM_GET_MSRS over MSR ranges (answers outside KVM_GET_MSR_INDEX_LIST)\n",
    );
    let listed: Vec<u32> = kvm
        .get_msr_index_list()
        .map(|l| l.as_slice().to_vec())
        .unwrap_or_default();
    let vm = Vm::new(kvm)?;
    set_mode(&vm, Mode::Long64, SUP_CODE, SUP_STACK)?;
    let ranges: [(u32, u32); 8] = [
        (0x4b56_4c00, 0x4b56_4eff),
        (0x4000_0000, 0x4000_03ff),
        (0x0000_0000, 0x0000_1fff),
        (0xc000_0000, 0xc000_1fff),
        (0xc001_0000, 0xc001_1fff),
        (0x1708_8200, 0x1708_82ff),
        (0x5056_4d00, 0x5056_4dff),
        (0x4d56_5000, 0x4d56_50ff),
    ];
    for (lo, hi) in ranges {
        let mut hits = Vec::new();
        for index in lo..=hi {
            if let Ok(v) = get_msr(&vm.vcpu, index) {
                if !listed.contains(&index) {
                    let w = set_msr(&vm.vcpu, index, v).is_ok();
                    hits.push(format!("{index:x}={v:x}{}", if w { "" } else { "(ro)" }));
                }
            }
        }
        let _ = writeln!(
            out,
            "    {lo:#010x}..={hi:#010x}: {} extra: {}",
            hits.len(),
            hits.join(" ")
        );
    }
    Ok(())
}

/// The custom PVM MSRs this host answers (found by msr-scan).
const PVM_MSRS_HOST: [(u32, &str); 4] = [
    (0x4b56_4d10, "host-4d10 (rw)"),
    (0x4b56_4d11, "host-4d11 (ro, 'PVM')"),
    (0x4b56_4d12, "host-4d12 (ro)"),
    (0x4b56_4d13, "host-4d13 (ro)"),
];

fn scan_kvm_range(vcpu: &VcpuFd, listed: &[u32]) -> Vec<String> {
    (0x4b56_4c00u32..=0x4b56_4eff)
        .filter(|i| !listed.contains(i))
        .filter_map(|i| get_msr(vcpu, i).ok().map(|v| format!("{i:x}={v:x}")))
        .collect()
}

/// What 0x4b564d10 accepts, and whether writing it makes more MSRs answer.
fn exp_ctl_msr(kvm: &Kvm, out: &mut String) -> Res<()> {
    out.push_str("== ctl-msr: KVM_SET_MSRS of 0x4b564d10 with single bits, read back, rescan 0x4b564c00..0x4b564eff\n");
    let listed: Vec<u32> = kvm
        .get_msr_index_list()
        .map(|l| l.as_slice().to_vec())
        .unwrap_or_default();
    let mut accepted = Vec::new();
    let mut refused = Vec::new();
    let mut values: Vec<u64> = (0..64).map(|b| 1u64 << b).collect();
    values.extend([
        0,
        0x1ff,
        0x3ff,
        0x7ff,
        0x4d5650,
        0x6000,
        0x6001,
        0x6400,
        PVCS | 0x400,
    ]);
    for v in values {
        let vm = Vm::new(kvm)?;
        set_mode(&vm, Mode::Long64, SUP_CODE, SUP_STACK)?;
        match set_msr(&vm.vcpu, 0x4b56_4d10, v) {
            Ok(()) => {
                let back = get_msr(&vm.vcpu, 0x4b56_4d10);
                let scan = scan_kvm_range(&vm.vcpu, &listed);
                accepted.push(format!("{v:#x}->{}", show(&back)));
                let _ = writeln!(
                    out,
                    "    wrote {v:#x}: read back {}; answering: {}",
                    show(&back),
                    scan.join(" ")
                );
            }
            Err(_) => refused.push(format!("{v:#x}")),
        }
    }
    let _ = writeln!(out, "    refused: {}", refused.join(" "));
    Ok(())
}

/// rdtsc into %rax (clobbers %rdx).
const RDTSC: &str = "lfence\nrdtsc\nshl $32, %rdx\nor %rdx, %rax\n";

fn exp_nonpvm(kvm: &Kvm, out: &mut String) -> Res<()> {
    out.push_str("== nonpvm: 32-bit protected mode (PVH entry state), loop of 2000 `dec; jnz`, then out 0x80 x100\n");
    let mut vm = Vm::new(kvm)?;
    let src = r#"
.code32
    lfence
    rdtsc
    mov %eax, RES
    mov %edx, RES+4
    mov $2000, %ecx
1:  dec %ecx
    jnz 1b
    rdtsc
    mov %eax, RES+8
    mov %edx, RES+12
    mov $100, %ecx
2:  out %al, $0x80
    dec %ecx
    jnz 2b
    rdtsc
    mov %eax, RES+16
    mov %edx, RES+20
    out %al, $0xf4
"#;
    vm.load(SUP_CODE, &assemble("nonpvm", SUP_CODE, src)?)?;
    set_mode(&vm, Mode::Prot32, SUP_CODE, SUP_STACK)?;
    run(&mut vm, out, Duration::from_secs(20), |_, _| {});
    let r = vm.results(3);
    let _ = writeln!(
        out,
        "    loop: {} cycles/iteration; out 0x80 round trip: {} cycles",
        r[1].wrapping_sub(r[0]) / 2000,
        r[2].wrapping_sub(r[1]) / 100
    );
    Ok(())
}

/// The common supervisor code of the 64-bit experiments: measure a loop,
/// port I/O, the synthetic CPUID and hypercalls. Results, by index:
///   0..1  loop of 1e6 iterations (start, end tsc)
///   2     100 x `out 0x80` (cycles total)
///   4..   synthetic CPUID leaves (4 regs each)
fn exp_long64(kvm: &Kvm, out: &mut String) -> Res<()> {
    out.push_str("== long64: SET_SREGS straight to 64-bit supervisor state (CS 0x10 L=1 DPL0, SS 0x18, DS..GS null, CR0 PG|PE|WP|NE|AM|MP|ET, CR4 PAE|OSFXSR|OSXMMEXCPT, EFER SCE|LME|LMA|NXE, CR3 identity map; code at 1 MiB in a U=0 page)\n");
    let mut vm = Vm::new(kvm)?;
    let src = format!(
        r#"
    {RDTSC}
    mov %rax, RES
    mov $1000000, %ecx
1:  dec %ecx
    jnz 1b
    {RDTSC}
    mov %rax, RES+8
    out %al, $0x80
    {RDTSC}
    mov %rax, %rsi
    mov $100, %ecx
2:  out %al, $0x81
    dec %ecx
    jnz 2b
    {RDTSC}
    sub %rsi, %rax
    mov %rax, RES+16
    out %al, $0xf4
"#
    );
    vm.load(SUP_CODE, &assemble("long64", SUP_CODE, &src)?)?;
    set_mode(&vm, Mode::Long64, SUP_CODE, SUP_STACK)?;
    run(&mut vm, out, Duration::from_secs(30), |_, _| {});
    let r = vm.results(3);
    let _ = writeln!(
        out,
        "    loop: {} cycles per 1000 iterations; out 0x81 round trip: {} cycles",
        r[1].wrapping_sub(r[0]) / 1000,
        r[2] / 100
    );
    Ok(())
}

fn exp_cpuid(kvm: &Kvm, out: &mut String) -> Res<()> {
    out.push_str("== cpuid: synthetic CPUID (invlpg 0xffffffffff4d5650; cpuid) and plain CPUID from 64-bit supervisor state\n");
    let leaves: [u32; 8] = [
        0x4000_0000,
        0x4000_0001,
        0x4000_0010,
        0x4000_0100,
        0x4000_0200,
        0x4000_0201,
        0x0000_0001,
        0x0000_0000,
    ];
    for synthetic in [true, false] {
        let mut src = String::new();
        for (i, leaf) in leaves.iter().enumerate() {
            let insn = if synthetic {
                ".byte 0x0f,0x01,0x3c,0x25,0x50,0x56,0x4d,0xff\ncpuid"
            } else {
                "cpuid"
            };
            let _ = write!(
                src,
                "mov ${leaf:#x}, %eax\nxor %ecx, %ecx\n{insn}\n\
                 mov %rax, RES+{a}\nmov %rbx, RES+{b}\nmov %rcx, RES+{c}\nmov %rdx, RES+{d}\n\
                 out %al, $0x80\n",
                a = 32 * i,
                b = 32 * i + 8,
                c = 32 * i + 16,
                d = 32 * i + 24
            );
        }
        src.push_str("out %al, $0xf4\n");
        let mut vm = Vm::new(kvm)?;
        vm.load(SUP_CODE, &assemble("cpuid", SUP_CODE, &src)?)?;
        set_mode(&vm, Mode::Long64, SUP_CODE, SUP_STACK)?;
        let _ = writeln!(out, "  {}:", if synthetic { "synthetic" } else { "plain" });
        let mut log = String::new();
        run(&mut vm, &mut log, Duration::from_secs(10), |_, _| {});
        out.push_str(
            &log.lines()
                .filter(|l| !l.contains("exit: Io"))
                .map(|l| format!("{l}\n"))
                .collect::<String>(),
        );
        let r = vm.results(4 * leaves.len());
        for (i, leaf) in leaves.iter().enumerate() {
            let q = &r[4 * i..4 * i + 4];
            let _ = writeln!(
                out,
                "    leaf {leaf:#010x}: eax={:#x} ebx={:#x} ecx={:#x} edx={:#x} \"{}\"",
                q[0] as u32,
                q[1] as u32,
                q[2] as u32,
                q[3] as u32,
                cpuid_str(&q[1..4])
            );
        }
    }
    Ok(())
}

/// Hypercalls from 64-bit supervisor state: PVM_HC_RDMSR of each probed MSR,
/// then PVM_HC_WRMSR, then RDMSR again; then timing of cheap hypercalls.
fn exp_hypercall(kvm: &Kvm, out: &mut String) -> Res<()> {
    out.push_str("== hypercall: syscall from 64-bit supervisor state with RAX=PVM_HC_* (0x17088200+n), args RBX, R10, RDX\n");
    let msrs = all_probed_msrs();
    let mut src = String::new();
    let hc = |src: &mut String, nr: u64, a0: u64, a1: u64, slot: usize| {
        let _ = write!(
            src,
            "mov ${nr:#x}, %rax\nmov ${a0:#x}, %rbx\nmov ${a1:#x}, %r10\nsyscall\n\
             mov %rax, RES+{}\nmov %rdx, RES+{}\nout %al, $0x80\n",
            8 * slot,
            8 * slot + 8
        );
    };
    // Slots: 3 per MSR: (rdmsr rax, rdmsr rdx), (wrmsr rax, -), (rdmsr rax, rdx).
    for (i, (index, _)) in msrs.iter().enumerate() {
        let base = 6 * i;
        hc(&mut src, 0x1708_8207, *index as u64, 0, base);
        hc(
            &mut src,
            0x1708_8208,
            *index as u64,
            probe_value(*index),
            base + 2,
        );
        hc(&mut src, 0x1708_8207, *index as u64, 0, base + 4);
    }
    let t = 6 * msrs.len();
    // Timing: 1000 x PVM_HC_TLB_FLUSH_CURRENT, 1000 x PVM_HC_IRQ_WIN, one
    // unknown KVM hypercall (nr 0x100), then PVM_HC_IRQ_HALT.
    let _ = write!(
        src,
        r#"
    {RDTSC}
    mov %rax, %rsi
    mov $1000, %r12d
1:  mov $0x17088204, %eax
    syscall
    dec %r12d
    jnz 1b
    {RDTSC}
    sub %rsi, %rax
    mov %rax, RES+{s0}
    {RDTSC}
    mov %rax, %rsi
    mov $1000, %r12d
2:  mov $0x17088201, %eax
    syscall
    dec %r12d
    jnz 2b
    {RDTSC}
    sub %rsi, %rax
    mov %rax, RES+{s1}
    mov $0x100, %eax
    syscall
    mov %rax, RES+{s2}
    out %al, $0x83
    mov $0x17088202, %eax
    syscall
    out %al, $0x84
    out %al, $0xf4
"#,
        s0 = 8 * t,
        s1 = 8 * t + 8,
        s2 = 8 * t + 16
    );
    let mut vm = Vm::new(kvm)?;
    vm.load(SUP_CODE, &assemble("hypercall", SUP_CODE, &src)?)?;
    set_mode(&vm, Mode::Long64, SUP_CODE, SUP_STACK)?;
    let mut log = String::new();
    let stop = run(&mut vm, &mut log, Duration::from_secs(20), |_, _| {});
    out.push_str(
        &log.lines()
            .filter(|l| !l.contains("exit: Io { port: 128"))
            .map(|l| format!("{l}\n"))
            .collect::<String>(),
    );
    if let Stop::Hlt = stop {
        out.push_str("    (PVM_HC_IRQ_HALT stopped the vCPU with KVM_EXIT_HLT; resuming)\n");
        run(&mut vm, out, Duration::from_secs(10), |_, _| {});
    }
    let r = vm.results(t + 3);
    for (i, (index, name)) in msrs.iter().enumerate() {
        let q = &r[6 * i..6 * i + 6];
        let _ = writeln!(
            out,
            "    {index:#010x} {name:<26} HC_RDMSR rax={:#x} rdx={:#x} | HC_WRMSR({:#x}) rax={:#x} | HC_RDMSR rax={:#x} rdx={:#x}",
            q[0], q[1], probe_value(*index), q[2], q[4], q[5]
        );
    }
    let _ = writeln!(
        out,
        "    PVM_HC_TLB_FLUSH_CURRENT: {} cycles each; PVM_HC_IRQ_WIN: {} cycles each; KVM hypercall 0x100 returned rax={:#x}",
        r[t] / 1000,
        r[t + 1] / 1000,
        r[t + 2]
    );
    Ok(())
}

/// Guest wrmsr/rdmsr of one MSR from 64-bit supervisor state, one VM each
/// (a refused access raises #GP, which without an event entry is fatal).
fn exp_guest_wrmsr(kvm: &Kvm, out: &mut String) -> Res<()> {
    out.push_str(
        "== guest-wrmsr: wrmsr then rdmsr from 64-bit supervisor state, one fresh VM per MSR\n",
    );
    for mode in [Mode::Long64, Mode::Prot32] {
        let _ = writeln!(out, "  mode {mode:?}:");
        for (index, name) in all_probed_msrs() {
            let v = probe_value(index);
            let src = format!(
                "{code}mov ${index:#x}, %ecx\nmov ${lo:#x}, %eax\nmov ${hi:#x}, %edx\nwrmsr\n\
                 out %al, $0x80\nrdmsr\nmov %eax, RES\nmov %edx, RES+4\nout %al, $0xf4\n",
                code = if mode == Mode::Prot32 {
                    ".code32\n"
                } else {
                    ""
                },
                lo = v as u32,
                hi = (v >> 32) as u32
            );
            let mut vm = Vm::new(kvm)?;
            vm.load(SUP_CODE, &assemble("wrmsr", SUP_CODE, &src)?)?;
            vm.w64(RES, 0xdead_beef)?;
            set_mode(&vm, mode, SUP_CODE, SUP_STACK)?;
            let mut log = String::new();
            let mut marks = 0;
            let stop = run(&mut vm, &mut log, Duration::from_secs(5), |_, _| marks += 1);
            let read = vm.r64(RES);
            let _ = writeln!(
                out,
                "    {index:#010x} {name:<26} wrmsr({v:#x}) {} rdmsr {} (stop {:?}); KVM_GET_MSRS now {}",
                if marks > 0 { "ok" } else { "FAULTED" },
                if matches!(stop, Stop::Io { .. }) {
                    format!("= {read:#x}")
                } else {
                    "FAULTED".into()
                },
                stop,
                show(&get_msr(&vm.vcpu, index))
            );
        }
    }
    Ok(())
}

/// Which MSR numbering this host uses, found by KVM_SET_MSRS; None if
/// neither took VCPU_STRUCT.
struct Abi {
    vcpu_struct: u32,
    event_entry: u32,
    retu_rip: u32,
}

fn find_abi(kvm: &Kvm) -> Res<Option<Abi>> {
    let vm = Vm::new(kvm)?;
    set_mode(&vm, Mode::Long64, SUP_CODE, SUP_STACK)?;
    if set_msr(&vm.vcpu, 0x4b56_4d20, PVCS).is_ok() {
        return Ok(Some(Abi {
            vcpu_struct: 0x4b56_4d20,
            event_entry: 0x4b56_4d21,
            retu_rip: 0x4b56_4d22,
        }));
    }
    if set_msr(&vm.vcpu, 0x4b56_4df1, PVCS).is_ok() {
        return Ok(Some(Abi {
            vcpu_struct: 0x4b56_4df1,
            event_entry: 0x4b56_4df4,
            retu_rip: 0x4b56_4df5,
        }));
    }
    Ok(None)
}

/// A complete PVM guest: PVCS, event entry, LSTAR, STAR and RETU_RIP set
/// through KVM_SET_MSRS; supervisor events, an injected interrupt, then user
/// mode (entered with the ERETU synthetic instruction) with timings of a
/// loop, a null syscall round trip and an exception round trip.
fn exp_user(kvm: &Kvm, out: &mut String) -> Res<()> {
    out.push_str("== user: full PVM setup, supervisor events, interrupt injection, user mode\n");
    let Some(abi) = find_abi(kvm)? else {
        out.push_str(
            "    neither MSR numbering accepted VCPU_STRUCT through KVM_SET_MSRS; skipped\n",
        );
        return Ok(());
    };
    let _ = writeln!(
        out,
        "    using VCPU_STRUCT={:#x} EVENT_ENTRY={:#x} RETU_RIP={:#x}",
        abi.vcpu_struct, abi.event_entry, abi.retu_rip
    );
    // Supervisor layout: main code at SUP_CODE; event entry (user) at
    // SUP_CODE+0x1000, supervisor entry at +0x1200; ERETU at +0x2000;
    // LSTAR at +0x3000.
    // Result slots (u64): 0 supervisor-event count, 1 last vector word,
    // 2 last rip, 3 irq seen, 4..5 user loop tsc, 6 syscall cycles total,
    // 7 exception cycles total, 8 user events count, 9 last user vector,
    // 10.. PVCS dump (16 u64) after the supervisor #UD, 30.. PVCS dump after
    // the first user syscall, 50 user rcx after syscall return, 51 flags.
    let main = format!(
        r#"
    # A supervisor #UD: delivered at EVENT_ENTRY+512 with PVCS filled in.
    movq $0, PVCS
    movw $0, PVCS+0x46
    lea after_ud(%rip), %r15
    ud2
after_ud:
    out %al, $0x80
    # An interrupt injected by the VMM, with PVCS.event_flags.IF set.
    movq $0x200, PVCS
    out %al, ${PORT_INJECT}
    mov $100000, %ecx
3:  cmpq $0, RES+24
    jne 4f
    dec %ecx
    jnz 3b
4:  movq $0, PVCS
    out %al, $0x85
    # To user mode: fill the PVCS and execute the ERETU instruction.
    movw ${USER_CS}, PVCS+0x40
    movw ${USER_DS}, PVCS+0x42
    movw $0x100, PVCS+0x46
    movq $0, PVCS+0x48
    movl $0x202, PVCS+0x50
    movq $USER_CODE, PVCS+0x58
    movq $0, PVCS+0x60
    movq $0x202, PVCS+0x68
    movq $USER_STACK, %rsp
    jmp retu

.org {ev:#x}
    # Event from user mode.
    incq RES+64
    movzwq PVCS+0x46, %rax
    mov %rax, RES+72
    cmpb $6, %al
    jne 1f
    addq $2, PVCS+0x58
1:  movw $0x100, PVCS+0x46
    jmp retu

.org {sev:#x}
    # Event from supervisor mode.
    incq RES
    movzwq PVCS+0x46, %rax
    mov %rax, RES+8
    mov PVCS+0x58, %rax
    mov %rax, RES+16
    mov $0, %ecx
5:  mov PVCS(,%rcx,8), %rax
    mov %rax, RES+80(,%rcx,8)
    inc %ecx
    cmp $16, %ecx
    jne 5b
    movw $0, PVCS+0x46
    cmpb $0x40, RES+8
    jne 6f
    movq $1, RES+24
    mov PVCS+0x58, %rax
    jmp *%rax
6:  jmp *%r15

.org {retu:#x}
retu:
    syscall

.org {lstar:#x}
    # SYSCALL from user mode.
    cmp $0xd0e, %rax
    je done
    cmpq $0, RES+240
    jne 7f
    mov $0, %ecx
8:  mov PVCS(,%rcx,8), %rax
    mov %rax, RES+240(,%rcx,8)
    inc %ecx
    cmp $16, %ecx
    jne 8b
7:  movw $0x100, PVCS+0x46
    jmp retu
done:
    out %al, $0xf4
"#,
        ev = 0x1000,
        sev = 0x1200,
        retu = 0x2000,
        lstar = 0x3000,
    );
    let user = format!(
        r#"
    {RDTSC}
    mov %rax, RES+32
    mov $1000000, %ecx
1:  dec %ecx
    jnz 1b
    {RDTSC}
    mov %rax, RES+40
    # 1000 null syscalls.
    {RDTSC}
    mov %rax, %rsi
    mov $1000, %r12d
2:  xor %eax, %eax
    syscall
    dec %r12d
    jnz 2b
    {RDTSC}
    sub %rsi, %rax
    mov %rax, RES+48
    mov %rcx, RES+400
    pushfq
    pop %rax
    mov %rax, RES+408
    # 1000 exceptions (#UD, the handler skips the ud2).
    {RDTSC}
    mov %rax, %rsi
    mov $1000, %r12d
3:  ud2
    dec %r12d
    jnz 3b
    {RDTSC}
    sub %rsi, %rax
    mov %rax, RES+56
    mov $0xd0e, %eax
    syscall
"#
    );
    let mut vm = Vm::new(kvm)?;
    vm.load(SUP_CODE, &assemble("user-sup", SUP_CODE, &main)?)?;
    vm.load(USER_CODE, &assemble("user-user", USER_CODE, &user)?)?;
    set_mode(&vm, Mode::Long64, SUP_CODE, SUP_STACK)?;
    for (index, v, name) in [
        (abi.vcpu_struct, PVCS, "VCPU_STRUCT"),
        (abi.event_entry, SUP_CODE + 0x1000, "EVENT_ENTRY"),
        (abi.retu_rip, SUP_CODE + 0x2000, "RETU_RIP"),
        (MSR_LSTAR, SUP_CODE + 0x3000, "LSTAR"),
        (MSR_STAR, STAR_VALUE, "STAR"),
    ] {
        let _ = writeln!(
            out,
            "    KVM_SET_MSRS {name} {index:#x} = {v:#x}: {:?}",
            set_msr(&vm.vcpu, index, v)
        );
    }
    let mut notes = Vec::new();
    let stop = run(&mut vm, out, Duration::from_secs(30), |vm, port| {
        if port == PORT_INJECT {
            notes.push(format!(
                "interrupt 0x40 at port {port:#x}: {}",
                inject_irq(vm, 0x40)
            ));
        }
    });
    for n in notes {
        let _ = writeln!(out, "    {n}");
    }
    let r = vm.results(64);
    let _ = writeln!(
        out,
        "    supervisor events: {} (last vector word {:#x}, rip {:#x}); irq 0x40 seen: {}",
        r[0], r[1], r[2], r[3]
    );
    let dump = |out: &mut String, name: &str, q: &[u64]| {
        let words: Vec<String> = q.iter().map(|w| format!("{w:x}")).collect();
        let _ = writeln!(out, "    PVCS after {name}: {}", words.join(" "));
    };
    dump(out, "the supervisor events", &r[10..26]);
    dump(out, "the first user syscall", &r[30..46]);
    let _ = writeln!(
        out,
        "    user loop: {} cycles per 1000 iterations; null syscall round trip {} cycles; #UD round trip {} cycles; user events {} (last vector word {:#x}); rcx after syscall {:#x}, rflags {:#x}",
        r[5].wrapping_sub(r[4]) / 1000,
        r[6] / 1000,
        r[7] / 1000,
        r[8],
        r[9],
        r[50],
        r[51]
    );
    let _ = writeln!(out, "    stop: {stop:?}");
    Ok(())
}

/// Enters PVM mode the way that works from non-PVM mode: `iretq` from the
/// (emulated) 64-bit supervisor state to user mode with the host's user
/// selectors, then `syscall` from user mode into the LSTAR handler, which
/// runs `stage2` in PVM supervisor mode. STAR and LSTAR are set with
/// KVM_SET_MSRS (which this host accepts). `stage2` stores results from
/// RES+0x100 on and bumps the progress word at RES+0xf8 before each step.
/// Returns the VM after it stopped, with the stop.
fn escalate(kvm: &Kvm, out: &mut String, name: &str, stage2: &str) -> Res<(Vm, Stop)> {
    escalate_at(kvm, out, name, stage2, LSTAR_USER_PAGE, &[])
}

/// Where `escalate` puts its LSTAR handler: in a U=1 page, the only kind
/// this host lets the handler execute from (see the escalate experiment).
const LSTAR_USER_PAGE: u64 = USER_CODE + 0x1_0000;

/// `escalate` with the LSTAR handler (and its `stage2`) at `lstar`.
fn escalate_at(
    kvm: &Kvm,
    out: &mut String,
    name: &str,
    stage2: &str,
    lstar: u64,
    msrs: &[(u32, u64)],
) -> Res<(Vm, Stop)> {
    let sup = format!(
        r#"
    # Non-PVM (emulated) supervisor: iretq to user mode.
    movq $1, RES+0xf8
    pushq ${USER_DS}
    pushq $USER_STACK
    pushq $0x202
    pushq ${USER_CS}
    pushq $USER_CODE
    iretq
"#
    );
    let handler = format!(
        r#"
    # Entered by SYSCALL from user mode.
    movq $2, RES+0xf8
    mov %rcx, RES+0x10
    mov %r11, RES+0x18
    mov %rsp, RES+0x20
    {RDTSC}
    mov %rax, RES+0x28
    movq $SUP_STACK, %rsp
{stage2}
    movq $0xff, RES+0xf8
    out %al, $0xf4
"#
    );
    let user = format!(
        r#"
    {RDTSC}
    mov %rax, RES
    mov $1000000, %ecx
1:  dec %ecx
    jnz 1b
    {RDTSC}
    mov %rax, RES+8
    {RDTSC}
    mov %rax, RES+0x30
    syscall
"#
    );
    let mut vm = Vm::new(kvm)?;
    vm.load(SUP_CODE, &assemble(&format!("{name}-sup"), SUP_CODE, &sup)?)?;
    vm.load(
        USER_CODE,
        &assemble(&format!("{name}-user"), USER_CODE, &user)?,
    )?;
    vm.load(lstar, &assemble(&format!("{name}-lstar"), lstar, &handler)?)?;
    set_mode(&vm, Mode::Long64, SUP_CODE, SUP_STACK)?;
    set_msr(&vm.vcpu, MSR_STAR, STAR_VALUE)?;
    set_msr(&vm.vcpu, MSR_LSTAR, lstar)?;
    for (index, v) in msrs {
        if let Err(e) = set_msr(&vm.vcpu, *index, *v) {
            let _ = writeln!(out, "    KVM_SET_MSRS {index:#x}={v:#x}: {e}");
        }
    }
    let stop = run(&mut vm, out, Duration::from_secs(3), |_, _| {});
    let r = vm.results(7);
    let _ = writeln!(
        out,
        "    progress word {:#x}; user loop {} cycles/1000 iterations; syscall user->LSTAR {} cycles; at LSTAR rcx={:#x} r11={:#x} rsp={:#x}",
        vm.r64(RES + 0xf8),
        r[1].wrapping_sub(r[0]) / 1000,
        r[5].wrapping_sub(r[6]),
        r[2],
        r[3],
        r[4]
    );
    Ok((vm, stop))
}

fn exp_escalate(kvm: &Kvm, out: &mut String) -> Res<()> {
    out.push_str("== escalate: iretq to user (0x33/0x2b), syscall to LSTAR; in the handler: a loop, then `out 0xf4`\n");
    let stage2 = format!(
        r#"
    movq $3, RES+0xf8
    {RDTSC}
    mov %rax, RES+0x100
    mov $1000000, %ecx
1:  dec %ecx
    jnz 1b
    {RDTSC}
    mov %rax, RES+0x108
    movq $4, RES+0xf8
"#
    );
    for (what, lstar) in [
        ("LSTAR handler in a U=0 page", SUP_CODE + 0x3000),
        ("LSTAR handler in a U=1 page", USER_CODE + 0x1_0000),
    ] {
        let _ = writeln!(out, "  {what} ({lstar:#x}):");
        let (vm, _) = escalate_at(kvm, out, "escalate", &stage2, lstar, &[])?;
        let r = vm.results(0x22);
        let _ = writeln!(
            out,
            "    supervisor loop {} cycles/1000 iterations",
            r[0x21].wrapping_sub(r[0x20]) / 1000
        );
    }
    Ok(())
}

/// From PVM supervisor mode reached by `escalate`: one hypercall each.
fn exp_smod_hypercall(kvm: &Kvm, out: &mut String) -> Res<()> {
    out.push_str("== smod-hypercall: from PVM supervisor mode (after escalate), one hypercall per VM: syscall with RAX=nr, RBX=a0, R10=a1\n");
    let mut cases: Vec<(String, u64, u64, u64)> = Vec::new();
    for (index, name) in all_probed_msrs() {
        cases.push((format!("HC_RDMSR {name}"), 0x1708_8207, index as u64, 0));
    }
    for (index, name) in PVM_MSRS_V1.iter().chain(PVM_MSRS_V2.iter()) {
        cases.push((
            format!("HC_WRMSR {name}"),
            0x1708_8208,
            *index as u64,
            probe_value(*index),
        ));
    }
    cases.push(("HC_IRQ_WIN".into(), 0x1708_8201, 0, 0));
    cases.push(("HC_TLB_FLUSH_CURRENT".into(), 0x1708_8204, 0, 0));
    cases.push(("HC_TLB_FLUSH".into(), 0x1708_8203, 0, 0));
    cases.push(("HC_LOAD_PGTBL(1, cr3)".into(), 0x1708_8200, 1, PML4));
    cases.push(("KVM hypercall 0x100".into(), 0x100, 0, 0));
    cases.push(("HC_IRQ_HALT".into(), 0x1708_8202, 0, 0));
    for (name, nr, a0, a1) in cases {
        let stage2 = format!(
            r#"
    movq $3, RES+0xf8
    mov ${nr:#x}, %rax
    mov ${a0:#x}, %rbx
    mov ${a1:#x}, %r10
    xor %edx, %edx
    syscall
    mov %rax, RES+0x100
    mov %rdx, RES+0x108
    movq $4, RES+0xf8
"#
        );
        let mut log = String::new();
        let (vm, stop) = escalate(kvm, &mut log, "smod-hc", &stage2)?;
        let progress = vm.r64(RES + 0xf8);
        let _ = writeln!(
            out,
            "    {name:<34} progress {progress:#x} rax={:#x} rdx={:#x} stop {stop:?}",
            vm.r64(RES + 0x100),
            vm.r64(RES + 0x108)
        );
        if progress < 4 {
            out.push_str(&log);
        }
        print!("{out}");
        out.clear();
    }
    Ok(())
}

/// `escalate` with 0x4b564d10 set to a PVCS address plus flags first: does
/// SYSCALL from user mode then reach a supervisor mode where SYSCALL is a
/// hypercall? Dumps the PVCS page and the MSRs after the run.
fn exp_pvcs(kvm: &Kvm, out: &mut String) -> Res<()> {
    out.push_str("== pvcs: 0x4b564d10 = PVCS|flags via KVM_SET_MSRS, then escalate; in the handler HC_RDMSR(0x4b564d11), out 0xf4\n");
    let stage2 = r#"
    movq $3, RES+0xf8
    mov $0x17088207, %rax
    mov $0x4b564d11, %rbx
    xor %edx, %edx
    syscall
    mov %rax, RES+0x100
    mov %rdx, RES+0x108
    movq $4, RES+0xf8
"#;
    let args: Vec<String> = std::env::args().collect();
    let mut ctls: Vec<u64> = vec![0x6001, 0x6401, 0x601f, 0x6003, 0x6005, 0x6009, 0x6011];
    if let Some(v) = args.iter().find_map(|a| a.strip_prefix("ctl=")) {
        ctls = v
            .split(',')
            .filter_map(|x| u64::from_str_radix(x.trim_start_matches("0x"), 16).ok())
            .collect();
    }
    for ctl in ctls {
        let _ = writeln!(out, "  0x4b564d10 = {ctl:#x}:");
        let mut log = String::new();
        let (vm, stop) = escalate_at(
            kvm,
            &mut log,
            "pvcs",
            stage2,
            LSTAR_USER_PAGE,
            &[(0x4b56_4d10, ctl)],
        )?;
        out.push_str(&log);
        let _ = writeln!(
            out,
            "    progress {:#x}; HC_RDMSR rax={:#x} rdx={:#x}; stop {stop:?}",
            vm.r64(RES + 0xf8),
            vm.r64(RES + 0x100),
            vm.r64(RES + 0x108)
        );
        let words: Vec<String> = (0..32)
            .map(|i| format!("{:x}", vm.r64(PVCS + 8 * i)))
            .collect();
        let _ = writeln!(out, "    PVCS page: {}", words.join(" "));
        let msrs: Vec<String> = PVM_MSRS_HOST
            .iter()
            .map(|(i, _)| format!("{i:x}={}", show(&get_msr(&vm.vcpu, *i))))
            .collect();
        let _ = writeln!(out, "    MSRs now: {}", msrs.join(" "));
        print!("{out}");
        out.clear();
    }
    Ok(())
}

/// 64-bit supervisor code at the top-2-GiB alias (PML4 slot 511), with and
/// without 0x4b564d10 set: does supervisor code run there, natively?
fn exp_high(kvm: &Kvm, out: &mut String) -> Res<()> {
    out.push_str("== high: 64-bit supervisor state with RIP/RSP in the top 2 GiB (PML4[511]), 0x4b564d10 variants\n");
    let src = format!(
        r#"
    movq $1, RES+0xf8
    out %al, $0x80
    {RDTSC}
    mov %rax, RES+0x100
    mov $100000, %ecx
1:  dec %ecx
    jnz 1b
    {RDTSC}
    mov %rax, RES+0x108
    movq $2, RES+0xf8
    mov $0x40000000, %eax
    xor %ecx, %ecx
    .byte 0x0f,0x01,0x3c,0x25,0x50,0x56,0x4d,0xff
    cpuid
    mov %rax, RES+0x110
    mov %rbx, RES+0x118
    movq $3, RES+0xf8
    mov $0x17088207, %rax
    mov $0x4b564d11, %rbx
    syscall
    mov %rax, RES+0x120
    mov %rdx, RES+0x128
    movq $4, RES+0xf8
    out %al, $0xf4
"#
    );
    let base = HIGH_ALIAS + SUP_CODE;
    let code = assemble("high", base, &src)?;
    for ctl in [None, Some(0x1u64), Some(PVCS | 1), Some(PVCS | 0x400)] {
        let mut vm = Vm::new(kvm)?;
        vm.load(SUP_CODE, &code)?;
        set_mode(&vm, Mode::Long64, base, HIGH_ALIAS + SUP_STACK)?;
        set_msr(&vm.vcpu, MSR_STAR, STAR_VALUE)?;
        if let Some(v) = ctl {
            set_msr(&vm.vcpu, 0x4b56_4d10, v)?;
        }
        let _ = writeln!(out, "  0x4b564d10 = {ctl:x?}:");
        run(&mut vm, out, Duration::from_secs(3), |_, _| {});
        let r = vm.results(0x26);
        let _ = writeln!(
            out,
            "    progress {:#x}; loop {} cycles/1000 iterations; synthetic cpuid 0x40000000 eax={:#x} ebx={:#x}; HC_RDMSR rax={:#x} rdx={:#x}",
            r[0x1f],
            r[0x21].wrapping_sub(r[0x20]) / 100,
            r[0x22],
            r[0x23],
            r[0x24],
            r[0x25]
        );
        print!("{out}");
        out.clear();
    }
    Ok(())
}

type Experiment = fn(&Kvm, &mut String) -> Res<()>;

fn main() {
    let experiments: [(&str, Experiment); 14] = [
        ("host", exp_host),
        ("ioctl-msrs", exp_ioctl_msrs),
        ("msr-scan", exp_msr_scan),
        ("ctl-msr", exp_ctl_msr),
        ("nonpvm", exp_nonpvm),
        ("long64", exp_long64),
        ("cpuid", exp_cpuid),
        ("hypercall", exp_hypercall),
        ("guest-wrmsr", exp_guest_wrmsr),
        ("user", exp_user),
        ("escalate", exp_escalate),
        ("smod-hypercall", exp_smod_hypercall),
        ("pvcs", exp_pvcs),
        ("high", exp_high),
    ];
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "list") {
        for (name, _) in experiments {
            println!("{name}");
        }
        return;
    }
    let kvm = match Kvm::new() {
        Ok(k) => k,
        Err(e) => {
            eprintln!("pvm-probe: cannot open /dev/kvm: {e}");
            std::process::exit(1);
        }
    };
    for (name, f) in experiments {
        if args.iter().any(|a| !a.contains('=')) && !args.iter().any(|a| a == name) {
            continue;
        }
        let mut out = String::new();
        let r = f(&kvm, &mut out);
        print!("{out}");
        if let Err(e) = r {
            println!("  experiment {name} failed: {e}");
        }
    }
    let _ = std::fs::remove_dir_all(tmpdir());
}
