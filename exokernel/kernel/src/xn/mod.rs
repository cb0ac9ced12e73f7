//! XN in the kernel: the disk behind virtio-blk multiplexed among
//! environments by the `exo-xn` engine (thesis ch. 4, 8). At boot an XN disk
//! is opened (reconstructed first if it was not shut down cleanly); a blank
//! disk waits for FORMAT. While XN holds the disk, raw sector calls are
//! refused: every block is reached through XN's checks.

pub mod calls;
mod disk;
pub mod maps;
mod pages;

pub use pages::{room as cache_room, set_limit as set_cache_limit};

use crate::kprintln;
use disk::BlkDisk;
use exo_xn::{Error, Xn};
use pages::KernelPages;
use spin::Mutex;

pub type KernelXn = Xn<BlkDisk, KernelPages>;

pub static XN: Mutex<Option<KernelXn>> = Mutex::new(None);

/// Physical address of the registry window environments read at UXNREG.
static REGISTRY_WINDOW: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);

pub fn set_registry_window(pa: u64) {
    REGISTRY_WINDOW.store(pa, core::sync::atomic::Ordering::Relaxed);
}

/// Copies the registry into the window every environment sees read-only.
pub fn publish_registry(xn: &KernelXn) {
    use exo_abi::xn::{RegistryHeader, REGISTRY_ENTRIES};
    use exo_xn::registry::XrAttr;
    let pa = REGISTRY_WINDOW.load(core::sync::atomic::Ordering::Relaxed);
    if pa == 0 {
        return;
    }
    let bytes = (exo_abi::layout::UXNREG_PAGES * crate::mem::PAGE_SIZE) as usize;
    let capacity = (bytes - REGISTRY_ENTRIES) / core::mem::size_of::<XrAttr>();
    let base = crate::mem::phys_to_virt(pa);
    // SAFETY: the window is kernel RAM reserved at boot for this, mapped
    // read-only for environments; entries start at an aligned offset and
    // `capacity` keeps them inside it.
    unsafe {
        let entries =
            core::slice::from_raw_parts_mut(base.add(REGISTRY_ENTRIES) as *mut XrAttr, capacity);
        let count = xn.registry().export(entries);
        let h = base as *mut RegistryHeader;
        let generation = (*h).generation.wrapping_add(1);
        h.write_volatile(RegistryHeader {
            count: count as u64,
            capacity: capacity as u64,
            total: xn.registry().len() as u64,
            generation,
        });
    }
}

/// Environment `id` ended: the registry locks it held are let go (and the
/// window shows it).
pub fn env_gone(id: u32) {
    if let Some(xn) = XN.lock().as_mut() {
        if xn.unlock_all(id as u64) > 0 {
            publish_registry(xn);
        }
    }
}

/// Whether XN holds the disk (raw block calls are then refused).
pub fn attached() -> bool {
    XN.lock().is_some()
}

/// The environment slot whose XN call is running, for trace records.
pub(crate) static CALLER: core::sync::atomic::AtomicUsize = core::sync::atomic::AtomicUsize::new(0);

/// XN's internal events as trace records of class `xn`.
fn trace_event(e: exo_xn::trace::Event) {
    use exo_abi::trace::{class::XN, event};
    use exo_xn::trace::Event;
    let env = CALLER.load(core::sync::atomic::Ordering::Relaxed);
    let (ev, a0, a1) = match e {
        Event::RegistryInsert { db, ty } => (event::XN_REG_INSERT, db, ty as u64),
        Event::RegistryEvict { db } => (event::XN_REG_EVICT, db, 0),
        Event::Taint { db, tainted } => (event::XN_TAINT, db, tainted as u64),
        Event::Udf { db, verdict } => (event::XN_UDF, db, verdict as u64),
    };
    crate::trace::emit(XN, ev, env, a0, a1);
}

/// Opens the disk for XN if it holds an XN file system.
pub fn attach_at_boot(cmdline: &str) {
    exo_xn::trace::set_hook(trace_event);
    // A measurement aid (exo bench --suite xn): XN without its UDF checks.
    if exo_abi::boot::cmdline::value(cmdline, exo_abi::boot::cmdline::XN) == Some("unchecked") {
        exo_xn::set_checks(false);
        kprintln!("exo: xn: UDF checks OFF (exo.xn=unchecked): no protection between libFSes");
    }
    let Some(mut d) = BlkDisk::new() else {
        return;
    };
    let xn = match Xn::open(BlkDisk::new().expect("disk checked"), KernelPages) {
        Ok(xn) => xn,
        Err(Error::NeedsRecovery) => {
            match exo_xn::recovery::reconstruct(&mut d, true) {
                Ok(r) => kprintln!(
                    "exo: xn: disk not shut down cleanly: reconstructed ({} violations)",
                    r.violations.len()
                ),
                Err(e) => {
                    kprintln!("exo: xn: reconstruction failed: {e}");
                    return;
                }
            }
            match Xn::open(d, KernelPages) {
                Ok(xn) => xn,
                Err(e) => {
                    kprintln!("exo: xn: cannot open the disk after reconstruction: {e}");
                    return;
                }
            }
        }
        Err(Error::BadImage(_)) => return, // not XN: a raw disk until FORMAT
        Err(e) => {
            kprintln!("exo: xn: cannot open the disk: {e}");
            return;
        }
    };
    crate::kinfo!(
        "exo: xn: disk of {} blocks, {} catalogue entries",
        xn.info().nblocks,
        xn.catalogue().iter().count()
    );
    install(xn);
}

/// Makes `xn` the kernel's XN: its clock (what `TIME` reads in acl-ufs and
/// size-ufs) is the tick count, and its registry is published.
pub fn install(mut xn: KernelXn) -> Option<KernelXn> {
    xn.set_clock(crate::env::now);
    publish_registry(&xn);
    XN.lock().replace(xn)
}
