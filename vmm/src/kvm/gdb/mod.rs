//! `exo run --gdb ADDR:PORT` on our VMM: a gdb remote stub (gdbstub) that
//! holds the vCPU before its first instruction until gdb connects, then
//! runs it under gdb's control. A watcher thread turns gdb's Ctrl-C into a
//! signal that takes the vCPU out of KVM_RUN.

mod target;
mod walk;

use super::virtio::MmioBus;
use super::{Error, Stop};
use exo_devices::pio::PioBus;
use gdbstub::common::Signal;
use gdbstub::conn::ConnectionExt;
use gdbstub::stub::run_blocking::{BlockingEventLoop, Event, WaitForStopReasonError};
use gdbstub::stub::{DisconnectReason, GdbStub, SingleThreadStopReason};
use kvm_ioctls::VcpuFd;
use std::marker::PhantomData;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use target::{Machine, Slot};
use vm_memory::GuestMemoryMmap;

/// Whether the vCPU is inside KVM_RUN (so a signal may take it out).
static RUNNING: AtomicBool = AtomicBool::new(false);

extern "C" fn on_kick(_: libc::c_int) {}

/// SIGUSR1 interrupts KVM_RUN (no SA_RESTART) and does nothing else.
fn install_kick() -> Result<(), Error> {
    // SAFETY: a handler that does nothing is async-signal-safe; the
    // sigaction struct is fully initialised.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_kick as *const () as usize;
        libc::sigemptyset(&mut sa.sa_mask);
        if libc::sigaction(libc::SIGUSR1, &sa, std::ptr::null_mut()) != 0 {
            return Err(Error::Gdb(format!(
                "cannot install the interrupt signal: {}",
                std::io::Error::last_os_error()
            )));
        }
    }
    Ok(())
}

/// Watches gdb's socket while the vCPU runs; on input, kicks the vCPU.
fn spawn_watcher(stream: &TcpStream, done: Arc<AtomicBool>) -> Result<(), Error> {
    let fd = stream.as_raw_fd();
    // SAFETY: pthread_self has no preconditions.
    let vcpu_thread = unsafe { libc::pthread_self() };
    std::thread::Builder::new()
        .name("exo-gdb-watch".into())
        .spawn(move || {
            while !done.load(Ordering::Relaxed) {
                let mut p = libc::pollfd {
                    fd,
                    events: libc::POLLIN,
                    revents: 0,
                };
                // SAFETY: one valid pollfd; the socket outlives this thread's use
                // of it (the session ends before `done` is set and the stream dropped).
                let n = unsafe { libc::poll(&mut p, 1, 100) };
                if n > 0 && RUNNING.load(Ordering::Relaxed) {
                    // SAFETY: RUNNING says the vCPU thread is inside KVM_RUN
                    // for this session, so it is alive; the handler does nothing.
                    unsafe { libc::pthread_kill(vcpu_thread, libc::SIGUSR1) };
                    std::thread::sleep(std::time::Duration::from_millis(20));
                } else if n > 0 {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
            }
        })
        .map_err(|e| Error::Gdb(format!("cannot start the watcher: {e}")))?;
    Ok(())
}

struct Loop<'a>(PhantomData<&'a ()>);

impl<'a> BlockingEventLoop for Loop<'a> {
    type Target = Machine<'a>;
    type Connection = TcpStream;
    type StopReason = SingleThreadStopReason<u64>;

    fn wait_for_stop_reason(
        m: &mut Machine<'a>,
        conn: &mut TcpStream,
    ) -> Result<Event<Self::StopReason>, WaitForStopReasonError<String, std::io::Error>> {
        loop {
            RUNNING.store(true, Ordering::Relaxed);
            let r = m.run();
            RUNNING.store(false, Ordering::Relaxed);
            match r {
                Ok(Stop::Exit(status)) => {
                    m.exited = Some(status);
                    return Ok(Event::TargetStopped(SingleThreadStopReason::Exited(status)));
                }
                Ok(Stop::Debug { dr6, .. }) => {
                    if m.single_step {
                        return Ok(Event::TargetStopped(SingleThreadStopReason::DoneStep));
                    }
                    // DR6 bits 0-3: which debug register fired.
                    let fired = (0..4).find(|i| dr6 & (1 << i) != 0);
                    let reason = match fired.and_then(|i| m.slots[i]) {
                        Some(Slot::Watch { addr, kind, .. }) => SingleThreadStopReason::Watch {
                            tid: (),
                            kind,
                            addr,
                        },
                        _ => SingleThreadStopReason::HwBreak(()),
                    };
                    return Ok(Event::TargetStopped(reason));
                }
                Ok(Stop::Interrupted) => {
                    if conn
                        .peek()
                        .map_err(WaitForStopReasonError::Connection)?
                        .is_some()
                    {
                        let b = conn.read().map_err(WaitForStopReasonError::Connection)?;
                        return Ok(Event::IncomingData(b));
                    }
                }
                Err(e) => {
                    let msg = e.to_string();
                    m.failed = Some(e);
                    return Err(WaitForStopReasonError::Target(msg));
                }
            }
        }
    }

    fn on_interrupt(_m: &mut Machine<'a>) -> Result<Option<Self::StopReason>, String> {
        Ok(Some(SingleThreadStopReason::Signal(Signal::SIGINT)))
    }
}

/// Waits for gdb on `addr`, then runs the guest under its control; returns
/// the guest's exit status.
pub fn debug(
    addr: SocketAddr,
    vcpu: &mut VcpuFd,
    mem: &GuestMemoryMmap,
    bus: &mut PioBus,
    mmio: &mut MmioBus,
) -> Result<u8, Error> {
    let listener =
        TcpListener::bind(addr).map_err(|e| Error::Gdb(format!("cannot listen on {addr}: {e}")))?;
    eprintln!("exo: gdb stub waiting on {addr} (the guest is held before its first instruction)");
    let (stream, peer) = listener
        .accept()
        .map_err(|e| Error::Gdb(format!("accepting gdb: {e}")))?;
    let _ = stream.set_nodelay(true);
    eprintln!("exo: gdb connected from {peer}");
    install_kick()?;
    let done = Arc::new(AtomicBool::new(false));
    spawn_watcher(&stream, done.clone())?;
    let mut m = Machine {
        vcpu,
        mem,
        bus,
        mmio,
        slots: [None; 4],
        single_step: false,
        exited: None,
        failed: None,
    };
    let r = GdbStub::new(stream).run_blocking::<Loop>(&mut m);
    done.store(true, Ordering::Relaxed);
    if let Some(e) = m.failed.take() {
        return Err(e);
    }
    match r {
        Ok(DisconnectReason::TargetExited(status)) => Ok(status),
        Ok(DisconnectReason::Kill) => Err(Error::Gdb("gdb killed the guest".into())),
        Ok(DisconnectReason::Disconnect) | Ok(DisconnectReason::TargetTerminated(_)) => {
            // gdb detached: the guest runs on, undebugged.
            if let Some(s) = m.exited {
                return Ok(s);
            }
            m.slots = [None; 4];
            m.single_step = false;
            let _ = m.vcpu.set_guest_debug(&Default::default());
            loop {
                if let Stop::Exit(s) = super::run_until_stop(m.vcpu, m.bus, m.mmio)? {
                    return Ok(s);
                }
            }
        }
        Err(e) => Err(Error::Gdb(format!("gdb session: {e}"))),
    }
}
