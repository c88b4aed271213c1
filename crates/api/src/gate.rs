//! Engine work (search, suggest) off the async threads, with load shedding.
//!
//! A search is CPU work: it runs on a blocking thread, at most `threads` at a time, so the
//! reactor only waits for it and other requests (health checks, downloads) are not held up. At
//! most `max_in_flight` searches are admitted (running or waiting to run); beyond that a search
//! is refused at once with 503 and `Retry-After`, so a replica under more load than it can take
//! stays fast for the searches it accepts instead of queueing everyone into timeouts.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;
use tokio::sync::Semaphore;

use crate::error::ApiError;

pub struct SearchGate {
    admitted: Arc<Semaphore>,
    running: Arc<Semaphore>,
    max_in_flight: usize,
    served: AtomicU64,
    shed: AtomicU64,
}

/// Searches running or waiting now, served and refused since the start.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct GateStats {
    pub in_flight: usize,
    pub max_in_flight: usize,
    pub served: u64,
    pub shed: u64,
}

impl SearchGate {
    pub fn new(max_in_flight: usize, threads: usize) -> SearchGate {
        let max_in_flight = max_in_flight.max(1);
        SearchGate {
            admitted: Arc::new(Semaphore::new(max_in_flight)),
            running: Arc::new(Semaphore::new(threads.max(1))),
            max_in_flight,
            served: AtomicU64::new(0),
            shed: AtomicU64::new(0),
        }
    }

    /// Runs `work` on a blocking thread when a thread is free, or refuses at once (503) when
    /// too many searches are already admitted.
    pub async fn run<T: Send + 'static>(&self, work: impl FnOnce() -> T + Send + 'static) -> Result<T, ApiError> {
        let Ok(_admitted) = self.admitted.clone().try_acquire_owned() else {
            self.shed.fetch_add(1, Ordering::Relaxed);
            return Err(ApiError::overloaded());
        };
        let running = self.running.clone().acquire_owned().await.map_err(|e| ApiError::internal(&e))?;
        // The thread keeps its permit until the work ends, even if the client goes away.
        let out = tokio::task::spawn_blocking(move || {
            let _running = running;
            work()
        })
        .await
        .map_err(|e| ApiError::internal(&e))?;
        self.served.fetch_add(1, Ordering::Relaxed);
        Ok(out)
    }

    pub fn stats(&self) -> GateStats {
        GateStats {
            in_flight: self.max_in_flight - self.admitted.available_permits(),
            max_in_flight: self.max_in_flight,
            served: self.served.load(Ordering::Relaxed),
            shed: self.shed.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn beyond_the_limit_searches_are_refused_at_once() {
        let gate = Arc::new(SearchGate::new(2, 1));
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let rx = Arc::new(std::sync::Mutex::new(rx));
        // Two admitted: one running (blocked until told), one waiting for the thread.
        let mut admitted = Vec::new();
        for _ in 0..2 {
            let (gate, rx) = (gate.clone(), rx.clone());
            admitted.push(tokio::spawn(async move { gate.run(move || rx.lock().unwrap().recv().ok()).await }));
        }
        while gate.stats().in_flight < 2 {
            tokio::task::yield_now().await;
        }
        let refused = gate.run(|| ()).await.unwrap_err();
        assert_eq!((refused.status.as_u16(), refused.code), (503, "overloaded"));
        assert_eq!(refused.retry_after, Some(1));
        tx.send(()).unwrap();
        tx.send(()).unwrap();
        for a in admitted {
            assert!(a.await.unwrap().is_ok());
        }
        let stats = gate.stats();
        assert_eq!((stats.in_flight, stats.served, stats.shed), (0, 2, 1));
    }
}
