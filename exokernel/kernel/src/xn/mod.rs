//! XN in the kernel: the disk behind virtio-blk multiplexed among
//! environments by the `exo-xn` engine (thesis ch. 4, 8). At boot an XN disk
//! is opened (reconstructed first if it was not shut down cleanly); a blank
//! disk waits for FORMAT. While XN holds the disk, raw sector calls are
//! refused: every block is reached through XN's checks.

pub mod calls;
mod disk;
mod pages;

use crate::kprintln;
use disk::BlkDisk;
use exo_xn::{Error, Xn};
use pages::KernelPages;
use spin::Mutex;

pub type KernelXn = Xn<BlkDisk, KernelPages>;

pub static XN: Mutex<Option<KernelXn>> = Mutex::new(None);

/// Whether XN holds the disk (raw block calls are then refused).
pub fn attached() -> bool {
    XN.lock().is_some()
}

/// Opens the disk for XN if it holds an XN file system.
pub fn attach_at_boot() {
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
    kprintln!(
        "exo: xn: disk of {} blocks, {} catalogue entries",
        xn.info().nblocks,
        xn.catalogue().iter().count()
    );
    *XN.lock() = Some(xn);
}
