//! smoltcp's view of our network access: frames in from the DPF packet
//! ring, frames out through the kernel's send call (which our transmit
//! filter guards).

use super::ring::Ring;
use crate::sys;
use alloc::vec::Vec;
use smoltcp::phy::{self, DeviceCapabilities, Medium};
use smoltcp::time::Instant;

pub struct RingDevice {
    pub ring: Ring,
    /// Frames the kernel refused to send (a transmit-filter violation is a
    /// bug in the stack, counted rather than fatal).
    pub tx_errors: u64,
}

pub struct RxToken(Vec<u8>);
pub struct TxToken<'a>(&'a mut u64);

impl phy::RxToken for RxToken {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(&self.0)
    }
}

impl phy::TxToken for TxToken<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut buf = [0u8; exo_abi::syscall::NET_MAX_FRAME];
        let n = len.min(buf.len());
        let r = f(&mut buf[..n]);
        if sys::net_send(&buf[..n], crate::layout::SLOT_SELF).is_err() {
            *self.0 += 1;
        }
        r
    }
}

impl phy::Device for RingDevice {
    type RxToken<'a> = RxToken;
    type TxToken<'a> = TxToken<'a>;

    fn receive(&mut self, _t: Instant) -> Option<(RxToken, TxToken<'_>)> {
        let frame = self.ring.recv(|f, _| f.to_vec())?;
        Some((RxToken(frame), TxToken(&mut self.tx_errors)))
    }

    fn transmit(&mut self, _t: Instant) -> Option<TxToken<'_>> {
        Some(TxToken(&mut self.tx_errors))
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut c = DeviceCapabilities::default();
        c.medium = Medium::Ethernet;
        c.max_transmission_unit = exo_abi::syscall::NET_MAX_FRAME;
        c
    }
}
