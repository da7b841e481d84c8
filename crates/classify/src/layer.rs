use tower_layer::Layer;

use mcp_reconnect_core::response::DEFAULT_BODY_PEEK_LIMIT;

use crate::Classify;

/// Classifies every answer and error of the service it wraps.
///
/// See the [crate docs](crate) for what it attaches and when it reads a body.
#[derive(Clone, Copy, Debug)]
pub struct ClassifyLayer {
    body_peek_limit: usize,
}

impl ClassifyLayer {
    /// A layer that reads complete JSON bodies of up to 64 KiB to refine a class.
    pub const fn new() -> Self {
        ClassifyLayer {
            body_peek_limit: DEFAULT_BODY_PEEK_LIMIT,
        }
    }

    /// The largest complete JSON body read to refine a class (a `404` that is
    /// really "method not found", an `isError` result). Default is 64 KiB;
    /// `0` classifies by status and headers alone.
    pub const fn body_peek_limit(mut self, limit: usize) -> Self {
        self.body_peek_limit = limit;
        self
    }
}

impl Default for ClassifyLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl<S> Layer<S> for ClassifyLayer {
    type Service = Classify<S>;

    fn layer(&self, inner: S) -> Classify<S> {
        Classify::new(inner, self.body_peek_limit)
    }
}
