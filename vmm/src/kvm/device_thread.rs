//! The device thread: an event-manager loop that serves virtio queues when
//! the guest's notification arrives on an ioeventfd, and network backends
//! when frames arrive, so the vCPU does not stop for device work.

use event_manager::{EventManager, EventOps, Events, MutEventSubscriber, SubscriberOps};
use exo_devices::virtio::mmio::MmioDevice;
use std::os::fd::RawFd;
use std::sync::{Arc, Mutex};
use vmm_sys_util::epoll::EventSet;
use vmm_sys_util::eventfd::EventFd;

pub type SharedDevice = Arc<Mutex<dyn MmioDevice>>;

/// What wakes the thread for one device.
pub enum Wake {
    /// The guest notified queue `queue` (an ioeventfd).
    Queue { evt: EventFd, queue: u32 },
    /// The device's backend became readable.
    Backend(RawFd),
}

struct Subscriber {
    wake: Wake,
    dev: SharedDevice,
}

impl MutEventSubscriber for Subscriber {
    fn init(&mut self, ops: &mut EventOps) {
        let _ = match &self.wake {
            Wake::Queue { evt, .. } => ops.add(Events::new(evt, EventSet::IN)),
            // Edge-triggered: a frame that waits for guest buffers must not
            // spin the loop; the guest's next rx notification delivers it.
            Wake::Backend(fd) => ops.add(Events::new_raw(
                *fd,
                EventSet::IN | EventSet::EDGE_TRIGGERED,
            )),
        };
    }

    fn process(&mut self, _events: Events, _ops: &mut EventOps) {
        let mut dev = self.dev.lock().unwrap_or_else(|e| e.into_inner());
        match &self.wake {
            Wake::Queue { evt, queue } => {
                let _ = evt.read();
                dev.notify(*queue);
            }
            Wake::Backend(_) => dev.backend_event(),
        }
    }
}

/// Starts the thread serving `wakes`.
pub fn spawn(wakes: Vec<(Wake, SharedDevice)>) -> std::io::Result<()> {
    let mut em =
        EventManager::<Subscriber>::new().map_err(|e| std::io::Error::other(format!("{e:?}")))?;
    for (wake, dev) in wakes {
        em.add_subscriber(Subscriber { wake, dev });
    }
    std::thread::Builder::new()
        .name("exo-devices".into())
        .spawn(move || loop {
            if em.run().is_err() {
                return;
            }
        })?;
    Ok(())
}
