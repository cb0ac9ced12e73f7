//! The vCPU as gdbstub sees it: registers through KVM, memory by
//! guest-virtual address through the guest's page tables, breakpoints and
//! watchpoints in the four debug registers (KVM guest debugging), single
//! step through KVM's single-step mode.

use super::walk::translate;
use crate::kvm::virtio::MmioBus;
use crate::kvm::{run_until_stop, Error, Stop};
use exo_devices::pio::PioBus;
use gdbstub::common::Signal;
use gdbstub::target::ext::base::singlethread::{
    SingleThreadBase, SingleThreadResume, SingleThreadResumeOps, SingleThreadSingleStep,
    SingleThreadSingleStepOps,
};
use gdbstub::target::ext::base::BaseOps;
use gdbstub::target::ext::breakpoints::{
    Breakpoints, BreakpointsOps, HwBreakpoint, HwBreakpointOps, HwWatchpoint, HwWatchpointOps,
    SwBreakpoint, SwBreakpointOps, WatchKind,
};
use gdbstub::target::{Target, TargetError, TargetResult};
use gdbstub_arch::x86::reg::X86_64CoreRegs;
use gdbstub_arch::x86::X86_64_SSE;
use kvm_bindings::{
    kvm_guest_debug, KVM_GUESTDBG_ENABLE, KVM_GUESTDBG_SINGLESTEP, KVM_GUESTDBG_USE_HW_BP,
};
use kvm_ioctls::VcpuFd;
use vm_memory::{Bytes, GuestAddress, GuestMemoryMmap};

/// What a debug register watches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Slot {
    Exec(u64),
    Watch {
        addr: u64,
        len: u64,
        kind: WatchKind,
    },
}

/// DR7 bits for the slots in use: local enable, condition, length.
pub fn dr7(slots: &[Option<Slot>; 4]) -> u64 {
    let mut v = 0u64;
    for (i, s) in slots.iter().enumerate() {
        let (rw, len) = match s {
            None => continue,
            Some(Slot::Exec(_)) => (0b00, 0b00),
            Some(Slot::Watch { len, kind, .. }) => {
                let rw = match kind {
                    WatchKind::Write => 0b01,
                    WatchKind::Read | WatchKind::ReadWrite => 0b11,
                };
                let l = match len {
                    1 => 0b00,
                    2 => 0b01,
                    8 => 0b10,
                    _ => 0b11,
                };
                (rw, l)
            }
        };
        v |= 1 << (2 * i);
        v |= (rw | len << 2) << (16 + 4 * i);
    }
    v
}

pub struct Machine<'a> {
    pub vcpu: &'a mut VcpuFd,
    pub mem: &'a GuestMemoryMmap,
    pub bus: &'a mut PioBus,
    pub mmio: &'a mut MmioBus,
    pub slots: [Option<Slot>; 4],
    pub single_step: bool,
    /// Set when the guest wrote its exit status.
    pub exited: Option<u8>,
    /// A fatal VMM or guest error that ends the session.
    pub failed: Option<Error>,
}

impl Machine<'_> {
    /// Programs KVM's guest debugging for the next run.
    pub fn arm(&mut self, step: bool) -> Result<(), Error> {
        let mut d = kvm_guest_debug {
            control: KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_USE_HW_BP,
            ..Default::default()
        };
        if step {
            d.control |= KVM_GUESTDBG_SINGLESTEP;
        }
        for (i, s) in self.slots.iter().enumerate() {
            d.arch.debugreg[i] = match s {
                Some(Slot::Exec(a)) => *a,
                Some(Slot::Watch { addr, .. }) => *addr,
                None => 0,
            };
        }
        d.arch.debugreg[7] = dr7(&self.slots);
        self.vcpu
            .set_guest_debug(&d)
            .map_err(|e| Error::Kvm("SET_GUEST_DEBUG", e))
    }

    /// Runs until a debug event, the guest's exit, or a signal.
    pub fn run(&mut self) -> Result<Stop, Error> {
        // Resuming from an instruction breakpoint would hit it again at
        // once: step over it with the breakpoints off first.
        let rip = self
            .vcpu
            .get_regs()
            .map_err(|e| Error::Kvm("GET_REGS", e))?
            .rip;
        if !self.single_step && self.slots.contains(&Some(Slot::Exec(rip))) {
            let saved = self.slots;
            self.slots = [None; 4];
            self.arm(true)?;
            let r = run_until_stop(self.vcpu, self.bus, self.mmio);
            self.slots = saved;
            match r? {
                Stop::Debug { .. } => {}
                other => return Ok(other),
            }
        }
        self.arm(self.single_step)?;
        run_until_stop(self.vcpu, self.bus, self.mmio)
    }

    fn phys(&mut self, va: u64) -> Option<u64> {
        let s = self.vcpu.get_sregs().ok()?;
        translate(self.mem, s.cr0 & (1 << 31) != 0, s.cr3, va)
    }

    fn free_slot(&mut self, s: Slot) -> bool {
        if self.slots.contains(&Some(s)) {
            return true;
        }
        match self.slots.iter_mut().find(|x| x.is_none()) {
            Some(x) => {
                *x = Some(s);
                true
            }
            None => false,
        }
    }

    fn clear_slot(&mut self, s: Slot) -> bool {
        match self.slots.iter_mut().find(|x| **x == Some(s)) {
            Some(x) => {
                *x = None;
                true
            }
            None => false,
        }
    }
}

impl Target for Machine<'_> {
    type Arch = X86_64_SSE;
    type Error = String;

    fn base_ops(&mut self) -> BaseOps<'_, Self::Arch, Self::Error> {
        BaseOps::SingleThread(self)
    }

    fn support_breakpoints(&mut self) -> Option<BreakpointsOps<'_, Self>> {
        Some(self)
    }
}

impl SingleThreadBase for Machine<'_> {
    fn read_registers(&mut self, regs: &mut X86_64CoreRegs) -> TargetResult<(), Self> {
        let r = self
            .vcpu
            .get_regs()
            .map_err(|e| TargetError::Fatal(e.to_string()))?;
        let s = self
            .vcpu
            .get_sregs()
            .map_err(|e| TargetError::Fatal(e.to_string()))?;
        regs.regs = [
            r.rax, r.rbx, r.rcx, r.rdx, r.rsi, r.rdi, r.rbp, r.rsp, r.r8, r.r9, r.r10, r.r11,
            r.r12, r.r13, r.r14, r.r15,
        ];
        regs.rip = r.rip;
        regs.eflags = r.rflags as u32;
        regs.segments.cs = s.cs.selector as u32;
        regs.segments.ss = s.ss.selector as u32;
        regs.segments.ds = s.ds.selector as u32;
        regs.segments.es = s.es.selector as u32;
        regs.segments.fs = s.fs.selector as u32;
        regs.segments.gs = s.gs.selector as u32;
        Ok(())
    }

    fn write_registers(&mut self, regs: &X86_64CoreRegs) -> TargetResult<(), Self> {
        let mut r = self
            .vcpu
            .get_regs()
            .map_err(|e| TargetError::Fatal(e.to_string()))?;
        let g = regs.regs;
        (r.rax, r.rbx, r.rcx, r.rdx, r.rsi, r.rdi, r.rbp, r.rsp) =
            (g[0], g[1], g[2], g[3], g[4], g[5], g[6], g[7]);
        (r.r8, r.r9, r.r10, r.r11, r.r12, r.r13, r.r14, r.r15) =
            (g[8], g[9], g[10], g[11], g[12], g[13], g[14], g[15]);
        r.rip = regs.rip;
        // Keep the reserved bit 1 set whatever gdb sends.
        r.rflags = regs.eflags as u64 | 2;
        self.vcpu
            .set_regs(&r)
            .map_err(|e| TargetError::Fatal(e.to_string()))?;
        Ok(())
    }

    fn read_addrs(&mut self, start: u64, data: &mut [u8]) -> TargetResult<usize, Self> {
        let mut done = 0;
        while done < data.len() {
            let va = start.wrapping_add(done as u64);
            let n = (4096 - (va & 0xfff) as usize).min(data.len() - done);
            let Some(pa) = self.phys(va) else { break };
            if self
                .mem
                .read_slice(&mut data[done..done + n], GuestAddress(pa))
                .is_err()
            {
                break;
            }
            done += n;
        }
        if done == 0 {
            return Err(TargetError::NonFatal);
        }
        Ok(done)
    }

    fn write_addrs(&mut self, start: u64, data: &[u8]) -> TargetResult<(), Self> {
        let mut done = 0;
        while done < data.len() {
            let va = start.wrapping_add(done as u64);
            let n = (4096 - (va & 0xfff) as usize).min(data.len() - done);
            let pa = self.phys(va).ok_or(TargetError::NonFatal)?;
            self.mem
                .write_slice(&data[done..done + n], GuestAddress(pa))
                .map_err(|_| TargetError::NonFatal)?;
            done += n;
        }
        Ok(())
    }

    fn support_resume(&mut self) -> Option<SingleThreadResumeOps<'_, Self>> {
        Some(self)
    }
}

impl SingleThreadResume for Machine<'_> {
    fn resume(&mut self, _signal: Option<Signal>) -> Result<(), Self::Error> {
        self.single_step = false;
        Ok(())
    }

    fn support_single_step(&mut self) -> Option<SingleThreadSingleStepOps<'_, Self>> {
        Some(self)
    }
}

impl SingleThreadSingleStep for Machine<'_> {
    fn step(&mut self, _signal: Option<Signal>) -> Result<(), Self::Error> {
        self.single_step = true;
        Ok(())
    }
}

impl Breakpoints for Machine<'_> {
    // `break` and `hbreak` both use the debug registers: the guest's code is
    // never patched (and this works where KVM cannot trap int3).
    fn support_sw_breakpoint(&mut self) -> Option<SwBreakpointOps<'_, Self>> {
        Some(self)
    }
    fn support_hw_breakpoint(&mut self) -> Option<HwBreakpointOps<'_, Self>> {
        Some(self)
    }
    fn support_hw_watchpoint(&mut self) -> Option<HwWatchpointOps<'_, Self>> {
        Some(self)
    }
}

impl SwBreakpoint for Machine<'_> {
    fn add_sw_breakpoint(&mut self, addr: u64, _kind: usize) -> TargetResult<bool, Self> {
        Ok(self.free_slot(Slot::Exec(addr)))
    }
    fn remove_sw_breakpoint(&mut self, addr: u64, _kind: usize) -> TargetResult<bool, Self> {
        Ok(self.clear_slot(Slot::Exec(addr)))
    }
}

impl HwBreakpoint for Machine<'_> {
    fn add_hw_breakpoint(&mut self, addr: u64, _kind: usize) -> TargetResult<bool, Self> {
        Ok(self.free_slot(Slot::Exec(addr)))
    }
    fn remove_hw_breakpoint(&mut self, addr: u64, _kind: usize) -> TargetResult<bool, Self> {
        Ok(self.clear_slot(Slot::Exec(addr)))
    }
}

impl HwWatchpoint for Machine<'_> {
    fn add_hw_watchpoint(
        &mut self,
        addr: u64,
        len: u64,
        kind: WatchKind,
    ) -> TargetResult<bool, Self> {
        // x86 watches 1, 2, 4 or 8 aligned bytes per register.
        if !matches!(len, 1 | 2 | 4 | 8) || !addr.is_multiple_of(len) {
            return Ok(false);
        }
        Ok(self.free_slot(Slot::Watch { addr, len, kind }))
    }
    fn remove_hw_watchpoint(
        &mut self,
        addr: u64,
        len: u64,
        kind: WatchKind,
    ) -> TargetResult<bool, Self> {
        Ok(self.clear_slot(Slot::Watch { addr, len, kind }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dr7_encodes_slots() {
        let mut s = [None; 4];
        assert_eq!(dr7(&s), 0);
        s[0] = Some(Slot::Exec(0x1000));
        assert_eq!(dr7(&s), 1);
        s[2] = Some(Slot::Watch {
            addr: 0x2000,
            len: 8,
            kind: WatchKind::Write,
        });
        // L2 enabled; RW2 = 01 (write), LEN2 = 10 (8 bytes) at bits 24..28.
        assert_eq!(dr7(&s), 1 | 1 << 4 | (0b1001 << 24));
    }
}
