//! SSE answers and server→client notifications cross the stack intact: a
//! real rmcp server whose tool reports progress, a real rmcp client.

mod common;

use std::sync::{Arc, Mutex};

use common::{Gateway, serve, transport_config, within};
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::model::{
    CallToolRequestParams, ClientConfig, ClientRequest, NumberOrString, ProgressNotificationParam,
    ProgressToken, ProtocolVersion, Request, RequestMetaObject, ServerCapabilities, ServerConfig,
    ServerResult,
};
use rmcp::service::{NotificationContext, PeerRequestOptions};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{
    ClientHandler, Peer, RoleClient, RoleServer, ServerHandler, ServiceExt, tool, tool_handler, tool_router,
};

/// Steps the `progress` tool reports.
const STEPS: u32 = 3;

#[derive(Clone)]
struct Progressive {
    tool_router: ToolRouter<Self>,
}

#[tool_router]
impl Progressive {
    /// Reports three progress steps, then answers "done".
    #[tool]
    async fn progress(&self, meta: RequestMetaObject, client: Peer<RoleServer>) -> String {
        let token = meta
            .get_progress_token()
            .unwrap_or(ProgressToken(NumberOrString::String("none".into())));
        for step in 1..=STEPS {
            let note = ProgressNotificationParam::new(token.clone(), f64::from(step))
                .with_total(f64::from(STEPS))
                .with_message(format!("step {step}"));
            let _ = client.notify_progress(note).await;
        }
        "done".to_owned()
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for Progressive {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
    }
}

#[derive(Clone, Default)]
struct Collect {
    seen: Arc<Mutex<Vec<ProgressNotificationParam>>>,
}

impl ClientHandler for Collect {
    async fn on_progress(
        &self,
        params: ProgressNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        self.seen.lock().expect("not poisoned").push(params);
    }

    fn get_info(&self) -> ClientConfig {
        ClientConfig::default().with_protocol_version(ProtocolVersion::LATEST_WITH_INITIALIZE)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn progress_notifications_arrive_through_the_stack() {
    let config = StreamableHttpServerConfig::default().with_legacy_session_mode(true);
    let mcp = StreamableHttpService::new(
        || {
            Ok(Progressive {
                tool_router: Progressive::tool_router(),
            })
        },
        Arc::new(LocalSessionManager::default()),
        config,
    );
    let (addr, _serving) = serve(mcp).await;
    let gateway = Gateway::start(&format!("http://{addr}/mcp")).await;

    let collect = Collect::default();
    let seen = Arc::clone(&collect.seen);
    let transport = StreamableHttpClientTransport::from_config(transport_config(&gateway.url));
    let client = within(collect.serve(transport)).await.unwrap();
    let call = ClientRequest::CallToolRequest(Request::new(CallToolRequestParams::new("progress")));
    let handle = within(client.send_cancellable_request(call, PeerRequestOptions::no_options()))
        .await
        .unwrap();
    let token = handle.progress_token.clone();
    let ServerResult::CallToolResult(result) = within(handle.await_response()).await.unwrap() else {
        panic!("not a tool result");
    };
    assert_eq!(result.content[0].as_text().unwrap().text, "done");

    // Notifications are handled on their own tasks: wait for all of them.
    within(async {
        while seen.lock().unwrap().len() < STEPS as usize {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    })
    .await;
    let mut seen = seen.lock().unwrap().clone();
    seen.sort_by(|a, b| a.progress.total_cmp(&b.progress));
    for (n, note) in seen.iter().enumerate() {
        let step = n as u32 + 1;
        assert_eq!(note.progress_token, token);
        assert_eq!(note.progress, f64::from(step));
        assert_eq!(note.total, Some(f64::from(STEPS)));
        assert_eq!(note.message.as_deref(), Some(format!("step {step}").as_str()));
    }
    assert_eq!(gateway.store.len(), 1);
    within(client.cancel()).await.unwrap();
}
