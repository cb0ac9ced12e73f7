//! Pipes on shared pages: a single-producer, single-consumer ring in
//! `PIPE_PAGES` pages that both ends map; a blocked end sleeps on a wakeup predicate over
//! the ring's counters, so it costs nothing until the other end moves.

use crate::fd::{kind, Fd};
use crate::info;
use crate::layout::{
    MAX_PIPES, PIPE_BASE, PIPE_BYTES, PIPE_CAP_TAG, PIPE_PAGES, SLOT_CHILDREN, SLOT_SELF,
};
use crate::sys::{self, Error};
use crate::vm::{self, map_op};
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use exo_abi::cap::PERM_ALL;
use exo_abi::wakeup::{WkTerm, CMP_EQ, CMP_NE};

const DATA: usize = PIPE_BYTES as usize - 32;

#[repr(C)]
pub struct Pipe {
    /// Bytes ever written / read.
    head: AtomicU64,
    tail: AtomicU64,
    readers: AtomicU32,
    writers: AtomicU32,
    /// Environment sleeping for data (0: none): the writer yields to it.
    reader_waiting: AtomicU32,
    /// Environment sleeping for room (0: none): the reader yields to it.
    writer_waiting: AtomicU32,
    /// Written by one end while the other reads it (other bytes).
    data: UnsafeCell<[u8; DATA]>,
}

const _: () = assert!(core::mem::size_of::<Pipe>() <= PIPE_BYTES as usize);

/// The ring's byte ranges for `n` bytes from stream position `pos`, as
/// (offset in the ring, length, offset in the caller's buffer): one, or two
/// when they wrap around its end.
fn ring_parts(pos: u64, n: usize) -> impl Iterator<Item = (usize, usize, usize)> {
    let at = (pos % DATA as u64) as usize;
    let first = n.min(DATA - at);
    [(at, first, 0), (0, n - first, first)]
        .into_iter()
        .filter(|&(_, len, _)| len > 0)
}

/// Directed yield to the other end if it sleeps on this pipe: it runs now
/// instead of at its next time slice.
fn hand_over(waiting: &AtomicU32) {
    let env = waiting.swap(0, Ordering::AcqRel);
    if env != 0 && env != sys::env_id() {
        let _ = sys::yield_to(Some(env));
    }
}

impl Pipe {
    fn data_ptr(&self) -> *mut u8 {
        self.data.get().cast()
    }

    /// Reads what is available, waiting for at least one byte or end of file.
    pub fn read(&self, buf: &mut [u8]) -> usize {
        loop {
            let (h, t) = (
                self.head.load(Ordering::Acquire),
                self.tail.load(Ordering::Relaxed),
            );
            if h != t {
                let n = ((h - t) as usize).min(buf.len());
                for (at, len, done) in ring_parts(t, n) {
                    // SAFETY: `[at, at + len)` lies within the ring and
                    // holds unread bytes, which the writer does not touch
                    // (`head` was read with Acquire); `buf` is ours.
                    unsafe {
                        core::ptr::copy_nonoverlapping(
                            self.data_ptr().add(at),
                            buf[done..].as_mut_ptr(),
                            len,
                        )
                    };
                }
                self.tail.store(t + n as u64, Ordering::Release);
                hand_over(&self.writer_waiting);
                return n;
            }
            if self.writers.load(Ordering::Acquire) == 0 || buf.is_empty() {
                return 0;
            }
            // Sleep until data arrives or the last writer leaves.
            self.reader_waiting.store(sys::env_id(), Ordering::Release);
            let _ = sys::wakeup(&[
                WkTerm::mem(&self.head as *const _ as u64, 8, CMP_NE, t),
                WkTerm::OR,
                WkTerm::mem(&self.writers as *const _ as u64, 4, CMP_EQ, 0),
            ]);
        }
    }

    /// Writes all of `buf`, waiting for room; fails if no reader is left.
    pub fn write(&self, buf: &[u8]) -> Result<usize, Error> {
        let mut done = 0;
        while done < buf.len() {
            if self.readers.load(Ordering::Acquire) == 0 {
                return Err(Error::Busy);
            }
            let (h, t) = (
                self.head.load(Ordering::Relaxed),
                self.tail.load(Ordering::Acquire),
            );
            let room = DATA - (h - t) as usize;
            if room == 0 {
                self.writer_waiting.store(sys::env_id(), Ordering::Release);
                let _ = sys::wakeup(&[
                    WkTerm::mem(&self.tail as *const _ as u64, 8, CMP_NE, t),
                    WkTerm::OR,
                    WkTerm::mem(&self.readers as *const _ as u64, 4, CMP_EQ, 0),
                ]);
                continue;
            }
            let n = room.min(buf.len() - done);
            for (at, len, from) in ring_parts(h, n) {
                // SAFETY: `[at, at + len)` lies within the ring, in the free
                // part the reader does not read until `head` is published
                // below; `buf` is ours.
                unsafe {
                    core::ptr::copy_nonoverlapping(
                        buf[done + from..].as_ptr(),
                        self.data_ptr().add(at),
                        len,
                    )
                };
            }
            self.head.store(h + n as u64, Ordering::Release);
            done += n;
            hand_over(&self.reader_waiting);
        }
        Ok(done)
    }

    /// Whether a read would not wait (data, or no writer left).
    pub fn can_read(&self) -> bool {
        self.head.load(Ordering::Acquire) != self.tail.load(Ordering::Acquire)
            || self.writers.load(Ordering::Acquire) == 0
    }

    /// Whether a write would not wait (room, or no reader left).
    pub fn can_write(&self) -> bool {
        let used = self.head.load(Ordering::Acquire) - self.tail.load(Ordering::Acquire);
        (used as usize) < DATA || self.readers.load(Ordering::Acquire) == 0
    }

    /// Whether the other end is gone (no writer for a reader, or the reverse).
    pub fn hung_up(&self, writer: bool) -> bool {
        if writer { &self.readers } else { &self.writers }.load(Ordering::Acquire) == 0
    }

    pub(crate) fn add_end(&self, writer: bool) {
        if writer { &self.writers } else { &self.readers }.fetch_add(1, Ordering::AcqRel);
    }

    pub(crate) fn drop_end(&self, writer: bool) {
        let c = if writer { &self.writers } else { &self.readers };
        let _ = c.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1));
    }
}

/// Ends of each pipe this process holds, in its table or in hand (the
/// shell holds ends it has not installed): the page goes when none is left.
static HELD: [AtomicU32; MAX_PIPES as usize] = [const { AtomicU32::new(0) }; MAX_PIPES as usize];

fn held(va: u64) -> Option<&'static AtomicU32> {
    HELD.get(((va.checked_sub(PIPE_BASE)?) / PIPE_BYTES) as usize)
}

/// Counts one more end of the pipe at `va` held here.
pub(crate) fn hold(va: Option<u64>) {
    if let Some(h) = va.and_then(held) {
        h.fetch_add(1, Ordering::AcqRel);
    }
}

/// Counts one end of the pipe at `va` closed here; true if it was the last.
pub(crate) fn let_go(va: u64) -> bool {
    held(va).is_some_and(|h| {
        h.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1)) == Ok(1)
    })
}

/// Lets go of the pipe at `va` once this process has no end of it left:
/// its pages unmapped, its capability dropped, and the pages freed if they
/// were ours and no one else maps them.
pub(crate) fn release(va: u64) {
    let Some(first) = vm::ppn_of(va) else {
        return;
    };
    let slot = cap_slot(first);
    let mut ppns = [0u64; PIPE_PAGES as usize];
    let mut ops = [exo_abi::vm::VmOp::default(); PIPE_PAGES as usize];
    let mut n = 0;
    for (page, e) in info::mapped(va, va + PIPE_BYTES) {
        ppns[n] = (e & exo_abi::layout::pte::ADDR_MASK) / 4096;
        ops[n] = vm::unmap_op(page);
        n += 1;
    }
    if vm::apply(&ops[..n]).is_err() {
        return;
    }
    if let Some(s) = slot {
        for &ppn in &ppns[..n] {
            let _ = sys::p_free(ppn, s);
        }
        let _ = sys::cap_drop(s);
    }
}

/// Takes `PIPE_PAGES` fresh pages guarded by the capability in `slot` and
/// maps them at `va`; on failure none is left taken or mapped.
fn map_pages(va: u64, slot: usize) -> Result<(), Error> {
    let mut ops = [exo_abi::vm::VmOp::default(); PIPE_PAGES as usize];
    let mut got = 0;
    let mut r = Ok(());
    for (k, op) in ops.iter_mut().enumerate() {
        match vm::alloc_page(slot) {
            Ok(ppn) => *op = map_op(va + k as u64 * 4096, ppn, true, false, slot),
            Err(e) => {
                r = Err(e);
                break;
            }
        }
        got += 1;
    }
    let mapped = match r {
        Ok(()) => match vm::apply(&ops) {
            Ok(()) => return Ok(()),
            Err((n, e)) => {
                r = Err(e);
                n
            }
        },
        Err(_) => 0,
    };
    let undo: [exo_abi::vm::VmOp; PIPE_PAGES as usize] =
        core::array::from_fn(|k| vm::unmap_op(ops[k].va));
    let _ = vm::apply(&undo[..mapped]);
    for op in &ops[..got] {
        let _ = sys::p_free(op.ppn, slot);
    }
    r
}

/// Our slot holding the capability of the pipe on page `ppn` (its guard,
/// exactly).
pub(crate) fn cap_slot(ppn: u64) -> Option<usize> {
    let guard = info::page(ppn)?.guard;
    let me = info::env(sys::env_id())?;
    (SLOT_CHILDREN..me.caps.len()).find(|&s| me.caps[s].is_valid() && me.caps[s] == guard)
}

/// Creates a pipe; returns its read and write ends (not yet installed).
/// Its pages are guarded by a capability of its own, which only the
/// processes given one of its ends receive.
pub fn pipe() -> Result<(Fd, Fd), Error> {
    let idx = (0..MAX_PIPES)
        .find(|i| vm::ppn_of(PIPE_BASE + i * PIPE_BYTES).is_none())
        .ok_or(Error::NoMem)?;
    let va = PIPE_BASE + idx * PIPE_BYTES;
    let slot = crate::child::free_slot()?;
    sys::cap_derive(SLOT_SELF, slot, &[PIPE_CAP_TAG, idx as u8], PERM_ALL)?;
    if let Err(e) = map_pages(va, slot) {
        let _ = sys::cap_drop(slot);
        return Err(e);
    }
    // SAFETY: just mapped, never unmapped; fresh pages are zero (an empty
    // ring without ends) and a Pipe fits in them.
    let p = unsafe { &*(va as *const Pipe) };
    p.add_end(false);
    p.add_end(true);
    hold(Some(va));
    hold(Some(va));
    Ok((
        Fd {
            kind: kind::PIPE_READ,
            idx: idx as u32,
            pos: 0,
        },
        Fd {
            kind: kind::PIPE_WRITE,
            idx: idx as u32,
            pos: 0,
        },
    ))
}
