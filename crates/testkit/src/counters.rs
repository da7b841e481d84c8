//! What the test server executed, kept outside the server so it survives restarts.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

/// Execution counts of the test server's tools.
///
/// A tool call is counted when the tool starts to run, so a call whose
/// answer is lost (the connection reset, a proxy turned it into a `502`)
/// still counts: that is how a test proves a non-idempotent tool ran once.
/// One `Counters` is shared by every incarnation of an [`McpServer`]
/// (see [`McpServer::counters`]).
///
/// [`McpServer`]: crate::McpServer
/// [`McpServer::counters`]: crate::McpServer::counters
#[derive(Debug, Default)]
pub struct Counters {
    calls: Mutex<HashMap<String, u64>>,
    increments: Mutex<HashMap<String, u64>>,
}

impl Counters {
    /// How many times `tool` started to run.
    pub fn calls(&self, tool: &str) -> u64 {
        lock(&self.calls).get(tool).copied().unwrap_or(0)
    }

    /// How many tool calls started to run, all tools together.
    pub fn total_calls(&self) -> u64 {
        lock(&self.calls).values().sum()
    }

    /// The value of the `increment` counter for `key`: how many times
    /// `increment {key}` ran.
    pub fn increments(&self, key: &str) -> u64 {
        lock(&self.increments).get(key).copied().unwrap_or(0)
    }

    /// Counts one run of `tool`.
    pub(crate) fn record_call(&self, tool: &str) {
        *lock(&self.calls).entry(tool.to_owned()).or_default() += 1;
    }

    /// Adds one to the counter of `key` and returns its new value.
    pub(crate) fn increment(&self, key: &str) -> u64 {
        let mut increments = lock(&self.increments);
        let value = increments.entry(key.to_owned()).or_default();
        *value += 1;
        *value
    }
}

/// Locks a map; a panic elsewhere while it was held cannot leave a count
/// half-written, so a poisoned lock is still good to read.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_calls_per_tool_and_increments_per_key() {
        let counters = Counters::default();
        counters.record_call("echo");
        counters.record_call("echo");
        counters.record_call("add");
        assert_eq!(counters.calls("echo"), 2);
        assert_eq!(counters.calls("missing"), 0);
        assert_eq!(counters.total_calls(), 3);
        assert_eq!(counters.increment("k"), 1);
        assert_eq!(counters.increment("k"), 2);
        assert_eq!(counters.increments("k"), 2);
        assert_eq!(counters.increments("other"), 0);
    }
}
