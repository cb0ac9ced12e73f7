//! virtio-net: a receive queue kept full of one-page buffers and a transmit
//! queue of up to `NTX` frames in flight (reclaimed as the device uses
//! them), both polled. The kernel owns the device: DPF hands received
//! packets to the environments whose filters claim them, and transmission
//! goes through the network calls (`net_calls.rs`).

use super::virtio_mmio::{SetupError, Transport};
use super::virtq::{SplitQueue, DESC_NEXT, DESC_WRITE};
use super::MmioDevice;
use crate::mem::{frames, paging, phys_to_virt};
use spin::Mutex;

const DEVICE_ID_NET: u32 = 1;
const F_MAC: u32 = 1 << 5;
/// virtio_net_hdr with num_buffers (VERSION_1).
const HDR: usize = 12;
const RX: u32 = 0;
const TX: u32 = 1;
/// Receive buffers (one page each) kept posted.
const NRX: u16 = 16;
/// Transmit buffers: frames are queued without waiting for each.
const NTX: u16 = 16;
/// Transmit descriptors: a head per buffer, then two payload descriptors
/// per head for zero-copy frames (head `i` uses `NTX + 2i` and `+ 1`);
/// the ring is the next power of two (the last 16 are never used).
const TX_DESCS: u16 = (NTX * 3).next_power_of_two();
/// A pin slot that holds no page.
const NO_PIN: u64 = u64::MAX;
pub const MAX_FRAME: usize = exo_abi::syscall::NET_MAX_FRAME;

/// Why a frame was not sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetError {
    /// Shorter than an Ethernet header or longer than MAX_FRAME.
    Size,
    /// Every transmit buffer is still in the device's hands: try again.
    Full,
}

pub struct Net {
    t: Transport,
    rx: SplitQueue,
    tx: SplitQueue,
    rx_bufs: [u64; NRX as usize],
    tx_bufs: [u64; NTX as usize],
    /// Transmit buffers not in the device's hands, as a stack of indices.
    tx_free: [u16; NTX as usize],
    tx_nfree: usize,
    /// Pages of environments the device still reads for head `i`'s chain
    /// (pinned; released when the chain comes back).
    tx_pins: [[u64; 2]; NTX as usize],
    pub mac: [u8; 6],
    pub sent: u64,
    pub received: u64,
}

pub static NET: Mutex<Option<Net>> = Mutex::new(None);

impl Net {
    /// Brings up the virtio-net device at `dev`.
    pub fn probe(dev: MmioDevice) -> Result<Net, SetupError> {
        paging::map_mmio(dev.base, dev.size.max(0x200)).map_err(|_| SetupError::NoQueue)?;
        let t = Transport::new(dev.base);
        let features = t.init(DEVICE_ID_NET, F_MAC)?;
        let page = || frames::alloc().ok_or(SetupError::NoQueue);
        let (rxq, txq) = (page()?, page()?);
        let mut tx_bufs = [0u64; NTX as usize];
        for b in &mut tx_bufs {
            *b = page()?;
        }
        let mut rx_bufs = [0u64; NRX as usize];
        for b in &mut rx_bufs {
            *b = page()?;
        }
        let mut rx = SplitQueue::new(rxq, NRX);
        let (d, a, u) = rx.addrs();
        rx.num = t.setup_queue(RX, NRX as u32, d, a, u)? as u16;
        let mut tx = SplitQueue::new(txq, TX_DESCS);
        let (d, a, u) = tx.addrs();
        tx.num = t.setup_queue(TX, TX_DESCS as u32, d, a, u)? as u16;
        let ntx = (tx.num as usize).min(NTX as usize);
        let mut tx_free = [0u16; NTX as usize];
        for (i, f) in tx_free.iter_mut().enumerate() {
            *f = i as u16;
        }
        let mut mac = [0u8; 6];
        if features & F_MAC != 0 {
            for (i, b) in mac.iter_mut().enumerate() {
                *b = t.config_u8(i);
            }
        }
        let mut net = Net {
            t,
            rx,
            tx,
            rx_bufs,
            tx_bufs,
            tx_free,
            tx_nfree: ntx,
            tx_pins: [[NO_PIN; 2]; NTX as usize],
            mac,
            sent: 0,
            received: 0,
        };
        for i in 0..net.rx.num {
            net.post_rx(i);
        }
        net.t.driver_ok();
        net.t.notify(RX);
        Ok(net)
    }

    fn post_rx(&mut self, i: u16) {
        self.rx
            .set_desc(i, self.rx_bufs[i as usize], 4096, DESC_WRITE, 0);
        self.rx.push(i);
    }

    /// Takes back the transmit buffers the device is done with.
    fn reclaim_tx(&mut self) {
        while let Some((id, _)) = self.tx.peek_used() {
            self.tx.pop_used();
            if let Some(pins) = self.tx_pins.get_mut(id as usize) {
                for p in pins.iter_mut().filter(|p| **p != NO_PIN) {
                    crate::mem::frames::unpin(*p);
                    *p = NO_PIN;
                }
            }
            if self.tx_nfree < self.tx_free.len() {
                self.tx_free[self.tx_nfree] = id;
                self.tx_nfree += 1;
            }
        }
    }

    /// Waits (at most `max_spins` polls of the used ring) until the device
    /// has sent every queued frame: the machine is about to stop, and a
    /// reply a program queued just before it ended must still go out.
    pub fn drain_tx(&mut self, max_spins: u64) {
        for _ in 0..max_spins {
            self.reclaim_tx();
            if self.tx_nfree == self.tx_free.len() {
                return;
            }
            core::hint::spin_loop();
        }
    }

    /// Queues `frame` for transmission; `Full` while every transmit buffer
    /// is still in flight.
    pub fn send(&mut self, frame: &[u8]) -> Result<(), NetError> {
        if frame.len() < 14 || frame.len() > MAX_FRAME {
            return Err(NetError::Size);
        }
        // Never wait for the device here: the kernel runs with interrupts
        // off, and on KVM the device is another host thread that may need
        // this CPU's attention before it can give buffers back.
        self.reclaim_tx();
        if self.tx_nfree == 0 {
            return Err(NetError::Full);
        }
        self.tx_nfree -= 1;
        let id = self.tx_free[self.tx_nfree];
        let pa = self.tx_bufs[id as usize];
        let buf = phys_to_virt(pa);
        // SAFETY: buffer `id` is ours (not on the ring) until the device
        // returns it through the used ring.
        unsafe {
            core::ptr::write_bytes(buf, 0, HDR);
            core::ptr::copy_nonoverlapping(frame.as_ptr(), buf.add(HDR), frame.len());
        }
        self.tx.set_desc(id, pa, (HDR + frame.len()) as u32, 0, 0);
        self.tx.push(id);
        self.t.notify(TX);
        self.t.ack_interrupts();
        self.sent += 1;
        Ok(())
    }

    /// Queues a frame whose start (`head`) is copied and whose rest the
    /// device reads straight from the physical ranges `frags` (at most two:
    /// environment pages the caller has pinned; `pins` are their page
    /// numbers, released when the device is done). Zero-copy for the payload.
    pub fn send_gather(
        &mut self,
        head: &[u8],
        frags: &[(u64, u32)],
        pins: [u64; 2],
    ) -> Result<(), NetError> {
        let total = head.len() + frags.iter().map(|f| f.1 as usize).sum::<usize>();
        if head.len() < 14 || total > MAX_FRAME || frags.len() > 2 || self.tx.num < TX_DESCS {
            return Err(NetError::Size);
        }
        // Never wait for the device here: the kernel runs with interrupts
        // off, and on KVM the device is another host thread that may need
        // this CPU's attention before it can give buffers back.
        self.reclaim_tx();
        if self.tx_nfree == 0 {
            return Err(NetError::Full);
        }
        self.tx_nfree -= 1;
        let id = self.tx_free[self.tx_nfree];
        let pa = self.tx_bufs[id as usize];
        let buf = phys_to_virt(pa);
        // SAFETY: buffer `id` is ours until the device returns it.
        unsafe {
            core::ptr::write_bytes(buf, 0, HDR);
            core::ptr::copy_nonoverlapping(head.as_ptr(), buf.add(HDR), head.len());
        }
        let first = NTX + 2 * id;
        let n = frags.len() as u16;
        self.tx.set_desc(
            id,
            pa,
            (HDR + head.len()) as u32,
            if n > 0 { DESC_NEXT } else { 0 },
            first,
        );
        for (i, &(fpa, len)) in frags.iter().enumerate() {
            let d = first + i as u16;
            let last = i as u16 + 1 == n;
            self.tx
                .set_desc(d, fpa, len, if last { 0 } else { DESC_NEXT }, d + 1);
        }
        self.tx_pins[id as usize] = pins;
        self.tx.push(id);
        self.t.notify(TX);
        self.t.ack_interrupts();
        self.sent += 1;
        Ok(())
    }

    /// Offers the oldest received frame to `take`; the frame is consumed
    /// (and its buffer reposted) only if `take` returns Ok.
    pub fn recv<R, E>(&mut self, take: impl FnOnce(&[u8]) -> Result<R, E>) -> Option<Result<R, E>> {
        loop {
            let (id, len) = self.rx.peek_used()?;
            self.t.ack_interrupts();
            let len = (len as usize).min(4096);
            if len <= HDR {
                // Nothing in it (the device refused the buffer): recycle.
                self.rx.pop_used();
                self.post_rx(id);
                self.t.notify(RX);
                continue;
            }
            // SAFETY: the device is done with the buffer it put on the used ring.
            let frame = unsafe {
                core::slice::from_raw_parts(
                    phys_to_virt(self.rx_bufs[id as usize]).add(HDR),
                    len - HDR,
                )
            };
            let r = take(frame);
            if r.is_ok() {
                self.rx.pop_used();
                self.post_rx(id);
                self.t.notify(RX);
                self.received += 1;
            }
            return Some(r);
        }
    }
}
