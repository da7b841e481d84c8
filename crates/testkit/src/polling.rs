//! [`Polling`]: how a test waits for something that happens in the background.

use std::future::Future;
use std::time::Duration;

/// How a test waits for a condition: it is checked every `every`, at most
/// `times` times; then the test fails.
#[derive(Clone, Copy, Debug)]
pub struct Polling {
    /// The pause between two checks.
    pub every: Duration,
    /// How many checks before the test fails.
    pub times: u32,
}

impl Polling {
    /// Waits until `check` holds; panics, naming `what`, when the checks run out.
    pub async fn until<F, Fut>(self, what: &str, mut check: F)
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = bool>,
    {
        for _ in 0..self.times {
            if check().await {
                return;
            }
            tokio::time::sleep(self.every).await;
        }
        panic!("never happened within {:?}: {what}", self.every * self.times);
    }
}
