//! Checks tool arguments against a tool's `inputSchema` before the call, so a
//! REST client gets mcpo's `422` with FastAPI's error list instead of a
//! round trip. It covers what tool schemas use (`type`, `required`,
//! `properties`, `additionalProperties`, `items`, `enum`, `const`, bounds,
//! `anyOf`/`oneOf`/`allOf`, local `$ref`); keywords it does not know pass,
//! and the server still validates.

use serde_json::{Map, Value, json};

/// The deepest schema or instance nesting checked (bounds `$ref` cycles and hostile input).
pub const MAX_DEPTH: usize = 64;
/// The most errors reported for one request.
pub const MAX_ERRORS: usize = 32;
/// The most (sub)schema checks one validation makes: `$ref`s through
/// `anyOf`/`allOf` can multiply them exponentially within [`MAX_DEPTH`].
/// Past it the rest passes unchecked, and the server still validates.
pub const MAX_CHECKS: usize = 100_000;

/// One failed check, in FastAPI's shape (`type`, `loc`, `msg`).
#[derive(Clone, Debug, PartialEq)]
pub struct Violation {
    /// Where: `["body", "field", 0, …]`.
    pub loc: Vec<Value>,
    /// A short machine name: `missing`, `string_type`, `extra_forbidden`, …
    pub kind: &'static str,
    /// For people.
    pub msg: String,
}

impl Violation {
    /// FastAPI's JSON for one error.
    pub fn to_json(&self) -> Value {
        json!({"type": self.kind, "loc": self.loc, "msg": self.msg})
    }
}

/// Every violation of `schema` by `instance` (empty when it is valid).
pub fn validate(schema: &Value, instance: &Value) -> Vec<Violation> {
    let mut checker = Checker {
        root: schema,
        errors: Vec::new(),
        budget: MAX_CHECKS,
    };
    let mut loc = vec![json!("body")];
    checker.check(schema, instance, &mut loc, 0);
    checker.errors
}

/// A length bound's schema keys, and the error kinds and words pydantic
/// reports when it is not met.
struct LengthBounds {
    min: &'static str,
    max: &'static str,
    too_short: &'static str,
    too_long: &'static str,
    noun: &'static str,
    unit: &'static str,
}

const STRING_LENGTH: LengthBounds = LengthBounds {
    min: "minLength",
    max: "maxLength",
    too_short: "string_too_short",
    too_long: "string_too_long",
    noun: "String",
    unit: "characters",
};

const LIST_LENGTH: LengthBounds = LengthBounds {
    min: "minItems",
    max: "maxItems",
    too_short: "too_short",
    too_long: "too_long",
    noun: "List",
    unit: "items",
};

struct Checker<'a> {
    root: &'a Value,
    errors: Vec<Violation>,
    /// Checks left (shared with the probes of `anyOf`/`oneOf`).
    budget: usize,
}

impl<'a> Checker<'a> {
    /// `length` within the bounds `schema` sets with `bounds`' keys.
    fn check_length(
        &mut self,
        schema: &Map<String, Value>,
        length: u64,
        bounds: &LengthBounds,
        loc: &[Value],
    ) {
        let bound = |key: &str| schema.get(key).and_then(Value::as_u64);
        let LengthBounds { noun, unit, .. } = bounds;
        if bound(bounds.min).is_some_and(|min| length < min) {
            let min = &schema[bounds.min];
            self.fail(
                loc,
                bounds.too_short,
                format!("{noun} should have at least {min} {unit}"),
            );
        }
        if bound(bounds.max).is_some_and(|max| length > max) {
            let max = &schema[bounds.max];
            self.fail(
                loc,
                bounds.too_long,
                format!("{noun} should have at most {max} {unit}"),
            );
        }
    }

    fn fail(&mut self, loc: &[Value], kind: &'static str, msg: String) {
        if self.errors.len() < MAX_ERRORS {
            self.errors.push(Violation {
                loc: loc.to_vec(),
                kind,
                msg,
            });
        }
    }

    /// The schema a local `$ref` points at (`#`, `#/$defs/…`, `#/definitions/…`, any JSON pointer).
    fn resolve(&self, reference: &str) -> Option<&'a Value> {
        let pointer = reference.strip_prefix('#')?;
        self.root.pointer(pointer)
    }

    fn check(&mut self, schema: &'a Value, instance: &Value, loc: &mut Vec<Value>, depth: usize) {
        let Some(budget) = self.budget.checked_sub(1) else {
            return;
        };
        self.budget = budget;
        if depth > MAX_DEPTH {
            return self.fail(loc, "too_deep", format!("nesting deeper than {MAX_DEPTH} levels"));
        }
        let Some(schema) = schema.as_object() else {
            if schema == &Value::Bool(false) {
                self.fail(loc, "extra_forbidden", "no value is allowed here".into());
            }
            return;
        };
        if let Some(target) = schema
            .get("$ref")
            .and_then(Value::as_str)
            .and_then(|r| self.resolve(r))
        {
            self.check(target, instance, loc, depth + 1);
        }
        if !self.check_type(schema, instance, loc) {
            return;
        }
        self.check_values(schema, instance, loc);
        self.check_combinators(schema, instance, loc, depth);
        match instance {
            Value::Object(object) => self.check_object(schema, object, loc, depth),
            Value::Array(items) => self.check_array(schema, items, loc, depth),
            _ => {}
        }
    }

    fn check_type(&mut self, schema: &Map<String, Value>, instance: &Value, loc: &[Value]) -> bool {
        let types: Vec<&str> = match schema.get("type") {
            Some(Value::String(one)) => vec![one.as_str()],
            Some(Value::Array(many)) => many.iter().filter_map(Value::as_str).collect(),
            _ => return true,
        };
        if types.iter().any(|kind| is_type(kind, instance)) || types.is_empty() {
            return true;
        }
        let kind = match types[0] {
            "string" => "string_type",
            "integer" => "int_type",
            "number" => "float_type",
            "boolean" => "bool_type",
            "array" => "list_type",
            "object" => "model_type",
            "null" => "none_required",
            _ => "type_error",
        };
        self.fail(
            loc,
            kind,
            format!("Input should be of type {}", types.join(" or ")),
        );
        false
    }

    fn check_values(&mut self, schema: &Map<String, Value>, instance: &Value, loc: &[Value]) {
        if let Some(options) = schema.get("enum").and_then(Value::as_array)
            && !options.iter().any(|option| same(option, instance))
        {
            let shown: Vec<String> = options.iter().map(Value::to_string).collect();
            self.fail(loc, "enum", format!("Input should be {}", shown.join(", ")));
        }
        if let Some(constant) = schema.get("const")
            && !same(constant, instance)
        {
            self.fail(loc, "literal_error", format!("Input should be {constant}"));
        }
        if let Some(number) = instance.as_f64().filter(|_| instance.is_number()) {
            let bound = |key: &str| schema.get(key).and_then(Value::as_f64);
            let checks = [
                (
                    "minimum",
                    bound("minimum").is_some_and(|min| number < min),
                    "greater_than_equal",
                    ">=",
                ),
                (
                    "maximum",
                    bound("maximum").is_some_and(|max| number > max),
                    "less_than_equal",
                    "<=",
                ),
                (
                    "exclusiveMinimum",
                    bound("exclusiveMinimum").is_some_and(|min| number <= min),
                    "greater_than",
                    ">",
                ),
                (
                    "exclusiveMaximum",
                    bound("exclusiveMaximum").is_some_and(|max| number >= max),
                    "less_than",
                    "<",
                ),
            ];
            for (key, failed, kind, op) in checks {
                if failed {
                    let limit = schema.get(key).map(Value::to_string).unwrap_or_default();
                    self.fail(loc, kind, format!("Input should be {op} {limit}"));
                }
            }
        }
        if let Some(text) = instance.as_str() {
            self.check_length(schema, text.chars().count() as u64, &STRING_LENGTH, loc);
        }
    }

    fn check_combinators(
        &mut self,
        schema: &'a Map<String, Value>,
        instance: &Value,
        loc: &mut Vec<Value>,
        depth: usize,
    ) {
        if let Some(all) = schema.get("allOf").and_then(Value::as_array) {
            for part in all {
                self.check(part, instance, loc, depth + 1);
            }
        }
        for key in ["anyOf", "oneOf"] {
            if let Some(options) = schema.get(key).and_then(Value::as_array) {
                let matches = options
                    .iter()
                    .filter(|option| self.passes(option, instance, depth))
                    .count();
                if matches == 0 {
                    self.fail(
                        loc,
                        "union_error",
                        format!("Input matches none of the {key} options"),
                    );
                } else if key == "oneOf" && matches > 1 {
                    self.fail(
                        loc,
                        "union_error",
                        "Input matches more than one oneOf option".into(),
                    );
                }
            }
        }
    }

    fn passes(&mut self, schema: &'a Value, instance: &Value, depth: usize) -> bool {
        let mut probe = Checker {
            root: self.root,
            errors: Vec::new(),
            budget: self.budget,
        };
        probe.check(schema, instance, &mut Vec::new(), depth + 1);
        self.budget = probe.budget;
        probe.errors.is_empty()
    }

    fn check_object(
        &mut self,
        schema: &'a Map<String, Value>,
        object: &Map<String, Value>,
        loc: &mut Vec<Value>,
        depth: usize,
    ) {
        let properties = schema.get("properties").and_then(Value::as_object);
        if let Some(required) = schema.get("required").and_then(Value::as_array) {
            for name in required.iter().filter_map(Value::as_str) {
                if !object.contains_key(name) {
                    loc.push(json!(name));
                    self.fail(loc, "missing", "Field required".into());
                    loc.pop();
                }
            }
        }
        let additional = schema.get("additionalProperties");
        for (name, value) in object {
            let declared = properties.and_then(|properties| properties.get(name));
            loc.push(json!(name));
            match (declared, additional) {
                (Some(property), _) => self.check(property, value, loc, depth + 1),
                (None, Some(Value::Bool(false))) => {
                    self.fail(loc, "extra_forbidden", "Extra inputs are not permitted".into())
                }
                (None, Some(extra @ Value::Object(_))) => self.check(extra, value, loc, depth + 1),
                (None, _) => {}
            }
            loc.pop();
        }
    }

    fn check_array(
        &mut self,
        schema: &'a Map<String, Value>,
        items: &[Value],
        loc: &mut Vec<Value>,
        depth: usize,
    ) {
        self.check_length(schema, items.len() as u64, &LIST_LENGTH, loc);
        if let Some(item_schema) = schema
            .get("items")
            .filter(|items| items.is_object() || items.is_boolean())
        {
            for (index, item) in items.iter().enumerate() {
                loc.push(json!(index));
                self.check(item_schema, item, loc, depth + 1);
                loc.pop();
            }
        }
    }
}

fn is_type(kind: &str, instance: &Value) -> bool {
    match kind {
        "null" => instance.is_null(),
        "boolean" => instance.is_boolean(),
        "object" => instance.is_object(),
        "array" => instance.is_array(),
        "string" => instance.is_string(),
        "number" => instance.is_number(),
        "integer" => {
            instance.is_i64() || instance.is_u64() || instance.as_f64().is_some_and(|n| n.fract() == 0.0)
        }
        _ => true,
    }
}

/// JSON equality where `1` and `1.0` are the same number.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x == y || x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

#[cfg(test)]
mod tests;
