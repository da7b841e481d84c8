use clap::Parser;
use serde_json::json;

use super::*;
use crate::cli::Cli;

fn parse(args: &[&str]) -> Result<GatewayConfig, ConfigError> {
    let mut argv = vec!["mcp-gateway"];
    argv.extend_from_slice(args);
    let cli = Cli::try_parse_from(argv).expect("arguments parse");
    GatewayConfig::from_args(&cli.serve, |_| None)
}

#[test]
fn the_design_form_and_the_mcpo_form_give_one_server_at_the_root() {
    for args in [
        &[
            "--port",
            "8000",
            "--api-key",
            "secret",
            "streamablehttp",
            "http://server/mcp",
        ][..],
        &[
            "--port",
            "8000",
            "--api-key",
            "secret",
            "--server-type",
            "streamable-http",
            "--",
            "http://server/mcp",
        ][..],
        &[
            "--port",
            "8000",
            "--api-key",
            "secret",
            "--type",
            "streamable_http",
            "--",
            "http://server/mcp",
        ][..],
        &["--port", "8000", "--api-key", "secret", "http://server/mcp"][..],
    ] {
        let config = parse(args).unwrap();
        assert!(config.is_single(), "{args:?}");
        let server = &config.servers[0];
        assert_eq!(server.url().expect("a remote server"), "http://server/mcp");
        assert_eq!(server.mount, "");
        assert_eq!(server.display, "StreamableHTTP-http://server/mcp");
        assert_eq!(config.port, 8000);
        assert_eq!(config.api_key, Some(ApiKey::new("secret")));
        assert_eq!(config.host, "127.0.0.1", "mcpo's default host");
        assert_eq!(config.allowed_hosts, super::AllowedHosts::for_bind("127.0.0.1"));
    }
}

#[test]
fn what_cannot_be_served_is_refused_with_a_reason() {
    let cases: [(&[&str], &str); 10] = [
        (&[], "no server"),
        (&["sse", "http://a/sse", "http://b/sse"], "one URL"),
        (&["--server-type", "websocket", "--", "ws://a"], "unknown"),
        (
            &["--server-type", "stdio", "--", "http://server/mcp"],
            "looks like a URL",
        ),
        (&["--server-type", "streamable-http", "--", "uvx", "x"], "one URL"),
        (&["--env", "1X=y", "--", "uvx", "x"], "not a variable name"),
        (&["-H", "X-A: b", "--", "uvx", "x"], "--env"),
        (&["streamablehttp", "ftp://server/mcp"], "http:// or https://"),
        (&["--api-key", "", "streamablehttp", "http://server/mcp"], "empty"),
        (
            &["--header", "not a header", "streamablehttp", "http://server/mcp"],
            "--header",
        ),
    ];
    for (args, expected) in cases {
        let error = parse(args).unwrap_err().to_string();
        assert!(error.contains(expected), "{args:?}: {error}");
    }
}

#[test]
fn the_display_name_and_errors_never_show_credentials() {
    let config = parse(&["streamablehttp", "http://user:pw@server/mcp?token=abc"]).unwrap();
    assert_eq!(config.servers[0].display, "StreamableHTTP-http://server/mcp");
    let error = parse(&["streamablehttp", "ftp://user:pw@server/?token=abc"])
        .unwrap_err()
        .to_string();
    assert!(!error.contains("pw") && !error.contains("abc"), "{error}");
}

#[test]
fn headers_come_as_json_or_name_value_and_cors_and_paths_are_normalized() {
    let config = parse(&[
        "-H",
        r#"{"Authorization": "Bearer upstream-token"}"#,
        "-H",
        "X-Team: a",
        "--cors-allow-origins",
        "https://a.example,https://b.example",
        "--root-path",
        "tools/",
        "streamablehttp",
        "http://server/mcp",
    ])
    .unwrap();
    let headers = &config.servers[0].headers;
    assert_eq!(headers["authorization"], "Bearer upstream-token");
    assert_eq!(headers["x-team"], "a");
    assert!(matches!(&config.cors, Cors::List(origins) if origins.len() == 2));
    assert_eq!(config.root_path, "/tools");
    assert_eq!(
        parse(&["http://server/mcp"]).unwrap().cors,
        Cors::List(Vec::new()),
        "none given: only our own"
    );
    assert_eq!(
        parse(&["--cors-allow-origins", "*", "http://server/mcp"])
            .unwrap()
            .cors,
        Cors::Any
    );
    let public = parse(&["--host", "0.0.0.0", "http://server/mcp"]).unwrap();
    assert_eq!(public.allowed_hosts, super::AllowedHosts::Any);
    let named = parse(&["--allowed-hosts", "GW.example:8000,[::1]:9", "http://server/mcp"]).unwrap();
    assert_eq!(
        named.allowed_hosts,
        super::AllowedHosts::List(vec!["gw.example".into(), "::1".into()])
    );
    assert!(parse(&["--allowed-hosts", "a b", "http://server/mcp"]).is_err());
}

#[test]
fn env_settings_go_through_the_layers_parsers() {
    let cli = Cli::try_parse_from(["mcp-gateway", "streamablehttp", "http://server/mcp"]).unwrap();
    let env = |name: &str| match name {
        "MCPO_RECONNECT_MAX_ATTEMPTS" => Some("7".to_owned()),
        "MCPO_TOOL_MAX_RETRIES" => Some("1".to_owned()),
        _ => None,
    };
    let config = GatewayConfig::from_args(&cli.serve, env).unwrap();
    assert_eq!(config.circuit.max_attempts, 7);
    assert_eq!(config.retry.max_retries, 1);
    let bad = GatewayConfig::from_args(&cli.serve, |name| {
        (name == "MCPO_RECONNECT_ERROR_THRESHOLD").then(|| "x".to_owned())
    });
    assert!(
        bad.unwrap_err()
            .to_string()
            .contains("MCPO_RECONNECT_ERROR_THRESHOLD")
    );
}

#[test]
fn a_config_file_mounts_each_server_under_its_name() {
    let text = json!({"mcpServers": {
        "time": {"type": "streamable-http", "url": "http://a/mcp", "headers": {"X-Key": "k"}, "disabledTools": ["slow"]},
        "notes": {"type": "streamablehttp", "url": "https://b/mcp"},
    }})
    .to_string();
    let servers = parse_servers_file(&text, "/api/", &HeaderMap::new(), &[]).unwrap();
    let time = servers.iter().find(|s| s.name == "time").unwrap();
    assert_eq!(time.mount, "/api/time");
    assert_eq!(time.headers["x-key"], "k");
    assert!(time.disabled_tools.contains("slow"));
    assert_eq!(
        servers.iter().find(|s| s.name == "notes").unwrap().display,
        "notes"
    );
}

#[test]
fn config_file_entries_that_cannot_be_served_are_named() {
    let cases = [
        (json!({"mcpServers": {"local": {"command": 5}}}), "`command`"),
        (
            json!({"mcpServers": {"both": {"command": "a", "url": "http://a/mcp"}}}),
            "not both",
        ),
        (
            json!({"mcpServers": {"y": {"command": "a", "args": "b"}}}),
            "`args`",
        ),
        (
            json!({"mcpServers": {"z": {"command": "a", "env": {"K": 1}}}}),
            "`env`",
        ),
        (json!({"mcpServers": {"old": {"url": "ftp://a/sse"}}}), "`old`"),
        (
            json!({"mcpServers": {"legacy": {"type": "ws", "url": "http://a/sse"}}}),
            "`legacy`",
        ),
        (
            json!({"mcpServers": {"o": {"type": "streamable-http", "url": "http://a/mcp", "oauth": {}}}}),
            "OAuth",
        ),
        (
            json!({"mcpServers": {"docs": {"type": "streamable-http", "url": "http://a/mcp"}}}),
            "gateway's own routes",
        ),
        (
            json!({"mcpServers": {"a b": {"type": "streamable-http", "url": "http://a/mcp"}}}),
            "path segment",
        ),
        (
            json!({"mcpServers": {"t": {"type": "streamable-http", "url": "http://a/mcp", "disabledTools": "x"}}}),
            "disabledTools",
        ),
        (json!({"mcpServers": {}}), "empty"),
        (json!({"servers": {}}), "mcpServers"),
    ];
    for (file, expected) in cases {
        let error = parse_servers_file(&file.to_string(), "/", &HeaderMap::new(), &[])
            .unwrap_err()
            .to_string();
        assert!(error.contains(expected), "{file}: {error}");
    }
    assert!(parse_servers_file("{not json", "/", &HeaderMap::new(), &[]).is_err());
}

#[test]
fn the_api_key_never_shows_in_debug_output() {
    let config = parse(&["--api-key", "hunter2", "streamablehttp", "http://server/mcp"]).unwrap();
    assert!(!format!("{config:?}").contains("hunter2"));
}

#[test]
fn a_path_prefix_on_a_gateway_route_is_refused() {
    for prefix in [
        "/docs/",
        "/docs",
        "docs",
        "/docs/x/",
        "/health",
        "/metrics/",
        "/openapi.json",
    ] {
        let error = path_prefix(Some(prefix)).unwrap_err().to_string();
        assert!(
            error.contains("one of the gateway's own routes"),
            "{prefix}: {error}"
        );
    }
    for prefix in ["/", "/api/", "/documents/", "/x/docs/", "/mcp/"] {
        assert!(path_prefix(Some(prefix)).is_ok(), "{prefix}");
    }
}

#[test]
fn stdio_servers_come_as_mcpo_gives_them() {
    let dir = std::env::temp_dir().join(format!("mcp-gateway-env-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let env_file = dir.join(".env");
    std::fs::write(&env_file, "# comment\nexport TZ=\"UTC\"\nLEVEL=info\n").unwrap();
    let env_path = env_file.to_str().unwrap();
    for args in [
        &[
            "--env-path",
            env_path,
            "--env",
            "LEVEL=debug",
            "--",
            "uvx",
            "mcp-server-time",
        ][..],
        &[
            "--server-type",
            "stdio",
            "--env-path",
            env_path,
            "-e",
            "LEVEL=debug",
            "uvx",
            "mcp-server-time",
        ],
        &[
            "--env-path",
            env_path,
            "--env",
            "LEVEL=debug",
            "stdio",
            "uvx",
            "mcp-server-time",
        ],
    ] {
        let config = parse(args).unwrap();
        let server = &config.servers[0];
        let super::Transport::Stdio(target) = &server.transport else {
            panic!("{args:?}: not stdio");
        };
        assert_eq!(target.command_line(), "uvx mcp-server-time", "{args:?}");
        assert_eq!(server.display, "stdio-uvx");
        assert_eq!(
            (target.env_value("TZ"), target.env_value("LEVEL")),
            (Some("UTC"), Some("debug"))
        );
    }
    let file = json!({"mcpServers": {
        "time": {"command": "uvx", "args": ["mcp-server-time"], "env": {"LEVEL": "warn"}, "cwd": "/tmp"},
        "remote": {"type": "streamable-http", "url": "http://a/mcp"},
        "legacy": {"type": "sse", "url": "http://b/sse"},
        "untyped": {"url": "http://c/sse", "headers": {"X-Key": "k"}},
    }});
    let defaults = [
        ("LEVEL".to_owned(), "info".to_owned()),
        ("TZ".to_owned(), "UTC".to_owned()),
    ];
    let servers = parse_servers_file(&file.to_string(), "/", &HeaderMap::new(), &defaults).unwrap();
    let time = servers.iter().find(|server| server.name == "time").unwrap();
    assert_eq!((time.mount.as_str(), time.display.as_str()), ("/time", "time"));
    let super::Transport::Stdio(target) = &time.transport else {
        panic!("not stdio");
    };
    assert_eq!(
        (target.env_value("LEVEL"), target.env_value("TZ")),
        (Some("warn"), Some("UTC"))
    );
    assert_eq!(target.working_dir(), Some(std::path::Path::new("/tmp")));
    let transport = |name: &str| {
        let server = servers.iter().find(|server| server.name == name).unwrap();
        match &server.transport {
            super::Transport::StreamableHttp(url) => format!("streamable {url}"),
            super::Transport::Sse(url) => format!("sse {url}"),
            super::Transport::Stdio(_) => "stdio".to_owned(),
        }
    };
    assert_eq!(transport("remote"), "streamable http://a/mcp");
    assert_eq!(transport("legacy"), "sse http://b/sse");
    // As mcpo reads it: a `url` without `type` is the legacy SSE transport.
    assert_eq!(transport("untyped"), "sse http://c/sse");
    let untyped = servers.iter().find(|server| server.name == "untyped").unwrap();
    assert_eq!(untyped.headers["x-key"], "k");
    let cli = parse(&["--server-type", "sse", "--", "http://server/sse"]).unwrap();
    assert_eq!(cli.servers[0].display, "SSE-http://server/sse");
    let positional = parse(&["sse", "http://server/sse"]).unwrap();
    assert!(matches!(
        positional.servers[0].transport,
        super::Transport::Sse(_)
    ));
    let _ = std::fs::remove_dir_all(&dir);
}
