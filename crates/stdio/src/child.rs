//! One running child: its stdin writer, stdout reader, stderr logger and
//! reaper, and the table of calls waiting for its answers.

use std::collections::HashMap;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use serde_json::{Value, json};
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::process::{ChildStderr, ChildStdin, ChildStdout};
use tokio::sync::{broadcast, mpsc, oneshot, watch};

use crate::config::StdioConfig;
use crate::error::{Dead, SpawnError};
use crate::lines::{Read, read_line, skip_line};
use crate::target::StdioTarget;

/// How many child notifications a slow `GET` stream may fall behind before it skips some.
const NOTIFICATION_BACKLOG: usize = 256;
/// Lines queued for the child's stdin before writers wait.
const STDIN_QUEUE: usize = 64;
/// The longest stderr line logged (the rest of it is skipped).
const STDERR_LINE: usize = 8 * 1024;
/// stderr lines logged at once, then this many a second (the rest are counted).
const STDERR_BURST: u32 = 50;

/// A running child, shared by every clone of its service. Dropping the last
/// handle stops it (`TERM` to its process group, `KILL` after the grace).
pub(crate) struct Child {
    pub(crate) name: Arc<str>,
    /// The session id the child's service hands out (a respawned child has another).
    pub(crate) session: String,
    outgoing: mpsc::Sender<Outgoing>,
    waiting: Arc<Mutex<Waiting>>,
    next_id: AtomicU64,
    pub(crate) notifications: broadcast::Sender<Bytes>,
    pub(crate) dead: watch::Receiver<Option<Arc<str>>>,
    stop: Stop,
}

/// A line for the child's stdin; `written` is set as its write starts.
struct Outgoing {
    line: Vec<u8>,
    written: Option<Arc<AtomicBool>>,
}

/// The calls waiting for an answer, by the id the gateway gave them.
#[derive(Default)]
struct Waiting {
    calls: HashMap<u64, Waiter>,
    /// Why the child is gone, once it is: no call waits after that.
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

/// The generation of the next child, so every child's session id differs.
static GENERATION: AtomicU64 = AtomicU64::new(1);

impl Child {
    /// Starts `target` in a process group of its own, with the tasks that serve it.
    pub(crate) fn spawn(target: &StdioTarget, config: &StdioConfig) -> Result<Arc<Child>, SpawnError> {
        let mut command = tokio::process::Command::new(&target.command);
        command
            .args(&target.args)
            .env_clear()
            .envs(target.environment(|key| std::env::var(key).ok()))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            // The last resort when the runtime goes before the reaper could stop it.
            .kill_on_drop(true);
        if let Some(dir) = &target.cwd {
            command.current_dir(dir);
        }
        let mut child = command.spawn().map_err(|source| SpawnError {
            command: target.command_line(),
            source,
        })?;
        let pid = child.id();
        let (Some(stdin), Some(stdout), Some(stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            return Err(SpawnError {
                command: target.command_line(),
                source: std::io::Error::other("the child's pipes were not opened"),
            });
        };
        let name = Arc::clone(&target.name);
        let waiting = Arc::new(Mutex::new(Waiting::default()));
        let (dead_tx, dead) = watch::channel(None);
        let ending = Ending {
            waiting: Arc::clone(&waiting),
            dead: Arc::new(dead_tx),
            name: Arc::clone(&name),
        };
        let (outgoing, queue) = mpsc::channel(STDIN_QUEUE);
        let (notifications, _) = broadcast::channel(NOTIFICATION_BACKLOG);
        let (stop_tx, stop_rx) = oneshot::channel();
        tokio::spawn(write_stdin(stdin, queue, ending.clone()));
        tokio::spawn(read_stdout(
            stdout,
            config.max_line,
            Arc::clone(&waiting),
            outgoing.clone(),
            notifications.clone(),
            ending.clone(),
        ));
        tokio::spawn(log_stderr(stderr, Arc::clone(&name)));
        tokio::spawn(reap(child, stop_rx, config.stop_grace, ending));
        let generation = GENERATION.fetch_add(1, Ordering::Relaxed);
        tracing::info!(server = %name, pid, command = %target.command_line(), "stdio server started");
        Ok(Arc::new(Child {
            name,
            session: format!("stdio-{}-{generation}", pid.unwrap_or(0)),
            outgoing,
            waiting,
            next_id: AtomicU64::new(1),
            notifications,
            dead,
            stop: Stop {
                pid,
                stop: Some(stop_tx),
            },
        }))
    }

    /// Calls waiting for the child's answer now.
    pub(crate) fn calls_waiting(&self) -> usize {
        lock(&self.waiting).calls.len()
    }

    /// The child's process id (its process group's too).
    pub(crate) fn pid(&self) -> Option<u32> {
        self.stop.pid
    }

    /// Why the child is gone, if it is.
    pub(crate) fn ended(&self) -> Option<Arc<str>> {
        self.dead.borrow().clone()
    }

    /// Sends `message` (a JSON-RPC request object) under an id of the
    /// gateway's and waits for the child's answer, whose id is then the
    /// request's own again.
    pub(crate) async fn call(&self, mut message: serde_json::Map<String, Value>) -> Result<Value, Dead> {
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
        // entry with it: a child that never answers cannot fill the table.
        let _entry = Entry {
            waiting: &self.waiting,
            id,
        };
        let line = serde_json::to_vec(&message).unwrap_or_default();
        let sent = self.outgoing.send(Outgoing {
            line,
            written: Some(Arc::clone(&written)),
        });
        if sent.await.is_err() {
            return Err(Dead::before_sending(
                &self.ended().unwrap_or_else(|| Arc::from("stdin closed")),
            ));
        }
        let mut reply = match answered.await {
            Ok(reply) => reply?,
            Err(_) => {
                return Err(Dead::after_sending(
                    "the child's reader stopped",
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
        let line = serde_json::to_vec(message).unwrap_or_default();
        self.outgoing
            .send(Outgoing { line, written: None })
            .await
            .map_err(|_| Dead::before_sending(&self.ended().unwrap_or_else(|| Arc::from("stdin closed"))))
    }
}

/// Removes a call's entry from the table when the call ends, however it ends.
struct Entry<'a> {
    waiting: &'a Mutex<Waiting>,
    id: u64,
}

impl Drop for Entry<'_> {
    fn drop(&mut self) {
        lock(self.waiting).calls.remove(&self.id);
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        tracing::debug!(server = %self.name, "stdio server released; stopping it");
    }
}

/// Stops the child when the last handle goes: `TERM` to its process group
/// now, and the reaper escalates to `KILL` after the grace.
struct Stop {
    pid: Option<u32>,
    stop: Option<oneshot::Sender<()>>,
}

impl Drop for Stop {
    fn drop(&mut self) {
        signal_group(self.pid, rustix::process::Signal::TERM);
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Signals the process group led by `pid` (the child was started as its leader).
fn signal_group(pid: Option<u32>, signal: rustix::process::Signal) {
    let Some(pid) = pid
        .and_then(|pid| i32::try_from(pid).ok())
        .and_then(rustix::process::Pid::from_raw)
    else {
        return;
    };
    // ESRCH: the group is gone already.
    let _ = rustix::process::kill_process_group(pid, signal);
}

/// Ends a child once: fails every waiting call and tells watchers why.
#[derive(Clone)]
struct Ending {
    waiting: Arc<Mutex<Waiting>>,
    dead: Arc<watch::Sender<Option<Arc<str>>>>,
    name: Arc<str>,
}

impl Ending {
    fn end(&self, why: &str) {
        let calls = {
            let mut waiting = lock(&self.waiting);
            if waiting.ended.is_some() {
                return;
            }
            waiting.ended = Some(Arc::from(why));
            std::mem::take(&mut waiting.calls)
        };
        tracing::warn!(server = %self.name, calls = calls.len(), "stdio server gone: {why}");
        for (_, waiter) in calls {
            let written = waiter.written.load(Ordering::Relaxed);
            let _ = waiter.answer.send(Err(Dead::after_sending(why, written)));
        }
        self.dead.send_replace(Some(Arc::from(why)));
    }
}

async fn write_stdin(mut stdin: ChildStdin, mut queue: mpsc::Receiver<Outgoing>, ending: Ending) {
    while let Some(Outgoing { mut line, written }) = queue.recv().await {
        if let Some(written) = &written {
            written.store(true, Ordering::Relaxed);
        }
        line.push(b'\n');
        let wrote = async {
            stdin.write_all(&line).await?;
            stdin.flush().await
        };
        if let Err(error) = wrote.await {
            // A broken pipe usually means it exited: the reaper's exit status says more.
            tokio::time::sleep(Duration::from_millis(200)).await;
            ending.end(&format!("writing to its stdin failed: {error}"));
            return;
        }
    }
}

async fn read_stdout(
    stdout: ChildStdout,
    max_line: usize,
    waiting: Arc<Mutex<Waiting>>,
    outgoing: mpsc::Sender<Outgoing>,
    notifications: broadcast::Sender<Bytes>,
    ending: Ending,
) {
    let mut reader = BufReader::new(stdout);
    let mut line = Vec::new();
    let mut not_json = 0u64;
    loop {
        match read_line(&mut reader, &mut line, max_line).await {
            Ok(Read::Line) => {}
            Ok(Read::TooLong) => {
                ending.end(&format!("it wrote a line over {max_line} bytes to stdout"));
                return;
            }
            Ok(Read::Eof) => {
                // The reaper usually has the exit status a moment later; it says more.
                tokio::time::sleep(Duration::from_millis(200)).await;
                ending.end("its stdout closed");
                return;
            }
            Err(error) => {
                ending.end(&format!("reading its stdout failed: {error}"));
                return;
            }
        }
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let Ok(Value::Object(mut message)) = serde_json::from_slice::<Value>(&line) else {
            not_json += 1;
            if not_json <= 10 || not_json.is_power_of_two() {
                tracing::warn!(server = %ending.name, lines = not_json, "the stdio server wrote a line that is not a JSON-RPC message; skipped");
            }
            continue;
        };
        let has_method = message.get("method").is_some_and(Value::is_string);
        match (has_method, message.get("id").cloned()) {
            // A request of the child's: answered here (see `refuse`).
            (true, Some(id)) => {
                let method = message.get("method").and_then(Value::as_str).unwrap_or_default();
                let reply = refuse(method, id);
                let line = serde_json::to_vec(&reply).unwrap_or_default();
                if outgoing.send(Outgoing { line, written: None }).await.is_err() {
                    return;
                }
            }
            (true, None) => {
                let _ = notifications.send(Bytes::copy_from_slice(&line));
            }
            (false, Some(id)) => {
                let waiter = id.as_u64().and_then(|id| lock(&waiting).calls.remove(&id));
                match waiter {
                    Some(waiter) => {
                        message.remove("id");
                        let _ = waiter.answer.send(Ok(Value::Object(message)));
                    }
                    None => tracing::debug!(server = %ending.name, %id, "an answer to no call; skipped"),
                }
            }
            (false, None) => {}
        }
    }
}

/// The gateway's answer to a request the child sends. Clients share the
/// child, so a request of the server's (sampling, elicitation, roots) has
/// no one client to go to: `ping` is answered, the rest refused, clearly.
fn refuse(method: &str, id: Value) -> Value {
    if method == "ping" {
        return json!({"jsonrpc": "2.0", "id": id, "result": {}});
    }
    json!({"jsonrpc": "2.0", "id": id, "error": {
        "code": -32601,
        "message": format!("mcp-gateway does not relay requests from a stdio server to its clients ({method})"),
    }})
}

async fn log_stderr(stderr: ChildStderr, name: Arc<str>) {
    let mut reader = BufReader::new(stderr);
    let mut line = Vec::new();
    let mut tokens = STDERR_BURST;
    let mut refilled = tokio::time::Instant::now();
    let mut dropped = 0u64;
    loop {
        let read = match read_line(&mut reader, &mut line, STDERR_LINE).await {
            Ok(Read::Eof) | Err(_) => return,
            Ok(read) => read,
        };
        let elapsed = refilled.elapsed();
        if elapsed >= Duration::from_secs(1) {
            let whole = u32::try_from(elapsed.as_secs()).unwrap_or(u32::MAX);
            tokens = tokens
                .saturating_add(whole.saturating_mul(STDERR_BURST))
                .min(STDERR_BURST);
            refilled = tokio::time::Instant::now();
        }
        if tokens == 0 {
            dropped += 1;
        } else {
            tokens -= 1;
            if dropped > 0 {
                tracing::info!(target: "mcp_reconnect_stdio::stderr", server = %name, "({dropped} stderr lines not logged)");
                dropped = 0;
            }
            let text = String::from_utf8_lossy(&line);
            let cut = if read == Read::TooLong { " [cut]" } else { "" };
            tracing::info!(target: "mcp_reconnect_stdio::stderr", server = %name, "{text}{cut}");
        }
        if read == Read::TooLong && !skip_line(&mut reader).await.unwrap_or(false) {
            return;
        }
    }
}

/// Waits for the child; on a stop, `TERM` (sent by [`Stop`]) then `KILL`
/// after `grace`. Either way the child is reaped (no zombie) and whatever is
/// left of its process group is killed.
async fn reap(
    mut child: tokio::process::Child,
    stop: oneshot::Receiver<()>,
    grace: Duration,
    ending: Ending,
) {
    let pid = child.id();
    let status = tokio::select! {
        status = child.wait() => status,
        _ = stop => match tokio::time::timeout(grace, child.wait()).await {
            Ok(status) => status,
            Err(_) => {
                signal_group(pid, rustix::process::Signal::KILL);
                child.wait().await
            }
        },
    };
    let why = match &status {
        Ok(status) => format!("it exited ({status})"),
        Err(error) => format!("waiting for it failed: {error}"),
    };
    ending.end(&why);
    signal_group(pid, rustix::process::Signal::KILL);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_childs_requests_are_answered_ping_or_refused_by_name() {
        assert_eq!(
            refuse("ping", json!(3)),
            json!({"jsonrpc": "2.0", "id": 3, "result": {}})
        );
        let refused = refuse("sampling/createMessage", json!("s1"));
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
