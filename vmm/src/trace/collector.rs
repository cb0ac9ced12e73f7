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

// SAFETY: a GuestRam is only an address and a length. The memory behind it
// is read (and its consumer index written) by the collector's thread, which
// `Collector::start`'s contract keeps within the mapping's lifetime; which
// thread touches a process-wide mapping does not matter.
unsafe impl Send for GuestRam {}

impl GuestRam {
    fn ptr<T>(&self, pa: u64) -> Option<*mut T> {
        let end = pa.checked_add(std::mem::size_of::<T>() as u64)?;
        (end <= self.len && pa.is_multiple_of(std::mem::align_of::<T>() as u64))
            .then(|| self.base.wrapping_add(pa as usize) as *mut T)
    }
}

/// A running collector; dropping it stops and joins its thread.
pub struct Collector {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<std::io::Result<Header>>>,
}

/// Copies what is new; returns how many records.
fn drain(ram: GuestRam, anchor_pa: u64, out: &mut File) -> std::io::Result<u64> {
    let Some(a) = ram.ptr::<Anchor>(anchor_pa) else {
        return Ok(0);
    };
    // SAFETY: `a` is an aligned Anchor inside `ram` (checked by `ptr`), which
    // `start`'s contract keeps mapped. The guest may change it at any time, so
    // it is read once, volatile, and every field is validated; any bit
    // pattern is a valid Anchor (integers only).
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
        // SAFETY: as for the anchor: an aligned Record inside `ram` (checked),
        // plain integers, read once.
        out.write_all(&record_bytes(&unsafe { r.read_volatile() }))?;
        copied += 1;
    }
    // SAFETY: the consumer index of the anchor checked above, inside the
    // mapped `ram`; the guest reads it and never writes it.
    unsafe { std::ptr::addr_of_mut!((*a).tail).write_volatile(tail.wrapping_add(copied)) };
    Ok(copied)
}

impl Collector {
    /// Starts draining the ring anchored at guest-physical `anchor_pa` into `path`.
    ///
    /// # Safety
    /// `ram` must stay mapped, readable and writable, until the collector
    /// is finished or dropped (which joins its thread).
    pub unsafe fn start(ram: GuestRam, anchor_pa: u64, path: &Path) -> std::io::Result<Collector> {
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
                // SAFETY: as in `drain`: an aligned Anchor inside the mapped
                // `ram`, integers only, read once.
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
        Ok(Collector {
            stop,
            thread: Some(thread),
        })
    }

    /// Drains what is left and finishes the file.
    pub fn finish(mut self) -> std::io::Result<Header> {
        self.stop_and_join()
    }

    fn stop_and_join(&mut self) -> std::io::Result<Header> {
        self.stop.store(true, Ordering::Release);
        match self.thread.take() {
            Some(t) => t
                .join()
                .unwrap_or_else(|_| Err(std::io::Error::other("trace collector panicked"))),
            None => Err(std::io::Error::other("trace collector already finished")),
        }
    }
}

impl Drop for Collector {
    /// An owner that returns early still has the thread stop reading guest
    /// RAM before that RAM goes away.
    fn drop(&mut self) {
        if self.thread.is_some() {
            let _ = self.stop_and_join();
        }
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
        // SAFETY: `mem` is 32 KiB of u64s, so 8-aligned: the anchor at 0 and
        // the four 32-byte records from 1024 lie inside it, aligned, and no
        // collector runs yet.
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
        // SAFETY: `mem` lives to the end of the test, after `finish`.
        let c = unsafe { Collector::start(ram, 0, &path) }.unwrap();
        std::thread::sleep(Duration::from_millis(20));
        let h = c.finish().unwrap();
        assert_eq!((h.records, h.dropped, h.tsc_per_ms), (3, 2, 10));
        let (_, recs) = super::super::read(File::open(&path).unwrap()).unwrap();
        assert_eq!(recs.iter().map(|r| r.a0).collect::<Vec<_>>(), vec![3, 0, 1]);
        assert_eq!(
            // SAFETY: the anchor written above, at offset 0 of `mem`; the
            // collector has been joined.
            unsafe { (*(mem.as_ptr() as *const Anchor)).tail },
            6,
            "consumer index advanced"
        );
        // A guest that points the ring outside its memory gets nothing copied.
        // SAFETY: as above: the anchor at offset 0, no collector running.
        unsafe {
            (mem.as_mut_ptr() as *mut Anchor).write(Anchor {
                ring_pa: u64::MAX - 8,
                head: 100,
                tail: 0,
                ..anchor
            })
        };
        // SAFETY: `mem` lives to the end of the test, after `finish`.
        let c = unsafe { Collector::start(ram, 0, &path) }.unwrap();
        assert_eq!(c.finish().unwrap().records, 0);
        let _ = std::fs::remove_file(path);
    }
}
