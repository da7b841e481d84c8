//! The gateway's own edge middleware as plain tower layers with named
//! futures, each an [`Around`](crate::around::Around): a [`GateLayer`] for checks that pass a request on or answer it at
//! once (the API key, the DNS-rebinding guard, the body limit), CORS for browsers only
//! ([`CorsOnOriginLayer`]), a catch-panic that keeps axum's `Body`
//! ([`CatchPanicLayer`]), and the request span ([`crate::trace::TraceLayer`]).
//!
//! Why not `axum::middleware::from_fn`: each `from_fn` layer clones the
//! wrapped route (a boxed service) and boxes a future on every request, and
//! every layer a call goes through shows in the throughput at one call in
//! flight (BENCHMARKS.md, "Profile"). A gate costs one synchronous check.

mod body_limit;
mod catch_panic;
mod cors;
mod gate;

pub use body_limit::BodyLimit;
pub use catch_panic::{CatchPanic, CatchPanicFuture, CatchPanicLayer, OnPanic};
pub use cors::{CorsOnOrigin, CorsOnOriginFuture, CorsOnOriginLayer, OnOrigin};
pub use gate::{Gate, GateFuture, GateLayer, Gated};

#[cfg(test)]
mod tests;
