//! virtio-net over a [`NetBackend`] (a TAP): queue 0 receives, queue 1
//! transmits. Every chain is checked against its shape and guest memory;
//! a bad chain is returned unused and counted, never followed blindly.

use super::VirtioDevice;
use crate::net::NetBackend;
use std::os::fd::RawFd;
use virtio_queue::{Queue, QueueT};
use vm_memory::{Bytes, GuestAddress, GuestMemoryMmap};

const DEVICE_ID: u32 = 1;
const F_MAC: u64 = 1 << 5;
const F_STATUS: u64 = 1 << 16;
const STATUS_LINK_UP: u16 = 1;
/// virtio_net_hdr with num_buffers (VERSION_1 always has it).
pub const HDR_LEN: usize = 12;
/// The largest frame we carry: no TSO/GSO is offered, so 64 KiB is ample.
const MAX_FRAME: usize = 65_536;
const RX: usize = 0;
const TX: usize = 1;
/// Longest chain we walk; virtio-queue stops loops, this bounds the work.
const MAX_CHAIN: usize = 64;

/// What the device has seen, for tests and the VMM's exit report.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NetStats {
    pub rx_frames: u64,
    pub tx_frames: u64,
    /// Frames from the backend that did not fit the guest's buffer.
    pub rx_dropped: u64,
    /// Frames the backend refused, or too short to be Ethernet.
    pub tx_dropped: u64,
    /// Chains with the wrong direction or addresses outside guest memory.
    pub bad_chains: u64,
}

pub struct Net<B: NetBackend> {
    backend: B,
    mac: [u8; 6],
    /// A frame read from the backend that waits for a receive buffer.
    pending: Option<Vec<u8>>,
    stats: NetStats,
}

impl<B: NetBackend> Net<B> {
    pub fn new(backend: B, mac: [u8; 6]) -> Self {
        Net {
            backend,
            mac,
            pending: None,
            stats: NetStats::default(),
        }
    }

    pub fn stats(&self) -> NetStats {
        self.stats
    }

    pub fn backend(&self) -> &B {
        &self.backend
    }

    /// Moves frames from the backend into the guest's receive buffers.
    fn fill_rx(&mut self, queue: &mut Queue, mem: &GuestMemoryMmap) -> bool {
        let mut used = false;
        loop {
            if self.pending.is_none() {
                let mut buf = vec![0u8; MAX_FRAME];
                match self.backend.recv(&mut buf) {
                    Ok(Some(n)) => {
                        buf.truncate(n);
                        self.pending = Some(buf);
                    }
                    Ok(None) | Err(_) => break,
                }
            }
            let Some(chain) = queue.pop_descriptor_chain(mem) else {
                break; // the frame waits for the driver's next buffers
            };
            let head = chain.head_index();
            let frame = self.pending.take().unwrap_or_default();
            let descs: Vec<_> = chain
                .take(MAX_CHAIN)
                .map(|d| (d.addr(), d.len(), d.is_write_only()))
                .collect();
            let len = match write_frame(mem, &descs, &frame) {
                Ok(len) => {
                    self.stats.rx_frames += 1;
                    len
                }
                Err(Bad::Chain) => {
                    self.stats.bad_chains += 1;
                    0
                }
                Err(Bad::TooSmall) => {
                    self.stats.rx_dropped += 1;
                    0
                }
            };
            if queue.add_used(mem, head, len).is_err() {
                break;
            }
            used = true;
        }
        used
    }

    /// Sends every frame the driver queued for transmission.
    fn drain_tx(&mut self, queue: &mut Queue, mem: &GuestMemoryMmap) -> bool {
        let mut used = false;
        while let Some(chain) = queue.pop_descriptor_chain(mem) {
            let head = chain.head_index();
            let descs: Vec<_> = chain
                .take(MAX_CHAIN)
                .map(|d| (d.addr(), d.len(), d.is_write_only()))
                .collect();
            match read_frame(mem, &descs) {
                Ok(frame) if frame.len() >= 14 => match self.backend.send(&frame) {
                    Ok(()) => self.stats.tx_frames += 1,
                    Err(_) => self.stats.tx_dropped += 1,
                },
                Ok(_) | Err(Bad::TooSmall) => self.stats.tx_dropped += 1,
                Err(Bad::Chain) => self.stats.bad_chains += 1,
            }
            if queue.add_used(mem, head, 0).is_err() {
                break;
            }
            used = true;
        }
        used
    }
}

enum Bad {
    /// Wrong direction or memory outside the guest's.
    Chain,
    /// The frame and the buffer do not fit each other.
    TooSmall,
}

/// Writes the header and `frame` across writable descriptors; returns the
/// bytes written.
fn write_frame(
    mem: &GuestMemoryMmap,
    descs: &[(GuestAddress, u32, bool)],
    frame: &[u8],
) -> Result<u32, Bad> {
    if descs.iter().any(|d| !d.2) {
        return Err(Bad::Chain);
    }
    let room: u64 = descs.iter().map(|d| d.1 as u64).sum();
    if room < (HDR_LEN + frame.len()) as u64 {
        return Err(Bad::TooSmall);
    }
    let mut hdr = [0u8; HDR_LEN];
    hdr[10] = 1; // num_buffers
    let mut bytes = hdr.iter().chain(frame.iter()).copied();
    let total = HDR_LEN + frame.len();
    let mut done = 0usize;
    for &(addr, len, _) in descs {
        if done == total {
            break;
        }
        let chunk: Vec<u8> = bytes.by_ref().take(len as usize).collect();
        mem.write_slice(&chunk, addr).map_err(|_| Bad::Chain)?;
        done += chunk.len();
    }
    Ok(total as u32)
}

/// Gathers a transmitted frame from readable descriptors, header removed.
fn read_frame(mem: &GuestMemoryMmap, descs: &[(GuestAddress, u32, bool)]) -> Result<Vec<u8>, Bad> {
    if descs.iter().any(|d| d.2) {
        return Err(Bad::Chain);
    }
    let total: u64 = descs.iter().map(|d| d.1 as u64).sum();
    if total > (HDR_LEN + MAX_FRAME) as u64 {
        return Err(Bad::Chain);
    }
    if total < HDR_LEN as u64 {
        return Err(Bad::TooSmall);
    }
    let mut buf = vec![0u8; total as usize];
    let mut off = 0usize;
    for &(addr, len, _) in descs {
        let end = off + len as usize;
        mem.read_slice(&mut buf[off..end], addr)
            .map_err(|_| Bad::Chain)?;
        off = end;
    }
    Ok(buf.split_off(HDR_LEN))
}

impl<B: NetBackend> VirtioDevice for Net<B> {
    fn device_id(&self) -> u32 {
        DEVICE_ID
    }

    fn features(&self) -> u64 {
        F_MAC | F_STATUS
    }

    fn queue_max_sizes(&self) -> &[u16] {
        &[256, 256]
    }

    fn read_config(&self, offset: u64, data: &mut [u8]) {
        let mut cfg = [0u8; 8];
        cfg[..6].copy_from_slice(&self.mac);
        cfg[6..8].copy_from_slice(&STATUS_LINK_UP.to_le_bytes());
        for (i, b) in data.iter_mut().enumerate() {
            *b = cfg.get(offset as usize + i).copied().unwrap_or(0);
        }
    }

    fn process(&mut self, index: usize, queue: &mut Queue, mem: &GuestMemoryMmap) -> bool {
        match index {
            RX => self.fill_rx(queue, mem), // new buffers: deliver what waits
            TX => self.drain_tx(queue, mem),
            _ => false,
        }
    }

    fn backend_fd(&self) -> Option<RawFd> {
        self.backend.fd()
    }

    fn process_backend(&mut self, queues: &mut [Queue], mem: &GuestMemoryMmap) -> bool {
        match queues.get_mut(RX) {
            Some(q) if q.ready() => self.fill_rx(q, mem),
            _ => false,
        }
    }

    fn report(&self) -> Option<String> {
        let s = self.stats;
        Some(format!(
            "virtio-net: {} frames to the guest ({} dropped: no room), {} from it ({} refused by the backend), {} malformed chains",
            s.rx_frames, s.rx_dropped, s.tx_frames, s.tx_dropped, s.bad_chains
        ))
    }
}

/// Parses a MAC address `aa:bb:cc:dd:ee:ff`.
pub fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let mut mac = [0u8; 6];
    let mut parts = s.split(':');
    for b in &mut mac {
        let p = parts.next()?;
        if p.len() != 2 {
            return None;
        }
        *b = u8::from_str_radix(p, 16).ok()?;
    }
    parts.next().is_none().then_some(mac)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::virtio::test_rig::{Rig, WRITE};
    use std::collections::VecDeque;
    use std::sync::{Arc, Mutex};

    /// A backend whose wire is two queues the test can see.
    #[derive(Clone, Default)]
    struct Wire {
        to_guest: Arc<Mutex<VecDeque<Vec<u8>>>>,
        from_guest: Arc<Mutex<Vec<Vec<u8>>>>,
    }

    impl NetBackend for Wire {
        fn send(&mut self, frame: &[u8]) -> std::io::Result<()> {
            self.from_guest.lock().unwrap().push(frame.to_vec());
            Ok(())
        }
        fn recv(&mut self, buf: &mut [u8]) -> std::io::Result<Option<usize>> {
            Ok(self.to_guest.lock().unwrap().pop_front().map(|f| {
                buf[..f.len()].copy_from_slice(&f);
                f.len()
            }))
        }
        fn fd(&self) -> Option<RawFd> {
            None
        }
    }

    const MAC: [u8; 6] = [0x52, 0x54, 0, 0x12, 0x34, 0x56];

    fn rig() -> (Rig<Net<Wire>>, Wire) {
        let wire = Wire::default();
        (Rig::new(Net::new(wire.clone(), MAC)), wire)
    }

    fn frame(tag: u8, len: usize) -> Vec<u8> {
        (0..len).map(|i| tag.wrapping_add(i as u8)).collect()
    }

    #[test]
    fn config_space_has_the_mac_and_link_up() {
        let (mut r, _) = rig();
        let mut cfg = [0u8; 8];
        r.t.read(0x100, &mut cfg);
        assert_eq!(&cfg[..6], &MAC);
        assert_eq!(u16::from_le_bytes([cfg[6], cfg[7]]), STATUS_LINK_UP);
    }

    #[test]
    fn transmitted_frames_reach_the_backend_without_the_header() {
        let (mut r, wire) = rig();
        let f = frame(7, 60);
        r.mem
            .write_slice(&[0u8; HDR_LEN], GuestAddress(0x4000))
            .unwrap();
        r.mem.write_slice(&f, GuestAddress(0x5000)).unwrap();
        // Header and frame in separate descriptors.
        r.submit(TX, &[(0x4000, HDR_LEN as u32, 0), (0x5000, 60, 0)]);
        assert_eq!(r.used_idx(TX), 1);
        assert_eq!(wire.from_guest.lock().unwrap().as_slice(), &[f]);
        assert_eq!(r.irq.read().unwrap(), 1);
    }

    #[test]
    fn received_frames_wait_for_buffers_and_arrive_whole() {
        let (mut r, wire) = rig();
        let f = frame(1, 1514);
        wire.to_guest.lock().unwrap().push_back(f.clone());
        // No buffers yet: the frame is kept, nothing is used.
        r.t.backend_event();
        assert_eq!(r.used_idx(RX), 0);
        // A buffer split in two: header + start, then the rest.
        r.submit(RX, &[(0x4000, 100, WRITE), (0x8000, 2000, WRITE)]);
        assert_eq!(r.used_idx(RX), 1);
        assert_eq!(r.used_elem(RX, 0), (0, (HDR_LEN + 1514) as u32));
        let mut got = vec![0u8; HDR_LEN + 1514];
        r.mem
            .read_slice(&mut got[..100], GuestAddress(0x4000))
            .unwrap();
        r.mem
            .read_slice(&mut got[100..], GuestAddress(0x8000))
            .unwrap();
        assert_eq!(got[10], 1, "num_buffers");
        assert_eq!(&got[HDR_LEN..], &f[..]);
        assert_eq!(r.t.device().stats().rx_frames, 1);
    }

    #[test]
    fn malformed_chains_are_returned_and_counted() {
        let (mut r, wire) = rig();
        // Transmit through a device-writable descriptor.
        r.submit(TX, &[(0x4000, 80, WRITE)]);
        // Transmit from outside guest memory.
        r.submit(TX, &[(0x4000, 12, 0), (u64::MAX - 10, 100, 0)]);
        // A runt: header only, then a frame shorter than Ethernet's header.
        r.submit(TX, &[(0x4000, 12, 0)]);
        r.submit(TX, &[(0x4000, 20, 0)]);
        // An oversize length.
        r.submit(TX, &[(0x4000, u32::MAX, 0)]);
        assert_eq!(r.used_idx(TX), 5, "every chain is returned");
        assert!(wire.from_guest.lock().unwrap().is_empty());
        // Receive into a read-only buffer, and into one too small.
        wire.to_guest.lock().unwrap().push_back(frame(2, 500));
        r.submit(RX, &[(0x4000, 2000, 0)]);
        wire.to_guest.lock().unwrap().push_back(frame(3, 500));
        r.submit(RX, &[(0x4000, 100, WRITE)]);
        // Receive into memory outside the guest's.
        wire.to_guest.lock().unwrap().push_back(frame(4, 500));
        r.submit(RX, &[(u64::MAX - 4096, 2000, WRITE)]);
        assert_eq!(r.used_idx(RX), 3);
        assert_eq!(r.used_elem(RX, 1).1, 0);
        let s = r.t.device().stats();
        assert_eq!(
            (s.bad_chains, s.tx_dropped, s.rx_dropped, s.rx_frames),
            (5, 2, 1, 0)
        );
    }

    #[test]
    fn a_queue_size_that_is_not_a_power_of_two_stops_the_device() {
        use crate::virtio::mmio::MmioTransport;
        use vmm_sys_util::eventfd::{EventFd, EFD_NONBLOCK};
        let mem = GuestMemoryMmap::from_ranges(&[(GuestAddress(0), 1 << 20)]).unwrap();
        let irq = EventFd::new(EFD_NONBLOCK).unwrap();
        let wire = Wire::default();
        let mut t = MmioTransport::new(Net::new(wire.clone(), MAC), mem, irq);
        let reg =
            |t: &mut MmioTransport<Net<Wire>>, off: u64, v: u32| t.write(off, &v.to_le_bytes());
        reg(&mut t, 0x070, 1 | 2);
        reg(&mut t, 0x024, 1);
        reg(&mut t, 0x020, 1);
        reg(&mut t, 0x070, 1 | 2 | 8);
        reg(&mut t, 0x030, TX as u32);
        reg(&mut t, 0x038, 48);
        reg(&mut t, 0x044, 1);
        reg(&mut t, 0x070, 1 | 2 | 8 | 4);
        let mut status = [0u8; 4];
        t.read(0x070, &mut status);
        assert_ne!(u32::from_le_bytes(status) & 64, 0, "DEVICE_NEEDS_RESET");
        t.notify(TX as u32);
        assert!(wire.from_guest.lock().unwrap().is_empty());
    }

    #[test]
    fn macs_parse_strictly() {
        assert_eq!(parse_mac("52:54:00:12:34:56"), Some(MAC));
        for bad in [
            "",
            "52:54:00:12:34",
            "52:54:00:12:34:56:78",
            "5:54:00:12:34:56",
            "zz:54:00:12:34:56",
        ] {
            assert_eq!(parse_mac(bad), None, "{bad}");
        }
    }
}
