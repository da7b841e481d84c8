use super::*;
use proptest::prelude::*;

#[test]
fn a_tools_call_request_is_peeked_without_its_arguments() {
    let body = br#"{"jsonrpc":"2.0","id":"a-1","method":"tools/call","params":{"arguments":{"name":"not me","deep":[1,{"x":null}]},"name":"increment"}}"#;
    let peek = peek(body).unwrap();
    let message = peek.single().unwrap();
    assert_eq!(message.kind(), MessageKind::Request);
    assert_eq!(message.tool_name(), Some("increment"));
    assert_eq!(message.id(), Some(&JsonRpcId::String("a-1".into())));
}

#[test]
fn known_methods_are_not_copied_and_any_other_is_kept_as_sent() {
    let escaped = peek(br#"{"jsonrpc":"2.0","id":1,"method":"tools\/call","params":{"name":"x"}}"#).unwrap();
    let message = escaped.single().unwrap();
    assert!(matches!(message.method, Some(Cow::Borrowed(TOOLS_CALL))));
    assert_eq!(message.tool_name(), Some("x"));
    let custom = peek(br#"{"jsonrpc":"2.0","id":1,"method":"tools/call2"}"#).unwrap();
    assert_eq!(custom.single().unwrap().method(), Some("tools/call2"));
    assert_eq!(custom.single().unwrap().tool_name(), None);
}

#[test]
fn notifications_responses_and_batches_are_told_apart() {
    let notification = peek(br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#).unwrap();
    assert_eq!(notification.single().unwrap().kind(), MessageKind::Notification);

    let response = peek(br#"{"jsonrpc":"2.0","id":3,"result":{"content":[],"isError":true}}"#).unwrap();
    let response = response.single().unwrap();
    assert_eq!(response.kind(), MessageKind::Response);
    assert!(response.is_error_result());

    let error =
        peek(br#"{"jsonrpc":"2.0","id":3,"error":{"code":-32601,"message":"nope","data":[1]}}"#).unwrap();
    let error = error.single().unwrap().error().unwrap();
    assert_eq!(error.code(), Some(-32601));
    assert_eq!(error.message(), Some("nope"));

    let batch =
        peek(br#"[{"jsonrpc":"2.0","id":1,"method":"ping"},{"jsonrpc":"2.0","method":"x"},7]"#).unwrap();
    assert!(batch.is_batch());
    let kinds: Vec<_> = batch.messages().iter().map(MessagePeek::kind).collect();
    assert_eq!(
        kinds,
        [
            MessageKind::Request,
            MessageKind::Notification,
            MessageKind::Invalid
        ]
    );
}

#[test]
fn tool_name_is_only_for_tools_call() {
    let prompt = peek(br#"{"jsonrpc":"2.0","id":1,"method":"prompts/get","params":{"name":"p"}}"#).unwrap();
    let message = prompt.single().unwrap();
    assert_eq!(message.tool_name(), None);
    assert_eq!(message.params_name(), Some("p"));
}

#[test]
fn members_of_the_wrong_type_make_the_message_invalid_not_an_error() {
    for body in [
        &br#"{"jsonrpc":"2.0","id":1,"method":7}"#[..],
        br#"{"jsonrpc":"2.0","id":{"x":1},"method":"ping"}"#,
        br#"{"jsonrpc":"1.0","id":1,"method":"ping"}"#,
        br#"{"id":1,"method":"ping"}"#,
        br#"{"jsonrpc":"2.0","id":1,"result":1,"error":{}}"#,
    ] {
        let peek = peek(body).unwrap();
        assert_eq!(
            peek.single().unwrap().kind(),
            MessageKind::Invalid,
            "{}",
            String::from_utf8_lossy(body)
        );
    }
    let odd_params = peek(br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":[1,2]}"#).unwrap();
    assert_eq!(odd_params.single().unwrap().tool_name(), None);
}

#[test]
fn bodies_that_are_not_json_rpc_get_clear_errors() {
    assert!(matches!(peek(b"{oops"), Err(PeekError::Json(_))));
    assert!(matches!(peek(b"\"hello\""), Err(PeekError::NotJsonRpc)));
    assert!(matches!(peek(b"[]"), Err(PeekError::EmptyBatch)));
    assert!(matches!(peek(b""), Err(PeekError::Json(_))));
    assert!(matches!(
        peek_with_limit(&[b' '; 10], 9),
        Err(PeekError::TooLarge { len: 10, limit: 9 })
    ));
    let huge_batch = format!("[{}{{}}]", "{},".repeat(MAX_BATCH_LEN));
    assert!(matches!(
        peek(huge_batch.as_bytes()),
        Err(PeekError::BatchTooLarge)
    ));
    assert_eq!(peek(b"{oops").unwrap_err().jsonrpc_code(), -32700);
    assert_eq!(peek(b"1").unwrap_err().jsonrpc_code(), -32600);
}

#[test]
fn deep_nesting_never_overflows_the_stack() {
    let nest = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
    // Skipped members are drained without recursion: the message is still read.
    let deep_params = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"m","params":{}}}"#,
        nest(100_000)
    );
    assert_eq!(
        peek(deep_params.as_bytes()).unwrap().single().unwrap().method(),
        Some("m")
    );
    // A nested id is drained the same way, and makes the message invalid.
    let deep_id = format!(r#"{{"jsonrpc":"2.0","id":{},"method":"m"}}"#, nest(100_000));
    assert_eq!(
        peek(deep_id.as_bytes()).unwrap().single().unwrap().kind(),
        MessageKind::Invalid
    );
    // A deep batch is a batch of one invalid message.
    let batch = peek(nest(100_000).as_bytes()).unwrap();
    assert_eq!(batch.messages()[0].kind(), MessageKind::Invalid);
}

proptest! {
    #[test]
    fn peek_never_panics_on_arbitrary_bytes(body in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = peek(&body);
    }

    #[test]
    fn peek_never_panics_on_json_shaped_text(body in r#"[\[\]{}",:0-9a-z\\ -]{0,200}"#) {
        let _ = peek(body.as_bytes());
    }

    #[test]
    fn method_and_tool_round_trip(method in "[a-z/_]{1,20}", tool in "\\PC{0,20}", id in any::<i64>()) {
        let body = serde_json::json!({"jsonrpc":"2.0","id":id,"method":method,"params":{"name":tool}});
        let peek = peek(body.to_string().as_bytes()).unwrap();
        let message = peek.single().unwrap();
        prop_assert_eq!(message.method(), Some(method.as_str()));
        prop_assert_eq!(message.params_name(), Some(tool.as_str()));
        prop_assert_eq!(message.id(), Some(&JsonRpcId::Number(id.into())));
    }
}
