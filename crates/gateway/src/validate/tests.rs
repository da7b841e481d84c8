use serde_json::json;

use super::*;

fn kinds(schema: &Value, instance: &Value) -> Vec<(&'static str, Vec<Value>)> {
    validate(schema, instance)
        .into_iter()
        .map(|v| (v.kind, v.loc))
        .collect()
}

#[test]
fn required_properties_and_types_are_checked_with_fastapi_locations() {
    let schema = json!({
        "type": "object",
        "properties": {"text": {"type": "string"}, "n": {"type": "integer"}, "tags": {"type": "array", "items": {"type": "string"}}},
        "required": ["text"],
    });
    assert!(validate(&schema, &json!({"text": "hi", "n": 3, "tags": ["a"]})).is_empty());
    assert_eq!(
        kinds(&schema, &json!({})),
        [("missing", vec![json!("body"), json!("text")])]
    );
    assert_eq!(
        kinds(&schema, &json!({"text": 1})),
        [("string_type", vec![json!("body"), json!("text")])]
    );
    assert_eq!(kinds(&schema, &json!({"text": "x", "n": 1.5}))[0].0, "int_type");
    assert!(
        validate(&schema, &json!({"text": "x", "n": 2.0})).is_empty(),
        "2.0 is an integer"
    );
    assert_eq!(
        kinds(&schema, &json!({"text": "x", "tags": ["a", 2]}))[0].1,
        vec![json!("body"), json!("tags"), json!(1)]
    );
}

#[test]
fn bounds_enums_and_extra_fields() {
    let schema = json!({
        "type": "object",
        "additionalProperties": false,
        "properties": {
            "ms": {"type": "integer", "minimum": 0, "maximum": 10},
            "mode": {"enum": ["a", "b"]},
            "name": {"type": "string", "minLength": 2, "maxLength": 3},
        },
    });
    assert!(validate(&schema, &json!({"ms": 10, "mode": "a", "name": "ab"})).is_empty());
    let mut found: Vec<&str> = kinds(&schema, &json!({"ms": 11, "mode": "c", "name": "abcd", "x": 1}))
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    found.sort_unstable();
    assert_eq!(
        found,
        ["enum", "extra_forbidden", "less_than_equal", "string_too_long"]
    );
}

#[test]
fn refs_unions_and_nullable_types() {
    let schema = json!({
        "type": "object",
        "properties": {
            "point": {"$ref": "#/$defs/Point"},
            "label": {"type": ["string", "null"]},
            "id": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
        },
        "$defs": {"Point": {"type": "object", "required": ["x"], "properties": {"x": {"type": "number"}}}},
    });
    assert!(validate(&schema, &json!({"point": {"x": 1}, "label": null, "id": 3})).is_empty());
    assert_eq!(
        kinds(&schema, &json!({"point": {}}))[0],
        ("missing", vec![json!("body"), json!("point"), json!("x")])
    );
    assert_eq!(kinds(&schema, &json!({"id": true}))[0].0, "union_error");
}

#[test]
fn a_self_referencing_schema_stops_at_the_depth_bound() {
    let schema = json!({"$ref": "#"});
    let errors = validate(&schema, &json!({}));
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].kind, "too_deep");
}

#[test]
fn unknown_keywords_and_empty_schemas_pass() {
    assert!(validate(&json!({}), &json!({"anything": [1, 2]})).is_empty());
    assert!(
        validate(
            &json!({"type": "object", "format": "whatever", "x-custom": 1}),
            &json!({})
        )
        .is_empty()
    );
}

#[test]
fn refs_that_multiply_through_unions_stop_at_the_check_budget() {
    // Without a budget these take 2^32 checks within the depth bound.
    for schema in [
        json!({"anyOf": [{"$ref": "#"}, {"$ref": "#"}]}),
        json!({"oneOf": [{"$ref": "#"}, {"$ref": "#"}, {"$ref": "#"}]}),
        json!({"allOf": [{"$ref": "#"}, {"$ref": "#"}]}),
    ] {
        let errors = validate(&schema, &json!({"a": [1, 2]}));
        assert!(errors.len() <= MAX_ERRORS, "{schema}");
    }
    // A schema that is merely large still validates.
    let schema = json!({"type": "array", "items": {"anyOf": [{"type": "integer"}, {"type": "string"}]}});
    let valid: Vec<Value> = (0..1000).map(|n| json!(n)).collect();
    assert!(validate(&schema, &Value::Array(valid.clone())).is_empty());
    let mut invalid = valid;
    invalid.push(json!(null));
    assert_eq!(kinds(&schema, &Value::Array(invalid))[0].0, "union_error");
}
