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

#[tokio::test]
async fn results_become_mcpo_answers() {
    let one = json!({"content": [{"type": "text", "text": "{\"a\":1}"}]});
    assert_eq!(parts(result_response(&one)).await.2, json!({"a": 1}));
    let plain = json!({"content": [{"type": "text", "text": "hello"}]});
    assert_eq!(parts(result_response(&plain)).await.2, json!("hello"));
    let several = json!({"content": [
        {"type": "text", "text": "2"},
        {"type": "image", "mimeType": "image/png", "data": "AAA"},
        {"type": "resource", "resource": {"uri": "x://y", "text": "body"}},
    ]});
    assert_eq!(
        parts(result_response(&several)).await.2,
        json!([2, "data:image/png;base64,AAA", "body"])
    );
    assert_eq!(parts(result_response(&json!({"content": []}))).await.2, json!([]));
    let error = json!({"isError": true, "content": [{"type": "text", "text": "boom"}]});
    let (status, _, body) = parts(result_response(&error)).await;
    assert_eq!(
        (status, body),
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            json!({"detail": {"message": "boom"}})
        )
    );
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
