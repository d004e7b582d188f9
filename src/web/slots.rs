//! Connection slots: which open connections are idle, so that a flood of
//! idle or slow clients cannot keep the admin out.
//!
//! When every slot is taken, the connection idle the longest (in its TLS
//! handshake, sending headers, or between keep-alive requests) is closed to
//! make room for the next client. A connection with a request in progress
//! is never chosen.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use tokio::task::AbortHandle;

/// The state of one open connection.
#[derive(Debug)]
pub struct Slot {
    /// Requests in progress.
    busy: AtomicUsize,
    /// When the connection last became idle, in milliseconds since the
    /// table was made.
    idle_since: AtomicU64,
    /// Stops the connection's task.
    abort: OnceLock<AbortHandle>,
}

/// The open connections.
#[derive(Debug)]
pub struct Slots {
    epoch: Instant,
    next_id: AtomicU64,
    open: Mutex<HashMap<u64, Arc<Slot>>>,
}

impl Default for Slots {
    fn default() -> Self {
        Self {
            epoch: Instant::now(),
            next_id: AtomicU64::new(0),
            open: Mutex::new(HashMap::new()),
        }
    }
}

impl Slots {
    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Registers a new, idle connection. Dropping the returned guard
    /// removes it again.
    pub fn open(self: &Arc<Self>) -> SlotGuard {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let slot = Arc::new(Slot {
            busy: AtomicUsize::new(0),
            idle_since: AtomicU64::new(self.now_ms()),
            abort: OnceLock::new(),
        });
        self.open
            .lock()
            .expect("slot table lock")
            .insert(id, slot.clone());
        SlotGuard {
            slots: self.clone(),
            id,
            slot,
        }
    }

    /// Closes the connection idle the longest. Returns `false` when every
    /// connection has a request in progress.
    pub fn evict_idlest(&self) -> bool {
        let open = self.open.lock().expect("slot table lock");
        let idlest = open
            .values()
            .filter(|slot| slot.busy.load(Ordering::Acquire) == 0 && slot.abort.get().is_some())
            .min_by_key(|slot| slot.idle_since.load(Ordering::Relaxed));
        match idlest.and_then(|slot| slot.abort.get()) {
            Some(abort) => {
                abort.abort();
                true
            }
            None => false,
        }
    }

    /// Returns the number of open connections.
    pub fn len(&self) -> usize {
        self.open.lock().expect("slot table lock").len()
    }

    /// Returns whether no connection is open.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A registered connection; removes itself from the table when dropped,
/// also when its task is aborted.
#[derive(Debug)]
pub struct SlotGuard {
    slots: Arc<Slots>,
    id: u64,
    slot: Arc<Slot>,
}

impl SlotGuard {
    /// A handle to the same slot, for the accept loop and the request handler.
    pub fn handle(&self) -> SlotHandle {
        SlotHandle {
            slots: self.slots.clone(),
            slot: self.slot.clone(),
        }
    }
}

impl Drop for SlotGuard {
    fn drop(&mut self) {
        self.slots
            .open
            .lock()
            .expect("slot table lock")
            .remove(&self.id);
    }
}

/// A cloneable handle to mark requests on one connection.
#[derive(Debug, Clone)]
pub struct SlotHandle {
    slots: Arc<Slots>,
    slot: Arc<Slot>,
}

impl SlotHandle {
    /// Records the task serving the connection, so it can be evicted.
    pub fn set_task(&self, abort: AbortHandle) {
        let _ = self.slot.abort.set(abort);
    }

    /// Marks a request in progress until the returned guard is dropped.
    pub fn busy(&self) -> BusyGuard {
        self.slot.busy.fetch_add(1, Ordering::AcqRel);
        BusyGuard {
            slots: self.slots.clone(),
            slot: self.slot.clone(),
        }
    }
}

/// A request in progress; the connection becomes idle again when the last
/// such guard is dropped.
#[derive(Debug)]
pub struct BusyGuard {
    slots: Arc<Slots>,
    slot: Arc<Slot>,
}

impl Drop for BusyGuard {
    fn drop(&mut self) {
        self.slot
            .idle_since
            .store(self.slots.now_ms(), Ordering::Relaxed);
        self.slot.busy.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn idlest_connection_is_evicted_first() {
        let slots = Arc::new(Slots::default());
        let mut tasks = Vec::new();
        let mut guards = Vec::new();
        for _ in 0..3 {
            let guard = slots.open();
            let task = tokio::spawn(std::future::pending::<()>());
            guard.handle().set_task(task.abort_handle());
            tasks.push(task);
            guards.push(guard);
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        // The oldest connection has a request in progress, so the second goes.
        let _busy = guards[0].handle().busy();
        assert!(slots.evict_idlest());
        let second = tasks.remove(1);
        assert!(second.await.unwrap_err().is_cancelled());
        assert!(!tasks[0].is_finished());
        assert_eq!(slots.len(), 3, "the guard, not the abort, frees the slot");
        drop(guards.remove(1));
        assert_eq!(slots.len(), 2);
    }

    #[tokio::test]
    async fn busy_connections_are_kept() {
        let slots = Arc::new(Slots::default());
        let guard = slots.open();
        let task = tokio::spawn(std::future::pending::<()>());
        guard.handle().set_task(task.abort_handle());
        let _busy = guard.handle().busy();
        assert!(!slots.evict_idlest());
        assert!(!task.is_finished());
    }
}
