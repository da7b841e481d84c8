//! `--api-key` and `--strict-auth`.

mod common;

use common::{Http, gateway, upstream_and_gateway};
use http::Method;
use mcp_reconnect_testkit::TestUpstream;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_key_guards_calls_but_not_probes_or_docs() {
    let (_upstream, gateway) = upstream_and_gateway(&["--api-key", "s3cret"], &[]).await;
    let base = gateway.url();
    let http = Http::default();
    let call = json!({"text": "x"});

    let missing = http.post_json(&format!("{base}/echo"), &[], &call).await;
    assert_eq!(missing.status, 401);
    assert_eq!(missing.headers["www-authenticate"], "Bearer");
    for wrong in ["Bearer nope", "Bearer s3cret0"] {
        let answer = http
            .post_json(&format!("{base}/echo"), &[("authorization", wrong)], &call)
            .await;
        assert_eq!(answer.status, 403, "{wrong}");
    }
    http.assert_echo(
        &format!("{base}/echo"),
        &[("authorization", "Bearer s3cret")],
        "x",
    )
    .await;
    let mcp = http.send(Method::POST, &format!("{base}/mcp"), &[], "{}").await;
    assert_eq!(mcp.status, 401);

    for open in [
        "/health",
        "/metrics",
        "/docs",
        "/openapi.json",
        "/docs/swagger-ui.css",
    ] {
        let answer = http.get(&format!("{base}{open}"), &[]).await;
        assert!(answer.status.is_success(), "{open}: {answer:?}");
    }
    gateway.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strict_auth_also_guards_docs_openapi_and_metrics() {
    let (_upstream, gateway) = upstream_and_gateway(&["--api-key", "s3cret", "--strict-auth"], &[]).await;
    let base = gateway.url();
    let http = Http::default();
    for guarded in ["/metrics", "/docs", "/openapi.json", "/docs/swagger-ui.css"] {
        let answer = http.get(&format!("{base}{guarded}"), &[]).await;
        assert_eq!(answer.status, 401, "{guarded}");
        let answer = http
            .get(&format!("{base}{guarded}"), &[("authorization", "Bearer s3cret")])
            .await;
        assert!(answer.status.is_success(), "{guarded}: {answer:?}");
    }
    // Open to probes whatever the upstream's state (200 healthy, 503 not connected yet).
    assert_ne!(http.get(&format!("{base}/health"), &[]).await.status, 401);
    gateway.shutdown().await;
}

/// The paths open without the key are exact: nothing mounted below one of
/// them (a `--path-prefix`, a server, a tool, `/mcp`) is open, in every
/// layout: one server at the root, and a config file under `/` and under a
/// prefix. A prefix or server name on a gateway route is refused at start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_exact_docs_paths_are_open_in_every_layout() {
    use clap::Parser;
    use mcp_reconnect_gateway::{Cli, GatewayConfig};

    let upstream = TestUpstream::start().await.unwrap();
    let path = std::env::temp_dir().join(format!("mcp-gateway-auth-{}.json", std::process::id()));
    std::fs::write(
        &path,
        json!({"mcpServers": {"srv": {"type": "streamable-http", "url": upstream.url()}}}).to_string(),
    )
    .unwrap();
    let config = path.to_str().unwrap().to_owned();
    let url = upstream.url();
    let assets = [
        "/docs/swagger-ui.css",
        "/docs/swagger-ui-bundle.js",
        "/docs/oauth2-redirect.html",
        "/docs/oauth2-redirect.js",
        "/docs/mcp-gateway-docs.js",
    ];
    let layouts: [(&str, Vec<&str>, &str); 3] = [
        ("one server", vec!["streamablehttp", &url], ""),
        ("config at /", vec!["--config", &config], "/srv"),
        (
            "config under /api/",
            vec!["--config", &config, "--path-prefix", "/api/"],
            "/api/srv",
        ),
    ];
    let http = Http::default();
    for (layout, args, mount) in &layouts {
        let mut all = vec!["--api-key", "K"];
        all.extend_from_slice(args);
        let gateway = gateway(&all, &[]).await;
        let base = gateway.url();
        let mut open: Vec<String> = ["/health", "/metrics", "/docs", "/openapi.json"]
            .into_iter()
            .chain(assets)
            .map(str::to_owned)
            .collect();
        open.extend([format!("{mount}/openapi.json"), format!("{mount}/docs")]);
        for path in &open {
            let answer = http.get(&format!("{base}{path}"), &[]).await;
            assert_ne!(answer.status, 401, "{layout}: GET {path} is open");
        }
        let mut closed = vec![
            format!("{mount}/mcp"),
            format!("{mount}/echo"),
            format!("{mount}/increment"),
        ];
        for fixed in &open {
            for below in ["/", "/echo", "/mcp", "/srv/increment", "/srv/mcp"] {
                closed.push(format!("{fixed}{below}"));
            }
        }
        for path in &closed {
            let answer = http
                .post_json(&format!("{base}{path}"), &[], &json!({"key": "x"}))
                .await;
            assert_eq!(answer.status, 401, "{layout}: POST {path} needs the key");
        }
        gateway.shutdown().await;
    }
    assert_eq!(
        upstream.counters().calls("increment"),
        0,
        "no tool ran without the key"
    );

    for reserved in ["docs", "openapi.json", "health", "metrics"] {
        for prefix in [
            format!("/{reserved}/"),
            format!("/{reserved}"),
            format!("/{reserved}/x/"),
        ] {
            let cli = Cli::try_parse_from([
                "mcp-gateway",
                "--api-key",
                "K",
                "--config",
                &config,
                "--path-prefix",
                &prefix,
            ])
            .unwrap();
            let error = GatewayConfig::from_args(&cli.serve, |_| None).unwrap_err();
            assert!(
                error.to_string().contains("gateway's own routes"),
                "{prefix}: {error}"
            );
        }
        let named =
            std::env::temp_dir().join(format!("mcp-gateway-auth-{reserved}-{}.json", std::process::id()));
        std::fs::write(
            &named,
            json!({"mcpServers": {reserved: {"type": "streamable-http", "url": upstream.url()}}}).to_string(),
        )
        .unwrap();
        let cli = Cli::try_parse_from(["mcp-gateway", "--config", named.to_str().unwrap()]).unwrap();
        let error = GatewayConfig::from_args(&cli.serve, |_| None).unwrap_err();
        let _ = std::fs::remove_file(&named);
        assert!(
            error.to_string().contains("gateway's own routes"),
            "{reserved}: {error}"
        );
    }
    let _ = std::fs::remove_file(&path);
}
