//! `RedisStore` against a real `redis-server` (started per test on a free
//! port; the tests are skipped with a message when it is not installed —
//! `scripts/scale-setup.sh` installs it).

use std::sync::Arc;
use std::sync::atomic::Ordering as AtomicOrdering;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode};
use http_body_util::Full;
use mcp_reconnect_core::headers::MCP_SESSION_ID;
use mcp_reconnect_testkit::Polling;
use mcp_reconnect_testkit::external::{RedisServer, Reply as RedisReply, available};
use tokio::sync::Semaphore;
use tower::{Layer, ServiceExt};

use super::codec::{decode, encode, epoch_millis};
use super::{RedisConfig, RedisStore};
use crate::config::SessionConfig;
use crate::future::SessionBody;
use crate::id::SessionId;
use crate::layer::SessionLayer;
use crate::store::{ReinitClaim, SessionRecord, SessionStore, Swap};
use crate::tests::{CALL, Fake, INIT, Upstream, post, upstream};

/// How often a condition is checked, and how many times, before a test fails (10 s).
const POLL: Polling = Polling {
    every: Duration::from_millis(25),
    times: 400,
};
/// A short probe interval, so returns and write-backs happen quickly.
const PROBE: Duration = Duration::from_millis(50);
const TTL: Duration = Duration::from_secs(60);

async fn redis() -> Option<RedisServer> {
    if !available(&["redis-server"]) {
        return None;
    }
    Some(RedisServer::start().await.expect("redis-server starts"))
}

fn config(redis: &RedisServer) -> RedisConfig {
    RedisConfig::new(redis.url()).probe_interval(PROBE)
}

async fn store(redis: &RedisServer) -> RedisStore {
    let store = RedisStore::connect(config(redis)).await.expect("connects");
    assert!(!store.stats().degraded, "synchronized with Redis at connect");
    store
}

fn upstream_id(name: &str) -> SessionId {
    SessionId::parse_upstream(&HeaderValue::from_str(name).unwrap()).unwrap()
}

/// Two replicas' stores on one real Redis, and a new session id; `None`
/// when redis-server is not installed (the test is skipped).
async fn replicas() -> Option<(RedisServer, RedisStore, RedisStore, SessionId)> {
    let redis = redis().await?;
    let (a, b) = (store(&redis).await, store(&redis).await);
    Some((redis, a, b, SessionId::generate().unwrap()))
}

fn record(upstream: &str) -> SessionRecord {
    SessionRecord::new(Bytes::from_static(INIT.as_bytes()), upstream_id(upstream))
        .with_protocol_version(Some(HeaderValue::from_static("2025-06-18")))
}

#[test]
fn records_round_trip_through_json() {
    let original = record("up-0").reinitialized(upstream_id("up-1"));
    let text = encode(&original, TTL).unwrap();
    let (decoded, ttl) = decode(text.as_bytes()).unwrap();
    assert_eq!(ttl, TTL);
    assert_eq!(decoded.initialize(), original.initialize());
    assert_eq!(decoded.upstream(), original.upstream());
    assert_eq!(decoded.protocol_version(), original.protocol_version());
    assert_eq!(decoded.generation(), 1);
    assert_eq!(
        epoch_millis(decoded.created_at()),
        epoch_millis(original.created_at())
    );
    assert!(decoded.reinitialized_at().is_some());
    let bare = SessionRecord::new(Bytes::from_static(b"{}"), upstream_id("u"));
    let (bare, _) = decode(encode(&bare, TTL).unwrap().as_bytes()).unwrap();
    assert!(bare.protocol_version().is_none() && bare.reinitialized_at().is_none());
    assert!(decode(br#"{"v":2}"#).is_err());
    assert!(decode(b"not json").is_err());
    let spaced = text.replace("up-1", "has space");
    assert!(decode(spaced.as_bytes()).is_err(), "upstream ids are checked");
}

#[test]
fn a_store_needs_a_runtime_and_a_redis_url() {
    assert!(RedisStore::new(RedisConfig::new("redis://127.0.0.1:1")).is_err());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        assert!(
            RedisStore::connect(RedisConfig::new("http://127.0.0.1:1"))
                .await
                .is_err()
        );
    });
}

#[tokio::test]
async fn sessions_are_shared_by_replicas_and_keyed_by_a_hash() {
    let Some((redis, a, b, id)) = replicas().await else {
        return;
    };
    a.store(&id, record("up-0"), TTL).await.unwrap();

    let seen = b.load(&id).await.unwrap().expect("the other replica sees it");
    assert_eq!(seen.upstream().as_str(), "up-0");
    assert_eq!(seen.initialize().as_ref(), INIT.as_bytes());
    assert_eq!(seen.protocol_version().unwrap(), "2025-06-18");

    let keys = redis.keys("*").await.unwrap();
    assert_eq!(keys.len(), 2, "one session and the epoch marker: {keys:?}");
    assert!(
        keys.iter().all(|key| !key.contains(id.as_str())),
        "the id is not a key"
    );
    let key = keys.iter().find(|key| key.contains("session:")).unwrap();
    let RedisReply::Text(value) = redis.command(&["GET", key]).await.unwrap() else {
        panic!("no value");
    };
    assert!(!value.contains(id.as_str()), "the id is not stored");
    let pttl = |reply| match reply {
        RedisReply::Int(ms) => ms,
        other => panic!("PTTL answered {other:?}"),
    };
    let first = pttl(redis.command(&["PTTL", key]).await.unwrap());
    assert!(first > 0 && first <= 60_000);
    b.touch(&id, TTL * 2).await.unwrap();
    assert!(
        pttl(redis.command(&["PTTL", key]).await.unwrap()) > 60_000,
        "touch is PEXPIRE"
    );

    a.delete(&id).await.unwrap();
    assert!(
        b.load(&id).await.unwrap().is_none(),
        "ended on one replica, gone on the other"
    );
    assert_eq!(redis.dbsize().await.unwrap(), 1);
    assert_eq!(a.stats().errors + b.stats().errors, 0);
}

#[tokio::test]
async fn compare_and_store_keeps_the_first_new_generation() {
    let Some((_redis, a, b, id)) = replicas().await else {
        return;
    };
    let missing = a.compare_and_store(&id, 0, record("up-0"), TTL).await.unwrap();
    assert!(matches!(missing, Swap::Conflict(None)));
    a.store(&id, record("up-0"), TTL).await.unwrap();
    let first = record("up-0").reinitialized(upstream_id("up-a"));
    let second = record("up-0").reinitialized(upstream_id("up-b"));
    assert!(matches!(
        a.compare_and_store(&id, 0, first, TTL).await.unwrap(),
        Swap::Stored
    ));
    match b.compare_and_store(&id, 0, second, TTL).await.unwrap() {
        Swap::Conflict(Some(current)) => {
            assert_eq!((current.upstream().as_str(), current.generation()), ("up-a", 1));
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    let winner = b.load(&id).await.unwrap().unwrap();
    assert_eq!(winner.upstream().as_str(), "up-a");
}

#[tokio::test]
async fn one_replica_at_a_time_claims_a_reinitialize() {
    let Some((_redis, a, b, id)) = replicas().await else {
        return;
    };
    assert_eq!(a.claim_reinit(&id, 0, TTL).await.unwrap(), ReinitClaim::Granted);
    assert_eq!(b.claim_reinit(&id, 0, TTL).await.unwrap(), ReinitClaim::Held);
    assert_eq!(
        a.claim_reinit(&id, 0, TTL).await.unwrap(),
        ReinitClaim::Granted,
        "renewed by its holder"
    );
    assert_eq!(
        b.claim_reinit(&id, 1, TTL).await.unwrap(),
        ReinitClaim::Granted,
        "per generation"
    );
    b.release_reinit(&id, 0).await.unwrap();
    assert_eq!(
        b.claim_reinit(&id, 0, TTL).await.unwrap(),
        ReinitClaim::Held,
        "only the holder releases"
    );
    a.release_reinit(&id, 0).await.unwrap();
    assert_eq!(b.claim_reinit(&id, 0, TTL).await.unwrap(), ReinitClaim::Granted);
    let short = Duration::from_millis(50);
    assert_eq!(a.claim_reinit(&id, 2, short).await.unwrap(), ReinitClaim::Granted);
    POLL.until("the lease expires", || async {
        b.claim_reinit(&id, 2, short).await.unwrap() == ReinitClaim::Granted
    })
    .await;
}

#[tokio::test]
async fn abandoned_sessions_expire_by_redis_ttl() {
    let Some(redis) = redis().await else { return };
    let store = store(&redis).await;
    let short = Duration::from_millis(300);
    for n in 0..200 {
        store
            .store(&SessionId::generate().unwrap(), record(&format!("up-{n}")), short)
            .await
            .unwrap();
    }
    assert_eq!(redis.dbsize().await.unwrap(), 201);
    POLL.until("Redis expires them", || async {
        redis.dbsize().await.unwrap() == 1
    })
    .await;
}

#[tokio::test]
async fn without_redis_local_sessions_keep_working_and_are_written_back() {
    let Some(mut redis) = redis().await else { return };
    let a = store(&redis).await;
    let old = SessionId::generate().unwrap();
    a.store(&old, record("up-old"), TTL).await.unwrap();
    let ended = SessionId::generate().unwrap();
    a.store(&ended, record("up-ended"), TTL).await.unwrap();

    redis.stop().await;
    let kept = a.load(&old).await.unwrap().expect("served from the local cache");
    assert_eq!(kept.upstream().as_str(), "up-old");
    let stats = a.stats();
    assert!(stats.degraded && stats.errors >= 1, "{stats:?}");
    let new = SessionId::generate().unwrap();
    a.store(&new, record("up-new"), TTL).await.unwrap();
    a.touch(&new, TTL).await.unwrap();
    a.delete(&ended).await.unwrap();
    assert!(a.load(&new).await.unwrap().is_some(), "new sessions live locally");
    assert_eq!(a.claim_reinit(&new, 0, TTL).await.unwrap(), ReinitClaim::Granted);
    let next = record("up-new").reinitialized(upstream_id("up-new-1"));
    assert!(matches!(
        a.compare_and_store(&new, 0, next, TTL).await.unwrap(),
        Swap::Stored
    ));

    redis.start_again().await.unwrap();
    POLL.until("the store leaves the degraded state", || async {
        !a.stats().degraded
    })
    .await;
    let stats = a.stats();
    assert!(stats.recoveries >= 1 && stats.written_back >= 2, "{stats:?}");
    let b = store(&redis).await;
    assert_eq!(b.load(&old).await.unwrap().unwrap().upstream().as_str(), "up-old");
    let written = b.load(&new).await.unwrap().unwrap();
    assert_eq!(
        (written.upstream().as_str(), written.generation()),
        ("up-new-1", 1)
    );
    assert!(b.load(&ended).await.unwrap().is_none());
}

#[tokio::test]
async fn a_redis_that_lost_its_data_gets_the_sessions_back() {
    let Some((redis, a, b, id)) = replicas().await else {
        return;
    };
    a.store(&id, record("up-0"), TTL).await.unwrap();
    assert_eq!(
        redis.command(&["FLUSHALL"]).await.unwrap(),
        RedisReply::Text("OK".into())
    );
    assert!(
        a.load(&id).await.unwrap().is_some(),
        "the local copy, while Redis is empty"
    );
    POLL.until("the probe writes it back", || async {
        b.load(&id).await.unwrap().is_some()
    })
    .await;
    POLL.until("and the store is healthy again", || async { !a.stats().degraded })
        .await;
}

#[tokio::test]
async fn a_store_started_without_redis_joins_it_later() {
    let Some(mut redis) = redis().await else { return };
    redis.stop().await;
    let a = RedisStore::connect(config(&redis))
        .await
        .expect("a dead Redis is not an error");
    assert!(a.stats().degraded);
    let id = SessionId::generate().unwrap();
    a.store(&id, record("up-0"), TTL).await.unwrap();
    assert!(a.load(&id).await.unwrap().is_some());
    redis.start_again().await.unwrap();
    POLL.until("joined", || async { !a.stats().degraded }).await;
    assert_eq!(redis.dbsize().await.unwrap(), 2, "the session and the epoch");
    let status = a.status();
    assert_eq!(status.display_url(), redis.url());
    assert_eq!(status.snapshot().local_sessions, 1);
}

#[tokio::test]
async fn the_probe_task_ends_with_the_store() {
    let Some(redis) = redis().await else { return };
    let store = store(&redis).await;
    let weak = Arc::downgrade(&store.inner);
    drop(store);
    POLL.until("the store is freed", || async { weak.upgrade().is_none() })
        .await;
}

type Replica = crate::Session<Upstream, RedisStore>;

async fn replica(redis: &RedisServer, fake: &Arc<Fake>) -> Replica {
    let layer = SessionLayer::with_store(Arc::new(store(redis).await), SessionConfig::default());
    layer.layer(upstream(Arc::clone(fake)))
}

async fn send(replica: &Replica, request: Request<Full<Bytes>>) -> Response<SessionBody<Full<Bytes>>> {
    replica.clone().oneshot(request).await.unwrap()
}

#[tokio::test]
async fn replicas_that_see_the_same_loss_reinitialize_once() {
    let Some(redis) = redis().await else { return };
    let gate = Arc::new(Semaphore::new(1));
    let fake = Arc::new(Fake::gated(Arc::clone(&gate)));
    let (a, b) = (replica(&redis, &fake).await, replica(&redis, &fake).await);
    let opened = send(&a, post(None, INIT)).await;
    assert_eq!(opened.status(), StatusCode::OK);
    let client = opened.headers()[MCP_SESSION_ID].to_str().unwrap().to_owned();
    assert_eq!(send(&b, post(Some(&client), CALL)).await.status(), StatusCode::OK);

    // The upstream restarts; replica A's re-initialize is held at the upstream
    // (the gate's one permit went to the first initialize) while replica B
    // sees the same loss.
    fake.restart();
    let first = tokio::spawn({
        let (a, client) = (a.clone(), client.clone());
        async move { send(&a, post(Some(&client), CALL)).await.status() }
    });
    POLL.until("A's re-initialize reaches the upstream", || async {
        fake.initializes.load(AtomicOrdering::SeqCst) == 2
    })
    .await;
    let second = tokio::spawn({
        let (b, client) = (b.clone(), client.clone());
        async move { send(&b, post(Some(&client), CALL)).await.status() }
    });
    // Let B reach the claim A holds, then let A's handshake finish.
    tokio::time::sleep(PROBE).await;
    gate.add_permits(1);
    assert_eq!(first.await.unwrap(), StatusCode::OK);
    assert_eq!(second.await.unwrap(), StatusCode::OK);
    assert_eq!(
        fake.initializes.load(AtomicOrdering::SeqCst),
        2,
        "one re-initialize for both replicas"
    );
    assert_eq!((a.stats().reinitialized, b.stats().reinitialized), (1, 0));
    assert_eq!(send(&a, post(Some(&client), CALL)).await.status(), StatusCode::OK);
    assert_eq!(send(&b, post(Some(&client), CALL)).await.status(), StatusCode::OK);
    let keys = redis.keys("*reinit*").await.unwrap();
    assert!(keys.is_empty(), "claims are released: {keys:?}");
}
