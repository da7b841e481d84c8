//! Clients keep their MCP session across an upstream restart: real rmcp
//! clients (legacy handshake, their own re-initialize off) through
//! SessionLayer → CircuitReconnectLayer → ClassifyLayer → UpstreamConnector.

mod common;

use common::{call_text, legacy_client, upstream_and_gateway, within};
use mcp_reconnect_upstream::SessionConfig;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_keeps_its_session_across_an_upstream_restart() {
    let (mut server, gateway) = upstream_and_gateway(SessionConfig::default()).await;
    let client = legacy_client(&gateway.url).await;
    assert_eq!(call_text(&client, "increment", json!({"key": "k"})).await, "1");
    assert_eq!(gateway.store.len(), 1);
    assert_eq!(gateway.initializes(), 1);

    within(server.restart()).await.unwrap();
    assert_eq!(
        server.session_count().await,
        0,
        "the restarted server forgot every session"
    );

    // No error, no re-initialize by the client: the gateway restored the session.
    assert_eq!(call_text(&client, "increment", json!({"key": "k"})).await, "2");
    assert_eq!(
        call_text(&client, "echo", json!({"text": "still here"})).await,
        "still here"
    );
    assert_eq!(server.counters().increments("k"), 2, "each call ran once");
    assert_eq!(
        gateway.client_session_count(),
        1,
        "one client session id throughout"
    );
    assert_eq!(gateway.store.len(), 1);
    assert_eq!(gateway.initializes(), 2, "one upstream re-initialize");
    assert_eq!(gateway.sessions.stats().reinitialized, 1);
    assert_eq!(server.session_count().await, 1);

    // A second restart is restored the same way.
    within(server.restart()).await.unwrap();
    assert_eq!(call_text(&client, "add", json!({"a": 2, "b": 3})).await, "5");
    assert_eq!(gateway.initializes(), 3);
    assert_eq!(gateway.client_session_count(), 1);
    within(client.cancel()).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_concurrent_clients_each_keep_their_own_session() {
    const CLIENTS: usize = 5;
    let (mut server, gateway) = upstream_and_gateway(SessionConfig::default()).await;
    let mut clients = Vec::new();
    for _ in 0..CLIENTS {
        clients.push(legacy_client(&gateway.url).await);
    }
    for (n, client) in clients.iter().enumerate() {
        let key = format!("client-{n}");
        assert_eq!(call_text(client, "increment", json!({"key": key})).await, "1");
    }
    assert_eq!(gateway.store.len(), CLIENTS);
    assert_eq!(server.session_count().await, CLIENTS);

    within(server.restart()).await.unwrap();

    // Every client at once, three calls each at once: all meet the lost session together.
    let rounds = clients.iter().enumerate().map(|(n, client)| async move {
        let key = format!("client-{n}");
        let (a, b, c) = tokio::join!(
            call_text(client, "increment", json!({"key": key})),
            call_text(client, "echo", json!({"text": key})),
            call_text(client, "add", json!({"a": n, "b": 1})),
        );
        assert_eq!(a, "2");
        assert_eq!(b, key);
        assert_eq!(c, (n + 1).to_string());
    });
    within(futures_join_all(rounds)).await;

    for n in 0..CLIENTS {
        assert_eq!(server.counters().increments(&format!("client-{n}")), 2);
    }
    assert_eq!(gateway.client_session_count(), CLIENTS, "each client kept its id");
    assert_eq!(gateway.store.len(), CLIENTS);
    assert_eq!(
        gateway.initializes(),
        2 * CLIENTS,
        "one upstream re-initialize per client session"
    );
    assert_eq!(server.session_count().await, CLIENTS);
    let stats = gateway.sessions.stats();
    assert_eq!(
        (stats.opened, stats.reinitialized, stats.reinit_failed),
        (CLIENTS as u64, CLIENTS as u64, 0)
    );
    for client in clients {
        within(client.cancel()).await.unwrap();
    }
}

/// Runs the futures concurrently on this task.
async fn futures_join_all<F: std::future::Future<Output = ()>>(futures: impl IntoIterator<Item = F>) {
    let mut set = Vec::from_iter(futures.into_iter().map(Box::pin));
    std::future::poll_fn(|cx| {
        set.retain_mut(|future| future.as_mut().poll(cx).is_pending());
        if set.is_empty() {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
}
