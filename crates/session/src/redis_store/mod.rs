//! [`RedisStore`]: client sessions in Redis, shared by gateway replicas
//! behind a load balancer (cargo feature `redis`), and [`AnyStore`], the
//! in-memory or the Redis store chosen at run time.

mod any;
mod codec;
mod config;
mod forward;
mod probe;
mod scripts;
mod status;
mod store;

pub use any::AnyStore;
pub use config::{DEFAULT_KEY_PREFIX, DEFAULT_OP_TIMEOUT, DEFAULT_PROBE_INTERVAL, RedisConfig};
pub use probe::WRITEBACK_BATCH;
pub use status::StoreStatus;
pub use store::{MAX_PENDING_DELETES, RedisStore};

#[cfg(test)]
mod tests;
