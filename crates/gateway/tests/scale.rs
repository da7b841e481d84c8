//! Scale-out: two gateway replicas (in process) behind a real nginx
//! balancing round robin, sharing client sessions through a real
//! redis-server, in front of the testkit's real MCP server.
//!
//! Skipped, with a message, when `redis-server` or `nginx` is not installed
//! (`scripts/scale-setup.sh` installs both; CI runs it and sets
//! `MCP_SCALE_REQUIRED=1`, so there a missing one fails). Nothing here
//! asserts a duration: waits are bounded polls for a state.

mod common;

use common::{Era, RmcpClient, rmcp_client, rmcp_echo};

use std::collections::HashSet;
use std::time::Duration;

use clap::Parser;
use http::StatusCode;
use mcp_reconnect_gateway::{Cli, Gateway, GatewayConfig};
use mcp_reconnect_testkit::external::{Nginx, RedisServer, available};
use mcp_reconnect_testkit::{Fault, McpResponse, Polling, RawClient, Rule, TestUpstream, jsonrpc};
use serde_json::json;
use tokio::task::JoinSet;

/// How often a state is polled, and how many times before a test fails (30 s).
const POLL: Polling = Polling {
    every: Duration::from_millis(50),
    times: 600,
};
/// Calls per phase of a test.
const CALLS: usize = 10;
/// Sessions abandoned at once in the expiry test.
const ABANDONED: usize = 10_000;
/// Clients opening those sessions in parallel.
const OPENERS: usize = 32;

/// Two replicas, nginx in front, one Redis and one upstream behind.
struct Cluster {
    redis: RedisServer,
    upstream: TestUpstream,
    replicas: Vec<Option<Gateway>>,
    nginx: Nginx,
}

impl Cluster {
    /// `None` (and a message) when redis-server or nginx is missing.
    async fn start(env: &[(&str, &str)]) -> Option<Cluster> {
        common::log();
        if !available(&["redis-server", "nginx"]) {
            return None;
        }
        let redis = RedisServer::start().await.expect("redis-server starts");
        let upstream = TestUpstream::start().await.expect("the MCP server starts");
        // Forwarded as is, but logged: the log counts the upstream's initializes.
        upstream
            .proxy
            .push(Rule::method("initialize", Fault::Delay(Duration::ZERO)));
        let store = redis.url();
        let target = upstream.url();
        let args = [
            "--session-store",
            store.as_str(),
            "streamablehttp",
            target.as_str(),
        ];
        let a = common::gateway(&args, env).await;
        let b = common::gateway(&args, env).await;
        let nginx = Nginx::start(&[a.local_addr(), b.local_addr()])
            .await
            .expect("nginx starts");
        let cluster = Cluster {
            redis,
            upstream,
            replicas: vec![Some(a), Some(b)],
            nginx,
        };
        // Each replica's warm-up opens the gateway's own session (one initialize each).
        POLL.until("both replicas warmed up", || async { cluster.initializes() >= 2 })
            .await;
        Some(cluster)
    }

    fn mcp_url(&self) -> String {
        format!("{}/mcp", self.nginx.url())
    }

    fn replica(&self, n: usize) -> &Gateway {
        self.replicas[n].as_ref().expect("the replica runs")
    }

    /// `initialize`s the upstream received.
    fn initializes(&self) -> usize {
        let log = self.upstream.proxy.log();
        log.iter()
            .filter(|entry| entry.method.as_deref() == Some("initialize"))
            .count()
    }

    /// Kills replica `n` and waits until its port refuses connections.
    /// Dropping aborts the replica's tasks, which ends them at their next
    /// poll: until then it may still accept a connection and then close it
    /// with the request sent, and nginx never re-sends a sent POST. A killed
    /// process refuses at once; this waits for that.
    async fn kill(&mut self, n: usize) {
        let addr = self.replica(n).local_addr();
        drop(self.replicas[n].take());
        POLL.until("the killed replica refuses connections", || async {
            tokio::net::TcpStream::connect(addr).await.is_err()
        })
        .await;
    }

    /// Restarts the upstream server: it forgets every session.
    async fn restart_upstream(&mut self) {
        self.upstream
            .server
            .restart()
            .await
            .expect("the upstream restarts");
    }

    /// The replicas still running.
    fn live(&self) -> impl Iterator<Item = &Gateway> {
        self.replicas.iter().flatten()
    }

    /// Successful calls each live replica's circuit counted.
    fn successes(&self) -> Vec<u64> {
        self.live()
            .map(|gateway| {
                let snapshot = gateway.clients()[0].upstream().status.snapshot();
                let success = snapshot.requests.iter().find(|(class, _)| class.is_none());
                success.map_or(0, |&(_, n)| n)
            })
            .collect()
    }

    /// Whether a live replica's session store is degraded.
    fn degraded(&self) -> Vec<bool> {
        self.live()
            .map(|gateway| {
                let clients = gateway.clients();
                let store = clients[0].upstream().session_store.as_ref();
                store.expect("a Redis store").is_degraded()
            })
            .collect()
    }
}

/// The replica that finally answered (nginx lists every one it tried).
fn served_by(answer: &McpResponse) -> String {
    let tried = answer.headers.get("x-upstream").and_then(|v| v.to_str().ok());
    let last = tried.and_then(|tried| tried.rsplit(", ").next());
    last.expect("nginx names the replica").to_owned()
}

async fn echo(client: &mut RawClient, text: &str) -> McpResponse {
    let answer = client
        .call_tool("echo", json!({ "text": text }))
        .await
        .expect("an answer");
    assert_eq!(answer.status, StatusCode::OK, "{text}: {answer:?}");
    assert_eq!(answer.text().as_deref(), Some(text), "{answer:?}");
    answer
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_session_alternates_between_replicas_and_outlives_one() {
    let Some(mut cluster) = Cluster::start(&[]).await else {
        return;
    };
    let mut client = RawClient::new(cluster.mcp_url());
    let opened = client.initialize().await.expect("initialize");
    assert_eq!(opened.status, StatusCode::OK);

    let mut replicas = HashSet::new();
    for n in 0..CALLS {
        replicas.insert(served_by(&echo(&mut client, &format!("before {n}")).await));
    }
    let both: HashSet<String> = cluster
        .live()
        .map(|gateway| gateway.local_addr().to_string())
        .collect();
    assert_eq!(
        replicas, both,
        "round robin: both replicas served the one session"
    );

    // Replica A dies mid-run: its listener is gone, nginx moves on to B.
    let survivor = cluster.replica(1).local_addr().to_string();
    cluster.kill(0).await;
    for n in 0..CALLS {
        let answer = echo(&mut client, &format!("after {n}")).await;
        assert_eq!(served_by(&answer), survivor);
    }
    assert_eq!(
        cluster.initializes(),
        3,
        "two warm-ups and the client's: the session was never opened again"
    );
}

/// An rmcp client of each era through nginx: the legacy one (its own
/// re-initialize off, so a lost session would be its error) keeps its one
/// session across both replicas, an upstream restart (one re-initialize) and
/// a replica's death; the 2026-07-28 one has no session to keep and goes on
/// too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rmcp_clients_of_both_eras_go_on_across_replicas_restarts_and_a_dead_replica() {
    let Some(mut cluster) = Cluster::start(&[]).await else {
        return;
    };
    let legacy = rmcp_client(&cluster.mcp_url(), Era::Legacy).await;
    let stateless = rmcp_client(&cluster.mcp_url(), Era::Stateless).await;
    let opened = cluster.initializes();

    let before = cluster.successes();
    echo_both(&legacy, &stateless, "first").await;
    let after = cluster.successes();
    assert!(
        before.iter().zip(&after).all(|(b, a)| a > b),
        "round robin: both replicas served ({before:?} → {after:?})"
    );

    cluster.restart_upstream().await;
    echo_both(&legacy, &stateless, "after the restart").await;
    // The replicas' own warm-up sessions are re-initialized only when used.
    assert_eq!(
        cluster.initializes(),
        opened + 1,
        "one re-initialize, for the legacy client's session"
    );

    cluster.kill(0).await;
    echo_both(&legacy, &stateless, "on B").await;
    assert_eq!(
        cluster.initializes(),
        opened + 1,
        "the session was never opened again"
    );
    legacy.cancel().await.expect("the legacy client ends");
    stateless.cancel().await.expect("the stateless client ends");
}

/// `CALLS` echoes from each client, in turn.
async fn echo_both(legacy: &RmcpClient, stateless: &RmcpClient, phase: &str) {
    for n in 0..CALLS {
        rmcp_echo(legacy, &format!("legacy {phase} {n}")).await;
        rmcp_echo(stateless, &format!("stateless {phase} {n}")).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_restart_reinitializes_each_session_once_across_replicas() {
    let Some(mut cluster) = Cluster::start(&[]).await else {
        return;
    };
    let mut clients = Vec::new();
    for n in 0..3 {
        let mut client = RawClient::new(cluster.mcp_url());
        assert_eq!(
            client.initialize().await.expect("initialize").status,
            StatusCode::OK
        );
        echo(&mut client, &format!("client {n}")).await;
        clients.push(client);
    }
    let before = cluster.initializes();

    cluster.restart_upstream().await;
    // Every session's calls reach both replicas at once: both see the loss.
    let mut calls = JoinSet::new();
    for (n, client) in clients.iter_mut().enumerate() {
        for call in 0..4 {
            // Calls in flight together in one session need ids of their own.
            let id = client.next_id();
            let client = client.clone();
            calls.spawn(async move {
                let text = format!("client {n} call {call}");
                let call = jsonrpc::tools_call(id, "echo", json!({ "text": text }));
                let answer = client.post(&call).await.expect("an answer");
                assert_eq!(answer.status, StatusCode::OK, "{text}: {answer:?}");
                assert_eq!(answer.text(), Some(text), "{answer:?}");
                answer
            });
        }
    }
    let mut replicas = HashSet::new();
    while let Some(answer) = calls.join_next().await {
        replicas.insert(served_by(&answer.expect("the call ends")));
    }
    assert_eq!(replicas.len(), 2, "both replicas saw the restart");
    assert_eq!(
        cluster.initializes(),
        before + clients.len(),
        "one upstream re-initialize per session, whatever the replicas"
    );
    assert!(
        cluster.redis.keys("*reinit*").await.unwrap().is_empty(),
        "re-initialize claims are released"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_outage_keeps_sessions_working_and_ends_in_a_write_back() {
    let Some(mut cluster) = Cluster::start(&[]).await else {
        return;
    };
    let mut old = RawClient::new(cluster.mcp_url());
    assert_eq!(old.initialize().await.expect("initialize").status, StatusCode::OK);
    echo(&mut old, "before").await;
    assert_eq!(cluster.degraded(), [false, false]);

    cluster.redis.stop().await;
    let mut replicas = HashSet::new();
    for n in 0..CALLS {
        replicas.insert(served_by(&echo(&mut old, &format!("outage {n}")).await));
    }
    assert_eq!(replicas.len(), 2, "both replicas served it from their caches");
    assert_eq!(cluster.degraded(), [true, true]);
    let errors: Vec<u64> = cluster
        .live()
        .map(|gateway| {
            gateway.clients()[0]
                .upstream()
                .session_store
                .as_ref()
                .unwrap()
                .snapshot()
                .errors
        })
        .collect();
    assert!(
        errors.iter().all(|&n| n >= 1),
        "store errors are counted: {errors:?}"
    );
    for replica in cluster.live() {
        let (health, metrics) = store_documents(replica).await;
        assert_eq!(health.0, StatusCode::OK, "the replica itself still serves");
        assert_eq!(health.1["status"], "degraded", "{}", health.1);
        assert_eq!(health.1["session_store"]["status"], "degraded");
        assert_eq!(metrics["connection"]["session_store"]["degraded"], true);
        assert!(metrics["connection"]["session_store"]["errors"].as_u64() >= Some(1));
    }

    // A session opened meanwhile lives on the replica that opened it (here a
    // client that reaches replica B directly, as with sticky balancing).
    let mut new = RawClient::new(format!("{}/mcp", cluster.replica(1).url()));
    assert_eq!(new.initialize().await.expect("initialize").status, StatusCode::OK);
    echo(&mut new, "local").await;

    cluster.redis.start_again().await.expect("redis-server restarts");
    POLL.until("both replicas are back on Redis", || async {
        cluster.degraded() == [false, false]
    })
    .await;
    // Replica B wrote the new session back: through nginx, both replicas serve it.
    let mut through_nginx = RawClient::new(cluster.mcp_url());
    through_nginx.set_session(new.session().map(str::to_owned));
    let mut replicas = HashSet::new();
    for n in 0..CALLS {
        replicas.insert(served_by(&echo(&mut through_nginx, &format!("new {n}")).await));
    }
    for n in 0..CALLS {
        echo(&mut old, &format!("old {n}")).await;
    }
    assert_eq!(replicas.len(), 2);
    let sessions = cluster.redis.keys("*session:*").await.unwrap();
    assert_eq!(
        sessions.len(),
        4,
        "two warm-ups and two clients, nothing more: {sessions:?}"
    );
    assert!(cluster.redis.keys("*reinit*").await.unwrap().is_empty());
    for replica in cluster.live() {
        let (health, metrics) = store_documents(replica).await;
        assert_eq!(health.1["session_store"]["status"], "ok", "{}", health.1);
        let store = &metrics["connection"]["session_store"];
        assert!(store["recoveries"].as_u64() >= Some(1), "{store}");
    }
    drop(cluster.replicas[0].take());
}

/// A replica's `/health` (status and JSON) and `/metrics` JSON.
async fn store_documents(replica: &Gateway) -> ((StatusCode, serde_json::Value), serde_json::Value) {
    let http = common::Http::default();
    let health = http.get(&format!("{}/health", replica.url()), &[]).await;
    let metrics = http.get(&format!("{}/metrics", replica.url()), &[]).await;
    ((health.status, health.json()), metrics.json())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_abandoned_sessions_expire_from_redis() {
    let ttl = "2";
    // A load of new sessions on purpose: no open-rate bound.
    let Some(cluster) = Cluster::start(&[
        ("MCPO_SESSION_IDLE_TIMEOUT", ttl),
        ("MCPO_SESSION_OPEN_RATE", "0"),
    ])
    .await
    else {
        return;
    };
    let started = tokio::time::Instant::now();
    let mut openers = JoinSet::new();
    for opener in 0..OPENERS {
        let client = RawClient::new(cluster.mcp_url());
        openers.spawn(async move {
            let mut opened = 0usize;
            for n in (opener..ABANDONED).step_by(OPENERS) {
                // `initialize` only: the client never comes back.
                let answer = client
                    .post(&jsonrpc::initialize(n as u64))
                    .await
                    .expect("an answer");
                assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
                opened += 1;
            }
            opened
        });
    }
    let mut opened = 0;
    while let Some(count) = openers.join_next().await {
        opened += count.expect("the opener ends");
    }
    let took = started.elapsed();
    let peak = cluster.redis.dbsize().await.unwrap();
    eprintln!(
        "opened {opened} sessions through nginx and 2 replicas in {} ms ({:.0}/s); {peak} keys in Redis at the end",
        took.as_millis(),
        opened as f64 / took.as_secs_f64()
    );
    assert_eq!(opened, ABANDONED);
    assert!(peak > 0);
    POLL.until("every abandoned session expired from Redis", || async {
        cluster.redis.dbsize().await.unwrap() <= 1
    })
    .await;
    eprintln!(
        "all expired {} ms after the last was opened (idle TTL {ttl} s)",
        (started.elapsed() - took).as_millis()
    );
    assert_eq!(
        cluster.redis.keys("*").await.unwrap().len(),
        1,
        "only the epoch marker is left"
    );
}

#[test]
fn the_session_store_flag_takes_memory_or_a_redis_url() {
    let parse = |store: &str| {
        let cli = Cli::try_parse_from([
            "mcp-gateway",
            "--session-store",
            store,
            "streamablehttp",
            "http://127.0.0.1:9/mcp",
        ])
        .expect("arguments parse");
        GatewayConfig::from_args(&cli.serve, |_| None).map(|config| config.session_store)
    };
    assert_eq!(parse("memory").unwrap(), None);
    assert_eq!(
        parse("redis://10.0.0.5:6379/2").unwrap().as_deref(),
        Some("redis://10.0.0.5:6379/2")
    );
    let tls = parse("rediss://cache:6380").unwrap_err().to_string();
    assert!(tls.contains("rediss://"), "{tls}");
    let bad = parse("postgres://db").unwrap_err().to_string();
    assert!(bad.contains("--session-store"), "{bad}");
    let cli = Cli::try_parse_from(["mcp-gateway", "streamablehttp", "http://127.0.0.1:9/mcp"]).unwrap();
    if std::env::var_os("MCPO_SESSION_STORE").is_none() {
        let config = GatewayConfig::from_args(&cli.serve, |_| None).unwrap();
        assert_eq!(config.session_store, None, "in memory by default");
    }
}

/// The numbers in SCALING.md (run in release, on a quiet machine):
/// `cargo test --release -p mcp-reconnect-gateway --test scale -- --ignored --nocapture measure`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement, not a test"]
async fn measure_the_cost_of_a_shared_store() {
    use mcp_reconnect_upstream::session::{RedisConfig, RedisStore, SessionId, SessionRecord, SessionStore};

    const SEQUENTIAL: usize = 2000;
    const PARALLEL: usize = 16;
    const EACH: usize = 250;
    if !available(&["redis-server", "nginx"]) {
        return;
    }
    let mut redis = RedisServer::start().await.expect("redis starts");
    let upstream = TestUpstream::start().await.expect("upstream");
    let target = upstream.server.url();
    let store = redis.url();
    let memory = common::gateway(&["streamablehttp", target.as_str()], &[]).await;
    let shared = [
        "--session-store",
        store.as_str(),
        "streamablehttp",
        target.as_str(),
    ];
    let (a, b) = (
        common::gateway(&shared, &[]).await,
        common::gateway(&shared, &[]).await,
    );
    let nginx = Nginx::start(&[a.local_addr(), b.local_addr()])
        .await
        .expect("nginx");
    let targets = [
        ("memory store, direct", format!("{}/mcp", memory.url())),
        ("Redis store, direct", format!("{}/mcp", a.url())),
        ("Redis store, nginx + 2 replicas", format!("{}/mcp", nginx.url())),
    ];
    for (name, url) in &targets {
        let mut client = RawClient::new(url.clone());
        client.initialize().await.expect("initialize");
        let mut took = Vec::with_capacity(SEQUENTIAL);
        for n in 0..SEQUENTIAL {
            let started = tokio::time::Instant::now();
            echo(&mut client, &format!("{n}")).await;
            took.push(started.elapsed());
        }
        took.sort();
        let p50 = took[SEQUENTIAL / 2].as_secs_f64() * 1000.0;
        let p99 = took[SEQUENTIAL * 99 / 100].as_secs_f64() * 1000.0;
        let started = tokio::time::Instant::now();
        let mut calls = JoinSet::new();
        for _ in 0..PARALLEL {
            let mut client = RawClient::new(url.clone());
            calls.spawn(async move {
                client.initialize().await.expect("initialize");
                for n in 0..EACH {
                    echo(&mut client, &format!("{n}")).await;
                }
            });
        }
        while let Some(done) = calls.join_next().await {
            done.expect("the client ends");
        }
        let rate = (PARALLEL * EACH) as f64 / started.elapsed().as_secs_f64();
        eprintln!("{name}: c=1 p50 {p50:.3} ms p99 {p99:.3} ms; c={PARALLEL} {rate:.0} calls/s");
    }

    // Recovery: a replica with 10 000 local sessions joins a Redis that comes back.
    let config = RedisConfig::new(redis.url()).key_prefix("measure:");
    let store = RedisStore::connect(config).await.expect("store");
    redis.stop().await;
    for n in 0..ABANDONED {
        let record = SessionRecord::new(
            bytes::Bytes::from_static(br#"{"jsonrpc":"2.0","id":1,"method":"initialize"}"#),
            SessionId::parse_upstream(&http::HeaderValue::from_str(&format!("up-{n}")).unwrap()).unwrap(),
        );
        store
            .store(&SessionId::generate().unwrap(), record, Duration::from_secs(600))
            .await
            .unwrap();
    }
    let started = tokio::time::Instant::now();
    redis.start_again().await.expect("redis restarts");
    POLL.until("written back", || async { !store.stats().degraded })
        .await;
    eprintln!(
        "Redis back: {} sessions written back {} ms after its restart (probe every 1 s)",
        store.stats().written_back,
        started.elapsed().as_millis()
    );
}
