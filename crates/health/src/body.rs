/// The body of a response through [`Health`](crate::Health): the wrapped
/// service's own body, streamed untouched, or one of the layer's documents
/// (`/health`, `/metrics`), whole ([`is_local`](mcp_reconnect_core::body::LayerBody::is_local)).
pub type HealthBody<B> = mcp_reconnect_core::body::LayerBody<B>;
