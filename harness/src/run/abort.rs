//! Stopping a run: Ctrl-C, a dead terminal, a failed write.

use std::sync::{Arc, Mutex};

use tokio::sync::watch;

/// Asks a run to stop: running checks are cancelled, the rest skipped.
/// Cloneable; the CLI triggers it on Ctrl-C.
#[derive(Debug, Clone)]
pub struct AbortSignal {
    tx: Arc<watch::Sender<bool>>,
    /// Why it was raised, when the raiser said (first reason wins).
    reason: Arc<Mutex<Option<String>>>,
}

impl Default for AbortSignal {
    fn default() -> Self {
        AbortSignal::new()
    }
}

impl AbortSignal {
    /// A signal not yet raised.
    pub fn new() -> AbortSignal {
        let (tx, _rx) = watch::channel(false);
        AbortSignal {
            tx: Arc::new(tx),
            reason: Arc::new(Mutex::new(None)),
        }
    }

    /// Raises the signal and records why (kept in `report.json` as
    /// `run.abort_reason`); a reason given earlier is kept.
    pub fn abort_because(&self, reason: impl Into<String>) {
        {
            let mut r = self.reason.lock().unwrap_or_else(|p| p.into_inner());
            if r.is_none() {
                *r = Some(reason.into());
            }
        }
        self.abort();
    }

    /// The first reason given to [`AbortSignal::abort_because`], if any.
    pub fn reason(&self) -> Option<String> {
        self.reason
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Raises the signal.
    pub fn abort(&self) {
        self.tx.send_replace(true);
    }

    /// Whether it has been raised.
    pub fn is_aborted(&self) -> bool {
        *self.tx.borrow()
    }

    /// Resolves once the signal is raised.
    pub async fn aborted(&self) {
        let mut rx = self.tx.subscribe();
        // The sender lives in `self`, so the channel cannot close under us.
        let _ = rx.wait_for(|raised| *raised).await;
    }
}
