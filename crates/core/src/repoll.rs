//! A task wrapper that polls its future again, in place, when the future
//! wakes its own task from inside a poll.
//!
//! Why: hyper's HTTP/1 server runs the service in the connection's task, and
//! hyper's body channel (1.12, `body/chan.rs`) wakes the sender's waker —
//! that same task — whenever the service takes a chunk of the request body,
//! even after the sender is gone. A layer that reads the JSON-RPC message
//! (`ToolRetryLayer` does) therefore makes the connection wake itself once
//! per call. Tokio treats a task woken during its own poll as a yield: it
//! goes to the back of the run queue and an idle worker is woken to steal
//! it, which costs a `futex` wake and park pair and a worker searching for
//! work, on every call (with one call in flight the gateway spent about a
//! fifth more CPU per call on it). The task has nothing else to wait for, so
//! polling it again at once gives the same result without the detour.
//!
//! At most [`REPOLLS`] such polls run in a row; a future that keeps waking
//! itself (hyper's own fairness yield, or tokio's exhausted coop budget)
//! then yields to the scheduler as before. A wake from anywhere else while
//! the task is idle goes to the scheduler's waker unchanged.
//!
//! # Example
//!
//! Spawn each connection of a hyper server through it, as `mcp-gateway`
//! does: `tokio::spawn(Repoll::new(http1.serve_connection(io, service)))`.
//! It runs any future:
//!
//! ```
//! use mcp_reconnect_core::repoll::Repoll;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let task = tokio::spawn(Repoll::new(async { 1 + 1 }));
//! assert_eq!(task.await.unwrap(), 2);
//! # }
//! ```

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};

/// Polls in a row after a wake from inside the poll, before yielding.
pub const REPOLLS: usize = 2;

const IDLE: u8 = 0;
const POLLING: u8 = 1;
const WOKEN_WHILE_POLLING: u8 = 2;

pin_project_lite::pin_project! {
    /// Runs `inner`, polling it again at once when it wakes itself during a
    /// poll (see the module docs).
    pub struct Repoll<F> {
        #[pin]
        inner: F,
        signal: Arc<Signal>,
        waker: Waker,
    }
}

impl<F> Repoll<F> {
    /// Wraps a future; one small allocation per connection.
    pub fn new(inner: F) -> Self {
        let signal = Arc::new(Signal {
            state: AtomicU8::new(IDLE),
            task: Mutex::new(None),
        });
        let waker = Waker::from(Arc::clone(&signal));
        Repoll { inner, signal, waker }
    }
}

/// What the inner future's wakers point at.
struct Signal {
    state: AtomicU8,
    /// The scheduler's waker of the task that runs the `Repoll`.
    task: Mutex<Option<Waker>>,
}

impl Signal {
    fn remember(&self, waker: &Waker) {
        // A poisoned lock only means a waker call panicked; the slot is
        // still a plain `Option<Waker>`.
        let mut task = self.task.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        match &*task {
            Some(known) if known.will_wake(waker) => {}
            _ => *task = Some(waker.clone()),
        }
    }
}

impl Wake for Signal {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        // During a poll, leave a note for the poll loop; otherwise wake the
        // task through the scheduler.
        match self
            .state
            .compare_exchange(POLLING, WOKEN_WHILE_POLLING, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) | Err(WOKEN_WHILE_POLLING) => {}
            Err(_) => {
                let task = self.task.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                if let Some(task) = &*task {
                    task.wake_by_ref();
                }
            }
        }
    }
}

impl<F: Future> Future for Repoll<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let mut this = self.project();
        this.signal.remember(cx.waker());
        let mut inner_cx = Context::from_waker(this.waker);
        for _ in 0..=REPOLLS {
            this.signal.state.store(POLLING, Ordering::Release);
            if let Poll::Ready(output) = this.inner.as_mut().poll(&mut inner_cx) {
                this.signal.state.store(IDLE, Ordering::Release);
                return Poll::Ready(output);
            }
            if this
                .signal
                .state
                .compare_exchange(POLLING, IDLE, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                return Poll::Pending;
            }
        }
        // Still waking itself: yield to the scheduler like any other task.
        this.signal.state.store(IDLE, Ordering::Release);
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    /// Counts the scheduler's wakes.
    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn counting() -> (Arc<Count>, Waker) {
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(Arc::clone(&count));
        (count, waker)
    }

    /// Polls once with a fresh counting waker: the result and the wakes
    /// that reached that waker.
    fn poll_counting<F: Future>(future: Pin<&mut F>) -> (Poll<F::Output>, Arc<Count>) {
        let (count, waker) = counting();
        let result = future.poll(&mut Context::from_waker(&waker));
        (result, count)
    }

    #[test]
    fn a_wake_inside_the_poll_polls_again_without_the_scheduler() {
        let mut polls = 0;
        let mut future = std::pin::pin!(Repoll::new(std::future::poll_fn(|cx| {
            polls += 1;
            if polls == 1 {
                cx.waker().wake_by_ref();
                Poll::Pending
            } else {
                Poll::Ready(polls)
            }
        })));
        let (result, count) = poll_counting(future.as_mut());
        assert_eq!(result, Poll::Ready(2));
        assert_eq!(count.0.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn a_task_that_keeps_waking_itself_yields_to_the_scheduler() {
        let polls = std::cell::Cell::new(0);
        let mut future = std::pin::pin!(Repoll::new(std::future::poll_fn(|cx| {
            polls.set(polls.get() + 1);
            cx.waker().wake_by_ref();
            Poll::<()>::Pending
        })));
        let (result, count) = poll_counting(future.as_mut());
        assert!(result.is_pending());
        assert_eq!(count.0.load(Ordering::Relaxed), 1, "yielded once");
        assert_eq!(polls.get(), REPOLLS + 1);
    }

    #[test]
    fn a_wake_while_idle_reaches_the_scheduler() {
        let stored = std::cell::RefCell::new(None::<Waker>);
        let mut future = std::pin::pin!(Repoll::new(std::future::poll_fn(|cx| {
            *stored.borrow_mut() = Some(cx.waker().clone());
            Poll::<()>::Pending
        })));
        let (result, count) = poll_counting(future.as_mut());
        assert!(result.is_pending());
        assert_eq!(count.0.load(Ordering::Relaxed), 0);
        let inner = stored
            .borrow_mut()
            .take()
            .expect("the inner future registered a waker");
        inner.wake_by_ref();
        inner.wake();
        assert_eq!(count.0.load(Ordering::Relaxed), 2);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn wakes_from_other_tasks_are_not_lost() {
        let (sender, receiver) = tokio::sync::mpsc::channel::<usize>(1);
        let consumer = tokio::spawn(Repoll::new(async move {
            let mut receiver = receiver;
            let mut sum = 0;
            while let Some(n) = receiver.recv().await {
                sum += n;
            }
            sum
        }));
        for n in 0..1000 {
            sender.send(n).await.expect("consumer alive");
        }
        drop(sender);
        assert_eq!(consumer.await.expect("no panic"), (0..1000).sum::<usize>());
    }

    pin_project_lite::pin_project! {
        /// Counts the wakes its task gets from inside its own poll (what
        /// tokio turns into a yield).
        struct SelfWakes<F> {
            #[pin]
            inner: F,
            count: Arc<SelfWakeCount>,
        }
    }

    #[derive(Default)]
    struct SelfWakeCount {
        polling: std::sync::atomic::AtomicBool,
        wakes: AtomicUsize,
    }

    struct Forward {
        count: Arc<SelfWakeCount>,
        task: Waker,
    }

    impl Wake for Forward {
        fn wake(self: Arc<Self>) {
            self.wake_by_ref();
        }
        fn wake_by_ref(self: &Arc<Self>) {
            if self.count.polling.load(Ordering::SeqCst) {
                self.count.wakes.fetch_add(1, Ordering::SeqCst);
            }
            self.task.wake_by_ref();
        }
    }

    impl<F: Future> Future for SelfWakes<F> {
        type Output = F::Output;
        fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
            let this = self.project();
            let waker = Waker::from(Arc::new(Forward {
                count: Arc::clone(this.count),
                task: cx.waker().clone(),
            }));
            this.count.polling.store(true, Ordering::SeqCst);
            let result = this.inner.poll(&mut Context::from_waker(&waker));
            this.count.polling.store(false, Ordering::SeqCst);
            result
        }
    }

    const CALLS: usize = 20;

    /// Serves one connection of a hyper server whose service reads the
    /// request body, sends `CALLS` requests on it, and returns how many times
    /// the connection's task woke itself.
    async fn self_wakes_serving(repoll: bool) -> usize {
        use http_body_util::BodyExt;
        use hyper_util::rt::TokioIo;
        use tokio::io::{AsyncReadExt, AsyncWriteExt};

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let count = Arc::new(SelfWakeCount::default());
        let server = {
            let count = Arc::clone(&count);
            tokio::spawn(async move {
                let (stream, _) = listener.accept().await.unwrap();
                let service =
                    hyper::service::service_fn(|request: http::Request<hyper::body::Incoming>| async {
                        let body = request.into_body().collect().await?.to_bytes();
                        Ok::<_, hyper::Error>(http::Response::new(http_body_util::Full::new(body)))
                    });
                let connection = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service);
                let _ = if repoll {
                    SelfWakes {
                        inner: Repoll::new(connection),
                        count,
                    }
                    .await
                } else {
                    SelfWakes {
                        inner: connection,
                        count,
                    }
                    .await
                };
            })
        };
        let mut client = tokio::net::TcpStream::connect(addr).await.unwrap();
        let request = b"POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\n\r\n{}";
        let mut answer = [0u8; 1024];
        for _ in 0..CALLS {
            client.write_all(request).await.unwrap();
            let mut read = 0;
            while !answer[..read].ends_with(b"{}") {
                let n = client.read(&mut answer[read..]).await.unwrap();
                assert!(n > 0, "the server closed the connection");
                read += n;
            }
        }
        drop(client);
        server.await.unwrap();
        count.wakes.load(Ordering::SeqCst)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_hyper_connection_whose_service_reads_the_body_stops_waking_itself() {
        // Without `Repoll`, hyper 1.12 wakes the connection from inside its
        // own poll once per call. If this first check fails after a hyper
        // upgrade, hyper stopped doing that and `Repoll` may not be needed.
        assert!(
            self_wakes_serving(false).await >= CALLS,
            "hyper no longer wakes the connection task when the body is read"
        );
        // With it, the wakes are gone; a loaded machine may still show a
        // stray one (a wake that lands while the task is being polled), so
        // the bound is "almost none", not exactly zero.
        let repolled = self_wakes_serving(true).await;
        assert!(
            repolled * 10 <= CALLS,
            "{repolled} self-wakes in {CALLS} calls with Repoll"
        );
    }
}
