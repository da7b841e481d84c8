//! The bounds the session layer's functions share, named once.

use bytes::{Buf, Bytes};
use http::{Request, Response};
use http_body::Body;
use http_body_util::Full;
use mcp_reconnect_core::BoxError;
use tower_service::Service;

/// The service below the session layer: buffered requests in, `RB` bodies out.
pub(crate) trait Upstream<RB>:
    Service<Request<Full<Bytes>>, Response = Response<RB>, Error: Into<BoxError>>
{
}

impl<S, RB> Upstream<RB> for S where
    S: Service<Request<Full<Bytes>>, Response = Response<RB>, Error: Into<BoxError>>
{
}

/// An [`Upstream`] that is cloned per request and whose calls may run on a spawned task.
pub(crate) trait SharedUpstream<RB>: Upstream<RB, Future: Send> + Clone + Send + 'static {}

impl<S, RB> SharedUpstream<RB> for S where S: Upstream<RB, Future: Send> + Clone + Send + 'static {}

/// An upstream answer's body that the layer reads.
pub(crate) trait UpstreamBody: Body<Data: Buf, Error: Into<BoxError>> {}

impl<B> UpstreamBody for B where B: Body<Data: Buf, Error: Into<BoxError>> {}
