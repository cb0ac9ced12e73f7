//! A network stack for one IPv4 address: DPF filters claim ARP for the
//! address, ICMP to it and TCP to the ports we serve; smoltcp runs ARP,
//! IPv4, ICMP echo and TCP on the packets our ring receives. Time comes
//! from the TSC as calibrated by the kernel.

use super::device::RingDevice;
use super::ring::Ring;
use crate::{sys, time};
use alloc::format;
use alloc::vec;
use exo_abi::syscall::Error;
use smoltcp::iface::{Config, Interface, PollResult, SocketHandle, SocketSet};
use smoltcp::socket::tcp;
use smoltcp::time::Instant;
use smoltcp::wire::{EthernetAddress, HardwareAddress, IpAddress, IpCidr, Ipv4Address};

/// Ring pages: 64 slots of 2 KiB.
const RING_PAGES: u64 = 33;

pub struct Stack {
    pub ip: [u8; 4],
    /// Next ephemeral port for active opens.
    pub(crate) next_port: u16,
    pub iface: Interface,
    pub dev: RingDevice,
    pub sockets: SocketSet<'static>,
}

/// Milliseconds since boot, from the TSC.
pub fn now() -> Instant {
    Instant::from_micros(time::tsc_to_us(time::tsc()) as i64)
}

fn hex_ip(ip: [u8; 4]) -> alloc::string::String {
    format!("0x{:02x}{:02x}{:02x}{:02x}", ip[0], ip[1], ip[2], ip[3])
}

/// The DPF filter for IPv4 `proto` (6 TCP, 17 UDP) to `ip`:`port`.
pub fn port_filter(ip: [u8; 4], proto: u8, port: u16) -> alloc::string::String {
    format!(
        "12:2=0x0800 23:1={proto} 30:4={} ip_hl 2:2={port}",
        hex_ip(ip)
    )
}

impl Stack {
    /// Claims `ip` (prefix `prefix`) and TCP `ports` on this machine's network.
    pub fn new(ip: [u8; 4], prefix: u8, ports: &[u16]) -> Result<Stack, Error> {
        let mac = sys::net_mac()?;
        let me = hex_ip(ip);
        sys::dpf_insert(&format!("12:2=0x0806 38:4={me}"))?;
        sys::dpf_insert(&format!("12:2=0x0800 23:1=1 30:4={me}"))?;
        for p in ports {
            sys::dpf_insert(&port_filter(ip, 6, *p))?;
        }
        // We only ever send as ourselves.
        let m = mac;
        sys::dpf_tx_filter(&format!(
            "6:4=0x{:02x}{:02x}{:02x}{:02x} 10:2=0x{:02x}{:02x}",
            m[0], m[1], m[2], m[3], m[4], m[5]
        ))?;
        let ring = Ring::create(RING_PAGES)?;
        let mut dev = RingDevice { ring, tx_errors: 0 };
        let hw = HardwareAddress::Ethernet(EthernetAddress(mac));
        let mut cfg = Config::new(hw);
        cfg.random_seed = time::tsc();
        let mut iface = Interface::new(cfg, &mut dev, now());
        iface.update_ip_addrs(|a| {
            let _ = a.push(IpCidr::new(
                IpAddress::Ipv4(Ipv4Address::new(ip[0], ip[1], ip[2], ip[3])),
                prefix,
            ));
        });
        Ok(Stack {
            ip,
            next_port: 49152 + (time::tsc() % 8192) as u16,
            iface,
            dev,
            sockets: SocketSet::new(vec![]),
        })
    }

    /// A TCP socket listening on `port` with buffers of `rx`/`tx` bytes.
    pub fn listen(&mut self, port: u16, rx: usize, tx: usize) -> SocketHandle {
        let mut s = tcp::Socket::new(
            tcp::SocketBuffer::new(vec![0; rx]),
            tcp::SocketBuffer::new(vec![0; tx]),
        );
        // Responses are written whole: Nagle would only hold back the last
        // partial segment until the client's (delayed) ACK.
        s.set_nagle_enabled(false);
        let _ = s.listen(port);
        self.sockets.add(s)
    }

    pub fn tcp(&mut self, h: SocketHandle) -> &mut tcp::Socket<'static> {
        self.sockets.get_mut::<tcp::Socket>(h)
    }

    /// Takes what the kernel holds for us, then runs the stack once;
    /// whether anything happened.
    pub fn poll(&mut self) -> bool {
        let _ = sys::net_poll();
        self.iface.poll(now(), &mut self.dev, &mut self.sockets) != PollResult::None
    }

    /// Sleeps until a packet arrives or smoltcp has a timer due (at most
    /// `max_ms`).
    pub fn wait(&mut self, max_ms: u64) {
        let delay = self
            .iface
            .poll_delay(now(), &self.sockets)
            .map_or(max_ms, |d| d.total_millis().min(max_ms));
        if delay == 0 {
            return;
        }
        let hz = crate::info::sysinfo().hz.max(1);
        let ticks = (delay * hz).div_ceil(1000).max(1);
        self.dev.ring.wait(sys::ticks() + ticks);
    }
}
