//! The run event log: every event of a run, numbered from 1, readable from any
//! point (`Last-Event-ID`) and then followed live. `MemoryRunLog` keeps it in
//! process (one replica); `redis::RedisRunLog` shares it between replicas.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use async_trait::async_trait;
use futures::{Stream, StreamExt, stream};
use tokio::sync::watch;

use crate::agent::RunEvent;

/// Numbered events of one run.
pub type Numbered = (u64, RunEvent);

#[async_trait]
pub trait RunLog: Send + Sync {
    /// Opens the log of a new run of `session_id`.
    async fn create(&self, run_id: &str, session_id: &str);
    /// The session a logged run belongs to.
    async fn session(&self, run_id: &str) -> Option<String>;
    /// Appends events in order, waking readers once; returns the last one's
    /// number, or `None` when the run is unknown or already over.
    async fn append_all(&self, run_id: &str, events: Vec<RunEvent>) -> Option<u64>;
    /// Appends one event; returns its number.
    async fn append(&self, run_id: &str, event: RunEvent) -> Option<u64> {
        self.append_all(run_id, vec![event]).await
    }
    /// Events numbered after `after`, whether the run is over, or `None` for an unknown run.
    async fn read(&self, run_id: &str, after: u64) -> Option<(Vec<Numbered>, bool)>;
    /// Resolves when the run has events after `after` (or is over), or after `timeout`.
    async fn wait(&self, run_id: &str, after: u64, timeout: Duration);
}

/// Follows a run from `after`: the missed events, then the live tail, ending
/// after the terminal event.
pub fn follow(
    log: Arc<dyn RunLog>,
    run_id: String,
    after: u64,
) -> impl Stream<Item = Numbered> + Send {
    follow_batches(log, run_id, after).flat_map(stream::iter)
}

/// `follow`, in the batches the log hands out: everything logged since the
/// last read. A reader that falls behind gets bigger batches, so it can write
/// them out at once.
pub fn follow_batches(
    log: Arc<dyn RunLog>,
    run_id: String,
    after: u64,
) -> impl Stream<Item = Vec<Numbered>> + Send {
    stream::unfold(
        (log, run_id, after, false),
        |(log, run_id, mut after, done)| async move {
            if done {
                return None;
            }
            loop {
                let (events, finished) = log.read(&run_id, after).await?;
                if let Some((n, _)) = events.last() {
                    after = *n;
                }
                if !events.is_empty() || finished {
                    return Some((events, (log, run_id, after, finished)));
                }
                log.wait(&run_id, after, Duration::from_secs(15)).await;
            }
        },
    )
}

struct Entry {
    session_id: String,
    events: Vec<RunEvent>,
    finished: bool,
    notify: watch::Sender<u64>,
}

/// The in-process log; a finished run's events are kept for `ttl`.
pub struct MemoryRunLog {
    runs: Arc<Mutex<HashMap<String, Entry>>>,
    ttl: Duration,
}

impl MemoryRunLog {
    pub fn new(ttl: Duration) -> Self {
        MemoryRunLog {
            runs: Arc::default(),
            ttl,
        }
    }
}

#[async_trait]
impl RunLog for MemoryRunLog {
    async fn create(&self, run_id: &str, session_id: &str) {
        let (notify, _) = watch::channel(0);
        if let Ok(mut runs) = self.runs.lock() {
            let entry = Entry {
                session_id: session_id.to_owned(),
                events: Vec::new(),
                finished: false,
                notify,
            };
            runs.insert(run_id.to_owned(), entry);
        }
    }

    async fn session(&self, run_id: &str) -> Option<String> {
        self.runs
            .lock()
            .ok()?
            .get(run_id)
            .map(|e| e.session_id.clone())
    }

    async fn append_all(&self, run_id: &str, events: Vec<RunEvent>) -> Option<u64> {
        let (n, terminal) = {
            let mut runs = self.runs.lock().ok()?;
            let entry = runs.get_mut(run_id)?;
            if entry.finished {
                return None;
            }
            for event in events {
                entry.finished = event.is_terminal();
                entry.events.push(event);
                if entry.finished {
                    break;
                }
            }
            let n = entry.events.len() as u64;
            entry.notify.send_replace(n);
            (n, entry.finished)
        };
        if terminal {
            let (runs, ttl, id) = (self.runs.clone(), self.ttl, run_id.to_owned());
            tokio::spawn(async move {
                tokio::time::sleep(ttl).await;
                if let Ok(mut runs) = runs.lock() {
                    runs.remove(&id);
                }
            });
        }
        Some(n)
    }

    async fn read(&self, run_id: &str, after: u64) -> Option<(Vec<Numbered>, bool)> {
        let runs = self.runs.lock().ok()?;
        let entry = runs.get(run_id)?;
        let events = entry
            .events
            .iter()
            .enumerate()
            .skip(after as usize)
            .map(|(i, e)| (i as u64 + 1, e.clone()))
            .collect();
        Some((events, entry.finished))
    }

    async fn wait(&self, run_id: &str, after: u64, timeout: Duration) {
        let receiver = self
            .runs
            .lock()
            .ok()
            .and_then(|runs| runs.get(run_id).map(|e| e.notify.subscribe()));
        let Some(mut receiver) = receiver else { return };
        let _ = tokio::time::timeout(timeout, receiver.wait_for(|n| *n > after)).await;
    }
}

#[cfg(test)]
mod tests {
    use futures::StreamExt;

    use super::*;

    fn text(t: &str) -> RunEvent {
        RunEvent::TextDelta { text: t.into() }
    }

    #[tokio::test]
    async fn a_reader_gets_exactly_the_events_after_its_last_id_then_the_live_tail() {
        let log: Arc<dyn RunLog> = Arc::new(MemoryRunLog::new(Duration::from_secs(60)));
        log.create("r", "s").await;
        for t in ["a", "b", "c"] {
            log.append("r", text(t)).await;
        }
        let reader = tokio::spawn(follow(log.clone(), "r".into(), 2).collect::<Vec<_>>());
        tokio::time::sleep(Duration::from_millis(50)).await;
        log.append("r", text("d")).await;
        log.append(
            "r",
            RunEvent::Finished {
                text: "abcd".into(),
            },
        )
        .await;
        let got = reader.await.expect("reader");
        assert_eq!(
            got,
            vec![
                (3, text("c")),
                (4, text("d")),
                (
                    5,
                    RunEvent::Finished {
                        text: "abcd".into()
                    }
                )
            ]
        );
        assert_eq!(
            log.append("r", text("late")).await,
            None,
            "nothing follows the terminal event"
        );
        assert!(
            follow(log.clone(), "unknown".into(), 0)
                .collect::<Vec<_>>()
                .await
                .is_empty()
        );
    }
}
