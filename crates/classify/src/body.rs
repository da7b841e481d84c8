/// The body of a classified response: the upstream's own body, streamed
/// untouched (always so for SSE), or — when the classifier read a small JSON
/// answer whole — those same bytes again ([`is_local`](mcp_reconnect_core::body::LayerBody::is_local)).
pub type ClassifyBody<B> = mcp_reconnect_core::body::LayerBody<B>;
