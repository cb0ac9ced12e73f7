//! GDT in the Linux selector layout (what `syscall`/`sysret` and PVM expect)
//! and the TSS that gives the CPU its ring-0 stack for traps from user mode.

use exo_abi::boot::KERNEL_BASE;
use x86_64::instructions::segmentation::{Segment, CS, DS, ES, FS, GS, SS};
use x86_64::instructions::tables::load_tss;
use x86_64::registers::segmentation::SegmentSelector;
use x86_64::structures::gdt::{Descriptor, GlobalDescriptorTable};
use x86_64::structures::tss::TaskStateSegment;
use x86_64::VirtAddr;

pub const KERNEL_CS: u16 = 0x10;
pub const KERNEL_DS: u16 = 0x18;
pub const USER32_CS: u16 = 0x23;
pub const USER_DS: u16 = 0x2b;
pub const USER_CS: u16 = 0x33;
pub const TSS_SEL: u16 = 0x40;

/// Stack for the double-fault handler, so a kernel stack overflow is reported.
const IST_STACK_SIZE: usize = 16 * 1024;
pub const DOUBLE_FAULT_IST: u16 = 0;

static mut TSS: TaskStateSegment = TaskStateSegment::new();
static mut GDT: GlobalDescriptorTable<10> = GlobalDescriptorTable::empty();
static mut IST_STACK: [u8; IST_STACK_SIZE] = [0; IST_STACK_SIZE];

/// Installs the GDT and TSS; `kernel_stack_top` is where traps from ring 3 land.
pub fn init(kernel_stack_top: u64) {
    // SAFETY: called once at boot, before interrupts are enabled; the statics
    // are not touched anywhere else afterwards except through `set_kernel_stack`.
    unsafe {
        let tss = &mut *core::ptr::addr_of_mut!(TSS);
        tss.privilege_stack_table[0] = VirtAddr::new(kernel_stack_top);
        let ist = core::ptr::addr_of!(IST_STACK) as u64 + IST_STACK_SIZE as u64;
        tss.interrupt_stack_table[DOUBLE_FAULT_IST as usize] = VirtAddr::new(ist);

        let gdt = &mut *core::ptr::addr_of_mut!(GDT);
        gdt.append(Descriptor::UserSegment(0x00cf_9b00_0000_ffff)); // 0x08 kernel 32-bit code
        gdt.append(Descriptor::UserSegment(0x00af_9b00_0000_ffff)); // 0x10 kernel code
        gdt.append(Descriptor::UserSegment(0x00cf_9300_0000_ffff)); // 0x18 kernel data
        gdt.append(Descriptor::UserSegment(0x00cf_fb00_0000_ffff)); // 0x23 user 32-bit code
        gdt.append(Descriptor::UserSegment(0x00cf_f300_0000_ffff)); // 0x2b user data
        gdt.append(Descriptor::UserSegment(0x00af_fb00_0000_ffff)); // 0x33 user code
        gdt.append(Descriptor::UserSegment(0)); // 0x38 unused
        let tss_sel = gdt.append(Descriptor::tss_segment(&*core::ptr::addr_of!(TSS)));
        debug_assert_eq!(tss_sel.0, TSS_SEL);
        debug_assert!(core::ptr::addr_of!(GDT) as u64 >= KERNEL_BASE);
        gdt.load();
        CS::set_reg(SegmentSelector(KERNEL_CS));
        SS::set_reg(SegmentSelector(KERNEL_DS));
        DS::set_reg(SegmentSelector(KERNEL_DS));
        ES::set_reg(SegmentSelector(KERNEL_DS));
        FS::set_reg(SegmentSelector(0));
        GS::set_reg(SegmentSelector(0));
        load_tss(SegmentSelector(TSS_SEL));
    }
}
