//! One message link to a server, whatever carries it (a child's stdin and
//! stdout, or a legacy SSE stream and its `POST` endpoint): the table of
//! calls waiting for answers, the ids the gateway gives them, the server's
//! notifications, and how the link ends.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use bytes::Bytes;
use serde_json::{Map, Value, json};
use tokio::sync::{broadcast, mpsc, oneshot, watch};

use crate::error::Dead;

/// How many server notifications a slow `GET` stream may fall behind before it skips some.
const NOTIFICATION_BACKLOG: usize = 256;
/// Messages queued for the server before writers wait.
const OUTGOING_QUEUE: usize = 64;

/// A link, shared by every clone of its service. Dropping the last handle
/// drops `stop`, which ends the transport (a child is stopped, a stream closed).
pub(crate) struct Link {
    pub(crate) name: Arc<str>,
    /// The session id the link's service hands out (the next link has another).
    pub(crate) session: String,
    outgoing: mpsc::Sender<Outgoing>,
    waiting: Arc<Mutex<Waiting>>,
    next_id: AtomicU64,
    pub(crate) notifications: broadcast::Sender<Bytes>,
    pub(crate) dead: watch::Receiver<Option<Arc<str>>>,
    pub(crate) pid: Option<u32>,
    _stop: Box<dyn Send + Sync>,
}

/// One message for the server; `written` is set as its write starts.
pub(crate) struct Outgoing {
    pub(crate) message: Vec<u8>,
    pub(crate) written: Option<Arc<AtomicBool>>,
}

/// What the transport's tasks hold: the queue to write, and where to put what they read.
pub(crate) struct Ends {
    pub(crate) queue: mpsc::Receiver<Outgoing>,
    pub(crate) inbox: Inbox,
    pub(crate) ending: Ending,
}

/// The calls waiting for an answer, by the id the gateway gave them.
#[derive(Default)]
struct Waiting {
    calls: HashMap<u64, Waiter>,
    /// Why the link is gone, once it is: no call waits after that.
    ended: Option<Arc<str>>,
}

struct Waiter {
    written: Arc<AtomicBool>,
    answer: oneshot::Sender<Result<Value, Dead>>,
}

fn lock(waiting: &Mutex<Waiting>) -> MutexGuard<'_, Waiting> {
    // The table stays consistent under a panic (each step is one insert or remove).
    waiting.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Link {
    /// A link named `name` (`kind` says what carries it, for logs), and the
    /// ends its transport's tasks serve. `stop` is dropped with the last handle.
    pub(crate) fn new(
        kind: &'static str,
        name: Arc<str>,
        session: String,
        pid: Option<u32>,
        stop: Box<dyn Send + Sync>,
    ) -> (Arc<Link>, Ends) {
        let waiting = Arc::new(Mutex::new(Waiting::default()));
        let (dead_tx, dead) = watch::channel(None);
        let ending = Ending {
            waiting: Arc::clone(&waiting),
            dead: Arc::new(dead_tx),
            name: Arc::clone(&name),
            kind,
        };
        let (outgoing, queue) = mpsc::channel(OUTGOING_QUEUE);
        let (notifications, _) = broadcast::channel(NOTIFICATION_BACKLOG);
        let inbox = Inbox {
            waiting: Arc::clone(&waiting),
            outgoing: outgoing.clone(),
            notifications: notifications.clone(),
            ending: ending.clone(),
            not_json: AtomicU64::new(0),
        };
        let link = Arc::new(Link {
            name,
            session,
            outgoing,
            waiting,
            next_id: AtomicU64::new(1),
            notifications,
            dead,
            pid,
            _stop: stop,
        });
        (link, Ends { queue, inbox, ending })
    }

    /// Calls waiting for the server's answer now.
    pub(crate) fn calls_waiting(&self) -> usize {
        lock(&self.waiting).calls.len()
    }

    /// Why the link is gone, if it is.
    pub(crate) fn ended(&self) -> Option<Arc<str>> {
        self.dead.borrow().clone()
    }

    /// Sends `message` (a JSON-RPC request object) under an id of the
    /// gateway's and waits for the server's answer, whose id is then the
    /// request's own again.
    pub(crate) async fn call(&self, mut message: Map<String, Value>) -> Result<Value, Dead> {
        let original = message.remove("id").unwrap_or(Value::Null);
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        message.insert("id".to_owned(), Value::from(id));
        let written = Arc::new(AtomicBool::new(false));
        let (answer, answered) = oneshot::channel();
        {
            let mut waiting = lock(&self.waiting);
            if let Some(why) = &waiting.ended {
                return Err(Dead::before_sending(why));
            }
            waiting.calls.insert(
                id,
                Waiter {
                    written: Arc::clone(&written),
                    answer,
                },
            );
        }
        // A call given up on (its deadline passed, its client left) takes its
        // entry with it: a server that never answers cannot fill the table.
        // The handshake's `initialize` is never cancelled (the spec forbids it).
        let _entry = Entry {
            waiting: &self.waiting,
            outgoing: &self.outgoing,
            id,
            cancel: message.get("method").and_then(Value::as_str) != Some("initialize"),
        };
        let sent = self.outgoing.send(Outgoing {
            message: serde_json::to_vec(&message).unwrap_or_default(),
            written: Some(Arc::clone(&written)),
        });
        if sent.await.is_err() {
            return Err(Dead::before_sending(
                &self.ended().unwrap_or_else(|| Arc::from("its writer stopped")),
            ));
        }
        let mut reply = match answered.await {
            Ok(reply) => reply?,
            Err(_) => {
                return Err(Dead::after_sending(
                    "its reader stopped",
                    written.load(Ordering::Relaxed),
                ));
            }
        };
        if let Value::Object(reply) = &mut reply {
            reply.insert("id".to_owned(), original);
        }
        Ok(reply)
    }

    /// Sends a notification (no answer is expected).
    pub(crate) async fn notify(&self, message: &Value) -> Result<(), Dead> {
        let message = serde_json::to_vec(message).unwrap_or_default();
        self.outgoing
            .send(Outgoing {
                message,
                written: None,
            })
            .await
            .map_err(|_| {
                Dead::before_sending(&self.ended().unwrap_or_else(|| Arc::from("its writer stopped")))
            })
    }
}

/// Removes a call's entry from the table when the call ends, however it ends.
/// A call given up on after its request was written is cancelled at the
/// server (`notifications/cancelled` under the gateway's id, which no other
/// client's call shares), so that the server can stop working on it.
struct Entry<'a> {
    waiting: &'a Mutex<Waiting>,
    outgoing: &'a mpsc::Sender<Outgoing>,
    id: u64,
    cancel: bool,
}

impl Drop for Entry<'_> {
    fn drop(&mut self) {
        // Still in the table: no answer came (an answered call was taken out by the inbox).
        let Some(waiter) = lock(self.waiting).calls.remove(&self.id) else {
            return;
        };
        if self.cancel && waiter.written.load(Ordering::Relaxed) {
            let notice = cancelled(self.id);
            // Best effort: a full queue means the server is behind anyway,
            // and its answer, when it comes, has no one to go to.
            let _ = self.outgoing.try_send(Outgoing {
                message: serde_json::to_vec(&notice).unwrap_or_default(),
                written: None,
            });
        }
    }
}

/// The notice that the gateway's call `id` is given up on.
fn cancelled(id: u64) -> Value {
    json!({
        "jsonrpc": "2.0",
        "method": "notifications/cancelled",
        "params": {"requestId": id, "reason": "the client gave up on the call"},
    })
}

impl Drop for Link {
    fn drop(&mut self) {
        tracing::debug!(server = %self.name, "server link released; closing it");
    }
}

/// Ends a link once: fails every waiting call and tells watchers why.
#[derive(Clone)]
pub(crate) struct Ending {
    waiting: Arc<Mutex<Waiting>>,
    dead: Arc<watch::Sender<Option<Arc<str>>>>,
    pub(crate) name: Arc<str>,
    kind: &'static str,
}

impl Ending {
    pub(crate) fn end(&self, why: &str) {
        let calls = {
            let mut waiting = lock(&self.waiting);
            if waiting.ended.is_some() {
                return;
            }
            waiting.ended = Some(Arc::from(why));
            std::mem::take(&mut waiting.calls)
        };
        tracing::warn!(server = %self.name, calls = calls.len(), "{} server gone: {why}", self.kind);
        // Watchers first: a call that learns of the end finds the link ended.
        self.dead.send_replace(Some(Arc::from(why)));
        for (_, waiter) in calls {
            let written = waiter.written.load(Ordering::Relaxed);
            let _ = waiter.answer.send(Err(Dead::after_sending(why, written)));
        }
    }
}

/// Where the transport puts each message the server sends.
pub(crate) struct Inbox {
    waiting: Arc<Mutex<Waiting>>,
    outgoing: mpsc::Sender<Outgoing>,
    notifications: broadcast::Sender<Bytes>,
    pub(crate) ending: Ending,
    not_json: AtomicU64,
}

impl Inbox {
    /// Hands one message of the server's on: an answer to its call, a
    /// notification to the `GET` streams; a request of the server's is
    /// answered here (see [`refuse`]). `false` once the link can no longer write.
    pub(crate) async fn receive(&self, message: &[u8]) -> bool {
        if message.iter().all(u8::is_ascii_whitespace) {
            return true;
        }
        let Ok(Value::Object(mut parsed)) = serde_json::from_slice::<Value>(message) else {
            let skipped = self.not_json.fetch_add(1, Ordering::Relaxed) + 1;
            if skipped <= 10 || skipped.is_power_of_two() {
                tracing::warn!(server = %self.ending.name, messages = skipped, "the {} server sent something that is not a JSON-RPC message; skipped", self.ending.kind);
            }
            return true;
        };
        let has_method = parsed.get("method").is_some_and(Value::is_string);
        match (has_method, parsed.get("id").cloned()) {
            (true, Some(id)) => {
                let method = parsed.get("method").and_then(Value::as_str).unwrap_or_default();
                let reply = refuse(self.ending.kind, method, id);
                let outgoing = Outgoing {
                    message: serde_json::to_vec(&reply).unwrap_or_default(),
                    written: None,
                };
                return self.outgoing.send(outgoing).await.is_ok();
            }
            (true, None) => {
                let _ = self.notifications.send(Bytes::copy_from_slice(message));
            }
            (false, Some(id)) => {
                let waiter = id.as_u64().and_then(|id| lock(&self.waiting).calls.remove(&id));
                match waiter {
                    Some(waiter) => {
                        parsed.remove("id");
                        let _ = waiter.answer.send(Ok(Value::Object(parsed)));
                    }
                    None => tracing::debug!(server = %self.ending.name, %id, "an answer to no call; skipped"),
                }
            }
            (false, None) => {}
        }
        true
    }
}

/// The gateway's answer to a request the server sends. Clients share the
/// link, so a request of the server's (sampling, elicitation, roots) has no
/// one client to go to: `ping` is answered, the rest refused, clearly.
fn refuse(kind: &str, method: &str, id: Value) -> Value {
    if method == "ping" {
        return json!({"jsonrpc": "2.0", "id": id, "result": {}});
    }
    json!({"jsonrpc": "2.0", "id": id, "error": {
        "code": -32601,
        "message": format!("mcp-gateway does not relay requests from a {kind} server to its clients ({method})"),
    }})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_servers_requests_are_answered_ping_or_refused_by_name() {
        assert_eq!(
            refuse("stdio", "ping", json!(3)),
            json!({"jsonrpc": "2.0", "id": 3, "result": {}})
        );
        let refused = refuse("stdio", "sampling/createMessage", json!("s1"));
        assert_eq!(
            (refused["id"].clone(), refused["error"]["code"].clone()),
            (json!("s1"), json!(-32601))
        );
        let message = refused["error"]["message"].as_str().unwrap_or_default();
        assert!(
            message.contains("does not relay") && message.contains("sampling/createMessage"),
            "{message}"
        );
    }
}
