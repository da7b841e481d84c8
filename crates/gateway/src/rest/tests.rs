use http_body_util::BodyExt;
use serde_json::json;

use super::*;

async fn parts(response: Response) -> (StatusCode, Option<String>, Value) {
    let status = response.status();
    let retry_after = response
        .headers()
        .get(http::header::RETRY_AFTER)
        .map(|v| v.to_str().unwrap_or_default().to_owned());
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, retry_after, serde_json::from_slice(&body).unwrap())
}

fn raw(value: Value) -> Box<RawValue> {
    serde_json::value::to_raw_value(&value).unwrap()
}

#[tokio::test]
async fn results_become_mcpo_answers() {
    let one = json!({"content": [{"type": "text", "text": "{\"a\":1}"}]});
    assert_eq!(parts(result_response(&raw(one))).await.2, json!({"a": 1}));
    let plain = json!({"content": [{"type": "text", "text": "hello"}]});
    assert_eq!(parts(result_response(&raw(plain))).await.2, json!("hello"));
    let several = json!({"content": [
        {"type": "text", "text": "2"},
        {"type": "image", "mimeType": "image/png", "data": "AAA"},
        {"type": "resource", "resource": {"uri": "x://y", "text": "body"}},
    ]});
    assert_eq!(
        parts(result_response(&raw(several))).await.2,
        json!([2, "data:image/png;base64,AAA", "body"])
    );
    assert_eq!(
        parts(result_response(&raw(json!({"content": []})))).await.2,
        json!([])
    );
    let error = json!({"isError": true, "content": [{"type": "text", "text": "boom"}]});
    let (status, _, body) = parts(result_response(&raw(error))).await;
    assert_eq!(
        (status, body),
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            json!({"detail": {"message": "boom"}})
        )
    );
}

#[tokio::test]
async fn members_of_another_type_count_as_absent() {
    let cases = [
        // The result or its content is not what mcpo expects: no items.
        (json!(5), json!([])),
        (json!({"content": "x"}), json!([])),
        (json!({"content": null}), json!([])),
        // Arrays are not read member by member into objects.
        (json!([[{"type": "text", "text": "x"}], true]), json!([])),
        (json!({"content": [["text", "x"]]}), json!(["text", "x"])),
        // A `text` item whose text is not a string reads as empty text.
        (json!({"content": [{"type": "text", "text": 5}]}), json!("")),
        (json!({"content": [{"type": "text"}]}), json!("")),
        // Items without a known type, or that are not objects, pass as they are.
        (json!({"content": ["x"]}), json!("x")),
        (
            json!({"content": [{"type": 7, "v": [1]}]}),
            json!({"type": 7, "v": [1]}),
        ),
        (
            json!({"content": [{"type": "video", "url": "u"}]}),
            json!({"type": "video", "url": "u"}),
        ),
        // A resource without text is itself; a missing one is null.
        (
            json!({"content": [{"type": "resource", "resource": {"uri": "x://y", "blob": "AA"}}]}),
            json!({"uri": "x://y", "blob": "AA"}),
        ),
        (json!({"content": [{"type": "resource"}]}), Value::Null),
        (
            json!({"content": [{"type": "resource", "resource": 3}]}),
            json!(3),
        ),
        (
            json!({"content": [{"type": "image", "data": "AA"}]}),
            json!("data:application/octet-stream;base64,AA"),
        ),
        // An `isError` that is not `true` is not an error.
        (
            json!({"isError": "true", "content": [{"type": "text", "text": "ok"}]}),
            json!("ok"),
        ),
    ];
    for (result, expected) in cases {
        let (status, _, body) = parts(result_response(&raw(result.clone()))).await;
        assert_eq!((status, body), (StatusCode::OK, expected), "{result}");
    }
    let error = json!({"isError": true, "content": []});
    let (status, _, body) = parts(result_response(&raw(error))).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        body,
        json!({"detail": {"message": "Unknown tool execution error"}})
    );
}

#[tokio::test]
async fn text_is_parsed_only_when_it_is_json_and_escapes_survive() {
    let cases = [
        (" 42 ", json!(42)),
        ("-1.5", json!(-1.5)),
        ("true", json!(true)),
        ("null", Value::Null),
        ("\"q\"", json!("q")),
        ("{\"k\": \"\\u00e9\"}", json!({"k": "é"})),
        ("nope", json!("nope")),
        ("-", json!("-")),
        ("{not json", json!("{not json")),
        ("", json!("")),
        ("say \"hi\"\n\u{1F600}", json!("say \"hi\"\n\u{1F600}")),
    ];
    for (text, expected) in cases {
        let result = json!({"content": [{"type": "text", "text": text}]});
        let (_, _, body) = parts(result_response(&raw(result))).await;
        assert_eq!(body, expected, "{text:?}");
    }
    let response = result_response(&raw(json!({"content": []})));
    assert_eq!(response.headers()[http::header::CONTENT_TYPE], "application/json");
}

#[tokio::test]
async fn json_rpc_errors_map_as_mcpo_maps_them() {
    for (code, status) in [
        (-32700, 400),
        (-32600, 400),
        (-32601, 404),
        (-32602, 422),
        (-32603, 500),
        (-1, 500),
    ] {
        let error = CallError::Rpc {
            code,
            message: "m".into(),
            data: None,
        };
        assert_eq!(parts(error_response(&error)).await.0.as_u16(), status, "{code}");
    }
}

#[tokio::test]
async fn unavailable_upstreams_get_retry_after() {
    let cases = [
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Some(Duration::from_millis(1500)),
            503,
            "2",
        ),
        (StatusCode::BAD_GATEWAY, None, 502, "1"),
        (StatusCode::GATEWAY_TIMEOUT, None, 504, "1"),
        (StatusCode::NOT_FOUND, None, 503, "1"),
        (StatusCode::INTERNAL_SERVER_ERROR, None, 502, "1"),
    ];
    for (status, retry_after, expected, after) in cases {
        let error = CallError::Upstream {
            status,
            retry_after,
            message: "down".into(),
            data: Some(json!({"class": "unavailable"})),
        };
        let (got, header, body) = parts(error_response(&error)).await;
        assert_eq!(
            (got.as_u16(), header.as_deref()),
            (expected, Some(after)),
            "{status}"
        );
        assert_eq!(body["detail"]["data"]["class"], "unavailable");
    }
    let (status, header, _) = parts(error_response(&CallError::Timeout)).await;
    assert_eq!((status.as_u16(), header.as_deref()), (504, Some("1")));
}

#[test]
fn arguments_are_a_json_object_or_nothing() {
    assert_eq!(parse_arguments(&Bytes::from_static(b"  ")).unwrap(), json!({}));
    assert_eq!(
        parse_arguments(&Bytes::from_static(b"{\"a\":1}")).unwrap(),
        json!({"a": 1})
    );
    assert_eq!(
        parse_arguments(&Bytes::from_static(b"[1]")).unwrap_err()[0]["type"],
        "model_attributes_type"
    );
    assert_eq!(
        parse_arguments(&Bytes::from_static(b"{oops")).unwrap_err()[0]["type"],
        "json_invalid"
    );
}
