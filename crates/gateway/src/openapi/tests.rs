use serde_json::json;

use super::*;

fn tool(name: &str, schema: Value) -> Tool {
    Tool {
        name: name.to_owned(),
        title: None,
        description: Some(format!("The {name} tool.")),
        input_schema: serde_json::value::to_raw_value(&schema).expect("a schema"),
        output_schema: None,
        hints: Default::default(),
    }
}

fn info(secured: bool) -> DocInfo {
    DocInfo {
        title: "t".into(),
        description: "d".into(),
        version: "1".into(),
        server_url: None,
        secured,
    }
}

#[test]
fn refs_of_a_tool_schema_point_into_its_component() {
    let schema = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": {"p": {"$ref": "#/$defs/P"}, "me": {"$ref": "#"}},
        "$defs": {"P": {"type": "object"}},
    });
    let rebased = rebase(&schema, "x_form_model");
    assert_eq!(
        rebased["properties"]["p"]["$ref"],
        "#/components/schemas/x_form_model/$defs/P"
    );
    assert_eq!(
        rebased["properties"]["me"]["$ref"],
        "#/components/schemas/x_form_model"
    );
    assert!(rebased.get("$schema").is_none());
}

#[test]
fn one_operation_per_tool_with_security_only_when_secured() {
    let tools = [
        tool("get_weather", json!({"type": "object"})),
        tool("echo", json!({"type": "object"})),
    ];
    let group = ToolGroup {
        prefix: "",
        tag: None,
        tools: &tools,
    };
    let open = document(&info(false), &[group]);
    assert_eq!(open["openapi"], OPENAPI_VERSION);
    let operation = &open["paths"]["/get_weather"]["post"];
    assert_eq!(operation["summary"], "Get Weather");
    assert_eq!(operation["operationId"], "tool_get_weather_post");
    assert!(operation.get("security").is_none());
    assert!(open["components"].get("securitySchemes").is_none());
    let secured = document(&info(true), &[group]);
    assert_eq!(
        secured["paths"]["/echo"]["post"]["security"],
        json!([{"HTTPBearer": []}])
    );
    assert_eq!(
        secured["paths"]["/echo"]["post"]["responses"]["401"]["description"],
        "Missing API key"
    );
}

#[test]
fn a_combined_document_prefixes_paths_and_tags_by_server() {
    let a = [tool("echo", json!({}))];
    let b = [tool("echo", json!({}))];
    let groups = [
        ToolGroup {
            prefix: "/a",
            tag: Some("a"),
            tools: &a,
        },
        ToolGroup {
            prefix: "/b",
            tag: Some("b"),
            tools: &b,
        },
    ];
    let combined = document(&info(false), &groups);
    assert_eq!(combined["paths"]["/a/echo"]["post"]["tags"], json!(["a"]));
    assert_eq!(
        combined["paths"]["/b/echo"]["post"]["operationId"],
        "tool_b__echo_post"
    );
    assert!(combined["components"]["schemas"]["a__echo_form_model"].is_object());
}

#[test]
fn names_that_clean_to_the_same_component_keep_their_own_schema_and_operation_id() {
    let tools = [
        tool("a b", json!({"title": "first"})),
        tool("a_b", json!({"title": "second"})),
        tool("a_b_2", json!({"title": "third"})),
    ];
    let doc = document(
        &info(false),
        &[ToolGroup {
            prefix: "",
            tag: None,
            tools: &tools,
        }],
    );
    let mut ids = std::collections::BTreeSet::new();
    for (tool, title) in tools.iter().zip(["first", "second", "third"]) {
        let operation = &doc["paths"][format!("/{}", tool.name.replace(' ', "%20"))]["post"];
        assert!(ids.insert(operation["operationId"].as_str().unwrap().to_owned()));
        let reference = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
            .as_str()
            .unwrap();
        let name = reference.trim_start_matches("#/components/schemas/");
        assert_eq!(doc["components"]["schemas"][name]["title"], title, "{reference}");
    }
}

#[test]
fn tools_rest_cannot_reach_are_left_out_and_odd_names_encoded() {
    let tools: Vec<Tool> = ["echo", "mcp", "docs", "openapi.json", "health", "a/b", "sp ace"]
        .iter()
        .map(|name| tool(name, json!({"type": "object"})))
        .collect();
    let single = [ToolGroup {
        prefix: "",
        tag: None,
        tools: &tools,
    }];
    let document = document(&info(false), &single);
    let paths: Vec<&String> = document["paths"].as_object().unwrap().keys().collect();
    assert_eq!(paths, ["/a%2Fb", "/echo", "/sp%20ace"]);
    // Under a mount, `/srv/health` is a tool's route, not the probe's.
    let mounted = [ToolGroup {
        prefix: "/srv",
        tag: Some("srv"),
        tools: &tools,
    }];
    let document = super::document(&info(false), &mounted);
    let paths = document["paths"].as_object().unwrap();
    assert!(
        paths.contains_key("/srv/health")
            && !paths.contains_key("/srv/mcp")
            && !paths.contains_key("/srv/docs")
    );
}
