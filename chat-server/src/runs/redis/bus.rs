//! This replica's pub/sub connection to Redis: "new events" wake-ups for
//! readers here of runs produced elsewhere (`mas:wake:{run}`), and cancel
//! requests for the replica producing a run (`mas:cancel`).

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use futures::StreamExt;
use tokio::sync::{Notify, broadcast};

use super::{CANCEL, WAKE_PREFIX};

/// This replica's pub/sub connection: wake-ups by run, and cancel requests.
pub struct Bus {
    waiters: Mutex<HashMap<String, Arc<Notify>>>,
    cancels: broadcast::Sender<String>,
}

impl Bus {
    /// Subscribes (and resubscribes after a dropped connection) in the background.
    pub fn start(client: redis::Client) -> Arc<Self> {
        let (cancels, _) = broadcast::channel(256);
        let bus = Arc::new(Bus {
            waiters: Mutex::default(),
            cancels,
        });
        let weak = Arc::downgrade(&bus);
        tokio::spawn(async move {
            loop {
                match client.get_async_pubsub().await {
                    Ok(mut pubsub) => {
                        let subscribed = async {
                            pubsub.psubscribe(format!("{WAKE_PREFIX}*")).await?;
                            pubsub.subscribe(CANCEL).await
                        };
                        if let Err(e) = subscribed.await {
                            tracing::warn!(error = %e, "subscribing to run wake-ups failed");
                        } else {
                            let mut messages = pubsub.on_message();
                            while let Some(message) = messages.next().await {
                                let Some(bus) = weak.upgrade() else { return };
                                let channel = message.get_channel_name();
                                if let Some(run_id) = channel.strip_prefix(WAKE_PREFIX) {
                                    bus.wake(run_id);
                                } else if let Ok(run_id) = message.get_payload::<String>() {
                                    let _ = bus.cancels.send(run_id);
                                }
                            }
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "Redis pub/sub unreachable"),
                }
                if weak.strong_count() == 0 {
                    return;
                }
                // Readers fall back to polling while the connection is down.
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        });
        bus
    }

    pub(super) fn wake(&self, run_id: &str) {
        if let Some(notify) = self
            .waiters
            .lock()
            .ok()
            .and_then(|w| w.get(run_id).cloned())
        {
            notify.notify_waiters();
        }
    }

    pub(super) fn waiter(&self, run_id: &str) -> Arc<Notify> {
        self.waiters.lock().map_or_else(
            |_| Arc::new(Notify::new()),
            |mut w| w.entry(run_id.to_owned()).or_default().clone(),
        )
    }

    pub(super) fn forget(&self, run_id: &str, notify: &Arc<Notify>) {
        if let Ok(mut waiters) = self.waiters.lock()
            && waiters
                .get(run_id)
                .is_some_and(|n| Arc::ptr_eq(n, notify) && Arc::strong_count(n) <= 2)
        {
            waiters.remove(run_id);
        }
    }

    /// Run ids whose cancel was requested on any replica.
    pub fn cancels(&self) -> broadcast::Receiver<String> {
        self.cancels.subscribe()
    }
}
