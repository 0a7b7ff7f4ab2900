//! One lane per connection: a connection's events run one after another, in the order the
//! service sent them, while different connections run concurrently.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::mpsc;

/// How long an idle lane's task waits for the next event before it ends.
const IDLE: Duration = Duration::from_secs(30);

/// A unit of work on a lane.
pub(crate) type Job = std::pin::Pin<Box<dyn Future<Output = ()> + Send>>;

/// The lanes of every connection with queued or running events. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub(crate) struct Lanes {
    lanes: Arc<Mutex<HashMap<String, mpsc::UnboundedSender<Job>>>>,
}

impl Lanes {
    /// Queues `job` behind the earlier jobs of `connection_id`. The queue has no bound of its
    /// own: the caller holds a permit of the upstream's concurrency bound in every job, which
    /// bounds all lanes together.
    pub(crate) fn submit(&self, connection_id: &str, job: Job) {
        let mut lanes = self.lanes.lock().unwrap_or_else(PoisonError::into_inner);
        let job = match lanes.get(connection_id) {
            Some(lane) => match lane.send(job) {
                Ok(()) => return,
                // The lane's task ended between its last job and now: start a new one.
                Err(mpsc::error::SendError(job)) => job,
            },
            None => job,
        };
        let (sender, receiver) = mpsc::unbounded_channel();
        // A fresh channel's receiver is alive: the send cannot fail.
        let _ = sender.send(job);
        lanes.insert(connection_id.to_owned(), sender);
        tokio::spawn(run(self.clone(), connection_id.to_owned(), receiver));
    }

    /// How many connections have a lane.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.lanes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

async fn run(lanes: Lanes, connection_id: String, mut jobs: mpsc::UnboundedReceiver<Job>) {
    loop {
        match tokio::time::timeout(IDLE, jobs.recv()).await {
            Ok(Some(job)) => job.await,
            Ok(None) => return,
            Err(_idle) => {
                // Under the lock no job can be queued meanwhile. The map's lane for this
                // connection is this one: it is replaced only after this task has ended.
                let mut map = lanes.lanes.lock().unwrap_or_else(PoisonError::into_inner);
                if jobs.is_empty() {
                    map.remove(&connection_id);
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn one_connection_runs_in_order_others_concurrently() {
        let lanes = Lanes::default();
        let log = Arc::new(Mutex::new(Vec::new()));
        let (gate, opened) = tokio::sync::oneshot::channel::<()>();
        let first = log.clone();
        lanes.submit(
            "a",
            Box::pin(async move {
                let _ = opened.await;
                first.lock().unwrap().push("a1");
            }),
        );
        let second = log.clone();
        lanes.submit(
            "a",
            Box::pin(async move { second.lock().unwrap().push("a2") }),
        );
        let (done, finished) = tokio::sync::oneshot::channel();
        let other = log.clone();
        lanes.submit(
            "b",
            Box::pin(async move {
                other.lock().unwrap().push("b1");
                let _ = done.send(());
            }),
        );
        // b runs while a's first job is blocked.
        finished.await.unwrap();
        assert_eq!(*log.lock().unwrap(), ["b1"]);
        gate.send(()).unwrap();
        for _ in 0..100 {
            if log.lock().unwrap().len() == 3 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(*log.lock().unwrap(), ["b1", "a1", "a2"]);
        assert_eq!(lanes.len(), 2);
    }
}
