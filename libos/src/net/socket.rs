//! Sockets for programs: TCP (listen/accept, connect, read, write, close)
//! and UDP (bind, send_to, recv_from) on a [`Stack`], blocking by running
//! the stack until the operation can proceed or a timeout passes. Every
//! port a socket uses is claimed with a DPF filter first, so the kernel
//! delivers its packets to us and to no one else.

use super::stack::{port_filter, Stack};
use crate::sys;
use crate::time;
use alloc::vec;
use exo_abi::syscall::Error;
use smoltcp::iface::SocketHandle;
use smoltcp::socket::{tcp, udp};
use smoltcp::wire::{IpAddress, IpEndpoint, Ipv4Address};

const TCP_BUF: usize = 16 * 1024;
const UDP_PACKETS: usize = 16;

fn ms() -> u64 {
    time::tsc_to_us(time::tsc()) / 1000
}

fn addr(ip: [u8; 4]) -> IpAddress {
    IpAddress::Ipv4(Ipv4Address::new(ip[0], ip[1], ip[2], ip[3]))
}

impl Stack {
    /// Runs the stack until `ready` holds or `timeout_ms` passes; whether it held.
    pub fn block_until(
        &mut self,
        timeout_ms: u64,
        mut ready: impl FnMut(&mut Stack) -> bool,
    ) -> bool {
        let end = ms().saturating_add(timeout_ms);
        loop {
            let busy = self.poll();
            if ready(self) {
                return true;
            }
            if ms() >= end {
                return false;
            }
            if !busy {
                self.wait(end - ms());
            }
        }
    }

    fn claim(&mut self, proto: u8, port: u16) -> Result<(), Error> {
        sys::dpf_insert(&port_filter(self.ip, proto, port)).map(drop)
    }

    fn new_tcp(&mut self) -> SocketHandle {
        let s = tcp::Socket::new(
            tcp::SocketBuffer::new(vec![0; TCP_BUF]),
            tcp::SocketBuffer::new(vec![0; TCP_BUF]),
        );
        self.sockets.add(s)
    }

    /// A socket listening on TCP `port` (claimed for this process).
    pub fn tcp_listen(&mut self, port: u16) -> Result<SocketHandle, Error> {
        self.claim(6, port)?;
        let h = self.new_tcp();
        self.tcp(h).listen(port).map_err(|_| Error::Invalid)?;
        Ok(h)
    }

    /// Waits for a client on listening socket `h`; true once connected.
    pub fn tcp_accept(&mut self, h: SocketHandle, timeout_ms: u64) -> bool {
        self.block_until(timeout_ms, |s| s.tcp(h).may_send())
    }

    /// Connects to `ip`:`port` from a fresh local port.
    pub fn tcp_connect(
        &mut self,
        ip: [u8; 4],
        port: u16,
        timeout_ms: u64,
    ) -> Result<SocketHandle, Error> {
        let local = self.next_port;
        self.next_port = if local >= 65000 { 49152 } else { local + 1 };
        self.claim(6, local)?;
        let h = self.new_tcp();
        let cx = self.iface.context();
        self.sockets
            .get_mut::<tcp::Socket>(h)
            .connect(cx, IpEndpoint::new(addr(ip), port), local)
            .map_err(|_| Error::Invalid)?;
        if self.block_until(timeout_ms, |s| s.tcp(h).may_send()) {
            Ok(h)
        } else {
            self.tcp(h).abort();
            Err(Error::Busy)
        }
    }

    /// Reads what has arrived (waiting up to `timeout_ms` for something);
    /// 0 when the peer closed or nothing came.
    pub fn tcp_read(&mut self, h: SocketHandle, buf: &mut [u8], timeout_ms: u64) -> usize {
        self.block_until(timeout_ms, |s| {
            let t = s.tcp(h);
            t.can_recv() || !t.may_recv()
        });
        self.tcp(h).recv_slice(buf).unwrap_or(0)
    }

    /// Queues all of `data`, running the stack while the send buffer is full;
    /// how much was queued before the connection failed or time ran out.
    pub fn tcp_write(&mut self, h: SocketHandle, data: &[u8], timeout_ms: u64) -> usize {
        let mut done = 0;
        let end = ms().saturating_add(timeout_ms);
        while done < data.len() && ms() < end {
            if !self.tcp(h).may_send() {
                break;
            }
            done += self.tcp(h).send_slice(&data[done..]).unwrap_or(0);
            self.poll();
        }
        self.block_until(timeout_ms, |s| s.tcp(h).send_queue() == 0);
        done
    }

    /// Closes our side and lets the stack finish the exchange.
    pub fn tcp_close(&mut self, h: SocketHandle) {
        self.tcp(h).close();
        self.block_until(1000, |s| !s.tcp(h).is_active());
    }

    /// A UDP socket bound to `port` (claimed for this process).
    pub fn udp_bind(&mut self, port: u16) -> Result<SocketHandle, Error> {
        self.claim(17, port)?;
        let buf = || {
            udp::PacketBuffer::new(
                vec![udp::PacketMetadata::EMPTY; UDP_PACKETS],
                vec![0; UDP_PACKETS * 1500],
            )
        };
        let mut s = udp::Socket::new(buf(), buf());
        s.bind(port).map_err(|_| Error::Invalid)?;
        Ok(self.sockets.add(s))
    }

    /// Sends one datagram to `ip`:`port`.
    pub fn udp_send_to(
        &mut self,
        h: SocketHandle,
        data: &[u8],
        ip: [u8; 4],
        port: u16,
    ) -> Result<(), Error> {
        self.sockets
            .get_mut::<udp::Socket>(h)
            .send_slice(data, IpEndpoint::new(addr(ip), port))
            .map_err(|_| Error::NoMem)?;
        self.poll();
        Ok(())
    }

    /// Waits up to `timeout_ms` for a datagram: its length and sender.
    pub fn udp_recv_from(
        &mut self,
        h: SocketHandle,
        buf: &mut [u8],
        timeout_ms: u64,
    ) -> Option<(usize, [u8; 4], u16)> {
        self.block_until(timeout_ms, |s| {
            s.sockets.get_mut::<udp::Socket>(h).can_recv()
        });
        let (n, meta) = self
            .sockets
            .get_mut::<udp::Socket>(h)
            .recv_slice(buf)
            .ok()?;
        let IpAddress::Ipv4(a) = meta.endpoint.addr;
        Some((n, a.octets(), meta.endpoint.port))
    }
}
