//! The device thread: an event-manager loop that serves virtio queues when
//! the guest's notification arrives on an ioeventfd, so the vCPU does not
//! stop for disk work.

use event_manager::{EventManager, EventOps, Events, MutEventSubscriber, SubscriberOps};
use exo_devices::virtio::block::Block;
use exo_devices::virtio::mmio::MmioTransport;
use std::sync::{Arc, Mutex};
use vmm_sys_util::epoll::EventSet;
use vmm_sys_util::eventfd::EventFd;

pub type SharedBlock = Arc<Mutex<MmioTransport<Block>>>;

/// Queue 0 of one device, woken by its ioeventfd.
struct QueueNotifier {
    evt: EventFd,
    dev: SharedBlock,
}

impl MutEventSubscriber for QueueNotifier {
    fn init(&mut self, ops: &mut EventOps) {
        let _ = ops.add(Events::new(&self.evt, EventSet::IN));
    }

    fn process(&mut self, _events: Events, _ops: &mut EventOps) {
        let _ = self.evt.read();
        self.dev.lock().unwrap_or_else(|e| e.into_inner()).notify(0);
    }
}

/// Starts the thread for `devices` (ioeventfd, device) pairs.
pub fn spawn(devices: Vec<(EventFd, SharedBlock)>) -> std::io::Result<()> {
    let mut em = EventManager::<QueueNotifier>::new()
        .map_err(|e| std::io::Error::other(format!("{e:?}")))?;
    for (evt, dev) in devices {
        em.add_subscriber(QueueNotifier { evt, dev });
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
