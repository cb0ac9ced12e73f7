//! Drains the kernel's trace ring from guest memory while the guest runs:
//! copies new records to the trace file and advances the consumer index the
//! kernel reads, so a full ring drops (and counts) instead of overwriting.

use super::{record_bytes, Header, HEADER_LEN};
use exo_abi::trace::{Anchor, Record, ANCHOR_MAGIC};
use std::fs::File;
use std::io::{Seek, SeekFrom, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// Guest RAM as the host sees it: `len` bytes at `base`, guest-physical 0 up.
#[derive(Clone, Copy)]
pub struct GuestRam {
    pub base: *mut u8,
    pub len: u64,
}

// SAFETY: the mapping outlives the collector (the owner joins it first) and
// is only read, plus the one consumer index the guest expects us to write.
unsafe impl Send for GuestRam {}

impl GuestRam {
    fn ptr<T>(&self, pa: u64) -> Option<*mut T> {
        let end = pa.checked_add(std::mem::size_of::<T>() as u64)?;
        (end <= self.len && pa.is_multiple_of(std::mem::align_of::<T>() as u64))
            .then(|| self.base.wrapping_add(pa as usize) as *mut T)
    }
}

/// A running collector.
pub struct Collector {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<std::io::Result<Header>>,
}

/// Copies what is new; returns how many records.
fn drain(ram: GuestRam, anchor_pa: u64, out: &mut File) -> std::io::Result<u64> {
    let Some(a) = ram.ptr::<Anchor>(anchor_pa) else {
        return Ok(0);
    };
    // SAFETY: `a` lies inside guest RAM (checked); the guest may change it at
    // any time, so every field is read once, volatile, and validated.
    let anchor = unsafe { a.read_volatile() };
    if anchor.magic != ANCHOR_MAGIC || anchor.nrec == 0 || anchor.nrec > 1 << 20 {
        return Ok(0);
    }
    let (head, tail) = (anchor.head, anchor.tail);
    let n = head.wrapping_sub(tail).min(anchor.nrec);
    let mut copied = 0;
    for i in 0..n {
        let idx = (tail + i) % anchor.nrec;
        let Some(pa) = idx
            .checked_mul(32)
            .and_then(|o| o.checked_add(anchor.ring_pa))
        else {
            break;
        };
        let Some(r) = ram.ptr::<Record>(pa) else {
            break;
        };
        // SAFETY: inside guest RAM (checked above).
        out.write_all(&record_bytes(&unsafe { r.read_volatile() }))?;
        copied += 1;
    }
    // SAFETY: the consumer index inside the checked anchor.
    unsafe { std::ptr::addr_of_mut!((*a).tail).write_volatile(tail.wrapping_add(copied)) };
    Ok(copied)
}

impl Collector {
    /// Starts draining the ring anchored at guest-physical `anchor_pa` into `path`.
    pub fn start(ram: GuestRam, anchor_pa: u64, path: &Path) -> std::io::Result<Collector> {
        let mut out = File::create(path)?;
        out.write_all(&Header::default().bytes())?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut total = 0;
            loop {
                let done = flag.load(Ordering::Acquire);
                total += drain(ram, anchor_pa, &mut out)?;
                if done {
                    break;
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            let (tsc_per_ms, dropped) = ram.ptr::<Anchor>(anchor_pa).map_or((0, 0), |a| {
                // SAFETY: inside guest RAM (checked).
                let a = unsafe { a.read_volatile() };
                (a.tsc_per_ms, a.dropped)
            });
            let header = Header {
                tsc_per_ms,
                dropped,
                records: total,
            };
            out.seek(SeekFrom::Start(0))?;
            out.write_all(&header.bytes())?;
            out.seek(SeekFrom::Start(HEADER_LEN as u64 + 32 * total))?;
            Ok(header)
        });
        Ok(Collector { stop, thread })
    }

    /// Drains what is left and finishes the file.
    pub fn finish(self) -> std::io::Result<Header> {
        self.stop.store(true, Ordering::Release);
        self.thread
            .join()
            .unwrap_or_else(|_| Err(std::io::Error::other("trace collector panicked")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drains_a_ring_and_refuses_a_lying_anchor() {
        let mut mem = vec![0u64; 4096];
        let ram = GuestRam {
            base: mem.as_mut_ptr() as *mut u8,
            len: 4096 * 8,
        };
        let anchor = Anchor {
            magic: ANCHOR_MAGIC,
            ring_pa: 1024,
            nrec: 4,
            head: 6,
            tail: 3,
            dropped: 2,
            mask: 1,
            tsc_per_ms: 10,
        };
        // SAFETY: both writes fall inside `mem`.
        unsafe {
            (mem.as_mut_ptr() as *mut Anchor).write(anchor);
            for i in 0..4u64 {
                ((mem.as_mut_ptr() as *mut u8).add(1024 + 32 * i as usize) as *mut Record).write(
                    Record {
                        tsc: i,
                        event: 1,
                        env: 1,
                        _pad: 0,
                        a0: i,
                        a1: 0,
                    },
                );
            }
        }
        let path = std::env::temp_dir().join(format!("exo-trace-test-{}", std::process::id()));
        let c = Collector::start(ram, 0, &path).unwrap();
        std::thread::sleep(Duration::from_millis(20));
        let h = c.finish().unwrap();
        assert_eq!((h.records, h.dropped, h.tsc_per_ms), (3, 2, 10));
        let (_, recs) = super::super::read(File::open(&path).unwrap()).unwrap();
        assert_eq!(recs.iter().map(|r| r.a0).collect::<Vec<_>>(), vec![3, 0, 1]);
        // SAFETY: reads the anchor back from `mem`.
        assert_eq!(
            unsafe { (*(mem.as_ptr() as *const Anchor)).tail },
            6,
            "consumer index advanced"
        );
        // A guest that points the ring outside its memory gets nothing copied.
        unsafe {
            (mem.as_mut_ptr() as *mut Anchor).write(Anchor {
                ring_pa: u64::MAX - 8,
                head: 100,
                tail: 0,
                ..anchor
            })
        };
        let c = Collector::start(ram, 0, &path).unwrap();
        assert_eq!(c.finish().unwrap().records, 0);
        let _ = std::fs::remove_file(path);
    }
}
