//! The tool list as an OpenAPI 3.1 document, mcpo's way: one `POST /<tool>`
//! per tool whose request body is the tool's `inputSchema`, HTTP bearer
//! security when a key is set. Built on each request from the cached tool
//! list, so it follows the upstream's tools.

use std::collections::HashSet;

use serde_json::{Map, Value, json};

use crate::client::Tool;

/// The OpenAPI version served.
pub const OPENAPI_VERSION: &str = "3.1.0";
/// The name of the security scheme (FastAPI's, as mcpo has it).
pub const SECURITY_SCHEME: &str = "HTTPBearer";
/// Title when neither `--name` nor the server gives one.
pub const DEFAULT_TITLE: &str = "MCP OpenAPI Proxy";
/// Description when neither `--description` nor the server gives one.
pub const DEFAULT_DESCRIPTION: &str = "Automatically generated API from MCP Tool Schemas";
/// Version when neither `--version` nor the server gives one.
pub const DEFAULT_VERSION: &str = "1.0";

/// The document's `info` and where it is served.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DocInfo {
    /// `info.title`.
    pub title: String,
    /// `info.description`.
    pub description: String,
    /// `info.version`.
    pub version: String,
    /// `servers[0].url`, when the routes are not at the document's root.
    pub server_url: Option<String>,
    /// Whether the routes need a bearer key.
    pub secured: bool,
}

/// One server's tools, with the path prefix and tag they get in the document.
#[derive(Clone, Copy, Debug)]
pub struct ToolGroup<'a> {
    /// Put before each `/<tool>` (`""` for a server's own document).
    pub prefix: &'a str,
    /// The tag of its operations (the server's name in a combined document).
    pub tag: Option<&'a str>,
    /// The tools.
    pub tools: &'a [Tool],
}

/// The OpenAPI 3.1 document for `groups` of tools.
pub fn document(info: &DocInfo, groups: &[ToolGroup<'_>]) -> Value {
    let mut paths = Map::new();
    let mut schemas = Map::new();
    let mut keys = HashSet::new();
    for group in groups {
        for tool in group.tools {
            let Some(segment) = rest_segment(group.prefix, &tool.name) else {
                // `POST <mount>/mcp` is the MCP endpoint, `<mount>/docs` and
                // `<mount>/openapi.json` are pages: the tool is served over
                // `/mcp` only, and the document does not promise a route.
                continue;
            };
            let key = unique_key(component_key(group.tag, &tool.name), &mut keys);
            schemas.insert(
                format!("{key}_form_model"),
                rebase(&tool.input_schema(), &format!("{key}_form_model")),
            );
            let output = tool.output_schema().map(|schema| {
                let name = format!("{key}_response_model");
                schemas.insert(name.clone(), rebase(&schema, &name));
                json!({"$ref": format!("#/components/schemas/{name}")})
            });
            let path = format!("{}/{segment}", group.prefix);
            paths.insert(
                path,
                json!({"post": operation(tool, group.tag, &key, output, info.secured)}),
            );
        }
    }
    schemas.extend(standard_schemas());
    let mut document = json!({
        "openapi": OPENAPI_VERSION,
        "info": {"title": info.title, "description": info.description, "version": info.version},
        "paths": paths,
        "components": {"schemas": schemas},
    });
    if let Some(url) = &info.server_url {
        document["servers"] = json!([{"url": url}]);
    }
    if info.secured {
        document["components"]["securitySchemes"] =
            json!({SECURITY_SCHEME: {"type": "http", "scheme": "bearer"}});
    }
    document
}

/// The path segment that reaches `tool` over REST under `prefix`: the name,
/// percent-encoded where it is not a plain segment (`a/b` is `a%2Fb`); `None`
/// when a fixed route of the gateway takes that path.
pub fn rest_segment(prefix: &str, tool: &str) -> Option<String> {
    let fixed = ["mcp", "docs", "openapi.json"];
    let top_level = ["health", "metrics"];
    if tool.is_empty() || fixed.contains(&tool) || (prefix.is_empty() && top_level.contains(&tool)) {
        return None;
    }
    let mut segment = String::with_capacity(tool.len());
    for byte in tool.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@".contains(&byte) {
            segment.push(char::from(byte));
        } else {
            segment.push_str(&format!("%{byte:02X}"));
        }
    }
    Some(segment)
}

fn operation(tool: &Tool, tag: Option<&str>, key: &str, output: Option<Value>, secured: bool) -> Value {
    let error = json!({"application/json": {"schema": {"$ref": "#/components/schemas/ErrorDetail"}}});
    let retry_after = json!({"Retry-After": {"description": "Seconds to wait before trying again", "schema": {"type": "integer"}}});
    let unavailable = |text: &str| json!({"description": text, "headers": retry_after, "content": error});
    let mut responses = json!({
        "200": {"description": "Successful Response", "content": {"application/json": {"schema": output.unwrap_or_else(|| json!({}))}}},
        "404": {"description": "Unknown tool", "content": error},
        "422": {"description": "Validation Error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/HTTPValidationError"}}}},
        "500": {"description": "The tool reported an error", "content": error},
        "502": unavailable("The upstream failed (a gateway error or a broken connection)"),
        "503": unavailable("The upstream is unavailable (reconnecting, or too many calls)"),
        "504": unavailable("The upstream did not answer in time"),
    });
    let mut operation = json!({
        "summary": tool.title.clone().unwrap_or_else(|| summary(&tool.name)),
        "operationId": format!("tool_{key}_post"),
        "requestBody": {
            "required": true,
            "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{key}_form_model")}}},
        },
    });
    if let Some(description) = &tool.description {
        operation["description"] = json!(description);
    }
    if let Some(tag) = tag {
        operation["tags"] = json!([tag]);
    }
    if secured {
        responses["401"] = json!({"description": "Missing API key", "content": error});
        responses["403"] = json!({"description": "Wrong API key", "content": error});
        operation["security"] = json!([{SECURITY_SCHEME: []}]);
    }
    operation["responses"] = responses;
    operation
}

/// FastAPI's summary for a route named after a tool: `get_weather` → `Get Weather`.
pub fn summary(name: &str) -> String {
    name.split(['_', '-'])
        .filter(|word| !word.is_empty())
        .map(|word| {
            let mut chars = word.chars();
            chars
                .next()
                .map(|first| first.to_uppercase().chain(chars).collect::<String>())
                .unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// A component name from a tool name (components allow `[A-Za-z0-9._-]`).
fn component_key(tag: Option<&str>, name: &str) -> String {
    let clean = |text: &str| -> String {
        text.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                    c
                } else {
                    '_'
                }
            })
            .collect()
    };
    match tag {
        Some(tag) => format!("{}__{}", clean(tag), clean(name)),
        None => clean(name),
    }
}

/// `key`, or `key_2`, `key_3`, … when another tool has it: names that differ
/// only in characters components forbid (`a b`, `a_b`) keep their own schema
/// and `operationId`.
fn unique_key(key: String, taken: &mut HashSet<String>) -> String {
    let mut candidate = key.clone();
    // `taken.len() + 1` distinct tries: at most `taken.len()` of them are taken.
    for n in 2..=taken.len() + 2 {
        if taken.insert(candidate.clone()) {
            break;
        }
        candidate = format!("{key}_{n}");
    }
    candidate
}

/// The schema moved to `#/components/schemas/<name>`: its local `$ref`s
/// (`#`, `#/$defs/…`) are rewritten to point there, and `$schema` (the
/// document's dialect is OpenAPI 3.1's JSON Schema) is dropped.
pub fn rebase(schema: &Value, name: &str) -> Value {
    let base = format!("#/components/schemas/{name}");
    let mut schema = schema.clone();
    if let Some(object) = schema.as_object_mut() {
        object.remove("$schema");
    }
    rewrite_refs(&mut schema, &base, 0);
    schema
}

fn rewrite_refs(value: &mut Value, base: &str, depth: usize) {
    if depth > crate::validate::MAX_DEPTH {
        return;
    }
    match value {
        Value::Object(object) => {
            if let Some(Value::String(reference)) = object.get_mut("$ref")
                && let Some(pointer) = reference.strip_prefix('#')
            {
                *reference = format!("{base}{pointer}");
            }
            for child in object.values_mut() {
                rewrite_refs(child, base, depth + 1);
            }
        }
        Value::Array(items) => items
            .iter_mut()
            .for_each(|item| rewrite_refs(item, base, depth + 1)),
        _ => {}
    }
}

fn standard_schemas() -> Map<String, Value> {
    let schemas = json!({
        "ValidationError": {
            "type": "object",
            "title": "ValidationError",
            "required": ["loc", "msg", "type"],
            "properties": {
                "loc": {"type": "array", "title": "Location", "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]}},
                "msg": {"type": "string", "title": "Message"},
                "type": {"type": "string", "title": "Error Type"},
            },
        },
        "HTTPValidationError": {
            "type": "object",
            "title": "HTTPValidationError",
            "properties": {"detail": {"type": "array", "title": "Detail", "items": {"$ref": "#/components/schemas/ValidationError"}}},
        },
        "ErrorDetail": {
            "type": "object",
            "title": "ErrorDetail",
            "properties": {"detail": {"anyOf": [
                {"type": "string"},
                {"type": "object", "properties": {"message": {"type": "string"}, "data": {}}},
            ]}},
        },
    });
    match schemas {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

#[cfg(test)]
mod tests;
