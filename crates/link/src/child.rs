//! A stdio server's link: the child in a process group of its own, its
//! stdin writer, stdout reader, stderr logger and reaper.

use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncWriteExt, BufReader};
use tokio::process::{ChildStderr, ChildStdin, ChildStdout};
use tokio::sync::{mpsc, oneshot};

use crate::config::StdioConfig;
use crate::error::SpawnError;
use crate::lines::{Read, read_line, skip_line};
use crate::link::{Ending, Inbox, Link, Outgoing};
use crate::target::StdioTarget;

/// The longest stderr line logged (the rest of it is skipped).
const STDERR_LINE: usize = 8 * 1024;
/// stderr lines logged at once, then this many a second (the rest are counted).
const STDERR_BURST: u32 = 50;

/// The generation of the next child, so every child's session id differs.
static GENERATION: AtomicU64 = AtomicU64::new(1);

/// Starts `target` in a process group of its own, with the tasks that serve
/// it. Dropping the link's last handle stops the child (`TERM` to its
/// process group, `KILL` after the grace).
pub(crate) fn spawn(target: &StdioTarget, config: &StdioConfig) -> Result<Arc<Link>, SpawnError> {
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
    let (stop_tx, stop_rx) = oneshot::channel();
    let generation = GENERATION.fetch_add(1, Ordering::Relaxed);
    let stop = Stop {
        pid,
        stop: Some(stop_tx),
    };
    let session = format!("stdio-{}-{generation}", pid.unwrap_or(0));
    let (link, ends) = Link::new("stdio", Arc::clone(&name), session, pid, Box::new(stop));
    tokio::spawn(write_stdin(stdin, ends.queue, ends.ending.clone()));
    tokio::spawn(read_stdout(stdout, config.max_line, ends.inbox));
    tokio::spawn(log_stderr(stderr, Arc::clone(&name)));
    tokio::spawn(reap(child, stop_rx, config.stop_grace, ends.ending));
    tracing::info!(server = %name, pid, command = %target.command_line(), "stdio server started");
    Ok(link)
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

async fn write_stdin(mut stdin: ChildStdin, mut queue: mpsc::Receiver<Outgoing>, ending: Ending) {
    while let Some(Outgoing { mut message, written }) = queue.recv().await {
        if let Some(written) = &written {
            written.store(true, Ordering::Relaxed);
        }
        message.push(b'\n');
        let wrote = async {
            stdin.write_all(&message).await?;
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

async fn read_stdout(stdout: ChildStdout, max_line: usize, inbox: Inbox) {
    let mut reader = BufReader::new(stdout);
    let mut line = Vec::new();
    loop {
        match read_line(&mut reader, &mut line, max_line).await {
            Ok(Read::Line) => {}
            Ok(Read::TooLong) => {
                inbox
                    .ending
                    .end(&format!("it wrote a line over {max_line} bytes to stdout"));
                return;
            }
            Ok(Read::Eof) => {
                // The reaper usually has the exit status a moment later; it says more.
                tokio::time::sleep(Duration::from_millis(200)).await;
                inbox.ending.end("its stdout closed");
                return;
            }
            Err(error) => {
                inbox.ending.end(&format!("reading its stdout failed: {error}"));
                return;
            }
        }
        if !inbox.receive(&line).await {
            return;
        }
    }
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
                tracing::info!(target: "mcp_reconnect_link::stderr", server = %name, "({dropped} stderr lines not logged)");
                dropped = 0;
            }
            let text = String::from_utf8_lossy(&line);
            let cut = if read == Read::TooLong { " [cut]" } else { "" };
            tracing::info!(target: "mcp_reconnect_link::stderr", server = %name, "{text}{cut}");
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
