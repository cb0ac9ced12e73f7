//! A VM with one vCPU and identity-mapped RAM, and the vCPU states the
//! experiments start from.

use crate::asm::assemble;
use crate::layout::*;
use crate::Res;
use kvm_bindings::{kvm_segment, kvm_sregs, kvm_userspace_memory_region, KVM_MAX_CPUID_ENTRIES};
use kvm_ioctls::{Kvm, VcpuFd, VmFd};
use vm_memory::{Bytes, GuestAddress, GuestMemoryBackend, GuestMemoryMmap};

pub struct Vm {
    _vm: VmFd,
    pub vcpu: VcpuFd,
    mem: GuestMemoryMmap,
}

pub fn kvm_err(what: &'static str) -> impl Fn(kvm_ioctls::Error) -> String {
    move |e| format!("{what}: {e}")
}

impl Vm {
    /// A fresh VM whose vCPU is in `mode` at SUP_CODE, stack at SUP_STACK.
    pub fn in_mode(kvm: &Kvm, mode: Mode) -> Res<Vm> {
        let vm = Vm::new(kvm)?;
        set_mode(&vm, mode, SUP_CODE, SUP_STACK)?;
        Ok(vm)
    }

    /// The same with `src` (assembled as `name`) at SUP_CODE.
    pub fn with_code(kvm: &Kvm, mode: Mode, name: &str, src: &str) -> Res<Vm> {
        let vm = Vm::in_mode(kvm, mode)?;
        vm.load(SUP_CODE, &assemble(name, SUP_CODE, src)?)?;
        Ok(vm)
    }

    pub fn new(kvm: &Kvm) -> Res<Vm> {
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
        // SAFETY: `mem` maps MEM bytes at `host`. Both become fields of the
        // returned Vm, where `mem` is declared last and so dropped after the
        // VM and vCPU fds: KVM never sees the memory unmapped.
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

    pub fn w64(&self, addr: u64, v: u64) -> Res<()> {
        self.mem
            .write_obj(v, GuestAddress(addr))
            .map_err(|e| e.to_string())
    }

    pub fn r64(&self, addr: u64) -> u64 {
        self.mem.read_obj(GuestAddress(addr)).unwrap_or(u64::MAX)
    }

    pub fn load(&self, addr: u64, code: &[u8]) -> Res<()> {
        self.mem
            .write_slice(code, GuestAddress(addr))
            .map_err(|e| e.to_string())
    }

    /// Identity map of the first 32 MiB with 2 MiB pages: U=0 except the
    /// pages in USER_PAGES; every upper level has U=1 (as x86 requires for
    /// user access).
    pub fn write_tables(&self) -> Res<()> {
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

    pub fn results(&self, n: usize) -> Vec<u64> {
        (0..n as u64).map(|i| self.r64(RES + 8 * i)).collect()
    }
}

pub fn seg(selector: u16, type_: u8, dpl: u8, l: u8, db: u8) -> kvm_segment {
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

pub fn null_seg() -> kvm_segment {
    kvm_segment {
        unusable: 1,
        present: 0,
        ..seg(0, 0, 0, 0, 0)
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Mode {
    /// 64-bit supervisor: long mode, paging on, CS = 0x10 with L=1, DPL 0.
    Long64,
    /// 32-bit protected mode, paging off, as at the PVH entry.
    Prot32,
}

/// Puts the vCPU in `mode` at `rip` with stack `rsp`.
pub fn set_mode(vm: &Vm, mode: Mode, rip: u64, rsp: u64) -> Res<()> {
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
