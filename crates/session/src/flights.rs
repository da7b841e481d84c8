//! Single flight per session: the requests of one session that find its
//! upstream session lost share one re-initialize.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use mcp_reconnect_core::Failure;
use tokio::sync::OnceCell;

use crate::id::SessionId;
use crate::store::SessionRecord;

/// Why a lost upstream session was not restored.
#[derive(Clone, Debug)]
pub(crate) enum Recovery {
    /// It cannot be: the client's session is gone from the store, or the
    /// upstream refused the stored `initialize`. The client must initialize again.
    Gone(String),
    /// Not now (the upstream is unavailable, the store failed): the client's
    /// session is kept and the next request tries again.
    Failed(Failure, String),
}

/// The shared outcome of one re-initialize.
pub(crate) type Outcome = Result<SessionRecord, Recovery>;

/// One re-initialize of one session, from the generation its callers saw fail.
pub(crate) type Flight = Arc<OnceCell<Outcome>>;

/// The re-initializes running, by client session id; at most `max` entries
/// (finished ones leave at once; abandoned ones are swept when it is full).
pub(crate) struct Flights {
    max: usize,
    running: Mutex<HashMap<SessionId, (u64, Flight)>>,
}

impl Flights {
    pub(crate) fn new(max: usize) -> Self {
        Flights {
            max: max.max(1),
            running: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<SessionId, (u64, Flight)>> {
        // Each change is one map operation: a poisoned map is still consistent.
        self.running
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The flight that restores session `id` after its generation `seen`
    /// failed: the one running (if it started from `seen` or later), or a new one.
    pub(crate) fn join(&self, id: &SessionId, seen: u64) -> Flight {
        let mut running = self.lock();
        if let Some((from, flight)) = running.get(id)
            && *from >= seen
        {
            return Arc::clone(flight);
        }
        if running.len() >= self.max {
            // Flights nobody waits for any more (their callers were dropped).
            running.retain(|_, (_, flight)| Arc::strong_count(flight) > 1);
        }
        let flight = Flight::default();
        running.insert(id.clone(), (seen, Arc::clone(&flight)));
        flight
    }

    /// Removes `flight` once it has an outcome (later callers load the record).
    pub(crate) fn finish(&self, id: &SessionId, flight: &Flight) {
        let mut running = self.lock();
        if flight.initialized()
            && running
                .get(id)
                .is_some_and(|(_, current)| Arc::ptr_eq(current, flight))
        {
            running.remove(id);
        }
    }

    /// Forgets session `id` (deleted).
    pub(crate) fn forget(&self, id: &SessionId) {
        self.lock().remove(id);
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }
}
