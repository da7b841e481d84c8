//! The probe task: it (re)connects to Redis, notices a return or a data loss
//! by the epoch marker, and then writes the local sessions back.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};

use redis::AsyncConnectionConfig;
use redis::aio::MultiplexedConnection;

use super::codec::{encode, millis};
use super::scripts::RESTORE_SCRIPT;
use super::status::DEGRADED;
use super::store::{Inner, lock};
use crate::error::StoreError;
use crate::id::SessionId;

/// Sessions written back per pipelined round trip after an outage: 256.
pub const WRITEBACK_BATCH: usize = 256;

/// Checks Redis every probe interval (and at once if `now`) until the store
/// is dropped.
pub(super) fn spawn_probe(inner: &Arc<Inner>, now: bool) -> Result<(), StoreError> {
    let runtime = tokio::runtime::Handle::try_current()
        .map_err(|_| StoreError::new("the Redis session store needs a tokio runtime"))?;
    let weak: Weak<Inner> = Arc::downgrade(inner);
    let interval = inner.config.probe_interval;
    runtime.spawn(async move {
        if !now {
            tokio::time::sleep(interval).await;
        }
        loop {
            let Some(inner) = weak.upgrade() else { break };
            inner.probe().await;
            drop(inner);
            tokio::time::sleep(interval).await;
        }
    });
    Ok(())
}

impl Inner {
    /// Opens a connection if there is none; whether there is one.
    async fn connect(&self) -> bool {
        if lock(&self.connection).is_some() {
            return true;
        }
        let timeout = self.config.op_timeout;
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(timeout)
            .set_response_timeout(timeout);
        let connect = self.client.get_multiplexed_async_connection_with_config(&config);
        match tokio::time::timeout(timeout, connect).await {
            Ok(Ok(connection)) => {
                *lock(&self.connection) = Some(connection);
                true
            }
            Ok(Err(error)) => {
                self.failed("connect", &error);
                false
            }
            Err(_) => {
                self.failed(
                    "connect",
                    &format!("no connection within {} ms", timeout.as_millis()),
                );
                false
            }
        }
    }

    /// Checks Redis; after an outage, or when Redis lost its data, writes
    /// the local sessions back and leaves the degraded state.
    pub(super) async fn probe(&self) {
        let before = self.cell.state.load(Ordering::Acquire);
        if !self.connect().await {
            return;
        }
        let Some(remote) = self.remote_epoch().await else {
            return;
        };
        let degraded = before & DEGRADED != 0;
        let changed = lock(&self.known_epoch).as_deref() != Some(remote.as_str());
        if !degraded && !changed {
            return;
        }
        let Some(written) = self.write_back().await else {
            return;
        };
        *lock(&self.known_epoch) = Some(remote);
        if degraded {
            let healthy = before & !DEGRADED;
            let cleared = self
                .cell
                .state
                .compare_exchange(before, healthy, Ordering::AcqRel, Ordering::Acquire)
                .is_ok();
            if cleared {
                self.cell.recoveries.fetch_add(1, Ordering::Relaxed);
                tracing::info!(redis = %self.config.display_url(), written, "session store back on Redis");
            }
        } else {
            tracing::info!(redis = %self.config.display_url(), written, "Redis had lost its sessions: written back");
        }
    }

    /// Whether Redis lost its data since this replica synchronized with it
    /// (its epoch marker is gone or another); if so the store is marked
    /// degraded until the probe has written the local sessions back.
    pub(super) async fn lost_data(&self) -> bool {
        let key = self.epoch_key();
        let get = |mut conn: MultiplexedConnection| async move {
            redis::cmd("GET")
                .arg(key)
                .query_async::<Option<String>>(&mut conn)
                .await
        };
        let Some(remote) = self.attempt("GET epoch", get).await else {
            return true;
        };
        let known = lock(&self.known_epoch).clone();
        if remote.is_some() && remote == known {
            return false;
        }
        self.cell.degrade();
        tracing::warn!(redis = %self.config.display_url(), "Redis lost its sessions (restart without persistence?); writing this replica's back");
        true
    }

    /// The epoch marker, set by this replica if Redis has none (fresh or
    /// emptied); `None` when Redis does not answer.
    async fn remote_epoch(&self) -> Option<String> {
        let key = self.epoch_key();
        let fresh = SessionId::generate().ok()?.as_str().to_owned();
        // SET NX, then GET: whoever set it first names the epoch.
        let mut pipe = redis::pipe();
        pipe.cmd("SET").arg(&key).arg(fresh).arg("NX").ignore();
        pipe.cmd("GET").arg(&key);
        let epoch = |mut conn: MultiplexedConnection| async move {
            pipe.query_async::<(Option<String>,)>(&mut conn).await
        };
        self.attempt("epoch", epoch).await.and_then(|(epoch,)| epoch)
    }

    /// Replays the missed deletes, then writes every local session back
    /// (never over a newer generation). The number written, or `None` when
    /// Redis failed meanwhile.
    async fn write_back(&self) -> Option<usize> {
        let deletes: Vec<String> = lock(&self.pending_deletes).drain().collect();
        for chunk in deletes.chunks(WRITEBACK_BATCH) {
            let mut pipe = redis::pipe();
            pipe.cmd("DEL").arg(chunk).ignore();
            if self
                .attempt("write-back", |mut conn: MultiplexedConnection| async move {
                    pipe.query_async::<()>(&mut conn).await
                })
                .await
                .is_none()
            {
                lock(&self.pending_deletes).extend(deletes);
                return None;
            }
        }
        let entries = self.local.entries();
        let mut written = 0;
        for chunk in entries.chunks(WRITEBACK_BATCH) {
            let mut pipe = redis::pipe();
            for (id, record, left, idle_ttl) in chunk {
                let Some(value) = encode(record, *idle_ttl) else {
                    continue;
                };
                pipe.cmd("EVAL")
                    .arg(RESTORE_SCRIPT)
                    .arg(1)
                    .arg(self.session_key(id))
                    .arg(record.generation())
                    .arg(value)
                    .arg(millis(*left))
                    .ignore();
            }
            let write =
                |mut conn: MultiplexedConnection| async move { pipe.query_async::<()>(&mut conn).await };
            self.attempt("write-back", write).await?;
            written += chunk.len();
        }
        self.cell
            .written_back
            .fetch_add(u64::try_from(written).unwrap_or(u64::MAX), Ordering::Relaxed);
        Some(written)
    }
}
