//! Fuzzing on stable Rust: property tests that every parser of the gateway
//! takes arbitrary input and answers `Ok` or a clear error, never a panic.
//!
//! | target | input |
//! |---|---|
//! | config file (`parse_servers_file`) | arbitrary bytes, arbitrary JSON values, `mcpServers`-shaped JSON |
//! | command line + environment (`Cli::try_parse_from`, `GatewayConfig::from_args`, `logging::filter`) | arbitrary argument vectors (a `--config` file of arbitrary bytes), arbitrary `MCPO_*` maps, log levels |
//! | OpenAPI (`openapi::document`) | arbitrary tool names, titles and JSON as `inputSchema` / `outputSchema` |
//! | REST argument validation (`validate::validate`) | arbitrary schemas × arbitrary arguments, `$ref` cycles |
//! | the gateway client's answer reader (`tools::read_answer`) | arbitrary statuses, headers and bodies, JSON or SSE, split anywhere |
//! | the REST answer writer (`rest::result_response`) | arbitrary `CallToolResult`s: content items of every type with members of any type |
//!
//! The core crate holds the JSON-RPC peek, SSE framing and classifier
//! properties, the upstream crate the session-id ones.
//!
//! Each property runs proptest's default 256 cases (32 for `$ref` cycles,
//! which spend the validator's whole check budget): seconds in CI. A long
//! local run: `PROPTEST_CASES=100000 cargo test --release -p mcp-reconnect-gateway --test fuzz`.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use bytes::Bytes;
use clap::{CommandFactory, Parser};
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use hyper::body::Frame;
use mcp_reconnect_gateway::client::{CallError, Tool, read_answer};
use mcp_reconnect_gateway::config::parse_servers_file;
use mcp_reconnect_gateway::openapi::{DocInfo, OPENAPI_VERSION, ToolGroup, document, rest_segment};
use mcp_reconnect_gateway::validate::{MAX_ERRORS, validate};
use mcp_reconnect_gateway::{Cli, GatewayConfig, Upstream, logging};
use mcp_reconnect_retry::ToolHints;
use proptest::prelude::*;
use proptest::sample::select;
use serde_json::{Map, Value, json};

/// Marks a secret in generated input: an error message or display name that
/// shows it is a leak.
const SECRET: &str = "SECRET-7f3a";
/// The config file's bounds (`config::servers`): servers per file, characters per name.
const MAX_SERVERS: usize = 256;
const MAX_SERVER_NAME: usize = 128;

/// Object keys worth generating: JSON Schema keywords, config-file keys, a header name.
const KEYS: &[&str] = &[
    "type",
    "properties",
    "required",
    "items",
    "additionalProperties",
    "enum",
    "const",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "minLength",
    "maxLength",
    "minItems",
    "maxItems",
    "anyOf",
    "oneOf",
    "allOf",
    "$ref",
    "$defs",
    "definitions",
    "$schema",
    "mcpServers",
    "url",
    "headers",
    "disabledTools",
    "disabled_tools",
    "command",
    "oauth",
    "env",
    "client_header_forwarding",
    "Authorization",
    "a",
    "b",
];

/// String values worth generating: type names, `$ref`s, server types, URLs, header values.
const WORDS: &[&str] = &[
    "object",
    "string",
    "integer",
    "number",
    "boolean",
    "array",
    "null",
    "#",
    "#/",
    "#/$defs/a",
    "#/properties/a",
    "#/definitions/b",
    "#/anyOf/0",
    "#a",
    "streamable-http",
    "streamablehttp",
    "streamable_http",
    "Streamable-HTTP",
    "sse",
    "stdio",
    "http://127.0.0.1:9/mcp",
    "https://server.example/mcp",
    "http://",
    "ftp://server/mcp",
    "http://[::1]:9/mcp",
    "Bearer token",
    "bad\nvalue",
    "docs",
    "health",
    "metrics",
    "openapi.json",
    ".hidden",
    "",
];

fn json_leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        (-3i64..300).prop_map(Value::from),
        "\\PC{0,12}".prop_map(Value::String),
        select(WORDS).prop_map(|word| Value::String(word.to_owned())),
    ]
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => select(KEYS).prop_map(str::to_owned),
        1 => "\\PC{0,8}",
    ]
}

/// Arbitrary JSON, biased towards schema and config keywords.
fn json_value() -> impl Strategy<Value = Value> {
    json_leaf().prop_recursive(6, 96, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((key(), inner), 0..6)
                .prop_map(|entries| Value::Object(entries.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

// ---------------------------------------------------------------- config file

/// A server name: valid ones, reserved ones, odd ones.
fn server_name() -> impl Strategy<Value = String> {
    prop_oneof![
        12 => "[a-z0-9_-][a-z0-9_.-]{0,11}",
        1 => select(WORDS).prop_map(str::to_owned),
        1 => "\\PC{0,10}",
        1 => Just("x".repeat(MAX_SERVER_NAME + 1)),
    ]
}

/// A URL, sometimes with a secret where credentials go (userinfo, query).
/// URLs a server can have.
const GOOD_URLS: &[&str] = &[
    "http://127.0.0.1:9/mcp",
    "https://server.example/mcp",
    "http://[::1]:9/mcp",
    "http://localhost/",
];

fn server_url() -> impl Strategy<Value = Value> {
    prop_oneof![
        6 => select(GOOD_URLS).prop_map(|url| json!(url)),
        1 => select(WORDS).prop_map(|word| json!(word)),
        1 => Just(json!(format!("http://user:{SECRET}@127.0.0.1:9/mcp"))),
        1 => Just(json!(format!("http://127.0.0.1:9/mcp?token={SECRET}"))),
        1 => Just(json!(format!("https://{SECRET}@/mcp"))),
        1 => Just(json!(format!("gopher://u:{SECRET}@host/mcp?k={SECRET}"))),
        1 => "[a-z]{0,5}://[a-z0-9.:@\\[\\]]{0,12}/?[a-z]{0,4}".prop_map(|url| json!(url)),
        1 => json_leaf(),
    ]
}

/// Header values, some of them invalid, all of them secret.
fn header_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        4 => Just(json!(format!("Bearer {SECRET}"))),
        1 => Just(json!(format!("Bearer {SECRET}\n"))),
        1 => Just(json!(format!("{SECRET}\r\nX-Injected: 1"))),
        1 => Just(json!(format!("{SECRET}\u{0}"))),
        1 => Just(json!(format!("{SECRET}\u{7f}é"))),
        1 => json_leaf(),
    ]
}

fn header_names() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => select(&["Authorization", "X-Api-Key", "Cookie", "Host"][..]).prop_map(str::to_owned),
        1 => select(&["bad name", "", "é", "X:Y"][..]).prop_map(str::to_owned),
        1 => "\\PC{0,8}",
    ]
}

/// One entry that can be served (its headers hold the secret).
fn good_server_entry() -> impl Strategy<Value = Value> {
    (
        select(&["streamable-http", "streamablehttp", "Streamable_HTTP"][..]),
        select(GOOD_URLS),
        proptest::option::of(select(&["Authorization", "X-Api-Key", "Cookie"][..])),
        prop::collection::vec("[a-z_]{1,8}", 0..3),
    )
        .prop_map(|(kind, url, header, disabled)| {
            let mut entry = json!({"type": kind, "url": url, "disabledTools": disabled});
            if let Some(name) = header {
                entry["headers"] = json!({name: format!("Bearer {SECRET}")});
            }
            entry
        })
}

/// One `mcpServers` entry: mostly the keys mcpo knows, with good and bad values.
fn server_entry() -> impl Strategy<Value = Value> {
    let headers = prop_oneof![
        3 => prop::collection::vec((header_names(), header_value()), 0..4)
            .prop_map(|entries| Value::Object(entries.into_iter().collect())),
        1 => json_leaf(),
    ];
    let disabled = prop_oneof![
        3 => prop::collection::vec("\\PC{0,8}".prop_map(Value::String), 0..4).prop_map(Value::Array),
        1 => prop::collection::vec(json_leaf(), 0..4).prop_map(Value::Array),
        1 => json_leaf(),
    ];
    let maybe = |strategy: BoxedStrategy<Value>| proptest::option::weighted(0.7, strategy);
    let kind = prop_oneof![
        4 => select(&["streamable-http", "streamablehttp", "Streamable_HTTP"][..]).prop_map(|w| json!(w)),
        1 => select(WORDS).prop_map(|w| json!(w)),
        1 => json_leaf(),
    ];
    (
        proptest::option::weighted(0.9, kind),
        proptest::option::weighted(0.9, server_url()),
        maybe(headers.boxed()),
        maybe(disabled.boxed()),
        proptest::option::weighted(0.1, (select(KEYS), json_value())),
    )
        .prop_map(|(kind, url, headers, disabled, extra)| {
            let mut entry = Map::new();
            for (name, value) in [
                ("type", kind),
                ("url", url),
                ("headers", headers),
                ("disabledTools", disabled),
            ] {
                if let Some(value) = value {
                    entry.insert(name.to_owned(), value);
                }
            }
            if let Some((name, value)) = extra {
                entry.insert(name.to_owned(), value);
            }
            Value::Object(entry)
        })
}

fn config_text() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::collection::vec(
            (server_name(), prop_oneof![good_server_entry(), server_entry()]),
            1..4,
        )
        .prop_map(|servers| {
            let servers: Map<String, Value> = servers.into_iter().collect();
            json!({"mcpServers": servers}).to_string()
        }),
        1 => json_value().prop_map(|value| value.to_string()),
        1 => prop::collection::vec(any::<u8>(), 0..256)
            .prop_map(|bytes| String::from_utf8_lossy(&bytes).into_owned()),
    ]
}

/// What a parsed config file must satisfy, whatever it said.
fn check_servers_file(text: &str, prefix: &str) -> Result<(), TestCaseError> {
    let defaults = HeaderMap::new();
    match parse_servers_file(text, prefix, &defaults, &[]) {
        Ok(servers) => {
            prop_assert!(!servers.is_empty() && servers.len() <= MAX_SERVERS);
            let mut mounts = HashSet::new();
            for server in &servers {
                prop_assert!(mcp_reconnect_gateway::config::validate_server_name(&server.name).is_ok());
                prop_assert_eq!(&server.mount, &format!("{prefix}{}", server.name));
                prop_assert!(mounts.insert(server.mount.clone()), "one mount per server");
                if let Some(url) = server.url() {
                    prop_assert!(matches!(url.scheme_str(), Some("http" | "https")));
                    prop_assert!(url.host().is_some_and(|host| !host.is_empty()));
                }
                prop_assert!(!server.display.contains(SECRET), "display {}", server.display);
            }
        }
        Err(error) => {
            let message = error.to_string();
            prop_assert!(!message.trim().is_empty());
            prop_assert!(!message.contains(SECRET), "the error shows a secret: {message}");
        }
    }
    Ok(())
}

proptest! {
    #[test]
    fn a_config_file_of_arbitrary_bytes_is_servers_or_an_error(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        check_servers_file(&String::from_utf8_lossy(&bytes), "/")?;
    }

    #[test]
    fn a_config_file_of_arbitrary_json_is_servers_or_an_error(value in json_value()) {
        check_servers_file(&value.to_string(), "/")?;
        check_servers_file(&json!({"mcpServers": value}).to_string(), "/x/")?;
    }

    #[test]
    fn an_mcp_servers_file_is_servers_or_an_error_naming_no_secret(text in config_text()) {
        check_servers_file(&text, "/")?;
    }
}

// ------------------------------------------------------ command line and env

#[test]
fn the_flag_dictionary_is_the_cli_s_own() {
    let (all, valued) = &*CLI_FLAGS;
    for flag in [
        "--host",
        "-h",
        "--port",
        "--api-key",
        "-k",
        "--type",
        "--path-prefix",
        "-H",
        "--tool-timeout",
    ] {
        assert!(
            all.contains(&flag) && valued.contains(&flag),
            "{flag} takes a value"
        );
    }
    assert!(all.contains(&"--strict-auth") && !valued.contains(&"--strict-auth"));
}

/// Every flag the gateway's CLI defines (long and short names, aliases), and
/// those that take a value — read from clap itself, so the fuzz dictionary
/// never falls behind the CLI.
static CLI_FLAGS: LazyLock<(Vec<&'static str>, Vec<&'static str>)> = LazyLock::new(|| {
    let leak = |name: String| -> &'static str { Box::leak(name.into_boxed_str()) };
    let (mut all, mut valued) = (Vec::new(), Vec::new());
    for arg in Cli::command().get_arguments() {
        let longs = arg
            .get_long()
            .into_iter()
            .chain(arg.get_all_aliases().unwrap_or_default());
        let shorts = arg
            .get_short()
            .into_iter()
            .chain(arg.get_all_short_aliases().unwrap_or_default());
        let names: Vec<&'static str> = longs
            .map(|long| leak(format!("--{long}")))
            .chain(shorts.map(|short| leak(format!("-{short}"))))
            .collect();
        if arg.get_action().takes_values() {
            valued.extend(&names);
        }
        all.extend(names);
    }
    all.extend(["--help", "--", "-"]);
    (all, valued)
});

const VALUES: &[&str] = &[
    "0",
    "1",
    "8000",
    "65535",
    "65536",
    "-1",
    "abc",
    "0.5",
    "0.0000001",
    "1e3",
    "NaN",
    "inf",
    "-0",
    "86400",
    "86401",
    "1000000",
    "1000001",
    "268435456",
    "268435457",
    "18446744073709551616",
    "",
    " ",
    "*",
    "127.0.0.1",
    "::1",
    "http://127.0.0.1:9/mcp",
    "https://server.example/mcp?token=x",
    "http://user:pw@127.0.0.1:9/mcp",
    "ftp://server",
    "{\"Authorization\":\"Bearer t\"}",
    "{\"a\":1}",
    "{",
    "X-Key: value",
    "bad header",
    "Name: \u{7f}",
    "/",
    "/a/b/",
    "a?b",
    "DEBUG",
    "WARNING",
    "trace",
    "loud",
    "mcp_gateway=debug",
    "==",
    "[span{a=/x*/}]=trace",
];

/// Values a flag takes.
fn good_values(flag: &str) -> &'static [&'static str] {
    match flag.trim_start_matches('-') {
        "port" | "p" => &["0", "8000", "65535"],
        "max-concurrent-calls" | "max-body-bytes" => &["1", "64", "1000000"],
        "header-read-timeout" | "shutdown-timeout" | "tool-timeout" => &["0.5", "10", "86400"],
        "header" | "H" => &["X-Key: value", "{\"Authorization\":\"Bearer t\"}", "{}"],
        "log-level" => &["DEBUG", "warning", "mcp_gateway=trace"],
        "cors-allow-origins" => &["*", "http://localhost:3000", "a,b"],
        "root-path" | "path-prefix" => &["/", "/api", "api/v1/"],
        "server-type" | "type" => &["streamable-http", "streamablehttp"],
        _ => &["127.0.0.1", "name", "k3y"],
    }
}

/// A command line shaped like a real one: flags with values, then a server
/// (the reconnect design's form, mcpo form, a bare URL or `--config`); or anything at all.
fn command_line() -> impl Strategy<Value = Vec<String>> {
    let flag = prop_oneof![
        4 => select(CLI_FLAGS.1.as_slice()).prop_flat_map(|flag| {
            prop_oneof![6 => select(good_values(flag)).prop_map(str::to_owned), 1 => argument()]
                .prop_map(move |value| vec![flag.to_owned(), value])
        }),
        1 => (select(CLI_FLAGS.1.as_slice()), argument()).prop_map(|(flag, value)| vec![format!("{flag}={value}")]),
        1 => Just(vec!["--strict-auth".to_owned()]),
    ];
    let url = prop_oneof![3 => select(GOOD_URLS).prop_map(str::to_owned), 1 => argument()];
    let server = prop_oneof![
        (
            select(&["streamablehttp", "streamable-http", "sse", "stdio"][..]),
            url.clone()
        )
            .prop_map(|(kind, url)| vec![kind.to_owned(), url]),
        url.clone().prop_map(|url| vec!["--".to_owned(), url]),
        url.prop_map(|url| vec![url]),
        select(&["--config", "-c"][..]).prop_map(|flag| vec![flag.to_owned(), "servers.json".to_owned()]),
        prop::collection::vec(argument(), 0..4),
    ];
    prop_oneof![
        6 => (prop::collection::vec(flag, 0..5), server).prop_map(|(flags, server)| {
            flags.into_iter().flatten().chain(server).collect()
        }),
        1 => prop::collection::vec(argument(), 0..12),
    ]
}

fn argument() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => select(CLI_FLAGS.0.as_slice()).prop_map(str::to_owned),
        4 => select(VALUES).prop_map(str::to_owned),
        1 => "\\PC{0,12}",
        1 => "--[a-z-]{1,16}",
        1 => "--[a-z-]{1,16}=\\PC{0,8}",
        1 => "-[a-zA-Z]{1,4}",
    ]
}

const ENV_NAMES: &[&str] = &[
    "MCPO_RECONNECT_MAX_ATTEMPTS",
    "MCPO_RECONNECT_MIN_INTERVAL",
    "MCPO_RECONNECT_ERROR_THRESHOLD",
    "MCPO_TOOL_MAX_RETRIES",
    "MCPO_CONNECTION_TIMEOUT",
    "MCPO_TOOL_RETRY_ALLOW",
    "MCPO_TOOL_RETRY_DENY",
    "MCPO_SESSION_MAX",
    "MCPO_SESSION_IDLE_TIMEOUT",
    "MCPO_LOG_LEVEL",
    "MCPO_API_KEY",
    "RUST_LOG",
];

fn env_value() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => (1u32..20).prop_map(|n| n.to_string()),
        1 => select(VALUES).prop_map(str::to_owned),
        1 => any::<i64>().prop_map(|n| n.to_string()),
        1 => any::<f64>().prop_map(|f| f.to_string()),
        1 => "[a-z_,* ]{0,20}",
        1 => "\\PC{0,12}",
    ]
}

/// A `--config` file: `mcpServers` JSON, arbitrary JSON, or arbitrary bytes (non-UTF-8 included).
fn config_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        config_text().prop_map(String::into_bytes),
        prop::collection::vec(any::<u8>(), 0..256),
    ]
}

static FILES: AtomicU64 = AtomicU64::new(0);

/// A config file in the temporary directory, removed when dropped.
struct TempFile(std::path::PathBuf);

impl TempFile {
    fn new(bytes: &[u8]) -> TempFile {
        let path = std::env::temp_dir().join(format!(
            "mcp-gateway-fuzz-{}-{}.json",
            std::process::id(),
            FILES.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::write(&path, bytes).expect("write the config file");
        TempFile(path)
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// A runtime for what needs one (building a stack, reading an answer).
static RUNTIME: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
});

proptest! {
    #[test]
    fn any_command_line_and_environment_is_a_config_or_an_error(
        args in command_line(),
        env in prop_oneof![
            2 => prop::collection::btree_map(select(ENV_NAMES), (1u32..5).prop_map(|n| n.to_string()), 0..4),
            1 => prop::collection::btree_map(select(ENV_NAMES), env_value(), 0..6),
        ],
        file in config_bytes(),
    ) {
        let argv = std::iter::once("mcp-gateway".to_owned()).chain(args);
        let Ok(mut cli) = Cli::try_parse_from(argv) else {
            // clap's own error (usage, `--help`): a message, never a panic.
            return Ok(());
        };
        // Whatever path was given, the file read is one of ours (never /dev/zero).
        let _file = cli.serve.config.as_mut().map(|path| {
            let file = TempFile::new(&file);
            path.clone_from(&file.0);
            file
        });
        let env: BTreeMap<String, String> = env.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
        let level = cli.serve.log_level.clone();
        let _ = logging::filter(level.as_deref(), env.get("RUST_LOG").map(String::as_str), logging::DEFAULT_LEVEL);
        match GatewayConfig::from_args(&cli.serve, |name| env.get(name).cloned()) {
            Ok(config) => {
                prop_assert!(!config.servers.is_empty());
                prop_assert!(!config.host.trim().is_empty());
                prop_assert!(config.api_key.as_ref().is_none_or(|key| !key.as_bytes().is_empty()));
                prop_assert!(config.root_path.is_empty() || config.root_path.starts_with('/'));
                prop_assert!(config.limits.max_concurrent_calls >= 1);
                prop_assert!(config.limits.max_body_bytes >= 1);
                // Every checked config builds its stacks (nothing connects yet).
                let _guard = RUNTIME.enter();
                for server in &config.servers {
                    let _ = Upstream::build(server, &config);
                }
            }
            Err(error) => prop_assert!(!error.to_string().trim().is_empty()),
        }
    }

    #[test]
    fn any_log_level_is_a_filter_or_an_error(
        level in proptest::option::of(prop_oneof![select(VALUES).prop_map(str::to_owned), "\\PC{0,24}", "[a-z_:]{0,8}(=[a-z]{0,6})?(,[a-z=]{0,8}){0,3}"]),
        rust_log in proptest::option::of("\\PC{0,24}"),
    ) {
        if let Err(error) = logging::filter(level.as_deref(), rust_log.as_deref(), logging::DEFAULT_LEVEL) {
            prop_assert!(!error.to_string().is_empty());
        }
    }
}

// ------------------------------------------------------------------- OpenAPI

fn tool_name() -> impl Strategy<Value = String> {
    prop_oneof![
        // A small alphabet, so names that differ only where components forbid characters meet.
        3 => "[ab _./{}é-]{1,4}",
        1 => "[a-zA-Z0-9_.-]{1,20}",
        1 => "\\PC{1,16}",
    ]
}

fn schema() -> impl Strategy<Value = Value> {
    prop_oneof![
        3 => json_value(),
        1 => Just(json!({"type": "object", "properties": {"a": {"$ref": "#/$defs/a"}}, "$defs": {"a": {"type": "string"}}, "$schema": "x"})),
        1 => Just(json!({"$ref": "#"})),
    ]
}

fn tool() -> impl Strategy<Value = Tool> {
    (
        tool_name(),
        proptest::option::of("\\PC{0,12}"),
        proptest::option::of("\\PC{0,24}"),
        schema(),
        proptest::option::of(schema()),
        any::<(bool, bool)>(),
    )
        .prop_map(
            |(name, title, description, input_schema, output_schema, (read_only, idempotent))| Tool {
                name,
                title,
                description,
                input_schema: serde_json::value::to_raw_value(&input_schema).expect("a schema"),
                output_schema: output_schema
                    .map(|schema| serde_json::value::to_raw_value(&schema).expect("a schema")),
                hints: ToolHints {
                    read_only,
                    idempotent,
                },
            },
        )
}

/// Groups of tools as the gateway builds them: one server's document (one
/// group at `""`) or the combined one (a group per server under `/<name>`,
/// names without `/`); within a group distinct names (the catalog keeps the
/// server's list).
fn groups() -> impl Strategy<Value = Vec<(String, Option<String>, Vec<Tool>)>> {
    let tools = || {
        prop::collection::vec(tool(), 0..6).prop_map(|tools| {
            let mut seen = BTreeSet::new();
            tools
                .into_iter()
                .filter(|tool| seen.insert(tool.name.clone()))
                .collect::<Vec<_>>()
        })
    };
    prop_oneof![
        tools().prop_map(|tools| vec![(String::new(), None, tools)]),
        prop::collection::btree_map("[a-z0-9_.-]{1,6}", tools(), 1..4).prop_map(|servers| {
            servers
                .into_iter()
                .map(|(name, tools)| (format!("/x/{name}"), Some(name), tools))
                .collect()
        }),
    ]
}

/// The schema a `#/components/schemas/<name>` reference names.
fn component<'a>(doc: &'a Value, reference: &str) -> Option<&'a Value> {
    let name = reference.strip_prefix("#/components/schemas/")?;
    doc.pointer("/components/schemas")?.as_object()?.get(name)
}

proptest! {
    #[test]
    fn any_tools_make_a_valid_openapi_document_with_one_operation_each(
        groups in groups(),
        secured in any::<bool>(),
        title in "\\PC{0,12}",
        server_url in proptest::option::of("\\PC{0,12}"),
    ) {
        let info = DocInfo {
            title,
            description: "d".to_owned(),
            version: "1".to_owned(),
            server_url,
            secured,
        };
        let tool_groups: Vec<ToolGroup<'_>> = groups
            .iter()
            .map(|(prefix, tag, tools)| ToolGroup { prefix, tag: tag.as_deref(), tools })
            .collect();
        let doc = document(&info, &tool_groups);
        // Valid JSON: what a client parses is what is checked below (floats
        // may not round-trip to the last bit, so the two are not compared).
        let text = serde_json::to_string(&doc).expect("serializes");
        let parsed: Value = serde_json::from_str(&text).expect("parses back");
        let version = parsed["openapi"].as_str().unwrap_or_default();
        prop_assert!(version.starts_with("3.1.") && version == OPENAPI_VERSION);
        let paths = parsed["paths"].as_object().expect("paths");
        // Tools REST can reach: the rest are served over `/mcp` only.
        let tools: usize = groups
            .iter()
            .map(|(prefix, _, tools)| tools.iter().filter(|tool| rest_segment(prefix, &tool.name).is_some()).count())
            .sum();
        prop_assert_eq!(paths.len(), tools, "one path per reachable tool");
        let mut operation_ids = HashSet::new();
        for (prefix, tag, tools) in &groups {
            for tool in tools {
                let Some(segment) = rest_segment(prefix, &tool.name) else { continue };
                let path = format!("{prefix}/{segment}");
                let operation = &paths[&path]["post"];
                prop_assert!(operation.is_object(), "no operation for {:?}", path);
                prop_assert_eq!(paths[&path].as_object().map(Map::len), Some(1));
                let id = operation["operationId"].as_str().unwrap_or_default().to_owned();
                prop_assert!(operation_ids.insert(id.clone()), "operationId {} is not unique", id);
                // The request body is this tool's own schema.
                let reference = operation
                    .pointer("/requestBody/content/application~1json/schema/$ref")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                prop_assert!(component(&parsed, reference).is_some(), "{} resolves", reference);
                let form = component(&doc, reference);
                let name = reference.trim_start_matches("#/components/schemas/");
                prop_assert_eq!(form, Some(&mcp_reconnect_gateway::openapi::rebase(&tool.input_schema(), name)));
                if tool.output_schema.is_some() {
                    let output = operation
                        .pointer("/responses/200/content/application~1json/schema/$ref")
                        .and_then(Value::as_str)
                        .unwrap_or_default();
                    prop_assert!(component(&parsed, output).is_some(), "{} resolves", output);
                }
                prop_assert_eq!(operation.get("security").is_some(), secured);
                prop_assert_eq!(operation["tags"][0].as_str(), tag.as_deref());
            }
        }
        prop_assert_eq!(parsed.pointer("/components/securitySchemes").is_some(), secured);
    }
}

// -------------------------------------------------------- REST validation

/// Schemas with `$ref`s into themselves, through every combinator.
fn cyclic_schema() -> impl Strategy<Value = Value> {
    let reference = select(
        &[
            "#",
            "#/anyOf/0",
            "#/allOf/0",
            "#/$defs/a",
            "#/properties/a",
            "#/items",
        ][..],
    )
    .prop_map(|r| json!({"$ref": r}));
    prop::collection::vec(
        (
            select(&["anyOf", "oneOf", "allOf"][..]),
            prop::collection::vec(prop_oneof![reference, json_value()], 1..4),
        ),
        1..4,
    )
    .prop_map(|parts| {
        let mut schema: Map<String, Value> = parts
            .into_iter()
            .map(|(key, options)| (key.to_owned(), Value::Array(options)))
            .collect();
        schema.insert(
            "$defs".to_owned(),
            json!({"a": {"anyOf": [{"$ref": "#"}, {"$ref": "#"}]}}),
        );
        schema.insert("properties".to_owned(), json!({"a": {"$ref": "#"}}));
        schema.insert("items".to_owned(), json!({"$ref": "#"}));
        Value::Object(schema)
    })
}

fn check_violations(schema: &Value, instance: &Value) -> Result<(), TestCaseError> {
    let violations = validate(schema, instance);
    prop_assert!(violations.len() <= MAX_ERRORS);
    for violation in &violations {
        prop_assert_eq!(violation.loc.first(), Some(&json!("body")));
        prop_assert!(!violation.kind.is_empty() && !violation.msg.is_empty());
        let error = violation.to_json();
        prop_assert!(error["loc"].is_array() && error["type"].is_string() && error["msg"].is_string());
    }
    Ok(())
}

/// Cases of the properties whose inputs are expensive on purpose (a
/// schema that spends the whole check budget): 32, or `PROPTEST_CASES`.
fn expensive_cases() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|cases| cases.parse().ok())
        .unwrap_or(32);
    ProptestConfig::with_cases(cases)
}

proptest! {
    #[test]
    fn any_arguments_against_any_schema_are_valid_or_violations(schema in json_value(), instance in json_value()) {
        check_violations(&schema, &instance)?;
        check_violations(&json!({"type": "object", "properties": schema.clone(), "required": ["a", "b"]}), &instance)?;
        // The schemas that accept everything accept everything.
        let empty = json!({});
        prop_assert!(validate(&empty, &instance).is_empty());
        prop_assert!(validate(&Value::Bool(true), &instance).is_empty());
        prop_assert!(!validate(&Value::Bool(false), &instance).is_empty());
    }
}

proptest! {
    #![proptest_config(expensive_cases())]

    #[test]
    fn self_referencing_schemas_end(schema in cyclic_schema(), instance in json_value()) {
        check_violations(&schema, &instance)?;
    }
}

// ------------------------------------------- the gateway client's answer reader

/// A body that hands out its chunks one frame at a time.
struct Chunks(std::collections::VecDeque<Bytes>);

impl hyper::body::Body for Chunks {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Poll::Ready(self.0.pop_front().map(|chunk| Ok(Frame::data(chunk))))
    }
}

fn answer_body() -> impl Strategy<Value = Vec<u8>> {
    let message = prop_oneof![
        json_value(),
        (0u64..4, json_value()).prop_map(|(id, result)| json!({"jsonrpc": "2.0", "id": id, "result": result})),
        (0u64..4, json_value(), json_value()).prop_map(|(id, code, message)| json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message, "data": 1}})),
    ];
    let event = prop_oneof![
        message.clone().prop_map(|m| format!("data: {m}\n\n")),
        message
            .clone()
            .prop_map(|m| format!("event: message\r\nid: 1\r\ndata: {m}\r\n\r\n")),
        Just(": keep-alive\n\n".to_owned()),
        Just("data: \nid: 0\n\n".to_owned()),
        "\\PC{0,16}",
    ];
    prop_oneof![
        prop::collection::vec(event, 0..5).prop_map(|events| events.concat().into_bytes()),
        message.prop_map(|m| m.to_string().into_bytes()),
        prop::collection::vec(message_batch_member(), 0..4)
            .prop_map(|batch| Value::Array(batch).to_string().into_bytes()),
        prop::collection::vec(any::<u8>(), 0..256),
    ]
}

fn message_batch_member() -> impl Strategy<Value = Value> {
    (0u64..4, json_value()).prop_map(|(id, result)| json!({"jsonrpc": "2.0", "id": id, "result": result}))
}

proptest! {
    #[test]
    fn any_upstream_answer_is_a_result_or_a_call_error(
        status in prop_oneof![select(&[200u16, 202, 400, 404, 413, 429, 500, 502, 503, 504][..]), 100u16..600],
        content_type in proptest::option::of(select(&["application/json", "text/event-stream", "text/event-stream; charset=utf-8", "TEXT/EVENT-STREAM", "text/plain", ""][..])),
        retry_after in proptest::option::of(prop_oneof![select(VALUES).prop_map(str::to_owned), any::<u64>().prop_map(|n| n.to_string())]),
        body in answer_body(),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..6),
        id in 0u64..4,
    ) {
        let Ok(status) = StatusCode::from_u16(status) else { return Ok(()) };
        let mut cuts: Vec<usize> = cuts.iter().map(|cut| cut.index(body.len() + 1)).collect();
        cuts.sort_unstable();
        cuts.dedup();
        let mut chunks = std::collections::VecDeque::new();
        let mut start = 0;
        for cut in cuts.into_iter().chain([body.len()]) {
            chunks.push_back(Bytes::copy_from_slice(&body[start..cut]));
            start = cut;
        }
        let mut response = http::Response::new(axum::body::Body::new(Chunks(chunks)));
        *response.status_mut() = status;
        if let Some(content_type) = content_type {
            response.headers_mut().insert(http::header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        }
        if let Some(value) = retry_after.and_then(|v| HeaderValue::from_str(&v).ok()) {
            response.headers_mut().insert(HeaderName::from_static("retry-after"), value);
        }
        match RUNTIME.block_on(read_answer(response, id)) {
            Ok(_) => prop_assert!(status.is_success()),
            Err(CallError::Upstream { status: seen, .. }) => prop_assert_eq!(seen, status),
            Err(error) => prop_assert!(status.is_success() && !error.to_string().is_empty()),
        }
    }
}

// ------------------------------------------------------- REST answer writer

/// A content item as tools send them, or something like it.
fn content_item() -> impl Strategy<Value = Value> {
    let kind = prop_oneof![
        4 => select(&["text", "image", "audio", "resource", "video"][..]).prop_map(Value::from),
        1 => json_leaf(),
    ];
    let text = prop_oneof![
        select(
            &[
                " 42 ",
                "{\"a\":[1,2]}",
                "[1",
                "\"q\"",
                "-",
                "null",
                "say \"hi\"\n"
            ][..]
        )
        .prop_map(Value::from),
        json_leaf(),
    ];
    let item = (kind, text, json_value(), proptest::option::of(json_value())).prop_map(
        |(kind, text, data, resource)| {
            let mut item = json!({"type": kind, "text": text, "data": data, "mimeType": "image/png"});
            if let Some(resource) = resource {
                item["resource"] = resource;
            }
            item
        },
    );
    prop_oneof![4 => item, 1 => json_value()]
}

fn tool_result() -> impl Strategy<Value = Value> {
    prop_oneof![
        3 => (prop::collection::vec(content_item(), 0..4), json_leaf())
            .prop_map(|(content, is_error)| json!({"content": content, "isError": is_error})),
        1 => json_value(),
    ]
}

proptest! {
    #[test]
    fn any_tool_result_becomes_a_json_answer(result in tool_result()) {
        let raw = serde_json::value::to_raw_value(&result).unwrap();
        let response = mcp_reconnect_gateway::rest::result_response(&raw);
        let status = response.status();
        let body = RUNTIME.block_on(http_body_util::BodyExt::collect(response.into_body())).unwrap().to_bytes();
        let body: Value = serde_json::from_slice(&body).expect("the answer is JSON");
        let content = result.get("content").and_then(Value::as_array);
        if result.get("isError") == Some(&Value::Bool(true)) {
            prop_assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
            prop_assert!(body["detail"]["message"].is_string());
        } else {
            prop_assert_eq!(status, StatusCode::OK);
            match content.map(Vec::len) {
                Some(1) => {}
                Some(n) => prop_assert_eq!(body.as_array().map(Vec::len), Some(n)),
                None => prop_assert_eq!(body, json!([])),
            }
        }
    }
}
